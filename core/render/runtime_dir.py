"""This process's short private runtime directory, for every Unix socket we create and
for the browser's profile.

A Unix socket path is limited to 107 bytes (``sun_path``), and Chromium puts its
``SingletonSocket`` inside its profile. Anything derived from the checkout or
``RENDERBOT_VAR_DIR`` can be longer than that, so the local render server's socket and
its ``TMPDIR`` (where Remotion puts Chromium's profile) live here instead: a directory
made once per process with ``tempfile.mkdtemp`` (mode 0700) under ``$XDG_RUNTIME_DIR`` or
the temp dir — whichever is short — and removed when the process exits. The directory of a
process killed with -9 (no exit handler ran) is removed by the next process that makes
one: each holds a ``pid`` file naming its owner.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

# room left for "/render.sock" and for "/run/<pid>/org.chromium.Chromium.XXXXXX/SingletonSocket"
MAX_BASE_LENGTH = 40
PREFIX = "rb-"
_lock = threading.Lock()
_dir: tuple[int, Path] | None = None


def _base() -> str:
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), tempfile.gettempdir(), "/tmp"):
        if (candidate and len(os.fsencode(candidate)) <= MAX_BASE_LENGTH
                and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK)):
            return candidate
    return "/tmp"


def runtime_dir() -> Path:
    """The directory of this process (made on first use, mode 0700, removed at exit).
    A forked child gets its own."""
    global _dir
    with _lock:
        if _dir is None or _dir[0] != os.getpid():
            base = _base()
            _reap(base)
            path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
            path.chmod(0o700)
            (path / "pid").write_text(str(os.getpid()))
            _dir = (os.getpid(), path)
            atexit.register(_remove, os.getpid(), path)
        return _dir[1]


def render_socket() -> Path:
    """Where this process's local render server listens."""
    return runtime_dir() / "render.sock"


def _reap(base: str) -> None:
    """Remove runtime dirs of this user's processes that are gone."""
    for path in Path(base).glob(f"{PREFIX}*"):
        try:
            if path.stat().st_uid != os.getuid():
                continue
            pid = int((path / "pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(pid: int, path: Path) -> None:
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)
