"""走访助手: an advisor visiting a firm matches its profile, records the visit and what comes
next, hands over a one-page Word brief, and finds past visits by firm or town.

The page only calls the package: ``policy_match.visits`` stores visits, ``policy_match.brief``
writes the brief, ``app_pages.common`` holds the shared profile form and result cards.
Database problems are shown as a message, never as a traceback; user text is shown with
``st.text`` / escaped markdown, never as HTML.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import streamlit as st

from app_pages.cards import render_results
from app_pages.common import md, profile_form, render_profile_problems, run_match, show_unexpected_error
from policy_match import ProfileError
from policy_match import visits as vs
from policy_match.brief import amount_text, visit_brief_docx
from policy_match.fields import PROFILE_FIELDS, TOWNS, format_value
from policy_match.wording import STATUS_ZH, VALIDITY_ZH
from policy_match.xml_text import xml_safe

KEY = "vis"
CURRENT = f"{KEY}_current"
ALL_TOWNS = "全部镇街"
NEW_FIRM = 0  # the picker's "blank form" option
BEIJING = timezone(timedelta(hours=8))
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


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
        st.error(f"走访记录库暂时无法使用：{exc}。仍可匹配政策和下载简报，但无法保存或查看走访记录。", icon="⚠️")
        return None


def db_call(fn, *args, **kwargs) -> tuple[bool, Any]:
    """Run a store function; on failure show the reason and return ``(False, None)``."""
    try:
        return True, fn(*args, **kwargs)
    except (vs.StoreError, vs.VisitError) as exc:
        st.error(str(exc), icon="⚠️")
        return False, None


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
    for key in (CURRENT, f"{KEY}_notes", f"{KEY}_follow_up", f"{KEY}_due"):
        st.session_state.pop(key, None)


def visit_label(v: dict[str, Any]) -> str:
    return f"#{v['id']} {v['visit_date']} {v['firm_name']}（{v['town'] or '镇街未填'}）"


# -- page ---------------------------------------------------------------------------------

st.title("走访助手")
st.markdown("上门走访企业时使用：填写或调出企业情况 → 匹配政策 → 记录走访情况和跟进事项 → "
            "下载一页纸的《惠企政策走访简报》留给企业。历史走访记录可按企业和镇街查询。")

db = get_db()

# 1. which firm
st.subheader("1. 选择企业")
firms: list[dict[str, Any]] = []
if db is not None:
    ok, got = db_call(vs.latest_visits_by_firm, db)
    firms = got or []
by_id = {v["id"]: v for v in firms}
c1, c2 = st.columns([2, 1])
picked = c1.selectbox(
    "调出已走访企业的上次信息，或从空白表单开始",
    [NEW_FIRM, *by_id],
    format_func=lambda i: "新企业（空白表单）" if i == NEW_FIRM
    else f"{by_id[i]['firm_name']}（{by_id[i]['town'] or '镇街未填'}，上次走访 {by_id[i]['visit_date']}）",
    key=f"{KEY}_pick",
    on_change=start_over,
)
as_of = c2.date_input("政策基准日", value=date.today(), key=f"{KEY}_as_of",
                      help="按这一天判断政策是否在有效期内（默认今天）")
defaults = by_id[picked]["profile"] if picked in by_id else {}

# 2. profile and match
st.subheader("2. 企业情况与政策匹配")
raw = profile_form(f"{KEY}_p{picked}" if picked in by_id else f"{KEY}_new", defaults)
if raw is not None:
    previous = st.session_state.get(CURRENT) or {}
    # Matching the same firm again during one visit (a corrected figure) keeps the saved record:
    # the next "保存" updates it rather than adding a second visit.
    same_firm = previous.get("saved_id") and (previous.get("raw") or {}).get("name") == raw.get("name")
    try:
        st.session_state[CURRENT] = {"raw": raw, "result": run_match(raw, as_of=as_of),
                                     "saved_id": previous["saved_id"] if same_firm else None}
    except ProfileError as exc:
        st.session_state[CURRENT] = {"problems": exc.problems, "saved_id": previous.get("saved_id"),
                                     "raw": previous.get("raw")}

current = st.session_state.get(CURRENT)
if current is None:
    st.info("填写企业情况后点击“开始匹配”。")
elif "problems" in current:
    render_profile_problems(current["problems"])
else:
    result = current["result"]
    render_results(result, key_prefix=f"{KEY}_res")

    # 3. the visit record
    st.subheader("3. 走访记录")
    with st.form(f"{KEY}_record_form", border=True):
        r1, r2 = st.columns(2)
        advisor = r1.text_input("走访人", key=f"{KEY}_advisor", max_chars=vs.MAX_ADVISOR, placeholder="姓名（选填）")
        visit_day = r2.date_input("走访日期", value=date.today(), key=f"{KEY}_visit_date")
        notes = st.text_area("走访情况", key=f"{KEY}_notes", max_chars=vs.MAX_NOTES, height=120,
                             placeholder="企业反映的情况、诉求和意向，例如：计划明年上 MES，关心技改补助申报时间")
        r3, r4 = st.columns([2, 1])
        follow_up = r3.text_area("跟进事项", key=f"{KEY}_follow_up", max_chars=vs.MAX_FOLLOW_UP, height=80,
                                 placeholder="例如：下周送申报材料清单；联系市工信局确认申报时间")
        due = r4.date_input("跟进期限", value=None, key=f"{KEY}_due", help="选填")
        save = st.form_submit_button("保存走访记录", type="primary", icon="💾", key=f"{KEY}_save")
    if save:
        if db is None:
            st.error("走访记录库暂时无法使用，本次记录未保存。", icon="⚠️")
        elif not (current["raw"].get("name") or "").strip():
            st.error("保存走访记录需要企业名称：请在上方表单“基本信息”中填写企业名称后重新点击“开始匹配”。", icon="⚠️")
        else:
            try:
                visit = vs.visit_from_match(current["raw"], result, advisor=advisor, visit_date=visit_day,
                                            notes=notes, follow_up=follow_up, follow_up_due=due)
            except vs.VisitError as exc:
                st.error(f"无法保存：{exc}", icon="⚠️")
            else:
                ok, saved = True, None
                if current.get("saved_id"):  # saved already: saving again updates, never duplicates
                    ok, saved = db_call(vs.replace_visit, db, current["saved_id"], visit)
                if ok and saved is None:  # not saved yet (or deleted meanwhile)
                    ok, new_id = db_call(vs.save_visit, db, visit)
                    current["saved_id"] = new_id if ok else None
    if current.get("saved_id"):
        st.success(f"已保存走访记录（编号 {current['saved_id']}）。可在下方“历史走访记录”中查看；"
                   "修改后再次点击“保存走访记录”会更新这条记录。", icon="✅")

    brief = build_brief(
        result.get("profile") or current["raw"], result,
        advisor=st.session_state.get(f"{KEY}_advisor"), notes=st.session_state.get(f"{KEY}_notes"),
        follow_up=st.session_state.get(f"{KEY}_follow_up"),
        visit_date=st.session_state.get(f"{KEY}_visit_date") or date.today(),
        follow_up_due=st.session_state.get(f"{KEY}_due"),
    )
    if brief is not None:
        st.download_button("下载走访简报（Word）", data=brief, mime=DOCX_MIME, icon="📄", key=f"{KEY}_brief_current",
                           file_name=file_name(current["raw"].get("name"), st.session_state.get(f"{KEY}_visit_date")))
    st.caption("简报含企业概况、可申请和可能符合的政策、差一点就能享受的事项、需准备的材料、联系方式和本次走访记录"
               "（走访情况和跟进事项在保存后写入简报）。")


# 4. history
st.subheader("4. 历史走访记录")
if db is None:
    st.stop()

f1, f2 = st.columns([2, 1])
firm_filter = f1.text_input("按企业名称或信用代码筛选", key=f"{KEY}_filter_firm", placeholder="输入名称的一部分")
town_filter = f2.selectbox("按镇街筛选", [ALL_TOWNS, *TOWNS], key=f"{KEY}_filter_town")
ok, rows = db_call(vs.list_visits, db, firm=firm_filter or None,
                   town=None if town_filter == ALL_TOWNS else town_filter)
rows = rows or []

if not rows:
    st.info("没有符合条件的走访记录。" if (firm_filter or town_filter != ALL_TOWNS) else "还没有走访记录。")
else:
    table = pd.DataFrame([{
        "编号": v["id"],
        "走访日期": v["visit_date"],
        "企业名称": v["firm_name"],
        "镇街": v["town"] or "",
        "走访人": v["advisor"] or "",
        "可申请": (v["result_summary"] or {}).get("counts", {}).get("eligible"),
        "可能符合": (v["result_summary"] or {}).get("counts", {}).get("possible"),
        "跟进事项": v["follow_up"],
        "跟进期限": v["follow_up_due"],
        "状态": vs.VISIT_STATUS_ZH.get(v["status"], v["status"]),
    } for v in rows])
    st.dataframe(table, hide_index=True, width="stretch", key=f"{KEY}_history_table")
    st.caption(f"共 {len(rows)} 条，最近的走访在前。")

with st.expander("按镇街汇总"):
    ok, towns = db_call(vs.visits_by_town, db)
    if towns:
        st.dataframe(pd.DataFrame([{
            "镇街": t["town"] or "未填写", "走访次数": t["visits"], "走访企业数": t["firms"],
            "待跟进": t["open"], "跟进已逾期": t["overdue"], "最近走访": t["last_visit"],
        } for t in towns]), hide_index=True, width="stretch")
    elif ok:
        st.caption("还没有走访记录。")

# 5. reopen one visit
if flash := st.session_state.pop(f"{KEY}_flash", None):
    st.success(flash, icon="✅")
row_ids = {v["id"]: v for v in rows}
opened_id = st.selectbox("打开一条走访记录", [None, *row_ids], key=f"{KEY}_open",
                         format_func=lambda i: "（请选择）" if i is None else visit_label(row_ids[i]))
if opened_id is not None:
    ok, visit = db_call(vs.get_visit, db, opened_id)
    if ok and visit is None:
        st.warning(f"编号 {opened_id} 的走访记录不存在。")
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

            profile = visit["profile"] or {}
            with st.expander("当时填写的企业情况"):
                known = [(PROFILE_FIELDS[k].label, format_value(k, v)) for k, v in profile.items()
                         if k in PROFILE_FIELDS]
                if known:
                    st.dataframe(pd.DataFrame(known, columns=["项目", "内容"]), hide_index=True, width="stretch")
                else:
                    st.caption("未填写企业情况。")

            summary = visit["result_summary"] or {}
            with st.expander(f"当时的匹配结果（基准日 {summary.get('as_of') or '未记录'}）", expanded=True):
                policies = [p for p in summary.get("policies", []) if p["status"] != "ineligible"]
                if policies:
                    st.dataframe(pd.DataFrame([{
                        "政策": p["title"], "结论": STATUS_ZH.get(p["status"], p["status"]),
                        "有效性": VALIDITY_ZH.get(p.get("validity"), p.get("validity") or ""),
                        "估计金额(万元)": amount_text(p.get("amount_wan")),
                    } for p in policies]), hide_index=True, width="stretch")
                else:
                    st.caption("当时没有可申请或可能符合的政策。")
                near = summary.get("near_misses") or []
                if near:
                    st.markdown("**差一点就能享受**\n" + "\n".join(f"- {md(n.get('summary') or n.get('title'))}"
                                                                 for n in near[:5]))

            with st.form(f"{KEY}_update_{visit['id']}", border=False):
                st.markdown("**更新跟进情况**")
                u_notes = st.text_area("走访情况", value=visit["notes"], max_chars=vs.MAX_NOTES,
                                       key=f"{KEY}_u_notes_{visit['id']}")
                u1, u2, u3 = st.columns([2, 1, 1])
                u_follow = u1.text_area("跟进事项", value=visit["follow_up"], max_chars=vs.MAX_FOLLOW_UP,
                                        key=f"{KEY}_u_follow_{visit['id']}")
                u_due = u2.date_input("跟进期限", value=visit["follow_up_due"], key=f"{KEY}_u_due_{visit['id']}")
                u_status = u3.radio("状态", list(vs.STATUSES), index=vs.STATUSES.index(visit["status"]),
                                    format_func=vs.VISIT_STATUS_ZH.get, key=f"{KEY}_u_status_{visit['id']}")
                if st.form_submit_button("更新记录", key=f"{KEY}_update_btn_{visit['id']}"):
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
                st.download_button("下载这次走访的简报（Word）", data=brief, mime=DOCX_MIME, icon="📄",
                                   key=f"{KEY}_brief_{visit['id']}",
                                   file_name=file_name(visit["firm_name"], visit["visit_date"]))
