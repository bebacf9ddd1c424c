"""Three-valued evaluation of conditions over a profile: met / unmet / unknown.

A missing profile value is *unknown* — never met, never unmet. Every verdict carries a
reason that shows the firm's value against the threshold ("上年度营业收入 1500万 < 2000万")
and, when not met, a hint saying what would change it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import lru_cache

from .fields import LISTING_STAGES, SECTORS, field_label, format_value
from .profile import Profile
from .schema import Condition, Rule

MET, UNMET, UNKNOWN = "met", "unmet", "unknown"
_FLIPPED = {MET: UNMET, UNMET: MET, UNKNOWN: UNKNOWN}  # NOT in three-valued logic

_OP_TEXT = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "eq": "=", "ne": "≠"}
_NEGATED = {"ge": "<", "gt": "≤", "le": ">", "lt": "≥", "eq": "≠", "ne": "="}


@dataclass(frozen=True)
class RuleResult:
    verdict: str
    reason: str
    hints: tuple[str, ...] = ()  # what would move an unmet/unknown verdict towards met
    fields: tuple[str, ...] = ()  # profile fields the verdict rests on


@dataclass(frozen=True)
class ConditionResult:
    condition: Condition
    verdict: str
    reason: str
    hints: tuple[str, ...] = field(default_factory=tuple)
    fields: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """The contract's condition object. Built once per result (results are memoised and
        shared between firms, so treat the dict as read-only)."""
        cached = self.__dict__.get("_dict")
        if cached is not None:
            return cached
        c = self.condition
        out = {"text": c.text, "verdict": self.verdict, "source": c.source, "reason": self.reason}
        if c.clause:
            out["clause"] = c.clause
        if c.kind != "requirement":
            out["kind"] = c.kind
        object.__setattr__(self, "_dict", out)
        return out


@lru_cache(maxsize=4096)
def _show(name: str, value: object) -> str:
    """A rule's threshold value, shown in the profile's own units."""
    if name == "sector":
        return f"{value}（{SECTORS.get(str(value), '')}）"
    if name == "listing_stage":
        return LISTING_STAGES.get(str(value), str(value))
    return format_value(name, value)


def _show_list(name: str, values: list) -> str:
    return "、".join(_show(name, v) for v in values)  # rule values are constants: _show caches them


_COMPARE = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt, "eq": operator.eq,
            "ne": operator.ne}
_TEXT_FIELDS = {"sector", "town", "listing_stage"}


def _holds(name: str, op: str, target, value) -> bool:
    """Whether a leaf's test holds for a value the profile gives: the one place it is decided
    (``_leaf`` explains it, ``rule_verdict`` only needs the answer)."""
    if op == "is":
        return value is bool(target)
    if op in _COMPARE:
        if name in _TEXT_FIELDS or isinstance(target, str):
            return (value == target) if op == "eq" else (value != target)
        return _COMPARE[op](value, target)
    if op == "between":
        return target[0] <= value <= target[1]
    if op in {"in", "not_in"}:
        return (value in target) == (op == "in")
    have = set(value)
    if op == "has_any":
        return any(q in have for q in target)
    if op == "has_all":
        return all(q in have for q in target)
    return not any(q in have for q in target)  # has_none


def _leaf(rule: Rule, profile: Profile) -> RuleResult:
    name, op, target = rule.field, rule.op, rule.value
    assert name is not None and op is not None
    label = field_label(name)
    value = getattr(profile, name)
    fields = (name,)

    if value is None:
        need = _requirement_text(rule)
        return RuleResult(UNKNOWN, f"未填写{label}（{need}）", (f"补充：{label}（{need}）",), fields)
    ok = _holds(name, op, target, value)

    if op == "is":
        shown = format_value(name, value)
        if ok:
            return RuleResult(MET, f"{label}：{shown}", (), fields)
        return RuleResult(UNMET, f"{label}：{shown}（需为{format_value(name, bool(target))}）",
                          (f"需满足：{label}为{format_value(name, bool(target))}",), fields)

    if op in _OP_TEXT:
        sign = _OP_TEXT[op] if ok else _NEGATED[op]
        reason = f"{label} {format_value(name, value)} {sign} {_show(name, target)}"
        if op == "eq" and ok and isinstance(target, str):
            reason = f"{label} {format_value(name, value)}"
        if ok:
            return RuleResult(MET, reason, (), fields)
        return RuleResult(UNMET, reason, (_unmet_hint(rule),), fields)

    if op == "between":
        low, high = target
        if ok:
            return RuleResult(MET, f"{label} {format_value(name, value)}，在 {_show(name, low)}–{_show(name, high)} 之间", (), fields)
        return RuleResult(UNMET, f"{label} {format_value(name, value)}，不在 {_show(name, low)}–{_show(name, high)} 之间",
                          (_unmet_hint(rule),), fields)

    if op in {"in", "not_in"}:
        shown = format_value(name, value)
        if op == "in":
            reason = f"{label} {shown}" + ("" if ok else f"，不属于 {_show_list(name, target)}")
        else:
            reason = f"{label} {shown}" + (f"，不属于 {_show_list(name, target)}" if ok else "，属于排除范围")
        return RuleResult(MET if ok else UNMET, reason, () if ok else (_unmet_hint(rule),), fields)

    # qualifications
    have = set(value)
    wanted = list(target)
    if op == "has_any":
        if ok:
            return RuleResult(MET, f"已具有 {'、'.join(q for q in wanted if q in have)}", (), fields)
        return RuleResult(UNMET, f"{label}中没有 {'、'.join(wanted)}", (_unmet_hint(rule),), fields)
    if op == "has_all":
        if ok:
            return RuleResult(MET, f"已具有 {'、'.join(wanted)}", (), fields)
        return RuleResult(UNMET, f"尚未具有 {'、'.join(q for q in wanted if q not in have)}", (_unmet_hint(rule),), fields)
    # has_none
    if ok:
        return RuleResult(MET, f"不具有 {'、'.join(wanted)}", (), fields)
    return RuleResult(UNMET, f"已具有 {'、'.join(q for q in wanted if q in have)}（属排除情形）", (), fields)


def _requirement_text(rule: Rule) -> str:
    name, op, target = rule.field, rule.op, rule.value
    assert name is not None
    if op == "is":
        return f"需为{format_value(name, bool(target))}"
    if op in _OP_TEXT:
        return f"需 {_OP_TEXT[op]} {_show(name, target)}"
    if op == "between":
        return f"需在 {_show(name, target[0])}–{_show(name, target[1])} 之间"
    if op == "in":
        return f"需为 {_show_list(name, target)} 之一"
    if op == "not_in":
        return f"不能是 {_show_list(name, target)}"
    if op == "has_any":
        return f"需具有 {'、'.join(target)} 之一"
    if op == "has_all":
        return f"需具有 {'、'.join(target)}"
    if name == "qualifications":
        return f"需未获 {'、'.join(target)}"
    return f"不能具有 {'、'.join(target)}"


def _unmet_hint(rule: Rule) -> str:
    name, op, target = rule.field, rule.op, rule.value
    assert name is not None
    label = field_label(name)
    if op in {"ge", "gt"}:
        return f"{label}达到 {_OP_TEXT[op]}{_show(name, target)} 后可满足"
    if op in {"le", "lt"}:
        return f"{label}需 {_OP_TEXT[op]} {_show(name, target)}"
    if op == "has_any":
        return f"取得 {'或'.join(target)} 后可满足"
    if op == "has_all":
        return f"取得 {'、'.join(target)} 后可满足"
    return f"需满足：{label}{_requirement_text(rule)}"


def evaluate_rule(rule: Rule, profile: Profile) -> RuleResult:
    """Kleene three-valued logic over ``all`` / ``any`` / ``not``."""
    if rule.field is not None:
        return _leaf(rule, profile)
    if rule.not_ is not None:
        inner = evaluate_rule(rule.not_, profile)
        flipped = _FLIPPED[inner.verdict]
        return RuleResult(flipped, f"非（{inner.reason}）", inner.hints if flipped != MET else (), inner.fields)
    children = [evaluate_rule(r, profile) for r in (rule.all if rule.all is not None else rule.any or [])]
    fields = tuple(f for c in children for f in c.fields)
    verdicts = [c.verdict for c in children]
    if rule.all is not None:
        if UNMET in verdicts:
            bad = [c for c in children if c.verdict == UNMET]
            return RuleResult(UNMET, _joined(bad, "；"), _hints(bad), fields)
        if UNKNOWN in verdicts:
            unk = [c for c in children if c.verdict == UNKNOWN]
            return RuleResult(UNKNOWN, _joined(unk, "；"), _hints(unk), fields)
        return RuleResult(MET, _joined(children, "；"), (), fields)
    # any
    if MET in verdicts:
        good = next(c for c in children if c.verdict == MET)
        return RuleResult(MET, good.reason, (), fields)
    if UNKNOWN in verdicts:
        unk = [c for c in children if c.verdict == UNKNOWN]
        return RuleResult(UNKNOWN, _joined(unk, " 或 "), _hints(unk)[:2], fields)
    return RuleResult(UNMET, _joined(children, "；"), _hints(children)[:2], fields)


def _joined(results: list[RuleResult], separator: str) -> str:
    """The parts' reasons, each once (two branches on one field say the same: "首次升规年份 2019年 ≠ 2023年")."""
    return separator.join(dict.fromkeys(r.reason for r in results))


def _hints(results: list[RuleResult]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for r in results for h in r.hints))


def rule_verdict(rule: Rule, profile: Profile) -> str:
    """``evaluate_rule(rule, profile).verdict`` without building reasons and hints: the
    near-miss search re-checks rules on changed profiles many times and reads no text."""
    if rule.field is not None:
        value = getattr(profile, rule.field)
        if value is None:
            return UNKNOWN
        return MET if _holds(rule.field, rule.op, rule.value, value) else UNMET
    if rule.not_ is not None:
        return _FLIPPED[rule_verdict(rule.not_, profile)]
    verdicts = [rule_verdict(r, profile) for r in (rule.all if rule.all is not None else rule.any or [])]
    if rule.all is not None:
        return UNMET if UNMET in verdicts else UNKNOWN if UNKNOWN in verdicts else MET
    return MET if MET in verdicts else UNKNOWN if UNKNOWN in verdicts else UNMET


def evaluate_condition(condition: Condition, profile: Profile) -> ConditionResult:
    if condition.rule is None:
        check = condition.check or condition.text
        return ConditionResult(condition, UNKNOWN, f"需人工核实：{check}", (f"核实：{check}",), ())
    result = evaluate_rule(condition.rule, profile)
    return ConditionResult(condition, result.verdict, result.reason, result.hints, result.fields)


def combine(verdicts: list[str]) -> str:
    """Item status from its condition verdicts (contract: eligible / possible / ineligible)."""
    if UNMET in verdicts:
        return "ineligible"
    if UNKNOWN in verdicts:
        return "possible"
    return "eligible"


@dataclass(frozen=True)
class Gap:
    """One leaf of a rule the profile fails: the field, the test and the firm's value."""

    field: str
    op: str
    target: object
    current: object


def gap_alternatives(rule: Rule, profile: Profile, limit: int = 8) -> list[tuple[Gap, ...]]:
    """Ways to stop ``rule`` failing: each alternative is the set of failing leaves that would
    have to change together. ``[()]`` when the rule does not fail; ``[]`` when no change of
    leaf values can help (a ``not`` over something the firm has)."""
    if rule_verdict(rule, profile) != UNMET:
        return [()]
    if rule.field is not None:
        return [(Gap(rule.field, rule.op or "", rule.value, getattr(profile, rule.field)),)]
    if rule.not_ is not None:
        return []
    children = [gap_alternatives(r, profile, limit) for r in (rule.all if rule.all is not None else rule.any or [])]
    if rule.any is not None:
        return [alt for child in children for alt in child][:limit]
    combined: list[tuple[Gap, ...]] = [()]
    for child in children:
        if child == [()]:
            continue
        combined = [a + b for a in combined for b in child][:limit]
        if not combined:
            return []
    return combined
