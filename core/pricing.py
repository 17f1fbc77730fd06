"""Credit cost of a render: a deterministic function of its settings.

    cost = max(minimum, ceil(credits_per_minute
                             × minutes
                             × (width × height) / (1920 × 1080)
                             × frame_rate / 30
                             × quality_multiplier[quality]
                             × (1 + effect_surcharge × number_of_effects)
                             × format_multiplier[format]))

With the defaults (10 credits a minute of 1080p30 medium; low ×0.75, high ×1.5; +10 % per
effect; mp4 ×1, webm ×1.25 (VP9 encodes slower), gif ×0.75 (short, small, no audio);
at least 1 credit): a 3-minute 1080p30 high mp4 with two effects costs
ceil(10 × 3 × 1 × 1 × 1.5 × 1.2) = 54 credits, as webm ceil(54 × 1.25) = 68; a 4-second
720p30 high clip costs 1. RENDERBOT_PRICING__FORMAT_MULTIPLIERS overrides the per-format
factors (a partial override keeps the others).

A draft (``draft: true``: half size per side, at most 15 fps, low quality, a DRAFT mark)
costs a tenth of the full render, rounded up: ceil(full / 10), where full is the cost of
the same settings with draft false (so at least 1 credit): the 54-credit render above
costs 6 as a draft, the 68-credit webm 7. Quotes, batches and the debit all use this.
Exact rational arithmetic, so the same settings always cost the same on every machine.
"""

from __future__ import annotations

import math
from fractions import Fraction

from core.render_settings import RenderSettings, full_quality
from core.settings import PricingSettings

REFERENCE_PIXELS = 1920 * 1080
REFERENCE_FPS = 30
DRAFT_PRICE_DIVISOR = 10  # a draft costs ceil(full / 10)


def credit_cost(settings: RenderSettings, pricing: PricingSettings) -> int:
    """Credits for rendering the requested ``settings`` (a draft: a tenth, rounded up)."""
    if settings.draft:
        return math.ceil(Fraction(credit_cost(full_quality(settings), pricing), DRAFT_PRICE_DIVISOR))
    cost = (
        Fraction(pricing.credits_per_minute)
        * Fraction(str(settings.duration)) / 60
        * Fraction(settings.width * settings.height, REFERENCE_PIXELS)
        * Fraction(settings.frame_rate, REFERENCE_FPS)
        * Fraction(str(pricing.quality_multipliers[settings.quality]))
        * (1 + Fraction(str(pricing.effect_surcharge)) * len(settings.effects))
        * Fraction(str(pricing.format_multipliers.get(settings.format, 1.0)))
    )
    return max(pricing.minimum, math.ceil(cost))
