"""The local render server's output, with real renders: the video format, progress,
aspect ratios, audio; and the quality → encoding mapping."""

from __future__ import annotations

import asyncio
import threading
import time
import wave
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.render.encoding import QUALITY_ENCODING, encoding_for
from tests.render.helpers import decode_frame, probe, props, top_level_atoms
from tests.render.local_render import FAST, render, rid


def _video(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


# ---------------------------------------------------------------- output format


@pytest.mark.asyncio
async def test_tiny_render_is_h264_yuv420p_faststart_with_exact_frames(
    render_server, tmp_path, ffprobe
):
    out = tmp_path / "tiny.mp4"
    status = await render(render_server, out)

    assert status.state == "done", status.error_message
    assert status.output_path == out and out.is_file()
    assert status.progress == 1.0 and status.frames_rendered == status.total_frames == 30
    info = probe(ffprobe, out)
    video = _video(info)
    assert video["codec_name"] == "h264"
    assert (video["width"], video["height"]) == (320, 180)
    assert video["pix_fmt"] == "yuv420p"
    assert video["r_frame_rate"] == "30/1"
    assert int(video["nb_read_frames"]) == 30
    assert not [s for s in info["streams"] if s["codec_type"] == "audio"]
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # +faststart
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.asyncio
async def test_progress_rises_while_rendering(render_server, tmp_path):
    render_id = rid("progress")
    await render_server.submit(
        render_id=render_id, input_props=props(durationInFrames=60),
        output_path=tmp_path / "p.mp4", **FAST,
    )
    seen: list[float] = []
    states: set[str] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = await render_server.status(render_id)
        assert status is not None
        states.add(status.state)
        if status.state == "rendering":
            seen.append(status.progress)
            assert status.queue_position == 0
            assert status.total_frames in (0, 60)
        if status.terminal:
            break
        await asyncio.sleep(0.1)
    assert status.state == "done", status.error_message
    assert "rendering" in states
    assert seen == sorted(seen), "progress never goes backwards"
    assert len({p for p in seen if 0 < p < 1}) >= 3, seen
    assert status.progress == 1.0


@pytest.mark.asyncio
@pytest.mark.parametrize(("width", "height"), [(180, 320), (240, 240)], ids=["9x16", "1x1"])
async def test_portrait_and_square_render(render_server, tmp_path, ffprobe, width, height):
    out = tmp_path / f"{width}x{height}.mp4"
    status = await render(render_server, out, width=width, height=height, effects=["glow"])
    assert status.state == "done", status.error_message
    video = _video(probe(ffprobe, out))
    assert (video["width"], video["height"]) == (width, height)
    assert int(video["nb_read_frames"]) == 30


class _CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


def _write_tone(path: Path, seconds: float = 2.0, rate: int = 44100) -> None:
    import math

    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        beat = 0.5 + 0.5 * math.sin(2 * math.pi * 2 * t)
        v = beat * (0.5 * math.sin(2 * math.pi * 110 * t) + 0.3 * math.sin(2 * math.pi * 880 * t))
        frames += int(v * 20000).to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


@pytest.mark.asyncio
async def test_audio_url_drives_bars_and_is_muxed_as_aac(
    render_server, tmp_path, ffprobe, ffmpeg
):
    media = tmp_path / "media"
    media.mkdir()
    _write_tone(media / "tone.wav")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_CorsHandler, directory=str(media)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/tone.wav"
        out = tmp_path / "audio.mp4"
        render_id = rid("audio")
        await render_server.submit(
            render_id=render_id, input_props=props(audioUrl=url), output_path=out,
            crf=23, x264_preset="veryfast", audio_bitrate="128k",
        )
        status = await render_server.wait(render_id, max_wait=240)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status.state == "done", status.error_message
    info = probe(ffprobe, out)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac"
    assert int(_video(info)["nb_read_frames"]) == 30
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms
    # the bars follow the audio, not the procedural animation
    procedural = await render(render_server, tmp_path / "procedural.mp4")
    assert procedural.state == "done"
    with_audio = decode_frame(ffmpeg, out, 20)
    without = decode_frame(ffmpeg, tmp_path / "procedural.mp4", 20)
    assert sum(abs(a - b) for a, b in zip(with_audio, without, strict=True)) / len(without) > 1.0


# ---------------------------------------------------------------- quality mapping


def test_quality_mapping_is_ordered_and_complete():
    assert set(QUALITY_ENCODING) == {"high", "medium", "low"}
    high, medium, low = (encoding_for(q) for q in ("high", "medium", "low"))
    assert high.crf < medium.crf < low.crf
    kbps = [int(e.audio_bitrate.rstrip("k")) for e in (high, medium, low)]
    assert kbps == sorted(kbps, reverse=True)
    assert {e.x264_preset for e in (high, medium, low)} <= {
        "medium", "fast", "faster", "veryfast", "superfast", "ultrafast"
    }
    with pytest.raises(ValueError, match="high, medium, low"):
        encoding_for("ultra")
