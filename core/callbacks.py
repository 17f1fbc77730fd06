"""Callbacks to webhook callers: what is sent, how it is signed, where it may go, when it
is retried. Transport-free: the HTTP POST itself is ``jobs/callbacks.py``.

An event is ``POST callback_url`` with the body::

    {"id": "evt_...", "type": "render.completed", "created": 1764000000, "job": {...}}

where ``job`` is exactly what ``GET /v1/renders/{id}`` returns, and the headers
``Renderbot-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` (key: the
account's webhook secret), ``Renderbot-Event-Id`` and ``Renderbot-Event``. Receivers
check it with :func:`verify_signature` (stdlib only, copy it if you like).

Delivery policy: a 2xx answer delivers the event; anything else (another status, a
timeout, a refused connection) is retried after ``retry_base_delay × 2^(attempt-1)``
seconds (capped), ``max_attempts`` tries in all. Progress events are throttled per job
(:class:`ProgressThrottle`) and dropped, not retried, once the job has ended; completed,
failed and cancelled events are never dropped. URLs that resolve to anything but a public
address are refused (:func:`check_url`, the network policy of ``core/network.py``) unless
the settings allow it; delivery connects only to the address it checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import accounts, network, renders
from core.models import CallbackAttempt, RenderJob
from core.notify import JobChange
from core.schemas import JobRead
from core.settings import CallbackSettings

SIGNATURE_HEADER = "Renderbot-Signature"
EVENT_ID_HEADER = "Renderbot-Event-Id"
EVENT_TYPE_HEADER = "Renderbot-Event"
DEFAULT_TOLERANCE = 300  # seconds a receiver accepts between "t" and its own clock

EventType = Literal["render.progress", "render.completed", "render.failed", "render.cancelled"]
EVENT_FOR_CHANGE: dict[str, EventType] = {
    "progress": "render.progress",
    "completed": "render.completed",
    "failed": "render.failed",
    "cancelled": "render.cancelled",
}
Outcome = Literal["delivered", "retrying", "failed", "refused"]

# The contract's Job object: what the API returns and what callbacks carry.
JOB_FIELDS = (
    "id", "status", "progress", "project_id", "settings", "credit_cost", "result_url",
    "poster_url", "error", "created_at", "started_at", "finished_at", "queue_position",
    "eta_seconds", "batch_id",
)


def event_for(change: JobChange) -> EventType | None:
    return EVENT_FOR_CHANGE.get(change)


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:24]


def job_json(job: JobRead) -> dict:
    """The public Job object (JSON-ready)."""
    return job.model_dump(mode="json", include=set(JOB_FIELDS))


def event_body(*, event_id: str, event_type: str, job: JobRead, created: int | None = None) -> bytes:
    body = {
        "id": event_id,
        "type": event_type,
        "created": int(time.time() if created is None else created),
        "job": job_json(job),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


# --- signatures -----------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Renderbot-Signature`` header value for ``body``."""
    t = int(time.time() if timestamp is None else timestamp)
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``header`` (``t=<unix>,v1=<hex>``) signs exactly ``body`` with ``secret``
    and ``t`` is within ``tolerance`` seconds of now (replays of old events fail).

    Pass the raw request body, not re-serialised JSON. Several ``v1=`` values may be
    present; any match is enough.
    """
    if not header or not secret:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --- where callbacks may go ------------------------------------------------------------


async def check_url(url: str, policy: network.Policy) -> None:
    """Refuse (:class:`InvalidInput` on ``callback_url``) URLs that are not http(s) or
    whose host is, or resolves to, an address the network policy does not allow
    (loopback, private, link-local, metadata, NAT64/6to4/Teredo forms…). Every resolved
    address must pass. Delivery re-checks: it connects through
    :class:`core.network.PinnedTransport` to the address it vetted."""
    await network.check_url(url, policy, field="callback_url")


# --- delivery decisions ---------------------------------------------------------------


def delivered(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def retry_delay(policy: CallbackSettings, attempt: int) -> float | None:
    """Seconds before the next try after try number ``attempt`` failed; None when that
    was the last one."""
    if attempt >= policy.max_attempts:
        return None
    return min(policy.retry_max_delay, policy.retry_base_delay * 2 ** max(0, attempt - 1))


class ProgressThrottle:
    """At most one progress event per job per ``interval`` seconds (per process)."""

    def __init__(self, interval: float, *, max_jobs: int = 10_000, clock=time.monotonic) -> None:
        self.interval = interval
        self.max_jobs = max_jobs
        self.clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()

    def allow(self, job_id: str) -> bool:
        now = self.clock()
        last = self._last.get(job_id)
        if last is not None and now - last < self.interval:
            return False
        self._last[job_id] = now
        self._last.move_to_end(job_id)
        while len(self._last) > self.max_jobs:
            self._last.popitem(last=False)
        return True

    def forget(self, job_id: str) -> None:
        self._last.pop(job_id, None)


# --- records ---------------------------------------------------------------------------


class CallbackAttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: str
    event_id: str
    event_type: str
    url: str
    attempt: int
    outcome: Outcome
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = None
    created_at: datetime


@dataclass(frozen=True)
class Target:
    """Where and how to send a job's events."""

    url: str
    secret: str
    job: JobRead


async def callback_url(*, session: AsyncSession, job_id: str) -> str | None:
    return await session.scalar(select(RenderJob.callback_url).where(RenderJob.id == job_id))


async def target(*, session: AsyncSession, job_id: str) -> Target | None:
    """The job's callback URL, its account's webhook secret and the job now; None when
    the job has no callback URL (or is gone)."""
    row = await session.execute(
        select(RenderJob.callback_url, RenderJob.account_id).where(RenderJob.id == job_id)
    )
    found = row.first()
    if found is None or not found.callback_url:
        return None
    secret = await accounts.webhook_secret(session=session, account_id=found.account_id)
    job = await renders.get(session=session, account_id=None, job_id=job_id)
    return Target(url=found.callback_url, secret=secret, job=job)


async def record_attempt(
    *,
    session: AsyncSession,
    job_id: str,
    event_id: str,
    event_type: str,
    url: str,
    attempt: int,
    outcome: Outcome,
    status_code: int | None = None,
    latency_ms: int | None = None,
    error: str | None = None,
) -> CallbackAttemptRead:
    row = CallbackAttempt(
        job_id=job_id, event_id=event_id, event_type=event_type, url=url, attempt=attempt,
        outcome=outcome, status_code=status_code, latency_ms=latency_ms,
        error=(error or None) and error[:1000],
    )
    session.add(row)
    await session.flush()
    return CallbackAttemptRead.model_validate(row)


async def attempts(
    *, session: AsyncSession, account_id: str | None, job_id: str, limit: int = 200
) -> list[CallbackAttemptRead]:
    """A job's callback attempts, oldest first (scoped to ``account_id``; None = admin)."""
    await renders.get(session=session, account_id=account_id, job_id=job_id)
    rows = await session.scalars(
        select(CallbackAttempt)
        .where(CallbackAttempt.job_id == job_id)
        .order_by(CallbackAttempt.id)
        .limit(limit)
    )
    return [CallbackAttemptRead.model_validate(r) for r in rows]
