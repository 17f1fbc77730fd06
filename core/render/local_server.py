"""Client and process manager for the local Remotion render server.

The server (``remotion/server/render-server.mjs``) is a long-lived Node process that keeps
one Remotion bundle and one Chromium open and renders one request at a time from a FIFO
queue. It speaks JSON over HTTP on a UNIX socket. This module starts it when nothing
answers on the socket (at most one per socket, guarded by a file lock), talks to it with
httpx, and restarts it when it has died.

Each worker process owns its server: the socket sits in the process's short private
runtime directory (``core/render/runtime_dir.py``), and the server, started in its own
session (a Ctrl-C of the worker's terminal doesn't hit it mid-render), exits by itself
within a second once the process that started it is gone (``--parent-pid``), even after
a ``kill -9``; the job's lease then expires and another worker renders it again.

Nothing here imports the rest of ``core``: every setting comes through the constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx

log = logging.getLogger(__name__)

RenderState = Literal["queued", "rendering", "done", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})

SERVER_SCRIPT = Path("server") / "render-server.mjs"
# sun_path is 108 bytes on Linux, including the trailing NUL
_MAX_SOCKET_PATH = 107


class RenderServerError(RuntimeError):
    """The local render server could not be reached, started or understood."""


class RemotionNotInstalled(RenderServerError):
    """remotion/node_modules is missing."""

    def __init__(self, remotion_dir: Path) -> None:
        self.remotion_dir = remotion_dir
        super().__init__(
            f"Remotion's node modules are not installed in {remotion_dir}/node_modules: "
            f"run `npm ci --prefix {remotion_dir}` (from the repository root: "
            "`npm ci --prefix remotion`)."
        )


class RenderRequestRejected(RenderServerError):
    """The server refused a render request (HTTP 400): a bug in the caller, not retryable."""


class StillOutOfRange(RenderServerError):
    """A still was asked for a frame past the composition's last one."""


@dataclass(frozen=True)
class StillResult:
    """A rendered JPEG still: where it is and the composition's size."""

    output_path: Path
    width: int
    height: int
    frame: int
    duration_in_frames: int


@dataclass(frozen=True)
class LocalRenderStatus:
    id: str
    state: RenderState
    progress: float
    queue_position: int
    frames_rendered: int
    total_frames: int
    eta_seconds: float | None
    output_path: Path | None
    error_message: str | None
    retryable: bool
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_stack: str | None = None  # the failure's stack, for admins only

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalRenderStatus:
        error = data.get("error") or None
        output = data.get("outputPath")
        eta = data.get("etaSeconds")
        return cls(
            id=str(data["id"]),
            state=data["state"],
            progress=float(data.get("progress") or 0.0),
            queue_position=int(data.get("queuePosition") or 0),
            frames_rendered=int(data.get("framesRendered") or 0),
            total_frames=int(data.get("totalFrames") or 0),
            eta_seconds=None if eta is None else float(eta),
            output_path=Path(output) if output else None,
            error_message=error.get("message") if error else None,
            retryable=bool(error.get("retryable")) if error else False,
            started_at=_parse_time(data.get("startedAt")),
            finished_at=_parse_time(data.get("finishedAt")),
            error_stack=(error.get("stack") or None) if error else None,
        )


def _compositor_dirs(remotion_dir: Path) -> list[Path]:
    base = Path(remotion_dir) / "node_modules" / "@remotion"
    return sorted(base.glob("compositor-*"))


def find_ffprobe(remotion_dir: Path) -> Path:
    """The ffprobe binary shipped with Remotion's compositor package."""
    return _find_binary(remotion_dir, "ffprobe")


def find_ffmpeg(remotion_dir: Path) -> Path:
    """The ffmpeg binary shipped with Remotion's compositor package."""
    return _find_binary(remotion_dir, "ffmpeg")


def _find_binary(remotion_dir: Path, name: str) -> Path:
    for directory in _compositor_dirs(remotion_dir):
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if not (Path(remotion_dir) / "node_modules").is_dir():
        raise RemotionNotInstalled(Path(remotion_dir))
    raise FileNotFoundError(
        f"no {name} under {remotion_dir}/node_modules/@remotion/compositor-*/"
    )


def binaries_env(binary: Path) -> dict[str, str]:
    """Environment to run a compositor binary (its shared libraries sit beside it)."""
    env = dict(os.environ)
    lib_dir = str(binary.parent)
    env["LD_LIBRARY_PATH"] = (
        f"{lib_dir}:{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else lib_dir
    )
    return env


class LocalRenderServer:
    """Starts (or joins) the local render server and submits renders to it.

    One object per event loop user; any number of objects, in any number of processes,
    can share one server through the same ``socket_path``.
    """

    def __init__(
        self,
        *,
        remotion_dir: Path,
        socket_path: Path,
        cache_dir: Path,
        chromium: str = "/usr/bin/chromium-headless-shell",
        max_parallel: int = 1,
        start_timeout: float = 180.0,
        node: str = "node",
        request_timeout: float = 30.0,
        idle_exit: float | None = None,
        stall_timeout: float = 120.0,
        entry_point: Path | None = None,
    ) -> None:
        """``idle_exit``: seconds without requests or work after which the server exits by
        itself (None = never; the next call starts it again). ``stall_timeout``: a render
        with no progress for that long is aborted as a retryable failure. ``entry_point``:
        the Remotion entry to bundle (default ``remotion/src/index.ts``; tests pass the
        test-only ``remotion/testing/index.ts``)."""
        self.remotion_dir = Path(remotion_dir).resolve()
        self.socket_path = Path(socket_path).absolute()
        self.cache_dir = Path(cache_dir).absolute()
        self.chromium = chromium
        self.max_parallel = max(1, int(max_parallel))
        self.start_timeout = start_timeout
        self.node = node
        self.request_timeout = request_timeout
        self.idle_exit = idle_exit
        self.stall_timeout = stall_timeout
        self.entry_point = Path(entry_point).resolve() if entry_point else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._start_lock: asyncio.Lock | None = None
        self._start_lock_loop: asyncio.AbstractEventLoop | None = None
        if len(os.fsencode(self.socket_path)) > _MAX_SOCKET_PATH:
            raise ValueError(
                f"socket path is longer than {_MAX_SOCKET_PATH} bytes: {self.socket_path}"
            )

    # ------------------------------------------------------------------ public API

    @property
    def log_path(self) -> Path:
        """Where the server's stdout/stderr go (appended; the server outlives us)."""
        return self.cache_dir / "render-server.log"

    @property
    def started_here(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def health(self) -> dict[str, Any] | None:
        """The server's /health answer, or None when nothing answers on the socket."""
        try:
            response = await self._client().get("/health", timeout=5.0)
        except (httpx.TransportError, OSError):
            return None
        if response.status_code != 200:
            return None
        data = response.json()
        return data if data.get("ok") else None

    async def ensure_started(self) -> None:
        """Make sure a server answers on the socket, starting one if needed."""
        self._check_installed()
        if await self.health() is not None:
            return
        async with self._loop_lock():
            if await self.health() is not None:
                return
            await self._start_under_file_lock()

    async def submit(
        self,
        *,
        render_id: str,
        input_props: dict[str, Any],
        output_path: Path,
        crf: int | None,
        x264_preset: str | None,
        audio_bitrate: str | None,
        composition: str = "Visualizer",
        concurrency: int | None = None,
        codec: str = "h264",
    ) -> LocalRenderStatus:
        """Queue a render (idempotent by ``render_id``) and return its status."""
        body: dict[str, Any] = {
            "id": render_id,
            "composition": composition,
            "inputProps": input_props,
            "outputPath": _absolute(output_path),
            "codec": codec,  # h264 | vp9 | gif; output_path ends in .mp4 | .webm | .gif
            "crf": crf,
            "x264Preset": x264_preset,
            "audioBitrate": audio_bitrate,
            "pixelFormat": "yuv420p",
        }
        if concurrency is not None:
            body["concurrency"] = concurrency
        response = await self._request("POST", "/renders", json=body)
        if response.status_code == 400:
            raise RenderRequestRejected(_error_message(response))
        if response.status_code not in (200, 202):
            raise RenderServerError(
                f"render server answered {response.status_code}: {_error_message(response)}"
            )
        return LocalRenderStatus.from_json(response.json())

    async def status(self, render_id: str) -> LocalRenderStatus | None:
        """The render's status, or None when the server does not know the id
        (never submitted, or the server restarted since)."""
        response = await self._request("GET", f"/renders/{_quote(render_id)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RenderServerError(
                f"render server answered {response.status_code}: {_error_message(response)}"
            )
        return LocalRenderStatus.from_json(response.json())

    async def cancel(self, render_id: str) -> None:
        """Cancel a queued or running render; unknown or finished renders are left alone."""
        response = await self._request("POST", f"/renders/{_quote(render_id)}/cancel")
        if response.status_code not in (200, 404):
            raise RenderServerError(
                f"render server answered {response.status_code}: {_error_message(response)}"
            )

    async def still(
        self,
        *,
        input_props: dict[str, Any],
        frame: int,
        output_path: Path,
        composition: str = "Visualizer",
        jpeg_quality: int = 85,
        max_seconds: float = 60.0,
    ) -> StillResult:
        """Render one frame as a JPEG at ``output_path`` (synchronous: the file exists when
        this returns). A frame past the composition's end raises :class:`StillOutOfRange`;
        a refused request :class:`RenderRequestRejected`; a failed render
        :class:`RenderServerError` (its ``retryable`` says whether trying again may help)."""
        body = {
            "composition": composition,
            "inputProps": input_props,
            "frame": int(frame),
            "outputPath": _absolute(output_path),
            "jpegQuality": int(jpeg_quality),
        }
        response = await self._request("POST", "/stills", json=body, timeout=max_seconds)
        if response.status_code == 400:
            raise RenderRequestRejected(_error_message(response))
        if response.status_code == 422:
            raise StillOutOfRange(_error_message(response))
        if response.status_code != 200:
            error = RenderServerError(
                f"render server answered {response.status_code}: {_error_message(response)}"
            )
            error.retryable = _retryable(response)
            raise error
        data = response.json()
        return StillResult(
            output_path=Path(data["outputPath"]), width=int(data["width"]),
            height=int(data["height"]), frame=int(data["frame"]),
            duration_in_frames=int(data["durationInFrames"]),
        )

    async def wait(
        self, render_id: str, *, max_wait: float = 600.0, poll_interval: float = 0.25
    ) -> LocalRenderStatus:
        """Poll until the render reaches a terminal state (a convenience for tests/CLI)."""
        deadline = time.monotonic() + max_wait
        while True:
            current = await self.status(render_id)
            if current is None:
                raise RenderServerError(f"render server does not know render {render_id!r}")
            if current.terminal:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"render {render_id!r} still {current.state} after {max_wait}s"
                )
            await asyncio.sleep(poll_interval)

    async def close(self) -> None:
        """Close the HTTP client; stop the server only if this object started it."""
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
            self._http = None
            self._http_loop = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            await asyncio.to_thread(_stop_process, proc)

    # ------------------------------------------------------------------ internals

    def _check_installed(self) -> None:
        if not (self.remotion_dir / "node_modules" / "@remotion" / "renderer").is_dir():
            raise RemotionNotInstalled(self.remotion_dir)
        if not (self.remotion_dir / SERVER_SCRIPT).is_file():
            raise RenderServerError(f"render server script missing: {self.remotion_dir / SERVER_SCRIPT}")

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop or self._http.is_closed:
            # a client is bound to the loop it was first used on
            transport = httpx.AsyncHTTPTransport(uds=str(self.socket_path))
            self._http = httpx.AsyncClient(
                transport=transport,
                base_url="http://render-server",
                timeout=httpx.Timeout(self.request_timeout, connect=5.0),
            )
            self._http_loop = loop
        return self._http

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._start_lock is None or self._start_lock_loop is not loop:
            self._start_lock = asyncio.Lock()
            self._start_lock_loop = loop
        return self._start_lock

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; on a connection failure, (re)start the server once and retry.
        Every call of the API is idempotent, so the retry is safe."""
        try:
            return await self._client().request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError,
                FileNotFoundError, ConnectionRefusedError) as exc:
            log.warning("render server unreachable (%s); (re)starting it", exc)
        await self.ensure_started()
        try:
            return await self._client().request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RenderServerError(f"render server unreachable after restart: {exc}") from exc

    async def _start_under_file_lock(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.socket_path.parent / f"{self.socket_path.name}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.start_timeout + 30.0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    # another process is starting the server: it may be ready now
                    if await self.health() is not None:
                        return
                    if time.monotonic() > deadline:
                        raise RenderServerError(
                            f"timed out waiting for the render server start lock {lock_path}"
                        ) from None
                    await asyncio.sleep(0.2)
            try:
                if await self.health() is not None:
                    return  # someone else started it while we waited for the lock
                await self._spawn_and_wait()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def _spawn_and_wait(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            # ours, but not answering: replace it
            log.warning("render server pid %s is not answering; restarting it", self._proc.pid)
            await asyncio.to_thread(_stop_process, self._proc)
        self._proc = None
        proc = await asyncio.to_thread(self._spawn)
        self._proc = proc
        deadline = time.monotonic() + self.start_timeout
        while True:
            if await self.health() is not None:
                log.info("render server ready (pid %s)", proc.pid)
                return
            code = proc.poll()
            if code is not None:
                self._proc = None
                raise RenderServerError(
                    f"render server exited with code {code} while starting:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                await asyncio.to_thread(_stop_process, proc)
                self._proc = None
                raise RenderServerError(
                    f"render server not ready after {self.start_timeout}s:\n{self._log_tail()}"
                )
            await asyncio.sleep(0.25)

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [
            self.node,
            str(self.remotion_dir / SERVER_SCRIPT),
            "--socket", str(self.socket_path),
            "--cache-dir", str(self.cache_dir),
            "--max-parallel", str(self.max_parallel),
            "--stall-timeout", str(self.stall_timeout),
            "--idle-exit", str(self.idle_exit or 0),
            "--parent-pid", str(os.getpid()),
        ]
        if self.entry_point is not None:
            cmd += ["--entry-point", str(self.entry_point)]
        env = dict(os.environ)
        env["RENDERBOT_CHROMIUM"] = self.chromium
        log.info("starting render server: %s", " ".join(cmd))
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"\n--- starting render server at {time.ctime()}\n".encode())
            log_file.flush()
            try:
                return subprocess.Popen(
                    cmd,
                    cwd=self.remotion_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    # own session: survives a kill -9 of the worker that started it
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise RenderServerError(f"cannot run {self.node!r}: install Node.js 20+") from exc

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the server (it closes Chromium itself), SIGKILL its process group if it hangs.
    The group is the session we created for it, so this only touches what we started."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _absolute(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


def _quote(render_id: str) -> str:
    from urllib.parse import quote

    return quote(render_id, safe="")


def _retryable(response: httpx.Response) -> bool:
    try:
        return bool((response.json().get("error") or {}).get("retryable"))
    except ValueError:
        return True


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or error.get("code") or response.text)
    except ValueError:
        return response.text
