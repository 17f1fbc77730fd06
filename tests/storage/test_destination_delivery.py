"""Renders go to the bucket their creator set (issue 16): two creators' R2 (moto servers
in processes of their own) plus the default storage (moto over HTTP). The worker here
runs the instant backend (placeholder bytes: what is tested is where they land and where
links lead); the Lambda side is tests/storage/test_lambda_output_target.py."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from core import admin
from core.backends.instant import PLACEHOLDER
from core.models import CreditEntry, RenderJob
from dashboard import format as fmt
from tests.fixtures.api import make_api_settings
from tests.fixtures.creator_r2 import creator_r2  # noqa: F401 - a fixture
from tests.fixtures.pipeline import TINY, wait_for


@pytest.fixture
def api_settings(tmp_path, database_url, api_port, moto_s3, s3_bucket):
    return make_api_settings(
        tmp_path, database_url, api_port, render_backend="instant",
        storage_url=f"s3://{s3_bucket}", s3_endpoint_url=moto_s3.endpoint_url,
        s3_region=moto_s3.region, s3_access_key_id=moto_s3.access_key_id,
        s3_secret_access_key=moto_s3.secret_access_key,
    )


def destination(r2, bucket: str, prefix: str) -> dict:
    return {"endpoint": r2.endpoint_url, "bucket": bucket, "prefix": prefix,
            "access_key_id": r2.access_key_id, "secret_access_key": r2.secret_access_key}


async def render(client, caller, db):
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": TINY})
    assert response.status_code == 202, response.text
    return await wait_for(db, response.json()["id"], within=60)


def default_keys(moto_s3, bucket: str) -> list[str]:
    listed = moto_s3.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


async def test_each_account_renders_into_its_own_bucket(
    client, api_caller, db, instant_worker, creator_r2, moto_s3, s3_bucket,  # noqa: F811
):
    a, b, c = [await api_caller(name=n) for n in ("alice", "bob", "carol")]
    bucket_a, bucket_b = creator_r2.a.bucket(), creator_r2.b.bucket()
    set_a = await client.put("/v1/storage", headers=a.headers,
                             json=destination(creator_r2.a, bucket_a, "alice/videos"))
    set_b = await client.put("/v1/storage", headers=b.headers,
                             json=destination(creator_r2.b, bucket_b, "bob"))
    assert set_a.status_code == 200 and set_b.status_code == 200, (set_a.text, set_b.text)

    job_a, job_b, job_c = [await render(client, x, db) for x in (a, b, c)]
    assert (job_a.status, job_b.status, job_c.status) == ("completed",) * 3

    # each video with its poster frame beside it (issue 17)
    assert creator_r2.a.keys(bucket_a) == [f"alice/videos/renders/{job_a.id}.{x}"
                                           for x in ("jpg", "mp4")]
    assert creator_r2.b.keys(bucket_b) == [f"bob/renders/{job_b.id}.{x}" for x in ("jpg", "mp4")]
    assert default_keys(moto_s3, s3_bucket) == [f"renders/{job_c.id}.{x}" for x in ("jpg", "mp4")]

    async with db.transaction() as s:
        recorded = {j.id: j for j in (await s.execute(select(RenderJob))).scalars()}
    assert recorded[job_a.id].destination_id is not None
    assert recorded[job_b.id].destination_id not in (None, recorded[job_a.id].destination_id)
    assert recorded[job_c.id].destination_id is None

    # admins see where each video went (dashboard job detail), never the secret
    async with db.transaction() as s:
        detail_a = await admin.job_detail(session=s, job_id=job_a.id)
        detail_c = await admin.job_detail(session=s, job_id=job_c.id)
    assert detail_a.destination.bucket == bucket_a and detail_a.destination.prefix == "alice/videos"
    assert detail_c.destination is None
    assert creator_r2.a.secret_access_key not in detail_a.model_dump_json()
    shown = fmt.destination(detail_a.destination)
    assert shown == (f"storage: the creator's bucket {bucket_a}/alice/videos at "
                     f"{creator_r2.a.endpoint_url} (key …0001)")
    assert fmt.destination(None) == "storage: the default storage"

    async with httpx.AsyncClient(trust_env=False) as anonymous:
        for job, where in ((job_a, f"{creator_r2.a.endpoint_url}/{bucket_a}/alice/videos/"),
                           (job_b, f"{creator_r2.b.endpoint_url}/{bucket_b}/bob/"),
                           (job_c, f"{moto_s3.endpoint_url}/{s3_bucket}/renders/")):
            hop = await anonymous.get(job.result_url)
            assert hop.status_code == 302, hop.text
            assert hop.headers["location"].startswith(where)
            video = await anonymous.get(hop.headers["location"])
            assert video.status_code == 200 and video.content == PLACEHOLDER

    # cleared: the next render of A goes to the default storage; A's old link still works
    assert (await client.delete("/v1/storage", headers=a.headers)).status_code == 204
    later = await render(client, a, db)
    assert later.status == "completed"
    assert f"renders/{later.id}.mp4" in default_keys(moto_s3, s3_bucket)
    assert creator_r2.a.keys(bucket_a) == [f"alice/videos/renders/{job_a.id}.{x}"
                                           for x in ("jpg", "mp4")]
    async with httpx.AsyncClient(trust_env=False) as anonymous:
        again = await anonymous.get(job_a.result_url, follow_redirects=True)
        assert again.status_code == 200 and again.content == PLACEHOLDER


async def test_a_deleted_bucket_fails_the_render_cleanly_and_refunds_once(
    client, api_caller, db, instant_worker, creator_r2, moto_s3, s3_bucket,  # noqa: F811
):
    caller = await api_caller(credits_=100)
    bucket = creator_r2.a.bucket()
    put = await client.put("/v1/storage", headers=caller.headers,
                           json=destination(creator_r2.a, bucket, "gone"))
    assert put.status_code == 200, put.text
    creator_r2.a.delete_bucket(bucket)  # the creator deletes it afterwards

    job = await render(client, caller, db)
    assert job.status == "failed"
    assert job.error == ("your storage bucket did not accept the video (check that it still "
                         "exists and that its key may write to it); your credits were refunded")
    assert bucket not in job.error and "\n" not in job.error
    balance = (await client.get("/v1/credits", headers=caller.headers)).json()
    assert balance["balance"] == 100
    async with db.transaction() as s:
        refunds = (await s.execute(select(CreditEntry).where(
            CreditEntry.job_id == job.id, CreditEntry.kind == "refund"))).scalars().all()
        row = await s.get(RenderJob, job.id)
    assert len(refunds) == 1
    assert "NoSuchBucket" in row.error_detail  # the admin sees the detail
    assert default_keys(moto_s3, s3_bucket) == []  # nothing went to the default storage
