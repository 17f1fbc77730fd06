"""The delivery step of the pipeline: a finished render's video (and its poster) goes to
the job's storage and the job completes; a cancel that arrives meanwhile wins."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from core import downloads, posters, renders
from core.attempt_outcomes import Next, attempt_failed, end, notify, poll_error, quietly
from core.backends.base import RenderStatus, input_props
from core.models import RenderJob
from core.render_settings import FORMATS, RenderSettings
from core.runtime import Runtime
from core.storage import destinations
from core.storage.base import StorageError

log = logging.getLogger("renderbot.pipeline")

def _content_type(key: str) -> str:
    """The stored file's type from its extension (``object_key`` gives the format's)."""
    ext = key.rpartition(".")[2]
    return next((f.content_type for f in FORMATS.values() if f.ext == ext), "video/mp4")


@dataclass(frozen=True)
class Claimed:
    """What delivery reads of a job it claimed: the poll that saw the render end has
    just claimed it (lease renewed, attempt checked), so the delivery goes on from that
    instead of claiming it once more."""

    output_key: str | None
    output_bucket: str | None
    cancel_requested: bool
    destination_id: str | None
    settings: dict
    project_state: dict

    @classmethod
    def of(cls, job: RenderJob) -> Claimed:
        return cls(job.output_key, job.output_bucket, job.cancel_requested,
                   job.destination_id, job.settings, job.project_state)

    @classmethod
    def of_row(cls, row: dict) -> Claimed:
        """From the columns ``renders.claim_attempt`` returns."""
        return cls(row["output_key"], row["output_bucket"], row["cancel_requested"],
                   row["destination_id"], row["settings"], row["project_state"])


async def deliver(rt: Runtime, job_id: str, attempt: int, status: RenderStatus,
                  claimed: Claimed | None = None) -> Next:
    """Put the output in storage (unless the backend wrote it there) and complete the job.

    ``claimed``: the job as the caller's claim of ``attempt`` read it, else it is claimed
    here. A cancel that arrives before the job is marked completed wins, even during the
    upload: the job ends cancelled (refunded once) and the stored video is deleted."""
    w = rt.settings.worker
    if claimed is None:
        async with rt.db.transaction() as session:
            job = await renders.claim(session=session, job_id=job_id,
                                      lease_seconds=w.lease_seconds)
            if job is None or job.attempts != attempt:
                return Next.done()
            claimed = Claimed.of(job)
    key = status.output_key or claimed.output_key
    bucket = status.output_bucket or claimed.output_bucket
    cancelled = claimed.cancel_requested
    destination_id = claimed.destination_id
    look = _poster_source(claimed)
    # the job's own storage: the creator's bucket it records, or the default one
    storage, refused = await destinations.delivery_storage(rt, destination_id)
    if cancelled:
        return await cancel_delivery(rt, job_id, attempt, status, key, bucket, stored=False,
                                      storage=storage)
    if refused:
        return await attempt_failed(rt, job_id, attempt, refused, False, "destination")
    size = status.output_size
    try:
        if status.output_path is not None:
            # the upload and the poster frame (ffmpeg reads the same local file) at once
            stored, poster = await asyncio.gather(
                storage.put_file(key=key, path=status.output_path, bucket=bucket,
                                 content_type=_content_type(key)),
                _poster(rt, job_id, key, bucket, storage, look, status.output_path,
                        destination_id),
                return_exceptions=True,
            )
            if isinstance(stored, BaseException):  # no video: no poster beside it either
                if isinstance(poster, str):
                    await quietly(storage.delete(key=poster, bucket=bucket))
                raise stored
            if isinstance(poster, BaseException):  # only a cancel: make() logs the rest
                raise poster
            size = stored.size
            status.output_path.unlink(missing_ok=True)
        else:  # the backend wrote the video to storage itself (Lambda)
            poster = await _poster(rt, job_id, key, bucket, storage, look, None, destination_id)
    except StorageError as exc:
        own = storage is not rt.storage  # the creator's bucket: a refusal is theirs to fix
        if own and not exc.retryable and status.output_path is not None:
            status.output_path.unlink(missing_ok=True)
        return await poll_error(rt, job_id, attempt, f"storing the video failed: {exc}",
                                 exc.retryable, "destination" if own else "storage")
    # The counted app link (core/downloads.py): it outlives short storage signatures.
    url = downloads.result_url(rt.settings, job_id)
    async with rt.db.transaction() as session:
        job = await renders.claim(session=session, job_id=job_id, lease_seconds=w.lease_seconds)
        if job is None or job.attempts != attempt:
            return Next.done()
        cancelled = job.cancel_requested
        if not cancelled:
            read = await renders.complete(
                session=session, job=job, output_key=key, output_bucket=bucket,
                output_size=size, result_url=url, cost_reported=status.cost,
                poster_key=poster,
                poster_url=downloads.poster_url(rt.settings, job_id) if poster else None,
            )
    if cancelled:  # asked for while the video was uploading
        return await cancel_delivery(rt, job_id, attempt, status, key, bucket, stored=True,
                                      storage=storage)
    log.info("job %s completed", job_id, extra={"job_id": job_id, "account_id": job.account_id})
    if poster is None and await _late_poster(rt, job_id, key, bucket, storage):
        read = None  # it changed after the commit: the notifiers get it as it is now
    await notify(rt, job_id, "completed", read)
    return Next.done()


def _poster_source(job: Claimed) -> tuple[RenderSettings, str, dict]:
    """What a poster of ``job`` is made from: the rendered settings, composition, props."""
    rendered = RenderSettings.from_stored(job.settings).rendered()  # a draft: smaller
    return (rendered, job.project_state.get("composition", "Visualizer"),
            input_props(job.project_state, rendered))


async def _poster(rt: Runtime, job_id: str, key: str, bucket: str | None, storage,
                  look: tuple[RenderSettings, str, dict], video_path,
                  destination_id: str | None) -> str | None:
    """The poster beside the video (core/posters.py); None when it could not be made."""
    settings, composition, props = look
    return await posters.make(rt, job_id=job_id, video_key=key, bucket=bucket,
                              storage=storage, settings=settings, composition=composition,
                              props=props, video_path=video_path,
                              destination_id=destination_id)


async def _late_poster(rt: Runtime, job_id: str, key: str, bucket: str | None,
                       storage) -> bool:
    """Attach a poster a worker stored while this job's completion was being committed.

    When the Lambda webhook stops waiting for a worker's still, the worker attaches it
    later (``renders.attach_poster``, completed jobs only). A still stored after the
    webhook's last look but attached before the completion commit would be lost; looking
    once more after the commit closes that gap (both attaches are the same conditional
    UPDATE). True when it attached one."""
    poster = posters.poster_key(key)
    try:
        if not await storage.exists(key=poster, bucket=bucket):
            return False
        async with rt.db.transaction() as session:
            return await renders.attach_poster(
                session=session, job_id=job_id, poster_key=poster,
                poster_url=downloads.poster_url(rt.settings, job_id))
    except Exception as exc:  # noqa: BLE001 - the job is completed; a poster is extra
        log.warning("job %s: no late poster (%s: %s)", job_id, type(exc).__name__, exc,
                    extra={"job_id": job_id})
        return False


async def cancel_delivery(
    rt: Runtime, job_id: str, attempt: int, status: RenderStatus, key: str,
    bucket: str | None, *, stored: bool, storage=None,
) -> Next:
    """The job was cancelled while its video was being delivered: no video stays behind."""
    if status.output_path is not None:
        status.output_path.unlink(missing_ok=True)
    if stored or status.output_key:
        await quietly((storage or rt.storage).delete(key=key, bucket=bucket))
        # its poster too (stored beside the video before the job would have completed)
        await quietly((storage or rt.storage).delete(key=posters.poster_key(key),
                                                      bucket=bucket))
    log.info("job %s cancelled during delivery; its video was deleted", job_id,
             extra={"job_id": job_id})
    return await end(rt, job_id, attempt, "cancelled")
