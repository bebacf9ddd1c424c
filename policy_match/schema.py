"""The policy record schema: one YAML file per programme (``data/policies/``).

Human-readable eligibility text side by side with machine rules over profile fields, an amount
formula, validity and its evidence, steps to apply, contact and sources, each item with a
confidence mark. pydantic v2 models; ``policy-match validate`` reports every error by file and field.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .fields import LIST_VOCABULARIES, LISTING_STAGES, NUMERIC_KINDS, PROFILE_FIELDS, SECTORS, TOWNS

RULE_OPS = {
    "eq", "ne", "lt", "le", "gt", "ge", "between", "in", "not_in",
    "has_any", "has_all", "has_none", "is",
}
NUMERIC_OPS = {"lt", "le", "gt", "ge", "between"}
LIST_OPS = {"has_any", "has_all", "has_none"}
# Applicants other than an ordinary enterprise that a firm's profile can show it is.
OPERATOR_APPLICANTS = frozenset({"platform", "park_operator"})
SUPPORT_TYPES = ("奖励", "补助", "贴息", "资助", "股权投资", "用地", "服务", "培训", "认定", "入库")
_DATE_TEXT = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef“”‘’]"
_FOLDED_SPACE = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


def unfold_cjk(text: str) -> str:
    """YAML's folded blocks (``>-``) join lines with a space, which is wrong between two Chinese
    characters ("设备和 软件投入"); drop those spaces, keep the ones around Latin words."""
    return _FOLDED_SPACE.sub("", text)


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` / `.nan` in a number field is an error naming the field.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _unfold(cls, value: Any) -> Any:
        return unfold_cjk(value) if isinstance(value, str) else value


class Rule(_Strict):
    """A machine-checkable test over profile fields.

    Either a leaf ``{field, op, value}`` or a combination ``{all: [...]}``,
    ``{any: [...]}``, ``{not: {...}}``. Evaluated with three-valued logic.
    """

    field: str | None = None
    op: str | None = None
    value: Any = None
    all: list[Rule] | None = None
    any: list[Rule] | None = None
    not_: Rule | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        forms = [self.field is not None, self.all is not None, self.any is not None, self.not_ is not None]
        if sum(forms) != 1:
            raise ValueError("a rule is exactly one of {field, op, value}, {all}, {any}, {not}")
        if self.field is None:
            return self
        if self.field not in PROFILE_FIELDS:
            raise ValueError(f"rule over unknown profile field '{self.field}'")
        if self.op not in RULE_OPS:
            raise ValueError(f"unknown op '{self.op}' (one of {', '.join(sorted(RULE_OPS))})")
        kind = PROFILE_FIELDS[self.field].kind
        values = self.value if isinstance(self.value, list) else [self.value]
        if not all(isinstance(v, (str, int, float)) for v in values):  # bool is an int
            shown = repr(self.value)
            raise ValueError(f"rule value must be text, a number or true/false, or a list of them; got "
                             f"{shown[:80] + '…' if len(shown) > 80 else shown}")
        if self.op == "is" and not isinstance(self.value, bool):
            raise ValueError(f"op 'is' needs value true or false, got {self.value!r}")
        if self.op in NUMERIC_OPS and kind not in NUMERIC_KINDS:
            raise ValueError(f"op '{self.op}' needs a numeric field, '{self.field}' is {kind}")
        if self.op in LIST_OPS and kind != "list":
            raise ValueError(f"op '{self.op}' needs a list field ({', '.join(LIST_VOCABULARIES)})")
        if self.op == "is" and kind != "bool":
            raise ValueError(f"op 'is' needs a yes/no field, '{self.field}' is {kind}")
        if self.op == "between" and (not isinstance(self.value, list) or len(self.value) != 2):
            raise ValueError("op 'between' needs value [low, high]")
        if self.op in {"in", "not_in"} | LIST_OPS and not isinstance(self.value, list):
            raise ValueError(f"op '{self.op}' needs a list value")
        if self.field in LIST_VOCABULARIES:
            bad = [v for v in values if v not in LIST_VOCABULARIES[self.field]]
            if bad:
                raise ValueError(f"unknown {self.field} value {bad}")
        if self.field == "town":
            bad = [v for v in values if v not in TOWNS]
            if bad:
                raise ValueError(f"unknown town {bad}")
        if self.field == "sector":
            bad = [v for v in values if v not in SECTORS]
            if bad:
                raise ValueError(f"unknown sector {bad}")
        if self.field == "listing_stage":
            bad = [v for v in values if v not in LISTING_STAGES]
            if bad:
                raise ValueError(f"unknown listing stage {bad}")
        numbers_only = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if kind in NUMERIC_KINDS and self.op not in {"in", "not_in"} and not numbers_only:
            raise ValueError(f"op '{self.op}' on '{self.field}' needs numbers")
        return self

    def fields_used(self) -> set[str]:
        if self.field is not None:
            return {self.field}
        out: set[str] = set()
        for child in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            out |= child.fields_used()
        return out


class Condition(_Strict):
    """One eligibility condition: the human text, its machine rule, and where it comes from.

    ``rule: null`` marks a fact the profile cannot carry (e.g. 已取得技改备案证): its verdict
    is always ``unknown`` and ``check`` says what to verify.
    """

    text: str = Field(min_length=2)
    rule: Rule | None = None
    # applicant: the condition that says the firm is the kind of applicant the item is for
    # (a platform or park operator); such items count for a firm only when it is met.
    kind: Literal["requirement", "exclusion", "applicant"] = "requirement"
    check: str | None = None  # what an advisor should verify when the rule cannot decide
    source: str = Field(min_length=4)
    clause: str | None = None  # short pointer to the clause (文号 and item)
    # a fact of a period already over (interest paid in 2024-05…2025-04): the rule may rule the
    # firm out, but no near miss asks it to change what can no longer be changed
    past_period: bool = False


class Band(_Strict):
    """A tier: applies when ``min`` <= base < ``max``. ``value_wan`` null = not documented."""

    min: float | None = None
    max: float | None = None
    value_wan: float | None = None
    label: str | None = None


class Formula(_Strict):
    """How much, before caps.

    - ``fixed``: ``value_wan`` × ``count`` (e.g. ≤1.5万 per person × 3 persons);
    - ``rate``: ``rate`` × profile field ``base``;
    - ``per_unit``: ``unit_yuan`` 元 per unit per month × ``base`` × ``months`` (per year);
    - ``bands``: the band containing profile field ``base`` (threshold tables, graded levels);
    - ``step``: ``first_wan`` once ``base`` reaches ``threshold``, plus ``step_wan`` per further
      ``step``.

    ``base`` may name a quantity the profile does not carry (``base_label`` then explains it);
    the amount then falls back to the cap, and says so.
    """

    type: Literal["fixed", "rate", "per_unit", "bands", "step"]
    value_wan: float | None = Field(default=None, ge=0)
    count: int = Field(default=1, ge=1)
    rate: float | None = Field(default=None, gt=0, le=1)
    base: str | None = None
    base_label: str | None = None
    unit_yuan: float | None = Field(default=None, gt=0)
    months: int | None = Field(default=None, ge=1, le=12)
    bands: list[Band] | None = None
    threshold: float | None = Field(default=None, ge=0)
    first_wan: float | None = Field(default=None, ge=0)
    step: float | None = Field(default=None, gt=0)
    step_wan: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> Formula:
        need = {
            "fixed": ["value_wan"],
            "rate": ["rate", "base"],
            "per_unit": ["unit_yuan", "base", "months"],
            "bands": ["bands", "base"],
            "step": ["threshold", "first_wan", "step", "step_wan", "base"],
        }[self.type]
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"formula type '{self.type}' needs {', '.join(missing)}")
        if self.base is not None and self.base not in PROFILE_FIELDS and not self.base_label:
            raise ValueError(f"formula base '{self.base}' is not a profile field; add base_label to explain it")
        if self.base in PROFILE_FIELDS and PROFILE_FIELDS[self.base].kind not in NUMERIC_KINDS:
            raise ValueError(f"formula base '{self.base}' is not numeric")
        return self


class AmountUpgrade(_Strict):
    """A higher tier that replaces the base formula and cap when ``when`` holds
    (e.g. 独立站: 30% ≤20万, but 50% ≤30万 once 跨境电商交易额 ≥75万美元)."""

    when: Rule
    formula: Formula | None = None  # None: same formula as the base, only the cap changes
    cap_wan: float | None = Field(default=None, ge=0)
    text: str = Field(min_length=2)


class Amount(_Strict):
    """The money of one support item.

    ``kind``: ``money`` (a formula is documented), ``non_monetary`` (a service, status or
    land access), ``undocumented`` (money exists but the figure is not public: amount null).
    ``guaranteed``: true for entitlements paid in full once eligible (全额贴息, a fixed
    reward); false for 最高/不超过 awards that are decided case by case (``low`` is then 0).
    Caps: ``cap_wan`` per payment period (a project, a year); ``cap_field`` caps each
    period at a profile value (e.g. 地方经济贡献); ``years`` periods are paid; ``cap_total_wan``
    caps the sum.
    """

    kind: Literal["money", "non_monetary", "undocumented"]
    text: str = Field(min_length=2)
    formula: Formula | None = None
    cap_wan: float | None = Field(default=None, ge=0)
    cap_field: str | None = None
    years: int = Field(default=1, ge=1, le=10)
    cap_total_wan: float | None = Field(default=None, ge=0)
    guaranteed: bool = False
    upgrades: list[AmountUpgrade] = Field(default_factory=list)
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Amount:
        if self.kind == "money" and self.formula is None:
            raise ValueError("kind 'money' needs a formula")
        if self.kind != "money" and (self.formula is not None or self.cap_wan is not None):
            raise ValueError(f"kind '{self.kind}' carries no formula or cap")
        if self.cap_field is not None and self.cap_field not in PROFILE_FIELDS:
            raise ValueError(f"cap_field '{self.cap_field}' is not a profile field")
        return self


class Period(_Strict):
    """A span of dates, each as precise as documented (YYYY, YYYY-MM or YYYY-MM-DD)."""

    start: str | None = Field(default=None, alias="from")
    end: str | None = Field(default=None, alias="to")
    note: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return _check_date_text(value)

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.start and self.end and date_bounds(self.end)[1] < date_bounds(self.start)[0]:
            raise ValueError(f"end date {self.end} is before start date {self.start}")
        return self


class Window(Period):
    """A documented application window (申报窗口): ``from``/``to`` as precise as documented."""

    source: str | None = None


class Evidence(_Strict):
    """A dated fact showing the measure was still applied (a call, a payout list, a plan citing it)."""

    date: str
    text: str = Field(min_length=4)
    source: str = Field(min_length=4)

    @field_validator("date", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return _check_date_text(value)


class Validity(Period):
    """When a policy (or one item of it) is in force, and the evidence for it.

    Everything here is a documented fact; ``policy_match.validity`` derives ``current`` /
    ``expired`` / ``unknown`` at a date from it (README "Validity"):

    - ``from`` / ``to``: the documented start and end;
    - ``ended``: known to be over though the end date is not documented (``note`` says why);
    - ``document_status``: ``draft`` for a 征求意见稿 — never ``current``;
    - ``intakes``: years with a documented application call (入库/申报通知);
    - ``windows``: documented application windows (their years count as intakes);
    - ``covered``: the period whose figures or activities the measure pays for
      (e.g. 2022年一季度经营数据); once that period's year is over, so is the measure;
    - ``superseded_by``: the policy that replaced it;
    - ``evidence``: dated signs that it was still applied (shown in the note, never a verdict);
    - ``confirm``: what an advisor should confirm while the validity is unknown.
    """

    ended: bool = False
    document_status: Literal["final", "draft"] = "final"
    intakes: list[int] = Field(default_factory=list)
    windows: list[Window] = Field(default_factory=list)
    covered: Period | None = None
    superseded_by: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    confirm: str | None = None

    @field_validator("intakes")
    @classmethod
    def _years(cls, value: list[int]) -> list[int]:
        bad = [y for y in value if not 1990 <= y <= 2100]
        if bad:
            raise ValueError(f"intake years must be between 1990 and 2100, got {bad}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _explained(self) -> Validity:
        if self.ended and not self.note:
            raise ValueError("'ended: true' needs a note saying how we know it is over")
        if self.covered is not None and self.covered.end is None:
            raise ValueError("'covered' needs 'to': the end of the period the measure pays for")
        return self


class Contact(_Strict):
    """Whom to call, exactly as published. ``department`` is the unit the people belong to."""

    department: str = Field(min_length=2)
    people: str | None = None
    phone: str | None = None
    source: str = Field(min_length=4)
    note: str | None = None

    def text(self) -> str:
        who = " ".join(x for x in (self.people, self.phone) if x)
        return f"{self.department}：{who}" if who else self.department


class HowToApply(_Strict):
    steps: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)
    window: str | None = None
    channel: str | None = None
    note: str | None = None


class SupportItem(_Strict):
    item_id: str
    number: str  # the item number in shared/research/policy-facts.md, e.g. "1.4"
    title: str = Field(min_length=2)
    description: str = Field(min_length=10)
    support_type: str
    applicant: Literal["enterprise", "platform", "park_operator", "town_government", "government", "individual"] = "enterprise"
    keywords: list[str] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    exclusive_group: str | None = None  # items sharing a group are not stacked (the larger counts)
    stacking_note: str | None = None
    amount: Amount
    period: Validity = Field(default_factory=Validity)
    how_to_apply: HowToApply = Field(default_factory=HowToApply)
    department: str | None = None
    contact: Contact | None = None
    confidence: Literal["primary", "secondary", "partial"]
    missing: str | None = None
    sources: list[str] = Field(min_length=1)

    @field_validator("support_type")
    @classmethod
    def _support_type(cls, value: str) -> str:
        if value not in SUPPORT_TYPES:
            raise ValueError(f"unknown support_type '{value}' (one of {'、'.join(SUPPORT_TYPES)})")
        return value

    @model_validator(mode="after")
    def _partial_says_what(self) -> SupportItem:
        if self.confidence == "partial" and not self.missing:
            raise ValueError("confidence 'partial' needs 'missing' to say what is not documented")
        return self

    @model_validator(mode="after")
    def _operator_items_name_their_applicant(self) -> SupportItem:
        if self.applicant in OPERATOR_APPLICANTS and not any(c.kind == "applicant" and c.rule for c in self.conditions):
            raise ValueError(f"applicant '{self.applicant}' needs a condition of kind 'applicant' with a rule "
                             "saying which profile fact identifies such an applicant")
        return self


class Bundle(_Strict):
    title: str
    doc_number: str | None = None
    issuer: str | None = None
    date: str | None = None
    note: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return _check_date_text(value)


class PolicyRecord(_Strict):
    policy_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]+$")
    title: str
    short_title: str | None = None
    doc_number: str | None = None
    doc_number_note: str | None = None
    issuer: str
    issued: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD as documented
    issued_note: str | None = None
    validity: Validity = Field(default_factory=Validity)
    department: str | None = None
    contact: Contact | None = None
    package_2022_02_15: Literal["confirmed", "probable", "no"]
    package_note: str | None = None
    level: Literal["city", "province", "town"]
    town_scope: list[str] = Field(default_factory=list)
    bundles: list[Bundle] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1)
    summary: str = Field(min_length=10)
    unknowns: list[str] = Field(default_factory=list)
    items: list[SupportItem] = Field(min_length=1)

    @field_validator("issued", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return _check_date_text(value)

    @field_validator("town_scope")
    @classmethod
    def _towns(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if t not in TOWNS]
        if bad:
            raise ValueError(f"unknown town {bad}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PolicyRecord:
        if self.level == "town" and not self.town_scope:
            raise ValueError("a town-level record needs town_scope")
        if self.level != "town" and self.town_scope:
            raise ValueError("town_scope is only for town-level records")
        seen: set[str] = set()
        for item in self.items:
            if not item.item_id.startswith(self.policy_id + "/"):
                raise ValueError(f"item_id '{item.item_id}' must start with '{self.policy_id}/'")
            if item.item_id in seen:
                raise ValueError(f"duplicate item_id '{item.item_id}'")
            seen.add(item.item_id)
        return self


def _check_date_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if not _DATE_TEXT.match(text):
        raise ValueError(f"date '{text}' must be YYYY, YYYY-MM or YYYY-MM-DD")
    date_bounds(text)  # raises on 2022-13-40
    return text


def date_bounds(text: str) -> tuple[date, date]:
    """The earliest and latest day a partial date (YYYY / YYYY-MM / YYYY-MM-DD) can mean."""
    parts = [int(p) for p in text.split("-")]
    try:
        if len(parts) == 3:
            day = date(*parts)
            return day, day
        if len(parts) == 2:
            first = date(parts[0], parts[1], 1)
            nxt = date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
            return first, date.fromordinal(nxt.toordinal() - 1)
        return date(parts[0], 1, 1), date(parts[0], 12, 31)
    except ValueError:
        raise ValueError(f"'{text}' is not a real date") from None
