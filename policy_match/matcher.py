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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from . import advice, engine
from .amounts import evaluate_amount
from .engine import (
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
)
from .fields import LISTING_STAGES, PROFILE_FIELDS, QUALIFICATIONS, SECTORS
from .index import RelevanceIndex, fitted_index, item_document
from .knowledge import KnowledgeBase, bundled_knowledge_base
from .profile import PLANS_INDEXED_CHARS, Profile, ProfileParse, parse_profile
from .results import STATUS_RANK, CheckAway, ItemResult, MatchResult, NearMiss, PolicyResult, Recommended, Summary
from .rules import MET, UNKNOWN, UNMET, ConditionResult, evaluate_condition
from .schema import Condition, PolicyRecord, Rule, SupportItem
from .text import ChineseTokenizer
from .validity import ValidityStatus, item_validity, record_validity

STATUS_ORDER = {"eligible": 2, "possible": 1, "ineligible": 0}
# Profiles × items evaluated at once; a large base gets smaller chunks (bounded memory).
CHUNK_CELLS = 2_000_000
# Fit codes, ordered as results.FIT_RANK: recommended 4, general 3, other 2, ruled out 1.
FIT_NAMES = {4: "recommended", 3: "general", 2: "other", 1: "ruled_out"}
_OPERATOR_APPLICANTS = frozenset({"platform", "park_operator"})
__all__ = ["MONEY_SATURATION_WAN", "NO_CHECKABLE_CONFIRMATION", "POSSIBLE_CEILING",
           "POSSIBLE_FLOOR", "RELEVANCE_SATURATION", "W_EVIDENCE", "W_MONEY", "W_RELEVANCE", "W_STATUS",
           "ItemFeatures", "Matcher", "MatchResult", "default_matcher", "match"]

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


@dataclass(frozen=True)
class ItemFeatures:
    """One firm's per-item arrays (row k: the k-th of ``Matcher.pairs_``): the engine's features
    (``policy_match.engine.Features``), the score (unrounded), the raw relevance, the fit code
    (4 recommended, 3 general, 2 other, 1 ruled out; after one-per-exclusive-group), whether the
    item is shown at the date, whether the firm names a word particular to it, and whether its
    applicant is the firm. Condition verdict codes of item k:
    ``features.condition_codes[matcher.engine_.condition_slice(k)]``, in the order of
    ``matcher.item_conditions_[k]`` (then a government applicant's 申报主体 condition)."""

    features: engine.Features
    score: np.ndarray
    relevance: np.ndarray
    fit: np.ndarray
    shown: np.ndarray
    names_item: np.ndarray
    applicant_ok: np.ndarray


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
        self.row_of_item_ = {it.item_id: row for row, (_, it) in enumerate(self.pairs_)}
        self.item_conditions_ = [[*self.extra_conditions_[p.policy_id], *it.conditions] for p, it in self.pairs_]
        # Static advice facts per item: a service open to all; which conditions point to a firm.
        self.general_ = np.array([advice.is_general(it) for _, it in self.pairs_], dtype=bool)
        # Items of a 征求意见稿: never recommended nor general (advice.item_fit), no near miss
        self.draft_item_ = np.array([p.validity.document_status == "draft" for p, _ in self.pairs_], dtype=bool)
        self.general_code_ = np.where(self.general_ & ~self.draft_item_, 3, 2).astype(np.int8)  # nothing points to it
        self.points_to_ = {id(c): advice.can_point_to_firm(c) for conds in self.item_conditions_ for c in conds}
        # Every item's conditions, amount and ranking features as arrays (policy_match.engine).
        self.engine_ = compile_base(
            [ItemSpec(conds, it.amount, it.applicant in _APPLICANT_TEXT, [self.points_to_[id(c)] for c in conds])
             for conds, (_, it) in zip(self.item_conditions_, self.pairs_, strict=True)],
            informative=advice._informative)
        # Items of a policy are contiguous rows: [policy_starts_[k], policy_starts_[k + 1]).
        sizes = [len(p.items) for p in kb.policies]
        self.policy_starts_ = np.cumsum([0, *sizes]).astype(np.int64)
        self.item_policy_ = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
        applicant = [it.applicant for _, it in self.pairs_]
        self.enterprise_applicant_ = np.array([a == "enterprise" for a in applicant], dtype=bool)
        self.operator_applicant_ = np.array([a in _OPERATOR_APPLICANTS for a in applicant], dtype=bool)
        self._fit_distinct_terms()
        # The closed-vocabulary parts of a query (query_parts), segmented once here.
        self.query_phrases_ = self.index_.tokenizer_.phrase_words(
            [*SECTORS.values(), *QUALIFICATIONS, *(f"上市 {label}" for label in LISTING_STAGES.values()),
             *_FLAG_TEXT.values()])
        self.sized_by_firm_ = np.array([advice.sized_by_firm(it) for _, it in self.pairs_], dtype=bool)
        # The profile fields that size some item's money (独立站 fees, 海外营销 spend…): a firm that
        # fills one in while every item it sizes has ended is told so (_LiveSet.ended_inputs).
        self.sizing_rows_: dict[str, list[int]] = {}
        for row, (_, it) in enumerate(self.pairs_):
            if self.sized_by_firm_[row]:
                self.sizing_rows_.setdefault(it.amount.formula.base, []).append(row)
        # ... unless a live item's conditions still read that figure (实缴注册资本 for 总部企业)
        self.condition_rows_: dict[str, list[int]] = {}
        for row, conds in enumerate(self.item_conditions_):
            for name in {f for c in conds if c.rule is not None for f in c.rule.fields_used()}:
                self.condition_rows_.setdefault(name, []).append(row)
        # Exclusive groups (alternatives within a policy): a group id per item, -1 for none.
        groups: dict[tuple[str, str], int] = {}
        self.item_group_ = np.array([groups.setdefault((p.policy_id, it.exclusive_group), len(groups))
                                     if it.exclusive_group else -1 for p, it in self.pairs_], dtype=np.int64)
        # Condition columns whose being unmet no change of the firm's can undo (advice.near_miss):
        # no rule, the applicant type, a town record's scope, or only facts a firm does not change.
        unchangeable = []
        for conds, (_, it) in zip(self.item_conditions_, self.pairs_, strict=True):
            unchangeable += [c.rule is None or c.kind == "applicant" or c.clause in {"申报主体", "适用范围"}
                             or c.past_period or c.rule.fields_used() <= advice.FIXED_FIELDS for c in conds]
            unchangeable += [True] * (it.applicant in _APPLICANT_TEXT) + [False]  # 申报主体, then the padding
        self.unchangeable_col_ = np.array(unchangeable, dtype=bool)
        self.live_cache_: dict[tuple[date, bool], _LiveSet] = {}
        return self

    def unchangeable_unmet(self, f: engine.Features) -> np.ndarray:
        """Per item: an unmet condition the firm could not change (then it is no near miss)."""
        return engine.segment_counts((f.condition_codes == engine.UNMET_CODE) & self.unchangeable_col_,
                                     self.engine_.item_starts) > 0

    def _fit_distinct_terms(self) -> None:
        """The words particular to each item (advice.distinct_terms), and to each policy (its items'
        together); kept as the rows each term names, so that a query marks the items its few
        particular words name."""
        tok = self.index_.tokenizer_
        memo: dict[str, tuple[str, ...]] = {}

        def terms(text: str) -> tuple[str, ...]:
            hit = memo.get(text)
            if hit is None:
                hit = memo[text] = (*tok.words(text), *tok.whole_words(text))
            return hit

        item_terms = advice.distinct_terms([{w for text in (it.title, *it.keywords) for w in terms(text)}
                                            for _, it in self.pairs_], [p.policy_id for p, _ in self.pairs_],
                                           town_scopes=[frozenset(p.town_scope) for p, _ in self.pairs_])
        by_policy: dict[str, frozenset[str]] = {}
        for (p, _), t in zip(self.pairs_, item_terms, strict=True):
            by_policy[p.policy_id] = by_policy.get(p.policy_id, frozenset()) | t
        self.distinct_terms_ = [by_policy[p.policy_id] for p, _ in self.pairs_]
        # term → the items it is particular to, and the items of the policies it is particular to
        own_rows: dict[str, list[int]] = {}
        policy_rows: dict[str, list[int]] = {}
        for row, ((p, _), t) in enumerate(zip(self.pairs_, item_terms, strict=True)):
            for w in t:
                own_rows.setdefault(w, []).append(row)
            for w in by_policy.get(p.policy_id, ()):
                policy_rows.setdefault(w, []).append(row)
        self.term_vocabulary_ = {w: j for j, w in enumerate(sorted(policy_rows))}
        self.term_item_rows_ = [np.array(own_rows.get(w, []), dtype=np.int64) for w in self.term_vocabulary_]
        self.term_policy_rows_ = [np.array(policy_rows[w], dtype=np.int64) for w in self.term_vocabulary_]

    def names_items(self, plan_words: Sequence[frozenset[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Per firm (the whole words of each one's plans) and item, (P, I) bool: whether the plans
        share a word particular to the item itself, and whether they share one particular to its
        policy (any of its items')."""
        own = np.zeros((len(plan_words), len(self.pairs_)), dtype=bool)
        per_policy = np.zeros_like(own)
        vocabulary = self.term_vocabulary_
        for own_i, policy_i, words in zip(own, per_policy, plan_words, strict=True):  # rows as 1-D views
            for w in words:  # a handful of the plans' words are particular to some policy
                j = vocabulary.get(w)
                if j is not None:
                    own_i[self.term_item_rows_[j]] = True
                    policy_i[self.term_policy_rows_[j]] = True
        return own, per_policy

    # -- query ---------------------------------------------------------------------------
    @staticmethod
    def query_parts(profile: Profile) -> tuple[str, list[str]]:
        """The firm's text for relevance: its plans (what it says it needs), and what else says
        something of its needs — industry, sector, titles, listing stage, flags."""
        parts = [profile.industry or ""]
        if profile.sector:
            parts.append(SECTORS.get(profile.sector, ""))
        parts.extend(profile.qualifications or [])
        if profile.listing_stage and profile.listing_stage != "none":
            parts.append(f"上市 {LISTING_STAGES[profile.listing_stage]}")
        parts.extend(text for name, text in _FLAG_TEXT.items() if getattr(profile, name) is True)
        return (profile.plans or "")[:PLANS_INDEXED_CHARS], [p for p in parts if p]

    @classmethod
    def query_text(cls, profile: Profile) -> str:
        plans, others = cls.query_parts(profile)
        return "\n".join(p for p in (plans, *others) if p)

    # -- matching ------------------------------------------------------------------------
    def match(self, profile: Profile | dict, *, as_of: date | str | None = None,
              include_expired: bool = False, top: int | None = None) -> MatchResult:
        """Match one profile (a dict in the contract's fields, or a :class:`Profile`). With ``top``
        only the best ``top`` policies are returned; the summary still counts every policy."""
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
        item_expired = np.array([item_live[k] and live[p.policy_id].items[it.item_id].validity == "expired"
                                 for k, (p, it) in enumerate(self.pairs_)], dtype=bool)
        ended_inputs = {}
        if not include_expired:
            for name, rows in self.sizing_rows_.items():
                if not item_live[rows].any() and not item_live[self.condition_rows_.get(name, [])].any():
                    titles = list(dict.fromkeys(self.pairs_[r][1].title for r in rows))
                    ended_inputs[name] = (f"填写了{PROFILE_FIELDS[name].label}，但按它计算金额的"
                                          f"{'、'.join(titles[:3])}{'等' if len(titles) > 3 else ''}在基准日已结束，"
                                          "未列出（可选择显示已过期的政策查看）")
        starts = self.policy_starts_[:-1]
        policy_ended = (np.logical_and.reduceat(item_expired | ~item_live, starts) & np.logical_or.reduceat(item_live, starts)
                        if len(self.pairs_) else np.zeros(0, dtype=bool))
        out = _LiveSet(live, item_live, item_expired, ended_inputs, policy_ended)
        if len(self.live_cache_) > 64:
            self.live_cache_.clear()
        self.live_cache_[(day, include_expired)] = out
        return out

    def _match_chunk(self, chunk: list[ProfileParse], day: date, live: _LiveSet,
                     top: int | None) -> Iterator[MatchResult]:
        profiles = [p.profile for p in chunk]
        # one jieba pass over each firm's plans serves relevance and the words that name items
        segmented = [self.index_.tokenizer_.query_words(*self.query_parts(p), self.query_phrases_) for p in profiles]
        relevance, word_vectors = self.index_.score_words([words for words, _ in segmented])
        f = engine.evaluate(self.engine_, encode_profiles(profiles, self.engine_.layout))
        scores = engine.scores(f, relevance)
        # Tiers (advice.item_fit), vectorised: ruled out; other (not the firm's applicant type, or
        # a town record's town not shown to be the firm's); recommended; general; other.
        # (applicant conditions all met, or none: code 2 or -1)
        applicant_ok = self.enterprise_applicant_ | (self.operator_applicant_ & (np.abs(f.applicant - 0.5) > 1))
        # advice.plans_name_item: a word particular to the item itself, or to its policy when the
        # item adds no money that the firm's own numbers do not size
        names_own, names_policy = self.names_items([plan_words for _, plan_words in segmented])
        sized = self.sized_by_firm_ | ~(f.potential > 0) | f.amount_cap_fallback
        names = names_own | (names_policy & sized)
        pointed = (((f.pointing_met > 0) & (relevance >= advice.SPECIFIC_RELEVANCE))
                   | (names & (relevance >= advice.RECOMMEND_RELEVANCE))) & ~self.draft_item_
        fit = np.where(pointed, np.int8(4), self.general_code_)
        fit = np.where(applicant_ok & f.in_scope, fit, np.int8(2))
        fit = np.where(f.status == engine.UNMET_CODE, np.int8(1), fit) * live.item_live
        # shown with include_expired, an ended item is never to act on nor in the money: other at most
        fit = np.where(live.item_expired & (fit > 2), np.int8(2), fit)
        self._one_per_exclusive_group(fit, f.pointing_met, relevance)
        status = np.where(live.item_live, f.status, -1)
        starts = self.policy_starts_[:-1]
        if len(self.pairs_):
            policy_status = np.maximum.reduceat(status, starts, axis=1)
            policy_fit = np.maximum.reduceat(fit, starts, axis=1)
            best = live.item_live & (fit == policy_fit.take(self.item_policy_, axis=1))
            policy_score = np.maximum.reduceat(np.where(best, scores, -np.inf), starts, axis=1)
        copy = len(chunk) > 1  # each result keeps its own rows, not the chunk's arrays
        for i, parsed in enumerate(chunk):
            if not len(self.pairs_):
                yield MatchResult(as_of=day, profile=parsed.profile, policies=[], warnings=list(parsed.warnings),
                                  summary=_summary([], [], parsed.profile))
                continue
            shown = np.flatnonzero(policy_status[i] >= 0)
            pf, ps = policy_fit[i, shown], policy_score[i, shown]
            # recommended first, ruled out last; within a tier, an ended policy (include_expired) after the rest
            order = shown[np.lexsort((shown, -ps, live.policy_ended[shown], pf == 1, pf != 4))]
            take = (lambda a, i=i: a[i].copy()) if copy else (lambda a, i=i: a[i])
            ranked = _Ranked(self, parsed.profile, day, live, order, top, engine.row_features(f, i, copy),
                             take(scores), take(relevance), take(fit), take(names), take(applicant_ok),
                             word_vectors[i], policy_fit[i, order].tolist())
            ended = [msg for name, msg in live.ended_inputs.items() if getattr(parsed.profile, name) is not None]
            yield MatchResult(as_of=day, profile=parsed.profile, warnings=[*parsed.warnings, *ended], source=ranked)

    def _one_per_exclusive_group(self, fit: np.ndarray, pointing_met: np.ndarray, relevance: np.ndarray) -> None:
        """advice.one_per_exclusive_group: of recommended alternatives (one exclusive group of a
        policy) only the one the firm's facts and plans point to most stays recommended."""
        grouped = (fit == 4) & (self.item_group_ >= 0)
        for p, rows in ((p, np.flatnonzero(grouped[p])) for p in range(fit.shape[0])):
            if len(rows) < 2:
                continue
            best: dict[int, int] = {}
            for r in rows.tolist():
                g = int(self.item_group_[r])
                key = (int(pointing_met[p, r]), float(relevance[p, r]))
                if g not in best or key > (int(pointing_met[p, best[g]]), float(relevance[p, best[g]])):
                    best[g] = r
            for r in rows.tolist():
                if best[int(self.item_group_[r])] != r:
                    fit[p, r] = 2

    # -- explanations (only for what is shown) ---------------------------------------------
    def item_result(self, ranked: _Ranked, row: int) -> ItemResult:
        """One item's full answer for the firm, through rules.py / amounts.py (the reference)."""
        policy, item = self.pairs_[row]
        profile = ranked.profile
        status = STATUSES[int(ranked.features.status[row])]
        results = [evaluate_condition(c, profile) for c in self.item_conditions_[row]]
        results.extend(_applicant_results(item))
        amount = evaluate_amount(item.amount, profile, eligible=status == "eligible")
        return ItemResult(policy, item, status, FIT_NAMES[int(ranked.fit[row])], float(ranked.scores[row]),
                          float(ranked.relevance[row]), tuple(results), amount, lambda: tuple(ranked.matched_terms(row)),
                          tuple(_item_hints(results, status)), ranked.live.policies[policy.policy_id].items[item.item_id],
                          bool(ranked.applicant_ok[row]), int(ranked.features.pointing_met[row]),
                          float(ranked.features.potential[row]))


@dataclass
class _LiveSet:
    policies: dict[str, _Live]
    item_live: np.ndarray     # (items,) bool: shown at this date
    item_expired: np.ndarray  # (items,) bool: shown (include_expired) though expired
    ended_inputs: dict[str, str]  # profile field → why the money it sizes is not shown (all ended)
    policy_ended: np.ndarray  # (policies,) bool: shown (include_expired) with every shown item ended


class _Ranked:
    """One firm's ranking from the engine, and its explanations built from it on demand."""

    def __init__(self, matcher: Matcher, profile: Profile, day: date, live: _LiveSet, order: np.ndarray,
                 top: int | None, features: engine.Features, scores: np.ndarray, relevance: np.ndarray,
                 fit: np.ndarray, names: np.ndarray, applicant_ok: np.ndarray, word_vector, order_fits: list[int]):
        self.matcher, self.profile, self.day, self.live = matcher, profile, day, live
        self.order, self.top, self.order_fits = order, top, order_fits
        self.features, self.scores, self.relevance, self.fit = features, scores, relevance, fit
        self.names, self.applicant_ok, self.word_vector = names, applicant_ok, word_vector
        self._items: dict[int, ItemResult] = {}
        self._terms: dict[int, list[str]] = {}
        self._policies: dict[int, PolicyResult] = {}

    # the engine's view
    def policy_ids(self) -> list[str]:
        policies = self.matcher.kb_.policies
        shown = self.order if self.top is None else self.order[:self.top]
        return [policies[k].policy_id for k in shown.tolist()]

    def item_features(self) -> ItemFeatures:
        return ItemFeatures(self.features, self.scores, self.relevance, self.fit, self.live.item_live, self.names,
                            self.applicant_ok)

    # explanations
    def matched_terms(self, row: int) -> list[str]:
        if row not in self._terms:
            # the words of every item of the shown policies (and this one) in one pass
            m = self.matcher
            shown = self.order if self.top is None else self.order[:self.top]
            rows = {r for k in shown.tolist() for r in range(m.policy_starts_[k], m.policy_starts_[k + 1])} | {row}
            rows -= self._terms.keys()
            found = m.index_.matched_terms(self.word_vector, sorted(rows))
            self._terms.update({r: found.get(r, []) for r in rows})
        return self._terms[row]

    def item(self, row: int) -> ItemResult:
        hit = self._items.get(row)
        if hit is None:
            hit = self._items[row] = self.matcher.item_result(self, row)
        return hit

    def policy(self, k: int) -> PolicyResult:
        hit = self._policies.get(k)
        if hit is None:
            m = self.matcher
            policy = m.kb_.policies[k]
            rows = [r for r in range(m.policy_starts_[k], m.policy_starts_[k + 1]) if self.live.item_live[r]]
            hit = self._policies[k] = _policy_result(policy, [self.item(r) for r in rows],
                                                     self.live.policies[policy.policy_id].status)
        return hit

    def _item_rows_in_order(self, k: int) -> list[int]:
        """A policy's shown items as _policy_result orders them (without explaining them)."""
        m = self.matcher
        rows = [r for r in range(m.policy_starts_[k], m.policy_starts_[k + 1]) if self.live.item_live[r]]
        fit, status, scores = self.fit, self.features.status, self.scores
        return sorted(rows, key=lambda r: (fit[r] == 4, status[r] != engine.UNMET_CODE, scores[r]), reverse=True)

    def policies(self) -> list[PolicyResult]:
        shown = self.order if self.top is None else self.order[:self.top]
        return [self.policy(k) for k in shown.tolist()]

    def recommended(self) -> list[Recommended]:
        """MatchResult.recommended: the recommended policies and their recommended items, in
        the order of the full answer, explaining no other item."""
        m, out = self.matcher, []
        for rank, (k, f) in enumerate(zip(self.order.tolist(), self.order_fits, strict=True), 1):
            if f == 4:
                policy = m.kb_.policies[k]
                items = tuple(self.item(r) for r in self._item_rows_in_order(k) if self.fit[r] == 4)
                out.append(Recommended(rank, policy, self.live.policies[policy.policy_id].status, items))
        return out

    def item_by_id(self, item_id: str) -> tuple[int, PolicyRecord, ItemResult]:
        """(rank of its policy, the policy, the explained item) for one item."""
        m = self.matcher
        row = m.row_of_item_[item_id]
        k = int(np.searchsorted(m.policy_starts_, row, side="right") - 1)
        rank = self.order.tolist().index(k) + 1 if k in self.order else 0
        return rank, m.kb_.policies[k], self.item(row)

    def summary(self) -> Summary:
        recommended = [it for rec in self.recommended() for it in rec.items]
        return _summary([FIT_NAMES[f] for f in self.order_fits], recommended, self.profile)

    def near_misses(self) -> list[NearMiss]:
        """advice.near_miss over the ruled-out items that could be one (a vectorised pre-check of
        what near_miss itself requires), best possible first: an item's priority is at most its
        worth, so once eight are found above the next one's worth, the rest cannot enter."""
        m, f = self.matcher, self.features
        candidates = np.flatnonzero(
            (f.status == engine.UNMET_CODE) & (f.potential > 0) & self.live.item_live & ~self.live.item_expired
            & ~m.draft_item_ & ~f.unmet_fixed & (f.applicant != engine.UNMET_CODE) & ~m.unchangeable_unmet(f))
        if not len(candidates):
            return []
        worth = [0.6 * advice.money_weight(float(f.potential[r])) + 0.4 * relevance_feature(float(self.relevance[r]))
                 for r in candidates.tolist()]
        found: list[NearMiss] = []
        for w, r in sorted(zip(worth, candidates.tolist(), strict=True), key=lambda t: -t[0]):
            if len(found) >= advice.MAX_NEAR_MISSES:
                found = advice.rank_near_misses(found)
                if found[-1].priority > w:
                    break
            hit = advice.near_miss(self.item(r), self.profile, relevance_weight=relevance_feature(float(self.relevance[r])))
            if hit is not None:
                found.append(hit)
        return advice.rank_near_misses(found)

    def one_check_away(self) -> list[CheckAway]:
        out = []
        for k, fk in zip(self.order.tolist(), self.order_fits, strict=True):
            if fk != 4:
                continue
            for r in self._item_rows_in_order(k):
                if self.fit[r] == 4 and self.features.status[r] == engine.UNKNOWN_CODE:
                    found = advice.one_check_away(self.item(r))
                    if found is not None:
                        out.append(found)
        return out


def _summary(policy_fits: list[str], recommended: list[ItemResult], profile: Profile) -> Summary:
    counts = advice.counts_by_fit(policy_fits)
    money = advice.headline_money(recommended)
    fill_in = advice.fill_in(profile)
    return Summary(counts, money, advice.summary_text(counts, money, fill_in), fill_in)


def _applicant_ok(item: SupportItem, results: list[ConditionResult]) -> bool:
    """The firm is the kind of applicant the item is for: any enterprise for ordinary items; for
    platform/park-operator items only when the profile shows it (its applicant condition met)."""
    if item.applicant == "enterprise":
        return True
    if item.applicant in {"platform", "park_operator"}:
        return all(r.verdict == MET for r in results if r.condition.kind == "applicant")
    return False


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
            # a fact of a period already over is not something to reach: say what it was measured on
            past = (f"未满足：{r.condition.text}（所列期间已过，无法补足）",) if r.condition.past_period else ()
            for h in past or r.hints or (f"需满足：{r.condition.text}",):
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
