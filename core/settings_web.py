"""The HTTP side and what renderbot reaches: ``RENDERBOT_API__*``, ``RENDERBOT_DASHBOARD__*``,
``RENDERBOT_NETWORK__*`` and ``RENDERBOT_CALLBACKS__*``; re-exported by core/settings.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from core.settings_checks import cidrs_check


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
        cidrs_check("RENDERBOT_NETWORK__ALLOWED_NETWORKS")
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
        cidrs_check("RENDERBOT_CALLBACKS__ALLOWED_NETWORKS")
    )
