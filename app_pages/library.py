"""政策库: browse, search and read every policy record of the knowledge base."""

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
from policy_match.matcher import validity_at
from policy_match.schema import PolicyRecord
from policy_match.wording import VALIDITY_ZH

KEY = "lib"
SEARCH_MIN_SCORE = 0.05  # TF-IDF scores below this are character-level noise

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


def search(query: str) -> dict[str, float]:
    """policy_id → relevance: the TF-IDF item index, plus plain substring hits in the text."""
    hits: dict[str, float] = {}
    for item_id, score in matcher.index_.search(query, k=len(matcher.pairs_)):
        if score >= SEARCH_MIN_SCORE:
            pid = item_id.split("/", 1)[0]
            hits[pid] = max(hits.get(pid, 0.0), score)
    q = query.strip().lower()
    for p in kb.policies:
        text = " ".join([p.policy_id, p.title, p.short_title or "", p.summary, p.doc_number or "", p.issuer,
                         *(f"{it.title} {it.description} {' '.join(it.keywords)}" for it in p.items)]).lower()
        if q in text:
            hits[p.policy_id] = hits.get(p.policy_id, 0.0) + 1.0
    return hits


rows = []
for p in kb.policies:
    validity, note = validity_at(p, today)
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

query = st.text_input("关键词搜索", key=f"{KEY}_query", placeholder="例如：数字化、跨境电商、上市、租金补贴、贴息")
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
if query.strip():
    hits = search(query)
    view = view[view["政策编号"].isin(hits)].copy()
    view["_score"] = view["政策编号"].map(hits)
    view = view.sort_values("_score", ascending=False)

st.caption(f"筛选结果：{len(view)} / {len(table)} 项")
shown_cols = ["政策名称", "简称", "文号", "级别", "主管部门", "2022-02-15 政策包", "今日有效性", "支持方式", "事项数",
              "政策编号"]
st.dataframe(view[shown_cols], hide_index=True, key=f"{KEY}_table", width="stretch")

if view.empty:
    st.info("没有符合条件的政策，请放宽筛选条件或换个关键词。")
    st.stop()

titles = dict(zip(view["政策编号"], view["政策名称"], strict=True))
pid = st.selectbox("查看详情", list(titles), format_func=lambda i: titles[i], key=f"{KEY}_detail")
policy = kb.policy(pid)
validity, note = validity_at(policy, today)

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
        f"**有效期**：{md(v.start or '未公开')} 至 {md(v.end or '未公开')}" + (f"；{md(v.note)}" if v.note else ""),
        f"**今日状态**：{VALIDITY_ZH[validity]}（{md(note)}）",
        f"**主管部门**：{md('；'.join(departments(policy)))}",
    ]
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
                     hide_index=True, width="stretch", key=f"{KEY}_bundles")

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
            if it.period.start or it.period.end or it.period.note:
                money.append(f"**执行期**：{md(it.period.start or '')}–{md(it.period.end or '')} {md(it.period.note or '')}")
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
            money.append("**来源**：" + "　".join(link(s) for s in it.sources))
            st.markdown("  \n".join(money))

    if policy.unknowns:
        st.markdown("#### 公开资料未说明的事项\n" + "\n".join(f"- {md(u)}" for u in policy.unknowns))
    st.markdown("#### 来源\n" + "\n".join(f"- {link(s, s)}" for s in policy.sources))
