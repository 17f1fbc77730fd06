"""A JPEG poster frame beside every completed render's video (issue 17).

The poster is stored at ``<prefix>/renders/<job>.jpg``, next to ``<job>.<ext>`` in the same
storage and bucket (a creator's own bucket too), before the job is completed; its link
(``poster_url``, :func:`core.downloads.poster_url`) lives on the job like ``result_url``.

The frame is the representative one previews show by default: one third of the way in.
Where it comes from:

- a video this worker has as a local file (the local backend): that frame is cut from the
  finished video with Remotion's bundled ffmpeg — exactly what was delivered (audio-driven
  visuals, the DRAFT mark, the encoder's colours) at the video's size, no browser needed;
- a video the backend wrote straight to storage (Remotion Lambda): the frame is rendered
  with ``renderStill`` on a worker's local render server (``core/render/stills.py``), at
  the render's size and props (its soundtrack left out). Remotion's ffmpeg cannot read
  https links, and downloading a whole video for one frame would cost more than the still.
  A worker that delivers renders it itself; when the Lambda completion webhook delivers
  in an API process (which never renders), the API's runtime carries ``still_request``
  (``jobs.still_requests``): a worker renders it from the ``previews`` queue into the
  job's storage and the API waits for it (``RENDERBOT_LIMITS__PREVIEW_WAIT_SECONDS``);
- the instant test backend (placeholder videos): a placeholder JPEG.

Making a poster never fails a render: any error is logged and the job completes with
``poster_url`` null.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.render.local_server import binaries_env, find_ffmpeg
from core.render_settings import RenderSettings

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("renderbot.posters")
FFMPEG_SECONDS = 60.0
# Remotion's webhook call aborts after 10 s (serverless/invoke-webhook.js); answer before
WEBHOOK_POSTER_WAIT = 6.0
# 16x9 dark grey: the instant backend's poster (its videos are placeholder bytes too)
PLACEHOLDER_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX"
    "RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAJABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAEC"
    "AwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkK"
    "FhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKj"
    "pKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEB"
    "AQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMz"
    "UvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImK"
    "kpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMB"
    "AAIRAxEAPwDk6KKKoD//2Q=="
)


class PosterError(Exception):
    """Why no poster was made (logged; the render completes without one)."""


def poster_key(video_key: str) -> str:
    """``<prefix>/renders/<job>.mp4`` → ``<prefix>/renders/<job>.jpg``."""
    stem, dot, _ = video_key.rpartition(".")
    return f"{stem if dot else video_key}.jpg"


def poster_frame(settings: RenderSettings) -> int:
    """The representative frame (one third in) of the rendered settings."""
    return settings.frame_count // 3


async def make(
    rt: Runtime, *, job_id: str, video_key: str, bucket: str | None, storage: Any,
    settings: RenderSettings, composition: str, props: dict[str, Any],
    video_path: Path | None, destination_id: str | None = None,
) -> str | None:
    """Store the job's poster beside its video; its key, or None (logged) on any failure.

    ``settings`` are the rendered ones (a draft's smaller size), ``props`` the render's
    input props, ``video_path`` the finished video when it is a local file."""
    key = poster_key(video_key)
    remote = getattr(rt, "still_request", None)
    try:
        if video_path is None and remote is not None and rt.settings.render_backend != "instant":
            await _by_a_worker(rt, remote, storage, key=key, bucket=bucket, spec={
                "key": key, "bucket": bucket, "destination_id": destination_id,
                "job_id": job_id,
                "composition": composition, "input_props": props,
                "frame": poster_frame(settings)})
            return key
        jpeg = await _jpeg(rt, settings=settings, composition=composition, props=props,
                           video_path=video_path)
        await storage.put_bytes(key=key, data=jpeg, content_type="image/jpeg", bucket=bucket)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a poster never fails the render
        log.warning("job %s: no poster (%s: %s)", job_id, type(exc).__name__, exc,
                    extra={"job_id": job_id})
        return None
    return key


async def _by_a_worker(rt: Runtime, request, storage: Any, *, key: str, bucket: str | None,
                       spec: dict[str, Any]) -> None:
    """Ask a worker for the still (``core.previews.fulfil`` stores it) and wait for it.

    This runs inside the Lambda completion webhook, whose caller (Remotion) gives up after
    10 s and sends again, so the wait is at most ``WEBHOOK_POSTER_WAIT``; a still that
    lands later is attached to the completed job by the worker (``renders.attach_poster``).
    """
    request(spec)
    wait = min(rt.settings.limits.preview_wait_seconds, WEBHOOK_POSTER_WAIT)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if await storage.exists(key=key, bucket=bucket):
            return
    raise PosterError("no worker stored the poster still in time")


async def _jpeg(rt: Runtime, *, settings: RenderSettings, composition: str,
                props: dict[str, Any], video_path: Path | None) -> bytes:
    if rt.settings.render_backend == "instant":
        return PLACEHOLDER_JPEG
    frame = poster_frame(settings)
    if video_path is not None:
        return await frame_from_video(rt.settings.remotion_dir, video_path,
                                      seconds=frame / settings.frame_rate)
    from core.render.stills import render_still

    still = await render_still(rt, composition=composition, input_props=props, frame=frame)
    return still.jpeg


async def frame_from_video(remotion_dir: Path, video: Path, *, seconds: float) -> bytes:
    """One frame of ``video`` at ``seconds`` as a JPEG (Remotion's bundled ffmpeg)."""
    ffmpeg = find_ffmpeg(remotion_dir)
    with tempfile.TemporaryDirectory(prefix="renderbot-poster-") as tmp:
        out = Path(tmp) / "poster.jpg"
        proc = await asyncio.create_subprocess_exec(
            str(ffmpeg), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-ss", f"{max(0.0, seconds):.3f}", "-i", str(video),
            "-frames:v", "1", "-q:v", "3", "-pix_fmt", "yuvj420p", "-f", "image2",
            "-y", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env=binaries_env(ffmpeg),
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), FFMPEG_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PosterError(f"ffmpeg took longer than {FFMPEG_SECONDS:g} s") from None
        data = await asyncio.to_thread(_read_if_any, out)
        if proc.returncode != 0 or not data:
            tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no frame"]
            raise PosterError(f"ffmpeg exited {proc.returncode}: {tail[0][:300]}")
        return data


def _read_if_any(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""
