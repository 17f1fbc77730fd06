"""Remotion Lambda's progress object (``getRenderProgress``) as a :class:`RenderStatus`,
and the output keys it names as the storage adapter knows them. Used by the ``lambda``
backend (``core/backends/lambda_.py``).
"""

from __future__ import annotations

import math
import time
from typing import Any

from core.backends.base import RenderStatus
from core.backends.lambda_errors import classify_errors


def status_from_progress(
    data: dict[str, Any], *, output_bucket: str, output_prefix: str
) -> RenderStatus:
    """Map Remotion's progress object (``getRenderProgress``) to a RenderStatus."""
    costs = data.get("costs") or {}
    cost = costs.get("accruedSoFar") if isinstance(costs, dict) else None
    info = {
        "frames_rendered": data.get("framesRendered"),
        "chunks": data.get("chunks"),
        "lambdas_invoked": data.get("lambdasInvoked"),
        "cost_so_far": cost,
    }
    if data.get("done"):
        out_bucket = data.get("outBucket") or output_bucket
        return RenderStatus(
            state="done", progress=1.0,
            output_key=caller_key(data.get("outKey"), out_bucket, output_bucket=output_bucket,
                                  output_prefix=output_prefix),
            # the storage's own bucket is None on the job, as with the local backend
            output_bucket=None if out_bucket == output_bucket else out_bucket,
            output_size=data.get("outputSizeInBytes"), cost=cost,
            info={**info, "time_to_finish_ms": data.get("timeToFinish")},
        )
    errors = [e for e in (data.get("errors") or []) if isinstance(e, dict)]
    if data.get("fatalErrorEncountered") or any(
        e.get("isFatal") and not e.get("willRetry") for e in errors
    ):
        state, message, retryable, kind = classify_errors(
            errors or [{"message": "unknown error"}])
        return RenderStatus(state=state, error=message, retryable=retryable, cost=cost,
                            info=info, error_kind=kind)
    fraction = float(data.get("overallProgress") or 0.0)
    return RenderStatus(
        state="rendering", progress=max(0.0, min(1.0, fraction)),
        eta_seconds=eta(data, fraction), cost=cost, info=info,
    )


def caller_key(
    out_key: str | None, out_bucket: str | None, *, output_bucket: str, output_prefix: str
) -> str | None:
    """The key the storage adapter knows (without its prefix) for an object key."""
    if not out_key:
        return None
    prefix = output_prefix.strip("/")
    if out_bucket == output_bucket and prefix and out_key.startswith(prefix + "/"):
        return out_key[len(prefix) + 1:]
    return out_key


def eta(data: dict[str, Any], fraction: float) -> float | None:
    meta = data.get("renderMetadata") or {}
    started = meta.get("startedDate") if isinstance(meta, dict) else None
    if not started or fraction < 0.05:
        return None
    elapsed = max(0.0, time.time() - float(started) / 1000.0)
    return math.ceil(elapsed * (1.0 - fraction) / fraction)
