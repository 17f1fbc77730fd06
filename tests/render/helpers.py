"""Helpers shared by the render tests: probing and decoding outputs, tiny props."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from core.render.local_server import binaries_env


def probe(ffprobe_bin: Path, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [str(ffprobe_bin), "-v", "error", "-count_frames", "-show_streams", "-show_format",
         "-of", "json", str(path)],
        check=True, capture_output=True, env=binaries_env(ffprobe_bin),
    )
    return json.loads(out.stdout)


def decode_frame(ffmpeg_bin: Path, path: Path, frame: int = 0) -> bytes:
    """One frame of the video as raw RGB24 bytes.

    Remotion's ffmpeg is a slim build (no "select" filter, no rawvideo muxer), hence
    trim + image2pipe with the rawvideo encoder.
    """
    out = subprocess.run(
        [str(ffmpeg_bin), "-v", "error", "-i", str(path), "-vf", f"trim=start_frame={frame}",
         "-frames:v", "1", "-f", "image2pipe", "-c:v", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, env=binaries_env(ffmpeg_bin),
    )
    return out.stdout


def top_level_atoms(path: Path) -> list[str]:
    """Names of the MP4's top-level boxes, in file order."""
    atoms: list[str] = []
    with path.open("rb") as f:
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            size = int.from_bytes(header[:4], "big")
            name = header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big")
                f.seek(size - 16, os.SEEK_CUR)
            elif size == 0:
                atoms.append(name)
                break
            else:
                f.seek(size - 8, os.SEEK_CUR)
            atoms.append(name)
    return atoms


def props(**overrides: Any) -> dict[str, Any]:
    """Tiny, fast Visualizer props (320x180, 1 s at 30 fps) unless overridden."""
    base: dict[str, Any] = {
        "title": "Test Render",
        "subtitle": "renderbot",
        "palette": ["#ff3d7f", "#ffb347", "#3de1ff"],
        "background": "#101020",
        "bars": 24,
        "seed": 3,
        "effects": [],
        "width": 320,
        "height": 180,
        "fps": 30,
        "durationInFrames": 30,
    }
    base.update(overrides)
    return base
