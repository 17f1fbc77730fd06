"""/healthz, /readyz (database and broker), /metrics (Prometheus), unknown errors (500
with a correlation id, never a traceback), database outages (503), request ids."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from tests.fixtures.api import LiveServer, free_port, make_api_settings
from tests.fixtures.pipeline import TINY, wait_for


def samples(body: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_healthz_answers_without_the_database(tmp_path, api_port):
    dead_db = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nope"
    server = LiveServer(make_api_settings(tmp_path, dead_db, api_port)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as c:
            health = await c.get("/healthz")
            ready = await c.get("/readyz")
            request = await c.get("/v1/credits", headers={"Authorization": "Bearer rb_x"})
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "not_ready"
        # which dependency is down, never the exception's text (host, port, driver)
        assert ready.json()["checks"]["database"] == "unreachable"
        assert ready.json()["error"]["message"].startswith("database: unreachable")
        assert "127.0.0.1" not in ready.text and "nope" not in ready.text
        assert "Error" not in ready.text
        assert request.status_code == 503
        assert request.json()["error"]["code"] == "unavailable"
        assert request.headers["retry-after"]
    finally:
        server.stop()


async def test_readyz_checks_the_database_and_the_redis_broker(db, tmp_path, api_port,
                                                               database_url, redis_url):
    good = LiveServer(make_api_settings(tmp_path, database_url, api_port,
                                        broker_url=redis_url)).start()
    try:
        async with httpx.AsyncClient(base_url=good.url) as c:
            ready = await c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
    finally:
        good.stop()
    no_redis = f"redis://127.0.0.1:{free_port()}/0"
    bad = LiveServer(make_api_settings(tmp_path, database_url, free_port(),
                                       broker_url=no_redis)).start()
    try:
        async with httpx.AsyncClient(base_url=bad.url) as c:
            ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["broker"] == "unreachable"
        assert ready.json()["error"]["message"] == "broker: unreachable"
        assert no_redis.split("//")[1].split("/")[0] not in ready.text
    finally:
        bad.stop()


async def test_metrics_can_require_a_bearer_token(tmp_path, database_url, api_port, db):
    server = LiveServer(make_api_settings(tmp_path, database_url, api_port,
                                          api={"metrics_token": "m3trics-token-42"})).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as c:
            anonymous = await c.get("/metrics")
            wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await c.get("/metrics", headers={"Authorization": "Bearer m3trics-token-42"})
        assert anonymous.status_code == 401 and wrong.status_code == 401
        assert "renderbot_jobs" not in anonymous.text + wrong.text
        assert anonymous.json()["error"]["code"] == "unauthorized"
        assert right.status_code == 200 and "renderbot_jobs" in right.text
    finally:
        server.stop()


@pytest.fixture
def api_settings(tmp_path, database_url, api_port):
    return make_api_settings(tmp_path, database_url, api_port, render_backend="instant")


async def test_metrics_count_jobs_credits_latencies_callbacks_and_downloads(
    client, api_caller, db, instant_worker, receiver
):
    caller = await api_caller(credits_=10)
    before = samples((await client.get("/metrics")).text)
    assert before[("renderbot_jobs", (("state", "queued"),))] == 0
    ids = []
    for _ in range(2):
        r = await client.post("/v1/renders", headers=caller.headers, json={
            "project_id": caller.project_id, "settings": TINY, "callback_url": receiver.url})
        ids.append(r.json()["id"])
    for job_id in ids:
        assert (await wait_for(db, job_id, within=30)).status == "completed"
    await receiver.wait_for(lambda rs: len(rs) >= 2)
    done = await wait_for(db, ids[0])
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(done.result_url)).status_code == 302

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    m = samples(response.text)
    assert m[("renderbot_jobs", (("state", "completed"),))] == 2
    assert m[("renderbot_jobs", (("state", "queued"),))] == 0
    assert m[("renderbot_jobs_created_total", ())] == 2
    assert m[("renderbot_jobs_finished_total", (("state", "completed"),))] == 2
    assert m[("renderbot_queue_latency_seconds_count", ())] == 2
    assert m[("renderbot_render_duration_seconds_count", ())] == 2
    assert m[("renderbot_render_duration_seconds_sum", ())] > 0
    assert m[("renderbot_credits_total", (("kind", "debit"),))] == 2
    assert m[("renderbot_credits_total", (("kind", "grant"),))] == 10
    assert m[("renderbot_callback_attempts_total", (("outcome", "delivered"),))] == 2
    assert m[("renderbot_downloads_total", ())] == 1
    assert m[("renderbot_http_requests_total",
              (("method", "POST"), ("route", "/v1/renders"), ("status", "202")))] == 2
    assert m[("renderbot_oldest_queued_job_age_seconds", ())] == 0


async def test_an_unknown_error_is_a_generic_500_with_a_correlation_id(
    client, api_caller, db, caplog
):
    caller = await api_caller()
    async with db.engine.begin() as conn:  # a real fault: the ledger table is gone
        await conn.execute(text("ALTER TABLE credit_entry RENAME TO credit_entry_gone"))
    try:
        with caplog.at_level(logging.ERROR, logger="renderbot.api"):
            response = await client.get("/v1/credits", headers=caller.headers)
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE credit_entry_gone RENAME TO credit_entry"))
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    correlation = re.search(r"correlation id ([0-9a-f]{12})", error["message"]).group(1)
    assert "Traceback" not in response.text and "credit_entry" not in response.text
    assert "sqlalchemy" not in response.text.lower()
    logged = [r for r in caplog.records if getattr(r, "correlation_id", None) == correlation]
    assert logged and logged[0].exc_info is not None


async def test_unknown_routes_and_methods_use_the_error_shape(client):
    missing = await client.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = await client.delete("/v1/projects")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_request_ids_are_echoed_or_made(client):
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"])


async def test_the_openapi_document_describes_every_contract_route(client):
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("/v1/projects", "get"), ("/v1/projects", "post"), ("/v1/projects/{project_id}", "get"),
        ("/v1/projects/{project_id}", "patch"), ("/v1/quotes", "post"), ("/v1/renders", "post"),
        ("/v1/renders", "get"), ("/v1/renders/{job_id}", "get"),
        ("/v1/renders/{job_id}/cancel", "post"), ("/v1/credits", "get"), ("/healthz", "get"),
        ("/readyz", "get"), ("/metrics", "get"),
    }
    assert expected <= {(p, m) for p, ops in paths.items() for m in ops}
    create = paths["/v1/renders"]["post"]
    assert set(create["responses"]) >= {"202", "401", "402", "404", "409", "422", "429"}
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorBody")
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    job = spec["components"]["schemas"]["Job"]["properties"]
    assert {"id", "status", "progress", "project_id", "settings", "credit_cost", "result_url",
            "error", "created_at", "started_at", "finished_at"} <= set(job)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_a_storage_failure_on_a_download_names_no_bucket_key_or_host(
    db, tmp_path, api_port, database_url, factory, monkeypatch, caplog
):
    from core import downloads
    from core.models import RenderJob

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = make_api_settings(  # no credentials anywhere: presigning fails
        tmp_path, database_url, api_port, storage_url="s3://private-bucket-7f3a",
        s3_endpoint_url="http://storage.internal.example:9000", s3_region="auto")
    account = await factory.account()
    project = await factory.project(account)
    async with db.transaction() as s:
        s.add(RenderJob(id="job_storage_down", account_id=account, project_id=project,
                        status="completed", settings={}, credit_cost=1, project_state={},
                        backend="local", request_hash="x", output_bucket="private-bucket-7f3a",
                        output_key="renders/secret-key-91.mp4"))
    server = LiveServer(settings).start()
    try:
        link = downloads.result_url(settings, "job_storage_down")
        with caplog.at_level(logging.ERROR, logger="renderbot.api"):
            async with httpx.AsyncClient() as c:
                answer = await c.get(link)
    finally:
        server.stop()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "storage_unavailable"
    for secret in ("private-bucket-7f3a", "secret-key-91", "storage.internal", "S3"):
        assert secret not in answer.text
    correlation = re.search(r"correlation id (\w+)", answer.json()["error"]["message"])[1]
    assert any(correlation in r.getMessage() and "private-bucket-7f3a" in r.getMessage()
               for r in caplog.records)
