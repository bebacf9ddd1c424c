"""Result rendering for the pages: the advice first, then the evidence.

Order of what a firm reads: the summary (what to act on, the money it can count on and the "up
to" of competitive awards, deadlines close by), the recommended policies as full cards, what is
one manual check away, the near misses it could close, the services open to everyone (one line
each), the other policies collapsed with the facts that would decide each, and the ruled-out ones
on request. Every piece of user text goes through ``md``; nothing is rendered as HTML.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from app_pages.common import APPLICANT_ZH, CONFIDENCE_ZH, LEVEL_ZH, VALIDITY_COLOR, link, md
from policy_match.advice import NOTHING_POINTS
from policy_match.wording import (
    BASIS_ZH,
    FIT_ZH,
    SOURCE_CLASS_ZH,
    STATUS_ZH,
    VALIDITY_ZH,
    amount_range,
    by_fit,
    deadline_warnings,
    deciding_facts,
    departments,
    fmt_wan,
    money_lines,
    validity_line,
)

FIT_COLOR = {"recommended": "green", "general": "blue", "other": "gray", "ruled_out": "gray"}
STATUS_COLOR = {"eligible": "green", "possible": "orange", "ineligible": "gray"}
# Material icons ship with Streamlit (no emoji font or network needed).
STATUS_ICON = {
    "eligible": ":green[:material/check_circle:]",
    "possible": ":orange[:material/help:]",
    "ineligible": ":gray[:material/block:]",
}
VERDICT_ICON = {"met": ":green[:material/check:]", "unmet": ":red[:material/close:]",
                "unknown": ":orange[:material/question_mark:]"}
VERDICT_ZH = {"met": "满足", "unmet": "不满足", "unknown": "待确认"}


def _sources_line(entry: dict[str, Any], limit: int = 4) -> str:
    classes = entry.get("source_classes") or [{"source": s, "class": ""} for s in entry.get("sources", [])]
    parts = [f"{link(c['source'])}（{SOURCE_CLASS_ZH.get(c['class'], '未分类')}）" for c in classes[:limit]]
    weak = classes and all(c["class"] == "other" for c in classes)
    return "　".join(parts) + ("　——仅见非官方网站转载，请以主管部门文件为准" if weak else "")


def _condition_line(c: dict[str, Any]) -> str:
    icon = VERDICT_ICON.get(c["verdict"], "?")
    kind = {"exclusion": "（排除条件）", "applicant": "（申报主体）"}.get(c.get("kind"), "")
    src = f" · 来源：{link(c['source'], c.get('clause'))}" if c.get("source") else ""
    reason = f" —— {md(c['reason'])}" if c.get("reason") and c["reason"] != c["text"] else ""
    return f"- {icon} {VERDICT_ZH.get(c['verdict'], '')}：{kind}{md(c['text'])}{reason}{src}"


def _how_to_apply(how: dict[str, Any]) -> list[str]:
    blocks = []
    if how.get("steps"):
        blocks.append("**怎么申请**\n" + "\n".join(f"{i}. {md(s)}" for i, s in enumerate(how["steps"], 1)))
    lines = []
    if how.get("materials"):
        lines.append("**申报材料**：" + "；".join(md(m) for m in how["materials"]))
    for key, label in (("window", "申报时间"), ("channel", "申报渠道"), ("note", "说明")):
        if how.get(key):
            lines.append(f"**{label}**：{md(how[key])}")
    if lines:
        blocks.append("  \n".join(lines))
    return blocks


def render_item(item: dict[str, Any]) -> None:
    """One support item: what it is, each condition with the firm's value and its clause, the
    amount with its formula, validity, how to apply, whom to call, sources (official first)."""
    st.markdown(md(item["description"]))
    if item["conditions"]:
        st.markdown("**条件逐条核对**\n\n" + "\n".join(_condition_line(c) for c in item["conditions"]))
    else:
        st.markdown("**条件**：政策未列出企业须满足的条件")
    a = item.get("amount_wan")
    money = []
    if a:
        money.append(f"**金额**：{amount_range(a)}（{BASIS_ZH.get(a.get('basis'), '')}）")
        money.append(f"**计算方式**：{md(a.get('formula', ''))}")
        if a.get("note"):
            money.append(f"**说明**：{md(a['note'])}")
        if a.get("potential_high"):
            money.append(f"**若满足全部条件**：最高可达 {fmt_wan(a['potential_high'])}")
    elif item.get("amount_note"):
        money.append(f"**金额**：需补充信息后估算（{md(item['amount_note'])}）")
    else:
        money.append("**金额**：金额未公开或非资金类支持")
    money.append(f"**政策原文**：{md(item['amount_text'])}")
    money.append(f"**有效期**：{md(validity_line(item))}")
    st.markdown("  \n".join(money))
    blocks = _how_to_apply(item.get("how_to_apply") or {})
    dept = [f"**受理部门**：{md(item['department'])}"] if item.get("department") else []
    if item.get("contact"):
        dept.append(f"**联系方式**：{md(item['contact'])}" + (f"（{md(item['contact_note'])}）" if item.get("contact_note") else ""))
    elif item.get("contact_note"):
        dept.append(f"**联系方式**：{md(item['contact_note'])}")
    if dept:
        blocks.append("  \n".join(dept))
    if blocks:
        st.markdown("\n\n".join(blocks))
    conf = [f"**信息可信度**：{CONFIDENCE_ZH.get(item['confidence'], item['confidence'])}"]
    if item.get("missing"):
        conf.append(f"**尚未公开**：{md(item['missing'])}")
    if item.get("applicant") and item["applicant"] != "enterprise":
        conf.append(f"**申报主体**：{APPLICANT_ZH.get(item['applicant'], item['applicant'])}")
    if item.get("matched_terms"):
        conf.append(f"**与贵司情况相关的词**：{md('、'.join(item['matched_terms']))}")
    conf.append("**来源**：" + _sources_line(item))
    st.markdown("  \n".join(conf))


def _item_label(item: dict[str, Any]) -> str:
    a = item.get("amount_wan")
    money = f" · {amount_range(a)}" if a and (a.get("high") or 0) > 0 else ""
    return f"{STATUS_ICON[item['status']]} {md(item['title'])} · {FIT_ZH[item['fit']]}{money}"


def render_policy_card(policy: dict[str, Any], rank: int, *, key_prefix: str) -> None:
    """A full card: the items that fit the firm first (with the amount they add up to), the
    policy's other items collapsed."""
    with st.container(border=True, key=f"{key_prefix}_card_{rank}"):
        st.markdown(f"##### {rank}. {md(policy['title'])}")
        badges = [
            f":{FIT_COLOR[policy['fit']]}-badge[{FIT_ZH[policy['fit']]}]",
            f":{STATUS_COLOR[policy['status']]}-badge[{STATUS_ZH[policy['status']]}]",
            f":{VALIDITY_COLOR[policy['validity']]}-badge[{VALIDITY_ZH[policy['validity']]}]",
            f":blue-badge[{LEVEL_ZH.get(policy.get('level'), '')}]" if policy.get("level") else "",
        ]
        if policy.get("package_2022_02_15") in {"confirmed", "probable"}:
            badges.append(":violet-badge[2022-02-15 政策包]")
        st.markdown(" ".join(b for b in badges if b))
        if policy.get("deadline_warning"):
            st.warning(md(policy["deadline_warning"]), icon=":material/schedule:")
        st.caption(f"有效期：{md(policy.get('validity_note') or '未公开')}")
        items = policy["items"]
        fitting = [it for it in items if it["fit"] == policy["fit"]] if policy["fit"] != "ruled_out" else items
        rest = [it for it in items if it not in fitting]
        amount = policy.get("amount_wan")
        info = [f"**估计金额**：{amount_range(amount)}" if amount else
                f"**估计金额**：{md(policy.get('amount_note') or '金额未公开或非资金类支持')}",
                f"**主管部门**：{md('；'.join(departments(policy, fitting)) or '未注明')}"]
        if policy.get("doc_number"):
            info.append(f"**文号**：{md(policy['doc_number'])}")
        st.markdown("　｜　".join(info))
        if amount and amount.get("note"):
            st.caption(md(amount["note"]))
        formulas = [f"- {STATUS_ICON[it['status']]} {md(it['title'])}：{amount_range(it['amount_wan'])}"
                    f"（{md(it['amount_wan'].get('formula', ''))}）"
                    for it in fitting if it["status"] != "ineligible" and it.get("amount_wan")
                    and (it["amount_wan"].get("high") or 0) > 0]
        if formulas:
            st.markdown("**金额构成**\n" + "\n".join(formulas))
        for item in fitting:
            with st.expander(_item_label(item), expanded=False):
                render_item(item)
        if rest:
            with st.expander(f"本政策的其他事项（{len(rest)} 项）", expanded=False):
                for item in rest:
                    st.markdown(f"**{_item_label(item)}**")
                    render_item(item)
        if policy.get("sources"):
            st.caption("政策来源：" + _sources_line(policy))


def render_summary(result: dict[str, Any]) -> None:
    summary = result.get("summary") or {}
    st.markdown(f"**{md(summary.get('text', ''))}**")
    money = summary.get("amount_wan") or {}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("推荐申报", f"{summary.get('recommended', 0)} 项")
    c2.metric("可以预期", fmt_wan(money.get("entitled", 0)), help="条件已全部满足、按定额或全额给予的支持")
    c3.metric("核实后可得", fmt_wan(money.get("pending_checks", 0)), help="定额或全额支持，但仍有条件需要核实")
    several = (money.get("up_to_items") or 0) > 1
    c4.metric("竞争性最高可争取", fmt_wan(money.get("up_to", 0)),
              delta=f"{money['up_to_items']} 项上限合计" if several else None, delta_color="off", delta_arrow="off",
              help=("各项“最高/不超过”额度之和，每项分别评审择优" if several else "“最高/不超过”额度")
              + "，实际以评审核定为准")
    lines = [md(x) for x in money_lines(summary) if x.startswith("未计入")]
    if lines:
        st.caption("；".join(lines))
    for w in deadline_warnings(result.get("results", [])):
        st.warning(md(w), icon=":material/schedule:")
    st.caption(f"政策基准日 {result['as_of']}。只有推荐申报的事项计入上面的金额；普遍适用的服务、其他政策和按上限估算的金额不计入。")


def render_one_check_away(result: dict[str, Any]) -> None:
    rows = result.get("one_check_away") or []
    if not rows:
        return
    st.markdown("### 只差人工核实")
    st.caption("可核对的条件都已满足，只剩下需要向主管部门或凭材料确认的事项：")
    for r in rows:
        money = f" —— 最高 {fmt_wan(r['amount_high'])}" if r.get("amount_high") else ""
        lines = [f"**{md(r['title'])}**{money}"]
        lines += [f"- 核实：{md(c)}" for c in r.get("checks", [])]
        if r.get("materials"):
            lines.append(f"- 准备材料：{md('；'.join(r['materials']))}")
        if r.get("department"):
            lines.append(f"- 受理部门：{md(r['department'])}")
        st.markdown("\n".join(lines))


def render_near_misses(result: dict[str, Any]) -> None:
    near = result.get("near_misses") or []
    if not near:
        return
    titles = {r["policy_id"]: r.get("short_title") or r["title"] for r in result["results"]}
    st.markdown("### 差一点就能享受")
    st.caption("只差一两项贵司可以争取的条件（认定、投资、营收增长、升规、上市进程），按可得金额和差距排序。")
    for n in near:
        lines = [f"**{md(n['title'])}**（{md(titles.get(n['policy_id'], n['policy_id']))}）"
                 f" —— 最高可达 {fmt_wan(n['potential_high'])}"]
        lines += [f"- :material/arrow_forward: {md(c['text'])}" for c in n.get("changes", [])]
        st.markdown("\n".join(lines))


def render_general(policies: list[dict[str, Any]]) -> None:
    if not policies:
        return
    st.markdown("### 普遍适用的服务")
    for p in policies:
        item = next((it for it in p["items"] if it["fit"] == "general"), p["items"][0])
        st.markdown(f"- **{md(p.get('short_title') or p['title'])}**：{md(item['title'])}")


def render_other(policies: list[dict[str, Any]], *, key_prefix: str) -> None:
    if not policies:
        return
    with st.expander(f"其他可了解的政策（{len(policies)} 项，暂不能直接申报：各项写明需核实的事项或原因）", expanded=False):
        for p in policies:
            facts = deciding_facts(p)
            line = f"**{md(p.get('short_title') or p['title'])}**（{md(VALIDITY_ZH[p['validity']])}）"
            st.markdown(line + ("\n" + "\n".join(f"- {md(f)}" for f in facts) if facts else ""))


def money_frame(result: dict[str, Any]) -> pd.DataFrame:
    """Money by recommended policy (万元), for the chart, largest first."""
    rows = []
    for r in result["results"]:
        a = r.get("amount_wan") or {}
        if r.get("fit") == "recommended" and (a.get("high") or 0) > 0:
            name = r.get("short_title") or r["title"]
            rows.append({"政策": name, "最高可得（万元）": a["high"], "可以预期（万元）": a.get("low", 0),
                         "标注": f"{name}：最高 {fmt_wan(a['high'])}"})
    frame = pd.DataFrame(rows, columns=["政策", "最高可得（万元）", "可以预期（万元）", "标注"])
    return frame.sort_values("最高可得（万元）", ascending=False, kind="stable").reset_index(drop=True)


CHART_ROW_PX = 48  # one policy: its name on a line, its bar below


def money_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """One row per policy: the name and amount written above its bar, so no label is dropped or
    cut however many bars there are and however narrow the screen (axis labels beside the bars
    were thinned out by Vega when they did not fit, and took half a phone's width)."""
    base = alt.Chart(frame).encode(y=alt.Y("政策:N", sort=list(frame["政策"]), axis=None, title=None))
    bars = base.mark_bar(color="#2e7d32", size=16, yOffset=9).encode(
        x=alt.X("最高可得（万元）:Q", title="估计最高可得（万元）"),
        tooltip=["政策", "最高可得（万元）", "可以预期（万元）"],
    )
    labels = base.mark_text(align="left", baseline="middle", dy=-9, fontSize=13).encode(
        x=alt.value(0), text="标注:N")
    return (bars + labels).properties(height=alt.Step(CHART_ROW_PX))


def render_money_chart(result: dict[str, Any], *, key_prefix: str) -> None:
    frame = money_frame(result)
    if frame.empty:
        return
    st.markdown("#### 推荐政策的估计金额（万元）")
    st.altair_chart(money_chart(frame), key=f"{key_prefix}_money_chart", width="stretch")


def render_results(result: dict[str, Any], *, key_prefix: str) -> None:
    """Everything about one match result, the advice first."""
    for w in result.get("warnings") or []:
        st.info(md(w), icon=":material/info:")
    name = (result.get("profile") or {}).get("name")
    st.markdown("### 匹配结果")
    if name:
        st.text(f"企业：{name}")
    if not result["results"]:
        st.warning("基准日没有有效的政策。可打开“显示已过期政策”查看。")
        return
    render_summary(result)
    groups = by_fit(result["results"])
    if groups["recommended"]:
        st.markdown("### 推荐申报")
        for rank, policy in enumerate(groups["recommended"], 1):
            render_policy_card(policy, rank, key_prefix=key_prefix)
    else:
        # point only to the sections that follow for this firm
        below = [title for title, present in (("“差一点就能享受”", result.get("near_misses")),
                                               ("“其他可了解的政策”", groups["other"])) if present]
        fill_in = result["summary"].get("fill_in") or []
        st.info("根据已填写的信息，暂无可以明确推荐的政策。"
                + (f"补充{'、'.join(fill_in)}后，建议会更准确" if fill_in else NOTHING_POINTS)
                + (f"；也可以看看下面{'和'.join(below)}。" if below else "。"))
    render_one_check_away(result)
    render_near_misses(result)
    render_general(groups["general"])
    render_other(groups["other"], key_prefix=key_prefix)
    ruled_out = groups["ruled_out"]
    if ruled_out and st.toggle(f"显示暂不符合的政策（{len(ruled_out)} 项）", key=f"{key_prefix}_show_ineligible"):
        for rank, policy in enumerate(ruled_out, 1):
            render_policy_card(policy, rank, key_prefix=f"{key_prefix}_out")
    render_money_chart(result, key_prefix=key_prefix)
