"""The queue-health report's shapes: the dashboard's time windows (:func:`window`) and
the figures of one window's :class:`Health` (computed by :mod:`core.admin.queue_health`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from core.admin.broker import BrokerStats
from core.db import utcnow
from core.errors import InvalidInput

WINDOWS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
WINDOW_LABELS = {"15m": "last 15 min", "1h": "last hour", "24h": "last 24 h", "7d": "last 7 days"}
BUCKET_SECONDS = {"15m": 60, "1h": 300, "24h": 3600, "7d": 6 * 3600}


class Window(BaseModel):
    key: str
    label: str
    start: datetime
    end: datetime
    bucket_seconds: int


def window(key: str, now: datetime | None = None) -> Window:
    if key not in WINDOWS:
        raise InvalidInput("window", f"must be one of {', '.join(WINDOWS)}")
    end = now or utcnow()
    return Window(key=key, label=WINDOW_LABELS[key], start=end - WINDOWS[key], end=end,
                  bucket_seconds=BUCKET_SECONDS[key])


class Percentiles(BaseModel):
    count: int = 0  # matching jobs in the window
    sample: int = 0  # the latest ones the percentiles are taken over
    p50: float | None = None
    p95: float | None = None


class Bucket(BaseModel):
    start: datetime
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class Target(BaseModel):
    name: str
    value: float | None  # None: nothing to measure in this window
    target: str
    met: bool | None
    sample: int


class Rule(BaseModel):
    level: Literal["red", "amber"]
    text: str


class LambdaCost(BaseModel):
    jobs: int
    cost_reported: float  # USD, as reported by Remotion Lambda, of the delivered attempts
    credits_charged: int
    # every attempt's reported cost (completed, failed, retried, cancelled): attempts whose
    # cost was last updated in the window (lambda_attempt_cost, core/lambda_costs.py)
    attempts: int = 0
    attempts_cost: float = 0.0

    @property
    def total_cost(self) -> float:
        """What Lambda cost: all attempts when they are recorded, else the delivered ones."""
        return self.attempts_cost if self.attempts else self.cost_reported

    @property
    def cost_per_credit(self) -> float | None:
        return self.total_cost / self.credits_charged if self.credits_charged else None


class Health(BaseModel):
    window: Window
    queued: int
    processing: int
    oldest_queued_job_id: str | None
    oldest_queued_age: float | None  # seconds
    created: int
    completed: int
    failed: int
    cancelled: int
    failure_rate: float | None
    attempts: int
    attempt_errors: int
    throughput: list[Bucket]
    queue_wait: Percentiles
    render_time: Percentiles
    credits_debited: int
    credits_refunded: int
    lambda_cost: LambdaCost | None
    broker: BrokerStats | None
    targets: list[Target]
    status: Literal["green", "amber", "red"]
    status_rule: str
    rules: list[Rule]
