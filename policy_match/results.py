"""Typed results of a match. The matcher builds these; dicts and JSON are made only at the
edges (``to_dict``), fresh on every call, so no two callers ever share a mutable object.

The JSON is the contract's (shared/contract/README.md §3–4): every policy and item carries
``status``, ``fit``, ``validity`` (with ``validity_note`` and ``deadline``), ``score`` and
``amount_wan``; the top level carries ``summary`` and ``near_misses``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .amounts import AmountResult
from .profile import Profile
from .rules import ConditionResult
from .schema import PolicyRecord, SupportItem
from .sources import ranked
from .validity import ValidityStatus

FITS = ("recommended", "general", "other", "ruled_out")
FIT_RANK = {name: len(FITS) - i for i, name in enumerate(FITS)}  # recommended 4 … ruled_out 1
STATUS_RANK = {"eligible": 2, "possible": 1, "ineligible": 0}
FIT_ZH = {"recommended": "推荐申报", "general": "普遍适用", "other": "其他可了解", "ruled_out": "暂不符合"}


def num(x: float) -> float | int:
    """Amounts in 万元 to two decimals; integers shown plainly."""
    r = round(x + 0.0, 2)
    return int(r) if float(r).is_integer() else r


def _contact_text(contact) -> str | None:
    return contact.text() if contact is not None else None


def _contact_keys(item: SupportItem, policy: PolicyRecord) -> dict[str, Any]:
    """Whom to call for an item: its own contact, or the record's when it belongs to the item's
    department (a 2022 reply letter's contact at 工信局 is not the contact of 人社局's service)."""
    department = item.department or policy.department
    contact = item.contact
    if contact is None and policy.contact is not None and (department is None or policy.contact.department == department):
        contact = policy.contact
    if contact is not None:
        return {"contact": contact.text(), "contact_note": contact.note}
    where = f"受理部门：{department}" if department else "受理部门未公开，可先拨打12345政务服务热线"
    return {"contact": None, "contact_note": f"联系方式未公开（{where}）"}


def _validity_keys(status: ValidityStatus) -> dict[str, Any]:
    return {
        "validity": status.validity,
        "validity_note": status.note,
        "deadline": status.deadline.isoformat() if status.deadline else None,
        "deadline_warning": status.deadline_warning,
    }


def _sources(sources: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Sources best class first, and their classes (official pages before copies and news)."""
    infos = ranked(sources)
    return [s.source for s in infos], [{"source": s.source, "class": s.source_class, "label": s.label} for s in infos]


@dataclass(frozen=True)
class ItemResult:
    """One support item for one firm."""

    policy: PolicyRecord
    item: SupportItem
    status: str
    fit: str
    score: float
    relevance: float
    conditions: tuple[ConditionResult, ...]
    amount: AmountResult | None
    # the firm's words the item shares: a tuple, or a function giving it (found only when shown)
    terms: tuple[str, ...] | Callable[[], tuple[str, ...]]
    hints: tuple[str, ...]  # what would settle an open or failed condition
    validity: ValidityStatus
    applicant_ok: bool  # the firm is the kind of applicant the item is for (or may be)
    specific_met: int  # met conditions on facts that say something about this firm
    potential_high: float  # the item's amount were every condition met (for near misses)

    @property
    def item_id(self) -> str:
        return self.item.item_id

    @property
    def matched_terms(self) -> tuple[str, ...]:
        if callable(self.terms):
            object.__setattr__(self, "terms", tuple(self.terms()))
        return self.terms

    @property
    def counts_for_firm(self) -> bool:
        """May count in the firm's money: the firm is (or may be) the kind of applicant."""
        return self.applicant_ok and self.item.applicant in {"enterprise", "platform", "park_operator"}

    def amount_dict(self) -> dict[str, Any] | None:
        a = self.amount
        if a is None or a.high is None:
            return None
        out: dict[str, Any] = {"low": num(a.low), "high": num(a.high), "formula": a.formula}
        if a.notes:
            out["note"] = "；".join(a.notes)
        out["basis"] = "cap_estimate" if a.cap_fallback else ("entitlement" if a.guaranteed else "up_to")
        if self.status == "ineligible":
            # What it would be, kept apart from what this firm can receive now (nothing).
            out["potential_high"] = out["high"]
            out["low"], out["high"] = 0, 0
        return out

    def to_dict(self) -> dict[str, Any]:
        item, policy = self.item, self.policy
        sources, source_classes = _sources(item.sources)
        amount_note = None
        if self.amount is not None and self.amount.high is None:
            amount_note = "；".join(self.amount.notes) or None
        return {
            "item_id": item.item_id,
            "title": item.title,
            "status": self.status,
            "fit": self.fit,
            "score": round(self.score, 4),
            "amount_wan": self.amount_dict(),
            "conditions": [dict(c.to_dict()) for c in self.conditions],
            "matched_terms": list(self.matched_terms),
            "near_misses": list(self.hints),
            "relevance": round(self.relevance, 4),
            "amount_note": amount_note,
            **_validity_keys(self.validity),
            "support_type": item.support_type,
            "description": item.description,
            "amount_text": item.amount.text,
            "period": item.period.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True),
            "how_to_apply": item.how_to_apply.model_dump(exclude_none=True, exclude_defaults=True),
            "department": item.department or policy.department,
            **_contact_keys(item, policy),
            "confidence": item.confidence,
            "missing": item.missing,
            "sources": sources,
            "source_classes": source_classes,
            "exclusive_group": item.exclusive_group,
            "applicant": item.applicant,
        }


@dataclass(frozen=True)
class PolicyAmount:
    """A policy's money for this firm: what stacks, the larger of exclusive items; ``note`` says
    which items it covers when that is not all of them."""

    low: float
    high: float
    note: str | None = None
    cap_estimate: bool = False  # every counted item could only be put at its cap (not in the headline)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": num(self.low), "high": num(self.high)}
        if self.note:
            out["note"] = self.note
        if self.cap_estimate:
            out["basis"] = "cap_estimate"
        return out


@dataclass(frozen=True)
class PolicyResult:
    policy: PolicyRecord
    status: str
    fit: str
    score: float
    validity: ValidityStatus
    items: tuple[ItemResult, ...]
    amount: PolicyAmount | None
    amount_note: str | None = None

    @property
    def policy_id(self) -> str:
        return self.policy.policy_id

    def to_dict(self) -> dict[str, Any]:
        p = self.policy
        sources, source_classes = _sources(p.sources)
        return {
            "policy_id": p.policy_id,
            "title": p.title,
            "short_title": p.short_title,
            "status": self.status,
            "fit": self.fit,
            **_validity_keys(self.validity),
            "document_status": p.validity.document_status,  # "draft": a 征求意见稿, never recommended
            "score": round(self.score, 4),
            "amount_wan": self.amount.to_dict() if self.amount is not None else None,
            "amount_note": self.amount_note,
            "items": [it.to_dict() for it in self.items],
            "doc_number": p.doc_number,
            "issuer": p.issuer,
            "issued": p.issued,
            "department": p.department,
            "contact": _contact_text(p.contact),
            "level": p.level,
            "town_scope": list(p.town_scope),
            "package_2022_02_15": p.package_2022_02_15,
            "summary": p.summary,
            "sources": sources,
            "source_classes": source_classes,
        }


@dataclass(frozen=True)
class Recommended:
    """A recommended policy as a batch row needs it: its rank, the record, its validity and its
    recommended items (in the order ``PolicyResult.items`` has them), without explaining the
    policy's other items."""

    rank: int
    policy: PolicyRecord
    validity: ValidityStatus
    items: tuple[ItemResult, ...]


@dataclass(frozen=True)
class Change:
    """One profile fact a near miss needs changed: the value needed, the firm's, the gap."""

    field: str
    needed: Any
    current: Any
    gap: float | None
    text: str  # "营业收入还差 500万（需 ≥2000万，当前 1500万）"
    recognised_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"field": self.field, "needed": _plain(self.needed), "current": _plain(self.current),
               "gap": None if self.gap is None else num(self.gap), "text": self.text}
        if self.recognised_by:
            out["recognised_by"] = self.recognised_by
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, float):
        return num(value)
    return value


@dataclass(frozen=True)
class NearMiss:
    policy_id: str
    item_id: str
    title: str
    potential_high: float
    changes: tuple[Change, ...]
    summary: str
    closeness: float
    priority: float
    relevance: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "item_id": self.item_id,
            "title": self.title,
            "potential_high": num(self.potential_high),
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.summary,
            "closeness": round(self.closeness, 3),
        }


@dataclass(frozen=True)
class CheckAway:
    """A recommended item whose every checkable condition is met: only manual checks remain."""

    policy_id: str
    item_id: str
    title: str
    amount_high: float | None
    checks: tuple[str, ...]
    materials: tuple[str, ...]
    department: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "item_id": self.item_id, "title": self.title,
                "amount_high": None if self.amount_high is None else num(self.amount_high),
                "checks": list(self.checks), "materials": list(self.materials), "department": self.department}


@dataclass(frozen=True)
class Money:
    """The headline money: over ``recommended`` items only, exclusive items counted once.

    ``entitled``: entitlements whose every condition is met (the firm can count on it);
    ``pending``: entitlements that wait on a check; ``up_to``: competitive "最高" awards.
    ``low`` = entitled, ``high`` = entitled + pending + up_to. Items whose amount is not
    published or needs a figure the firm has not given, and amounts that could only be put at
    the item's cap, are named in ``not_counted`` and left out.
    """

    entitled: float = 0.0
    pending: float = 0.0
    up_to: float = 0.0
    not_counted: tuple[str, ...] = ()
    up_to_items: int = 0  # how many competitive awards ``up_to`` adds up (each one's own ceiling)

    @property
    def low(self) -> float:
        return self.entitled

    @property
    def high(self) -> float:
        return self.entitled + self.pending + self.up_to

    def to_dict(self) -> dict[str, Any]:
        return {"low": num(self.low), "high": num(self.high), "entitled": num(self.entitled),
                "pending_checks": num(self.pending), "up_to": num(self.up_to), "up_to_items": self.up_to_items,
                "not_counted": list(self.not_counted)}


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    money: Money
    text: str
    fill_in: tuple[str, ...] = ()  # what the profile leaves blank that would sharpen the advice

    def to_dict(self) -> dict[str, Any]:
        return {**{fit: self.counts.get(fit, 0) for fit in FITS}, "amount_wan": self.money.to_dict(), "text": self.text,
                "fill_in": list(self.fill_in)}


class MatchResult:
    """One firm's answer. Built by the matcher from the engine's ranking: the policies shown,
    the summary, near misses and one-check-away items are explained (condition reasons,
    amounts, gaps) the first time each is read, and only for what they show. It can also be
    built from ready values (every argument given)."""

    _LAZY = ("policies", "summary", "near_misses", "one_check_away")

    def __init__(self, as_of: date, profile: Profile, policies: list[PolicyResult] | None = None,
                 summary: Summary | None = None, near_misses: list[NearMiss] | None = None,
                 one_check_away: list[CheckAway] | None = None, warnings: list[str] | None = None, *,
                 source: Any = None):
        self.as_of = as_of
        self.profile = profile
        self.warnings = list(warnings or [])
        # source: an object whose methods policies(), summary(), near_misses(), one_check_away()
        # compute what was not given (the matcher's ranking of this firm)
        self._source = source
        self._values: dict[str, Any] = {"policies": policies, "summary": summary, "near_misses": near_misses,
                                        "one_check_away": one_check_away}
        if source is None:
            self._values["policies"] = policies or []
            self._values["near_misses"] = near_misses or []
            self._values["one_check_away"] = one_check_away or []

    def _get(self, name: str) -> Any:
        value = self._values[name]
        if value is None and self._source is not None:
            value = self._values[name] = getattr(self._source, name)()
        return value

    @property
    def policies(self) -> list[PolicyResult]:
        """The returned policies (``top`` of them when asked), best first."""
        return self._get("policies")

    @property
    def summary(self) -> Summary:
        """Over every policy in force, whatever ``top``."""
        return self._get("summary")

    @property
    def near_misses(self) -> list[NearMiss]:
        return self._get("near_misses")

    @property
    def one_check_away(self) -> list[CheckAway]:
        return self._get("one_check_away")

    @property
    def ranking(self) -> list[str]:
        """Policy ids of the returned policies, best first, without explaining any."""
        source = self._source
        if source is not None and self._values["policies"] is None:
            return source.policy_ids()
        return [p.policy_id for p in self.policies]

    def recommended(self) -> list[Recommended]:
        """The recommended policies, best first, whatever ``top``, each with its recommended
        items — explaining only those items (a batch row needs no other)."""
        if self._source is not None:
            return self._source.recommended()
        return [Recommended(rank, p.policy, p.validity, tuple(it for it in p.items if it.fit == "recommended"))
                for rank, p in enumerate(self.policies, 1) if p.fit == "recommended"]

    def item(self, item_id: str) -> tuple[int, PolicyRecord, ItemResult]:
        """(rank of its policy or 0, the policy record, the explained item) of one item."""
        if self._source is not None:
            return self._source.item_by_id(item_id)
        for rank, p in enumerate(self.policies, 1):
            for it in p.items:
                if it.item_id == item_id:
                    return rank, p.policy, it
        raise KeyError(item_id)

    @property
    def item_features(self) -> Any:
        """The engine's per-item arrays for this firm (``matcher.ItemFeatures``), or None when
        the result was built from ready values."""
        return self._source.item_features() if self._source is not None else None

    @property
    def results(self) -> list[dict[str, Any]]:
        """The policies as the contract's dicts (built on first use, owned by this result)."""
        cached = self.__dict__.get("_results")
        if cached is None:
            cached = self.__dict__["_results"] = [p.to_dict() for p in self.policies]
        return cached

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "summary": self.summary.to_dict(),
            "results": [p.to_dict() for p in self.policies],
            "near_misses": [n.to_dict() for n in self.near_misses],
            "one_check_away": [c.to_dict() for c in self.one_check_away],
            "warnings": list(self.warnings),
        }

    def by_id(self, policy_id: str) -> dict[str, Any]:
        for r in self.results:
            if r["policy_id"] == policy_id:
                return r
        raise KeyError(policy_id)

    def policy(self, policy_id: str) -> PolicyResult:
        for p in self.policies:
            if p.policy_id == policy_id:
                return p
        raise KeyError(policy_id)
