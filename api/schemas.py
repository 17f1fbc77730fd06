"""Request and response bodies of the HTTP API (and so its OpenAPI document).

Responses reuse the core read models where the contract's shape is theirs (projects,
quotes, credits) and narrow ``JobRead`` to the contract's Job object. Requests accept
only JSON that core can take: strings without NUL characters or lone surrogates (which no
database stores), settings with the contract's keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from core.callbacks import JOB_FIELDS
from core.schemas import JobRead, JobStatus, SettingsModel


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > 32:
        raise ValueError("is nested too deeply")
    if isinstance(value, str):
        _clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _clean_text(key)
            _clean_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item, depth + 1)
    return value


Text = Annotated[str, AfterValidator(_clean_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]


# --- errors -----------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"], description="stable, machine-readable")
    message: str = Field(examples=["project 'prj_123' not found"], description="for people")
    field: str | None = Field(
        None, examples=["settings.frame_rate"], description="the input at fault, when one is"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses (all share :class:`ErrorBody`)."""
    descriptions = {
        401: "missing, unknown or revoked API key",
        402: "insufficient credits: nothing was queued or charged",
        403: "forged link",
        404: "unknown, or belongs to another account",
        409: "conflict",
        410: "expired link",
        422: "invalid input; `error.field` names it",
        429: "rate limited; see the Retry-After header",
        503: "not ready / temporarily unavailable",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorBody, "description": descriptions.get(status, "error")}
    return out


# --- projects ---------------------------------------------------------------------------


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200, examples=["Launch teaser"])
    state: JsonObject | None = Field(
        None,
        description='{"composition": "Visualizer", "props": {"title", "subtitle", "palette", '
        '"background", "audioUrl"}}; missing props take their defaults',
    )


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=200)
    state: JsonObject | None = Field(None, description="replaces the project's state")


# --- render settings, quotes, renders ---------------------------------------------------


class RenderSettingsIn(BaseModel):
    """The contract's ``settings``; any key left out takes its default."""

    model_config = ConfigDict(extra="forbid")

    resolution: list[StrictInt] | None = Field(
        None, min_length=2, max_length=2, examples=[[1920, 1080]],
        description="[width, height]: each side 128-3840 and even, at most 3840x2160 pixels; default [1920, 1080]",
    )
    frame_rate: StrictInt | None = Field(None, examples=[30], description="24, 25, 30, 50 or 60; default 30")
    duration: StrictInt | StrictFloat | None = Field(
        None, examples=[10], description="seconds, 1-600; default 10"
    )
    quality: Literal["high", "medium", "low"] | None = Field(None, description="default high")
    effects: list[Text] | None = Field(
        None, examples=[["grain", "vignette"]],
        description="any of grain, vignette, glow, scanlines; default none",
    )
    format: Literal["mp4", "webm", "gif"] | None = Field(
        None, description="mp4 (H.264 + AAC), webm (VP9 + Opus) or gif (at most 15 s and 720 px"
                          " on the longer side); default mp4",
    )
    draft: StrictBool | None = Field(
        None, description="true: half size per side, at most 15 fps, low quality, a visible "
                          "DRAFT mark, a tenth of the price (rounded up); default false",
    )

    def to_core(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


Size = Annotated[list[StrictInt], Field(min_length=2, max_length=2, examples=[[1280, 720]])]


class QuoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Text = Field(max_length=64)
    settings: RenderSettingsIn = Field(default_factory=RenderSettingsIn)
    variants: list[Size] | None = Field(
        None, max_length=16, description="2-4 sizes [W, H]: quotes the batch (the sum)"
    )


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Text = Field(max_length=64)
    settings: RenderSettingsIn = Field(default_factory=RenderSettingsIn)
    variants: list[Size] = Field(
        max_length=16, examples=[[[1280, 720], [720, 1280], [720, 720]]],
        description="2-4 different sizes [W, H]; each is a job with these settings at that size",
    )


class RenderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Text = Field(max_length=64, examples=["prj_0123456789abcdef0123"])
    settings: RenderSettingsIn = Field(default_factory=RenderSettingsIn)
    callback_url: Text | None = Field(
        None, max_length=2048, examples=["https://example.com/renderbot-hook"],
        description="receives signed render.progress / completed / failed / cancelled events",
    )


class Job(BaseModel):
    """The contract's Job object (what callbacks carry too)."""

    id: str
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    project_id: str
    settings: SettingsModel
    credit_cost: int
    result_url: str | None = Field(
        None, description="time-limited link that downloads the mp4 without further auth"
    )
    poster_url: str | None = Field(
        None, description="time-limited link to a JPEG poster frame of the completed render "
                          "(null when none could be made)"
    )
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_position: int | None = Field(None, description="1 = next to render (queued jobs)")
    eta_seconds: float | None = None
    batch_id: str | None = Field(None, description="the batch this job is a variant of")

    @classmethod
    def of(cls, job: JobRead) -> Job:
        return cls.model_validate(job.model_dump(include=set(JOB_FIELDS)))


class Batch(BaseModel):
    """A batch of aspect variants: ONE debit of ``credit_cost`` (the sum)."""

    id: str
    status: str = Field(description="queued, processing, completed, failed, cancelled, or "
                                    "partial (the variants ended differently)")
    project_id: str
    credit_cost: int
    created_at: datetime
    jobs: list[Job]


class CallbackEvent(BaseModel):
    """The body POSTed to ``callback_url`` (documentation)."""

    id: str = Field(description="event id, also in the Renderbot-Event-Id header")
    type: Literal["render.progress", "render.completed", "render.failed", "render.cancelled"]
    created: int = Field(description="unix time the event was made")
    job: Job


# --- health -----------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]
