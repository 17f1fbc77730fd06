"""Where finished videos live and how links to them are made.

``Storage`` is the port; ``LocalStorage`` and ``S3Storage`` are the adapters;
``storage_from_url`` picks one from ``RENDERBOT_STORAGE_URL``. ``S3Storage`` (and with it
boto3) is imported lazily so the embedded default does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.storage.base import (
    Storage,
    StorageError,
    StoredObject,
    content_disposition,
    normalize_prefix,
    object_key,
    validate_key,
)
from core.storage.factory import storage_from_url
from core.storage.local import LocalStorage

if TYPE_CHECKING:
    from core.storage.s3 import S3Storage

__all__ = [
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredObject",
    "content_disposition",
    "normalize_prefix",
    "object_key",
    "storage_from_url",
    "validate_key",
]


def __getattr__(name: str) -> Any:
    if name == "S3Storage":
        from core.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
