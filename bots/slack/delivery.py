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

from collections.abc import Awaitable, Callable

from core import inline_delivery
from core.downloads import filename_for
from core.schemas import JobRead
from core.settings import Settings

SLACK_FILE_LIMIT = 1_000_000_000  # Slack's documented maximum per uploaded file (1 GB)
Loader = Callable[[], Awaitable[bytes | None]]


def inline_cap(settings: Settings) -> int:
    """Bytes up to which a finished video is uploaded (0: never)."""
    return max(0, min(SLACK_FILE_LIMIT, settings.slack.inline_max_bytes))


def filename(job: JobRead) -> str:
    return filename_for((job.origin or {}).get("title"), job.id, job.settings.format or "mp4")


def video_loader(runtime, cap: int) -> Callable[[JobRead], Loader]:
    """``for_job(job)`` → an async loader of the job's video bytes from where it is stored
    (core.inline_delivery: renderbot's storage or the creator's own bucket, size checked
    before reading), or None when it is larger than ``cap``, gone or may not be read now
    (the link is posted instead)."""

    def for_job(job: JobRead) -> Loader:
        async def load() -> bytes | None:
            found = await inline_delivery.video(runtime, job_id=job.id,
                                                title=(job.origin or {}).get("title"),
                                                max_bytes=cap)
            return found.data if found is not None else None

        return load

    return for_job
