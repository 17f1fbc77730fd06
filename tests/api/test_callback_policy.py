"""Callbacks under the network policy, end to end (API + worker): refused forms → 422,
a DNS answer that changes after the check (rebinding) never reaches loopback, a host name
is delivered to the address that was checked, and logs carry no query string."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core import callbacks
from tests.fixtures.api import make_api_settings
from tests.fixtures.pipeline import TINY, wait_for


@pytest.fixture
def api_settings(request, tmp_path, database_url, api_port):
    # The policy default (public addresses only) unless a test asks for loopback.
    allowed = getattr(request, "param", [])
    return make_api_settings(tmp_path, database_url, api_port, render_backend="instant",
                             callbacks={"allowed_networks": allowed})


async def _post(client, caller, callback_url):
    return await client.post("/v1/renders", headers=caller.headers, json={
        "project_id": caller.project_id, "settings": TINY, "callback_url": callback_url,
    })


async def _attempts(db, job_id, count=1, within=30.0):
    for _ in range(int(within / 0.05)):
        async with db.transaction() as s:
            found = await callbacks.attempts(session=s, account_id=None, job_id=job_id)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no callback attempt recorded for {job_id}")


@pytest.mark.parametrize("url", [
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 form of 127.0.0.1
    "http://[64:ff9b:1::7f00:1]/hook",
    "http://[2002:7f00:1::1]/hook",  # 6to4 form of 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo
    "http://0.0.0.0:8000/hook",
    "http://[::]/hook",
    "http://localhost./hook",
    "http://[::1]:8000/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
])
async def test_refused_callback_urls_are_422_and_charge_nothing(client, api_caller, url):
    caller = await api_caller(credits_=10)
    response = await _post(client, caller, url)
    assert response.status_code == 422, response.text
    assert "callback_url" in response.text
    assert "not allowed" in response.text
    credits_now = await client.get("/v1/credits", headers=caller.headers)
    assert credits_now.json()["balance"] == 10


async def test_a_rebinding_answer_after_the_check_never_reaches_loopback(
    client, api_caller, receiver, db, instant_worker, fake_dns
):
    # The API's check sees a public address; every later lookup answers 127.0.0.1.
    fake_dns.answers = {"hooks.example": [["93.184.216.34"], ["127.0.0.1"]]}
    caller = await api_caller()
    port = receiver.server.server_address[1]
    response = await _post(client, caller, f"http://hooks.example:{port}/hook")
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    done = await wait_for(db, job_id, within=30)
    assert done.status == "completed"
    attempts = await _attempts(db, job_id)
    assert [(a.outcome, a.status_code) for a in attempts] == [("refused", None)]
    assert "not allowed" in attempts[0].error
    await asyncio.sleep(0.5)
    assert receiver.received == []
    assert fake_dns.count("hooks.example") == 2  # the check, then one lookup to connect


@pytest.mark.parametrize("api_settings", [["127.0.0.0/8"]], indirect=True)
async def test_a_host_name_is_delivered_to_the_checked_address_and_logged_without_query(
    client, api_caller, receiver, db, instant_worker, fake_dns, caplog
):
    caplog.set_level(logging.INFO, logger="renderbot.callbacks")
    fake_dns.answers = {"hooks.example": ["127.0.0.1"]}
    caller = await api_caller()
    port = receiver.server.server_address[1]
    response = await _post(client, caller, f"http://hooks.example:{port}/hook?token=s3cret")
    assert response.status_code == 202, response.text
    seen = await receiver.wait_for(lambda rs: len(rs) >= 1)
    assert seen[0].path == "/hook?token=s3cret"
    assert seen[0].headers["host"] == f"hooks.example:{port}"
    await _attempts(db, response.json()["id"])
    # the worker logs "delivered" just after it commits the attempt row: wait for the line
    for _ in range(100):
        delivered = [r.getMessage() for r in caplog.records if "delivered" in r.getMessage()]
        if delivered:
            break
        await asyncio.sleep(0.05)
    assert delivered and f"http://hooks.example:{port}/hook" in delivered[0]
    assert "s3cret" not in caplog.text
