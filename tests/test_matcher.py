"""The matching engine through the public API (contract §3)."""

from __future__ import annotations

import json

import pytest

from policy_match import ProfileError, match
from policy_match.knowledge import load_directory
from policy_match.matcher import Matcher, validity_at

from .conftest import CONTRACT_POLICY_IDS

LIGHTING = {
    "name": "古镇示例灯饰有限公司", "town": "古镇镇", "registered_in_zhongshan": True, "sector": "C",
    "industry": "灯饰照明制造", "above_scale": True, "annual_revenue_wan": 30000, "employees": 400,
    "credit_ok": True, "qualifications": ["高新技术企业"],
    "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间，设备联网",
    "equipment_software_investment_wan": 3000,
}
AS_OF = "2026-11-27"
# The relocation subsidy 4.1 has one documented batch (opened 2023-02-16) and is over by 2026: tests of its
# rules and amounts match on a date when it was taken up.
RELOCATION_AS_OF = "2023-06-01"


def statuses(result):
    return {r["policy_id"]: r["status"] for r in result.to_dict()["results"]}


def test_output_follows_contract_shape():
    out = match(LIGHTING, as_of=AS_OF).to_dict()
    assert out["as_of"] == AS_OF
    json.dumps(out, ensure_ascii=False)  # serialisable
    for pol in out["results"]:
        assert set(pol) >= {"policy_id", "title", "status", "validity", "score", "amount_wan", "items"}
        assert pol["status"] in {"eligible", "possible", "ineligible"}
        assert pol["validity"] in {"current", "expired", "unknown"}
        assert pol["amount_wan"] is None or set(pol["amount_wan"]) >= {"low", "high"}
        for it in pol["items"]:
            assert set(it) >= {"item_id", "title", "status", "score", "amount_wan", "conditions", "matched_terms"}
            for c in it["conditions"]:
                assert c["verdict"] in {"met", "unmet", "unknown"} and c["text"] and c["source"]
        # items best first; a policy's status and fit are the best of its items'
        order = {"eligible": 2, "possible": 1, "ineligible": 0}
        fits = {"recommended": 4, "general": 3, "other": 2, "ruled_out": 1}
        assert pol["status"] == max((it["status"] for it in pol["items"]), key=order.get)
        assert pol["fit"] == max((it["fit"] for it in pol["items"]), key=fits.get)
        assert (pol["fit"] == "ruled_out") == (pol["status"] == "ineligible")
        assert set(pol) >= {"fit", "validity_note", "deadline"} and pol["validity_note"]
        keys = [(it["fit"] == "recommended", it["status"] != "ineligible", it["score"]) for it in pol["items"]]
        assert keys == sorted(keys, reverse=True)
    # recommended first, then the rest by score, ruled out last
    keys = [(r["fit"] == "recommended", r["fit"] != "ruled_out", r["score"]) for r in out["results"]]
    assert keys == sorted(keys, reverse=True)
    summary = out["summary"]
    assert {summary[f] for f in fits} and sum(summary[f] for f in fits) == len(out["results"])
    assert set(summary["amount_wan"]) >= {"low", "high"}


def test_digital_manufacturer_gets_digital_policies_first_with_contract_amount():
    result = match(LIGHTING, as_of=AS_OF)
    top3 = [r["policy_id"] for r in result.to_dict()["results"][:3]]
    assert "zs-2022-digital-transformation" in top3
    dt = result.by_id("zs-2022-digital-transformation")
    retrofit = next(it for it in dt["items"] if it["item_id"].endswith("/1.4"))
    assert retrofit["amount_wan"]["high"] == 600 and retrofit["amount_wan"]["low"] == 0
    assert retrofit["amount_wan"]["formula"].startswith("设备和软件投入 3000万 × 20%")
    assert retrofit["matched_terms"]


def test_expired_policies_left_out_by_default_and_marked_when_kept(kb):
    kept = statuses(match(LIGHTING, as_of=AS_OF))
    assert "zs-2023-new-year-18" not in kept and "zs-2024-foreign-trade-fund" not in kept
    full = match(LIGHTING, as_of=AS_OF, include_expired=True).to_dict()["results"]
    by_id = {r["policy_id"]: r for r in full}
    assert len(full) == len(kb.policies)
    assert set(by_id) >= CONTRACT_POLICY_IDS
    assert by_id["zs-2023-baizhan-qianqi"]["validity"] == "expired"
    assert by_id["zs-2024-sme-digital-pilot"]["validity"] == "current"


@pytest.mark.parametrize(("as_of", "expected"), [
    ("2026-11-27", "current"), ("2026-12-31", "current"), ("2027-01-01", "expired"), ("2024-11-19", "expired"),
])
def test_pilot_validity_dates(kb, as_of, expected):
    from datetime import date
    assert validity_at(kb.policy("zs-2024-sme-digital-pilot"), date.fromisoformat(as_of))[0] == expected


def test_policy_issued_after_as_of_is_not_in_force():
    early = statuses(match(LIGHTING, as_of="2022-01-01"))
    assert "zs-2025-ai-plus" not in early and "zs-2024-sme-digital-pilot" not in early
    assert "zs-2022-digital-transformation" not in early  # issued 2022-01-05
    baizhan = statuses(match(LIGHTING, as_of="2023-06-01"))
    assert "zs-2023-baizhan-qianqi" in baizhan


def test_town_records_apply_only_in_their_towns():
    firm = dict(LIGHTING, plans="在闲置土地上动工建设新厂房，电商网络零售")
    for town, cuiheng, nantou in [("翠亨新区", True, False), ("南朗街道", True, False), ("南头镇", False, True),
                                  ("古镇镇", False, False)]:
        # 翠亨's 2022 measures are over at AS_OF; the town scope is checked on them all the same
        st = statuses(match(dict(firm, town=town), as_of=AS_OF, include_expired=True))
        assert (st["zs-cuiheng-2022-warm-enterprise"] != "ineligible") is cuiheng, town
        assert (st["zs-nantou-ecommerce"] != "ineligible") is nantou, town
    unknown_town = statuses(match({k: v for k, v in firm.items() if k != "town"}, as_of=AS_OF))
    assert unknown_town["zs-nantou-ecommerce"] != "ineligible"  # unknown, not failed


def test_hard_condition_never_eligible():
    # Not above scale: the relocation subsidy needs a 规上工业企业.
    firm = {"sector": "C", "above_scale": False, "registered_in_zhongshan": True, "credit_ok": True,
            "relocating_from_renovation_area": True, "leased_area_m2": 3000, "local_contribution_wan": 50}
    pol = match(firm, as_of=RELOCATION_AS_OF).by_id("zs-2022-industrial-park-renovation")
    assert pol["status"] == "ineligible"
    item = pol["items"][0]
    assert item["amount_wan"]["high"] == 0 and item["amount_wan"]["potential_high"] > 0
    assert any(c["verdict"] == "unmet" and "规模以上" in c["reason"] for c in item["conditions"])


def test_relocation_amount_two_years_capped_by_contribution():
    firm = {"sector": "C", "above_scale": True, "registered_in_zhongshan": True, "credit_ok": True,
            "relocating_from_renovation_area": True, "leased_area_m2": 12500, "local_contribution_wan": 60}
    item = match(firm, as_of=RELOCATION_AS_OF).by_id("zs-2022-industrial-park-renovation")["items"][0]
    # 6元 × 12500㎡ × 12 = 90万/年 > 60万 contribution → 60 × 2 years
    assert item["amount_wan"]["high"] == 120


def test_near_misses_name_what_would_change():
    # a 市级专精特新培育企业 paying loan interest is one recognition away from the provincial subsidy
    firm = dict(LIGHTING, annual_revenue_wan=8000, employees=200, qualifications=["市级专精特新培育企业"],
                plans="去年贷款买设备，利息一年40万，想申请贴息", loan_interest_wan=40)
    near = match(firm, as_of=AS_OF).to_dict()["near_misses"]
    assert near
    first = near[0]
    assert first["potential_high"] > 0 and first["changes"]
    change = first["changes"][0]
    assert set(change) >= {"field", "needed", "current", "gap"}
    assert change["field"] == "qualifications" and change["needed"] == ["专精特新中小企业"]
    assert change["current"] == ["市级专精特新培育企业"] and change["gap"] is None
    assert "取得专精特新中小企业认定" in first["summary"]


def test_empty_profile_still_answers_everything_possible_or_eligible(kb):
    out = match({}, as_of=AS_OF).to_dict()
    assert out["results"]
    assert all(r["status"] != "ineligible" or r["items"][0]["conditions"] for r in out["results"])
    # nothing unknown is silently failed: only government-side measures come out ineligible
    ineligible = {r["policy_id"] for r in out["results"] if r["status"] == "ineligible"}
    government_side = {p.policy_id for p in kb.policies
                       if all(it.applicant in {"government", "town_government"} for it in p.items)}
    assert "zs-2022-effective-investment" in government_side
    assert ineligible <= government_side


def test_universal_services_do_not_crowd_out_specific_subsidies():
    top5 = [r["policy_id"] for r in match(LIGHTING, as_of=AS_OF).to_dict()["results"][:5]]
    assert not {"zs-service-requests-mashangban", "zs-service-public-tech-platforms"} & set(top5[:3])


def test_invalid_profile_raises_naming_field():
    with pytest.raises(ProfileError) as err:
        match({"annual_revenue_wan": -1})
    assert "annual_revenue_wan" in str(err.value)


def test_bad_as_of():
    with pytest.raises(ValueError, match="as_of"):
        match({}, as_of="27/11/2026")


def test_huge_plans_are_handled():
    result = match(dict(LIGHTING, plans="数字化车间" * 25_000), as_of=AS_OF)
    assert result.to_dict()["results"][0]["policy_id"]
    assert any("仅前" in w for w in result.warnings)


def test_matcher_follows_estimator_conventions(kb):
    m = Matcher()
    assert m.fit(kb) is m
    assert hasattr(m, "index_") and hasattr(m.index_, "word_matrix_")
    assert len(m.pairs_) == sum(len(p.items) for p in kb.policies)


def test_repeated_calls_reuse_loaded_index():
    from policy_match.matcher import default_matcher
    match({}, as_of=AS_OF)
    first = default_matcher()
    match(LIGHTING, as_of=AS_OF)
    assert default_matcher() is first


def test_other_directory_can_be_matched(policy_copy):
    for path in policy_copy.glob("*.yaml"):
        if path.stem != "zs-2022-industrial-park-renovation":
            path.unlink()
    kb = load_directory(policy_copy, check_catalog=False)
    res = Matcher().fit(kb).match({"relocating_from_renovation_area": True}, as_of=RELOCATION_AS_OF)
    assert [r["policy_id"] for r in res.to_dict()["results"]] == ["zs-2022-industrial-park-renovation"]


def test_matched_terms_for_any_item_strongest_first(matcher):
    index = matcher.index_
    qw, _ = index.transform_query("建设数字化车间，购置数控机床，申请贷款贴息和独立站资助")
    every = index.matched_terms(qw)
    assert every
    for row, terms in every.items():  # the same words whether asked for one document or all
        assert index.matched_terms(qw, [row]) == {row: terms}
        assert len(terms) <= 6


def test_recommended_is_the_recommended_part_of_the_full_answer(matcher):
    """What a batch row reads (recommended policies and items, nothing else explained) is the
    same, in the same order, as the recommended part of the full answer, on every labelled firm."""
    from policy_match.evaluate import load_cases

    from .conftest import ROOT

    cases = [*load_cases(), *load_cases(ROOT / "tests" / "data" / "holdout_profiles.json")]
    total = 0
    for case in cases:
        lazy = matcher.match(case["profile"], as_of=case.get("as_of"))
        full = matcher.match(case["profile"], as_of=case.get("as_of"))
        expected = [(rank, p.policy_id, p.validity, [it.item_id for it in p.items if it.fit == "recommended"])
                    for rank, p in enumerate(full.policies, 1) if p.fit == "recommended"]
        got = [(r.rank, r.policy.policy_id, r.validity, [it.item_id for it in r.items]) for r in lazy.recommended()]
        assert got == expected, case["id"]
        assert all(it.fit == "recommended" for r in lazy.recommended() for it in r.items)
        total += len(got)
    assert total >= 30


def test_an_input_whose_every_item_has_ended_is_explained_not_silently_dropped():
    """A seller that fills in its 独立站 fees on a date when the 独立站 资助 has ended is told why
    no amount uses them; with expired policies shown, or when the fee is not given, nothing is said."""
    seller = {"sector": "F", "town": "南头镇", "cross_border_ecommerce": True, "independent_site_fee_wan": 12}
    warned = [w for w in match(seller, as_of="2026-12-01").warnings if "独立站" in w]
    assert warned and "已结束" in warned[0] and "独立站年服务费" in warned[0]
    assert not [w for w in match(seller, as_of="2026-12-01", include_expired=True).warnings if "已结束" in w]
    assert not [w for w in match({**seller, "independent_site_fee_wan": None}, as_of="2026-12-01").warnings
                if "已结束" in w]
    # while the item was open (its 2022 intake), the fee sized an amount and nothing was said
    assert not [w for w in match(seller, as_of="2022-12-01").warnings if "已结束" in w]
