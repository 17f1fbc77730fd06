"""Issue 17's Slack listeners: the Draft button of the quote and the follow-up buttons of a
finished status message ("Render again", "Full quality", "Vertical 9:16", "Square 1:1").

A follow-up opens a NEW quote modal (same project, the job's settings, changed as the
button says, priced by core) with its preview and its own Draft button: nothing is
charged until that quote's Confirm (or Draft). Only the job's owner — the Slack user who
confirmed it — may use its buttons; anyone else gets one ephemeral line.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bots import flow
from bots.slack import blocks, confirm, previews
from bots.slack import followup_blocks as fb
from bots.slack.blocks import FormValues
from core import render_settings as rs
from core.errors import InvalidSettings
from core.runtime import Runtime
from core.schemas import JobRead, QuoteRead
from core.settings import Settings

log = logging.getLogger("renderbot.slack.followups")
FOLLOWUP_IDS = re.compile("^(" + "|".join(map(re.escape, fb.FOLLOWUPS)) + ")$")


def followup_settings(action_id: str, stored: dict[str, Any], settings: Settings) -> dict:
    """The settings a follow-up quotes (core's rules: core/render_settings.py)."""
    current = rs.validate(stored, settings.limits)
    if action_id == fb.FULL:
        current = rs.full_quality(current)
    elif action_id in fb.ASPECT_OF:
        current = rs.aspect_variant(current, fb.ASPECT_OF[action_id], settings.limits)
    return current.as_dict()


async def draft_quote(*, session: AsyncSession, settings: Settings, user: flow.ChatUser,
                      project_id: str, render_settings: dict[str, Any]) -> QuoteRead | None:
    """The quote of the same settings as a draft (None when they already are one, or when
    core refuses it): what the Draft button shows and the debit it will make."""
    if fb.is_draft(render_settings):
        return None
    outcome = await flow.quote(session=session, settings=settings, user=user,
                               project_id=project_id,
                               render_settings={**render_settings, "draft": True})
    return outcome.quote if outcome.quote is not None and outcome.problem is None else None


def form_values(job: JobRead, settings: dict[str, Any], project_name: str) -> FormValues:
    """What the form's Back shows for a follow-up's quote."""
    return FormValues(
        project_id=job.project_id, project_name=project_name,
        size=blocks.size_value(settings["resolution"]), frame_rate=int(settings["frame_rate"]),
        duration=f"{float(settings['duration']):g}", quality=settings["quality"],
        effects=tuple(settings.get("effects") or ()), format=settings.get("format") or "mp4",
    )


def quote_builder(*, project_name: str, quote: QuoteRead, problem: str | None, metadata: str,
                  draft: QuoteRead | None):
    """``build(preview_block) -> view``: the quote view, with whatever preview line."""
    def build(preview: dict[str, Any]) -> dict[str, Any]:
        return blocks.quote_view(project_name=project_name, quote=quote, problem=problem,
                                 metadata=metadata, preview=preview, draft=draft)
    return build


def register(app, settings: Settings, *, enqueue) -> None:
    from bots.slack.acknowledged import acknowledged
    from bots.slack.replies import chat_user, tell

    @app.action(fb.DRAFT)
    @acknowledged
    async def draft_clicked(ack, body, client, context):
        await ack()
        rt: Runtime = context["rt"]
        view = body["view"]
        meta = json.loads(view["private_metadata"])
        previews.moved_on(view["id"])

        async def answer(shown: dict[str, Any]) -> None:
            await client.views_update(view_id=view["id"], view=shown)

        await confirm.submit_single(client, rt, settings, chat_user(body), meta,
                                    view_id=view["id"], answer=answer, enqueue=enqueue(),
                                    render_settings={**meta["s"], "draft": True})

    @app.action(FOLLOWUP_IDS)
    @acknowledged
    async def followup_clicked(ack, body, client, context, respond):
        await ack()
        rt: Runtime = context["rt"]
        user = chat_user(body)
        action = body["actions"][0]
        async with rt.db.transaction() as s:
            job = await flow.job(session=s, job_id=action["value"])
        origin = job.origin or {}
        if origin.get("platform") != "slack" or str(origin.get("user_id")) != user.user_id:
            log.info("slack user %s/%s clicked %s on job %s of another user", user.team_id,
                     user.user_id, action["action_id"], job.id)
            await tell(client, body, fb.not_yours_text(origin.get("user_id")), respond)
            return
        channel_id = (body.get("channel") or {}).get("id") or origin.get("channel_id") \
            or user.user_id
        problem = None
        try:
            wanted = followup_settings(action["action_id"], job.settings.model_dump(), settings)
            async with rt.db.transaction() as s:
                outcome = await flow.quote(session=s, settings=settings, user=user,
                                           project_id=job.project_id, render_settings=wanted)
                draft = await draft_quote(session=s, settings=settings, user=user,
                                          project_id=job.project_id, render_settings=wanted)
        except InvalidSettings as exc:
            await tell(client, body, blocks.escape(flow.friendly(exc)), respond)
            return
        if outcome.quote is None:
            await tell(client, body, blocks.escape(outcome.problem or "Not allowed."), respond)
            return
        quote = outcome.quote
        if not outcome.ok:
            problem = blocks.insufficient_text(quote.credit_cost, quote.balance)
        name = outcome.project.name
        meta = blocks.quote_metadata(channel_id=channel_id,
                                     values=form_values(job, wanted, name),
                                     render_settings=quote.settings.model_dump())
        build = quote_builder(project_name=name, quote=quote, problem=problem, metadata=meta,
                              draft=draft)
        opened = await client.views_open(trigger_id=body["trigger_id"],
                                         view=build(fb.preview_pending()))
        log.info("slack user %s/%s: %s of job %s → a new quote", user.team_id, user.user_id,
                 action["action_id"], job.id)
        await previews.show_later(client, rt, settings, user, view_id=opened["view"]["id"],
                                  project_id=job.project_id, project_name=name,
                                  render_settings=quote.settings.model_dump(), build=build)
