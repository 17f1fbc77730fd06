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
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from core.render.binaries import binaries_env, find_ffmpeg, find_ffprobe
from core.render.server_process import SERVER_SCRIPT, ServerProcess, stop_process
from core.render.server_status import (
    TERMINAL_STATES,
    LocalRenderStatus,
    RemotionNotInstalled,
    RenderRequestRejected,
    RenderServerError,
    RenderState,
    StillOutOfRange,
    StillResult,
)

__all__ = [
    "SERVER_SCRIPT", "TERMINAL_STATES", "LocalRenderServer", "LocalRenderStatus",
    "RemotionNotInstalled", "RenderRequestRejected", "RenderServerError", "RenderState",
    "StillOutOfRange", "StillResult", "binaries_env", "find_ffmpeg", "find_ffprobe",
]

log = logging.getLogger(__name__)


# sun_path is 108 bytes on Linux, including the trailing NUL
_MAX_SOCKET_PATH = 107


class LocalRenderServer(ServerProcess):
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
            await asyncio.to_thread(stop_process, proc)

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
