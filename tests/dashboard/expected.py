"""The health figures, computed in plain Python from the seed's records (not with SQL)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.fixtures.dashboard import Seed


def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * p / 100) - 1]


@dataclass
class Expected:
    queued: int
    processing: int
    oldest_queued_key: str | None
    oldest_queued_age: float | None
    created: int
    completed: int
    failed: int
    cancelled: int
    failure_rate: float | None
    success_rate: float | None
    error_rate: float | None
    download_usage: float | None
    attempts: int
    attempt_errors: int
    wait_p50: float | None
    wait_p95: float | None
    render_p50: float | None
    render_p95: float | None
    debited: int
    refunded: int
    lambda_jobs: int
    lambda_usd: float
    lambda_credits: int
    throughput: list[tuple[int, int, int]]  # (completed, failed, cancelled) per interval


def expected(seed: Seed, duration: timedelta, bucket_seconds: int,
             end: datetime | None = None) -> Expected:
    end = end or seed.now
    start = end - duration

    def inside(t):
        return t is not None and start <= t < end

    jobs = list(seed.jobs.values())
    finished = [j for j in jobs if inside(j.finished)]
    by = {s: [j for j in finished if j.status == s] for s in ("completed", "failed", "cancelled")}
    queued = [j for j in jobs if j.status == "queued"]
    oldest = min(queued, key=lambda j: j.created) if queued else None
    completed, failed = len(by["completed"]), len(by["failed"])
    attempts = sum(1 for e in seed.events if e["kind"] == "attempt" and inside(e["at"]))
    errors = sum(1 for e in seed.events if e["kind"] == "error" and inside(e["at"]))
    waits = [(j.started - j.created).total_seconds() for j in jobs if inside(j.started)]
    renders = [(j.finished - j.started).total_seconds() for j in by["completed"]]
    lam = [j for j in by["completed"] if j.backend == "lambda"]
    slots = math.ceil(duration.total_seconds() / bucket_seconds)
    throughput = [[0, 0, 0] for _ in range(slots)]
    for j in finished:
        slot = int((j.finished - start).total_seconds() // bucket_seconds)
        throughput[slot][("completed", "failed", "cancelled").index(j.status)] += 1
    success = completed / (completed + failed) if completed + failed else None
    return Expected(
        queued=len(queued), processing=sum(1 for j in jobs if j.status == "processing"),
        oldest_queued_key=oldest.key if oldest else None,
        oldest_queued_age=(end - oldest.created).total_seconds() if oldest else None,
        created=sum(1 for j in jobs if inside(j.created)), completed=completed, failed=failed,
        cancelled=len(by["cancelled"]),
        failure_rate=None if success is None else failed / (completed + failed),
        success_rate=success,
        error_rate=min(1.0, (errors + failed) / attempts) if attempts else None,
        download_usage=(sum(1 for j in by["completed"] if j.downloads > 0) / completed
                        if completed else None),
        attempts=attempts, attempt_errors=errors,
        wait_p50=nearest_rank(waits, 50), wait_p95=nearest_rank(waits, 95),
        render_p50=nearest_rank(renders, 50), render_p95=nearest_rank(renders, 95),
        debited=-sum(e["amount"] for e in seed.entries if e["kind"] == "debit" and inside(e["at"])),
        refunded=sum(e["amount"] for e in seed.entries if e["kind"] == "refund" and inside(e["at"])),
        lambda_jobs=len(lam), lambda_usd=sum(j.cost_reported or 0 for j in lam),
        lambda_credits=sum(j.cost for j in lam),
        throughput=[tuple(t) for t in throughput],
    )
