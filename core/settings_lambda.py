"""Remotion Lambda: ``RENDERBOT_REMOTION__*`` (its render-time model under ``__TIMING__``);
re-exported by core/settings.py."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from core.settings_checks import url_check


class LambdaTimingSettings(BaseModel):
    """Constants of the Remotion Lambda render-time model (core/render/lambda_planner.py).

    Conservative figures for a 2048 MB function (about 1.2 vCPU) rendering a 1080p frame
    of our Visualizer; re-measure and override them (``RENDERBOT_REMOTION__TIMING__*``)
    from the ``timeToFinish`` of real renders. Each says whether it is MEASURED (Remotion's
    real function on the test harness: ``python -m tests.lambda_real.calibrate``, 320x180,
    30 frames, 1 and 2 renderers, x64 on a shared 2-core machine with local S3) or ASSUMED
    (what 320x180 clips on a local emulator cannot show: 1080p frames, AWS latency).
    """

    # ASSUMED: 30 frames at 320x180 took the same time as 15 (< 0.02 s a frame, lost in noise)
    frame_seconds_1080p: float = Field(0.2, gt=0, description="one 1080p frame, one renderer")
    # ASSUMED (pessimistic: measured 320x180 frames cost less than 0.25 × 0.2 s)
    min_frame_scale: float = Field(
        0.25, gt=0, description="per-frame cost never drops below this share of 1080p"
    )
    # MEASURED: start invoked → first renderer invoked 2.0-3.1 s (median 2.6 s), rounded up
    launch_seconds: float = Field(
        3.0, ge=0, description="start + main function cold start + composition evaluation"
    )
    # ASSUMED for AWS: 0.003 s measured between two renderer invocations, but locally
    invoke_seconds_per_renderer: float = Field(
        0.01, ge=0, description="the main function invokes renderers one after another"
    )
    # MEASURED: a renderer's whole invocation for ≤ 30 small frames took 4.6-5.9 s (was 4.0)
    renderer_cold_start_seconds: float = Field(
        5.0, ge=0, description="renderer cold start, Chromium launch, serve URL opened"
    )
    # ASSUMED (two renderers cannot show a spread)
    straggler_coefficient: float = Field(
        0.05, ge=0, description="slowest renderer = average × (1 + c·ln renderers)"
    )
    # MEASURED: last renderer done → progress "done" 0.3-1.1 s for 30 frames (was 1.5)
    stitch_seconds: float = Field(1.0, ge=0, description="fixed part of combining the chunks")
    # ASSUMED (30 small frames do not separate a per-frame part)
    stitch_seconds_per_frame_1080p: float = Field(
        0.0015, ge=0, description="download chunks, concatenate, upload to R2 (per 1080p frame)"
    )


class RemotionSettings(BaseModel):
    """Remotion Lambda (``RENDERBOT_RENDER_BACKEND=lambda``): ``RENDERBOT_REMOTION__*``.

    Region, function, serve URL and webhook secret are top-level (``RENDERBOT_REMOTION_*``,
    the contract's names); this section tunes the planner, the governor and the SDK.
    """

    target_seconds: float = Field(120.0, gt=0, description="render wall time the planner aims at")
    concurrency_limit: int = Field(
        1000, ge=2,
        description="Lambda functions renderbot may run at once in the region (the account's "
        "concurrency limit minus what other functions there need)",
    )
    min_frames_per_lambda: int = Field(20, ge=5, description="smallest chunk (Remotion: ≥ 5)")
    max_renderers: int = Field(200, ge=1, le=200, description="renderers per render (Remotion: ≤ 200)")
    function_timeout_seconds: float = Field(
        900.0, gt=0, le=900, description="timeout the function was deployed with (deploy:lambda: 900)"
    )
    timing: LambdaTimingSettings = LambdaTimingSettings()
    invoke_max_attempts: int = Field(
        4, ge=1, le=10,
        description="botocore tries per Invoke (throttling, 5xx, network), the only retry there",
    )
    chunk_max_retries: int = Field(
        1, ge=0, le=5, description="Remotion's retries of a chunk that failed with a flaky error"
    )
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    sdk_threads: int = Field(8, ge=1, description="threads running the (blocking) SDK")
    governor_wait_seconds: float = Field(
        5.0, gt=0, description="a job waiting for Lambda capacity looks again this often"
    )
    webhook_url: str | None = Field(
        None, description="completion webhook; default <public_base_url>/webhooks/remotion"
    )
    _check_webhook_url = field_validator("webhook_url")(url_check("RENDERBOT_REMOTION__WEBHOOK_URL"))
    force_path_style: bool = Field(False, description="path-style URLs for Remotion's own bucket")
    delay_render_timeout_ms: int = Field(30000, ge=1000, description="timeoutInMilliseconds")
