"""S3-compatible storage: AWS S3 or Cloudflare R2 (``s3://BUCKET[/prefix]``).

boto3 is blocking, so every network call runs in a worker thread (``asyncio.to_thread``);
boto3 clients are thread-safe, so one client serves all calls.

Keys and prefixes: the storage's own ``prefix`` belongs to its default bucket. Keys
used with the default bucket are stored under that prefix; keys used with another
bucket (``bucket=`` per call, e.g. an account's own bucket) are used verbatim — the
caller puts that account's prefix in the key itself (see ``object_key``). The key a
caller passes and gets back in :class:`StoredObject` is always the caller's key, so it
can be handed back unchanged to ``exists``/``download_url``/``delete``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from core.storage.base import (
    StorageError,
    StoredObject,
    content_disposition,
    join_key,
    normalize_prefix,
    validate_key,
)

MiB = 1024 * 1024
# SigV4 presigned URLs live at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequests",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "PriorRequestNotComplete",
    "OperationAborted",
}
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Stores objects in an S3 (or R2) bucket and hands out presigned GET links."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        region: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        prefix: str | None = None,
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int = 8 * MiB,
        max_attempts: int = 3,
        timeout: float | None = None,
        policy: Any = None,
    ) -> None:
        """``policy`` (a ``core.network.Policy``): connect only to addresses it allows,
        pinned to the one checked (``core/storage/pinned.py``); for creators' endpoints."""
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.prefix = normalize_prefix(prefix)
        # R2 wants region "auto"; plain AWS falls back to boto3's own region resolution.
        self.region = region or ("auto" if self.endpoint_url else None)
        self._secrets = tuple(s for s in (access_key_id, secret_access_key) if s)

        config_kwargs: dict[str, Any] = {
            "signature_version": "s3v4",
            # botocore's retries["max_attempts"] counts retries *after* the first try;
            # "total_max_attempts" counts every try, which is what max_attempts means here
            # (and in the AWS config file).
            "retries": {"total_max_attempts": max_attempts, "mode": "standard"},
        }
        if timeout is not None:  # a creator's endpoint being verified: no long waits
            config_kwargs["connect_timeout"] = timeout
            config_kwargs["read_timeout"] = timeout
        if self.endpoint_url:
            # S3-compatible services (R2, MinIO, moto) want path-style addressing and do
            # not all accept the flexible checksums boto3 sends by default since 1.36.
            config_kwargs["s3"] = {"addressing_style": "path"}
            config_kwargs["request_checksum_calculation"] = "when_required"
            config_kwargs["response_checksum_validation"] = "when_required"
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=self.region,
        )
        self._client = session.client(
            "s3", endpoint_url=self.endpoint_url, config=Config(**config_kwargs)
        )
        if policy is not None:
            from core.storage.pinned import pin

            pin(self._client, policy)
        self._transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            preferred_transfer_client="classic",
        )

    def __repr__(self) -> str:
        return (
            f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r}, "
            f"region={self.region!r}, prefix={self.prefix!r})"
        )

    # -- helpers ---------------------------------------------------------------------

    def _target(self, key: str, bucket: str | None) -> tuple[str, str]:
        """(bucket, full object key) for a caller's key; see the module docstring."""
        validate_key(key)
        target = bucket or self.bucket
        if target == self.bucket:
            return target, join_key(self.prefix, key)
        return target, key

    def _error(self, exc: BaseException, op: str, bucket: str, key: str | None) -> StorageError:
        return _to_storage_error(exc, op=op, bucket=bucket, key=key, secrets=self._secrets)

    async def _bucket_missing(self, bucket: str) -> bool:
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            return _code(exc) in {"404", "NoSuchBucket", "NotFound"}
        return False

    async def _head(self, key: str, bucket: str | None, op: str) -> dict[str, Any] | None:
        target, full_key = self._target(key, bucket)
        try:
            return await asyncio.to_thread(self._client.head_object, Bucket=target, Key=full_key)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                # HEAD responses carry no error body: a 404 can mean "no such key" or
                # "no such bucket". Only the second is an error.
                if await self._bucket_missing(target):
                    raise StorageError(
                        f"S3 {op} failed for bucket {target!r}: NoSuchBucket (HTTP 404)",
                        retryable=False,
                        code="NoSuchBucket",
                        status=404,
                    ) from exc
                return None
            raise self._error(exc, op, target, full_key) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, op, target, full_key) from exc

    # -- operations ------------------------------------------------------------------

    async def put_file(
        self,
        *,
        key: str,
        path: Path,
        content_type: str = "video/mp4",
        bucket: str | None = None,
    ) -> StoredObject:
        target, full_key = self._target(key, bucket)
        src = Path(path)
        try:
            size = os.stat(src).st_size
        except OSError as exc:
            raise StorageError(
                f"S3 put of {full_key!r} failed: source file {src.name!r} is not readable",
                retryable=False,
                code="SourceNotFound",
            ) from exc
        try:
            await asyncio.to_thread(
                self._client.upload_file,
                str(src),
                target,
                full_key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer_config,
            )
        except (
            S3UploadFailedError,
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
        ) as exc:
            raise self._error(exc, "put", target, full_key) from exc
        return StoredObject(bucket=target, key=key, size=size)

    async def put_bytes(
        self, *, key: str, data: bytes, content_type: str = "application/octet-stream",
        bucket: str | None = None,
    ) -> StoredObject:
        """A small object in one request (a destination's probe)."""
        target, full_key = self._target(key, bucket)
        try:
            await asyncio.to_thread(
                self._client.put_object, Bucket=target, Key=full_key, Body=data,
                ContentType=content_type,
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._error(exc, "put", target, full_key) from exc
        return StoredObject(bucket=target, key=key, size=len(data))

    async def get_bytes(self, *, key: str, bucket: str | None = None) -> bytes:
        """A small object's bytes (a destination's probe reads its object back)."""
        target, full_key = self._target(key, bucket)

        def read() -> bytes:
            return self._client.get_object(Bucket=target, Key=full_key)["Body"].read()

        try:
            return await asyncio.to_thread(read)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._error(exc, "get", target, full_key) from exc

    async def delete_older(self, *, prefix: str, before: datetime) -> int:
        """Delete the default bucket's objects under ``prefix`` last written before
        ``before`` (preview stills); how many."""
        target, marker = self._target(f"{prefix.strip('/')}/x", None)
        full_prefix = marker[:-1]

        def run() -> int:
            old: list[dict[str, str]] = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=target, Prefix=full_prefix)
            for page in pages:
                old += [{"Key": o["Key"]} for o in page.get("Contents", [])
                        if o["LastModified"] < before]
            for start in range(0, len(old), 1000):
                self._client.delete_objects(
                    Bucket=target, Delete={"Objects": old[start:start + 1000], "Quiet": True})
            return len(old)

        try:
            return await asyncio.to_thread(run)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._error(exc, "delete", target, full_prefix) from exc

    async def exists(self, *, key: str, bucket: str | None = None) -> bool:
        return await self._head(key, bucket, "exists") is not None

    async def size(self, *, key: str, bucket: str | None = None) -> int | None:
        head = await self._head(key, bucket, "size")
        return None if head is None else int(head["ContentLength"])

    async def delete(self, *, key: str, bucket: str | None = None) -> None:
        target, full_key = self._target(key, bucket)
        try:
            await asyncio.to_thread(self._client.delete_object, Bucket=target, Key=full_key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._error(exc, "delete", target, full_key) from exc

    async def download_url(
        self,
        *,
        key: str,
        expires_in: int,
        bucket: str | None = None,
        filename: str | None = None,
    ) -> str:
        target, full_key = self._target(key, bucket)
        expires_in = int(expires_in)
        if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
            raise ValueError(
                f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds for S3"
            )
        params: dict[str, str] = {"Bucket": target, "Key": full_key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        try:
            # Signing is local computation (no network), so no thread is needed.
            return self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "presign", target, full_key) from exc

    def local_path(self, *, key: str) -> None:
        return None

    async def ensure_bucket(self, bucket: str | None = None) -> None:
        """Create the bucket if it does not exist (tests and ``renderbot demo``)."""
        target = bucket or self.bucket
        if not await self._bucket_missing(target):
            return
        kwargs: dict[str, Any] = {"Bucket": target}
        if self.region not in (None, "us-east-1", "auto"):
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await asyncio.to_thread(self._client.create_bucket, **kwargs)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) in {"BucketAlreadyOwnedByYou"}:
                return
            raise self._error(exc, "create bucket", target, None) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, "create bucket", target, None) from exc


# -- error mapping ---------------------------------------------------------------------


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "") or "")


def _status(exc: botocore.exceptions.ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _client_error_in_chain(exc: BaseException) -> botocore.exceptions.ClientError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, botocore.exceptions.ClientError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _redact(message: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def _to_storage_error(
    exc: BaseException,
    *,
    op: str,
    bucket: str,
    key: str | None,
    secrets: tuple[str, ...] = (),
) -> StorageError:
    """Map a boto3/botocore exception to a StorageError with a credential-free message.

    The message names the operation, bucket, key, error code and HTTP status only; the
    provider's free-text message is left out (it can echo request details).
    """
    where = f"bucket {bucket!r}" + (f" key {key!r}" if key else "")
    client_error = _client_error_in_chain(exc)
    if client_error is not None:
        code = _code(client_error) or "Unknown"
        status = _status(client_error)
        retryable = code in _RETRYABLE_CODES or (
            status is not None and (status >= 500 or status == 429)
        )
        if code in {"404", "NotFound"} and status == 404 and key is None:
            code = "NoSuchBucket"
        message = f"S3 {op} failed for {where}: {code}" + (f" (HTTP {status})" if status else "")
        return StorageError(
            _redact(message, secrets), retryable=retryable, code=code, status=status
        )
    if isinstance(exc, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosed…
        # are transient; a TLS verification failure is a configuration problem.
        message = (
            f"S3 {op} failed for {where}: cannot reach the storage endpoint ({type(exc).__name__})"
        )
        return StorageError(
            _redact(message, secrets),
            retryable=not isinstance(exc, botocore.exceptions.SSLError),
            code=type(exc).__name__,
        )
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        message = f"S3 {op} failed for {where}: no usable credentials configured"
        return StorageError(message, retryable=False, code=type(exc).__name__)
    message = f"S3 {op} failed for {where}: {type(exc).__name__}"
    return StorageError(_redact(message, secrets), retryable=False, code=type(exc).__name__)
