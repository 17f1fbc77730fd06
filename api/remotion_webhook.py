"""``POST /webhooks/remotion``: Remotion Lambda's completion webhook.

Translation only: the raw body and ``X-Remotion-Signature`` go to
:func:`core.lambda_webhook.handle`, which verifies the signature and ends the job (or
not). A bad or missing signature is a 401 and changes nothing; a signed body we cannot
use is a 400; everything else is a 200 (unknown or already finished jobs included), so
Remotion does not send it again.

When this process ended a job, the webhook callers' callback (``render.completed`` ...)
is queued for the workers, as the API does when it cancels a queued job: the worker's
callback notifier never sees a change made here.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import runtime
from core import callbacks as core_callbacks
from core import lambda_webhook
from core.runtime import Runtime

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
    for job, change in outcome.changes:
        _queue_callback(rt, job.id, change)
    return JSONResponse({"ok": True, "action": outcome.action, "job_id": outcome.job_id})


def _queue_callback(rt: Runtime, job_id: str, change) -> None:
    event = core_callbacks.event_for(change)
    if event is None or event == "render.progress":
        return
    try:
        from jobs.callbacks import send_event

        send_event(rt.settings, job_id, event)
    except Exception:  # noqa: BLE001 - the job is done; a lost callback is logged, not fatal
        log.warning("could not queue the %s callback for job %s", event, job_id, exc_info=True)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
