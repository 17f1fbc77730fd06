"""The render backend port: start a render, ask how it is going, stop it.

A backend knows nothing about jobs, credits or the database; the worker
(``jobs/pipeline.py``) turns what it reports into job state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from core.render_settings import RenderSettings

RenderState = Literal["queued", "rendering", "done", "failed", "cancelled", "lost"]


@dataclass(frozen=True)
class OutputTarget:
    """A creator's own bucket the video goes to (issue 16): what a backend that writes
    the output itself (Lambda's ``s3OutputProvider``) needs. Never logged."""

    endpoint: str
    region: str | None
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class RenderRequest:
    job_id: str
    attempt: int
    composition: str
    input_props: dict[str, Any]
    settings: RenderSettings
    output_key: str
    output_bucket: str | None = None
    output_target: OutputTarget | None = None  # None: the default storage

    @property
    def render_id(self) -> str:
        """Unique per attempt, so a retried attempt never collides with a dead one."""
        return f"{self.job_id}-a{self.attempt}"


@dataclass(frozen=True)
class RenderStatus:
    state: RenderState
    progress: float = 0.0  # 0..1
    queue_position: int | None = None
    eta_seconds: float | None = None
    output_path: Path | None = None  # a local file still to be uploaded
    output_key: str | None = None  # already in storage (Lambda writes straight to R2)
    output_bucket: str | None = None
    output_size: int | None = None
    cost: float | None = None
    error: str | None = None
    retryable: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    error_kind: str | None = None  # core.job_errors.Kind, when the backend knows it


@dataclass(frozen=True)
class Started:
    """What ``start`` may return instead of a bare reference: the reference plus facts
    the pipeline records on the job (``backend_info``), e.g. the Lambda plan."""

    ref: str
    info: dict[str, Any] = field(default_factory=dict)


class RenderError(Exception):
    """A backend failure; ``retryable`` tells the worker whether another attempt may work;
    ``kind`` (a ``core.job_errors.Kind``) what the creator is told (None: the message,
    cleaned by ``core.job_errors.one_line``). The message itself goes to admins only."""

    def __init__(self, message: str, *, retryable: bool, kind: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.kind = kind


class RenderBackend(Protocol):
    name: str

    async def start(self, request: RenderRequest) -> str | Started:
        """Start (idempotently, by ``request.render_id``) and return the backend reference."""

    async def status(self, ref: str) -> RenderStatus: ...

    async def cancel(self, ref: str) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class CapacityLimited(Protocol):
    """A backend whose renders share one capacity (Remotion Lambda: the account's
    concurrent functions). The pipeline admits a queued job only when its units fit
    (``core/render/governor.py``); otherwise it stays queued."""

    capacity_limit: int

    def capacity_units(self, settings: RenderSettings) -> int:
        """Units (functions) a render with these settings occupies while it runs."""
        ...


def input_props(project_state: dict[str, Any], settings: RenderSettings) -> dict[str, Any]:
    """The composition's props: the project's state plus what the render settings fix.

    Width, height, fps and duration travel as props so the composition's
    ``calculateMetadata`` gives local and Lambda renders the same shape.
    """
    return {
        **project_state.get("props", {}),
        "effects": list(settings.effects),
        "width": settings.width,
        "height": settings.height,
        "fps": settings.frame_rate,
        "durationInFrames": settings.frame_count,
        "draft": settings.draft,  # the composition draws its DRAFT mark (RenderSettings.rendered)
    }


@runtime_checkable
class HostBound(Protocol):
    """A backend whose renders live on one worker process (the local render server): a
    render's polls must reach the worker that started it, and a render whose worker is
    gone is lost. ``host`` names this process; ``owner(ref)`` the process that started
    the render ``ref`` names (recorded in the reference itself)."""

    host: str

    def owner(self, ref: str) -> str | None: ...
