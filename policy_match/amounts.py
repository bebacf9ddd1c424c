"""Amounts: evaluate an item's formula against a profile, with the numbers shown.

``high`` is the most the firm could get over the item's whole period; ``low`` what it is
sure to get (0 unless the item is an entitlement and every condition is met). Every
result carries the formula with the firm's numbers filled in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .fields import PROFILE_FIELDS, field_label, format_value
from .profile import Profile
from .rules import MET, UNKNOWN, evaluate_rule
from .schema import Amount, Formula


@dataclass(frozen=True)
class AmountResult:
    low: float
    high: float | None  # None: the formula is documented but an input the firm can give is missing
    formula: str
    from_inputs: bool  # False when a missing input made us fall back to a cap
    notes: tuple[str, ...] = field(default_factory=tuple)
    # An entitlement (全额贴息, a fixed reward) rather than a competitive "最高/不超过" award.
    guaranteed: bool = False
    # The high is the item's documented maximum, used because the base (a quantity the profile
    # does not carry, e.g. 项目完成投资额) is unknown: an estimate "按上限", kept out of headlines.
    cap_fallback: bool = False
    # The high without a higher tier whose condition the profile leaves open (None = same as high).
    base_high: float | None = None

    @property
    def plausible_high(self) -> float:
        """What a headline may count: the base tier, never a cap standing in for unknown inputs."""
        if self.high is None or self.cap_fallback:
            return 0.0
        return self.high if self.base_high is None else self.base_high

    def to_dict(self) -> dict | None:
        if self.high is None:
            return None
        out = {"low": _round(self.low), "high": _round(self.high), "formula": self.formula}
        if self.notes:
            out["note"] = "；".join(self.notes)
        return out


def _round(x: float) -> float | int:
    """Amounts are in 万元; keep two decimals (i.e. to the 百元), integers shown plainly."""
    r = round(x + 0.0, 2)
    return int(r) if float(r).is_integer() else r


def wan(x: float) -> str:
    r = _round(x)
    return f"{r}万"


def _base_value(formula: Formula, profile: Profile) -> tuple[float | None, str]:
    name = formula.base
    if name is None:
        return None, ""
    if name in PROFILE_FIELDS:
        return getattr(profile, name), field_label(name)
    return None, formula.base_label or name


def _per_period(formula: Formula, profile: Profile) -> tuple[float | None, str, str | None]:
    """(value before caps or None when an input is missing, formula text, missing-input label)."""
    t = formula.type
    if t == "fixed":
        if formula.count > 1:
            return formula.value_wan * formula.count, f"{wan(formula.value_wan)} × {formula.count}", None
        return formula.value_wan, f"定额 {wan(formula.value_wan)}", None
    base, label = _base_value(formula, profile)
    shown = format_value(formula.base, base) if formula.base in PROFILE_FIELDS else (f"{base:g}" if base is not None else "")
    if t == "rate":
        pct = "100%（全额）" if formula.rate == 1 else f"{formula.rate * 100:g}%"
        if base is None:
            return None, f"{label} × {pct}", label
        return formula.rate * base, f"{label} {shown} × {pct}", None
    if t == "per_unit":
        text_rule = f"{formula.unit_yuan:g}元/{_unit(formula.base)}·月 × {formula.months}个月"
        if base is None:
            return None, f"{label} × {text_rule}", label
        value = formula.unit_yuan * base * formula.months / 10000
        return value, f"{label} {shown} × {text_rule} = {wan(value)}/年", None
    if t == "bands":
        bands = formula.bands or []
        if base is None:
            return None, f"按{label}分档", label
        for band in bands:
            if (band.min is None or base >= band.min) and (band.max is None or base < band.max):
                if band.value_wan is None:
                    return math.nan, f"{label} {shown} 所在档位金额未公开", None
                return band.value_wan, f"{label} {shown}，对应档位 {band.label or ''}{wan(band.value_wan)}".replace("档位 ", "档位"), None
        return 0.0, f"{label} {shown}，未达到任何档位", None
    # step
    if base is None:
        return None, f"{label}达到 {formula.threshold:g} 起 {wan(formula.first_wan)}，每增加 {formula.step:g} 再加 {wan(formula.step_wan)}", label
    if base < formula.threshold:
        return 0.0, f"{label} {shown} 未达到 {formula.threshold:g}", None
    steps = math.floor((base - formula.threshold) / formula.step)
    value = formula.first_wan + steps * formula.step_wan
    return value, f"{label} {shown}：{wan(formula.first_wan)} + {steps} × {wan(formula.step_wan)}", None


def _unit(name: str | None) -> str:
    return PROFILE_FIELDS[name].unit if name in PROFILE_FIELDS and PROFILE_FIELDS[name].unit else "单位"


def _cap_for(formula: Formula, cap_wan: float | None) -> float | None:
    """The most one period can pay when the base is unknown: the cap, or the top band."""
    if cap_wan is not None:
        return cap_wan
    if formula.type == "fixed":
        return formula.value_wan * formula.count
    if formula.type == "bands":
        values = [b.value_wan for b in formula.bands or [] if b.value_wan is not None]
        if values and all(b.value_wan is not None for b in formula.bands or []):
            return max(values)
    return None


def evaluate_amount(amount: Amount, profile: Profile, *, eligible: bool) -> AmountResult | None:
    """The amount of one item for this profile, or ``None`` when no money is documented."""
    if amount.kind != "money" or amount.formula is None:
        return None
    formula, cap, notes = amount.formula, amount.cap_wan, []
    upgrade_pending = None
    for up in amount.upgrades:
        verdict = evaluate_rule(up.when, profile).verdict
        if verdict == MET:
            formula, cap = up.formula or formula, up.cap_wan if up.cap_wan is not None else cap
            notes.append(f"适用：{up.text}")
            break
        if verdict == UNKNOWN and upgrade_pending is None:
            upgrade_pending = up

    result = _evaluate_with(amount, formula, cap, profile, notes)
    base_high = None
    if upgrade_pending is not None:
        alt = _evaluate_with(amount, upgrade_pending.formula or formula,
                             upgrade_pending.cap_wan if upgrade_pending.cap_wan is not None else cap, profile, [])
        if alt is not None and (result is None or alt.value > result.value):
            # The higher tier may apply: the most the firm could get is the higher tier.
            notes.append(f"若满足更高档条件（{upgrade_pending.text}）可达 {wan(alt.value)}；按现有信息基础档为 "
                         + (wan(result.value) if result else "未知"))
            base_high = result.value if result is not None else 0.0
            result = _Evaluated(alt.value, alt.text, False, alt.cap_fallback)
    if result is None:
        return AmountResult(low=0.0, high=None, formula=amount.text, from_inputs=False, notes=tuple(notes),
                            guaranteed=amount.guaranteed)
    high, text, from_inputs = result.value, result.text, result.from_inputs
    if not amount.guaranteed and not text.startswith("最高"):
        text = f"最高 {text}" if amount.formula.type == "fixed" and amount.formula.count == 1 else text
        text = text.replace("定额 ", "")
    low = high if (amount.guaranteed and eligible and from_inputs) else 0.0
    if not amount.guaranteed:
        notes.append("“最高/不超过”额度，实际金额以评审核定为准")
    if amount.note:
        notes.append(amount.note)
    return AmountResult(low=low, high=high, formula=text, from_inputs=from_inputs, notes=tuple(notes),
                        guaranteed=amount.guaranteed, cap_fallback=result.cap_fallback, base_high=base_high)


@dataclass(frozen=True)
class _Evaluated:
    value: float
    text: str
    from_inputs: bool
    cap_fallback: bool


def _evaluate_with(amount: Amount, formula: Formula, cap: float | None, profile: Profile,
                   notes: list[str]) -> _Evaluated | None:
    value, text, missing = _per_period(formula, profile)
    from_inputs = missing is None
    cap_fallback = False
    if value is not None and math.isnan(value):
        notes.append("该档金额未公开")
        return None
    if value is None and formula.base in PROFILE_FIELDS:
        # The firm can tell us this number: say which, rather than guess with the cap.
        notes.append(f"填写{missing}后可估算金额")
        return None
    if value is None:
        fallback = _cap_for(formula, cap)
        if fallback is None:
            notes.append(f"未填写{missing}，无法估算")
            return None
        notes.append(f"未填写{missing}，按上限 {wan(fallback)} 估算")
        value = fallback
        cap_fallback = True
        text = f"{text}（未填写{missing}，按上限估算）"
    period_word = "每年" if amount.years > 1 or amount.cap_field else "单个项目"
    if cap is not None:
        if value > cap:
            text += f"，超过{period_word}上限 {wan(cap)}，按 {wan(cap)} 计"
            value = cap
        else:
            text += f"，{period_word}上限 {wan(cap)}"
    if amount.cap_field:
        cap_value = getattr(profile, amount.cap_field)
        label = field_label(amount.cap_field)
        if cap_value is None:
            notes.append(f"每年不超过{label}（未填写，未计入此限制）")
            from_inputs = False
        elif value > cap_value:
            text += f"，且不超过{label} {wan(cap_value)}，按 {wan(cap_value)} 计"
            value = cap_value
        else:
            text += f"，不超过{label} {wan(cap_value)}"
    total = value * amount.years
    if amount.years > 1:
        text += f"；共 {amount.years} 年：{wan(value)} × {amount.years} = {wan(total)}"
    if amount.cap_total_wan is not None and total > amount.cap_total_wan:
        text += f"；累计上限 {wan(amount.cap_total_wan)}"
        total = amount.cap_total_wan
    return _Evaluated(total, text, from_inputs, cap_fallback)
