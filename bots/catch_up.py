"""After the bot posts a status message (or a user cancels): show the job's newest state.

The bot does not edit the message itself — that would be a second client editing it. It
tells the workers' notifiers, as the Remotion webhook does (``announce_change``): the
worker's paced sender, the one every edit goes through, shows the newest state (and pings
if the job already ended). Only when no worker can be reached (the embedded default with
the bot in a process of its own) does this process install the same notifier itself.
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
    announce = announcer_for(rt.settings)
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
