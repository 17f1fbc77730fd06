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
import secrets
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from core.render.local_server import LocalRenderServer
from tests.lambda_standin.deployment import ACCOUNT_ID, FUNCTION_NAME, remotion_version
from tests.lambda_standin.faults import FLAKY_STACK, Faults
from tests.lambda_standin.http_routes import _handler_for
from tests.lambda_standin.invoke import InvokeMixin
from tests.lambda_standin.progress import WEIGHTS, StatusMixin
from tests.lambda_standin.records import Invocation, StandinRender
from tests.lambda_standin.render_sim import RenderMixin
from tests.lambda_standin.s3 import S3Mixin
from tests.lambda_standin.webhooks import WebhookMixin, webhook_signature

__all__ = [
    "ACCOUNT_ID", "FLAKY_STACK", "FUNCTION_NAME", "WEIGHTS", "Faults", "Invocation",
    "LambdaStandIn", "StandinRender", "remotion_version", "webhook_signature",
]


class LambdaStandIn(InvokeMixin, StatusMixin, RenderMixin, S3Mixin, WebhookMixin):
    """The stand-in: its state, lifecycle and test helpers here; the invocations
    (invoke.py), status (progress.py), render (render_sim.py), S3 (s3.py) and webhook
    (webhooks.py) in the mixins."""

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
