"""Worker drain: N queued ``instant`` jobs through the worker, jobs/s and worker CPU per job.

    .venv/bin/python benchmarks/worker_drain.py [--jobs 500] [--repeat 3] [--skip-production]

What a job costs the worker once ``POST /v1/renders`` has committed and enqueued it: the
start (fair-use admission, the attempt claimed, the request built, the backend started),
the poll, the delivery (the placeholder "video" and poster stored), the completion and the
notifications — with the ``instant`` backend (core/backends/instant.py), so no render
time hides the worker's own cost. Each round commits ``--jobs`` queued jobs (``--accounts``
accounts, the per-account fair-use limit raised so none is parked: parking and waking are
benchmarks/fairness.py's subject), then sends one start message per job and times until
every job is completed; CPU is the worker's own (user + system).

1. the embedded default: SQLite, the in-process queue and worker (as ``renderbot serve``
   runs them; here in this process, without the API, so the CPU is the worker's);
2. PostgreSQL + Redis with a separate ``renderbot worker`` process (a scratch database,
   Redis DB 13 flushed: ``RENDERBOT_BENCH_PG_URL`` / ``RENDERBOT_BENCH_REDIS_URL``).

Baseline, same run, same database: the job's state changes as raw SQL from a minimal
aiosqlite / asyncpg script (as benchmarks/submit_sql_baseline.py does for the create), as
many jobs at once as the worker runs actors (4): per job three transactions — the
admission and claim (the account's row locked, its active jobs counted, the job locked,
set processing, two events), the backend reference, the completion (job, event, project).
No ORM, no queue, no storage: what is left is the database's work. Medians of ``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_procs import (  # noqa: E402
    REDIS_URL,
    RENDERBOT,
    Procs,
    cpu_seconds,
    free_port,
    production_scratch,
    renderbot_env,
    seed,
)

SETTINGS = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low"}
CONCURRENCY = 4  # the worker's actor threads (renderbot worker --threads default)
WORKER_ENV = {
    "RENDERBOT_LIMITS__MAX_ACTIVE_PER_ACCOUNT": "100000",
    "RENDERBOT_LIMITS__MAX_ACTIVE_PER_CHAT_SERVER": "100000",
    "RENDERBOT_WORKER__RECONCILE_GRACE": "3600",  # the drain, not the reconciler
}


async def queue_jobs(database_url: str, callers, jobs: int) -> list[str]:
    """Commit ``jobs`` queued jobs (round-robin over the accounts), none enqueued yet."""
    from core import renders
    from core.db import Database
    from core.settings import Settings

    settings = Settings(database_url=database_url, secret_key="bench-secret-0123456789")
    db = Database(database_url)
    ids = []
    try:
        async with db.transaction() as s:
            for n in range(jobs):
                _, project_id, account_id = callers[n % len(callers)]
                done = await renders.submit(session=s, settings=settings,
                                            account_id=account_id, project_id=project_id,
                                            render_settings=SETTINGS)
                ids.append(done.job.id)
    finally:
        await db.dispose()
    return ids


async def wait_completed(database_url: str, ids: list[str], within: float = 600) -> None:
    from sqlalchemy import func, select

    from core.db import Database
    from core.models import RenderJob

    db = Database(database_url)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            async with db.read() as s:
                done = await s.scalar(select(func.count()).select_from(RenderJob).where(
                    RenderJob.id.in_(ids), RenderJob.status == "completed"))
            if done == len(ids):
                return
            await asyncio.sleep(0.05)
    finally:
        await db.dispose()
    raise SystemExit(f"only {done} of {len(ids)} jobs completed within {within:g} s")


def drain(database_url: str, callers, jobs: int, send, cpu) -> dict:
    """One round: queue, send the starts, wait; jobs/s and worker CPU ms per job."""
    ids = asyncio.run(queue_jobs(database_url, callers, jobs))
    before, began = cpu(), time.perf_counter()
    for job_id in ids:
        send(job_id)
    asyncio.run(wait_completed(database_url, ids))
    wall, spent = time.perf_counter() - began, cpu() - before
    return {"rate": jobs / wall, "cpu_ms": spent * 1000 / jobs}


def run_embedded(args, workdir: Path) -> dict:
    """SQLite + the in-process queue and worker, in this process (its CPU is the worker's,
    but for this process's wait loop: one count query every 50 ms)."""
    from core.migrate import upgrade

    var = workdir / "embedded-var"
    database_url = f"sqlite+aiosqlite:///{var / 'renderbot.db'}"
    var.mkdir(parents=True)
    upgrade(database_url)
    callers = asyncio.run(seed(database_url, args.accounts, args.jobs * (args.repeat + 1)))

    from core.runtime import Runtime
    from core.settings import Settings
    from jobs.enqueue import enqueuer_for
    from jobs.worker import RenderWorker

    settings = Settings(var_dir=var, database_url=database_url, broker_url="memory://")
    worker = RenderWorker(Runtime(settings)).start()
    try:
        enqueue = enqueuer_for(settings)
        rounds = [drain(database_url, callers, args.jobs, enqueue, time.process_time)
                  for _ in range(args.repeat)]
    finally:
        worker.stop()
    base = [asyncio.run(sql_sqlite(str(var / "renderbot.db"), callers, args.jobs))
            for _ in range(args.repeat)]
    return summary(rounds, base)


def run_production(args, workdir: Path) -> dict:
    from jobs.broker import RedisBroker
    from jobs.enqueue import RENDER_QUEUE, send

    procs = Procs(workdir)
    with production_scratch(procs, "rb_drain") as database_url:
        callers = asyncio.run(seed(database_url, args.accounts, args.jobs * (args.repeat + 1)))
        env = renderbot_env(workdir / "prod-var", free_port(), **WORKER_ENV,
                            RENDERBOT_DATABASE_URL=database_url, RENDERBOT_BROKER_URL=REDIS_URL,
                            RENDERBOT_SECRET_KEY="bench-secret-0123456789")
        env.pop("RENDERBOT_WORKER__POLL_INTERVAL", None)  # the default's cost, not a tuned one
        worker = procs.start("worker", [RENDERBOT, "worker"], env)
        wait_logged(workdir / "worker.log", worker, "worker started")
        producer = RedisBroker(url=REDIS_URL)
        producer.declare_queue(RENDER_QUEUE)
        rounds = [drain(database_url, callers, args.jobs,
                        lambda job_id: send(producer, "start_render", job_id, 0),
                        lambda: cpu_seconds([worker.pid]))
                  for _ in range(args.repeat)]
        base = [asyncio.run(sql_postgres(database_url, callers, args.jobs))
                for _ in range(args.repeat)]
        return summary(rounds, base)


def wait_logged(log: Path, proc, text: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited:\n{log.read_text()[-2000:]}")
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise SystemExit(f"{proc.args} did not log {text!r}:\n{log.read_text()[-2000:]}")


def summary(rounds: list[dict], base: list[dict]) -> dict:
    return {"rate": statistics.median(r["rate"] for r in rounds),
            "cpu_ms": statistics.median(r["cpu_ms"] for r in rounds),
            "rates": [round(r["rate"], 1) for r in rounds],
            "cpus": [round(r["cpu_ms"], 2) for r in rounds],
            "base_rate": statistics.median(r["rate"] for r in base),
            "base_cpu_ms": statistics.median(r["cpu_ms"] for r in base)}


# --- the baseline: the job's state changes as raw SQL --------------------------------------

ADMIT = ["SELECT id FROM account WHERE id = {p} FOR UPDATE",
         "SELECT count(*) FROM render_job WHERE account_id = {p} AND status = 'processing'"]
CLAIM = "SELECT status, attempts FROM render_job WHERE id = {p} FOR UPDATE"
START = ("UPDATE render_job SET status = 'processing', attempts = attempts + 1, "
         "started_at = {p}, heartbeat_at = {p}, lease_expires_at = {p}, output_key = {p}, "
         "updated_at = {p} WHERE id = {p}")
EVENT = ("INSERT INTO job_event (job_id, at, kind, state, progress, detail) "
         "VALUES ({p}, {p}, {p}, {p}, {p}, {p})")
STARTED = ("UPDATE render_job SET backend_ref = {p}, backend_info = {p}, heartbeat_at = {p}, "
           "lease_expires_at = {p}, updated_at = {p} "
           "WHERE id = {p} AND status = 'processing' AND attempts = 1")
COMPLETE = ("UPDATE render_job SET status = 'completed', progress = 100, output_size = {p}, "
            "result_url = {p}, poster_key = {p}, poster_url = {p}, finished_at = {p}, "
            "lease_expires_at = NULL, updated_at = {p} "
            "WHERE id = {p} AND status = 'processing' AND attempts = 1")
PROJECT = ("UPDATE project SET last_render_job_id = {p}, last_render_url = {p}, "
           "last_rendered_at = {p}, updated_at = {p} WHERE id = {p}")


def _steps(job_id: str, account_id: str, project_id: str, now: datetime):
    """The three transactions of one job: [(sql, args), ...] each."""
    lease = now + timedelta(seconds=60)
    key, url = f"renders/{job_id}.mp4", f"http://127.0.0.1/v1/renders/{job_id}/download"
    return [
        [(ADMIT[0], (account_id,)), (ADMIT[1], (account_id,)), (CLAIM, (job_id,)),
         (START, (now, now, lease, key, now, job_id)),
         (EVENT, (job_id, now, "state", "processing", None, '{"attempt": 1}')),
         (EVENT, (job_id, now, "attempt", None, None, '{"attempt": 1}'))],
        [(STARTED, (f"{job_id}-a1", '{"render_id": "x", "frames": 30}', now, lease, now,
                    job_id))],
        [(COMPLETE, (50, url, key[:-3] + "jpg", url + "?poster", now, now, job_id)),
         (EVENT, (job_id, now, "state", "completed", None, json.dumps({"output_key": key}))),
         (PROJECT, (job_id, url, now, now, project_id))],
    ]


async def _baseline(transaction, database_url_ids) -> dict:
    """Run every queued job's three transactions, CONCURRENCY jobs at once."""
    jobs = database_url_ids
    pending = list(jobs)
    before, began = time.process_time(), time.perf_counter()

    async def runner() -> None:
        while pending:
            job_id, account_id, project_id = pending.pop()
            for statements in _steps(job_id, account_id, project_id, datetime.now(UTC)):
                await transaction(statements)

    await asyncio.gather(*[runner() for _ in range(CONCURRENCY)])
    wall, spent = time.perf_counter() - began, time.process_time() - before
    return {"rate": len(jobs) / wall, "cpu_ms": spent * 1000 / len(jobs)}


async def _queued(database_url: str, callers, jobs: int) -> list[tuple[str, str, str]]:
    ids = await queue_jobs(database_url, callers, jobs)
    by_project = {p: a for _, p, a in callers}
    projects = [callers[n % len(callers)][1] for n in range(jobs)]
    return [(job_id, by_project[p], p) for job_id, p in zip(ids, projects, strict=True)]


async def sql_postgres(database_url: str, callers, jobs: int) -> dict:
    import asyncpg

    queued = await _queued(database_url, callers, jobs)
    dsn = database_url.replace("postgresql+asyncpg", "postgresql")
    pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)

    def pg(sql: str) -> str:
        n = 0
        while "{p}" in sql:
            n += 1
            sql = sql.replace("{p}", f"${n}", 1)
        return sql

    async def transaction(statements) -> None:
        async with pool.acquire() as conn, conn.transaction():
            for sql, params in statements:
                await conn.execute(pg(sql), *params)

    try:
        return await _baseline(transaction, queued)
    finally:
        await pool.close()


async def sql_sqlite(path: str, callers, jobs: int) -> dict:
    import aiosqlite

    queued = await _queued(f"sqlite+aiosqlite:///{path}", callers, jobs)
    conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    lock = asyncio.Lock()  # one connection, one writer at a time (as SQLite has)

    def value(v):
        return v.replace(tzinfo=None).isoformat(sep=" ") if isinstance(v, datetime) else v

    async def transaction(statements) -> None:
        async with lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    sql = sql.replace(" FOR UPDATE", "").replace("{p}", "?")
                    await conn.execute(sql, tuple(value(v) for v in params))
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise

    try:
        return await _baseline(transaction, queued)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs per round")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians)")
    parser.add_argument("--skip-production", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    args = parser.parse_args()
    # every Settings built here (the jobs' backend column, the embedded worker) and the
    # worker process (renderbot_env sets the backend too)
    os.environ.update({**WORKER_ENV, "RENDERBOT_RENDER_BACKEND": "instant",
                       "RENDERBOT_TEST_BACKENDS": "1"})
    os.environ.pop("RENDERBOT_WORKER__POLL_INTERVAL", None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rb-drain-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if not args.skip_production:  # first: its worker is another process
            rows.append(("api's worker: PostgreSQL + Redis", run_production(args, workdir)))
        if not args.skip_embedded:
            rows.append(("embedded default: SQLite, in-process", run_embedded(args, workdir)))
    print(f"\n{args.jobs} instant jobs per round over {args.accounts} accounts, "
          f"median of {args.repeat} rounds\n")
    header = (f"{'worker':<38} {'jobs/s':>7} {'CPU ms/job':>10} {'raw SQL jobs/s':>14} "
              f"{'raw SQL CPU ms/job':>18}  {'x raw SQL':>9}  rounds (jobs/s; CPU ms/job)")
    print(header)
    print("-" * len(header))
    for label, r in rows:
        print(f"{label:<38} {r['rate']:>7.1f} {r['cpu_ms']:>10.2f} {r['base_rate']:>14.1f} "
              f"{r['base_cpu_ms']:>18.2f}  {r['rate'] / r['base_rate']:>9.3f}  "
              f"{r['rates']}; {r['cpus']}")


if __name__ == "__main__":
    main()
