"""What the local render server answers: its errors, a render's status, a still.

Split from ``core/render/local_server.py`` (the client and process manager), which
re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

RenderState = Literal["queued", "rendering", "done", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})


class RenderServerError(RuntimeError):
    """The local render server could not be reached, started or understood."""


class RemotionNotInstalled(RenderServerError):
    """remotion/node_modules is missing."""

    def __init__(self, remotion_dir: Path) -> None:
        self.remotion_dir = remotion_dir
        super().__init__(
            f"Remotion's node modules are not installed in {remotion_dir}/node_modules: "
            f"run `npm ci --prefix {remotion_dir}` (from the repository root: "
            "`npm ci --prefix remotion`)."
        )


class RenderRequestRejected(RenderServerError):
    """The server refused a render request (HTTP 400): a bug in the caller, not retryable."""


class StillOutOfRange(RenderServerError):
    """A still was asked for a frame past the composition's last one."""


@dataclass(frozen=True)
class StillResult:
    """A rendered JPEG still: where it is and the composition's size."""

    output_path: Path
    width: int
    height: int
    frame: int
    duration_in_frames: int


@dataclass(frozen=True)
class LocalRenderStatus:
    id: str
    state: RenderState
    progress: float
    queue_position: int
    frames_rendered: int
    total_frames: int
    eta_seconds: float | None
    output_path: Path | None
    error_message: str | None
    retryable: bool
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_stack: str | None = None  # the failure's stack, for admins only

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalRenderStatus:
        error = data.get("error") or None
        output = data.get("outputPath")
        eta = data.get("etaSeconds")
        return cls(
            id=str(data["id"]),
            state=data["state"],
            progress=float(data.get("progress") or 0.0),
            queue_position=int(data.get("queuePosition") or 0),
            frames_rendered=int(data.get("framesRendered") or 0),
            total_frames=int(data.get("totalFrames") or 0),
            eta_seconds=None if eta is None else float(eta),
            output_path=Path(output) if output else None,
            error_message=error.get("message") if error else None,
            retryable=bool(error.get("retryable")) if error else False,
            started_at=_parse_time(data.get("startedAt")),
            finished_at=_parse_time(data.get("finishedAt")),
            error_stack=(error.get("stack") or None) if error else None,
        )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
