"""The local render server's Node process: started under a file lock (one per socket,
whichever process gets there first), waited for until it answers, stopped.

The base of :class:`core.render.local_server.LocalRenderServer`, which supplies the
settings (``remotion_dir``, ``socket_path``, ``cache_dir``, ``chromium``, ...) and
``health()``.
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
from pathlib import Path

from core.render.server_status import RenderServerError

log = logging.getLogger("core.render.local_server")

SERVER_SCRIPT = Path("server") / "render-server.mjs"


class ServerProcess:
    remotion_dir: Path
    socket_path: Path
    cache_dir: Path
    chromium: str
    max_parallel: int
    start_timeout: float
    node: str
    idle_exit: float | None
    stall_timeout: float
    entry_point: Path | None
    _proc: subprocess.Popen[bytes] | None

    async def health(self):  # pragma: no cover - LocalRenderServer's
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        """Where the server's stdout/stderr go (appended; the server outlives us)."""
        return self.cache_dir / "render-server.log"

    @property
    def started_here(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

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
            await asyncio.to_thread(stop_process, self._proc)
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
                await asyncio.to_thread(stop_process, proc)
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


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
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
