"""Create-render throughput under load: 100 concurrent HTTP clients, two baselines.

    .venv/bin/python benchmarks/submit_load.py [--clients 100] [--requests 5] [--repeat 3]

1. baseline: a trivial FastAPI endpoint (parse a JSON body, return JSON) under uvicorn;
2. `renderbot serve` on the embedded default (SQLite, in-process queue and worker);
3. baseline: the SQL a create commits, on SQLite, from a minimal aiosqlite script
   (benchmarks/submit_sql_baseline.py);
4. `renderbot api` on PostgreSQL + Redis, with one `renderbot worker` beside it;
5. baseline: the same SQL on PostgreSQL from a minimal asyncpg script;
6. with ``--floor``: the floor, benchmarks/submit_floor.py on PostgreSQL + Redis: the least
   code that does a create's work (bare ASGI under uvicorn, one key lookup, the SQL of 5,
   an LPUSH; one process), with and without its bare 2-transaction worker draining beside
   it: how far renderbot's own code is from what its parts (uvicorn, asyncpg, Redis) allow;
   and ``renderbot api`` once more with no worker running, beside the floor's run without
   its worker (the API's own share of a create).

The load generator is aiohttp (one keep-alive connection per client): it drives the
trivial endpoint at many times renderbot's rate in the same run, so it is not what
limits the figures (the ratio column says how far each server is from it). Each target
is measured ``--repeat`` times (default 3); the table shows the medians.

Each renderbot server runs with ``RENDERBOT_RENDER_BACKEND=instant`` (renders "finish" at
once, see core/backends/instant.py), so this measures our own path: auth, rate limit,
settings validation, the credits debit + job insert transaction, the enqueue, while the
worker drains the queue on the same machine. Every client has its own account and API key
(the per-account rate limit is off: RENDERBOT_API__RENDERS_PER_MINUTE=0) and sends ``--requests``
``POST /v1/renders`` one after another; all clients run at once. Prints p50, p99 and max
latency, throughput and the error count (anything but 202, or a transport error) per
server, and the ratios to both baselines of the same run, in one table, with the CPU
time the server processes (and their workers) spent per request, counted until the
worker has drained that run's jobs: on a shared, loaded machine that figure moves less
than req/s.

PostgreSQL: ``RENDERBOT_BENCH_PG_URL`` (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres,
used to create and drop a scratch database); Redis: ``RENDERBOT_BENCH_REDIS_URL`` (default
redis://127.0.0.1:6379/13, flushed). Use ``--skip-production`` without them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from benchmarks import submit_floor, submit_sql_baseline  # noqa: E402
from benchmarks.bench_procs import (  # noqa: E402
    REDIS_URL,
    RENDERBOT,
    Procs,
    cpu_seconds,
    free_port,
    production_scratch,
    renderbot_env,
    seed,
    wait_healthy,
)

SETTINGS = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low"}


# --- the baseline ----------------------------------------------------------------------


class BaselineBody(BaseModel):
    project_id: str
    settings: dict


def baseline_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/renders", status_code=202)
    async def create(body: BaselineBody) -> dict:
        return {"id": "job_baseline", "status": "queued", "project_id": body.project_id}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def serve_baseline(port: int) -> None:
    import uvicorn

    uvicorn.run(baseline_app(), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


# --- the load ---------------------------------------------------------------------------


def measured(args, url: str, callers, pids: list[int], settle=None) -> dict:
    """``repeated`` load, with the server processes' CPU milliseconds per request. With
    ``settle(n)`` (returns once n jobs in all are completed), each run's CPU is counted
    until its jobs are drained: the worker's share of a create, not only what it did
    while the load ran."""
    runs = 0

    def once() -> dict:
        nonlocal runs
        before = cpu_seconds(pids)
        result = asyncio.run(load(url, callers, args.requests))
        runs += 1
        if settle is not None:
            settle(runs * len(callers) * args.requests)
        result["cpu_ms"] = (cpu_seconds(pids) - before) * 1000 / result["requests"]
        return result

    return repeated(args, once)


async def load(url: str, callers: list[tuple[str, str, str]], requests: int) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=len(callers) + 10)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base_url=url, connector=connector, timeout=timeout) as client:

        async def one_client(key: str, project_id: str) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            body = {"project_id": project_id, "settings": SETTINGS}
            for _ in range(requests):
                began = time.perf_counter()
                try:
                    async with client.post("/v1/renders", headers=headers, json=body) as r:
                        await r.read()
                        outcome = str(r.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcome = exc.__class__.__name__
                latencies.append(time.perf_counter() - began)
                if outcome != "202":
                    errors[outcome] = errors.get(outcome, 0) + 1

        async def warm() -> None:
            async with client.get("/healthz") as r:
                await r.read()

        # Warm-up (connections, caches), not measured.
        await asyncio.gather(*[warm() for _ in range(len(callers))])
        began = time.perf_counter()
        await asyncio.gather(*[one_client(k, p) for k, p, _ in callers])
        wall = time.perf_counter() - began
    return submit_sql_baseline._stats(latencies, wall, sum(errors.values())) | {"detail": errors}


def repeated(args, measure) -> dict:
    """``measure()`` ``args.repeat`` times: the median of each figure, and every req/s."""
    runs = [measure() for _ in range(args.repeat)]
    out = {k: statistics.median(r[k] for r in runs)
           for k in ("p50", "p99", "max", "rps", "cpu_ms") if k in runs[0]}
    out["errors"] = sum(r["errors"] for r in runs)
    out["detail"] = {}
    for r in runs:
        for k, v in r["detail"].items():
            out["detail"][k] = out["detail"].get(k, 0) + v
    out["all_rps"] = [round(r["rps"], 1) for r in runs]
    return out


async def settled(database_url: str, expected: int, within: float = 120) -> tuple[int, int]:
    """(completed jobs, jobs in all) once the worker drained the queue (or time is up)."""
    from sqlalchemy import func, select

    from core.db import Database
    from core.models import RenderJob

    db = Database(database_url)
    try:
        deadline = time.monotonic() + within
        while True:
            async with db.transaction() as s:
                total = await s.scalar(select(func.count()).select_from(RenderJob))
                done = await s.scalar(select(func.count()).select_from(RenderJob)
                                      .where(RenderJob.status == "completed"))
            if done >= expected or time.monotonic() > deadline:
                return int(done), int(total)
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


# --- the runs ---------------------------------------------------------------------------


def run_baseline(args, workdir: Path) -> dict:
    port = free_port()
    procs = Procs(workdir)
    try:
        proc = procs.start("baseline", [sys.executable, str(Path(__file__).resolve()),
                                        "--baseline-server", str(port)],
                           dict(os.environ))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, workdir / "baseline.log")
        callers = [("x", f"prj_{n}", "") for n in range(args.clients)]
        return measured(args, url, callers, [proc.pid])
    finally:
        procs.stop()


def run_serve(args, workdir: Path) -> dict:
    from core.migrate import upgrade

    var = workdir / "serve-var"
    database_url = f"sqlite+aiosqlite:///{var / 'renderbot.db'}"
    upgrade(database_url)
    callers = asyncio.run(seed(database_url, args.clients, args.requests * args.repeat))
    port = free_port()
    procs = Procs(workdir)
    try:
        proc = procs.start("serve", [RENDERBOT, "serve", "--port", str(port)],
                           renderbot_env(var, port))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, workdir / "serve.log")
        result = measured(args, url, callers, [proc.pid],
                          lambda n: asyncio.run(settled(database_url, n)))
        result["completed"], result["jobs"] = asyncio.run(
            settled(database_url, args.clients * args.requests * args.repeat))
    finally:
        procs.stop()
    # the raw-SQL baseline on the same file, the server stopped (fresh accounts)
    accounts = [(a, p) for _, p, a in
                asyncio.run(seed(database_url, args.clients, args.requests * args.repeat))]
    sql = repeated(args, lambda: asyncio.run(submit_sql_baseline.run_sqlite(
        str(var / "renderbot.db"), accounts, args.requests)))
    return result, sql


def run_api_alone(args, workdir: Path, procs: Procs, env: dict, port: int,
                  database_url: str) -> dict:
    """``renderbot api`` again with no worker running (fresh accounts; the jobs stay
    queued), beside the floor's own run without its worker: the API's share of a create."""
    callers = asyncio.run(seed(database_url, args.clients, args.requests * args.repeat))
    workers = [] if args.api_workers is None else ["--workers", str(args.api_workers)]
    api = procs.start("api-alone", [RENDERBOT, "api", "--port", str(port), *workers], env)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, api, workdir / "api-alone.log")
    try:
        return measured(args, url, callers, [api.pid])
    finally:
        procs.stop()


def run_floor(args, workdir: Path, procs: Procs, dsn: str, database_url: str,
              with_worker: bool) -> dict:
    """benchmarks/submit_floor.py's bare server (and its worker, draining on the same
    cores as renderbot's does) on the same database and Redis (fresh accounts), driven by
    the same load."""
    import redis

    redis.Redis.from_url(REDIS_URL).delete(submit_floor.LIST)
    callers = asyncio.run(seed(database_url, args.clients, args.requests * args.repeat))
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    module = [sys.executable, "-m", "benchmarks.submit_floor"]
    server = procs.start("floor", [*module, "serve", str(port), dsn, REDIS_URL], env)
    pids, settle = [server.pid], None
    if with_worker:
        pids.append(procs.start("floor-drain", [*module, "drain", "0", dsn, REDIS_URL], env).pid)
        done_before, _ = asyncio.run(settled(database_url, 0))  # renderbot's jobs
        settle = lambda n: asyncio.run(settled(database_url, done_before + n))  # noqa: E731
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, server, workdir / "floor.log")
    try:
        result = measured(args, url, callers, pids, settle)
        if with_worker:  # its jobs drained, as renderbot's are (a failing drain shows here)
            done, _ = asyncio.run(settled(database_url, 0))
            result["completed"] = done - done_before
            result["jobs"] = args.clients * args.requests * args.repeat
        return result
    finally:
        procs.stop()


def run_production(args, workdir: Path) -> dict:
    procs = Procs(workdir)
    with production_scratch(procs) as database_url:
        callers = asyncio.run(seed(database_url, args.clients, args.requests * args.repeat))
        port = free_port()
        env = renderbot_env(
            workdir / "prod-var", port, RENDERBOT_DATABASE_URL=database_url,
            RENDERBOT_BROKER_URL=REDIS_URL, RENDERBOT_SECRET_KEY="bench-secret-0123456789",
        )
        workers = [] if args.api_workers is None else ["--workers", str(args.api_workers)]
        api = procs.start("api", [RENDERBOT, "api", "--port", str(port), *workers], env)
        worker = procs.start("worker", [RENDERBOT, "worker", "--threads", "4"], env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api, workdir / "api.log")
        result = measured(args, url, callers, [api.pid, worker.pid],
                          lambda n: asyncio.run(settled(database_url, n)))
        result["completed"], result["jobs"] = asyncio.run(
            settled(database_url, args.clients * args.requests * args.repeat))
        procs.stop()
        dsn = database_url.replace("postgresql+asyncpg", "postgresql")
        if args.floor:
            result["alone"] = run_api_alone(args, workdir, procs, env, port, database_url)
            result["floor"] = run_floor(args, workdir, procs, dsn, database_url, True)
            result["floor_alone"] = run_floor(args, workdir, procs, dsn, database_url, False)
        # the raw-SQL baseline on the same database, the servers stopped (fresh accounts)
        accounts = [(a, p) for _, p, a in
                    asyncio.run(seed(database_url, args.clients, args.requests * args.repeat))]
        sql = repeated(args, lambda: asyncio.run(submit_sql_baseline.run_postgres(
            dsn, accounts, args.requests)))
        return result, sql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=5, help="per client, one after another")
    parser.add_argument("--repeat", type=int, default=3, help="runs per target (medians shown)")
    parser.add_argument("--api-workers", type=int, default=None,
                        help="uvicorn workers of `renderbot api` (default: its own default)")
    parser.add_argument("--skip-serve", action="store_true",
                        help="no embedded-default (SQLite) run")
    parser.add_argument("--skip-production", action="store_true",
                        help="no PostgreSQL + Redis run")
    parser.add_argument("--floor", action="store_true",
                        help="also measure benchmarks/submit_floor.py (bare ASGI + asyncpg + "
                             "Redis list, a 2-transaction worker) on PostgreSQL + Redis")
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        serve_baseline(args.baseline_server)
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        workdir = Path(tmp)
        print("running: trivial FastAPI endpoint ...", file=sys.stderr, flush=True)
        trivial = run_baseline(args, workdir)
        rows.append(("baseline: trivial FastAPI endpoint", trivial, None))
        if not args.skip_serve:
            print("running: renderbot serve + raw SQL on SQLite ...", file=sys.stderr, flush=True)
            serve, sql = run_serve(args, workdir)
            rows.append(("renderbot serve (SQLite, in-process)", serve, sql))
            rows.append(("baseline: raw SQL, aiosqlite", sql, None))
        if not args.skip_production:
            print("running: renderbot api + raw SQL on PostgreSQL ...", file=sys.stderr, flush=True)
            workers = "default" if args.api_workers is None else args.api_workers
            api, sql = run_production(args, workdir)
            rows.append((f"renderbot api x{workers} (PostgreSQL + Redis)", api, sql))
            if "floor" in api:
                rows.append((f"renderbot api x{workers}, no worker running", api.pop("alone"),
                             sql))
                rows.append(("floor: bare ASGI + asyncpg + its worker", api.pop("floor"), sql))
                rows.append(("floor: the same, no worker running", api.pop("floor_alone"), sql))
            rows.append(("baseline: raw SQL, asyncpg", sql, None))

    print(f"\n{args.clients} concurrent clients x {args.requests} POST /v1/renders each "
          f"(render backend: instant, rate limit off), median of {args.repeat} runs\n")
    header = (f"{'target':<44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7} "
              f"{'x trivial':>9} {'x SQL':>6} {'errors':>6} {'CPU ms/req':>10}  jobs completed  req/s of each run")
    print(header)
    print("-" * len(header))
    for label, r, sql in rows:
        jobs = f"{r['completed']}/{r['jobs']}" if "jobs" in r else "-"
        vs_sql = f"{r['rps'] / sql['rps']:.2f}" if sql else "-"
        cpu = f"{r['cpu_ms']:.1f}" if "cpu_ms" in r else "-"
        print(f"{label:<44} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['rps']:>7.1f} "
              f"{r['rps'] / trivial['rps']:>9.3f} {vs_sql:>6} {r['errors']:>6} {cpu:>10}  {jobs:<15} "
              f"{r['all_rps']}")
        if r["detail"]:
            print(f"{'':<44} errors by kind: {r['detail']}")


if __name__ == "__main__":
    main()
