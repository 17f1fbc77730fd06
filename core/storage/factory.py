"""Build the configured storage adapter from ``RENDERBOT_STORAGE_URL``."""

from __future__ import annotations

import re
from pathlib import Path

from core.storage.base import Storage, normalize_prefix

ALLOWED_FORMS = "file:./relative/dir, file:/absolute/dir or s3://BUCKET[/prefix]"

# S3 bucket naming rules (R2 uses the same): 3-63 chars, lowercase letters, digits,
# dots and hyphens, starting and ending with a letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def storage_from_url(
    url: str,
    *,
    public_base_url: str,
    secret_key: bytes,
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
    base_dir: Path = Path("."),
) -> Storage:
    """``file:./var/media`` / ``file:/abs/path`` → LocalStorage (relative to ``base_dir``);
    ``s3://BUCKET[/prefix]`` → S3Storage; anything else → ValueError."""
    raw = (url or "").strip()
    if raw.startswith("file:"):
        return _local(
            raw, public_base_url=public_base_url, secret_key=secret_key, base_dir=base_dir
        )
    if raw.startswith("s3://"):
        bucket, _, prefix = raw[len("s3://") :].partition("/")
        if not _BUCKET_RE.match(bucket) or ".." in bucket or "?" in raw or "#" in raw:
            raise ValueError(f"invalid storage URL {url!r}: expected {ALLOWED_FORMS}")
        try:
            prefix = normalize_prefix(prefix)
        except ValueError:
            raise ValueError(
                f"invalid storage URL {url!r}: bad prefix; expected {ALLOWED_FORMS}"
            ) from None
        from core.storage.s3 import S3Storage  # boto3 is only imported when S3 is used

        return S3Storage(
            bucket=bucket,
            endpoint_url=s3_endpoint_url or None,
            region=s3_region or None,
            access_key_id=s3_access_key_id or None,
            secret_access_key=s3_secret_access_key or None,
            prefix=prefix or None,
        )
    raise ValueError(f"unsupported storage URL {url!r}: expected {ALLOWED_FORMS}")


def _local(url: str, *, public_base_url: str, secret_key: bytes, base_dir: Path) -> Storage:
    from core.storage.local import LocalStorage

    rest = url[len("file:") :]
    if rest.startswith("//"):
        # file:///abs/path (empty host) is accepted; file://host/path is not.
        host, _, path_part = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise ValueError(f"invalid storage URL {url!r}: expected {ALLOWED_FORMS}")
        rest = "/" + path_part
    if not rest or "?" in rest or "#" in rest:
        raise ValueError(f"invalid storage URL {url!r}: expected {ALLOWED_FORMS}")
    path = Path(rest)
    if not path.is_absolute():
        path = Path(base_dir) / path
    return LocalStorage(root=path, public_base_url=public_base_url, secret_key=secret_key)
