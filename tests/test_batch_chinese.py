"""Batch files as people write them: the Chinese template, the headers they type (with units),
and results a bureau can filter. Every file is generated here and read back as a user would."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest

from policy_match.fields import PROFILE_FIELDS
from policy_match.io import TEMPLATE_FIELDS, read_batch, run_batch, template_columns, write_template
from policy_match.profile import parse_profile
from policy_match.tables import InputError, header_field

from .conftest import run_cli

AS_OF = "2026-11-27"


def xlsx_file(path: Path, rows: list[list]) -> Path:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def csv_file(path: Path, rows: list[list], encoding: str = "utf-8-sig") -> Path:
    import csv

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def profiles(batch) -> dict[str, dict]:
    """Row values → validated profiles, by firm name (the profile parser reads cell units)."""
    return {values["name"]: parse_profile(values).profile.known() for _, values in batch.rows}


# --- the template -----------------------------------------------------------------------------


def test_template_workbook_is_chinese_with_an_example_and_notes(tmp_path):
    path = tmp_path / "模板.xlsx"
    write_template(path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["企业名单", "说明"]
    sheet = book["企业名单"]
    header = [c.value for c in sheet[1]]
    assert header == template_columns()
    assert header[:4] == ["企业名称", "所在镇街", "行业门类", "主营业务"]
    for heading in ("上年度营业收入（万元）", "从业人数（人）", "上年度营业收入同比增长（%）", "上年度跨境电商交易额（万美元）"):
        assert heading in header
    assert header.index("因工改搬迁") + 1 == header.index("搬迁后新址租赁面积（㎡）")  # pairs stay together
    assert not any(h.isascii() for h in header)
    assert sheet.max_row == 2  # one example row
    example = dict(zip(header, (c.value for c in sheet[2]), strict=True))
    assert example["所在镇街"] == "古镇镇" and example["上年度营业收入（万元）"] == 12000
    assert sheet.freeze_panes == "B2"
    assert any("是" in str(dv.formula1) for dv in sheet.data_validations.dataValidation)
    notes = list(book["说明"].iter_rows(values_only=True))
    assert notes[0] == ("列名", "含义", "怎么填", "字段名（程序用）")
    by_column = {row[0]: row for row in notes[1:]}
    assert set(header) <= set(by_column)  # every column explained
    assert "是" in by_column["规模以上企业"][2] and "否" in by_column["规模以上企业"][2]
    assert "顿号" in by_column["资质与认定"][2] and "高新技术企业" in by_column["资质与认定"][2]
    assert "万元" in by_column["上年度营业收入（万元）"][2] and "亿" in by_column["上年度营业收入（万元）"][2]
    assert by_column["上年度营业收入（万元）"][3] == "annual_revenue_wan"


def test_filled_template_runs_through_the_cli(tmp_path):
    path = tmp_path / "模板.xlsx"
    write_template(path)
    out = tmp_path / "结果.xlsx"
    proc = run_cli("batch", str(path), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "1 家企业已匹配，0 行校验失败" in proc.stdout
    assert "忽略" not in proc.stderr and "未读取的工作表" not in proc.stderr  # its 说明 sheet is no firm list


# --- headers people write ------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "field", "note"), [
    ("营业收入（万元）", "annual_revenue_wan", "万元"),
    ("营业收入(亿元)", "annual_revenue_wan", "亿元"),
    (" 营业收入 （ 亿元 ） ", "annual_revenue_wan", "亿元"),
    ("营业收入【单位：亿元】", "annual_revenue_wan", "亿元"),
    ("营业收入万元", "annual_revenue_wan", "万元"),
    ("上年度营业收入（万元）", "annual_revenue_wan", "万元"),
    ("员工人数", "employees", ""),
    ("从业人员", "employees", ""),
    ("企业名称", "name", ""),
    ("公司名称", "name", ""),
    ("annual_revenue_wan", "annual_revenue_wan", ""),
    ("Annual_Revenue_Wan", "annual_revenue_wan", ""),
    ("规模以上企业（是/否）", "above_scale", "是/否"),
    ("所在镇区", "town", ""),
    ("备注", None, ""),
    ("客户经理", None, ""),
])
def test_header_names(header, field, note):
    assert header_field(header) == (field, note)


def test_every_template_heading_and_label_is_read_back():
    for name, info in PROFILE_FIELDS.items():
        assert header_field(info.label)[0] == name
        assert header_field(name)[0] == name
    assert [header_field(h)[0] for h in template_columns()] == list(TEMPLATE_FIELDS)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_units_in_headers_are_applied_to_the_values(tmp_path, kind):
    rows = [
        ["企业名称", "营业收入（亿元）", "员工人数", "所在镇区", "是否规上", "搬迁后租赁面积(万平方米)", "研发费用（元）", "备注"],
        ["甲灯饰", 1.5, 30, "古镇", "是", 0.5, 1_500_000, "重点"],
        ["乙五金", "5亿", "2万人", "小榄", "否", "", "", ""],  # a unit in the cell wins over the header's
        ["丙电商", "0.12", "", "石岐", "", "", "", ""],
    ]
    path = csv_file(tmp_path / "名单.csv", rows, "gbk") if kind == "csv" else xlsx_file(tmp_path / "名单.xlsx", rows)
    batch = read_batch(path, path.name)
    assert batch.ignored_columns == ["备注"]  # unknown headers are still reported
    assert any("营业收入（亿元）”列按亿元填写，已换算为万元" in n for n in batch.notes)
    firms = profiles(batch)
    assert firms["甲灯饰"]["annual_revenue_wan"] == 15000  # 1.5亿元 → 15000万元, not 1.5万元
    assert firms["甲灯饰"]["leased_area_m2"] == 5000
    assert firms["甲灯饰"]["rd_expense_wan"] == 150
    assert firms["甲灯饰"]["employees"] == 30 and firms["甲灯饰"]["town"] == "古镇镇"
    assert firms["乙五金"]["annual_revenue_wan"] == 50000 and firms["乙五金"]["employees"] == 20000
    assert firms["丙电商"]["annual_revenue_wan"] == 1200


def test_the_cli_says_how_the_header_was_read(tmp_path):
    path = xlsx_file(tmp_path / "名单.xlsx", [["企业名称", "营业收入（亿元）", "从业人员", "营业收入"],
                                              ["甲灯饰", 2, 50, 999]])
    out = tmp_path / "结果.xlsx"
    proc = run_cli("batch", str(path), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "提示：“营业收入（亿元）”列按亿元填写，已换算为万元" in proc.stderr
    assert "“营业收入”列与“营业收入（亿元）”列都是上年度营业收入，只读取了前一列" in proc.stderr
    notes = [row[1] for row in openpyxl.load_workbook(out)["说明"].iter_rows(values_only=True) if row[0] == "读取说明"]
    assert any("已换算为万元" in str(n) for n in notes)


@pytest.mark.parametrize(("header", "fragment"), [
    ("营业收入（万美元）", "“营业收入（万美元）”列的单位无法换算：单位是万美元，本字段单位为万元"),
    ("搬迁后新址租赁面积（亩）", "“搬迁后新址租赁面积（亩）”列的单位无法换算：单位是亩"),
    ("从业人数（社保缴纳）", "“从业人数（社保缴纳）”列括号中的“社保缴纳”不是可识别的单位"),
])
def test_a_unit_that_cannot_be_converted_refuses_the_file(tmp_path, header, fragment):
    path = csv_file(tmp_path / "名单.csv", [["企业名称", header], ["甲", "12"]])
    with pytest.raises(InputError, match=fragment):
        read_batch(path, path.name)
    proc = run_cli("batch", str(path), "-o", str(tmp_path / "out.xlsx"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert fragment in proc.stderr
    assert not (tmp_path / "out.xlsx").exists()


def test_parquet_headers_with_units(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "名单.parquet"
    pq.write_table(pa.table({"企业名称": ["甲"], "营业收入(亿元)": [0.3], "员工人数": [12]}), path)
    batch = read_batch(path, path.name)
    assert profiles(batch)["甲"]["annual_revenue_wan"] == 3000


# --- the results workbook ----------------------------------------------------------------------


def test_failed_rows_are_named_in_chinese_and_every_sheet_filters(tmp_path):
    path = csv_file(tmp_path / "名单.csv", [
        ["企业名称", "所在镇街", "营业收入（万元）", "数字化水平等级"],
        ["甲灯饰", "古镇镇", "12000", "2"],
        ["乙坏数据", "深圳南山", "-3", "9"],
    ])
    out = tmp_path / "结果.xlsx"
    proc = run_cli("batch", str(path), "-o", str(out), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    book = openpyxl.load_workbook(out)
    failed = list(book["校验失败"].iter_rows(values_only=True))
    assert failed[0] == ("行号", "企业名称", "字段", "填写的值", "原因")
    assert {row[2] for row in failed[1:]} == {"所在镇街", "上年度营业收入", "数字化水平等级"}
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        if ws.title != "说明":
            assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
    assert book["政策明细"].auto_filter.ref.endswith(str(book["政策明细"].max_row))


def test_in_memory_workbook_filters_too(tmp_path):
    from policy_match.io import write_workbook

    batch = read_batch(csv_file(tmp_path / "f.csv", [["企业名称", "所在镇街"], ["甲", "古镇镇"]]), "f.csv")
    buffer = io.BytesIO()
    write_workbook(run_batch(batch, as_of=AS_OF, workers=1), buffer)
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    assert book["企业汇总"].auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(book['企业汇总'].max_column)}2"
