"""Bearer API keys: missing, malformed, unknown and revoked keys are 401 everywhere."""

from __future__ import annotations

import pytest

from core import accounts

V1_ROUTES = [
    ("GET", "/v1/projects", None),
    ("POST", "/v1/projects", {"name": "x"}),
    ("GET", "/v1/projects/prj_x", None),
    ("PATCH", "/v1/projects/prj_x", {"name": "y"}),
    ("POST", "/v1/quotes", {"project_id": "prj_x", "settings": {}}),
    ("POST", "/v1/renders", {"project_id": "prj_x", "settings": {}}),
    ("GET", "/v1/renders", None),
    ("GET", "/v1/renders/job_x", None),
    ("POST", "/v1/renders/job_x/cancel", None),
    ("GET", "/v1/renders/job_x/callbacks", None),
    ("GET", "/v1/credits", None),
]


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert set(response.json()["error"]) <= {"code", "message", "field"}
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), V1_ROUTES)
async def test_every_v1_route_refuses_a_request_without_a_key(client, method, path, body):
    assert_unauthorized(await client.request(method, path, json=body))


@pytest.mark.parametrize(
    "header",
    [b"Bearer rb_not-a-real-key", b"Bearer", b"Basic dXNlcjpwYXNz", b"rb_no-scheme",
     "Bearer \u00e9t\u00e9".encode()],
)
async def test_a_wrong_or_malformed_key_is_refused(client, api_caller, header):
    await api_caller()
    response = await client.get("/v1/credits", headers={"Authorization": header})
    assert_unauthorized(response)


async def test_a_revoked_key_is_refused_from_the_next_request_on(client, api_caller, db):
    caller = await api_caller(credits_=5)
    assert (await client.get("/v1/credits", headers=caller.headers)).status_code == 200
    async with db.transaction() as s:
        await accounts.revoke_api_key(session=s, key_id=caller.key_id)
    assert_unauthorized(await client.get("/v1/credits", headers=caller.headers))
    assert_unauthorized(
        await client.post("/v1/renders", headers=caller.headers,
                          json={"project_id": caller.project_id, "settings": {}})
    )


async def test_the_key_decides_the_account(client, api_caller):
    alice = await api_caller(credits_=7, name="alice")
    bob = await api_caller(credits_=3, name="bob")
    assert (await client.get("/v1/credits", headers=alice.headers)).json()["balance"] == 7
    assert (await client.get("/v1/credits", headers=bob.headers)).json()["balance"] == 3
