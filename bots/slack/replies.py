"""What the Slack app says back and where: the chat user of a payload, the text of an
error, the status message (in the channel, else a DM), ephemeral answers, and the catch-up
of a status message through the workers' paced sender. Used by every listener module."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots import catch_up, flow
from bots.slack import answer_blocks, blocks
from core.errors import InsufficientCredits, RenderbotError
from core.runtime import Runtime

log = logging.getLogger("renderbot.slack")
DM_FALLBACK = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


def chat_user(body: dict[str, Any]) -> flow.ChatUser:
    """The Slack user of a command or interaction payload."""
    if "command" in body:  # slash command (form-encoded, flat)
        return flow.ChatUser("slack", body["team_id"], body["user_id"], body.get("user_name") or "")
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return flow.ChatUser("slack", team, user["id"], user.get("name") or user.get("username") or "")


def explain(error: BaseException) -> str:
    """The user-facing text of an error (unknown ones get an error id, logged)."""
    if isinstance(error, InsufficientCredits):
        return blocks.insufficient_text(error.cost, error.balance)
    if isinstance(error, RenderbotError):
        log.info("slack request refused: %s", error)
        return blocks.escape(flow.friendly(error))  # may quote a project name
    correlation = uuid.uuid4().hex[:12]
    log.error("slack request failed (error id %s)", correlation, exc_info=error)
    return answer_blocks.error_text(correlation)


async def post_status(client: AsyncWebClient, job, *, channel_id: str, user_id: str):
    """Post the status message in the channel; in a DM when the bot can't post there.

    Returns (channel id, ts, in a DM) or None."""
    return await post_message(client, blocks.status_message(job), channel_id=channel_id,
                              user_id=user_id)


async def post_message(client: AsyncWebClient, message: dict, *, channel_id: str, user_id: str):
    """Post ``message`` in the channel, else in a DM: (channel id, ts, in a DM)."""
    try:
        sent = await client.chat_postMessage(channel=channel_id, **message)
        return sent["channel"], sent["ts"], False
    except SlackApiError as exc:
        if exc.response.get("error") not in DM_FALLBACK:
            raise
        log.info("cannot post in %s (%s); using a DM", channel_id, exc.response.get("error"))
    opened = await client.conversations_open(users=user_id)
    dm = opened["channel"]["id"]
    sent = await client.chat_postMessage(channel=dm, **message)
    return sent["channel"], sent["ts"], True


async def show_newest(rt: Runtime, job_id: str) -> None:
    """Every update of a status message goes through the workers' paced sender (the app's
    own client only posts it)."""
    from bots.slack.notifier import install

    await catch_up.show_newest(rt, job_id, install=install)


async def tell(client: AsyncWebClient, body: dict[str, Any], text: str, respond) -> None:
    """An ephemeral message to the user: through response_url, else in the channel, else DM."""
    if respond is not None and body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return
    user = chat_user(body)
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    if not channel and body.get("view"):
        with_meta = body["view"].get("private_metadata") or "{}"
        try:
            channel = json.loads(with_meta).get("c")
        except ValueError:
            channel = None
    if channel:
        try:
            await client.chat_postEphemeral(channel=channel, user=user.user_id, text=text)
            return
        except SlackApiError as exc:
            if exc.response.get("error") not in DM_FALLBACK:
                raise
    opened = await client.conversations_open(users=user.user_id)
    await client.chat_postMessage(channel=opened["channel"]["id"], text=text)
