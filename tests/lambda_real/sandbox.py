"""One invocation of the function in its own mount namespace (``unshare --mount``).

Remotion's function empties ``/tmp`` at the start of every invocation and launches
Chromium from the hard-coded ``/opt/bin/chromium``. Each invocation therefore gets a
tmpfs on ``/opt`` (``bin/chromium`` → the host's Chromium, the code bind-mounted read-only
at ``/opt/task``, the runtime shim at ``/opt/runtime``) and a private tmpfs ``/tmp``.
As root ``unshare --mount``; otherwise ``unshare -rm`` (a user namespace mapped to root).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

TASK = "/opt/task"
RUNTIME = "/opt/runtime/runner.cjs"


def chromium() -> str:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return os.path.realpath(found) if not found.startswith("/usr/bin") else found
    raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")


def command(code_dir: Path, runner: Path, request_id: str, timeout_ms: int,
            out_fd: int, err_fd: int) -> list[str]:
    """argv that runs ``runner`` on ``code_dir`` in a fresh mount namespace; the response
    stream goes to ``out_fd`` and an unhandled error to ``err_fd`` (as fds 3 and 4)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("Node.js is not installed")
    q = shlex.quote
    script = " && ".join([
        "mount --make-rprivate /",
        "mount -t tmpfs -o mode=755 tmpfs /opt",
        f"mkdir -p /opt/bin {TASK} /opt/runtime",
        f"ln -s {q(chromium())} /opt/bin/chromium",
        f"mount --bind {q(str(code_dir))} {TASK}",
        f"mount -o remount,bind,ro {TASK}",
        f"touch {RUNTIME}",
        f"mount --bind -o ro {q(str(runner))} {RUNTIME}",
        "mount -t tmpfs -o mode=1777 tmpfs /tmp",
        "cd /tmp",
        f"exec {q(node)} {RUNTIME} {TASK} {q(request_id)} {int(timeout_ms)} "
        f"3>&{out_fd} 4>&{err_fd} {out_fd}>&- {err_fd}>&-",
    ])
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "-rm"]
    return [*unshare, "bash", "-c", script]
