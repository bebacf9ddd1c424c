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
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from . import engine
from .amounts import AmountResult, evaluate_amount, wan
from .engine import (
    GENERIC_FIELDS,
    MONEY_SATURATION_WAN,
    NO_CHECKABLE_CONFIRMATION,
    POSSIBLE_CEILING,
    POSSIBLE_FLOOR,
    RELEVANCE_SATURATION,
    STATUSES,
    W_EVIDENCE,
    W_MONEY,
    W_RELEVANCE,
    W_STATUS,
    ItemSpec,
    compile_base,
    encode_profiles,
    py_round,
)
from .fields import LISTING_STAGES, SECTORS
from .index import RelevanceIndex, fitted_index, item_document
from .knowledge import KnowledgeBase, bundled_knowledge_base
from .profile import PLANS_INDEXED_CHARS, Profile, ProfileParse, parse_profile
from .rules import MET, UNKNOWN, UNMET, ConditionResult, evaluate_condition
from .schema import Condition, PolicyRecord, Rule, SupportItem
from .text import ChineseTokenizer
from .validity import ValidityStatus, item_validity, record_validity

STATUS_ORDER = {"eligible": 2, "possible": 1, "ineligible": 0}
# Profiles × items evaluated at once; a large base gets smaller chunks (bounded memory).
CHUNK_CELLS = 2_000_000
__all__ = ["GENERIC_FIELDS", "MONEY_SATURATION_WAN", "NO_CHECKABLE_CONFIRMATION", "POSSIBLE_CEILING",
           "POSSIBLE_FLOOR", "RELEVANCE_SATURATION", "W_EVIDENCE", "W_MONEY", "W_RELEVANCE", "W_STATUS",
           "Matcher", "MatchResult", "default_matcher", "match"]

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


class MatchResult:
    """One firm's answer. The ranking is computed by the engine when the match runs; the
    explanations (``results``, ``near_misses``: condition reasons, formulas, entry dicts) are
    built the first time they are read, and only for what they show."""

    def __init__(self, as_of: date, results: list[dict[str, Any]] | None = None, profile: Profile | None = None,
                 warnings: list[str] | None = None, near_misses: list[dict[str, Any]] | None = None, *,
                 explain: _Ranked | None = None):
        self.as_of = as_of
        self.profile = profile
        self.warnings = list(warnings or [])
        self._results = results
        self._near_misses = near_misses
        self._explain = explain

    @property
    def results(self) -> list[dict[str, Any]]:
        if self._results is None:
            self._results = self._explain.results() if self._explain is not None else []
        return self._results

    @property
    def near_misses(self) -> list[dict[str, Any]]:
        if self._near_misses is None:
            self._near_misses = self._explain.near_misses() if self._explain is not None else []
        return self._near_misses

    @property
    def item_features(self) -> ItemFeatures | None:
        """The engine's view of every item of the base for this firm, as arrays (row k: the k-th
        of ``Matcher.pairs_``) — what ranking and advice are computed from, without text."""
        if self._explain is None:
            return None
        r = self._explain
        return ItemFeatures(r.features, r.scores, r.relevance, r.live.item_live, r.near)

    @property
    def ranking(self) -> list[str]:
        """Policy ids best first, without building any explanation."""
        if self._explain is not None:
            return self._explain.policy_ids()
        return [r["policy_id"] for r in self.results]

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
        self.index_: RelevanceIndex = fitted_index(
            [item_document(p, it) for p, it in self.pairs_], [it.item_id for _, it in self.pairs_], self.tokenizer)
        self.extra_conditions_ = {p.policy_id: _implied_conditions(p) for p in kb.policies}
        self.item_conditions_ = [[*self.extra_conditions_[p.policy_id], *it.conditions] for p, it in self.pairs_]
        # Every item's conditions, amount and ranking features as arrays (policy_match.engine).
        self.engine_ = compile_base([ItemSpec(conds, it.amount, it.applicant in _APPLICANT_TEXT)
                                     for conds, (_, it) in zip(self.item_conditions_, self.pairs_, strict=True)])
        # Items of a policy are contiguous rows: [policy_starts_[k], policy_starts_[k + 1]).
        sizes = [len(p.items) for p in kb.policies]
        self.policy_starts_ = np.cumsum([0, *sizes]).astype(np.int64)
        self.item_policy_ = np.repeat(np.arange(len(sizes)), sizes)
        self.static_: dict[int, dict[str, Any]] = {}  # the firm-independent part of an entry, built on first use
        self.live_cache_: dict[tuple[date, bool], _LiveSet] = {}
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
              include_expired: bool = False, top: int | None = None) -> MatchResult:
        """Match one profile (a dict in the contract's fields, or a :class:`Profile`). With ``top``
        only the best ``top`` policies are listed in ``results``."""
        return next(self.match_many([profile], as_of=as_of, include_expired=include_expired, top=top))

    def match_many(self, profiles: Iterable[Profile | dict], *, as_of: date | str | None = None,
                   include_expired: bool = False, top: int | None = None,
                   chunk_size: int = 256) -> Iterator[MatchResult]:
        """Match profiles in order, a chunk at a time through the engine. Raises
        :class:`ProfileError` on a bad profile."""
        day = parse_as_of(as_of)
        if top is not None and top < 1:
            raise ValueError(f"top = {top}: 应为不小于 1 的整数")
        live = self._live_set(day, include_expired)
        chunk_size = max(1, min(chunk_size, CHUNK_CELLS // max(1, len(self.pairs_))))
        chunk: list[ProfileParse] = []
        for profile in profiles:
            chunk.append(parse_profile(profile))
            if len(chunk) >= chunk_size:
                yield from self._match_chunk(chunk, day, live, top)
                chunk = []
        if chunk:
            yield from self._match_chunk(chunk, day, live, top)

    def _live_set(self, day: date, include_expired: bool) -> _LiveSet:
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
        item_live = np.array([p.policy_id in live and it.item_id in live[p.policy_id].items
                              for p, it in self.pairs_], dtype=bool)
        out = _LiveSet(live, item_live)
        if len(self.live_cache_) > 64:
            self.live_cache_.clear()
        self.live_cache_[(day, include_expired)] = out
        return out

    def _match_chunk(self, chunk: list[ProfileParse], day: date, live: _LiveSet,
                     top: int | None) -> Iterator[MatchResult]:
        profiles = [p.profile for p in chunk]
        relevance, word_vectors = self.index_.score_many([self.query_text(p) for p in profiles])
        f = engine.evaluate(self.engine_, encode_profiles(profiles, self.engine_.layout))
        scores = py_round(engine.scores(f, relevance), 4)
        starts = self.policy_starts_[:-1]
        n_items = len(self.pairs_)
        if n_items == 0:
            for parsed in chunk:
                yield MatchResult(as_of=day, results=[], profile=parsed.profile, warnings=list(parsed.warnings),
                                  near_misses=[])
            return
        # A policy's status is its best shown item's; its score the best score among those.
        status = np.where(live.item_live, f.status, -1)
        policy_status = np.maximum.reduceat(status, starts, axis=1)
        best = status == policy_status[:, self.item_policy_]
        policy_score = np.maximum.reduceat(np.where(best & live.item_live, scores, -np.inf), starts, axis=1)
        # Near misses: ruled out by one or two conditions the firm could change, and paying something.
        near = ((f.status == engine.UNMET_CODE) & (f.potential > 0) & (f.unmet >= 1) & (f.unmet <= 2)
                & ~f.unmet_fixed & live.item_live)
        copy = len(chunk) > 1  # each result keeps its own rows, not the chunk's arrays
        for i, parsed in enumerate(chunk):
            shown = np.flatnonzero(policy_status[i] >= 0)
            order = shown[np.lexsort((shown, -policy_score[i, shown], policy_status[i, shown] == 0))]
            ranked = _Ranked(self, parsed.profile, day, live, order if top is None else order[:top],
                             features=engine.row_features(f, i, copy),
                             scores=scores[i].copy() if copy else scores[i],
                             relevance=relevance[i].copy() if copy else relevance[i],
                             near=near[i].copy() if copy else near[i], word_vector=word_vectors[i])
            yield MatchResult(as_of=day, profile=parsed.profile, warnings=list(parsed.warnings), explain=ranked)

    # -- explanations (only for what is shown) ---------------------------------------------
    def static_entry(self, row: int) -> dict[str, Any]:
        entry = self.static_.get(row)
        if entry is None:
            entry = self.static_[row] = _static_entry(*self.pairs_[row])
        return entry

    def explain_item(self, row: int, profile: Profile, status: str) -> _Explained:
        """Condition reasons, amount and hints of one item, through rules.py / amounts.py."""
        _, item = self.pairs_[row]
        results = [evaluate_condition(c, profile) for c in self.item_conditions_[row]]
        results.extend(_applicant_results(item))
        amount = evaluate_amount(item.amount, profile, eligible=status == "eligible")
        potential = (amount.high or 0.0) if amount else 0.0
        conditions = [r.to_dict() for r in results]
        return _Explained(
            conditions=conditions,
            amount=_amount_dict(amount, status),
            amount_note="；".join(amount.notes) if amount is not None and amount.high is None else None,
            hints=_item_hints(results, status),
            potential=potential,
            near_miss_unmet=_near_miss_unmet(status, potential, conditions),
        )


@dataclass(frozen=True)
class ItemFeatures:
    """One firm's per-item arrays (see ``policy_match.engine.Features``): the features, the
    rounded score, the raw relevance, whether the item is shown at the date, and whether it is a
    near miss. Condition verdict codes of item k: ``features.condition_codes[
    matcher.engine_.condition_slice(k)]`` (in the order of ``matcher.item_conditions_[k]``, then
    a government applicant's 申报主体 condition)."""

    features: engine.Features
    score: np.ndarray
    relevance: np.ndarray
    shown: np.ndarray
    near_miss: np.ndarray


@dataclass
class _LiveSet:
    policies: dict[str, _Live]
    item_live: np.ndarray  # (items,) bool: shown at this date


@dataclass(frozen=True)
class _Explained:
    conditions: list[dict[str, Any]]
    amount: dict[str, Any] | None
    amount_note: str | None
    hints: list[str]
    potential: float
    near_miss_unmet: list[dict[str, Any]] | None


class _Ranked:
    """One firm's ranking from the engine, and the explanations built from it on demand."""

    def __init__(self, matcher: Matcher, profile: Profile, day: date, live: _LiveSet, policy_order: np.ndarray, *,
                 features: engine.Features, scores: np.ndarray, relevance: np.ndarray, near: np.ndarray, word_vector):
        self.matcher, self.profile, self.day, self.live = matcher, profile, day, live
        self.policy_order = policy_order
        self.features = features
        self.status, self.potential = features.status, features.potential
        self.scores, self.relevance = scores, relevance
        self.near, self.word_vector = near, word_vector
        self._entries: dict[int, tuple[dict[str, Any], _Explained]] = {}
        self._terms: dict[int, list[str]] | None = None
        self._shown_rows: set[int] = set()

    def policy_ids(self) -> list[str]:
        policies = self.matcher.kb_.policies
        return [policies[k].policy_id for k in self.policy_order.tolist()]

    def _item_rows(self, k: int) -> list[int]:
        """A shown policy's shown items, best first (ineligible last; ties in record order)."""
        lo, hi = int(self.matcher.policy_starts_[k]), int(self.matcher.policy_starts_[k + 1])
        live, status, scores = self.live.item_live, self._lists()[0], self._lists()[1]
        rows = [r for r in range(lo, hi) if live[r]]
        # a stable sort, descending: equal keys keep the record's order
        return sorted(rows, key=lambda r: (status[r] > 0, scores[r]), reverse=True)

    def _lists(self) -> tuple[list[int], list[float], list[float]]:
        """The arrays as Python lists: explanations read them one number at a time."""
        cached = self.__dict__.get("_as_lists")
        if cached is None:
            cached = self._as_lists = (self.status.tolist(), self.scores.tolist(), self.relevance.tolist())
        return cached

    def _entry(self, row: int) -> tuple[dict[str, Any], _Explained]:
        hit = self._entries.get(row)
        if hit is not None:
            return hit
        m = self.matcher
        policy, item = m.pairs_[row]
        status_codes, scores, relevance = self._lists()
        status = STATUSES[status_codes[row]]
        ex = m.explain_item(row, self.profile, status)
        if self._terms is None:  # the words of every shown item, in one pass
            self._shown_rows = {r for k in self.policy_order.tolist()
                                for r in range(m.policy_starts_[k], m.policy_starts_[k + 1])}
            self._terms = m.index_.matched_terms(self.word_vector, sorted(self._shown_rows))
        terms = self._terms if row in self._shown_rows else m.index_.matched_terms(self.word_vector, [row])
        entry: dict[str, Any] = {
            "item_id": item.item_id,
            "title": item.title,
            "status": status,
            "score": scores[row],
            "amount_wan": ex.amount,
            "conditions": ex.conditions,
            "matched_terms": terms.get(row, []),
            "near_misses": ex.hints,
            "relevance": round(relevance[row], 4),
            "amount_note": ex.amount_note,
            **m.static_entry(row),
        }
        entry.update(_validity_keys(self.live.policies[policy.policy_id].items[item.item_id]))
        self._entries[row] = (entry, ex)
        return entry, ex

    def results(self) -> list[dict[str, Any]]:
        m = self.matcher
        out = []
        for k in self.policy_order.tolist():
            policy = m.kb_.policies[k]
            items = [self._entry(row)[0] for row in self._item_rows(k)]
            out.append(_policy_entry(policy, items, self.live.policies[policy.policy_id].status))
        return out

    def near_misses(self) -> list[dict[str, Any]]:
        """Items the firm is one or two checkable facts away from, most money first."""
        rows = np.flatnonzero(self.near)
        if len(rows) == 0:
            return []
        relevant = py_round(self.relevance[rows], 4) > 0.05
        order = np.lexsort((rows, -py_round(self.potential[rows], 2), ~relevant))
        out = []
        for row in rows[order][:8].tolist():
            policy = self.matcher.pairs_[row][0]
            entry, ex = self._entry(row)
            out.append(_near_miss_entry(policy, entry, ex))
        return out


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


def _near_miss_entry(policy: PolicyRecord, entry: dict[str, Any], ex: _Explained) -> dict[str, Any]:
    potential = ex.potential
    return {
        "policy_id": policy.policy_id,
        "item_id": entry["item_id"],
        "title": entry["title"],
        "potential_high": _num(potential),
        "unmet": [c["reason"] for c in ex.near_miss_unmet],
        "what_would_change_it": entry["near_misses"],
        "summary": f"{entry['title']}：{'；'.join(entry['near_misses']) or '；'.join(c['text'] for c in ex.near_miss_unmet)}"
                   f"（最高可达 {wan(potential)}）",
        "relevance": entry["relevance"],
    }


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


def match(profile: Profile | dict, *, as_of: date | str | None = None, include_expired: bool = False,
          top: int | None = None) -> MatchResult:
    """Match one profile against the bundled policy base (contract §3)."""
    return default_matcher().match(profile, as_of=as_of, include_expired=include_expired, top=top)
