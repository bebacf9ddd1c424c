"""政策库: browse, search and read every policy record of the knowledge base."""

import re
import zlib
from datetime import date

import pandas as pd
import streamlit as st

from app_pages.common import (
    APPLICANT_ZH,
    CONFIDENCE_ZH,
    LEVEL_ZH,
    PACKAGE_ZH,
    VALIDITY_COLOR,
    get_knowledge_base,
    get_matcher,
    link,
    md,
)
from policy_match.schema import Period, PolicyRecord, SupportItem
from policy_match.sources import ranked
from policy_match.validity import item_validity, record_validity
from policy_match.wording import SOURCE_CLASS_ZH, VALIDITY_ZH

KEY = "lib"
GOVERNMENT_SIDE = {"government", "town_government"}  # items a firm does not apply for itself
RELATED_MIN = 0.15  # TF-IDF alone, without the words themselves: only clearly related items
_TERM_SPLIT = re.compile(r"[\s,，、;；/]+")

kb = get_knowledge_base()
matcher = get_matcher()
today = date.today()
if kb.problems:  # the broken files are skipped; say so instead of letting a policy vanish silently
    broken = sorted({p.file for p in kb.problems})
    shown = "、".join(md(f) for f in broken[:5]) + (" 等" if len(broken) > 5 else "")
    st.warning(f"政策数据中有 {len(broken)} 个文件存在问题（{shown}），已跳过，其余政策照常使用。"
               "管理员可运行 `policy-match validate` 查看每个问题所在的文件和字段。", icon=":material/warning:")


def departments(p: PolicyRecord) -> list[str]:
    depts = [p.department, *(it.department for it in p.items)]
    return list(dict.fromkeys(d for d in depts if d)) or ["未注明"]


def _in_force(policy: PolicyRecord, item: SupportItem) -> bool:
    return item_validity(policy, item, today).validity != "expired"


def search(query: str, *, include_all: bool) -> dict[str, float]:
    """policy_id → relevance for a search, by what a person means.

    An item that contains every word of the query (in its title or keywords, or in its
    description or its policy's title, summary, 文号, issuer) ranks above one that is only similar
    (TF-IDF, which also counts shared characters: "独立站" is not "数字贷"); similarity alone must
    be clear (``RELATED_MIN``). Unless ``include_all``, items that have ended and items for
    government bodies are left out, so a policy shows only through items a firm can apply for."""
    terms = [t for t in _TERM_SPLIT.split(query.strip().lower()) if t]
    if not terms:
        return {}
    similarity = dict(matcher.index_.search(query, k=len(matcher.pairs_)))
    hits: dict[str, float] = {}
    for policy, item in kb.items():
        if not include_all and (item.applicant in GOVERNMENT_SIDE or not _in_force(policy, item)):
            continue
        heading = " ".join([item.title, *item.keywords, policy.title, policy.short_title or ""]).lower()
        body = " ".join([item.description, policy.summary, policy.doc_number or "", policy.issuer,
                         policy.policy_id]).lower()
        tfidf = similarity.get(item.item_id, 0.0)
        if all(t in heading or t in body for t in terms):
            score = 1.0 + sum(2 if t in heading else 1 for t in terms) / len(terms) + tfidf
        elif tfidf >= RELATED_MIN:
            score = tfidf
        else:
            continue
        hits[policy.policy_id] = max(hits.get(policy.policy_id, 0.0), score)
    return hits


rows = []
for p in kb.policies:
    validity = record_validity(p, today).validity
    rows.append({
        "政策编号": p.policy_id,
        "政策名称": p.title,
        "简称": p.short_title or "",
        "文号": p.doc_number or "未公开",
        "级别": LEVEL_ZH[p.level] + (f"（{'、'.join(p.town_scope)}）" if p.town_scope else ""),
        "主管部门": "；".join(departments(p)),
        "2022-02-15 政策包": PACKAGE_ZH[p.package_2022_02_15],
        "今日有效性": VALIDITY_ZH[validity],
        "支持方式": "、".join(dict.fromkeys(it.support_type for it in p.items)),
        "事项数": len(p.items),
        "_package": p.package_2022_02_15, "_level": p.level, "_validity": validity,
        "_depts": departments(p), "_types": {it.support_type for it in p.items},
    })
table = pd.DataFrame(rows)

st.title("政策库")
st.markdown(f"收录 **{len(kb.policies)}** 项政策（含实施细则），共 **{len(matcher.pairs_)}** 个支持事项。"
            f"有效性按今天（{today.isoformat()}）判断。")

query = st.text_input("关键词搜索", key=f"{KEY}_query", placeholder="例如：数字化、独立站、上市、租金补贴、贴息（输入后按回车）")
include_all = st.toggle("搜索时也包括已结束的政策和面向政府部门的事项", value=False, key=f"{KEY}_include_all",
                        help="默认只搜索企业现在还可以申请（或有效性待确认）的支持事项")
f1, f2, f3 = st.columns(3)
package = f1.multiselect("2022-02-15 政策包", list(PACKAGE_ZH), format_func=PACKAGE_ZH.get, key=f"{KEY}_package",
                         placeholder="全部")
level = f2.multiselect("级别", list(LEVEL_ZH), format_func=LEVEL_ZH.get, key=f"{KEY}_level", placeholder="全部")
validity_sel = f3.multiselect("今日有效性", list(VALIDITY_ZH), format_func=VALIDITY_ZH.get, key=f"{KEY}_validity",
                              placeholder="全部")
f4, f5 = st.columns(2)
all_depts = sorted({d for ds in table["_depts"] for d in ds})
dept = f4.selectbox("主管部门", ["全部", *all_depts], key=f"{KEY}_department")
all_types = sorted({t for ts in table["_types"] for t in ts})
types = f5.multiselect("支持方式", all_types, key=f"{KEY}_support_type", placeholder="全部")

mask = pd.Series(True, index=table.index)
if package:
    mask &= table["_package"].isin(package)
if level:
    mask &= table["_level"].isin(level)
if validity_sel:
    mask &= table["_validity"].isin(validity_sel)
if dept != "全部":
    mask &= table["_depts"].map(lambda ds: dept in ds)
if types:
    mask &= table["_types"].map(lambda ts: bool(ts & set(types)))
view = table[mask]
hidden = 0
if query.strip():
    hits = search(query, include_all=include_all)
    if not include_all:
        hidden = len(set(search(query, include_all=True)) & set(view["政策编号"]) - set(hits))
    view = view[view["政策编号"].isin(hits)].copy()
    view["_score"] = view["政策编号"].map(hits)
    view = view.sort_values("_score", ascending=False, kind="stable")

st.caption(f"筛选结果：{len(view)} / {len(table)} 项"
           + (f"；另有 {hidden} 项只因已结束或面向政府部门的事项与关键词相关，未列出（打开上面的开关即可查看）"
              if hidden else ""))
# Fewer, sized columns, so that all of them fit at 1440 px; 文号, the 2022-02-15 package and the
# id are in the detail below (and in the filters).
SHOWN_COLUMNS = ["政策名称", "今日有效性", "级别", "主管部门", "支持方式", "事项数"]
COLUMN_CONFIG = {
    "政策名称": st.column_config.TextColumn("政策名称", width=330),
    "今日有效性": st.column_config.TextColumn("今日有效性", width=100),
    "级别": st.column_config.TextColumn("级别", width=100),
    "主管部门": st.column_config.TextColumn("主管部门", width=180),
    "支持方式": st.column_config.TextColumn("支持方式", width=120),
    "事项数": st.column_config.NumberColumn("事项数", width=56),
}
ids = list(view["政策编号"])
DETAIL, IDS = f"{KEY}_detail", f"{KEY}_ids"
if st.session_state.get(IDS) != ids:  # a new search or filter: the detail follows to its first policy
    st.session_state[IDS] = ids
    if ids:
        st.session_state[DETAIL] = ids[0]
table_key = f"{KEY}_table_{zlib.crc32('|'.join(ids).encode()):08x}"  # a new list starts unselected


def follow_table_row() -> None:
    """A row clicked in the table opens its policy below."""
    picked = st.session_state[table_key]["selection"]["rows"]
    if picked and picked[0] < len(st.session_state[IDS]):
        st.session_state[DETAIL] = st.session_state[IDS][picked[0]]


st.dataframe(view, hide_index=True, key=table_key, width="stretch", column_order=SHOWN_COLUMNS,
             column_config=COLUMN_CONFIG, on_select=follow_table_row, selection_mode="single-row")

if view.empty:
    st.info("没有符合条件的政策，请放宽筛选条件或换个关键词。")
    st.stop()

titles = dict(zip(view["政策编号"], view["政策名称"], strict=True))
pid = st.selectbox("查看详情（或点上表中的一行）", ids, format_func=lambda i: titles[i], key=DETAIL)
policy = kb.policy(pid)
status = record_validity(policy, today)
validity, note = status.validity, status.note


def period_text(period: Period) -> str | None:
    """"2022-01-01 至 2024-12-31", "自 2023-02-16 起", "至 2025-12-31 止"; ``None`` when neither end is
    documented (the validity note then says what is known, never "未公开 至 未公开")."""
    start, end = period.start, period.end
    if start and end:
        return f"{start} 至 {end}"
    if start:
        return f"自 {start} 起（截止日未公开）"
    if end:
        return f"至 {end} 止（起始日未公开）"
    return None


def sources_lines(sources: list[str]) -> list[str]:
    """Sources best class first (official pages, then copies, news, other sites), each with its class."""
    return [f"{link(s.source, s.source if s.is_url else None)}（{SOURCE_CLASS_ZH.get(s.source_class, '未分类')}）"
            for s in ranked(sources)]

with st.container(border=True, key=f"{KEY}_detail_card"):
    st.markdown(f"### {md(policy.title)}")
    badges = [f":{VALIDITY_COLOR[validity]}-badge[{VALIDITY_ZH[validity]}]", f":blue-badge[{LEVEL_ZH[policy.level]}]"]
    if policy.package_2022_02_15 != "no":
        badges.append(f":violet-badge[2022-02-15 政策包：{PACKAGE_ZH[policy.package_2022_02_15]}]")
    st.markdown(" ".join(badges))
    st.markdown(md(policy.summary))
    v = policy.validity
    facts = [
        f"**政策编号**：{md(policy.policy_id)}",
        f"**文号**：{md(policy.doc_number or '未公开')}" + (f"（{md(policy.doc_number_note)}）" if policy.doc_number_note else ""),
        f"**发文单位**：{md(policy.issuer)}",
        f"**发布日期**：{md(policy.issued or '未公开')}" + (f"（{md(policy.issued_note)}）" if policy.issued_note else ""),
    ]
    if period_text(v):
        facts.append(f"**有效期**：{md(period_text(v))}" + (f"；{md(v.note)}" if v.note else ""))
    elif v.note:
        facts.append(f"**有效期说明**：{md(v.note)}")
    facts.append(f"**今日状态**：{VALIDITY_ZH[validity]}（{md(note)}）")
    if status.deadline:
        facts.append(f"**截止日期**：{status.deadline.isoformat()}"
                     + (f"（{md(status.deadline_warning)}）" if status.deadline_warning else ""))
    facts.append(f"**主管部门**：{md('；'.join(departments(policy)))}")
    if policy.contact:
        facts.append(f"**联系方式**：{md(policy.contact.text())}")
    if policy.town_scope:
        facts.append(f"**适用镇街**：{md('、'.join(policy.town_scope))}")
    facts.append(f"**2022-02-15 政策包**：{PACKAGE_ZH[policy.package_2022_02_15]}"
                 + (f"（{md(policy.package_note)}）" if policy.package_note else ""))
    st.markdown("  \n".join(facts))

    if policy.bundles:
        st.markdown("#### 包含的文件")
        st.dataframe(pd.DataFrame([{"文件": b.title, "文号": b.doc_number or "未公开", "发文单位": b.issuer or "",
                                    "日期": b.date or "", "说明": b.note or ""} for b in policy.bundles]),
                     hide_index=True, width="stretch", key=f"{KEY}_bundles", column_config={
                         "文件": st.column_config.TextColumn(width=300), "文号": st.column_config.TextColumn(width=140),
                         "发文单位": st.column_config.TextColumn(width=140), "日期": st.column_config.TextColumn(width=90),
                         "说明": st.column_config.TextColumn(width=230)})

    st.markdown(f"#### 支持事项（{len(policy.items)} 项）")
    for it in policy.items:
        with st.expander(f"{md(it.number)} {md(it.title)} · {it.support_type}", expanded=False):
            st.markdown(md(it.description))
            conds = []
            for c in it.conditions:
                kind = "（排除条件）" if c.kind == "exclusion" else ""
                check = f" —— 需核实：{md(c.check)}" if c.check else ""
                auto = "" if c.rule is not None else "（需人工核实）"
                conds.append(f"- {kind}{md(c.text)}{auto}{check} · 来源：{link(c.source, c.clause)}")
            st.markdown("**申请条件**\n" + "\n".join(conds) if conds else "**申请条件**：未列出")
            a = it.amount
            money = [f"**金额**：{md(a.text)}"]
            if a.note:
                money.append(f"**金额说明**：{md(a.note)}")
            money += [f"**更高档**：{md(u.text)}" for u in a.upgrades]
            if it.stacking_note:
                money.append(f"**叠加规则**：{md(it.stacking_note)}")
            item_status = item_validity(policy, it, today, status)
            if period_text(it.period):
                money.append(f"**执行期**：{md(period_text(it.period))}" + (f"；{md(it.period.note)}" if it.period.note else ""))
            elif it.period.note:
                money.append(f"**执行期说明**：{md(it.period.note)}")
            if item_status.note != note:  # the item's own validity, where it differs from the policy's
                money.append(f"**本事项今日状态**：{VALIDITY_ZH[item_status.validity]}（{md(item_status.note)}）")
            money.append(f"**申报主体**：{APPLICANT_ZH.get(it.applicant, it.applicant)}")
            h = it.how_to_apply
            if h.steps:
                money.append("**申报步骤**：" + "；".join(f"{i}. {md(s)}" for i, s in enumerate(h.steps, 1)))
            if h.materials:
                money.append("**申报材料**：" + "；".join(md(m) for m in h.materials))
            for value, label in ((h.window, "申报时间"), (h.channel, "申报渠道"), (h.note, "说明")):
                if value:
                    money.append(f"**{label}**：{md(value)}")
            if it.department:
                money.append(f"**受理部门**：{md(it.department)}")
            money.append(f"**信息可信度**：{CONFIDENCE_ZH[it.confidence]}")
            if it.missing:
                money.append(f"**尚未公开**：{md(it.missing)}")
            money.append("**来源**：" + "　".join(sources_lines(it.sources)))
            st.markdown("  \n".join(money))

    if policy.unknowns:
        st.markdown("#### 公开资料未说明的事项\n" + "\n".join(f"- {md(u)}" for u in policy.unknowns))
    st.markdown("#### 来源\n" + "\n".join(f"- {line}" for line in sources_lines(policy.sources)))
