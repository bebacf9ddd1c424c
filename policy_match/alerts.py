"""Reminders and new-policy alerts for the firms an advisor has visited.

Two questions bring an advisor back to a firm:

- **a follow-up is due**: an open visit whose 跟进期限 has passed (逾期), is today (今天到期) or is
  within the next few days (即将到期) — :func:`due_follow_ups`;
- **the advice changed**: the firm's stored profile, matched again against today's policy base at
  today's date, gives advice that differs from what the firm was told at the visit —
  :func:`review_visits`. The differences are, per policy: newly recommended (新增推荐), no longer
  available (不再可申请: expired, ruled out, or gone from the base), no longer recommended though
  still open (不再推荐), the amount changed (金额变化, also the headline money), the deadline moved
  (截止日期变化), and a deadline within 90 days (临近截止).

:func:`call_backs` puts both together per firm ("firms to call back and why") and
:func:`write_call_backs_xlsx` writes that list as a workbook. The comparison itself is pure:
:func:`compare_advice` takes two :class:`AdviceSnapshot` values and returns
:class:`AdviceChange` values; snapshots come from a stored visit summary
(:func:`snapshot_from_summary`, ``visits.summarize_result``) or from a fresh match
(:func:`snapshot_from_match`).

Visits saved before the advice layer (no ``fit`` per policy) are compared on what was stored —
the policies then eligible or possible and their amounts; visits saved without any match summary
are compared with the stored profile matched at the visit date against today's base, which shows
what the calendar changed (not what the base changed). Each review says which of these it did.
"""

from __future__ import annotations

import hashlib
import io
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .fields import TOWN_ALIASES, TOWNS
from .knowledge import KnowledgeBase
from .matcher import Matcher
from .profile import ProfileError, parse_profile
from .results import MatchResult
from .rules import UNMET
from .validity import DEADLINE_WARNING_DAYS, EXPIRED, record_validity
from .visits import group_by_firm
from .wording import amount_range

CHANGE_KINDS = ("no_longer_available", "new_recommended", "deadline_soon", "amount_changed", "deadline_changed",
                "no_longer_recommended")
CHANGE_ZH = {
    "new_recommended": "新增推荐",
    "no_longer_available": "不再可申请",
    "no_longer_recommended": "不再推荐",
    "amount_changed": "金额变化",
    "deadline_changed": "截止日期变化",
    "deadline_soon": "临近截止",
}
# What an advisor should act on (call the firm); the rest is worth knowing when calling anyway.
ACTIONABLE = frozenset({"no_longer_available", "new_recommended", "deadline_soon", "amount_changed",
                        "deadline_changed"})
FOLLOW_UP_ZH = {"overdue": "跟进已逾期", "due": "今天到期", "upcoming": "即将到期"}
BASIS_ZH = {
    "saved": "与走访时保存的政策建议比较",
    "saved_status": "走访记录早于“推荐申报”分级：与当时可申请、可能符合的政策比较",
    "rederived": "走访时未保存匹配结果：与按走访日重新匹配（现行政策库）的结果比较，只反映日期带来的变化",
    "none": "走访时未记录企业情况和匹配结果，无法比较",
    "unreadable": "当时的企业情况无法重新匹配",
}
UPCOMING_DAYS = 7
DEADLINE_HORIZON_DAYS = DEADLINE_WARNING_DAYS  # the same 90 days every interface warns about
_MONEY_EPS = 0.005  # amounts are kept to two decimals of 万元


# -- the policy base's version --------------------------------------------------------------

_VERSIONS: dict[int, tuple[weakref.ref, str]] = {}


def base_version(kb: KnowledgeBase) -> str:
    """A short fingerprint of the policy records (their content, not file dates): two bases with
    the same version give the same advice. Computed once per loaded base."""
    cached = _VERSIONS.get(id(kb))
    if cached is not None and cached[0]() is kb:
        return cached[1]
    digest = hashlib.sha256()
    for policy in sorted(kb.policies, key=lambda p: p.policy_id):
        digest.update(policy.model_dump_json().encode("utf-8"))
        digest.update(b"\0")
    version = digest.hexdigest()[:12]
    _VERSIONS[id(kb)] = (weakref.ref(kb), version)
    return version


# -- snapshots of advice ---------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyAdvice:
    """One policy as a firm was (or would now be) advised about it."""

    policy_id: str
    title: str
    recommended: bool  # on the list the firm is told to act on
    status: str | None = None  # eligible / possible / ineligible
    validity: str | None = None  # current / expired / unknown
    deadline: date | None = None
    low: float | None = None  # 万元; None when not a money amount or not recorded
    high: float | None = None
    reason: str | None = None  # why it is ruled out, when it is

    @property
    def amount_text(self) -> str:
        if self.high is None:
            return "金额未公开或非资金类支持"
        return amount_range({"low": self.low or 0, "high": self.high})


@dataclass(frozen=True)
class AdviceSnapshot:
    """What a firm was told: every policy shown, which were recommended, the headline money."""

    as_of: date | None
    policies: dict[str, PolicyAdvice]
    money: tuple[float, float] | None  # headline (low, high) over the recommended items
    base_version: str | None = None
    basis: str = "saved"  # saved / saved_status (before the advice layer) / rederived

    @property
    def recommended(self) -> list[PolicyAdvice]:
        return [p for p in self.policies.values() if p.recommended]


class _StoredAmount(BaseModel):
    model_config = ConfigDict(extra="ignore")
    low: float | None = None
    high: float | None = None


class _StoredPolicy(BaseModel):
    model_config = ConfigDict(extra="ignore")
    policy_id: str
    title: str = ""
    short_title: str | None = None
    status: str | None = None
    fit: str | None = None
    validity: str | None = None
    deadline: date | None = None
    amount_wan: _StoredAmount | None = None

    @field_validator("deadline", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if value == "" else value


class _StoredSummary(BaseModel):
    """The parts of ``visits.summarize_result`` the comparison reads (other keys ignored)."""

    model_config = ConfigDict(extra="ignore")
    as_of: date | None = None
    base_version: str | None = None
    policies: list[_StoredPolicy]
    summary: dict[str, Any] | None = None


def _money_pair(amount: Any) -> tuple[float, float] | None:
    if not isinstance(amount, dict):
        return None
    low, high = amount.get("low"), amount.get("high")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return None
    return float(low), float(high)


def snapshot_from_summary(summary: Any) -> AdviceSnapshot | None:
    """The advice a visit stored (``visits.summarize_result``), or ``None`` when the visit has
    no readable per-policy record (saved without a match, or damaged by another tool)."""
    if not isinstance(summary, dict) or not isinstance(summary.get("policies"), list):
        return None
    try:
        stored = _StoredSummary.model_validate(summary)
    except ValidationError:
        return None
    with_fit = any(p.fit is not None for p in stored.policies)
    policies: dict[str, PolicyAdvice] = {}
    for p in stored.policies:
        recommended = p.fit == "recommended" if with_fit else p.status in {"eligible", "possible"}
        amount = p.amount_wan
        policies.setdefault(p.policy_id, PolicyAdvice(
            policy_id=p.policy_id, title=p.short_title or p.title or p.policy_id, recommended=recommended,
            status=p.status, validity=p.validity, deadline=p.deadline,
            low=amount.low if amount else None, high=amount.high if amount else None))
    money = _money_pair((stored.summary or {}).get("amount_wan")) if with_fit else None
    return AdviceSnapshot(stored.as_of, policies, money, stored.base_version,
                          "saved" if with_fit else "saved_status")


def _ruled_out_reason(policy_result) -> str | None:
    for item in policy_result.items:
        for c in item.conditions:
            if c.verdict == UNMET:
                return c.reason or c.condition.text
    return None


def snapshot_from_match(result: MatchResult, *, version: str | None = None, basis: str = "saved") -> AdviceSnapshot:
    """The advice a match gives now (typed results, no dicts built)."""
    policies: dict[str, PolicyAdvice] = {}
    for p in result.policies:
        amount = p.amount
        policies[p.policy_id] = PolicyAdvice(
            policy_id=p.policy_id, title=p.policy.short_title or p.policy.title, recommended=p.fit == "recommended",
            status=p.status, validity=p.validity.validity, deadline=p.validity.deadline,
            low=amount.low if amount else None, high=amount.high if amount else None,
            reason=_ruled_out_reason(p) if p.status == "ineligible" else None)
    money = result.summary.money
    return AdviceSnapshot(result.as_of, policies, (money.low, money.high), version, basis)


# -- the comparison ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AdviceChange:
    """One difference between the advice at the visit and today's."""

    kind: str  # one of CHANGE_KINDS
    title: str  # the policy, or "推荐政策合计" for the headline money
    text: str  # the whole line, in Chinese
    policy_id: str | None = None
    before: str | None = None
    after: str | None = None

    @property
    def label(self) -> str:
        return CHANGE_ZH[self.kind]

    @property
    def line(self) -> str:
        return f"{self.label}：{self.text}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "policy_id": self.policy_id, "title": self.title,
                "text": self.text, "before": self.before, "after": self.after}


def _differs(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > _MONEY_EPS


def _money_text(pair: tuple[float, float]) -> str:
    return amount_range({"low": pair[0], "high": pair[1]})


def _deadline_text(p: PolicyAdvice) -> str:
    # The days left are said once, on the 临近截止 line of the same policy.
    return f"，{p.deadline.isoformat()} 截止" if p.deadline else ""


def compare_advice(before: AdviceSnapshot, after: AdviceSnapshot, *, as_of: date,
                   unavailable: Mapping[str, str] | None = None,
                   horizon_days: int = DEADLINE_HORIZON_DAYS) -> list[AdviceChange]:
    """What changed from ``before`` (the visit) to ``after`` (today), most urgent kind first.

    ``unavailable`` says, for policies the firm was told about that are missing from ``after``,
    why (expired, gone from the base); see :func:`unavailable_reasons`.
    """
    unavailable = unavailable or {}
    was = {p.policy_id: p for p in before.recommended}
    now = {p.policy_id: p for p in after.recommended}
    changes: list[AdviceChange] = []

    for pid, p in was.items():
        if pid in now:
            continue
        current = after.policies.get(pid)
        if current is None:
            reason = unavailable.get(pid) or "按基准日已不在可申请的政策中"
            changes.append(AdviceChange("no_longer_available", p.title, f"{p.title}（{reason}）", pid,
                                        p.amount_text, reason))
        elif current.status == "ineligible":
            reason = f"按现有信息暂不符合：{current.reason}" if current.reason else "按现有信息暂不符合"
            changes.append(AdviceChange("no_longer_available", current.title, f"{current.title}（{reason}）", pid,
                                        p.amount_text, reason))
        elif current.validity == EXPIRED:
            changes.append(AdviceChange("no_longer_available", current.title, f"{current.title}（已过期）", pid,
                                        p.amount_text, "已过期"))
        elif before.basis != "saved_status":
            # Before the advice layer "eligible or possible" was all a visit recorded: a policy
            # still open is not news then, only when it left the recommended list.
            changes.append(AdviceChange("no_longer_recommended", current.title,
                                        f"{current.title}（仍可了解，但按现有信息不再列为推荐申报）", pid))

    for pid, p in now.items():
        if pid in was:
            continue
        changes.append(AdviceChange("new_recommended", p.title, f"{p.title}（{p.amount_text}{_deadline_text(p)}）",
                                    pid, None, p.amount_text))

    for pid, p in now.items():
        old = was.get(pid)
        if old is None:
            continue
        if _differs(old.high, p.high) or _differs(old.low, p.low):
            changes.append(AdviceChange("amount_changed", p.title, f"{p.title} 由 {old.amount_text} 变为 {p.amount_text}",
                                        pid, old.amount_text, p.amount_text))
        if old.deadline is not None and p.deadline is not None and old.deadline != p.deadline:
            changes.append(AdviceChange("deadline_changed", p.title,
                                        f"{p.title} 截止日期由 {old.deadline.isoformat()} 改为 {p.deadline.isoformat()}",
                                        pid, old.deadline.isoformat(), p.deadline.isoformat()))

    if before.money is not None and after.money is not None and (
            _differs(before.money[0], after.money[0]) or _differs(before.money[1], after.money[1])):
        old_text, new_text = _money_text(before.money), _money_text(after.money)
        changes.append(AdviceChange("amount_changed", "推荐政策合计", f"推荐政策合计由 {old_text} 变为 {new_text}",
                                    None, old_text, new_text))

    for pid, p in now.items():
        if p.deadline is None:
            continue
        days = (p.deadline - as_of).days
        if 0 <= days <= horizon_days:
            left = "今天是最后一天" if days == 0 else f"还剩 {days} 天"
            changes.append(AdviceChange("deadline_soon", p.title, f"{p.title} {p.deadline.isoformat()} 截止，{left}",
                                        pid, None, p.deadline.isoformat()))

    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    return sorted(changes, key=lambda c: order[c.kind])


def unavailable_reasons(kb: KnowledgeBase, policy_ids: Iterable[str], as_of: date) -> dict[str, str]:
    """Why each policy is missing from a match at ``as_of``: gone from the base, or expired."""
    by_id = {p.policy_id: p for p in kb.policies}
    out: dict[str, str] = {}
    for pid in policy_ids:
        policy = by_id.get(pid)
        if policy is None:
            out[pid] = "政策库中已没有这项政策"
            continue
        status = record_validity(policy, as_of)
        if status.validity == EXPIRED:
            out[pid] = f"已过期：{status.note.removeprefix('已结束：')}"
    return out


# -- one visit reviewed -----------------------------------------------------------------------

@dataclass(frozen=True)
class VisitReview:
    """A saved visit's advice compared with today's."""

    visit_id: int
    firm_name: str
    town: str | None
    advisor: str | None
    visit_date: date
    as_of: date  # today's matching date
    saved_as_of: date | None  # the date the visit's advice was matched at
    basis: str  # see BASIS_ZH
    base_changed: bool | None  # None: the visit did not record its base's version
    changes: tuple[AdviceChange, ...] = ()
    note: str | None = None

    @property
    def actionable(self) -> tuple[AdviceChange, ...]:
        return tuple(c for c in self.changes if c.kind in ACTIONABLE)

    def counts(self) -> dict[str, int]:
        return {k: sum(c.kind == k for c in self.changes) for k in CHANGE_KINDS}

    @property
    def basis_text(self) -> str:
        text = BASIS_ZH[self.basis]
        if self.note:
            text += f"（{self.note}）"
        if self.base_changed is True:
            text += "；走访后政策库已更新"
        elif self.base_changed is False:
            text += "；政策库自走访以来未变"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"visit_id": self.visit_id, "firm_name": self.firm_name, "town": self.town, "advisor": self.advisor,
                "visit_date": self.visit_date.isoformat(), "as_of": self.as_of.isoformat(),
                "saved_as_of": self.saved_as_of.isoformat() if self.saved_as_of else None, "basis": self.basis,
                "basis_text": self.basis_text, "base_changed": self.base_changed,
                "changes": [c.to_dict() for c in self.changes]}


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def review_visits(visits: Iterable[dict[str, Any]], matcher: Matcher, as_of: date | None = None,
                  *, horizon_days: int = DEADLINE_HORIZON_DAYS) -> list[VisitReview]:
    """Each visit's stored advice compared with its stored profile matched today (``as_of``,
    default today) against the matcher's base. A visit whose profile no longer validates gets a
    review with no changes and a note naming the fields."""
    as_of = as_of or date.today()
    kb = matcher.kb_
    version = base_version(kb)
    visits = list(visits)
    parsed: list[Any] = []
    for v in visits:
        try:
            parsed.append(parse_profile(v.get("profile") or {}).profile)
        except ProfileError as exc:
            parsed.append(exc)
    profiles = [p for p in parsed if not isinstance(p, ProfileError)]
    fresh = iter(matcher.match_many(profiles, as_of=as_of))
    reviews = []
    for v, profile in zip(visits, parsed, strict=True):
        if isinstance(profile, ProfileError):
            fields = "、".join(sorted({p.field for p in profile.problems}))
            reviews.append(_review(v, as_of, None, "unreadable", None, (), f"字段有误：{fields}"))
            continue
        after = snapshot_from_match(next(fresh), version=version)
        before = snapshot_from_summary(v.get("result_summary"))
        if before is None:
            if not v.get("profile"):
                reviews.append(_review(v, as_of, None, "none", None, ()))
                continue
            day = _as_date(v.get("visit_date")) or as_of
            before = snapshot_from_match(matcher.match(profile, as_of=day), basis="rederived")
        stored_version = before.base_version or v.get("base_version")
        base_changed = None if before.basis == "rederived" or not stored_version else stored_version != version
        missing = [p.policy_id for p in before.recommended if p.policy_id not in after.policies]
        changes = compare_advice(before, after, as_of=as_of, unavailable=unavailable_reasons(kb, missing, as_of),
                                 horizon_days=horizon_days)
        saved_as_of = before.as_of or _as_date(v.get("visit_date"))
        reviews.append(_review(v, as_of, saved_as_of, before.basis, base_changed, tuple(changes)))
    return reviews


def _review(v: dict[str, Any], as_of: date, saved_as_of: date | None, basis: str, base_changed: bool | None,
            changes: tuple[AdviceChange, ...], note: str | None = None) -> VisitReview:
    return VisitReview(visit_id=v["id"], firm_name=v.get("firm_name") or "", town=v.get("town"),
                       advisor=v.get("advisor"), visit_date=_as_date(v.get("visit_date")) or as_of, as_of=as_of,
                       saved_as_of=saved_as_of, basis=basis, base_changed=base_changed, changes=changes, note=note)


def review_visit(visit: dict[str, Any], matcher: Matcher, as_of: date | None = None) -> VisitReview:
    return review_visits([visit], matcher, as_of)[0]


# -- follow-ups --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FollowUpReminder:
    """An open follow-up whose date has come, or comes within a few days."""

    visit_id: int
    firm_name: str
    town: str | None
    advisor: str | None
    visit_date: date
    follow_up: str
    due: date
    state: str  # overdue / due / upcoming
    days: int  # days overdue (overdue), 0 (due), days left (upcoming)

    @property
    def label(self) -> str:
        if self.state == "overdue":
            return f"{FOLLOW_UP_ZH['overdue']} {self.days} 天"
        if self.state == "upcoming":
            return f"{self.days} 天后到期"
        return FOLLOW_UP_ZH["due"]

    @property
    def line(self) -> str:
        what = self.follow_up.strip() or "（未写跟进事项）"
        return f"{self.label}：{what}（期限 {self.due.isoformat()}）"

    def to_dict(self) -> dict[str, Any]:
        return {"visit_id": self.visit_id, "firm_name": self.firm_name, "town": self.town, "advisor": self.advisor,
                "visit_date": self.visit_date.isoformat(), "follow_up": self.follow_up, "due": self.due.isoformat(),
                "state": self.state, "days": self.days, "label": self.label}


def normalise_town(town: str | None) -> str | None:
    """A town as the store keeps it (古镇 → 古镇镇); raises ``ValueError`` in Chinese otherwise."""
    if town is None or not town.strip():
        return None
    name = TOWN_ALIASES.get(town.strip(), town.strip())
    if name not in TOWNS:
        raise ValueError(f"“{town}”不是中山市的镇街")
    return name


def _keep(v: dict[str, Any], advisor: str | None, town: str | None) -> bool:
    return ((advisor is None or (v.get("advisor") or "") == advisor)
            and (town is None or v.get("town") == town))


def due_follow_ups(visits: Iterable[dict[str, Any]], as_of: date | None = None, *, advisor: str | None = None,
                   town: str | None = None, upcoming_days: int = UPCOMING_DAYS) -> list[FollowUpReminder]:
    """Open follow-ups due on or before ``as_of`` + ``upcoming_days``, the most overdue first."""
    as_of = as_of or date.today()
    advisor = advisor.strip() if advisor and advisor.strip() else None
    town = normalise_town(town)
    out = []
    for v in visits:
        due = _as_date(v.get("follow_up_due"))
        if v.get("status") != "open" or due is None or not _keep(v, advisor, town):
            continue
        days = (due - as_of).days
        if days > upcoming_days:
            continue
        state = "overdue" if days < 0 else "due" if days == 0 else "upcoming"
        out.append(FollowUpReminder(v["id"], v.get("firm_name") or "", v.get("town"), v.get("advisor"),
                                    _as_date(v.get("visit_date")) or as_of, v.get("follow_up") or "", due, state,
                                    abs(days)))
    return sorted(out, key=lambda r: (r.due, r.firm_name))


# -- the call-back list -------------------------------------------------------------------------

@dataclass(frozen=True)
class CallBack:
    """One firm to call back, and why: its follow-ups that are due, its advice that changed."""

    firm_name: str
    credit_code: str | None
    town: str | None
    advisor: str | None  # of the latest visit
    last_visit: date
    visit_id: int  # the latest visit
    follow_ups: tuple[FollowUpReminder, ...] = ()
    review: VisitReview | None = None

    @property
    def changes(self) -> tuple[AdviceChange, ...]:
        return self.review.changes if self.review else ()

    @property
    def reasons(self) -> list[str]:
        return [f.line for f in self.follow_ups] + [c.line for c in self.changes]

    @property
    def urgency(self) -> tuple:
        overdue = max((f.days for f in self.follow_ups if f.state == "overdue"), default=-1)
        due_today = any(f.state == "due" for f in self.follow_ups)
        actionable = len(self.review.actionable) if self.review else 0
        return (-overdue, not due_today, -actionable, -len(self.follow_ups), self.firm_name)

    def to_dict(self) -> dict[str, Any]:
        return {"firm_name": self.firm_name, "credit_code": self.credit_code, "town": self.town,
                "advisor": self.advisor, "last_visit": self.last_visit.isoformat(), "visit_id": self.visit_id,
                "reasons": self.reasons, "follow_ups": [f.to_dict() for f in self.follow_ups],
                "review": self.review.to_dict() if self.review else None}


@dataclass(frozen=True)
class CallBackList:
    as_of: date
    advisor: str | None
    town: str | None
    firms: list[CallBack] = field(default_factory=list)
    visits_reviewed: int = 0
    base_version: str | None = None
    upcoming_days: int = UPCOMING_DAYS

    def counts(self) -> dict[str, int]:
        follow_ups = [f for c in self.firms for f in c.follow_ups]
        changes = [ch for c in self.firms for ch in c.changes]
        return {"firms": len(self.firms), **{s: sum(f.state == s for f in follow_ups) for s in FOLLOW_UP_ZH},
                **{k: sum(ch.kind == k for ch in changes) for k in CHANGE_KINDS},
                "firms_changed": sum(bool(c.review and c.review.actionable) for c in self.firms)}

    def summary_line(self) -> str:
        n = self.counts()
        if not self.firms:
            return f"基准日 {self.as_of.isoformat()}：没有需要回访的企业（已核对 {self.visits_reviewed} 家走访过的企业）。"
        parts = [f"{FOLLOW_UP_ZH[s]} {n[s]} 项" for s in FOLLOW_UP_ZH if n[s]]
        parts += [f"{CHANGE_ZH[k]} {n[k]} 项" for k in CHANGE_KINDS if n[k]]
        return (f"基准日 {self.as_of.isoformat()}：{n['firms']} 家企业需要回访（已核对 {self.visits_reviewed} 家走访过的企业）"
                + ("：" + "，".join(parts) if parts else "") + "。")

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "advisor": self.advisor, "town": self.town,
                "base_version": self.base_version, "upcoming_days": self.upcoming_days, "visits_reviewed": self.visits_reviewed, "counts": self.counts(),
                "firms": [c.to_dict() for c in self.firms]}


def call_backs(visits: list[dict[str, Any]], matcher: Matcher, as_of: date | None = None, *,
               advisor: str | None = None, town: str | None = None, upcoming_days: int = UPCOMING_DAYS,
               horizon_days: int = DEADLINE_HORIZON_DAYS, changes_only_actionable: bool = True) -> CallBackList:
    """The firms to call back at ``as_of`` and why, the most urgent first.

    ``visits`` as ``visits.list_visits`` returns them (newest first). Each firm's latest visit
    carries its advice; follow-ups count from every open visit of the firm. ``advisor`` keeps the
    follow-ups of that advisor's visits and the firms that advisor saw last; ``town`` the firms
    of that town. A firm is listed when a follow-up is due or its advice changed in a way to act
    on (``changes_only_actionable``; "不再推荐" alone does not make a call)."""
    as_of = as_of or date.today()
    advisor = advisor.strip() if advisor and advisor.strip() else None
    town = normalise_town(town)
    groups = [g for g in group_by_firm(visits) if town is None or g[0].get("town") == town]
    latest = [g[0] for g in groups if advisor is None or (g[0].get("advisor") or "") == advisor]
    reviews = {r.visit_id: r for r in review_visits(latest, matcher, as_of, horizon_days=horizon_days)}
    firms = []
    for group in groups:
        head = group[0]
        follow_ups = tuple(due_follow_ups(group, as_of, advisor=advisor, upcoming_days=upcoming_days))
        review = reviews.get(head["id"])
        wanted = review.actionable if (review and changes_only_actionable) else (review.changes if review else ())
        if not follow_ups and not wanted:
            continue
        firms.append(CallBack(head.get("firm_name") or "", head.get("credit_code"), head.get("town"), head.get("advisor"),
                              _as_date(head.get("visit_date")) or as_of, head["id"], follow_ups, review))
    firms.sort(key=lambda c: c.urgency)
    return CallBackList(as_of, advisor, town, firms, len(latest), base_version(matcher.kb_), upcoming_days)


# -- the workbook ------------------------------------------------------------------------------

CALL_BACK_COLUMNS = ["序号", "镇街", "企业名称", "统一社会信用代码", "走访人", "上次走访", "回访原因", "跟进事项",
                     "最早跟进期限", "逾期天数", "新增推荐", "不再可申请", "临近截止", "金额变化", "走访编号"]
CHANGE_COLUMNS = ["镇街", "企业名称", "走访人", "上次走访", "类别", "政策", "说明", "走访时", "现在", "走访编号"]


def call_back_rows(callbacks: CallBackList) -> list[list[Any]]:
    """The 回访名单 sheet: one row per firm (text and numbers, no formulas)."""
    rows = []
    for n, c in enumerate(callbacks.firms, 1):
        counts = c.review.counts() if c.review else dict.fromkeys(CHANGE_KINDS, 0)
        first = min(c.follow_ups, key=lambda f: f.due) if c.follow_ups else None
        overdue = max((f.days for f in c.follow_ups if f.state == "overdue"), default=None)
        rows.append([n, c.town or "未填写", c.firm_name, c.credit_code or "", c.advisor or "", c.last_visit.isoformat(),
                     "\n".join(c.reasons), "\n".join(f.follow_up for f in c.follow_ups if f.follow_up.strip()),
                     first.due.isoformat() if first else "", overdue, counts["new_recommended"],
                     counts["no_longer_available"], counts["deadline_soon"], counts["amount_changed"], c.visit_id])
    return rows


def change_rows(callbacks: CallBackList) -> list[list[Any]]:
    """The 变化明细 sheet: one row per change."""
    return [[c.town or "未填写", c.firm_name, c.advisor or "", c.last_visit.isoformat(), ch.label, ch.title, ch.text,
             ch.before or "", ch.after or "", c.visit_id] for c in callbacks.firms for ch in c.changes]


def _notes(callbacks: CallBackList) -> list[tuple[str, str]]:
    return [
        ("基准日", callbacks.as_of.isoformat()),
        ("走访人", callbacks.advisor or "全部"),
        ("镇街", callbacks.town or "全部镇街"),
        ("概况", callbacks.summary_line()),
        ("跟进提醒", f"未完成的跟进事项：期限已过（逾期）、今天到期、{callbacks.upcoming_days} 天内到期"),
        ("政策变化", "每家企业最近一次走访时保存的政策建议，与按基准日用现行政策库重新匹配的结果比较："
                  "新增推荐、不再可申请（已过期、暂不符合或已移出政策库）、金额变化（政策金额或推荐政策合计）、"
                  f"截止日期变化、{DEADLINE_HORIZON_DAYS} 天内截止"),
        ("政策库版本", callbacks.base_version or ""),
        ("金额", "单位万元，按公开政策条款估算，以主管部门审核为准"),
        ("安全", "所有文字按文本保存：以 = + - @ 开头的内容不会作为公式或链接执行"),
    ]


def write_call_backs_xlsx(callbacks: CallBackList, target: str | Path | BinaryIO) -> None:
    """The call-back list as a workbook: 回访名单, 变化明细, 说明. Every text cell is written as
    text (never a formula or link), headers frozen, filters on."""
    import xlsxwriter

    from .outputs import excel_text

    book = xlsxwriter.Workbook(target, {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False, "in_memory": True})
    header = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})

    def sheet(name: str, columns: list[str], rows: list[list[Any]], widths: dict[str, int]) -> None:
        ws = book.add_worksheet(name)
        for c, col in enumerate(columns):
            ws.write_string(0, c, col, header)
            width = widths.get(col, max(8, len(col) * 2 + 2))
            ws.set_column(c, c, width, wrap if width >= 30 else top)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, excel_text(str(value))[0])
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)

    sheet("回访名单", CALL_BACK_COLUMNS, call_back_rows(callbacks),
          {"序号": 6, "企业名称": 28, "统一社会信用代码": 22, "回访原因": 70, "跟进事项": 36, "最早跟进期限": 14,
           "上次走访": 12, "走访编号": 10})
    sheet("变化明细", CHANGE_COLUMNS, change_rows(callbacks),
          {"企业名称": 28, "政策": 30, "说明": 70, "走访时": 18, "现在": 18, "上次走访": 12, "走访编号": 10})
    ws = book.add_worksheet("说明")
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 100, wrap)
    ws.write_string(0, 0, "项目", header)
    ws.write_string(0, 1, "内容", header)
    for r, (key, value) in enumerate(_notes(callbacks), 1):
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, excel_text(value)[0])
    book.close()


def call_backs_xlsx_bytes(callbacks: CallBackList) -> bytes:
    buffer = io.BytesIO()
    write_call_backs_xlsx(callbacks, buffer)
    return buffer.getvalue()

