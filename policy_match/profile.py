"""The enterprise profile (contract §2): every field optional, ``None`` means *unknown*.

Rules turn an unknown into the verdict ``unknown`` — never met, never unmet. Parsing is lenient
about how people write values (是/否, 1,500万, 中山市古镇镇) and strict about what they mean: an
invalid value raises :class:`ProfileError` naming the field and the value.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .fields import (
    INDUSTRY_ABOVE_SCALE_WAN,
    INDUSTRY_SECTORS,
    LISTING_STAGE_ALIASES,
    LISTING_STAGES,
    NUMERIC_KINDS,
    OPERATOR_ROLES,
    PROFILE_FIELDS,
    QUALIFICATION_ALIASES,
    QUALIFICATIONS,
    SECTORS,
    TOWN_ALIASES,
    TOWNS,
    format_value,
)

TRUE_WORDS = {"true", "1", "yes", "y", "是", "有", "对", "√", "✓", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "否", "无", "没有", "不是", "×", "✗", "f"}
LIST_SPLIT = re.compile(r"[;；、,，/\n|]+")
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NP-RT-UW-Y]{2}\d{6}[0-9A-HJ-NP-RT-UW-Y]{10}$")


class FieldProblem(BaseModel):
    """One rejected value: which field, what was given, why (Chinese, for the user)."""

    field: str
    value: Any = None
    message: str

    def line(self) -> str:
        """"上年度营业收入（annual_revenue_wan）= -5：不能小于 0万元": the label a person knows,
        the code a platform sends, the value as given (texts quoted, lists joined)."""
        value = self.value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = "、".join(value)
        if isinstance(value, str):
            shown = f"“{value[:60]}…”" if len(value) > 60 else f"“{value}”"
        else:
            shown = repr(value)
            shown = shown[:60] + "…" if len(shown) > 60 else shown
        label = PROFILE_FIELDS[self.field].label if self.field in PROFILE_FIELDS else None
        name = f"{label}（{self.field}）" if label else self.field
        return f"{name} = {shown}：{self.message}"


class ProfileError(ValueError):
    """A profile with invalid values. ``problems`` names each field and value."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(p.line() for p in problems))


def is_blank(value: Any) -> bool:
    """Empty cells from Excel/pandas (None, NaN, '', whitespace) mean *unknown*."""
    if value is None:
        return True
    kind = type(value)  # the common types first, without isinstance's walk
    if kind is str:
        return not value.strip()
    if kind is int or kind is bool:
        return False
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(isinstance(value, str) and not value.strip())


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError("应为 是/否（也可写 true/false、1/0）")


# -- numbers with units -------------------------------------------------------------------
#
# People write "3000元", "5亿", "1,500万", "2万人", "0.5万平方米", "35%" in forms and sheets. A
# number is read in its own unit and converted to the field's unit when that is exact (a power of
# ten between 元 and 万元, ㎡ and 万平方米); a unit of another kind (万美元 in a 万元 field, 人 in a
# money field, 亩 in a ㎡ field) is rejected with the field named rather than read as a 万元 figure.

# field unit (fields.py) -> (dimension, how many of the dimension's base unit one field unit is)
FIELD_UNITS: dict[str, tuple[str, int]] = {
    "万元": ("元", 10_000), "万美元": ("美元", 10_000), "人": ("人", 1), "㎡": ("㎡", 1),
    "%": ("%", 1), "年": ("年", 1), "级": ("级", 1),
}
# what people write after the number (NFKC-folded, lower case) -> dimension
UNIT_WORDS: dict[str, str] = {
    "元": "元", "元人民币": "元", "人民币": "元", "块": "元", "块钱": "元", "rmb": "元", "cny": "元",
    "美元": "美元", "美金": "美元", "usd": "美元",
    "人": "人", "名": "人", "个人": "人",
    "平方米": "㎡", "平米": "㎡", "平方": "㎡", "m2": "㎡", "平方公尺": "㎡",
    "%": "%", "年": "年", "级": "级", "亩": "亩", "公顷": "公顷",
}
CURRENCY_SIGNS = {"¥": "元", "$": "美元", "us$": "美元"}
MULTIPLIERS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "亿": 100_000_000}
# dimensions a 万/亿 multiplier makes sense for ("2万%" or "2千年" is a typing slip)
SCALABLE = {"元", "美元", "人", "㎡", "亩", "公顷"}
_NUMBER_TEXT = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(.*)$")
_NON_FINITE_WORDS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_SEPARATORS = re.compile(r"[\s,_']+")  # after NFKC: 1,500 / 1，500 / 1 500
_EXACT_INTEGER = 2**53  # integers a float holds exactly (and far from overflow)


def _too_large() -> ValueError:
    return ValueError("数值过大，超出合理范围（请检查单位或多输入的数字）")


def read_quantity(value: Any, unit: str = "") -> tuple[float, str | None]:
    """A number in the field unit ``unit`` (``PROFILE_FIELDS[...].unit``) and, when a unit
    written with it was converted, a note saying how it was read ("3000元 → 0.3万元").

    Raises ``ValueError`` with a Chinese message: not a number, not finite, too large, or a unit
    that is not the field's and cannot be converted exactly.
    """
    if isinstance(value, bool):
        raise ValueError("应为数字")
    if type(value) is int and -_EXACT_INTEGER < value < _EXACT_INTEGER:  # the common case, at once
        return float(value), None
    if isinstance(value, numbers.Real):  # int, float and numpy's (a spreadsheet cell)
        try:
            number = float(value)
        except OverflowError:  # a 400-digit integer
            raise _too_large() from None
        if math.isnan(number):
            raise ValueError("不是有效的数字（NaN）")
        if math.isinf(number):
            raise _too_large()
        return number, None
    if not isinstance(value, str):
        value = str(value)
    try:  # the common case, a plain number ("1500", " 12.5 "): no unit to read
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number, None
    text = unicodedata.normalize("NFKC", value).strip().lower().replace("\u2212", "-")
    text = _SEPARATORS.sub("", text)
    if text in _NON_FINITE_WORDS:
        raise ValueError("应为有限的数字")
    sign_dimension = None
    for sign, dimension in sorted(CURRENCY_SIGNS.items(), key=lambda kv: -len(kv[0])):
        if text.startswith(sign):
            text, sign_dimension = text[len(sign):], dimension
            break
    match = _NUMBER_TEXT.match(text)
    if not match:
        raise ValueError("应为数字")
    digits, suffix = match.groups()
    multiplier_text = ""
    while suffix and suffix[0] in MULTIPLIERS and len(multiplier_text) < 3:
        multiplier_text, suffix = multiplier_text + suffix[0], suffix[1:]
    field_dimension, field_scale = FIELD_UNITS.get(unit, ("", 1))
    if suffix and suffix not in UNIT_WORDS:
        where = f"（本字段单位为{unit}）" if unit else ""
        raise ValueError(f"无法识别的单位“{match.group(2)}”{where}，请只填写数字")
    dimension = UNIT_WORDS.get(suffix) or sign_dimension
    if dimension is not None and sign_dimension is not None and dimension != sign_dimension:
        raise ValueError(f"货币符号与单位“{suffix}”不一致")
    bare = dimension is None and not multiplier_text  # "1500": already in the field's unit
    if dimension is None:  # "1500" or "1500万": the field's own kind of unit
        dimension = field_dimension
    shown_unit = multiplier_text + (suffix or dimension)  # as written: 万美元, 人, 亩
    if not field_dimension and dimension:
        raise ValueError(f"无法识别的单位“{match.group(2)}”，请只填写数字")
    if field_dimension and dimension != field_dimension:
        if {dimension, field_dimension} <= {"元", "美元"} or {dimension, field_dimension} <= {"㎡", "亩", "公顷"}:
            raise ValueError(f"单位是{shown_unit}，本字段单位为{unit}，请换算后填写")
        raise ValueError(f"单位是{shown_unit}，本字段单位为{unit}，请确认是否填错了栏目")
    if multiplier_text and dimension not in SCALABLE | {""}:
        raise ValueError(f"无法识别的单位“{match.group(2)}”（本字段单位为{unit}），请只填写数字")
    scale = math.prod(MULTIPLIERS[c] for c in multiplier_text)
    try:
        exact = Decimal(digits)
        if not bare:  # in the written unit's base (元, 人, ㎡) → in the field's unit (万元)
            exact = exact * scale / field_scale
        number = float(exact)
    except ArithmeticError:  # an exponent beyond what Decimal can hold
        raise _too_large() from None
    if math.isinf(number):
        raise _too_large()
    converted = number != float(Decimal(digits))
    note = f"“{value.strip()}”按 {_plain(number)}{unit} 计" if converted else None
    return number, note


def _plain(number: float) -> str:
    return f"{number:.10g}"


def parse_number(value: Any, unit: str = "") -> float:
    """:func:`read_quantity` without the note."""
    return read_quantity(value, unit)[0]


class Profile(BaseModel):
    """An enterprise profile. Every field optional; ``None`` = unknown."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str | None = None
    credit_code: str | None = None
    town: str | None = None
    registered_in_zhongshan: bool | None = None
    founded_year: int | None = None
    sector: str | None = None
    industry: str | None = None
    above_scale: bool | None = None
    newly_above_scale_year: int | None = None
    annual_revenue_wan: float | None = None
    revenue_growth_pct: float | None = None
    employees: int | None = None
    paid_in_capital_wan: float | None = None
    local_contribution_wan: float | None = None
    rd_expense_wan: float | None = None
    qualifications: list[str] | None = None
    listing_stage: str | None = None
    operator_roles: list[str] | None = None
    credit_ok: bool | None = None
    plans: str | None = None
    planned_investment_wan: float | None = None
    equipment_software_investment_wan: float | None = None
    loan_interest_wan: float | None = None
    buying_land_first_time: bool | None = None
    relocating_from_renovation_area: bool | None = None
    leased_area_m2: float | None = None
    digital_level: int | None = None
    cross_border_ecommerce: bool | None = None
    cross_border_sales_usd_wan: float | None = None
    independent_site_fee_wan: float | None = None
    overseas_marketing_wan: float | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _coerce(cls, value: Any, info) -> Any:
        if is_blank(value):
            return None
        meta = PROFILE_FIELDS[info.field_name]
        if meta.kind == "bool":
            return parse_bool(value)
        if meta.kind in NUMERIC_KINDS:
            number = parse_number(value, meta.unit)
            if meta.kind == "int":
                if number != int(number):
                    raise ValueError("应为整数")
                number = int(number)
            if meta.maximum is not None and meta.maximum <= 10 and not meta.minimum <= number <= meta.maximum:
                raise ValueError(f"应为 {meta.minimum:g}–{meta.maximum:g} 之间的整数")
            if meta.minimum is not None and number < meta.minimum:
                raise ValueError(f"不能小于 {_bound(meta.minimum)}{meta.unit}")
            if meta.maximum is not None and number > meta.maximum:
                raise ValueError(f"超出合理范围（不能大于 {_bound(meta.maximum)}{meta.unit}，请检查单位）")
            return number
        if meta.kind == "list":
            items = value if isinstance(value, (list, tuple, set)) else LIST_SPLIT.split(str(value))
            try:
                return [str(v).strip() for v in items if not is_blank(v) and str(v).strip()]
            except ValueError:  # an item Python cannot even turn into text (thousands of digits)
                raise ValueError("应为文本（多项用顿号或分号分隔）") from None
        if isinstance(value, (dict, list, tuple, set)):
            raise ValueError("应为文本")
        return str(value).strip()

    @field_validator("town")
    @classmethod
    def _town(cls, value: str | None) -> str | None:
        if value is None or value in TOWNS:
            return value
        short = re.sub(r"^(广东省)?中山市", "", value.replace(" ", ""))  # "中山市古镇镇" from an address
        if short in TOWNS:
            return short
        if short in TOWN_ALIASES:
            return TOWN_ALIASES[short]
        raise ValueError("不是中山市的镇街或功能区（应为 石岐街道 … 小榄镇、火炬开发区、翠亨新区 之一）")

    @field_validator("sector")
    @classmethod
    def _sector(cls, value: str | None) -> str | None:
        if value is None:
            return None
        letter = value.strip().upper()
        if letter in SECTORS:
            return letter
        for code, label in SECTORS.items():
            if value == label:
                return code
        raise ValueError("应为国民经济行业门类字母 A–T（如 C = 制造业）")

    @field_validator("qualifications")
    @classmethod
    def _qualifications(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if value and all(raw.strip().lower() in NO_QUALIFICATION_WORDS for raw in value):
            return []  # "无" / "暂无" on a form: none held, which is an answer
        out: list[str] = []
        for raw in value:
            name = raw.replace('"', "“", 1).replace('"', "”", 1) if '"' in raw else raw
            name = QUALIFICATION_ALIASES.get(raw, QUALIFICATION_ALIASES.get(name, name))
            if name not in QUALIFICATIONS:
                raise ValueError(f"未知的资质“{_clip(raw)}”（可选：{'、'.join(QUALIFICATIONS)}）")
            if name not in out:
                out.append(name)
        return out

    @field_validator("operator_roles")
    @classmethod
    def _operator_roles(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [v for v in value if v not in OPERATOR_ROLES]
        if bad:
            raise ValueError(f"未知的运营主体身份“{_clip(bad[0])}”（可选：{'、'.join(OPERATOR_ROLES)}）")
        return list(dict.fromkeys(value))

    @field_validator("listing_stage")
    @classmethod
    def _listing(cls, value: str | None) -> str | None:
        if value is None or value in LISTING_STAGES:
            return value
        if value in LISTING_STAGE_ALIASES:
            return LISTING_STAGE_ALIASES[value]
        raise ValueError(f"应为 {' / '.join(LISTING_STAGES)} 之一")

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.upper()
        if not _CREDIT_CODE.match(code):
            raise ValueError("统一社会信用代码应为 18 位数字或大写字母")
        return code

    def known(self) -> dict[str, Any]:
        """The fields whose value is known (not None)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ProfileParse(BaseModel):
    profile: Profile
    warnings: list[str] = Field(default_factory=list)


def parse_profile(data: Any) -> ProfileParse:
    """Validate a mapping into a :class:`Profile`.

    Unknown keys are ignored with a warning (the contract lets the project accept more
    fields, and a batch file may carry the bureau's own columns). Invalid values raise
    :class:`ProfileError` naming every bad field and its value.
    """
    if isinstance(data, Profile):
        return ProfileParse(profile=data)
    if not isinstance(data, dict):
        raise ProfileError(
            [FieldProblem(field="profile", value=type(data).__name__, message="企业画像应为 JSON 对象（键值对）")]
        )
    known: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in data.items():
        name = str(key).strip().lstrip("\ufeff")
        if name in PROFILE_FIELDS:
            known[name] = value
        elif not is_blank(value):
            warnings.append(f"忽略未知字段 {name}")
    try:
        profile = Profile(**known)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else "profile"
            msg = err.get("msg", "")
            msg = msg.removeprefix("Value error, ")
            if err.get("type") in {"int_type", "int_parsing", "float_type", "float_parsing"}:
                msg = "应为数字"
            elif err.get("type") in {"string_type"}:
                msg = "应为文本"
            problems.append(FieldProblem(field=loc, value=_shown_value(known.get(loc, err.get("input"))), message=msg))
        raise ProfileError(problems) from None
    for name, value in known.items():  # say how a number written in another unit was read
        if isinstance(value, str) and not is_blank(value) and PROFILE_FIELDS[name].kind in NUMERIC_KINDS:
            note = read_quantity(value, PROFILE_FIELDS[name].unit)[1]
            if note:
                warnings.append(f"{PROFILE_FIELDS[name].label}：{note}")
    if profile.plans and len(profile.plans) > PLANS_INDEXED_CHARS:
        warnings.append(
            f"发展计划共 {len(profile.plans)} 字，仅前 {PLANS_INDEXED_CHARS} 字用于相关度计算（原文完整保留）"
        )
    if profile.above_scale is False and profile.newly_above_scale_year is not None:
        warnings.append("填写了首次升规年份，但“规模以上企业”为否：请核对")
    this_year = date.today().year
    for name in ("founded_year", "newly_above_scale_year"):  # a year still to come is a typing slip
        year = getattr(profile, name)
        if year is not None and year > this_year:
            warnings.append(f"{PROFILE_FIELDS[name].label} {year} 晚于今年（{this_year}）：请核对（仍按所填年份判断）")
    revenue = profile.annual_revenue_wan
    if (profile.above_scale is True and profile.sector in INDUSTRY_SECTORS and revenue is not None
            and revenue < INDUSTRY_ABOVE_SCALE_WAN):
        warnings.append(f"填写为规模以上企业，但上年度营业收入 {format_value('annual_revenue_wan', revenue)} 低于规上工业企业 "
                        f"{format_value('annual_revenue_wan', INDUSTRY_ABOVE_SCALE_WAN)} 的标准：请核对"
                        "（规上相关条件仍按“是”判断）")
    return ProfileParse(profile=profile, warnings=warnings)


PLANS_INDEXED_CHARS = 20_000


NO_QUALIFICATION_WORDS = frozenset({"无", "暂无", "没有", "无资质", "无认定", "none", "n/a", "/", "-", "—"})


def _bound(x: float) -> str:
    """A bound as people write it: 100,000,000 rather than 1e+08."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def _clip(text: str, limit: int = 30) -> str:
    """A value quoted inside a message: long enough to recognise, never a whole pasted page."""
    return text if len(text) <= limit else text[:limit] + "…"


def _shown_value(value: Any) -> Any:
    """The rejected value as it can be shown: an integer of thousands of digits cannot even be
    turned into text (Python refuses above 4300 digits), so it is described instead."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"（约 {digits} 位的整数）"
    if isinstance(value, (list, tuple, set, dict)):
        try:
            repr(value)
        except (ValueError, RecursionError):  # a huge integer or a deep nesting inside
            return "（无法显示的值）"
    return value
