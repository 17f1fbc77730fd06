"""Submitting a single job from a Slack quote: the modal's Confirm and the Draft button.

Both submit with the same idempotency key (``slack:<team>:<view id>``): one quote, one
job, one debit, whichever button comes first (a second click, or the other button, is
told the quote was already confirmed). Then the status message is posted (a DM when the
channel refuses) and the workers' paced sender shows the newest state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bots import flow
from bots.slack import blocks
from core.errors import IdempotencyConflict, RenderbotError
from core.runtime import Runtime
from core.settings import Settings

log = logging.getLogger("renderbot.slack")

Answer = Callable[[dict[str, Any]], Awaitable[Any]]  # shows a view in place of the quote


def origin_for(user: flow.ChatUser, meta: dict[str, Any]) -> dict[str, Any]:
    values = blocks.FormValues.from_compact(meta["f"])
    return {"platform": "slack", "team_id": user.team_id, "channel_id": meta["c"],
            "user_id": user.user_id, "message_ts": None, "title": values.project_name}


async def submit_single(client, rt: Runtime, settings: Settings, user: flow.ChatUser,
                        meta: dict[str, Any], *, view_id: str, render_settings: dict[str, Any],
                        answer: Answer, enqueue) -> None:
    from bots.slack.replies import explain, post_status, show_newest

    values = blocks.FormValues.from_compact(meta["f"])
    try:
        async with rt.db.transaction() as s:
            submitted = await flow.submit(
                session=s, settings=settings, user=user, project_id=values.project_id or "",
                render_settings=render_settings,
                idempotency_key=f"slack:{user.team_id}:{view_id}",
                origin=origin_for(user, meta), enqueue=enqueue,
            )
    except IdempotencyConflict:  # Confirm, then Draft (or the other way round)
        await answer(blocks.problem_view(
            "This quote was already confirmed. Nothing more was charged.", title="Render"))
        return
    except RenderbotError as exc:  # too few credits by now, project gone, ...
        await answer(blocks.problem_view(explain(exc)))
        return
    job = submitted.job
    await answer(blocks.submitted_view(job, created=submitted.created))
    if not submitted.created:
        return  # a double click or a retry: the first one posts the status
    log.info("slack user %s/%s submitted job %s", user.team_id, user.user_id, job.id,
             extra={"job_id": job.id})
    try:
        channel_id, ts, in_dm = await post_status(client, job, channel_id=meta["c"],
                                                  user_id=user.user_id)
        async with rt.db.transaction() as s:
            stored = await flow.set_origin(session=s, job_id=job.id, origin={
                "channel_id": channel_id, "message_ts": ts, "dm": in_dm})
        # changes committed before the ts was stored were skipped by the notifier: the
        # workers' sender shows the newest state now (and pings if the job ended)
        await show_newest(rt, stored.id)
    except Exception:  # noqa: BLE001 - the job runs; only its status message is missing
        log.warning("could not post the status of job %s", job.id, exc_info=True,
                    extra={"job_id": job.id})
