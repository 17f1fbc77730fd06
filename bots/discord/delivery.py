"""Inline delivery of a finished video on Discord: the completion ping carries the video.

When the video's size is at most min(the guild's upload limit, ``RENDERBOT_DISCORD__
INLINE_MAX_BYTES``) the reply that pings the user is posted with the video attached, so
it plays in the channel; else (or when Discord refuses the upload: 413 / 40005, an error,
a timeout) the plain ping goes instead and the status message keeps its poster and link.
Never an error message: the link is always there.

The guild's upload limit is read by the bot when the job is confirmed (discord.py's
``Guild.filesize_limit``, from the guild's premium tier in GUILD_CREATE; the interaction's
``attachment_size_limit`` when the guild is not cached; 10 MiB in a DM) and kept in the
job's origin as ``upload_limit``; a job without it gets 10 MiB, the smallest limit.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from core.schemas import JobRead

log = logging.getLogger("renderbot.discord.delivery")

DEFAULT_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES  # 10 MiB: no boosts, and DMs


def upload_limit(interaction: discord.Interaction, *, in_dm: bool) -> int:
    """The upload limit where the status message was posted."""
    if in_dm or interaction.guild_id is None:
        return DEFAULT_LIMIT
    guild = interaction.client.get_guild(interaction.guild_id)  # from GUILD_CREATE
    if guild is not None and not guild.unavailable:
        return guild.filesize_limit
    return int(getattr(interaction, "filesize_limit", 0) or DEFAULT_LIMIT)


def inline_cap(job: JobRead, setting: int) -> int:
    """Bytes the job's video may have to be uploaded into its channel (0: never)."""
    limit = (job.origin or {}).get("upload_limit")
    try:
        limit = int(limit) if limit else DEFAULT_LIMIT
    except (TypeError, ValueError):
        limit = DEFAULT_LIMIT
    return max(0, min(limit, setting))


def video_reader(rt):
    """``async (job, max bytes) -> (filename, bytes, content type) | None`` from the
    runtime's storage (``core.inline_delivery``): None when the video is larger, gone or
    unreadable — the link is there anyway."""

    async def read(job: JobRead, max_bytes: int) -> tuple[str, bytes, str] | None:
        from core import inline_delivery

        try:
            found = await inline_delivery.video(rt, job_id=job.id, max_bytes=max_bytes,
                                                title=(job.origin or {}).get("title"))
        except Exception:  # noqa: BLE001 - the link is there; the upload is a bonus
            log.warning("could not read the video of %s for an inline upload", job.id,
                        exc_info=True, extra={"job_id": job.id})
            return None
        return None if found is None else (found.filename, found.data, found.content_type)

    return read


def with_video(ping: dict[str, Any], filename: str) -> dict[str, Any]:
    """The ping, saying the video is attached (it plays in the channel)."""
    content = ping.get("content", "")
    return {**ping, "content": f"{content} ▶️ `{filename}`"[:2000]}
