"""Fair use (issue 18): active limits per account and per chat server, a fair order.

Limits (``RENDERBOT_LIMITS__MAX_ACTIVE_PER_ACCOUNT``, default 3, and
``__MAX_ACTIVE_PER_CHAT_SERVER``, a Discord guild or Slack workspace, default 10): a job
starts (queued → processing) only while its account, and its chat server, has fewer
processing jobs than the limit; otherwise it stays ``queued`` — never failed — and is
parked: when a job of its account (or chat server) ends, the worker's notifier
(``jobs/fair_wake.py``) sends a start for the oldest waiting jobs at once; should that
message be lost, the reconciler picks the job up once its waiting lease runs out. No
message circulates per waiting job. Within an account the oldest queued job goes first (a
job waits while older jobs of its account would take the free slots).

Fair order: as one account can never hold more than its limit of the renderers, another
account's first job starts at once beside them, so one account's hundred queued jobs
delay another's first by at most the renders already running (``benchmarks/fairness.py``
measures it against the old first-come-first-served order). Waiting jobs see their
position in that order (round-robin over the accounts with queued work) and an ETA.

Concurrency: no lock serialises the workers. An admission locks its account's row (and,
for a chat server on PostgreSQL, a transaction-scoped advisory lock keyed by that server),
so two workers never both take an account's last slot, while other accounts' admissions
go on in parallel. Waiting jobs keep a lease like the capacity governor's
(``core/render/governor.py``), so the reconciler leaves them alone and a duplicate
message chain drops out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Account, RenderJob
from core.render.governor import _CLOCK_SLACK_SECONDS, HOLD_MARGIN_SECONDS
from core.settings import LimitSettings

# a parked job's lease: the reconciler looks at it again after this (+ the hold margin)
# unless a job of its account ending wakes it first (jobs/fair_wake.py)
RECHECK_SECONDS = 5.0
WAITING_KEY = "waiting_for_fair_use"  # backend_info of a job held back by these limits
_ETA_SAMPLE = 20  # completed jobs the average render time is taken over


def chat_server_of(origin: dict[str, Any] | None) -> str | None:
    """The Discord guild or Slack workspace a job came from (``"discord:<id>"``,
    ``"slack:<id>"``); None for the API, the CLI and direct messages."""
    origin = origin or {}
    platform = origin.get("platform")
    server = origin.get("guild_id") if platform == "discord" else (
        origin.get("team_id") if platform == "slack" else None)
    if not server or server == "dm":
        return None
    return f"{platform}:{server}"[:120]


@dataclass(frozen=True)
class Admission:
    admitted: bool
    duplicate: bool = False
    reason: str = ""  # "account" | "chat_server" while waiting
    active: int = 0
    ahead: int = 0  # older queued jobs of the same account
    limit: int = 0
    # the job and its account as the admission locked them (None when there is none):
    # the start goes on with them in the same transaction instead of loading them again
    job: RenderJob | None = field(default=None, compare=False, repr=False)
    account: Account | None = field(default=None, compare=False, repr=False)

    def as_info(self) -> dict[str, Any]:
        return {"reason": self.reason, "active": self.active, "ahead": self.ahead,
                "limit": self.limit}


async def admit(
    *, session: AsyncSession, job_id: str, limits: LimitSettings, wait_seconds: float,
    now: datetime,
) -> Admission:
    """May this queued job start now? Jobs that are not queued are admitted (the
    pipeline's own checks deal with them). A job that must wait keeps a lease until its
    next look and records why in ``backend_info``.

    The account's row is the lock (admissions of one account queue, others' run on),
    found through the job and locked in one statement; it stays in the session, so the
    start reads the account's storage settings without another query."""
    account = await session.scalar(
        select(Account).join(RenderJob, RenderJob.account_id == Account.id)
        .where(RenderJob.id == job_id).with_for_update(of=Account))
    if account is None:
        return Admission(admitted=True)
    account_id = account.id
    job = await session.get(RenderJob, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != "queued" or job.cancel_requested:
        return Admission(admitted=True, job=job, account=account)
    if job.lease_expires_at is not None and job.lease_expires_at - now > timedelta(
        seconds=HOLD_MARGIN_SECONDS + _CLOCK_SLACK_SECONDS
    ):
        return Admission(admitted=False, duplicate=True, job=job)

    limit = limits.max_active_per_account
    # the account's processing jobs and its queued jobs older than this one, one statement
    active, ahead = (await session.execute(
        select(_sum_if(RenderJob.status == "processing"),
               _sum_if((RenderJob.status == "queued") & _older(job)))
        .where(RenderJob.account_id == account_id,
               RenderJob.status.in_(("processing", "queued")))
    )).one()
    active, ahead = int(active or 0), int(ahead or 0)
    admission = Admission(admitted=active + ahead < limit, reason="account", active=active,
                          ahead=ahead, limit=limit)
    if admission.admitted and job.chat_server:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                  {"key": zlib.crc32(job.chat_server.encode())})
        limit = limits.max_active_per_chat_server
        active = await _count(session, RenderJob.status == "processing",
                              RenderJob.chat_server == job.chat_server)
        admission = Admission(admitted=active < limit, reason="chat_server", active=active,
                              limit=limit)
    info = {k: v for k, v in (job.backend_info or {}).items() if k != WAITING_KEY}
    if admission.admitted:
        job.backend_info = info
    else:
        job.lease_expires_at = now + timedelta(seconds=wait_seconds + HOLD_MARGIN_SECONDS)
        job.backend_info = {**info, WAITING_KEY: admission.as_info()}
    await session.flush()
    return replace(admission, job=job, account=account)


def _older(job: RenderJob):
    return _older_than(job.created_at, job.id)


def _older_than(created_at: datetime, job_id: str):
    return (RenderJob.created_at < created_at) | (
        (RenderJob.created_at == created_at) & (RenderJob.id < job_id))


def _sum_if(condition):
    return func.sum(case((condition, literal_column("1")), else_=literal_column("0")))


async def _count(session: AsyncSession, *where) -> int:
    return int(await session.scalar(select(func.count()).select_from(RenderJob).where(*where))
               or 0)


async def queue_position(session: AsyncSession, job: RenderJob) -> int:
    """1 = next to start, in the fair order: round-robin over the accounts with queued
    work, oldest first within an account. The k-th queued job of its account (k from 0)
    starts after the account's k older jobs and, of every other account, its first k
    queued jobs plus its (k+1)-th when that one is older."""
    return await position_of(session, account_id=job.account_id, created_at=job.created_at,
                             job_id=job.id)


def position_statement(account_id, created_at, job_id):
    """The statement behind :func:`position_of`, one row: the job's place in the fair order
    (see :func:`queue_position`), counted by the database. Per account with queued jobs:
    how many (q), how many are older than the job (n), whether its oldest is (o); then
    ``mine`` (the job's own account's n) + the sum over the other accounts of
    ``min(q, mine)`` + 1 where ``q > mine`` and o, + 1."""
    per = (select(RenderJob.account_id.label("account_id"), func.count().label("q"),
                  _sum_if(_older_than(created_at, job_id)).label("n"),
                  case((func.min(RenderJob.created_at) < created_at, literal_column("1")),
                       else_=literal_column("0")).label("o"))
           .where(RenderJob.status == "queued")
           .group_by(RenderJob.account_id)
           .cte("per"))
    mine = func.coalesce(
        select(per.c.n).where(per.c.account_id == account_id).scalar_subquery(),
        literal_column("0"))
    others = func.coalesce(
        select(func.sum(
            case((per.c.q < mine, per.c.q), else_=mine)
            + case(((per.c.q > mine) & (per.c.o == literal_column("1")), literal_column("1")),
                   else_=literal_column("0"))))
        .where(per.c.account_id != account_id)
        .scalar_subquery(),
        literal_column("0"))
    return select(mine + others + literal_column("1"))


async def position_of(
    session: AsyncSession, *, account_id: str, created_at: datetime, job_id: str
) -> int:
    """:func:`queue_position` of a queued job given by its account, creation time and id
    (one statement, :func:`position_statement`)."""
    return int(await session.scalar(position_statement(account_id, created_at, job_id)))


def recent_render_times():
    """The statement behind :func:`eta_seconds`: start and end of the latest renders."""
    return (select(RenderJob.started_at, RenderJob.finished_at)
            .where(RenderJob.status == "completed", RenderJob.started_at.is_not(None),
                   RenderJob.finished_at.is_not(None))
            .order_by(RenderJob.finished_at.desc()).limit(_ETA_SAMPLE))


async def eta_seconds(
    session: AsyncSession, job: RenderJob | None, position: int
) -> float | None:
    """An estimate: the position times the average render time of recent jobs, plus the
    account's own running renders when the account is at its limit; None without history."""
    return eta_from((await session.execute(recent_render_times())).all(), position)


def eta_from(rows, position: int) -> float | None:
    """:func:`eta_seconds` from the rows of :func:`recent_render_times`."""
    if not rows:
        return None
    mean = sum((_aware(f) - _aware(s)).total_seconds() for s, f in rows) / len(rows)
    return round(max(0.0, mean) * position, 1)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def to_wake(
    *, session: AsyncSession, account_id: str, chat_server: str | None, limits: LimitSettings,
) -> list[str]:
    """A job of this account (and chat server) ended: the queued jobs that may take the
    freed slots, oldest first. Their waiting lease is cleared, so the start message sent
    for them now is not taken for a duplicate (the later, scheduled look then finds the
    job started, or waiting again, and drops out)."""
    free = limits.max_active_per_account - await _count(
        session, RenderJob.status == "processing", RenderJob.account_id == account_id)
    picked: list[tuple[str, dict | None]] = []  # (id, backend_info): no whole job loaded
    if free > 0:
        picked += (await session.execute(
            select(RenderJob.id, RenderJob.backend_info).where(
                RenderJob.status == "queued", RenderJob.account_id == account_id)
            .order_by(RenderJob.created_at, RenderJob.id).limit(free))).all()
    if chat_server:
        free = limits.max_active_per_chat_server - await _count(
            session, RenderJob.status == "processing", RenderJob.chat_server == chat_server)
        if free > 0:
            picked += (await session.execute(
                select(RenderJob.id, RenderJob.backend_info).where(
                    RenderJob.status == "queued", RenderJob.chat_server == chat_server)
                .order_by(RenderJob.created_at, RenderJob.id).limit(free))).all()
    ids: list[str] = []
    for job_id, info in picked:
        if job_id not in ids and WAITING_KEY in (info or {}):
            ids.append(job_id)
    if ids:
        await session.execute(
            update(RenderJob)
            .where(RenderJob.id.in_(ids), RenderJob.lease_expires_at.is_not(None))
            .values(lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    return ids
