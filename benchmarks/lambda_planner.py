"""What the Remotion Lambda planner chooses for 30 s, 3 min and 10 min videos.

    .venv/bin/python benchmarks/lambda_planner.py [--fps 30] [--width 1920 --height 1080]
        [--target 120] [--concurrency 1000]

Prints, per video length, the chosen frames per lambda, the renderer and function counts,
the modelled render time against the target (with its terms), and what Remotion would
pick on its own (``bestFramesPerFunctionParam``) with that choice's modelled time. These
are *modelled* figures from ``core/render/lambda_planner.py`` — no Lambda runs here (no
AWS access); the assumptions are printed below the table. Settings come from
``RENDERBOT_REMOTION__*`` like the worker's.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.render.lambda_planner import (  # noqa: E402
    modelled_time,
    plan,
    remotion_default_frames_per_lambda,
)
from core.settings import RemotionSettings  # noqa: E402

LENGTHS = [("30 s", 30), ("3 min", 180), ("10 min", 600)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--target", type=float, default=None, help="seconds (default: settings)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="account concurrency limit (default: settings)")
    args = parser.parse_args()

    base = RemotionSettings(**_env_overrides())
    updates = {}
    if args.target is not None:
        updates["target_seconds"] = args.target
    if args.concurrency is not None:
        updates["concurrency_limit"] = args.concurrency
    settings = base.model_copy(update=updates)
    t = settings.timing

    print(f"Remotion Lambda plans at {args.width}x{args.height} {args.fps} fps — target "
          f"{settings.target_seconds:.0f} s, concurrency limit {settings.concurrency_limit}, "
          f"function timeout {settings.function_timeout_seconds:.0f} s\n")
    header = (f"{'video':>7} {'frames':>7} {'frames/λ':>9} {'renderers':>9} {'functions':>9} "
              f"{'modelled':>9} {'target':>7} {'meets':>5}   "
              f"{'launch+invoke+cold+frames+stitch':<34} {'Remotion default':>22}")
    print(header)
    print("-" * len(header))
    for label, seconds in LENGTHS:
        frames = seconds * args.fps
        chosen = plan(frames=frames, width=args.width, height=args.height, settings=settings)
        b = chosen.breakdown
        terms = (f"{b.launch:.1f}+{b.invoke:.1f}+{b.cold_start:.1f}+{b.frames:.1f}"
                 f"+{b.stitch:.1f}")
        default_k = remotion_default_frames_per_lambda(frames)
        default_r = math.ceil(frames / default_k)
        default_t = modelled_time(frames=frames, renderers=default_r, width=args.width,
                                  height=args.height, timing=t).total
        print(f"{label:>7} {frames:>7} {chosen.frames_per_lambda:>9} {chosen.renderers:>9} "
              f"{chosen.functions:>9} {chosen.modelled_seconds:>8.1f}s "
              f"{chosen.target_seconds:>6.0f}s {'yes' if chosen.meets_target else 'NO':>5}   "
              f"{terms:<34} {default_k:>5}/λ {default_r + 1:>3} fn {default_t:>5.1f}s")
    print(f"""
Model: T(r) = launch + r·invoke + cold + k·frame·s·(1 + c·ln r) + stitch + f·stitch_frame·s
  r renderers, k = ceil(f / r) frames per lambda, f frames, s = max({t.min_frame_scale}, pixels / 1080p)
Assumptions (RemotionSettings.timing; calibrate them from real renders' timeToFinish):
  frame   {t.frame_seconds_1080p} s per 1080p frame on one 2048 MB renderer (~1.2 vCPU), chunk encoding included
  launch  {t.launch_seconds} s: start call, main function cold start, composition evaluated
  invoke  {t.invoke_seconds_per_renderer} s per renderer invoked by the main function
  cold    {t.renderer_cold_start_seconds} s: renderer cold start + Chromium + serve URL (in parallel)
  c       {t.straggler_coefficient}: the slowest chunk vs the average (1 + c·ln r; 1.26 at 200)
  stitch  {t.stitch_seconds} s + {t.stitch_seconds_per_frame_1080p} s per 1080p frame: fetch chunks,
          concatenate without re-encoding, upload to R2
  no chunk retries; warm functions would be faster
Choice: the fewest renderers whose modelled time meets the target (cheapest, and leaves the
account's concurrency to other jobs); ≤ 200 renderers, ≤ concurrency limit − 1, chunk ≥
{settings.min_frames_per_lambda} frames, a chunk within 90 % of the function timeout; if the target is out of reach,
the fastest allowed plan. functions = renderers + 1 (the main function).""")


def _env_overrides() -> dict:
    from core.settings import Settings

    try:
        return Settings().remotion.model_dump()
    except Exception:  # noqa: BLE001 - no usable environment: the defaults
        return {}


if __name__ == "__main__":
    main()
