"""Reminders and new-policy alerts (policy_match.alerts) and ``policy-match alerts``."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from policy_match import alerts as al
from policy_match import visits as vs
from policy_match.knowledge import load_directory
from policy_match.matcher import Matcher
from policy_match.validity import record_validity

from .conftest import run_cli

AS_OF = date(2026, 12, 1)
PROFILE = {
    "name": "古镇提醒测试灯饰有限公司", "town": "古镇镇", "sector": "C", "industry": "灯饰照明制造",
    "above_scale": True, "annual_revenue_wan": 30000, "employees": 400, "qualifications": ["高新技术企业"],
    "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间", "equipment_software_investment_wan": 3000,
}
PILOT = "zs-2024-sme-digital-pilot"
DIGITAL = "zs-2022-digital-transformation"


def advice(pid: str, *, recommended: bool = True, status: str = "possible", validity: str = "current",
           deadline: date | None = None, low: float | None = 0, high: float | None = 100,
           title: str | None = None, reason: str | None = None) -> al.PolicyAdvice:
    return al.PolicyAdvice(pid, title or pid, recommended, status, validity, deadline, low, high, reason)


def snapshot(*policies: al.PolicyAdvice, money=(0, 100), basis: str = "saved") -> al.AdviceSnapshot:
    return al.AdviceSnapshot(date(2026, 6, 1), {p.policy_id: p for p in policies}, money, "v1", basis)


# -- the comparison, on its own -------------------------------------------------------------------

def test_nothing_changed_means_no_lines():
    same = snapshot(advice("a", deadline=date(2027, 12, 31)))
    assert al.compare_advice(same, same, as_of=AS_OF) == []


def test_each_kind_of_change_is_named():
    before = snapshot(
        advice("gone", title="已撤销的政策"), advice("out", title="已不符合的政策"), advice("ended", title="到期的政策"),
        advice("less", title="不再推荐的政策"), advice("money", title="调额的政策", high=100),
        advice("moved", title="改期的政策", deadline=date(2027, 6, 30)), money=(0, 400))
    after = snapshot(
        advice("out", title="已不符合的政策", recommended=False, status="ineligible", reason="营业收入需 ≥ 2000万"),
        advice("ended", title="到期的政策", recommended=False, validity="expired"),
        advice("less", title="不再推荐的政策", recommended=False),
        advice("money", title="调额的政策", high=150),
        advice("moved", title="改期的政策", deadline=date(2026, 12, 31)),
        advice("new", title="新出台的政策", high=60, deadline=date(2027, 3, 31)), money=(0, 210))
    changes = al.compare_advice(before, after, as_of=AS_OF, unavailable={"gone": "政策库中已没有这项政策"})
    lines = [c.line for c in changes]
    assert lines == [
        "不再可申请：已撤销的政策（政策库中已没有这项政策）",
        "不再可申请：已不符合的政策（按现有信息暂不符合：营业收入需 ≥ 2000万）",
        "不再可申请：到期的政策（已过期）",
        "新增推荐：新出台的政策（最高 60 万元，2027-03-31 截止）",
        "临近截止：改期的政策 2026-12-31 截止，还剩 30 天",
        "金额变化：调额的政策 由 最高 100 万元 变为 最高 150 万元",
        "金额变化：推荐政策合计由 最高 400 万元 变为 最高 210 万元",
        "截止日期变化：改期的政策 截止日期由 2027-06-30 改为 2026-12-31",
        "不再推荐：不再推荐的政策（仍可了解，但按现有信息不再列为推荐申报）",
    ]
    money = next(c for c in changes if c.policy_id == "money")
    assert (money.before, money.after) == ("最高 100 万元", "最高 150 万元")


def test_deadline_window_is_90_days_and_counts_today():
    after = snapshot(advice("today", deadline=AS_OF), advice("edge", deadline=date(2027, 3, 1)),
                     advice("far", deadline=date(2027, 3, 2)), advice("past", deadline=date(2026, 11, 30)))
    soon = [c for c in al.compare_advice(after, after, as_of=AS_OF) if c.kind == "deadline_soon"]
    assert [c.policy_id for c in soon] == ["today", "edge"]
    assert soon[0].text.endswith("今天是最后一天") and soon[1].text.endswith("还剩 90 天")


def test_amounts_equal_to_the_cent_are_not_a_change():
    before = snapshot(advice("a", high=33.333), money=(0, 33.333))
    after = snapshot(advice("a", high=33.33), money=(0, 33.33))
    assert al.compare_advice(before, after, as_of=AS_OF) == []


def test_a_visit_before_the_advice_layer_is_compared_on_what_it_stored():
    summary = {"as_of": "2026-06-01", "policies": [
        {"policy_id": "a", "title": "甲", "status": "eligible", "amount_wan": {"low": 0, "high": 50}},
        {"policy_id": "b", "title": "乙", "status": "possible", "amount_wan": None},
        {"policy_id": "c", "title": "丙", "status": "ineligible"}]}
    before = al.snapshot_from_summary(summary)
    assert before.basis == "saved_status" and before.money is None
    assert [p.policy_id for p in before.recommended] == ["a", "b"]
    # "b" is still open but not recommended now: not news for an old visit; "c" newly recommended is
    after = snapshot(advice("a", high=50), advice("b", recommended=False), advice("c"), money=(0, 150))
    assert [c.line for c in al.compare_advice(before, after, as_of=AS_OF)] == ["新增推荐：c（最高 100 万元）"]


@pytest.mark.parametrize("summary", [None, {}, {"policies": "x"}, {"policies": [{"title": "无编号"}]}, [1, 2],
                                     {"policies": [{"policy_id": "a", "deadline": "明年"}]}])
def test_an_unreadable_summary_is_no_snapshot(summary):
    assert al.snapshot_from_summary(summary) is None


# -- reviews against a real base ------------------------------------------------------------------

@pytest.fixture(scope="module")
def older_base(tmp_path_factory) -> Matcher:
    """The base as it was before: without the digital pilot, and with the 示范车间 award at 150
    instead of 200 万元 (a corrected amount)."""
    import shutil

    from .conftest import POLICIES

    target = tmp_path_factory.mktemp("older") / "policies"
    shutil.copytree(POLICIES, target)
    (target / f"{PILOT}.yaml").unlink()
    path = target / f"{DIGITAL}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "formula: {type: fixed, value_wan: 200}" in text
    path.write_text(text.replace("formula: {type: fixed, value_wan: 200}", "formula: {type: fixed, value_wan: 150}", 1),
                    encoding="utf-8")
    return Matcher().fit(load_directory(target))


def _saved(matcher: Matcher, profile: dict, as_of: str, vid: int = 1, **visit) -> dict:
    result = matcher.match(profile, as_of=as_of).to_dict()
    v = vs.visit_from_match(profile, result, base_version=al.base_version(matcher.kb_), **visit)
    return {"id": vid, **v.model_dump()}


def test_a_visit_saved_with_an_older_base(older_base, matcher):
    visit = _saved(older_base, PROFILE, "2026-11-20", visit_date=date(2026, 11, 20))
    [review] = al.review_visits([visit], matcher, AS_OF)
    assert review.basis == "saved" and review.base_changed is True
    kinds = {(c.kind, c.policy_id) for c in review.changes}
    assert ("new_recommended", PILOT) in kinds and ("deadline_soon", PILOT) in kinds
    assert ("amount_changed", DIGITAL) in kinds  # the corrected 示范车间 award
    assert ("amount_changed", None) in kinds  # and so the headline money
    digital = next(c for c in review.changes if c.kind == "amount_changed" and c.policy_id == DIGITAL)
    old = older_base.match(PROFILE, as_of="2026-11-20").by_id(DIGITAL)["amount_wan"]["high"]
    new = matcher.match(PROFILE, as_of=AS_OF).by_id(DIGITAL)["amount_wan"]["high"]
    assert new - old == 50 and digital.before == f"最高 {old} 万元" and digital.after == f"最高 {new} 万元"
    assert "走访后政策库已更新" in review.basis_text


def test_the_same_base_and_day_change_nothing_but_the_close_deadline(matcher):
    visit = _saved(matcher, PROFILE, AS_OF.isoformat())
    [review] = al.review_visits([visit], matcher, AS_OF)
    assert review.base_changed is False
    assert {c.kind for c in review.changes} <= {"deadline_soon"}


def test_a_policy_gone_from_the_base_or_expired_is_no_longer_available(matcher, kb):
    reasons = al.unavailable_reasons(kb, ["zs-no-such-policy", DIGITAL], AS_OF)
    assert reasons == {"zs-no-such-policy": "政策库中已没有这项政策"}
    expired = [p for p in kb.policies if record_validity(p, AS_OF).validity == "expired"]
    assert expired, "the base holds ended schemes"
    assert al.unavailable_reasons(kb, [expired[0].policy_id], AS_OF)[expired[0].policy_id].startswith("已过期：")


def test_visits_without_a_summary_or_a_valid_profile(matcher):
    rederive = {"id": 1, "firm_name": "旧企业", "visit_date": date(2024, 3, 1), "profile": PROFILE,
                "result_summary": None}
    nothing = {"id": 2, "firm_name": "无画像", "visit_date": date(2026, 1, 1), "profile": {}, "result_summary": None}
    broken = {"id": 3, "firm_name": "坏画像", "visit_date": date(2026, 1, 1),
              "profile": {"annual_revenue_wan": "2000万美元"}, "result_summary": {"policies": []}}
    reviews = {r.visit_id: r for r in al.review_visits([rederive, nothing, broken], matcher, AS_OF)}
    assert reviews[1].basis == "rederived" and reviews[1].saved_as_of == date(2024, 3, 1)
    assert reviews[1].base_changed is None
    assert reviews[2].basis == "none" and reviews[2].changes == ()
    assert reviews[3].basis == "unreadable" and "annual_revenue_wan" in reviews[3].basis_text


# -- follow-ups and the call-back list -----------------------------------------------------------

def _visit(vid: int, firm: str, **kw) -> dict:
    base = {"id": vid, "firm_name": firm, "credit_code": None, "town": "古镇镇", "advisor": "张三",
            "visit_date": date(2026, 11, 1), "profile": {}, "result_summary": None, "follow_up": "送材料",
            "follow_up_due": None, "status": "open"}
    return {**base, **kw}


def test_due_follow_ups_overdue_today_upcoming():
    visits = [_visit(1, "甲", follow_up_due=date(2026, 11, 28)), _visit(2, "乙", follow_up_due=AS_OF),
              _visit(3, "丙", follow_up_due=date(2026, 12, 8)), _visit(4, "丁", follow_up_due=date(2026, 12, 9)),
              _visit(5, "戊", follow_up_due=date(2026, 11, 1), status="done"), _visit(6, "己"),
              _visit(7, "庚", follow_up_due=date(2026, 11, 30), town="小榄镇", advisor="李四")]
    got = al.due_follow_ups(visits, AS_OF)
    assert [(r.firm_name, r.state, r.days) for r in got] == [("甲", "overdue", 3), ("庚", "overdue", 1),
                                                             ("乙", "due", 0), ("丙", "upcoming", 7)]
    assert got[0].line == "跟进已逾期 3 天：送材料（期限 2026-11-28）"
    assert [r.firm_name for r in al.due_follow_ups(visits, AS_OF, town="小榄")] == ["庚"]
    assert [r.firm_name for r in al.due_follow_ups(visits, AS_OF, advisor="李四")] == ["庚"]
    with pytest.raises(ValueError, match="不是中山市的镇街"):
        al.due_follow_ups(visits, AS_OF, town="北京")


def test_call_backs_one_row_per_firm_most_urgent_first(matcher, older_base):
    changed = _saved(older_base, PROFILE, "2026-11-20", vid=10, visit_date=date(2026, 11, 20), advisor="李四")
    visits = [
        changed,
        _visit(9, PROFILE["name"], follow_up="旧的跟进", follow_up_due=date(2026, 11, 30), advisor="李四"),
        _visit(8, "逾期企业", follow_up_due=date(2026, 11, 20)),
        _visit(7, "没有要办的企业"),
    ]
    found = al.call_backs(visits, matcher, AS_OF)
    assert [c.firm_name for c in found.firms] == ["逾期企业", PROFILE["name"]]
    lighting = found.firms[1]
    assert lighting.visit_id == 10 and [f.visit_id for f in lighting.follow_ups] == [9]
    assert lighting.reasons[0].startswith("跟进已逾期 1 天：旧的跟进")
    assert any(r.startswith("新增推荐：") for r in lighting.reasons)
    assert found.visits_reviewed == 3
    assert "2 家企业需要回访" in found.summary_line()
    assert [c.firm_name for c in al.call_backs(visits, matcher, AS_OF, advisor="李四").firms] == [PROFILE["name"]]
    assert al.call_backs(visits, matcher, AS_OF, town="小榄镇").firms == []
    json.dumps(found.to_dict(), ensure_ascii=False)  # the JSON edge holds only plain values


def test_workbook_text_stays_text_with_frozen_headers_and_filters(matcher):
    hostile = '=HYPERLINK("http://evil.example","点我")'
    visits = [_visit(1, hostile, follow_up="@SUM(1+1)", follow_up_due=date(2026, 11, 1), advisor="+张三")]
    found = al.call_backs(visits, matcher, AS_OF)
    book = openpyxl.load_workbook(io.BytesIO(al.call_backs_xlsx_bytes(found)))
    assert book.sheetnames == ["回访名单", "变化明细", "说明"]
    for name in ("回访名单", "变化明细"):
        assert book[name].freeze_panes == "A2" and book[name].auto_filter.ref
    ws = book["回访名单"]
    header = [c.value for c in ws[1]]
    assert header == al.CALL_BACK_COLUMNS
    row = {h: c for h, c in zip(header, ws[2], strict=True)}
    assert row["企业名称"].value == hostile and row["企业名称"].data_type == "s"
    assert row["跟进事项"].value == "@SUM(1+1)" and row["走访人"].value == "+张三"
    assert row["逾期天数"].value == 30 and row["最早跟进期限"].value == "2026-11-01"


# -- the CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def visit_db(tmp_path, older_base) -> str:
    url = f"sqlite:///{(tmp_path / 'cli_visits.db').as_posix()}"
    engine = vs.get_engine(url)
    vs.init_db(engine)
    result = older_base.match(PROFILE, as_of="2026-11-20").to_dict()
    vs.save_visit(engine, vs.visit_from_match(PROFILE, result, base_version=al.base_version(older_base.kb_),
                                              visit_date=date(2026, 11, 20), advisor="李四", follow_up="送示范车间材料",
                                              follow_up_due=date(2026, 11, 27)))
    vs.save_visit(engine, vs.VisitIn(firm_name="小榄逾期企业", town="小榄镇", advisor="张三", follow_up="电话回访",
                                     follow_up_due=date(2026, 11, 30)))
    vs.dispose_engines()
    return url


def test_cli_alerts_table(visit_db):
    proc = run_cli("alerts", "--db", visit_db, "--as-of", "2026-12-01")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "回访名单（基准日 2026-12-01）" in out and "2 家企业需要回访" in out
    for text in (PROFILE["name"], "跟进已逾期 4 天", "新增推荐", "临近截止", "金额变化", "小榄逾期企业"):
        assert text in out, text
    assert "Traceback" not in proc.stderr

    town = run_cli("alerts", "--db", visit_db, "--as-of", "2026-12-01", "--town", "小榄")
    assert town.returncode == 0 and "小榄逾期企业" in town.stdout and PROFILE["name"] not in town.stdout
    who = run_cli("alerts", "--db", visit_db, "--as-of", "2026-12-01", "--advisor", "李四")
    assert who.returncode == 0 and PROFILE["name"] in who.stdout and "小榄逾期企业" not in who.stdout


def test_cli_alerts_workbook_and_json(visit_db, tmp_path):
    target = tmp_path / "回访名单.xlsx"
    proc = run_cli("alerts", "--db", visit_db, "--as-of", "2026-12-01", "--town", "古镇镇", "-o", str(target),
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["town"] == "古镇镇" and [f["firm_name"] for f in data["firms"]] == [PROFILE["name"]]
    kinds = {c["kind"] for c in data["firms"][0]["review"]["changes"]}
    assert {"new_recommended", "deadline_soon", "amount_changed"} <= kinds
    assert "已保存回访名单" in proc.stderr
    book = openpyxl.load_workbook(target)
    rows = list(book["回访名单"].iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][2] == PROFILE["name"] and "新增推荐" in rows[1][6]
    changes = list(book["变化明细"].iter_rows(values_only=True))
    assert {r[4] for r in changes[1:]} >= {"新增推荐", "临近截止", "金额变化"}
    assert dict(r for r in book["说明"].iter_rows(min_row=2, values_only=True))["镇街"] == "古镇镇"


@pytest.mark.parametrize(("args", "message"), [
    (["--town", "北京"], "“北京”不是中山市的镇街"),
    (["--advisor", "王五"], "没有走访人为“王五”的走访记录（已有走访人：张三、李四）"),
    (["--as-of", "2026-13-01"], "日期应为 YYYY-MM-DD"),
    (["-o", "名单.csv"], "回访名单应保存为 .xlsx 工作簿"),
])
def test_cli_alerts_errors_are_one_chinese_line(visit_db, args, message):
    proc = run_cli("alerts", "--db", visit_db, *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_alerts_without_a_database_creates_none(tmp_path):
    missing = tmp_path / "none.db"
    proc = run_cli("alerts", "--db", f"sqlite:///{missing.as_posix()}")
    assert proc.returncode == 2 and "走访记录库不存在" in proc.stderr
    assert not Path(missing).exists()
