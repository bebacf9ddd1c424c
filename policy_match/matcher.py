"""The matcher: rules decide eligibility, TF-IDF decides relevance, every answer explained.

Ranking (documented in README "How ranking works"): each item gets

    score = 0.30·status + 0.10·evidence + 0.50·relevance + 0.10·money·min(1, relevance + evidence)

- status: eligible 1; possible 0.3–0.8 by the share of its checkable conditions the profile
  confirmed (0.5 when it can check none); ineligible 0 (ineligible items always sort last).
  A universal service (no condition at all) is "eligible" for everyone, but it earns no
  evidence, relevance or money, so a subsidy the firm's own facts and plans point to outranks
  it; it comes first only when nothing specific fits;
- evidence: how much of the firm's own profile the item's conditions confirmed — met
  conditions on specific facts (qualifications, 工改搬迁, town, listing stage …) count 1,
  generic ones (sector, 规上, 中山注册, credit) 0.5, saturating at 2;
- relevance: cosine of the firm's plans/industry against the item (word + character TF-IDF),
  saturating at ``RELEVANCE_SATURATION``;
- money: log-scaled ``high`` of the item's amount, gated by relevance + evidence so that a
  large subsidy meant for other kinds of firms does not float up.

A policy's status is the best of its items'; its score is its best item's score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any

import numpy as np

from .amounts import AmountResult, evaluate_amount, wan
from .fields import LISTING_STAGES, PROFILE_FIELDS, SECTORS
from .index import RelevanceIndex, item_document
from .knowledge import KnowledgeBase, bundled_knowledge_base
from .profile import PLANS_INDEXED_CHARS, Profile, ProfileParse, parse_profile
from .rules import MET, UNKNOWN, UNMET, ConditionResult, combine, evaluate_condition
from .schema import Condition, PolicyRecord, Rule, SupportItem
from .text import ChineseTokenizer
from .validity import ValidityStatus, item_validity, record_validity

POSSIBLE_FLOOR, POSSIBLE_CEILING = 0.3, 0.8
# An item whose conditions the profile cannot check at all is neither confirmed nor refuted.
NO_CHECKABLE_CONFIRMATION = 0.5
STATUS_ORDER = {"eligible": 2, "possible": 1, "ineligible": 0}
W_STATUS, W_EVIDENCE, W_RELEVANCE, W_MONEY = 0.30, 0.10, 0.50, 0.10
RELEVANCE_SATURATION = 0.25
MONEY_SATURATION_WAN = 3000.0
# Facts nearly every applicant shares; a town condition other than a town record's scope
# (e.g. "in any Zhongshan town") is generic too.
GENERIC_FIELDS = frozenset({"sector", "registered_in_zhongshan", "credit_ok", "above_scale", "town"})
VERDICT_CACHE_SIZE = 50_000

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
        return NO_CHECKABLE_CONFIRMATION
    return sum(r.verdict == MET for r in checkable) / len(checkable)


def status_strength(status: str, confirmation: float) -> float:
    """Eligible 1; possible between POSSIBLE_FLOOR and POSSIBLE_CEILING by how much of it the
    profile confirmed (a 'possible' that rests on nothing but unknowns is weak); ineligible 0."""
    if status == "eligible":
        return 1.0
    if status == "possible":
        return POSSIBLE_FLOOR + (POSSIBLE_CEILING - POSSIBLE_FLOOR) * confirmation
    return 0.0


def item_score(status: str, confirmation: float, evidence: float, relevance: float, money: float) -> float:
    return fixed_score(status, confirmation, evidence) + firm_text_score(relevance, evidence, money)


def fixed_score(status: str, confirmation: float, evidence: float) -> float:
    """The part of the score that does not depend on the firm's text."""
    return W_STATUS * status_strength(status, confirmation) + W_EVIDENCE * evidence


def firm_text_score(relevance: float, evidence: float, money: float) -> float:
    """Relevance, plus money gated by fit: a large amount lifts an item only as far as the
    firm's text or facts point to it, so big subsidies for other kinds of firms stay down."""
    return W_RELEVANCE * relevance + W_MONEY * money * min(1.0, relevance + evidence)


def validity_at(policy: PolicyRecord, as_of: date) -> tuple[str, str]:
    """(current | expired | unknown, note) of a policy at ``as_of`` (see ``policy_match.validity``)."""
    status = record_validity(policy, as_of)
    return status.validity, status.note


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
        # The parts of an item's answer that do not depend on the firm, built once.
        self.static_ = [_static_entry(p, it) for p, it in self.pairs_]
        self.item_conditions_ = [[*self.extra_conditions_[p.policy_id], *it.conditions] for p, it in self.pairs_]
        self.item_fields_ = [tuple(sorted(_fields_read(conds, it))) for conds, (_, it) in
                             zip(self.item_conditions_, self.pairs_, strict=True)]
        self.verdict_cache_: dict[tuple, _Verdict] = {}
        self.condition_fields_ = {id(c): tuple(sorted(c.rule.fields_used())) if c.rule else ()
                                  for conds in self.item_conditions_ for c in conds}
        self.condition_cache_: dict[tuple, ConditionResult] = {}
        self.item_getters_ = [_getter(fields) for fields in self.item_fields_]
        # Items with the very same conditions, amount and applicant get the very same verdict
        # for a firm: they share one cache slot (common in a large base: "制造业 + 信用良好").
        templates: dict[tuple, int] = {}
        self.item_template_ = [
            templates.setdefault((tuple(map(id, conds)), id(it.amount), it.applicant, tuple(it.sources)), len(templates))
            for conds, (_, it) in zip(self.item_conditions_, self.pairs_, strict=True)
        ]
        self.condition_getters_ = {key: _getter(fields) for key, fields in self.condition_fields_.items()}
        # Room for a few hundred distinct firms' verdicts before the caches start over.
        self.cache_size_ = max(VERDICT_CACHE_SIZE, 30 * len(self.pairs_))
        self.live_cache_: dict[tuple[date, bool], dict[str, tuple[str, str]]] = {}
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
        """Match one profile (a dict in the contract's fields, or a :class:`Profile`)."""
        return next(self.match_many([profile], as_of=as_of, include_expired=include_expired))

    def match_many(self, profiles: Iterable[Profile | dict], *, as_of: date | str | None = None,
                   include_expired: bool = False, chunk_size: int = 256) -> Iterator[MatchResult]:
        """Match profiles in order. The query texts of a chunk are vectorised in one call,
        which is most of the saving in a batch. Raises :class:`ProfileError` on a bad profile."""
        day = parse_as_of(as_of)
        live = self._live_policies(day, include_expired)
        chunk: list[ProfileParse] = []
        for profile in profiles:
            chunk.append(parse_profile(profile))
            if len(chunk) >= chunk_size:
                yield from self._match_chunk(chunk, day, live)
                chunk = []
        if chunk:
            yield from self._match_chunk(chunk, day, live)

    def _live_policies(self, day: date, include_expired: bool) -> dict[str, _Live]:
        """Validity of every record and item at ``day``; only what is shown (in force, or all
        with ``include_expired``). Computed once per date."""
        cached = self.live_cache_.get((day, include_expired))
        if cached is not None:
            return cached
        live: dict[str, _Live] = {}
        for policy in self.kb_.policies:
            status = record_validity(policy, day)
            if status.validity == "expired" and not include_expired:
                continue
            items = {it.item_id: item_validity(policy, it, day, status) for it in policy.items}
            if not include_expired:
                items = {k: s for k, s in items.items() if s.validity != "expired"}
            live[policy.policy_id] = _Live(status, items)
        if len(self.live_cache_) > 64:
            self.live_cache_.clear()
        self.live_cache_[(day, include_expired)] = live
        return live

    def _match_chunk(self, chunk: list[ProfileParse], day: date, live: dict[str, _Live]) -> Iterator[MatchResult]:
        queries = [self.query_text(p.profile) for p in chunk]
        relevance, word_vectors = self.index_.score_many(queries)
        for i, parsed in enumerate(chunk):
            lo, hi = word_vectors.indptr[i], word_vectors.indptr[i + 1]
            terms = self.index_.matched_terms((word_vectors.indices[lo:hi], word_vectors.data[lo:hi]))
            yield self._match_one(parsed, day, live, relevance[i], terms)

    def _match_one(self, parsed: ProfileParse, day: date, live: dict[str, _Live],
                   relevance: np.ndarray, terms: dict[int, list[str]]) -> MatchResult:
        prof = parsed.profile
        values = {name: _hashable(getattr(prof, name)) for name in PROFILE_FIELDS}
        by_policy: dict[str, list[dict[str, Any]]] = {pid: [] for pid in live}
        raw_items: list[tuple[PolicyRecord, dict[str, Any], _Verdict]] = []
        for row, (policy, item) in enumerate(self.pairs_):
            shown = live.get(policy.policy_id)
            if shown is None or item.item_id not in shown.items:
                continue
            entry, verdict = self._match_item(row, prof, values, float(relevance[row]), terms.get(row, []))
            entry.update(_validity_keys(shown.items[item.item_id]))
            by_policy[policy.policy_id].append(entry)
            if verdict.near_miss_unmet is not None:
                raw_items.append((policy, entry, verdict))
        results = []
        for policy in self.kb_.policies:
            if policy.policy_id not in live:
                continue
            items = sorted(by_policy[policy.policy_id], key=_sort_key, reverse=True)
            if items:
                results.append(_policy_entry(policy, items, live[policy.policy_id].status))
        results.sort(key=_sort_key, reverse=True)
        return MatchResult(as_of=day, results=results, profile=prof, warnings=list(parsed.warnings),
                           near_misses=_near_misses(raw_items))

    def _item_verdict(self, row: int, profile: Profile, values: dict[str, Any]) -> _Verdict:
        """Everything about an item that depends on the profile but not on its text: the
        condition verdicts, status, amount and ranking features.

        It reads only a handful of profile fields, and firms in one batch share most of
        them (sector, 规上, town …), so it is memoised on exactly those values.
        """
        key = (self.item_template_[row], *self.item_getters_[row](values))
        hit = self.verdict_cache_.get(key)
        if hit is not None:
            return hit
        policy, item = self.pairs_[row]
        conditions = self.item_conditions_[row]
        results = [self._condition(c, profile, values) for c in conditions]
        results.extend(_applicant_results(item))
        status = combine([r.verdict for r in results])
        amount = evaluate_amount(item.amount, profile, eligible=status == "eligible")
        potential = (amount.high or 0.0) if amount else 0.0
        condition_dicts = [r.to_dict() for r in results]
        evidence = evidence_feature(results)
        verdict = _Verdict(
            status=status,
            conditions=condition_dicts,
            near_miss_unmet=_near_miss_unmet(status, potential, condition_dicts),
            amount=_amount_dict(amount, status),
            amount_note="；".join(amount.notes) if amount is not None and amount.high is None else None,
            hints=_item_hints(results, status),
            potential=potential,
            # the score without its relevance term, which is the only per-firm text part
            base_score=fixed_score(status, confirmation_feature(results), evidence),
            evidence=evidence,
            money=money_feature(potential) if status != "ineligible" else 0.0,
        )
        if len(self.verdict_cache_) >= self.cache_size_:
            self.verdict_cache_.clear()
        self.verdict_cache_[key] = verdict
        return verdict

    def _condition(self, condition: Condition, profile: Profile, values: dict[str, Any]) -> ConditionResult:
        """A condition's verdict, memoised on the values it reads (a second, finer cache: when
        a firm's revenue misses the item cache, its sector and town conditions still hit)."""
        key = (id(condition), *self.condition_getters_[id(condition)](values))
        hit = self.condition_cache_.get(key)
        if hit is None:
            if len(self.condition_cache_) >= self.cache_size_:
                self.condition_cache_.clear()
            hit = self.condition_cache_[key] = evaluate_condition(condition, profile)
        return hit

    def _match_item(self, row: int, profile: Profile, values: dict[str, Any], rel_raw: float,
                    matched_terms: list[str]) -> tuple[dict[str, Any], _Verdict]:
        v = self._item_verdict(row, profile, values)
        score = v.base_score + firm_text_score(relevance_feature(rel_raw), v.evidence, v.money)
        entry: dict[str, Any] = {
            "item_id": self.pairs_[row][1].item_id,
            "title": self.pairs_[row][1].title,
            "status": v.status,
            "score": round(score, 4),
            "amount_wan": v.amount,
            "conditions": v.conditions,
            "matched_terms": matched_terms,
            "near_misses": v.hints,
            "relevance": round(rel_raw, 4),
            "amount_note": v.amount_note,
            **self.static_[row],
        }
        return entry, v


def _contact_text(contact) -> str | None:
    return contact.text() if contact is not None else None


def _static_entry(policy: PolicyRecord, item: SupportItem) -> dict[str, Any]:
    return {
        "support_type": item.support_type,
        "description": item.description,
        "amount_text": item.amount.text,
        "period": item.period.model_dump(by_alias=True, exclude_none=True),
        "how_to_apply": item.how_to_apply.model_dump(exclude_none=True, exclude_defaults=True),
        "department": item.department or policy.department,
        "contact": _contact_text(item.contact or policy.contact),
        "confidence": item.confidence,
        "missing": item.missing,
        "sources": item.sources,
        "exclusive_group": item.exclusive_group,
        "applicant": item.applicant,
    }


@dataclass(frozen=True)
class _Verdict:
    status: str
    conditions: list[dict[str, Any]]
    amount: dict[str, Any] | None
    amount_note: str | None
    hints: list[str]
    potential: float
    base_score: float
    evidence: float
    money: float
    near_miss_unmet: list[dict[str, Any]] | None


def _fields_read(conditions: list[Condition], item: SupportItem) -> set[str]:
    """The profile fields an item's verdict and amount depend on."""
    fields: set[str] = set()
    for c in conditions:
        if c.rule is not None:
            fields |= c.rule.fields_used()
    a = item.amount
    formulas = [a.formula, *(u.formula for u in a.upgrades)]
    fields |= {f.base for f in formulas if f is not None and f.base in PROFILE_FIELDS}
    fields |= {f for u in a.upgrades for f in u.when.fields_used()}
    if a.cap_field:
        fields.add(a.cap_field)
    return fields


def _getter(fields: tuple[str, ...]):
    """A function returning the values of ``fields`` from a dict, always as a tuple."""
    if not fields:
        return lambda values: ()
    if len(fields) == 1:
        name = fields[0]
        return lambda values: (values[name],)
    return itemgetter(*fields)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


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
        open_items = [it for it in items if it["status"] != "ineligible"]
        if not open_items and any(it["amount_wan"] is not None for it in items):
            return {"low": 0, "high": 0}  # ruled out of every paying item: nothing to receive
        return None  # nothing documented, or a number the firm has not given yet
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


@dataclass(frozen=True)
class _Live:
    """A record shown at a date: its validity and that of each of its shown items."""

    status: ValidityStatus
    items: dict[str, ValidityStatus]


def _validity_keys(status: ValidityStatus) -> dict[str, Any]:
    return {
        "validity": status.validity,
        "validity_note": status.note,
        "deadline": status.deadline.isoformat() if status.deadline else None,
        "deadline_warning": status.deadline_warning,
    }


def _policy_entry(policy: PolicyRecord, items: list[dict[str, Any]], status: ValidityStatus) -> dict[str, Any]:
    best = max(items, key=lambda e: STATUS_ORDER[e["status"]])["status"]
    score = max((e["score"] for e in items if e["status"] == best), default=0.0)
    return {
        "policy_id": policy.policy_id,
        "title": policy.title,
        "short_title": policy.short_title,
        "status": best,
        **_validity_keys(status),
        "score": score,
        "amount_wan": combine_amounts(items),
        "items": items,
        "doc_number": policy.doc_number,
        "issuer": policy.issuer,
        "issued": policy.issued,
        "department": policy.department,
        "contact": _contact_text(policy.contact),
        "level": policy.level,
        "town_scope": policy.town_scope,
        "package_2022_02_15": policy.package_2022_02_15,
        "summary": policy.summary,
        "sources": policy.sources,
    }


def _near_misses(rows) -> list[dict[str, Any]]:
    """Items the firm is one or two checkable facts away from, most money first."""
    out = []
    for policy, entry, verdict in rows:
        if verdict.near_miss_unmet is None:
            continue
        potential = verdict.potential
        out.append({
            "policy_id": policy.policy_id,
            "item_id": entry["item_id"],
            "title": entry["title"],
            "potential_high": _num(potential),
            "unmet": [c["reason"] for c in verdict.near_miss_unmet],
            "what_would_change_it": entry["near_misses"],
            "summary": f"{entry['title']}：{'；'.join(entry['near_misses']) or '；'.join(c['text'] for c in verdict.near_miss_unmet)}"
                       f"（最高可达 {wan(potential)}）",
            "relevance": entry["relevance"],
        })
    out.sort(key=lambda d: (d["relevance"] > 0.05, d["potential_high"]), reverse=True)
    return out[:8]


def _near_miss_unmet(status: str, potential: float, conditions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The unmet conditions of a near miss, or None when the item is not one: it must pay
    something and fail on one or two conditions the firm could change (not the applicant
    type, and not a town record's scope — a firm does not move town for a reward)."""
    if status != "ineligible" or potential <= 0:
        return None
    unmet = [c for c in conditions if c["verdict"] == UNMET]
    if not 1 <= len(unmet) <= 2 or any(c.get("clause") in {"申报主体", "适用范围"} for c in unmet):
        return None
    return unmet


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    """The matcher over the bundled data, loaded and fitted once per process."""
    return Matcher().fit(bundled_knowledge_base())


def match(profile: Profile | dict, *, as_of: date | str | None = None, include_expired: bool = False) -> MatchResult:
    """Match one profile against the bundled policy base (contract §3)."""
    return default_matcher().match(profile, as_of=as_of, include_expired=include_expired)
