"""Wakes jobs held back by fair use (core/fairness.py) when a slot frees.

A job that waits for its account's (or chat server's) slot is looked at again only now
and then; when a job of that account or chat server ends, this notifier sends a start
message for the oldest waiting jobs at once, so the freed slot is taken within one hop
instead of one wait."""

from __future__ import annotations

import logging

from core import fairness
from core.notify import JobChange
from core.runtime import Runtime
from core.schemas import JobRead

log = logging.getLogger("renderbot.jobs")
ENDED = ("completed", "failed", "cancelled")


class FairWakeNotifier:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        if change not in ENDED:
            return
        from core.pipeline import Next
        from jobs.actors import schedule

        chat_server = fairness.chat_server_of(job.origin)
        async with self.rt.db.transaction() as session:
            ids = await fairness.to_wake(session=session, account_id=job.account_id,
                                         chat_server=chat_server, limits=self.rt.settings.limits)
        for job_id in ids:
            schedule(Next("start", job_id, 0))


def install(rt: Runtime) -> None:
    if not any(isinstance(a, FairWakeNotifier) for a in rt.notifiers.adapters):
        rt.notifiers.add(FairWakeNotifier(rt))
