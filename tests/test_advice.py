"""The advice layer (policy_match.advice): tiers, honest money, near misses a firm can act on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from policy_match import advice, match
from policy_match.evaluate import FIXED_FOR_NEAR_MISSES, load_cases
from policy_match.profile import Profile
from policy_match.rules import Gap
from policy_match.schema import Condition, Rule

from .conftest import TEST_DATA

AS_OF = "2026-12-01"
MAKER = {
    "name": "古镇某灯饰有限公司", "town": "古镇镇", "registered_in_zhongshan": True, "sector": "C",
    "industry": "灯饰照明制造", "above_scale": True, "annual_revenue_wan": 30000, "employees": 400,
    "credit_ok": True, "qualifications": ["高新技术企业"],
    "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间", "equipment_software_investment_wan": 3000,
    "digital_level": 3,
}


def fits(result) -> dict[str, str]:
    return {p.policy_id: p.fit for p in result.policies}


# -- tiers ------------------------------------------------------------------------------------

def test_a_firm_that_fills_in_nothing_gets_no_recommendation():
    result = match({}, as_of=AS_OF)
    assert result.summary.counts["recommended"] == 0
    assert set(fits(result).values()) <= {"general", "other", "ruled_out"}
    assert result.summary.money.high == 0 and result.near_misses == []
    assert "暂无可以明确推荐的政策" in result.summary.text
    assert result.summary.fill_in == ("企业规模", "资质", "发展计划") and "补充企业规模、资质、发展计划" in result.summary.text


def test_a_firm_that_filled_everything_in_is_not_asked_to_fill_it_in():
    """A convenience-store chain that gave its size, its (no) titles and its plans, and that no
    policy points to, is told so — not to add what it already gave."""
    shop = {"town": "石岐街道", "sector": "F", "industry": "便利店连锁", "annual_revenue_wan": 6000, "employees": 300,
            "qualifications": [], "plans": "明年在石岐新开十家门店，招聘店员"}
    result = match(shop, as_of=AS_OF)
    assert result.summary.counts["recommended"] == 0
    assert result.summary.fill_in == ()
    assert "补充" not in result.summary.text and "暂未指向可以直接申报的政策" in result.summary.text
    assert match({**shop, "plans": None}, as_of=AS_OF).summary.fill_in == ("发展计划",)


def test_services_open_to_all_are_general_not_recommended():
    result = match({"name": "某公司"}, as_of=AS_OF)
    f = fits(result)
    assert f["zs-service-requests-mashangban"] == "general"
    assert f["zs-service-public-tech-platforms"] == "general"


def test_the_digital_maker_is_told_to_act_on_the_digital_policies():
    result = match(MAKER, as_of=AS_OF)
    f = fits(result)
    assert f["zs-2022-digital-transformation"] == "recommended"
    assert result.policies[0].fit == "recommended"
    # items for platform operators are not this firm's, and count in no money
    digital = result.policy("zs-2022-digital-transformation")
    platform = [it for it in digital.items if it.item.applicant == "platform"]
    assert platform and all(it.fit == "other" and not it.counts_for_firm for it in platform)
    # ... unless the profile says the firm runs such a platform
    operator = match(dict(MAKER, operator_roles=["工业互联网平台或数字化服务平台运营方"]), as_of=AS_OF)
    ops = [it for it in operator.policy("zs-2022-digital-transformation").items if it.item.applicant == "platform"]
    assert any(it.applicant_ok for it in ops)


def test_town_records_are_recommended_only_where_the_town_is_known():
    firm = {"sector": "F", "industry": "电子商务", "plans": "在天猫京东做网络零售，想申请电商扶持", "above_scale": False}
    unknown_town = fits(match(firm, as_of=AS_OF)).get("zs-nantou-ecommerce")
    assert unknown_town in {"other", "ruled_out", None}
    assert fits(match(dict(firm, town="古镇镇"), as_of=AS_OF)).get("zs-nantou-ecommerce") in {"ruled_out", None}


def test_meeting_only_generic_conditions_does_not_point_to_an_item():
    generic = Condition(text="制造业企业", rule=Rule(field="sector", op="eq", value="C"), source="http://zs.gov.cn/x")
    ceiling = Condition(text="中小企业", rule=Rule(field="employees", op="lt", value=1000), source="http://zs.gov.cn/x")
    qual = Condition(text="专精特新", rule=Rule(field="qualifications", op="has_any", value=["专精特新中小企业"]),
                     source="http://zs.gov.cn/x")
    assert not advice.can_point_to_firm(generic) and not advice.can_point_to_firm(ceiling)
    assert advice.can_point_to_firm(qual)
    # an any-of met by its generic branch is generic (总部企业: "other sectors need no size test")
    either = Rule.model_validate({"any": [{"field": "sector", "op": "not_in", "value": ["A", "C"]},
                                          {"all": [{"field": "sector", "op": "eq", "value": "C"},
                                                   {"field": "annual_revenue_wan", "op": "ge", "value": 100000}]}]})
    assert not advice.met_on_specific_facts(either, Profile(sector="F"))
    assert advice.met_on_specific_facts(either, Profile(sector="C", annual_revenue_wan=200000))


def test_item_fit_rule():
    kw = {"applicant_ok": True, "general": False}
    assert advice.item_fit("ineligible", specific_met=3, relevance=0.9, **kw) == "ruled_out"
    assert advice.item_fit("possible", specific_met=1, relevance=advice.SPECIFIC_RELEVANCE, **kw) == "recommended"
    assert advice.item_fit("possible", specific_met=1, relevance=0.0, **kw) == "other"
    assert advice.item_fit("possible", specific_met=0, relevance=advice.RECOMMEND_RELEVANCE, **kw) == "recommended"
    assert advice.item_fit("possible", specific_met=0, relevance=0.9, names_item=False, **kw) == "other"
    assert advice.item_fit("eligible", specific_met=0, relevance=0.0, applicant_ok=True, general=True) == "general"
    assert advice.item_fit("possible", specific_met=2, relevance=0.9, applicant_ok=False, general=False) == "other"
    assert advice.item_fit("possible", specific_met=2, relevance=0.9, in_scope=False, **kw) == "other"
    assert advice.item_fit("possible", specific_met=2, relevance=0.9, draft=True, **kw) == "other"
    assert advice.item_fit("eligible", specific_met=0, relevance=0.0, applicant_ok=True, general=True,
                           draft=True) == "other"
    assert advice.item_fit("ineligible", specific_met=2, relevance=0.9, draft=True, **kw) == "ruled_out"
    assert advice.item_fit("eligible", specific_met=2, relevance=0.9, expired=True, **kw) == "other"


def test_expired_policies_shown_on_request_are_never_recommended_nor_counted(matcher):
    """With include_expired an advisor sees what has ended — listed apart, never 推荐申报 or 普遍适用,
    and none of its money in the headline."""
    seen = 0
    for case in [*load_cases(TEST_DATA / "eval_profiles.json"), *load_cases(TEST_DATA / "holdout_profiles.json")]:
        result = matcher.match(case["profile"], as_of=AS_OF, include_expired=True)
        for p in result.policies:
            for it in p.items:
                if it.validity.validity == "expired":
                    seen += 1
                    assert it.fit in {"other", "ruled_out"}, (case["id"], it.item_id, it.fit)
        current = matcher.match(case["profile"], as_of=AS_OF)
        assert result.summary.money == current.summary.money, case["id"]
        assert {r.policy.policy_id for r in result.recommended()} == {r.policy.policy_id for r in current.recommended()}
    assert seen > 100


def test_a_draft_is_never_what_a_firm_is_told_to_act_on(matcher):
    """A 征求意见稿 not shown to be issued is listed apart (other), with the note that says so, for
    the firms whose plans point to it (buying land, a project loan); it adds no money to the
    headline and is never a near miss."""
    drafts = {p.policy_id for p in matcher.kb_.policies if p.validity.document_status == "draft"}
    assert "zs-2022-land-supply-access" in drafts
    pointed = 0
    for case in [*load_cases(TEST_DATA / "eval_profiles.json"), *load_cases(TEST_DATA / "holdout_profiles.json")]:
        result = matcher.match(case["profile"], as_of=AS_OF)
        for p in result.policies:
            if p.policy_id in drafts:
                assert p.fit in {"other", "ruled_out"}, (case["id"], p.policy_id)
                assert "征求意见稿" in p.validity.note
                pointed += p.fit == "other" and max(it.relevance for it in p.items) >= advice.RECOMMEND_RELEVANCE
        assert not {n.policy_id for n in result.near_misses} & drafts
        assert not {rec.policy.policy_id for rec in result.recommended()} & drafts
    assert pointed >= 5  # the drafts the firms' plans point to are still shown, apart


# -- money --------------------------------------------------------------------------------------

SMALL_LIGHTING_MAKER = {
    "name": "古镇某灯饰制造有限公司", "town": "古镇镇", "registered_in_zhongshan": True, "sector": "C",
    "industry": "灯饰照明制造", "employees": 60, "annual_revenue_wan": 1800, "above_scale": False,
    "credit_ok": True, "equipment_software_investment_wan": 300,
    "plans": "今年准备买几台数控机床（CNC），提高灯具五金件加工精度和效率",
}


def _recommended_items(result) -> dict[str, float | None]:
    return {it.item_id: (it.amount.high if it.amount else None) for rec in result.recommended() for it in rec.items}


def test_a_policy_named_through_one_item_does_not_bring_its_fixed_awards():
    """Plans that name the 改造 subsidy (sized by the firm's 300万 of equipment) bring that item,
    not the same policy's 1500万 集群链式改造 ceiling, though they mention 灯具 and 五金 — until the
    plans name the chain programme itself."""
    result = match(SMALL_LIGHTING_MAKER, as_of="2026-12-01")
    items = _recommended_items(result)
    assert items == {"zs-2022-digital-transformation/1.4": 60}
    assert result.summary.money.high == 60
    joining = match({**SMALL_LIGHTING_MAKER, "plans": SMALL_LIGHTING_MAKER["plans"] + "，参加灯具产业集群链式改造"},
                    as_of="2026-12-01")
    assert "zs-2022-digital-transformation/1.5" in _recommended_items(joining)


def test_plans_name_item_rule():
    assert advice.plans_name_item(own_word=True, policy_word=False, money_sized_by_firm=False)
    assert advice.plans_name_item(own_word=False, policy_word=True, money_sized_by_firm=True)
    assert not advice.plans_name_item(own_word=False, policy_word=True, money_sized_by_firm=False)
    assert not advice.plans_name_item(own_word=False, policy_word=False, money_sized_by_firm=True)


def test_on_both_sets_fixed_awards_are_recommended_only_when_the_firm_points_to_them(matcher):
    """Every recommended item whose counted money is a fixed award or ceiling has a specific fact
    of the firm met or its own words in the plans (never only its policy's)."""
    tok = matcher.index_.tokenizer_
    own_terms = advice.distinct_terms(
        [{w for text in (it.title, *it.keywords) for w in (*tok.words(text), *tok.whole_words(text))}
         for _, it in matcher.pairs_], [p.policy_id for p, _ in matcher.pairs_])
    own = {it.item_id: terms for (_, it), terms in zip(matcher.pairs_, own_terms, strict=True)}
    checked = 0
    for case in [*load_cases(TEST_DATA / "eval_profiles.json"), *load_cases(TEST_DATA / "holdout_profiles.json")]:
        result = matcher.match(case["profile"], as_of=case.get("as_of"))
        plan_words = tok.whole_words(case["profile"].get("plans") or "")
        for rec in result.recommended():
            for it in rec.items:
                if it.amount is None or not it.amount.high or it.amount.cap_fallback or advice.sized_by_firm(it.item):
                    continue
                checked += 1
                assert it.specific_met > 0 or plan_words & own[it.item_id], (case["id"], it.item_id)
    assert checked >= 10


def test_headline_money_counts_recommended_items_only_and_splits_its_kinds():
    result = match(MAKER, as_of=AS_OF)
    money = result.summary.money
    counted = [it for p in result.policies for it in p.items
               if it.fit == "recommended" and it.amount is not None and it.amount.high is not None]
    assert money.high > 0 and money.high == pytest.approx(money.entitled + money.pending + money.up_to)
    # the firm's numbers: 3000万 of equipment × 20% for the renovation subsidy, 200万 for the workshop award
    titles = {it.item.title for it in counted}
    assert "制造业数字化智能化改造补助" in titles
    assert money.high <= sum(it.amount.high for it in counted)  # exclusive items counted once
    assert all(not it.amount.cap_fallback for it in counted if it.amount.plausible_high)
    out = result.to_dict()["summary"]
    assert out["amount_wan"]["low"] == money.entitled and out["amount_wan"]["high"] == money.high
    # several competitive awards: their ceilings are added up and the text says so, never "最高可争取" their sum
    assert out["amount_wan"]["up_to_items"] == money.up_to_items >= 2
    assert f"竞争性奖补 {money.up_to_items} 项、各项上限合计" in out["text"] and "最高可争取" not in out["text"]
    one = advice.summary_text({"recommended": 1}, replace(money, up_to_items=1))
    assert "竞争性奖补最高可争取" in one


def test_entitlements_the_firm_meets_are_what_it_can_count_on():
    firm = {"town": "小榄镇", "registered_in_zhongshan": True, "sector": "C", "above_scale": True, "credit_ok": True,
            "relocating_from_renovation_area": True, "leased_area_m2": 5000, "local_contribution_wan": 100,
            "plans": "工改搬迁到镇里安排的新厂房，想申请租金补贴"}
    # the relocation subsidy's documented batch opened 2023-02-16 (it is over by 2026)
    result = match(firm, as_of="2023-03-01")
    relocation = result.policy("zs-2022-industrial-park-renovation")
    assert relocation.fit == "recommended"
    money = result.summary.money
    # 6元/㎡·月 × 5000㎡ × 12 × 2 years = 72万, an entitlement waiting on the manual checks
    assert money.pending >= 72 and money.entitled == 0


def test_a_policy_card_never_says_undisclosed_above_items_with_amounts():
    for result in (match(MAKER, as_of=AS_OF), match({}, as_of=AS_OF)):
        for pol in result.to_dict()["results"]:
            counted = [it for it in pol["items"] if it["amount_wan"] and it["fit"] == pol["fit"]
                       and it["fit"] != "ruled_out" and it["applicant"] == "enterprise"]
            if pol["amount_wan"] is None and counted:
                pytest.fail(f"{pol['policy_id']}: no amount though {counted[0]['item_id']} has one")
            if pol["amount_wan"] is None and any(it["amount_wan"] for it in pol["items"] if it["fit"] != "ruled_out"):
                assert pol["amount_note"], pol["policy_id"]


# -- near misses --------------------------------------------------------------------------------

def test_changes_a_firm_cannot_make_are_never_offered():
    profile = Profile(sector="F", town="古镇镇", registered_in_zhongshan=False, annual_revenue_wan=1500)
    for gap in (Gap("sector", "eq", "C", "F"), Gap("town", "in", ["南头镇"], "古镇镇"),
                Gap("registered_in_zhongshan", "is", True, False),
                Gap("annual_revenue_wan", "ge", 200000, 1500)):  # 20亿 is not within reach of 1500万
        assert advice.closable_change(gap, profile) is None, gap
    reach = advice.closable_change(Gap("annual_revenue_wan", "ge", 2000, 1500), profile)
    assert reach is not None and reach[0].gap == 500 and "还差 500万" in reach[0].text


def test_qualifications_are_offered_only_where_the_evidence_says_the_firm_could_get_them():
    retailer = Profile(sector="F", qualifications=[])
    champion = Gap("qualifications", "has_any", ["制造业单项冠军企业"], [])
    assert advice.closable_change(champion, retailer) is None  # a manufacturing title, outside its scope
    maker = Profile(sector="C", qualifications=[])
    assert advice.closable_change(champion, maker) is None  # nothing says it is within reach
    ladder = Profile(sector="C", qualifications=["市级单项冠军培育企业"])
    held = Gap("qualifications", "has_any", ["制造业单项冠军企业"], ["市级单项冠军培育企业"])
    assert advice.closable_change(held, ladder) is not None  # the step before it is held
    said = Profile(sector="C", qualifications=[], plans="今年准备申报专精特新中小企业")
    assert advice.closable_change(Gap("qualifications", "has_any", ["专精特新中小企业"], []), said) is not None
    leader = Gap("qualifications", "has_any", ["制造业龙头骨干企业"], [])
    assert advice.closable_change(leader, Profile(sector="C", annual_revenue_wan=1500)) is None
    near = advice.closable_change(leader, Profile(sector="C", annual_revenue_wan=170000))
    assert near is not None and near[0].recognised_by == "中山市工业和信息化局"


@pytest.mark.parametrize("cases", ["eval_profiles.json", "holdout_profiles.json"])
def test_no_near_miss_on_either_set_asks_to_change_sector_town_or_registration(cases):
    for case in load_cases(TEST_DATA / cases):
        result = match(case["profile"], as_of=case.get("as_of"))
        for n in result.to_dict()["near_misses"]:
            assert not {c["field"] for c in n["changes"]} & FIXED_FOR_NEAR_MISSES, (case["id"], n["summary"])
            assert n["changes"] and len(n["changes"]) <= advice.MAX_CHANGES
            assert n["potential_high"] > 0


def test_near_misses_are_ordered_by_worth_and_closeness_and_would_really_suffice():
    firm = {"town": "小榄镇", "registered_in_zhongshan": True, "sector": "C", "above_scale": True, "credit_ok": True,
            "annual_revenue_wan": 170000, "employees": 3000, "qualifications": ["龙头骨干培育库企业"],
            "plans": "营收快到20亿了，想给高管团队争取激励"}
    # the 龙头骨干 rewards were last called in 2024 (over by 2026): ask in 2024
    near = match(firm, as_of="2024-05-01").near_misses
    assert near
    assert [n.priority for n in near] == sorted((n.priority for n in near), reverse=True)
    first = near[0]
    assert {c.field for c in first.changes} == {"qualifications", "annual_revenue_wan"}
    revenue = next(c for c in first.changes if c.field == "annual_revenue_wan")
    assert (revenue.needed, revenue.current, revenue.gap) == (200000, 170000, 30000)
    # a 新升规 reward for firms that entered the directory in 2021–2022 is no near miss for a firm 升规 now
    small = {"sector": "C", "above_scale": False, "annual_revenue_wan": 1700, "plans": "明年想进规上"}
    for n in match(small, as_of=AS_OF).near_misses:
        item = next(it for p in match(small, as_of=AS_OF).policies for it in p.items if it.item_id == n.item_id)
        assert not any(c.condition.rule and "newly_above_scale_year" in c.condition.rule.fields_used()
                       and c.condition.rule.value and max(c.condition.rule.value) < 2026 for c in item.conditions)


def test_one_check_away_lists_what_to_prepare():
    result = match(MAKER, as_of=AS_OF)
    rows = result.to_dict()["one_check_away"]
    assert rows
    ids = {p.policy_id for p in result.policies if p.fit == "recommended"}
    for row in rows:
        assert row["policy_id"] in ids and row["checks"]


def test_results_are_fresh_for_every_caller():
    first = match(MAKER, as_of=AS_OF).to_dict()
    first["results"][0]["items"][0]["conditions"][0]["text"] = "被改掉了"
    first["results"][0]["items"][0]["conditions"].clear()
    again = match(MAKER, as_of=AS_OF).to_dict()
    assert again["results"][0]["items"][0]["conditions"] and "被改掉了" not in json.dumps(again, ensure_ascii=False)


def test_top_limits_results_but_not_the_summary():
    full = match(MAKER, as_of=AS_OF)
    top = match(MAKER, as_of=AS_OF, top=2)
    assert len(top.policies) == 2 and [p.policy_id for p in top.policies] == [p.policy_id for p in full.policies[:2]]
    assert top.summary == full.summary
    with pytest.raises(ValueError):
        match(MAKER, as_of=AS_OF, top=0)


def test_near_misses_are_only_for_money_the_firm_itself_would_get(matcher, kb):
    """No near miss for an item paid to the firm's executives or to a government body; a near miss
    whose item still has open checks does not say 即可申请."""
    from .scalar_reference import random_profiles

    profiles = [c["profile"] for name in ("eval_profiles.json", "holdout_profiles.json")
                for c in load_cases(TEST_DATA / name)] + random_profiles(kb, 300, seed=77)
    seen = open_checks = 0
    for profile in profiles:
        result = matcher.match(profile, as_of="2026-12-01")
        for n in result.near_misses:
            _, _, item = result.item(n.item_id)
            assert item.counts_for_firm and item.item.applicant != "individual", n.item_id
            if any(c.verdict == "unknown" for c in item.conditions):
                open_checks += 1
                assert "即可申请" not in n.summary and "还需核实" in n.summary, n.summary
            seen += 1
    assert seen >= 25 and open_checks >= 1


def _rate_record(past_period: bool):
    from policy_match.knowledge import KnowledgeBase
    from policy_match.schema import PolicyRecord

    url = "http://www.zs.gov.cn/test"
    return KnowledgeBase([PolicyRecord.model_validate({
        "policy_id": "zs-test-rate", "title": "测试贴息政策", "issuer": "中山市人民政府", "issued": "2026",
        "validity": {"from": "2026-01-01", "to": "2027-12-31"}, "department": "中山市工业和信息化局",
        "package_2022_02_15": "no", "level": "city", "sources": [url], "summary": "用于测试差一点的金额与过去期间的条件。",
        "items": [{"item_id": "zs-test-rate/1", "number": "1", "title": "设备投入补助", "description": "按设备投入的比例补助。",
                   "support_type": "补助", "keywords": ["设备投入", "补助"],
                   "conditions": [{"text": "设备和软件投入不少于1000万元", "source": url, "past_period": past_period,
                                   "rule": {"field": "equipment_software_investment_wan", "op": "ge", "value": 1000}}],
                   "amount": {"kind": "money", "text": "按投入的20%补助，最高500万元", "cap_wan": 500,
                              "formula": {"type": "rate", "rate": 0.2, "base": "equipment_software_investment_wan"}},
                   "confidence": "primary", "sources": [url]}],
    })])


def test_a_near_miss_says_what_the_item_pays_once_the_gap_is_closed():
    """800万 of a required 1000万, paid at 20%: the near miss says 200万 (at 1000万), not the
    160万 the firm's own 800万 would give."""
    from policy_match.matcher import Matcher

    firm = {"sector": "C", "equipment_software_investment_wan": 800, "plans": "设备投入补助"}
    result = Matcher().fit(_rate_record(past_period=False)).match(firm, as_of=AS_OF)
    (near,) = result.near_misses
    assert near.potential_high == 200 and "最高 200万" in near.summary
    assert near.changes[0].needed == 1000


def test_a_fact_of_a_past_period_rules_out_but_is_never_a_near_miss():
    from policy_match.matcher import Matcher

    firm = {"sector": "C", "equipment_software_investment_wan": 800, "plans": "设备投入补助"}
    result = Matcher().fit(_rate_record(past_period=True)).match(firm, as_of=AS_OF)
    assert result.policies[0].status == "ineligible"
    assert result.near_misses == []


def test_a_policy_row_and_the_headline_count_money_alike():
    """南头: the 电商扶持 row sums what the headline counts (the 5万 first-listing award) and names
    the executives' reward that only its 50万 cap could estimate — not 最高 55 beside a headline of 5."""
    firm = {"name": "中山市南头某电器有限公司", "town": "南头", "sector": "制造业", "annual_revenue_wan": "1.2亿",
            "employees": 150, "cross_border_ecommerce": "是", "cross_border_sales_usd_wan": 120,
            "plans": "做跨境电商独立站和直播", "above_scale": "是"}
    out = match(firm, as_of=AS_OF).to_dict()
    row = next(p for p in out["results"] if p["policy_id"] == "zs-nantou-ecommerce")
    assert row["fit"] == "recommended"
    assert row["amount_wan"]["high"] == out["summary"]["amount_wan"]["high"] == 5
    assert "只能按上限 50万 估算，未计入" in row["amount_note"]
    assert any("只能按上限 50万 估算" in n for n in out["summary"]["amount_wan"]["not_counted"])


def test_deadline_alerts_are_for_what_the_firm_is_told_to_act_on():
    """The 数转城市试点 closes 2026-12-31: the lighting maker it is recommended to is alerted; a
    studio that filled in almost nothing, for which it is only listed apart, is not."""
    from policy_match.wording import deadline_warnings

    maker = match(MAKER, as_of=AS_OF).to_dict()["results"]
    studio = match({"name": "某设计工作室", "employees": 2}, as_of=AS_OF).to_dict()["results"]
    pilot = "中小企业数字化转型城市试点资金"
    assert any(p["fit"] != "recommended" and p.get("deadline_warning") for p in studio)
    assert not any(pilot in w for w in deadline_warnings(studio))
    assert deadline_warnings(maker) == [f"{pilot}：2026-12-31 截止，还剩 30 天"]  # not the ruled-out 高端装备


def test_a_past_period_condition_is_not_offered_as_something_to_reach():
    from policy_match.matcher import Matcher

    firm = {"sector": "C", "equipment_software_investment_wan": 800, "plans": "设备投入补助"}
    item = Matcher().fit(_rate_record(past_period=True)).match(firm, as_of=AS_OF).to_dict()["results"][0]["items"][0]
    assert item["near_misses"] == ["未满足：设备和软件投入不少于1000万元（所列期间已过，无法补足）"]


def test_ended_policies_shown_on_request_say_so_first_and_come_after_the_rest(matcher):
    from policy_match.wording import deciding_facts

    out = matcher.match(MAKER, as_of=AS_OF, include_expired=True).to_dict()["results"]
    other = [p for p in out if p["fit"] == "other"]
    ended = [p["validity"] == "expired" for p in other]
    assert any(ended) and ended == sorted(ended)  # the ended ones last in their tier
    for p in other:
        if p["validity"] == "expired":
            assert deciding_facts(p)[0].startswith("已结束（") and "不能再申报" in deciding_facts(p)[0]


def _revenue_record(to: str):
    from policy_match.knowledge import KnowledgeBase
    from policy_match.schema import PolicyRecord

    url = "http://www.zs.gov.cn/test"
    return KnowledgeBase([PolicyRecord.model_validate({
        "policy_id": "zs-test-revenue", "title": "测试营收奖励", "issuer": "中山市人民政府", "issued": "2026",
        "validity": {"from": "2026-01-01", "to": to}, "department": "中山市工业和信息化局",
        "package_2022_02_15": "no", "level": "city", "sources": [url], "summary": "用于测试上年度数字的差一点。",
        "items": [{"item_id": "zs-test-revenue/1", "number": "1", "title": "营收达标奖励", "description": "上年度营业收入达标的企业给予奖励。",
                   "support_type": "奖励", "keywords": ["营收达标", "奖励"],
                   "conditions": [{"text": "上年度营业收入不少于2000万元", "source": url,
                                   "rule": {"field": "annual_revenue_wan", "op": "ge", "value": 2000}}],
                   "amount": {"kind": "money", "text": "奖励30万元", "formula": {"type": "fixed", "value_wan": 30}},
                   "confidence": "primary", "sources": [url]}],
    })])


def test_last_years_figure_is_no_near_miss_for_a_window_closing_this_year():
    """1700万 of a required 2000万 last year: reachable for a scheme that runs into next year (next
    year's accounts), not for one that closes on 2026-12-31."""
    from policy_match.matcher import Matcher

    firm = {"sector": "C", "annual_revenue_wan": 1700, "plans": "营收达标奖励"}
    assert Matcher().fit(_revenue_record("2026-12-31")).match(firm, as_of=AS_OF).near_misses == []
    (near,) = Matcher().fit(_revenue_record("2027-12-31")).match(firm, as_of=AS_OF).near_misses
    assert near.changes[0].field == "annual_revenue_wan"
