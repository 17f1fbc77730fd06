"""How a pipeline step ends (core/pipeline.py, core/delivery.py): the :class:`Next` step,
retries after a failed attempt or poll, the final failure or cancel (refunded once by
core.renders) and the notification of each change."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from core import job_errors, renders
from core.backends.base import HostBound, RenderError
from core.notify import JobChange
from core.runtime import Runtime
from core.schemas import JobRead
from core.storage.base import StorageError

log = logging.getLogger("renderbot.pipeline")
MAX_POLL_ERRORS = 10


@dataclass(frozen=True)
class Next:
    action: Literal["none", "start", "poll"]
    job_id: str = ""
    attempt: int = 0  # start: the attempt that is over; poll: the attempt to poll
    delay: float = 0.0
    host: str | None = None  # poll: the worker whose render server has the render

    @classmethod
    def done(cls) -> Next:
        return cls("none")


def poll_step(rt: Runtime, job_id: str, attempt: int, delay: float) -> Next:
    host = rt.backend.host if isinstance(rt.backend, HostBound) else None
    return Next("poll", job_id, attempt, delay, host=host)


def retry_delay(rt: Runtime, attempt: int) -> float:
    w = rt.settings.worker
    return min(w.retry_max_delay, w.retry_base_delay * 2 ** max(0, attempt - 1))


async def notify(rt: Runtime, job_id: str, change: JobChange, job: JobRead | None = None) -> None:
    """Tell the notifiers about a committed change; ``job`` is the job as that change's
    transaction left it (read before its commit), else it is read again here."""
    if job is None:
        async with rt.db.transaction() as session:
            job = await renders.get(session=session, account_id=None, job_id=job_id)
    await rt.notifiers.job_changed(job, change)


async def poll_error(
    rt: Runtime, job_id: str, attempt: int, message: str, retryable: bool,
    kind: str | None = None,
) -> Next:
    """A poll or upload failed: poll again later, up to MAX_POLL_ERRORS times in a row."""
    w = rt.settings.worker
    if not retryable:
        return await attempt_failed(rt, job_id, attempt, message, False, kind)
    async with rt.db.transaction() as session:
        job = await renders.claim(session=session, job_id=job_id, lease_seconds=w.lease_seconds)
        if job is None or job.attempts != attempt:
            return Next.done()
        errors = int(job.backend_info.get("poll_errors", 0)) + 1
        job.backend_info = {**job.backend_info, "poll_errors": errors}
    log.warning("job %s poll error %s/%s: %s", job_id, errors, MAX_POLL_ERRORS, message,
                extra={"job_id": job_id, "account_id": job.account_id})
    if errors >= MAX_POLL_ERRORS:
        return await attempt_failed(rt, job_id, attempt, message, True, kind)
    return poll_step(rt, job_id, attempt, retry_delay(rt, errors))


async def attempt_failed(
    rt: Runtime, job_id: str, attempt: int, message: str, retryable: bool,
    kind: str | None = None,
) -> Next:
    """``message`` is the full detail (admins, log); the job's ``error`` is what
    ``core.job_errors`` makes of ``kind`` (or, without a kind, the message cleaned)."""
    w = rt.settings.worker
    if kind is not None:
        text, detail = job_errors.user_error(kind, message)
    else:
        text, detail = job_errors.one_line(message), message
    async with rt.db.transaction() as session:
        job = await renders.claim(session=session, job_id=job_id, lease_seconds=w.lease_seconds)
        if job is None or job.attempts != attempt:
            return Next.done()
        job.error_detail = detail
        if retryable and job.attempts < w.max_attempts and not job.cancel_requested:
            delay = retry_delay(rt, job.attempts)
            await renders.note_error(
                session=session, job=job, error=text, retryable=True, retry_in=delay
            )
            retry = True
        else:
            retry = False
            if job.cancel_requested:
                await renders.mark_cancelled(session=session, job=job)
            elif kind is not None:
                error = job_errors.final_text(text, attempts=job.attempts if retryable else None)
                await renders.fail(session=session, job=job, error=error)
            else:
                error = text if not retryable else attempts_message(job.attempts, text)
                await renders.fail(session=session, job=job, error=error)
    if retry:
        log.warning("job %s attempt %s failed, retrying in %.0f s: %s", job_id, attempt, delay,
                    message, extra={"job_id": job_id, "account_id": job.account_id})
        return Next("start", job_id, attempt, delay)
    log.warning("job %s %s after attempt %s: %s", job_id, job.status, attempt, message,
                extra={"job_id": job_id, "account_id": job.account_id})
    await notify(rt, job_id, "cancelled" if job.status == "cancelled" else "failed")
    return Next.done()


def attempts_message(attempts: int, message: str) -> str:
    return f"gave up after {attempts} attempts: {message}"


async def end(rt: Runtime, job_id: str, attempt: int, state: Literal["cancelled"]) -> Next:
    async with rt.db.transaction() as session:
        job = await renders.claim(
            session=session, job_id=job_id, lease_seconds=rt.settings.worker.lease_seconds
        )
        if job is None or job.attempts != attempt:
            return Next.done()
        await renders.mark_cancelled(session=session, job=job)
    await notify(rt, job_id, state)
    return Next.done()


def describe(exc: Exception) -> tuple[str, bool, str | None]:
    if isinstance(exc, RenderError):
        return str(exc), exc.retryable, exc.kind
    if isinstance(exc, StorageError):
        return str(exc), exc.retryable, "storage"
    log.warning("render backend error", exc_info=exc)
    return f"the renderer could not be reached ({type(exc).__name__}: {exc})", True, "browser"


async def quietly(awaitable) -> None:
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - best effort (the render may be gone already)
        log.info("ignored error while stopping a render", exc_info=True)
