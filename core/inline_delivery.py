"""A finished job's video as bytes, for chat platforms that upload it inline (issue 17).

The chat bots (transports) ask here instead of reading job rows themselves: where the video
is stored (renderbot's storage or the creator's own bucket, under the same network policy
as downloads), whether it is still there (the retention sweep), and whether it fits the
caller's byte cap — checked from the stored size before anything is read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from core.downloads import filename_for
from core.models import RenderJob
from core.storage.destinations import delivery_storage

log = logging.getLogger("renderbot.inline_delivery")

CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "gif": "image/gif"}


@dataclass(frozen=True)
class Video:
    filename: str  # "<project name>-<job id tail>.<ext>", as downloads name it
    data: bytes
    content_type: str


async def video(rt, *, job_id: str, title: str | None, max_bytes: int) -> Video | None:
    """The completed job's video when it is at most ``max_bytes``; None when it is larger,
    not (or no longer) stored, or its storage may not be used now."""
    if max_bytes <= 0:
        return None
    async with rt.db.read() as s:
        row = (await s.execute(
            select(RenderJob.status, RenderJob.output_key, RenderJob.output_bucket,
                   RenderJob.destination_id, RenderJob.output_expired_at)
            .where(RenderJob.id == job_id))).first()
    if row is None or row.status != "completed" or not row.output_key \
            or row.output_expired_at is not None:
        return None
    storage, why = await delivery_storage(rt, row.destination_id)
    if why is not None:
        log.info("no inline video for %s: %s", job_id, why, extra={"job_id": job_id})
        return None
    size = await storage.size(key=row.output_key, bucket=row.output_bucket)
    if size is None or size <= 0 or size > max_bytes:
        log.info("no inline video for %s: %s bytes (cap %d)", job_id, size, max_bytes,
                 extra={"job_id": job_id})
        return None
    data = await storage.get_bytes(key=row.output_key, bucket=row.output_bucket)
    if len(data) > max_bytes:
        return None
    ext = row.output_key.rpartition(".")[2] or "mp4"
    return Video(filename_for(title, job_id, ext), data,
                 CONTENT_TYPES.get(ext, "application/octet-stream"))
