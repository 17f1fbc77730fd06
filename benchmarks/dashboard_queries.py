"""How long the dashboard's queries take with 100,000 jobs, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/dashboard_queries.py [--jobs 100000] [--runs 7]
        [--days 14] [--only sqlite|postgresql] [--explain]

Builds a fresh database on each engine with the migrations (a temporary SQLite file; a
``rb_bench_<random>`` database next to ``RENDERBOT_TEST_PG_URL``, dropped afterwards),
bulk-loads ``--jobs`` render jobs spread over ``--days`` days (90% completed, 5% failed,
3% cancelled, a backlog of queued and processing ones; mixed backends and platforms),
their events (queued, processing, attempts, errors, 4 progress steps, final state: about
9 per job) and ledger entries (debits, refunds), runs ANALYZE (VACUUM ANALYZE on
PostgreSQL, as autovacuum would), then times ``core.admin.health`` for every window (all
of the health page's figures, 9 queries) and the job
explorer's list and detail queries. Prints the median of ``--runs`` runs after one
warm-up run, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import admin  # noqa: E402
from core.db import Database  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Account, CreditEntry, JobEvent, Project, RenderJob  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "RENDERBOT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SETTINGS = {"resolution": [1920, 1080], "frame_rate": 30, "duration": 10, "quality": "high",
            "effects": ["glow"]}
STATE = {"composition": "Visualizer", "props": {"title": "bench"}}
PLATFORMS = ["discord", "slack", "api", "cli"]


# --- data -------------------------------------------------------------------------------


def generate(n_jobs: int, days: float, now: datetime, seed: int = 7) -> dict[str, list[dict]]:
    rnd = random.Random(seed)
    accounts = [dict(id=f"acc_b{i:05d}", name=f"bench {i}", balance=10**9, created_at=now
                     - timedelta(days=days + 1)) for i in range(200)]
    projects = [dict(id=f"prj_b{i:05d}", account_id=accounts[i % 200]["id"], name=f"p{i}",
                     state=STATE, created_at=now - timedelta(days=days + 1),
                     updated_at=now - timedelta(days=days + 1)) for i in range(400)]
    jobs, events, entries = [], [], []
    span = days * 86400
    for i in range(n_jobs):
        project = projects[rnd.randrange(400)]
        job_id = f"job_b{i:07d}"
        created = now - timedelta(seconds=rnd.random() * span)
        age = (now - created).total_seconds()
        roll = rnd.random()
        wait = rnd.expovariate(1 / 20)
        render = 20 + rnd.expovariate(1 / 60)
        if age < 120 and roll < 0.5:
            status = "queued"
        elif age < wait + render:
            status = "processing"
        else:
            status = ("completed" if roll < 0.92 else "failed" if roll < 0.97 else "cancelled")
        started = created + timedelta(seconds=wait) if status != "queued" else None
        if status == "cancelled" and roll > 0.985:
            started = None  # cancelled while queued
        finished = None
        if status in ("completed", "failed"):
            finished = started + timedelta(seconds=render)
        elif status == "cancelled":
            finished = (started or created) + timedelta(seconds=5)
        attempts = 0 if started is None else (2 if rnd.random() < 0.04 else 1)
        backend = "lambda" if rnd.random() < 0.3 else "local"
        cost = rnd.randint(1, 60)
        jobs.append(dict(
            id=job_id, account_id=project["account_id"], project_id=project["id"],
            status=status, settings=SETTINGS, credit_cost=cost, project_state=STATE,
            progress=100 if status == "completed" else (50 if started else 0),
            error="render failed" if status == "failed" else None, attempts=attempts,
            backend=backend, backend_info={},
            cost_reported=round(rnd.random() * 0.05, 5)
            if backend == "lambda" and status == "completed" else None,
            cancel_requested=False, origin={"platform": rnd.choice(PLATFORMS)},
            request_hash="0" * 64,
            download_count=rnd.randint(1, 3) if status == "completed" and roll < 0.85 else 0,
            created_at=created, queued_at=created, started_at=started, finished_at=finished,
            updated_at=finished or started or created,
        ))
        events.append(dict(job_id=job_id, at=created, kind="state", state="queued"))
        entries.append(dict(account_id=project["account_id"], kind="debit", amount=-cost,
                            balance_after=10**9, idempotency_key=f"debit:{job_id}",
                            job_id=job_id, created_at=created))
        if started is not None:
            events.append(dict(job_id=job_id, at=started, kind="state", state="processing"))
            for n in range(1, attempts + 1):
                at = started + timedelta(seconds=n - 1)
                events.append(dict(job_id=job_id, at=at, kind="attempt",
                                   detail={"attempt": n}))
                if n < attempts:
                    events.append(dict(job_id=job_id, at=at + timedelta(seconds=0.5),
                                       kind="error", detail={"error": "transient"}))
            end = finished or now
            for step in (25, 50, 75, 99):
                at = started + (end - started) * step / 100
                if at < now:
                    events.append(dict(job_id=job_id, at=at, kind="progress", progress=step))
        if finished is not None:
            events.append(dict(job_id=job_id, at=finished, kind="state", state=status))
            if status in ("failed", "cancelled"):
                entries.append(dict(account_id=project["account_id"], kind="refund",
                                    amount=cost, balance_after=10**9,
                                    idempotency_key=f"refund:{job_id}", job_id=job_id,
                                    created_at=finished))
    for n, e in enumerate(events, 1):
        e["id"] = n
    for n, e in enumerate(entries, 1):
        e["id"] = n
    return {"account": accounts, "project": projects, "render_job": jobs, "job_event": events,
            "credit_entry": entries}


TABLES = {"account": Account, "project": Project, "render_job": RenderJob,
          "job_event": JobEvent, "credit_entry": CreditEntry}


def _rows(name: str, records: list[dict], sqlite: bool):
    table = TABLES[name].__table__
    columns = [c.name for c in table.columns]
    json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    date_cols = {c.name for c in table.columns if "DateTime" in c.type.__class__.__name__}
    bool_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "Boolean"}
    out = []
    for record in records:
        row = []
        for col in columns:
            value = record.get(col)
            if value is None and col in json_cols:
                value = {}
            if col in json_cols:
                value = json.dumps(value)
            elif sqlite and col in date_cols and value is not None:
                value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            elif sqlite and col in bool_cols and value is not None:
                value = int(value)
            row.append(value)
        out.append(tuple(row))
    return columns, out


def load_sqlite(path: Path, data: dict[str, list[dict]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    for name in TABLES:
        columns, rows = _rows(name, data[name], sqlite=True)
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f'INSERT INTO "{name}" ({", ".join(columns)}) VALUES ({marks})', rows)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def load_pg(url: str, data: dict[str, list[dict]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for name in TABLES:
            columns, rows = _rows(name, data[name], sqlite=False)
            await conn.copy_records_to_table(name, records=rows, columns=columns)
        for name in ("job_event", "credit_entry"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT max(id) FROM {name}))"
            )
        # what autovacuum leaves behind: statistics and the visibility map that lets
        # PostgreSQL answer from covering indexes alone
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


# --- timing -----------------------------------------------------------------------------


async def timed(db: Database, runs: int, work) -> float:
    samples = []
    for i in range(runs + 1):
        start = time.perf_counter()
        async with db.transaction() as session:
            await work(session)
        if i:  # the first run warms caches and the connection pool
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def measure(
    url: str, runs: int, now: datetime, explain: bool, job_id: str
) -> dict[str, float]:
    db = Database(url)
    results: dict[str, float] = {}
    try:
        for key in admin.WINDOWS:
            results[f"health {key}"] = await timed(
                db, runs, lambda s, k=key: admin.health(session=s, window_key=k, now=now)
            )
        win = admin.window("24h", now)
        results["jobs list (24 h)"] = await timed(
            db, runs, lambda s: admin.list_jobs(session=s, created_from=win.start, limit=200)
        )
        results["jobs list (failed, slack)"] = await timed(
            db, runs,
            lambda s: admin.list_jobs(session=s, status="failed", platform="slack", limit=200),
        )
        results["job detail"] = await timed(
            db, runs, lambda s: admin.job_detail(session=s, job_id=job_id)
        )
        if explain:
            await _explain(db, url, now)
    finally:
        await db.dispose()
    return results


async def _explain(db: Database, url: str, now: datetime) -> None:
    """Print the plans of the health page's statements (7-day window)."""
    from sqlalchemy import event

    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    async with db.transaction() as s:
        await admin.health(session=s, window_key="7d", now=now)
    event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if url.startswith("sqlite") else "EXPLAIN "
    for statement, params in statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            print("\n" + " ".join(statement.split())[:160])
            if url.startswith("sqlite"):
                cursor = await raw.driver_connection.execute(prefix + statement, params)
                for row in await cursor.fetchall():
                    print("   ", row[-1])
            else:
                rows = await raw.driver_connection.fetch(prefix + statement, *params)
                for row in rows:
                    print("   ", row[0])


# --- main -------------------------------------------------------------------------------


async def run_engine(engine: str, args, data, now) -> dict[str, float] | None:
    if engine == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="rb-bench-"))
        path = directory / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        load_sqlite(path, data)
        print(f"sqlite: loaded in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            return await measure(url, args.runs, now, args.explain, f"job_b{args.jobs // 2:07d}")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    name = f"rb_bench_{uuid.uuid4().hex[:8]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        print(f"postgresql: not reachable at {PG_ADMIN_URL} ({exc.__class__.__name__}); skipped")
        return None
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        await load_pg(url, data)
        print(f"postgresql: loaded in {time.perf_counter() - started:.1f} s", flush=True)
        return await measure(url, args.runs, now, args.explain, f"job_b{args.jobs // 2:07d}")
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    now = datetime.now(UTC)
    started = time.perf_counter()
    data = generate(args.jobs, args.days, now)
    counts = {k: len(v) for k, v in data.items()}
    print(f"generated {counts} in {time.perf_counter() - started:.1f} s", flush=True)
    engines = [args.only] if args.only else ["sqlite", "postgresql"]
    results = {}
    for engine in engines:
        found = await run_engine(engine, args, data, now)
        if found is not None:
            results[engine] = found
    if not results:
        return
    print(f"\nmedian of {args.runs} runs, ms ({args.jobs:,} jobs over {args.days:g} days)")
    names = list(next(iter(results.values())))
    print(f"{'query':28}" + "".join(f"{e:>12}" for e in results))
    for name in names:
        print(f"{name:28}" + "".join(f"{results[e][name]:>12.1f}" for e in results))


if __name__ == "__main__":
    asyncio.run(main())
