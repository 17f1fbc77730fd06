"""The quote message (issue 17): answered at once, then the preview still is attached;
Confirm or Draft submits it once; the finished message's follow-up buttons open new quotes.

* **Preview**: the quote answers the interaction first (Discord's 3 s), then the JPEG still
  (``bots.flow.preview``) is added to the same message as ``preview.jpg`` shown by an
  embed image. A failed preview leaves the quote as it is, with a one-line note.
* **Draft**: a button beside Confirm with the draft's price; both submit with the quote
  message's id as the idempotency key, so one quote makes at most one job.
* **Follow-ups** on a finished message ("Render again", "Full quality" after a draft,
  "Vertical 9:16", "Square 1:1"): only the job's owner; each opens a new ephemeral quote
  of the settings core derives (``core.render_settings``), never a charge.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import discord

from bots import flow
from bots.discord import batch_flow, delivery, messages
from bots.discord.custom_ids import FormState, Parsed
from core.errors import RenderbotError
from core.render_settings import RenderSettings, aspect_variant, full_quality

log = logging.getLogger("renderbot.discord")

PREVIEW_NAME = "preview.jpg"


async def send(bot, interaction: discord.Interaction, state: FormState, seconds: float, *,
               edit: bool = False, note: str = "") -> None:
    """Answer with the quote (a new ephemeral message, or the same one edited), then add
    the preview still to it."""
    content, view, ok = await batch_flow.quote_reply(bot, interaction, state, seconds)
    content = f"{content}{note}"
    if edit:
        await interaction.response.edit_message(content=content, view=view, attachments=[],
                                                embeds=[])
    else:
        await interaction.response.send_message(content, ephemeral=True, view=view)
    if ok and not state.variants:
        await attach_preview(bot, interaction, state, seconds)


async def attach_preview(bot, interaction: discord.Interaction, state: FormState,
                         seconds: float) -> None:
    from bots.discord.bot import chat_user

    try:
        still = await flow.preview(runtime=bot.rt, settings=bot.settings,
                                   user=chat_user(interaction), project_id=state.project_id,
                                   render_settings=state.render_settings(seconds))
    except RenderbotError as exc:  # e.g. too many previews: its message is for users
        await _note(interaction, str(exc).splitlines()[0][:200])
        return
    except Exception:  # noqa: BLE001 - a preview is a bonus; the quote stands
        log.warning("preview failed", exc_info=True)
        await _note(interaction, "the still could not be made")
        return
    try:  # confirmed or dismissed while the still was made: leave the message as it is
        if not (await interaction.original_response()).components:
            return
    except discord.HTTPException:
        return
    embed = discord.Embed(description=f"Preview · {still.width}×{still.height}")
    embed.set_image(url=f"attachment://{PREVIEW_NAME}")
    try:
        await interaction.edit_original_response(
            attachments=[discord.File(io.BytesIO(still.jpeg), filename=PREVIEW_NAME)],
            embed=embed)
    except discord.HTTPException as exc:  # e.g. 413 over the upload limit
        log.warning("could not attach the preview to the quote: %s", exc)
        await _note(interaction, "the image could not be attached")


async def _note(interaction: discord.Interaction, reason: str) -> None:
    try:
        await interaction.followup.send(messages.preview_failed_text(reason.rstrip(".")),
                                        ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user the preview failed", exc_info=True)


async def confirm(bot, interaction: discord.Interaction, parsed: Parsed, *,
                  draft: bool) -> None:
    """Confirm (or Draft): submit once, post the public status message."""
    from bots.discord.bot import chat_user

    await interaction.response.defer()  # ack now; the quote message is edited below
    state, seconds = parsed.state, parsed.duration
    assert state is not None and seconds is not None
    user = chat_user(interaction)
    origin: dict[str, Any] = {
        "platform": "discord", "channel_id": str(interaction.channel_id),
        "guild_id": str(interaction.guild_id) if interaction.guild_id else None,
        "user_id": user.user_id, "message_id": None,
    }
    if state.variants:  # 2-3 aspects: one batch, one debit, one status message
        await batch_flow.confirm(bot, interaction, state, seconds, origin)
        return
    render_settings = state.render_settings(seconds)
    if draft:
        render_settings["draft"] = True
    async with bot.db.transaction() as s:
        project = await flow.resolve_project(
            session=s, settings=bot.settings, user=user, value=state.project_id)
        origin["title"] = project.name
        submitted = await flow.submit(
            session=s, settings=bot.settings, user=user, project_id=project.id,
            render_settings=render_settings,
            idempotency_key=f"discord:{interaction.message.id}", origin=origin,
            enqueue=bot.enqueue())
    job = submitted.job
    if not submitted.created:
        # a double click (or Confirm after Draft): the click that created the job edits
        # the quote message; this one only tells its clicker
        await interaction.followup.send(messages.already_submitted_text(job), ephemeral=True)
        return
    log.info("discord user %s submitted %sjob %s", user.user_id, "draft " if draft else "",
             job.id, extra={"job_id": job.id})
    posted = await bot.post_status(job, channel_id=interaction.channel_id, user_id=user.user_id,
                                   interaction=interaction)
    where = None
    if posted is not None:
        channel_id, message_id, in_dm = posted
        async with bot.db.transaction() as s:
            job = await flow.set_origin(session=s, job_id=job.id, origin={
                "channel_id": channel_id, "message_id": message_id, "dm": in_dm,
                "upload_limit": delivery.upload_limit(interaction, in_dm=in_dm),
            })
        where = messages.jump_url(None if in_dm else origin["guild_id"], channel_id, message_id)
    await interaction.edit_original_response(
        content=messages.submitted_text(job, where), view=None, attachments=[], embeds=[])
    if posted is not None:
        # Changes committed before the message id was stored were skipped by the
        # notifier: the workers' sender shows the newest state now (pings if it ended).
        await bot.show_newest(job.id)


async def followup(bot, interaction: discord.Interaction, parsed: Parsed) -> None:
    """A follow-up button of a finished message: a new quote, never a charge."""
    async with bot.db.transaction() as s:
        job = await flow.job(session=s, job_id=parsed.job_id or "")
    if str((job.origin or {}).get("user_id")) != str(interaction.user.id):
        await interaction.response.send_message(messages.not_owner_text(), ephemeral=True)
        return
    settings = RenderSettings.from_stored(job.settings.model_dump())
    note = ""
    if parsed.action == "var":
        settings = aspect_variant(settings, parsed.aspect or "", bot.settings.limits)
    elif parsed.action == "again" and settings.draft:
        note = "\n-# Your last render was a draft: Draft repeats it, Confirm renders it in full."
    settings = full_quality(settings)  # the quote offers Confirm (full) and Draft
    state = FormState(
        job.project_id, settings.width, settings.height, settings.frame_rate,
        settings.quality, tuple(e for e in bot.effect_names if e in settings.effects),
        settings.format)
    await send(bot, interaction, state, settings.duration, note=note)
