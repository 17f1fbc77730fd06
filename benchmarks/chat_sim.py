"""The simulated jobs and the lag accounting of ``benchmarks/chat_progress.py``, shared by
its platforms (``chat_progress`` for Discord and the command line, ``chat_progress_slack``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.schemas import JobRead

SETTINGS = {"resolution": [1920, 1080], "frame_rate": 30, "duration": 30, "quality": "high",
            "effects": ["glow"]}


def job_read(index: int, origin: dict, **changes) -> JobRead:
    values = dict(
        id=f"job_bench{index:05d}", status="queued", progress=0, project_id="prj_bench",
        account_id="acc_bench", settings=SETTINGS, credit_cost=8,
        created_at=datetime.now(UTC), backend="lambda", origin=origin,
    )
    values.update(changes)
    return JobRead(**values)


def rank(job: JobRead) -> tuple:
    order = {"queued": 0, "processing": 1}.get(job.status, 2)
    return (order, 100 if order == 2 else job.progress)


@dataclass
class Recorder:
    """Changes told to the notifier and the edits that reached the platform, per job."""

    told: dict[str, list[tuple[float, tuple, bool]]] = field(default_factory=lambda: defaultdict(list))
    shown: dict[str, list[tuple[float, tuple]]] = field(default_factory=lambda: defaultdict(list))

    def tell(self, job: JobRead) -> None:
        terminal = job.status in ("completed", "failed", "cancelled")
        self.told[job.id].append((time.monotonic(), rank(job), terminal))

    def delivered(self, job_id: str, state: tuple, at: float) -> None:
        self.shown[job_id].append((at, state))

    def lags(self) -> tuple[list[float], list[float], int]:
        """(lag of every change, lag of every final state, changes never shown)."""
        every, final, missing = [], [], 0
        for job_id, told in self.told.items():
            shown = sorted(self.shown.get(job_id, []))
            for at, state, terminal in told:
                lag = next((t - at for t, s in shown if t >= at and s >= state), None)
                if lag is None:
                    missing += 1
                    continue
                every.append(lag)
                if terminal:
                    final.append(lag)
        return every, final, missing


async def simulate(index: int, origin: dict, notify, rng: random.Random, args) -> None:
    """One job: queued → processing → progress every tick → completed."""
    await asyncio.sleep(rng.uniform(0, args.submit_over))  # "simultaneous" submits
    await notify(job_read(index, origin, queue_position=index + 1), "queued")
    await asyncio.sleep(rng.uniform(1, 3))
    length = rng.uniform(args.min_seconds, args.max_seconds)
    started = time.monotonic()
    await notify(job_read(index, origin, status="processing", progress=0), "processing")
    while True:
        await asyncio.sleep(args.tick * rng.uniform(0.9, 1.1))
        elapsed = time.monotonic() - started
        if elapsed >= length:
            break
        progress = min(99, int(100 * elapsed / length))
        await notify(job_read(index, origin, status="processing", progress=progress,
                              eta_seconds=length - elapsed), "progress")
    await notify(job_read(index, origin, status="completed", progress=100,
                          result_url=f"https://example.invalid/d/job_bench{index:05d}"),
                 "completed")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
