"""The matcher: rules decide eligibility, TF-IDF decides relevance, every answer explained.

Ranking (documented in README "How ranking works"): each item gets

    score = 0.30·status + 0.10·evidence + 0.50·relevance + 0.10·money·min(1, relevance + evidence)

- status: eligible 1; possible 0.3–0.8 by the share of its checkable conditions the profile
  confirmed (0.5 when it can check none); ineligible 0 (ineligible items always sort last).
  A universal service (no condition at all) is "eligible" for everyone, but it earns no
  evidence, relevance or money, so a subsidy the firm's own facts and plans point to outranks
  it; it comes first only when nothing specific fits;
- evidence: how much of the firm's own profile the item's conditions confirmed — met
  conditions on specific facts (``advice.can_point_to_firm``: qualifications, 工改搬迁, listing
  stage, thresholds …) count 1, generic ones (sector, 规上, 中山注册, credit, town, ceilings) 0.5,
  saturating at 2;
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
from operator import itemgetter
from typing import Any

import numpy as np

from . import advice
from .amounts import AmountResult, evaluate_amount
from .fields import LISTING_STAGES, PROFILE_FIELDS, SECTORS
from .index import RelevanceIndex, item_document
from .knowledge import KnowledgeBase, bundled_knowledge_base
from .profile import PLANS_INDEXED_CHARS, Profile, ProfileParse, parse_profile
from .results import STATUS_RANK, ItemResult, MatchResult, PolicyResult, Summary
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
    """Met conditions on facts that say something about the firm count 1 (the advice layer's
    notion: not the sector, 规上, town or credit, not a ceiling or an absence), the others 0.5."""
    total = 0.0
    for r in results:
        if r.verdict == MET and r.fields:
            total += 1.0 if advice.can_point_to_firm(r.condition) else 0.5
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
        self.live_cache_: dict[tuple[date, bool], dict[str, _Live]] = {}
        # Static advice facts per item: a service open to all; which conditions point to a firm.
        self.general_ = [advice.is_general(it) for _, it in self.pairs_]
        self.points_to_ = {id(c): advice.can_point_to_firm(c) for conds in self.item_conditions_ for c in conds}
        tok = self.index_.tokenizer_
        item_terms = advice.distinct_terms(
            [{w for text in (it.title, *it.keywords) for w in (*tok.words(text), *tok.whole_words(text))}
             for _, it in self.pairs_],
            [p.policy_id for p, _ in self.pairs_])
        # A firm's plans name a policy when they name a word particular to any of its items.
        by_policy: dict[str, frozenset[str]] = {}
        for (p, _), terms in zip(self.pairs_, item_terms, strict=True):
            by_policy[p.policy_id] = by_policy.get(p.policy_id, frozenset()) | terms
        self.distinct_terms_ = [by_policy[p.policy_id] for p, _ in self.pairs_]
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
        only the best ``top`` policies are returned; the summary still counts every policy."""
        return next(self.match_many([profile], as_of=as_of, include_expired=include_expired, top=top))

    def match_many(self, profiles: Iterable[Profile | dict], *, as_of: date | str | None = None,
                   include_expired: bool = False, top: int | None = None,
                   chunk_size: int = 256) -> Iterator[MatchResult]:
        """Match profiles in order. The query texts of a chunk are vectorised in one call,
        which is most of the saving in a batch. Raises :class:`ProfileError` on a bad profile."""
        day = parse_as_of(as_of)
        if top is not None and top < 1:
            raise ValueError(f"top = {top}: 应为不小于 1 的整数")
        live = self._live_policies(day, include_expired)
        chunk: list[ProfileParse] = []
        for profile in profiles:
            chunk.append(parse_profile(profile))
            if len(chunk) >= chunk_size:
                yield from self._match_chunk(chunk, day, live, top)
                chunk = []
        if chunk:
            yield from self._match_chunk(chunk, day, live, top)

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

    def _match_chunk(self, chunk: list[ProfileParse], day: date, live: dict[str, _Live],
                     top: int | None) -> Iterator[MatchResult]:
        queries = [self.query_text(p.profile) for p in chunk]
        relevance, word_vectors = self.index_.score_many(queries)
        for i, parsed in enumerate(chunk):
            lo, hi = word_vectors.indptr[i], word_vectors.indptr[i + 1]
            terms = self.index_.matched_terms((word_vectors.indices[lo:hi], word_vectors.data[lo:hi]))
            yield self._match_one(parsed, day, live, relevance[i], terms, top)

    def _match_one(self, parsed: ProfileParse, day: date, live: dict[str, _Live],
                   relevance: np.ndarray, terms: dict[int, list[str]], top: int | None) -> MatchResult:
        prof = parsed.profile
        values = {name: _hashable(getattr(prof, name)) for name in PROFILE_FIELDS}
        # What the firm says it needs: its plans (its industry and titles say who it is, and are
        # matched by the conditions).
        query_words = self.index_.tokenizer_.whole_words((prof.plans or "")[:PLANS_INDEXED_CHARS])
        by_policy: dict[str, list[ItemResult]] = {pid: [] for pid in live}
        for row, (policy, item) in enumerate(self.pairs_):
            shown = live.get(policy.policy_id)
            if shown is None or item.item_id not in shown.items:
                continue
            by_policy[policy.policy_id].append(
                self._item_result(row, prof, values, float(relevance[row]), terms.get(row, ()), shown.items[item.item_id],
                                  query_words))
        policies: list[PolicyResult] = []
        for policy in self.kb_.policies:
            items = by_policy.get(policy.policy_id)
            if items:
                policies.append(_policy_result(policy, items, live[policy.policy_id].status))
        policies.sort(key=_policy_sort_key, reverse=True)
        all_items = [it for p in policies for it in p.items]
        counts = advice.counts_by_fit([p.fit for p in policies])
        money = advice.headline_money(all_items)
        summary = Summary(counts, money, advice.summary_text(counts, money))
        return MatchResult(
            as_of=day, profile=prof, policies=policies[:top] if top else policies, summary=summary,
            near_misses=self._near_misses(all_items, prof),
            one_check_away=[c for c in map(advice.one_check_away, all_items) if c is not None],
            warnings=list(parsed.warnings),
        )

    def _near_misses(self, items: list[ItemResult], profile: Profile) -> list:
        candidates = []
        for it in items:
            if it.status != "ineligible" or it.potential_high <= 0:
                continue
            found = advice.near_miss(it, profile, relevance_weight=relevance_feature(it.relevance))
            if found is not None:
                candidates.append(found)
        return advice.rank_near_misses(candidates)

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
        evidence = evidence_feature(results)
        verdict = _Verdict(
            status=status,
            conditions=tuple(results),
            amount=amount,
            hints=tuple(_item_hints(results, status)),
            potential=potential,
            # the score without its relevance term, which is the only per-firm text part
            base_score=fixed_score(status, confirmation_feature(results), evidence),
            evidence=evidence,
            money=money_feature(potential) if status != "ineligible" else 0.0,
            specific_met=sum(1 for r in results if r.verdict == MET and self.points_to_.get(id(r.condition), False)
                             and advice.met_on_specific_facts(r.condition.rule, profile)),
            applicant_ok=_applicant_ok(item, results),
            in_scope=all(r.verdict == MET for r in results if r.condition.clause == "适用范围"),
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

    def _item_result(self, row: int, profile: Profile, values: dict[str, Any], rel_raw: float,
                     matched_terms, validity: ValidityStatus, query_words: frozenset[str]) -> ItemResult:
        v = self._item_verdict(row, profile, values)
        policy, item = self.pairs_[row]
        score = v.base_score + firm_text_score(relevance_feature(rel_raw), v.evidence, v.money)
        fit = advice.item_fit(v.status, specific_met=v.specific_met, relevance=rel_raw, applicant_ok=v.applicant_ok,
                              general=self.general_[row], in_scope=v.in_scope,
                              names_item=not self.distinct_terms_[row].isdisjoint(query_words))
        return ItemResult(policy, item, v.status, fit, score, rel_raw, v.conditions, v.amount, tuple(matched_terms),
                          v.hints, validity, v.applicant_ok, v.specific_met, v.potential)


@dataclass(frozen=True)
class _Verdict:
    """What an item's answer is for one set of the profile values it reads (memoised)."""

    status: str
    conditions: tuple[ConditionResult, ...]
    amount: AmountResult | None
    hints: tuple[str, ...]
    potential: float
    base_score: float
    evidence: float
    money: float
    specific_met: int
    applicant_ok: bool
    in_scope: bool


def _applicant_ok(item: SupportItem, results: list[ConditionResult]) -> bool:
    """The firm is the kind of applicant the item is for: any enterprise for ordinary items; for
    platform/park-operator items only when the profile shows it (its applicant condition met)."""
    if item.applicant == "enterprise":
        return True
    if item.applicant in {"platform", "park_operator"}:
        return all(r.verdict == MET for r in results if r.condition.kind == "applicant")
    return False


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


def _item_hints(results: list[ConditionResult], status: str) -> list[str]:
    wanted = UNMET if status == "ineligible" else UNKNOWN
    hints: list[str] = []
    for r in results:
        if r.verdict == wanted:
            for h in r.hints or (f"需满足：{r.condition.text}",):
                if h not in hints:
                    hints.append(h)
    return hints[:3]


@dataclass(frozen=True)
class _Live:
    """A record shown at a date: its validity and that of each of its shown items."""

    status: ValidityStatus
    items: dict[str, ValidityStatus]


def _item_sort_key(it: ItemResult) -> tuple[int, int, float]:
    return (it.fit == "recommended", it.status != "ineligible", it.score)


def _policy_sort_key(p: PolicyResult) -> tuple[int, int, float]:
    """Recommended first; then the rest by score (a service and an unconfirmed policy are both
    "not what to act on", and the score already orders them); ruled out last."""
    return (p.fit == "recommended", p.fit != "ruled_out", p.score)


def _policy_result(policy: PolicyRecord, items: list[ItemResult], validity: ValidityStatus) -> PolicyResult:
    """A policy's answer from its items': the best status and fit; its score is that of its best
    item of the best fit; its amount that of the items that fit the firm (advice.policy_amount)."""
    items = sorted(advice.one_per_exclusive_group(items), key=_item_sort_key, reverse=True)
    status = max((it.status for it in items), key=STATUS_RANK.__getitem__)
    fit = advice.best_fit([it.fit for it in items])
    score = max(it.score for it in items if it.fit == fit)
    amount, note = advice.policy_amount(items, fit)
    return PolicyResult(policy, status, fit, score, validity, tuple(items), amount, note)


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    """The matcher over the bundled data, loaded and fitted once per process."""
    return Matcher().fit(bundled_knowledge_base())


def match(profile: Profile | dict, *, as_of: date | str | None = None, include_expired: bool = False,
          top: int | None = None) -> MatchResult:
    """Match one profile against the bundled policy base (contract §3–4)."""
    return default_matcher().match(profile, as_of=as_of, include_expired=include_expired, top=top)
