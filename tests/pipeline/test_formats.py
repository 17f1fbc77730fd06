"""Formats (issue 18) through the whole flow on the embedded default: a real tiny render
in each format, probed with Remotion's ffprobe."""

from __future__ import annotations

import pytest

from core import credits
from tests.fixtures.pipeline import TINY, wait_for
from tests.pipeline.test_local_pipeline import _submit, probe, video_stream


@pytest.mark.parametrize(
    ("fmt", "codec", "audio"),
    [("webm", "vp9", "opus"), ("gif", "gif", None)],
)
async def test_each_format_renders_the_codec_size_and_frame_count(
    db, pipeline_settings, factory, worker, fmt, codec, audio
):
    account = await factory.account(credits_=10)
    project = await factory.project(account, name="Formats")
    job = await _submit(db, pipeline_settings, account, project, {**TINY, "format": fmt})

    done = await wait_for(db, job.id)

    assert done.status == "completed", done.error
    assert done.settings.format == fmt
    path = worker.rt.storage.local_path(key=f"renders/{job.id}.{fmt}")
    info = probe(path)
    video = video_stream(info)
    assert video["codec_name"] == codec
    assert (video["width"], video["height"]) == (320, 180)
    assert int(video["nb_read_frames"]) == 30  # 1 s at 30 fps
    audios = [s["codec_name"] for s in info["streams"] if s["codec_type"] == "audio"]
    # the Visualizer is silent without an audioUrl: webm has Opus or no audio, a GIF none
    assert audios in ([], [audio]) if audio else audios == []
    if fmt == "webm":
        assert "webm" in info["format"]["format_name"]
    else:
        assert info["format"]["format_name"] == "gif"
    async with db.transaction() as s:
        statement = await credits.statement(session=s, account_id=account)
    assert [e.kind for e in statement.entries] == ["debit", "grant"]
