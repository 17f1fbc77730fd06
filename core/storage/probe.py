"""Verify a creator's bucket before renderbot relies on it: write a small object, read it
back, delete it. Any failure says, in one line, which step failed and why (bad key, no
bucket, no permission, unreachable endpoint, timeout) — never the secret, never a URL."""

from __future__ import annotations

import secrets

from core.storage.base import StorageError, join_key

PROBE_DIR = ".renderbot-probe"

REASONS = {
    "InvalidAccessKeyId": "the access key id is not known to this storage",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "the key is not allowed to write, read and delete objects in this bucket",
    "AllAccessDisabled": "the key is not allowed to write, read and delete objects in this bucket",
    "InvalidBucketName": "the bucket name is not valid",
    "PermanentRedirect": "the bucket lives in another region (set the region)",
    "AuthorizationHeaderMalformed": "the region does not match the bucket (set the region)",
    "ConnectTimeoutError": "the endpoint did not answer in time (timeout)",
    "ReadTimeoutError": "the endpoint did not answer in time (timeout)",
    "EndpointConnectionError": "the endpoint could not be reached",
    "ConnectionClosedError": "the endpoint closed the connection",
    "SSLError": "the endpoint's TLS certificate could not be verified",
}


def reason(exc: StorageError) -> str:
    """What a storage failure means for the creator who configured the bucket."""
    code = exc.code or ""
    if code in REASONS:
        return REASONS[code]
    if exc.status == 403:
        return REASONS["AccessDenied"]
    if exc.status == 404:
        return REASONS["NoSuchBucket"]
    return f"the storage answered {code or 'an error'}"[:120]


class ProbeFailed(Exception):
    """``step`` ("write", "read back", "delete") failed for ``reason``."""

    def __init__(self, step: str, why: str) -> None:
        super().__init__(f"{step} of a test object failed: {why}")
        self.step = step
        self.why = why


async def probe(storage, *, prefix: str) -> None:
    """Write, read back and delete a small object under ``prefix``; :class:`ProbeFailed`
    on the first step that fails. ``storage`` is an ``S3Storage`` on the bucket."""
    body = secrets.token_bytes(32)
    key = join_key(prefix, f"{PROBE_DIR}/{secrets.token_hex(8)}")
    step = "writing"
    try:
        await storage.put_bytes(key=key, data=body)
        step = "reading back"
        if await storage.get_bytes(key=key) != body:
            raise ProbeFailed(step, "the object read back differs from the one written")
        step = "deleting"
        await storage.delete(key=key)
    except StorageError as exc:
        raise ProbeFailed(step, reason(exc)) from None
