"""Fair queuing (issue 18): account A queues 50 jobs, then account B submits one.

Measures B's wait (B submitted → B's render began) and the bound the contract sets: the
renders already running when B arrived (the longest time one of them still had to run)
plus one poll interval. Runs twice on the embedded default (SQLite, in-process worker):

- FIFO, today's order: the fair-use limits off (MAX_ACTIVE_PER_ACCOUNT = 10 000), so all
  of A's jobs are handed to the renderer before B's;
- fair: the defaults (MAX_ACTIVE_PER_ACCOUNT = 3): A never holds more than 3 renders, B's
  first job starts beside them (core/fairness.py).

The renderer is a timed stand-in, like the instant backend (core/backends/instant.py)
but each render takes ``--render-seconds`` on one of ``--slots`` render slots, first in
first out, as the local render servers of ``--slots`` workers would. A's jobs must all
complete.

    .venv/bin/python benchmarks/fairness.py [--jobs 50] [--render-seconds 1.0] [--slots 3]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.backends.base import RenderRequest, RenderStatus  # noqa: E402

POLL = 0.1


@dataclass
class _Render:
    submitted: float
    start: float
    end: float


class TimedBackend:
    """Renders of a fixed length on N slots, FIFO (the order ``start`` was called in)."""

    name = "instant"

    def __init__(self, seconds: float, slots: int, out: Path) -> None:
        self.seconds = seconds
        self.free = [0.0] * slots  # when each slot is free (a heap)
        self.renders: dict[str, _Render] = {}
        self.out = out

    async def start(self, request: RenderRequest) -> str:
        now = time.monotonic()
        if request.render_id not in self.renders:
            slot_free = heapq.heappop(self.free)
            begin = max(now, slot_free)
            heapq.heappush(self.free, begin + self.seconds)
            self.renders[request.render_id] = _Render(now, begin, begin + self.seconds)
        return request.render_id

    async def status(self, ref: str) -> RenderStatus:
        r = self.renders[ref]
        now = time.monotonic()
        if now >= r.end:
            path = self.out / f"{ref}.mp4"
            path.write_bytes(b"timed stand-in\n")
            return RenderStatus(state="done", progress=1.0, output_path=path)
        if now >= r.start:
            return RenderStatus(state="rendering", progress=(now - r.start) / self.seconds)
        return RenderStatus(state="queued", queue_position=1)

    async def cancel(self, ref: str) -> None:
        return None

    async def close(self) -> None:
        return None


async def run(mode: str, jobs: int, seconds: float, slots: int, *,
              database_url: str | None = None, broker_url: str | None = None) -> dict:
    """One run (``tests/jobs/test_fair_order.py`` runs it small, on SQLite and on
    PostgreSQL + Redis)."""
    from core import accounts, credits, projects, renders
    from core.db import Database
    from core.migrate import upgrade
    from core.runtime import Runtime
    from core.settings import LimitSettings, Settings, WorkerSettings
    from jobs.enqueue import enqueuer_for
    from jobs.worker import RenderWorker

    tmp = Path(tempfile.mkdtemp(prefix=f"rb-fair-{mode}-"))
    url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
    per_account = 10_000 if mode == "fifo" else LimitSettings().max_active_per_account
    settings = Settings(
        var_dir=tmp / "var", database_url=url, secret_key="bench-secret-0123456789",
        render_backend="instant", test_backends=True, _env_file=None,
        **({"broker_url": broker_url} if broker_url else {}),
        limits=LimitSettings(max_active_per_account=per_account),
        worker=WorkerSettings(poll_interval=POLL, reconcile_interval=5.0, reconcile_grace=5.0,
                              lease_seconds=60.0),
    )
    await asyncio.to_thread(upgrade, url)
    rt = Runtime(settings)  # the worker's (its own event loop)
    backend = TimedBackend(seconds, slots, tmp)
    rt.backend = backend
    db = Database(url)  # this loop's: submits and reads, as an API process would
    body = {"resolution": [320, 180], "frame_rate": 30, "duration": 1, "quality": "low"}
    async with db.transaction() as s:
        a = (await accounts.create(session=s, name="A")).id
        b = (await accounts.create(session=s, name="B")).id
        for acc in (a, b):
            await credits.grant(session=s, account_id=acc, amount=1000, idempotency_key=acc)
        pa = (await projects.create(session=s, account_id=a, name="a", state=None)).id
        pb = (await projects.create(session=s, account_id=b, name="b", state=None)).id
    worker = RenderWorker(rt, threads=4).start()
    enqueue = enqueuer_for(settings)
    try:
        a_ids = []
        for _ in range(jobs):
            async with db.transaction() as s:
                a_ids.append((await renders.submit(
                    session=s, settings=settings, account_id=a, project_id=pa,
                    render_settings=body, enqueue=enqueue)).job.id)
        # B arrives once A's renders are running
        while not any(r.start <= time.monotonic() for r in backend.renders.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(seconds * 1.5)
        arrived = time.monotonic()
        # the renders already running when B arrived (in a render slot): what each still
        # had to run; B may wait for the longest of them, plus one poll interval
        running = [r.end - arrived for r in backend.renders.values()
                   if r.start <= arrived < r.end]
        bound = max(running, default=0.0) + POLL
        async with db.transaction() as s:
            b_id = (await renders.submit(session=s, settings=settings, account_id=b,
                                         project_id=pb, render_settings=body,
                                         enqueue=enqueue)).job.id
        deadline = time.monotonic() + jobs * seconds * 3 + 60
        while time.monotonic() < deadline:
            async with db.transaction() as s:
                states = [(await renders.get(session=s, account_id=None, job_id=i)).status
                          for i in [*a_ids, b_id]]
            if all(st == "completed" for st in states):
                break
            await asyncio.sleep(0.2)
        b_render = next(r for k, r in backend.renders.items() if k.startswith(b_id))
        return {"mode": mode, "b_wait": b_render.start - arrived, "bound": bound,
                "b_handed": b_render.submitted - arrived,
                "running": len(running), "a_completed": states[:-1].count("completed"),
                "b_completed": states[-1] == "completed"}
    finally:
        worker.stop()
        await db.dispose()
        await rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--render-seconds", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--only", choices=("fifo", "fair"), help="one order only")
    parser.add_argument("--slack", type=float, default=0.0,
                        help="seconds past the bound still accepted (broker hops on Redis)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--broker-url", help="e.g. redis://127.0.0.1:6379/0; default in-process")
    args = parser.parse_args()
    os.environ.setdefault("RENDERBOT_LOG_LEVEL", "WARNING")
    results = {m: asyncio.run(run(m, args.jobs, args.render_seconds, args.slots,
                                  database_url=args.database_url, broker_url=args.broker_url))
               for m in ((args.only,) if args.only else ("fifo", "fair"))}
    print(f"A queues {args.jobs} jobs, then B submits one; renders {args.render_seconds} s "
          f"on {args.slots} slots; poll interval {POLL} s")
    for m, r in results.items():
        ok = "within" if r["b_wait"] <= r["bound"] else "PAST"
        print(f"{m:>4}: B waited {r['b_wait']:.2f} s; bound (renders running when B arrived: "
              f"{r['running']}, + one poll) {r['bound']:.2f} s -> {ok} the bound; "
              f"A completed {r['a_completed']}/{args.jobs}, B completed {r['b_completed']}; "
              f"B reached the renderer after {r['b_handed']:.2f} s")
    if len(results) == 2:
        fifo, fair = results["fifo"]["b_wait"], results["fair"]["b_wait"]
        print(f"B's wait FIFO / fair: {fifo:.2f} s / {fair:.2f} s = "
              f"{fifo / max(fair, 1e-3):.1f}x")
    if "fair" not in results:
        return
    fair_r = results["fair"]
    if fair_r["b_wait"] > fair_r["bound"] + args.slack or fair_r["a_completed"] != args.jobs \
            or not fair_r["b_completed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
