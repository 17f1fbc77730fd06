"""Real renderer failures reach the creator as one clean line and the admins in full."""

from __future__ import annotations

from core import pipeline, renders
from core.backends.local import LocalBackend
from core.models import RenderJob
from core.render.local_server import LocalRenderServer
from core.runtime import Runtime
from tests.core.test_job_errors import clean
from tests.fixtures.pipeline import REMOTION_DIR, TINY, make_settings, own_render_server_dir
from tests.pipeline.test_local_pipeline import _submit
from tests.render.conftest import short_socket_dir


async def test_a_browser_that_cannot_start_fails_cleanly_with_the_stderr_for_admins(
    db, database_url, factory, tmp_path, production_bundles
):
    server_dir = own_render_server_dir(tmp_path, "broken", production_bundles)
    settings = make_settings(tmp_path, database_url, server_dir)
    socket_dir = short_socket_dir()
    server = LocalRenderServer(
        remotion_dir=REMOTION_DIR, socket_path=socket_dir / "render.sock",
        cache_dir=server_dir / "cache", chromium=str(tmp_path / "no" / "chromium"),
        start_timeout=120,
    )
    rt = Runtime(settings)
    rt.backend = LocalBackend(server, settings.var_dir / "renders")
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
        step = await pipeline.start(rt, job.id)
        while step.action != "none":
            step = await (pipeline.start(rt, job.id, step.attempt) if step.action == "start"
                          else pipeline.poll(rt, job.id, step.attempt))
    finally:
        await rt.close()
    async with db.transaction() as s:
        done = await renders.get(session=s, account_id=None, job_id=job.id)
        row = await s.get(RenderJob, job.id)
    assert done.status == "failed" and done.attempts == settings.worker.max_attempts
    clean(done.error)
    assert done.error.startswith("the renderer could not start")
    assert done.error.endswith("your credits were refunded")
    assert "exited with code" in row.error_detail and str(tmp_path) in row.error_detail
    assert await factory.balance(account) == 5
