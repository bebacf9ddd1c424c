"""The command line, through the real `policy-match` entry point."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import openpyxl
import pytest

from .conftest import CONTRACT_POLICY_IDS, run_cli

PROFILE = {
    "name": "小榄示例五金", "town": "小榄镇", "registered_in_zhongshan": True, "sector": "C", "above_scale": True,
    "annual_revenue_wan": 8000, "credit_ok": True, "plans": "购置数控机床，建设数字化车间",
    "equipment_software_investment_wan": 1000,
}


def write_json(tmp_path: Path, data, name="profile.json", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding=encoding)
    return path


def assert_clean_failure(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0]


def test_match_json(tmp_path):
    proc = run_cli("match", str(write_json(tmp_path, PROFILE)), "--as-of", "2026-11-27", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["as_of"] == "2026-11-27"
    assert out["results"][0]["policy_id"]
    assert {r["policy_id"] for r in out["results"]}.isdisjoint({"zs-2023-new-year-18", "zs-2024-foreign-trade-fund"})


def test_match_top_and_include_expired(tmp_path, kb):
    path = str(write_json(tmp_path, PROFILE))
    top = json.loads(run_cli("match", path, "--top", "3", "--as-of", "2026-11-27").stdout)
    assert len(top["results"]) == 3
    every = json.loads(run_cli("match", path, "--include-expired", "--as-of", "2026-11-27").stdout)
    assert len(every["results"]) == len(kb.policies)
    assert {r["policy_id"] for r in every["results"]} >= CONTRACT_POLICY_IDS
    assert {r["validity"] for r in every["results"]} >= {"expired"}


def test_match_table_is_readable_chinese(tmp_path):
    proc = run_cli("match", str(write_json(tmp_path, PROFILE)), "--format", "table", "--top", "5")
    assert proc.returncode == 0, proc.stderr
    assert "政策匹配结果" in proc.stdout and "数字化" in proc.stdout
    assert "可能符合" in proc.stdout or "可申请" in proc.stdout


def test_match_reads_stdin_and_gbk_file(tmp_path):
    proc = run_cli("match", "-", stdin=json.dumps(PROFILE, ensure_ascii=False))
    assert proc.returncode == 0, proc.stderr
    gbk = run_cli("match", str(write_json(tmp_path, PROFILE, encoding="gbk")))
    assert gbk.returncode == 0, gbk.stderr


def test_bad_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"sector": "C",', encoding="utf-8")
    assert_clean_failure(run_cli("match", str(path)), "不是有效的 JSON")


def test_invalid_field_names_field_and_value(tmp_path):
    proc = run_cli("match", str(write_json(tmp_path, dict(PROFILE, annual_revenue_wan=-100, digital_level=9))))
    assert proc.returncode == 2
    assert_clean_failure(proc, "上年度营业收入（annual_revenue_wan） = -100", "（digital_level） = 9")


@pytest.mark.parametrize(("payload", "fragment"), [([1, 2, 3], "JSON 对象"), ("just text", "JSON 对象")])
def test_non_object_json(tmp_path, payload, fragment):
    assert_clean_failure(run_cli("match", str(write_json(tmp_path, payload))), fragment)


def test_missing_file_and_bad_date(tmp_path):
    assert_clean_failure(run_cli("match", str(tmp_path / "nope.json")), "文件不存在")
    assert_clean_failure(run_cli("match", str(tmp_path)), "这是一个文件夹")
    assert_clean_failure(run_cli("match", str(write_json(tmp_path, PROFILE)), "--as-of", "2026/11/27"),
                         "--as-of “2026/11/27”：日期应为 YYYY-MM-DD")


def test_broken_json_and_a_list_are_told_in_chinese(tmp_path):
    """Python's JSON reader speaks English; the message names the line, the column and the fault in Chinese."""
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  name: "某公司"}', encoding="utf-8")
    proc = run_cli("match", str(broken))
    assert_clean_failure(proc, "第 2 行第 3 列：键名应放在英文双引号内")
    assert "Expecting" not in proc.stderr
    for text, fault in (('{"a": 1,}', "键名应放在英文双引号内"), ('{"a": 1} x', "多余内容"), ('{"a": "x', "缺少结尾"),
                        ('{"a" 1}', "缺少冒号"), ('{"a": }', "此处应有一个值")):
        broken.write_text(text, encoding="utf-8")
        assert_clean_failure(run_cli("match", str(broken)), fault)
    broken.write_text("[1, 2]", encoding="utf-8")
    assert_clean_failure(run_cli("match", str(broken)), "实际是数组（列表）")


def test_empty_profile_runs(tmp_path):
    proc = run_cli("match", str(write_json(tmp_path, {})))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["results"]


def test_search_finds_items():
    proc = run_cli("search", "独立站 海外推广", "--format", "json", "--top", "3")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["results"]
    assert hits[0]["item_id"].startswith("zs-2022-cross-border-ecommerce/")
    table = run_cli("search", "搬迁 租金")
    assert "搬迁" in table.stdout
    assert_clean_failure(run_cli("search", "   "), "关键词为空")


# --- batch -------------------------------------------------------------------------------

ROWS = [
    {"name": "甲灯饰", "town": "古镇", "sector": "C", "above_scale": "是", "annual_revenue_wan": "12000",
     "qualifications": "高新技术企业、专精特新中小企业", "plans": "上MES，建数字化车间",
     "equipment_software_investment_wan": "2000", "备注": "重点走访"},
    {"name": "乙电商", "town": "石岐街道", "sector": "F", "cross_border_ecommerce": "是",
     "independent_site_fee_wan": "40", "cross_border_sales_usd_wan": "90", "plans": "独立站和TikTok推广"},
    {"name": "丙坏数据", "town": "深圳南山", "annual_revenue_wan": "-3"},
]


def write_csv(path: Path, rows, encoding: str) -> Path:
    buf = io.StringIO()
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k != "name", k))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def read_book(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_batch_csv_encodings(tmp_path, encoding):
    src = write_csv(tmp_path / "firms.csv", ROWS, encoding)
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", "2026-11-27")
    assert proc.returncode == 0, proc.stderr
    assert "2 家企业已匹配，1 行校验失败" in proc.stdout
    assert "无法识别的列 备注 不参与匹配，内容原样写入企业汇总的“原表其他列”" in proc.stderr
    book = read_book(out)
    assert set(book) == {"企业汇总", "镇街汇总", "政策明细", "校验失败", "说明"}
    names = [row[1] for row in book["企业汇总"][1:]]
    assert names == ["甲灯饰", "乙电商"]
    # the bureau's own column is written back with its firm, not lost
    header = list(book["企业汇总"][0])
    kept = {row[1]: row[header.index("原表其他列")] for row in book["企业汇总"][1:]}
    assert kept == {"甲灯饰": "备注：重点走访", "乙电商": None}
    errors = book["校验失败"][1:]
    assert {(r[0], r[2]) for r in errors} == {(4, "所在镇街"), (4, "上年度营业收入")}  # labels, not codes
    details = book["政策明细"]
    assert details[0][0] == "行号" and "推荐等级" in details[0]
    # only what each firm is advised to act on (and its near misses) is listed, not every item
    assert 1 <= len(details) - 1 <= 40
    assert {r[details[0].index("推荐等级")] for r in details[1:]} <= {"推荐申报", "暂不符合"}


def test_batch_xlsx_with_chinese_headers(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["企业名称", "所在镇街", "行业门类", "规模以上企业", "发展计划与需求", "因工改搬迁", "搬迁后新址租赁面积",
               "上年度地方经济贡献", "注册地、经营地、纳税地均在中山"])
    ws.append(["丁五金", "小榄镇", "C", "是", "工改搬迁到新厂房", "是", 5000, 100, "是"])
    src = tmp_path / "firms.xlsx"
    book.save(src)
    out = tmp_path / "out.xlsx"
    # the relocation subsidy's documented batch opened 2023-02-16 (over by 2026)
    proc = run_cli("batch", str(src), "-o", str(out), "--as-of", "2023-03-01")
    assert proc.returncode == 0, proc.stderr
    summary = read_book(out)["企业汇总"]
    header, row = summary[0], summary[1]
    assert row[header.index("企业名称")] == "丁五金"
    money = sum(row[header.index(c)] for c in ("可以预期(万元)", "核实后可得(万元)", "竞争性最高可争取(万元)"))
    assert money >= 72  # 6元 × 5000㎡ × 12 × 2 years
    assert row[header.index("核实后可得(万元)")] >= 72  # an entitlement still waiting on manual checks


def test_batch_bad_inputs(tmp_path):
    out = str(tmp_path / "out.xlsx")
    wrong = tmp_path / "firms.pdf"
    wrong.write_bytes(b"%PDF-1.4")
    assert_clean_failure(run_cli("batch", str(wrong), "-o", out), "不支持的文件类型")
    cols = write_csv(tmp_path / "cols.csv", [{"公司": "甲", "地址": "某路"}], "utf-8")
    assert_clean_failure(run_cli("batch", str(cols), "-o", out), "没有可识别的列")
    fake_xlsx = tmp_path / "fake.xlsx"
    fake_xlsx.write_bytes(b"not a zip")
    assert_clean_failure(run_cli("batch", str(fake_xlsx), "-o", out), "无法读取")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(128, 256)) * 10)
    assert_clean_failure(run_cli("batch", str(binary), "-o", out), "编码")
    assert_clean_failure(run_cli("batch", str(cols), "-o", str(tmp_path / "out.pdf")), ".xlsx、.csv 或 .parquet")


def test_batch_empty_file_gives_empty_workbook(tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text("name,town\n", encoding="utf-8")
    out = tmp_path / "out.xlsx"
    proc = run_cli("batch", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "0 家企业已匹配" in proc.stdout


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("match", "search", "batch", "validate"):
        assert cmd in proc.stdout


# --- Chinese help and usage errors ----------------------------------------------------------

# What click and typer print in English when left alone.
CLICK_ENGLISH = ("Usage", "Options", "Commands", "Arguments", "Show this message", "Missing argument",
                 "Missing option", "Missing parameter", "No such option", "No such command", "Invalid value",
                 "Error", "Try '", "for help", "[default", "[required]", "Got unexpected", "Did you mean",
                 "Possible options", "requires an argument", "does not take a value", "Input should",
                 "is not a valid", "Aborted")


def assert_no_click_english(text: str) -> None:
    found = [s for s in CLICK_ENGLISH if s.lower() in text.lower()]
    assert not found, (found, text)


def command_names() -> list[str]:
    import typer

    from policy_match.cli import app

    return sorted(typer.main.get_command(app).commands)


def test_help_of_every_command_is_chinese():
    top = run_cli("--help")
    assert top.returncode == 0, top.stderr
    assert top.stdout.startswith("用法：policy-match [选项] 命令")
    assert "选项" in top.stdout and "命令" in top.stdout and "显示本帮助并退出" in top.stdout
    assert_no_click_english(top.stdout + top.stderr)
    assert run_cli().stdout == top.stdout  # no arguments: the same help
    names = command_names()
    assert {"match", "search", "batch", "validate", "serve"} <= set(names)
    for name in names:
        proc = run_cli(name, "-h")
        assert proc.returncode == 0, (name, proc.stderr)
        assert proc.stdout.startswith(f"用法：policy-match {name} "), proc.stdout
        assert "显示本帮助并退出" in proc.stdout
        assert_no_click_english(proc.stdout + proc.stderr)
    match = run_cli("match", "--help").stdout
    for text in ("画像文件", "〔必填〕", "--top K", "〔≥ 1〕", "--format json|table", "〔默认：json〕", "-h, --help"):
        assert text in match, text


@pytest.mark.parametrize(("args", "message"), [
    (["match"], "错误：缺少参数 画像文件"),
    (["match", "p.json", "--foo"], "错误：没有选项 --foo"),
    (["match", "p.json", "--fromat", "json"], "错误：没有选项 --fromat（是否想用 --format？）"),
    (["match", "p.json", "--top", "0"], "错误：--top 的取值“0”无效：应为不小于 1 的整数"),
    (["match", "p.json", "--top", "三"], "错误：--top 的取值“三”无效：应为不小于 1 的整数"),
    (["match", "p.json", "--format", "xml"], "错误：--format 的取值“xml”无效：应为 json、table 之一"),
    (["match", "p.json", "--top"], "错误：选项 --top 后面需要一个值"),
    (["match", "--include-expired=yes", "p.json"], "错误：选项 --include-expired 不接受取值"),
    (["match", "a.json", "b.json"], "错误：多余的参数：b.json"),
    (["batch", "firms.csv"], "错误：缺少选项 -o/--output"),
    (["serve", "--port", "70000"], "错误：--port 的取值“70000”无效：应为 1–65535 之间的整数"),
    (["mach"], "错误：没有命令“mach”（是否想用 match"),
    (["nope"], "错误：没有命令“nope”（可用的命令：match、search、batch"),
])
def test_usage_errors_are_chinese(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(message), proc.stderr
    if len(lines) > 1:  # the usage line and where help is
        assert lines[1].startswith("用法：policy-match") and lines[2].endswith("-h 查看帮助。")
    assert_no_click_english(proc.stderr)
    assert "Traceback" not in proc.stderr


def _display_width(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


def test_table_follows_the_terminal_width(tmp_path):
    path = str(write_json(tmp_path, PROFILE))
    narrow = run_cli("match", path, "--format", "table", "--as-of", "2026-11-27", env={"COLUMNS": "80"})
    assert narrow.returncode == 0, narrow.stderr
    assert max(map(_display_width, narrow.stdout.splitlines())) <= 80
    wide = run_cli("match", path, "--format", "table", "--as-of", "2026-11-27", env={"COLUMNS": "200"})
    assert 160 < max(map(_display_width, wide.stdout.splitlines())) <= 200  # no longer cut at 160
    piped = run_cli("match", path, "--format", "table", "--as-of", "2026-11-27", env={"COLUMNS": None})
    assert 120 < max(map(_display_width, piped.stdout.splitlines())) <= 160  # no terminal at all: 160 columns
    helped = run_cli("batch", "-h", env={"COLUMNS": "60"})
    assert max(map(_display_width, helped.stdout.splitlines())) <= 60


def test_table_wraps_chinese_text_without_stranding_marks_or_bullets(tmp_path):
    """Long Chinese reasons fold inside their cell with the mark on their first line; bulleted
    lists wrap under their own text; a hint that repeats a check is not printed twice."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PROFILE, ensure_ascii=False), encoding="utf-8")
    out = run_cli("match", str(path), "--format", "table", "--as-of", "2026-12-01", env={"COLUMNS": "100"}).stdout
    lines = out.splitlines()
    assert not [line for line in lines if re.search(r"│\s*[?✔✘→·]\s*│", line)]  # no mark alone in a cell line
    bullets = [k for k, line in enumerate(lines) if line.startswith("  • ")]
    assert bullets and all(line.strip() != "•" for line in lines)
    continued = [line for line in lines if line.startswith("    ") and not line.startswith("     ")]
    assert all(_display_width(line) <= 100 for line in lines)
    assert continued, "some bulleted line is long enough to wrap at 100 columns"
    table = "\n".join(line for line in lines if line.startswith("│"))
    checks = re.findall(r"需人工核实：(\S{6})", table)
    assert all(table.count(c) == 1 for c in checks)


def test_bullets_keep_dates_whole_and_never_start_a_line_with_a_closing_mark():
    from rich.console import Console

    from policy_match.cli import _NO_LINE_START, _print_bullets

    console = Console(width=40, record=True, file=io.StringIO())
    texts = ["中小企业数字化转型城市试点资金：2026-12-31 截止，还剩 30 天，请尽快向市工信局报送材料",
             "核实：核实企业入驻的园区符合第六条的面积和配套要求；补充：所在镇街（需为 南头镇 之一）",
             "补充：计划固定资产投资（需 ≥ 1000万）；核实：按付息凭证核实通知所列期间实际支付的利息"]
    for width in range(30, 60):
        console = Console(width=width, record=True, file=io.StringIO())
        _print_bullets(console, texts)
        lines = console.export_text().splitlines()
        body = [line[4:] for line in lines]
        assert all(_display_width(line) <= width for line in lines), width
        assert not any(b and b[0] in _NO_LINE_START for b in body), (width, lines)
        assert not any(b.startswith(" ") for b in body)
        assert "2026-12-31" in "".join(b for b in body) and "1000万" in "".join(body)
