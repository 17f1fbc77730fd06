"""What the stand-in records: each render it runs and each invocation it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.lambda_standin.faults import Faults


@dataclass
class StandinRender:
    render_id: str
    bucket: str
    payload: dict[str, Any]
    input_props: dict[str, Any]
    started_at: float
    state: str = "rendering"  # rendering | done | failed | cancelled | timeout
    cancel_seen: bool = False
    local_ids: list[str] = field(default_factory=list)
    output: dict[str, Any] | None = None  # where the mp4 went: endpoint, bucket, key
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # type, status, at, answer
    finished_at: float | None = None
    faults: Faults = field(default_factory=Faults)


@dataclass
class Invocation:
    type: str | None
    payload: dict[str, Any]
    status: int
    at: float
    response: dict[str, Any] | None = None
