"""Draft settings and follow-up variants as core rules (issue 17): validation, what a
draft actually renders, its price, and the aspect / full-quality follow-ups."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import render_settings as rs
from core.backends.base import input_props
from core.errors import InvalidSettings
from core.pricing import credit_cost
from core.settings import LimitSettings, PricingSettings

LIMITS = LimitSettings()
PRICING = PricingSettings()


def test_draft_defaults_to_false_and_is_kept_in_as_dict_and_describe():
    plain = rs.validate({}, LIMITS)
    draft = rs.validate({"resolution": [1280, 720], "draft": True}, LIMITS)
    assert plain.draft is False and plain.as_dict()["draft"] is False
    assert draft.draft is True and draft.as_dict()["draft"] is True
    assert "draft" not in plain.describe()
    assert draft.describe().endswith(" · draft")
    assert rs.validate(draft.as_dict(), LIMITS) == draft  # the stored form reads back
    assert rs.RenderSettings.from_stored(draft.as_dict()) == draft


def test_a_job_stored_before_drafts_reads_as_a_full_render():
    old = {"resolution": [320, 180], "frame_rate": 30, "duration": 1.0, "quality": "low",
           "effects": []}
    assert rs.RenderSettings.from_stored(old) == rs.RenderSettings(
        resolution=(320, 180), frame_rate=30, duration=1.0, quality="low")


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None, [True], 1.0])
def test_draft_accepts_booleans_only_naming_the_field(value):
    with pytest.raises(InvalidSettings) as raised:
        rs.validate({"draft": value}, LIMITS)
    assert raised.value.field == "draft"
    assert str(raised.value).startswith("draft: ") and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("size", "fps", "halved", "fps_rendered"),
    [
        ((1920, 1080), 30, (960, 540), 15),
        ((1280, 720), 60, (640, 360), 15),
        ((720, 1280), 24, (360, 640), 15),
        ((320, 180), 25, (160, 90), 15),
        ((1366, 770), 30, (682, 384), 15),  # 683 and 385 are odd: rounded down to even
        ((130, 130), 30, (64, 64), 15),
    ],
)
def test_a_draft_renders_half_size_even_at_most_15_fps_low_quality(size, fps, halved, fps_rendered):
    asked = rs.validate({"resolution": list(size), "frame_rate": fps, "quality": "high",
                         "effects": ["grain"], "duration": 3, "draft": True}, LIMITS)
    out = asked.rendered()
    assert out.resolution == halved and all(side % 2 == 0 for side in out.resolution)
    assert out.frame_rate == fps_rendered and out.quality == "low"
    assert (out.duration, out.effects, out.format, out.draft) == (3.0, ("grain",), "mp4", True)
    assert out.frame_count == 3 * fps_rendered
    props = input_props({"props": {"title": "T"}}, out)
    assert props["draft"] is True and (props["width"], props["height"]) == halved
    assert props["fps"] == fps_rendered


def test_a_full_render_renders_what_was_asked_without_the_mark():
    asked = rs.validate({"resolution": [1280, 720], "frame_rate": 60, "quality": "high"}, LIMITS)
    assert asked.rendered() == asked
    assert input_props({}, asked)["draft"] is False


def test_the_draft_price_is_a_tenth_of_the_full_price_rounded_up():
    full = rs.RenderSettings(resolution=(1920, 1080), duration=180, quality="high",
                             effects=("grain", "glow"))
    assert credit_cost(full, PRICING) == 54
    assert credit_cost(rs.as_draft(full), PRICING) == 6  # ceil(5.4)
    assert credit_cost(rs.as_draft(replace(full, format="webm")), PRICING) == 7  # ceil(6.8)
    tiny = rs.RenderSettings(resolution=(320, 180), duration=1, quality="low")
    assert credit_cost(tiny, PRICING) == credit_cost(rs.as_draft(tiny), PRICING) == 1


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(list(rs.PRESETS.values())),
    fps=st.sampled_from(LIMITS.frame_rates),
    duration=st.integers(1, 600),
    quality=st.sampled_from(rs.QUALITIES),
    effects=st.sets(st.sampled_from(LIMITS.effects)),
    fmt=st.sampled_from(["mp4", "webm"]),
)
def test_every_draft_costs_ceil_of_a_tenth(side, fps, duration, quality, effects, fmt):
    full = rs.validate({"resolution": list(side), "frame_rate": fps, "duration": duration,
                        "quality": quality, "effects": sorted(effects), "format": fmt}, LIMITS)
    draft = rs.as_draft(full)
    assert credit_cost(draft, PRICING) == math.ceil(credit_cost(full, PRICING) / 10)
    assert 1 <= credit_cost(draft, PRICING) <= credit_cost(full, PRICING)
    assert rs.full_quality(draft) == full


@pytest.mark.parametrize(
    ("size", "aspect", "expected"),
    [
        ((1280, 720), "9:16", (720, 1280)),
        ((1280, 720), "1:1", (720, 720)),
        ((1280, 720), "16:9", (1280, 720)),
        ((1080, 1920), "16:9", (1920, 1080)),
        ((1080, 1080), "16:9", (1920, 1080)),
        ((1080, 1080), "9:16", (1080, 1920)),
        ((3840, 2160), "1:1", (2160, 2160)),
        ((2160, 3840), "16:9", (3840, 2160)),
        ((1000, 600), "16:9", (1066, 600)),  # 1066.7 rounded to even
    ],
)
def test_aspect_variants_keep_the_shorter_side(size, aspect, expected):
    base = rs.validate({"resolution": list(size), "frame_rate": 25, "duration": 7,
                        "effects": ["glow"], "draft": True}, LIMITS)
    variant = rs.aspect_variant(base, aspect, LIMITS)
    assert variant.resolution == expected
    assert variant == replace(base, resolution=expected)  # everything else is kept


def test_aspect_variants_scale_down_into_the_limits():
    gif = rs.validate({"resolution": [720, 720], "format": "gif", "duration": 5}, LIMITS)
    assert rs.aspect_variant(gif, "16:9", LIMITS).resolution == (720, 404)  # GIF: 720 px
    assert rs.aspect_variant(gif, "9:16", LIMITS).resolution == (404, 720)
    big = rs.validate({"resolution": [2160, 2160]}, LIMITS)
    tight = LimitSettings(max_side=2560, max_pixels=2560 * 1440)
    out = rs.aspect_variant(big, "16:9", tight)
    assert out.resolution == (2560, 1440)
    square = rs.aspect_variant(rs.validate({"resolution": [1920, 1080]}, tight), "1:1",
                               LimitSettings(max_pixels=1000 * 1000))
    w, h = square.resolution
    assert w == h and w % 2 == 0 and w * h <= 1000 * 1000 and w >= 990


@pytest.mark.parametrize("aspect", ["4:3", "", "9:16 ", None])
def test_an_unknown_aspect_names_the_field(aspect):
    with pytest.raises(InvalidSettings) as raised:
        rs.aspect_variant(rs.RenderSettings(), aspect)
    assert raised.value.field == "aspect"


def test_full_quality_and_as_draft_only_flip_the_flag():
    base = rs.validate({"resolution": [720, 1280], "frame_rate": 50, "effects": ["grain"]}, LIMITS)
    assert rs.as_draft(base) == replace(base, draft=True)
    assert rs.full_quality(rs.as_draft(base)) == base
    assert credit_cost(rs.full_quality(rs.as_draft(base)), PRICING) == credit_cost(base, PRICING)
