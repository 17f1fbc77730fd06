"""The production topology on this machine, without Docker: `renderbot api` and two
`renderbot worker` processes started as docker-compose.yml starts them (production-style
environment: PostgreSQL, Redis, S3 standing in for R2, a real secret key, JSON logs).

One test, in phases, because the processes are expensive to start:

1. 20 tiny renders submitted over HTTP by four accounts (API keys) all complete; each is
   debited once (an idempotent retry is not charged again), its mp4 is in the bucket and
   its result_url redirects to the video.
2. One worker is killed with SIGKILL mid-render and Redis is killed and restarted empty
   (a private ``redis-server`` without persistence, so the system Redis other tests use is
   left alone): every job still ends exactly once and the ledger stays consistent; renders
   submitted after the restart complete too. The compose healthchecks of the API and the
   worker report the outage and the recovery.
3. Every log line of every process is a JSON object; lines about a job carry its job id
   and account id; no secret (secret key, S3 secret, API keys) appears in any log; the
   /metrics job and credit figures match the database.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time

import httpx
import pytest
import redis
from sqlalchemy import func, select

from core.db import Database
from core.models import CreditEntry, RenderJob
from tests.deploy.topology import (
    ACCOUNTS,
    GRANT,
    LONGER,
    RENDERS,
    TERMINAL,
    TINY,
    Process,
    Topology,
    all_end,
    compose_command,
    finished_at,
    healthy,
    is_mp4,
    job_outputs,
    ledger,
    make_callers,
    metric_values,
    starter_of,
    statuses,
    submit,
    terminal_events,
    wait_for,
)
from tests.fixtures.databases import truncate_all
from tests.fixtures.private_redis import PrivateRedis, free_port

pytestmark = [pytest.mark.pg, pytest.mark.redis]


@pytest.fixture
def topology(tmp_path, pg_url, moto_s3, s3_bucket, production_bundles):
    db = Database(pg_url)
    asyncio.run(_truncate(pg_url))  # a clean database: the metrics count from zero
    private_redis = PrivateRedis(tmp_path)
    private_redis.start()
    api_port = free_port()
    secret_key = f"topology-{secrets.token_hex(24)}"
    s3_secret = f"s3-{secrets.token_hex(20)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": pg_url,
        "RENDERBOT_BROKER_URL": private_redis.url,
        "RENDERBOT_STORAGE_URL": f"s3://{s3_bucket}",
        "RENDERBOT_S3_ENDPOINT_URL": moto_s3.endpoint_url,
        "RENDERBOT_S3_REGION": moto_s3.region,
        "RENDERBOT_S3_ACCESS_KEY_ID": moto_s3.access_key_id,
        "RENDERBOT_S3_SECRET_ACCESS_KEY": s3_secret,  # moto checks no signature
        "RENDERBOT_SECRET_KEY": secret_key,
        "RENDERBOT_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "RENDERBOT_API__LOG_FORMAT": "json",
        "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
        "RENDERBOT_WORKER__POLL_INTERVAL": "0.3",
        "RENDERBOT_WORKER__RETRY_BASE_DELAY": "0.3",
        "RENDERBOT_WORKER__RETRY_MAX_DELAY": "2",
        "RENDERBOT_WORKER__RECONCILE_INTERVAL": "1",
        "RENDERBOT_WORKER__RECONCILE_GRACE": "2",
        "RENDERBOT_WORKER__LEASE_SECONDS": "4",
    }
    topology = Topology(tmp_path, env, f"http://127.0.0.1:{api_port}", db, private_redis,
                        [secret_key, s3_secret], api_port, production_bundles)
    try:
        yield topology
    finally:
        topology.stop_all()
        private_redis.kill()
        asyncio.run(db.dispose())


async def _truncate(url: str) -> None:
    db = Database(url)
    try:
        await truncate_all(db)
    finally:
        await db.dispose()


async def test_api_and_two_workers_on_postgres_redis_and_s3(topology: Topology, moto_s3, s3_bucket):
    t = topology
    api = t.start("api", *compose_command("api")[:1], "--host", "127.0.0.1",
                  "--port", str(t.api_port))
    assert compose_command("worker") == ["worker"]
    workers = [t.start_worker(f"worker-{n}", *compose_command("worker")) for n in range(2)]
    procs = [api, *workers]

    async with httpx.AsyncClient(base_url=t.api_url, timeout=30, trust_env=False) as client:

        async def api_ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        async def workers_ready() -> bool:
            return all(any("worker started" in r.get("message", "") for r in w.records())
                       for w in workers)

        await wait_for(api_ready, 90, "the API to be ready", procs)
        await wait_for(workers_ready, 90, "the workers to start", procs)
        assert healthy(t, "api", t.api_port) and healthy(t, "worker", t.api_port)

        # --- 1. 20 renders from four accounts -----------------------------------------------
        callers = await make_callers(t.db, t)
        submitted = []
        for n in range(RENDERS):
            caller = callers[n % ACCOUNTS]
            submitted.append((await submit(client, caller, TINY, f"first-{n}"))["id"])
        # a client retrying with the same Idempotency-Key gets the same job, charged once
        replay = await submit(client, callers[0], TINY, "first-0")
        assert replay["id"] == submitted[0]
        assert len(set(submitted)) == RENDERS

        done = await all_end(client, callers, submitted, 600, procs)
        assert {done[j]["status"] for j in submitted} == {"completed"}, \
            {j: done[j]["error"] for j in submitted if done[j]["status"] != "completed"}

        balances, sums, per_job = await ledger(t.db)
        for caller in callers:
            costs = sum(done[j]["credit_cost"] for j in caller.jobs)
            assert balances[caller.account_id] == GRANT - costs
            credits_ = (await client.get("/v1/credits", headers=caller.headers)).json()
            assert credits_["balance"] == GRANT - costs
        assert all(per_job[j] == ["debit"] for j in submitted)
        async with t.db.transaction() as s:
            attempts = dict((await s.execute(select(RenderJob.id, RenderJob.attempts)
                                              .where(RenderJob.id.in_(submitted)))).all())
        # each worker has its own render server: a poll that reached the other worker
        # would have lost the render and cost an attempt
        assert set(attempts.values()) == {1}, attempts

        bucket_keys = {obj["Key"] for obj in moto_s3.client().list_objects_v2(
            Bucket=s3_bucket).get("Contents", [])}
        outputs = await job_outputs(t.db)
        assert {outputs[j][0] for j in submitted} <= bucket_keys
        downloads = 0
        for job_id in submitted:
            response = await client.get(done[job_id]["result_url"], follow_redirects=True)
            downloads += 1
            assert response.status_code == 200, response.text[:200]
            assert response.history and response.history[0].status_code == 302
            assert response.history[0].headers["location"].startswith(moto_s3.endpoint_url)
            assert is_mp4(response.content)

        # --- 2. a worker killed mid-render, Redis restarted empty ---------------------------
        second = [(await submit(client, callers[n % ACCOUNTS], LONGER, f"second-{n}"))["id"]
                  for n in range(4)]
        victim: list[Process] = []

        async def one_mid_render() -> bool:
            jobs = await statuses(client, callers)
            for job_id in second:
                if jobs[job_id]["status"] == "processing" and 5 <= jobs[job_id]["progress"] < 90:
                    starter = starter_of(job_id, workers)
                    if starter is not None:
                        victim.append(starter)
                        return True
            return False

        await wait_for(one_mid_render, 300, "a render in progress", procs)
        killed = victim[0]
        jobs_now = await statuses(client, callers)
        orphans = [j for j in second if jobs_now[j]["status"] == "processing"
                   and starter_of(j, workers) is killed]
        assert orphans
        killed.popen.send_signal(signal.SIGKILL)
        killed.popen.wait(timeout=10)
        killed_at = time.time()
        survivor = next(w for w in workers if w is not killed)
        procs = [api, survivor]

        before = redis.Redis.from_url(t.redis.url).info("server")["run_id"]
        t.redis.kill()
        assert not healthy(t, "worker", t.api_port)  # the compose checks see the outage
        assert not healthy(t, "api", t.api_port)
        await asyncio.sleep(1.0)
        t.redis.start()
        # a new server that kept nothing: every message is gone (the processes that
        # reconnect at once may already have written new keys, so no dbsize check)
        restarted = redis.Redis.from_url(t.redis.url)
        assert restarted.info("server")["run_id"] != before
        assert restarted.config_get("save")["save"] == ""
        assert restarted.config_get("appendonly")["appendonly"] == "no"
        await wait_for(api_ready, 60, "the API to see Redis again", procs)
        assert healthy(t, "worker", t.api_port)

        # the API takes renders again and the surviving worker runs them
        third = [(await submit(client, callers[n % ACCOUNTS], TINY, f"third-{n}"))["id"]
                 for n in range(2)]
        everything = submitted + second + third
        done = await all_end(client, callers, second + third, 600, procs)
        # the killed worker's renders were started again on the survivor and completed,
        # within the lease plus one render (generously: this machine is shared)
        assert all(done[j]["status"] == "completed" for j in second), \
            {j: done[j]["error"] for j in second}
        lease = float(t.env["RENDERBOT_WORKER__LEASE_SECONDS"])
        for job_id in orphans:
            took = finished_at(done[job_id]) - killed_at
            print(f"job {job_id} of the killed worker completed {took:.1f} s after the kill")
            assert took < lease + 180, took
        assert all(done[j]["status"] == "completed" for j in third), \
            {j: done[j]["error"] for j in third}

        # every job ended once; one debit each; a refund only for failed/cancelled ones
        ends = await terminal_events(t.db)
        assert {j: ends[j] for j in everything} == dict.fromkeys(everything, 1)
        balances, sums, per_job = await ledger(t.db)
        assert balances == sums  # the ledger adds up for every account
        for job_id in everything:
            status = done[job_id]["status"] if job_id in done else "completed"
            expected = ["debit"] if status == "completed" else ["debit", "refund"]
            assert per_job[job_id] == expected, (job_id, status)
        bucket_keys = {obj["Key"] for obj in moto_s3.client().list_objects_v2(
            Bucket=s3_bucket).get("Contents", [])}
        outputs = await job_outputs(t.db)
        for job_id in second + third:
            if done[job_id]["status"] == "completed":
                assert outputs[job_id][0] in bucket_keys
                response = await client.get(done[job_id]["result_url"], follow_redirects=True)
                downloads += 1
                assert response.status_code == 200 and is_mp4(response.content)

        # --- 3. metrics match the database --------------------------------------------------
        metrics = metric_values((await client.get("/metrics")).text)
        async with t.db.transaction() as s:
            by_state = dict((await s.execute(
                select(RenderJob.status, func.count()).group_by(RenderJob.status))).all())
            by_kind = dict((await s.execute(
                select(CreditEntry.kind, func.sum(func.abs(CreditEntry.amount)))
                .group_by(CreditEntry.kind))).all())
        for state in ("queued", "processing", "completed", "failed", "cancelled"):
            assert metrics[("renderbot_jobs", (("state", state),))] == by_state.get(state, 0)
            if state in TERMINAL:
                assert metrics[("renderbot_jobs_finished_total", (("state", state),))] == \
                    by_state.get(state, 0)
        assert metrics[("renderbot_jobs_created_total", ())] == len(everything)
        for kind in ("grant", "debit", "refund"):
            assert metrics[("renderbot_credits_total", (("kind", kind),))] == \
                int(by_kind.get(kind) or 0)
        assert metrics[("renderbot_downloads_total", ())] == downloads

    t.stop_all()

    # --- 4. structured logs, no secrets -----------------------------------------------------
    for process in t.processes:
        raw = process.log.read_text(errors="replace")
        for secret in t.secrets:
            assert secret not in raw, f"a secret leaked into the {process.name} log"
        for record in process.records():  # every line is one JSON object
            assert {"time", "level", "logger", "message"} <= set(record), record
            # nothing died along the way (a Dramatiq consumer lost to the Redis restart)
            assert record["logger"] != "renderbot.uncaught", (process.name, record)
    api_records = api.records()
    for caller in callers:
        for job_id in caller.jobs:
            assert any(r.get("job_id") == job_id and r.get("account_id") == caller.account_id
                       and "created" in r["message"] for r in api_records), job_id
    assert any(r.get("request_id") for r in api_records)
    worker_records = [r for w in workers for r in w.records()]
    account_of = {j: c.account_id for c in callers for j in c.jobs}
    for job_id in everything:
        if done.get(job_id, {"status": "completed"})["status"] != "completed":
            continue
        lines = [r for r in worker_records if r.get("job_id") == job_id]
        assert any("completed" in r["message"] for r in lines), job_id
        assert all(r.get("account_id") == account_of[job_id] for r in lines
                   if "started on" in r["message"] or "completed" in r["message"]), job_id
