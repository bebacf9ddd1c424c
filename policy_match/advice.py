"""The advice layer: what a firm is told to act on, the money it may plausibly count, and the
gaps it could close (README "Advice"; contract §4). Small pure functions over the matcher's
per-item results.

Tiers (``fit``) of a support item:

- ``ruled_out``: some condition is not met;
- ``recommended``: not ruled out, the firm is the kind of applicant the item is for, and the
  firm's own facts or plans point to it — a *specific* condition met (a qualification, a listing
  stage, 工改搬迁, a threshold on its revenue or investment …; not the sector, 规上, the town or
  credit, which nearly every applicant shares) with the firm's text not unrelated to it
  (relevance ≥ ``SPECIFIC_RELEVANCE``), or the firm's plans relevant to the item (relevance ≥
  ``RECOMMEND_RELEVANCE``) and naming a word particular to it (``distinct_terms``); a town
  record's item also needs the firm's town to be known and in scope;
- ``general``: a service open to any firm (no machine-checkable condition, no money);
- ``other``: not ruled out, but nothing in the profile points to it.

A policy's fit is the best of its items'. A firm that fills in nothing gets no ``recommended``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .amounts import evaluate_amount
from .fields import (
    INDUSTRY_ABOVE_SCALE_WAN,
    INDUSTRY_SECTORS,
    LISTING_STAGES,
    PROFILE_FIELDS,
    QUALIFICATION_ALIASES,
    field_label,
    format_value,
)
from .knowledge import DATA_DIR
from .profile import Profile
from .results import FIT_RANK, Change, CheckAway, ItemResult, Money, NearMiss, PolicyAmount, num
from .rules import MET, UNKNOWN, UNMET, Gap, gap_alternatives, rule_verdict
from .schema import Condition, Rule, SupportItem

# Relevance of the firm's text (cosine, word + character TF-IDF) from which an item counts as
# pointed to by the firm's plans. Chosen on the development set, checked on the held-out set
# (README "Advice"; tests/test_evaluate.py).
RECOMMEND_RELEVANCE = 0.13
# ... and the firm's plans must name something particular to the item: a word of its title or
# keywords that at most this many policies use ("设备" or "贷款" alone point to every equipment
# or loan measure; "MES", "数字贷", "创业导师" point to one).
DISTINCT_POLICY_DF = 2
# With a specific condition met, a little of the firm's text must still point the same way (a
# 专精特新 firm that plans no expansion is not told to apply for expansion land).
SPECIFIC_RELEVANCE = 0.10
# Facts nearly every applicant shares: meeting them does not point to an item.
GENERIC_FIELDS = frozenset({"sector", "registered_in_zhongshan", "credit_ok", "above_scale", "town"})
GENERAL_SUPPORT_TYPES = frozenset({"服务", "培训"})

# -- near misses ------------------------------------------------------------------------------
# A firm cannot (or should not be told to) change these to get a subsidy.
FIXED_FIELDS = frozenset({
    "name", "credit_code", "town", "registered_in_zhongshan", "founded_year", "sector", "industry",
    "newly_above_scale_year", "credit_ok", "relocating_from_renovation_area", "buying_land_first_time",
    "cross_border_ecommerce", "operator_roles", "plans",
})
# Amounts a firm decides (a project's size, a fee it pays): any shortfall can be closed.
PLAN_FIELDS = frozenset({
    "planned_investment_wan", "equipment_software_investment_wan", "loan_interest_wan",
    "independent_site_fee_wan", "overseas_marketing_wan", "paid_in_capital_wan", "leased_area_m2",
})
# Results a firm works towards: within reach only when already at REACH of the threshold.
PERFORMANCE_FIELDS = frozenset({
    "annual_revenue_wan", "revenue_growth_pct", "employees", "local_contribution_wan",
    "cross_border_sales_usd_wan", "rd_expense_wan",
})
REACH = 0.7  # "within 30% of the threshold"
MAX_CHANGES = 2
MAX_NEAR_MISSES = 8
LISTING_ORDER = {"none": 0, "shareholding_reform": 1, "tutoring": 2, "application_accepted": 3,
                 "listed_domestic": 4, "listed_overseas": 4, "neeq": 4}


# -- tiers ------------------------------------------------------------------------------------
def _leaves(rule: Rule) -> list[Rule]:
    if rule.field is not None:
        return [rule]
    return [leaf for child in (rule.all or []) + (rule.any or []) + ([rule.not_] if rule.not_ else [])
            for leaf in _leaves(child)]


def _informative(leaf: Rule) -> bool:
    """A leaf whose being met says something about this firm: not a generic fact, not a ceiling
    ("从业人数 < 1000" fits nearly every SME), not an absence."""
    if leaf.field in GENERIC_FIELDS or leaf.op in {"lt", "le", "has_none", "ne", "not_in"}:
        return False
    return not (leaf.op == "is" and leaf.value is False)


def can_point_to_firm(condition: Condition) -> bool:
    """Static pre-check: the condition has an informative leaf at all (exclusions and a town
    record's scope never do: the scope says where the firm is, not what it needs)."""
    if condition.rule is None or condition.kind == "exclusion" or condition.clause == "适用范围":
        return False
    return any(_informative(leaf) for leaf in _leaves(condition.rule))


def met_on_specific_facts(rule: Rule, profile: Profile) -> bool:
    """Whether a met rule is met *because of* informative facts: an ``all`` is as specific as its
    most specific part; an ``any`` only as specific as the least specific branch that holds
    (总部企业's "other sectors: no size threshold" branch makes the condition generic)."""
    if rule.field is not None:
        return _informative(rule) and rule_verdict(rule, profile) == MET
    if rule.not_ is not None:
        return False
    if rule.all is not None:
        return any(met_on_specific_facts(child, profile) for child in rule.all)
    held = [child for child in rule.any or [] if rule_verdict(child, profile) == MET]
    return bool(held) and all(met_on_specific_facts(child, profile) for child in held)


def is_general(item: SupportItem) -> bool:
    """A service open to any firm: no money, no machine-checkable condition, an ordinary applicant."""
    return (item.amount.kind == "non_monetary" and item.support_type in GENERAL_SUPPORT_TYPES
            and item.applicant == "enterprise" and not any(c.rule for c in item.conditions))


def item_fit(status: str, *, specific_met: int, relevance: float, applicant_ok: bool, general: bool,
             in_scope: bool = True, names_item: bool = True, draft: bool = False, expired: bool = False) -> str:
    """``in_scope``: a town record's town scope is met (not merely unknown); ``names_item``: the
    firm's plans name the item (``plans_name_item``); ``draft``: its record is a 征求意见稿;
    ``expired``: it has ended at the date (shown only when expired policies are asked for)."""
    if status == "ineligible":
        return "ruled_out"
    if not applicant_ok or not in_scope:
        return "other"  # for platform/park operators or for another town, and the profile does not say
    if draft or expired:
        return "other"  # nobody can apply under a rule not issued, or ended: listed apart, with its note
    if (specific_met > 0 and relevance >= SPECIFIC_RELEVANCE) or (names_item and relevance >= RECOMMEND_RELEVANCE):
        return "recommended"
    return "general" if general else "other"


def plans_name_item(*, own_word: bool, policy_word: bool, money_sized_by_firm: bool) -> bool:
    """The firm's plans name an item when they share a word particular to the item itself; or one
    particular to its policy (a word of another of its items) when the item adds no money except
    what the firm's own numbers size. A plan to buy 数控机床 names the 数字化智能化改造 policy
    through its 改造补助 (20% of the firm's equipment spend), not the same policy's 集群链式改造
    support of up to 1500万 per firm or its 标杆/示范 titles: their money is a fixed award or
    ceiling that nothing the firm said points to."""
    return own_word or (policy_word and money_sized_by_firm)


def sized_by_firm(item: SupportItem) -> bool:
    """The item's money is computed from a number of the firm's profile (a rate, a per-unit sum, a
    band or a step on a profile field), not a fixed award or ceiling."""
    a = item.amount
    return (a.kind == "money" and a.formula is not None and a.formula.type != "fixed"
            and a.formula.base in PROFILE_FIELDS)


def distinct_terms(item_words: list[set[str]], policy_ids: list[str], max_policies: int = DISTINCT_POLICY_DF,
                   town_scopes: list[frozenset[str]] | None = None) -> list[frozenset[str]]:
    """Per item, the words of its title and keywords that at most ``max_policies`` policies use.
    With ``town_scopes`` (each item's policy's towns; empty for a city-wide one), an item of a
    town record counts only the policies a firm of those towns can see — the city-wide ones and
    those of a town it shares: "新药" names 翠亨新区's two drug measures for a 翠亨 firm although
    火炬开发区's industrial measures use it too."""
    scopes = town_scopes or [frozenset()] * len(policy_ids)
    used_by: dict[str, set[str]] = {}
    scope_of: dict[str, frozenset[str]] = {}
    for words, pid, towns in zip(item_words, policy_ids, scopes, strict=True):
        scope_of[pid] = towns
        for w in words:
            used_by.setdefault(w, set()).add(pid)

    def seen_with(w: str, towns: frozenset[str]) -> int:
        if not towns:
            return len(used_by[w])
        return sum(1 for q in used_by[w] if not scope_of[q] or scope_of[q] & towns)

    return [frozenset(w for w in words if seen_with(w, towns) <= max_policies)
            for words, towns in zip(item_words, scopes, strict=True)]


def one_per_exclusive_group(items: list[ItemResult]) -> list[ItemResult]:
    """Items of one ``exclusive_group`` are alternatives (示范车间 or 示范工厂; 设备奖励, 贴息 or
    股权投资): the firm is advised the one its facts and plans point to most, the others are
    listed as ``other``."""
    best: dict[str, ItemResult] = {}
    for it in items:
        group = it.item.exclusive_group
        if group and it.fit == "recommended":
            key = (it.specific_met, it.relevance)
            if group not in best or key > (best[group].specific_met, best[group].relevance):
                best[group] = it
    return [replace(it, fit="other") if it.fit == "recommended" and it.item.exclusive_group
            and best[it.item.exclusive_group] is not it else it for it in items]


def best_fit(fits: list[str]) -> str:
    return max(fits, key=FIT_RANK.__getitem__) if fits else "ruled_out"


# -- money ------------------------------------------------------------------------------------
def _counted(items: list[ItemResult]) -> list[ItemResult]:
    """Exclusive items (one ``exclusive_group`` of a policy) count once: the largest."""
    best: dict[tuple[str, str], ItemResult] = {}
    out = []
    for it in items:
        group = it.item.exclusive_group
        if not group:
            out.append(it)
            continue
        key = (it.policy.policy_id, group)
        if key not in best or it.amount.plausible_high > best[key].amount.plausible_high:
            best[key] = it
    return out + list(best.values())


def headline_money(items: list[ItemResult]) -> Money:
    """The money a firm may plausibly count: recommended items it may apply for as itself."""
    priced, not_counted = [], []
    for it in items:
        if it.fit != "recommended" or not it.counts_for_firm:
            continue
        a = it.amount
        if a is None:
            if it.item.amount.kind == "undocumented":
                not_counted.append(f"{it.item.title}（金额未公开）")
            continue
        if a.high is None:
            not_counted.append(f"{it.item.title}（{'；'.join(a.notes) or '金额待估算'}）")
            continue
        if a.cap_fallback:
            not_counted.append(f"{it.item.title}（只能按上限 {num(a.high)}万 估算，未计入）")
            continue
        priced.append(it)
    entitled = pending = up_to = 0.0
    up_to_items = 0
    for it in _counted(priced):
        a = it.amount
        value = a.plausible_high
        if a.guaranteed and it.status == "eligible" and a.from_inputs:
            entitled += value
        elif a.guaranteed:
            pending += value
        else:
            up_to += value
            up_to_items += value > 0
    return Money(entitled, pending, up_to, tuple(not_counted), up_to_items)


def policy_amount(items: list[ItemResult], fit: str) -> tuple[PolicyAmount | None, str | None]:
    """A policy's amount for this firm and, when it leaves items out, why. Counted: the items of
    the policy's own tier that the firm may apply for as itself (a recommended policy counts its
    recommended items; any other, the items not ruled out)."""
    tier = [it for it in items if (it.fit == "recommended" if fit == "recommended" else it.fit != "ruled_out")]
    counted = [it for it in tier if it.counts_for_firm and it.amount is not None and it.amount.high is not None]
    estimated: list[ItemResult] = []
    if fit == "recommended" and any(not it.amount.cap_fallback for it in counted):
        # as the headline does: an item that can only be estimated by its cap is left out of a
        # sum that has items priced on the firm's own figures (and named in the note)
        estimated = [it for it in counted if it.amount.cap_fallback]
        counted = [it for it in counted if not it.amount.cap_fallback]
    others = [it for it in items if it not in counted and it not in estimated and it.amount is not None
              and it.amount.high is not None and it.status != "ineligible"]
    if not counted:
        if fit == "ruled_out" and any(it.amount is not None and it.amount.high is not None for it in items):
            return PolicyAmount(0, 0), None
        if others:
            kinds = "、".join(sorted({_applicant_zh(it.item.applicant) for it in others}))
            return None, f"适合本企业的事项金额未公开或待估算；其余有金额的事项面向{kinds}"
        return None, None
    low = high = 0.0
    for it in _counted(counted):
        a = it.amount
        low += a.low
        high += a.high
    notes = [f"{it.item.title}只能按上限 {num(it.amount.high)}万 估算，未计入" for it in estimated]
    if others:
        notes.append("仅计适合本企业的事项；" + "、".join(it.item.title for it in others[:3])
                     + (" 等" if len(others) > 3 else "") + "未计入")
    # a recommended policy priced only by caps: shown as such, as the headline leaves it out
    only_caps = fit == "recommended" and all(it.amount.cap_fallback for it in counted)
    return PolicyAmount(low, high, cap_estimate=only_caps), "；".join(notes) or None


_APPLICANT_ZH = {"enterprise": "其他情形的企业", "platform": "平台运营方", "park_operator": "园区运营方",
                 "town_government": "镇街政府", "government": "政府部门", "individual": "个人"}


def _applicant_zh(applicant: str) -> str:
    return _APPLICANT_ZH.get(applicant, applicant)


# -- qualifications -----------------------------------------------------------------------------
@dataclass(frozen=True)
class QualificationInfo:
    name: str
    scope: Rule | None = None
    prerequisite: Rule | None = None
    after: tuple[str, ...] = ()
    recognised_by: str | None = None
    operator: bool = False


def read_qualifications(path: Path) -> dict[str, QualificationInfo]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for name, info in data.items():
        info = info or {}
        out[name] = QualificationInfo(
            name=name,
            scope=Rule.model_validate(info["scope"]) if info.get("scope") else None,
            prerequisite=Rule.model_validate(info["prerequisite"]) if info.get("prerequisite") else None,
            after=tuple(info.get("after") or ()),
            recognised_by=info.get("recognised_by"),
            operator=bool(info.get("operator")),
        )
    return out


@lru_cache(maxsize=1)
def bundled_qualifications() -> dict[str, QualificationInfo]:
    return read_qualifications(DATA_DIR / "qualifications.yaml")


# -- near misses ------------------------------------------------------------------------------
def _number_change(gap: Gap) -> tuple[Change, float] | None:
    """A numeric threshold the firm misses: closable for what it plans, within reach for results."""
    field, op, target, current = gap.field, gap.op, gap.target, gap.current
    if op == "between":
        low, high = target
        if current > high:
            return None
        op, target = "ge", low
    if op not in {"ge", "gt"} or not isinstance(current, (int, float)):
        return None
    needed = float(target)
    if field in PERFORMANCE_FIELDS:
        if needed <= 0 or current < REACH * needed:
            return None
        closeness = current / needed
    elif field in PLAN_FIELDS:
        closeness = 0.5 + 0.5 * (min(1.0, current / needed) if needed > 0 else 0.0)
    elif field == "digital_level":
        if needed - current > 1:
            return None
        closeness = 0.6
    else:
        return None
    gap_value = needed - current
    label = field_label(field)
    sign = "≥" if op == "ge" else ">"
    shown_gap = format_value(field, gap_value) if gap_value > 0 else "少许"
    text = (f"{label}还差 {shown_gap}（需 {sign}{format_value(field, needed)}，当前 {format_value(field, current)}）"
            if field != "digital_level" else
            f"数字化水平需达到{int(needed)}级（当前{int(current)}级）")
    return Change(field, target, current, gap_value, text), closeness


def _above_scale_change(profile: Profile) -> tuple[Change, float] | None:
    """升规: for an industrial firm whose revenue is within reach of 2000万元."""
    revenue = profile.annual_revenue_wan
    if profile.sector not in INDUSTRY_SECTORS or revenue is None or revenue < REACH * INDUSTRY_ABOVE_SCALE_WAN:
        return None
    gap = max(0.0, INDUSTRY_ABOVE_SCALE_WAN - revenue)
    text = ("年主营业务收入达到2000万元、纳入规模以上工业企业统计（升规）"
            + (f"，营业收入还差 {format_value('annual_revenue_wan', gap)}" if gap > 0 else "，营业收入已达标，可申请纳入统计"))
    return Change("above_scale", True, False, None, text), min(1.0, revenue / INDUSTRY_ABOVE_SCALE_WAN)


def _mentions(plans: str | None, name: str) -> bool:
    """The firm's plans name the qualification (or a common short name for it)."""
    if not plans:
        return False
    names = {name, name.replace("“", "").replace("”", "")} | {a for a, q in QUALIFICATION_ALIASES.items() if q == name}
    return any(n in plans for n in names)


def _qualification_change(gap: Gap, profile: Profile, infos: dict[str, QualificationInfo]) -> tuple[Change, float] | None:
    """Obtaining a qualification, offered only where the evidence says the firm could: its
    documented entry threshold met or within reach, or the firm holding the step before it, or
    its own plans naming it. Never an applicant identity, never outside the title's scope."""
    if gap.op not in {"has_any", "has_all"}:
        return None  # has_none: the firm holds what excludes it
    have = set(gap.current or [])
    wanted = [q for q in gap.target if q not in have]
    options: list[tuple[float, QualificationInfo]] = []
    for q in wanted:
        info = infos.get(q, QualificationInfo(q))
        if info.operator:  # an applicant identity, not a step a firm takes for a subsidy
            continue
        if info.scope is not None and rule_verdict(info.scope, profile) != MET:
            continue
        closeness = None
        if info.prerequisite is not None:
            verdict = rule_verdict(info.prerequisite, profile)
            if verdict == MET:
                closeness = 0.6
            elif verdict == UNMET:
                reach = [_number_change(g) for alt in gap_alternatives(info.prerequisite, profile) for g in alt]
                if reach and all(r is not None for r in reach):
                    closeness = 0.5 * min(r[1] for r in reach)
        if set(info.after) & have:
            closeness = max(closeness or 0.0, 0.7)
        if closeness is None and _mentions(profile.plans, q):
            closeness = 0.5
        if closeness is not None:
            options.append((closeness, info))
    if not options or (gap.op == "has_all" and len(options) < len(wanted)):
        return None
    closeness, info = max(options, key=lambda o: o[0])
    names = [o[1].name for o in options] if gap.op == "has_all" else [info.name]
    who = info.recognised_by if gap.op == "has_any" else None
    text = f"取得{'、'.join(names)}认定" + (f"（认定部门：{who}）" if who else "")
    return Change("qualifications", names, sorted(have), None, text, who), closeness


def _listing_change(gap: Gap) -> tuple[Change, float] | None:
    if gap.op != "in" or gap.current is None:
        return None
    here = LISTING_ORDER.get(gap.current, 0)
    later = [s for s in gap.target if LISTING_ORDER.get(s, 0) > here]
    if not later:
        return None
    nxt = min(later, key=LISTING_ORDER.__getitem__)
    text = f"上市进程推进到“{LISTING_STAGES[nxt]}”（当前：{LISTING_STAGES.get(gap.current, gap.current)}）"
    return Change("listing_stage", nxt, gap.current, None, text), 0.5


def closable_change(gap: Gap, profile: Profile, *,
                    infos: dict[str, QualificationInfo] | None = None) -> tuple[Change, float] | None:
    """The change a firm could make to meet one failing leaf, with how close it is (0–1), or None
    when it is not the firm's to change (its sector, town, registration, history) or out of reach."""
    field = gap.field
    if field in FIXED_FIELDS:
        return None
    if field == "qualifications":
        return _qualification_change(gap, profile, infos or bundled_qualifications())
    if field == "listing_stage":
        return _listing_change(gap)
    if field == "above_scale":
        return _above_scale_change(profile) if gap.op == "is" and gap.target is True else None
    return _number_change(gap)


def _changed(profile: Profile, changes: list[Change], year: int) -> Profile:
    """The profile as it would be after the changes (a firm that 升规 now enters the 规上
    directory this year at the earliest)."""
    update: dict[str, Any] = {}
    for c in changes:
        if c.field == "qualifications":
            update["qualifications"] = sorted(set(update.get("qualifications", profile.qualifications) or [])
                                              | set(c.needed))
        elif c.field == "above_scale":
            update["above_scale"] = True
            if profile.newly_above_scale_year is None:
                update["newly_above_scale_year"] = year
        elif c.field == "listing_stage":
            update["listing_stage"] = c.needed
        elif isinstance(c.needed, (int, float)):
            update[c.field] = c.needed + (1e-6 if c.gap is not None and c.gap <= 0 else 0)
    # the changed values are the rules' own (canonical already): no need to validate them again
    return profile.model_copy(update=update)


def _changes_suffice(result: ItemResult, profile: Profile, changes: list[Change]) -> Profile | None:
    """The changed profile when, re-checked on it, every condition of the item is no longer unmet
    (a 新升规 reward for firms that entered the directory in 2021–2022 is out of reach of a firm
    that 升规 now); None otherwise."""
    after = _changed(profile, changes, result.validity.as_of.year)
    ok = all(c.condition.rule is None or rule_verdict(c.condition.rule, after) != UNMET for c in result.conditions)
    return after if ok else None


def money_weight(high: float | None) -> float:
    if not high or high <= 0:
        return 0.0
    return min(1.0, math.log1p(high) / math.log1p(3000.0))


def near_miss(result: ItemResult, profile: Profile, *, relevance_weight: float,
              infos: dict[str, QualificationInfo] | None = None) -> NearMiss | None:
    """A ruled-out item the firm could reach by changing at most ``MAX_CHANGES`` facts it controls,
    each within reach; None otherwise. Ordered by ``priority`` = closeness × worth to this firm."""
    if result.status != "ineligible" or result.potential_high <= 0 or result.validity.validity == "expired":
        return None
    if not result.counts_for_firm:  # money paid to its executives or to a government body is not the firm's
        return None
    unmet = [c for c in result.conditions if c.verdict == UNMET]
    if not unmet or any(c.condition.kind == "applicant" or c.condition.clause in {"申报主体", "适用范围"} or
                        c.condition.rule is None or c.condition.past_period for c in unmet):
        return None
    changes: list[Change] = []
    closeness = 1.0
    for cond in unmet:
        best: tuple[tuple[Change, ...], float] | None = None
        for alt in gap_alternatives(cond.condition.rule, profile):
            found = [closable_change(g, profile, infos=infos) for g in alt]
            if not found or any(f is None for f in found):
                continue
            score = math.prod(f[1] for f in found)
            if best is None or score > best[1] or (score == best[1] and len(found) < len(best[0])):
                best = (tuple(f[0] for f in found), score)
        if best is None:
            return None
        changes.extend(best[0])
        closeness *= best[1]
    # the same change asked by two conditions counts once
    unique = list({(c.field, str(c.needed)): c for c in changes}.values())
    deadline = result.validity.deadline
    if deadline is not None and deadline.year <= result.validity.as_of.year and any(
            PROFILE_FIELDS[c.field].label.startswith("上年度") for c in unique if c.field in PROFILE_FIELDS):
        return None  # last year's figure changes only with next year's accounts, after this window closes
    after = _changes_suffice(result, profile, unique) if len(unique) <= MAX_CHANGES else None
    if after is None:
        return None
    # ordered by the worth on the firm's own figures (the matcher's best-first bound relies on
    # it); what it says is the amount once the gap is closed (30万 of interest at 50% is 15万,
    # not the 10万 the firm's 20万 would give)
    worth = 0.6 * money_weight(result.potential_high) + 0.4 * relevance_weight
    reached = evaluate_amount(result.item.amount, after, eligible=True)
    potential = reached.high if reached is not None and reached.high else result.potential_high
    title = result.item.title
    when = result.validity.deadline_warning or (f"有效期至 {result.validity.deadline.isoformat()}"
                                                if result.validity.deadline else "")
    # "即可申请" only when nothing else is left open; otherwise say that checks remain
    still_open = any(c.verdict == UNKNOWN for c in result.conditions)
    then = "满足后还需核实其他条件" if still_open else "即可申请"
    summary = (f"{title}：{'；'.join(c.text for c in unique)}，{then}，最高 {num(potential)}万"
               + (f"（{when}）" if when else ""))
    return NearMiss(result.policy.policy_id, result.item_id, title, potential, tuple(unique),
                    summary, closeness, closeness * worth, result.relevance)


def rank_near_misses(candidates: list[NearMiss], limit: int = MAX_NEAR_MISSES) -> list[NearMiss]:
    return sorted(candidates, key=lambda n: (-n.priority, -n.potential_high, n.item_id))[:limit]


def one_check_away(result: ItemResult) -> CheckAway | None:
    """A recommended item with every checkable condition met: only manual checks remain."""
    if result.fit != "recommended" or result.status != "possible":
        return None
    checkable = [c for c in result.conditions if c.condition.rule is not None]
    if not checkable or any(c.verdict != MET for c in checkable):
        return None
    checks = tuple(dict.fromkeys(c.condition.check or c.condition.text for c in result.conditions
                                 if c.verdict == UNKNOWN and c.condition.rule is None))
    a = result.amount
    return CheckAway(result.policy.policy_id, result.item_id, result.item.title,
                     None if a is None or a.high is None or a.cap_fallback else a.high, checks,
                     tuple(result.item.how_to_apply.materials), result.item.department or result.policy.department)


def fill_in(profile: Profile) -> tuple[str, ...]:
    """The facts advice leans on that the profile leaves blank: its size (revenue, employees or
    whether it is 规上), its titles (an empty list says "none", which is an answer) and its plans."""
    missing = []
    if profile.annual_revenue_wan is None and profile.employees is None and profile.above_scale is None:
        missing.append("企业规模")
    if profile.qualifications is None:
        missing.append("资质")
    if not profile.plans:
        missing.append("发展计划")
    return tuple(missing)


# said when nothing is recommended and the profile left none of 企业规模 / 资质 / 发展计划 blank
NOTHING_POINTS = "所填信息暂未指向可以直接申报的政策"


def summary_text(counts: dict[str, int], money: Money, fill_in: tuple[str, ...] = ()) -> str:
    n = counts.get("recommended", 0)
    if n == 0:
        advice_more = (f"补充{'、'.join(fill_in)}后可获得更准确的建议。" if fill_in else
                       f"{NOTHING_POINTS}。")
        return ("根据已填写的信息，暂无可以明确推荐的政策；" + advice_more
                + (f"另有 {counts.get('general', 0)} 项普遍适用的服务。" if counts.get("general") else ""))
    parts = [f"推荐申报 {n} 项政策"]
    if money.high > 0:
        if money.entitled > 0:
            parts.append(f"条件已满足、可以预期的约 {num(money.entitled)} 万元")
        if money.pending > 0:
            parts.append(f"核实条件后可得的约 {num(money.pending)} 万元")
        if money.up_to > 0 and money.up_to_items > 1:  # ceilings of several awards, each judged on its own
            parts.append(f"竞争性奖补 {money.up_to_items} 项、各项上限合计 {num(money.up_to)} 万元")
        elif money.up_to > 0:
            parts.append(f"竞争性奖补最高可争取 {num(money.up_to)} 万元")
    else:
        parts.append("所推荐事项的金额未公开或需补充数据后估算")
    if money.not_counted:
        parts.append(f"另有 {len(money.not_counted)} 项金额未计入")
    return "，".join(parts) + "。"


def counts_by_fit(fits: list[str]) -> dict[str, int]:
    out: dict[str, Any] = {"recommended": 0, "general": 0, "other": 0, "ruled_out": 0}
    for f in fits:
        out[f] += 1
    return out
