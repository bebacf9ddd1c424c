"""The enterprise profile: every field optional, coercion of form/CSV values, clear rejections."""

from __future__ import annotations

import pytest

from policy_match.profile import ProfileError, parse_profile


def test_empty_profile_is_all_unknown():
    parsed = parse_profile({})
    assert parsed.profile.known() == {}
    assert parsed.warnings == []


@pytest.mark.parametrize(("raw", "expected"), [
    ("是", True), ("否", False), ("TRUE", True), ("false", False), ("1", True), ("0", False), (1, True),
    ("Y", True), ("无", False), ("", None), (None, None), (float("nan"), None),
])
def test_bool_forms(raw, expected):
    assert parse_profile({"above_scale": raw}).profile.above_scale is expected


def test_numbers_accept_excel_forms():
    p = parse_profile({"annual_revenue_wan": "1,500", "employees": "120.0", "revenue_growth_pct": "-12%",
                       "paid_in_capital_wan": "3000万"}).profile
    assert p.annual_revenue_wan == 1500
    assert p.employees == 120 and isinstance(p.employees, int)
    assert p.revenue_growth_pct == -12
    assert p.paid_in_capital_wan == 3000


def test_lists_split_on_semicolon_and_dunhao_and_aliases():
    p = parse_profile({"qualifications": "高企、专精特新中小企业;小巨人"}).profile
    assert p.qualifications == ["高新技术企业", "专精特新中小企业", "专精特新“小巨人”企业"]
    ascii_quotes = parse_profile({"qualifications": ['专精特新"小巨人"企业']}).profile
    assert ascii_quotes.qualifications == ["专精特新“小巨人”企业"]


def test_town_sector_listing_aliases():
    p = parse_profile({"town": "古镇", "sector": "c", "listing_stage": "已完成股改"}).profile
    assert (p.town, p.sector, p.listing_stage) == ("古镇镇", "C", "shareholding_reform")
    assert parse_profile({"town": "火炬区"}).profile.town == "火炬开发区"
    assert parse_profile({"town": "广东省中山市小榄镇"}).profile.town == "小榄镇"
    assert parse_profile({"town": "中山市 古镇"}).profile.town == "古镇镇"
    assert parse_profile({"sector": "制造业"}).profile.sector == "C"


# Every class of bad value a profile can carry; the API and batch tests run the same list.
BAD_VALUES = [
    ("annual_revenue_wan", -5, "不能小于 0"),
    ("digital_level", 9, "应为 1–4"),
    ("qualifications", "诺贝尔奖", "未知的资质“诺贝尔奖”"),
    ("town", "天河区", "不是中山市的镇街"),
    ("sector", "Z", "门类字母 A–T"),
    ("listing_stage", "moon", "应为 none"),
    ("annual_revenue_wan", "很多", "应为数字"),
    ("annual_revenue_wan", 5e12, "超出合理范围"),
    ("employees", 3.5, "应为整数"),
    ("above_scale", "maybe", "应为 是/否"),
    ("credit_code", "123", "18 位"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_VALUES)
def test_invalid_values_name_field_and_value(field, value, fragment):
    with pytest.raises(ProfileError) as err:
        parse_profile({"name": "测试企业", field: value})
    [problem] = err.value.problems
    assert problem.field == field
    assert problem.value == value
    assert fragment in problem.message
    assert field in str(err.value)


def test_all_bad_fields_reported_together():
    with pytest.raises(ProfileError) as err:
        parse_profile({"annual_revenue_wan": -1, "digital_level": 0, "town": "深圳"})
    assert {p.field for p in err.value.problems} == {"annual_revenue_wan", "digital_level", "town"}


def test_unknown_fields_are_ignored_with_warning():
    parsed = parse_profile({"name": "甲", "legal_person": "张三", "\ufeffsector": "C"})
    assert parsed.profile.sector == "C"  # a BOM glued to the first CSV header is tolerated
    assert parsed.warnings == ["忽略未知字段 legal_person"]


def test_huge_plans_kept_whole_with_warning():
    text = "扩建厂房，购置数控机床。" * 10_000
    parsed = parse_profile({"plans": text})
    assert parsed.profile.plans == text
    assert any("仅前" in w for w in parsed.warnings)


def test_contradiction_is_warned_not_rejected():
    parsed = parse_profile({"above_scale": False, "newly_above_scale_year": 2023})
    assert parsed.profile.above_scale is False
    assert any("请核对" in w for w in parsed.warnings)


def test_non_mapping_rejected():
    with pytest.raises(ProfileError) as err:
        parse_profile(["not", "a", "profile"])
    assert err.value.problems[0].field == "profile"


def test_problems_name_the_field_as_a_person_knows_it_and_as_a_platform_sends_it():
    with pytest.raises(ProfileError) as exc:
        parse_profile({"annual_revenue_wan": -5, "qualifications": ["国家队"]})
    lines = [p.line() for p in exc.value.problems]
    assert any(line.startswith("上年度营业收入（annual_revenue_wan） = -5：") for line in lines), lines
    assert any(line.startswith("资质与认定（qualifications） = “国家队”：") for line in lines), lines  # no ['…'] repr


def test_above_scale_with_an_industrial_revenue_below_the_threshold_is_questioned():
    warned = parse_profile({"above_scale": True, "sector": "C", "annual_revenue_wan": 100}).warnings
    assert any("低于规上工业企业 2000万 的标准" in w for w in warned), warned
    for quiet in ({"above_scale": True, "sector": "C", "annual_revenue_wan": 2500},
                  {"above_scale": True, "sector": "F", "annual_revenue_wan": 100},  # 批零: another threshold
                  {"above_scale": True, "sector": "C"}):
        assert not [w for w in parse_profile(quiet).warnings if "规上工业企业" in w], quiet


def test_none_written_as_a_word_means_no_titles_and_bounds_read_plainly():
    from policy_match.profile import ProfileError, parse_profile

    for written in ("无", "暂无", ["没有"], "无资质"):
        assert parse_profile({"qualifications": written}).profile.qualifications == []
    with pytest.raises(ProfileError) as exc:
        parse_profile({"annual_revenue_wan": 1e12})
    assert "不能大于 100,000,000万元" in str(exc.value) and "e+" not in str(exc.value)


def test_a_year_still_to_come_is_questioned_not_refused():
    from datetime import date

    from policy_match.profile import parse_profile

    later = date.today().year + 4
    parsed = parse_profile({"founded_year": later, "newly_above_scale_year": date.today().year})
    assert parsed.profile.founded_year == later
    assert parsed.warnings == [f"成立年份 {later} 晚于今年（{date.today().year}）：请核对（仍按所填年份判断）"]
