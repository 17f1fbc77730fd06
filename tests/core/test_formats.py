"""Formats (issue 18): validation of ``format`` and its GIF limits, and its price factor."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core import pricing
from core import render_settings as rs
from core.errors import InvalidSettings
from core.render.encoding import codec_settings
from core.settings import LimitSettings, PricingSettings

LIMITS = LimitSettings()


def test_format_defaults_to_mp4_and_each_format_maps_to_its_codec():
    assert rs.validate({}, LIMITS).format == "mp4"
    outputs = {name: rs.validate({"format": name, "duration": 5, "resolution": [320, 180]},
                                 LIMITS).output for name in ("mp4", "webm", "gif")}
    assert {n: (o.codec, o.ext, o.content_type) for n, o in outputs.items()} == {
        "mp4": ("h264", "mp4", "video/mp4"),
        "webm": ("vp9", "webm", "video/webm"),
        "gif": ("gif", "gif", "image/gif"),
    }
    assert rs.validate({"format": "webm"}, LIMITS).as_dict()["format"] == "webm"


@pytest.mark.parametrize(
    ("raw", "field", "mentions"),
    [
        ({"format": "mov"}, "format", "mp4, webm, gif"),
        ({"format": 3}, "format", "mp4, webm, gif"),
        ({"format": "gif", "duration": 20, "resolution": [320, 180]}, "duration", "15 s"),
        ({"format": "gif", "duration": 15.5, "resolution": [320, 180]}, "duration", "15 s"),
        ({"format": "gif", "duration": 5, "resolution": [1280, 720]}, "resolution", "720 px"),
        ({"format": "gif", "duration": 5, "resolution": [720, 722]}, "resolution", "720 px"),
    ],
)
def test_bad_formats_and_oversized_gifs_name_the_field(raw, field, mentions):
    with pytest.raises(InvalidSettings) as caught:
        rs.validate(raw, LIMITS)
    assert caught.value.field == field
    assert mentions in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("resolution", [[720, 720], [720, 404], [404, 720]])
def test_a_gif_at_the_limits_is_valid(resolution):
    valid = rs.validate({"format": "gif", "duration": 15, "resolution": resolution}, LIMITS)
    assert valid.format == "gif" and valid.duration == 15


def test_each_format_has_its_price_factor_and_it_is_configurable():
    base = rs.RenderSettings(duration=180, quality="high", effects=("grain", "glow"))
    prices = PricingSettings()
    costs = {f: pricing.credit_cost(rs.RenderSettings(**{**base.__dict__, "format": f}), prices)
             for f in ("mp4", "webm", "gif")}
    assert costs == {"mp4": 54, "webm": 68, "gif": 41}  # 54 × 1, × 1.25, × 0.75 rounded up
    cheaper = PricingSettings(format_multipliers={"webm": 1})
    assert cheaper.format_multipliers == {"mp4": 1.0, "webm": 1.0, "gif": 0.75}
    assert pricing.credit_cost(rs.RenderSettings(**{**base.__dict__, "format": "webm"}), cheaper) == 54


@pytest.mark.parametrize("bad", [{"mov": 1}, {"webm": 0}, {"gif": float("inf")}])
def test_bad_format_multipliers_name_the_variable(bad):
    with pytest.raises(ValidationError) as caught:
        PricingSettings(format_multipliers=bad)
    assert "RENDERBOT_PRICING__FORMAT_MULTIPLIERS" in str(caught.value)


def test_codec_settings_per_format():
    assert codec_settings("high", "h264").x264_preset == "medium"
    vp9 = codec_settings("medium", "vp9")
    assert (vp9.codec, vp9.crf, vp9.x264_preset, vp9.audio_bitrate) == ("vp9", 31, None, "192k")
    gif = codec_settings("low", "gif")
    assert (gif.crf, gif.x264_preset, gif.audio_bitrate) == (None, None, None)
