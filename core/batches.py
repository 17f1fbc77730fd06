"""Batches (issue 18): one confirm renders 2-4 aspect variants of one project.

The batch is ONE ledger debit for the sum of its variants (``debit:batch:<id>``), written
in the transaction that records the batch and its jobs; each variant is an ordinary job
with ``batch_id`` (it renders, fails, retries and is cancelled like any other job). A
variant that fails or is cancelled is refunded alone, once, at its own price
(``core.credits`` counts the batch's debit as that job's charge). Cancelling the batch
cancels every unfinished variant; finished ones keep their video and their price.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, fairness, pricing, projects, renders
from core import render_settings as rs
from core.db import after_commit
from core.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidSettings,
    InvalidTransition,
    NotFound,
)
from core.models import TERMINAL_STATES, RenderBatch, RenderJob
from core.schemas import FINAL_STATUSES, JobRead, QuoteRead
from core.settings import Settings
from core.storage import destinations

MIN_VARIANTS = 2
MAX_VARIANTS = 4
# the chat pickers' "Formats" multi-select: aspect ratio -> size at 720p
ASPECTS: dict[str, tuple[int, int]] = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)}


class BatchNotFound(NotFound):
    def __init__(self, batch_id: str) -> None:
        super().__init__("batch", batch_id)


class VariantQuote(BaseModel):
    resolution: list[int]
    credit_cost: int


class BatchQuoteRead(QuoteRead):
    """A quote for a batch: ``credit_cost`` is the sum of the variants'."""

    variants: list[VariantQuote]


class BatchRead(BaseModel):
    id: str
    status: str  # queued | processing | completed | failed | cancelled | partial
    project_id: str
    credit_cost: int
    created_at: datetime
    jobs: list[JobRead]


@dataclass(frozen=True)
class SubmittedBatch:
    batch: BatchRead
    created: bool  # False: an idempotent replay returned the first batch


def variant_settings(
    render_settings: Any, variants: Any, settings: Settings
) -> list[rs.RenderSettings]:
    """The settings of each variant (the base settings at each size) or the typed error
    naming ``variants`` (count, duplicates) or ``variants.<i>`` (a size)."""
    if (not isinstance(variants, list | tuple)
            or not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS):
        raise InvalidInput("variants", f"must list {MIN_VARIANTS} to {MAX_VARIANTS} sizes [W, H]")
    base = dict(render_settings or {}) if not isinstance(render_settings, rs.RenderSettings) \
        else render_settings.as_dict()
    out: list[rs.RenderSettings] = []
    for i, size in enumerate(variants):
        try:
            out.append(rs.validate({**base, "resolution": size}, settings.limits))
        except InvalidSettings as exc:
            if exc.field != "resolution":
                raise
            raise InvalidInput(f"variants.{i}", str(exc).partition(": ")[2]) from None
    if len({v.resolution for v in out}) != len(out):
        raise InvalidInput("variants", "lists a size twice")
    return out


async def quote(
    *, session: AsyncSession, settings: Settings, account_id: str, project_id: str,
    render_settings: Any, variants: Any,
) -> BatchQuoteRead:
    valid = variant_settings(render_settings, variants, settings)
    await projects.get_model(session=session, account_id=account_id, project_id=project_id)
    costs = [pricing.credit_cost(v, settings.pricing) for v in valid]
    balance = await credits.balance(session=session, account_id=account_id)
    return BatchQuoteRead(
        project_id=project_id, settings=valid[0].as_dict(), credit_cost=sum(costs),
        balance=balance, balance_after=balance - sum(costs),
        frame_count=sum(v.rendered().frame_count for v in valid),
        variants=[VariantQuote(resolution=list(v.resolution), credit_cost=c)
                  for v, c in zip(valid, costs, strict=True)],
    )


def _hash(project_id: str, valid: list[rs.RenderSettings]) -> str:
    body = {"project_id": project_id, "variants": [v.as_dict() for v in valid]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def submit(
    *,
    session: AsyncSession,
    settings: Settings,
    account_id: str,
    project_id: str,
    render_settings: Any,
    variants: Any,
    idempotency_key: str | None = None,
    origin: dict[str, Any] | None = None,
    enqueue: renders.Enqueue | None = None,
) -> SubmittedBatch:
    """Record the batch and its jobs and debit the sum once, in the caller's transaction;
    :class:`InsufficientCredits` leaves nothing (the caller's transaction rolls back)."""
    valid = variant_settings(render_settings, variants, settings)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise InvalidInput("idempotency_key", "must be 1 to 255 characters")
    project = await projects.get_model(session=session, account_id=account_id,
                                       project_id=project_id)
    digest = _hash(project_id, valid)
    if idempotency_key is not None:
        replay = await _replay(session, account_id, idempotency_key, digest)
        if replay is not None:
            return SubmittedBatch(batch=replay, created=False)
    costs = [pricing.credit_cost(v, settings.pricing) for v in valid]
    batch = RenderBatch(
        account_id=account_id, project_id=project.id, settings=valid[0].as_dict(),
        variants=[list(v.resolution) for v in valid], credit_cost=sum(costs),
        origin=origin or {}, idempotency_key=idempotency_key, request_hash=digest,
    )
    try:
        async with session.begin_nested():
            session.add(batch)
            await session.flush()
    except IntegrityError:
        replay = await _replay(session, account_id, idempotency_key or "", digest)
        if replay is None:
            raise
        return SubmittedBatch(batch=replay, created=False)
    destination = await destinations.active(session=session, account_id=account_id)
    jobs = []
    for i, (v, cost) in enumerate(zip(valid, costs, strict=True)):
        job = RenderJob(
            account_id=account_id, project_id=project.id, status="queued",
            settings=v.as_dict(), credit_cost=cost, project_state=project.state, progress=0,
            attempts=0, backend=settings.render_backend, backend_info={},
            origin={**(origin or {}), "batch_id": batch.id, "variant": i},
            request_hash=renders.request_hash(project.id, v, None), batch_id=batch.id,
            chat_server=fairness.chat_server_of(origin),
            destination_id=destination.id if destination is not None else None,
        )
        session.add(job)
        jobs.append(job)
    await session.flush()
    await credits.debit_for_batch(session=session, batch=batch)
    for job in jobs:
        renders.record_event(session, job, "state", state="queued",
                             detail={"credit_cost": job.credit_cost, "batch_id": batch.id})
    await session.flush()
    if enqueue is not None:
        ids = [j.id for j in jobs]

        def enqueue_all() -> None:
            for job_id in ids:
                enqueue(job_id)

        after_commit(session, enqueue_all)
    return SubmittedBatch(batch=await _read(session, batch), created=True)


async def _replay(session, account_id: str, key: str, digest: str) -> BatchRead | None:
    existing = await session.scalar(select(RenderBatch).where(
        RenderBatch.account_id == account_id, RenderBatch.idempotency_key == key))
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise IdempotencyConflict(key)
    return await _read(session, existing)


async def get(*, session: AsyncSession, account_id: str | None, batch_id: str) -> BatchRead:
    return await _read(session, await _load(session, account_id, batch_id))


async def cancel(
    *, session: AsyncSession, account_id: str | None, batch_id: str, actor: str | None = None,
    announce: renders.Announce | None = None,
) -> BatchRead:
    """Cancel every unfinished variant (queued: at once, refunded; rendering: its worker
    stops it and it is refunded then); 409 when every variant has already ended."""
    batch = await _load(session, account_id, batch_id)
    rows = (await session.execute(select(RenderJob.id, RenderJob.status, RenderJob.origin)
                                  .where(RenderJob.batch_id == batch.id))).all()
    live = sorted((r for r in rows if r.status not in TERMINAL_STATES),
                  key=lambda r: (r.origin or {}).get("variant", 0))
    if not live:
        raise InvalidTransition(batch.id, "finished", "cancel")
    for row in live:  # in variant order
        try:
            await renders.cancel(session=session, account_id=None, job_id=row.id,
                                 actor=actor, announce=announce)
        except InvalidTransition:
            pass  # it ended meanwhile: a finished variant keeps its video
    return await _read(session, batch)


async def _load(session: AsyncSession, account_id: str | None, batch_id: str) -> RenderBatch:
    batch = await session.get(RenderBatch, batch_id)
    if batch is None or (account_id is not None and batch.account_id != account_id):
        raise BatchNotFound(batch_id)
    return batch


def status_of(jobs: list[JobRead]) -> str:
    """One word for the batch: the jobs' common state, ``processing`` while any runs,
    else ``partial`` when they ended differently."""
    states = {j.status for j in jobs}
    if len(states) == 1:
        return states.pop()
    if states <= FINAL_STATUSES:
        return "partial"
    return "processing" if states - {"queued"} else "queued"


async def _read(session: AsyncSession, batch: RenderBatch) -> BatchRead:
    rows = await session.scalars(
        select(RenderJob).where(RenderJob.batch_id == batch.id).order_by(RenderJob.created_at,
                                                                         RenderJob.id))
    jobs = [await renders.read(session, r) for r in rows]
    jobs.sort(key=lambda j: j.origin.get("variant", 0))
    return BatchRead(id=batch.id, status=status_of(jobs), project_id=batch.project_id,
                     credit_cost=batch.credit_cost, created_at=batch.created_at, jobs=jobs)
