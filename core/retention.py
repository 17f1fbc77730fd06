"""Retention of the default storage (issue 16): videos (and their posters) older than
``RENDERBOT_STORAGE__RETENTION_DAYS`` (default 30; 0 = forever) are deleted by a periodic
sweep in the workers (``jobs/worker.py``). The job record stays, with
``output_expired_at``; its link answers 410 (core/downloads.py). A creator's own bucket
(a job with a destination, or any bucket but the default storage's) is never swept.

Age is counted from when the job finished. Several workers may sweep at once: deleting
is idempotent and a job is marked once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from core.db import utcnow
from core.models import JobEvent, RenderJob
from core.storage.base import StorageError

log = logging.getLogger("renderbot.retention")
BATCH = 200


async def sweep(rt, *, now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete the default storage's videos past retention; how many were expired."""
    now = now or utcnow()
    await sweep_previews(rt, now=now)
    days = rt.settings.storage.retention_days
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    expired = 0
    while True:
        async with rt.db.transaction() as session:
            rows = (
                await session.execute(
                    select(RenderJob.id, RenderJob.output_key, RenderJob.poster_key)
                    .where(
                        RenderJob.status == "completed",
                        RenderJob.finished_at < cutoff,
                        RenderJob.output_key.is_not(None),
                        RenderJob.output_expired_at.is_(None),
                        RenderJob.destination_id.is_(None),  # a creator's bucket: never
                        RenderJob.output_bucket.is_(None),  # only the default storage's
                    )
                    .order_by(RenderJob.finished_at)
                    .limit(batch)
                )
            ).all()
        if not rows:
            return expired
        done = []
        for job_id, key, poster_key in rows:
            try:
                await rt.storage.delete(key=key)
                if poster_key is not None:  # the poster frame goes with its video
                    await rt.storage.delete(key=poster_key)
            except (StorageError, ValueError) as exc:
                log.warning("retention: the video of job %s could not be deleted: %s",
                            job_id, exc, extra={"job_id": job_id})
                continue
            done.append(job_id)
        if done:
            expired += await _mark(rt, done, now, days)
        if len(rows) < batch or not done:
            return expired


async def sweep_previews(rt, *, now: datetime | None = None) -> int:
    """Delete preview stills (``core/previews.py``, ``previews/``) older than
    ``RENDERBOT_STORAGE__PREVIEW_RETENTION_HOURS``; the next identical preview renders
    again. Never fails the sweep."""
    from core.previews import PREFIX

    before = (now or utcnow()) - timedelta(hours=rt.settings.storage.preview_retention_hours)
    try:
        deleted = await rt.storage.delete_older(prefix=PREFIX, before=before)
    except (StorageError, ValueError, AttributeError) as exc:
        log.warning("retention: old preview stills could not be deleted: %s", exc)
        return 0
    if deleted:
        log.info("retention: %d preview still(s) deleted", deleted)
    return deleted


async def _mark(rt, job_ids: list[str], now: datetime, days: int) -> int:
    async with rt.db.transaction() as session:
        result = await session.execute(
            update(RenderJob)
            .where(RenderJob.id.in_(job_ids), RenderJob.output_expired_at.is_(None))
            .values(output_expired_at=now)
            .returning(RenderJob.id)
        )
        marked = [r[0] for r in result.all()]
        for job_id in marked:
            session.add(JobEvent(job_id=job_id, at=now, kind="audit", actor="retention",
                                 detail={"action": "video_expired", "retention_days": days}))
    if marked:
        log.info("retention: %d video(s) older than %d days deleted", len(marked), days)
    return len(marked)
