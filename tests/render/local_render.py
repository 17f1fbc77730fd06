"""What the local render server tests share: fast encoding settings, unique render ids,
and one render submitted and waited for."""

from __future__ import annotations

import uuid
from pathlib import Path

from core.render.local_server import LocalRenderServer
from tests.render.helpers import props

FAST = {"crf": 23, "x264_preset": "veryfast", "audio_bitrate": None}


def rid(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex[:10]}"


async def render(server: LocalRenderServer, out: Path, **prop_overrides):
    render_id = rid("r")
    await server.submit(
        render_id=render_id, input_props=props(**prop_overrides), output_path=out, **FAST
    )
    return await server.wait(render_id, max_wait=240)
