"""Parity of the columnar engine with the scalar path (``tests/scalar_reference.py``).

Identical — not close — statuses, condition verdicts, amounts, features, scores and rankings,
on both evaluation sets and on thousands of seeded random firms, over the bundled base and a
synthetic base that uses every rule and formula form the schema allows.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from policy_match import advice
from policy_match.engine import STATUSES, VERDICTS, ItemSpec, compile_base, encode_profiles, evaluate, py_round, scores
from policy_match.knowledge import KnowledgeBase
from policy_match.matcher import FIT_NAMES, Matcher
from policy_match.profile import parse_profile
from policy_match.schema import Amount, Condition, Rule

from .conftest import TEST_DATA
from .scalar_reference import random_profiles, scalar_item

N_RANDOM = 3000


def eval_profiles():
    return [parse_profile(c["profile"]).profile for name in ("eval_profiles.json", "holdout_profiles.json")
            for c in json.loads((TEST_DATA / name).read_text(encoding="utf-8"))]


def specs_of(matcher: Matcher) -> list[ItemSpec]:
    return [ItemSpec(conds, it.amount, it.applicant in {"government", "town_government"},
                     [advice.can_point_to_firm(c) for c in conds])
            for conds, (_, it) in zip(matcher.item_conditions_, matcher.pairs_, strict=True)]


def assert_parity(matcher: Matcher, profiles, relevance_seed: int = 3) -> int:
    """Compare every (profile, item) of the engine with the scalar path; returns the count."""
    base = compile_base(specs_of(matcher), informative=advice._informative)
    features = evaluate(base, encode_profiles(profiles, base.layout))
    rng = np.random.default_rng(relevance_seed)
    relevance = rng.uniform(0, 0.4, size=features.status.shape) * (rng.random(features.status.shape) < 0.6)
    got_scores = py_round(scores(features, relevance), 4)
    checked = 0
    for p, prof in enumerate(profiles):
        for i, (conds, (_, item)) in enumerate(zip(matcher.item_conditions_, matcher.pairs_, strict=True)):
            ref = scalar_item(conds, item, prof)
            where = f"profile {p}, item {item.item_id}"
            assert STATUSES[features.status[p, i]] == ref.status, where
            assert tuple(VERDICTS[c] for c in features.condition_codes[p, base.condition_slice(i)]) == ref.verdicts, where
            high = float(features.amount_high[p, i])
            assert (None if math.isnan(high) else high) == ref.high, where
            assert float(features.amount_low[p, i]) == ref.low, where
            if ref.high is not None:
                assert bool(features.amount_from_inputs[p, i]) == ref.from_inputs, where
            assert features.confirmation[p, i] == ref.confirmation, where
            assert features.evidence[p, i] == ref.evidence, where
            assert features.specific_met[p, i] == ref.specific_met, where
            assert features.fixed_score[p, i] == ref.fixed_score, where
            assert features.money[p, i] == ref.money, where
            near = (features.status[p, i] == 0 and features.potential[p, i] > 0 and 1 <= features.unmet[p, i] <= 2
                    and not features.unmet_fixed[p, i])
            assert near == ref.near_miss, where
            assert bool(features.in_scope[p, i]) == ref.in_scope, where
            assert features.applicant[p, i] == ref.applicant, where
            assert features.pointing_met[p, i] == ref.pointing_met, where
            assert bool(features.amount_cap_fallback[p, i]) == ref.cap_fallback, where
            assert float(got_scores[p, i]) == round(ref.score(float(relevance[p, i])), 4), where
            checked += 1
    return checked


def test_engine_matches_scalar_path_on_both_evaluation_sets(matcher):
    assert assert_parity(matcher, eval_profiles()) == 64 * len(matcher.pairs_)


def test_engine_matches_scalar_path_on_random_firms(kb, matcher):
    profiles = random_profiles(kb, N_RANDOM)
    assert assert_parity(matcher, profiles) == N_RANDOM * len(matcher.pairs_)


def _rule(data) -> Rule:
    return Rule.model_validate(data)


# Every rule form: leaves of every op on every kind of field, nested all / any / not, empty
# combinations, forms only the Python fallback evaluates (eq on a list field), numbers in sets.
EXOTIC_RULES = [
    {"field": "employees", "op": "between", "value": [10, 300]},
    {"not": {"field": "annual_revenue_wan", "op": "gt", "value": 2000}},
    {"any": [{"field": "digital_level", "op": "ge", "value": 3}, {"field": "rd_expense_wan", "op": "le", "value": 50}]},
    {"all": [{"field": "founded_year", "op": "lt", "value": 2015},
             {"not": {"any": [{"field": "town", "op": "eq", "value": "古镇镇"},
                              {"field": "sector", "op": "ne", "value": "C"}]}}]},
    {"field": "newly_above_scale_year", "op": "in", "value": [2023, 2024, 2025]},
    {"field": "employees", "op": "not_in", "value": [100, 200]},
    {"field": "founded_year", "op": "in", "value": []},
    {"field": "revenue_growth_pct", "op": "ne", "value": 0},
    {"field": "revenue_growth_pct", "op": "eq", "value": 10},
    {"field": "listing_stage", "op": "not_in", "value": ["none", "neeq"]},
    {"field": "qualifications", "op": "has_all", "value": ["高新技术企业", "科技型中小企业"]},
    {"field": "qualifications", "op": "has_none", "value": ["领军企业"]},
    {"field": "qualifications", "op": "has_all", "value": []},
    {"field": "operator_roles", "op": "has_any", "value": ["产业园区运营方"]},
    {"field": "qualifications", "op": "eq", "value": "高新技术企业"},
    {"field": "qualifications", "op": "in", "value": ["高新技术企业"]},
    {"field": "above_scale", "op": "eq", "value": 1},
    {"field": "credit_ok", "op": "is", "value": False},
    {"field": "industry", "op": "in", "value": ["软件开发", "餐饮"]},
    {"all": []},
    {"any": []},
    {"not": {"all": []}},
    {"any": [{"all": [{"field": "cross_border_ecommerce", "op": "is", "value": True},
                      {"field": "cross_border_sales_usd_wan", "op": "ge", "value": 75}]},
             {"not": {"field": "paid_in_capital_wan", "op": "lt", "value": 500}}]},
]

EXOTIC_AMOUNTS = [
    {"kind": "money", "text": "比例", "formula": {"type": "rate", "rate": 0.3, "base": "independent_site_fee_wan"},
     "cap_wan": 20, "upgrades": [
         {"when": {"field": "cross_border_sales_usd_wan", "op": "ge", "value": 200}, "cap_wan": 50, "text": "高档"},
         {"when": {"field": "cross_border_sales_usd_wan", "op": "ge", "value": 75},
          "formula": {"type": "rate", "rate": 0.5, "base": "independent_site_fee_wan"}, "cap_wan": 30, "text": "中档"}]},
    {"kind": "money", "text": "租金", "formula": {"type": "per_unit", "unit_yuan": 6, "base": "leased_area_m2", "months": 12},
     "cap_field": "local_contribution_wan", "years": 2, "cap_total_wan": 150, "guaranteed": True},
    {"kind": "money", "text": "阶梯", "formula": {"type": "step", "base": "annual_revenue_wan", "threshold": 5000,
                                                "first_wan": 10, "step": 1000, "step_wan": 2}, "cap_wan": 40},
    {"kind": "money", "text": "分档", "formula": {"type": "bands", "base": "employees", "bands": [
        {"max": 50, "value_wan": 5}, {"min": 50, "max": 200, "value_wan": None}, {"min": 200, "value_wan": 20}]}},
    {"kind": "money", "text": "分档外部", "formula": {"type": "bands", "base": "project_scale", "base_label": "项目规模",
                                                   "bands": [{"max": 10, "value_wan": 5}, {"min": 10, "value_wan": 8}]}},
    {"kind": "money", "text": "外部比例", "formula": {"type": "rate", "rate": 0.2, "base": "project_cost",
                                                  "base_label": "项目投资"}, "cap_wan": 100},
    {"kind": "money", "text": "外部无上限", "formula": {"type": "rate", "rate": 0.2, "base": "project_cost",
                                                   "base_label": "项目投资"}},
    {"kind": "money", "text": "定额多份", "formula": {"type": "fixed", "value_wan": 1.5, "count": 3}, "guaranteed": True},
    {"kind": "money", "text": "利息", "formula": {"type": "rate", "rate": 1, "base": "loan_interest_wan"},
     "cap_wan": 300, "years": 3, "guaranteed": True},
    {"kind": "money", "text": "空档", "formula": {"type": "bands", "base": "employees", "bands": []}},
    {"kind": "money", "text": "未知升档", "formula": {"type": "fixed", "value_wan": 10},
     "upgrades": [{"when": {"field": "digital_level", "op": "ge", "value": 3}, "cap_wan": None,
                   "formula": {"type": "fixed", "value_wan": 30}, "text": "三级"}]},
    {"kind": "non_monetary", "text": "服务"},
    {"kind": "undocumented", "text": "金额未公开"},
]


@pytest.fixture(scope="module")
def exotic_matcher(kb):
    """The bundled base plus a record whose items use every rule and amount form."""
    template_policy = kb.policy("zs-2022-digital-transformation")
    template = template_policy.items[0]
    source = template.sources[0]
    items = []
    for n, amount in enumerate(EXOTIC_AMOUNTS):
        rules = [EXOTIC_RULES[(n * 3 + k) % len(EXOTIC_RULES)] for k in range(1 + n % 4)]
        conditions = [Condition(text=f"条件{k}", rule=_rule(r), source=source, clause="测试") for k, r in enumerate(rules)]
        if n % 5 == 0:
            conditions.append(Condition(text="人工核实项", rule=None, source=source))
        items.append(template.model_copy(update={
            "item_id": f"{template_policy.policy_id}-x/{n}", "number": f"x.{n}",
            "conditions": conditions, "amount": Amount.model_validate(amount),
            "applicant": "government" if n == 7 else "enterprise", "exclusive_group": None}))
    for k, r in enumerate(EXOTIC_RULES):  # every rule once more, alone, under a town record's scope
        items.append(template.model_copy(update={
            "item_id": f"{template_policy.policy_id}-x/r{k}", "number": f"r.{k}",
            "conditions": [Condition(text=f"规则{k}", rule=_rule(r), source=source)],
            "amount": Amount.model_validate(EXOTIC_AMOUNTS[k % len(EXOTIC_AMOUNTS)])}))
    extra = template_policy.model_copy(update={"policy_id": f"{template_policy.policy_id}-x", "items": items,
                                               "level": "town", "town_scope": ["古镇镇", "小榄镇"]})
    return Matcher().fit(KnowledgeBase([*kb.policies, extra]))


def test_engine_matches_scalar_path_on_every_rule_and_amount_form(kb, exotic_matcher):
    profiles = eval_profiles() + random_profiles(kb, 1500, seed=99)
    assert assert_parity(exotic_matcher, profiles) == len(profiles) * len(exotic_matcher.pairs_)


def test_python_round_is_reproduced_at_ties():
    values = np.array([0.03125, 0.00005, 1.00005, 0.12345, 2.675, 0.88125, -0.03125, 0.5, 1e-9])
    assert py_round(values, 4).tolist() == [round(v, 4) for v in values.tolist()]
    assert py_round(values, 2).tolist() == [round(v, 2) for v in values.tolist()]


def test_item_features_agree_with_the_explained_results(matcher):
    """What the advice layer reads (arrays per item) says what the explained results say."""
    for profile in eval_profiles()[:10]:
        result = matcher.match(profile, as_of="2026-11-27")
        feats = result.item_features
        rows = {it.item_id: k for k, (_, it) in enumerate(matcher.pairs_)}
        shown = 0
        for pol in result.results:
            for entry in pol["items"]:
                k = rows[entry["item_id"]]
                assert feats.shown[k]
                assert STATUSES[feats.features.status[k]] == entry["status"]
                assert round(float(feats.score[k]), 4) == entry["score"]
                assert FIT_NAMES[int(feats.fit[k])] == entry["fit"]
                verdicts = [VERDICTS[c] for c in feats.features.condition_codes[matcher.engine_.condition_slice(k)]]
                assert verdicts == [c["verdict"] for c in entry["conditions"]]
                amount = entry["amount_wan"]
                high = float(feats.features.amount_high[k])
                assert (amount is None) == math.isnan(high)
                if amount is not None and entry["status"] != "ineligible":
                    assert amount["high"] == round(high, 2) and amount["low"] == round(float(feats.features.amount_low[k]), 2)
                shown += 1
        assert shown == int(feats.shown.sum())
        ruled_out_paying = {it.item_id for k, (_, it) in enumerate(matcher.pairs_)
                            if feats.features.status[k] == 0 and feats.features.potential[k] > 0}
        assert {n.item_id for n in result.near_misses} <= ruled_out_paying
        assert result.ranking == [r["policy_id"] for r in result.results]


def test_top_lists_the_best_policies_only(matcher):
    full = matcher.match(eval_profiles()[0], as_of="2026-11-27")
    top = matcher.match(eval_profiles()[0], as_of="2026-11-27", top=3)
    assert [r["policy_id"] for r in top.results] == [r["policy_id"] for r in full.results[:3]]
    assert top.results == full.results[:3] and top.near_misses == full.near_misses
    with pytest.raises(ValueError, match="top"):
        matcher.match({}, top=0)


def test_every_evaluation_path_gives_the_same_features(kb, exotic_matcher, monkeypatch):
    """Small inputs take plain-Python or reduceat shortcuts, large ones array counting: all agree."""
    import policy_match.engine as engine_module
    from policy_match.engine import Features

    base = compile_base(specs_of(exotic_matcher), informative=advice._informative)
    profiles = eval_profiles() + random_profiles(kb, 200, seed=7)

    def run(one_by_one: bool) -> list[Features]:
        if one_by_one:
            return [evaluate(base, encode_profiles([p], base.layout)) for p in profiles]
        whole = evaluate(base, encode_profiles(profiles, base.layout))
        return [Features(*(getattr(whole, n)[i:i + 1] for n in Features.__dataclass_fields__))
                for i in range(len(profiles))]

    runs = [run(False), run(True)]
    monkeypatch.setattr(engine_module, "REDUCEAT_MAX_RANGES", 0)
    monkeypatch.setattr(engine_module, "PYTHON_CELLS", 0)
    runs += [run(False), run(True)]
    monkeypatch.setattr(engine_module, "PYTHON_CELLS", 10**9)
    runs.append(run(False))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            for name in Features.__dataclass_fields__:
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
