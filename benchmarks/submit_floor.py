"""The floor of a Python server on this machine: what the least code that still does a
create's work reaches, with a worker draining on the same cores. Used by
benchmarks/submit_load.py (``--floor``) as a third baseline of the PostgreSQL + Redis run.

The server (``serve``) is a bare ASGI callable under the same uvicorn as the trivial
baseline, no framework: it reads the JSON body, looks the bearer key's SHA-256 up in
``api_key``, commits the create (the SQL of ``submit_sql_baseline``: the job row, the ledger
entry, the guarded balance UPDATE, the entry's balance, the first event, one transaction
through an asyncpg pool) and LPUSHes the job id to a Redis list. The worker (``drain``)
BRPOPs ids and commits, per job, what a job's life must at least write: processing (row +
event), then completed (row + event), two transactions. No validation, pricing, fairness,
idempotency, errors, logs, metrics or retries: it is not a product, it is a reference for
what a product built from these parts (uvicorn, asyncpg, Redis) could reach here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from datetime import UTC, datetime

from benchmarks.submit_sql_baseline import AFTER, COST, DEBIT, ENTRY, EVENT, JOB, SETTINGS, _pg

KEY = "SELECT account_id FROM api_key WHERE key_hash = $1 AND revoked_at IS NULL"
RUNNING = "UPDATE render_job SET status = 'processing', started_at = $2, updated_at = $2 WHERE id = $1"
DONE = ("UPDATE render_job SET status = 'completed', progress = 100, finished_at = $2, "
        "updated_at = $2 WHERE id = $1")
STATE = ("INSERT INTO job_event (job_id, at, kind, state, detail) "
         "VALUES ($1, $2, 'state', $3, '{}')")
LIST = "renderbot-floor"


def app(dsn: str, redis_url: str):
    import asyncpg
    import redis.asyncio as aioredis

    state: dict = {}
    job_sql, entry_sql, debit_sql, after_sql, event_sql = map(_pg, (JOB, ENTRY, DEBIT, AFTER, EVENT))
    settings, detail = json.dumps(SETTINGS), json.dumps({"credit_cost": COST})

    async def create(body: bytes, key: str) -> tuple[int, bytes]:
        pool, queue = state["pool"], state["redis"]
        request = json.loads(body)
        job_id, now = "job_" + secrets.token_hex(8), datetime.now(UTC)
        async with pool.acquire() as conn:
            account_id = await conn.fetchval(KEY, hashlib.sha256(key.encode()).hexdigest())
            if account_id is None:
                return 401, b'{"error":{"code":"unauthorized"}}'
            async with conn.transaction():
                await conn.execute(job_sql, job_id, account_id, request["project_id"], settings,
                                   COST, "{}", secrets.token_hex(32), now, now, now)
                entry = await conn.fetchval(entry_sql, account_id, -COST, f"debit:{job_id}",
                                            job_id, now)
                balance = await conn.fetchval(debit_sql, -COST, account_id, -COST)
                await conn.execute(after_sql, balance, entry)
                await conn.execute(event_sql, job_id, now, detail)
        await queue.lpush(LIST, job_id)
        return 202, json.dumps({"id": job_id, "status": "queued"}).encode()

    async def asgi(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["pool"] = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
                    state["redis"] = aioredis.Redis.from_url(redis_url)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await state["pool"].close()
                    await state["redis"].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/healthz":
            status, out = 200, b'{"status":"ok"}'
        else:
            auth = dict(scope["headers"]).get(b"authorization", b"").decode()
            status, out = await create(body, auth.removeprefix("Bearer "))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    return asgi


def serve(port: int, dsn: str, redis_url: str) -> None:
    import uvicorn

    uvicorn.run(app(dsn, redis_url), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="on")


async def _drain(dsn: str, redis_url: str) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4)
    queue = aioredis.Redis.from_url(redis_url)

    async def one(job_id: str) -> None:
        async with pool.acquire() as conn:
            async with conn.transaction():
                now = datetime.now(UTC)
                await conn.execute(RUNNING, job_id, now)
                await conn.execute(STATE, job_id, now, "processing")
            async with conn.transaction():
                now = datetime.now(UTC)
                await conn.execute(DONE, job_id, now)
                await conn.execute(STATE, job_id, now, "completed")

    running: set[asyncio.Task] = set()
    while True:
        popped = await queue.brpop(LIST, timeout=1)
        if popped is None:
            continue
        task = asyncio.create_task(one(popped[1].decode()))
        running.add(task)
        task.add_done_callback(running.discard)
        if len(running) >= 4:  # as many jobs at once as `renderbot worker --threads 4`
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)


def drain(dsn: str, redis_url: str) -> None:
    asyncio.run(_drain(dsn, redis_url))


if __name__ == "__main__":  # python -m benchmarks.submit_floor serve|drain PORT DSN REDIS
    import sys

    role, port, dsn, redis_url = sys.argv[1:5]
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    serve(int(port), dsn, redis_url) if role == "serve" else drain(dsn, redis_url)
