"""The seed's ``RenderSettings``: what a user may ask for, validated in one place.

Every rejection is an :class:`~core.errors.InvalidSettings` naming the field and the
allowed values, so the API (422), the chat bots (a message on the field) and the CLI
(a one-line reason) all say the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.errors import InvalidSettings
from core.settings import LimitSettings

QUALITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class OutputFormat:
    """What a ``format`` name means to the renderers and to storage."""

    codec: str  # Remotion's codec name (local render server and Lambda)
    ext: str  # the file's extension (storage keys, download names)
    content_type: str
    has_audio: bool


# mp4: H.264 + AAC; webm: VP9 + Opus; gif: no audio, at most GIF_MAX_SECONDS and
# GIF_MAX_SIDE px on its longer side
FORMATS: dict[str, OutputFormat] = {
    "mp4": OutputFormat("h264", "mp4", "video/mp4", True),
    "webm": OutputFormat("vp9", "webm", "video/webm", True),
    "gif": OutputFormat("gif", "gif", "image/gif", False),
}
DEFAULT_FORMAT = "mp4"
GIF_MAX_SECONDS = 15
GIF_MAX_SIDE = 720
_KEYS = ("resolution", "frame_rate", "duration", "quality", "effects", "format", "draft")

# draft: true renders each side at half size (rounded down to even), at most
# DRAFT_MAX_FPS, at DRAFT_QUALITY, with a visible "DRAFT" mark drawn by the composition
# (prop ``draft``); it costs a tenth of the full render, rounded up (core/pricing.py).
DRAFT_MAX_FPS = 15
DRAFT_QUALITY = "low"

# name -> (width, height); the pickers in Slack and Discord offer these.
PRESETS: dict[str, tuple[int, int]] = {
    "16:9 720p": (1280, 720),
    "16:9 1080p": (1920, 1080),
    "9:16 720p": (720, 1280),
    "9:16 1080p": (1080, 1920),
    "1:1 720": (720, 720),
    "1:1 1080": (1080, 1080),
}
DEFAULT_PRESET = "16:9 1080p"


@dataclass(frozen=True)
class RenderSettings:
    resolution: tuple[int, int] = PRESETS[DEFAULT_PRESET]
    frame_rate: int = 30
    duration: float = 10.0
    quality: str = "high"
    effects: tuple[str, ...] = field(default_factory=tuple)
    format: str = DEFAULT_FORMAT
    draft: bool = False

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> RenderSettings:
        """Settings as a job records them (``as_dict``); keys older jobs lack take defaults."""
        return cls(
            resolution=tuple(data["resolution"]), frame_rate=data["frame_rate"],
            duration=data["duration"], quality=data["quality"], effects=tuple(data["effects"]),
            format=data.get("format", DEFAULT_FORMAT), draft=bool(data.get("draft", False)),
        )

    def rendered(self) -> RenderSettings:
        """The settings actually rendered for these requested settings.

        A full render renders what was asked. A draft renders each side at half size
        (rounded down to even), at most ``DRAFT_MAX_FPS``, at ``DRAFT_QUALITY``, and keeps
        ``draft=True`` so the composition draws its DRAFT mark (``input_props``). Call it
        once, on the requested settings (what the job records, what the user picked):
        the pipeline's render request, previews and Lambda capacity planning all do.
        """
        if not self.draft:
            return self
        return replace(
            self, resolution=(_half_even(self.width), _half_even(self.height)),
            frame_rate=min(self.frame_rate, DRAFT_MAX_FPS), quality=DRAFT_QUALITY,
        )

    @property
    def output(self) -> OutputFormat:
        return FORMATS[self.format]

    @property
    def width(self) -> int:
        return self.resolution[0]

    @property
    def height(self) -> int:
        return self.resolution[1]

    @property
    def frame_count(self) -> int:
        return max(1, round(self.duration * self.frame_rate))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resolution"] = list(self.resolution)
        data["effects"] = list(self.effects)
        return data

    def describe(self) -> str:
        fx = ", ".join(self.effects) if self.effects else "no effects"
        return (
            f"{self.width}x{self.height} · {self.frame_rate} fps · {self.duration:g} s"
            f" · {self.quality} · {fx}" + ("" if self.format == DEFAULT_FORMAT else f" · {self.format}")
            + (" · draft" if self.draft else "")
        )


def _half_even(side: int) -> int:
    """Half of ``side``, rounded down to an even number of pixels (codecs want even)."""
    return max(2, side // 4 * 2)


def validate(raw: Mapping[str, Any] | RenderSettings | None, limits: LimitSettings) -> RenderSettings:
    """Turn user input (any missing key takes its default) into valid settings or raise."""
    if isinstance(raw, RenderSettings):
        raw = raw.as_dict()
    if raw is not None and not isinstance(raw, Mapping):
        raise InvalidSettings("settings", "must be an object", ", ".join(_KEYS))
    raw = dict(raw or {})
    unknown = set(raw) - set(_KEYS)
    if unknown:
        # the key is user input: one printable line in the error, never a line break
        first = "".join(ch if ch.isprintable() else "?" for ch in sorted(str(k) for k in unknown)[0][:40])
        raise InvalidSettings(
            first if first.strip() else "settings", "unknown setting", ", ".join(_KEYS),
        )
    defaults = RenderSettings()
    settings = RenderSettings(
        resolution=_resolution(raw.get("resolution", defaults.resolution), limits),
        frame_rate=_frame_rate(raw.get("frame_rate", defaults.frame_rate), limits),
        duration=_duration(raw.get("duration", defaults.duration), limits),
        quality=_quality(raw.get("quality", defaults.quality)),
        effects=_effects(raw.get("effects", defaults.effects), limits),
        format=_format(raw.get("format", defaults.format)),
        draft=_draft(raw.get("draft", defaults.draft)),
    )
    _check_gif(settings)
    return settings


def _format(value: Any) -> str:
    if not isinstance(value, str) or value not in FORMATS:
        raise InvalidSettings("format", f"{str(value)[:40]!r} is not a format", ", ".join(FORMATS))
    return value


def _draft(value: Any) -> bool:
    if not isinstance(value, bool):  # 1, "yes", "true" are not booleans
        raise InvalidSettings("draft", f"{str(value)[:40]!r} is not true or false", "true, false")
    return value


def _check_gif(settings: RenderSettings) -> None:
    """A GIF is short and small: GIF_MAX_SECONDS, GIF_MAX_SIDE px on its longer side."""
    if settings.format != "gif":
        return
    if settings.duration > GIF_MAX_SECONDS:
        raise InvalidSettings("duration", f"{settings.duration:g} s is too long for a GIF",
                              f"at most {GIF_MAX_SECONDS} s for format gif")
    if max(settings.resolution) > GIF_MAX_SIDE:
        raise InvalidSettings("resolution", f"{settings.width}x{settings.height} is too large for a GIF",
                              f"at most {GIF_MAX_SIDE} px on the longer side for format gif")


def parse_resolution(text: str) -> tuple[int, int]:
    """``"1280x720"`` or a preset name -> (1280, 720)."""
    if text in PRESETS:
        return PRESETS[text]
    found = re.fullmatch(r"\s*([0-9]{1,6})\s*[x×]\s*([0-9]{1,6})\s*", text.lower())
    if found is None:  # ASCII digits only: "²" is a digit to str.isdigit, not to int()
        raise InvalidSettings("resolution", f"{text[:40]!r} is not WIDTHxHEIGHT",
                              "e.g. 1920x1080")
    return int(found[1]), int(found[2])


def _resolution(value: Any, limits: LimitSettings) -> tuple[int, int]:
    if isinstance(value, str):
        value = parse_resolution(value)
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidSettings("resolution", "must be [width, height] in pixels", "e.g. [1920, 1080]")
    width, height = value
    bounds = f"each side {limits.min_side}..{limits.max_side}, even, at most {limits.max_pixels} pixels"
    for side in (width, height):
        if not limits.min_side <= side <= limits.max_side:
            raise InvalidSettings("resolution", f"{width}x{height} is out of bounds", bounds)
        if side % 2:
            raise InvalidSettings("resolution", f"{width}x{height} has an odd side", bounds)
    if width * height > limits.max_pixels:
        raise InvalidSettings("resolution", f"{width}x{height} has too many pixels", bounds)
    return width, height


def _frame_rate(value: Any, limits: LimitSettings) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or value not in limits.frame_rates:
        raise InvalidSettings("frame_rate", f"{value!r} is not supported", limits.frame_rates)
    return int(value)


def _duration(value: Any, limits: LimitSettings) -> float:
    allowed = f"{limits.min_duration:g}..{limits.max_duration:g} seconds"
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))):
        raise InvalidSettings("duration", f"{str(value)[:40]!r} is not a number of seconds",
                              allowed)
    if not limits.min_duration <= value <= limits.max_duration:  # exact for any int
        shown = f"{value:g}" if isinstance(value, float) or abs(value) < 10**15 else "that"
        raise InvalidSettings("duration", f"{shown} s is out of bounds", allowed)
    return float(value)


def _quality(value: Any) -> str:
    if value not in QUALITIES:
        raise InvalidSettings("quality", f"{value!r} is not a quality", "high, medium, low")
    return value


def _effects(value: Any, limits: LimitSettings) -> tuple[str, ...]:
    allowed = ", ".join(limits.effects)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidSettings("effects", "must be a list of effect names", allowed)
    for name in value:
        if name not in limits.effects:
            raise InvalidSettings("effects", f"{name!r} is not an effect", allowed)
    if len(set(value)) != len(value):
        raise InvalidSettings("effects", "lists an effect twice", allowed)
    return tuple(sorted(value, key=limits.effects.index))


# -- follow-ups on a finished render (chat buttons: "Vertical 9:16", "Square 1:1", ...) --

# aspect name -> (width units, height units)
ASPECTS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}


def full_quality(settings: RenderSettings) -> RenderSettings:
    """The same settings rendered in full ("Full quality" after a draft)."""
    return replace(settings, draft=False)


def as_draft(settings: RenderSettings) -> RenderSettings:
    """The same settings as a draft ("Draft" beside Confirm)."""
    return replace(settings, draft=True)


def aspect_variant(
    settings: RenderSettings, aspect: str, limits: LimitSettings | None = None
) -> RenderSettings:
    """The same settings at another aspect ratio ("Vertical 9:16", "Square 1:1", "16:9").

    The shorter side is kept and the other follows the aspect, rounded to even:
    1280x720 -> 9:16 720x1280, 1:1 720x720; 1080x1080 -> 16:9 1920x1080. A size past the
    limits (longest side, pixel count, a GIF's GIF_MAX_SIDE) is scaled down to fit, sides
    rounded down to even. Everything else (fps, duration, quality, effects, format,
    draft) stays; the result is validated like user input (``InvalidSettings`` otherwise).
    """
    if aspect not in ASPECTS:
        raise InvalidSettings("aspect", f"{str(aspect)[:40]!r} is not an aspect", ", ".join(ASPECTS))
    limits = limits or LimitSettings()
    across, down = ASPECTS[aspect]
    short = min(settings.resolution)
    if across >= down:
        width, height = _round_even(short * across / down), short
    else:
        width, height = short, _round_even(short * down / across)
    longest = min(limits.max_side, GIF_MAX_SIDE) if settings.format == "gif" else limits.max_side
    scale = min(1.0, longest / max(width, height), math.sqrt(limits.max_pixels / (width * height)))
    if scale < 1.0:
        width, height = _floor_even(width * scale), _floor_even(height * scale)
    return validate(replace(settings, resolution=(width, height)), limits)


def _round_even(value: float) -> int:
    return max(2, 2 * math.floor(value / 2 + 0.5))


def _floor_even(value: float) -> int:
    return max(2, 2 * math.floor(value / 2))
