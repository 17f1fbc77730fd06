"""``/v1/storage``: a creator's own bucket is verified before it is stored; the secret is
never returned and never stored in plaintext (issue 16)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.fixtures.api import LiveServer, make_api_settings
from tests.fixtures.creator_r2 import strict_r2  # noqa: F401 - a fixture


def body(r2, bucket: str, **overrides) -> dict:
    return {
        "endpoint": r2.endpoint_url, "bucket": bucket, "prefix": "/renders-of-a/",
        "region": "us-east-1", "access_key_id": r2.access_key_id,
        "secret_access_key": r2.secret_access_key, **overrides,
    }


async def raw_rows(db) -> list[tuple]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text("SELECT * FROM storage_destination")))]


async def test_set_verifies_then_stores_without_the_secret(client, api_caller, db, strict_r2):  # noqa: F811
    caller = await api_caller()
    bucket = strict_r2.bucket()
    put = await client.put("/v1/storage", json=body(strict_r2, bucket), headers=caller.headers)
    assert put.status_code == 200, put.text
    data = put.json()
    assert data["bucket"] == bucket and data["prefix"] == "renders-of-a"
    assert data["endpoint"] == strict_r2.endpoint_url and data["verified_at"]
    assert data["access_key_id_hint"] == "…" + strict_r2.access_key_id[-4:]
    assert strict_r2.secret_access_key not in put.text
    assert strict_r2.access_key_id not in put.text
    assert strict_r2.keys(bucket) == []  # the probe object was deleted again

    got = await client.get("/v1/storage", headers=caller.headers)
    assert got.status_code == 200 and got.json() == data
    assert strict_r2.secret_access_key not in got.text

    rows = await raw_rows(db)
    assert len(rows) == 1
    assert all(strict_r2.secret_access_key not in str(col) for col in rows[0])

    gone = await client.delete("/v1/storage", headers=caller.headers)
    assert gone.status_code == 204
    assert (await client.get("/v1/storage", headers=caller.headers)).status_code == 404
    assert (await client.delete("/v1/storage", headers=caller.headers)).status_code == 404


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "the secret access key does not match the access key id"),
        ("unknown key", "the access key id is not known to this storage"),
        ("missing bucket", "the bucket does not exist"),
    ],
)
async def test_a_failed_probe_is_422_and_stores_nothing(
    client, api_caller, db, strict_r2, case, reason,  # noqa: F811
):
    caller = await api_caller()
    bucket = strict_r2.bucket()
    overrides = {
        "wrong secret": {"secret_access_key": "not-the-secret"},
        "unknown key": {"access_key_id": "AKIAUNKNOWN000000000"},
        "missing bucket": {"bucket": "no-such-bucket-here"},
    }[case]
    put = await client.put("/v1/storage", json={**body(strict_r2, bucket), **overrides},
                           headers=caller.headers)
    assert put.status_code == 422, put.text
    error = put.json()["error"]
    assert error["code"] == "storage_unverified"
    assert error["message"] == (
        f"the storage could not be verified: writing of a test object failed: {reason}"
    )
    assert "not-the-secret" not in put.text and strict_r2.secret_access_key not in put.text
    assert await raw_rows(db) == []
    assert (await client.get("/v1/storage", headers=caller.headers)).status_code == 404


async def test_an_endpoint_refused_by_the_network_policy_is_422(
    tmp_path, database_url, db, api_port, api_caller, strict_r2,  # noqa: F811
):
    import httpx

    settings = make_api_settings(tmp_path, database_url, api_port,
                                 callbacks={"allowed_networks": []})
    assert settings.network.allowed_networks == []  # loopback is not allowed here
    server = LiveServer(settings).start()
    try:
        caller = await api_caller()
        bucket = strict_r2.bucket()
        async with httpx.AsyncClient(base_url=server.url, timeout=30, trust_env=False) as c:
            put = await c.put("/v1/storage", json=body(strict_r2, bucket), headers=caller.headers)
        assert put.status_code == 422, put.text
        error = put.json()["error"]
        assert error["code"] == "storage_unverified" and error["field"] == "endpoint"
        assert "refused by the network policy" in error["message"]
        assert "127.0.0.1" not in error["message"]
        assert strict_r2.keys(bucket) == []  # nothing was even tried
        assert await raw_rows(db) == []
    finally:
        server.stop()


async def test_malformed_fields_and_no_key(client, api_caller, strict_r2):  # noqa: F811
    caller = await api_caller()
    bad = await client.put("/v1/storage", json=body(strict_r2, "UPPER_case"),
                           headers=caller.headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "bucket"
    traversal = await client.put(
        "/v1/storage", json=body(strict_r2, "fine-bucket", prefix="a/../b"), headers=caller.headers
    )
    assert traversal.status_code == 422 and traversal.json()["error"]["field"] == "prefix"
    assert (await client.get("/v1/storage")).status_code == 401
    assert (await client.put("/v1/storage", json=body(strict_r2, "x-bucket"))).status_code == 401
