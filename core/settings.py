"""One settings object for every process (env prefix ``RENDERBOT_``, ``.env`` supported).

The defaults are the embedded ones: SQLite under ``./var``, an in-process queue, the local
Remotion renderer and local storage. Nothing needs to be set to run ``renderbot demo``.
Names in the contract (``docs/contract.md``) are top-level fields; tunables sit in nested
sections addressed with ``__`` (``RENDERBOT_PRICING__CREDITS_PER_MINUTE=12``).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings_chat import DiscordSettings, SlackSettings
from core.settings_checks import url_check
from core.settings_lambda import LambdaTimingSettings, RemotionSettings
from core.settings_limits import LimitSettings, WorkerSettings
from core.settings_pricing import FORMAT_MULTIPLIERS, QUALITY_MULTIPLIERS, PricingSettings
from core.settings_storage import StorageSettings
from core.settings_web import ApiSettings, CallbackSettings, DashboardSettings, NetworkSettings

# the sections live in sibling modules; `from core.settings import XSettings` keeps working
__all__ = [
    "FORMAT_MULTIPLIERS", "PLACEHOLDER_SECRETS", "QUALITY_MULTIPLIERS", "ApiSettings",
    "CallbackSettings", "DashboardSettings", "DiscordSettings", "LambdaTimingSettings",
    "LimitSettings", "NetworkSettings", "PricingSettings", "RemotionSettings", "Settings",
    "SlackSettings", "StorageSettings", "WorkerSettings", "describe_error", "get_settings",
]

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "please-change", "xxx"}


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

    chromium_path: str = "/usr/bin/chromium-headless-shell"
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
        url_check("RENDERBOT_PUBLIC_BASE_URL", optional=False)
    )
    _check_s3_endpoint_url = field_validator("s3_endpoint_url")(url_check("RENDERBOT_S3_ENDPOINT_URL"))
    _check_serve_url = field_validator("remotion_serve_url")(url_check("RENDERBOT_REMOTION_SERVE_URL"))

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
