"""Each Visualizer effect visibly changes the rendered image."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.render.helpers import decode_frame, props

W, H = 320, 180
FRAMES = 10  # the title has faded in by the last frame
LAST = FRAMES - 1


async def _frame(server, ffmpeg: Path, out: Path, effects: list[str]) -> bytes:
    render_id = f"test-fx-{'-'.join(effects) or 'none'}-{uuid.uuid4().hex[:8]}"
    await server.submit(
        render_id=render_id,
        input_props=props(effects=effects, durationInFrames=FRAMES, width=W, height=H),
        output_path=out, crf=12, x264_preset="veryfast", audio_bitrate=None,
    )
    status = await server.wait(render_id, max_wait=240)
    assert status.state == "done", status.error_message
    data = decode_frame(ffmpeg, out, LAST)
    assert len(data) == W * H * 3
    return data


def _luma(rgb: bytes) -> list[float]:
    return [
        0.2126 * rgb[i] + 0.7152 * rgb[i + 1] + 0.0722 * rgb[i + 2]
        for i in range(0, len(rgb), 3)
    ]


def _mean_abs_diff(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def _region_mean(luma: list[float], x0: int, y0: int, x1: int, y1: int) -> float:
    values = [luma[y * W + x] for y in range(y0, y1) for x in range(x0, x1)]
    return sum(values) / len(values)


def _corners_mean(luma: list[float]) -> float:
    s = 24
    return sum(
        _region_mean(luma, x, y, x + s, y + s)
        for x, y in ((0, 0), (W - s, 0), (0, H - s), (W - s, H - s))
    ) / 4


def _vertical_detail(luma: list[float]) -> float:
    """Mean |row - next row|: scanlines add strong line-to-line alternation."""
    total = 0.0
    for y in range(H - 1):
        for x in range(W):
            total += abs(luma[y * W + x] - luma[(y + 1) * W + x])
    return total / ((H - 1) * W)


def _horizontal_detail(luma: list[float], y0: int = 0, y1: int = 14) -> float:
    """Mean |pixel - right neighbour| in the band above the title: grain adds noise."""
    total = 0.0
    for y in range(y0, y1):
        for x in range(W - 1):
            total += abs(luma[y * W + x] - luma[y * W + x + 1])
    return total / ((y1 - y0) * (W - 1))


_baseline_cache: dict[str, bytes] = {}


@pytest.fixture
async def baseline(render_server, ffmpeg, tmp_path) -> bytes:
    """The same frame with no effects (rendering is deterministic: made once per session)."""
    if "frame" not in _baseline_cache:
        _baseline_cache["frame"] = await _frame(render_server, ffmpeg, tmp_path / "none.mp4", [])
    return _baseline_cache["frame"]


@pytest.mark.asyncio
async def test_vignette_darkens_the_corners(render_server, ffmpeg, tmp_path, baseline):
    frame = await _frame(render_server, ffmpeg, tmp_path / "vignette.mp4", ["vignette"])
    assert _mean_abs_diff(frame, baseline) > 1.0
    base, fx = _luma(baseline), _luma(frame)
    assert _corners_mean(fx) < _corners_mean(base) * 0.7
    # the centre is left (nearly) alone
    centre = (W // 2 - 20, H // 2 - 20, W // 2 + 20, H // 2 + 20)
    assert abs(_region_mean(fx, *centre) - _region_mean(base, *centre)) < 12


@pytest.mark.asyncio
async def test_scanlines_add_line_structure(render_server, ffmpeg, tmp_path, baseline):
    frame = await _frame(render_server, ffmpeg, tmp_path / "scan.mp4", ["scanlines"])
    assert _mean_abs_diff(frame, baseline) > 1.0
    assert _vertical_detail(_luma(frame)) > _vertical_detail(_luma(baseline)) * 1.5


@pytest.mark.asyncio
async def test_grain_adds_noise(render_server, ffmpeg, tmp_path, baseline):
    frame = await _frame(render_server, ffmpeg, tmp_path / "grain.mp4", ["grain"])
    assert _mean_abs_diff(frame, baseline) > 1.0
    assert _horizontal_detail(_luma(frame)) > _horizontal_detail(_luma(baseline)) * 1.5


@pytest.mark.asyncio
async def test_glow_brightens_around_bars_and_title(render_server, ffmpeg, tmp_path, baseline):
    frame = await _frame(render_server, ffmpeg, tmp_path / "glow.mp4", ["glow"])
    assert _mean_abs_diff(frame, baseline) > 1.0
    assert sum(_luma(frame)) > sum(_luma(baseline)) * 1.05
