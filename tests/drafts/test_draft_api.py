"""Drafts over HTTP (issue 17), on SQLite and PostgreSQL: quotes, renders and batch
quotes with ``draft: true`` cost a tenth of the full price rounded up, the job's settings
say draft true, a non-boolean draft is a 422 naming the field with nothing charged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import renders
from core.models import CreditEntry

# 3 minutes of 1080p30 high with two effects: 54 credits (core/pricing.py), a draft 6
PRICEY = {"resolution": [1920, 1080], "frame_rate": 30, "duration": 180, "quality": "high",
          "effects": ["grain", "glow"]}


async def _ledger(db, account_id):
    async with db.transaction() as s:
        rows = await s.scalars(select(CreditEntry).where(CreditEntry.account_id == account_id)
                               .order_by(CreditEntry.id))
        return [(e.kind, e.amount) for e in rows]


async def test_a_draft_quote_and_render_cost_a_tenth_rounded_up(client, api_caller, factory, db):
    caller = await api_caller(credits_=100)
    full = {"project_id": caller.project_id, "settings": PRICEY}
    draft = {"project_id": caller.project_id, "settings": {**PRICEY, "draft": True}}

    full_quote = (await client.post("/v1/quotes", headers=caller.headers, json=full)).json()
    response = await client.post("/v1/quotes", headers=caller.headers, json=draft)
    assert response.status_code == 200, response.text
    quote = response.json()
    assert full_quote["credit_cost"] == 54 and full_quote["settings"]["draft"] is False
    assert quote["credit_cost"] == 6 and quote["balance_after"] == 94  # ceil(54 / 10)
    assert quote["settings"] == {**PRICEY, "duration": 180.0, "format": "mp4", "draft": True}
    # the frames counted are the frames rendered: a draft renders at most 15 fps
    assert full_quote["frame_count"] == 180 * 30 and quote["frame_count"] == 180 * 15

    response = await client.post("/v1/renders", headers=caller.headers, json=draft)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["credit_cost"] == 6 and job["settings"]["draft"] is True
    # the job keeps the size asked for; the render itself is half of it
    assert job["settings"]["resolution"] == [1920, 1080]
    served = (await client.get(f"/v1/renders/{job['id']}", headers=caller.headers)).json()
    assert served["settings"]["draft"] is True and served["credit_cost"] == 6
    assert await _ledger(db, caller.account_id) == [("grant", 100), ("debit", -6)]
    assert await factory.balance(caller.account_id) == 94


async def test_a_draft_batch_quote_is_the_sum_of_the_draft_prices(client, api_caller):
    caller = await api_caller(credits_=100)
    variants = [[1920, 1080], [1080, 1920], [1080, 1080]]  # 54, 54, 31 in full
    body = {"project_id": caller.project_id, "settings": {**PRICEY, "draft": True},
            "variants": variants}
    response = await client.post("/v1/quotes", headers=caller.headers, json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert [v["credit_cost"] for v in data["variants"]] == [6, 6, 4]
    assert data["credit_cost"] == 16


@pytest.mark.parametrize("value", ["yes", 1, None, {"on": True}])
async def test_a_draft_that_is_not_a_boolean_is_422_naming_the_field(
    client, api_caller, factory, db, value
):
    caller = await api_caller(credits_=100)
    body = {"project_id": caller.project_id, "settings": {**PRICEY, "draft": value}}
    if value is None:  # JSON null is "not given" for every setting: the default, false
        response = await client.post("/v1/quotes", headers=caller.headers, json=body)
        assert response.status_code == 200 and response.json()["settings"]["draft"] is False
        return
    for path in ("/v1/quotes", "/v1/renders"):
        response = await client.post(path, headers=caller.headers, json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["field"] == "settings.draft" and "\n" not in error["message"]
    assert await factory.balance(caller.account_id) == 100
    async with db.transaction() as s:
        assert await renders.list_(session=s, account_id=caller.account_id) == []
