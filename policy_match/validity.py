"""Validity at a date, derived from what the data documents (README "Validity").

A record's ``validity`` block holds facts only — dates, application calls, the period a measure
pays for, a draft status, a successor, dated evidence. This module turns them into
``current`` / ``expired`` / ``unknown`` at ``as_of``, with a note that gives the reason, and the
deadline a firm has to act by. The rules, first match wins:

1. not yet issued / not yet started at ``as_of`` → expired (not in force);
2. a documented end before ``as_of`` → expired;
3. ``ended`` (over, end date undocumented) or ``superseded_by`` → expired;
4. ``covered``: the measure pays for a past period's figures and that period's year is over → expired;
5. application calls documented, the last one ``STALE_INTAKE_YEARS`` or more years before
   ``as_of``'s year ("仅见2022年申报通知") → expired;
6. a draft (征求意见稿) is never current → unknown, saying so;
7. a documented end on or after ``as_of`` (and started) → current, deadline = that end;
8. a call documented in ``as_of``'s year → current;
9. otherwise → unknown; the note says what is known (the last call, dated evidence) and what an
   advisor should confirm, with whom.

Items inherit their record's verdict and refine it with their own ``period`` (an item of a live
record can be over: 独立站资助 was a 2022 intake). A record whose every item is over is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .schema import Contact, PolicyRecord, SupportItem, Validity, date_bounds

CURRENT, EXPIRED, UNKNOWN = "current", "expired", "unknown"
# A call two calendar years back with none since ("仅见2022年申报通知" read in 2024 or later)
# means the measure is no longer taken up; a call last year may simply not be out yet.
STALE_INTAKE_YEARS = 2
# Deadlines this close to as_of are flagged in every interface.
DEADLINE_WARNING_DAYS = 90
_RANK = {EXPIRED: 0, UNKNOWN: 1, CURRENT: 2}


@dataclass(frozen=True)
class ValidityStatus:
    """The validity of a record or item at ``as_of``, with its reason and deadline."""

    validity: str
    note: str
    as_of: date
    deadline: date | None = None

    @property
    def days_left(self) -> int | None:
        return None if self.deadline is None else (self.deadline - self.as_of).days

    @property
    def deadline_warning(self) -> str | None:
        """"2026-12-31 截止，还剩 30 天" when the deadline is within ``DEADLINE_WARNING_DAYS``."""
        days = self.days_left
        if days is None or days < 0 or days > DEADLINE_WARNING_DAYS or self.validity == EXPIRED:
            return None
        if days == 0:
            return f"{self.deadline.isoformat()} 截止，今天是最后一天"
        return f"{self.deadline.isoformat()} 截止，还剩 {days} 天"


def _years_text(years: list[int]) -> str:
    return "、".join(str(y) for y in years) + "年"


def _intake_years(v: Validity) -> list[int]:
    years = set(v.intakes)
    for w in v.windows:
        for d in (w.start, w.end):
            if d:
                years.add(date_bounds(d)[0].year)
    return sorted(years)


def _window_deadline(v: Validity, as_of: date) -> tuple[date | None, str | None]:
    """The end of the documented window that is open at ``as_of`` or opens next."""
    best: tuple[date, str] | None = None
    for w in v.windows:
        if not w.end:
            continue
        end = date_bounds(w.end)[1]
        if end < as_of:
            continue
        start = date_bounds(w.start)[0] if w.start else None
        text = (f"申报窗口 {w.start} 至 {w.end}" if w.start else f"申报截止 {w.end}")
        if start is not None and start > as_of:
            text = f"下一申报窗口 {w.start} 至 {w.end}"
        if best is None or end < best[0]:
            best = (end, text)
    return (best[0], best[1]) if best else (None, None)


def _confirm_text(v: Validity, department: str | None, contact: Contact | None) -> str:
    what = v.confirm or "今年是否仍受理申报及申报时间"
    if contact is not None and (department is None or contact.department == department):
        who = contact.text()
    elif department:
        who = f"{department}（联系方式未公开）"
    else:
        who = "主管部门（部门未公开，可先拨打12345政务服务热线）"
    return f"请向{who}确认{what}"


def _join(parts: list[str]) -> str:
    return "；".join(p.strip().rstrip("。；;，,") for p in parts if p and p.strip())


def _own_status(v: Validity, as_of: date, *, issued: str | None = None) -> ValidityStatus | None:
    """Rules 1–8 over one validity block; ``None`` where they decide nothing (rule 9)."""
    day = as_of.isoformat()
    if issued and as_of < date_bounds(issued)[0]:
        return ValidityStatus(EXPIRED, f"{day} 时尚未发布（发布于 {issued}）", as_of)
    if v.start and as_of < date_bounds(v.start)[0]:
        return ValidityStatus(EXPIRED, f"{day} 时尚未生效（自 {v.start} 起施行）", as_of)
    if v.end and as_of > date_bounds(v.end)[1]:
        return ValidityStatus(EXPIRED, _join([f"已于 {v.end} 到期", v.note or ""]), as_of)
    if v.ended:
        return ValidityStatus(EXPIRED, f"已结束：{v.note}", as_of)
    if v.superseded_by:
        return ValidityStatus(EXPIRED, _join([f"已由{v.superseded_by}接续或取代", v.note or ""]), as_of)
    if v.covered is not None and as_of.year > date_bounds(v.covered.end)[1].year:
        what = v.covered.note or f"截至 {v.covered.end} 的数据"
        return ValidityStatus(EXPIRED, _join([f"已结束：按{what}核算兑现，所涉期间已过", v.note or ""]), as_of)
    years = _intake_years(v)
    if years and as_of.year - years[-1] >= STALE_INTAKE_YEARS:
        return ValidityStatus(EXPIRED, _join([
            f"已结束：仅见{_years_text(years)}申报通知，{years[-1] + 1}年以来未见新一轮申报", v.note or ""]), as_of)
    if v.document_status == "draft":
        return None  # decided by the caller: unknown, saying it is a draft
    window_end, window_text = _window_deadline(v, as_of)
    started = v.start is not None or issued is not None
    if v.end and started:
        deadline = window_end or date_bounds(v.end)[1]
        note = f"有效期至 {v.end}" + (f"；{window_text}" if window_text else "")
        return ValidityStatus(CURRENT, note, as_of, deadline)
    if years and years[-1] == as_of.year:
        note = f"{as_of.year}年仍在申报" + (f"（{window_text}）" if window_text else "")
        return ValidityStatus(CURRENT, note, as_of, window_end)
    return None


def _unknown_note(v: Validity, as_of: date, department: str | None, contact: Contact | None, *,
                  issued: str | None = None) -> str:
    parts: list[str] = []
    if v.document_status == "draft":
        parts.append(f"征求意见稿{f'（{issued}）' if issued else ''}，未见正式印发文本，不能视为有效政策")
    if v.end and v.document_status != "draft":
        parts.append(f"有效期至 {v.end}，但起始日期未能确认")
    years = _intake_years(v)
    if years:
        # "issued in 2025", not "for 2025": a 2025 notice may be the call for 2026年度
        parts.append(f"最近一次申报通知发布于{years[-1]}年，{as_of.year}年内未见新的申报通知")
    dated = sorted(v.evidence, key=lambda e: date_bounds(e.date)[0])
    if dated:
        last = dated[-1]
        parts.append(f"{last.date} {last.text}")
    if v.note and not parts:
        parts.append(v.note)
    elif not parts:
        parts.append("未见有效期或截止日期的公开记录")
    parts.append(_confirm_text(v, department, contact))
    return _join(parts)


def record_validity(policy: PolicyRecord, as_of: date) -> ValidityStatus:
    """The record's validity at ``as_of``, items considered (rules in the module docstring)."""
    v = policy.validity
    own = _own_status(v, as_of, issued=policy.issued)
    if own is not None and own.validity == EXPIRED:
        return own
    if own is None and v.document_status != "draft":
        items = [_own_status(it.period, as_of) for it in policy.items]
        if items and all(s is not None and s.validity == EXPIRED for s in items):
            return ValidityStatus(EXPIRED, "已结束：各支持事项均已结束（" + items[0].note.removeprefix("已结束：") + "）", as_of)
        live = [s for s in items if s is not None and s.validity == CURRENT]
        if live:
            soonest = min(live, key=lambda s: s.deadline or date.max)
            return ValidityStatus(CURRENT, "部分支持事项仍在申报：" + soonest.note, as_of, soonest.deadline)
    if own is not None:
        return own
    return ValidityStatus(UNKNOWN, _unknown_note(v, as_of, policy.department, policy.contact, issued=policy.issued), as_of)


def item_validity(policy: PolicyRecord, item: SupportItem, as_of: date,
                  record: ValidityStatus | None = None) -> ValidityStatus:
    """An item's validity: its record's, refined by the item's own period."""
    record = record or record_validity(policy, as_of)
    if record.validity == EXPIRED:
        return record
    own = _own_status(item.period, as_of)
    if own is None:
        if record.validity == CURRENT and _intake_years(item.period):
            # The record is in force but this item's own call is not yet seen this year.
            return ValidityStatus(UNKNOWN, _unknown_note(item.period, as_of, item.department or policy.department,
                                                         item.contact or policy.contact), as_of)
        return record
    if own.validity == EXPIRED:
        return own
    if policy.validity.document_status == "draft":
        return record  # an item of a draft is no more in force than the draft
    if record.validity == CURRENT and own.deadline and record.deadline:
        return own if own.deadline <= record.deadline else ValidityStatus(CURRENT, own.note, as_of, record.deadline)
    return own if _RANK[own.validity] >= _RANK[record.validity] else record


def in_force(status: ValidityStatus) -> bool:
    """Shown by default: current, or of unknown validity."""
    return status.validity != EXPIRED
