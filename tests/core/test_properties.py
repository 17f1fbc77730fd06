"""Property tests: any JSON a caller can send to the settings validator, the pricing
inputs or a project's state gives a valid value or the typed error — never another
exception (which would be a 500 on the API and a crash in a bot)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core import pricing, projects
from core.errors import InvalidInput, InvalidSettings
from core.render_settings import QUALITIES, RenderSettings, validate
from core.settings import LimitSettings, PricingSettings

LIMITS = LimitSettings()
SETTINGS_KEYS = ["resolution", "frame_rate", "duration", "quality", "effects"]
PROFILE = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)
# values near the edges of what is allowed, so the search reaches the deeper checks
near_settings = st.fixed_dictionaries({}, optional={
    "resolution": st.lists(st.integers(-10, 5000), min_size=0, max_size=3)
    | st.from_regex(r"\A[0-9²³٣x×]{1,9}\Z") | json_values,
    "frame_rate": st.sampled_from([24, 25, 30, 50, 60, 30.0, 29.97, True]) | json_values,
    "duration": st.floats() | st.integers(-2**1100, 2**1100) | json_values,
    "quality": st.sampled_from([*QUALITIES, "ultra"]) | json_values,
    "effects": st.lists(st.sampled_from([*LIMITS.effects, "bloom"]), max_size=5) | json_values,
})


def _check_settings(result: RenderSettings) -> None:
    w, h = result.resolution
    assert LIMITS.min_side <= w <= LIMITS.max_side and LIMITS.min_side <= h <= LIMITS.max_side
    assert w % 2 == 0 and h % 2 == 0 and w * h <= LIMITS.max_pixels
    assert result.frame_rate in LIMITS.frame_rates
    assert math.isfinite(result.duration)
    assert LIMITS.min_duration <= result.duration <= LIMITS.max_duration
    assert result.quality in QUALITIES
    assert set(result.effects) <= set(LIMITS.effects)


@PROFILE
@given(json_values | near_settings)
def test_render_settings_are_valid_or_an_invalid_settings_error(raw):
    try:
        result = validate(raw, LIMITS)
    except InvalidSettings as exc:
        assert exc.field and "\n" not in str(exc)
        return
    _check_settings(result)
    assert validate(result.as_dict(), LIMITS) == result  # valid settings stay valid


pricing_inputs = st.fixed_dictionaries({}, optional={
    "credits_per_minute": st.integers(-5, 10**6) | json_values,
    "quality_multipliers": st.dictionaries(
        st.sampled_from([*QUALITIES, "ultra"]),
        st.floats() | st.integers(-3, 10**6) | json_values, max_size=4) | json_values,
    "effect_surcharge": st.floats() | json_values,
    "minimum": st.integers(-5, 100) | json_values,
})


@PROFILE
@given(pricing_inputs, near_settings)
def test_pricing_is_a_whole_number_of_credits_or_a_settings_error(raw_pricing, raw_settings):
    try:
        prices = PricingSettings(**raw_pricing)
    except ValidationError:
        return
    assert set(prices.quality_multipliers) == set(QUALITIES)
    try:
        render = validate(raw_settings, LIMITS)
    except InvalidSettings:
        return
    cost = pricing.credit_cost(render, prices)
    assert isinstance(cost, int) and cost >= prices.minimum >= 1


url_like = st.builds(lambda scheme, host, path: f"{scheme}{host}{path}",
                     st.sampled_from(["http://", "https://", "ftp://", "", "http://user:pw@"]),
                     st.sampled_from(["127.0.0.1", "[::1]", "example.com", "10.0.0.1",
                                      "0.0.0.0", "", "%zz", "[zz", "a" * 300]),
                     st.text(max_size=10))
state_inputs = json_values | st.fixed_dictionaries({}, optional={
    "composition": st.sampled_from(["Visualizer", "Other"]) | json_values,
    "props": st.fixed_dictionaries({}, optional={
        "title": json_values, "palette": st.lists(st.text(max_size=8), max_size=6) | json_values,
        "audioUrl": url_like | json_values,
    }) | json_values,
})


@PROFILE
@given(state_inputs, st.text(max_size=30))
def test_project_state_is_normalised_or_an_invalid_input_error(state, name):
    try:
        result = projects.normalise_state(state, name=name)
    except InvalidInput as exc:
        assert exc.field.startswith("state") and "\n" not in str(exc)
        return
    assert result["composition"] == "Visualizer"
    assert isinstance(result["props"], dict)
    assert 2 <= len(result["props"]["palette"]) <= 5
    assert projects.normalise_state(result, name=name) == result  # idempotent
