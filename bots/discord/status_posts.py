"""The status message as the Confirm interaction's public follow-up.

Posted through discord.py's webhook adapter (the one ``interaction.followup.send`` uses:
``POST /webhooks/{application id}/{token}?wait=true`` answers with the message, so its id
is known) with the raw payload our message builders make. Its interaction token is kept
for the workers' senders (:mod:`bots.discord.interaction_tokens`): for the token's 15
minutes they edit the message through the webhook, outside the bot's global rate limit.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import discord
from discord.webhook.async_ import async_context

from bots.discord import interaction_tokens
from bots.shared_state import SharedState

log = logging.getLogger("renderbot.discord")


def may_post(interaction: discord.Interaction) -> bool:
    """The bot may see and post in the interaction's channel (``app_permissions``); where
    it may not, a follow-up would stop updating once the token expires."""
    if interaction.guild_id is None:
        return True  # a DM with the bot
    perms = interaction.app_permissions
    return perms.view_channel and perms.send_messages


def created(interaction: discord.Interaction) -> float:
    """When the interaction was made (its id's time): its token's 15 minutes start then."""
    try:
        return interaction.created_at.timestamp()
    except (ValueError, OverflowError, OSError):
        return time.time()


async def post_followup(interaction: discord.Interaction, payload: dict[str, Any], *,
                        shared: SharedState, what: str) -> tuple[str, str, bool] | None:
    """(channel id, message id, False) of ``payload`` posted as the interaction's public
    follow-up, its token kept in ``shared`` for the senders; None when Discord refuses."""
    received = time.time()
    webhook = interaction.followup
    try:
        data = await async_context.get().execute_webhook(
            webhook.id, webhook.token, session=webhook.session, proxy=webhook.proxy,
            proxy_auth=webhook.proxy_auth, payload=payload, wait=True)
    except discord.HTTPException as exc:
        log.info("could not post the status of %s as a follow-up (%s)", what, exc.status)
        return None
    message_id = str(data["id"])
    await interaction_tokens.remember(shared, message_id, app_id=str(webhook.id),
                                      token=webhook.token,
                                      issued_at=min(received, created(interaction)))
    return str(data.get("channel_id") or interaction.channel_id), message_id, False
