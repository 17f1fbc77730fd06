"""The local backend delivers a real render to the creator's own bucket (issue 16): the
worker uploads the mp4 with that destination's keys under its prefix; nothing is left
in the default storage."""

from __future__ import annotations

import pytest

from core.settings import NetworkSettings
from core.storage import destinations
from core.storage.destinations import DestinationSpec
from tests.fixtures.creator_r2 import creator_r2  # noqa: F401 - a fixture
from tests.fixtures.pipeline import TINY, make_settings, wait_for
from tests.pipeline.test_local_pipeline import _submit


@pytest.fixture
def database_url(sqlite_url) -> str:
    """One real render is enough: SQLite (the delivery path does not depend on it)."""
    return sqlite_url


@pytest.fixture
def pipeline_settings(tmp_path, database_url, render_server_dir):
    return make_settings(tmp_path, database_url, render_server_dir,
                         network=NetworkSettings(allowed_networks=["127.0.0.0/8"]))


async def test_a_real_render_lands_in_the_creators_bucket(
    db, pipeline_settings, factory, worker, creator_r2,  # noqa: F811
):
    account = await factory.account(credits_=10)
    project = await factory.project(account)
    bucket = creator_r2.b.bucket()
    await destinations.set_(db=db, settings=pipeline_settings, account_id=account,
                            spec=DestinationSpec(
                                endpoint=creator_r2.b.endpoint_url, bucket=bucket,
                                prefix="studio/2026", access_key_id=creator_r2.b.access_key_id,
                                secret_access_key=creator_r2.b.secret_access_key))
    job = await _submit(db, pipeline_settings, account, project, TINY)
    done = await wait_for(db, job.id, within=180)
    assert done.status == "completed", done.error

    key = f"studio/2026/renders/{done.id}.mp4"
    assert creator_r2.b.keys(bucket) == [key.replace(".mp4", ".jpg"), key]  # and its poster
    video = creator_r2.b.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert video[4:8] == b"ftyp" and len(video) > 1000  # a real mp4
    media = pipeline_settings.var_dir / "media"
    assert not list(media.rglob("*.mp4")) if media.exists() else True
    renders_dir = pipeline_settings.var_dir / "renders"
    assert not list(renders_dir.glob(f"{done.id}*")) if renders_dir.exists() else True
