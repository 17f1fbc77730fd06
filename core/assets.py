"""URLs inside a project's state (``props.audioUrl`` and any future ``…Url`` prop).

A user's URL is checked when the project is saved (http/https, no credentials, an
address the network policy allows — :func:`check_props`) and fetched by renderbot itself
when a render starts (:func:`localise`): through :class:`core.network.PinnedTransport`
(each redirect hop vetted again), within size and content-type limits, into storage. The
renderer gets the storage object's link instead — presigned for S3/R2 (Lambda reads it),
a signed ``/media/`` link of the API for local storage — so Chromium or a Lambda
function never fetches an address a user chose. A fetch that fails fails the job with a
one-line error that names the prop, never the URL or its host.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from core import network
from core.backends.base import RenderError, RenderRequest
from core.errors import InvalidInput

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("renderbot.assets")
USER_AGENT = "renderbot-assets/1"
URL_SUFFIX = "Url"  # props named like this hold the address of a file the render uses
MAX_REDIRECTS = 5

# What each kind of prop may hold: content types (main type or exact) and file extension.
KINDS: dict[str, tuple[str, ...]] = {"audioUrl": ("audio/", "application/ogg")}
EXTENSIONS = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav",
    "audio/wave": "wav", "audio/vnd.wave": "wav", "audio/ogg": "ogg", "application/ogg": "ogg",
    "audio/aac": "aac", "audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/flac": "flac",
    "audio/x-flac": "flac", "audio/webm": "webm", "audio/opus": "opus",
}


def url_props(props: dict[str, Any]) -> dict[str, str]:
    """``{prop: url}`` for every asset URL prop that is set (``None``/``""`` = unset)."""
    return {k: v for k, v in props.items() if k.endswith(URL_SUFFIX) and v not in (None, "")}


def _field(prop: str) -> str:
    return f"state.props.{prop}"


def validate_props(props: dict[str, Any], policy: network.Policy) -> None:
    """The checks that need no lookup: http(s), no credentials, not an IP literal the
    policy refuses. :class:`InvalidInput` naming ``state.props.<prop>``."""
    for prop, url in url_props(props).items():
        field = _field(prop)
        host, _port = network.parse_url(url, field=field, credentials=False)
        literal = network.literal_address(host)
        if literal is not None and not policy.allows(literal):
            raise InvalidInput(field, network.REFUSED)


async def check_props(props: dict[str, Any], policy: network.Policy) -> None:
    """:func:`validate_props`, plus every host resolving to allowed addresses only."""
    validate_props(props, policy)
    for prop, url in url_props(props).items():
        await network.check_url(url, policy, field=_field(prop), credentials=False)


# --- at render start --------------------------------------------------------------------


class FetchFailed(Exception):
    """Why a project URL could not be fetched, in words safe to show its owner."""


def asset_key(output_key: str, prop: str, ext: str) -> str:
    """Beside the render's output: ``<prefix>/renders/<job>-assets/<prop>.<ext>``."""
    return f"{output_key.rsplit('.', 1)[0]}-assets/{prop}.{ext}"


def _content_type(response: httpx.Response, prop: str) -> str:
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    allowed = KINDS.get(prop, ("audio/", "video/", "image/"))
    if not any(content_type == a or (a.endswith("/") and content_type.startswith(a))
               for a in allowed):
        raise FetchFailed(f"it is not a supported file (content type {content_type or 'none'!r})")
    return content_type


async def fetch(
    url: str, prop: str, dest: Path, *, policy: network.Policy, max_bytes: int, seconds: float
) -> str:
    """Download ``url`` into ``dest`` through the pinned transport, within ``seconds`` in
    all; its content type."""
    transport = network.PinnedTransport(policy)
    async with httpx.AsyncClient(
        transport=transport, timeout=seconds, follow_redirects=True,
        max_redirects=MAX_REDIRECTS, trust_env=False, headers={"User-Agent": USER_AGENT},
    ) as client:
        try:
            async with asyncio.timeout(seconds), client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FetchFailed(f"it answered HTTP {response.status_code}")
                content_type = _content_type(response, prop)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchFailed(f"it is larger than {max_bytes} bytes")
                size = 0
                with dest.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise FetchFailed(f"it is larger than {max_bytes} bytes")
                        out.write(chunk)
        except network.AddressRefused:
            raise FetchFailed("its address is not allowed by the network policy") from None
        except httpx.TooManyRedirects:
            raise FetchFailed("it redirects too often") from None
        except (httpx.TimeoutException, TimeoutError):
            raise FetchFailed(f"it did not arrive within {seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"the connection failed ({exc.__class__.__name__})") from None
    if size == 0:
        raise FetchFailed("it is empty")
    return content_type


async def localise(rt: Runtime, request: RenderRequest) -> RenderRequest:
    """``request`` with every project URL replaced by a storage link to renderbot's own
    copy (fetched now). :class:`RenderError` (not retryable) when one cannot be fetched."""
    urls = url_props(request.input_props)
    if not urls:
        return request
    settings = rt.settings.network
    policy = network.policy(rt.settings)
    replaced: dict[str, str] = {}
    for prop, url in urls.items():
        field = _field(prop)
        with tempfile.TemporaryDirectory(prefix="renderbot-asset-") as tmp:
            path = Path(tmp) / "asset"
            try:
                if not isinstance(url, str):
                    raise FetchFailed("it is not a URL")
                validate_props({prop: url}, policy)
                content_type = await fetch(
                    url, prop, path, policy=policy, max_bytes=settings.asset_max_bytes,
                    seconds=settings.asset_timeout,
                )
            except (FetchFailed, InvalidInput) as exc:
                reason = str(exc).removeprefix(f"{field}: ")
                log.warning("job %s: %s could not be fetched from %s: %s", request.job_id,
                            field, network.redact(str(url)), reason,
                            extra={"job_id": request.job_id})
                raise RenderError(f"{field} could not be fetched: {reason}",
                                  retryable=False) from None
            key = asset_key(request.output_key, prop, EXTENSIONS.get(content_type, "bin"))
            await rt.storage.put_file(
                key=key, path=path, content_type=content_type, bucket=request.output_bucket
            )
        replaced[prop] = await rt.storage.download_url(
            key=key, bucket=request.output_bucket, expires_in=settings.asset_link_seconds
        )
        log.info("job %s: %s fetched into storage", request.job_id, field,
                 extra={"job_id": request.job_id})
    return dataclasses.replace(request, input_props={**request.input_props, **replaced})
