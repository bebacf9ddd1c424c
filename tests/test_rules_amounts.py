"""Three-valued rules and amount formulas, on small hand-built conditions and items."""

from __future__ import annotations

import pytest

from policy_match.amounts import evaluate_amount
from policy_match.profile import Profile
from policy_match.rules import MET, UNKNOWN, UNMET, combine, evaluate_condition, evaluate_rule
from policy_match.schema import Amount, Condition, Rule


def rule(**kw) -> Rule:
    return Rule.model_validate(kw)


def test_missing_value_is_unknown_never_met_or_unmet():
    r = evaluate_rule(rule(field="annual_revenue_wan", op="ge", value=2000), Profile())
    assert r.verdict == UNKNOWN
    assert r.reason == "未填写上年度营业收入（需 ≥ 2000万）"


def test_reason_shows_value_against_threshold():
    r = evaluate_rule(rule(field="annual_revenue_wan", op="ge", value=2000), Profile(annual_revenue_wan=1500))
    assert r.verdict == UNMET
    assert r.reason == "上年度营业收入 1500万 < 2000万"
    assert r.hints == ("上年度营业收入达到 ≥2000万 后可满足",)
    ok = evaluate_rule(rule(field="annual_revenue_wan", op="ge", value=2000), Profile(annual_revenue_wan=2000))
    assert ok.verdict == MET and ok.reason == "上年度营业收入 2000万 ≥ 2000万"


def test_kleene_all_any_not():
    unknown = {"field": "above_scale", "op": "is", "value": True}
    false = {"field": "sector", "op": "eq", "value": "C"}
    p = Profile(sector="F")
    assert evaluate_rule(rule(all=[unknown, false]), p).verdict == UNMET  # unmet dominates all
    assert evaluate_rule(rule(any=[unknown, false]), p).verdict == UNKNOWN
    assert evaluate_rule(rule(any=[unknown, {"field": "sector", "op": "eq", "value": "F"}]), p).verdict == MET
    assert evaluate_rule(rule(**{"not": false}), p).verdict == MET
    assert evaluate_rule(rule(**{"not": unknown}), p).verdict == UNKNOWN


def test_qualification_ops_and_empty_list_means_none():
    has = rule(field="qualifications", op="has_any", value=["专精特新中小企业"])
    lacks = rule(field="qualifications", op="has_none", value=["专精特新“小巨人”企业"])
    assert evaluate_rule(has, Profile()).verdict == UNKNOWN
    assert evaluate_rule(has, Profile(qualifications=[])).verdict == UNMET
    assert evaluate_rule(lacks, Profile(qualifications=[])).verdict == MET
    blocked = evaluate_rule(lacks, Profile(qualifications=["专精特新“小巨人”企业"]))
    assert blocked.verdict == UNMET and "属排除情形" in blocked.reason


def test_rule_null_condition_is_always_unknown_with_check():
    cond = Condition(text="已取得技术改造备案证", rule=None, check="核实备案证", source="http://example.org/x")
    res = evaluate_condition(cond, Profile(sector="C"))
    assert res.verdict == UNKNOWN and res.reason == "需人工核实：核实备案证"


def test_combine_statuses():
    assert combine([MET, MET]) == "eligible"
    assert combine([MET, UNKNOWN]) == "possible"
    assert combine([UNKNOWN, UNMET]) == "ineligible"
    assert combine([]) == "eligible"


def amount(**kw) -> Amount:
    return Amount.model_validate({"kind": "money", "text": "测试金额", **kw})


def test_rate_with_cap_contract_example():
    a = amount(formula={"type": "rate", "rate": 0.2, "base": "equipment_software_investment_wan"}, cap_wan=2000)
    r = evaluate_amount(a, Profile(equipment_software_investment_wan=3000), eligible=True)
    assert (r.low, r.high) == (0, 600)
    assert r.formula == "设备和软件投入 3000万 × 20%，单个项目上限 2000万"
    capped = evaluate_amount(a, Profile(equipment_software_investment_wan=20000), eligible=True)
    assert capped.high == 2000 and "按 2000万 计" in capped.formula


def test_missing_input_is_not_guessed():
    a = amount(formula={"type": "rate", "rate": 0.2, "base": "equipment_software_investment_wan"}, cap_wan=2000)
    r = evaluate_amount(a, Profile(), eligible=False)
    assert r.high is None and r.to_dict() is None
    assert "填写设备和软件投入后可估算金额" in r.notes


def test_per_unit_area_months_years_capped_by_contribution():
    a = amount(formula={"type": "per_unit", "unit_yuan": 6, "base": "leased_area_m2", "months": 12},
               cap_field="local_contribution_wan", years=2, guaranteed=True)
    # 6元 × 5000㎡ × 12 = 36万/年; contribution 30万 caps each year → 60万 over 2 years
    r = evaluate_amount(a, Profile(leased_area_m2=5000, local_contribution_wan=30), eligible=True)
    assert (r.low, r.high) == (60, 60)
    assert "共 2 年" in r.formula
    uncapped = evaluate_amount(a, Profile(leased_area_m2=5000, local_contribution_wan=100), eligible=False)
    assert (uncapped.low, uncapped.high) == (0, 72)


def test_bands_and_step():
    bands = amount(formula={"type": "bands", "base": "digital_level",
                            "bands": [{"min": 2, "max": 3, "value_wan": 30}, {"min": 3, "max": 4, "value_wan": 60},
                                      {"min": 4, "value_wan": 100}]})
    assert evaluate_amount(bands, Profile(digital_level=3), eligible=True).high == 60
    assert evaluate_amount(bands, Profile(digital_level=1), eligible=True).high == 0
    undocumented_band = amount(formula={"type": "bands", "base": "annual_revenue_wan",
                                        "bands": [{"min": 2000, "max": 10000, "value_wan": 10}, {"min": 10000}]})
    assert evaluate_amount(undocumented_band, Profile(annual_revenue_wan=50000), eligible=True).to_dict() is None
    step = amount(formula={"type": "step", "base": "annual_revenue_wan", "threshold": 2000, "first_wan": 2,
                           "step": 1000, "step_wan": 1}, cap_wan=100)
    assert evaluate_amount(step, Profile(annual_revenue_wan=4500), eligible=True).high == 4


def test_non_profile_base_falls_back_to_cap_and_says_so():
    a = amount(formula={"type": "rate", "rate": 0.005, "base": "import_excess", "base_label": "超出部分进口额"},
               cap_wan=300, guaranteed=True)
    r = evaluate_amount(a, Profile(), eligible=True)
    assert (r.low, r.high) == (0, 300)  # a fallback is never "sure"
    assert any("按上限 300万 估算" in n for n in r.notes)


def test_upgrade_tier_applies_when_rule_met_and_is_ceiling_when_unknown():
    a = amount(formula={"type": "rate", "rate": 0.3, "base": "independent_site_fee_wan"}, cap_wan=20,
               upgrades=[{"when": {"field": "cross_border_sales_usd_wan", "op": "ge", "value": 75},
                          "formula": {"type": "rate", "rate": 0.5, "base": "independent_site_fee_wan"},
                          "cap_wan": 30, "text": "≥75万美元：50%，最高30万"}])
    assert evaluate_amount(a, Profile(independent_site_fee_wan=40, cross_border_sales_usd_wan=50), eligible=True).high == 12
    assert evaluate_amount(a, Profile(independent_site_fee_wan=40, cross_border_sales_usd_wan=80), eligible=True).high == 20
    assert evaluate_amount(a, Profile(independent_site_fee_wan=100, cross_border_sales_usd_wan=80), eligible=True).high == 30
    unknown = evaluate_amount(a, Profile(independent_site_fee_wan=100), eligible=True)
    assert unknown.high == 30 and any("若满足更高档条件" in n for n in unknown.notes)


@pytest.mark.parametrize("bad", [
    {"kind": "money", "text": "金额"},  # money without a formula
    {"kind": "money", "text": "金额", "formula": {"type": "rate", "rate": 0.2}},  # rate without base
    {"kind": "money", "text": "金额", "formula": {"type": "rate", "rate": 0.2, "base": "no_such"}},
    {"kind": "money", "text": "金额", "formula": {"type": "fixed", "value_wan": 5}, "cap_wan": -1},
    {"kind": "non_monetary", "text": "服务", "formula": {"type": "fixed", "value_wan": 5}},
])
def test_amount_schema_rejects(bad):
    with pytest.raises(ValueError):
        Amount.model_validate(bad)


def _rules_of(rule):
    """A rule and every rule nested in it."""
    yield rule
    for child in [*(rule.all or []), *(rule.any or []), *([rule.not_] if rule.not_ is not None else [])]:
        yield from _rules_of(child)


def test_rule_verdict_is_evaluate_rule_verdict_on_every_rule_of_the_base():
    """The verdict-only path (near-miss searches) decides exactly as the explained one, for every
    rule and sub-rule of the bundled base and the qualification ladder, on seeded random firms."""
    from policy_match.advice import bundled_qualifications
    from policy_match.knowledge import bundled_knowledge_base
    from policy_match.rules import rule_verdict

    from .scalar_reference import random_profiles

    kb = bundled_knowledge_base()
    rules = [r for p in kb.policies for it in p.items for c in it.conditions if c.rule is not None
             for r in _rules_of(c.rule)]
    rules += [r for info in bundled_qualifications().values() for top in (info.scope, info.prerequisite)
              if top is not None for r in _rules_of(top)]
    profiles = random_profiles(kb, 300, seed=41)
    seen = set()
    for profile in profiles:
        for rule in rules:
            verdict = rule_verdict(rule, profile)
            assert verdict == evaluate_rule(rule, profile).verdict, (rule, profile)
            seen.add(verdict)
    assert seen == {MET, UNMET, UNKNOWN}
    assert len(rules) > 200  # 261 rules and sub-rules in the base of 2026-12
