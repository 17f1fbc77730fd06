"""/v1/batches and batch quotes without a worker (issue 18): ONE debit for the sum, a job
per variant with batch_id, 402 leaves nothing, cancel refunds each unfinished variant once."""

from __future__ import annotations

from sqlalchemy import select

from core.models import CreditEntry, RenderBatch, RenderJob
from tests.fixtures.pipeline import TINY

SIZES = [[320, 180], [180, 320], [240, 240]]
PRICEY = {"resolution": [1920, 1080], "frame_rate": 30, "duration": 60, "quality": "medium"}
BIG = [[1920, 1080], [1080, 1920], [1080, 1080]]  # 10, 10 and 6 credits


async def _ledger(db, account_id):
    async with db.transaction() as s:
        rows = await s.scalars(select(CreditEntry).where(CreditEntry.account_id == account_id)
                               .order_by(CreditEntry.id))
        return [(e.kind, e.amount, e.job_id) for e in rows]


async def test_a_batch_quote_is_the_sum_of_its_variants(client, api_caller, factory):
    caller = await api_caller(credits_=100)
    body = {"project_id": caller.project_id, "settings": PRICEY, "variants": BIG}
    quote = await client.post("/v1/quotes", headers=caller.headers, json=body)
    assert quote.status_code == 200, quote.text
    data = quote.json()
    assert [v["credit_cost"] for v in data["variants"]] == [10, 10, 6]
    assert data["credit_cost"] == 26 and data["balance"] == 100 and data["balance_after"] == 74
    assert await factory.balance(caller.account_id) == 100


async def test_a_batch_is_one_debit_for_the_sum_and_a_job_per_variant(
    client, api_caller, factory, db
):
    caller = await api_caller(credits_=100)
    body = {"project_id": caller.project_id, "settings": PRICEY, "variants": BIG}
    response = await client.post("/v1/batches", headers=caller.headers, json=body)
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["credit_cost"] == 26 and batch["status"] == "queued"
    assert [j["settings"]["resolution"] for j in batch["jobs"]] == BIG
    assert [j["credit_cost"] for j in batch["jobs"]] == [10, 10, 6]
    assert {j["batch_id"] for j in batch["jobs"]} == {batch["id"]}
    assert await _ledger(db, caller.account_id) == [("grant", 100, None), ("debit", -26, None)]
    assert await factory.balance(caller.account_id) == 74
    got = await client.get(f"/v1/batches/{batch['id']}", headers=caller.headers)
    assert got.json()["jobs"] == batch["jobs"]
    one = await client.get(f"/v1/renders/{batch['jobs'][1]['id']}", headers=caller.headers)
    assert one.json()["batch_id"] == batch["id"]
    # a replay with the same key charges nothing more; another body is 409
    keyed = {**body, "variants": BIG[:2]}
    first = await client.post("/v1/batches", headers={**caller.headers, "Idempotency-Key": "k"},
                              json=keyed)
    again = await client.post("/v1/batches", headers={**caller.headers, "Idempotency-Key": "k"},
                              json=keyed)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"]
    other = await client.post("/v1/batches", headers={**caller.headers, "Idempotency-Key": "k"},
                              json=body)
    assert other.status_code == 409
    assert await factory.balance(caller.account_id) == 74 - 20


async def test_too_few_credits_is_402_and_leaves_nothing(client, api_caller, factory, db):
    caller = await api_caller(credits_=25)  # the batch costs 26
    response = await client.post("/v1/batches", headers=caller.headers, json={
        "project_id": caller.project_id, "settings": PRICEY, "variants": BIG})
    assert response.status_code == 402, response.text
    assert await factory.balance(caller.account_id) == 25
    async with db.transaction() as s:
        assert list(await s.scalars(select(RenderJob.id))) == []
        assert list(await s.scalars(select(RenderBatch.id))) == []


async def test_bad_variants_are_422_naming_them(client, api_caller, factory):
    caller = await api_caller(credits_=100)
    for variants, field in [([[320, 180]], "variants"), ([[320, 180]] * 2, "variants"),
                            ([[320, 180]] * 5, "variants"), ([[320, 180], [321, 180]], "variants.1")]:
        response = await client.post("/v1/batches", headers=caller.headers, json={
            "project_id": caller.project_id, "settings": TINY, "variants": variants})
        assert response.status_code == 422, (variants, response.text)
        assert response.json()["error"]["field"] == field, response.text
    gif = {**TINY, "format": "gif"}
    response = await client.post("/v1/batches", headers=caller.headers, json={
        "project_id": caller.project_id, "settings": gif, "variants": [[320, 180], [1280, 720]]})
    assert response.status_code == 422 and response.json()["error"]["field"] == "variants.1"
    assert await factory.balance(caller.account_id) == 100


async def test_cancel_refunds_each_unfinished_variant_once(client, api_caller, factory, db):
    caller = await api_caller(credits_=100)
    batch = (await client.post("/v1/batches", headers=caller.headers, json={
        "project_id": caller.project_id, "settings": PRICEY, "variants": BIG})).json()
    done_id = batch["jobs"][0]["id"]
    async with db.transaction() as s:  # one variant already delivered (a worker did it)
        job = await s.get(RenderJob, done_id)
        job.status, job.progress, job.result_url = "completed", 100, "http://x/v"
    cancelled = await client.post(f"/v1/batches/{batch['id']}/cancel", headers=caller.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert [j["status"] for j in cancelled.json()["jobs"]] == ["completed", "cancelled",
                                                               "cancelled"]
    assert cancelled.json()["status"] == "partial"
    ids = [j["id"] for j in batch["jobs"]]
    assert await _ledger(db, caller.account_id) == [
        ("grant", 100, None), ("debit", -26, None), ("refund", 10, ids[1]), ("refund", 6, ids[2])]
    again = await client.post(f"/v1/batches/{batch['id']}/cancel", headers=caller.headers)
    assert again.status_code == 409
    assert await factory.balance(caller.account_id) == 100 - 10
    other = await api_caller(credits_=1, name="mallory")
    assert (await client.get(f"/v1/batches/{batch['id']}", headers=other.headers)).status_code == 404
