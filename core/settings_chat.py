"""The chat platforms: ``RENDERBOT_DISCORD__*`` and ``RENDERBOT_SLACK__*``; re-exported by
core/settings.py (the tokens stay top-level there)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from core.settings_checks import url_check


class DiscordSettings(BaseModel):
    """`renderbot discord` and the status-message edits (``RENDERBOT_DISCORD__*``).

    The bot token stays top-level (``RENDERBOT_DISCORD_TOKEN``). ``api_base`` and
    ``gateway_url`` default to discord.py's own endpoints; tests point them at a fake.
    """

    api_base: str | None = Field(None, description="REST base incl. /api/v10; unset = discord.py's")
    gateway_url: str | None = Field(None, description="gateway websocket URL; unset = discord.py's")
    _check_api_base = field_validator("api_base")(url_check("RENDERBOT_DISCORD__API_BASE"))
    _check_gateway = field_validator("gateway_url")(
        url_check("RENDERBOT_DISCORD__GATEWAY_URL", ("ws", "wss"))
    )
    guild_id: int | None = Field(
        None, description="sync the slash commands to this guild only (instant; for development)"
    )
    edit_interval: float = Field(
        1.5, ge=0, description="seconds between two progress edits of one status message"
    )
    global_rate: float = Field(
        40.0, gt=0, description="REST requests per second the progress sender allows itself"
    )
    size_presets: dict[str, tuple[int, int]] = Field(
        default_factory=dict,
        description="size presets offered in /render; empty = core.render_settings.PRESETS",
    )
    inline_max_bytes: int = Field(
        25 * 1024 * 1024, ge=0,
        description="upload a finished video into the channel when it is at most this many "
                    "bytes (and within the guild's upload limit); larger: poster + link; 0 = never",
    )


class SlackSettings(BaseModel):
    """The Slack app (``RENDERBOT_SLACK__*``), served by the API at ``POST /slack/events``.

    ``RENDERBOT_SLACK_BOT_TOKEN`` / ``RENDERBOT_SLACK_SIGNING_SECRET`` stay top-level.
    With ``client_id`` and ``client_secret`` set the app is multi-workspace: workspaces
    install it at ``/slack/install`` and their bot tokens are kept in the database.
    """

    api_base: str | None = Field(
        None, description="Web API base URL ending in /api/; unset = slack_sdk's (Slack's)"
    )
    _check_api_base = field_validator("api_base")(url_check("RENDERBOT_SLACK__API_BASE"))
    client_id: str | None = Field(None, description="OAuth client id (multi-workspace install)")
    client_secret: SecretStr | None = Field(None, description="OAuth client secret")
    update_interval: float = Field(
        2.0, ge=0, description="seconds between two progress updates of one status message"
    )
    per_team_updates_per_minute: float = Field(
        45.0, gt=0,
        description="chat.update calls per workspace per minute (Slack's Tier 3 is about 50)",
    )
    size_presets: dict[str, tuple[int, int]] = Field(
        default_factory=dict,
        description="size presets offered in the /render modal; empty = the shared presets",
    )
    static_project_limit: int = Field(
        25, ge=0, le=100,
        description="up to this many projects the modal lists them; beyond, type-ahead search",
    )
    inline_max_bytes: int = Field(
        50_000_000, ge=0,
        description="videos up to this size (and Slack's 1 GB file limit) are uploaded into "
                    "the status message's thread (files.uploadV2) to play in Slack; larger "
                    "ones get the poster and the link; 0 = never upload",
    )
