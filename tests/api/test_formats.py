"""Formats over HTTP (issue 18): a too-long or too-large GIF is a 422 naming the field,
nothing charged or queued; a webm quote carries its price factor."""

from __future__ import annotations

import pytest

from core import renders
from tests.fixtures.pipeline import TINY


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({**TINY, "format": "gif", "duration": 20}, "settings.duration"),
        ({**TINY, "format": "gif", "resolution": [1280, 720]}, "settings.resolution"),
        ({**TINY, "format": "mov"}, "settings.format"),
    ],
)
async def test_an_oversized_gif_is_422_naming_the_field_and_charges_nothing(
    client, api_caller, factory, db, settings, field
):
    caller = await api_caller(credits_=10)
    response = await client.post("/v1/renders", headers=caller.headers,
                                  json={"project_id": caller.project_id, "settings": settings})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and error["message"].startswith(field)
    assert "\n" not in error["message"]
    assert await factory.balance(caller.account_id) == 10
    async with db.transaction() as s:
        assert await renders.list_(session=s, account_id=caller.account_id) == []


async def test_the_quote_and_the_job_carry_the_format(client, api_caller):
    caller = await api_caller(credits_=100)
    body = {"project_id": caller.project_id,
            "settings": {"resolution": [1920, 1080], "duration": 60, "quality": "medium"}}
    mp4 = (await client.post("/v1/quotes", headers=caller.headers, json=body)).json()
    body["settings"]["format"] = "webm"
    webm = (await client.post("/v1/quotes", headers=caller.headers, json=body)).json()
    assert (mp4["credit_cost"], webm["credit_cost"]) == (10, 13)  # ceil(10 × 1.25)
    assert mp4["settings"]["format"] == "mp4" and webm["settings"]["format"] == "webm"
    job = (await client.post("/v1/renders", headers=caller.headers, json=body)).json()
    assert job["settings"]["format"] == "webm" and job["credit_cost"] == 13
