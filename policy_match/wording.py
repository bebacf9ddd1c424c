"""What a user reads: Chinese labels and money in words, shared by the CLI, the app, the Word
brief and the batch workbook, so that every interface says the same thing the same way.

Works on the contract's dicts (``MatchResult.to_dict()``), the form every interface holds.
"""

from __future__ import annotations

from typing import Any

STATUS_ZH = {"eligible": "可申请", "possible": "可能符合·待确认", "ineligible": "暂不符合"}
VALIDITY_ZH = {"current": "有效", "expired": "已过期", "unknown": "有效期待确认"}
FIT_ZH = {"recommended": "推荐申报", "general": "普遍适用", "other": "其他可了解", "ruled_out": "暂不符合"}
BASIS_ZH = {"entitlement": "符合条件即可获得", "up_to": "竞争性评审，最高额度", "cap_estimate": "按上限估算"}
SOURCE_CLASS_ZH = {"official": "政府官网", "gov_copy": "政府网页转载/摘要", "news": "新闻报道", "other": "其他网站"}


def fmt_wan(x: float | int | None, unit: str = " 万元") -> str:
    if x is None:
        return "—"
    r = round(float(x), 2)
    text = f"{int(r)}" if r.is_integer() else f"{r:.2f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def amount_range(amount: dict[str, Any] | None, unit: str = " 万元") -> str:
    """An item's or policy's range in words: "最高 600 万元", "30 万元", "50–200 万元"."""
    if amount is None:
        return "金额未公开或非资金类支持"
    low, high = amount.get("low", 0) or 0, amount.get("high", 0) or 0
    if high <= 0:
        return "按现有信息暂无可计入金额"
    if low >= high:
        return fmt_wan(high, unit)
    if amount.get("basis") == "cap_estimate":  # not in the headline: said so beside the figure
        return f"按上限估算 最高 {fmt_wan(high, unit)}（未计入合计）"
    if low <= 0:
        return f"最高 {fmt_wan(high, unit)}"
    return f"{fmt_wan(low, '')}–{fmt_wan(high, unit)}"


def money_lines(summary: dict[str, Any]) -> list[str]:
    """The headline money, each kind on its own line (what the firm can count on first)."""
    money = summary.get("amount_wan") or {}
    lines = []
    if money.get("entitled"):
        lines.append(f"条件已满足、可以预期：{fmt_wan(money['entitled'])}")
    if money.get("pending_checks"):
        lines.append(f"核实条件后可得：{fmt_wan(money['pending_checks'])}")
    if money.get("up_to") and (money.get("up_to_items") or 0) > 1:
        lines.append(f"竞争性奖补 {money['up_to_items']} 项，各项上限合计：{fmt_wan(money['up_to'])}"
                     "（各项评审择优，以核定为准）")
    elif money.get("up_to"):
        lines.append(f"竞争性奖补，最高可争取：{fmt_wan(money['up_to'])}（以评审核定为准）")
    for title in money.get("not_counted") or []:
        lines.append(f"未计入合计：{title}")
    return lines


def departments(policy: dict[str, Any], items: list[dict[str, Any]] | None = None) -> list[str]:
    """The departments of a policy and its items, each once ("工信局；…；工信局" read as one)."""
    names: list[str] = []
    for text in [*(it.get("department") for it in (items if items is not None else policy.get("items", []))),
                 policy.get("department")]:
        for name in (text or "").replace(";", "；").split("；"):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def validity_line(entry: dict[str, Any]) -> str:
    """"有效期待确认：…" / "有效：有效期至 2026-12-31（2026-12-31 截止，还剩 30 天）"."""
    line = f"{VALIDITY_ZH.get(entry.get('validity'), '')}：{entry.get('validity_note') or ''}".rstrip("：")
    if entry.get("deadline_warning"):
        line += f"（{entry['deadline_warning']}）"
    return line


def by_fit(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {fit: [] for fit in FIT_ZH}
    for r in results:
        out.setdefault(r.get("fit", "other"), []).append(r)
    return out


def deciding_facts(policy: dict[str, Any], limit: int = 3) -> list[str]:
    """For a policy listed apart (``other``): what would decide it — that it has ended or is only a draft, then
    the open conditions of its best items, as the matcher phrased them ("补充：上年度营业收入（需 ≥ 2000万）")."""
    facts: list[str] = []
    if policy.get("validity") == "expired":  # shown only when asked for: say first that it has ended
        note = (policy.get("validity_note") or "有效期已过").removeprefix("已结束：").removeprefix("已结束")
        facts.append(f"已结束（{note if len(note) <= 40 else note[:40] + '…'}），不能再申报")
    if policy.get("document_status") == "draft":
        facts.append("征求意见稿，未见正式印发：不能据此申报，请先向主管部门确认现行规定")
    for it in policy.get("items", []):
        if it.get("fit") == "ruled_out":
            continue
        for hint in it.get("near_misses") or []:
            if hint not in facts:
                facts.append(hint)
        if it.get("applicant") in {"platform", "park_operator"}:
            facts.append("申报主体为平台或园区运营方：如贵司是，请在画像中注明")
        if len(facts) >= limit:
            break
    return facts[:limit]


def deadline_warnings(results: list[dict[str, Any]]) -> list[str]:
    """"政策简称：2026-12-31 截止，还剩 30 天" for every recommended policy with a deadline close by
    (a policy listed apart keeps its deadline on its own line, not in the firm's alerts)."""
    return [f"{r.get('short_title') or r['title']}：{r['deadline_warning']}"
            for r in results if r.get("deadline_warning") and r.get("fit") == "recommended"]
