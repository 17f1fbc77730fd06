"""Signed callbacks to webhook callers: signatures, where they may go, retries with
backoff, every attempt recorded, progress → completed / failed / cancelled for real jobs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest

from api.schemas import CallbackEvent
from core import callbacks, network, renders
from core.errors import InvalidInput
from core.runtime import Runtime
from core.settings import CallbackSettings, NetworkSettings
from tests.fixtures.api import make_api_settings
from tests.fixtures.pipeline import TINY, wait_for

# --- signatures --------------------------------------------------------------------------


def test_a_signature_verifies_only_the_exact_body_secret_and_a_recent_time():
    body = b'{"id":"evt_1","type":"render.completed"}'
    header = callbacks.sign("whsec_a", body, timestamp=1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    expected = hmac.new(b"whsec_a", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert v1 == f"v1={expected}"  # the documented recipe, by hand
    ok = dict(now=1_700_000_100)
    assert callbacks.verify_signature(body, header, "whsec_a", **ok)
    assert not callbacks.verify_signature(body + b" ", header, "whsec_a", **ok)
    assert not callbacks.verify_signature(body, header, "whsec_b", **ok)
    assert not callbacks.verify_signature(body, header, "whsec_a", now=1_700_000_301)
    assert not callbacks.verify_signature(body, header, "whsec_a", now=1_699_999_000)
    assert not callbacks.verify_signature(body, header.replace("t=1700000000", "t=1700000001"),
                                          "whsec_a", **ok)
    rotated = f"{header},v1={'0' * 64}"
    assert callbacks.verify_signature(body, rotated, "whsec_a", **ok)
    for broken in ("", "t=abc,v1=00", f"v1={expected}", "t=1700000000", None):
        assert not callbacks.verify_signature(body, broken, "whsec_a", **ok)
    assert not callbacks.verify_signature(body, header, "", **ok)


# --- where callbacks may go --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "addresses", "allowed"),
    [
        ("https://hooks.example/x", ["93.184.216.34"], True),
        ("https://hooks.example/x", ["2606:2800:220:1:248:1893:25c8:1946"], True),
        ("https://hooks.example/x", ["93.184.216.34", "10.0.0.5"], False),  # any bad one
        ("http://metadata.example/", ["169.254.169.254"], False),
        ("http://internal.example/", ["192.168.1.1"], False),
        ("http://internal.example/", ["172.16.0.1"], False),
        ("http://cgnat.example/", ["100.64.0.1"], False),
        ("http://v6.example/", ["fe80::1"], False),
        ("http://v6.example/", ["fd00::1"], False),
        ("http://v6.example/", ["::ffff:127.0.0.1"], False),
        ("http://v6.example/", ["64:ff9b::7f00:1"], False),  # NAT64 → loopback
        ("http://v6.example/", ["2002:7f00:1::1"], False),  # 6to4 → loopback
        ("http://multicast.example/", ["224.0.0.1"], False),
        ("http://127.0.0.1:8080/", None, False),
        ("http://[::1]/", None, False),
        ("http://[64:ff9b::7f00:1]/", None, False),
        ("http://0.0.0.0/", None, False),
        ("http://0x7f000001/", ["127.0.0.1"], False),
        ("http://localhost/", ["127.0.0.1", "::1"], False),
    ],
)
async def test_only_public_addresses_are_allowed_by_default(url, addresses, allowed, fake_dns):
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0] if "[" not in url else ""
    fake_dns.answers = {host: addresses} if addresses else {}
    policy = network.Policy()
    if allowed:
        await callbacks.check_url(url, policy)
    else:
        with pytest.raises(InvalidInput) as err:
            await callbacks.check_url(url, policy)
        assert err.value.field == "callback_url"


async def test_settings_can_allow_networks_or_every_private_address(fake_dns):
    fake_dns.answers = {"localhost": ["127.0.0.1"], "nas.lan": ["192.168.1.20"]}
    loopback = network.Policy.of(["127.0.0.0/8"])
    await callbacks.check_url("http://localhost:9/", loopback)
    with pytest.raises(InvalidInput):
        await callbacks.check_url("http://nas.lan/", loopback)
    anything = network.Policy(allow_private=True)
    await callbacks.check_url("http://nas.lan/", anything)
    await callbacks.check_url("http://169.254.169.254/", anything)
    with pytest.raises(InvalidInput):
        await callbacks.check_url("http://0.0.0.0/", anything)


@pytest.mark.parametrize("url", ["ftp://x.example/", "javascript:alert(1)", "http://", "//x",
                                 "http://a b.example/", "http://x.example:99999/",
                                 "http://" + "a" * 2050 + ".example/"])
async def test_malformed_urls_are_refused(url, fake_dns):
    with pytest.raises(InvalidInput):
        await callbacks.check_url(url, network.Policy(allow_private=True))


def test_retry_delays_double_up_to_the_cap_and_stop_after_max_attempts():
    policy = CallbackSettings(max_attempts=5, retry_base_delay=10, retry_max_delay=50)
    assert [callbacks.retry_delay(policy, n) for n in range(1, 6)] == [10, 20, 40, 50, None]


def test_progress_throttle_lets_one_event_per_interval_per_job():
    now = [100.0]
    throttle = callbacks.ProgressThrottle(2.0, clock=lambda: now[0])
    assert throttle.allow("a") and throttle.allow("b")
    assert not throttle.allow("a")
    now[0] += 1.9
    assert not throttle.allow("a")
    now[0] += 0.2
    assert throttle.allow("a")
    throttle.forget("a")
    assert throttle.allow("a")


# --- delivery to a real receiver -----------------------------------------------------------


def _verified(receiver, secret):
    """Every request the receiver saw, checked like a receiver would."""
    events = []
    for r in receiver.received:
        assert r.headers["content-type"] == "application/json"
        assert callbacks.verify_signature(r.body, r.headers["renderbot-signature"], secret), r
        event = r.json
        assert r.headers["renderbot-event-id"] == event["id"]
        assert r.headers["renderbot-event"] == event["type"]
        CallbackEvent.model_validate(event)  # the documented shape
        events.append(event)
    return events


async def _create(client, caller, callback_url, settings=TINY, project_id=None):
    response = await client.post("/v1/renders", headers=caller.headers, json={
        "project_id": project_id or caller.project_id, "settings": settings,
        "callback_url": callback_url,
    })
    assert response.status_code == 202, response.text
    return response.json()


@pytest.fixture
def api_settings(request, tmp_path, database_url, api_port):
    # The instant backend: what is under test is the callback, not the render.
    return make_api_settings(tmp_path, database_url, api_port, render_backend="instant")


async def test_a_receiver_answering_500_twice_gets_the_same_event_three_times(
    client, api_caller, receiver, db, instant_worker
):
    caller = await api_caller()
    receiver.answers = [500, 503]
    job = await _create(client, caller, receiver.url)
    seen = await receiver.wait_for(lambda rs: len(rs) >= 3, within=30)
    await asyncio.sleep(1.0)  # nothing more comes after the 200
    assert len(receiver.received) == 3
    events = _verified(receiver, caller.webhook_secret)
    assert {e["id"] for e in events} == {events[0]["id"]}
    assert {e["type"] for e in events} == {"render.completed"}
    assert seen[0].body == seen[1].body == seen[2].body  # same event, fresh signatures
    gaps = [b.at - a.at for a, b in zip(seen, seen[1:], strict=False)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5  # 0.3 s then 0.6 s: exponential backoff

    async with db.transaction() as s:
        attempts = await callbacks.attempts(session=s, account_id=None, job_id=job["id"])
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [
        (1, "retrying", 500), (2, "retrying", 503), (3, "delivered", 200),
    ]
    assert attempts[0].error == "answered HTTP 500"


async def test_retries_stop_after_max_attempts(client, api_caller, receiver, db, instant_worker):
    caller = await api_caller()
    receiver.answers = [500] * 20
    job = await _create(client, caller, receiver.url)
    await receiver.wait_for(lambda rs: len(rs) >= 4, within=30)
    await asyncio.sleep(2.5)
    assert len(receiver.received) == 4  # max_attempts in the test settings
    async with db.transaction() as s:
        attempts = await callbacks.attempts(session=s, account_id=None, job_id=job["id"])
    assert [a.outcome for a in attempts] == ["retrying", "retrying", "retrying", "failed"]


async def test_a_timeout_counts_as_a_failed_attempt(client, api_caller, receiver, db,
                                                    instant_worker, api_settings):
    caller = await api_caller()
    receiver.stalls = [api_settings.callbacks.timeout + 1]
    job = await _create(client, caller, receiver.url)
    await receiver.wait_for(lambda rs: len(rs) >= 2, within=30)
    # the second attempt is recorded after its answer: look again, each time in a new
    # transaction (one transaction keeps reading the snapshot it started with)
    for _ in range(200):
        async with db.transaction() as s:
            attempts = await callbacks.attempts(session=s, account_id=None, job_id=job["id"])
        if len(attempts) >= 2:
            break
        await asyncio.sleep(0.1)
    assert attempts[0].outcome == "retrying" and attempts[0].status_code is None
    assert "no answer within" in attempts[0].error
    assert attempts[1].outcome == "delivered"


async def test_cancelling_a_queued_job_calls_back_cancelled(
    client, api_caller, receiver, db, instant_worker, api_settings
):
    caller = await api_caller()
    async with db.transaction() as s:  # queued, not yet handed to the worker
        job = (await renders.submit(
            session=s, settings=api_settings, account_id=caller.account_id,
            project_id=caller.project_id, render_settings=TINY, callback_url=receiver.url,
        )).job
    cancelled = await client.post(f"/v1/renders/{job.id}/cancel", headers=caller.headers)
    assert cancelled.json()["status"] == "cancelled"
    await receiver.wait_for(lambda rs: len(rs) >= 1)
    events = _verified(receiver, caller.webhook_secret)
    assert [e["type"] for e in events] == ["render.cancelled"]
    assert events[0]["job"]["status"] == "cancelled"


async def test_a_url_refused_at_creation_or_delivery_is_never_called(
    api_server, api_caller, receiver, db, api_settings, factory
):
    from jobs.worker import RenderWorker

    caller = await api_caller(credits_=10)
    # The worker's settings no longer allow loopback (say, changed since the job was made).
    strict = api_settings.model_copy(
        update={"callbacks": CallbackSettings(), "network": NetworkSettings()}
    )
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        job = await _create(client, caller, receiver.url)
        worker = RenderWorker(Runtime(strict), threads=2).start()
        try:
            done = await wait_for(db, job["id"], within=30)
            assert done.status == "completed"
            for _ in range(100):
                async with db.transaction() as s:
                    attempts = await callbacks.attempts(session=s, account_id=None,
                                                        job_id=job["id"])
                if attempts:
                    break
                await asyncio.sleep(0.05)
        finally:
            worker.stop()
    assert [(a.outcome, a.status_code) for a in attempts] == [("refused", None)]
    assert "not allowed" in attempts[0].error
    assert receiver.received == []


async def test_a_job_without_callback_url_sends_nothing(client, api_caller, receiver, db,
                                                         instant_worker):
    caller = await api_caller()
    response = await client.post("/v1/renders", headers=caller.headers,
                                 json={"project_id": caller.project_id, "settings": TINY})
    done = await wait_for(db, response.json()["id"], within=30)
    assert done.status == "completed"
    await asyncio.sleep(0.5)
    async with db.transaction() as s:
        assert await callbacks.attempts(session=s, account_id=None, job_id=done.id) == []
    assert receiver.received == []


def test_the_event_body_is_compact_sorted_json_with_the_job():
    from datetime import UTC, datetime

    from core.schemas import JobRead

    job = JobRead(
        id="job_1", status="completed", progress=100, project_id="prj_1", account_id="acc_1",
        settings={"resolution": [320, 180], "frame_rate": 30, "duration": 1.0,
                  "quality": "low", "effects": []},
        credit_cost=1, created_at=datetime(2026, 1, 1, tzinfo=UTC), backend="local",
        origin={"platform": "api"},
    )
    body = callbacks.event_body(event_id="evt_1", event_type="render.completed", job=job,
                                created=5)
    data = json.loads(body)
    assert list(data) == ["created", "id", "job", "type"]
    assert "account_id" not in data["job"] and "origin" not in data["job"]
    assert set(data["job"]) == set(callbacks.JOB_FIELDS)
    assert b" " not in body
