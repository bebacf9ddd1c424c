"""Property-based tests (hypothesis) over the profile parser: whatever a form, a sheet, a JSON file or
an API caller sends, ``parse_profile`` either returns a profile of finite, in-range values or raises
``ProfileError`` naming the fields. Seeded (derandomized) and bounded, so every run is the same."""

from __future__ import annotations

import contextlib
import json
import math
from decimal import Decimal

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from policy_match.fields import NUMERIC_KINDS, PROFILE_FIELDS  # noqa: E402
from policy_match.profile import Profile, ProfileError, parse_profile  # noqa: E402

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, database=None)
NUMERIC = [n for n, f in PROFILE_FIELDS.items() if f.kind in NUMERIC_KINDS]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10 ** 500), max_value=10 ** 500),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.text(alphabet="0123456789.,，万亿元千美人平方米㎡%％-+e ０１２３４５６７８９\x0b\x00", max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=3), max_leaves=6)
profiles = st.dictionaries(st.sampled_from([*PROFILE_FIELDS, "unknown_key"]), values, max_size=8)


def _finite_and_in_range(profile: Profile) -> None:
    for name, value in profile.known().items():
        info = PROFILE_FIELDS[name]
        if info.kind in NUMERIC_KINDS:
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
            assert math.isfinite(value)
            if info.minimum is not None:
                assert value >= info.minimum
            if info.maximum is not None:
                assert value <= info.maximum


@SETTINGS
@given(profiles)
def test_any_input_is_a_valid_profile_or_named_field_problems(data):
    try:
        parsed = parse_profile(data)
    except ProfileError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.field in PROFILE_FIELDS or problem.field == "profile"
            line = problem.line()
            assert line and len(line) < 600  # the longest message lists the 18 qualifications
        return
    _finite_and_in_range(parsed.profile)
    json.dumps(parsed.profile.known(), allow_nan=False, ensure_ascii=False)  # standard JSON
    again = parse_profile(parsed.profile.known()).profile  # a parsed profile parses to itself
    assert again == parsed.profile


SAME_KIND = {  # field unit → (written unit, how many field units one written unit is)
    "万元": [("元", Decimal("0.0001")), ("万元", 1), ("万", 1), ("亿", 10_000), ("亿元", 10_000), ("千万", 1000)],
    "万美元": [("美元", Decimal("0.0001")), ("万美元", 1), ("万", 1), ("亿美元", 10_000)],
    "人": [("人", 1), ("万人", 10_000), ("名", 1)],
    "㎡": [("㎡", 1), ("平方米", 1), ("平米", 1), ("万平方米", 10_000)],
}


@SETTINGS
@given(st.sampled_from([n for n in NUMERIC if PROFILE_FIELDS[n].unit in SAME_KIND]),
       st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False),
       st.data())
def test_a_unit_of_the_field_kind_converts_exactly(field, number, data):
    unit, factor = data.draw(st.sampled_from(SAME_KIND[PROFILE_FIELDS[field].unit]))
    expected = float(number * Decimal(factor))
    try:
        value = getattr(parse_profile({field: f"{number}{unit}"}).profile, field)
    except ProfileError as exc:  # out of range or not an integer: said, never silently changed
        [problem] = exc.problems
        assert problem.field == field
        assert ("超出合理范围" in problem.message or "应为整数" in problem.message), problem.message
        return
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@SETTINGS
@given(st.sampled_from(["annual_revenue_wan", "loan_interest_wan", "planned_investment_wan"]),
       st.integers(min_value=1, max_value=10 ** 6),
       st.sampled_from(["万美元", "美元", "人", "亩", "㎡", "斤", "万元/年"]))
def test_a_unit_of_another_kind_never_passes_in_a_money_field(field, number, unit):
    with pytest.raises(ProfileError) as err:
        parse_profile({field: f"{number}{unit}"})
    [problem] = err.value.problems
    assert problem.field == field and "单位" in problem.message


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 50), max_value=10 ** 50), st.floats(),
              st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), json_like.map(json.dumps),
                 st.integers(min_value=1, max_value=3000).map(lambda n: "{\"a\": " + "[" * n + "]" * n + "}"),
                 st.integers(min_value=4290, max_value=4400).map(lambda n: "{\"employees\": " + "7" * n + "}")))
def test_profile_json_reader_never_fails_with_a_python_error(raw):
    from policy_match.io import InputError, profile_from_json

    try:
        data = profile_from_json(raw, "p.json")
    except InputError as exc:
        assert str(exc).startswith("p.json: ") and len(str(exc)) < 300
        return
    assert isinstance(data, dict)
    with contextlib.suppress(ProfileError):
        parse_profile(data)
