"""The lambda backend against the stand-in, without the pipeline: what goes on the wire,
how answers and failures are mapped."""

from __future__ import annotations

import json

import pytest
from remotion_lambda import CustomCredentials, OutNameInputObject, RemotionClient, RenderMediaParams
from remotion_lambda.version import VERSION

from core.backends.base import RenderError, RenderRequest, input_props
from core.backends.lambda_ import LambdaBackend, LambdaNotConfigured
from core.backends.lambda_errors import classify_errors
from core.render.encoding import encoding_for
from core.render_settings import RenderSettings
from core.runtime import Runtime
from core.settings import RemotionSettings
from tests.fixtures.lambda_standin import (
    SERVE_URL,
    WEBHOOK_SECRET,
    make_lambda_settings,
    start_standin,
)

TINY = RenderSettings(resolution=(320, 180), frame_rate=30, duration=1, quality="low", effects=())


def _request(settings: RenderSettings = TINY, job_id: str = "job-wire", attempt: int = 1,
             state: dict | None = None, output_bucket: str | None = None) -> RenderRequest:
    return RenderRequest(
        job_id=job_id, attempt=attempt, composition="Visualizer",
        input_props=input_props(state or {"props": {"title": "Wire"}}, settings),
        settings=settings, output_key=f"renders/{job_id}.mp4", output_bucket=output_bucket,
    )


@pytest.fixture
def database_url(sqlite_url) -> str:
    """No database is touched here: one run is enough."""
    return sqlite_url


@pytest.fixture
def backend_for(tmp_path, database_url, moto_s3, s3_bucket, lambda_standin):
    made: list[Runtime] = []

    def make(standin=None, **overrides) -> LambdaBackend:
        settings = make_lambda_settings(tmp_path, database_url, standin=standin or lambda_standin,
                                        r2=moto_s3, bucket=s3_bucket, **overrides)
        rt = Runtime(settings)
        made.append(rt)
        return rt.backend

    yield make
    for rt in made:
        rt.backend.sdk.close()


async def test_start_sends_camelcase_r2_output_provider_plan_and_webhook(
    backend_for, lambda_standin, moto_s3, s3_bucket
):
    backend = backend_for()
    started = await backend.start(_request())

    start = lambda_standin.invocations_of("start")[-1].payload
    assert start["version"] == VERSION == lambda_standin.version
    assert start["outName"] == {
        "bucketName": s3_bucket, "key": "renders/job-wire.mp4",
        "s3OutputProvider": {"endpoint": moto_s3.endpoint_url, "accessKeyId": "testing",
                             "secretAccessKey": "testing", "region": moto_s3.region},
    }
    assert "s3_output_provider" not in json.dumps(start)
    assert start["privacy"] == "no-acl" and start["enableCancellation"] is True
    low = encoding_for("low")
    assert (start["codec"], start["crf"], start["x264Preset"]) == ("h264", low.crf, low.x264_preset)
    assert start["audioBitrate"] == low.audio_bitrate and start["pixelFormat"] == "yuv420p"
    plan = backend.plan_for(TINY)
    assert start["framesPerLambda"] == plan.frames_per_lambda
    assert start["concurrency"] is None
    assert (start["forceWidth"], start["forceHeight"], start["forceFps"],
            start["forceDurationInFrames"]) == (320, 180, 30, 30)
    assert start["maxRetries"] == backend.config.chunk_max_retries
    assert start["webhook"] == {
        "secret": WEBHOOK_SECRET, "url": backend.settings.public_base_url + "/webhooks/remotion",
        "customData": {"job_id": "job-wire", "attempt": 1},
    }
    props = json.loads(start["inputProps"]["payload"])
    assert start["inputProps"]["type"] == "payload" and props["title"] == "Wire"
    assert (props["width"], props["height"], props["fps"], props["durationInFrames"]) == (
        320, 180, 30, 30)
    assert start["serveUrl"] == SERVE_URL and start["composition"] == "Visualizer"

    render = lambda_standin.only_render()
    assert started.ref == f"{render.bucket}/{render.render_id}"
    assert started.info["lambda_render_id"] == render.render_id
    assert started.info["lambda_plan"] == plan.as_info()

    status = await backend.status(started.ref)
    assert status.state in ("rendering", "done")
    sent = lambda_standin.invocations_of("status")[-1].payload
    assert sent["type"] == "status" and sent["version"] == VERSION
    assert sent["renderId"] == render.render_id and sent["bucketName"] == render.bucket
    assert sent["s3OutputProvider"] == start["outName"]["s3OutputProvider"]
    await backend.cancel(started.ref)


async def test_the_sdks_out_name_object_would_lose_the_output_provider():
    """Why the backend passes a dict: the SDK serialises OutNameInputObject in snake_case,
    so the function would not see ``s3OutputProvider`` (and write to AWS S3)."""
    client = RemotionClient(region="us-east-1", serve_url=SERVE_URL, function_name="f")
    params = RenderMediaParams(
        composition="Visualizer", input_props={},
        out_name=OutNameInputObject(bucketName="b", key="k", s3_output_provider=CustomCredentials(
            endpoint="https://r2.example", access_key_id="a", secret_access_key="s")),
    )
    wire = json.loads(client.construct_render_request(params, render_type="video-or-audio"))
    assert "s3OutputProvider" not in wire["outName"]
    assert "s3_output_provider" in wire["outName"]


async def test_a_per_account_bucket_gets_the_key_verbatim(backend_for, lambda_standin):
    backend = backend_for()
    assert backend.output_target(_request(output_bucket="acct-bucket")) == (
        "acct-bucket", "renders/job-wire.mp4")
    assert backend.output_target(_request()) == (backend.output_bucket, "renders/job-wire.mp4")
    backend.output_prefix = "tenant"
    assert backend.output_target(_request())[1] == "tenant/renders/job-wire.mp4"
    assert backend.caller_key("tenant/renders/job-wire.mp4", backend.output_bucket) == (
        "renders/job-wire.mp4")


async def test_a_function_of_another_version_is_a_permanent_error(
    backend_for, lambda_env, render_server_dir, monkeypatch
):
    other = start_standin(lambda_env, render_server_dir, monkeypatch, version="4.0.999")
    try:
        backend = backend_for(standin=other)
        with pytest.raises(RenderError) as caught:
            await backend.start(_request())
        assert not caught.value.retryable
        assert "version" in str(caught.value) and "deploy:lambda" in str(caught.value)
        assert "4.0.999" in str(caught.value)
        assert other.renders == {}
        # progress calls are refused the same way (an Unhandled function error)
        with pytest.raises(RenderError) as caught:
            await backend.status(f"{other.bucket_name}/abcdefghij")
        assert not caught.value.retryable and "version" in str(caught.value)
    finally:
        other.stop()


async def test_throttling_is_retried_by_botocore_only_and_bounded(backend_for, lambda_standin):
    backend = backend_for(remotion=RemotionSettings(invoke_max_attempts=3))
    lambda_standin.faults.throttle = 10
    with pytest.raises(RenderError) as caught:
        await backend.start(_request())
    assert not caught.value.retryable
    assert "throttling" in str(caught.value) and "3 tries" in str(caught.value)
    starts = lambda_standin.invocations_of("start")
    assert [i.status for i in starts] == [429, 429, 429]
    assert lambda_standin.renders == {}


async def test_throttled_twice_then_accepted_within_one_start_call(backend_for, lambda_standin):
    backend = backend_for()
    lambda_standin.faults.throttle = 2
    started = await backend.start(_request())
    assert [i.status for i in lambda_standin.invocations_of("start")] == [429, 429, 200]
    assert started.info["lambda_render_id"] == lambda_standin.only_render().render_id
    await backend.cancel(started.ref)


async def test_missing_function_and_unknown_render(backend_for, lambda_standin):
    missing = backend_for(remotion_function_name="remotion-render-nope")
    with pytest.raises(RenderError) as caught:
        await missing.start(_request())
    assert not caught.value.retryable and "does not exist" in str(caught.value)
    backend = backend_for()
    status = await backend.status(f"{lambda_standin.bucket_name}/zzzzzzzzzz")
    # the stand-in's words ("No render with ID"); the real function's are tested in
    # test_real_function.py ("The specified key does not exist.")
    assert status.state == "lost" and status.retryable
    assert status.error == "Remotion Lambda has no record of this render"


def test_settings_the_backend_cannot_work_without(tmp_path, database_url, lambda_standin,
                                                  moto_s3, s3_bucket):
    settings = make_lambda_settings(tmp_path, database_url, standin=lambda_standin, r2=moto_s3,
                                    bucket=s3_bucket, remotion_serve_url=None)
    with pytest.raises(LambdaNotConfigured, match="RENDERBOT_REMOTION_SERVE_URL"):
        _ = Runtime(settings).backend
    local_storage = make_lambda_settings(tmp_path, database_url, standin=lambda_standin,
                                         r2=moto_s3, bucket=s3_bucket, storage_url="")
    with pytest.raises(LambdaNotConfigured, match="s3://"):
        _ = Runtime(local_storage).backend


@pytest.mark.parametrize(
    ("error", "state", "retryable", "words"),
    [
        ({"name": "Error", "message": "Target closed.", "type": "renderer", "totalAttempts": 2},
         "failed", False, "kept failing after 2 tries"),
        ({"name": "Error", "message": "Page crashed!", "type": "stitcher"},
         "failed", True, "transient"),
        ({"name": "TimeoutError", "message": "The main function timed out after 900000ms.\nmore",
          "type": "stitcher"}, "failed", False, "timed out"),
        # an unrequested cancel is Remotion's launch stopping itself before its timeout
        ({"name": "CancelledError", "message": "renderMedia() got cancelled", "type": "renderer"},
         "failed", False, "timed out"),
        ({"name": "Error", "message": "boom __crash__", "stack": "Error: boom\n at X",
          "type": "renderer"}, "failed", False, "the composition failed: boom __crash__"),
        ({"name": "Error", "message": "x", "stack": "TooManyRequestsException: Rate Exceeded",
          "type": "renderer"}, "failed", True, "throttled"),
        ({"name": "Error", "message": "AccessDenied: Access Denied", "type": "stitcher"},
         "failed", False, "the render failed on Remotion Lambda: AccessDenied"),
        ({"name": "Error", "message": "Could not select composition: bad props"},
         "failed", False, "the composition failed: Could not select"),
    ],
)
def test_fatal_errors_are_classified(error, state, retryable, words):
    got_state, message, got_retryable, _kind = classify_errors(
        [{**error, "isFatal": True, "willRetry": False}])
    assert (got_state, got_retryable) == (state, retryable)
    assert words in message and "\n" not in message and len(message) <= 300


async def test_polls_reuse_one_lambda_client_per_sdk_thread(backend_for, lambda_standin):
    """The SDK makes a boto3 client per call (tens of ms of CPU): the backend keeps one
    per SDK thread, which took one worker from 6 to ~60 renders polled every 2 s
    (benchmarks/lambda_polling.py)."""
    backend = backend_for(remotion=RemotionSettings(sdk_threads=1))
    started = await backend.start(_request())
    made = []
    for _ in range(3):
        await backend.status(started.ref)
        made.append(await backend.sdk.call("_create_lambda_client"))
    assert made[0] is made[1] is made[2]
    await backend.cancel(started.ref)
