"""Deadline-aware planning of a Remotion Lambda render: how many frames each renderer gets.

Remotion Lambda splits a video of ``f`` frames into chunks of ``k`` frames
(``framesPerLambda``); each chunk is rendered by its own *renderer* function while the
*main* function (the one we invoke) fans out, waits and stitches. A render therefore
occupies ``r + 1`` concurrent functions with ``r = ceil(f / k)`` renderers, and Remotion
allows at most 200 renderers and ``k >= 5``.

The model
---------
With ``s = max(min_frame_scale, W*H / (1920*1080))`` (per-frame cost scales with pixels,
but a tiny frame still pays for the browser's screenshot/encode round trip)::

    T(r) = launch                              start + main function cold start + calculateMetadata
         + r * invoke                          the main function invokes renderers in turn
         + cold                                renderer cold start, Chromium, serve URL (in parallel)
         + k * frame * s * (1 + c * ln r)      the slowest chunk: average chunk × straggler factor
         + stitch + f * stitch_frame * s       fetch chunks, concatenate, upload the mp4 to R2

Constants (``RemotionSettings.timing``; each marked MEASURED or ASSUMED in
``core/settings.py``). Measured on Remotion's real function in the test harness
(``python -m tests.lambda_real.calibrate``: 320x180, 30 frames, 1 and 2 renderers):
the main function needs ~3 s before it fans out (2.0-3.1 s, median 2.6); a renderer's
whole invocation for a small chunk takes ~5 s (4.6-5.9 s: cold start, Chromium, page
load, encode); stitching 30 frames takes 0.3-1.1 s, so its fixed part is 1 s.
Assumed, because tiny local renders cannot show them: a 2048 MB function (~1.2 vCPU)
renders one 1080p frame of our Visualizer in 0.2 s including its share of chunk
encoding (a 320x180 frame costs under 0.02 s here, lost in the noise; the 0.25 floor
keeps tiny frames pessimistic); 10 ms per renderer invocation on AWS (3 ms locally);
stragglers grow slowly with the number of renderers (1 + 0.05·ln r: 1.26 at 200);
1.5 ms per 1080p frame of stitching; no chunk is retried (a flaky chunk adds its own
time).

The choice
----------
The fewest renderers (largest ``k``) with ``T(r) <= target``: fewer functions cost less
(every renderer pays its cold start) and leave the account's shared concurrency to other
jobs (see ``core/render/governor.py``). Constraints: ``r <= max_renderers`` (≤ 200),
``r + 1 <= concurrency_limit``, ``k >= min_frames_per_lambda`` (unless the video is
shorter), and a renderer must finish its chunk within 90 % of the function timeout. When
no plan meets the target, the fastest feasible one is chosen and ``meets_target`` is
False (the render still runs; it just takes longer). Chunks are spread evenly the way
Remotion does it: ``k = ceil(f / r)``, then ``r = ceil(f / k)``.

Pure functions, no I/O: the backend calls :func:`plan` at start and the governor calls it
to know how many functions a queued job will need; both get the same answer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core.settings import LambdaTimingSettings, RemotionSettings

PIXELS_1080P = 1920 * 1080
REMOTION_MAX_RENDERERS = 200
REMOTION_MIN_FRAMES_PER_LAMBDA = 5
RENDERER_TIMEOUT_SHARE = 0.9


@dataclass(frozen=True)
class Breakdown:
    launch: float
    invoke: float
    cold_start: float
    frames: float
    stitch: float

    @property
    def total(self) -> float:
        return self.launch + self.invoke + self.cold_start + self.frames + self.stitch


@dataclass(frozen=True)
class LambdaPlan:
    frames: int
    frames_per_lambda: int
    renderers: int
    modelled_seconds: float
    target_seconds: float
    meets_target: bool
    fits_timeout: bool  # the whole render ends before the main function times out
    limited_by: str  # what stopped the plan from using fewer renderers / going faster
    breakdown: Breakdown

    @property
    def functions(self) -> int:
        """Concurrent Lambda functions the render occupies: renderers + the main one."""
        return self.renderers + 1

    def as_info(self) -> dict[str, Any]:
        """What is recorded on the job (``backend_info["lambda_plan"]``)."""
        return {
            "frames": self.frames,
            "frames_per_lambda": self.frames_per_lambda,
            "renderers": self.renderers,
            "functions": self.functions,
            "modelled_seconds": round(self.modelled_seconds, 1),
            "target_seconds": self.target_seconds,
            "meets_target": self.meets_target,
            "fits_timeout": self.fits_timeout,
            "limited_by": self.limited_by,
            "breakdown": {k: round(v, 2) for k, v in asdict(self.breakdown).items()},
        }


def pixel_scale(width: int, height: int, timing: LambdaTimingSettings) -> float:
    return max(timing.min_frame_scale, (width * height) / PIXELS_1080P)


def modelled_time(
    *, frames: int, renderers: int, width: int, height: int, timing: LambdaTimingSettings
) -> Breakdown:
    """``T(r)`` of the module docstring, term by term."""
    if frames < 1 or renderers < 1:
        raise ValueError("frames and renderers must be at least 1")
    scale = pixel_scale(width, height, timing)
    k = math.ceil(frames / renderers)
    straggler = 1.0 + timing.straggler_coefficient * math.log(renderers)
    return Breakdown(
        launch=timing.launch_seconds,
        invoke=renderers * timing.invoke_seconds_per_renderer,
        cold_start=timing.renderer_cold_start_seconds,
        frames=k * timing.frame_seconds_1080p * scale * straggler,
        stitch=timing.stitch_seconds + frames * timing.stitch_seconds_per_frame_1080p * scale,
    )


def _renderer_seconds(k: int, scale: float, timing: LambdaTimingSettings) -> float:
    return timing.renderer_cold_start_seconds + k * timing.frame_seconds_1080p * scale


def plan(
    *, frames: int, width: int, height: int, settings: RemotionSettings,
    target_seconds: float | None = None,
) -> LambdaPlan:
    """Choose ``framesPerLambda`` for a render (see the module docstring)."""
    if frames < 1:
        raise ValueError("a render has at least one frame")
    timing = settings.timing
    target = settings.target_seconds if target_seconds is None else target_seconds
    scale = pixel_scale(width, height, timing)
    min_k = min(max(settings.min_frames_per_lambda, REMOTION_MIN_FRAMES_PER_LAMBDA), frames)
    by_renderers = min(settings.max_renderers, REMOTION_MAX_RENDERERS)
    by_concurrency = settings.concurrency_limit - 1
    cap = max(1, min(by_renderers, by_concurrency))
    timeout_budget = RENDERER_TIMEOUT_SHARE * settings.function_timeout_seconds

    candidates: list[tuple[int, int, Breakdown]] = []  # (renderers, k, breakdown)
    seen: set[int] = set()
    for wanted in range(1, cap + 1):
        k = math.ceil(frames / wanted)
        renderers = math.ceil(frames / k)  # Remotion's even distribution
        if renderers in seen:
            continue
        seen.add(renderers)
        if k < min_k:
            break  # more renderers only make chunks smaller
        candidates.append(
            (renderers, k, modelled_time(frames=frames, renderers=renderers, width=width,
                                         height=height, timing=timing))
        )
    feasible = [c for c in candidates if _renderer_seconds(c[1], scale, timing) <= timeout_budget]
    pool = feasible or candidates[-1:]  # nothing fits the timeout: the finest split we may use

    chosen = next((c for c in pool if c[2].total <= target), None)
    if chosen is not None:
        limited_by = "target"
    else:
        chosen = min(pool, key=lambda c: c[2].total)
        limited_by = _limit(chosen[0], chosen[1], min_k, cap, by_renderers, by_concurrency,
                            bool(feasible))
    renderers, k, breakdown = chosen
    return LambdaPlan(
        frames=frames, frames_per_lambda=k, renderers=renderers,
        modelled_seconds=breakdown.total, target_seconds=target,
        meets_target=breakdown.total <= target,
        fits_timeout=breakdown.total <= settings.function_timeout_seconds,
        limited_by=limited_by, breakdown=breakdown,
    )


def _limit(
    renderers: int, k: int, min_k: int, cap: int, by_renderers: int, by_concurrency: int,
    feasible: bool,
) -> str:
    if not feasible:
        return "function_timeout"
    if k <= min_k:
        return "min_frames_per_lambda"
    if renderers >= cap:
        return "concurrency_limit" if by_concurrency < by_renderers else "max_renderers"
    return "model"  # more renderers would be slower (stragglers, invocation)


def check(chosen: LambdaPlan) -> str | None:
    """Why Remotion's ``launch`` would refuse this plan, or None. ``start`` accepts any
    plan and the refusal only comes later (a fatal ``stitcher`` error that reads like a
    failed composition), so the backend checks before starting."""
    least = min(REMOTION_MIN_FRAMES_PER_LAMBDA, chosen.frames)
    if chosen.frames_per_lambda < least:
        return (f"framesPerLambda {chosen.frames_per_lambda} is below Remotion's minimum of "
                f"{least}")
    if chosen.renderers > REMOTION_MAX_RENDERERS:
        return (f"{chosen.renderers} renderers exceed Remotion's limit of "
                f"{REMOTION_MAX_RENDERERS} per render")
    return None


def remotion_default_frames_per_lambda(frames: int) -> int:
    """Remotion's own choice when ``framesPerLambda`` is not given (for comparison):
    ``bestFramesPerFunctionParam`` of @remotion/serverless-client 4.0.527."""
    concurrency = 75 + (150 - 75) * min(frames, 18000) / 18000
    per_function = max(frames / concurrency, 20)
    needed = math.ceil(frames / per_function)
    return max(math.ceil(frames / needed), min(REMOTION_MIN_FRAMES_PER_LAMBDA, frames))
