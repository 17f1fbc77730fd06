"""Create-render latency under load: 100 concurrent HTTP clients, three servers.

    .venv/bin/python benchmarks/submit_load.py [--clients 100] [--requests 5]

1. baseline: a trivial FastAPI endpoint (parse a JSON body, return JSON) under uvicorn;
2. `renderbot serve` on the embedded default (SQLite, in-process queue and worker);
3. `renderbot api` on PostgreSQL + Redis, with one `renderbot worker` beside it.

Each renderbot server runs with ``RENDERBOT_RENDER_BACKEND=instant`` (renders "finish" at
once, see core/backends/instant.py), so this measures our own path: auth, rate limit,
settings validation, the credits debit + job insert transaction, the enqueue, while the
worker drains the queue on the same machine. Every client has its own account and API key
(the default rate limit of 60 per key per minute stays on) and sends ``--requests``
``POST /v1/renders`` one after another; all clients run at once. Prints p50, p99 and max
latency, throughput and the error count (anything but 202, or a transport error) per
server, in one table.

PostgreSQL: ``RENDERBOT_BENCH_PG_URL`` (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres,
used to create and drop a scratch database); Redis: ``RENDERBOT_BENCH_REDIS_URL`` (default
redis://127.0.0.1:6379/13, flushed). Use ``--skip-production`` without them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from pydantic import BaseModel  # noqa: E402

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"
SETTINGS = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low"}
PG_ADMIN = os.environ.get(
    "RENDERBOT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RENDERBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


# --- set-up of the renderbot targets ----------------------------------------------------


async def seed(database_url: str, clients: int, requests: int) -> list[tuple[str, str]]:
    """One account (credits, API key, project) per client: [(key, project_id)]."""
    from core import accounts, credits, projects
    from core.db import Database

    db = Database(database_url)
    out = []
    try:
        async with db.transaction() as s:
            for n in range(clients):
                account = await accounts.create(session=s, name=f"bench-{n}")
                await credits.grant(session=s, account_id=account.id, amount=requests * 10 + 100,
                                    idempotency_key=f"bench:{account.id}")
                key = await accounts.create_api_key(session=s, account_id=account.id)
                project = await projects.create(session=s, account_id=account.id, name="bench")
                out.append((key.key, project.id))
    finally:
        await db.dispose()
    return out


async def pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql+asyncpg", "postgresql"), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Procs:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(args, env=env, cwd=self.logdir, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{proc.args} did not answer /healthz:\n{log.read_text()[-2000:]}")


def renderbot_env(var_dir: Path, port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")}
    env.update({
        "RENDERBOT_VAR_DIR": str(var_dir),
        "RENDERBOT_RENDER_BACKEND": "instant",
        "RENDERBOT_TEST_BACKENDS": "1",  # instant is refused otherwise
        "RENDERBOT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "RENDERBOT_WORKER__POLL_INTERVAL": "0.2",
        "RENDERBOT_API__LOG_FORMAT": "text",
    })
    env.update(extra)
    return env


# --- the load ---------------------------------------------------------------------------


async def load(url: str, callers: list[tuple[str, str]], requests: int) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=len(callers) + 10,
                          max_keepalive_connections=len(callers) + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one_client(key: str, project_id: str) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            for _ in range(requests):
                began = time.perf_counter()
                try:
                    r = await client.post("/v1/renders", headers=headers,
                                          json={"project_id": project_id, "settings": SETTINGS})
                    outcome = str(r.status_code)
                except httpx.HTTPError as exc:
                    outcome = exc.__class__.__name__
                latencies.append(time.perf_counter() - began)
                if outcome != "202":
                    errors[outcome] = errors.get(outcome, 0) + 1

        # Warm-up (connections, caches), not measured.
        await asyncio.gather(*[client.get("/healthz") for _ in range(min(20, len(callers)))])
        began = time.perf_counter()
        await asyncio.gather(*[one_client(k, p) for k, p in callers])
        wall = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max": latencies[-1] * 1000,
        "rps": len(latencies) / wall,
        "errors": sum(errors.values()),
        "detail": errors,
    }


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


# --- the three runs ---------------------------------------------------------------------


def run_baseline(args, workdir: Path) -> dict:
    port = free_port()
    procs = Procs(workdir)
    try:
        proc = procs.start("baseline", [sys.executable, str(Path(__file__).resolve()),
                                        "--baseline-server", str(port)],
                           dict(os.environ))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, workdir / "baseline.log")
        callers = [("x", f"prj_{n}") for n in range(args.clients)]
        return asyncio.run(load(url, callers, args.requests))
    finally:
        procs.stop()


def run_serve(args, workdir: Path) -> dict:
    from core.migrate import upgrade

    var = workdir / "serve-var"
    database_url = f"sqlite+aiosqlite:///{var / 'renderbot.db'}"
    upgrade(database_url)
    callers = asyncio.run(seed(database_url, args.clients, args.requests))
    port = free_port()
    procs = Procs(workdir)
    try:
        proc = procs.start("serve", [RENDERBOT, "serve", "--port", str(port)],
                           renderbot_env(var, port))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, workdir / "serve.log")
        result = asyncio.run(load(url, callers, args.requests))
        result["completed"], result["jobs"] = asyncio.run(
            settled(database_url, args.clients * args.requests))
        return result
    finally:
        procs.stop()


def run_production(args, workdir: Path) -> dict:
    import redis

    from core.migrate import upgrade

    name = f"rb_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    database_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    redis.Redis.from_url(REDIS_URL).flushdb()
    procs = Procs(workdir)
    try:
        upgrade(database_url)
        callers = asyncio.run(seed(database_url, args.clients, args.requests))
        port = free_port()
        env = renderbot_env(
            workdir / "prod-var", port, RENDERBOT_DATABASE_URL=database_url,
            RENDERBOT_BROKER_URL=REDIS_URL, RENDERBOT_SECRET_KEY="bench-secret-0123456789",
        )
        api = procs.start("api", [RENDERBOT, "api", "--port", str(port),
                                  "--workers", str(args.api_workers)], env)
        procs.start("worker", [RENDERBOT, "worker", "--threads", "4"], env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api, workdir / "api.log")
        result = asyncio.run(load(url, callers, args.requests))
        result["completed"], result["jobs"] = asyncio.run(
            settled(database_url, args.clients * args.requests))
        return result
    finally:
        procs.stop()
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        redis.Redis.from_url(REDIS_URL).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=5, help="per client, one after another")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn workers of `renderbot api`")
    parser.add_argument("--skip-production", action="store_true",
                        help="no PostgreSQL + Redis run")
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        serve_baseline(args.baseline_server)
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        workdir = Path(tmp)
        runs = [("baseline: trivial FastAPI endpoint", run_baseline),
                ("renderbot serve (SQLite, in-process)", run_serve)]
        if not args.skip_production:
            runs.append((f"renderbot api x{args.api_workers} (PostgreSQL + Redis)", run_production))
        for label, fn in runs:
            print(f"running: {label} ...", file=sys.stderr, flush=True)
            rows.append((label, fn(args, workdir)))

    print(f"\n{args.clients} concurrent clients x {args.requests} POST /v1/renders each "
          f"(render backend: instant)\n")
    header = f"{'server':<42} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7} {'errors':>7}  jobs completed"
    print(header)
    print("-" * len(header))
    for label, r in rows:
        jobs = f"{r['completed']}/{r['jobs']}" if "jobs" in r else "-"
        print(f"{label:<42} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} {r['rps']:>7.1f} "
              f"{r['errors']:>7}  {jobs}")
        if r["detail"]:
            print(f"{'':<42} errors by kind: {r['detail']}")


if __name__ == "__main__":
    main()
