"""The command line, through the real `policy-match` entry point."""

from __future__ import annotations

import csv
import io
import json
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
    assert_clean_failure(proc, "annual_revenue_wan = -100", "digital_level = 9")


@pytest.mark.parametrize(("payload", "fragment"), [([1, 2, 3], "JSON 对象"), ("just text", "JSON 对象")])
def test_non_object_json(tmp_path, payload, fragment):
    assert_clean_failure(run_cli("match", str(write_json(tmp_path, payload))), fragment)


def test_missing_file_and_bad_date(tmp_path):
    assert_clean_failure(run_cli("match", str(tmp_path / "nope.json")), "无法读取")
    assert_clean_failure(run_cli("match", str(write_json(tmp_path, PROFILE)), "--as-of", "2026/11/27"), "as_of")


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
    assert "忽略无法识别的列 备注" in proc.stderr
    book = read_book(out)
    assert set(book) == {"企业汇总", "镇街汇总", "政策明细", "校验失败", "说明"}
    names = [row[1] for row in book["企业汇总"][1:]]
    assert names == ["甲灯饰", "乙电商"]
    errors = book["校验失败"][1:]
    assert {(r[0], r[2]) for r in errors} == {(4, "town"), (4, "annual_revenue_wan")}
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
