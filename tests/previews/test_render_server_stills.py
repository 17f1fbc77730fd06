"""``POST /stills`` on the warm render server (remotion/server/stills.mjs) through its
client: a JPEG of the composition's size at the asked frame; a frame past the end and a
malformed request are refused clearly."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.backends.base import input_props
from core.render.local_server import (
    LocalRenderServer,
    RenderRequestRejected,
    StillOutOfRange,
)
from core.render.runtime_dir import render_socket
from core.render_settings import RenderSettings
from tests.fixtures.pipeline import REMOTION_DIR, cache_dir_with_shared_bundles

STATE = {"composition": "Visualizer", "props": {"title": "Still", "subtitle": "frame",
                                                  "palette": ["#ff5f6d", "#ffc371"],
                                                  "background": "#0b0f1a", "audioUrl": None}}


@pytest.fixture
def server(render_server_dir) -> LocalRenderServer:
    # the session's server (the same socket): warm bundle and browser
    return LocalRenderServer(remotion_dir=REMOTION_DIR, socket_path=render_socket(),
                             cache_dir=cache_dir_with_shared_bundles(render_server_dir))


async def test_a_still_is_a_jpeg_of_the_compositions_size(server, tmp_path):
    settings = RenderSettings(resolution=(320, 180), frame_rate=30, duration=1.0)
    out = tmp_path / "a" / "still.jpg"
    result = await server.still(input_props=input_props(STATE, settings), frame=10,
                                output_path=out)
    assert (result.width, result.height, result.frame) == (320, 180, 10)
    assert result.duration_in_frames == 30 and result.output_path == out
    image = Image.open(io.BytesIO(out.read_bytes()))
    assert image.format == "JPEG" and image.size == (320, 180)
    assert not [p for p in out.parent.iterdir() if p.name != "still.jpg"]  # no temp left
    await server.close()


async def test_a_frame_past_the_end_and_a_bad_request_are_refused(server, tmp_path):
    settings = RenderSettings(resolution=(320, 180), frame_rate=30, duration=1.0)
    with pytest.raises(StillOutOfRange):
        await server.still(input_props=input_props(STATE, settings), frame=30,
                           output_path=tmp_path / "late.jpg")
    with pytest.raises(RenderRequestRejected, match="outputPath"):
        await server.still(input_props=input_props(STATE, settings), frame=0,
                           output_path=tmp_path / "still.png")
    assert not (tmp_path / "late.jpg").exists()
    await server.close()
