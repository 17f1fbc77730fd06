"""The outbound network policy: which addresses renderbot may connect to on a user's
behalf (callbacks, project URLs, storage endpoints), and an httpx transport that connects
only to the address it checked.

Public (globally routable) unicast addresses are allowed; so are the CIDRs of
``network.allowed_networks`` (``RENDERBOT_NETWORK__ALLOWED_NETWORKS``, e.g.
``["127.0.0.0/8"]`` in tests). Everything else is refused: loopback, private, link-local,
CGNAT (100.64/10), cloud metadata (169.254.169.254, fd00:ec2::254), multicast, reserved,
unspecified, and the IPv6 forms that carry an IPv4 address to somewhere else — NAT64
(64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16), Teredo (2001::/32); IPv4-mapped and
IPv4-compatible forms are judged by the IPv4 address they carry.

:class:`PinnedTransport` resolves a host name once, vets every address it got, and
connects to the first one while the request keeps its ``Host`` header and TLS keeps the
host name for SNI and certificate checks: no second lookup, so DNS rebinding and short
TTLs cannot swap the checked address for another. Each request — so each redirect hop —
is vetted on its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from core.errors import InvalidInput

if TYPE_CHECKING:
    from core.settings import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 3.0

# IPv6 forms that route to an IPv4 address somewhere else: refused unless allowed.
TRANSLATED = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)
METADATA = tuple(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
CGNAT = ipaddress.ip_network("100.64.0.0/10")

# One answer for "refused" and "does not resolve": telling them apart would let anyone
# map which internal names exist.
REFUSED = (
    "must name a host that resolves to public addresses only (loopback, private, "
    "link-local and metadata addresses are not allowed)"
)


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs as networks; ValueError naming the first that is not one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not a CIDR such as 127.0.0.0/8 or ::1/128") from None
    return tuple(networks)


@dataclass(frozen=True)
class Policy:
    """Where renderbot may connect: public addresses, plus ``allowed_networks``
    (``allow_private``: every address but unspecified and multicast — an operator's
    explicit choice for closed networks)."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_private: bool = False

    @classmethod
    def of(cls, cidrs: Iterable[str] = (), *, allow_private: bool = False) -> Policy:
        return cls(parse_networks(cidrs), allow_private)

    def _listed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def allows(self, address: str | IPAddress) -> bool:
        """True when renderbot may connect to ``address`` (an IP literal)."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return False  # includes scoped addresses ("fe80::1%eth0")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d
        if ip.is_unspecified or ip.is_multicast:
            return False
        if self.allow_private:
            return True
        carried = _carried_ipv4(ip)
        if carried is not None:
            # NAT64, 6to4, Teredo, ::a.b.c.d: only when the operator listed the prefix,
            # and the IPv4 address it leads to passes too.
            return self._listed(ip) and self.allows(carried)
        if self._listed(ip):
            return True
        if ip in METADATA or ip in CGNAT or ip.is_reserved or ip.is_loopback:
            return False
        return ip.is_global


def _carried_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64, 6to4, Teredo or IPv4-compatible (``::a.b.c.d``) IPv6
    address leads to."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in n for n in TRANSLATED):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if 1 < int(ip) < 2**32:  # ::a.b.c.d, but not :: or ::1
        return ipaddress.IPv4Address(int(ip))
    return None


def policy(settings: Settings) -> Policy:
    """The policy the settings describe (``network.allowed_networks``, which already
    includes the older ``callbacks.allowed_networks``; ``callbacks.allow_private``)."""
    return Policy.of(settings.network.allowed_networks,
                     allow_private=settings.callbacks.allow_private)


# --- names and URLs ---------------------------------------------------------------------


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), in the resolver's order. The one
    lookup :class:`PinnedTransport` and :func:`check_url` make (tests replace it)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
    )
    return list(dict.fromkeys(info[4][0] for info in infos))


def parse_url(url: object, *, field: str, credentials: bool = True) -> tuple[str, int]:
    """``(host, port)`` of an http(s) URL, or :class:`InvalidInput` on ``field``.
    ``credentials=False`` also refuses ``user:password@`` in the URL."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidInput(field, f"must be an http(s) URL of at most {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidInput(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise InvalidInput(field, "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(field, "must start with http:// or https://")
    if not host:
        raise InvalidInput(field, "has no host")
    if not credentials and (parts.username is not None or parts.password is not None):
        raise InvalidInput(field, "must not carry a user name or password")
    return host, port or (443 if parts.scheme == "https" else 80)


def literal_address(host: str) -> str | None:
    """The IP address ``host`` is written as, if it is an IP literal."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def addresses_for(host: str, port: int, pol: Policy, *, field: str) -> list[str]:
    """The addresses to connect to for ``host``: its literal address, or what one lookup
    answered; :class:`InvalidInput` unless every one is allowed by ``pol``."""
    literal = literal_address(host)
    if literal is not None:
        found = [literal]
    else:
        try:
            found = await resolve(host, port)
        except (OSError, UnicodeError, TimeoutError, ValueError):
            raise InvalidInput(field, REFUSED) from None
    if not found:
        raise InvalidInput(field, REFUSED)
    if not all(pol.allows(a) for a in found):
        raise InvalidInput(field, REFUSED)
    return found


async def check_url(url: object, pol: Policy, *, field: str, credentials: bool = True) -> None:
    """Refuse (:class:`InvalidInput` on ``field``) URLs that are not http(s), or whose
    host is or resolves to an address the policy does not allow (every address must
    pass). A check before accepting a URL; the connection itself re-checks."""
    host, port = parse_url(url, field=field, credentials=credentials)
    await addresses_for(host, port, pol, field=field)


def redact(url: str) -> str:
    """``url`` for logs: scheme, host, port and path; no credentials, query or fragment
    (tokens live there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


# --- the transport ----------------------------------------------------------------------


class AddressRefused(httpx.ConnectError):
    """The transport did not connect: the host's address is not allowed by the policy,
    or it does not resolve. The message never names the host."""


class PinnedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects only to addresses the policy allows, to the
    very address it checked (see the module docstring). Use one per client; do not
    configure proxies (a proxy would make its own lookup)."""

    def __init__(self, pol: Policy, **kwargs) -> None:
        # Pooled connections are keyed by IP: a kept-alive TLS connection made for one
        # name must not carry a request for another name on the same address.
        kwargs.setdefault("limits", httpx.Limits(max_keepalive_connections=0))
        super().__init__(**kwargs)
        self.policy = pol

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await addresses_for(host, port, self.policy, field="url")
        except InvalidInput as exc:
            message = str(exc).removeprefix("url: ")
            raise AddressRefused(message, request=request) from None
        address = addresses[0]
        if literal_address(host) is None:
            extensions = dict(request.extensions)
            if request.url.scheme == "https":
                extensions["sni_hostname"] = host  # TLS: SNI and certificate for the name
            request = httpx.Request(
                request.method, request.url.copy_with(host=address), headers=request.headers,
                stream=request.stream, extensions=extensions,
            )
        return await super().handle_async_request(request)
