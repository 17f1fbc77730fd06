"""Where the Slack Web API is and which bot token speaks for a workspace.

Single workspace (the default): ``RENDERBOT_SLACK_BOT_TOKEN`` for every call. With
``RENDERBOT_SLACK__CLIENT_ID`` / ``__CLIENT_SECRET`` the app is installed per workspace
through OAuth (``/slack/install``) and each workspace's bot token is kept by slack_sdk's
SQLAlchemy installation store in our database (tables ``slack_installations``,
``slack_bots``, ``slack_oauth_states``, created on first use: they belong to slack_sdk,
not to our models and migrations).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings

BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "im:write", "files:write"]
STATE_SECONDS = 600


def api_base(settings: Settings) -> str:
    """The Web API base URL, with the trailing slash slack_sdk's ``urljoin`` needs."""
    base = settings.slack.api_base or AsyncWebClient.BASE_URL
    return base if base.endswith("/") else base + "/"


def is_multi_workspace(settings: Settings) -> bool:
    return bool(settings.slack.client_id and settings.slack.client_secret)


def enabled(settings: Settings) -> bool:
    """Whether status messages can be updated (a bot token, or OAuth installs)."""
    return bool(settings.slack_bot_token) or is_multi_workspace(settings)


class _EngineOf:
    """The engine of the runtime serving the app, known only once it serves (the engine
    belongs to the server's event loop; the app is built before that loop runs)."""

    engine_of: Callable[[], AsyncEngine]

    @property
    def engine(self) -> AsyncEngine:  # type: ignore[override]
        return self.engine_of()

    @engine.setter
    def engine(self, _value) -> None:
        pass  # the base class assigns the engine it was given; ours is looked up


class RuntimeInstallationStore(_EngineOf, AsyncSQLAlchemyInstallationStore):
    def __init__(self, client_id: str, engine_of: Callable[[], AsyncEngine]) -> None:
        self.engine_of = engine_of
        super().__init__(client_id=client_id, engine=None)  # type: ignore[arg-type]


class RuntimeStateStore(_EngineOf, AsyncSQLAlchemyOAuthStateStore):
    def __init__(self, engine_of: Callable[[], AsyncEngine]) -> None:
        self.engine_of = engine_of
        super().__init__(expiration_seconds=STATE_SECONDS, engine=None)  # type: ignore[arg-type]


class BotTokens:
    """``await tokens(team_id)`` → the bot token for a workspace (None: not installed).

    Installed tokens are looked up in the installation store and kept for a minute.
    """

    def __init__(self, settings: Settings, engine_of: Callable[[], AsyncEngine]) -> None:
        self.fixed = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        self.store = (RuntimeInstallationStore(settings.slack.client_id or "", engine_of)
                      if is_multi_workspace(settings) else None)
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def __call__(self, team_id: str) -> str | None:
        if self.store is None:
            return self.fixed
        hit = self._cache.get(team_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        bot = await self.store.async_find_bot(enterprise_id=None, team_id=team_id)
        token = bot.bot_token if bot is not None else self.fixed
        self._cache[team_id] = (time.monotonic() + 60.0, token)
        return token
