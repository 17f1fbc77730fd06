from __future__ import annotations

from pathlib import Path

import pytest

from core.storage import LocalStorage, S3Storage, storage_from_url

COMMON = {"public_base_url": "http://127.0.0.1:8000", "secret_key": b"k"}


def test_relative_file_url_is_local_storage_under_base_dir(tmp_path: Path) -> None:
    storage = storage_from_url("file:./var/media", base_dir=tmp_path, **COMMON)
    assert isinstance(storage, LocalStorage)
    assert storage.name == "local"
    assert storage.root == (tmp_path / "var" / "media").resolve()
    assert storage.public_base_url == "http://127.0.0.1:8000"


def test_bare_relative_file_url_is_local_storage_under_base_dir(tmp_path: Path) -> None:
    storage = storage_from_url("file:media", base_dir=tmp_path, **COMMON)
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "media").resolve()


@pytest.mark.parametrize("form", ["file:{p}", "file://{p}", "file://localhost{p}"])
def test_absolute_file_url_ignores_base_dir(tmp_path: Path, form: str) -> None:
    target = tmp_path / "abs-media"
    storage = storage_from_url(form.format(p=target), base_dir=Path("/nowhere"), **COMMON)
    assert isinstance(storage, LocalStorage)
    assert storage.root == target.resolve()


def test_s3_url_builds_s3_storage_with_endpoint_credentials_and_prefix() -> None:
    storage = storage_from_url(
        "s3://renders-prod/team-a/videos/",
        s3_endpoint_url="https://acct.r2.cloudflarestorage.com",
        s3_region=None,
        s3_access_key_id="AKIA",
        s3_secret_access_key="shh",
        **COMMON,
    )
    assert isinstance(storage, S3Storage)
    assert storage.name == "s3"
    assert storage.bucket == "renders-prod"
    assert storage.prefix == "team-a/videos"
    assert storage.endpoint_url == "https://acct.r2.cloudflarestorage.com"
    assert storage.region == "auto"
    assert "shh" not in repr(storage)


def test_s3_url_without_prefix() -> None:
    storage = storage_from_url("s3://renders", s3_region="eu-west-1", **COMMON)
    assert isinstance(storage, S3Storage)
    assert storage.bucket == "renders" and storage.prefix == ""
    assert storage.region == "eu-west-1"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "var/media",
        "./var/media",
        "file:",
        "file://otherhost/media",
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket",
        "s3://ab",
        "s3://bucket/../escape",
        "s3://bucket?x=1",
        "gs://bucket",
        "http://example.com/media",
        "r2://bucket",
    ],
)
def test_unsupported_urls_raise_one_line_value_error_naming_allowed_forms(url: str) -> None:
    with pytest.raises(ValueError) as info:
        storage_from_url(url, **COMMON)
    message = str(info.value)
    assert "\n" not in message
    assert "file:" in message and "s3://BUCKET" in message
