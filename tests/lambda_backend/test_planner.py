"""The deadline-aware Lambda planner (pure functions) and the governor's admission rule."""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from core.render.lambda_planner import (
    PIXELS_1080P,
    modelled_time,
    plan,
    remotion_default_frames_per_lambda,
)
from core.settings import LambdaTimingSettings, RemotionSettings
from tests.fixtures.databases import missing_service
from tests.fixtures.pipeline import REMOTION_DIR

DEFAULT = RemotionSettings()
HD = {"width": 1920, "height": 1080}


@pytest.mark.parametrize("seconds", [30, 180, 600])
def test_1080p30_renders_meet_the_target_with_the_fewest_renderers(seconds):
    frames = seconds * 30
    chosen = plan(frames=frames, **HD, settings=DEFAULT)

    assert chosen.meets_target and chosen.limited_by == "target"
    assert chosen.modelled_seconds <= DEFAULT.target_seconds
    assert chosen.renderers == math.ceil(frames / chosen.frames_per_lambda)
    assert chosen.functions == chosen.renderers + 1
    assert chosen.renderers <= 200 and chosen.frames_per_lambda >= DEFAULT.min_frames_per_lambda
    # one renderer fewer (with Remotion's even split) would miss the target
    fewer = chosen.renderers - 1
    if fewer >= 1:
        slower = modelled_time(frames=frames, renderers=math.ceil(frames / math.ceil(frames / fewer)),
                               **HD, timing=DEFAULT.timing)
        assert slower.total > DEFAULT.target_seconds


def test_longer_videos_and_tighter_targets_need_more_functions():
    counts = [plan(frames=s * 30, **HD, settings=DEFAULT).functions for s in (30, 180, 600)]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    relaxed = plan(frames=5400, **HD, settings=DEFAULT)
    tight = plan(frames=5400, **HD, settings=DEFAULT, target_seconds=60)
    assert tight.functions > relaxed.functions and tight.modelled_seconds <= 60


def test_the_account_concurrency_limit_is_never_exceeded():
    small = RemotionSettings(concurrency_limit=10)
    chosen = plan(frames=18000, **HD, settings=small)
    assert chosen.functions <= 10
    assert not chosen.meets_target and chosen.limited_by == "concurrency_limit"
    assert chosen.modelled_seconds > small.target_seconds
    # the fastest plan within the limit: every allowed split is at least as slow
    for renderers in range(1, 10):
        k = math.ceil(18000 / renderers)
        assert modelled_time(frames=18000, renderers=math.ceil(18000 / k), **HD,
                             timing=small.timing).total >= chosen.modelled_seconds - 1e-9


def test_remotions_200_renderer_cap_and_minimum_chunk():
    impossible = plan(frames=36000, **HD, settings=DEFAULT, target_seconds=20)
    assert impossible.renderers <= 200 and not impossible.meets_target
    tiny = plan(frames=12, width=320, height=180, settings=DEFAULT)
    assert (tiny.renderers, tiny.frames_per_lambda, tiny.functions) == (1, 12, 2)
    chunky = plan(frames=400, **HD, settings=RemotionSettings(min_frames_per_lambda=100),
                  target_seconds=10)
    assert chunky.frames_per_lambda >= 100 and chunky.limited_by in (
        "min_frames_per_lambda", "model")


def test_a_renderer_must_finish_its_chunk_within_the_function_timeout():
    short = RemotionSettings(function_timeout_seconds=60, target_seconds=900)
    chosen = plan(frames=5400, **HD, settings=short)
    per_chunk = (short.timing.renderer_cold_start_seconds
                 + chosen.frames_per_lambda * short.timing.frame_seconds_1080p)
    assert per_chunk <= 0.9 * 60
    assert not chosen.fits_timeout or chosen.modelled_seconds <= 60


def test_the_model_terms():
    timing = LambdaTimingSettings()
    got = modelled_time(frames=900, renderers=10, **HD, timing=timing)
    assert got.launch == timing.launch_seconds
    assert got.invoke == pytest.approx(10 * timing.invoke_seconds_per_renderer)
    assert got.cold_start == timing.renderer_cold_start_seconds
    assert got.frames == pytest.approx(90 * 0.2 * (1 + 0.05 * math.log(10)))
    assert got.stitch == pytest.approx(timing.stitch_seconds + 900 * 0.0015)
    # smaller frames are cheaper, down to the floor
    quarter = modelled_time(frames=900, renderers=10, width=960, height=540, timing=timing)
    assert quarter.frames == pytest.approx(got.frames * 0.25)
    tiny = modelled_time(frames=900, renderers=10, width=320, height=180, timing=timing)
    assert 320 * 180 / PIXELS_1080P < timing.min_frame_scale
    assert tiny.frames == pytest.approx(got.frames * timing.min_frame_scale)


def test_the_plan_is_recorded_as_plain_json():
    info = plan(frames=900, **HD, settings=DEFAULT).as_info()
    assert json.loads(json.dumps(info)) == info
    assert set(info) >= {"frames_per_lambda", "renderers", "functions", "modelled_seconds",
                         "target_seconds", "meets_target", "limited_by", "breakdown"}


def test_remotions_own_default_is_reproduced():
    """Checked against bestFramesPerFunctionParam of the installed @remotion/serverless-client."""
    frames = [1, 19, 20, 21, 60, 900, 1800, 5400, 18000, 36000]
    module = (REMOTION_DIR / "node_modules" / "@remotion" / "serverless-client" / "dist"
              / "best-frames-per-function-param.js")
    if not module.is_file():
        missing_service("Remotion is not installed (run `npm ci --prefix remotion`)")
    script = (f"const {{bestFramesPerFunctionParam: f}} = require({json.dumps(str(module))});"
              f"console.log(JSON.stringify({frames}.map(f)))")
    out = subprocess.run(["node", "-e", script], cwd=REMOTION_DIR, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert [remotion_default_frames_per_lambda(f) for f in frames] == json.loads(out)
