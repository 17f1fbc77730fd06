"""The local render server's processes: a server shared by clients and gone with its
starter, restarts after a kill, a browser crash, idle exit, a missing install."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.render.local_server import (
    LocalRenderServer,
    RemotionNotInstalled,
    find_ffprobe,
)
from tests.render.conftest import REPO, require_render_services, server_kwargs, short_socket_dir
from tests.render.helpers import props
from tests.render.local_render import FAST, render, rid


def _pid_alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _wait_gone(pid: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- process management


_CLIENT_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from core.render.local_server import LocalRenderServer

async def main():
    s = LocalRenderServer(**{k: (Path(v) if k.endswith(("_dir", "_path")) else v)
                             for k, v in json.loads(sys.argv[1]).items()})
    await s.ensure_started()
    health = await s.health()
    print(json.dumps({"pid": health["pid"], "started_here": s.started_here}), flush=True)
    if s.started_here:
        sys.stdin.read()  # the starter stays until the test lets it go
    # exit without close(): the server notices that its starter is gone

asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_two_python_processes_share_one_server_which_exits_with_its_starter(tmp_path):
    """Clients of one socket share its server; once the process that started it is gone
    (it is killed with -9 here, no clean-up), the server exits by itself: a worker's
    render server never outlives its worker."""
    require_render_services()
    socket_dir = short_socket_dir()
    kwargs = server_kwargs(socket_dir)
    arg = json.dumps({k: str(v) for k, v in kwargs.items()})
    starter = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CLIENT_SCRIPT, arg, cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    server_pid = None
    try:
        line = await asyncio.wait_for(starter.stdout.readline(), 240)
        first = json.loads(line.decode())
        assert first["started_here"] is True, line
        server_pid = first["pid"]
        joiner = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CLIENT_SCRIPT, arg, cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        out, err = await joiner.communicate()
        assert joiner.returncode == 0, err.decode()[-2000:]
        second = json.loads(out.decode().strip().splitlines()[-1])
        assert second == {"pid": server_pid, "started_here": False}, "the same server"

        client = LocalRenderServer(**kwargs)
        status = await render(client, tmp_path / "shared.mp4", durationInFrames=5)
        assert status.state == "done", status.error_message
        await client.close()

        starter.kill()  # SIGKILL of the process this test started
        await starter.wait()
        await _wait_gone(server_pid, within=30)
        assert not _pid_alive(server_pid)
    finally:
        if starter.returncode is None:
            starter.kill()
            await starter.wait()
        if server_pid is not None and _pid_alive(server_pid):
            os.kill(server_pid, signal.SIGTERM)  # the server this test started
            await _wait_gone(server_pid)
        shutil.rmtree(socket_dir, ignore_errors=True)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.asyncio
async def test_killed_server_is_restarted_on_next_call(tmp_path):
    require_render_services()
    socket_dir = short_socket_dir()
    client = LocalRenderServer(**server_kwargs(socket_dir))
    try:
        await client.ensure_started()
        assert client.started_here
        old_pid = (await client.health())["pid"]
        old_run_dir = f"{client.socket_path.parent}/run/{old_pid}/"

        os.kill(old_pid, signal.SIGKILL)  # the server this test started
        await _wait_gone(old_pid)
        assert await client.health() is None

        # the next call notices, starts a new server and goes on
        status = await render(client, tmp_path / "after-kill.mp4", durationInFrames=5)
        assert status.state == "done", status.error_message
        new_pid = (await client.health())["pid"]
        assert new_pid != old_pid
        # the Chromium the killed server left behind was reaped by the new one
        assert _processes_mentioning(f"--user-data-dir={old_run_dir}") == []
    finally:
        await client.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.mark.asyncio
async def test_browser_crash_mid_render_is_retryable_and_browser_is_reopened(tmp_path):
    require_render_services()
    socket_dir = short_socket_dir()
    client = LocalRenderServer(**server_kwargs(socket_dir))
    try:
        await client.ensure_started()
        server_pid = (await client.health())["pid"]
        browsers = _processes_mentioning(f"--user-data-dir={client.socket_path.parent}/run/{server_pid}/")
        # the browser's main process leads its own process group
        (browser_pid,) = [pid for pid in browsers if os.getpgid(pid) == pid]

        render_id = rid("crash")
        out = tmp_path / "crash.mp4"
        await client.submit(
            render_id=render_id, input_props=props(durationInFrames=150), output_path=out, **FAST
        )
        deadline = time.monotonic() + 120
        while (status := await client.status(render_id)).frames_rendered == 0:
            assert not status.terminal and time.monotonic() < deadline, status
            await asyncio.sleep(0.05)
        os.killpg(browser_pid, signal.SIGKILL)  # the browser of the server this test started

        failed = await client.wait(render_id, max_wait=120)
        assert failed.state == "failed"
        assert failed.retryable is True, failed.error_message
        assert not out.exists()

        again = await render(client, tmp_path / "again.mp4", durationInFrames=5)
        assert again.state == "done", again.error_message
        assert (await client.health())["pid"] == server_pid, "same server, new browser"
    finally:
        await client.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.mark.asyncio
async def test_status_of_a_render_from_before_a_restart_is_none(tmp_path):
    require_render_services()
    socket_dir = short_socket_dir()
    client = LocalRenderServer(**server_kwargs(socket_dir))
    try:
        await client.ensure_started()
        render_id = rid("lost")
        await client.submit(
            render_id=render_id, input_props=props(), output_path=tmp_path / "x.mp4", **FAST
        )
        await client.close()  # stops the server this client started
        assert await client.status(render_id) is None  # restarted, id unknown
    finally:
        await client.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.mark.asyncio
async def test_idle_server_exits_by_itself_and_comes_back_on_demand(tmp_path):
    require_render_services()
    socket_dir = short_socket_dir()
    client = LocalRenderServer(**{**server_kwargs(socket_dir), "idle_exit": 2})
    try:
        await client.ensure_started()
        pid = (await client.health())["pid"]
        await _wait_gone(pid, within=30)
        assert not _pid_alive(pid)
        assert await client.health() is None
        assert await client.status("anything") is None  # restarted on demand
        assert (await client.health())["pid"] != pid
    finally:
        await client.close()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.mark.asyncio
async def test_missing_node_modules_says_to_run_npm_ci(tmp_path):
    fake_remotion = tmp_path / "remotion"
    (fake_remotion / "server").mkdir(parents=True)
    client = LocalRenderServer(
        remotion_dir=fake_remotion, socket_path=tmp_path / "s.sock", cache_dir=tmp_path / "c"
    )
    with pytest.raises(RemotionNotInstalled, match="npm ci --prefix"):
        await client.ensure_started()
    with pytest.raises(RemotionNotInstalled):
        find_ffprobe(fake_remotion)
