"""The local render server, driven through LocalRenderServer, with real renders."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import wave
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.render.encoding import QUALITY_ENCODING, encoding_for
from core.render.local_server import (
    LocalRenderServer,
    RemotionNotInstalled,
    find_ffprobe,
)
from tests.fixtures.faults import crash_props, flaky_props
from tests.render.conftest import REPO, require_render_services, server_kwargs, short_socket_dir
from tests.render.helpers import decode_frame, probe, props, top_level_atoms

FAST = {"crf": 23, "x264_preset": "veryfast", "audio_bitrate": None}


def rid(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex[:10]}"


async def render(server: LocalRenderServer, out: Path, **prop_overrides):
    render_id = rid("r")
    await server.submit(
        render_id=render_id, input_props=props(**prop_overrides), output_path=out, **FAST
    )
    return await server.wait(render_id, max_wait=240)


def _video(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


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


# ---------------------------------------------------------------- output format


@pytest.mark.asyncio
async def test_tiny_render_is_h264_yuv420p_faststart_with_exact_frames(
    render_server, tmp_path, ffprobe
):
    out = tmp_path / "tiny.mp4"
    status = await render(render_server, out)

    assert status.state == "done", status.error_message
    assert status.output_path == out and out.is_file()
    assert status.progress == 1.0 and status.frames_rendered == status.total_frames == 30
    info = probe(ffprobe, out)
    video = _video(info)
    assert video["codec_name"] == "h264"
    assert (video["width"], video["height"]) == (320, 180)
    assert video["pix_fmt"] == "yuv420p"
    assert video["r_frame_rate"] == "30/1"
    assert int(video["nb_read_frames"]) == 30
    assert not [s for s in info["streams"] if s["codec_type"] == "audio"]
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # +faststart
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.asyncio
async def test_progress_rises_while_rendering(render_server, tmp_path):
    render_id = rid("progress")
    await render_server.submit(
        render_id=render_id, input_props=props(durationInFrames=60),
        output_path=tmp_path / "p.mp4", **FAST,
    )
    seen: list[float] = []
    states: set[str] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = await render_server.status(render_id)
        assert status is not None
        states.add(status.state)
        if status.state == "rendering":
            seen.append(status.progress)
            assert status.queue_position == 0
            assert status.total_frames in (0, 60)
        if status.terminal:
            break
        await asyncio.sleep(0.1)
    assert status.state == "done", status.error_message
    assert "rendering" in states
    assert seen == sorted(seen), "progress never goes backwards"
    assert len({p for p in seen if 0 < p < 1}) >= 3, seen
    assert status.progress == 1.0


@pytest.mark.asyncio
@pytest.mark.parametrize(("width", "height"), [(180, 320), (240, 240)], ids=["9x16", "1x1"])
async def test_portrait_and_square_render(render_server, tmp_path, ffprobe, width, height):
    out = tmp_path / f"{width}x{height}.mp4"
    status = await render(render_server, out, width=width, height=height, effects=["glow"])
    assert status.state == "done", status.error_message
    video = _video(probe(ffprobe, out))
    assert (video["width"], video["height"]) == (width, height)
    assert int(video["nb_read_frames"]) == 30


class _CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


def _write_tone(path: Path, seconds: float = 2.0, rate: int = 44100) -> None:
    import math

    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        beat = 0.5 + 0.5 * math.sin(2 * math.pi * 2 * t)
        v = beat * (0.5 * math.sin(2 * math.pi * 110 * t) + 0.3 * math.sin(2 * math.pi * 880 * t))
        frames += int(v * 20000).to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


@pytest.mark.asyncio
async def test_audio_url_drives_bars_and_is_muxed_as_aac(
    render_server, tmp_path, ffprobe, ffmpeg
):
    media = tmp_path / "media"
    media.mkdir()
    _write_tone(media / "tone.wav")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_CorsHandler, directory=str(media)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/tone.wav"
        out = tmp_path / "audio.mp4"
        render_id = rid("audio")
        await render_server.submit(
            render_id=render_id, input_props=props(audioUrl=url), output_path=out,
            crf=23, x264_preset="veryfast", audio_bitrate="128k",
        )
        status = await render_server.wait(render_id, max_wait=240)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status.state == "done", status.error_message
    info = probe(ffprobe, out)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac"
    assert int(_video(info)["nb_read_frames"]) == 30
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms
    # the bars follow the audio, not the procedural animation
    procedural = await render(render_server, tmp_path / "procedural.mp4")
    assert procedural.state == "done"
    with_audio = decode_frame(ffmpeg, out, 20)
    without = decode_frame(ffmpeg, tmp_path / "procedural.mp4", 20)
    assert sum(abs(a - b) for a, b in zip(with_audio, without, strict=True)) / len(without) > 1.0


# ---------------------------------------------------------------- errors


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"palette": []}, "palette"),
        (crash_props("boom from the test composition"), "boom from the test composition"),
        ({"background": "definitely-not-a-color"}, "background"),
    ],
    ids=["empty-palette", "crash-title", "bad-color"],
)
async def test_bad_props_fail_permanently_with_readable_message(
    render_server, tmp_path, overrides, expected
):
    out = tmp_path / "bad.mp4"
    status = await render(render_server, out, **overrides)
    assert status.state == "failed"
    assert status.retryable is False
    assert expected in (status.error_message or "")
    assert len(status.error_message) < 2000
    assert status.output_path is None and not out.exists()


@pytest.mark.asyncio
async def test_transient_failure_is_retryable_and_succeeds_on_retry(render_server, tmp_path):
    token = uuid.uuid4().hex
    first = await render(render_server, tmp_path / "a.mp4", **flaky_props(token))
    assert first.state == "failed" and first.retryable is True
    assert first.error_message and token in first.error_message
    assert not (tmp_path / "a.mp4").exists()

    second = await render(render_server, tmp_path / "b.mp4")
    assert second.state == "done", second.error_message
    assert (tmp_path / "b.mp4").is_file()


# ---------------------------------------------------------------- queue, cancel, idempotency


@pytest.mark.asyncio
async def test_cancel_while_rendering_deletes_partial_output(render_server, tmp_path):
    out = tmp_path / "cancelled.mp4"
    render_id = rid("cancel-running")
    await render_server.submit(
        render_id=render_id, input_props=props(durationInFrames=150), output_path=out, **FAST
    )
    deadline = time.monotonic() + 120
    while True:
        status = await render_server.status(render_id)
        if status.state == "rendering" and status.frames_rendered > 0:
            break
        assert not status.terminal, status
        assert time.monotonic() < deadline, "render never started"
        await asyncio.sleep(0.05)

    await render_server.cancel(render_id)

    status = await render_server.status(render_id)
    assert status.state == "cancelled"
    assert status.output_path is None
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "partial files are removed"


@pytest.mark.asyncio
async def test_cancel_while_queued_never_renders(render_server, tmp_path):
    first, second = rid("busy"), rid("queued")
    await render_server.submit(
        render_id=first, input_props=props(durationInFrames=150),
        output_path=tmp_path / "first.mp4", **FAST,
    )
    queued = await render_server.submit(
        render_id=second, input_props=props(), output_path=tmp_path / "second.mp4", **FAST
    )
    assert queued.state == "queued" and queued.queue_position >= 1

    await render_server.cancel(second)
    status = await render_server.status(second)
    assert status.state == "cancelled"

    await render_server.cancel(first)
    assert (await render_server.status(first)).state == "cancelled"
    await asyncio.sleep(0.5)
    assert (await render_server.status(second)).state == "cancelled"
    assert not (tmp_path / "second.mp4").exists()


@pytest.mark.asyncio
async def test_renders_run_one_at_a_time_in_fifo_order(render_server, tmp_path):
    ids = [rid(f"fifo{i}") for i in range(3)]
    submitted = [
        await render_server.submit(
            render_id=render_id, input_props=props(durationInFrames=15),
            output_path=tmp_path / f"{i}.mp4", **FAST,
        )
        for i, render_id in enumerate(ids)
    ]
    # the last two wait behind the first, in order
    assert submitted[1].state == submitted[2].state == "queued"
    assert submitted[2].queue_position == submitted[1].queue_position + 1
    statuses = [await render_server.wait(r, max_wait=240, poll_interval=0.1) for r in ids]
    assert [s.state for s in statuses] == ["done"] * 3
    for earlier, later in zip(statuses, statuses[1:], strict=False):
        # FIFO, and the next one starts only when the previous one has finished
        assert later.started_at >= earlier.finished_at, (earlier, later)


@pytest.mark.asyncio
async def test_submit_is_idempotent_by_id(render_server, tmp_path):
    render_id = rid("idem")
    out = tmp_path / "idem.mp4"
    first = await render_server.submit(
        render_id=render_id, input_props=props(), output_path=out, **FAST
    )
    again = await render_server.submit(
        render_id=render_id, input_props=props(), output_path=out, **FAST
    )
    assert again.id == first.id == render_id
    assert again.state in ("queued", "rendering", "done")
    done = await render_server.wait(render_id, max_wait=240)
    assert done.state == "done"
    mtime = out.stat().st_mtime_ns

    after = await render_server.submit(
        render_id=render_id, input_props=props(title="different"), output_path=out, **FAST
    )
    assert after.state == "done" and after.progress == 1.0
    await asyncio.sleep(1.0)
    assert (await render_server.status(render_id)).state == "done"
    assert out.stat().st_mtime_ns == mtime, "no second render"


@pytest.mark.asyncio
async def test_unknown_id_has_no_status_and_cancel_is_harmless(render_server):
    assert await render_server.status("never-submitted") is None
    await render_server.cancel("never-submitted")


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


# ---------------------------------------------------------------- quality mapping


def test_quality_mapping_is_ordered_and_complete():
    assert set(QUALITY_ENCODING) == {"high", "medium", "low"}
    high, medium, low = (encoding_for(q) for q in ("high", "medium", "low"))
    assert high.crf < medium.crf < low.crf
    kbps = [int(e.audio_bitrate.rstrip("k")) for e in (high, medium, low)]
    assert kbps == sorted(kbps, reverse=True)
    assert {e.x264_preset for e in (high, medium, low)} <= {
        "medium", "fast", "faster", "veryfast", "superfast", "ultrafast"
    }
    with pytest.raises(ValueError, match="high, medium, low"):
        encoding_for("ultra")
