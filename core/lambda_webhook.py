"""Remotion Lambda's completion webhook: the fast path to a job's end.

Remotion POSTs ``{type: success|error|timeout, renderId, bucketName, customData, ...}``
when a render ends, signed with ``X-Remotion-Signature: sha512=<hex HMAC-SHA512 of the raw
body>`` (``calculateSignature`` in @remotion/serverless). Polling stays the safety net:
the webhook may come first, second, twice or never.

:func:`handle` verifies the signature, finds the job and attempt from ``customData``
(``{"job_id", "attempt"}``, set by the lambda backend), checks that ``renderId`` is that
attempt's render, and applies the outcome through :func:`core.pipeline.apply_status` —
the same code the poll uses, which re-claims the job and checks the attempt, so
whichever of webhook and poll comes second changes nothing:

- ``success``: completed once the mp4 is in storage (a HEAD on R2; if it is not there
  yet the webhook is acknowledged and the poll finishes the job), with the reported cost;
- ``error``: a permanent error fails the job (refund, readable message); a transient one
  is left to the worker, which retries it on its next poll — the webhook only ends jobs;
- ``timeout``: failed (permanent) with a clear message.

Unknown jobs, ended jobs, older attempts and foreign renders are acknowledged and ignored
(a non-2xx answer would only make Remotion send it again).

The installed SDK (remotion-lambda 4.0.527) has no ``validate_webhook_signature``, so
:func:`verify_signature` implements Remotion's ``validateWebhookSignature`` — on the raw
body (what was signed) instead of a re-serialisation, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from core import pipeline
from core.backends.base import RenderStatus
from core.backends.lambda_errors import classify_errors
from core.models import RenderJob
from core.notify import JobChange
from core.runtime import Runtime
from core.schemas import JobRead

log = logging.getLogger("renderbot.lambda.webhook")
SIGNATURE_HEADER = "X-Remotion-Signature"


class InvalidSignature(Exception):
    """The webhook is not signed with our secret (or we have none)."""


class InvalidPayload(Exception):
    """Signed, but not a Remotion webhook body."""


@dataclass
class Outcome:
    action: str  # completed | failed | cancelled | ignored | left_to_worker
    job_id: str | None = None
    reason: str = ""
    changes: list[tuple[JobRead, JobChange]] = field(default_factory=list)  # made by this call


def signature(secret: str, body: bytes) -> str:
    return "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def verify_signature(secret: str | None, body: bytes, header: str | None) -> bool:
    if not secret or not header or header == "NO_SECRET_PROVIDED":
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


# The changes attempt_outcomes.notify reports while one handle() call runs (see _Recorder).
_changes: ContextVar[list | None] = ContextVar("lambda_webhook_changes", default=None)


class _Recorder:
    """A notifier adapter that tells :func:`handle` which job changes *this* call made
    (the poll, in another task or process, records nothing here)."""

    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        recorded = _changes.get()
        if recorded is not None:
            recorded.append((job, change))


async def handle(rt: Runtime, body: bytes, signature_header: str | None) -> Outcome:
    secret = rt.settings.remotion_webhook_secret
    if not verify_signature(secret.get_secret_value() if secret else None, body,
                            signature_header):
        raise InvalidSignature("invalid or missing X-Remotion-Signature")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidPayload("the body is not JSON") from exc
    if not isinstance(payload, dict) or payload.get("type") not in ("success", "error", "timeout"):
        raise InvalidPayload("not a Remotion webhook (type must be success, error or timeout)")

    custom = payload.get("customData") or {}
    job_id = custom.get("job_id") if isinstance(custom, dict) else None
    attempt = custom.get("attempt") if isinstance(custom, dict) else None
    if not isinstance(job_id, str) or not isinstance(attempt, int):
        return Outcome("ignored", reason="no renderbot job in customData")
    async with rt.db.transaction() as session:
        job = await session.get(RenderJob, job_id)
        if job is None:
            return Outcome("ignored", job_id, "unknown job")
        if job.status != "processing" or job.attempts != attempt:
            return Outcome("ignored", job_id, f"job is {job.status}, attempt {job.attempts}")
        if (job.backend_info or {}).get("lambda_render_id") != payload.get("renderId"):
            return Outcome("ignored", job_id, "not this attempt's render")
        output_key, output_bucket = job.output_key, job.output_bucket

    status = await _status(rt, payload, output_key, output_bucket)
    if status is None:
        return Outcome("ignored", job_id, "the video is not in storage yet; the poll will see it")
    if status.state == "failed" and status.retryable:
        return Outcome("left_to_worker", job_id, status.error or "")

    if not any(isinstance(a, _Recorder) for a in rt.notifiers.adapters):
        rt.notifiers.add(_Recorder())
    recorded: list = []
    token = _changes.set(recorded)
    try:
        await pipeline.apply_status(rt, job_id, attempt, status)
    finally:
        _changes.reset(token)
    if not recorded:
        return Outcome("ignored", job_id, "the poll got there first")
    action = recorded[-1][1]
    log.info("job %s %s by the Remotion webhook", job_id, action, extra={"job_id": job_id})
    return Outcome(action, job_id, status.error or "", changes=recorded)


async def _status(
    rt: Runtime, payload: dict[str, Any], key: str | None, bucket: str | None
) -> RenderStatus | None:
    kind = payload["type"]
    if kind == "success":
        if not key:
            return None
        size = await rt.storage.size(key=key, bucket=bucket)
        if size is None:
            return None
        costs = payload.get("costs") or {}
        cost = costs.get("estimatedCost", costs.get("accruedSoFar")) if isinstance(costs, dict) else None
        return RenderStatus(state="done", progress=1.0, output_key=key, output_bucket=bucket,
                            output_size=size, cost=cost)
    if kind == "timeout":
        return RenderStatus(
            state="failed", retryable=False, error_kind="timeout",
            error="the render timed out on Remotion Lambda (the main function reached its "
                  "timeout before every chunk was rendered)",
        )
    errors = [
        {**e, "isFatal": True, "willRetry": False}
        for e in (payload.get("errors") or []) if isinstance(e, dict)
    ] or [{"message": "Remotion Lambda reported an error", "isFatal": True}]
    state, message, retryable, kind = classify_errors(errors)
    return RenderStatus(state=state, error=message, retryable=retryable, error_kind=kind)
