"""走访助手: the advisor's day — a visit in the order it happens, the firms to call back, past visits.

Tab 本次走访, in the order of a visit: 1. pick the firm (a past visit opens with what changed
since) → 2. its profile (pre-filled for a firm visited before) → 3. the notes and follow-up, saved
and handed over as a one-page Word brief → 4. the policy advice, recommended first. The notes
come before the advice, so on a phone they are one screen away rather than fifteen.

Tab 提醒与回访: follow-ups due or overdue and the visited firms whose advice changed since their
visit (``policy_match.alerts``), by advisor and town, downloadable as a workbook.

Tab 走访记录: every visit, by firm or town; one opens with its advice then and now.

The page only calls the package: ``policy_match.visits`` stores visits, ``policy_match.alerts``
compares advice, ``policy_match.brief`` writes the brief, ``app_pages.common`` and
``app_pages.cards`` hold the profile form and the result cards. Database problems are shown as a
message, never as a traceback; user text is shown with ``st.text`` / escaped markdown, never as
HTML. Icons are Material icons (they ship with Streamlit; emoji need a font the server may lack).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import streamlit as st

from app_pages.cards import render_results
from app_pages.common import (
    get_matcher,
    md,
    profile_form,
    render_profile_problems,
    run_match,
    show_unexpected_error,
)
from policy_match import ProfileError
from policy_match import alerts as al
from policy_match import visits as vs
from policy_match.brief import MAX_FOLLOW_UP_TEXT, MAX_NOTES_TEXT, amount_text, visit_brief_docx
from policy_match.fields import PROFILE_FIELDS, TOWNS, format_value
from policy_match.wording import STATUS_ZH, VALIDITY_ZH
from policy_match.xml_text import xml_safe

KEY = "vis"
CURRENT = f"{KEY}_current"
ALL_TOWNS = "全部镇街"
ALL_ADVISORS = "全部走访人"
NEW_FIRM = 0  # the picker's "blank form" option
BEIJING = timezone(timedelta(hours=8))
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FIRM_CARDS = 30  # firms shown as cards in 提醒与回访; the workbook has them all
RECORD_FIELDS = ("advisor", "visit_date", "notes", "follow_up", "due")

CHANGE_ICON = {
    "new_recommended": ":green[:material/add_circle:]",
    "no_longer_available": ":red[:material/block:]",
    "no_longer_recommended": ":gray[:material/remove_circle:]",
    "amount_changed": ":blue[:material/payments:]",
    "deadline_changed": ":orange[:material/event:]",
    "deadline_soon": ":orange[:material/schedule:]",
}
FOLLOW_UP_ICON = {"overdue": ":red[:material/alarm:]", "due": ":orange[:material/today:]",
                  "upcoming": ":blue[:material/event_upcoming:]"}
ERROR_ICON, OK_ICON, WARN_ICON, INFO_ICON = ":material/error:", ":material/check_circle:", ":material/warning:", \
    ":material/info:"


# -- the store ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _engine(url: str):
    engine = vs.get_engine(url)
    vs.init_db(engine)
    return engine


def get_db():
    """The visit store's engine, or ``None`` (after showing why) when it cannot be opened."""
    try:
        return _engine(vs.database_url())
    except (vs.StoreError, vs.VisitError) as exc:
        st.error(f"走访记录库暂时无法使用：{exc}。仍可匹配政策和下载简报，但无法保存或查看走访记录。", icon=ERROR_ICON)
        return None


def db_call(fn, *args, **kwargs) -> tuple[bool, Any]:
    """Run a store function; on failure show the reason and return ``(False, None)``."""
    try:
        return True, fn(*args, **kwargs)
    except (vs.StoreError, vs.VisitError) as exc:
        st.error(str(exc), icon=ERROR_ICON)
        return False, None


def safe_reviews(visits: list[dict[str, Any]], as_of: date) -> dict[int, al.VisitReview]:
    """Reviews of ``visits`` by id; a failure (a record in a shape nobody foresaw) is a message."""
    try:
        return {r.visit_id: r for r in al.review_visits(visits, get_matcher(), as_of)}
    except Exception as exc:  # noqa: BLE001 - the page stays usable without the comparison
        show_unexpected_error("比较走访后的政策变化", exc, hint="走访记录本身不受影响。")
        return {}


@st.cache_data(show_spinner="正在核对走访过的企业…", max_entries=32)
def call_back_list(db_url: str, stamp: tuple, base: str, as_of: date, advisor: str | None, town: str | None,
                   _visits: list[dict[str, Any]]) -> tuple[al.CallBackList, bytes | None]:
    """The call-back list and its workbook, computed once per state of the store (``stamp``: every
    visit's id and last change), policy base, date and filter — not on every widget change."""
    found = al.call_backs(_visits, get_matcher(), as_of, advisor=advisor, town=town)
    return found, al.call_backs_xlsx_bytes(found) if found.firms else None


def store_stamp(visits: list[dict[str, Any]]) -> tuple:
    return tuple((v["id"], v["updated_at"] or v["created_at"]) for v in visits)


# -- small helpers --------------------------------------------------------------------------

def build_brief(profile: dict[str, Any], result: dict[str, Any], **visit: Any) -> bytes | None:
    """The Word brief, or ``None`` after a Chinese message when it cannot be built (a record
    saved by another tool in a shape the brief does not know): the visit itself still shows."""
    try:
        return visit_brief_docx(profile, result, **visit)
    except Exception as exc:  # noqa: BLE001 - whatever the stored data holds, the page stays usable
        show_unexpected_error("生成走访简报", exc, hint="走访记录本身不受影响，仍可查看和更新。")
        return None


def file_name(firm: str | None, day: Any) -> str:
    safe = re.sub(r'[\\/:*?"<>|\s\x00-\x1f\x7f]+', "_", xml_safe(firm or "企业").strip())[:40] or "企业"
    return f"走访简报_{safe}_{day}.docx"


def local_time(value: datetime | None) -> str:
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if value else ""


def start_over() -> None:
    """Another firm picked: drop the previous match and its visit notes (the advisor stays)."""
    for key in (CURRENT, f"{KEY}_notes", f"{KEY}_follow_up", f"{KEY}_due", f"{KEY}_visit_date"):
        st.session_state.pop(key, None)


def visit_label(v: dict[str, Any]) -> str:
    return f"#{v['id']} {v['visit_date']} {v['firm_name']}（{v['town'] or '镇街未填'}）"


def recommended_count(v: dict[str, Any]) -> int | None:
    summary = v.get("result_summary") or {}
    head = summary.get("summary") if isinstance(summary, dict) else None
    if isinstance(head, dict) and isinstance(head.get("recommended"), int):
        return head["recommended"]
    counts = summary.get("counts") if isinstance(summary, dict) else None
    if isinstance(counts, dict):
        return (counts.get("eligible") or 0) + (counts.get("possible") or 0)
    return None


def change_lines(review: al.VisitReview | None) -> list[str]:
    if review is None:
        return []
    return [f"- {CHANGE_ICON[c.kind]} **{c.label}**：{md(c.text)}" for c in review.changes]


def render_review(review: al.VisitReview | None, *, heading: str = "自上次走访以来的变化") -> None:
    """What changed in a visit's advice, one line per change, and on what the comparison rests."""
    if review is None:
        return
    st.markdown(f"**{heading}**（按 {review.as_of.isoformat()} 重新匹配）")
    lines = change_lines(review)
    if lines:
        st.markdown("\n".join(lines))
    elif review.basis in {"none", "unreadable"}:
        st.caption("无法比较。")
    else:
        st.caption("政策建议没有变化。")
    st.caption(md(review.basis_text))


def follow_up_line(r: al.FollowUpReminder) -> str:
    return f"- {FOLLOW_UP_ICON[r.state]} **{r.label}**：{md(r.follow_up.strip() or '（未写跟进事项）')}" \
           f"（期限 {r.due.isoformat()}）"


# -- page -----------------------------------------------------------------------------------

st.title("走访助手")
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
c1.markdown("上门走访时按顺序：选择企业 → 核对企业情况 → 记录走访和跟进事项 → 保存并下载简报 → 查看政策建议。"
            "“提醒与回访”列出到期的跟进事项和走访后政策有变化的企业。")
as_of = c2.date_input("政策基准日", value=date.today(), key=f"{KEY}_as_of",
                      help="按这一天判断政策是否在有效期内、跟进是否到期（默认今天）")

db = get_db()
visits: list[dict[str, Any]] = []
if db is not None:
    _, got = db_call(vs.list_visits, db)
    visits = got or []
groups = vs.group_by_firm(visits)
# A firm is picked by its first visit's id: stable while new visits are added to it.
firm_groups = {min(v["id"] for v in g): g for g in groups}

tab_visit, tab_alerts, tab_history = st.tabs([":material/edit_note: 本次走访", ":material/notifications: 提醒与回访",
                                              ":material/history: 走访记录"])

# ===========================================================================================
# 本次走访
# ===========================================================================================
with tab_visit:
    st.subheader("1. 选择企业")
    picked = st.selectbox(
        "调出已走访企业的上次信息，或从空白表单开始",
        [NEW_FIRM, *firm_groups],
        # The label must not change when this visit is saved (Streamlit keeps a selectbox's choice by
        # its label): the firm and its town, the date of the last visit is shown below.
        format_func=lambda i: "新企业（空白表单）" if i == NEW_FIRM else
        f"{firm_groups[i][0]['firm_name']}（{firm_groups[i][0]['town'] or '镇街未填'}）",
        key=f"{KEY}_pick", on_change=start_over, placeholder="输入企业名称查找",
    )
    group = firm_groups.get(picked) or []
    current = st.session_state.get(CURRENT)
    latest = group[0] if group else None  # its profile pre-fills the form
    # The visit to look back on: the latest one saved before this visit (once this visit is saved
    # it is the latest, and "上次" means the one before it).
    this_visit = (current or {}).get("saved_id")
    last = next((v for v in group if v["id"] != this_visit), None)
    if last is not None:
        with st.container(border=True, key=f"{KEY}_last_visit"):
            st.markdown(f"**上次走访**：{last['visit_date']}　走访人：{md(last['advisor'] or '未填写')}　"
                        f"状态：{vs.VISIT_STATUS_ZH.get(last['status'], last['status'])}")
            st.markdown("**走访情况**")
            st.text(last["notes"] or "无")
            st.markdown("**跟进事项**")
            st.text((last["follow_up"] or "无") + (f"（期限：{last['follow_up_due']}）" if last["follow_up_due"] else ""))
            reminders = al.due_follow_ups(group, as_of)
            if reminders:
                st.markdown("**到期的跟进**\n" + "\n".join(follow_up_line(r) for r in reminders))
            render_review(safe_reviews([last], as_of).get(last["id"]))
            if last["status"] == "open" and st.button("上次的跟进事项已完成", key=f"{KEY}_done_{last['id']}",
                                                      icon=":material/task_alt:"):
                ok, _ = db_call(vs.update_visit, db, last["id"], status="done")
                if ok:
                    st.rerun()

    st.subheader("2. 企业情况")
    if latest is not None:
        st.caption("已按上次走访时的企业情况填好并匹配；情况有变化时打开下面的开关修改，再点“开始匹配”。")
        show_form = st.toggle("修改企业情况", key=f"{KEY}_edit_{picked}") or bool(current and "problems" in current)
    else:
        show_form = True
    raw = None
    if show_form:
        defaults = (current or {}).get("raw") or (latest["profile"] if latest else {})
        raw = profile_form(f"{KEY}_p{picked}" if latest is not None else f"{KEY}_new", defaults)

    previous = current or {}
    target = None  # the profile to match on this run, if any
    if raw is not None:
        target = raw
    elif latest is not None and previous.get("firm") != picked:
        target = latest["profile"] or {"name": latest["firm_name"]}  # a past visit opens matched
    elif previous.get("result") is not None and previous.get("as_of") != as_of:
        target = previous["raw"]  # the 基准日 changed: match again
    if target is not None:
        # Matching the same firm again during one visit (a corrected figure) keeps the saved
        # record: the next "保存" updates it rather than adding a second visit.
        same_firm = previous.get("saved_id") and (previous.get("raw") or {}).get("name") == target.get("name")
        keep = {"firm": picked, "as_of": as_of, "record": previous.get("record"),
                "saved_id": previous["saved_id"] if same_firm else None}
        try:
            current = {**keep, "raw": target, "result": run_match(target, as_of=as_of)}
        except ProfileError as exc:
            current = {**keep, "raw": previous.get("raw") or target, "problems": exc.problems}
        st.session_state[CURRENT] = current
    if current and "problems" in current:
        render_profile_problems(current["problems"])
    result = (current or {}).get("result")

    st.subheader("3. 走访记录与跟进")
    with st.form(f"{KEY}_record_form", border=True, enter_to_submit=False):
        r1, r2 = st.columns(2)
        advisor = r1.text_input("走访人", key=f"{KEY}_advisor", max_chars=vs.MAX_ADVISOR, placeholder="姓名（选填）")
        visit_day = r2.date_input("走访日期", value=date.today(), key=f"{KEY}_visit_date")
        notes = st.text_area("走访情况", key=f"{KEY}_notes", max_chars=vs.MAX_NOTES, height=120,
                             placeholder="企业反映的情况、诉求和意向，例如：计划明年上 MES，关心技改补助申报时间")
        r3, r4 = st.columns([2, 1])
        follow_up = r3.text_area("跟进事项", key=f"{KEY}_follow_up", max_chars=vs.MAX_FOLLOW_UP, height=80,
                                 placeholder="例如：下周送申报材料清单；联系市工信局确认申报时间")
        due = r4.date_input("跟进期限", value=None, key=f"{KEY}_due", help="选填；到期后会列在“提醒与回访”中")
        b1, b2 = st.columns(2)
        save = b1.form_submit_button("保存走访记录", type="primary", icon=":material/save:", key=f"{KEY}_save",
                                     width="stretch")
        make_brief = b2.form_submit_button("生成简报（不保存）", icon=":material/description:",
                                           key=f"{KEY}_make_brief", width="stretch")
    if (save or make_brief) and result is None:
        st.warning("请先在第 2 步点击“开始匹配”：保存和简报都要包含给企业的政策建议。本次填写的内容仍保留在上面。",
                   icon=WARN_ICON)
    elif save or make_brief:
        current["record"] = {"advisor": advisor, "visit_date": visit_day, "notes": notes, "follow_up": follow_up,
                             "due": due, "at": datetime.now(BEIJING).strftime("%H:%M")}
    if save and result is not None:
        if db is None:
            st.error("走访记录库暂时无法使用，本次记录未保存；仍可下载简报。", icon=ERROR_ICON)
        elif not (current["raw"].get("name") or "").strip():
            st.error("保存走访记录需要企业名称：请在第 2 步“基本信息”中填写企业名称后重新点击“开始匹配”。", icon=ERROR_ICON)
        else:
            try:
                visit = vs.visit_from_match(current["raw"], result, base_version=al.base_version(get_matcher().kb_),
                                            advisor=advisor, visit_date=visit_day, notes=notes, follow_up=follow_up,
                                            follow_up_due=due)
            except vs.VisitError as exc:
                st.error(f"无法保存：{exc}", icon=ERROR_ICON)
            else:
                ok, saved = True, None
                if current.get("saved_id"):  # saved already: saving again updates, never duplicates
                    ok, saved = db_call(vs.replace_visit, db, current["saved_id"], visit)
                if ok and saved is None:  # not saved yet (or deleted meanwhile)
                    ok, new_id = db_call(vs.save_visit, db, visit)
                    current["saved_id"] = new_id if ok else None
                if ok:
                    st.rerun()  # the history and the reminders list the saved visit at once
    if current and current.get("saved_id"):
        st.success(f"已保存走访记录（编号 {current['saved_id']}）。修改后再次点击“保存走访记录”会更新这条记录；"
                   "可在“走访记录”中查看。", icon=OK_ICON)

    record = (current or {}).get("record")
    if result is not None and record is not None:
        brief = build_brief(
            result.get("profile") or current["raw"], result, advisor=record["advisor"], notes=record["notes"],
            follow_up=record["follow_up"], visit_date=record["visit_date"], follow_up_due=record["due"])
        if brief is not None:
            st.download_button("下载走访简报（Word）", data=brief, mime=DOCX_MIME, icon=":material/download:",
                               key=f"{KEY}_brief_current", type="primary", width="stretch",
                               file_name=file_name(current["raw"].get("name"), record["visit_date"]))
            saved_text = f"已保存为走访记录 #{current['saved_id']}" if current.get("saved_id") else "尚未保存"
            st.caption(f"简报内容：基准日 {result['as_of']} 的政策建议（含有效期和截止日期），以及 {record['at']} "
                       f"提交的走访记录（走访情况 {len(record['notes'].strip())} 字，{saved_text}）。"
                       + ("走访情况或跟进事项较长，简报只印前面部分（一页纸），全文保存在走访记录中。"
                          if len(record["notes"].strip()) > MAX_NOTES_TEXT
                          or len(record["follow_up"].strip()) > MAX_FOLLOW_UP_TEXT else "")
                       + "之后如修改了上面的走访记录，请再点一次“保存走访记录”或“生成简报（不保存）”。")
    elif result is not None:
        st.caption("填写后点击“保存走访记录”，或只点“生成简报（不保存）”，即可下载含本次走访记录的一页纸简报。")

    st.subheader("4. 政策建议")
    if result is None:
        st.info("在第 2 步填写企业情况并点击“开始匹配”后，这里显示推荐申报的政策、金额和截止日期。", icon=INFO_ICON)
    else:
        render_results(result, key_prefix=f"{KEY}_res")

# ===========================================================================================
# 提醒与回访
# ===========================================================================================
with tab_alerts:
    st.subheader("回访名单")
    st.caption(f"基准日 {as_of.isoformat()}：未完成且已到期、今天到期或 {al.UPCOMING_DAYS} 天内到期的跟进事项；"
               "以及每家企业最近一次走访后政策建议的变化（新增推荐、不再可申请、金额变化、"
               f"{al.DEADLINE_HORIZON_DAYS} 天内截止），按现行政策库重新匹配企业当时的情况得出。")
    if db is None:
        st.info("走访记录库暂时无法使用。", icon=INFO_ICON)
    else:
        a1, a2 = st.columns(2)
        _, names = db_call(vs.advisors, db)
        who = a1.selectbox("走访人", [ALL_ADVISORS, *(names or [])], key=f"{KEY}_alert_advisor",
                           placeholder="输入姓名查找")
        where = a2.selectbox("镇街", [ALL_TOWNS, *TOWNS], key=f"{KEY}_alert_town", placeholder="输入镇街名称查找")
        try:
            found, workbook = call_back_list(vs.database_url(), store_stamp(visits), al.base_version(get_matcher().kb_),
                                             as_of,
                                             None if who == ALL_ADVISORS else who,
                                             None if where == ALL_TOWNS else where, visits)
        except Exception as exc:  # noqa: BLE001 - the other tabs stay usable
            show_unexpected_error("生成回访名单", exc, hint="走访记录本身不受影响。")
            found, workbook = None, None
        if found is not None:
            n = found.counts()
            m1, m2, m3, m4 = st.columns(4)
            m1.metric("需要回访的企业", f"{n['firms']} 家")
            m2.metric("跟进已逾期", f"{n['overdue']} 项")
            m3.metric("今天和近期到期", f"{n['due'] + n['upcoming']} 项")
            m4.metric("政策有变化的企业", f"{n['firms_changed']} 家")
            st.caption(md(found.summary_line()))
            if workbook is not None:
                st.download_button("下载回访名单（Excel）", data=workbook, mime=XLSX_MIME,
                                   icon=":material/download:", key=f"{KEY}_callbacks_xlsx",
                                   file_name=f"回访名单_{where if where != ALL_TOWNS else '全部镇街'}_{as_of}.xlsx")
            for c in found.firms[:MAX_FIRM_CARDS]:
                with st.container(border=True):
                    st.markdown(f"**{md(c.firm_name)}**　{md(c.town or '镇街未填')} · 走访人 {md(c.advisor or '未填写')}"
                                f" · 上次走访 {c.last_visit.isoformat()}")
                    lines = [follow_up_line(f) for f in c.follow_ups] + change_lines(c.review)
                    st.markdown("\n".join(lines))
            if len(found.firms) > MAX_FIRM_CARDS:
                st.caption(f"另有 {len(found.firms) - MAX_FIRM_CARDS} 家企业，见下载的回访名单。")
            if found.firms:
                st.caption("打开某家企业：在“本次走访”第 1 步选择它，上次走访和变化会一起显示。")

# ===========================================================================================
# 走访记录
# ===========================================================================================
with tab_history:
    st.subheader("历史走访记录")
    if db is None:
        st.stop()

    f1, f2 = st.columns([2, 1])
    firm_filter = f1.text_input("按企业名称或信用代码筛选", key=f"{KEY}_filter_firm", placeholder="输入名称的一部分")
    town_filter = f2.selectbox("按镇街筛选", [ALL_TOWNS, *TOWNS], key=f"{KEY}_filter_town", placeholder="输入镇街名称查找")
    if firm_filter.strip() or town_filter != ALL_TOWNS:
        _, rows = db_call(vs.list_visits, db, firm=firm_filter or None,
                          town=None if town_filter == ALL_TOWNS else town_filter)
        rows = rows or []
    else:
        rows = visits

    if not rows:
        st.info("没有符合条件的走访记录。" if (firm_filter or town_filter != ALL_TOWNS) else "还没有走访记录。",
                icon=INFO_ICON)
    else:
        table = pd.DataFrame([{
            "编号": v["id"],
            "走访日期": v["visit_date"],
            "企业名称": v["firm_name"],
            "镇街": v["town"] or "",
            "走访人": v["advisor"] or "",
            "状态": vs.VISIT_STATUS_ZH.get(v["status"], v["status"]),
            "跟进期限": v["follow_up_due"],
            "推荐申报": recommended_count(v),
            "跟进事项": v["follow_up"],
        } for v in rows])
        # Widths chosen so that every column up to 跟进期限 and 状态 shows at 1440 px with the sidebar
        # open; the long 跟进事项 comes last and takes what is left.
        st.dataframe(table, hide_index=True, width="stretch", key=f"{KEY}_history_table", placeholder="—", column_config={
            "编号": st.column_config.NumberColumn("编号", width=56, format="%d"),
            "走访日期": st.column_config.DateColumn("走访日期", width=96, format="YYYY-MM-DD"),
            "企业名称": st.column_config.TextColumn("企业名称", width=200),
            "镇街": st.column_config.TextColumn("镇街", width=84),
            "走访人": st.column_config.TextColumn("走访人", width=72),
            "状态": st.column_config.TextColumn("状态", width=64),
            "跟进期限": st.column_config.DateColumn("跟进期限", width=96, format="YYYY-MM-DD"),
            "推荐申报": st.column_config.NumberColumn("推荐申报", width=72, format="%d 项",
                                                   help="走访时推荐申报的政策数（早期记录为可申请和可能符合的合计）"),
            "跟进事项": st.column_config.TextColumn("跟进事项", width=220),
        })
        st.caption(f"共 {len(rows)} 条，最近的走访在前。")

    with st.expander("按镇街汇总", icon=":material/location_city:"):
        ok, towns = db_call(vs.visits_by_town, db, today=as_of)
        if towns:
            st.dataframe(pd.DataFrame([{
                "镇街": t["town"] or "未填写", "走访次数": t["visits"], "走访企业数": t["firms"],
                "待跟进": t["open"], "跟进已逾期": t["overdue"], "最近走访": t["last_visit"],
            } for t in towns]), hide_index=True, width="stretch")
        elif ok:
            st.caption("还没有走访记录。")

    # reopen one visit
    if flash := st.session_state.pop(f"{KEY}_flash", None):
        st.success(flash, icon=OK_ICON)
    row_ids = {v["id"]: v for v in rows}
    opened_id = st.selectbox("打开一条走访记录", [None, *row_ids], key=f"{KEY}_open", placeholder="输入企业名称查找",
                             format_func=lambda i: "（请选择）" if i is None else visit_label(row_ids[i]))
    if opened_id is not None:
        ok, visit = db_call(vs.get_visit, db, opened_id)
        if ok and visit is None:
            st.warning(f"编号 {opened_id} 的走访记录不存在。", icon=WARN_ICON)
        elif ok:
            with st.container(border=True, key=f"{KEY}_opened"):
                st.markdown(f"#### 走访记录 #{visit['id']}")
                st.text(f"企业：{visit['firm_name']}　　统一社会信用代码：{visit['credit_code'] or '未填写'}"
                        f"　　镇街：{visit['town'] or '未填写'}")
                st.text(f"走访日期：{visit['visit_date']}　　走访人：{visit['advisor'] or '未填写'}"
                        f"　　保存时间：{local_time(visit['created_at'])}"
                        f"　　状态：{vs.VISIT_STATUS_ZH.get(visit['status'], visit['status'])}")
                st.markdown("**走访情况**")
                st.text(visit["notes"] or "无")
                st.markdown("**跟进事项**")
                st.text((visit["follow_up"] or "无")
                        + (f"（期限：{visit['follow_up_due']}）" if visit["follow_up_due"] else ""))
                render_review(safe_reviews([visit], as_of).get(visit["id"]), heading="走访后的政策变化")

                profile = visit["profile"] or {}
                with st.expander("当时填写的企业情况"):
                    known = [(PROFILE_FIELDS[k].label, format_value(k, v)) for k, v in profile.items()
                             if k in PROFILE_FIELDS]
                    if known:
                        st.dataframe(pd.DataFrame(known, columns=["项目", "内容"]), hide_index=True, width="stretch")
                    else:
                        st.caption("未填写企业情况。")

                summary = visit["result_summary"] if isinstance(visit["result_summary"], dict) else {}
                with st.expander(f"当时的匹配结果（基准日 {summary.get('as_of') or '未记录'}）"):
                    policies = [p for p in summary.get("policies", []) if p.get("status") != "ineligible"]
                    if policies:
                        st.dataframe(pd.DataFrame([{
                            "政策": p.get("short_title") or p.get("title"),
                            "结论": STATUS_ZH.get(p.get("status"), p.get("status")),
                            "有效性": VALIDITY_ZH.get(p.get("validity"), p.get("validity") or ""),
                            "截止日期": p.get("deadline") or "",
                            "估计金额(万元)": amount_text(p.get("amount_wan")),
                        } for p in policies]), hide_index=True, width="stretch")
                    else:
                        st.caption("当时没有可申请或可能符合的政策。")
                    near = summary.get("near_misses") or []
                    if near:
                        st.markdown("**差一点就能享受**\n" + "\n".join(
                            f"- {md(n.get('summary') or n.get('title'))}" for n in near[:5]))

                with st.form(f"{KEY}_update_{visit['id']}", border=False, enter_to_submit=False):
                    st.markdown("**更新跟进情况**")
                    u_notes = st.text_area("走访情况", value=visit["notes"], max_chars=vs.MAX_NOTES,
                                           key=f"{KEY}_u_notes_{visit['id']}")
                    u1, u2, u3 = st.columns([2, 1, 1])
                    u_follow = u1.text_area("跟进事项", value=visit["follow_up"], max_chars=vs.MAX_FOLLOW_UP,
                                            key=f"{KEY}_u_follow_{visit['id']}")
                    u_due = u2.date_input("跟进期限", value=visit["follow_up_due"], key=f"{KEY}_u_due_{visit['id']}")
                    u_status = u3.radio("状态", list(vs.STATUSES), index=vs.STATUSES.index(visit["status"]),
                                        format_func=vs.VISIT_STATUS_ZH.get, key=f"{KEY}_u_status_{visit['id']}")
                    if st.form_submit_button("更新记录", key=f"{KEY}_update_btn_{visit['id']}", icon=":material/save:"):
                        ok, updated = db_call(vs.update_visit, db, visit["id"], notes=u_notes, follow_up=u_follow,
                                              follow_up_due=u_due, status=u_status)
                        if ok and updated:
                            st.session_state[f"{KEY}_flash"] = f"已更新走访记录 #{visit['id']}。"
                            st.rerun()  # the list above shows the new status at once

                # The brief of a reopened visit: the saved profile matched again at the saved 基准日
                # (for materials and contacts); if the profile no longer validates, the saved summary.
                try:
                    brief_result = run_match(profile, as_of=summary.get("as_of"))
                except (ProfileError, ValueError):
                    brief_result = summary
                brief = build_brief(profile or {"name": visit["firm_name"]}, brief_result,
                                    advisor=visit["advisor"], notes=visit["notes"], follow_up=visit["follow_up"],
                                    visit_date=visit["visit_date"], follow_up_due=visit["follow_up_due"])
                if brief is not None:
                    st.download_button("下载这次走访的简报（Word）", data=brief, mime=DOCX_MIME,
                                       icon=":material/download:", key=f"{KEY}_brief_{visit['id']}",
                                       file_name=file_name(visit["firm_name"], visit["visit_date"]))
