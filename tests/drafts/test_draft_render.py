"""A real tiny draft render through the API and the local Remotion backend (issue 17):
the video is half the size asked for, 15 fps, and carries the DRAFT band in the top-left
corner (checked by its colour, no OCR); the same render in full has neither."""

from __future__ import annotations

import asyncio

from core.models import RenderJob
from core.render.local_server import find_ffmpeg
from tests.fixtures.pipeline import REMOTION_DIR, TINY, wait_for
from tests.pipeline.test_local_pipeline import probe, video_stream
from tests.render.helpers import decode_frame

# remotion/src/visualizer/draft.tsx: DRAFT_BAND = 40 % x 18 % of the frame, #ffd400, the
# text in the band's middle; its left end (left of the text) is the plain colour
BAND_RGB = (0xFF, 0xD4, 0x00)


def _band_end(rgb: bytes, width: int, height: int) -> tuple[float, float, float]:
    """Mean colour of the band's left end: x 2..6 % of the width, y 3..15 % of the height."""
    xs = range(max(1, round(width * 0.02)), round(width * 0.06) + 1)
    ys = range(max(1, round(height * 0.03)), round(height * 0.15))
    pixels = [rgb[(y * width + x) * 3:(y * width + x) * 3 + 3] for y in ys for x in xs]
    return tuple(sum(p[c] for p in pixels) / len(pixels) for c in range(3))


def _close(colour, target, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


async def _render(client, caller, db, worker, settings: dict) -> tuple[dict, object]:
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": settings})
    assert response.status_code == 202, response.text
    job = response.json()
    done = await wait_for(db, job["id"], within=180)
    assert done.status == "completed", done.error
    async with db.transaction() as s:
        key = (await s.get(RenderJob, job["id"])).output_key
    return job, worker.rt.storage.local_path(key=key)


async def test_a_draft_renders_half_size_at_15_fps_with_the_draft_band(
    client, api_caller, db, api_worker
):
    caller = await api_caller(credits_=10)
    asked = {**TINY, "quality": "high"}  # 320x180, 30 fps, 1 s
    (draft_job, draft_path), (full_job, full_path) = await asyncio.gather(
        _render(client, caller, db, api_worker, {**asked, "draft": True}),
        _render(client, caller, db, api_worker, asked),
    )
    assert draft_job["settings"]["draft"] is True and full_job["settings"]["draft"] is False
    assert draft_job["settings"]["resolution"] == [320, 180]

    draft_video = video_stream(probe(draft_path))
    assert (draft_video["width"], draft_video["height"]) == (160, 90)
    assert draft_video["r_frame_rate"] == "15/1" and int(draft_video["nb_read_frames"]) == 15
    full_video = video_stream(probe(full_path))
    assert (full_video["width"], full_video["height"]) == (320, 180)
    assert full_video["r_frame_rate"] == "30/1" and int(full_video["nb_read_frames"]) == 30

    ffmpeg = find_ffmpeg(REMOTION_DIR)
    for frame in (0, 14):  # the mark is there from the first frame to the last
        draft_rgb = decode_frame(ffmpeg, draft_path, frame)
        assert len(draft_rgb) == 160 * 90 * 3
        band = _band_end(draft_rgb, 160, 90)
        assert _close(band, BAND_RGB), band
    full_rgb = decode_frame(ffmpeg, full_path, 0)
    plain = _band_end(full_rgb, 320, 180)
    assert not _close(plain, BAND_RGB, tolerance=120), plain
    # the band is only in its corner: the bottom-right corner of the draft is not yellow
    bottom_right = _band_end(bytes(reversed(decode_frame(ffmpeg, draft_path, 0))), 160, 90)
    assert not _close(bottom_right[::-1], BAND_RGB, tolerance=120), bottom_right
