# Small blocking file reads inside async tests are intended: they check what is on disk.
# ruff: noqa: ASYNC240
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from core.storage import LocalStorage, Storage, StorageError, object_key

SECRET = b"local-test-secret"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", "http://127.0.0.1:8000/", SECRET)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    src = tmp_path / "out.mp4"
    src.write_bytes(os.urandom(300_000))
    return src


def _link_parts(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    assert parts.path.startswith("/media/")
    key = unquote(parts.path[len("/media/") :])
    return key, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_local_storage_satisfies_the_storage_protocol(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)
    assert storage.name == "local"


async def test_put_then_exists_size_path_and_delete_round_trip(
    storage: LocalStorage, video: Path
) -> None:
    key = object_key(prefix=None, job_id="job-1")
    stored = await storage.put_file(key=key, path=video)

    assert stored.bucket is None and stored.key == key and stored.size == video.stat().st_size
    assert await storage.exists(key=key)
    assert await storage.size(key=key) == stored.size
    path = storage.local_path(key=key)
    assert path == storage.root / "renders" / "job-1.mp4"
    assert path.read_bytes() == video.read_bytes()
    assert video.exists(), "put_file copies; the source stays"

    await storage.delete(key=key)
    assert not await storage.exists(key=key)
    assert await storage.size(key=key) is None
    await storage.delete(key=key)  # deleting a missing key is not an error


async def test_put_overwrites_an_existing_object(
    storage: LocalStorage, video: Path, tmp_path: Path
) -> None:
    await storage.put_file(key="a/b.mp4", path=video)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"short")
    stored = await storage.put_file(key="a/b.mp4", path=other)
    assert stored.size == 5
    assert storage.local_path(key="a/b.mp4").read_bytes() == b"short"


async def test_put_of_missing_source_is_a_permanent_storage_error(
    storage: LocalStorage, tmp_path: Path
) -> None:
    with pytest.raises(StorageError) as info:
        await storage.put_file(key="x.mp4", path=tmp_path / "nope.mp4")
    assert info.value.retryable is False


async def test_put_is_atomic_no_partial_file_under_the_final_name(
    storage: LocalStorage, tmp_path: Path
) -> None:
    """While a large copy is in flight, the final name is absent; afterwards it is whole."""
    big = tmp_path / "big.mp4"
    payload = os.urandom(64 * 1024 * 1024)
    big.write_bytes(payload)
    final = storage.local_path(key="renders/big.mp4")

    seen_sizes: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen_sizes.append(final.stat().st_size)
            except FileNotFoundError:
                pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        await storage.put_file(key="renders/big.mp4", path=big)
    finally:
        stop.set()
        watcher.join()

    assert all(size == len(payload) for size in seen_sizes)
    assert final.read_bytes() == payload
    leftovers = [p.name for p in final.parent.iterdir() if p.name != final.name]
    assert leftovers == [], "temporary files are cleaned up"


async def test_failed_put_leaves_no_file_under_the_final_name(
    storage: LocalStorage, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.storage.local.os.replace", boom)
    with pytest.raises(StorageError) as info:
        await storage.put_file(key="renders/j.mp4", path=video)
    assert info.value.retryable is True
    parent = storage.root / "renders"
    assert list(parent.iterdir()) == []


async def test_download_url_is_signed_and_verifies(storage: LocalStorage) -> None:
    url = await storage.download_url(key="renders/job 1.mp4", expires_in=60, filename="My clip.mp4")
    assert url.startswith("http://127.0.0.1:8000/media/renders/job%201.mp4?")
    key, q = _link_parts(url)
    assert key == "renders/job 1.mp4"
    assert q["filename"] == "My clip.mp4"
    assert int(q["exp"]) - time.time() == pytest.approx(60, abs=2)
    assert storage.verify_signature(key, q["exp"], q["sig"], q["filename"])
    assert q["sig"] == storage.sign(key, int(q["exp"]), "My clip.mp4")


async def test_download_url_without_filename_verifies(storage: LocalStorage) -> None:
    url = await storage.download_url(key="renders/j.mp4", expires_in=60)
    key, q = _link_parts(url)
    assert "filename" not in q
    assert storage.verify_signature(key, q["exp"], q["sig"], None)


async def test_tampered_links_are_refused(storage: LocalStorage) -> None:
    url = await storage.download_url(key="renders/j.mp4", expires_in=60, filename="a.mp4")
    key, q = _link_parts(url)
    exp, sig, filename = q["exp"], q["sig"], q["filename"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]

    assert storage.verify_signature(key, exp, sig, filename)
    assert not storage.verify_signature(key, exp, flipped, filename)
    assert not storage.verify_signature("renders/other.mp4", exp, sig, filename)
    assert not storage.verify_signature(key, str(int(exp) + 3600), sig, filename)
    assert not storage.verify_signature(key, exp, sig, "b.mp4")
    assert not storage.verify_signature(key, exp, sig, None)
    assert not storage.verify_signature(key, "not-a-number", sig, filename)
    assert not storage.verify_signature(key, exp, "zz" + sig, filename)
    assert not storage.verify_signature(key, exp, "é" * 64, filename)
    assert not storage.verify_signature("../etc/passwd", exp, sig, filename)
    other = LocalStorage(storage.root, storage.public_base_url, b"another-secret")
    assert not other.verify_signature(key, exp, sig, filename)


async def test_expired_links_are_refused(storage: LocalStorage) -> None:
    url = await storage.download_url(key="renders/j.mp4", expires_in=30)
    key, q = _link_parts(url)
    exp = int(q["exp"])
    assert storage.verify_signature(key, exp, q["sig"], now=exp)
    assert not storage.verify_signature(key, exp, q["sig"], now=exp + 1)
    assert not storage.verify_signature(key, exp, q["sig"], now=time.time() + 31)


async def test_download_url_needs_positive_expiry(storage: LocalStorage) -> None:
    with pytest.raises(ValueError):
        await storage.download_url(key="renders/j.mp4", expires_in=0)


@pytest.mark.parametrize(
    "key",
    [
        "../escape.mp4",
        "renders/../../escape.mp4",
        "/etc/passwd",
        "renders\\x.mp4",
        "",
        "renders//x.mp4",
        "./x.mp4",
        "renders/\n.mp4",
        "C:/x.mp4",
    ],
)
async def test_key_traversal_and_malformed_keys_are_refused(
    storage: LocalStorage, video: Path, key: str
) -> None:
    with pytest.raises(ValueError):
        await storage.put_file(key=key, path=video)
    with pytest.raises(ValueError):
        storage.local_path(key=key)
    with pytest.raises(ValueError):
        await storage.download_url(key=key, expires_in=60)


async def test_symlink_pointing_outside_root_is_refused(
    storage: LocalStorage, video: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    storage.root.mkdir(parents=True, exist_ok=True)
    (storage.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError):
        await storage.put_file(key="link/x.mp4", path=video)
    assert list(outside.iterdir()) == []


def test_empty_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalStorage(tmp_path, "http://x", b"")
