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

import json
import logging
from typing import Any

from botocore.config import Config
from remotion_lambda import (
    CustomCredentials,
    LogLevel,
    Privacy,
    RenderMediaParams,
    Webhook,
)
from remotion_lambda.version import VERSION

from core.backends import lambda_call_errors as call_errors
from core.backends import lambda_progress as progress_status
from core.backends.base import RenderError, RenderRequest, RenderStatus, Started
from core.backends.lambda_errors import first_line, one_line
from core.backends.lambda_sdk import OneLambdaClient, RemotionSdk
from core.render.encoding import codec_settings
from core.render.lambda_planner import LambdaPlan, plan
from core.render.lambda_planner import check as check_plan
from core.render_settings import RenderSettings
from core.settings import Settings
from core.storage.base import Storage, join_key

log = logging.getLogger("renderbot.lambda")

MAX_CUSTOM_DATA = 1024  # Remotion's limit on the webhook's customData (bytes of JSON)
# What Remotion's ``status`` answers (Unhandled, S3 NoSuchKey) for a render id whose
# progress file does not exist — the real function's words, not "No render with ID".
MISSING_KEY = "The specified key does not exist"

# Their old names here, before the SDK pool, the error mapping and the progress mapping
# moved to lambda_sdk.py, lambda_call_errors.py and lambda_progress.py.
_OneLambdaClient = OneLambdaClient
_Sdk = RemotionSdk
_CRASHED_START = call_errors.CRASHED_START
_FUNCTION_VERSION = call_errors.FUNCTION_VERSION
_one_line = call_errors.pipeline_error
_code = call_errors.error_code
_eta = progress_status.eta


class LambdaNotConfigured(ValueError):
    """Settings missing for ``RENDERBOT_RENDER_BACKEND=lambda``."""


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
        self.sdk = RemotionSdk(
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
        return progress_status.status_from_progress(
            data, output_bucket=self.output_bucket, output_prefix=self.output_prefix)

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
        return progress_status.caller_key(out_key, out_bucket, output_bucket=self.output_bucket,
                                          output_prefix=self.output_prefix)

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
        return call_errors.start_error(
            exc, invoke_max_attempts=self.config.invoke_max_attempts,
            function_name=self.function_name, region=self.region)

    def _status_error(self, exc: Exception) -> RenderError:
        return call_errors.status_error(
            exc, invoke_max_attempts=self.config.invoke_max_attempts,
            function_name=self.function_name, region=self.region)


def _split_ref(ref: str) -> tuple[str, str]:
    bucket, sep, render_id = ref.rpartition("/")
    if not sep or not bucket or not render_id:
        raise RenderError(f"not a Lambda render reference: {ref!r}", retryable=False,
                          kind="lambda")
    return bucket, render_id
