"""A draft on the ``lambda`` backend (the stand-in, tests/lambda_standin): Lambda is asked
for the draft's size, fps, frames and quality, its plan is made for the rendered settings,
and the composition gets ``draft: true``."""

from __future__ import annotations

import json

from core.models import RenderJob
from core.render.encoding import encoding_for
from core.render_settings import RenderSettings
from tests.fixtures.lambda_standin import lambda_stack, make_lambda_settings
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import _submit


async def test_lambda_renders_the_draft_settings_with_the_mark(
    db, tmp_path, database_url, factory, lambda_standin, moto_s3, s3_bucket
):
    settings = make_lambda_settings(tmp_path, database_url, standin=lambda_standin, r2=moto_s3,
                                    bucket=s3_bucket)
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    asked = {**TINY, "quality": "high", "duration": 2}  # 320x180, 30 fps, 2 s
    with lambda_stack(settings) as worker:
        job = await _submit(db, settings, account, project, {**asked, "draft": True})
        done = await wait_for(db, job.id, within=120)
        rendered = RenderSettings.from_stored(done.settings.model_dump()).rendered()
        plan = worker.rt.backend.plan_for(rendered)
    assert done.status == "completed", done.error
    assert done.settings.draft is True and done.settings.resolution == [320, 180]

    start = lambda_standin.invocations_of("start")[-1].payload
    assert (start["forceWidth"], start["forceHeight"], start["forceFps"],
            start["forceDurationInFrames"]) == (160, 90, 15, 30)
    low = encoding_for("low")
    assert (start["crf"], start["x264Preset"]) == (low.crf, low.x264_preset)
    props = json.loads(start["inputProps"]["payload"])
    assert props["draft"] is True and (props["width"], props["height"], props["fps"]) == (
        160, 90, 15)
    assert start["framesPerLambda"] == plan.frames_per_lambda
    async with db.transaction() as s:
        row = await s.get(RenderJob, job.id)
    assert row.backend_info["lambda_plan"] == plan.as_info()
    head = moto_s3.client().head_object(Bucket=s3_bucket, Key=row.output_key)
    assert head["ContentLength"] > 500
