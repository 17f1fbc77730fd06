"""Counted download links: a job's ``result_url``.

``result_url`` is ``{public_base_url}/d/{job_id}?exp=<unix>&sig=<hex>``, signed with the
instance secret and valid for ``worker.link_expiry_seconds``. The API checks it
(:func:`check`), counts the download (:func:`record_download`: ``download_count`` + one
``download`` job event) and redirects to a fresh, short-lived storage link, so the owner's
link outlives short storage signatures (R2 presigned URLs) and "download-link usage" can
be measured.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.errors import JobNotFound, RenderbotError
from core.models import JobEvent, Project, RenderJob
from core.settings import Settings

LinkCheck = Literal["ok", "expired", "invalid"]


DOWNLOAD = b"renderbot download link v1"
POSTER = b"renderbot poster link v1"


def _key(secret: bytes, purpose: bytes = DOWNLOAD) -> bytes:
    # A key of its own per kind of link, so a signature is never valid for anything else.
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def sign(secret: bytes, job_id: str, exp: int, purpose: bytes = DOWNLOAD) -> str:
    message = f"{job_id}\n{int(exp)}".encode()
    return hmac.new(_key(secret, purpose), message, hashlib.sha256).hexdigest()


def result_url(
    settings: Settings, job_id: str, *, expires_in: int | None = None, now: float | None = None
) -> str:
    """The counted, signed link to a completed job's video."""
    lifetime = settings.worker.link_expiry_seconds if expires_in is None else int(expires_in)
    exp = int(time.time() if now is None else now) + lifetime
    query = urlencode({"exp": exp, "sig": sign(settings.secret_bytes(), job_id, exp)})
    return f"{settings.public_base_url.rstrip('/')}/d/{quote(job_id, safe='')}?{query}"


def poster_url(
    settings: Settings, job_id: str, *, expires_in: int | None = None, now: float | None = None
) -> str:
    """The signed link to a completed job's poster frame (``/p/{job_id}``, not counted)."""
    lifetime = settings.worker.link_expiry_seconds if expires_in is None else int(expires_in)
    exp = int(time.time() if now is None else now) + lifetime
    query = urlencode({"exp": exp, "sig": sign(settings.secret_bytes(), job_id, exp, POSTER)})
    return f"{settings.public_base_url.rstrip('/')}/p/{quote(job_id, safe='')}?{query}"


def check(secret: bytes, job_id: str, exp: str | int | None, sig: str | None,
          *, now: float | None = None, purpose: bytes = DOWNLOAD) -> LinkCheck:
    """``ok``, ``expired`` (a genuine link past its time) or ``invalid``."""
    try:
        exp_int = int(exp)  # type: ignore[arg-type]
        given = (sig or "").encode("ascii")
    except (TypeError, ValueError, UnicodeEncodeError):
        return "invalid"
    if not hmac.compare_digest(sign(secret, job_id, exp_int, purpose).encode(), given):
        return "invalid"
    if (time.time() if now is None else now) > exp_int:
        return "expired"
    return "ok"


def filename_for(project_name: str | None, job_id: str, ext: str = "mp4") -> str:
    safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in project_name or "").strip()
    return f"{safe or 'render'}-{job_id[-8:]}.{ext}"


class VideoExpired(RenderbotError):
    """The video was deleted by the retention sweep (the job record stays): 410."""

    code = "video_expired"
    http_status = 410

    def __init__(self, job_id: str) -> None:
        super().__init__(f"the video of render job {job_id} has expired and was deleted")
        self.job_id = job_id


@dataclass(frozen=True)
class Download:
    job_id: str
    key: str
    bucket: str | None
    filename: str
    count: int
    destination_id: str | None = None  # a creator's own bucket; None: the default storage


async def record_download(
    *, session: AsyncSession, job_id: str, detail: dict | None = None
) -> Download:
    """Count one download of a completed job's video and say where the video is.

    :class:`JobNotFound` for an unknown job or one without a video (not completed);
    :class:`VideoExpired` once the retention sweep deleted its video.
    """
    row = (
        await session.execute(
            update(RenderJob)
            .where(
                RenderJob.id == job_id,
                RenderJob.status == "completed",
                RenderJob.output_key.is_not(None),
                RenderJob.output_expired_at.is_(None),
            )
            .values(download_count=RenderJob.download_count + 1)
            .returning(
                RenderJob.download_count, RenderJob.output_key, RenderJob.output_bucket,
                RenderJob.project_id, RenderJob.destination_id,
            )
        )
    ).first()
    if row is None:
        expired = await session.scalar(
            select(RenderJob.output_expired_at).where(RenderJob.id == job_id)
        )
        if expired is not None:
            raise VideoExpired(job_id)
        raise JobNotFound(job_id)
    name = await session.scalar(select(Project.name).where(Project.id == row.project_id))
    session.add(
        JobEvent(
            job_id=job_id, at=utcnow(), kind="download",
            detail={"count": row.download_count, **(detail or {})},
        )
    )
    await session.flush()
    return Download(
        job_id=job_id, key=row.output_key, bucket=row.output_bucket,
        filename=filename_for(name, job_id, row.output_key.rpartition(".")[2] or "mp4"),
        count=row.download_count,
        destination_id=row.destination_id,
    )


@dataclass(frozen=True)
class Poster:
    job_id: str
    key: str
    bucket: str | None
    destination_id: str | None = None


async def poster_of(*, session: AsyncSession, job_id: str) -> Poster:
    """Where a completed job's poster is: :class:`JobNotFound` when it has none (not
    completed, or making it failed), :class:`VideoExpired` once retention deleted it."""
    row = (
        await session.execute(
            select(RenderJob.status, RenderJob.poster_key, RenderJob.output_bucket,
                   RenderJob.destination_id, RenderJob.output_expired_at)
            .where(RenderJob.id == job_id)
        )
    ).first()
    if row is None or row.status != "completed" or row.poster_key is None:
        raise JobNotFound(job_id)
    if row.output_expired_at is not None:
        raise VideoExpired(job_id)
    return Poster(job_id=job_id, key=row.poster_key, bucket=row.output_bucket,
                  destination_id=row.destination_id)
