"""Hostile and careless inputs outside the batch pipeline (issue 10): numbers with units, numbers
no machine can hold, XML-invalid text in stored visits, policy files that escape validation and the
app's deployment defaults. Every hostile input is generated here, small."""

from __future__ import annotations

import json
import math

import pytest

from policy_match.fields import PROFILE_FIELDS
from policy_match.profile import ProfileError, parse_profile
from tests.conftest import run_cli

# -- 1. numbers with units ----------------------------------------------------------------


@pytest.mark.parametrize(("field", "raw", "expected", "converted"), [
    ("equipment_software_investment_wan", "3000元", 0.3, True),
    ("annual_revenue_wan", "5亿", 50000, True),
    ("annual_revenue_wan", "5亿元", 50000, True),
    ("annual_revenue_wan", "1,500万", 1500, False),
    ("annual_revenue_wan", "１，５００万元", 1500, False),  # full-width digits and comma
    ("annual_revenue_wan", "3千万", 3000, True),
    ("annual_revenue_wan", "1500", 1500, False),  # a bare number is in the field's unit
    ("annual_revenue_wan", "¥3000", 0.3, True),
    ("employees", "2万", 20000, True),
    ("employees", "2万人", 20000, True),
    ("employees", "120人", 120, False),
    ("loan_interest_wan", "50元", 0.005, True),
    ("cross_border_sales_usd_wan", "120万美元", 120, False),
    ("cross_border_sales_usd_wan", "80美元", 0.008, True),
    ("leased_area_m2", "5000平方米", 5000, False),
    ("leased_area_m2", "5000㎡", 5000, False),
    ("leased_area_m2", "５０００㎡", 5000, False),
    ("leased_area_m2", "5000平米", 5000, False),
    ("leased_area_m2", "0.5万平方米", 5000, True),
    ("revenue_growth_pct", "35%", 35, False),
    ("revenue_growth_pct", "－１２％", -12, False),
    ("founded_year", "2015年", 2015, False),
])
def test_a_unit_of_the_same_kind_is_converted(field, raw, expected, converted):
    parsed = parse_profile({field: raw})
    assert getattr(parsed.profile, field) == pytest.approx(expected, rel=1e-12)
    # a converted number says how it was read, in the field's own words
    notes = [w for w in parsed.warnings if w.startswith(f"{PROFILE_FIELDS[field].label}：“{raw}”按 ")]
    assert len(notes) == converted, parsed.warnings
    if converted:
        assert notes[0].endswith(f"{PROFILE_FIELDS[field].unit} 计")


def test_converted_amounts_reach_the_money():
    """3000元 of equipment is 0.3万, not 3000万: the 数字化改造 subsidy must not become 600万."""
    from policy_match import match

    profile = {"sector": "C", "above_scale": True, "plans": "上MES，建数字化车间",
               "equipment_software_investment_wan": "3000元"}
    typed_in_wan = match({**profile, "equipment_software_investment_wan": 0.3}).to_dict()
    typed_in_yuan = match(profile).to_dict()
    assert typed_in_yuan["results"] == typed_in_wan["results"]


@pytest.mark.parametrize(("field", "raw", "fragment"), [
    ("annual_revenue_wan", "2000万美元", "单位是万美元，本字段单位为万元，请换算后填写"),
    ("annual_revenue_wan", "$120万", "单位是万美元，本字段单位为万元"),
    ("cross_border_sales_usd_wan", "80万元", "单位是万元，本字段单位为万美元，请换算后填写"),
    ("annual_revenue_wan", "300人", "单位是人，本字段单位为万元"),
    ("employees", "300万元", "单位是万元，本字段单位为人"),
    ("leased_area_m2", "10亩", "单位是亩，本字段单位为㎡，请换算后填写"),
    ("revenue_growth_pct", "2万", "无法识别的单位“万”"),
    ("annual_revenue_wan", "50万元/年", "无法识别的单位“万元/年”"),
    ("annual_revenue_wan", "3000斤", "无法识别的单位“斤”"),
])
def test_a_unit_of_another_kind_is_rejected_naming_the_field(field, raw, fragment):
    with pytest.raises(ProfileError) as err:
        parse_profile({"name": "测试企业", field: raw})
    [problem] = err.value.problems
    assert (problem.field, problem.value) == (field, raw)
    assert fragment in problem.message


@pytest.mark.parametrize(("field", "raw", "fragment"), [
    ("employees", 10 ** 5000, "数值过大"),  # float() raises OverflowError
    ("employees", -(10 ** 400), "数值过大"),
    ("annual_revenue_wan", 10 ** 400, "数值过大"),
    ("employees", "9" * 5000, "数值过大"),
    ("employees", "1e400", "数值过大"),
    ("annual_revenue_wan", "1e99999999999", "数值过大"),  # beyond Decimal's exponent
    ("employees", float("inf"), "数值过大"),
    ("employees", "NaN", "有限的数字"),
    ("annual_revenue_wan", "-Infinity", "有限的数字"),
], ids=["int-5000-digits", "int-minus-400-digits", "int-400-digits-money", "text-5000-digits", "text-1e400",
        "text-huge-exponent", "float-inf", "text-nan", "text-minus-infinity"])
def test_numbers_no_machine_holds_are_clean_field_problems(field, raw, fragment):
    with pytest.raises(ProfileError) as err:
        parse_profile({field: raw})
    [problem] = err.value.problems
    assert problem.field == field
    assert fragment in problem.message
    line = problem.line()  # must not fail turning a 5000-digit integer into text
    assert line.startswith(f"{field} = ") and len(line) < 200


def test_text_fields_reject_structures():
    with pytest.raises(ProfileError) as err:
        parse_profile({"name": {"$ne": 1}, "plans": [["MES"]]})
    assert {p.field for p in err.value.problems} == {"name", "plans"}
    assert all(p.message == "应为文本" for p in err.value.problems)


@pytest.mark.parametrize(("content", "fragment"), [
    ('{"employees": 1e400}', "employees = “1e400”: 数值过大"),
    ('{"employees": ' + "9" * 5000 + "}", "employees = “999"),
    ('{"employees": NaN, "name": "甲"}', "employees = “NaN”: 应为有限的数字"),
    ('{"annual_revenue_wan": Infinity}', "annual_revenue_wan = “Infinity”"),
    ("[" * 100_000 + "]" * 100_000, "嵌套层数过深"),
    ('{"plans": ' + "[" * 100_000 + "]" * 100_000 + "}", "嵌套层数过深"),
], ids=["1e400", "5000-digits", "NaN", "Infinity", "100k-deep-array", "100k-deep-in-a-field"])
def test_hostile_profile_json_file_and_stdin(tmp_path, content, fragment):
    path = tmp_path / "profile.json"
    path.write_text(content, encoding="utf-8")
    for args, stdin in ((["match", str(path)], None), (["match", "-"], content)):
        proc = run_cli(*args, stdin=stdin)
        assert proc.returncode == 2, proc.stderr
        assert fragment in proc.stderr
        assert "内部错误" not in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr) < 1000


def test_oversized_profile_on_stdin_is_refused():
    proc = run_cli("match", "-", stdin='{"plans": "' + "扩" * (4 * 1024 * 1024) + '"}')
    assert proc.returncode == 2
    assert "标准输入: 文件过大" in proc.stderr


def test_units_through_the_cli_are_converted_and_said(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"employees": "2万", "annual_revenue_wan": "5亿"}, ensure_ascii=False), encoding="utf-8")
    proc = run_cli("match", str(path), "--as-of", "2026-12-01")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["results"]
    assert "提示：上年度营业收入：“5亿”按 50000万元 计" in proc.stderr
    assert "提示：从业人数：“2万”按 20000人 计" in proc.stderr


def test_unit_parser_never_crashes_on_odd_text():
    """Each of these is either a number in the field's unit or a ProfileError naming the field."""
    odd = ["", " ", "万", "元", "e5", "1e", "--1", "1..2", "１２３４５６７８９０", "1,,000", "¥", "$$1", "1万万万万元",
           "\u2212" + "5", "5\u00a0000", "١٢٣", "nan万", "0x10", "1_000", "  3000 元 ", "\x00", "3\x0b000"]
    for raw in odd:
        try:
            value = parse_profile({"annual_revenue_wan": raw}).profile.annual_revenue_wan
        except ProfileError as exc:
            assert exc.problems[0].field == "annual_revenue_wan"
        else:
            assert value is None or math.isfinite(value)
