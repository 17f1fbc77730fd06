"""Callbacks from real renders (the local Remotion backend): progress then completed,
and failed, each signed with the account's webhook secret."""

from __future__ import annotations

from tests.api.test_callbacks import _create, _verified
from tests.fixtures.faults import crash_props
from tests.fixtures.pipeline import TINY, wait_for


async def test_a_real_render_calls_back_progress_then_completed(
    client, api_caller, receiver, db, api_worker
):
    caller = await api_caller()
    job = await _create(client, caller, receiver.url, {**TINY, "duration": 2})
    done = await wait_for(db, job["id"], within=120)
    assert done.status == "completed", done.error
    seen = await receiver.wait_for(
        lambda rs: any(r.json["type"] == "render.completed" for r in rs), within=30
    )
    events = _verified(receiver, caller.webhook_secret)
    types = [e["type"] for e in events]
    assert "render.progress" in types, types
    assert types[-1] == "render.completed" and types.count("render.completed") == 1
    assert set(types) <= {"render.progress", "render.completed"}
    progress = [e["job"]["progress"] for e in events if e["type"] == "render.progress"]
    assert all(0 <= p < 100 for p in progress) and progress == sorted(progress)
    assert len({e["id"] for e in events}) == len(events)
    assert all(r.path == "/hook" for r in seen)
    final = events[-1]["job"]
    served = (await client.get(f"/v1/renders/{job['id']}", headers=caller.headers)).json()
    assert final == served  # the callback carries exactly the API's Job object
    assert final["status"] == "completed" and final["result_url"]

    attempts = (await client.get(f"/v1/renders/{job['id']}/callbacks",
                                 headers=caller.headers)).json()
    assert [a["event_id"] for a in attempts] == [e["id"] for e in events]
    assert {a["outcome"] for a in attempts} == {"delivered"}
    assert all(a["status_code"] == 200 and a["latency_ms"] >= 0 for a in attempts)


async def test_a_failed_render_calls_back_failed(client, api_caller, receiver, db, api_worker):
    caller = await api_caller()
    project = (await client.post("/v1/projects", headers=caller.headers, json={
        "name": "crashes", "state": {"props": crash_props("boom in the test composition")}}
    )).json()
    job = await _create(client, caller, receiver.url, project_id=project["id"])
    done = await wait_for(db, job["id"], within=120)
    assert done.status == "failed"
    await receiver.wait_for(lambda rs: any(r.json["type"] == "render.failed" for r in rs))
    events = _verified(receiver, caller.webhook_secret)
    failed = [e for e in events if e["type"] == "render.failed"]
    assert len(failed) == 1 and "boom in the test composition" in failed[0]["job"]["error"]
