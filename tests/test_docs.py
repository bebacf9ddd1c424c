"""The repository stands alone: every link of the README and docs resolves in a fresh clone, the
contract the project implements is its own copy (docs/contract.md), and the figures the README
quotes are what the commands print."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policy_match.datacard import contract_ids, readme_as_of, readme_block
from policy_match.fields import PROFILE_FIELDS, field_heading

from .conftest import CONTRACT_POLICY_IDS, POLICIES, ROOT

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), ROOT / "data" / "policies" / "README.md",
               ROOT / "data" / "vocab" / "README.md", ROOT / "tests" / "data" / "README.md"])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# a path written in backquotes, e.g. `policy_match/validity.py`, `docs/research/x.md`
CODE_PATH = re.compile(r"`([\w.-]+(?:/[\w.\-]+)+)`")
OUTSIDE = ("shared/contract", "shared/research", "/work/", "../shared")


def _ignored_by_git(path: Path) -> bool:
    """True when git ignores ``path`` (generated output such as test-output/ is not in a clone)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    proc = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True)
    return proc.returncode == 0


def _in_a_clone(path: Path) -> bool:
    path = path.resolve()
    return path.is_relative_to(ROOT) and path.exists() and not _ignored_by_git(path)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_in_a_clone(doc):
    text = doc.read_text(encoding="utf-8")
    links = [target for target in LINK.findall(text) if not re.match(r"^[a-z]+:", target)]
    assert doc.name != "README.md" or doc.parent != ROOT or len(links) > 5  # the README does link its parts
    for target in links:
        file_part = target.split("#", 1)[0]
        if not file_part:
            continue  # a link within the page
        assert _in_a_clone(doc.parent / file_part), f"{doc.relative_to(ROOT)}: link {target} does not resolve"
    top_level = {p.name for p in ROOT.iterdir()}
    for path in CODE_PATH.findall(text):
        if path.split("/", 1)[0] in top_level and "*" not in path and not path.startswith(("test-output/", "var/")):
            assert _in_a_clone(ROOT / path), f"{doc.relative_to(ROOT)}: `{path}` is not in the repository"
    for outside in OUTSIDE:
        assert outside not in text, f"{doc.relative_to(ROOT)} refers to {outside}, which a clone does not have"


def test_the_readme_links_the_contract_and_the_provenance():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/contract.md)" in readme and "(docs/data-provenance.md)" in readme


def catalog_ids() -> list[str]:
    with (ROOT / "data" / "catalog.csv").open(encoding="utf-8") as fh:
        return [row["policy_id"] for row in csv.DictReader(fh)]


def test_contract_ids_are_the_first_rows_of_the_catalog():
    """The project's own copy of the contract: its 24 ids, in order, open data/catalog.csv and have records."""
    ids = contract_ids()
    assert len(ids) == 24 and len(set(ids)) == 24
    assert set(ids) == CONTRACT_POLICY_IDS
    assert catalog_ids()[:24] == ids
    assert len(catalog_ids()) > 24  # records found since are appended after them
    for policy_id in ids:
        assert (POLICIES / f"{policy_id}.yaml").is_file(), policy_id


def test_contract_lists_every_profile_field_with_its_label():
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| [^|]+ \| ([^|]+) \|", text, flags=re.MULTILINE))
    assert set(rows) == set(PROFILE_FIELDS)
    for name, label in rows.items():
        assert label.strip() == field_heading(name), name


def test_readme_data_figures_are_what_the_command_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    as_of = readme_as_of(readme)
    assert as_of is not None, "README lacks the data figures' marker line"
    proc = subprocess.run([sys.executable, "-m", "policy_match.datacard", "--as-of", as_of.isoformat()],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip()
    assert printed in readme, ("README figures drifted: run python -m policy_match.datacard --readme README.md "
                               f"--as-of {as_of.isoformat()}")
    from policy_match.knowledge import bundled_knowledge_base

    kb = bundled_knowledge_base()
    assert printed == readme_block(kb, as_of)
    assert f"| support items | {sum(len(p.items) for p in kb.policies)} |" in printed


def test_datacard_refuses_a_bad_date_and_a_readme_without_markers(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "policy_match.datacard", "--as-of", "2026/12/01"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, encoding="utf-8")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr
    plain = tmp_path / "README.md"
    plain.write_text("# nothing here\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "policy_match.datacard", "--readme", str(plain)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, encoding="utf-8")
    assert proc.returncode == 2 and "标记行" in proc.stderr
    assert plain.read_text(encoding="utf-8") == "# nothing here\n"
