"""Formats (issue 18) on Remotion's REAL Lambda function: one tiny GIF (320x180, 1 s),
rendered with ``codec: "gif"`` and written to "R2" under the job's ``.gif`` key."""

from __future__ import annotations

import pytest

from tests.fixtures.lambda_real import make_real_settings
from tests.fixtures.lambda_standin import lambda_stack
from tests.fixtures.pipeline import wait_for
from tests.pipeline.test_local_pipeline import _submit, probe, video_stream


@pytest.fixture
def database_url(pg_url) -> str:
    return pg_url


async def test_a_gif_on_the_real_function(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket
):
    settings = make_real_settings(tmp_path, database_url, harness=real_lambda_env, r2=moto_s3,
                                  bucket=s3_bucket)
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    with lambda_stack(settings):
        job = await _submit(db, settings, account, project, {
            "resolution": "320x180", "frame_rate": 30, "duration": 1, "quality": "low",
            "format": "gif"})
        done = await wait_for(db, job.id, within=240)

    assert done.status == "completed", done.error
    key = f"renders/{job.id}.gif"
    path = tmp_path / "out.gif"
    path.write_bytes(moto_s3.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    info = probe(path)
    video = video_stream(info)
    assert info["format"]["format_name"] == "gif" and video["codec_name"] == "gif"
    assert (video["width"], video["height"], int(video["nb_read_frames"])) == (320, 180, 30)
    assert [s for s in info["streams"] if s["codec_type"] == "audio"] == []
    calls = real_lambda_env.emulator.of("start")
    assert calls and calls[-1].payload["codec"] == "gif"
