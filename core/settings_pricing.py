"""Pricing settings (``RENDERBOT_PRICING__*``); re-exported by core/settings.py."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field, field_validator

QUALITY_MULTIPLIERS = {"low": 0.75, "medium": 1.0, "high": 1.5}
FORMAT_MULTIPLIERS = {"mp4": 1.0, "webm": 1.25, "gif": 0.75}



def _merged_multipliers(field: str, what: str, value: dict[str, float],
                        defaults: dict[str, float]) -> dict[str, float]:
    """A partial override keeps the other defaults; unknown names and factors outside
    (0, 100] are refused in one line naming the variable."""
    name = f"RENDERBOT_PRICING__{field}"
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ValueError(f"{name}: unknown {what} {unknown[0]!r} (allowed: {', '.join(defaults)})")
    for key, factor in value.items():
        if not math.isfinite(factor) or not 0 < factor <= 100:
            raise ValueError(f"{name}: {key} must be a number above 0 (at most 100)")
    return {**defaults, **value}

class PricingSettings(BaseModel):
    """Inputs of :func:`core.pricing.credit_cost` (see its docstring for the formula)."""

    credits_per_minute: int = Field(10, ge=1, description="1080p, 30 fps, medium quality")
    quality_multipliers: dict[str, float] = Field(
        default_factory=lambda: dict(QUALITY_MULTIPLIERS),
        description="per quality; a partial override keeps the defaults of the others",
    )
    effect_surcharge: float = Field(0.1, ge=0, allow_inf_nan=False, description="+10% per effect")
    minimum: int = Field(1, ge=1)
    format_multipliers: dict[str, float] = Field(
        default_factory=lambda: dict(FORMAT_MULTIPLIERS),
        description="per format (mp4, webm, gif); a partial override keeps the other defaults",
    )

    @field_validator("format_multipliers")
    @classmethod
    def _merge_format_multipliers(cls, value: dict[str, float]) -> dict[str, float]:
        return _merged_multipliers("FORMAT_MULTIPLIERS", "format", value, FORMAT_MULTIPLIERS)

    @field_validator("quality_multipliers")
    @classmethod
    def _merge_multipliers(cls, value: dict[str, float]) -> dict[str, float]:
        return _merged_multipliers("QUALITY_MULTIPLIERS", "quality", value, QUALITY_MULTIPLIERS)
