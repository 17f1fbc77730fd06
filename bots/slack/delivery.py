"""Inline delivery on Slack: a finished video small enough is uploaded into its status
message's thread (files.uploadV2) so it plays in Slack; else the thread gets the link.

The cap is the smaller of Slack's documented file limit (1 GB per file; Slack has no API
to read a workspace's own, lower restriction — a workspace that restricts large uploads
answers ``file_upload_size_restricted`` and we post the link) and
``RENDERBOT_SLACK__INLINE_MAX_BYTES`` (default 50 MB: the upload goes through a worker's
memory and Slack's upload service, and a long video is better streamed from the link).
The upload goes through the workers' paced sender (:meth:`bots.slack.sender.SlackSender.upload`,
its own per-workspace budget); a failed upload posts the link instead, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from core.downloads import filename_for
from core.models import RenderJob
from core.schemas import JobRead
from core.settings import Settings
from core.storage import destinations

log = logging.getLogger("renderbot.slack.delivery")

SLACK_FILE_LIMIT = 1_000_000_000  # Slack's documented maximum per uploaded file (1 GB)
Loader = Callable[[], Awaitable[bytes | None]]


def inline_cap(settings: Settings) -> int:
    """Bytes up to which a finished video is uploaded (0: never)."""
    return max(0, min(SLACK_FILE_LIMIT, settings.slack.inline_max_bytes))


def filename(job: JobRead) -> str:
    return filename_for((job.origin or {}).get("title"), job.id, job.settings.format or "mp4")


def video_loader(runtime, cap: int) -> Callable[[JobRead], Loader]:
    """``for_job(job)`` → an async loader of the job's video bytes from where it is stored
    (renderbot's storage or the creator's own bucket), or None when it is larger than
    ``cap``, gone or unreadable (the link is posted instead)."""

    def for_job(job: JobRead) -> Loader:
        async def load() -> bytes | None:
            async with runtime.db.transaction() as s:
                row = (await s.execute(
                    select(RenderJob.output_key, RenderJob.output_bucket,
                           RenderJob.destination_id, RenderJob.output_expired_at)
                    .where(RenderJob.id == job.id))).first()
            if row is None or row.output_key is None or row.output_expired_at is not None:
                return None
            storage, refused = await destinations.delivery_storage(runtime, row.destination_id)
            if refused:
                log.info("not uploading job %s to Slack: %s", job.id, refused)
                return None
            size = await storage.size(key=row.output_key, bucket=row.output_bucket)
            if size is None or size <= 0 or size > cap:
                log.info("not uploading job %s to Slack: %s bytes (cap %d)", job.id, size, cap,
                         extra={"job_id": job.id})
                return None
            return await storage.get_bytes(key=row.output_key, bucket=row.output_bucket)

        return load

    return for_job
