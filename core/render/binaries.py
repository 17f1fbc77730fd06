"""The ffmpeg and ffprobe binaries shipped with Remotion's compositor package.

Re-exported by ``core/render/local_server.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.render.server_status import RemotionNotInstalled


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
