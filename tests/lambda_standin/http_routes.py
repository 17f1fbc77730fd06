"""The stand-in's HTTP side: the AWS Lambda Invoke route, answered as AWS answers it."""

from __future__ import annotations

import json
import logging
import re
import secrets
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from tests.lambda_standin.server import LambdaStandIn

log = logging.getLogger("tests.lambda_standin")


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
