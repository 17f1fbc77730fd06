from __future__ import annotations

import pytest

from core.storage import StorageError, content_disposition, normalize_prefix, object_key


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (None, "renders/job-1.mp4"),
        ("", "renders/job-1.mp4"),
        ("/", "renders/job-1.mp4"),
        ("acct-1", "acct-1/renders/job-1.mp4"),
        ("/acct-1/", "acct-1/renders/job-1.mp4"),
        ("team/acct-1//", "team/acct-1/renders/job-1.mp4"),
    ],
)
def test_object_key_normalises_the_prefix(prefix: str | None, expected: str) -> None:
    assert object_key(prefix=prefix, job_id="job-1") == expected


def test_object_key_takes_an_extension() -> None:
    assert object_key(prefix=None, job_id="j", ext=".webm") == "renders/j.webm"


@pytest.mark.parametrize("prefix", ["..", "a/../b", "../a", "a\\b", "a//b", "a/./b"])
def test_object_key_refuses_unsafe_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError):
        object_key(prefix=prefix, job_id="job-1")


@pytest.mark.parametrize("job_id", ["", "..", "a/b", "../x", "a\\b", "x" * 200, "a..b"])
def test_object_key_refuses_unsafe_job_ids(job_id: str) -> None:
    with pytest.raises(ValueError):
        object_key(prefix=None, job_id=job_id)


def test_object_key_refuses_unsafe_extensions() -> None:
    with pytest.raises(ValueError):
        object_key(prefix=None, job_id="j", ext="mp4/../x")


def test_normalize_prefix() -> None:
    assert normalize_prefix(None) == ""
    assert normalize_prefix("//a/b//") == "a/b"


def test_content_disposition_plain_ascii() -> None:
    assert content_disposition("clip.mp4") == 'attachment; filename="clip.mp4"'


def test_content_disposition_non_ascii_gets_fallback_and_rfc5987_name() -> None:
    value = content_disposition("Café – été.mp4")
    assert value == (
        "attachment; filename=\"Cafe _ ete.mp4\"; filename*=UTF-8''Caf%C3%A9%20%E2%80%93%20%C3%A9t%C3%A9.mp4"
    )


def test_content_disposition_cannot_inject_headers_or_paths() -> None:
    value = content_disposition('../../evil"\r\nSet-Cookie: x=1.mp4')
    assert "\r" not in value and "\n" not in value
    assert "/" not in value.split("filename*=")[0]
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert '"' not in fallback


def test_storage_error_carries_retryable_and_code() -> None:
    err = StorageError("boom", retryable=True, code="SlowDown", status=503)
    assert (err.retryable, err.code, err.status, str(err)) == (True, "SlowDown", 503, "boom")
