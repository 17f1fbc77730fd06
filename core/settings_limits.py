"""What users may ask for and how workers run jobs: ``RENDERBOT_LIMITS__*`` and
``RENDERBOT_WORKER__*``; re-exported by core/settings.py."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
        "dead worker, dead-lettered step), or a job's start may spend all its retries, before "
        "it fails with a refund",
    )
    reconcile_interval: float = Field(15.0, gt=0, description="seconds between reconciler runs")
    reconcile_grace: float = Field(
        10.0, ge=0, description="a queued job this old with no worker on it is re-enqueued"
    )
    retry_base_delay: float = Field(2.0, ge=0, description="first retry after a transient error")
    retry_max_delay: float = Field(60.0, ge=0)
    link_expiry_seconds: int = Field(7 * 24 * 3600, ge=60)
