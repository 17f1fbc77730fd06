"""A stand-in for a deployed Remotion Lambda function, over real sockets.

It speaks what boto3 and the ``remotion-lambda`` SDK speak to AWS, so the SDK runs
unpatched against it (``AWS_ENDPOINT_URL_LAMBDA`` points at it):

- ``POST /2015-03-31/functions/{FunctionName}/invocations`` (AWS Lambda Invoke, SigV4
  ``Authorization`` required), body = the Remotion payload;
- ``type: "start"`` → ``{"type": "success", "bucketName", "renderId"}`` after writing the
  initial ``renders/{id}/progress.json`` (with ``cancellationEnabled``) to Remotion's own
  bucket on "AWS S3" (a moto server at ``AWS_ENDPOINT_URL_S3``); a version other than the
  deployed one is refused with ``{"type": "error", "message": "Version mismatch: ..."}``,
  as @remotion/serverless 4.0.527's ``checkVersionMismatch`` does;
- ``type: "status"`` → the ``getRenderProgress`` object computed from progress.json the
  way @remotion/serverless-client's ``getProgress`` does it (overallProgress weights,
  errors, ``fatalErrorEncountered``, TimeoutError after the function timeout + grace,
  ``outKey``/``outBucket``/costs when done); unknown render ids and version mismatches
  are Lambda ``Unhandled`` function errors (``X-Amz-Function-Error``), as in Remotion;
- the render itself really happens: the local Remotion render server
  (``core.render.local_server.LocalRenderServer``) renders the composition with the
  start payload's input props, crf and x264 preset; progress is written to progress.json
  while it runs (frames rendered, chunks done at ``framesPerLambda`` boundaries); the mp4
  is uploaded to the ``outName`` target — with an ``s3OutputProvider`` (camelCase, as the
  function reads it) to that S3-compatible endpoint ("R2"), otherwise to Remotion's AWS
  bucket — and the signed completion webhook is sent (``X-Remotion-Signature: sha512=``
  HMAC-SHA512 of the raw body, ``X-Remotion-Status``, ``X-Remotion-Mode``; 3 tries with
  backoff), as ``invokeWebhook`` does;
- the renderers' cancellation polling: ``renders/{id}/cancel.json`` (written by the SDK's
  ``cancel_render_on_lambda``) stops the render with a fatal ``CancelledError``;
- R2 refuses ACLs: a custom output provider with ``privacy`` other than ``"no-acl"``
  fails the upload.

Faults on demand (:class:`Faults`): 429 throttling for the next N invocations (the exact
AWS response: ``x-amzn-ErrorType: TooManyRequestsException``, ``Reason:
ConcurrentInvocationLimitExceeded``), a flaky chunk error ("Target closed") that
Remotion's chunk retry gets past (or not, with ``maxRetries`` 0), a fatal composition
error, a function timeout, a lagging progress file (webhook first) and a late webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
import httpx
from botocore.config import Config

from core.render.lambda_planner import remotion_default_frames_per_lambda
from core.render.local_server import LocalRenderServer

log = logging.getLogger("tests.lambda_standin")

ACCOUNT_ID = "123456789012"
FUNCTION_NAME = "remotion-render-4-0-527-mem2048mb-disk2048mb-900sec"
WEIGHTS = {"evaluating": 0.1, "encoding": 0.1, "frames": 0.6, "invoking": 0.1, "combining": 0.1}
FLAKY_STACK = (
    "Error: Protocol error (Runtime.callFunctionOn): Target closed.\n"
    "    at CDPSession.send (/var/task/node_modules/@remotion/renderer/dist/browser/Connection.js:223:35)\n"
    "    at renderFrameWithOptionToReject (/var/task/node_modules/@remotion/renderer/dist/render-frames.js:210:11)"
)


def webhook_signature(body: bytes, secret: str | None) -> str:
    """Remotion's ``calculateSignature``: ``sha512=`` + hex HMAC-SHA512 of the raw body."""
    if not secret:
        return "NO_SECRET_PROVIDED"
    return "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def remotion_version(remotion_dir: Path) -> str:
    """The version `npx remotion lambda functions deploy` would deploy from remotion/."""
    package = Path(remotion_dir) / "node_modules" / "@remotion" / "lambda" / "package.json"
    return json.loads(package.read_text())["version"]


@dataclass
class Faults:
    throttle: int = 0  # the next N invocations of `throttle_types` answer HTTP 429
    throttle_types: tuple[str, ...] = ("start",)
    flaky_chunks: int = 0  # the next render's chunk 0 fails this many times ("Target closed")
    fatal: str | None = None  # the next render fails with this (composition) error
    timeout: bool = False  # the next render never finishes: the function times out
    status_lag: float = 0.0  # progress.json shows "done" this long after the webhook went out
    webhook_delay: float = 0.0  # the completion webhook goes out this long after "done"


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


class LambdaStandIn:
    def __init__(
        self,
        *,
        aws_s3_endpoint: str,
        render_server_dir: Path,
        remotion_dir: Path,
        region: str = "us-east-1",
        function_name: str = FUNCTION_NAME,
        version: str | None = None,
        function_timeout: float = 900.0,
        timeout_grace: float = 20.0,
        webhook_backoff: float = 0.05,
        progress_interval: float = 0.15,
    ) -> None:
        self.aws_s3_endpoint = aws_s3_endpoint
        self.region = region
        self.function_name = function_name
        self.version = version or remotion_version(remotion_dir)
        self.function_timeout = function_timeout
        self.timeout_grace = timeout_grace
        self.webhook_backoff = webhook_backoff
        self.progress_interval = progress_interval
        self.bucket_name = f"remotionlambda-{region.replace('-', '')}-{secrets.token_hex(5)}"
        self.faults = Faults()
        self.invocations: list[Invocation] = []
        self.renders: dict[str, StandinRender] = {}
        self._lock = threading.Lock()
        self._clients = threading.local()
        self._server_dir = Path(render_server_dir)
        self._remotion_dir = Path(remotion_dir)
        self._out_dir = Path(tempfile.mkdtemp(prefix="lambda-standin-"))
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                             name="lambda-standin-loop")
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._http_thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                             name="lambda-standin-http")
        self._tasks: list[asyncio.Future] = []
        self._renderer: LocalRenderServer | None = None

    # -- lifecycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LambdaStandIn:
        self.aws_s3().create_bucket(Bucket=self.bucket_name)
        self._loop_thread.start()
        self._http_thread.start()
        return self

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._renderer is not None:
            asyncio.run_coroutine_threadsafe(self._renderer.close(), self._loop).result(10)
        self._httpd.shutdown()
        self._httpd.server_close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=10)

    # -- S3 -----------------------------------------------------------------------------

    def aws_s3(self) -> Any:
        """Remotion's own bucket lives here (progress.json, cancel.json)."""
        client = getattr(self._clients, "aws_s3", None)
        if client is None:  # one per thread: making a boto3 client costs ~50 ms of CPU
            client = self._clients.aws_s3 = _s3_client(self.aws_s3_endpoint, "testing",
                                                       "testing", self.region)
        return client

    def read_progress(self, render_id: str, bucket: str | None = None) -> dict[str, Any]:
        body = self.aws_s3().get_object(Bucket=bucket or self.bucket_name,
                                        Key=f"renders/{render_id}/progress.json")["Body"].read()
        return json.loads(body)

    def _write_progress(self, render: StandinRender, doc: dict[str, Any]) -> None:
        self.aws_s3().put_object(
            Bucket=render.bucket, Key=f"renders/{render.render_id}/progress.json",
            Body=json.dumps(doc).encode(), ContentType="application/json",
        )

    def _cancel_requested(self, render: StandinRender) -> bool:
        try:
            self.aws_s3().head_object(Bucket=render.bucket,
                                      Key=f"renders/{render.render_id}/cancel.json")
        except Exception:  # noqa: BLE001 - NotFound: not cancelled
            return False
        return True

    # -- test helpers ---------------------------------------------------------------------

    def invocations_of(self, kind: str) -> list[Invocation]:
        with self._lock:
            return [i for i in self.invocations if i.type == kind]

    def only_render(self) -> StandinRender:
        with self._lock:
            assert len(self.renders) == 1, list(self.renders)
            return next(iter(self.renders.values()))

    def wait_for(self, predicate, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the stand-in did not get there in time")
            time.sleep(0.05)

    # -- invocation ---------------------------------------------------------------------

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

    # -- status (getProgress) -----------------------------------------------------------

    def _status(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("version") != self.version:
            raise _Unhandled(self._version_error("getRenderProgress()", p.get("version")))
        render_id, bucket = p.get("renderId"), p.get("bucketName")
        try:
            doc = self.read_progress(render_id, bucket)
        except Exception:  # noqa: BLE001 - NoSuchKey / NoSuchBucket
            raise _Unhandled(f'No render with ID "{render_id}" found in bucket {bucket} and '
                             f"region {self.region}") from None
        meta = doc.get("renderMetadata")
        post = doc.get("postRenderData")
        if post:
            out_bucket, out_key = _expected_out(meta, bucket)
            frames = meta["videoConfig"]["durationInFrames"]
            return {
                "framesRendered": frames, "bucket": bucket, "renderSize": post["renderSize"],
                "chunks": meta["totalChunks"],
                "cleanup": {"doneIn": 0, "filesDeleted": 0, "minFilesToDelete": 0},
                "costs": {"accruedSoFar": post["cost"]["estimatedCost"],
                          "displayCost": post["cost"]["estimatedDisplayCost"],
                          "currency": post["cost"]["currency"],
                          "disclaimer": post["cost"]["disclaimer"]},
                "currentTime": _ms(), "done": True,
                "encodingStatus": {"framesEncoded": frames, "combinedFrames": frames,
                                   "timeToCombine": post["timeToCombine"]},
                "errors": post["errors"], "fatalErrorEncountered": False,
                "lambdasInvoked": meta["totalChunks"], "outputFile": post["outputFile"],
                "renderId": render_id, "timeToFinish": post["timeToFinish"],
                "timeToFinishChunks": post["timeToRenderChunks"],
                "timeToRenderFrames": post["timeToRenderFrames"], "overallProgress": 1,
                "retriesInfo": post["retriesInfo"], "outKey": out_key, "outBucket": out_bucket,
                "mostExpensiveFrameRanges": None, "timeToEncode": post["timeToEncode"],
                "outputSizeInBytes": post["outputSize"], "type": "success",
                "estimatedBillingDurationInMilliseconds":
                    post["estimatedBillingDurationInMilliseconds"],
                "timeToCombine": post["timeToCombine"], "combinedFrames": frames,
                "renderMetadata": meta, "timeoutTimestamp": doc["timeoutTimestamp"],
                "compositionValidated": doc["compositionValidated"],
                "functionLaunched": doc["functionLaunched"],
                "serveUrlOpened": doc["serveUrlOpened"], "artifacts": [],
            }
        errors = [{**e, "explanation": None, "s3Location": ""} for e in doc["errors"]]
        frames = meta["videoConfig"]["durationInFrames"] if meta else 0
        if meta:
            missing = [i for i in range(meta["totalChunks"]) if i not in doc["chunks"]]
            deadline = meta["startedDate"] + (self.function_timeout + self.timeout_grace) * 1000
            if missing and _ms() > deadline:
                message = (f"The main function timed out after "
                           f"{int(self.function_timeout * 1000)}ms.\nThe following chunks are "
                           f"missing (showing {min(5, len(missing))} out of {len(missing)}):")
                errors.insert(0, {
                    "attempt": 1, "chunk": None, "explanation": None, "frame": None,
                    "isFatal": True, "s3Location": "", "stack": f"Error: {message}",
                    "tmpDir": None, "totalAttempts": 1, "type": "stitcher",
                    "willRetry": False, "message": message, "name": "TimeoutError"})
        evaluation = sum(bool(x) for x in (doc["lambdasInvoked"], doc["serveUrlOpened"],
                                           doc["compositionValidated"])) / 3
        overall = evaluation * WEIGHTS["evaluating"]
        if meta and frames:
            overall += (doc["framesEncoded"] / frames) * WEIGHTS["encoding"]
            overall += (doc["lambdasInvoked"] / meta["estimatedRenderLambdaInvokations"]) * WEIGHTS["invoking"]
            overall += (doc["framesRendered"] / frames) * WEIGHTS["frames"]
            overall += (doc["combinedFrames"] / frames) * WEIGHTS["combining"]
        cost = self._cost(meta, doc)
        return {
            "framesRendered": doc["framesRendered"], "chunks": len(doc["chunks"]), "done": False,
            "encodingStatus": {"framesEncoded": doc["framesEncoded"],
                               "combinedFrames": doc["combinedFrames"],
                               "timeToCombine": doc["timeToCombine"]},
            "timeToRenderFrames": doc["timeToRenderFrames"],
            "costs": _format_costs(cost), "renderId": render_id, "renderMetadata": meta,
            "bucket": bucket, "outputFile": None, "timeToFinish": None, "errors": errors,
            "fatalErrorEncountered": any(e["isFatal"] and not e["willRetry"] for e in errors),
            "currentTime": _ms(), "renderSize": 0, "lambdasInvoked": doc["lambdasInvoked"],
            "cleanup": {"doneIn": None, "minFilesToDelete": 0, "filesDeleted": 0},
            "timeToFinishChunks": None, "overallProgress": overall,
            "retriesInfo": doc["retries"], "outKey": None, "outBucket": None,
            "mostExpensiveFrameRanges": None, "timeToEncode": doc["timeToEncode"],
            "outputSizeInBytes": None, "estimatedBillingDurationInMilliseconds": None,
            "combinedFrames": doc["combinedFrames"], "timeToCombine": doc["timeToCombine"],
            "timeoutTimestamp": doc["timeoutTimestamp"],
            "compositionValidated": doc["compositionValidated"],
            "functionLaunched": doc["functionLaunched"], "serveUrlOpened": doc["serveUrlOpened"],
            "type": "success", "artifacts": [],
        }

    @staticmethod
    def _cost(meta: dict[str, Any] | None, doc: dict[str, Any]) -> float:
        """Lambda GB-seconds at 2048 MB, as if every function ran since the start."""
        if not meta:
            return 0.0
        seconds = max(0.0, (_ms() - meta["startedDate"]) / 1000)
        functions = meta["totalChunks"] + 1
        return round(functions * seconds * 2 * 0.0000166667 + functions * 0.0000002, 6)

    # -- the render (launch + renderers) ----------------------------------------------

    def _renderer_client(self) -> LocalRenderServer:
        if self._renderer is None:
            self._renderer = LocalRenderServer(
                remotion_dir=self._remotion_dir, socket_path=self._server_dir / "render.sock",
                cache_dir=self._server_dir / "cache",
            )
        return self._renderer

    async def _run(self, render: StandinRender) -> None:
        try:
            await self._render(render)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug in the stand-in: fail the render loudly
            log.exception("stand-in render %s crashed", render.render_id)
            render.state = "failed"

    async def _render(self, render: StandinRender) -> None:
        p, props, faults = render.payload, render.input_props, render.faults
        doc = await asyncio.to_thread(self.read_progress, render.render_id, render.bucket)
        frames = int(p.get("forceDurationInFrames") or props.get("durationInFrames") or 1)
        fps = p.get("forceFps") or props.get("fps") or 30
        fpl = int(p.get("framesPerLambda") or remotion_default_frames_per_lambda(frames))
        chunks_total = math.ceil(frames / fpl)
        started_ms = _ms()
        await asyncio.sleep(0.1)  # the main function's cold start
        doc.update(serveUrlOpened=_ms(), compositionValidated=_ms(), lambdasInvoked=chunks_total)
        doc["renderMetadata"] = {
            "siteId": "renderbot", "startedDate": started_ms, "totalChunks": chunks_total,
            "estimatedTotalLambdaInvokations": chunks_total + 1,
            "estimatedRenderLambdaInvokations": chunks_total,
            "compositionId": p["composition"], "codec": p.get("codec"),
            "audioCodec": p.get("audioCodec"), "type": "video", "imageFormat": p.get("imageFormat"),
            "inputProps": p.get("inputProps"), "framesPerLambda": fpl, "memorySizeInMb": 2048,
            "lambdaVersion": self.version, "region": self.region, "renderId": render.render_id,
            "outName": p.get("outName"), "privacy": p.get("privacy"), "everyNthFrame": 1,
            "frameRange": [0, frames - 1], "audioBitrate": p.get("audioBitrate"),
            "rendererFunctionName": self.function_name, "scale": p.get("scale"),
            "downloadBehavior": p.get("downloadBehavior"), "deleteAfter": None,
            "numberOfGifLoops": None, "metadata": p.get("metadata"),
            "videoConfig": {"id": p["composition"], "durationInFrames": frames, "fps": fps,
                            "width": p.get("forceWidth") or props.get("width"),
                            "height": p.get("forceHeight") or props.get("height")},
            "dimensions": {"width": p.get("forceWidth") or props.get("width"),
                           "height": p.get("forceHeight") or props.get("height")},
        }
        await self._flush(render, doc)

        if faults.timeout:
            await self._time_out(render, doc)
            return
        if faults.fatal:
            await self._fail(render, doc, name="Error", message=faults.fatal, kind="renderer",
                             stack=f"Error: {faults.fatal}\n    at Visualizer (webpack://src/"
                                   "visualizer/Visualizer.tsx:268:15)")
            return

        max_retries = int(p.get("maxRetries") or 0)
        attempt, flaky_left = 1, faults.flaky_chunks
        output: Path | None = None
        renderer = self._renderer_client()
        await renderer.ensure_started()
        while output is None:
            local_id = f"standin-{render.render_id}-{attempt}"
            render.local_ids.append(local_id)
            target = self._out_dir / f"{local_id}.mp4"
            await renderer.submit(
                render_id=local_id, composition=p["composition"], input_props=props,
                output_path=target, crf=p.get("crf") or 18,
                x264_preset=p.get("x264Preset") or "medium",
                audio_bitrate=p.get("audioBitrate"),
            )
            last_write = 0.0
            while True:
                if await asyncio.to_thread(self._cancel_requested, render):
                    render.cancel_seen = True
                    await renderer.cancel(local_id)
                    await self._fail(render, doc, name="CancelledError",
                                     message="renderMedia() got cancelled", kind="renderer",
                                     state="cancelled")
                    return
                st = await renderer.status(local_id)
                if st is None:
                    raise RuntimeError(f"the local render server lost {local_id}")
                if flaky_left > 0:
                    flaky_left -= 1
                    await renderer.cancel(local_id)
                    if not await self._chunk_error(render, doc, attempt, max_retries,
                                                   "Error", "Target closed.", FLAKY_STACK):
                        return
                    attempt += 1
                    break
                if st.state == "failed":
                    message = st.error_message or "unknown error"
                    kind = "stitcher" if "Could not select composition" in message else "renderer"
                    if st.retryable:
                        if not await self._chunk_error(render, doc, attempt, max_retries,
                                                       "Error", message, f"Error: {message}"):
                            return
                        attempt += 1
                        break
                    await self._fail(render, doc, name="Error", message=message, kind=kind,
                                     stack=f"Error: {message}")
                    return
                if st.state == "cancelled":
                    await self._fail(render, doc, name="CancelledError", message="cancelled",
                                     kind="renderer", state="cancelled")
                    return
                rendered = frames if st.state == "done" else min(frames, st.frames_rendered)
                doc["framesRendered"] = rendered
                doc["framesEncoded"] = rendered
                doc["chunks"] = [i for i in range(chunks_total)
                                 if st.state == "done" or min((i + 1) * fpl, frames) <= rendered]
                if st.state == "done":
                    output = st.output_path or target
                    break
                if time.monotonic() - last_write > self.progress_interval:
                    await self._flush(render, doc)
                    last_write = time.monotonic()
                await asyncio.sleep(0.05)
        await self._finish(render, doc, output, started_ms)

    async def _chunk_error(self, render, doc, attempt: int, max_retries: int, name: str,
                           message: str, stack: str) -> bool:
        """A chunk failed; True when Remotion retries it (``maxRetries``)."""
        will_retry = attempt <= max_retries
        doc["errors"].append({
            "name": name, "message": message, "stack": stack, "chunk": 0, "frame": None,
            "type": "renderer", "isFatal": not will_retry, "tmpDir": None, "attempt": attempt,
            "totalAttempts": max_retries + 1, "willRetry": will_retry,
        })
        if will_retry:
            doc["retries"].append({"chunk": 0, "attempt": attempt + 1, "time": _ms()})
            await self._flush(render, doc)
            return True
        doc["fatalErrorTimestamp"] = _ms()
        await self._flush(render, doc)
        render.state, render.finished_at = "failed", time.time()
        await self._webhook(render, {"type": "error", "errors": [
            {"message": message, "name": name, "stack": stack}]})
        return False

    async def _fail(self, render, doc, *, name: str, message: str, kind: str, stack: str = "",
                    state: str = "failed") -> None:
        doc["errors"].append({
            "name": name, "message": message, "stack": stack or f"{name}: {message}",
            "chunk": 0 if kind == "renderer" else None, "frame": None, "type": kind,
            "isFatal": True, "tmpDir": None, "attempt": 1, "totalAttempts": 1,
            "willRetry": False,
        })
        doc["fatalErrorTimestamp"] = _ms()
        await self._flush(render, doc)
        render.state, render.finished_at = state, time.time()
        await self._webhook(render, {"type": "error", "errors": [
            {"message": message, "name": name, "stack": stack}]})

    async def _time_out(self, render, doc) -> None:
        """Renderers never report back; the main function sends the timeout webhook one
        second before it is killed (``webhookDueToTimeout``)."""
        deadline = time.monotonic() + max(self.function_timeout - 1.0, 1.0)
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self._cancel_requested, render):
                render.cancel_seen = True
                break
            await asyncio.sleep(0.1)
        render.state, render.finished_at = "timeout", time.time()
        await self._webhook(render, {"type": "timeout"})

    async def _finish(self, render, doc, output: Path, started_ms: int) -> None:
        try:
            size, target = await asyncio.to_thread(self._upload, render, output)
        except Exception as exc:  # noqa: BLE001 - the stitcher's upload failed
            await self._fail(render, doc, name=type(exc).__name__, message=str(exc),
                             kind="stitcher")
            return
        render.output = target
        done_ms = _ms()
        doc["combinedFrames"] = doc["framesRendered"]
        doc["timeToCombine"] = 50
        doc["timeToEncode"] = done_ms - started_ms
        doc["timeToRenderFrames"] = done_ms - started_ms
        cost = self._cost(doc["renderMetadata"], doc)
        doc["postRenderData"] = {
            "cost": {"estimatedCost": cost, "estimatedDisplayCost": _format_costs(cost)["displayCost"],
                     "currency": "USD",
                     "disclaimer": "Estimated cost for function invocations only. Does not "
                                   "include cost for storage and data transfer."},
            "outputFile": target["url"], "outputSize": size, "renderSize": size,
            "timeToFinish": done_ms - started_ms, "errors": doc["errors"],
            "startTime": started_ms, "endTime": done_ms, "filesCleanedUp": 0,
            "timeToRenderFrames": doc["timeToRenderFrames"], "timeToEncode": doc["timeToEncode"],
            "timeToCleanUp": 0, "timeToCombine": 50, "timeToRenderChunks": done_ms - started_ms,
            "retriesInfo": doc["retries"], "mostExpensiveFrameRanges": None,
            "estimatedBillingDurationInMilliseconds": (done_ms - started_ms)
            * (doc["renderMetadata"]["totalChunks"] + 1),
            "deletedFiles": [], "artifacts": [],
        }
        render.state, render.finished_at = "done", time.time()
        webhook = {"type": "success", "outputUrl": target["url"], "outputFile": target["url"],
                   "lambdaErrors": doc["errors"], "timeToFinish": done_ms - started_ms,
                   "costs": doc["postRenderData"]["cost"]}
        if render.faults.status_lag:
            await self._webhook(render, webhook)
            await asyncio.sleep(render.faults.status_lag)
            await self._flush(render, doc)
            return
        await self._flush(render, doc)
        if render.faults.webhook_delay:
            await asyncio.sleep(render.faults.webhook_delay)
        await self._webhook(render, webhook)

    def _upload(self, render: StandinRender, path: Path) -> tuple[int, dict[str, Any]]:
        try:
            return path.stat().st_size, self._put(render, path)
        finally:
            path.unlink(missing_ok=True)

    def _put(self, render: StandinRender, path: Path) -> dict[str, Any]:
        p = render.payload
        out = p.get("outName")
        if isinstance(out, dict):
            bucket, key = out["bucketName"], out["key"]
            provider = out.get("s3OutputProvider")
        elif isinstance(out, str):
            bucket, key, provider = render.bucket, out, None
        else:
            bucket, key, provider = render.bucket, f"renders/{render.render_id}/out.mp4", None
        if provider:
            if p.get("privacy") != "no-acl":
                raise RuntimeError("NotImplemented: the S3-compatible output store does not "
                                   "implement ACLs; render with privacy 'no-acl'")
            endpoint = provider["endpoint"]
            client = _s3_client(endpoint, provider.get("accessKeyId"),
                                provider.get("secretAccessKey"), provider.get("region") or "auto")
        else:
            endpoint = self.aws_s3_endpoint
            client = self.aws_s3()
        client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": "video/mp4"})
        return {"endpoint": endpoint, "bucket": bucket, "key": key,
                "url": f"{endpoint.rstrip('/')}/{bucket}/{key}"}

    async def _flush(self, render: StandinRender, doc: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write_progress, render, json.loads(json.dumps(doc)))

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


class _Unhandled(Exception):
    """Thrown inside the function (not buffered): Lambda reports it as Unhandled."""


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


def _expected_out(meta: dict[str, Any], bucket: str) -> tuple[str, str]:
    out = meta.get("outName")
    if isinstance(out, dict):
        return out["bucketName"], out["key"]
    if isinstance(out, str):
        return bucket, out
    return bucket, f"renders/{meta['renderId']}/out.mp4"


def _format_costs(accrued: float) -> dict[str, Any]:
    display = "<$0.001" if accrued < 0.001 else f"${accrued:,.3f}"
    return {"accruedSoFar": accrued, "displayCost": display, "currency": "USD",
            "disclaimer": "Estimated cost only. Does not include charges for other AWS services."}


def _ms() -> int:
    return int(time.time() * 1000)


def _s3_client(endpoint: str, key: str | None, secret: str | None, region: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def _handler_for(standin: LambdaStandIn) -> type[BaseHTTPRequestHandler]:
    route = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("stand-in: " + format, *args)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            match = route.match(urlparse(self.path).path)
            if match is None:
                return self._send(404, {"x-amzn-ErrorType": "UnknownOperationException"},
                                  {"message": f"no route {self.path}"})
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                return self._send(400, {"x-amzn-ErrorType": "InvalidRequestContentException"},
                                  {"message": "Could not parse request body into json"})
            authorized = (self.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256")
            status, headers, body = standin.invoke(unquote(match.group(1)), payload, authorized)
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", secrets.token_hex(16))
            if status == 200:
                self.send_header("X-Amz-Executed-Version", "$LATEST")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
