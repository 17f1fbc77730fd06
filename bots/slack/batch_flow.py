"""The Slack side of a batch (issue 18): Confirm of a batch quote and "Cancel all" on its
ONE status message. Called by the listeners in ``bots/slack/app.py``."""

from __future__ import annotations

import logging

from bots import flow
from bots.slack import batch_blocks, blocks, replies
from core.errors import RenderbotError
from core.runtime import Runtime
from core.settings import Settings

log = logging.getLogger("renderbot.slack")


async def confirm(ack, client, rt: Runtime, settings: Settings, user, meta, values, origin,
                  view, *, enqueue) -> None:
    """Confirm of a batch quote: ONE debit, one job per variant, ONE status message
    (every variant's origin points at it; the workers' sender edits it)."""
    try:
        async with rt.db.transaction() as s:
            submitted = await flow.submit_batch(
                session=s, settings=settings, user=user, project_id=values.project_id or "",
                render_settings=meta["s"], variants=meta["v"],
                idempotency_key=f"slack:{user.team_id}:{view['id']}", origin=origin,
                enqueue=enqueue)
    except RenderbotError as exc:
        await ack(response_action="update", view=blocks.problem_view(replies.explain(exc)))
        return
    batch = submitted.batch
    await ack(response_action="update",
              view=batch_blocks.batch_submitted_view(batch, created=submitted.created))
    if not submitted.created:
        return
    log.info("slack user %s/%s submitted batch %s", user.team_id, user.user_id, batch.id)
    try:
        message = batch_blocks.batch_status_message(batch)
        channel_id, ts, in_dm = await replies.post_message(client, message, channel_id=meta["c"],
                                                       user_id=user.user_id)
        async with rt.db.transaction() as s:
            for job in batch.jobs:
                await flow.set_origin(session=s, job_id=job.id, origin={
                    "channel_id": channel_id, "message_ts": ts, "dm": in_dm})
        await replies.show_newest(rt, batch.jobs[0].id)
    except Exception:  # noqa: BLE001 - the jobs run; only their status message is missing
        log.warning("could not post the status of batch %s", batch.id, exc_info=True)


async def cancel(rt: Runtime, settings: Settings, user, batch_id: str) -> None:
    """Cancel every unfinished variant; the workers' sender shows it on the message."""
    async with rt.db.transaction() as s:
        batch = await flow.cancel_batch(session=s, settings=settings, user=user,
                                        batch_id=batch_id)
    log.info("slack user %s/%s cancelled batch %s", user.team_id, user.user_id, batch.id)
    await replies.show_newest(rt, batch.jobs[0].id)
