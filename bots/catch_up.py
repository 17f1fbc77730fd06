"""After the bot posts a status message (or a user cancels): show the job's newest state.

The bot does not edit the message through a client of its own. With a Redis broker it
tells the workers' notifiers, as the Remotion webhook does (``announce_change``): a
worker's paced sender shows the newest state (and pings if the job already ended). On the
embedded default (one process) it hands the state to the same notifier installed on its
own runtime: a paced sender whose versions, leases and interval live in the process's
shared state (:mod:`bots.shared_state`), shared with the in-process worker's sender — so
the edits of one message still go one at a time and never backwards.
"""

from __future__ import annotations

import logging

from bots import flow
from core.runtime import Runtime

log = logging.getLogger("renderbot.chat")


async def show_newest(rt: Runtime, job_id: str, *, install) -> None:
    """``install(rt)``: the platform's notifier installer (``bots.<platform>.notifier``)."""
    from jobs.enqueue import announcer_for

    async with rt.db.transaction() as s:
        job = await flow.job(session=s, job_id=job_id)
    change = job.status if job.is_final else "progress"
    in_redis = rt.settings.broker_url.startswith(("redis://", "rediss://", "unix://"))
    announce = announcer_for(rt.settings) if in_redis else None
    if announce is not None:
        try:
            announce(job_id, change)
            return
        except Exception:  # noqa: BLE001 - the broker may be briefly unreachable
            log.warning("could not announce job %s to the workers; updating from here", job_id,
                        extra={"job_id": job_id}, exc_info=True)
    notifier = install(rt)
    if notifier is not None:
        await notifier.job_changed(job, change)


def batch_loader(rt: Runtime):
    """``async batch id -> BatchRead`` on the runtime's database, for the notifiers: a
    batch's ONE status message is built from a fresh read of every variant."""

    async def load(batch_id: str):
        from core import batches

        async with rt.db.transaction() as s:
            return await batches.get(session=s, account_id=None, batch_id=batch_id)

    return load
