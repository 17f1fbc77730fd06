"""The dashboard's job detail shows a completed job's poster frame (issue 17)."""

from __future__ import annotations

from sqlalchemy import update

from core.models import RenderJob
from tests.dashboard.apptest import go, run
from tests.fixtures.dashboard import app_test


def _image_urls(at) -> list[str]:
    return [img.url for element in at.get("image") for img in element.proto.imgs]


async def test_job_detail_shows_the_poster_frame(dashboard_env, seeded, db):
    job = seeded.jobs["c05"]  # completed
    poster = f"http://127.0.0.1:8000/p/{job.id}?exp=9999999999&sig=abc"
    async with db.transaction() as s:
        await s.execute(update(RenderJob).where(RenderJob.id == job.id).values(
            poster_key=f"renders/{job.id}.jpg", poster_url=poster))
    at = go(run(app_test()), "Jobs")
    at.selectbox(key="job_pick").set_value(job.id)
    run(at)
    assert at.subheader[0].value == f"Job {job.id} — completed"
    assert _image_urls(at) == [poster]
    # a job without a poster shows none
    other = seeded.jobs["f01"]
    at.selectbox(key="job_pick").set_value(other.id)
    run(at)
    assert _image_urls(at) == []

