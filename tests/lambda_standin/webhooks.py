"""The completion webhook, signed and retried as Remotion's ``invokeWebhook`` does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from tests.lambda_standin.deployment import ACCOUNT_ID
from tests.lambda_standin.records import StandinRender


def webhook_signature(body: bytes, secret: str | None) -> str:
    """Remotion's ``calculateSignature``: ``sha512=`` + hex HMAC-SHA512 of the raw body."""
    if not secret:
        return "NO_SECRET_PROVIDED"
    return "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


class WebhookMixin:
    """Sending the webhook (``LambdaStandIn`` supplies ``webhook_backoff``)."""

    async def _webhook(self, render: StandinRender, extra: dict[str, Any]) -> None:
        hook = render.payload.get("webhook")
        if not hook:
            return
        payload = {**extra, "renderId": render.render_id, "expectedBucketOwner": ACCOUNT_ID,
                   "bucketName": render.bucket, "customData": hook.get("customData")}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json", "Content-Length": str(len(body)),
            "X-Remotion-Mode": "production",
            "X-Remotion-Signature": webhook_signature(body, hook.get("secret")),
            "X-Remotion-Status": payload["type"],
        }
        async with httpx.AsyncClient(timeout=10.0) as client:
            for errors in range(3):  # invokeWebhook: 2 retries, 1 s · 2^n backoff
                answer = None
                try:
                    response = await client.post(hook["url"], content=body, headers=headers)
                    status = response.status_code
                    try:
                        answer = response.json()
                    except ValueError:
                        answer = response.text
                except httpx.HTTPError as exc:
                    status = f"error: {type(exc).__name__}"
                render.webhooks.append({"type": payload["type"], "status": status,
                                        "at": time.time(), "answer": answer})
                if isinstance(status, int) and 200 <= status < 300:
                    return
                await asyncio.sleep(self.webhook_backoff * 2 ** errors)
