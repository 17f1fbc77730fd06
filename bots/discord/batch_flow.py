"""The Discord side of issue 18's chat flow: quoting what the quote message's Format /
Formats selects show, and confirming a batch (2-3 aspects → ONE debit, one job per
variant, ONE public status message that the workers' notifier edits)."""

from __future__ import annotations

import logging

import discord

from bots import flow
from bots.discord import batch_messages, messages, views
from bots.discord.custom_ids import FormState

log = logging.getLogger("renderbot.discord")


async def quote_reply(bot, interaction: discord.Interaction, state: FormState,
                      seconds: float) -> tuple[str, discord.ui.View, bool]:
    """The quote message's content and view for ``state`` (a batch quote at 2+ aspects),
    and whether it can be confirmed. One job: the Draft button shows the draft's price."""
    from bots.discord.bot import chat_user

    user = chat_user(interaction)
    draft_price = None
    async with bot.db.transaction() as s:
        if state.variants:
            outcome = await flow.quote_batch(
                session=s, settings=bot.settings, user=user, project_id=state.project_id,
                render_settings=state.render_settings(seconds), variants=state.variants)
        else:
            outcome = await flow.quote(
                session=s, settings=bot.settings, user=user, project_id=state.project_id,
                render_settings=state.render_settings(seconds))
            if outcome.ok:
                draft = await flow.quote(
                    session=s, settings=bot.settings, user=user, project_id=state.project_id,
                    render_settings={**state.render_settings(seconds), "draft": True})
                draft_price = draft.quote.credit_cost if draft.ok else None
    if outcome.ok and state.variants:
        content = batch_messages.quote_text(outcome.quote, outcome.project.name, state.format)
    elif outcome.ok:
        content = messages.quote_text(outcome.quote, outcome.project.name) + \
            messages.draft_line(draft_price)
    else:
        content = messages.problem_text(outcome.project.name, outcome.problem or "")
    view = views.quote_view(state, seconds, effects=bot.effect_names, ok=outcome.ok,
                            draft_price=draft_price)
    return content, view, outcome.ok


def picked(state: FormState, field: str, values: list[str]) -> FormState:
    if field == "fmt":
        return state.with_(format=values[0])
    return state.with_(aspects=tuple(a for a in views.ASPECTS if a in values))


async def confirm(bot, interaction: discord.Interaction, state: FormState, seconds: float,
                  origin: dict) -> None:
    """Submit the batch once (the quote message's id is the key), post its ONE status
    message and point every variant at it; the workers' sender edits it from then on."""
    from bots.discord.bot import chat_user

    user = chat_user(interaction)
    async with bot.db.transaction() as s:
        project = await flow.resolve_project(session=s, settings=bot.settings, user=user,
                                             value=state.project_id)
        origin["title"] = project.name
        submitted = await flow.submit_batch(
            session=s, settings=bot.settings, user=user, project_id=project.id,
            render_settings=state.render_settings(seconds), variants=state.variants,
            idempotency_key=f"discord:{interaction.message.id}", origin=origin,
            enqueue=bot.enqueue())
    batch = submitted.batch
    if not submitted.created:
        await interaction.followup.send(batch_messages.already_submitted_text(batch),
                                        ephemeral=True)
        return
    log.info("discord user %s submitted batch %s", user.user_id, batch.id)
    posted = await bot.post_payload(batch_messages.status_payload(batch),
                                    channel_id=interaction.channel_id, user_id=user.user_id,
                                    what=f"batch {batch.id}")
    where = None
    if posted is not None:
        channel_id, message_id, in_dm = posted
        async with bot.db.transaction() as s:
            for job in batch.jobs:
                await flow.set_origin(session=s, job_id=job.id, origin={
                    "channel_id": channel_id, "message_id": message_id, "dm": in_dm})
        where = messages.jump_url(None if in_dm else origin["guild_id"], channel_id, message_id)
    await interaction.edit_original_response(
        content=batch_messages.submitted_text(batch, where), view=None)
    if posted is not None:
        await bot.show_newest(batch.jobs[0].id)


async def cancel(bot, interaction: discord.Interaction, batch_id: str) -> None:
    from bots.discord.bot import chat_user

    await interaction.response.defer()
    async with bot.db.transaction() as s:
        batch = await flow.cancel_batch(session=s, settings=bot.settings,
                                        user=chat_user(interaction), batch_id=batch_id)
    log.info("discord user %s cancelled batch %s", interaction.user.id, batch.id)
    await bot.show_newest(batch.jobs[0].id)
