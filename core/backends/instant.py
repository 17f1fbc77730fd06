"""A render backend that finishes at once, without rendering: a benchmark and test aid.

Selected only by ``RENDERBOT_RENDER_BACKEND=instant`` together with
``RENDERBOT_TEST_BACKENDS=1`` (settings refuse it otherwise: its "videos" are placeholder
bytes, yet jobs are charged). It lets
``benchmarks/submit_load.py`` and API tests measure our own path (HTTP → credits → job →
queue → worker → storage → callbacks) without spending CPU on Remotion. The "video" it
delivers is a few placeholder bytes, not an mp4.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from core.backends.base import RenderRequest, RenderStatus

PLACEHOLDER = b"renderbot instant backend: no video was rendered\n"


class InstantBackend:
    name = "instant"

    def __init__(self, output_dir: Path | None = None) -> None:
        self.output_dir = output_dir or Path(tempfile.gettempdir()) / "renderbot-instant"

    async def start(self, request: RenderRequest) -> str:
        return request.render_id

    async def status(self, ref: str) -> RenderStatus:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{ref}.mp4"
        path.write_bytes(PLACEHOLDER)
        return RenderStatus(state="done", progress=1.0, output_path=path)

    async def cancel(self, ref: str) -> None:
        return None

    async def close(self) -> None:
        return None
