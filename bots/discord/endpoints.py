"""Where discord.py talks to: our settings override its REST base and gateway URL.

discord.py has no constructor option for either; both are class attributes read when a
request or connection is made, so :func:`apply` must run before ``login``/``connect``.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

from core.settings import Settings

_DEFAULT_API_BASE = discord.http.Route.BASE
_DEFAULT_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def api_base(settings: Settings) -> str:
    return (settings.discord.api_base or _DEFAULT_API_BASE).rstrip("/")


def apply(settings: Settings) -> None:
    """Point discord.py (REST, interaction webhooks, gateway) at the configured endpoints."""
    discord.http.Route.BASE = api_base(settings)
    gateway = settings.discord.gateway_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = (
        yarl.URL(gateway) if gateway else _DEFAULT_GATEWAY
    )
