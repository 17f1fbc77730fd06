"""boto3 connections that go only where the network policy allows, to the very address
it checked — the S3 side of :class:`core.network.PinnedTransport`.

A creator's own bucket (issue 16) names its endpoint; the policy checks that name when
the destination is set and again before each delivery, but boto3 (urllib3) would look
the name up once more when it connects, so a short-TTL or rebinding DNS answer could
swap the checked address for an internal one between the check and the connection.
Here every new connection resolves the name once (``core.network.resolve``, the one
lookup the rest of the policy uses), refuses unless every address is allowed, and
connects to the first: no second lookup. The request keeps its ``Host`` header (SigV4
signs it) and TLS keeps the name for SNI and the certificate check, because only the
socket's address changes.

It hooks botocore's own pool classes (``AWSHTTP(S)ConnectionPool``) on the client's
http session; a botocore whose session no longer looks like that fails closed.
"""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

from core import network
from core.errors import InvalidInput


class _Pinned:
    """``_new_conn`` of urllib3's HTTPConnection, connecting to a vetted address."""

    policy: network.Policy
    _dns_host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list | None

    def _new_conn(self) -> socket.socket:
        host = self._dns_host.rstrip(".")
        try:
            addresses = _vetted(host, self.port, self.policy)
        except InvalidInput as exc:  # refused, or it does not resolve: never names the host
            raise NewConnectionError(self, str(exc).removeprefix("endpoint: ")) from None
        try:
            return connection.create_connection(
                (addresses[0], self.port), self.timeout,
                source_address=self.source_address, socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"connection timed out (connect timeout={self.timeout})") from exc
        except OSError as exc:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {exc}") from exc


def _vetted(host: str, port: int, policy: network.Policy) -> list[str]:
    """``network.addresses_for`` from boto3's (synchronous) calling thread."""
    lookup = network.addresses_for(host, port, policy, field="endpoint")
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # boto3 runs in a worker thread (asyncio.to_thread): no loop here
        return asyncio.run(lookup)
    with ThreadPoolExecutor(1) as pool:  # called from a loop's own thread: not this one
        return pool.submit(asyncio.run, lookup).result()


def pin(client, policy: network.Policy) -> None:
    """Make every connection of the boto3 ``client`` obey ``policy`` (see above)."""
    http_session = client._endpoint.http_session  # botocore's URLLib3Session
    if not isinstance(getattr(http_session, "_pool_classes_by_scheme", None), dict):
        raise RuntimeError("botocore's http session changed: cannot pin its connections")

    class PinnedHTTP(_Pinned, AWSHTTPConnection):
        pass

    class PinnedHTTPS(_Pinned, AWSHTTPSConnection):
        pass

    PinnedHTTP.policy = PinnedHTTPS.policy = policy
    pools = {
        "http": type("PinnedHTTPPool", (AWSHTTPConnectionPool,), {"ConnectionCls": PinnedHTTP}),
        "https": type("PinnedHTTPSPool", (AWSHTTPSConnectionPool,),
                      {"ConnectionCls": PinnedHTTPS}),
    }
    http_session._pool_classes_by_scheme = pools  # proxy managers made later take these
    http_session._manager.pool_classes_by_scheme = pools
