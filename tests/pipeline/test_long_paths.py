"""Renders work whatever the length of RENDERBOT_VAR_DIR (and so of the checkout): the
render server's socket and Chromium's profile (with its SingletonSocket) live in the
process's short runtime dir, never under the var dir (issue 12: a 29-character checkout
already broke Chromium, whose Unix socket path is limited to 107 bytes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core import pipeline
from core.render import runtime_dir
from core.runtime import Runtime
from tests.fixtures.pipeline import TINY, make_settings, own_render_server_dir
from tests.pipeline.test_local_pipeline import _submit, probe, video_stream


def _browsers_profiles() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found += [a.decode(errors="replace").split("=", 1)[1] for a in args
                  if a.startswith(b"--user-data-dir=")]
    return found


async def test_a_var_dir_of_150_characters_renders(
    db, database_url, factory, tmp_path, production_bundles, monkeypatch
):
    long_var = tmp_path
    while len(str(long_var)) < 160:
        long_var = long_var / "a-rather-long-directory-name"
    assert len(str(long_var.absolute())) >= 150
    server_dir = own_render_server_dir(long_var, "worker", production_bundles)
    settings = make_settings(long_var, database_url, server_dir)
    # a process of its own: a fresh runtime dir, so a fresh render server (not the
    # session's) started from this settings' long cache dir
    monkeypatch.setattr(runtime_dir, "_dir", None)
    rt = Runtime(settings)
    try:
        account = await factory.account(credits_=5)
        project = await factory.project(account)
        job = await _submit(db, settings, account, project, TINY, enqueue=lambda _: None)
        step = await pipeline.start(rt, job.id)
        profiles = []
        while step.action != "none":
            await asyncio.sleep(step.delay)
            profiles += _browsers_profiles()
            step = await (pipeline.start(rt, job.id, step.attempt) if step.action == "start"
                          else pipeline.poll(rt, job.id, step.attempt))
        runtime = runtime_dir.runtime_dir()
        assert len(str(rt.backend.server.cache_dir)) >= 150
        assert len(str(rt.backend.server.socket_path)) < 60
        assert any(p.startswith(str(runtime)) for p in profiles), profiles
        async with db.transaction() as s:
            from core import renders

            done = await renders.get(session=s, account_id=None, job_id=job.id)
        assert done.status == "completed", done.error
        out = rt.storage.local_path(key=f"renders/{job.id}.mp4")
        video = video_stream(probe(out))
        assert (video["width"], video["height"]) == (320, 180)
    finally:
        await rt.close()
