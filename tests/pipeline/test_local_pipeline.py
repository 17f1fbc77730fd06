"""The whole flow on the embedded default: in-process worker, real Remotion renders."""

from __future__ import annotations

import json
import subprocess

from core import credits, projects, renders
from core.render.local_server import find_ffprobe
from tests.fixtures.pipeline import REMOTION_DIR, TINY, wait_for


def probe(path) -> dict:
    out = subprocess.run(
        [str(find_ffprobe(REMOTION_DIR)), "-v", "error", "-print_format", "json",
         "-show_streams", "-show_format", "-count_frames", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return json.loads(out.stdout)


def video_stream(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


async def _submit(db, settings, account, project, body, enqueue=None):
    from jobs.enqueue import enqueuer_for

    async with db.transaction() as s:
        return (await renders.submit(
            session=s, settings=settings, account_id=account, project_id=project,
            render_settings=body, enqueue=enqueue or enqueuer_for(settings),
        )).job


async def test_submit_renders_a_real_mp4_that_matches_the_settings(
    db, pipeline_settings, factory, worker
):
    account = await factory.account(credits_=10)
    project = await factory.project(account, name="Pipeline test")
    body = {**TINY, "duration": 2, "frame_rate": 25, "effects": ["vignette"]}
    job = await _submit(db, pipeline_settings, account, project, body)

    seen = []
    done = await wait_for(db, job.id, seen=seen)

    assert done.status == "completed", done.error
    progress = [j.progress for j in seen]
    assert progress == sorted(progress)
    assert any(0 < p < 100 for p in progress), progress
    assert done.progress == 100 and done.result_url and done.finished_at
    path = worker.rt.storage.local_path(key=f"renders/{job.id}.mp4")
    info = probe(path)
    video = video_stream(info)
    assert (video["width"], video["height"]) == (320, 180)
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert video["r_frame_rate"] == "25/1"
    assert int(video["nb_read_frames"]) == 50
    assert abs(float(info["format"]["duration"]) - 2.0) < 0.05
    async with db.transaction() as s:
        statement = await credits.statement(session=s, account_id=account)
        project_row = await projects.get(session=s, account_id=account, project_id=project)
        events = await renders.events(session=s, job_id=job.id)
    assert [e.kind for e in statement.entries] == ["debit", "grant"]
    assert statement.balance == 9
    assert project_row.last_render_job_id == job.id
    states = [e.state for e in events if e.kind == "state"]
    assert states == ["queued", "processing", "completed"]
