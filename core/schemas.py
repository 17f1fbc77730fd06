"""What core services return: fully loaded pydantic models, safe outside a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AccountRead(_Read):
    id: str
    name: str
    balance: int
    created_at: datetime


class CreditEntryRead(_Read):
    id: int
    kind: Literal["grant", "debit", "refund", "adjustment"]
    amount: int
    balance_after: int
    job_id: str | None = None
    note: str | None = None
    created_at: datetime


class CreditsRead(BaseModel):
    balance: int
    entries: list[CreditEntryRead]


class ProjectRead(_Read):
    id: str
    account_id: str
    name: str
    state: dict[str, Any]
    last_render_job_id: str | None = None
    last_render_url: str | None = None
    last_rendered_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class SettingsModel(BaseModel):
    """The contract's ``settings`` object (the seed's RenderSettings)."""

    resolution: list[int] = Field(examples=[[1920, 1080]])
    frame_rate: int = Field(examples=[30])
    duration: float = Field(examples=[10])
    quality: Literal["high", "medium", "low"]
    effects: list[str] = Field(examples=[["grain", "vignette"]])
    format: Literal["mp4", "webm", "gif"] = "mp4"
    draft: bool = False


class QuoteRead(BaseModel):
    project_id: str
    settings: SettingsModel
    credit_cost: int
    balance: int
    balance_after: int
    frame_count: int


class JobRead(_Read):
    """The contract's Job object plus what chat surfaces need to draw progress."""

    id: str
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    project_id: str
    account_id: str
    settings: SettingsModel
    credit_cost: int
    result_url: str | None = None
    poster_url: str | None = None  # the JPEG poster frame of a completed render (issue 17)
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_position: int | None = None
    eta_seconds: float | None = None
    batch_id: str | None = None  # a variant of a batch (core/batches.py)
    attempts: int = 0
    backend: str
    cancel_requested: bool = False
    origin: dict[str, Any] = {}
    # whether the job has a callback_url (the worker's callback notifier skips a lookup);
    # None: not known (built without the job's row). Never serialized.
    has_callback: bool | None = Field(None, exclude=True)

    @property
    def is_final(self) -> bool:
        """Completed, failed or cancelled: the job will not change again."""
        return self.status in FINAL_STATUSES


class JobEventRead(_Read):
    id: int
    job_id: str
    at: datetime
    kind: str
    state: str | None = None
    progress: int | None = None
    actor: str | None = None
    detail: dict[str, Any] = {}


class ApiKeyCreated(BaseModel):
    id: str
    account_id: str
    key: str = Field(description="shown once; only its hash is stored")
