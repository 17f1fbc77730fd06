"""One settings object for every process (env prefix ``RENDERBOT_``, ``.env`` supported).

The defaults are the embedded ones: SQLite under ``./var``, an in-process queue, the local
Remotion renderer and local storage. Nothing needs to be set to run ``renderbot demo``.
Names in the contract (``docs/contract.md``) are top-level fields; tunables sit in nested
sections addressed with ``__`` (``RENDERBOT_PRICING__CREDITS_PER_MINUTE=12``).
"""

from __future__ import annotations

import math
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "please-change", "xxx"}


def _url(env_name: str, schemes: tuple[str, ...] = ("http", "https"), *, optional: bool = True):
    """A validator: an absolute URL with one of ``schemes`` and a host (if ``optional``,
    unset/empty = None), else one line naming the setting (never echoing the value: it
    may hold a password)."""

    def check(value: str | None) -> str | None:
        if optional and (value is None or value == ""):
            return None
        try:
            parts = urlsplit(value)
            ok = parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
        except ValueError:
            ok = False
        if not ok or any(c.isspace() for c in value):
            raise ValueError(f"{env_name}: must be a {' or '.join(schemes)} URL with a host")
        return value

    return check


QUALITY_MULTIPLIERS = {"low": 0.75, "medium": 1.0, "high": 1.5}
FORMAT_MULTIPLIERS = {"mp4": 1.0, "webm": 1.25, "gif": 0.75}



def _merged_multipliers(field: str, what: str, value: dict[str, float],
                        defaults: dict[str, float]) -> dict[str, float]:
    """A partial override keeps the other defaults; unknown names and factors outside
    (0, 100] are refused in one line naming the variable."""
    name = f"RENDERBOT_PRICING__{field}"
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ValueError(f"{name}: unknown {what} {unknown[0]!r} (allowed: {', '.join(defaults)})")
    for key, factor in value.items():
        if not math.isfinite(factor) or not 0 < factor <= 100:
            raise ValueError(f"{name}: {key} must be a number above 0 (at most 100)")
    return {**defaults, **value}

class PricingSettings(BaseModel):
    """Inputs of :func:`core.pricing.credit_cost` (see its docstring for the formula)."""

    credits_per_minute: int = Field(10, ge=1, description="1080p, 30 fps, medium quality")
    quality_multipliers: dict[str, float] = Field(
        default_factory=lambda: dict(QUALITY_MULTIPLIERS),
        description="per quality; a partial override keeps the defaults of the others",
    )
    effect_surcharge: float = Field(0.1, ge=0, allow_inf_nan=False, description="+10% per effect")
    minimum: int = Field(1, ge=1)
    format_multipliers: dict[str, float] = Field(
        default_factory=lambda: dict(FORMAT_MULTIPLIERS),
        description="per format (mp4, webm, gif); a partial override keeps the other defaults",
    )

    @field_validator("format_multipliers")
    @classmethod
    def _merge_format_multipliers(cls, value: dict[str, float]) -> dict[str, float]:
        return _merged_multipliers("FORMAT_MULTIPLIERS", "format", value, FORMAT_MULTIPLIERS)

    @field_validator("quality_multipliers")
    @classmethod
    def _merge_multipliers(cls, value: dict[str, float]) -> dict[str, float]:
        return _merged_multipliers("QUALITY_MULTIPLIERS", "quality", value, QUALITY_MULTIPLIERS)


class LimitSettings(BaseModel):
    """Bounds of the render settings users may pick (see core/render_settings.py)."""

    min_side: int = 128
    max_side: int = 3840
    max_pixels: int = 3840 * 2160
    frame_rates: list[int] = [24, 25, 30, 50, 60]
    min_duration: float = 1.0
    max_duration: float = 600.0
    effects: list[str] = ["grain", "vignette", "glow", "scanlines"]
    # fair use (core/fairness.py): jobs past these wait queued, never fail
    max_active_per_account: int = Field(3, ge=1, description="renders one account has running")
    max_active_per_chat_server: int = Field(
        10, ge=1, description="renders one Discord guild or Slack workspace has running"
    )
    # preview stills (core/previews.py): free, so limited per account per minute
    previews_per_minute: int = Field(20, ge=0, description="preview stills per account per "
                                     "minute (0 = unlimited)")
    preview_wait_seconds: float = Field(
        20.0, gt=0, description="how long a preview request waits for a worker's still"
    )


class WorkerSettings(BaseModel):
    poll_interval: float = Field(1.0, gt=0, description="seconds between progress polls")
    max_attempts: int = Field(3, ge=1, description="render attempts before a job fails")
    lease_seconds: float = Field(60.0, gt=0, description="a job whose lease is older is re-run")
    max_reconciles: int = Field(
        5, ge=1, description="times the reconciler may pick a processing job up (expired lease: "
        "dead worker, dead-lettered step) before it fails with a refund",
    )
    reconcile_interval: float = Field(15.0, gt=0, description="seconds between reconciler runs")
    reconcile_grace: float = Field(
        10.0, ge=0, description="a queued job this old with no worker on it is re-enqueued"
    )
    retry_base_delay: float = Field(2.0, ge=0, description="first retry after a transient error")
    retry_max_delay: float = Field(60.0, ge=0)
    link_expiry_seconds: int = Field(7 * 24 * 3600, ge=60)


class DashboardSettings(BaseModel):
    """`renderbot dashboard` (Streamlit): ``RENDERBOT_DASHBOARD__*``.

    Admins sign in by name and password (``renderbot admins create NAME --role ...``);
    behind an authenticating proxy, ``trusted_user_header`` names the header that carries
    the signed-in admin's name instead.
    """

    refresh_seconds: float = Field(30.0, ge=0, description="auto-refresh interval; 0 = off")
    trusted_user_header: str | None = Field(
        None, description="header set by an authenticating proxy with the admin's name; "
        "only set it when every request reaches the dashboard through that proxy",
    )
    max_grant: int = Field(10_000, ge=1, description="most credits one grant may add")


class DiscordSettings(BaseModel):
    """`renderbot discord` and the status-message edits (``RENDERBOT_DISCORD__*``).

    The bot token stays top-level (``RENDERBOT_DISCORD_TOKEN``). ``api_base`` and
    ``gateway_url`` default to discord.py's own endpoints; tests point them at a fake.
    """

    api_base: str | None = Field(None, description="REST base incl. /api/v10; unset = discord.py's")
    gateway_url: str | None = Field(None, description="gateway websocket URL; unset = discord.py's")
    _check_api_base = field_validator("api_base")(_url("RENDERBOT_DISCORD__API_BASE"))
    _check_gateway = field_validator("gateway_url")(
        _url("RENDERBOT_DISCORD__GATEWAY_URL", ("ws", "wss"))
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
    _check_api_base = field_validator("api_base")(_url("RENDERBOT_SLACK__API_BASE"))
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


class ApiSettings(BaseModel):
    """The HTTP API (`renderbot serve` / `renderbot api`): ``RENDERBOT_API__*``."""

    host: str = Field("127.0.0.1", description="address uvicorn binds to")
    port: int = Field(8000, ge=0, le=65535, description="port uvicorn binds to")
    renders_per_minute: int = Field(
        60, ge=0, description="POST /v1/renders (and batches) per account per minute; 0 = no limit"
    )
    metrics_token: SecretStr | None = Field(
        None, description="when set, GET /metrics needs Authorization: Bearer <this token>"
    )
    media_link_seconds: int = Field(
        3600, ge=1, description="lifetime of the storage link a download link redirects to"
    )
    log_format: Literal["text", "json"] = "text"


def _cidrs(env_name: str):
    """A validator: every entry a CIDR, else one line naming the setting and the entry."""

    def check(value: list[str]) -> list[str]:
        from core.network import parse_networks

        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"{env_name}: {exc}") from None
        return value

    return check


class NetworkSettings(BaseModel):
    """The outbound network policy (core/network.py): every address renderbot connects to
    on a user's behalf — callbacks, project URLs, storage endpoints. ``RENDERBOT_NETWORK__*``."""

    allowed_networks: list[str] = Field(
        default_factory=list,
        description='CIDRs allowed although not public, e.g. ["127.0.0.0/8"]; '
        "RENDERBOT_CALLBACKS__ALLOWED_NETWORKS is added to these",
    )
    asset_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="largest file a project URL may point at"
    )
    asset_timeout: float = Field(30.0, gt=0, description="seconds to fetch one project URL")
    asset_link_seconds: int = Field(
        6 * 3600, ge=60, le=7 * 24 * 3600,
        description="lifetime of the storage link the renderer reads a fetched file from",
    )

    _check_cidrs = field_validator("allowed_networks")(
        _cidrs("RENDERBOT_NETWORK__ALLOWED_NETWORKS")
    )


class CallbackSettings(BaseModel):
    """Signed callbacks to webhook callers: ``RENDERBOT_CALLBACKS__*``."""

    allow_private: bool = Field(
        False, description="allow callback URLs on loopback/private/link-local/metadata addresses"
    )
    allowed_networks: list[str] = Field(
        default_factory=list, description='CIDRs allowed even though not public, e.g. ["127.0.0.0/8"]'
    )
    timeout: float = Field(10.0, gt=0, description="seconds per delivery attempt")
    max_attempts: int = Field(8, ge=1, description="deliveries tried per event")
    retry_base_delay: float = Field(10.0, ge=0, description="first retry; doubles each time")
    retry_max_delay: float = Field(3600.0, ge=0)
    progress_interval: float = Field(
        2.0, ge=0, description="at most one progress callback per job this often (seconds)"
    )

    _check_cidrs = field_validator("allowed_networks")(
        _cidrs("RENDERBOT_CALLBACKS__ALLOWED_NETWORKS")
    )


class LambdaTimingSettings(BaseModel):
    """Constants of the Remotion Lambda render-time model (core/render/lambda_planner.py).

    Conservative figures for a 2048 MB function (about 1.2 vCPU) rendering a 1080p frame
    of our Visualizer; re-measure and override them (``RENDERBOT_REMOTION__TIMING__*``)
    from the ``timeToFinish`` of real renders. Each says whether it is MEASURED (Remotion's
    real function on the test harness: ``python -m tests.lambda_real.calibrate``, 320x180,
    30 frames, 1 and 2 renderers, x64 on a shared 2-core machine with local S3) or ASSUMED
    (what 320x180 clips on a local emulator cannot show: 1080p frames, AWS latency).
    """

    # ASSUMED: 30 frames at 320x180 took the same time as 15 (< 0.02 s a frame, lost in noise)
    frame_seconds_1080p: float = Field(0.2, gt=0, description="one 1080p frame, one renderer")
    # ASSUMED (pessimistic: measured 320x180 frames cost less than 0.25 × 0.2 s)
    min_frame_scale: float = Field(
        0.25, gt=0, description="per-frame cost never drops below this share of 1080p"
    )
    # MEASURED: start invoked → first renderer invoked 2.0-3.1 s (median 2.6 s), rounded up
    launch_seconds: float = Field(
        3.0, ge=0, description="start + main function cold start + composition evaluation"
    )
    # ASSUMED for AWS: 0.003 s measured between two renderer invocations, but locally
    invoke_seconds_per_renderer: float = Field(
        0.01, ge=0, description="the main function invokes renderers one after another"
    )
    # MEASURED: a renderer's whole invocation for ≤ 30 small frames took 4.6-5.9 s (was 4.0)
    renderer_cold_start_seconds: float = Field(
        5.0, ge=0, description="renderer cold start, Chromium launch, serve URL opened"
    )
    # ASSUMED (two renderers cannot show a spread)
    straggler_coefficient: float = Field(
        0.05, ge=0, description="slowest renderer = average × (1 + c·ln renderers)"
    )
    # MEASURED: last renderer done → progress "done" 0.3-1.1 s for 30 frames (was 1.5)
    stitch_seconds: float = Field(1.0, ge=0, description="fixed part of combining the chunks")
    # ASSUMED (30 small frames do not separate a per-frame part)
    stitch_seconds_per_frame_1080p: float = Field(
        0.0015, ge=0, description="download chunks, concatenate, upload to R2 (per 1080p frame)"
    )


class RemotionSettings(BaseModel):
    """Remotion Lambda (``RENDERBOT_RENDER_BACKEND=lambda``): ``RENDERBOT_REMOTION__*``.

    Region, function, serve URL and webhook secret are top-level (``RENDERBOT_REMOTION_*``,
    the contract's names); this section tunes the planner, the governor and the SDK.
    """

    target_seconds: float = Field(120.0, gt=0, description="render wall time the planner aims at")
    concurrency_limit: int = Field(
        1000, ge=2,
        description="Lambda functions renderbot may run at once in the region (the account's "
        "concurrency limit minus what other functions there need)",
    )
    min_frames_per_lambda: int = Field(20, ge=5, description="smallest chunk (Remotion: ≥ 5)")
    max_renderers: int = Field(200, ge=1, le=200, description="renderers per render (Remotion: ≤ 200)")
    function_timeout_seconds: float = Field(
        900.0, gt=0, le=900, description="timeout the function was deployed with (deploy:lambda: 900)"
    )
    timing: LambdaTimingSettings = LambdaTimingSettings()
    invoke_max_attempts: int = Field(
        4, ge=1, le=10,
        description="botocore tries per Invoke (throttling, 5xx, network), the only retry there",
    )
    chunk_max_retries: int = Field(
        1, ge=0, le=5, description="Remotion's retries of a chunk that failed with a flaky error"
    )
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    sdk_threads: int = Field(8, ge=1, description="threads running the (blocking) SDK")
    governor_wait_seconds: float = Field(
        5.0, gt=0, description="a job waiting for Lambda capacity looks again this often"
    )
    webhook_url: str | None = Field(
        None, description="completion webhook; default <public_base_url>/webhooks/remotion"
    )
    _check_webhook_url = field_validator("webhook_url")(_url("RENDERBOT_REMOTION__WEBHOOK_URL"))
    force_path_style: bool = Field(False, description="path-style URLs for Remotion's own bucket")
    delay_render_timeout_ms: int = Field(30000, ge=1000, description="timeoutInMilliseconds")


class StorageSettings(BaseModel):
    """Per-account destinations and retention of the default storage:
    ``RENDERBOT_STORAGE__*`` (``RENDERBOT_STORAGE_URL`` still names the default storage)."""

    retention_days: int = Field(
        30, ge=0, description="videos in the default storage are deleted after this many days; "
        "0 = kept forever (a creator's own bucket is never swept)",
    )
    sweep_interval: float = Field(
        3600.0, gt=0, description="seconds between two retention sweeps of a worker"
    )
    verify_timeout: float = Field(
        10.0, gt=0, description="seconds each request of a destination's probe may take"
    )
    preview_retention_hours: float = Field(
        24.0, gt=0, description="preview stills (previews/ in the default storage) older than "
        "this are deleted by the retention sweep; asking again renders them again",
    )
    previous_secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="former RENDERBOT_SECRET_KEY values whose stored storage secrets still "
        "decrypt until `renderbot storage rotate` re-encrypts them",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RENDERBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    var_dir: Path = Path("./var")
    database_url: str = ""
    broker_url: str = "memory://"
    render_backend: Literal["local", "lambda", "instant"] = "local"  # instant: tests/benchmarks
    storage_url: str = ""  # default: file:<var_dir>/media
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None

    chromium_path: str = "/usr/bin/chromium"
    render_server_dir: Path | None = None  # default: <var_dir>/render-server (socket, cache)
    render_max_parallel: int = Field(1, ge=1, description="local renders at once")
    remotion_dir: Path = Path(__file__).resolve().parent.parent / "remotion"

    remotion_region: str | None = None
    remotion_function_name: str | None = None
    remotion_serve_url: str | None = None
    remotion_webhook_secret: SecretStr | None = None

    discord_token: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None

    require_services: bool = False
    test_backends: bool = Field(
        False, description="allow render_backend=instant (placeholder videos; tests and benchmarks)"
    )
    starting_credits: int = Field(0, ge=0, description="credits granted to new chat accounts")

    pricing: PricingSettings = PricingSettings()
    limits: LimitSettings = LimitSettings()
    worker: WorkerSettings = WorkerSettings()
    dashboard: DashboardSettings = DashboardSettings()
    discord: DiscordSettings = DiscordSettings()
    slack: SlackSettings = SlackSettings()
    api: ApiSettings = ApiSettings()
    callbacks: CallbackSettings = CallbackSettings()
    network: NetworkSettings = NetworkSettings()
    remotion: RemotionSettings = RemotionSettings()
    storage: StorageSettings = StorageSettings()

    _check_public_base_url = field_validator("public_base_url")(
        _url("RENDERBOT_PUBLIC_BASE_URL", optional=False)
    )
    _check_s3_endpoint_url = field_validator("s3_endpoint_url")(_url("RENDERBOT_S3_ENDPOINT_URL"))
    _check_serve_url = field_validator("remotion_serve_url")(_url("RENDERBOT_REMOTION_SERVE_URL"))

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        # RENDERBOT_CALLBACKS__ALLOWED_NETWORKS: the older name of the network policy's list.
        extra = [c for c in self.callbacks.allowed_networks
                 if c not in self.network.allowed_networks]
        if extra:
            self.network = self.network.model_copy(
                update={"allowed_networks": [*self.network.allowed_networks, *extra]}
            )
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.var_dir / 'renderbot.db'}"
        if not self.storage_url:
            self.storage_url = f"file:{self.var_dir / 'media'}"
        if self.secret_key is not None:
            if self.secret_key.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("RENDERBOT_SECRET_KEY is a placeholder; set a real secret")
        elif not self.is_embedded:
            raise ValueError("RENDERBOT_SECRET_KEY is required outside the embedded default")
        return self

    @model_validator(mode="after")
    def _test_backends_only_when_enabled(self) -> Settings:
        if self.render_backend == "instant" and not self.test_backends:
            raise ValueError(
                "RENDERBOT_RENDER_BACKEND=instant delivers placeholder bytes, not videos: "
                "it needs RENDERBOT_TEST_BACKENDS=1 (tests and benchmarks only)"
            )
        return self

    @property
    def is_embedded(self) -> bool:
        """SQLite + in-process queue: the zero-configuration default."""
        return self.database_url.startswith("sqlite") and self.broker_url.startswith("memory")

    def secret_bytes(self) -> bytes:
        """The secret key; on the embedded default it is generated once and kept in var/."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)  # first writer wins; never overwrite a key in use
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return path.read_text().strip().encode()


def describe_error(exc: Exception) -> str:
    """One line naming the environment variable behind a settings error (for startup)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    first = errors()[0]
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    fields = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    if message.startswith("RENDERBOT_") or not fields:
        return message
    return f"RENDERBOT_{'__'.join(fields).upper()}: {message}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
