"""The notebooks in notebooks/ run top to bottom in a real kernel and show what they are for.

Each notebook is executed once per session with nbclient (the notebook's folder as working
directory, as Jupyter does); a cell that raises fails the test with its traceback. The committed
files must carry no outputs, so that diffs stay readable.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("evaluation.ipynb", "policy_base.ipynb", "advisor_walkthrough.ipynb")

_executed: dict[str, tuple[nbformat.NotebookNode, float]] = {}


def execute(name: str) -> nbformat.NotebookNode:
    """Run a notebook (once per session) and return it with its outputs."""
    if name not in _executed:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        client = NotebookClient(nb, timeout=180, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOKS)}})
        # Importing streamlit (the app tests do) sets MPLBACKEND=Agg in this process; a kernel
        # inheriting it would draw no inline charts. The kernel gets a clean environment.
        saved = os.environ.pop("MPLBACKEND", None)
        start = time.perf_counter()
        try:
            client.execute()  # raises CellExecutionError on the first failing cell
        finally:
            if saved is not None:
                os.environ["MPLBACKEND"] = saved
        seconds = time.perf_counter() - start
        _executed[name] = (nb, seconds)
        print(f"\n{name}: executed in {seconds:.1f} s")
    nb, _ = _executed[name]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    return nb


def outputs(nb: nbformat.NotebookNode, *, stream: str | None = None) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if stream is None or (o.output_type == "stream" and o.name == stream)]


def text_of(nb: nbformat.NotebookNode) -> str:
    """All text the notebook shows: printed streams and the text forms of results."""
    parts = []
    for o in outputs(nb):
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            parts += [str(o.data[kind]) for kind in ("text/plain", "text/html", "text/markdown") if kind in o.data]
    return "\n".join(parts)


def images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs(nb))


def assert_clean_stderr(nb: nbformat.NotebookNode) -> None:
    stderr = "".join(o.text for o in outputs(nb, stream="stderr"))
    # A chart label the font cannot draw shows up as empty boxes and this warning.
    assert "missing from font" not in stderr, stderr
    assert "Traceback" not in stderr, stderr


# -- committed files ------------------------------------------------------------------------


def test_committed_notebooks_have_no_outputs():
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert set(NAMES) <= set(found), found
    for name in found:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert nb.cells[0].cell_type == "markdown", f"{name}: the first cell should say what the notebook shows"
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3", name
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{name}: cell {i} has outputs (strip them before committing)"
                assert cell.execution_count is None, f"{name}: cell {i} has an execution count"


def test_chart_font_never_fails(tmp_path, monkeypatch):
    import matplotlib
    from matplotlib import font_manager

    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    from nbsupport import CJK_TTC, chart_font

    with matplotlib.rc_context():
        if CJK_TTC.is_file():
            font = chart_font()
            assert font.chinese and "CJK" in font.prop.get_name()
        # The file is missing: any font matplotlib knows with "CJK" in its name, or none.
        font = chart_font(tmp_path / "missing.ttc")
        assert font.prop is None or "CJK" in font.prop.get_name()
        # No CJK font at all: English labels, no exception.
        monkeypatch.setattr(font_manager.fontManager, "ttflist", [])
        font = chart_font(tmp_path / "missing.ttc")
        assert font.prop is None and font("中文", "English") == "English"
        assert "English labels" in str(font)


# -- executed notebooks -----------------------------------------------------------------------


@pytest.mark.slow
def test_evaluation_notebook():
    nb = execute("evaluation.ipynb")
    text = text_of(nb)
    for shown in ("policy-match", "nDCG", "plain TF-IDF", "BM25", "hard negatives in top 5", "amounts right"):
        assert shown in text, shown
    assert text.count("■ ") == 5, "the worst five cases, one block each"
    assert "cold_start_s" in text and "warm_p50_ms" in text and "batch_profiles_per_s" in text
    assert "target" in text and "large_base" in text  # named as not measured here
    assert images(nb) >= 1
    assert_clean_stderr(nb)


@pytest.mark.slow
def test_policy_base_notebook(kb):
    nb = execute("policy_base.ipynb")
    text = text_of(nb)
    assert f"{len(kb.policies)} records, {len(kb.items())} support items" in text
    for value in ("confirmed", "probable", "no"):  # the package value counts
        assert re.search(rf"^{value}\s+\d+\s*$", text, re.M), value
    partial = [it for _, it in kb.items() if it.confidence == "partial"]
    assert f"items with confidence partial: {len(partial)}" in text
    assert partial[0].missing in text
    assert all(p.package_note in text for p in kb.policies if p.package_note)
    assert re.search(r"^records by validity at \d{4}-\d{2}-\d{2}:", text, re.M)  # validity at today's date
    assert re.search(r"^unknown share of records: \d+%", text, re.M)
    assert "records by best source class:" in text and re.search(r"^official\s+\d+\s*$", text, re.M)
    assert images(nb) >= 4
    assert_clean_stderr(nb)


@pytest.mark.slow
def test_advisor_walkthrough_notebook():
    nb = execute("advisor_walkthrough.ipynb")
    text = text_of(nb)
    assert "✔" in text and re.search(r"^\s+\? ", text, re.M), "per-condition marks"
    assert "✘" in text  # why the SME pilot is ruled out for a large firm
    assert re.search(r"\d+–\d+万（", text), "an amount range with its formula"
    for firm in ("中山市恒辉照明电器有限公司", "中山市凤鸣厨房电器股份有限公司", "中山市跨洋优品电子商务有限公司"):
        assert firm in text
    assert "推荐申报" in text and "竞争性奖补" in text  # the advice and its money first
    assert "差一点就能享受" in "\n".join(c.source for c in nb.cells) and ("需要：" in text or "没有只差" in text)
    assert "步骤：" in text and "现场核实" in text  # what to prepare
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "专员" in md and "走访" in md
    assert_clean_stderr(nb)

