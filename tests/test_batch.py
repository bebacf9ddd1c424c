"""The batch pipeline: hostile input files, safe and scalable outputs, streaming, Dask.

Every hostile file is generated here (small) and run through the real `policy-match` entry
point where the user would meet it; the readers and writers are also exercised directly.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import ROOT, run_cli

AS_OF = "2026-11-27"
FIRMS = [
    {"name": "甲灯饰", "town": "古镇镇", "sector": "C", "above_scale": "是", "annual_revenue_wan": "12000",
     "plans": "上MES，建数字化车间", "equipment_software_investment_wan": "2000"},
    {"name": "乙电商", "town": "石岐街道", "sector": "F", "cross_border_ecommerce": "是",
     "independent_site_fee_wan": "40", "plans": "独立站和TikTok推广"},
    {"name": "丙五金", "town": "小榄镇", "sector": "C", "plans": "购置数控机床"},
]
HOSTILE_NAMES = ['=HYPERLINK("http://evil.example/x","点我领补贴")', "=cmd|' /C calc'!A0", "+1+2", "-3+4", "@SUM(A1:A2)"]


def write_csv(path: Path, rows: list[dict], encoding: str = "utf-8", fields: list[str] | None = None) -> Path:
    buf = io.StringIO()
    fields = fields or list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def book_rows(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}
    finally:
        book.close()


def one_line_failure(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("错误："), proc.stderr
    assert all(line.startswith("提示：") for line in lines[:-1]), proc.stderr  # notes, then one error
    return lines[-1]


def many_firms(n: int) -> list[dict]:
    return [dict(FIRMS[i % len(FIRMS)], name=f"{FIRMS[i % len(FIRMS)]['name']}-{i}") for i in range(n)]


# --------------------------------------------------------------------------------------
# 1. Formula injection: every text cell stays inert text
# --------------------------------------------------------------------------------------


def test_formulas_from_an_upload_stay_text_in_every_sheet(tmp_path):
    rows = [dict(FIRMS[0], name=name) for name in HOSTILE_NAMES]
    rows.append({"name": "=1+1", "town": "=HYPERLINK(\"http://x\")", "annual_revenue_wan": "-5"})  # → 校验失败
    src = write_csv(tmp_path / "firms.csv", rows)
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        xml = "".join(z.read(n).decode("utf-8") for n in sheets)
        assert "<f>" not in xml and "<f " not in xml  # no formula anywhere
        assert "hyperlink" not in xml.lower().replace("=hyperlink(", "")  # no link records
        assert not any("externalLink" in n or "hyperlink" in n.lower() for n in z.namelist())
    book = openpyxl.load_workbook(out)  # full mode: keeps the cell types
    seen = set()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
                    seen.add((ws.title, cell.value))
    summary_names = {v for t, v in seen if t == "企业汇总"}
    assert set(HOSTILE_NAMES) <= summary_names
    assert {v for t, v in seen if t == "政策明细"} >= set(HOSTILE_NAMES)
    assert ("校验失败", "=1+1") in seen


def test_csv_output_is_neutralised_and_parquet_keeps_the_text(tmp_path):
    rows = [dict(FIRMS[0], name=name) for name in HOSTILE_NAMES]
    src = write_csv(tmp_path / "firms.csv", rows)
    proc = run_cli("batch", str(src), "-o", str(tmp_path / "out.csv"), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel and WPS
    summary = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["企业名称"] for r in summary] == ["'" + n for n in HOSTILE_NAMES]
    assert all(not r["企业名称"].startswith(("=", "+", "-", "@")) for r in summary)
    details = list(csv.DictReader(io.StringIO((tmp_path / "out_政策明细.csv").read_text(encoding="utf-8-sig"))))
    assert details and all(r["企业名称"].startswith("'") for r in details)
    assert float(details[0]["政策排名"]) == 1  # numbers stay numbers
    proc = run_cli("batch", str(src), "-o", str(tmp_path / "out.parquet"), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(tmp_path / "out.parquet").column("企业名称").to_pylist() == HOSTILE_NAMES


# --------------------------------------------------------------------------------------
# 2. Excel's limits: split sheets, cut cells, say so
# --------------------------------------------------------------------------------------


def test_tables_past_the_row_limit_continue_on_new_sheets(tmp_path):
    from policy_match.batch import stream_batch
    from policy_match.outputs import XlsxOutput
    from policy_match.tables import open_table

    src = write_csv(tmp_path / "firms.csv", many_firms(12))
    out = tmp_path / "out.xlsx"
    writer = XlsxOutput(out, max_rows=6)  # 5 data rows per sheet stand in for 1,048,575
    stats = stream_batch(open_table(src), writer, as_of=AS_OF, workers=1, chunk_rows=5)
    book = book_rows(out)
    details = [t for t in book if t.startswith("政策明细")]
    assert details[:3] == ["政策明细", "政策明细(2)", "政策明细(3)"]
    assert list(book)[:3] == ["企业汇总", "镇街汇总", "政策明细"]
    assert list(book)[-2:] == ["校验失败", "说明"] and "镇街汇总" in book
    assert all(len(book[t]) <= 6 and book[t][0][0] == "行号" for t in details)
    total = sum(len(book[t]) - 1 for t in details)
    assert total == stats.report.rows["政策明细"] > 10
    summaries = [t for t in book if t.startswith("企业汇总")]
    assert sum(len(book[t]) - 1 for t in summaries) == 12 and len(summaries) == 3
    notes = dict((k, v) for k, v in book["说明"][1:])
    assert "已分为" in notes["工作表拆分"] and "政策明细(3)" in notes["工作表拆分"]
    assert stats.report.split_lines()


def test_long_cells_are_cut_with_a_marker(tmp_path):
    from policy_match.io import DETAIL_COLUMNS, SUMMARY_COLUMNS
    from policy_match.outputs import XlsxOutput

    writer = XlsxOutput(tmp_path / "out.xlsx")
    summary = [None] * len(SUMMARY_COLUMNS)
    summary[0], summary[1], summary[-1] = 2, "长名公司", "提示" * 20_000 + "\x0b"
    writer.write([tuple(summary)], [tuple([2] + [""] * (len(DETAIL_COLUMNS) - 1))], [])
    report = writer.close([("匹配基准日", AS_OF)])
    assert report.truncated_cells == 1
    cell = book_rows(tmp_path / "out.xlsx")["企业汇总"][1][-1]
    assert len(cell) == 32_767 and "已截断：原文 40,000 字" in cell  # the \\x0b removed first
    assert "截断" in dict(book_rows(tmp_path / "out.xlsx")["说明"][1:])["截断的单元格"]


def test_libreoffice_reads_the_split_workbook(tmp_path):
    """A 30-firm workbook with small sheets, converted by LibreOffice when it is installed."""
    import shutil

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    src = write_csv(tmp_path / "firms.csv", many_firms(30))
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    conv = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1",
                           "--outdir", str(tmp_path / "lo"), str(out)], capture_output=True, text=True, timeout=120)
    assert conv.returncode == 0, conv.stderr
    first_sheet = list(csv.reader(io.StringIO((tmp_path / "lo" / "out.csv").read_text(encoding="utf-8"))))
    assert first_sheet[0][:2] == ["行号", "企业名称"] and len(first_sheet) == 31


# --------------------------------------------------------------------------------------
# 3. The output path is checked before anything is matched; writing fails cleanly
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "fragment"), [
    ("missing/dir/out.xlsx", "输出目录不存在"),
    ("afile.txt/out.xlsx", "不是目录"),
    ("out.docx", ".xlsx、.csv 或 .parquet"),
    ("adir", ".xlsx、.csv 或 .parquet"),
    ("/proc/out.xlsx", "无法写入输出目录"),
])
def test_output_path_checked_before_matching(tmp_path, target, fragment):
    src = write_csv(tmp_path / "firms.csv", FIRMS)
    (tmp_path / "afile.txt").write_text("x")
    (tmp_path / "adir").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    line = one_line_failure(run_cli("batch", str(src), "-o", path, "--as-of", AS_OF))
    assert fragment in line and line.startswith("错误：")
    assert "匹配中" not in line and "完成" not in line


def test_output_cannot_overwrite_the_input(tmp_path):
    src = write_csv(tmp_path / "firms.csv", FIRMS)
    line = one_line_failure(run_cli("batch", str(src), "-o", str(src)))
    assert "输入文件相同" in line
    assert src.read_text(encoding="utf-8").startswith("name,")


def test_a_failed_write_says_so_and_leaves_no_half_file(tmp_path):
    src = write_csv(tmp_path / "firms.csv", FIRMS)
    for suffix in ("xlsx", "csv"):
        out = tmp_path / f"full.{suffix}"
        out.symlink_to("/dev/full")  # every write fails with "no space left"
        line = one_line_failure(run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF))
        assert "磁盘空间不足" in line and str(out) in line
        assert not out.exists() and not out.is_symlink()


# --------------------------------------------------------------------------------------
# 4. Hostile input files
# --------------------------------------------------------------------------------------


def xlsx_bytes(rows: list[list], extra_sheets: dict[str, list[list]] | None = None) -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "企业"
    for r in rows:
        ws.append(r)
    for title, sheet_rows in (extra_sheets or {}).items():
        extra = book.create_sheet(title)
        for r in sheet_rows:
            extra.append(r)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def with_member(data: bytes, name: str, payload: bytes) -> bytes:
    """The same workbook with one zip member replaced (compressed as Excel would)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != name:
                dst.writestr(item, src.read(item.filename))
        dst.writestr(name, payload)
    return buf.getvalue()


def test_decompression_bomb_is_refused_before_parsing(tmp_path):
    base = xlsx_bytes([["name", "town"], ["甲", "古镇镇"]])
    strings = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    bomb = with_member(base, "xl/sharedStrings.xml", strings + b"<si><t>" + b"A" * 60_000_000 + b"</t></si></sst>")
    assert len(bomb) < 200_000  # a small upload…
    src = tmp_path / "bomb.xlsx"
    src.write_bytes(bomb)
    line = one_line_failure(run_cli("batch", str(src), "-o", str(tmp_path / "out.xlsx")))
    assert "压缩炸弹" in line and len(line) < 300  # …refused by its unpacked size, without unpacking
    assert not (tmp_path / "out.xlsx").exists()


def test_xlsx_member_and_size_limits():
    from policy_match.tables import InputError, XlsxLimits, open_table

    base = xlsx_bytes([["name"], ["甲"]])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(1_200):
            z.writestr(f"junk/{i}.xml", b"")
    with pytest.raises(InputError, match="部件"):
        open_table(buf.getvalue(), "many.xlsx")
    with pytest.raises(InputError, match="解压后"):
        open_table(base, "firms.xlsx", xlsx_limits=XlsxLimits(max_member_bytes=100))
    with pytest.raises(InputError, match="不是有效的 .xlsx"):
        open_table(b"PK\x03\x04 not really", "broken.xlsx")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_giant_header_is_clipped_in_the_message(tmp_path, kind):
    header = ["客户经理" * 50_000, *[f"备注{i}" for i in range(30)]]
    src = tmp_path / f"wide.{kind}"
    if kind == "csv":
        src.write_text(",".join(header) + "\n张三,重点\n", encoding="utf-8")
    else:
        src.write_bytes(xlsx_bytes([header, ["张三", "重点"]]))
    line = one_line_failure(run_cli("batch", str(src), "-o", str(tmp_path / "out.xlsx")))
    assert "没有可识别的列" in line and len(line) < 400
    assert "客户经理客户经理" in line and "…" in line and "等共 31 列" in line


def test_too_many_columns_is_one_short_message(tmp_path):
    src = tmp_path / "wide.csv"
    src.write_text(",".join(["name"] + [f"c{i}" for i in range(2_000)]) + "\n甲\n", encoding="utf-8")
    line = one_line_failure(run_cli("batch", str(src), "-o", str(tmp_path / "out.xlsx")))
    assert "2001 列" in line and "上限 500 列" in line and len(line) < 400


def test_ragged_csv_row_is_reported_and_the_others_run(tmp_path):
    text = ("name,town,plans\n"
            "甲灯饰,古镇镇,\"建数字化车间\n分两期\"\n"  # a quoted line break: row 2 spans lines 2–3
            "乙五金,小榄镇,购置机床,多出来的,两列\n"  # row 3 (file line 4): two extra fields
            "丙电商,石岐街道,做独立站\n"
            "丁公司,古镇镇,,,\n")  # trailing empty fields are harmless
    src = tmp_path / "ragged.csv"
    src.write_text(text, encoding="utf-8")
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "3 家企业已匹配，1 行校验失败" in proc.stdout
    book = book_rows(out)
    assert [r[1] for r in book["企业汇总"][1:]] == ["甲灯饰", "丙电商", "丁公司"]
    (failure,) = book["校验失败"][1:]
    assert failure[:3] == (3, "乙五金", "（整行）")
    assert "5 个字段" in failure[4] and "3 列" in failure[4] and "文件第 4 行" in failure[4]


def test_big5_file_is_detected_and_named(tmp_path):
    rows = [{"name": "古鎮明燈照明有限公司", "sector": "C", "plans": "建設數字化車間，購置數控機床"},
            {"name": "小欖五金製品廠", "sector": "C", "plans": "擴產買地，申請技術改造補貼"}]
    src = write_csv(tmp_path / "big5.csv", rows, encoding="big5")
    with pytest.raises(UnicodeDecodeError):
        src.read_bytes().decode("utf-8")
    assert src.read_bytes().decode("gb18030") != src.read_bytes().decode("big5")  # GBK would read mojibake
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "Big5" in proc.stderr
    assert [r[1] for r in book_rows(out)["企业汇总"][1:]] == [r["name"] for r in rows]
    assert "Big5" in dict(book_rows(out)["说明"][1:])["读取说明"]


@pytest.mark.parametrize(("encoding", "expected"), [("gbk", "gb18030"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")])
def test_encoding_detection_keeps_mainland_files(encoding, expected):
    from policy_match.tables import detect_encoding

    assert detect_encoding("name,town\n甲,古镇\n".encode(encoding)) == expected  # short and ambiguous: GB18030 wins
    assert detect_encoding("企业名称,发展计划\n明灯照明,建设数字化车间购置数控机床\n".encode(encoding)) == expected


def test_undecodable_csv_is_rejected_clearly(tmp_path):
    from policy_match.tables import InputError, detect_encoding

    with pytest.raises(InputError, match="UTF-16"):
        detect_encoding("name\n甲\n".encode("utf-16"))
    src = tmp_path / "mixed.csv"
    src.write_bytes("name,town\n甲,古镇镇\n".encode() + b"\xff\xfe\xfa,x\n" * 3)
    line = one_line_failure(run_cli("batch", str(src), "-o", str(tmp_path / "out.xlsx")))
    assert "编码" in line


def test_nul_in_a_cell_is_removed_with_a_warning(tmp_path):
    src = tmp_path / "nul.csv"
    src.write_bytes("name,town,plans\n甲\x00乙灯饰,古镇镇,建数字化车间\x00二期\n丙五金,小榄镇,\n".encode())
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    header, first, second = book_rows(out)["企业汇总"][:3]
    assert first[1] == "甲乙灯饰"  # the whole name, not "甲"
    hint = first[header.index("提示")]
    assert "第2行“name”列含有空字符（NUL）" in hint and "第2行“plans”列" in hint
    assert "NUL" not in (second[header.index("提示")] or "")


def test_cell_over_the_excel_limit_rejects_only_its_row(tmp_path):
    src = write_csv(tmp_path / "long.csv", [dict(FIRMS[0], plans="扩产" * 20_000), FIRMS[1]])
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    book = book_rows(out)
    assert [r[1] for r in book["企业汇总"][1:]] == ["乙电商"]
    (failure,) = book["校验失败"][1:]
    assert failure[:3] == (2, "甲灯饰", "发展计划与需求") and "40,000 字" in failure[4] and len(failure[3]) < 50


def test_later_xlsx_sheets_are_named_not_dropped_silently(tmp_path):
    data = xlsx_bytes([["企业名称", "所在镇街"], ["甲灯饰", "古镇镇"]],
                      {"小榄": [["企业名称", "所在镇街"], ["乙五金", "小榄镇"]], "备注": [["随便写写"]], "空表": []})
    src = tmp_path / "multi.xlsx"
    src.write_bytes(data)
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "只读取了第一个工作表“企业”" in proc.stderr
    assert "“小榄”、“备注”" in proc.stderr and "空表" not in proc.stderr
    assert "其中 “小榄” 也有企业信息的列" in proc.stderr
    assert [r[1] for r in book_rows(out)["企业汇总"][1:]] == ["甲灯饰"]


# --------------------------------------------------------------------------------------
# 5. Streaming: formats, order, workers
# --------------------------------------------------------------------------------------


def test_parquet_gathers_chunks_into_row_groups_with_numeric_statistics(tmp_path):
    """Chunks of 250 firms become row groups of about row_group_rows rows (not one per chunk), in
    input order, with min/max statistics on the numeric columns only."""
    from policy_match.batch import stream_batch
    from policy_match.outputs import ParquetOutput
    from policy_match.tables import open_table

    firms = [{**FIRMS[i % len(FIRMS)], "name": f"企业{i}"} for i in range(1_300)]
    src = write_csv(tmp_path / "firms.csv", firms)
    out = ParquetOutput(tmp_path / "out.parquet", row_group_rows=500)
    stats = stream_batch(open_table(src), out, as_of=AS_OF, workers=1)
    assert stats.matched == 1_300
    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [500, 500, 300]
    names = pq.read_table(tmp_path / "out.parquet").column("企业名称").to_pylist()
    assert names == [f"企业{i}" for i in range(1_300)]
    columns = {meta.row_group(0).column(c).path_in_schema: meta.row_group(0).column(c).statistics
               for c in range(meta.num_columns)}
    assert columns["行号"] is not None and columns["行号"].min == 2
    assert columns["企业名称"] is None and columns["建议"] is None


def test_xlsx_csv_parquet_hold_the_same_rows(tmp_path):
    src = write_csv(tmp_path / "firms.csv", [*FIRMS, {"name": "坏", "town": "火星镇"}])
    tables = {}
    for suffix in ("xlsx", "csv", "parquet"):
        proc = run_cli("batch", str(src), "-o", str(tmp_path / f"out.{suffix}"), "--as-of", AS_OF)
        assert proc.returncode == 0, proc.stderr
        assert "3 家企业已匹配，1 行校验失败" in proc.stdout
    book = book_rows(tmp_path / "out.xlsx")
    tables["xlsx"] = [r[:2] + r[4:6] for r in book["企业汇总"][1:]]
    summary = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8-sig"))))[1:]
    tables["csv"] = [(int(r[0]), r[1], int(r[4]), int(r[5])) for r in summary]
    frame = pq.read_table(tmp_path / "out.parquet").to_pylist()
    tables["parquet"] = [(r["行号"], r["企业名称"], r["推荐申报政策数"], r["普遍适用服务数"]) for r in frame]
    assert tables["xlsx"] == tables["csv"] == tables["parquet"]
    assert [r[0] for r in tables["parquet"]] == [2, 3, 4]
    details = pq.read_table(tmp_path / "out_政策明细.parquet")
    assert details.num_rows == len(book["政策明细"]) - 1
    assert details.schema.field("可以预期(万元)").type == pa.float64()
    assert details.schema.field("政策排名").type == pa.int64()
    errors = pq.read_table(tmp_path / "out_校验失败.parquet").to_pylist()
    assert {e["字段"] for e in errors} == {"所在镇街"} and errors[0]["行号"] == 5


def test_two_workers_keep_order_and_content(tmp_path):
    src = write_csv(tmp_path / "firms.csv", many_firms(900))
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.parquet"
        proc = run_cli("batch", str(src), "-o", str(out), "--as-of", AS_OF, "--workers", workers)
        assert proc.returncode == 0, proc.stderr
        outs.append((pq.read_table(out), pq.read_table(tmp_path / f"w{workers}_政策明细.parquet")))
    assert outs[0][0].equals(outs[1][0]) and outs[0][1].equals(outs[1][1])
    assert outs[1][0].column("行号").to_pylist() == list(range(2, 902))


def test_parquet_input_and_row_numbers(tmp_path):
    firms = many_firms(7)
    table = pa.table({"name": [f["name"] for f in firms], "town": [f["town"] for f in firms],
                      "annual_revenue_wan": [1000.0, None, 300.5, 20.0, None, 8.0, 12000.0],
                      "above_scale": [True, False, None, True, False, None, True]})
    pq.write_table(table, tmp_path / "firms.parquet")
    proc = run_cli("batch", str(tmp_path / "firms.parquet"), "-o", str(tmp_path / "out.parquet"), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["企业名称"] for r in out] == [f["name"] for f in firms] and out[-1]["行号"] == 8


def test_in_memory_batch_matches_the_stream(tmp_path):
    from policy_match.io import SUMMARY_COLUMNS, read_batch, run_batch

    src = write_csv(tmp_path / "firms.csv", [*FIRMS, {"name": "坏", "annual_revenue_wan": "-1"}])
    batch = read_batch(src.read_bytes(), "firms.csv")
    result = run_batch(batch, as_of=AS_OF, workers=1)
    proc = run_cli("batch", str(src), "-o", str(tmp_path / "out.parquet"), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    streamed = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [[s[c] for c in SUMMARY_COLUMNS] for s in result.summaries] == [[s[c] for c in SUMMARY_COLUMNS] for s in streamed]
    assert [e["行号"] for e in result.errors] == [5]


def test_match_and_app_never_import_dask():
    code = ("import sys; from policy_match import match; import policy_match.cli, policy_match.io, policy_match.batch;"
            "match({'sector': 'C'}); import app_pages.common;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------------------
# 6. Dask: the same content as the local engine, on a 2-worker LocalCluster
# --------------------------------------------------------------------------------------


def read_parts(folder: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("part-*.parquet"))])


@pytest.mark.slow
def test_dask_engine_equals_local_engine(tmp_path):
    pytest.importorskip("distributed")
    firms = [*many_firms(60), {"name": "坏数据", "town": "火星镇", "annual_revenue_wan": "-3"}, *many_firms(40)]
    for k, firm in enumerate(firms[::7]):  # the bureau's own column, kept through both engines
        firm["走访人"] = f"专员{k}"
    parts = tmp_path / "firms"
    parts.mkdir()
    fields = list(dict.fromkeys(k for r in firms for k in r))
    for i, start in enumerate(range(0, len(firms), 35)):  # three part files → three partitions
        chunk = firms[start:start + 35]
        pq.write_table(pa.table({f: [r.get(f) for r in chunk] for f in fields}), parts / f"part-{i}.parquet")
    local = tmp_path / "local.parquet"
    proc = run_cli("batch", str(parts), "-o", str(local), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    out_dir = tmp_path / "dask-out"
    proc = run_cli("batch", str(parts), "--engine", "dask", "--workers", "2", "-o", str(out_dir), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "2 个 worker，3 个分区" in proc.stderr
    assert "100 家企业已匹配，1 行校验失败，3 个分区" in proc.stdout
    for table, path in (("企业汇总", local), ("政策明细", tmp_path / "local_政策明细.parquet"),
                        ("校验失败", tmp_path / "local_校验失败.parquet")):
        expected, got = pq.read_table(path), read_parts(out_dir / table)
        assert got.schema.equals(expected.schema) and got.equals(expected), table
    assert read_parts(out_dir / "校验失败").column("行号").to_pylist() == [62, 62]
    kept = read_parts(out_dir / "企业汇总").column("原表其他列").to_pylist()
    assert kept[0] == "走访人：专员0" and kept[1] == "" and sum(bool(v) for v in kept) == 15


@pytest.mark.slow
def test_dask_engine_on_csv_blocks_equals_local(tmp_path):
    pytest.importorskip("distributed")
    from datetime import date

    from policy_match.dask_batch import run_dask

    src = write_csv(tmp_path / "firms.csv", many_firms(50))
    proc = run_cli("batch", str(src), "-o", str(tmp_path / "local.parquet"), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    summary = run_dask(src, tmp_path / "out", as_of=date.fromisoformat(AS_OF), workers=2, csv_blocksize=1_000)
    assert summary["partitions"] > 2 and summary["matched"] == 50
    assert read_parts(tmp_path / "out" / "企业汇总").equals(pq.read_table(tmp_path / "local.parquet"))
    assert read_parts(tmp_path / "out" / "政策明细").equals(pq.read_table(tmp_path / "local_政策明细.parquet"))


def test_dask_engine_bad_inputs(tmp_path):
    src = write_csv(tmp_path / "firms.csv", FIRMS)
    line = one_line_failure(run_cli("batch", str(tmp_path / "nope"), "--engine", "dask", "-o", str(tmp_path / "o")))
    assert "不存在" in line
    (tmp_path / "file.txt").write_text("x")
    line = one_line_failure(run_cli("batch", str(src), "--engine", "dask", "-o", str(tmp_path / "file.txt")))
    assert "输出应为目录" in line
    line = one_line_failure(run_cli("batch", str(src), "--scheduler", "tcp://127.0.0.1:1", "-o", str(tmp_path / "o.xlsx")))
    assert "--engine dask" in line


def test_messages_never_quote_megabytes():
    from policy_match.tables import clip, preview_columns

    assert len(clip("x" * 10_000_000)) == 31
    assert re.fullmatch(r"(a{20}…、){7}a{20}… 等共 1000 列", preview_columns(["a" * 1000] * 1000))


def test_detail_rows_cite_the_best_source_with_its_class():
    """政策明细's 来源 is the item's best source (official pages before copies, news and other
    sites), labelled with its class — as the JSON orders them."""
    from policy_match.io import DETAIL_COLUMNS, BatchInput, run_batch
    from policy_match.sources import SOURCE_CLASSES, ranked

    out = run_batch(BatchInput([(2, FIRMS[0]), (3, FIRMS[1])], {}, []), as_of=AS_OF, workers=1)
    col, item_col = DETAIL_COLUMNS.index("来源"), DETAIL_COLUMNS.index("事项编号")
    from policy_match.matcher import default_matcher

    items = {it.item_id: it for _, it in default_matcher().pairs_}
    assert out.details
    for row in out.details:
        best = ranked(items[row[item_col]].sources)[0]
        assert row[col] == f"{best.source}（{best.label}）"
        assert best.label in SOURCE_CLASSES.values()
