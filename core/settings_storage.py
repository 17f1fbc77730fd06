"""The default storage's retention and per-account destinations: ``RENDERBOT_STORAGE__*``;
re-exported by core/settings.py."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


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
