"""/v1/quotes, /v1/renders and /v1/credits without a worker: what is charged, queued,
refused, replayed and cancelled (the rendering itself is in test_callbacks/test_serve)."""

from __future__ import annotations

import asyncio

import pytest

from core import renders
from tests.fixtures.api import LiveServer, make_api_settings
from tests.fixtures.pipeline import TINY

JOB_KEYS = {
    "id", "status", "progress", "project_id", "settings", "credit_cost", "result_url",
    "poster_url", "error", "created_at", "started_at", "finished_at", "queue_position",
    "eta_seconds", "batch_id",
}


async def _jobs(db, account_id):
    async with db.transaction() as s:
        return await renders.list_(session=s, account_id=account_id)


async def test_quote_says_cost_and_balance_and_charges_nothing(client, api_caller, factory):
    caller = await api_caller(credits_=10)
    response = await client.post("/v1/quotes", headers=caller.headers,
                                 json={"project_id": caller.project_id, "settings": TINY})
    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["credit_cost"] == 1 and quote["balance"] == 10 and quote["balance_after"] == 9
    assert quote["settings"] == {**TINY, "effects": [], "format": "mp4", "draft": False}
    assert await factory.balance(caller.account_id) == 10


async def test_quote_errors(client, api_caller):
    alice = await api_caller(name="alice")
    bob = await api_caller(name="bob")
    other = await client.post("/v1/quotes", headers=bob.headers,
                              json={"project_id": alice.project_id, "settings": TINY})
    assert other.status_code == 404
    bad = await client.post("/v1/quotes", headers=bob.headers,
                            json={"project_id": bob.project_id, "settings": {"frame_rate": 29}})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "settings.frame_rate"


async def test_create_render_charges_once_and_returns_the_queued_job(client, api_caller, factory, db):
    caller = await api_caller(credits_=10)
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": TINY})
    assert response.status_code == 202, response.text
    job = response.json()
    assert set(job) == JOB_KEYS
    assert job["status"] == "queued" and job["progress"] == 0 and job["credit_cost"] == 1
    assert job["queue_position"] == 1 and job["result_url"] is None
    assert response.headers["location"] == f"/v1/renders/{job['id']}"
    assert "idempotent-replayed" not in response.headers
    assert await factory.balance(caller.account_id) == 9

    got = await client.get(f"/v1/renders/{job['id']}", headers=caller.headers)
    assert got.status_code == 200 and got.json()["id"] == job["id"]
    stored = (await _jobs(db, caller.account_id))[0]
    assert stored.origin["platform"] == "api"

    credits = await client.get("/v1/credits", headers=caller.headers)
    assert credits.status_code == 200
    assert credits.json()["balance"] == 9
    assert [(e["kind"], e["amount"], e["job_id"]) for e in credits.json()["entries"]] == [
        ("debit", -1, job["id"]), ("grant", 10, None),
    ]


async def test_insufficient_credits_is_402_and_leaves_nothing(client, api_caller, factory, db):
    caller = await api_caller(credits_=2)
    expensive = {"resolution": [1920, 1080], "frame_rate": 60, "duration": 60, "quality": "high"}
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": expensive})
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert "balance is 2" in error["message"]
    assert await factory.balance(caller.account_id) == 2
    assert await _jobs(db, caller.account_id) == []
    listed = await client.get("/v1/renders", headers=caller.headers)
    assert listed.json() == []


async def test_another_accounts_project_and_job_are_404(client, api_caller, factory):
    alice = await api_caller(name="alice", credits_=5)
    mallory = await api_caller(name="mallory", credits_=5)
    job = (await client.post("/v1/renders", headers=alice.headers,
                             json={"project_id": alice.project_id, "settings": TINY})).json()

    on_theirs = await client.post("/v1/renders", headers=mallory.headers,
                                  json={"project_id": alice.project_id, "settings": TINY})
    assert on_theirs.status_code == 404
    assert await factory.balance(mallory.account_id) == 5

    for method, path in [("GET", f"/v1/renders/{job['id']}"),
                         ("POST", f"/v1/renders/{job['id']}/cancel"),
                         ("GET", f"/v1/renders/{job['id']}/callbacks")]:
        response = await client.request(method, path, headers=mallory.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
        assert alice.account_id not in response.text and "alice" not in response.text
    assert (await client.get("/v1/renders", headers=mallory.headers)).json() == []
    still = await client.get(f"/v1/renders/{job['id']}", headers=alice.headers)
    assert still.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"resolution": [321, 180]}, "settings.resolution"),
        ({"resolution": [320]}, "settings.resolution"),
        ({"frame_rate": 29}, "settings.frame_rate"),
        ({"frame_rate": "30"}, "settings.frame_rate"),
        ({"duration": 0.5}, "settings.duration"),
        ({"duration": 601}, "settings.duration"),
        ({"quality": "ultra"}, "settings.quality"),
        ({"effects": ["sparkles"]}, "settings.effects"),
        ({"effects": ["grain", "grain"]}, "settings.effects"),
        ({"bitrate": 5}, "settings.bitrate"),
    ],
)
async def test_invalid_settings_are_422_naming_the_field_and_charge_nothing(
    client, api_caller, factory, db, settings, field
):
    caller = await api_caller(credits_=10)
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": settings})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"].startswith(field)
    assert await factory.balance(caller.account_id) == 10
    assert await _jobs(db, caller.account_id) == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "not a url",
        "http:///nohost",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://0.0.0.0:9/",
        "http://[::ffff:10.0.0.1]/",
        "http://unresolvable.invalid/hook",
    ],
)
async def test_refused_callback_urls_are_422_before_anything_is_charged(
    client, api_caller, factory, db, url
):
    caller = await api_caller(credits_=10)
    response = await client.post(
        "/v1/renders", headers=caller.headers,
        json={"project_id": caller.project_id, "settings": TINY, "callback_url": url},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "callback_url"
    assert await factory.balance(caller.account_id) == 10
    assert await _jobs(db, caller.account_id) == []


async def test_loopback_callbacks_are_refused_unless_allowed(db, tmp_path, api_caller, api_port,
                                                             database_url, factory):
    import httpx

    strict = make_api_settings(tmp_path, database_url, api_port,
                               callbacks={"allowed_networks": []})
    server = LiveServer(strict).start()
    try:
        caller = await api_caller(credits_=10)
        async with httpx.AsyncClient(base_url=server.url) as c:
            for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/"):
                response = await c.post("/v1/renders", headers=caller.headers, json={
                    "project_id": caller.project_id, "settings": TINY, "callback_url": url})
                assert response.status_code == 422, (url, response.text)
        assert await factory.balance(caller.account_id) == 10
    finally:
        server.stop()


async def test_idempotent_replay_returns_the_same_job_and_charges_once(client, api_caller, factory, db):
    caller = await api_caller(credits_=10)
    body = {"project_id": caller.project_id, "settings": TINY}
    headers = {**caller.headers, "Idempotency-Key": "order-42"}
    first = await client.post("/v1/renders", headers=headers, json=body)
    again = await client.post("/v1/renders", headers=headers, json=body)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    # Defaults spelled out are the same request.
    spelled = await client.post("/v1/renders", headers=headers,
                                json={**body, "settings": {**TINY, "effects": []}})
    assert spelled.json()["id"] == first.json()["id"]
    assert await factory.balance(caller.account_id) == 9
    assert len(await _jobs(db, caller.account_id)) == 1


async def test_concurrent_retries_with_one_key_make_one_job(client, api_caller, factory, db):
    caller = await api_caller(credits_=10)
    headers = {**caller.headers, "Idempotency-Key": "burst"}
    body = {"project_id": caller.project_id, "settings": TINY}
    responses = await asyncio.gather(
        *[client.post("/v1/renders", headers=headers, json=body) for _ in range(8)]
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await factory.balance(caller.account_id) == 9


async def test_same_key_with_another_body_is_409_and_charges_nothing(client, api_caller, factory):
    caller = await api_caller(credits_=10)
    headers = {**caller.headers, "Idempotency-Key": "order-43"}
    first = await client.post("/v1/renders", headers=headers,
                              json={"project_id": caller.project_id, "settings": TINY})
    assert first.status_code == 202
    conflict = await client.post("/v1/renders", headers=headers, json={
        "project_id": caller.project_id, "settings": {**TINY, "quality": "high"}})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert await factory.balance(caller.account_id) == 9


async def test_an_idempotency_key_is_per_account(client, api_caller, factory):
    alice = await api_caller(name="alice", credits_=5)
    bob = await api_caller(name="bob", credits_=5)
    a = await client.post("/v1/renders", headers={**alice.headers, "Idempotency-Key": "k"},
                          json={"project_id": alice.project_id, "settings": TINY})
    b = await client.post("/v1/renders", headers={**bob.headers, "Idempotency-Key": "k"},
                          json={"project_id": bob.project_id, "settings": TINY})
    assert a.status_code == b.status_code == 202 and a.json()["id"] != b.json()["id"]


async def test_list_filters_by_status(client, api_caller):
    caller = await api_caller(credits_=10)
    ids = []
    for _ in range(3):
        r = await client.post("/v1/renders", headers=caller.headers,
                              json={"project_id": caller.project_id, "settings": TINY})
        ids.append(r.json()["id"])
    await client.post(f"/v1/renders/{ids[0]}/cancel", headers=caller.headers)
    every = await client.get("/v1/renders", headers=caller.headers)
    assert [j["id"] for j in every.json()] == ids[::-1]
    queued = await client.get("/v1/renders", headers=caller.headers, params={"status": "queued"})
    assert [j["id"] for j in queued.json()] == ids[:0:-1]
    cancelled = await client.get("/v1/renders", headers=caller.headers,
                                 params={"status": "cancelled"})
    assert [j["id"] for j in cancelled.json()] == [ids[0]]
    bad = await client.get("/v1/renders", headers=caller.headers, params={"status": "done"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    limited = await client.get("/v1/renders", headers=caller.headers, params={"limit": 1})
    assert len(limited.json()) == 1


async def test_cancel_a_queued_job_refunds_and_a_terminal_job_is_409(client, api_caller, factory):
    caller = await api_caller(credits_=10)
    job = (await client.post("/v1/renders", headers=caller.headers,
                             json={"project_id": caller.project_id, "settings": TINY})).json()
    assert await factory.balance(caller.account_id) == 9
    cancelled = await client.post(f"/v1/renders/{job['id']}/cancel", headers=caller.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]
    assert await factory.balance(caller.account_id) == 10
    again = await client.post(f"/v1/renders/{job['id']}/cancel", headers=caller.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    assert await factory.balance(caller.account_id) == 10
    unknown = await client.post("/v1/renders/job_00000000000000000000/cancel",
                                headers=caller.headers)
    assert unknown.status_code == 404


async def test_create_render_is_rate_limited_per_key(db, tmp_path, api_caller, api_port,
                                                     database_url, factory):
    import httpx

    limited = make_api_settings(tmp_path, database_url, api_port, api={"renders_per_minute": 3})
    server = LiveServer(limited).start()
    try:
        alice = await api_caller(credits_=20, name="alice")
        bob = await api_caller(credits_=20, name="bob")
        body = {"project_id": alice.project_id, "settings": TINY}
        async with httpx.AsyncClient(base_url=server.url) as c:
            codes = [(await c.post("/v1/renders", headers=alice.headers, json=body)).status_code
                     for _ in range(3)]
            refused = await c.post("/v1/renders", headers=alice.headers, json=body)
            other_key = await c.post("/v1/renders", headers=bob.headers,
                                     json={"project_id": bob.project_id, "settings": TINY})
            reads = await c.get("/v1/renders", headers=alice.headers)
        assert codes == [202, 202, 202]
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert other_key.status_code == 202
        assert reads.status_code == 200
        assert await factory.balance(alice.account_id) == 17
    finally:
        server.stop()


async def test_a_broker_outage_after_commit_still_answers_202_with_the_job(
    db, tmp_path, api_caller, api_port, database_url, factory
):
    import httpx

    from tests.fixtures.api import free_port

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    server = LiveServer(make_api_settings(tmp_path, database_url, api_port,
                                          broker_url=dead_redis)).start()
    try:
        caller = await api_caller(credits_=10)
        async with httpx.AsyncClient(base_url=server.url) as c:
            response = await c.post("/v1/renders", headers=caller.headers,
                                    json={"project_id": caller.project_id, "settings": TINY})
        assert response.status_code == 202, response.text
        jobs = await _jobs(db, caller.account_id)
        assert [j.id for j in jobs] == [response.json()["id"]]
        assert jobs[0].status == "queued"  # the reconciler of the next worker takes it
        assert await factory.balance(caller.account_id) == 9
    finally:
        server.stop()
