"""Validity from the evidence: each rule of policy_match.validity on a small record built here."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from policy_match.schema import PolicyRecord
from policy_match.sources import classify, ranked
from policy_match.validity import item_validity, record_validity

URL = "http://zs.gov.cn/gxj/zcwj/gfxwj/content/post_1.html"
AS_OF = date(2026, 12, 1)


def record(validity: dict | None = None, *, issued: str | None = "2022", items: list[dict] | None = None,
           department: str | None = "中山市工业和信息化局", contact: dict | None = None) -> PolicyRecord:
    items = items or [{}]
    return PolicyRecord.model_validate({
        "policy_id": "zs-test", "title": "测试政策", "issuer": "中山市人民政府", "issued": issued,
        "validity": validity or {}, "department": department, "contact": contact,
        "package_2022_02_15": "no", "level": "city", "sources": [URL], "summary": "用于测试有效期推导的政策。",
        "items": [{"item_id": f"zs-test/{n}", "number": str(n), "title": f"事项{n}", "description": "用于测试的支持事项说明。",
                   "support_type": "奖励", "amount": {"kind": "non_monetary", "text": "非资金支持"},
                   "confidence": "primary", "sources": [URL], "period": period}
                  for n, period in enumerate(items, 1)],
    })


def test_documented_end_in_the_future_is_current_with_deadline_and_warning():
    s = record_validity(record({"from": "2024-11-20", "to": "2026-12-31"}), AS_OF)
    assert s.validity == "current"
    assert s.deadline == date(2026, 12, 31)
    assert s.days_left == 30
    assert s.deadline_warning == "2026-12-31 截止，还剩 30 天"
    assert record_validity(record({"from": "2024-11-20", "to": "2026-12-31"}), date(2026, 9, 1)).deadline_warning is None


def test_documented_end_in_the_past_is_expired_with_its_date():
    s = record_validity(record({"to": "2025-12-31"}), AS_OF)
    assert (s.validity, s.note) == ("expired", "已于 2025-12-31 到期")


def test_only_an_old_intake_means_ended_and_says_which_years():
    s = record_validity(record({"intakes": [2022]}), AS_OF)
    assert s.validity == "expired"
    assert "仅见2022年申报通知" in s.note and "2023年以来未见" in s.note
    # last year's call may simply not have been repeated yet: unknown, saying so
    s = record_validity(record({"intakes": [2022, 2025]}), AS_OF)
    assert s.validity == "unknown" and "最近一次申报通知发布于2025年，2026年内未见新的申报通知" in s.note
    # a call this year: current
    s = record_validity(record({"intakes": [2025, 2026]}), AS_OF)
    assert s.validity == "current"


def test_window_gives_the_deadline_and_counts_as_an_intake():
    v = {"windows": [{"from": "2026-11-01", "to": "2026-12-20", "source": URL}]}
    s = record_validity(record(v), AS_OF)
    assert s.validity == "current" and s.deadline == date(2026, 12, 20)
    assert "申报窗口 2026-11-01 至 2026-12-20" in s.note
    assert record_validity(record({"windows": [{"from": "2024-04-16", "to": "2024-05-27"}]}), AS_OF).validity == "expired"


def test_a_draft_is_never_current():
    s = record_validity(record({"document_status": "draft", "to": "2027-12-31"}, issued="2022-03-08"), AS_OF)
    assert s.validity == "unknown"
    assert "征求意见稿（2022-03-08）" in s.note and "请向中山市工业和信息化局" in s.note
    # ... but a draft with a past end is over like any other
    assert record_validity(record({"document_status": "draft", "to": "2023-12-31"}), AS_OF).validity == "expired"


def test_a_measure_paid_on_a_past_period_is_ended():
    v = {"covered": {"from": "2022-01", "to": "2022-03", "note": "2022年一季度经营数据"}}
    s = record_validity(record(v), AS_OF)
    assert s.validity == "expired" and "2022年一季度经营数据" in s.note
    assert record_validity(record(v), date(2022, 6, 1)).validity == "unknown"


def test_superseded_and_ended_need_no_date():
    assert record_validity(record({"superseded_by": "中府〔2023〕98号"}), AS_OF).validity == "expired"
    assert record_validity(record({"ended": True, "note": "一次性措施已兑现"}), AS_OF).validity == "expired"
    with pytest.raises(ValidationError):
        record({"ended": True})  # ended needs its reason


def test_not_yet_issued_or_started_is_not_in_force():
    assert record_validity(record({}, issued="2027-01-05"), AS_OF).validity == "expired"
    assert record_validity(record({"from": "2027-01-01", "to": "2027-12-31"}), AS_OF).validity == "expired"


def test_unknown_says_what_to_confirm_and_with_whom():
    s = record_validity(record({"evidence": [{"date": "2024-12-25", "text": "工改方案公示仍以该文为依据", "source": URL}]}), AS_OF)
    assert s.validity == "unknown"
    assert "2024-12-25 工改方案公示仍以该文为依据" in s.note
    assert "请向中山市工业和信息化局（联系方式未公开）确认" in s.note
    contact = {"department": "中山市工业和信息化局", "people": "金昕、尹慧", "phone": "88315789", "source": URL}
    assert "中山市工业和信息化局：金昕、尹慧 88315789" in record_validity(record({}, contact=contact), AS_OF).note
    # a contact of another department is not offered as the one to call
    other = dict(contact, department="中山市商务局")
    assert "（联系方式未公开）" in record_validity(record({}, contact=other), AS_OF).note
    assert "12345" in record_validity(record({}, department=None), AS_OF).note


def test_items_refine_their_record():
    policy = record({}, items=[{"intakes": [2022]}, {}])
    rec = record_validity(policy, AS_OF)
    assert rec.validity == "unknown"
    old, plain = (item_validity(policy, it, AS_OF, rec) for it in policy.items)
    assert old.validity == "expired" and plain.validity == "unknown"
    # every item over: the record is over
    assert record_validity(record({}, items=[{"intakes": [2022]}, {"to": "2023-12-31"}]), AS_OF).validity == "expired"
    # an item in its window makes an undated record current
    live = record({}, items=[{"windows": [{"from": "2026-11-01", "to": "2026-12-15"}]}])
    assert record_validity(live, AS_OF).validity == "current"


def test_sources_are_classified_and_ranked_official_first():
    assert classify("http://www.zs.gov.cn/gxs/x.html").source_class == "official"
    assert classify("http://en.zsnews.cn/x").source_class == "news"
    assert classify("中工信函〔2022〕47号").source_class == "official"
    assert classify("http://nowhere.example/x").source_class == "unclassified"
    order = ranked(["http://zsnews.cn/a", "http://www.10100.com/b", "http://zs.gov.cn/c"])
    assert [s.source_class for s in order] == ["official", "news", "other"]
