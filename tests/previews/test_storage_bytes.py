"""``put_bytes`` / ``get_bytes`` on every storage adapter (posters and preview stills use them)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from core.storage import LocalStorage, Storage, StorageError


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", "http://127.0.0.1:8000/", b"bytes-test-secret")


async def test_local_put_bytes_then_get_bytes_round_trips(local: LocalStorage) -> None:
    data = os.urandom(5000)
    stored = await local.put_bytes(key="renders/j1.jpg", data=data, content_type="image/jpeg")
    assert isinstance(local, Storage)
    assert (stored.bucket, stored.key, stored.size) == (None, "renders/j1.jpg", 5000)
    assert await local.get_bytes(key="renders/j1.jpg") == data
    assert local.local_path(key="renders/j1.jpg").read_bytes() == data
    # Overwrite replaces the whole object, and no temp file is left behind.
    await local.put_bytes(key="renders/j1.jpg", data=b"short")
    assert await local.get_bytes(key="renders/j1.jpg") == b"short"
    assert sorted(p.name for p in local.local_path(key="renders/j1.jpg").parent.iterdir()) == [
        "j1.jpg"
    ]


async def test_local_get_bytes_of_a_missing_key_is_a_permanent_storage_error(
    local: LocalStorage,
) -> None:
    with pytest.raises(StorageError) as info:
        await local.get_bytes(key="renders/nothing.jpg")
    assert info.value.retryable is False
    with pytest.raises(ValueError):
        await local.put_bytes(key="../escape.jpg", data=b"x")


async def test_s3_put_bytes_then_get_bytes_round_trips(s3_storage, s3_bucket: str) -> None:
    data = os.urandom(7000)
    stored = await s3_storage.put_bytes(key="renders/j2.jpg", data=data, content_type="image/jpeg")
    assert isinstance(s3_storage, Storage)
    assert stored.size == 7000 and stored.key == "renders/j2.jpg"
    assert await s3_storage.get_bytes(key="renders/j2.jpg") == data
    url = await s3_storage.download_url(key="renders/j2.jpg", expires_in=60)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    with pytest.raises(StorageError):
        await s3_storage.get_bytes(key="renders/missing.jpg")
