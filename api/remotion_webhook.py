"""``POST /webhooks/remotion``: Remotion Lambda's completion webhook.

Translation only: the raw body and ``X-Remotion-Signature`` go to
:func:`core.lambda_webhook.handle`, which verifies the signature and ends the job (or
not). A bad or missing signature is a 401 and changes nothing; a signed body we cannot
use is a 400; everything else is a 200 (unknown or already finished jobs included), so
Remotion does not send it again.

When this process ended a job, the change is announced to the workers
(``announce_change``): their notifiers — chat messages, webhook callers' callbacks — are
the ones that fan job changes out, and they would not otherwise see a change made here.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import runtime
from core import lambda_webhook
from core.runtime import Runtime
from jobs.enqueue import announcer_for

log = logging.getLogger("renderbot.api.remotion")
router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/remotion", include_in_schema=False)
async def remotion_webhook(request: Request, rt: Runtime = Depends(runtime)) -> JSONResponse:
    body = await request.body()
    try:
        outcome = await lambda_webhook.handle(
            rt, body, request.headers.get(lambda_webhook.SIGNATURE_HEADER)
        )
    except lambda_webhook.InvalidSignature as exc:
        log.warning("Remotion webhook refused: %s", exc)
        return _error(401, "unauthorized", "invalid or missing X-Remotion-Signature")
    except lambda_webhook.InvalidPayload as exc:
        return _error(400, "bad_request", str(exc))
    if outcome.changes:
        _announce(rt, outcome.changes)
    return JSONResponse({"ok": True, "action": outcome.action, "job_id": outcome.job_id})


def _announce(rt: Runtime, changes) -> None:
    try:
        announce = announcer_for(rt.settings)
        if announce is None:
            log.warning("no broker: job changes made by the Remotion webhook are not announced")
            return
        for job, change in changes:
            announce(job.id, change)
    except Exception:  # noqa: BLE001 - the job has ended; a lost announcement is only logged
        log.warning("could not announce a job change to the workers", exc_info=True)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
