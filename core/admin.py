"""Admin read models and actions (the dashboard's service; transports never query).

Read models: :func:`health` computes the queue-health figures for one time window with a
fixed number of aggregate queries, each bounded by an indexed time range (or by the small
``queued``/``processing`` sets), so the page costs the same with 100 or 100,000 jobs;
:func:`list_jobs` / :func:`job_detail` back the job explorer (``LIMIT``-ed, newest first).

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

Actions go through ``core.renders`` / ``core.credits`` and leave an audit trail with the
admin's name: a ``job_event`` of kind ``audit`` for job actions, the ledger entry's
``actor`` for grants (a grant belongs to no job; the ledger is append-only).

Retrying a failed job is the one deliberate exception to "terminal states never
change": an admin re-opens it as a fresh attempt series (``queued``, attempts 0), with a
``state queued`` event marked ``retry`` and an audit event. A re-charging retry debits
the job again (its own charge round, refundable once); a free retry adds no charge, so a
free retry that fails again finds its charge round already refunded — no second refund.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Float, Integer, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from core import accounts, credits, renders
from core.db import after_commit, utcnow
from core.errors import (
    InsufficientCredits,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    RefundNotAllowed,
)
from core.models import JOB_STATES, Account, CreditEntry, JobEvent, Project, RenderJob
from core.renders import Enqueue
from core.schemas import CreditEntryRead, JobEventRead, JobRead

WINDOWS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
WINDOW_LABELS = {"15m": "last 15 min", "1h": "last hour", "24h": "last 24 h", "7d": "last 7 days"}
BUCKET_SECONDS = {"15m": 60, "1h": 300, "24h": 3600, "7d": 6 * 3600}
STATES = JOB_STATES
PLATFORMS = ("discord", "slack", "api", "cli")
BACKENDS = ("local", "lambda")
MAX_LIST = 500
MAX_WINDOW_RETRY = 500
PERCENTILE_SAMPLE = 10_000  # percentiles over at most the latest 10,000 jobs of a window

# Dramatiq's RedisBroker keys (dramatiq/brokers/redis/dispatch.lua), namespace "dramatiq",
# queue "renders" (jobs/enqueue.py): list <ns>:<q> holds ready message ids, hash
# <ns>:<q>.msgs every message not yet acked (ready + being worked on), hash
# <ns>:<q>.DQ.msgs the delayed ones, sorted set <ns>:<q>.XQ the dead letters.
BROKER_NAMESPACE = "dramatiq"
BROKER_QUEUE = "renders"


# --- portable SQL helpers -----------------------------------------------------------------


class epoch(FunctionElement):  # noqa: N801 - reads like the SQL function it renders
    """Seconds since 1970 of a timestamp column, as a float, on PostgreSQL and SQLite."""

    type = Float()
    inherit_cache = True
    name = "epoch"


@compiles(epoch)
def _epoch_pg(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


class floor_int(FunctionElement):  # noqa: N801
    """``floor(x)`` as an integer (x ≥ 0 here; SQLite's CAST truncates, which is floor)."""

    type = Integer()
    inherit_cache = True
    name = "floor_int"


@compiles(floor_int)
def _floor_pg(element, compiler, **kw):
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(floor_int, "sqlite")
def _floor_sqlite(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


# --- read models --------------------------------------------------------------------------


class Window(BaseModel):
    key: str
    label: str
    start: datetime
    end: datetime
    bucket_seconds: int


def window(key: str, now: datetime | None = None) -> Window:
    if key not in WINDOWS:
        raise InvalidInput("window", f"must be one of {', '.join(WINDOWS)}")
    end = now or utcnow()
    return Window(key=key, label=WINDOW_LABELS[key], start=end - WINDOWS[key], end=end,
                  bucket_seconds=BUCKET_SECONDS[key])


class Percentiles(BaseModel):
    count: int = 0  # matching jobs in the window
    sample: int = 0  # the latest ones the percentiles are taken over
    p50: float | None = None
    p95: float | None = None


class Bucket(BaseModel):
    start: datetime
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


class Target(BaseModel):
    name: str
    value: float | None  # None: nothing to measure in this window
    target: str
    met: bool | None
    sample: int


class Rule(BaseModel):
    level: Literal["red", "amber"]
    text: str


class BrokerStats(BaseModel):
    url: str
    ready: int = 0
    delayed: int = 0
    in_flight: int = 0
    dead_letters: int = 0
    error: str | None = None


class LambdaCost(BaseModel):
    jobs: int
    cost_reported: float  # USD, as reported by Remotion Lambda
    credits_charged: int

    @property
    def cost_per_credit(self) -> float | None:
        return self.cost_reported / self.credits_charged if self.credits_charged else None


class Health(BaseModel):
    window: Window
    queued: int
    processing: int
    oldest_queued_job_id: str | None
    oldest_queued_age: float | None  # seconds
    created: int
    completed: int
    failed: int
    cancelled: int
    failure_rate: float | None
    attempts: int
    attempt_errors: int
    throughput: list[Bucket]
    queue_wait: Percentiles
    render_time: Percentiles
    credits_debited: int
    credits_refunded: int
    lambda_cost: LambdaCost | None
    broker: BrokerStats | None
    targets: list[Target]
    status: Literal["green", "amber", "red"]
    status_rule: str
    rules: list[Rule]


@dataclass(frozen=True)
class Thresholds:
    """The seed's targets (amber when missed) and the lines past which it is red."""

    success_target: float = 0.95
    error_target: float = 0.02
    download_target: float = 0.90
    success_red: float = 0.80
    error_red: float = 0.10
    red_min_sample: int = 10  # fewer finished jobs than this can only make it amber
    queued_age_amber: float = 5 * 60
    queued_age_red: float = 30 * 60
    wait_p95_amber: float = 5 * 60


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


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


def _rules(
    t: Thresholds, *, success, error_rate, usage, sample, oldest_age, wait_p95, broker
) -> list[Rule]:
    rules: list[Rule] = []
    big = sample >= t.red_min_sample
    if broker is not None and broker.error:
        rules.append(Rule(level="red", text=f"broker unreachable: {broker.error}"))
    if success is not None and big and success < t.success_red:
        rules.append(Rule(level="red", text=f"success rate {_pct(success)} < {_pct(t.success_red)}"))
    if error_rate is not None and big and error_rate >= t.error_red:
        rules.append(Rule(level="red", text=f"error rate {_pct(error_rate)} ≥ {_pct(t.error_red)}"))
    if oldest_age is not None and oldest_age > t.queued_age_red:
        rules.append(Rule(level="red", text=f"oldest queued job waiting {oldest_age / 60:.0f} min"
                                            f" > {t.queued_age_red / 60:.0f} min"))
    if success is not None and not success > t.success_target:
        rules.append(Rule(level="amber", text=f"success rate {_pct(success)} ≤ target "
                                              f"{_pct(t.success_target)}"))
    if error_rate is not None and not error_rate < t.error_target:
        rules.append(Rule(level="amber", text=f"error rate {_pct(error_rate)} ≥ target "
                                              f"{_pct(t.error_target)}"))
    if usage is not None and not usage > t.download_target:
        rules.append(Rule(level="amber", text=f"download-link usage {_pct(usage)} ≤ target "
                                              f"{_pct(t.download_target)}"))
    if oldest_age is not None and oldest_age > t.queued_age_amber:
        rules.append(Rule(level="amber", text=f"oldest queued job waiting {oldest_age / 60:.0f}"
                                              f" min > {t.queued_age_amber / 60:.0f} min"))
    if wait_p95 is not None and wait_p95 > t.wait_p95_amber:
        rules.append(Rule(level="amber", text=f"queue wait p95 {wait_p95:.0f} s > "
                                              f"{t.wait_p95_amber:.0f} s"))
    if broker is not None and broker.dead_letters:
        rules.append(Rule(level="amber", text=f"{broker.dead_letters} dead-lettered message(s)"))
    return rules


def _status(rules: list[Rule]) -> tuple[Literal["green", "amber", "red"], str]:
    for level in ("red", "amber"):
        for rule in rules:
            if rule.level == level:
                return level, rule.text  # type: ignore[return-value]
    return "green", "every target met, queue moving"


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


async def broker_stats(url: str) -> BrokerStats:
    """Depth of the render queue and its dead letters in Dramatiq's Redis keys."""
    import redis.asyncio as aioredis

    safe_url = url.split("@")[-1] if "@" in url else url
    base = f"{BROKER_NAMESPACE}:{BROKER_QUEUE}"
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.llen(base)
            pipe.hlen(f"{base}.msgs")
            pipe.hlen(f"{base}.DQ.msgs")
            pipe.zcard(f"{base}.XQ")
            ready, unacked, delayed, dead = await pipe.execute()
    except Exception as exc:  # noqa: BLE001 - any failure is shown, not raised
        return BrokerStats(url=safe_url, error=f"{exc.__class__.__name__}: {exc}"[:200])
    finally:
        await client.aclose()
    return BrokerStats(url=safe_url, ready=ready, delayed=delayed,
                       in_flight=max(0, unacked - ready), dead_letters=dead)


# --- job explorer -------------------------------------------------------------------------


class JobRow(BaseModel):
    id: str
    status: str
    progress: int
    account_id: str
    project_id: str
    backend: str
    platform: str | None
    credit_cost: int
    attempts: int
    download_count: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


async def list_jobs(
    *,
    session: AsyncSession,
    status: str | None = None,
    account_id: str | None = None,
    project_id: str | None = None,
    backend: str | None = None,
    platform: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 100,
) -> list[JobRow]:
    """Newest jobs matching every given filter (at most ``MAX_LIST``)."""
    if status is not None and status not in JOB_STATES:
        raise InvalidInput("status", f"must be one of {', '.join(JOB_STATES)}")
    platform_col = RenderJob.origin["platform"].as_string()
    query = select(
        RenderJob.id, RenderJob.status, RenderJob.progress, RenderJob.account_id,
        RenderJob.project_id, RenderJob.backend, platform_col.label("platform"),
        RenderJob.credit_cost, RenderJob.attempts, RenderJob.download_count, RenderJob.error,
        RenderJob.created_at, RenderJob.started_at, RenderJob.finished_at,
    )
    if status:
        query = query.where(RenderJob.status == status)
    if account_id:
        query = query.where(RenderJob.account_id == account_id.strip())
    if project_id:
        query = query.where(RenderJob.project_id == project_id.strip())
    if backend:
        query = query.where(RenderJob.backend == backend)
    if platform:
        query = query.where(platform_col == platform)
    if created_from is not None:
        query = query.where(RenderJob.created_at >= created_from)
    if created_to is not None:
        query = query.where(RenderJob.created_at < created_to)
    limit = max(1, min(int(limit), MAX_LIST))
    rows = await session.execute(query.order_by(RenderJob.created_at.desc()).limit(limit))
    return [JobRow.model_validate(dict(r._mapping)) for r in rows]


class LedgerEntry(CreditEntryRead):
    account_id: str
    actor: str | None = None
    idempotency_key: str


class Attempt(BaseModel):
    series: int  # 1 for the original run, +1 for each admin retry
    number: int
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None  # error (retried) | completed | failed | cancelled | None = running
    error: str | None = None


class JobDetail(BaseModel):
    job: JobRead
    account_name: str | None
    project_name: str | None
    platform: str | None
    origin: dict[str, Any]
    callback_url: str | None
    queued_at: datetime
    backend_ref: str | None
    backend_info: dict[str, Any]
    output_key: str | None
    output_size: int | None
    cost_reported: float | None
    download_count: int
    events: list[JobEventRead]
    attempts: list[Attempt]
    errors: list[JobEventRead]
    credit_entries: list[LedgerEntry]
    refunded: bool
    can_cancel: bool
    can_retry: bool
    can_refund: bool


async def job_detail(*, session: AsyncSession, job_id: str) -> JobDetail:
    row = await session.get(RenderJob, job_id.strip(), populate_existing=True)
    if row is None:
        raise JobNotFound(job_id)
    job = await renders.get(session=session, account_id=None, job_id=row.id)
    events = await renders.events(session=session, job_id=row.id)
    entries = await session.scalars(
        select(CreditEntry).where(CreditEntry.job_id == row.id).order_by(CreditEntry.id).limit(100)
    )
    account = await session.get(Account, row.account_id)
    project = await session.get(Project, row.project_id)
    refunded = await credits.is_refunded(session=session, job_id=row.id)
    return JobDetail(
        job=job, account_name=account.name if account else None,
        project_name=project.name if project else None,
        platform=(row.origin or {}).get("platform"), origin=row.origin or {},
        callback_url=row.callback_url, queued_at=row.queued_at, backend_ref=row.backend_ref,
        backend_info=row.backend_info or {}, output_key=row.output_key,
        output_size=row.output_size, cost_reported=row.cost_reported,
        download_count=row.download_count, events=events, attempts=attempts_of(events),
        errors=[e for e in events if e.kind == "error" or (e.state == "failed")],
        credit_entries=[LedgerEntry.model_validate(e) for e in entries], refunded=refunded,
        can_cancel=row.status in ("queued", "processing") and not row.cancel_requested,
        can_retry=row.status == "failed",
        can_refund=row.status in ("failed", "cancelled") and not refunded,
    )


def attempts_of(events: Sequence[JobEventRead]) -> list[Attempt]:
    """The render attempts told by a job's events (an admin retry starts a new series)."""
    out: list[Attempt] = []
    series = 1
    for event in events:
        current = out[-1] if out and out[-1].series == series else None
        if event.kind == "state" and event.state == "queued" and event.detail.get("retry"):
            series += 1
        elif event.kind == "attempt":
            out.append(Attempt(series=series, number=int(event.detail.get("attempt", 0)),
                               started_at=event.at))
        elif current is not None and current.outcome is None:
            if event.kind == "error":
                current.outcome, current.ended_at = "error", event.at
                current.error = str(event.detail.get("error", ""))
            elif event.kind == "state" and event.state in ("completed", "failed", "cancelled"):
                current.outcome, current.ended_at = event.state, event.at
    return out


async def account_ledger(
    *, session: AsyncSession, account_id: str, limit: int = 20
) -> tuple[int, list[LedgerEntry]]:
    balance = await credits.balance(session=session, account_id=account_id.strip())
    rows = await session.scalars(
        select(CreditEntry).where(CreditEntry.account_id == account_id.strip())
        .order_by(CreditEntry.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    )
    return balance, [LedgerEntry.model_validate(r) for r in rows]


# --- actions ------------------------------------------------------------------------------


def _admin(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("admin", "an admin name (1 to 120 characters) is required")
    return name


def _audit(session: AsyncSession, job_id: str, admin: str, action: str, **detail) -> None:
    session.add(JobEvent(job_id=job_id, at=utcnow(), kind="audit", actor=admin,
                         detail={"action": action, **detail}))


async def cancel_job(
    *, session: AsyncSession, job_id: str, admin: str, announce: renders.Announce | None = None
) -> JobRead:
    admin = _admin(admin)
    job = await renders.cancel(
        session=session, account_id=None, job_id=job_id, actor=admin, announce=announce
    )
    _audit(session, job.id, admin, "cancel", status_after=job.status)
    await session.flush()
    return job


async def refund_job(
    *, session: AsyncSession, job_id: str, admin: str, note: str | None = None
) -> JobRead:
    """Refund a failed or cancelled job's current charge (refused when already refunded)."""
    admin = _admin(admin)
    if await credits.is_refunded(session=session, job_id=job_id):
        raise RefundNotAllowed(job_id, "it was already refunded")
    job = await renders.refund(session=session, job_id=job_id, actor=admin,
                               note=note or f"refunded by {admin}")
    _audit(session, job.id, admin, "refund", amount=job.credit_cost)
    await session.flush()
    return job


async def retry_job(
    *, session: AsyncSession, job_id: str, recharge: bool, admin: str,
    enqueue: Enqueue | None = None,
) -> JobRead:
    """Re-open a failed job as a fresh attempt series; ``recharge`` debits it again
    (raises :class:`InsufficientCredits`), otherwise the retry is free."""
    admin = _admin(admin)
    job = await session.get(RenderJob, job_id, with_for_update=True, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    await _reopen(session, job, recharge=recharge, admin=admin, scope={"scope": "job"})
    _enqueue_after_commit(session, job.id, enqueue)
    return await renders.get(session=session, account_id=None, job_id=job.id)


class RetryReport(BaseModel):
    start: datetime
    end: datetime
    recharge: bool
    retried: list[str]
    skipped: dict[str, str]  # job id → reason (e.g. insufficient credits)
    more: bool  # more failed jobs in the window than one call retries


async def retry_failed_in_window(
    *, session: AsyncSession, start: datetime, end: datetime, recharge: bool, admin: str,
    enqueue: Enqueue | None = None, limit: int = MAX_WINDOW_RETRY,
) -> RetryReport:
    """Retry the jobs that failed in ``[start, end)`` (never more than the longest
    dashboard window, never more than ``limit`` jobs per call, oldest failure first)."""
    admin = _admin(admin)
    if end <= start:
        raise InvalidInput("window", "must end after it starts")
    if end - start > max(WINDOWS.values()) + timedelta(minutes=1):
        raise InvalidInput("window", "is longer than the dashboard's longest window (7 days)")
    limit = max(1, min(int(limit), MAX_WINDOW_RETRY))
    ids = list(
        await session.scalars(
            select(RenderJob.id)
            .where(RenderJob.status == "failed", RenderJob.finished_at >= start,
                   RenderJob.finished_at < end)
            .order_by(RenderJob.finished_at, RenderJob.id)
            .limit(limit + 1)
        )
    )
    more = len(ids) > limit
    scope = {"scope": "window", "window": [start.isoformat(), end.isoformat()]}
    retried: list[str] = []
    skipped: dict[str, str] = {}
    for job_id in ids[:limit]:
        try:
            async with session.begin_nested():
                job = await session.get(RenderJob, job_id, with_for_update=True,
                                        populate_existing=True)
                if job is None:
                    continue
                await _reopen(session, job, recharge=recharge, admin=admin, scope=scope)
        except (InsufficientCredits, InvalidTransition) as exc:
            skipped[job_id] = str(exc)
            continue
        retried.append(job_id)
        _enqueue_after_commit(session, job_id, enqueue)
    return RetryReport(start=start, end=end, recharge=recharge, retried=retried,
                       skipped=skipped, more=more)


async def _reopen(
    session: AsyncSession, job: RenderJob, *, recharge: bool, admin: str, scope: dict
) -> None:
    if job.status != "failed":
        raise InvalidTransition(job.id, job.status, "retry (only failed jobs can be retried)")
    entry = None
    if recharge:
        entry = await credits.charge_again(session=session, job=job, actor=admin)
    previous = {
        "error": job.error, "attempts": job.attempts,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    now = utcnow()
    job.status = "queued"
    job.attempts = 0
    job.error = None
    job.progress = 0
    job.finished_at = None
    job.started_at = None
    job.queued_at = now
    job.backend_ref = None
    job.backend_info = {}
    job.lease_expires_at = None
    job.heartbeat_at = None
    job.queue_position = None
    job.eta_seconds = None
    job.cancel_requested = False
    job.result_url = None
    session.add(JobEvent(
        job_id=job.id, at=now, kind="state", state="queued", actor=admin,
        detail={"retry": True, "recharged": recharge, "by": admin,
                "credit_entry_id": entry.id if entry else None},
    ))
    _audit(session, job.id, admin, "retry", recharge=recharge,
           charged=entry.amount if entry else 0, previous=previous, **scope)
    await session.flush()


def _enqueue_after_commit(session: AsyncSession, job_id: str, enqueue: Enqueue | None) -> None:
    if enqueue is not None:
        after_commit(session, lambda: enqueue(job_id))


async def grant(
    *, session: AsyncSession, account_id: str, amount: int, admin: str,
    idempotency_key: str, note: str | None = None,
) -> CreditEntryRead:
    """Grant credits; the ledger entry (with ``actor``) is the audit record. The same
    ``idempotency_key`` (one per confirmation) never grants twice."""
    admin = _admin(admin)
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= 1_000_000:
        raise InvalidInput("amount", "must be a whole number of credits from 1 to 1,000,000")
    account = await accounts.get(session=session, account_id=account_id.strip())
    return await credits.grant(
        session=session, account_id=account.id, amount=amount,
        idempotency_key=f"admin-grant:{idempotency_key}",
        note=(note or "").strip() or f"granted by {admin}", actor=admin,
    )

