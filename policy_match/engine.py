"""The columnar rule engine: every item's conditions, amounts and ranking features as arrays.

``compile_base`` turns the support items into a few flat tables once (at ``Matcher.fit``);
``evaluate`` then answers a whole chunk of profiles with numpy expressions whose number does
not grow with the base — only their length does. Nothing here builds text: condition reasons,
formula texts and entry dicts come from ``rules.py`` / ``amounts.py`` (the reference) for the
few items an interface shows.

Three-valued logic is coded unmet 0 / unknown 1 / met 2, so that AND = min, OR = max and
NOT = 2 − x. Rule trees are laid out level by level: leaves first (grouped by kind, one
expression per group), then the combinations of each height over their children's columns.
An item's status is the minimum of its conditions' codes (eligible 2 / possible 1 /
ineligible 0). Minima and maxima over contiguous column ranges are taken by counting (how
many children are unmet, unknown, met: one running sum and two gathers for all ranges at
once, see ``segment_counts``) — the same result as ``np.minimum.reduceat``, without its
cost per range, which dominates on a base of 10,000 items.

Every number is computed with the same floating-point operations, in the same order, as the
scalar reference (``rules.py``, ``amounts.py``, the feature functions of ``matcher.py``), so
results are identical, not merely close; ``tests/test_engine.py`` checks that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .amounts import _cap_for  # what one period pays when the base is unknown: the reference's rule
from .fields import LIST_VOCABULARIES, PROFILE_FIELDS
from .rules import MET, UNKNOWN, UNMET, _leaf
from .schema import Amount, Condition, Formula, Rule

UNMET_CODE, UNKNOWN_CODE, MET_CODE = 0, 1, 2
VERDICTS = (UNMET, UNKNOWN, MET)  # code → verdict
STATUSES = ("ineligible", "possible", "eligible")  # status code → status
_VERDICT_CODE = {UNMET: UNMET_CODE, UNKNOWN: UNKNOWN_CODE, MET: MET_CODE}

# Ranking constants (README "How ranking works"); matcher.py re-exports them.
POSSIBLE_FLOOR, POSSIBLE_CEILING = 0.3, 0.8
NO_CHECKABLE_CONFIRMATION = 0.5
W_STATUS, W_EVIDENCE, W_RELEVANCE, W_MONEY = 0.30, 0.10, 0.50, 0.10
RELEVANCE_SATURATION = 0.25
MONEY_SATURATION_WAN = 3000.0
GENERIC_FIELDS = frozenset({"sector", "registered_in_zhongshan", "credit_ok", "above_scale", "town"})
# Clauses of unmet conditions a firm cannot change: the applicant type, a town record's scope.
FIXED_CLAUSES = frozenset({"申报主体", "适用范围"})

_NUMERIC_KINDS = {"int", "float", "bool"}
_CATEGORY_KINDS = {"choice", "str"}
_CONST, _NUM, _CAT, _LIST, _PY, _ALL, _ANY, _NOT = range(8)
_FORMULA_TYPES = {"fixed": 0, "rate": 1, "per_unit": 2, "bands": 3, "step": 4}
_EXACT_INT = 2**53
# A handful of ranges: one reduceat is fewer numpy calls; many: counting is cheaper (reduceat pays per range).
REDUCEAT_MAX_RANGES = 64
# Gathers are written ``a.take(idx, axis=1)``: the same values as ``a[:, idx]`` at a third of its
# cost on one firm's row, which is what a warm match evaluates.
# Up to this many (profile, item) cells, amount upgrades and log1p are done in plain Python.
PYTHON_CELLS = 256


@dataclass(frozen=True)
class ItemSpec:
    """What the engine needs of one support item: its conditions in answer order (a town
    record's implied scope first), its amount, and whether its applicant is a government
    body (an always-unmet 申报主体 condition, appended last)."""

    conditions: Sequence[Condition]
    amount: Amount
    government_applicant: bool
    # per condition: met, it may show that the firm's own facts point to the item (advice's
    # can_point_to_firm): it then counts 1 in evidence and may count in pointing_met. None: the
    # engine's own rule (a condition on facts outside GENERIC_FIELDS, or a town record's scope)
    # and no pointing_met.
    points_to: Sequence[bool] | None = None


# -- rule trees --------------------------------------------------------------------------
def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and (not isinstance(x, int) or abs(x) < _EXACT_INT)


def _leaf_plan(rule: Rule) -> tuple:
    """How a leaf is evaluated: a closed interval on a number, a set of categories, a set of
    list members, an OR of intervals — or ``("py",)``: through ``rules._leaf`` itself, for the
    rare forms whose Python semantics an array would not reproduce exactly."""
    name, op, target = rule.field, rule.op, rule.value
    kind = PROFILE_FIELDS[name].kind
    negate = op in {"ne", "not_in"}
    if kind in _NUMERIC_KINDS:
        is_choice = name in {"sector", "town", "listing_stage"}
        if op == "is" and kind == "bool":
            b = float(bool(target))
            return ("num", name, b, b, False)
        if op in {"ge", "gt", "le", "lt", "eq", "ne"} and _number(target) and not is_choice:
            t = float(target)
            lo, hi = {"ge": (t, math.inf), "gt": (math.nextafter(t, math.inf), math.inf),
                      "le": (-math.inf, t), "lt": (-math.inf, math.nextafter(t, -math.inf)),
                      "eq": (t, t), "ne": (t, t)}[op]
            return ("num", name, lo, hi, negate)
        if op == "between" and isinstance(target, list) and len(target) == 2 and all(map(_number, target)):
            return ("num", name, float(target[0]), float(target[1]), False)
        if op in {"in", "not_in"} and isinstance(target, list) and all(map(_number, target)):
            if not target:  # `value in []`: unmet once known
                return ("num", name, math.inf, -math.inf, negate)
            return ("num_in", name, [float(t) for t in target], negate)
        return ("py",)
    if kind in _CATEGORY_KINDS:
        if op in {"eq", "ne"} and isinstance(target, str):
            return ("cat", name, frozenset([target]), negate)
        if op in {"in", "not_in"} and isinstance(target, list) and all(isinstance(t, str) for t in target):
            return ("cat", name, frozenset(target), negate)
        return ("py",)
    if kind == "list" and op in {"has_any", "has_all", "has_none"} and isinstance(target, list) \
            and all(isinstance(t, str) for t in target):
        return ("list", name, frozenset(target), op)
    return ("py",)


class _TreeBuilder:
    """Collects rule nodes (identical rules share one node), then lays them out by level."""

    def __init__(self, informative: Callable[[Rule], bool] | None = None) -> None:
        # nodes: (kind, height, children, payload); constants unmet/unknown/met at 0, 1, 2
        self.nodes: list[tuple[int, int, tuple[int, ...], Any]] = [(_CONST, 0, (), c) for c in range(3)]
        self.informative: list[bool] = [False, False, False]  # leaves: met, it says something of the firm
        self.seen: dict[str, int] = {}
        self._is_informative = informative or (lambda rule: False)

    def _add(self, kind: int, children: tuple[int, ...], payload: Any, informative: bool = False) -> int:
        height = 1 + max(self.nodes[c][1] for c in children) if children else 0
        self.nodes.append((kind, height, children, payload))
        self.informative.append(informative)
        return len(self.nodes) - 1

    def rule(self, rule: Rule) -> int:
        key = rule.model_dump_json(by_alias=True)
        hit = self.seen.get(key)
        if hit is None:
            hit = self.seen[key] = self._rule(rule)
        return hit

    def _rule(self, rule: Rule) -> int:
        if rule.field is not None:
            plan = _leaf_plan(rule)
            informative = bool(self._is_informative(rule))
            if plan[0] == "num_in":
                _, name, values, negate = plan
                inner = tuple(self._add(_NUM, (), (name, v, v, False), informative) for v in values)
                node = self._add(_ANY, inner, None)
                return self._add(_NOT, (node,), None) if negate else node
            kind = {"num": _NUM, "cat": _CAT, "list": _LIST, "py": _PY}[plan[0]]
            return self._add(kind, (), rule if kind == _PY else plan[1:], informative)
        if rule.not_ is not None:
            return self._add(_NOT, (self.rule(rule.not_),), None)
        children = rule.all if rule.all is not None else rule.any
        if not children:  # all of nothing holds; any of nothing does not
            return MET_CODE if rule.all is not None else UNMET_CODE
        return self._add(_ALL if rule.all is not None else _ANY, tuple(self.rule(c) for c in children), None)


@dataclass
class _Level:
    """Combinations of one height: contiguous node ranges, children gathered in order."""

    all_slice: slice
    all_children: np.ndarray
    all_bounds: np.ndarray  # child ranges: [bounds[k], bounds[k + 1]) of all_children is node k's
    any_slice: slice
    any_children: np.ndarray
    any_bounds: np.ndarray
    not_slice: slice
    not_children: np.ndarray


@dataclass
class ProfileLayout:
    """Where each profile field goes in the encoded arrays."""

    numeric: dict[str, int]          # field → column of X (float, NaN unknown; bool 0/1)
    categories: dict[str, int]       # field → column of C (global category id, -1 unknown)
    category_ids: dict[str, dict[str, int]]  # field → value → global id
    category_other: dict[str, int]   # field → id of "a known value no rule names"
    n_category_ids: int
    lists: dict[str, int]            # field → column of the known-mask of list fields
    list_members: dict[str, dict[str, int]]  # field → member → column of Q
    n_list_members: int


@dataclass
class EncodedProfiles:
    X: np.ndarray   # (P, n_numeric + 1) float64; last column all NaN (a base the profile lacks)
    C: np.ndarray   # (P, n_category_fields) int64
    Q: np.ndarray   # (P, n_list_members) float64 0/1
    QK: np.ndarray  # (P, n_list_fields) bool: list field known
    profiles: Sequence[Any]


def _layout(leaves_cat: list[tuple], leaves_list: list[tuple]) -> ProfileLayout:
    numeric = {n: i for i, n in enumerate(n for n, f in PROFILE_FIELDS.items() if f.kind in _NUMERIC_KINDS)}
    cat_values: dict[str, set[str]] = {}
    for name, values, _neg in leaves_cat:
        cat_values.setdefault(name, set()).update(values)
    categories, ids, other, next_id = {}, {}, {}, 0
    for name in sorted(cat_values):
        categories[name] = len(categories)
        ids[name] = {}
        for v in sorted(cat_values[name]):
            ids[name][v] = next_id
            next_id += 1
        other[name] = next_id
        next_id += 1
    list_values: dict[str, list[str]] = {n: list(v) for n, v in LIST_VOCABULARIES.items()}
    for name, values, _op in leaves_list:
        list_values.setdefault(name, [])
        list_values[name].extend(v for v in sorted(values) if v not in list_values[name])
    lists, members, col = {}, {}, 0
    for name in sorted(list_values):
        lists[name] = len(lists)
        members[name] = {}
        for v in list_values[name]:
            members[name][v] = col
            col += 1
    return ProfileLayout(numeric, categories, ids, other, next_id, lists, members, col)


def encode_profiles(profiles: Sequence[Any], layout: ProfileLayout) -> EncodedProfiles:
    """Profiles → arrays (one row per profile). A missing value is NaN / -1 / not known."""
    P = len(profiles)
    X = np.full((P, len(layout.numeric) + 1), np.nan)
    C = np.full((P, len(layout.categories)), -1, dtype=np.int64)
    Q = np.zeros((P, layout.n_list_members))
    QK = np.zeros((P, len(layout.lists)), dtype=bool)
    num_items = list(layout.numeric.items())
    for p, prof in enumerate(profiles):
        row = X[p]
        for name, col in num_items:
            v = getattr(prof, name)
            if v is not None:
                row[col] = v
        for name, col in layout.categories.items():
            v = getattr(prof, name)
            if v is not None:
                C[p, col] = layout.category_ids[name].get(v, layout.category_other[name])
        for name, col in layout.lists.items():
            v = getattr(prof, name)
            if v is not None:
                QK[p, col] = True
                members = layout.list_members[name]
                for m in v:
                    j = members.get(m)
                    if j is not None:
                        Q[p, j] = 1.0
    return EncodedProfiles(X, C, Q, QK, profiles)


# -- amounts ------------------------------------------------------------------------------
@dataclass
class _ByType:
    """Variant columns of each formula type, with their parameters."""

    fixed: np.ndarray
    fixed_value: np.ndarray
    rate: np.ndarray
    rate_value: np.ndarray
    per_unit: np.ndarray
    unit_yuan: np.ndarray
    months: np.ndarray
    step: np.ndarray
    threshold: np.ndarray
    first_wan: np.ndarray
    step_size: np.ndarray
    step_wan: np.ndarray


@dataclass
class _Variants:
    """One row per (formula, cap) an item may be paid by: its own, each upgrade's, and each
    "higher tier may apply" alternative. Parameters as arrays; NaN = not given."""

    ftype: np.ndarray
    base_col: np.ndarray      # column of X; the all-NaN column when the base is not a profile field
    base_in_profile: np.ndarray
    fixed: np.ndarray
    rate: np.ndarray
    unit_yuan: np.ndarray
    months: np.ndarray
    threshold: np.ndarray
    first_wan: np.ndarray
    step: np.ndarray
    step_wan: np.ndarray
    cap: np.ndarray
    fallback: np.ndarray
    cap_col: np.ndarray       # column of X for cap_field; the NaN column when none
    has_cap_field: np.ndarray
    years: np.ndarray
    cap_total: np.ndarray
    band_variant: np.ndarray  # bands: rows in order, grouped by variant
    band_min: np.ndarray
    band_max: np.ndarray
    band_value: np.ndarray    # NaN: the band's amount is not public
    band_starts: np.ndarray   # first band row of each bands variant (in bands_variants order)
    bands_variants: np.ndarray  # variants of type bands with at least one band
    empty_bands: np.ndarray   # variants of type bands with no band at all
    band_value_padded: np.ndarray  # band_value and a final 0 (no band holds the base)
    band_rows: np.ndarray     # 0 .. number of band rows - 1
    has_base: np.ndarray      # not a fixed amount
    no_fallback: np.ndarray   # a missing base makes the amount unknown (a profile field, or no cap to fall back to)
    any_cap_field: bool
    by_type: _ByType


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _compile_variants(rows: list[tuple[Formula, float | None, Amount]], layout: ProfileLayout) -> _Variants:
    nan_col = len(layout.numeric)
    cols: dict[str, list] = {k: [] for k in (
        "ftype", "base_col", "base_in_profile", "fixed", "rate", "unit_yuan", "months", "threshold", "first_wan",
        "step", "step_wan", "cap", "fallback", "cap_col", "has_cap_field", "years", "cap_total")}
    band_rows: list[tuple[int, float, float, float]] = []
    bands_variants, empty_bands = [], []
    for v, (f, cap, amount) in enumerate(rows):
        cols["ftype"].append(_FORMULA_TYPES[f.type])
        in_profile = f.base in PROFILE_FIELDS
        cols["base_in_profile"].append(in_profile)
        cols["base_col"].append(layout.numeric.get(f.base, nan_col) if in_profile else nan_col)
        cols["fixed"].append(f.value_wan * f.count if f.count > 1 else _nan(f.value_wan))
        cols["rate"].append(_nan(f.rate))
        cols["unit_yuan"].append(_nan(f.unit_yuan))
        cols["months"].append(_nan(f.months))
        cols["threshold"].append(_nan(f.threshold))
        cols["first_wan"].append(_nan(f.first_wan))
        cols["step"].append(_nan(f.step))
        cols["step_wan"].append(_nan(f.step_wan))
        cols["cap"].append(_nan(cap))
        cols["fallback"].append(_nan(_cap_for(f, cap)))
        cols["cap_col"].append(layout.numeric.get(amount.cap_field, nan_col) if amount.cap_field else nan_col)
        cols["has_cap_field"].append(amount.cap_field is not None)
        cols["years"].append(float(amount.years))
        cols["cap_total"].append(_nan(amount.cap_total_wan))
        if f.type == "bands":
            if f.bands:
                bands_variants.append(v)
                for b in f.bands:
                    band_rows.append((v, -math.inf if b.min is None else b.min,
                                      math.inf if b.max is None else b.max, _nan(b.value_wan)))
            else:
                empty_bands.append(v)
    arrays = {k: np.asarray(x, dtype=np.int64 if k in {"ftype", "base_col", "cap_col"} else
                            bool if k in {"base_in_profile", "has_cap_field"} else np.float64)
              for k, x in cols.items()}
    band_variant = np.asarray([r[0] for r in band_rows], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, band_variant[1:] != band_variant[:-1]]) if len(band_rows) else \
        np.zeros(0, dtype=np.int64)
    band_value = np.asarray([r[3] for r in band_rows], dtype=np.float64)
    ft = arrays["ftype"]

    def of(code: int) -> np.ndarray:
        return np.flatnonzero(ft == code)

    fixed, rate, per_unit, step = of(0), of(1), of(2), of(4)
    by_type = _ByType(
        fixed=fixed, fixed_value=arrays["fixed"][fixed], rate=rate, rate_value=arrays["rate"][rate],
        per_unit=per_unit, unit_yuan=arrays["unit_yuan"][per_unit], months=arrays["months"][per_unit],
        step=step, threshold=arrays["threshold"][step], first_wan=arrays["first_wan"][step],
        step_size=arrays["step"][step], step_wan=arrays["step_wan"][step])
    return _Variants(
        **arrays,
        band_variant=band_variant,
        band_min=np.asarray([r[1] for r in band_rows], dtype=np.float64),
        band_max=np.asarray([r[2] for r in band_rows], dtype=np.float64),
        band_value=band_value,
        band_starts=starts.astype(np.int64),
        bands_variants=np.asarray(bands_variants, dtype=np.int64),
        empty_bands=np.asarray(empty_bands, dtype=np.int64),
        band_value_padded=np.append(band_value, 0.0),
        band_rows=np.arange(len(band_rows), dtype=np.int64),
        has_base=ft != _FORMULA_TYPES["fixed"],
        no_fallback=arrays["base_in_profile"] | np.isnan(arrays["fallback"]),
        any_cap_field=bool(arrays["has_cap_field"].any()),
        by_type=by_type,
    )


def _evaluate_variants(V: _Variants, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(total, valid, from_inputs, cap_fallback), each (P, n_variants): ``amounts._evaluate_with``
    in arrays (cap_fallback: a base the profile cannot carry, so the cap stands in for it).
    Each formula type is computed on its own columns only; ``fmin`` with a NaN bound (no cap,
    cap field unknown) keeps the value, as the reference's ``if value > cap`` does."""
    t = V.by_type
    b = X.take(V.base_col, axis=1)
    value = np.zeros(b.shape)
    with np.errstate(invalid="ignore"):
        if len(t.fixed):
            value[:, t.fixed] = t.fixed_value
        if len(t.rate):
            value[:, t.rate] = t.rate_value * b.take(t.rate, axis=1)
        if len(t.per_unit):
            value[:, t.per_unit] = t.unit_yuan * b.take(t.per_unit, axis=1) * t.months / 10000
        if len(t.step):
            bs = b.take(t.step, axis=1)
            value[:, t.step] = np.where(bs < t.threshold, 0.0,
                                        t.first_wan + np.floor((bs - t.threshold) / t.step_size) * t.step_wan)
        missing = np.isnan(b) & V.has_base  # a fixed amount needs no base
        valid = ~(missing & V.no_fallback)
        if len(V.band_variant):
            bb = b.take(V.band_variant, axis=1)
            inside = (bb >= V.band_min) & (bb < V.band_max)
            n_rows = len(V.band_variant)
            first = np.minimum.reduceat(np.where(inside, V.band_rows, n_rows), V.band_starts, axis=1)
            band_value = V.band_value_padded[first]  # n_rows: no band holds the base → 0
            value[:, V.bands_variants] = band_value
            valid[:, V.bands_variants] &= ~np.isnan(band_value) | missing.take(V.bands_variants, axis=1)
        value = np.where(missing, V.fallback, value)
        value = np.fmin(value, V.cap)
        from_inputs = ~missing
        if V.any_cap_field:
            cap_value = X.take(V.cap_col, axis=1)
            from_inputs &= ~(V.has_cap_field & np.isnan(cap_value))
            value = np.fmin(value, cap_value)
        total = np.fmin(value * V.years, V.cap_total)
    return total, valid, from_inputs, missing & ~V.no_fallback


@dataclass
class _Upgrades:
    """Items with amount upgrades: their upgrade rules' nodes (padded per item) and the
    variant to pay by for each (pending, met) outcome."""

    items: np.ndarray        # item indices
    nodes: np.ndarray        # (n, K) node of upgrade k's `when`; the unmet constant as padding
    chosen: np.ndarray       # (n, K + 1) variant when upgrade j is the first met (K: none met)
    alt: np.ndarray          # (n, K, K + 1) alternative variant for pending i, met j (-1: impossible)

    def __post_init__(self) -> None:
        # the same tables as lists, for the item-by-item path (few items)
        self.items_list, self.chosen_list, self.alt_list = self.items.tolist(), self.chosen.tolist(), self.alt.tolist()


# -- the compiled base ------------------------------------------------------------------------
# The per-item counts evaluate() takes: (name, which condition columns, verdict code counted).
_COUNTS = (("unmet", "all", UNMET_CODE), ("unknown", "all", UNKNOWN_CODE), ("checked_met", "checkable", MET_CODE),
           ("specific_met", "specific", MET_CODE), ("unmet_fixed", "fixed", UNMET_CODE),
           ("applicant_unmet", "applicant", UNMET_CODE), ("applicant_unknown", "applicant", UNKNOWN_CODE),
           ("scope_unmet", "scope", UNMET_CODE), ("scope_unknown", "scope", UNKNOWN_CODE))


# of those: the unmet and the unknown counts of the item, its applicant conditions, its scope
_COUNT_NAMES = [name for name, _, _ in _COUNTS]
_UNMET_COUNTS = np.array([_COUNT_NAMES.index(n) for n in ("unmet", "applicant_unmet", "scope_unmet")])
_UNKNOWN_COUNTS = np.array([_COUNT_NAMES.index(n) for n in ("unknown", "applicant_unknown", "scope_unknown")])


@dataclass
class _Counts:
    nodes: np.ndarray   # rule node of each counted column (the counts' columns end to end)
    code: np.ndarray    # the verdict code each column counts
    starts: np.ndarray  # (n_counts × n_items) running-sum positions where each item's range starts ...
    ends: np.ndarray    # ... and ends

    @classmethod
    def build(cls, masks: dict[str, np.ndarray], cond_nodes: np.ndarray, item_starts: np.ndarray) -> _Counts:
        nodes, code, starts, ends, offset = [], [], [], [], 0
        for _name, subset, verdict in _COUNTS:
            cols = np.flatnonzero(masks[subset])
            bounds = np.searchsorted(cols, item_starts) + offset
            nodes.append(cond_nodes[cols])
            code.append(np.full(len(cols), verdict, dtype=np.int8))
            starts.append(bounds[:-1])
            ends.append(bounds[1:])
            offset += len(cols)
        return cls(np.concatenate(nodes), np.concatenate(code), np.concatenate(starts).astype(np.int64),
                   np.concatenate(ends).astype(np.int64))


@dataclass
class CompiledBase:
    """Every item of a base as arrays (see the module docstring)."""

    n_items: int
    layout: ProfileLayout
    n_nodes: int
    num: tuple[slice, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # slice, col, lo, hi, negate
    cat: tuple[slice, np.ndarray, np.ndarray, np.ndarray]              # slice, col, table, negate
    lst: tuple[slice, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    py: tuple[slice, list[Rule]]
    levels: list[_Level]
    # Condition columns, item by item (item k: columns item_starts[k] .. item_starts[k + 1] - 2, then
    # a padding 'met' column); per column: its rule node and what kind of condition it is.
    cond_nodes: np.ndarray
    item_starts: np.ndarray
    cond_checkable: np.ndarray  # has a machine rule with at least one leaf
    cond_evidence: np.ndarray   # weight in evidence_feature when met: 1 specific, 0.5 generic, 0
    cond_specific: np.ndarray   # checkable, on specific facts (or a town record's scope)
    cond_generic: np.ndarray    # checkable, on generic facts only (GENERIC_FIELDS)
    cond_fixed_clause: np.ndarray  # 申报主体 / 适用范围: a firm cannot change it
    cond_applicant: np.ndarray     # kind 'applicant'
    n_checkable: np.ndarray
    has_applicant: np.ndarray
    counts: _Counts
    # amounts
    has_amount: np.ndarray
    guaranteed: np.ndarray
    variants: _Variants
    base_variant: np.ndarray  # (I,) variant of each money item's own formula; -1 none
    money_items: np.ndarray   # items with an amount in money, and the variant of each one's own formula
    money_variants: np.ndarray
    upgrades: _Upgrades
    # advice: which leaves say something of the firm when met; the conditions that may point to it
    node_informative: np.ndarray
    pointing_nodes: np.ndarray
    pointing_bounds: np.ndarray

    def condition_slice(self, item: int) -> slice:
        """Columns of ``Features.condition_codes`` holding the item's conditions, in order."""
        return slice(int(self.item_starts[item]), int(self.item_starts[item + 1]) - 1)


def compile_base(items: Sequence[ItemSpec], informative: Callable[[Rule], bool] | None = None) -> CompiledBase:
    """Compile the items' conditions, amounts and feature weights (once, at fit). ``informative``
    tells of a rule leaf whether, met, it says something particular about the firm (advice's
    ``_informative``); it feeds ``Features.pointing_met``."""
    tb = _TreeBuilder(informative)
    cond_nodes: list[int] = []
    item_starts: list[int] = []
    flags: dict[str, list] = {k: [] for k in ("checkable", "evidence", "specific", "fixed", "applicant", "scope",
                                              "pointing")}

    def pad_flags(checkable=False, evidence=0.0, specific=False, fixed=False, applicant=False, scope=False,
                  pointing=False):
        flags["scope"].append(scope)
        flags["pointing"].append(pointing)
        flags["checkable"].append(checkable)
        flags["evidence"].append(evidence)
        flags["specific"].append(specific)
        flags["fixed"].append(fixed)
        flags["applicant"].append(applicant)

    upgrade_rows: list[tuple[int, list[int]]] = []
    for i, spec in enumerate(items):
        item_starts.append(len(cond_nodes))
        points_to = spec.points_to if spec.points_to is not None else [False] * len(spec.conditions)
        if len(points_to) != len(spec.conditions):
            raise ValueError("points_to needs one flag per condition")
        for c, pointing in zip(spec.conditions, points_to, strict=True):
            if c.rule is None:
                cond_nodes.append(UNKNOWN_CODE)
                pad_flags(fixed=c.clause in FIXED_CLAUSES, applicant=c.kind == "applicant", scope=c.clause == "适用范围")
                continue
            cond_nodes.append(tb.rule(c.rule))
            # evidence counts a met condition on facts specific to the firm 1, others 0.5: the
            # caller's notion (the advice layer's can_point_to_firm), else GENERIC_FIELDS
            specific = bool(pointing) if spec.points_to is not None else (
                c.clause == "适用范围" or not c.rule.fields_used() <= GENERIC_FIELDS)
            checkable = _has_leaf(c.rule)
            pad_flags(checkable=checkable, evidence=(1.0 if specific else 0.5) if checkable else 0.0,
                      specific=checkable and specific, fixed=c.clause in FIXED_CLAUSES,
                      applicant=c.kind == "applicant", scope=c.clause == "适用范围", pointing=bool(pointing))
        if spec.government_applicant:
            cond_nodes.append(UNMET_CODE)
            pad_flags(fixed=True)
        cond_nodes.append(MET_CODE)  # padding: every item's range is non-empty
        pad_flags()
        ups = spec.amount.upgrades if spec.amount.kind == "money" and spec.amount.formula is not None else []
        if ups:
            upgrade_rows.append((i, [tb.rule(u.when) for u in ups]))
    item_starts.append(len(cond_nodes))

    # Lay the nodes out: constants, leaves by kind, then each height's all / any / not.
    nodes = tb.nodes
    order = sorted(range(len(nodes)), key=lambda n: (nodes[n][1], nodes[n][0] if nodes[n][1] == 0 else
                                                      (0 if nodes[n][0] == _ALL else 1 if nodes[n][0] == _ANY else 2),
                                                      n))
    new = np.empty(len(nodes), dtype=np.int64)
    new[order] = np.arange(len(nodes))
    node_informative = np.zeros(len(nodes), dtype=bool)
    node_informative[new] = np.asarray(tb.informative, dtype=bool)

    def span(pred) -> slice:
        idx = [new[n] for n in range(len(nodes)) if pred(nodes[n])]
        return slice(int(min(idx)), int(max(idx)) + 1) if idx else slice(0, 0)

    leaf = lambda k: (lambda node: node[1] == 0 and node[0] == k)  # noqa: E731
    num_nodes = sorted((new[n], nodes[n][3]) for n in range(len(nodes)) if leaf(_NUM)(nodes[n]))
    cat_nodes = sorted((new[n], nodes[n][3]) for n in range(len(nodes)) if leaf(_CAT)(nodes[n]))
    list_nodes = sorted((new[n], nodes[n][3]) for n in range(len(nodes)) if leaf(_LIST)(nodes[n]))
    py_nodes = sorted(((new[n], nodes[n][3]) for n in range(len(nodes)) if leaf(_PY)(nodes[n])), key=lambda t: t[0])
    layout = _layout([p for _, p in cat_nodes], [p for _, p in list_nodes])

    num_slice = span(leaf(_NUM))
    num = (num_slice,
           np.asarray([layout.numeric[p[0]] for _, p in num_nodes], dtype=np.int64),
           np.asarray([p[1] for _, p in num_nodes], dtype=np.float64),
           np.asarray([p[2] for _, p in num_nodes], dtype=np.float64),
           np.asarray([p[3] for _, p in num_nodes], dtype=bool))
    table = np.zeros((len(cat_nodes), layout.n_category_ids + 1), dtype=bool)
    for r, (_, (name, values, _neg)) in enumerate(cat_nodes):
        for v in values:
            table[r, layout.category_ids[name][v]] = True
    cat = (span(leaf(_CAT)), np.asarray([layout.categories[p[0]] for _, p in cat_nodes], dtype=np.int64),
           table, np.asarray([p[2] for _, p in cat_nodes], dtype=bool))
    wanted = np.zeros((layout.n_list_members, len(list_nodes)))
    for r, (_, (name, values, _op)) in enumerate(list_nodes):
        for v in values:
            wanted[layout.list_members[name][v], r] = 1.0
    lst = (span(leaf(_LIST)), np.asarray([layout.lists[p[0]] for _, p in list_nodes], dtype=np.int64), wanted,
           wanted.sum(axis=0),
           np.asarray([p[2] == "has_all" for _, p in list_nodes], dtype=bool),
           np.asarray([p[2] == "has_none" for _, p in list_nodes], dtype=bool),
           np.asarray([p[2] == "has_any" for _, p in list_nodes], dtype=bool))
    py = (span(leaf(_PY)), [rule for _, rule in py_nodes])

    levels = []
    for h in range(1, max((n[1] for n in nodes), default=0) + 1):
        parts = []
        for kind in (_ALL, _ANY, _NOT):
            members = sorted((new[n], nodes[n][2]) for n in range(len(nodes)) if nodes[n][1] == h and nodes[n][0] == kind)
            sl = slice(int(members[0][0]), int(members[-1][0]) + 1) if members else slice(0, 0)
            children = np.asarray([new[c] for _, kids in members for c in kids], dtype=np.int64)
            sizes = [len(kids) for _, kids in members]
            parts.append((sl, children, np.cumsum([0, *sizes]).astype(np.int64)))
        levels.append(_Level(parts[0][0], parts[0][1], parts[0][2], parts[1][0], parts[1][1], parts[1][2],
                             parts[2][0], parts[2][1]))

    cond_nodes_arr = new[np.asarray(cond_nodes, dtype=np.int64)]
    starts = np.asarray(item_starts, dtype=np.int64)
    checkable = np.asarray(flags["checkable"], dtype=bool)
    applicant = np.asarray(flags["applicant"], dtype=bool)

    # amounts: one variant per formula/cap an item may be paid by
    variant_rows: list[tuple[Formula, float | None, Amount]] = []
    base_variant = np.full(len(items), -1, dtype=np.int64)
    has_amount = np.zeros(len(items), dtype=bool)
    guaranteed = np.zeros(len(items), dtype=bool)
    for i, spec in enumerate(items):
        a = spec.amount
        if a.kind != "money" or a.formula is None:
            continue
        has_amount[i] = True
        guaranteed[i] = a.guaranteed
        base_variant[i] = len(variant_rows)
        variant_rows.append((a.formula, a.cap_wan, a))
    K = max((len(n) for _, n in upgrade_rows), default=0)
    up_items = np.asarray([i for i, _ in upgrade_rows], dtype=np.int64)
    up_nodes = np.full((len(upgrade_rows), K), UNMET_CODE, dtype=np.int64)
    chosen = np.full((len(upgrade_rows), K + 1), -1, dtype=np.int64)
    alt = np.full((len(upgrade_rows), K, K + 1), -1, dtype=np.int64)
    for r, (i, when_nodes) in enumerate(upgrade_rows):
        a = items[i].amount
        up_nodes[r, :len(when_nodes)] = new[np.asarray(when_nodes)]
        # after upgrade j is met (K / none: the item's own formula and cap)
        effective = [(u.formula or a.formula, u.cap_wan if u.cap_wan is not None else a.cap_wan) for u in a.upgrades]
        own = (a.formula, a.cap_wan)
        for j in range(K + 1):
            f, cap = effective[j] if j < len(a.upgrades) else own
            if j < len(a.upgrades) or j == K:
                chosen[r, j] = len(variant_rows)
                variant_rows.append((f, cap, a))
            for pend in range(min(j, len(a.upgrades))):
                u = a.upgrades[pend]
                alt[r, pend, j] = len(variant_rows)
                variant_rows.append((u.formula or f, u.cap_wan if u.cap_wan is not None else cap, a))
    variants = _compile_variants(variant_rows, layout)

    pointing_cols = np.flatnonzero(np.asarray(flags["pointing"], dtype=bool))
    return CompiledBase(
        node_informative=node_informative,
        pointing_nodes=cond_nodes_arr[pointing_cols],
        pointing_bounds=np.searchsorted(pointing_cols, starts).astype(np.int64),
        n_items=len(items), layout=layout, n_nodes=len(nodes), num=num, cat=cat, lst=lst, py=py, levels=levels,
        cond_nodes=cond_nodes_arr, item_starts=starts, cond_checkable=checkable,
        cond_evidence=np.asarray(flags["evidence"], dtype=np.float64),
        cond_specific=np.asarray(flags["specific"], dtype=bool),
        cond_generic=np.asarray(flags["checkable"], dtype=bool) & ~np.asarray(flags["specific"], dtype=bool),
        cond_fixed_clause=np.asarray(flags["fixed"], dtype=bool), cond_applicant=applicant,
        n_checkable=np.add.reduceat(checkable.astype(np.int64), starts[:-1]) if len(items) else np.zeros(0, np.int64),
        has_applicant=np.add.reduceat(applicant.astype(np.int64), starts[:-1]) > 0 if len(items) else
        np.zeros(0, bool),
        counts=_Counts.build({
            "all": np.ones(len(cond_nodes_arr), dtype=bool), "checkable": checkable,
            "specific": np.asarray(flags["specific"], dtype=bool), "fixed": np.asarray(flags["fixed"], dtype=bool),
            "applicant": applicant, "scope": np.asarray(flags["scope"], dtype=bool)}, cond_nodes_arr, starts),
        has_amount=has_amount, guaranteed=guaranteed, variants=variants, base_variant=base_variant,
        money_items=np.flatnonzero(has_amount), money_variants=base_variant[np.flatnonzero(has_amount)],
        upgrades=_Upgrades(up_items, up_nodes, chosen, alt),
    )


def _has_leaf(rule: Rule) -> bool:
    if rule.field is not None:
        return True
    return any(_has_leaf(c) for c in (rule.all or []) + (rule.any or []) + ([rule.not_] if rule.not_ else []))


# -- evaluation -------------------------------------------------------------------------------
def evaluate_nodes(base: CompiledBase, enc: EncodedProfiles) -> np.ndarray:
    """Verdict codes of every rule node, (P, n_nodes) int8."""
    P = enc.X.shape[0]
    codes = np.empty((P, base.n_nodes), dtype=np.int8)
    codes[:, :3] = np.arange(3, dtype=np.int8)
    sl, col, lo, hi, negate = base.num
    if sl.stop > sl.start:
        v = enc.X.take(col, axis=1)
        met = ((v >= lo) & (v <= hi)) ^ negate
        codes[:, sl] = np.where(np.isnan(v), UNKNOWN_CODE, met * MET_CODE)
    sl, col, table, negate = base.cat
    if sl.stop > sl.start:
        ids = enc.C.take(col, axis=1)
        met = table[np.arange(len(col)), ids] ^ negate
        codes[:, sl] = np.where(ids < 0, UNKNOWN_CODE, met * MET_CODE)
    sl, col, wanted, need, is_all, is_none, _is_any = base.lst
    if sl.stop > sl.start:
        have = enc.Q @ wanted
        met = np.where(is_all, have >= need, have > 0) ^ is_none
        codes[:, sl] = np.where(enc.QK.take(col, axis=1), met * MET_CODE, UNKNOWN_CODE)
    sl, rules = base.py
    for j, rule in enumerate(rules):
        for p, prof in enumerate(enc.profiles):
            codes[p, sl.start + j] = _VERDICT_CODE[_leaf(rule, prof).verdict]
    for lv in base.levels:
        if len(lv.all_children):  # AND = min: unmet if any child is, else unknown if any is, else met
            kids = codes.take(lv.all_children, axis=1)
            if len(lv.all_bounds) <= REDUCEAT_MAX_RANGES:
                codes[:, lv.all_slice] = np.minimum.reduceat(kids, lv.all_bounds[:-1], axis=1)
            else:
                n = segment_counts(np.stack([kids == UNMET_CODE, kids == UNKNOWN_CODE]), lv.all_bounds)
                codes[:, lv.all_slice] = np.where(n[0] > 0, UNMET_CODE, np.where(n[1] > 0, UNKNOWN_CODE, MET_CODE))
        if len(lv.any_children):  # OR = max: met if any child is, else unknown if any is, else unmet
            kids = codes.take(lv.any_children, axis=1)
            if len(lv.any_bounds) <= REDUCEAT_MAX_RANGES:
                codes[:, lv.any_slice] = np.maximum.reduceat(kids, lv.any_bounds[:-1], axis=1)
            else:
                n = segment_counts(np.stack([kids == MET_CODE, kids == UNKNOWN_CODE]), lv.any_bounds)
                codes[:, lv.any_slice] = np.where(n[0] > 0, MET_CODE, np.where(n[1] > 0, UNKNOWN_CODE, UNMET_CODE))
        if len(lv.not_children):
            codes[:, lv.not_slice] = MET_CODE - codes.take(lv.not_children, axis=1)
    return codes


def segment_counts(masks: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Counts of True in each column range ``[bounds[k], bounds[k + 1])`` of boolean ``masks``
    (..., C) → (..., len(bounds) - 1): one running sum and two gathers, whatever the number of
    ranges (``reduceat`` pays per range, which dominates on a large base)."""
    running = np.zeros((*masks.shape[:-1], masks.shape[-1] + 1), dtype=np.int32)
    np.cumsum(masks, axis=-1, dtype=np.int32, out=running[..., 1:])
    return running[..., bounds[1:]] - running[..., bounds[:-1]]


@dataclass
class Features:
    """What the engine knows about each (profile, item): the inputs of ranking and of advice.

    Arrays are (P, I) unless said otherwise. Amounts are in 万元; ``amount_high`` is NaN when
    the item has no amount for this firm (none documented, or an input the firm can give is
    missing); ``amount_from_inputs`` is False when it fell back to a cap.
    """

    status: np.ndarray             # int8 codes: ineligible 0 / possible 1 / eligible 2
    condition_codes: np.ndarray    # (P, n_condition_columns) int8; item i: base.condition_slice(i)
    confirmation: np.ndarray       # share of checkable conditions met (0.5 when none is checkable)
    evidence: np.ndarray           # evidence_feature
    specific_met: np.ndarray       # number of met conditions on specific facts
    unmet: np.ndarray              # number of unmet conditions
    unmet_fixed: np.ndarray        # bool: an unmet condition the firm cannot change (applicant, scope)
    applicant: np.ndarray          # int8: verdict of the item's applicant condition(s); -1: none
    amount_high: np.ndarray
    amount_low: np.ndarray
    amount_from_inputs: np.ndarray
    potential: np.ndarray          # amount_high, 0 where none
    money: np.ndarray              # money_feature, 0 when ineligible
    fixed_score: np.ndarray        # the score without its relevance part
    in_scope: np.ndarray           # bool: every 适用范围 condition (a town record's towns) met
    pointing_met: np.ndarray       # met conditions that point to the firm (advice's specific_met)
    amount_cap_fallback: np.ndarray  # bool: the high is the item's cap standing in for a base the profile cannot carry


def evaluate(base: CompiledBase, enc: EncodedProfiles) -> Features:
    """Every item for every encoded profile."""
    codes = evaluate_nodes(base, enc)
    cond = codes.take(base.cond_nodes, axis=1)  # (P, n_columns), each item's range ends with a 'met' pad
    if base.n_items == 0:
        empty = np.zeros((enc.X.shape[0], 0))
        return Features(empty.astype(np.int8), cond, empty, empty, empty.astype(int), empty.astype(int),
                        empty.astype(bool), empty.astype(np.int8), empty, empty, empty.astype(bool), empty, empty,
                        empty, empty.astype(bool), empty.astype(int), empty.astype(bool))
    # Every per-item count in one pass: for each count, the condition columns it can come from
    # (laid end to end), the verdict code it counts, and each item's range among them.
    C = base.counts
    running = np.zeros((codes.shape[0], len(C.nodes) + 1), dtype=np.int32)
    np.cumsum(codes.take(C.nodes, axis=1) == C.code, axis=1, dtype=np.int32, out=running[:, 1:])
    counts = (running.take(C.ends, axis=1) - running.take(C.starts, axis=1)).reshape(codes.shape[0], len(_COUNTS), base.n_items)
    n_unmet, _, checked_met, specific_met, unmet_fixed = (counts[:, k] for k in range(5))
    generic_met = checked_met - specific_met
    # three verdicts at once — the item's, its applicant conditions', its scope's: unmet if any
    # is unmet, else unknown if any is unknown, else met
    unmet_any, unknown_any = counts.take(_UNMET_COUNTS, axis=1) > 0, counts.take(_UNKNOWN_COUNTS, axis=1) > 0
    verdicts = np.where(unmet_any, np.int8(UNMET_CODE), np.int8(MET_CODE) - unknown_any.view(np.int8))
    status, in_scope = verdicts[:, 0], verdicts[:, 2] == MET_CODE
    with np.errstate(invalid="ignore", divide="ignore"):
        confirmation = np.where(base.n_checkable > 0, checked_met / base.n_checkable, NO_CHECKABLE_CONFIRMATION)
    # specific facts count 1, generic ones 0.5 (multiples of 0.5: the sum is exact in any order)
    evidence = np.minimum(1.0, (specific_met + 0.5 * generic_met) / 2.0)
    unmet = n_unmet
    unmet_fixed = unmet_fixed > 0
    applicant = np.where(base.has_applicant, verdicts[:, 1], np.int8(-1))

    high, from_inputs, cap_fallback = _amounts(base, enc, codes)
    eligible = status == MET_CODE
    low = np.where(base.guaranteed & eligible & from_inputs & ~np.isnan(high), high, 0.0)
    potential = np.where(np.isnan(high), 0.0, high)
    money = np.minimum(1.0, _log1p(np.where(status != UNMET_CODE, potential, 0.0)) / math.log1p(MONEY_SATURATION_WAN))
    strength = np.where(status == MET_CODE, 1.0,
                        np.where(status == UNKNOWN_CODE,
                                 POSSIBLE_FLOOR + (POSSIBLE_CEILING - POSSIBLE_FLOOR) * confirmation, 0.0))
    fixed = W_STATUS * strength + W_EVIDENCE * evidence
    if len(base.pointing_nodes):
        S = met_on_specific_facts(base, codes)
        pointing_met = segment_counts((codes.take(base.pointing_nodes, axis=1) == MET_CODE) & S.take(base.pointing_nodes, axis=1),
                                      base.pointing_bounds)
    else:
        pointing_met = np.zeros(status.shape, dtype=np.int32)
    return Features(status, cond, confirmation, evidence, specific_met, unmet, unmet_fixed, applicant, high, low,
                    from_inputs, potential, money, fixed, in_scope, pointing_met, cap_fallback)


def met_on_specific_facts(base: CompiledBase, codes: np.ndarray) -> np.ndarray:
    """Per rule node, (P, n_nodes) bool: ``advice.met_on_specific_facts`` — a leaf met and
    informative; an ``all`` as specific as its most specific part; an ``any`` only if every
    branch that holds is; a ``not`` never."""
    S = base.node_informative & (codes == MET_CODE)
    for lv in base.levels:
        if len(lv.all_children):
            kids = S.take(lv.all_children, axis=1)
            if len(lv.all_bounds) <= REDUCEAT_MAX_RANGES:
                S[:, lv.all_slice] = np.logical_or.reduceat(kids, lv.all_bounds[:-1], axis=1)
            else:
                S[:, lv.all_slice] = segment_counts(kids, lv.all_bounds) > 0
        if len(lv.any_children):
            held = codes.take(lv.any_children, axis=1) == MET_CODE
            if len(lv.any_bounds) <= REDUCEAT_MAX_RANGES:  # some branch holds, and every one that holds is specific
                S[:, lv.any_slice] = (np.logical_or.reduceat(held, lv.any_bounds[:-1], axis=1)
                                      & np.logical_and.reduceat(~held | S.take(lv.any_children, axis=1), lv.any_bounds[:-1],
                                                                axis=1))
            else:
                n = segment_counts(np.stack([held, held & S.take(lv.any_children, axis=1)]), lv.any_bounds)
                S[:, lv.any_slice] = (n[0] > 0) & (n[0] == n[1])
    return S


def row_features(f: Features, i: int, copy: bool = True) -> Features:
    """Profile ``i``'s features as 1-D arrays over items (copies unless ``copy=False``: a view
    keeps the whole chunk's arrays alive)."""
    rows = [getattr(f, name)[i] for name in Features.__dataclass_fields__]
    return Features(*([r.copy() for r in rows] if copy else rows))


def _amounts(base: CompiledBase, enc: EncodedProfiles, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(high, from_inputs, cap_fallback) per (profile, item): ``amounts.evaluate_amount`` in arrays."""
    P = enc.X.shape[0]
    high = np.full((P, base.n_items), np.nan)
    from_inputs = np.zeros((P, base.n_items), dtype=bool)
    cap_fallback = np.zeros((P, base.n_items), dtype=bool)
    if not len(base.variants.ftype):
        return high, from_inputs, cap_fallback
    total, valid, inputs, fell_back = _evaluate_variants(base.variants, enc.X)
    money, own = base.money_items, base.money_variants
    high[:, money] = np.where(valid.take(own, axis=1), total.take(own, axis=1), np.nan)
    from_inputs[:, money] = inputs.take(own, axis=1)
    cap_fallback[:, money] = fell_back.take(own, axis=1) & valid.take(own, axis=1)
    U = base.upgrades
    if len(U.items) and P * len(U.items) <= PYTHON_CELLS:
        _upgrades_python(U, codes, total, valid, inputs, fell_back, high, from_inputs, cap_fallback)
    elif len(U.items):
        verdict = codes.take(U.nodes, axis=1)  # (P, n, K)
        K = U.nodes.shape[1]
        is_met = verdict == MET_CODE
        any_met = is_met.any(axis=2)
        j = np.where(any_met, is_met.argmax(axis=2), K)  # first met upgrade, K: none
        before = np.arange(K) < j[:, :, None]
        pending_mask = (verdict == UNKNOWN_CODE) & before
        has_pending = pending_mask.any(axis=2)
        i = pending_mask.argmax(axis=2)
        rows = np.arange(len(U.items))
        chosen = U.chosen[rows, j]  # (P, n)
        alt = U.alt[rows, i, j]
        pr = np.arange(P)[:, None]
        c_valid, c_total, c_inputs = valid[pr, chosen], total[pr, chosen], inputs[pr, chosen]
        a_valid = valid[pr, np.maximum(alt, 0)] & has_pending
        a_total = total[pr, np.maximum(alt, 0)]
        take_alt = a_valid & (~c_valid | (a_total > c_total))
        h = np.where(take_alt, a_total, np.where(c_valid, c_total, np.nan))
        high[:, U.items] = h
        from_inputs[:, U.items] = np.where(take_alt, False, c_inputs)
        a_fb = fell_back[pr, np.maximum(alt, 0)]
        cap_fallback[:, U.items] = np.where(take_alt, a_fb, fell_back[pr, chosen] & c_valid)
    return high, from_inputs, cap_fallback


def _log1p(x: np.ndarray) -> np.ndarray:
    """``math.log1p`` elementwise (numpy's own differs in the last bit for some values), over
    the positive values only (0 elsewhere), and over the distinct ones on large arrays: amounts
    repeat a lot."""
    out = np.zeros(x.shape)
    flat = x.reshape(-1)
    at = np.flatnonzero(flat > 0)
    if len(at) <= PYTHON_CELLS:
        out.reshape(-1)[at] = [math.log1p(v) for v in flat[at].tolist()]
    else:
        values, inverse = np.unique(flat[at], return_inverse=True)
        out.reshape(-1)[at] = np.asarray([math.log1p(v) for v in values.tolist()])[inverse]
    return out


def _upgrades_python(U: _Upgrades, codes, total, valid, inputs, fell_back, high, from_inputs, cap_fallback) -> None:
    """The same choice as the array version, item by item (few items: fewer numpy calls)."""
    K = U.nodes.shape[1]
    chosen, alt = U.chosen_list, U.alt_list
    for p in range(codes.shape[0]):
        verdict_rows = codes[p, U.nodes].tolist()  # (n, K): only the upgrade rules' verdicts
        total_row, valid_row, inputs_row, fb_row = total[p], valid[p], inputs[p], fell_back[p]
        for r, item in enumerate(U.items_list):
            verdicts = verdict_rows[r]
            j = next((k for k, v in enumerate(verdicts) if v == MET_CODE), K)
            pending = next((k for k, v in enumerate(verdicts[:j]) if v == UNKNOWN_CODE), None)
            c = chosen[r][j]
            c_valid = bool(valid_row[c])
            h, fi = (float(total_row[c]), bool(inputs_row[c])) if c_valid else (math.nan, bool(inputs_row[c]))
            fb = bool(fb_row[c]) and c_valid
            if pending is not None:
                a = alt[r][pending][j]
                if valid_row[a] and (not c_valid or total_row[a] > total_row[c]):
                    h, fi, fb = float(total_row[a]), False, bool(fb_row[a])
            high[p, item] = h
            from_inputs[p, item] = fi
            cap_fallback[p, item] = fb


def relevance_feature(raw: np.ndarray) -> np.ndarray:
    return np.where(raw > 0, np.minimum(1.0, raw / RELEVANCE_SATURATION), 0.0)


def scores(features: Features, relevance_raw: np.ndarray) -> np.ndarray:
    """Item scores (unrounded), (P, I): fixed part + relevance + money gated by fit."""
    rel = relevance_feature(relevance_raw)
    text = W_RELEVANCE * rel + W_MONEY * features.money * np.minimum(1.0, rel + features.evidence)
    return features.fixed_score + text


def py_round(values: np.ndarray, ndigits: int) -> np.ndarray:
    """``round(x, ndigits)`` of Python for every element (numpy's ``round`` differs next to
    a tie at the last digit: those few are redone with Python's)."""
    out = np.round(values, ndigits)
    scaled = np.abs(values) * 10.0**ndigits
    frac = scaled - np.floor(scaled)
    near = np.abs(frac - 0.5) <= 1e-6 * np.maximum(1.0, scaled)
    if near.any():
        flat, src = out.reshape(-1), values.reshape(-1)
        for k in np.flatnonzero(near.reshape(-1)).tolist():
            flat[k] = round(float(src[k]), ndigits)
    return out
