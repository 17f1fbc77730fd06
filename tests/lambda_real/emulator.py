"""A local AWS Lambda service for Remotion's real function (tests only).

Serves the Lambda REST routes the Python SDK and Remotion's bundled JS SDK use:

- ``POST /2015-03-31/functions/{name}/invocations`` — ``X-Amz-Invocation-Type``
  ``RequestResponse`` (the handler's streamed bytes as the payload; an unhandled error is
  a 200 with ``X-Amz-Function-Error: Unhandled``), ``Event`` (202, runs in the
  background), ``DryRun`` (204);
- ``POST /2021-11-15/functions/{name}/response-streaming-invocations`` — the bytes as
  ``PayloadChunk`` events while they come, then ``InvokeComplete`` (AWS event-stream
  framing, :mod:`tests.lambda_real.eventstream`);
- ``GET /2015-03-31/functions/{name}`` (GetFunction); an unknown function is a 404
  ``ResourceNotFoundException``.

Every invocation runs in its own sandbox (:mod:`tests.lambda_real.sandbox`) and is killed
at the function's timeout ("Task timed out after N.00 seconds", as Lambda says it).
Faults AWS itself produces are injected here: ``throttle[payload type] = n`` answers the
next ``n`` invocations of that routine with Lambda's 429 ``TooManyRequestsException``;
``delay[payload type] = s`` makes its invocations start ``s`` seconds late (a slow cold
start; a streaming invocation has already answered its headers by then).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.lambda_real import eventstream, sandbox
from tests.lambda_real.function import RUNNER

ACCOUNT = "123456789012"
_ROUTE = re.compile(r"^/(2015-03-31|2021-11-15)/functions/([^/]+)(/invocations|/response-streaming-invocations)?/?$")
THROTTLE_BODY = {"Type": "User", "message": "Rate Exceeded.",
                 "Reason": "ConcurrentInvocationLimitExceeded"}


@dataclass
class Function:
    name: str
    code_dir: Path
    timeout: float = 60.0  # seconds, as the function's configuration
    memory: int = 2048


@dataclass
class Invocation:
    request_id: str
    function: str
    route: str  # RequestResponse | Event | Stream
    routine: str  # the payload's "type" (start, launch, renderer, status, ...)
    payload: dict[str, Any]
    http_status: int = 200
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    error: str | None = None  # Unhandled / Sandbox.Timedout
    timeout_message: str = ""
    output: bytes = b""

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass
class Faults:
    """Faults of the platform, by routine (the payload's ``type``)."""

    throttle: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # next n → 429
    delay: dict[str, float] = field(default_factory=dict)  # a slow cold start, in seconds


class LambdaEmulator:
    def __init__(self, *, functions: list[Function], function_env: dict[str, str], log_dir: Path,
                 region: str = "us-east-1") -> None:
        self.functions = {f.name: f for f in functions}
        self.function_env = dict(function_env)
        self.log_dir = log_dir
        self.region = region
        self.faults = Faults()
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LambdaEmulator:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill(proc)

    def reset(self) -> None:
        """Forget invocations and faults; kill what still runs (between tests)."""
        with self._lock:
            procs = list(self._procs)
            self.invocations.clear()
            self.faults = Faults()
        for proc in procs:
            _kill(proc)

    def of(self, routine: str) -> list[Invocation]:
        with self._lock:
            return [i for i in self.invocations if i.routine == routine]

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"

    # -- running one invocation ------------------------------------------------------

    def run(self, fn: Function, inv: Invocation, on_chunk=None) -> None:
        """Run ``inv`` to its end; ``on_chunk`` gets the response stream's bytes as they come."""
        delay = self.faults.delay.get(inv.routine)
        if delay:
            time.sleep(delay)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "LANG": "C.UTF-8",
            "AWS_LAMBDA_FUNCTION_NAME": fn.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory), "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL_LAMBDA": self.url,
            **self.function_env,
        }
        argv = sandbox.command(fn.code_dir, RUNNER, inv.request_id, int(fn.timeout * 1000),
                               out_w, err_w)
        log = open(self.log_dir / f"{inv.routine}-{inv.request_id}.log", "wb")  # noqa: SIM115
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, pass_fds=(out_w, err_w), start_new_session=True)
        finally:
            os.close(out_w)
            os.close(err_w)
        with self._lock:
            self._procs.add(proc)
        timer = threading.Timer(fn.timeout, self._time_out, (proc, inv, fn))
        timer.start()
        try:
            proc.stdin.write(json.dumps(inv.payload).encode())
            proc.stdin.close()
        except OSError:
            pass
        chunks: list[bytes] = []
        failure: list[bytes] = []

        def read_stream() -> None:
            with os.fdopen(out_r, "rb", buffering=0) as out:
                while data := out.read(65536):
                    chunks.append(data)
                    if on_chunk is not None:
                        on_chunk(data)

        def read_error() -> None:
            with os.fdopen(err_r, "rb") as err:
                failure.append(err.read())

        readers = [threading.Thread(target=read_stream, daemon=True),
                   threading.Thread(target=read_error, daemon=True)]
        for reader in readers:
            reader.start()
        proc.wait()
        timer.cancel()
        _kill(proc)  # the invocation is over: what it left running (Chromium...) goes too
        for reader in readers:
            reader.join(timeout=30)
        log.close()
        with self._lock:
            self._procs.discard(proc)
        inv.output = b"".join(chunks)
        inv.ended = time.monotonic()
        unhandled = b"".join(failure)
        if inv.error is None and (unhandled or proc.returncode != 0):
            inv.error = "Unhandled"
            inv.output = unhandled or json.dumps({
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited with "
                                f"error: exit status {proc.returncode}"}).encode()

    def _time_out(self, proc: subprocess.Popen, inv: Invocation, fn: Function) -> None:
        if proc.poll() is None:
            inv.error = "Sandbox.Timedout"
            inv.timeout_message = f"Task timed out after {fn.timeout:.2f} seconds"
            _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Handler(BaseHTTPRequestHandler):
    owner: LambdaEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status: int, kind: str, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(),
                   {"x-amzn-ErrorType": kind, "Content-Type": "application/json"})

    def _function(self) -> tuple[Function | None, str]:
        match = _ROUTE.match(self.path.split("?", 1)[0])
        if not match:
            return None, ""
        name = match.group(2).split(":")[6] if match.group(2).startswith("arn:") else match.group(2)
        fn = self.owner.functions.get(name)
        if fn is None:
            self._error(404, "ResourceNotFoundException", {
                "Type": "User", "Message": f"Function not found: {self.owner.arn(name)}"})
        return fn, match.group(3) or ""

    def do_GET(self) -> None:  # noqa: N802 - GetFunction
        if not _ROUTE.match(self.path.split("?", 1)[0]):
            self._send(404)
            return
        fn, route = self._function()  # an unknown function has had its 404
        if fn is None:
            return
        if route:
            self._send(405)
            return
        config = {"FunctionName": fn.name, "FunctionArn": self.owner.arn(fn.name),
                  "Runtime": "nodejs20.x", "Handler": "index.handler", "Timeout": int(fn.timeout),
                  "MemorySize": fn.memory, "Version": "$LATEST", "Architectures": ["arm64"],
                  "EphemeralStorage": {"Size": 2048}, "State": "Active"}
        self._send(200, json.dumps({"Configuration": config}).encode(),
                   {"Content-Type": "application/json"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fn, route = self._function()
        if fn is None:
            if not _ROUTE.match(self.path):
                self._send(404)
            return
        payload = json.loads(body or b"{}")
        kind = "Stream" if route.startswith("/response") else (
            self.headers.get("X-Amz-Invocation-Type") or "RequestResponse")
        inv = Invocation(request_id=str(uuid.uuid4()), function=fn.name, route=kind,
                         routine=str(payload.get("type")), payload=payload)
        owner = self.owner
        with owner._lock:
            owner.invocations.append(inv)
            throttled = owner.faults.throttle.get(inv.routine, 0) > 0
            if throttled:
                owner.faults.throttle[inv.routine] -= 1
        if throttled:
            inv.http_status = 429
            inv.ended = time.monotonic()
            self._error(429, "TooManyRequestsException", THROTTLE_BODY)
            return
        if kind == "DryRun":
            inv.http_status = 204
            self._send(204)
        elif kind == "Event":
            inv.http_status = 202
            threading.Thread(target=owner.run, args=(fn, inv), daemon=True).start()
            self._send(202)
        elif kind == "Stream":
            self._stream(fn, inv)
        else:
            owner.run(fn, inv)
            headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
            output = inv.output
            if inv.error:
                headers["X-Amz-Function-Error"] = "Unhandled"
                if inv.error == "Sandbox.Timedout":
                    output = json.dumps({"errorMessage": f"{time.strftime('%Y-%m-%dT%H:%M:%S')}Z "
                                         f"{inv.request_id} {inv.timeout_message}"}).encode()
            self._send(200, output, headers)

    def _stream(self, fn: Function, inv: Invocation) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amz-Executed-Version", "$LATEST")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lock = threading.Lock()

        def write(frame: bytes) -> None:
            with lock:
                try:
                    self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
                    self.wfile.flush()
                except OSError:
                    pass  # the caller went away; the function still runs to its end

        self.owner.run(fn, inv, on_chunk=lambda data: write(eventstream.payload_chunk(data)))
        if inv.error == "Sandbox.Timedout":
            details = inv.timeout_message
        elif inv.error:
            details = json.loads(inv.output or b"{}").get("errorMessage", "")
        write(eventstream.invoke_complete(inv.error, details if inv.error else None))
        with lock:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass
