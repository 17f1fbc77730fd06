"""The notifier port: told about every state and progress change of a job.

Workers call :meth:`Notifier.job_changed` after the change is committed. Adapters (log,
chat messages, HTTP callbacks) plug in through the composition root; a failing adapter is
logged and never breaks the render.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal, Protocol

from core.schemas import JobRead

JobChange = Literal["queued", "processing", "progress", "completed", "failed", "cancelled"]
log = logging.getLogger("renderbot.jobs")


_STATE_ORDER = {"queued": 0, "processing": 1, "completed": 2, "failed": 2, "cancelled": 2}


def state_rank(job: JobRead) -> tuple:
    """Orders the snapshots of one job, so a late, older one never replaces a newer one
    (chat senders coalesce by it): state, then progress, cancel requested, queue position."""
    terminal = job.status in ("completed", "failed", "cancelled")
    return (
        _STATE_ORDER.get(job.status, 0),
        100 if terminal else job.progress,
        int(job.cancel_requested),
        -(job.queue_position or 0),
    )


class Notifier(Protocol):
    async def job_changed(self, job: JobRead, change: JobChange) -> None: ...


class LogNotifier:
    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        extra = {"job_id": job.id, "account_id": job.account_id}
        if change == "progress":
            log.debug("job %s progress %s%%", job.id, job.progress, extra=extra)
        elif change == "failed":
            log.warning("job %s failed: %s", job.id, job.error, extra=extra)
        else:
            log.info("job %s %s", job.id, change, extra=extra)


class Notifiers:
    """Fan a change out to every adapter; one adapter's failure doesn't stop the others."""

    def __init__(self, adapters: Sequence[Notifier] = ()) -> None:
        self.adapters = list(adapters)

    def add(self, adapter: Notifier) -> None:
        self.adapters.append(adapter)

    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        for adapter in self.adapters:
            try:
                await adapter.job_changed(job, change)
            except Exception:
                log.exception(
                    "notifier %s failed for job %s", type(adapter).__name__, job.id,
                    extra={"job_id": job.id},
                )

    async def close(self) -> None:
        """Let adapters deliver what they still hold (e.g. paced chat edits) and stop."""
        for adapter in self.adapters:
            close = getattr(adapter, "close", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:
                log.exception("closing notifier %s failed", type(adapter).__name__)
