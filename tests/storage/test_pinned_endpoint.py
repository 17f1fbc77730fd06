"""A creator's endpoint is connected to at the address the network policy checked, with
no second DNS lookup (core/storage/pinned.py): a name that only the policy's resolver
knows still reaches the bucket, with SigV4 (which signs the Host header) intact; an
answer that includes a refused address gets no connection at all.

The bucket is a signature-checking moto server (``strict_r2``) on 127.0.0.1; the names
below resolve only through the fake DNS table."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from core import network
from core.storage.base import StorageError
from core.storage.s3 import S3Storage
from tests.fixtures.creator_r2 import strict_r2  # noqa: F401 - a fixture
from tests.fixtures.network import fake_dns  # noqa: F401 - a fixture

# one label: moto reads a dotted Host as <bucket>.<domain>; the system resolver knows
# no such name, so only the fake DNS table can answer for it
NAME = "creator-r2-endpoint-for-pinning"
LOOPBACK_ALLOWED = network.Policy.of(["127.0.0.0/8"])


def storage(r2, bucket: str) -> S3Storage:
    port = urlsplit(r2.endpoint_url).port
    return S3Storage(bucket=bucket, endpoint_url=f"http://{NAME}:{port}", region=r2.region,
                     access_key_id=r2.access_key_id, secret_access_key=r2.secret_access_key,
                     max_attempts=1, timeout=5, policy=LOOPBACK_ALLOWED)


async def test_a_name_only_the_policy_resolves_reaches_the_bucket_signed(
    strict_r2, fake_dns  # noqa: F811
):
    bucket = strict_r2.bucket()
    fake_dns.answers[NAME] = ["127.0.0.1"]
    s3 = storage(strict_r2, bucket)
    await s3.put_bytes(key="renders/x.jpg", data=b"jpeg bytes", content_type="image/jpeg")
    assert await s3.get_bytes(key="renders/x.jpg") == b"jpeg bytes"
    assert strict_r2.keys(bucket) == ["renders/x.jpg"]  # the signed requests were accepted
    assert fake_dns.count(NAME) >= 1  # every connection asked the policy's resolver


@pytest.mark.parametrize("answer", [["169.254.169.254"], ["127.0.0.1", "10.0.0.7"]],
                         ids=["metadata", "one-private-among-them"])
async def test_an_answer_with_a_refused_address_gets_no_connection(
    strict_r2, fake_dns, answer  # noqa: F811
):
    bucket = strict_r2.bucket()
    fake_dns.answers[NAME] = answer
    with pytest.raises(StorageError):
        await storage(strict_r2, bucket).put_bytes(key="renders/y.jpg", data=b"x",
                                                   content_type="image/jpeg")
    assert strict_r2.keys(bucket) == []
    assert fake_dns.count(NAME) >= 1


async def test_a_rebinding_answer_after_the_check_is_refused_at_connect(
    strict_r2, fake_dns  # noqa: F811
):
    """The check sees a public-looking allowed address, the connection's own lookup a
    refused one: the connection goes nowhere (the check alone would not have caught it)."""
    bucket = strict_r2.bucket()
    fake_dns.answers[NAME] = [["127.0.0.1"], ["169.254.169.254"]]
    port = urlsplit(strict_r2.endpoint_url).port
    await network.check_url(f"http://{NAME}:{port}", LOOPBACK_ALLOWED, field="endpoint")
    with pytest.raises(StorageError):
        await storage(strict_r2, bucket).put_bytes(key="renders/z.jpg", data=b"x",
                                                   content_type="image/jpeg")
    assert strict_r2.keys(bucket) == []
    assert fake_dns.count(NAME) == 2
