"""Local-disk storage, the embedded default (``file:./var/media``).

Files live under ``root``; links are ``{public_base_url}/media/{key}?exp=..&sig=..``
signed with HMAC-SHA256 over ``"key\\nexp\\nfilename"``. The HTTP app serves ``/media/``
by calling :meth:`LocalStorage.verify_signature` and then :meth:`LocalStorage.local_path`
(and :func:`core.storage.base.content_disposition` when a filename was signed).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from core.storage.base import StorageError, StoredObject, validate_key

# errno values for which retrying cannot help.
_PERMANENT_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR}


class LocalStorage:
    """Stores objects as files under ``root``; ``bucket`` arguments are ignored."""

    name = "local"

    def __init__(self, root: Path, public_base_url: str, secret_key: bytes) -> None:
        if not secret_key:
            raise ValueError("LocalStorage needs a non-empty secret key to sign links")
        if isinstance(secret_key, str):
            secret_key = secret_key.encode("utf-8")
        self.root = Path(root).resolve()
        self.public_base_url = public_base_url.rstrip("/")
        self._secret_key = bytes(secret_key)

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r}, public_base_url={self.public_base_url!r})"

    # -- paths -----------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = (self.root / key).resolve()
        # resolve() follows symlinks, so this also catches links that point outside root.
        if path == self.root or not path.is_relative_to(self.root):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def local_path(self, *, key: str) -> Path:
        return self._path(key)

    # -- operations ------------------------------------------------------------------

    async def put_file(
        self,
        *,
        key: str,
        path: Path,
        content_type: str = "video/mp4",
        bucket: str | None = None,
    ) -> StoredObject:
        dest = self._path(key)
        size = await asyncio.to_thread(self._put_sync, Path(path), dest, key)
        return StoredObject(bucket=None, key=key, size=size)

    def _put_sync(self, src: Path, dest: Path, key: str) -> int:
        try:
            if not src.is_file():
                raise StorageError(
                    f"local put of {key!r} failed: source file {src.name!r} does not exist",
                    retryable=False,
                    code="SourceNotFound",
                )
            if src.resolve() == dest:
                return dest.stat().st_size
            with src.open("rb") as inp:
                _write_atomically(dest, lambda out: shutil.copyfileobj(inp, out, 1024 * 1024))
            return dest.stat().st_size
        except OSError as exc:
            raise _os_error("put", key, exc) from exc

    async def put_bytes(
        self,
        *,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        bucket: str | None = None,
    ) -> StoredObject:
        """A small object written whole (a poster, a preview still, a probe)."""
        dest = self._path(key)
        size = await asyncio.to_thread(self._put_bytes_sync, bytes(data), dest, key)
        return StoredObject(bucket=None, key=key, size=size)

    def _put_bytes_sync(self, data: bytes, dest: Path, key: str) -> int:
        try:
            _write_atomically(dest, lambda out: out.write(data))
            return len(data)
        except OSError as exc:
            raise _os_error("put", key, exc) from exc

    async def get_bytes(self, *, key: str, bucket: str | None = None) -> bytes:
        """A small object's bytes; a missing key raises a non-retryable StorageError."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise _os_error("get", key, exc) from exc

    async def delete_older(self, *, prefix: str, before: datetime) -> int:
        """Delete the files under ``prefix`` last written before ``before`` (preview
        stills); how many."""
        base = self._path(prefix.strip("/"))
        cutoff = before.timestamp()

        def run() -> int:
            deleted = 0
            if not base.is_dir():
                return 0
            for path in base.rglob("*"):
                try:
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink(missing_ok=True)
                        deleted += 1
                except FileNotFoundError:
                    continue
            return deleted

        try:
            return await asyncio.to_thread(run)
        except OSError as exc:
            raise _os_error("delete", prefix, exc) from exc

    async def exists(self, *, key: str, bucket: str | None = None) -> bool:
        path = self._path(key)
        return await asyncio.to_thread(path.is_file)

    async def size(self, *, key: str, bucket: str | None = None) -> int | None:
        path = self._path(key)

        def _size() -> int | None:
            try:
                return path.stat().st_size if path.is_file() else None
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(_size)

    async def delete(self, *, key: str, bucket: str | None = None) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise _os_error("delete", key, exc) from exc

    # -- signed links ----------------------------------------------------------------

    def sign(self, key: str, exp: int, filename: str | None = None) -> str:
        """Hex HMAC-SHA256 over ``"key\\nexp\\nfilename"`` (filename ``""`` when absent)."""
        message = f"{key}\n{int(exp)}\n{filename or ''}".encode()
        return hmac.new(self._secret_key, message, hashlib.sha256).hexdigest()

    def verify_signature(
        self,
        key: str,
        exp: int | str,
        sig: str,
        filename: str | None = None,
        now: float | None = None,
    ) -> bool:
        """True only for an unexpired link whose signature matches (constant-time)."""
        try:
            validate_key(key)
            exp_int = int(exp)
            sig_bytes = sig.encode("ascii")
        except (ValueError, TypeError, AttributeError, UnicodeEncodeError):
            return False
        current = time.time() if now is None else now
        if current > exp_int:
            return False
        expected = self.sign(key, exp_int, filename).encode("ascii")
        return hmac.compare_digest(expected, sig_bytes)

    async def download_url(
        self,
        *,
        key: str,
        expires_in: int,
        bucket: str | None = None,
        filename: str | None = None,
    ) -> str:
        validate_key(key)
        if int(expires_in) <= 0:
            raise ValueError("expires_in must be a positive number of seconds")
        exp = int(time.time()) + int(expires_in)
        params: dict[str, str] = {"exp": str(exp), "sig": self.sign(key, exp, filename)}
        if filename:
            params["filename"] = filename
        return f"{self.public_base_url}/media/{quote(key, safe='/')}?{urlencode(params)}"


def _os_error(op: str, key: str, exc: OSError) -> StorageError:
    reason = exc.strerror or type(exc).__name__
    return StorageError(
        f"local {op} of {key!r} failed: {reason}",
        retryable=exc.errno not in _PERMANENT_ERRNOS,
        code=errno.errorcode.get(exc.errno or 0),
    )


def _write_atomically(dest: Path, write) -> None:
    """Write a hidden temp file in the destination directory with ``write(file)``, then
    rename it over the final name: readers see either nothing or the whole file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
