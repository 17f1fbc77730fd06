"""Queue health for one dashboard window: :func:`health` (and :func:`broker_stats`).

:func:`health` computes the queue-health figures for one time window with a fixed number
of aggregate queries, each bounded by an indexed time range (or by the small
``queued``/``processing`` sets), so the page costs the same with 100 or 100,000 jobs.

Definitions (for a window ``[start, end)``):

* finished = jobs whose ``finished_at`` is in the window, by final state;
* success rate = completed / (completed + failed); failure rate = 1 − success rate
  (cancelled jobs are the user's choice, not a failure);
* error rate = (attempt errors + failed jobs) / render attempts started, from
  ``job_event`` rows (``error`` events are attempts that failed and were retried);
* download-link usage = completed jobs with ``download_count > 0`` / completed jobs;
* queue wait = ``started_at − queued_at`` of jobs started in the window; render time =
  ``finished_at − started_at`` of jobs completed in it; percentiles are nearest-rank,
  over the latest ``PERCENTILE_SAMPLE`` (10,000) such jobs of the window;
* credits debited / refunded = ledger entries created in the window.

The report's shapes and windows are in :mod:`core.admin.health_models`, the thresholds
and red/amber rules in :mod:`core.admin.health_rules`, the broker's queue depth in
:mod:`core.admin.broker`; every name stays importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.admin.broker import BROKER_NAMESPACE, BROKER_QUEUE, BrokerStats, _is_redis, broker_stats
from core.admin.health_models import (
    BUCKET_SECONDS,
    WINDOW_LABELS,
    WINDOWS,
    Bucket,
    Health,
    LambdaCost,
    Percentiles,
    Rule,
    Target,
    Window,
    window,
)
from core.admin.health_rules import Thresholds, _pct, _rate, _rules, _status
from core.admin.sql import epoch, floor_int
from core.models import CreditEntry, JobEvent, LambdaAttemptCost, RenderJob

__all__ = [
    "BROKER_NAMESPACE", "BROKER_QUEUE", "BUCKET_SECONDS", "PERCENTILE_SAMPLE", "WINDOWS",
    "WINDOW_LABELS", "BrokerStats", "Bucket", "Health", "LambdaCost", "Percentiles", "Rule",
    "Target", "Thresholds", "Window", "broker_stats", "health", "window",
]

PERCENTILE_SAMPLE = 10_000  # percentiles over at most the latest 10,000 jobs of a window


async def health(
    *,
    session: AsyncSession,
    window_key: str = "1h",
    now: datetime | None = None,
    broker_url: str | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Health:
    """Every figure of the health page for one window, in a fixed number of queries
    (9), each bounded by an indexed range."""
    win = window(window_key, now)
    start, end = win.start, win.end
    t = thresholds

    open_rows = await session.execute(
        select(RenderJob.status, func.count())
        .where(RenderJob.status.in_(("queued", "processing")))
        .group_by(RenderJob.status)
    )
    open_counts = dict(open_rows.all())
    oldest = (
        await session.execute(
            select(RenderJob.id, RenderJob.queued_at)
            .where(RenderJob.status == "queued")
            .order_by(RenderJob.queued_at)
            .limit(1)
        )
    ).first()

    buckets, finished, downloaded, lambda_cost = await _finished(session, win)
    lambda_cost = await _attempt_costs(session, win, lambda_cost)
    created = await session.scalar(
        select(func.count())
        .select_from(RenderJob)
        .where(RenderJob.created_at >= start, RenderJob.created_at < end)
    )
    queue_wait = await _percentiles(
        session,
        epoch(RenderJob.started_at) - epoch(RenderJob.queued_at),
        [RenderJob.started_at >= start, RenderJob.started_at < end],
        RenderJob.started_at,
    )
    # a completed job always has started_at (it got there through processing)
    render_time = await _percentiles(
        session,
        epoch(RenderJob.finished_at) - epoch(RenderJob.started_at),
        [RenderJob.status == "completed", RenderJob.finished_at >= start,
         RenderJob.finished_at < end],
        RenderJob.finished_at,
        total=finished.get("completed", 0),
    )
    ledger = dict(
        (
            await session.execute(
                select(CreditEntry.kind, func.coalesce(func.sum(CreditEntry.amount), 0))
                .where(
                    CreditEntry.created_at >= start, CreditEntry.created_at < end,
                    CreditEntry.kind.in_(("debit", "refund")),
                )
                .group_by(CreditEntry.kind)
            )
        ).all()
    )
    event_counts = dict(
        (
            await session.execute(
                select(JobEvent.kind, func.count())
                .where(
                    JobEvent.kind.in_(("attempt", "error")), JobEvent.at >= start,
                    JobEvent.at < end,
                )
                .group_by(JobEvent.kind)
            )
        ).all()
    )
    broker = await broker_stats(broker_url) if broker_url and _is_redis(broker_url) else None

    completed, failed = finished.get("completed", 0), finished.get("failed", 0)
    attempts = int(event_counts.get("attempt", 0))
    attempt_errors = int(event_counts.get("error", 0))
    success = _rate(completed, completed + failed)
    error_rate = None
    if attempts:
        error_rate = min(1.0, (attempt_errors + failed) / attempts)
    elif failed:
        error_rate = 1.0
    usage = _rate(downloaded, completed)
    targets = [
        Target(name="success rate", value=success, target=f"> {_pct(t.success_target)}",
               met=None if success is None else success > t.success_target,
               sample=completed + failed),
        Target(name="error rate", value=error_rate, target=f"< {_pct(t.error_target)}",
               met=None if error_rate is None else error_rate < t.error_target,
               sample=attempts),
        Target(name="download-link usage", value=usage, target=f"> {_pct(t.download_target)}",
               met=None if usage is None else usage > t.download_target, sample=completed),
    ]
    age = (win.end - oldest.queued_at).total_seconds() if oldest else None
    rules = _rules(t, success=success, error_rate=error_rate, usage=usage,
                   sample=completed + failed, oldest_age=age, wait_p95=queue_wait.p95,
                   broker=broker)
    status, status_rule = _status(rules)
    return Health(
        window=win, queued=int(open_counts.get("queued", 0)),
        processing=int(open_counts.get("processing", 0)),
        oldest_queued_job_id=oldest.id if oldest else None, oldest_queued_age=age,
        created=int(created or 0), completed=completed, failed=failed,
        cancelled=finished.get("cancelled", 0),
        failure_rate=None if success is None else 1 - success,
        attempts=attempts, attempt_errors=attempt_errors, throughput=buckets,
        queue_wait=queue_wait, render_time=render_time,
        credits_debited=-int(ledger.get("debit", 0)), credits_refunded=int(ledger.get("refund", 0)),
        lambda_cost=lambda_cost, broker=broker, targets=targets, status=status,
        status_rule=status_rule, rules=rules,
    )


async def _finished(
    session: AsyncSession, win: Window
) -> tuple[list[Bucket], dict[str, int], int, LambdaCost | None]:
    """Jobs finished in the window per (interval, state), with download and Lambda sums."""
    size = win.bucket_seconds
    index = floor_int((epoch(RenderJob.finished_at) - win.start.timestamp()) / float(size))
    is_lambda_done = and_(RenderJob.backend == "lambda", RenderJob.status == "completed")
    rows = await session.execute(
        select(
            index.label("bucket"),
            RenderJob.status,
            func.count(),
            func.sum(case((RenderJob.download_count > 0, 1), else_=0)),
            func.sum(case((is_lambda_done, 1), else_=0)),
            func.sum(case((is_lambda_done, func.coalesce(RenderJob.cost_reported, 0.0)),
                          else_=0.0)),
            func.sum(case((is_lambda_done, RenderJob.credit_cost), else_=0)),
        )
        .where(RenderJob.finished_at >= win.start, RenderJob.finished_at < win.end)
        .group_by("bucket", RenderJob.status)
    )
    count = math.ceil((win.end - win.start).total_seconds() / size)
    buckets = [Bucket(start=win.start + timedelta(seconds=i * size)) for i in range(count)]
    totals: dict[str, int] = {}
    downloaded = lambda_jobs = lambda_credits = 0
    lambda_usd = 0.0
    for bucket, status, n, dl, lj, lusd, lcred in rows.all():
        n = int(n)
        totals[status] = totals.get(status, 0) + n
        slot = buckets[min(max(int(bucket), 0), count - 1)]
        if status in ("completed", "failed", "cancelled"):
            setattr(slot, status, getattr(slot, status) + n)
        if status == "completed":
            downloaded += int(dl or 0)
        lambda_jobs += int(lj or 0)
        lambda_usd += float(lusd or 0)
        lambda_credits += int(lcred or 0)
    cost = None
    if lambda_jobs:
        cost = LambdaCost(jobs=lambda_jobs, cost_reported=round(lambda_usd, 6),
                          credits_charged=lambda_credits)
    return buckets, totals, downloaded, cost


async def _attempt_costs(
    session: AsyncSession, win: Window, cost: LambdaCost | None
) -> LambdaCost | None:
    """Adds every Lambda attempt's reported cost (issue 15) to the delivered jobs' sums."""
    count, usd = (await session.execute(
        select(func.count(), func.sum(LambdaAttemptCost.cost_usd)).where(
            LambdaAttemptCost.updated_at >= win.start, LambdaAttemptCost.updated_at < win.end)
    )).one()
    if not count:
        return cost
    cost = cost or LambdaCost(jobs=0, cost_reported=0.0, credits_charged=0)
    return cost.model_copy(update={"attempts": int(count), "attempts_cost": round(float(usd or 0), 6)})


async def _percentiles(
    session: AsyncSession, duration, where: Sequence, latest_first, total: int | None = None
) -> Percentiles:
    """Nearest-rank p50 and p95 (the value at rank ceil(p·m)) of the latest
    ``PERCENTILE_SAMPLE`` matching jobs (all of them in any but the busiest windows),
    computed by PostgreSQL's ``percentile_disc``; on SQLite (no such aggregate, slow
    window functions) the sample's durations are ranked in Python."""
    if total is None:
        total = int(await session.scalar(select(func.count()).where(*where)) or 0)
    if not total:
        return Percentiles()
    sample = (
        select(duration.label("d")).where(*where).order_by(latest_first.desc())
        .limit(PERCENTILE_SAMPLE).subquery()
    )
    m = min(total, PERCENTILE_SAMPLE)
    if session.bind.dialect.name == "postgresql":
        p50, p95 = (
            await session.execute(
                select(func.percentile_disc(0.5).within_group(sample.c.d),
                       func.percentile_disc(0.95).within_group(sample.c.d))
            )
        ).one()
    else:  # SQLite sorts slowly: take the (bounded) sample and rank it here
        rows = await session.scalars(select(sample.c.d))
        values = sorted(float(v) for v in rows if v is not None)
        m = len(values)
        if not m:
            return Percentiles(count=total)
        p50, p95 = values[(m * 50 + 99) // 100 - 1], values[(m * 95 + 99) // 100 - 1]
    return Percentiles(count=total, sample=m, p50=_ms(p50), p95=_ms(p95))


def _ms(value) -> float | None:
    return None if value is None else round(float(value), 3)  # SQLite's julianday: ~0.1 ms

