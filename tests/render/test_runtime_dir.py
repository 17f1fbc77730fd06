"""The process's runtime dir: short, private, removed at exit (or by the next process
when its owner was killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOW = ("from core.render.runtime_dir import runtime_dir, render_socket; "
        "print(runtime_dir(), flush=True); import sys; sys.stdin.read()")


def _start() -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", SHOW], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, Path(proc.stdout.readline().strip())


def test_short_private_and_removed_at_exit():
    proc, path = _start()
    try:
        assert path.is_dir() and len(str(path / "render.sock")) < 60
        assert path.stat().st_mode & 0o777 == 0o700
    finally:
        proc.communicate("")  # a normal exit
    assert not path.exists()


def test_the_dir_of_a_killed_process_is_reaped_by_the_next_one():
    killed, stale = _start()
    os.kill(killed.pid, signal.SIGKILL)  # the process this test started
    killed.wait()
    assert stale.exists()  # no exit handler ran
    other, fresh = _start()
    try:
        assert fresh != stale and not stale.exists()
    finally:
        other.communicate("")
