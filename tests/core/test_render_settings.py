"""Render settings validation and pricing: pure functions of their inputs."""

from __future__ import annotations

import pytest

from core import pricing
from core import render_settings as rs
from core.errors import InvalidSettings
from core.settings import LimitSettings, PricingSettings

LIMITS = LimitSettings()
PRICES = PricingSettings()


def test_defaults_fill_missing_keys():
    valid = rs.validate({}, LIMITS)
    assert valid == rs.RenderSettings()
    assert valid.resolution == (1920, 1080) and valid.frame_count == 300


@pytest.mark.parametrize("preset", sorted(rs.PRESETS))
def test_every_preset_is_valid(preset):
    assert rs.validate({"resolution": list(rs.PRESETS[preset])}, LIMITS).resolution == rs.PRESETS[preset]


@pytest.mark.parametrize(
    ("raw", "field", "mentions"),
    [
        ({"resolution": [1921, 1080]}, "resolution", "even"),
        ({"resolution": [64, 64]}, "resolution", "128..3840"),
        ({"resolution": [3840, 3840]}, "resolution", "pixels"),
        ({"resolution": "wide"}, "resolution", "WIDTHxHEIGHT"),
        ({"resolution": [1280.0, 720]}, "resolution", "width, height"),
        ({"frame_rate": 29}, "frame_rate", "[24, 25, 30, 50, 60]"),
        ({"frame_rate": True}, "frame_rate", "24"),
        ({"duration": 0}, "duration", "1..600"),
        ({"duration": float("nan")}, "duration", "seconds"),
        ({"duration": "10"}, "duration", "seconds"),
        ({"quality": "best"}, "quality", "high, medium, low"),
        ({"effects": ["glow", "glow"]}, "effects", "twice"),
        ({"effects": ["blur"]}, "effects", "grain, vignette, glow, scanlines"),
        ({"effects": "glow"}, "effects", "list"),
        ({"colour": "red"}, "colour", "unknown"),
    ],
)
def test_rejections_name_the_field_and_the_allowed_values(raw, field, mentions):
    with pytest.raises(InvalidSettings) as info:
        rs.validate(raw, LIMITS)
    assert info.value.field == field
    assert mentions in str(info.value)


def test_effects_are_put_in_canonical_order_and_resolution_parses():
    valid = rs.validate({"effects": ["glow", "grain"], "resolution": "720x1280"}, LIMITS)
    assert valid.effects == ("grain", "glow")
    assert valid.resolution == (720, 1280)
    assert rs.parse_resolution("1:1 1080") == (1080, 1080)


@pytest.mark.parametrize(
    ("raw", "cost"),
    [
        ({"resolution": [1920, 1080], "frame_rate": 30, "duration": 60, "quality": "medium"}, 10),
        ({"resolution": [1920, 1080], "frame_rate": 30, "duration": 180, "quality": "high",
          "effects": ["grain", "glow"]}, 54),
        ({"resolution": [3840, 2160], "frame_rate": 60, "duration": 60, "quality": "medium"}, 80),
        ({"resolution": [1280, 720], "frame_rate": 30, "duration": 4, "quality": "high"}, 1),
        ({"resolution": [1920, 1080], "frame_rate": 30, "duration": 61, "quality": "low"}, 8),
    ],
)
def test_credit_cost_follows_the_documented_formula(raw, cost):
    assert pricing.credit_cost(rs.validate(raw, LIMITS), PRICES) == cost


def test_pricing_is_configurable():
    valid = rs.validate({"duration": 60, "quality": "medium"}, LIMITS)
    assert pricing.credit_cost(valid, PricingSettings(credits_per_minute=25)) == 25
    assert pricing.credit_cost(rs.validate({"resolution": [320, 180], "duration": 1}, LIMITS),
                               PricingSettings(minimum=3)) == 3
