"""Lambda delivers to the creator's own bucket (issue 16): the render is started with
``outName.s3OutputProvider`` (camelCase) carrying that destination's endpoint and keys,
and Remotion's REAL function (tests/lambda_real harness) writes the video there; an
account without a destination gets the default storage ("R2", ``moto_s3``)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from core.backends.base import OutputTarget, RenderRequest
from core.backends.lambda_ import LambdaBackend
from core.models import RenderJob
from core.render_settings import RenderSettings
from core.settings import Settings
from core.storage import destinations
from core.storage.destinations import DestinationSpec
from core.storage.s3 import S3Storage
from tests.fixtures.creator_r2 import creator_r2  # noqa: F401 - a fixture
from tests.fixtures.lambda_real import (  # noqa: F401 - fixtures
    REAL_REMOTION,
    make_real_settings,
    real_lambda,
    real_lambda_env,
)
from tests.fixtures.lambda_standin import lambda_stack
from tests.fixtures.pipeline import wait_for
from tests.pipeline.test_local_pipeline import _submit

CLIP = {"resolution": "320x180", "frame_rate": 30, "duration": 1, "quality": "low"}


def _request(target: OutputTarget | None, bucket: str | None) -> RenderRequest:
    return RenderRequest(
        job_id="job_test", attempt=1, composition="Visualizer", input_props={},
        settings=RenderSettings(resolution=(320, 180), frame_rate=30, duration=1,
                                quality="low", effects=()),
        output_key="mine/renders/job_test.mp4", output_bucket=bucket, output_target=target,
    )


def test_out_name_carries_the_destination_in_camel_case(tmp_path):
    settings = Settings(
        var_dir=tmp_path, secret_key="test-secret-0123456789", _env_file=None,
        render_backend="lambda", storage_url="s3://default-bucket",
        s3_endpoint_url="https://default.example.com", s3_access_key_id="default-key",
        s3_secret_access_key="default-secret", remotion_region="us-east-1",
        remotion_function_name="remotion-render", remotion_serve_url="https://site.example.com/s",
    )
    storage = S3Storage(bucket="default-bucket", endpoint_url=settings.s3_endpoint_url,
                        region="auto", access_key_id="default-key",
                        secret_access_key="default-secret")
    backend = LambdaBackend.from_settings(settings, storage=storage)
    target = OutputTarget(endpoint="https://creator.example.com", region=None,
                          access_key_id="creator-key", secret_access_key="creator-secret")
    chosen = backend.plan_for(_request(None, None).settings)

    theirs = backend.render_params(_request(target, "creator-bucket"), chosen).out_name
    assert theirs == {
        "bucketName": "creator-bucket", "key": "mine/renders/job_test.mp4",
        "s3OutputProvider": {"endpoint": "https://creator.example.com",
                             "accessKeyId": "creator-key", "secretAccessKey": "creator-secret",
                             "region": "auto", "forcePathStyle": True},
    }
    ours = backend.render_params(_request(None, None), chosen).out_name
    assert ours["bucketName"] == "default-bucket"
    assert ours["s3OutputProvider"]["accessKeyId"] == "default-key"
    assert "creator-secret" not in repr(target)  # never in a log line


@pytest.fixture
def database_url(pg_url) -> str:
    """PostgreSQL, as production: each real render runs once, not once per database."""
    return pg_url


async def test_real_function_writes_each_account_to_its_own_bucket(
    db, tmp_path, database_url, factory, real_lambda_env, moto_s3, s3_bucket, receiver,  # noqa: F811
    creator_r2,  # noqa: F811
):
    harness = real_lambda_env
    settings = make_real_settings(
        tmp_path, database_url, harness=harness, r2=moto_s3, bucket=s3_bucket,
        remotion={**REAL_REMOTION.model_dump(), "webhook_url": receiver.url})
    bucket_a = creator_r2.a.bucket()
    alice, carol = await factory.account(credits_=5), await factory.account(credits_=5)
    await destinations.set_(db=db, settings=settings, account_id=alice, spec=DestinationSpec(
        endpoint=creator_r2.a.endpoint_url, bucket=bucket_a, prefix="alice",
        region="us-east-1", access_key_id=creator_r2.a.access_key_id,
        secret_access_key=creator_r2.a.secret_access_key))
    jobs = {}
    with lambda_stack(settings):
        for account in (alice, carol):
            project = await factory.project(account)
            job = await _submit(db, settings, account, project, CLIP)
            jobs[account] = await wait_for(db, job.id, within=300)
    done_a, done_c = jobs[alice], jobs[carol]
    assert (done_a.status, done_c.status) == ("completed", "completed"), (done_a.error,
                                                                            done_c.error)
    # the poster frame beside each video (issue 17; rendered on the worker: core/posters.py)
    assert creator_r2.a.keys(bucket_a) == [f"alice/renders/{done_a.id}.{x}" for x in ("jpg", "mp4")]
    listed = moto_s3.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == [f"renders/{done_c.id}.{x}" for x in ("jpg", "mp4")]
    async with db.transaction() as s:
        row = (await s.execute(select(RenderJob).where(RenderJob.id == done_a.id))).scalar_one()
    assert row.destination_id is not None and row.output_bucket == bucket_a

    with lambda_stack(settings):  # the API serves the links
        async with httpx.AsyncClient(trust_env=False) as anonymous:
            hop = await anonymous.get(done_a.result_url)
            assert hop.status_code == 302
            assert hop.headers["location"].startswith(f"{creator_r2.a.endpoint_url}/{bucket_a}/")
            video = await anonymous.get(hop.headers["location"])
            assert video.status_code == 200 and video.content[4:8] == b"ftyp"  # an mp4
