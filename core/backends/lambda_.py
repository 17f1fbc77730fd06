"""The ``lambda`` backend: renders on Remotion Lambda, which writes the mp4 straight to R2.

Uses the official ``remotion-lambda`` SDK (pinned to the Remotion version of
``remotion/package.json``; ``tests/lambda_backend/test_versions.py`` checks they agree —
the function refuses a client of another version).

start   ``render_media_on_lambda``: the job's input props (they carry width, height, fps,
        durationInFrames and effects; the same values go in ``force*`` too), h264 with
        crf / x264 preset / audio bitrate from ``codec_settings(quality, codec)``,
        ``framesPerLambda`` from the planner (``core/render/lambda_planner.py``, recorded
        on the job), ``enableCancellation``, ``privacy: "no-acl"``, the completion webhook
        (url, secret, ``customData = {job_id, attempt}``) and ``outName`` naming the
        job's key in the R2 bucket with an ``s3OutputProvider`` (endpoint + keys) built
        from the storage settings. ``outName`` is passed as a plain camelCase dict: the
        SDK's ``OutNameInputObject`` serialises ``s3_output_provider`` in snake_case, which
        the function ignores (it would write to AWS S3 instead of R2).
status  ``get_render_progress`` with the same output provider; ``overallProgress``,
        ``errors``/``fatalErrorEncountered``, ``costs.accruedSoFar``, ``outKey``/``outBucket``
        and ``outputSizeInBytes`` become a :class:`RenderStatus`.
cancel  ``cancel_render_on_lambda`` (writes ``renders/{id}/cancel.json``).

The job's ``backend_ref`` is ``"<remotion bucket>/<render id>"``.

Retries — one layer per kind of failure, each bounded:

- **Invoke transport** (HTTP 429 ``TooManyRequestsException`` / rate exceeded, Lambda 5xx,
  connection errors): botocore's ``standard`` retry mode on the Lambda client, at most
  ``remotion.invoke_max_attempts`` tries per call (exponential backoff with jitter, ≤ 20 s
  each). Nothing else retries them: a start still throttled after that fails the job with
  a clear message (and a refund) instead of multiplying with the pipeline's attempts.
  A status call that gives up is a poll error: the pipeline polls again later, at most
  ``MAX_POLL_ERRORS`` times in a row (polling has no side effects).
- **Flaky chunk errors** (browser crash, ``Target closed``, network resets, compositor
  panics — Remotion's ``isFlakyError``): Remotion's own per-chunk retry inside the render,
  ``maxRetries = remotion.chunk_max_retries``, which re-renders one chunk instead of the
  video. When a chunk still fails, the render fails for good (permanent for us).
- **Whole-render failures nobody else retries** — a flaky error in the main function
  (``type`` other than ``renderer``), a crashed start (``Unhandled``), a lost render, a
  throttled renderer (one 429 on one renderer invocation fails Remotion's whole render:
  "AWS Concurrency limit reached"; its JS client does not retry) — are retryable for the
  pipeline: a new attempt after ``retry_base_delay × 2^n``, at most ``worker.max_attempts``
  attempts.
- **Permanent**: an error thrown by the composition, a version mismatch, a missing
  function, a timeout (``TimeoutError``, or Remotion's own cancel.json written one second
  before the main function's timeout), invalid parameters → the job fails at once with a
  readable message and is refunded. This backend never reports ``cancelled``: a job ends
  ``cancelled`` only when its user asked (the pipeline's ``cancel_requested``).

Checked before ``start`` (Remotion's ``start`` accepts them and fails the render later,
in ``launch``): framesPerLambda ≥ min(5, frames), ≤ 200 renderers, customData ≤ 1 KB and
ASCII (a webhook with a non-ASCII body never arrives on Node 20: polling must cover).
A render id Remotion has no files for (``status`` answers "The specified key does not
exist.") is ``lost`` once Remotion's bucket is confirmed to hold nothing of it.
User-facing errors are one line of at most 300 characters without URLs, hosts, paths or
Remotion's bucket name.

So a job makes at most ``max_attempts × invoke_max_attempts`` start invocations and never
retries the same failure at two layers.

The SDK is blocking (boto3): its calls run on a small thread pool; each thread has its own
boto3 session and client (sessions are not thread-safe).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from remotion_lambda import (
    CustomCredentials,
    LogLevel,
    Privacy,
    RemotionClient,
    RenderMediaParams,
    Webhook,
)
from remotion_lambda.exception import (
    RemotionException,
    RemotionInvalidArgumentException,
    RemotionRenderingOutputError,
)
from remotion_lambda.version import VERSION

from core.backends.base import RenderError, RenderRequest, RenderStatus, Started
from core.backends.lambda_errors import (
    classify_errors,
    first_line,
    is_flaky,
    one_line,
)
from core.render.encoding import codec_settings
from core.render.lambda_planner import LambdaPlan, plan
from core.render.lambda_planner import check as check_plan
from core.render_settings import RenderSettings
from core.settings import Settings
from core.storage.base import Storage, join_key

log = logging.getLogger("renderbot.lambda")

# An Unhandled error of the start call that says the function itself died.
_CRASHED_START = ("Runtime exited", "Task timed out", "Runtime.ExitError")
MAX_CUSTOM_DATA = 1024  # Remotion's limit on the webhook's customData (bytes of JSON)
# What Remotion's ``status`` answers (Unhandled, S3 NoSuchKey) for a render id whose
# progress file does not exist — the real function's words, not "No render with ID".
MISSING_KEY = "The specified key does not exist"
_FUNCTION_VERSION = re.compile(r"which has the version (\d+\.\d+\.\d+)")


class LambdaNotConfigured(ValueError):
    """Settings missing for ``RENDERBOT_RENDER_BACKEND=lambda``."""


class _OneLambdaClient(RemotionClient):
    """The SDK makes a new boto3 Lambda client for every call (remotion-lambda 4.0.527,
    ``_invoke_lambda``): tens of ms of CPU per poll, which capped how many renders one
    worker keeps polled (``benchmarks/lambda_polling.py``). One client per SDK thread."""

    _lambda_client: Any = None

    def _create_lambda_client(self) -> Any:
        if self._lambda_client is None:
            self._lambda_client = super()._create_lambda_client()
        return self._lambda_client


class _Sdk:
    """Runs the blocking SDK on a thread pool, one RemotionClient (and boto3 session) per
    thread."""

    def __init__(
        self, *, region: str, serve_url: str, function_name: str, config: Config,
        force_path_style: bool, threads: int,
    ) -> None:
        self.region = region
        self.serve_url = serve_url
        self.function_name = function_name
        self.config = config
        self.force_path_style = force_path_style
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="remotion-sdk")

    def client(self) -> RemotionClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = _OneLambdaClient(
                region=self.region, serve_url=self.serve_url, function_name=self.function_name,
                session=boto3.session.Session(region_name=self.region), config=self.config,
                force_path_style=self.force_path_style,
            )
            self._local.client = client
        return client

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: getattr(self.client(), method)(*args, **kwargs)
        )

    async def run(self, fn: Any) -> Any:
        """``fn(boto3 session)`` on the pool (the thread's own session)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self.client().session))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LambdaBackend:
    name = "lambda"

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        region: str,
        function_name: str,
        serve_url: str,
        output_bucket: str,
        output_prefix: str,
        output_provider: dict[str, Any] | None,
        webhook_url: str | None,
        webhook_secret: str | None,
    ) -> None:
        self.settings = settings
        self.config = settings.remotion
        self.storage = storage
        self.region = region
        self.function_name = function_name
        self.output_bucket = output_bucket
        self.output_prefix = output_prefix
        self.output_provider = output_provider
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.capacity_limit = self.config.concurrency_limit
        self._plans: dict[tuple[int, int, int], LambdaPlan] = {}
        boto_config = Config(
            retries={"mode": "standard", "total_max_attempts": self.config.invoke_max_attempts},
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
        )
        self.sdk = _Sdk(
            region=region, serve_url=serve_url, function_name=function_name, config=boto_config,
            force_path_style=self.config.force_path_style, threads=self.config.sdk_threads,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, storage: Storage) -> LambdaBackend:
        missing = [
            env for env, value in (
                ("RENDERBOT_REMOTION_REGION", settings.remotion_region),
                ("RENDERBOT_REMOTION_FUNCTION_NAME", settings.remotion_function_name),
                ("RENDERBOT_REMOTION_SERVE_URL", settings.remotion_serve_url),
            ) if not value
        ]
        if missing:
            raise LambdaNotConfigured(
                "RENDERBOT_RENDER_BACKEND=lambda needs " + ", ".join(missing)
                + " (`npm run deploy:lambda --prefix remotion` prints them)"
            )
        bucket = getattr(storage, "bucket", None)
        if getattr(storage, "name", None) != "s3" or not bucket:
            raise LambdaNotConfigured(
                "RENDERBOT_RENDER_BACKEND=lambda writes videos straight to R2/S3: set "
                "RENDERBOT_STORAGE_URL=s3://BUCKET (and RENDERBOT_S3_ENDPOINT_URL + keys for R2)"
            )
        provider = None
        if settings.s3_endpoint_url:
            secret = settings.s3_secret_access_key
            if not settings.s3_access_key_id or secret is None:
                raise LambdaNotConfigured(
                    "writing to RENDERBOT_S3_ENDPOINT_URL from Lambda needs "
                    "RENDERBOT_S3_ACCESS_KEY_ID and RENDERBOT_S3_SECRET_ACCESS_KEY"
                )
            provider = {
                "endpoint": settings.s3_endpoint_url,
                "accessKeyId": settings.s3_access_key_id,
                "secretAccessKey": secret.get_secret_value(),
                "region": settings.s3_region or "auto",
            }
        secret = settings.remotion_webhook_secret
        webhook_url = settings.remotion.webhook_url or (
            settings.public_base_url.rstrip("/") + "/webhooks/remotion"
        )
        return cls(
            settings=settings, storage=storage, region=settings.remotion_region,
            function_name=settings.remotion_function_name,
            serve_url=settings.remotion_serve_url, output_bucket=bucket,
            output_prefix=getattr(storage, "prefix", "") or "", output_provider=provider,
            webhook_url=webhook_url if secret is not None else None,
            webhook_secret=secret.get_secret_value() if secret is not None else None,
        )

    # -- planning and capacity -------------------------------------------------------

    def plan_for(self, settings: RenderSettings) -> LambdaPlan:
        key = (settings.frame_count, settings.width, settings.height)
        chosen = self._plans.get(key)
        if chosen is None:  # the governor asks for every queued job, again and again
            chosen = plan(frames=key[0], width=key[1], height=key[2], settings=self.config)
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[key] = chosen
        return chosen

    def capacity_units(self, settings: RenderSettings) -> int:
        return self.plan_for(settings).functions

    # -- the port --------------------------------------------------------------------

    def render_params(self, request: RenderRequest, chosen: LambdaPlan) -> RenderMediaParams:
        s = request.settings
        encoding = codec_settings(s.quality, s.output.codec)  # h264 | vp9 | gif
        bucket, key = self.output_target(request)
        out_name: dict[str, Any] = {"bucketName": bucket, "key": key}
        if request.output_target is not None:  # the creator's own bucket (issue 16)
            t = request.output_target
            out_name["s3OutputProvider"] = {
                "endpoint": t.endpoint, "accessKeyId": t.access_key_id,
                "secretAccessKey": t.secret_access_key, "region": t.region or "auto",
                "forcePathStyle": True,
            }
        elif self.output_provider is not None:
            out_name["s3OutputProvider"] = dict(self.output_provider)
        webhook = None
        if self.webhook_url and self.webhook_secret is not None:
            webhook = Webhook(
                secret=self.webhook_secret, url=self.webhook_url,
                customData=self.custom_data(request),
            )
        return RenderMediaParams(
            composition=request.composition,
            input_props=request.input_props,
            codec=encoding.codec,
            crf=encoding.crf,
            x264_preset=encoding.x264_preset,
            audio_bitrate=encoding.audio_bitrate,  # the function takes "192k" strings
            pixel_format=None if encoding.codec == "gif" else "yuv420p",
            color_space="bt709",
            frames_per_lambda=chosen.frames_per_lambda,
            enable_cancellation=True,
            privacy=Privacy.NO_ACL,
            out_name=out_name,  # type: ignore[arg-type]  # camelCase dict, see docstring
            webhook=webhook,
            max_retries=self.config.chunk_max_retries,
            timeout_in_milliseconds=self.config.delay_render_timeout_ms,
            force_width=s.width,
            force_height=s.height,
            force_fps=s.frame_rate,
            force_duration_in_frames=s.frame_count,
            log_level=LogLevel.INFO,
        )

    def output_target(self, request: RenderRequest) -> tuple[str, str]:
        """(bucket, object key) of the job's video, as the storage adapter stores it: the
        storage's prefix applies to its default bucket only (core/storage/s3.py)."""
        bucket = request.output_bucket or self.output_bucket
        if bucket == self.output_bucket:
            return bucket, join_key(self.output_prefix, request.output_key)
        return bucket, request.output_key

    def check(self, request: RenderRequest, chosen: LambdaPlan) -> None:
        """Refuse before ``start`` what Remotion's ``launch`` would refuse later (where it
        reads as a failed composition, after the function ran): the plan, the webhook's
        customData (≤ 1 KB, ASCII: a non-ASCII webhook body never arrives on Node 20,
        Remotion sets Content-Length to its length in characters) and the output key."""
        problem = check_plan(chosen)
        custom = json.dumps(self.custom_data(request), separators=(",", ":"), ensure_ascii=False)
        if problem is None and len(custom.encode()) > MAX_CUSTOM_DATA:
            problem = f"the webhook's customData is over {MAX_CUSTOM_DATA} bytes"
        if problem is None and not custom.isascii():
            problem = "the webhook's customData is not ASCII"
        if problem is None and not self.output_target(request)[1].isascii():
            problem = "the output key is not ASCII"
        if problem is not None:
            raise RenderError(one_line(f"invalid Remotion Lambda render: {problem}"),
                              retryable=False, kind="lambda")

    @staticmethod
    def custom_data(request: RenderRequest) -> dict[str, Any]:
        return {"job_id": request.job_id, "attempt": request.attempt}

    async def start(self, request: RenderRequest) -> Started:
        chosen = self.plan_for(request.settings)
        self.check(request, chosen)
        params = self.render_params(request, chosen)
        try:
            response = await self.sdk.call("render_media_on_lambda", params)
        except Exception as exc:  # noqa: BLE001 - mapped below
            raise _one_line(self._start_error(exc)) from exc
        if response is None:
            raise RenderError("Remotion Lambda answered the start without a render id",
                              retryable=True, kind="lambda")
        log.info("job %s: Lambda render %s in %s (%s functions, %s frames per lambda, "
                 "modelled %.0f s)", request.job_id, response.render_id, response.bucket_name,
                 chosen.functions, chosen.frames_per_lambda, chosen.modelled_seconds,
                 extra={"job_id": request.job_id})
        return Started(
            ref=f"{response.bucket_name}/{response.render_id}",
            info={
                "lambda_render_id": response.render_id,
                "lambda_bucket": response.bucket_name,
                "lambda_function": self.function_name,
                "lambda_region": self.region,
                "remotion_version": VERSION,
                "lambda_plan": chosen.as_info(),
            },
        )

    async def status(self, ref: str) -> RenderStatus:
        bucket, render_id = _split_ref(ref)
        provider = None
        if self.output_provider is not None:
            p = self.output_provider
            provider = CustomCredentials(
                endpoint=p["endpoint"], access_key_id=p["accessKeyId"],
                secret_access_key=p["secretAccessKey"], region=p["region"],
            )
        try:
            progress = await self.sdk.call(
                "get_render_progress", render_id=render_id, bucket_name=bucket,
                s3_output_provider=provider,
            )
        except Exception as exc:  # noqa: BLE001 - mapped below
            if ("No render with ID" in str(exc) or MISSING_KEY in str(exc)) and not (
                await self._render_exists(bucket, render_id)
            ):
                return RenderStatus(state="lost", retryable=True, error_kind="lost",
                                    error="Remotion Lambda has no record of this render")
            raise _one_line(self._status_error(exc)) from exc
        if progress is None:
            raise RenderError("Remotion Lambda returned no progress", retryable=True,
                              kind="lambda")
        return self.status_from_progress(vars(progress))

    def status_from_progress(self, data: dict[str, Any]) -> RenderStatus:
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
            out_bucket = data.get("outBucket") or self.output_bucket
            return RenderStatus(
                state="done", progress=1.0,
                output_key=self.caller_key(data.get("outKey"), out_bucket),
                # the storage's own bucket is None on the job, as with the local backend
                output_bucket=None if out_bucket == self.output_bucket else out_bucket,
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
            eta_seconds=_eta(data, fraction), cost=cost, info=info,
        )

    async def _render_exists(self, bucket: str, render_id: str) -> bool:
        """Whether Remotion's bucket still holds anything of the render (its progress
        file first of all). Unknown (S3 unreachable) counts as existing: a poll error
        is retried, a lost render is not polled again."""
        def look(session: Any) -> bool:
            s3 = session.client("s3", region_name=self.region, config=Config(
                retries={"mode": "standard", "total_max_attempts": 2},
                connect_timeout=self.config.connect_timeout, read_timeout=self.config.read_timeout))
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"renders/{render_id}/", MaxKeys=1)
            return bool(listed.get("KeyCount"))
        try:
            return await self.sdk.run(look)
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("could not check Remotion's bucket for render %s", render_id,
                        exc_info=True)
            return True

    def caller_key(self, out_key: str | None, out_bucket: str | None) -> str | None:
        """The key the storage adapter knows (without its prefix) for an object key."""
        if not out_key:
            return None
        prefix = self.output_prefix.strip("/")
        if out_bucket == self.output_bucket and prefix and out_key.startswith(prefix + "/"):
            return out_key[len(prefix) + 1:]
        return out_key

    async def cancel(self, ref: str) -> None:
        bucket, render_id = _split_ref(ref)
        try:
            await self.sdk.call("cancel_render_on_lambda", render_id=render_id, bucket_name=bucket)
        except Exception as exc:  # noqa: BLE001
            raise RenderError(f"could not cancel the Lambda render: {first_line(str(exc))}",
                              retryable=True, kind="lambda") from exc

    async def close(self) -> None:
        self.sdk.close()

    # -- error mapping ---------------------------------------------------------------

    def _start_error(self, exc: Exception) -> RenderError:
        if isinstance(exc, botocore.exceptions.ClientError):
            return RenderError(self._client_error_message(exc, "start"), retryable=False)
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            return RenderError(
                f"Remotion Lambda could not be reached after {self.config.invoke_max_attempts} "
                f"tries ({type(exc).__name__})", retryable=False,
            )
        message = str(exc)
        if "Version mismatch" in message:
            return RenderError(self._version_message(message), retryable=False)
        if isinstance(exc, RemotionInvalidArgumentException):
            return RenderError(f"invalid Remotion Lambda request: {first_line(message)}",
                               retryable=False)
        if isinstance(exc, RemotionRenderingOutputError):
            if "returned an error" in message and (
                is_flaky(message) or any(m in message for m in _CRASHED_START)
            ):
                return RenderError(f"Remotion Lambda crashed: {first_line(message)}",
                                   retryable=True)
            return RenderError(f"Remotion Lambda refused the render: {first_line(message)}",
                               retryable=False)
        if isinstance(exc, RemotionException):
            return RenderError(f"Remotion Lambda: {first_line(message)}", retryable=True)
        return RenderError(f"Remotion Lambda start failed ({type(exc).__name__})", retryable=True)

    def _status_error(self, exc: Exception) -> RenderError:
        message = str(exc)
        if isinstance(exc, botocore.exceptions.ClientError):
            code = _code(exc)
            permanent = code in ("ResourceNotFoundException", "AccessDeniedException",
                                 "UnrecognizedClientException", "InvalidSignatureException")
            return RenderError(self._client_error_message(exc, "status"),
                               retryable=not permanent)
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            return RenderError(f"Remotion Lambda could not be reached ({type(exc).__name__})",
                               retryable=True)
        if "Version mismatch" in message:
            return RenderError(self._version_message(message), retryable=False)
        return RenderError(f"Remotion Lambda progress failed: {first_line(message)}",
                           retryable=True)

    def _client_error_message(self, exc: botocore.exceptions.ClientError, op: str) -> str:
        code = _code(exc)
        if code == "TooManyRequestsException" or code in ("Throttling", "ThrottlingException"):
            reason = exc.response.get("Reason") or exc.response.get("Error", {}).get("Message")
            return (f"AWS Lambda is throttling renderbot ({reason or 'rate exceeded'}); gave up "
                    f"after {self.config.invoke_max_attempts} tries")
        if code == "ResourceNotFoundException":
            return (f"the Remotion Lambda function {self.function_name!r} does not exist in "
                    f"{self.region}: deploy it with `npm run deploy:lambda --prefix remotion`")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"AWS Lambda {op} failed: {code or 'error'}" + (f" (HTTP {status})" if status else "")

    def _version_message(self, message: str) -> str:
        found = _FUNCTION_VERSION.search(message)
        theirs = f" (it is {found.group(1)})" if found else ""
        return (f"the deployed Remotion Lambda function is not version {VERSION}{theirs}, "
                "renderbot's pinned Remotion: deploy the matching function with `npm run "
                "deploy:lambda --prefix remotion` and update RENDERBOT_REMOTION_FUNCTION_NAME")


def _one_line(error: RenderError) -> RenderError:
    """The start/status error as the pipeline gets it: the message (admins), at most one
    line; the creator reads what ``core.job_errors`` says of kind ``lambda``."""
    return RenderError(one_line(str(error)), retryable=error.retryable,
                       kind=error.kind or "lambda")


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "") or "")


def _split_ref(ref: str) -> tuple[str, str]:
    bucket, sep, render_id = ref.rpartition("/")
    if not sep or not bucket or not render_id:
        raise RenderError(f"not a Lambda render reference: {ref!r}", retryable=False,
                          kind="lambda")
    return bucket, render_id


def _eta(data: dict[str, Any], fraction: float) -> float | None:
    meta = data.get("renderMetadata") or {}
    started = meta.get("startedDate") if isinstance(meta, dict) else None
    if not started or fraction < 0.05:
        return None
    elapsed = max(0.0, time.time() - float(started) / 1000.0)
    return math.ceil(elapsed * (1.0 - fraction) / fraction)
