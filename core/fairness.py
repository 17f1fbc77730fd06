"""Fair use (issue 18): per-account and per-chat-server active limits, fair order."""

from __future__ import annotations

from typing import Any


def chat_server_of(origin: dict[str, Any] | None) -> str | None:
    """The Discord guild or Slack workspace a job came from (``"discord:<id>"``,
    ``"slack:<id>"``); None for the API, the CLI and direct messages."""
    origin = origin or {}
    platform = origin.get("platform")
    server = origin.get("guild_id") if platform == "discord" else (
        origin.get("team_id") if platform == "slack" else None)
    if not server or server == "dm":
        return None
    return f"{platform}:{server}"[:120]
