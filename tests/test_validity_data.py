"""Validity derived from the real data: the key facts of the 2026-12 corrections stay true.

These pin what the bundled records say at 2026-12-01 (and a few other dates), so that an edit of a
validity block that changes a verdict, a deadline or a reason fails here.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from policy_match.validity import item_validity, record_validity

from .conftest import TEST_DATA

TODAY = date(2026, 12, 1)


def _item(kb, item_id):
    policy = kb.policy(item_id.split("/")[0])
    return policy, next(it for it in policy.items if it.item_id == item_id)


def test_98hao_is_over_with_its_end_date(kb):
    s = record_validity(kb.policy("zs-2023-sme-industrial"), TODAY)
    assert s.validity == "expired"
    assert "2025-12-31" in s.note
    # in force during its term, not before it took effect (30 days after 2023-07-24)
    assert record_validity(kb.policy("zs-2023-sme-industrial"), date(2024, 6, 1)).validity == "current"
    assert record_validity(kb.policy("zs-2023-sme-industrial"), date(2023, 8, 10)).validity == "expired"


def test_digital_pilot_is_current_with_the_30_day_warning(kb):
    s = record_validity(kb.policy("zs-2024-sme-digital-pilot"), TODAY)
    assert s.validity == "current"
    assert s.deadline == date(2026, 12, 31)
    assert s.deadline_warning == "2026-12-31 截止，还剩 30 天"
    assert record_validity(kb.policy("zs-2024-sme-digital-pilot"), date(2027, 1, 15)).validity == "expired"


@pytest.mark.parametrize("policy_id", ["zs-2022-manufacturing-investment-award", "zs-2022-land-supply-access"])
@pytest.mark.parametrize("day", [date(2022, 6, 1), date(2024, 1, 1), TODAY])
def test_drafts_are_never_current(kb, policy_id, day):
    policy = kb.policy(policy_id)
    assert policy.validity.document_status == "draft"
    s = record_validity(policy, day)
    assert s.validity != "current"
    assert all(item_validity(policy, it, day, s).validity != "current" for it in policy.items)
    if s.validity == "unknown":
        assert "征求意见稿" in s.note


def test_provincial_upscaling_award_runs_with_its_2025_2027_fund_plan(kb):
    policy, item = _item(kb, "gd-provincial-sme-support/22.2")
    s = item_validity(policy, item, TODAY)
    assert s.validity == "current" and s.deadline == date(2027, 12, 31)
    assert record_validity(policy, TODAY).validity == "current"
    # the other provincial items: 22.1's last call was 2025 (unknown), 22.3 and 22.4 are over
    got = {it.number: item_validity(policy, it, TODAY).validity for it in policy.items}
    assert got == {"22.1": "unknown", "22.2": "current", "22.3": "expired", "22.4": "expired"}


def test_tech_reform_fund_is_over_by_its_intakes(kb):
    s = record_validity(kb.policy("zs-2022-tech-reform-fund"), TODAY)
    assert s.validity == "expired"
    assert "仅见2021、2022年申报通知" in s.note and "2023年以来未见" in s.note


def test_measures_paid_on_past_periods_are_over(kb):
    for policy_id, words in [("zs-2023-new-year-18", "2023年一季度"), ("zs-cuiheng-2022-warm-enterprise", "2022年")]:
        s = record_validity(kb.policy(policy_id), TODAY)
        assert s.validity == "expired" and words in s.note and "所涉期间已过" in s.note


def test_cross_border_items_follow_their_2022_intake(kb):
    policy, item = _item(kb, "zs-2022-cross-border-ecommerce/3.1")
    s = item_validity(policy, item, TODAY)
    assert s.validity == "expired" and "仅见2023年申报通知" in s.note
    during = item_validity(policy, item, date(2023, 2, 10))
    assert during.validity == "current" and during.deadline == date(2023, 2, 24)
    # the record itself stays undecided: the 24条 has no documented end
    assert record_validity(policy, TODAY).validity == "unknown"


def test_successor_and_every_item_over(kb):
    policy, item = _item(kb, "zs-2022-small-firm-upscaling/9.2")
    s = item_validity(policy, item, TODAY)
    assert s.validity == "expired" and "中府〔2023〕98号" in s.note
    assert record_validity(kb.policy("zs-2022-industrial-park-renovation"), TODAY).validity == "expired"


def test_every_record_has_a_specific_note_today(kb):
    for policy in kb.policies:
        s = record_validity(policy, TODAY)
        assert s.note.strip(), policy.policy_id
        assert "未见有效期或截止日期的公开记录" not in s.note, policy.policy_id  # the generic fallback
        if s.validity == "unknown":
            # says what to confirm and with whom: the record's own confirm, not the generic question
            assert "请向" in s.note and policy.validity.confirm in s.note, policy.policy_id


def test_contacts_are_the_documented_ones(kb):
    policy, item = _item(kb, "zs-2022-industrial-park-renovation/4.1")
    assert (item.contact.department, item.contact.people, item.contact.phone) == ("中山市工业和信息化局", "金昕、尹慧", "88315789")
    assert _item(kb, "gd-provincial-sme-support/22.4")[1].contact.people == "冯俊伟"
    nantou = kb.policy("zs-nantou-ecommerce")
    assert (nantou.contact.people, nantou.contact.phone) == ("李斯琴", "0760-23380962")
    assert "李斯琴 0760-23380962" in record_validity(nantou, TODAY).note
    # the 2022 reply letter's contact belongs to 市工信局 and is offered for nothing else
    for p in kb.policies:
        for department, contact in [(p.department, p.contact)] + [(it.department or p.department, it.contact) for it in p.items]:
            if contact is not None and contact.people == "黄文波":
                assert department == "中山市工业和信息化局" == contact.department, p.policy_id
    assert kb.policy("zs-service-entrepreneurship-mentors").contact is None


@pytest.mark.parametrize("name", ["eval_profiles.json", "holdout_profiles.json"])
def test_evaluation_labels_follow_the_validity_data(kb, name):
    """No case expects a policy, or an amount of an item, that the data says is over at its as_of."""
    for case in json.loads((TEST_DATA / name).read_text(encoding="utf-8")):
        day = date.fromisoformat(case["as_of"])
        for policy_id in [*case.get("relevance", {}), *case.get("hard_negatives", {})]:
            assert record_validity(kb.policy(policy_id), day).validity != "expired", (case["id"], policy_id)
        for check in case.get("expected_amounts", []):
            policy, item = _item(kb, check["item"])
            assert item_validity(policy, item, day).validity != "expired", (case["id"], check["item"])
