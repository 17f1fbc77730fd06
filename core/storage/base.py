"""The storage port: where finished videos live and how links to them are made.

Two adapters implement :class:`Storage`: ``LocalStorage`` (the embedded default,
``file:./var/media``) and ``S3Storage`` (AWS S3 or Cloudflare R2). Callers build keys
with :func:`object_key`, keep the returned :class:`StoredObject` (bucket + key) on the
job, and ask for a fresh :meth:`Storage.download_url` whenever they need a link.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

# S3 caps keys at 1024 bytes of UTF-8; we apply the same cap to local keys.
MAX_KEY_BYTES = 1024

_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EXT_RE = re.compile(r"^[A-Za-z0-9]{1,16}$")


class StorageError(Exception):
    """A storage operation failed.

    ``retryable`` tells the caller (e.g. a Dramatiq actor) whether trying again later can
    help: throttling, 5xx and connection errors are retryable; a missing bucket or
    refused credentials are not. The message never contains credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        return (
            f"StorageError({self.message!r}, retryable={self.retryable}, "
            f"code={self.code!r}, status={self.status!r})"
        )


@dataclass(frozen=True)
class StoredObject:
    """What was stored: enough to find the object again (``bucket`` is None for local)."""

    bucket: str | None
    key: str
    size: int


@runtime_checkable
class Storage(Protocol):
    """Port implemented by every storage adapter.

    ``bucket`` overrides the adapter's default bucket for one call (per-account buckets);
    adapters without buckets (local) ignore it.
    """

    name: str  # "local" | "s3"

    async def put_file(
        self,
        *,
        key: str,
        path: Path,
        content_type: str = "video/mp4",
        bucket: str | None = None,
    ) -> StoredObject: ...

    async def put_bytes(
        self,
        *,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        bucket: str | None = None,
    ) -> StoredObject:
        """Store a small object (a poster, a preview still) from memory."""
        ...

    async def get_bytes(self, *, key: str, bucket: str | None = None) -> bytes:
        """A small object's bytes; StorageError when it is missing or unreadable."""
        ...

    async def delete_older(self, *, prefix: str, before: datetime) -> int:
        """Delete the default storage's objects under ``prefix`` written before
        ``before`` (preview stills, ``core/retention.py``); how many."""
        ...

    async def exists(self, *, key: str, bucket: str | None = None) -> bool: ...

    async def size(self, *, key: str, bucket: str | None = None) -> int | None: ...

    async def delete(self, *, key: str, bucket: str | None = None) -> None: ...

    async def download_url(
        self,
        *,
        key: str,
        expires_in: int,
        bucket: str | None = None,
        filename: str | None = None,
    ) -> str:
        """A time-limited link that downloads without further auth.

        With ``filename`` the response carries ``Content-Disposition: attachment`` with
        that name.
        """
        ...

    def local_path(self, *, key: str) -> Path | None:
        """The file behind ``key`` for local storage; None for remote storage."""
        ...


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative object key, else raise ValueError.

    Refused: empty keys, absolute paths, backslashes, ``.``/``..`` or empty segments,
    control characters, and keys longer than 1024 bytes of UTF-8.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if "\\" in key:
        raise ValueError(f"storage key must not contain backslashes: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"storage key must be relative, not absolute: {key!r}")
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise ValueError(f"storage key must not contain control characters: {key!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"storage key is longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"storage key must not contain empty, '.' or '..' segments: {key!r}")
    if re.match(r"^[A-Za-z]:", key):
        raise ValueError(f"storage key must not start with a drive letter: {key!r}")
    return key


def normalize_prefix(prefix: str | None) -> str:
    """``"/a/b/"`` → ``"a/b"``; None or ``""`` → ``""``. Refuses ``..`` and friends."""
    if prefix is None:
        return ""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    try:
        validate_key(stripped)
    except ValueError as exc:
        raise ValueError(f"invalid storage prefix {prefix!r}: {exc}") from None
    return stripped


def join_key(prefix: str | None, key: str) -> str:
    """Prepend a (normalised) prefix to an already validated key."""
    norm = normalize_prefix(prefix)
    return f"{norm}/{key}" if norm else key


def object_key(*, prefix: str | None, job_id: str, ext: str = "mp4") -> str:
    """The key of a job's output: ``"<prefix>/renders/<job_id>.<ext>"``.

    The prefix is normalised (no leading/trailing slashes) and omitted when empty.
    """
    job_id = str(job_id)
    if not _JOB_ID_RE.match(job_id) or ".." in job_id:
        raise ValueError(f"job id is not usable in a storage key: {job_id!r}")
    ext = ext.lstrip(".")
    if not _EXT_RE.match(ext):
        raise ValueError(f"file extension is not usable in a storage key: {ext!r}")
    return validate_key(join_key(prefix, f"renders/{job_id}.{ext}"))


def content_disposition(filename: str) -> str:
    """``attachment`` header value for ``filename`` (RFC 6266 / RFC 5987).

    Path separators, quotes and control characters are replaced so the value is safe to
    put in a header; non-ASCII names get an ASCII fallback plus ``filename*``.
    """
    name = filename.replace("/", "_").replace("\\", "_")
    name = "".join("_" if unicodedata.category(ch).startswith("C") else ch for ch in name)
    name = name.strip() or "download"
    fallback = "".join(
        ch if (ch.isascii() and ch not in '"%;') else "_"
        for ch in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(ch)
    )
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header
