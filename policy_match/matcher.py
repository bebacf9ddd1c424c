"""The matcher: rules decide eligibility, TF-IDF decides relevance, every answer explained.

Ranking (documented in README "How ranking works"): each item gets

    score = 0.30·status + 0.10·evidence + 0.50·relevance + 0.10·money

- status: eligible 1; possible 0.3–0.8 by the share of its checkable conditions the profile
  confirmed; ineligible 0 (ineligible items always sort last);
  a universal service with no checkable condition counts at 0.6 of its status, so it never
  crowds out a subsidy the firm's own facts qualify it for;
- evidence: how much of the firm's own profile the item's conditions confirmed — met
  conditions on specific facts (qualifications, 工改搬迁, town, listing stage …) count 1,
  generic ones (sector, 规上, 中山注册, credit) 0.5, saturating at 2;
- relevance: cosine of the firm's plans/industry against the item (word + character TF-IDF),
  saturating at ``RELEVANCE_SATURATION``;
- money: log-scaled ``high`` of the item's amount.

A policy's status is the best of its items'; its score is its best item's score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from .amounts import AmountResult, evaluate_amount, wan
from .fields import LISTING_STAGES, SECTORS
from .index import RelevanceIndex, item_document
from .knowledge import KnowledgeBase, bundled_knowledge_base
from .model import PLANS_INDEXED_CHARS, Condition, PolicyRecord, Profile, Rule, SupportItem, date_bounds, parse_profile
from .rules import MET, UNKNOWN, UNMET, ConditionResult, combine, evaluate_condition
from .text import ChineseTokenizer

POSSIBLE_FLOOR, POSSIBLE_CEILING = 0.3, 0.8
STATUS_ORDER = {"eligible": 2, "possible": 1, "ineligible": 0}
W_STATUS, W_EVIDENCE, W_RELEVANCE, W_MONEY = 0.30, 0.10, 0.50, 0.10
RELEVANCE_SATURATION = 0.25
MONEY_SATURATION_WAN = 3000.0
# Facts nearly every applicant shares; a town condition other than a town record's scope
# (e.g. "in any Zhongshan town") is generic too.
GENERIC_FIELDS = frozenset({"sector", "registered_in_zhongshan", "credit_ok", "above_scale", "town"})
UNIVERSAL_SERVICE_FACTOR = 0.6

# Flags of the profile that say something about the firm's needs, as text for relevance.
_FLAG_TEXT = {
    "relocating_from_renovation_area": "工改 搬迁腾挪 租金补助",
    "buying_land_first_time": "首次 购置土地 增资扩产 供地",
    "cross_border_ecommerce": "跨境电商",
}


def relevance_feature(raw: float) -> float:
    return min(1.0, raw / RELEVANCE_SATURATION) if raw > 0 else 0.0


def money_feature(high: float | None) -> float:
    if not high or high <= 0:
        return 0.0
    return min(1.0, math.log1p(high) / math.log1p(MONEY_SATURATION_WAN))


def evidence_feature(results: list[ConditionResult]) -> float:
    total = 0.0
    for r in results:
        if r.verdict == MET and r.fields:
            specific = r.condition.clause == "适用范围" or not set(r.fields) <= GENERIC_FIELDS
            total += 1.0 if specific else 0.5
    return min(1.0, total / 2.0)


def confirmation_feature(results: list[ConditionResult]) -> float:
    """Share of the checkable conditions (those with a machine rule) the profile confirmed."""
    checkable = [r for r in results if r.fields]
    if not checkable:
        return 0.0
    return sum(r.verdict == MET for r in checkable) / len(checkable)


def status_strength(status: str, confirmation: float) -> float:
    """Eligible 1; possible between POSSIBLE_FLOOR and POSSIBLE_CEILING by how much of it the
    profile confirmed (a 'possible' that rests on nothing but unknowns is weak); ineligible 0."""
    if status == "eligible":
        return 1.0
    if status == "possible":
        return POSSIBLE_FLOOR + (POSSIBLE_CEILING - POSSIBLE_FLOOR) * confirmation
    return 0.0


def item_score(status: str, confirmation: float, evidence: float, relevance: float, money: float, *,
               universal: bool) -> float:
    s = status_strength(status, confirmation) * (UNIVERSAL_SERVICE_FACTOR if universal else 1.0)
    return W_STATUS * s + W_EVIDENCE * evidence + W_RELEVANCE * relevance + W_MONEY * money


def validity_at(policy: PolicyRecord, as_of: date) -> tuple[str, str]:
    """(current | expired | unknown, note) of a policy at ``as_of``. Not yet issued = not in
    force, reported as ``expired`` with a note saying so."""
    v = policy.validity
    if policy.issued and as_of < date_bounds(policy.issued)[0]:
        return "expired", f"{as_of.isoformat()} 时尚未发布（发布于 {policy.issued}）"
    if v.start and as_of < date_bounds(v.start)[0]:
        return "expired", f"{as_of.isoformat()} 时尚未生效（自 {v.start} 起）"
    if v.end and as_of > date_bounds(v.end)[1]:
        return "expired", f"已于 {v.end} 结束"
    if v.ended:
        return "expired", v.note or "已结束（确切截止日期未公开）"
    started = (v.start and as_of >= date_bounds(v.start)[1]) or (policy.issued and as_of >= date_bounds(policy.issued)[1])
    if v.end and started:
        return "current", f"有效期至 {v.end}"
    if v.end:
        return "unknown", f"有效期至 {v.end}，起始日期未能确认"
    return "unknown", v.note or "有效期未公开"


def parse_as_of(as_of: date | str | None) -> date:
    if as_of is None:
        return date.today()
    if isinstance(as_of, date):
        return as_of
    try:
        return date.fromisoformat(str(as_of))
    except ValueError:
        raise ValueError(f"as_of = “{as_of}”: 日期应为 YYYY-MM-DD") from None


@dataclass
class MatchResult:
    as_of: date
    results: list[dict[str, Any]]
    profile: Profile
    warnings: list[str] = field(default_factory=list)
    near_misses: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "results": self.results,
            "near_misses": self.near_misses,
            "warnings": self.warnings,
        }

    def by_id(self, policy_id: str) -> dict[str, Any]:
        for r in self.results:
            if r["policy_id"] == policy_id:
                return r
        raise KeyError(policy_id)


class Matcher:
    """Fit on a knowledge base, then ``match`` profiles. ``fit`` returns self."""

    def __init__(self, tokenizer: ChineseTokenizer | None = None):
        self.tokenizer = tokenizer

    def fit(self, kb: KnowledgeBase) -> Matcher:
        self.kb_ = kb
        self.pairs_: list[tuple[PolicyRecord, SupportItem]] = kb.items()
        self.index_ = RelevanceIndex(self.tokenizer).fit(
            [item_document(p, it) for p, it in self.pairs_], [it.item_id for _, it in self.pairs_]
        )
        self.extra_conditions_ = {p.policy_id: _implied_conditions(p) for p in kb.policies}
        return self

    # -- query ---------------------------------------------------------------------------
    @staticmethod
    def query_text(profile: Profile) -> str:
        parts = [(profile.plans or "")[:PLANS_INDEXED_CHARS], profile.industry or ""]
        if profile.sector:
            parts.append(SECTORS.get(profile.sector, ""))
        parts.extend(profile.qualifications or [])
        if profile.listing_stage and profile.listing_stage != "none":
            parts.append(f"上市 {LISTING_STAGES[profile.listing_stage]}")
        parts.extend(text for name, text in _FLAG_TEXT.items() if getattr(profile, name) is True)
        return "\n".join(p for p in parts if p)

    # -- matching ------------------------------------------------------------------------
    def match(self, profile: Profile | dict, *, as_of: date | str | None = None,
              include_expired: bool = False) -> MatchResult:
        parsed = parse_profile(profile)
        prof, warnings = parsed.profile, list(parsed.warnings)
        day = parse_as_of(as_of)
        query = self.query_text(prof)
        relevance = self.index_.score(query)
        query_words = self.index_.transform_query(query)[0] if query.strip() else None

        by_policy: dict[str, list[dict[str, Any]]] = {}
        raw_items: list[tuple[PolicyRecord, SupportItem, dict[str, Any], float]] = []
        for row, (policy, item) in enumerate(self.pairs_):
            entry, potential = self._match_item(policy, item, prof, float(relevance[row]), query_words, row)
            by_policy.setdefault(policy.policy_id, []).append(entry)
            raw_items.append((policy, item, entry, potential))

        results = []
        for policy in self.kb_.policies:
            validity, note = validity_at(policy, day)
            if validity == "expired" and not include_expired:
                continue
            items = sorted(by_policy[policy.policy_id], key=_sort_key, reverse=True)
            results.append(_policy_entry(policy, items, validity, note))
        results.sort(key=_sort_key, reverse=True)
        kept = {r["policy_id"] for r in results}
        near = _near_misses([(p, it, e, pot) for p, it, e, pot in raw_items if p.policy_id in kept])
        return MatchResult(as_of=day, results=results, profile=prof, warnings=warnings, near_misses=near)

    def _match_item(self, policy: PolicyRecord, item: SupportItem, profile: Profile, rel_raw: float,
                    query_words, row: int) -> tuple[dict[str, Any], float]:
        conditions = [*self.extra_conditions_[policy.policy_id], *item.conditions]
        results = [evaluate_condition(c, profile) for c in conditions]
        results.extend(_applicant_results(item))
        status = combine([r.verdict for r in results])
        amount = evaluate_amount(item.amount, profile, eligible=status == "eligible")
        potential = (amount.high or 0.0) if amount else 0.0
        universal = item.amount.kind == "non_monetary" and not any(c.rule is not None for c in conditions)
        rel = relevance_feature(rel_raw)
        score = item_score(status, confirmation_feature(results), evidence_feature(results), rel,
                           money_feature(potential) if status != "ineligible" else 0.0, universal=universal)
        entry: dict[str, Any] = {
            "item_id": item.item_id,
            "title": item.title,
            "status": status,
            "score": round(score, 4),
            "amount_wan": _amount_dict(amount, status),
            "conditions": [r.to_dict() for r in results],
            "matched_terms": self.index_.matched_terms(query_words, row) if query_words is not None else [],
            "near_misses": _item_hints(results, status),
            "relevance": round(rel_raw, 4),
            "support_type": item.support_type,
            "description": item.description,
            "amount_text": item.amount.text,
            "amount_note": "；".join(amount.notes) if amount is not None and amount.high is None else None,
            "period": item.period.model_dump(by_alias=True, exclude_none=True),
            "how_to_apply": item.how_to_apply.model_dump(exclude_none=True, exclude_defaults=True),
            "department": item.department or policy.department,
            "contact": item.contact or policy.contact,
            "confidence": item.confidence,
            "missing": item.missing,
            "sources": item.sources,
            "exclusive_group": item.exclusive_group,
            "applicant": item.applicant,
        }
        return entry, potential


def _implied_conditions(policy: PolicyRecord) -> list[Condition]:
    """Conditions every item of a record inherits: a town record applies only in its towns."""
    if not policy.town_scope:
        return []
    return [Condition(
        text=f"注册在{'、'.join(policy.town_scope)}（镇街级政策）",
        rule=Rule(field="town", op="in", value=list(policy.town_scope)),
        source=policy.sources[0],
        clause="适用范围",
    )]


_APPLICANT_TEXT = {
    "government": "政府侧措施：由政府部门实施，企业不能直接申报",
    "town_government": "申报主体为镇街政府或其项目单位，企业不能直接申报",
}


def _applicant_results(item: SupportItem) -> list[ConditionResult]:
    if item.applicant not in _APPLICANT_TEXT:
        return []
    text = _APPLICANT_TEXT[item.applicant]
    cond = Condition(text=text, rule=None, source=item.sources[0], clause="申报主体")
    return [ConditionResult(cond, UNMET, text, (), ())]


def _amount_dict(amount: AmountResult | None, status: str) -> dict[str, Any] | None:
    if amount is None or amount.high is None:
        return None
    out = amount.to_dict()
    if status == "ineligible":
        # What it would be, kept apart from what this firm can receive now (nothing).
        out["potential_high"] = out["high"]
        out["low"], out["high"] = 0, 0
    return out


def _item_hints(results: list[ConditionResult], status: str) -> list[str]:
    wanted = UNMET if status == "ineligible" else UNKNOWN
    hints: list[str] = []
    for r in results:
        if r.verdict == wanted:
            for h in r.hints or (f"需满足：{r.condition.text}",):
                if h not in hints:
                    hints.append(h)
    return hints[:3]


def _sort_key(entry: dict[str, Any]) -> tuple[int, float]:
    return (0 if entry["status"] == "ineligible" else 1, entry["score"])


def combine_amounts(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A policy's amount: stack items that may be stacked, take the larger of exclusive ones.

    Counted: eligible items, and possible items meant for enterprises (an item for platform
    or park operators that the firm has not shown it runs does not inflate the total).
    ``None`` when no counted item has a documented amount.
    """
    counted = [it for it in items if it["amount_wan"] is not None and
               (it["status"] == "eligible" or (it["status"] == "possible" and it["applicant"] == "enterprise"))]
    if not counted:
        has_money = any(it["amount_wan"] is not None for it in items)
        return {"low": 0, "high": 0} if has_money else None
    groups: dict[str, tuple[float, float]] = {}
    low = high = 0.0
    for it in counted:
        a = it["amount_wan"]
        g = it.get("exclusive_group")
        if g:
            lo, hi = groups.get(g, (0.0, 0.0))
            groups[g] = (max(lo, a["low"]), max(hi, a["high"]))
        else:
            low += a["low"]
            high += a["high"]
    for lo, hi in groups.values():
        low += lo
        high += hi
    return {"low": _num(low), "high": _num(high)}


def _num(x: float) -> float | int:
    r = round(x, 2)
    return int(r) if float(r).is_integer() else r


def _policy_entry(policy: PolicyRecord, items: list[dict[str, Any]], validity: str, note: str) -> dict[str, Any]:
    best = max(items, key=lambda e: STATUS_ORDER[e["status"]])["status"]
    score = max((e["score"] for e in items if e["status"] == best), default=0.0)
    return {
        "policy_id": policy.policy_id,
        "title": policy.title,
        "short_title": policy.short_title,
        "status": best,
        "validity": validity,
        "validity_note": note,
        "score": score,
        "amount_wan": combine_amounts(items),
        "items": items,
        "doc_number": policy.doc_number,
        "issuer": policy.issuer,
        "issued": policy.issued,
        "department": policy.department,
        "contact": policy.contact,
        "level": policy.level,
        "town_scope": policy.town_scope,
        "package_2022_02_15": policy.package_2022_02_15,
        "summary": policy.summary,
        "sources": policy.sources,
    }


def _near_misses(rows) -> list[dict[str, Any]]:
    """Items the firm is one or two checkable facts away from, most money first."""
    out = []
    for policy, _item, entry, potential in rows:
        if entry["status"] != "ineligible" or potential <= 0:
            continue
        unmet = [c for c in entry["conditions"] if c["verdict"] == UNMET]
        if not 1 <= len(unmet) <= 2 or any(c.get("clause") == "申报主体" for c in unmet):
            continue
        if any(c.get("clause") == "适用范围" for c in unmet):
            continue  # a firm cannot move town to get a town's reward
        out.append({
            "policy_id": policy.policy_id,
            "item_id": entry["item_id"],
            "title": entry["title"],
            "potential_high": _num(potential),
            "unmet": [c["reason"] for c in unmet],
            "what_would_change_it": entry["near_misses"],
            "summary": f"{entry['title']}：{'；'.join(entry['near_misses']) or '；'.join(c['text'] for c in unmet)}"
                       f"（最高可达 {wan(potential)}）",
            "relevance": entry["relevance"],
        })
    out.sort(key=lambda d: (d["relevance"] > 0.05, d["potential_high"]), reverse=True)
    return out[:8]


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    """The matcher over the bundled data, loaded and fitted once per process."""
    return Matcher().fit(bundled_knowledge_base())


def match(profile: Profile | dict, *, as_of: date | str | None = None, include_expired: bool = False) -> MatchResult:
    """Match one profile against the bundled policy base (contract §3)."""
    return default_matcher().match(profile, as_of=as_of, include_expired=include_expired)
