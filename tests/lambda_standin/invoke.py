"""The Invoke API: who may call, throttling, and ``type: "start"`` (validated as
@remotion/serverless does, then launched)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import time
from typing import Any

from tests.lambda_standin.deployment import ACCOUNT_ID
from tests.lambda_standin.faults import Faults
from tests.lambda_standin.progress import _ms, _Unhandled
from tests.lambda_standin.records import Invocation, StandinRender


class InvokeMixin:
    """``LambdaStandIn`` supplies the function's identity, ``faults``, the records, the
    lock, the event loop and the S3 access; ``_status`` and ``_run`` come from the other
    mixins."""

    def invoke(self, name: str, payload: dict[str, Any], authorized: bool
               ) -> tuple[int, dict[str, str], dict[str, Any]]:
        kind = payload.get("type") if isinstance(payload, dict) else None
        status, headers, body = self._invoke(name, payload, kind, authorized)
        with self._lock:
            self.invocations.append(Invocation(type=kind, payload=payload, status=status,
                                               at=time.time(), response=body))
        return status, headers, body

    def _invoke(self, name, payload, kind, authorized):
        if not authorized:
            return 403, {"x-amzn-ErrorType": "UnrecognizedClientException"}, {
                "message": "The security token included in the request is invalid."}
        if name.split(":")[-1] != self.function_name:
            return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, {
                "Type": "User",
                "Message": f"Function not found: arn:aws:lambda:{self.region}:{ACCOUNT_ID}"
                           f":function:{name}"}
        with self._lock:
            throttled = self.faults.throttle > 0 and kind in self.faults.throttle_types
            if throttled:
                self.faults.throttle -= 1
        if throttled:
            return 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, {
                "Type": "User", "message": "Rate Exceeded.",
                "Reason": "ConcurrentInvocationLimitExceeded"}
        if kind == "start":
            return 200, {}, self._start(payload)
        if kind == "status":
            try:
                return 200, {}, self._status(payload)
            except _Unhandled as exc:
                return 200, {"X-Amz-Function-Error": "Unhandled"}, {
                    "errorType": "Error", "errorMessage": str(exc),
                    "trace": [f"Error: {exc}", "    at progressHandler (/var/task/index.js)"]}
        return 200, {}, {"type": "error", "message": f"the stand-in does not do {kind!r}",
                         "stack": ""}

    def _version_error(self, api: str, sent: Any) -> str:
        return (f"Version mismatch: When calling {api}, you passed {self.function_name} as the "
                f"function, which has the version {self.version}, but the @remotion/lambda "
                f"package you used to invoke the function has version {sent}. Deploy a new "
                "function and use it to call getRenderProgress(). See: "
                "https://www.remotion.dev/docs/lambda/upgrading")

    def _start(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("version") != self.version:
            message = self._version_error("renderMediaOnLambda()", p.get("version"))
            return {"type": "error", "message": message, "stack": f"Error: {message}"}
        try:
            props = self._input_props(p)
            _validate_start(p, props)
        except ValueError as exc:
            return {"type": "error", "message": str(exc), "stack": f"TypeError: {exc}"}
        render_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                            for _ in range(10))
        bucket = p.get("bucketName") or self.bucket_name
        with self._lock:
            faults, self.faults = self.faults, Faults(
                throttle=self.faults.throttle, throttle_types=self.faults.throttle_types)
        render = StandinRender(render_id=render_id, bucket=bucket, payload=p, input_props=props,
                               started_at=time.time(), faults=faults)
        now_ms = _ms()
        self._write_progress(render, {
            "cancellationEnabled": bool(p.get("enableCancellation")), "chunks": [],
            "framesRendered": 0, "framesEncoded": 0, "combinedFrames": 0,
            "timeToCombine": None, "timeToEncode": None, "lambdasInvoked": 0, "retries": [],
            "postRenderData": None, "timings": [], "renderMetadata": None, "errors": [],
            "fatalErrorTimestamp": None, "timeToRenderFrames": None,
            "timeoutTimestamp": now_ms + int(self.function_timeout * 1000),
            "functionLaunched": now_ms, "serveUrlOpened": None, "compositionValidated": None,
            "receivedArtifact": [],
        })
        with self._lock:
            self.renders[render_id] = render
        self._tasks.append(asyncio.run_coroutine_threadsafe(self._run(render), self._loop))
        return {"type": "success", "bucketName": bucket, "renderId": render_id}

    def _input_props(self, p: dict[str, Any]) -> dict[str, Any]:
        serialized = p.get("inputProps") or {}
        if serialized.get("type") == "payload":
            return json.loads(serialized.get("payload") or "{}")
        if serialized.get("type") == "bucket-url":
            body = self.aws_s3().get_object(
                Bucket=serialized["bucketName"], Key=f"input-props/{serialized['hash']}.json"
            )["Body"].read()
            return json.loads(body)
        raise ValueError(f"inputProps must be a payload or bucket-url, got {serialized!r}")


def _validate_start(p: dict[str, Any], props: dict[str, Any]) -> None:
    for key in ("serveUrl", "composition", "codec", "version", "privacy"):
        if not p.get(key):
            raise ValueError(f"'{key}' is required")
    fpl = p.get("framesPerLambda")
    frames = int(p.get("forceDurationInFrames") or props.get("durationInFrames") or 1)
    if fpl is not None:
        if not isinstance(fpl, int):
            raise ValueError(f"'framesPerLambda' needs to be an integer, passed {fpl!r}")
        minimum = min(5, frames)
        if fpl < minimum:
            raise ValueError(f"The framesPerLambda needs to be at least {minimum}, but is {fpl}")
        if math.ceil(frames / fpl) > 200:
            raise ValueError(f"Too many functions: This render would cause "
                             f"{math.ceil(frames / fpl)} functions to spawn. We limit this "
                             "amount to 200 functions")
    out = p.get("outName")
    if isinstance(out, dict):
        if not out.get("bucketName") or not out.get("key"):
            raise ValueError("outName needs bucketName and key")
        if not re.match(r"^([0-9a-zA-Z-!_.*'()/:&$@=;+,?]+)", out["key"]):
            raise ValueError(f"The S3 Key must match the RegExp. You passed: {out['key']}")
    hook = p.get("webhook")
    if hook and hook.get("customData") and len(json.dumps(hook["customData"])) > 1024:
        raise ValueError('Webhook "customData" must be less than 1024 bytes.')
