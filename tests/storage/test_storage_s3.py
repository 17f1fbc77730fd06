"""S3Storage against moto's server over real HTTP (see tests/fixtures/moto_server.py)."""

# Small blocking file writes inside async tests are intended: they build the inputs.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import botocore.exceptions
import httpx
import pytest

from core.storage import Storage, StorageError, object_key
from core.storage.s3 import S3Storage, _to_storage_error
from tests.fixtures.moto_server import MotoS3

MiB = 1024 * 1024


def make_storage(moto_s3: MotoS3, bucket: str, **kwargs: object) -> S3Storage:
    params: dict[str, object] = {
        "bucket": bucket,
        "endpoint_url": moto_s3.endpoint_url,
        "region": moto_s3.region,
        "access_key_id": moto_s3.access_key_id,
        "secret_access_key": moto_s3.secret_access_key,
    }
    params.update(kwargs)
    return S3Storage(**params)  # type: ignore[arg-type]


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.mp4"
    path.write_bytes(os.urandom(200_000))
    return path


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.mp4"
    path.write_bytes(os.urandom(8 * MiB + 3 * MiB))  # > 8 MiB threshold → 2 parts
    return path


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url)


def test_s3_storage_satisfies_the_storage_protocol(s3_storage: S3Storage) -> None:
    assert isinstance(s3_storage, Storage)
    assert s3_storage.name == "s3"
    assert s3_storage.local_path(key="renders/x.mp4") is None


async def test_small_file_round_trip_exists_size_delete(
    s3_storage: S3Storage, s3_bucket: str, small_file: Path, moto_s3: MotoS3
) -> None:
    key = object_key(prefix="acct-1", job_id="job-1")
    stored = await s3_storage.put_file(key=key, path=small_file)

    assert (stored.bucket, stored.key, stored.size) == (s3_bucket, key, 200_000)
    assert await s3_storage.exists(key=key)
    assert await s3_storage.size(key=key) == 200_000
    head = moto_s3.client().head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentType"] == "video/mp4"
    assert "-" not in head["ETag"], "small files go up in a single PUT"

    await s3_storage.delete(key=key)
    assert not await s3_storage.exists(key=key)
    assert await s3_storage.size(key=key) is None
    await s3_storage.delete(key=key)  # idempotent


async def test_content_type_is_set_on_upload(
    s3_storage: S3Storage, s3_bucket: str, small_file: Path, moto_s3: MotoS3
) -> None:
    await s3_storage.put_file(key="renders/thumb.png", path=small_file, content_type="image/png")
    head = moto_s3.client().head_object(Bucket=s3_bucket, Key="renders/thumb.png")
    assert head["ContentType"] == "image/png"


async def test_big_file_goes_up_multipart(
    s3_storage: S3Storage, s3_bucket: str, big_file: Path, moto_s3: MotoS3
) -> None:
    stored = await s3_storage.put_file(key="renders/big.mp4", path=big_file)
    assert stored.size == big_file.stat().st_size

    head = moto_s3.client().head_object(Bucket=s3_bucket, Key="renders/big.mp4")
    # S3 (and moto) give multipart objects an ETag of "<md5-of-md5s>-<number of parts>".
    assert re.fullmatch(r'"[0-9a-f]{32}-2"', head["ETag"]), head["ETag"]
    assert head["ContentLength"] == stored.size
    assert head["ContentType"] == "video/mp4"

    response = await _get(await s3_storage.download_url(key="renders/big.mp4", expires_in=60))
    assert response.status_code == 200
    assert response.content == big_file.read_bytes()


async def test_presigned_url_downloads_exact_bytes_without_auth(
    s3_storage: S3Storage, small_file: Path
) -> None:
    await s3_storage.put_file(key="renders/j.mp4", path=small_file)
    url = await s3_storage.download_url(key="renders/j.mp4", expires_in=300)

    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    response = await _get(url)
    assert response.status_code == 200
    assert response.content == small_file.read_bytes()
    assert "content-disposition" not in response.headers


async def test_presigned_url_with_filename_carries_content_disposition(
    s3_storage: S3Storage, small_file: Path
) -> None:
    await s3_storage.put_file(key="renders/j.mp4", path=small_file)
    url = await s3_storage.download_url(
        key="renders/j.mp4", expires_in=300, filename="My Render – final.mp4"
    )
    response = await _get(url)
    assert response.status_code == 200
    assert response.content == small_file.read_bytes()
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="My Render _ final.mp4"')
    assert "filename*=UTF-8''My%20Render%20%E2%80%93%20final.mp4" in disposition


async def test_expired_presigned_url_is_refused(s3_storage: S3Storage, small_file: Path) -> None:
    await s3_storage.put_file(key="renders/j.mp4", path=small_file)
    url = await s3_storage.download_url(key="renders/j.mp4", expires_in=1)
    await asyncio.sleep(2.1)
    response = await _get(url)
    assert response.status_code == 403
    assert b"expired" in response.content


async def test_per_call_bucket_override_writes_to_the_other_bucket(
    moto_s3: MotoS3, s3_bucket: str, small_file: Path
) -> None:
    client = moto_s3.client()
    other = f"{s3_bucket}-acct"
    client.create_bucket(Bucket=other)
    try:
        storage = make_storage(moto_s3, s3_bucket, prefix="deploy")
        key = object_key(prefix="acct-7", job_id="job-9")

        stored = await storage.put_file(key=key, path=small_file, bucket=other)

        assert stored.bucket == other and stored.key == key
        # The override bucket gets the caller's key verbatim, not the storage prefix.
        assert client.head_object(Bucket=other, Key="acct-7/renders/job-9.mp4")
        assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
        assert await storage.exists(key=key, bucket=other)
        assert not await storage.exists(key=key)
        response = await _get(await storage.download_url(key=key, expires_in=60, bucket=other))
        assert response.content == small_file.read_bytes()
        await storage.delete(key=key, bucket=other)
        assert not await storage.exists(key=key, bucket=other)
    finally:
        client.delete_bucket(Bucket=other)


async def test_storage_prefix_applies_to_the_default_bucket(
    moto_s3: MotoS3, s3_bucket: str, small_file: Path
) -> None:
    storage = make_storage(moto_s3, s3_bucket, prefix="/deploy/v1/")
    stored = await storage.put_file(key="renders/j.mp4", path=small_file)

    assert stored.key == "renders/j.mp4"
    keys = [o["Key"] for o in moto_s3.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["deploy/v1/renders/j.mp4"]
    assert await storage.size(key=stored.key, bucket=stored.bucket) == 200_000
    response = await _get(await storage.download_url(key=stored.key, expires_in=60))
    assert response.content == small_file.read_bytes()


async def test_missing_bucket_is_a_permanent_error_without_secrets(
    moto_s3: MotoS3, small_file: Path
) -> None:
    access_key = "AKIAREALLOOKINGKEY01"
    secret = "sEcReT/DoNotLeak+0123456789abcdefghijklmn"
    storage = make_storage(
        moto_s3, "rb-no-such-bucket", access_key_id=access_key, secret_access_key=secret
    )
    calls = {
        "put": storage.put_file(key="renders/j.mp4", path=small_file),
        "exists": storage.exists(key="renders/j.mp4"),
        "size": storage.size(key="renders/j.mp4"),
        "delete": storage.delete(key="renders/j.mp4"),
    }
    for op, call in calls.items():
        with pytest.raises(StorageError) as info:
            await call
        err = info.value
        assert err.retryable is False, op
        assert err.code == "NoSuchBucket", (op, err)
        for text in (str(err), repr(err)):
            assert secret not in text and access_key not in text, op
        assert "rb-no-such-bucket" in str(err)


async def test_unreachable_endpoint_is_retryable(small_file: Path) -> None:
    storage = S3Storage(
        bucket="rb-bucket",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        region="us-east-1",
        access_key_id="AKIAEXAMPLE",
        secret_access_key="super-secret-value",
        max_attempts=1,
    )
    with pytest.raises(StorageError) as info:
        await storage.put_file(key="renders/j.mp4", path=small_file)
    assert info.value.retryable is True
    assert "super-secret-value" not in str(info.value)


def _client_error(code: str, status: int, message: str = "x") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutObject",
    )


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("SlowDown", 503, True),
        ("Throttling", 400, True),
        ("InternalError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("Whatever", 502, True),
        ("TooManyRequests", 429, True),
        ("NoSuchBucket", 404, False),
        ("AccessDenied", 403, False),
        ("InvalidAccessKeyId", 403, False),
        ("SignatureDoesNotMatch", 403, False),
    ],
)
def test_client_errors_map_to_retryable_or_permanent(
    code: str, status: int, retryable: bool
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    exc = _client_error(code, status, message=f"echo {secret}")
    err = _to_storage_error(exc, op="put", bucket="b", key="k", secrets=(secret,))
    assert err.retryable is retryable
    assert err.code == code and err.status == status
    assert secret not in str(err)


def test_upload_failed_wrapper_is_unwrapped_to_its_client_error() -> None:
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise _client_error("SlowDown", 503)
        except botocore.exceptions.ClientError as inner:
            raise S3UploadFailedError(f"Failed to upload: {inner}")  # noqa: B904 - as boto3 does
    except S3UploadFailedError as outer:
        err = _to_storage_error(outer, op="put", bucket="b", key="k")
    assert err.retryable is True and err.code == "SlowDown"


@pytest.mark.parametrize("key", ["../x.mp4", "/abs.mp4", "a\\b.mp4", "a/../b.mp4", "", "a//b"])
async def test_invalid_keys_are_refused_before_any_request(
    s3_storage: S3Storage, small_file: Path, key: str
) -> None:
    with pytest.raises(ValueError):
        await s3_storage.put_file(key=key, path=small_file)
    with pytest.raises(ValueError):
        await s3_storage.exists(key=key)
    with pytest.raises(ValueError):
        await s3_storage.download_url(key=key, expires_in=60)


async def test_expiry_outside_s3_limits_is_refused(s3_storage: S3Storage) -> None:
    for bad in (0, -5, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError):
            await s3_storage.download_url(key="renders/j.mp4", expires_in=bad)


async def test_put_of_missing_source_is_permanent(s3_storage: S3Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        await s3_storage.put_file(key="renders/j.mp4", path=tmp_path / "missing.mp4")
    assert info.value.retryable is False


async def test_ensure_bucket_creates_once_and_is_idempotent(moto_s3: MotoS3) -> None:
    name = f"rb-ensure-{os.urandom(6).hex()}"
    storage = make_storage(moto_s3, name)
    client = moto_s3.client()
    try:
        await storage.ensure_bucket()
        await storage.ensure_bucket()
        client.head_bucket(Bucket=name)
    finally:
        client.delete_bucket(Bucket=name)


def test_r2_style_config_uses_sigv4_path_style_and_region_auto() -> None:
    storage = S3Storage(
        bucket="renders",
        endpoint_url="https://acct.r2.cloudflarestorage.com",
        region=None,
        access_key_id="a",
        secret_access_key="b",
    )
    config = storage._client.meta.config
    assert storage.region == "auto"
    assert config.signature_version == "s3v4"
    assert config.s3["addressing_style"] == "path"
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] == 3  # first try + 2 retries
    url = storage._client.generate_presigned_url(
        "get_object", Params={"Bucket": "renders", "Key": "k"}, ExpiresIn=60
    )
    assert url.startswith("https://acct.r2.cloudflarestorage.com/renders/k?")
    assert "%2Fauto%2Fs3%2Faws4_request" in url
