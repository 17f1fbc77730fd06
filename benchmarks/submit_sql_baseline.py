"""The data layer's own limit: the SQL a create commits, issued by a minimal driver script.

Used by benchmarks/submit_load.py as its second baseline (run in the same process, same
run, same clients). Each create is ONE transaction of the statements ``core.renders.submit``
commits: the job row, the ledger entry, the guarded balance UPDATE (RETURNING the new
balance) and the job's first event. PostgreSQL through an asyncpg pool (the size of the
app's SQLAlchemy pool: 10 + 20 overflow); SQLite through one aiosqlite connection in WAL
mode with ``BEGIN IMMEDIATE`` (SQLite has one writer at a time, as the app's engine).

No ORM, no HTTP, no JSON parsing of a request: what is left is the database's work.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
from datetime import UTC, datetime

SETTINGS = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low",
            "format": "mp4"}
COST = 1

JOB = ("INSERT INTO render_job (id, account_id, project_id, status, settings, credit_cost, "
       "project_state, progress, attempts, backend, backend_info, cancel_requested, origin, "
       "request_hash, download_count, created_at, queued_at, updated_at) VALUES "
       "({p}, {p}, {p}, 'queued', {p}, {p}, {p}, 0, 0, 'instant', '{{}}', false, '{{}}', {p}, 0, "
       "{p}, {p}, {p})")
ENTRY = ("INSERT INTO credit_entry (account_id, kind, amount, balance_after, idempotency_key, "
         "job_id, created_at) VALUES ({p}, 'debit', {p}, 0, {p}, {p}, {p}) RETURNING id")
DEBIT = ("UPDATE account SET balance = balance + {p} WHERE id = {p} AND balance + {p} >= 0 "
         "RETURNING balance")
AFTER = "UPDATE credit_entry SET balance_after = {p} WHERE id = {p}"
EVENT = ("INSERT INTO job_event (job_id, at, kind, state, detail) VALUES "
         "({p}, {p}, 'state', 'queued', {p})")


def _pg(sql: str) -> str:
    n = 0

    def nxt() -> str:
        nonlocal n
        n += 1
        return f"${n}"

    out, rest = "", sql
    while "{p}" in rest:
        head, rest = rest.split("{p}", 1)
        out += head + nxt()
    return (out + rest).replace("{{}}", "{}")


def _sqlite(sql: str) -> str:
    return sql.replace("{p}", "?").replace("{{}}", "{}").replace("false", "0")


def _stats(latencies: list[float], wall: float, errors: int) -> dict:
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max": latencies[-1] * 1000,
        "rps": len(latencies) / wall,
        "errors": errors,
        "detail": {"error": errors} if errors else {},
    }


async def _drive(one, accounts: list[tuple[str, str]], requests: int) -> dict:
    """Every client (account, project) commits ``requests`` creates one after another."""
    latencies: list[float] = []
    errors = 0

    async def client(account_id: str, project_id: str) -> None:
        nonlocal errors
        for _ in range(requests):
            began = time.perf_counter()
            try:
                await one(account_id, project_id)
            except Exception:  # noqa: BLE001 - counted, the benchmark goes on
                errors += 1
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*[client(a, p) for a, p in accounts])
    return _stats(latencies, time.perf_counter() - began, errors)


def _row(account_id: str, project_id: str) -> tuple[str, datetime, str]:
    return "job_" + secrets.token_hex(8), datetime.now(UTC), secrets.token_hex(32)


async def run_postgres(dsn: str, accounts: list[tuple[str, str]], requests: int) -> dict:
    """``dsn``: postgresql://... of a migrated, seeded database."""
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=30)
    job_sql, entry_sql, debit_sql, after_sql, event_sql = map(_pg, (JOB, ENTRY, DEBIT, AFTER, EVENT))
    settings, detail = json.dumps(SETTINGS), json.dumps({"credit_cost": COST})

    async def one(account_id: str, project_id: str) -> None:
        job_id, now, digest = _row(account_id, project_id)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(job_sql, job_id, account_id, project_id, settings, COST, "{}",
                               digest, now, now, now)
            entry = await conn.fetchval(entry_sql, account_id, -COST, f"debit:{job_id}",
                                        job_id, now)
            balance = await conn.fetchval(debit_sql, -COST, account_id, -COST)
            if balance is None:
                raise RuntimeError("insufficient credits")
            await conn.execute(after_sql, balance, entry)
            await conn.execute(event_sql, job_id, now, detail)

    try:
        return await _drive(one, accounts, requests)
    finally:
        await pool.close()


async def run_sqlite(path: str, accounts: list[tuple[str, str]], requests: int) -> dict:
    """``path``: a migrated, seeded SQLite file."""
    import aiosqlite

    conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    lock = asyncio.Lock()  # one connection: one transaction at a time, as SQLite's one writer
    job_sql, entry_sql, debit_sql, after_sql, event_sql = map(
        _sqlite, (JOB, ENTRY, DEBIT, AFTER, EVENT))
    settings, detail = json.dumps(SETTINGS), json.dumps({"credit_cost": COST})

    async def one(account_id: str, project_id: str) -> None:
        job_id, now, digest = _row(account_id, project_id)
        stamp = now.isoformat(sep=" ")
        async with lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                await conn.execute(job_sql, (job_id, account_id, project_id, settings, COST,
                                             "{}", digest, stamp, stamp, stamp))
                async with conn.execute(entry_sql, (account_id, -COST, f"debit:{job_id}",
                                                    job_id, stamp)) as cur:
                    entry = (await cur.fetchone())[0]
                async with conn.execute(debit_sql, (-COST, account_id, -COST)) as cur:
                    row = await cur.fetchone()
                if row is None:
                    raise RuntimeError("insufficient credits")
                await conn.execute(after_sql, (row[0], entry))
                await conn.execute(event_sql, (job_id, stamp, detail))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise

    try:
        return await _drive(one, accounts, requests)
    finally:
        await conn.close()
