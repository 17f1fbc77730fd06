"""What the renderbot benchmarks share: their processes, a scratch PostgreSQL database and
flushed Redis DB per run, seeded accounts, the environment of a renderbot process, and the
CPU a process tree spent.

PostgreSQL: ``RENDERBOT_BENCH_PG_URL`` (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres,
used to create and drop a scratch database); Redis: ``RENDERBOT_BENCH_REDIS_URL`` (default
redis://127.0.0.1:6379/13, flushed). Used by benchmarks/submit_load.py, worker_drain.py
and pipeline_overhead.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"
PG_ADMIN = os.environ.get(
    "RENDERBOT_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RENDERBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(database_url: str, clients: int, requests: int) -> list[tuple[str, str, str]]:
    """One account (credits, API key, project) per client: [(key, project_id, account_id)]."""
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
                out.append((key.key, project.id, account.id))
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
        "RENDERBOT_API__RENDERS_PER_MINUTE": "0",  # the benchmark measures the path, not the limit
    })
    env.update(extra)
    return env


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and all their descendants (Linux /proc)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    wanted, grew = set(pids), True
    while grew:
        more = {pid for pid, (ppid, _) in stats.items() if ppid in wanted} - wanted
        grew = bool(more)
        wanted |= more
    total = sum(stats[pid][1] for pid in wanted if pid in stats)
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def production_scratch(procs: Procs, prefix: str = "rb_bench") -> Iterator[str]:
    """A migrated scratch PostgreSQL database (its URL) and a flushed Redis DB for one
    run; on the way out the run's processes stop, the database is dropped and Redis
    flushed. Used by every benchmark's PostgreSQL + Redis run."""
    import redis

    from core.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        database_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        upgrade(database_url)
        yield database_url
    finally:
        procs.stop()
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        redis.Redis.from_url(REDIS_URL).flushdb()
