"""What the production-topology test (test_topology.py) drives and checks: the processes
it starts as docker-compose.yml starts them (:class:`Topology`, :class:`Process`, the
compose commands and healthchecks), the API callers it submits renders for
(:class:`Caller`), and the database, ledger and /metrics views its assertions read.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from core import accounts, credits, projects
from core.db import Database
from core.models import Account, CreditEntry, JobEvent, RenderJob
from tests.deploy.compose import interpolate_tree, load_compose
from tests.fixtures.pipeline import own_render_server_dir
from tests.fixtures.private_redis import PrivateRedis

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"
TINY = {"resolution": [320, 180], "frame_rate": 24, "duration": 1, "quality": "low"}
LONGER = {**TINY, "duration": 6}  # long enough to be caught mid-render
ACCOUNTS = 4
RENDERS = 20
GRANT = 100
TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def records(self) -> list[dict]:
        records = []
        for number, line in enumerate(self.lines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise AssertionError(f"{self.name} log line {number} is not JSON:\n{line}\n"
                                         f"--- tail:\n{self.tail(40)}") from None
        return records

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.lines()[-n:])


@dataclass
class Caller:
    account_id: str
    project_id: str
    key: str
    jobs: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Topology:
    tmp_path: Path
    env: dict[str, str]
    api_url: str
    db: Database
    redis: PrivateRedis
    secrets: list[str]
    api_port: int
    bundles: Path
    processes: list[Process] = field(default_factory=list)

    def start_worker(self, name: str, *args: str) -> Process:
        """A worker with its own RENDERBOT_RENDER_SERVER_DIR, as compose gives each worker
        container its own: its render server is its own."""
        own = own_render_server_dir(self.tmp_path, name, self.bundles)
        return self.start(name, *args, env={"RENDERBOT_RENDER_SERVER_DIR": str(own)})

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        log = self.tmp_path / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen([RENDERBOT, *args], env={**self.env, **(env or {})},
                                     stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp_path)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)


def compose_command(service: str) -> list[str]:
    """The service's command in docker-compose.yml (the image's entrypoint is renderbot)."""
    return interpolate_tree(load_compose(), {"RENDERBOT_SECRET_KEY": "x", "POSTGRES_PASSWORD": "x"},
                            set())["services"][service]["command"]


def compose_healthcheck(service: str) -> list[str]:
    config = interpolate_tree(load_compose(), {"RENDERBOT_SECRET_KEY": "x", "POSTGRES_PASSWORD": "x"},
                              set())
    test = config["services"][service]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    return [sys.executable, *test[2:]]


def healthy(topology: Topology, service: str, api_port: int) -> bool:
    command = compose_healthcheck(service)
    command[-1] = command[-1].replace("127.0.0.1:8000", f"127.0.0.1:{api_port}")
    return subprocess.run(command, env=topology.env, capture_output=True, timeout=30).returncode == 0


async def wait_for(predicate, within: float, what: str, processes=()) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        for process in processes:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited ({process.popen.returncode}) "
                                     f"while waiting for {what}:\n{process.tail()}")
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in processes)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(0.25)


async def make_callers(db: Database, topology: Topology) -> list[Caller]:
    callers = []
    for n in range(ACCOUNTS):
        async with db.transaction() as s:
            account = await accounts.create(session=s, name=f"topology caller {n}")
            await credits.grant(session=s, account_id=account.id, amount=GRANT,
                                idempotency_key=f"topology-grant:{account.id}")
            project = await projects.create(session=s, account_id=account.id,
                                            name=f"project {n}", state=None)
            key = await accounts.create_api_key(session=s, account_id=account.id)
        topology.secrets.append(key.key)
        callers.append(Caller(account.id, project.id, key.key))
    return callers


async def submit(client: httpx.AsyncClient, caller: Caller, body: dict, key: str) -> dict:
    response = await client.post(
        "/v1/renders", headers={**caller.headers, "Idempotency-Key": key},
        json={"project_id": caller.project_id, "settings": body},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    if job["id"] not in caller.jobs:
        caller.jobs.append(job["id"])
    return job


async def statuses(client: httpx.AsyncClient, callers: list[Caller]) -> dict[str, dict]:
    jobs = {}
    for caller in callers:
        response = await client.get("/v1/renders", headers=caller.headers)
        assert response.status_code == 200, response.text
        jobs.update({job["id"]: job for job in response.json()})
    return jobs


async def all_end(client, callers, job_ids, within, processes) -> dict[str, dict]:
    seen: dict[str, dict] = {}

    async def ended() -> bool:
        seen.update(await statuses(client, callers))
        return all(seen.get(j, {}).get("status") in TERMINAL for j in job_ids)

    await wait_for(ended, within, f"{len(job_ids)} jobs to end", processes)
    return seen


def finished_at(job: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()


def is_mp4(data: bytes) -> bool:
    return len(data) > 1000 and data[4:8] == b"ftyp"


async def ledger(db: Database) -> tuple[dict, dict, dict]:
    """(balance per account, sum of entries per account, entry kinds per job)."""
    async with db.transaction() as s:
        balances = dict((await s.execute(select(Account.id, Account.balance))).all())
        sums = dict((await s.execute(
            select(CreditEntry.account_id, func.sum(CreditEntry.amount))
            .group_by(CreditEntry.account_id))).all())
        per_job: dict[str, list[str]] = {}
        rows = await s.execute(select(CreditEntry.job_id, CreditEntry.kind)
                               .where(CreditEntry.job_id.is_not(None)).order_by(CreditEntry.id))
        for job_id, kind in rows.all():
            per_job.setdefault(job_id, []).append(kind)
    return balances, {k: int(v) for k, v in sums.items()}, per_job


async def terminal_events(db: Database) -> Counter:
    async with db.transaction() as s:
        rows = await s.execute(
            select(JobEvent.job_id, JobEvent.state)
            .where(JobEvent.kind == "state", JobEvent.state.in_(TERMINAL))
        )
        return Counter(job_id for job_id, _ in rows.all())


async def job_outputs(db: Database) -> dict[str, tuple[str, str | None]]:
    async with db.transaction() as s:
        rows = await s.execute(select(RenderJob.id, RenderJob.output_key, RenderJob.status))
        return {job_id: (key, status) for job_id, key, status in rows.all()}


def metric_values(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def starter_of(job_id: str, workers: list[Process]) -> Process | None:
    for worker in workers:
        for record in worker.records():
            if record.get("job_id") == job_id and " started on " in record.get("message", ""):
                return worker
    return None
