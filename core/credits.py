"""The credits ledger: append-only entries plus the balance kept beside them.

Every change goes through :func:`_apply`, which (inside the caller's transaction)
1. inserts the ledger entry under a SAVEPOINT — its unique idempotency key makes a
   repeated grant/debit/refund a no-op that returns the first entry;
2. moves the balance with a guarded ``UPDATE ... WHERE balance + amount >= 0`` — the
   database, not Python, decides whether the money is there, so concurrent debits can
   never take the balance below zero (a CHECK constraint backs it up).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AccountNotFound, InsufficientCredits, InvalidInput, RefundNotAllowed
from core.models import Account, CreditEntry, RenderBatch, RenderJob
from core.schemas import CreditEntryRead, CreditsRead


async def balance(*, session: AsyncSession, account_id: str) -> int:
    value = await session.scalar(select(Account.balance).where(Account.id == account_id))
    if value is None:
        raise AccountNotFound(account_id)
    return value


async def grant(
    *,
    session: AsyncSession,
    account_id: str,
    amount: int,
    idempotency_key: str,
    note: str | None = None,
    actor: str | None = None,
) -> CreditEntryRead:
    if amount <= 0:
        raise InvalidInput("amount", "must be a positive whole number of credits")
    return await _apply(
        session=session, account_id=account_id, kind="grant", amount=amount,
        idempotency_key=idempotency_key, note=note, actor=actor,
    )


async def debit_for_job(*, session: AsyncSession, job: RenderJob) -> CreditEntryRead:
    return await _apply(
        session=session, account_id=job.account_id, kind="debit", amount=-job.credit_cost,
        idempotency_key=f"debit:{job.id}", job_id=job.id,
    )


async def debit_for_batch(*, session: AsyncSession, batch: RenderBatch) -> CreditEntryRead:
    """ONE debit for the sum of a batch's variants (core/batches.py)."""
    return await _apply(
        session=session, account_id=batch.account_id, kind="debit", amount=-batch.credit_cost,
        idempotency_key=batch_debit_key(batch.id), note=f"batch {batch.id}",
    )


def refund_key(job_id: str, round_: int = 0) -> str:
    return f"refund:{job_id}" if round_ == 0 else f"refund:{job_id}:{round_}"


async def refund_job(
    *, session: AsyncSession, job_id: str, actor: str | None = None, note: str | None = None
) -> CreditEntryRead:
    """Give a job's credits back, at most once per charge of that job.

    A job that was charged again by an admin retry is refundable again: each charge
    after the first is keyed ``debit:{job}:{n}`` and its refund ``refund:{job}:{n}``.
    """
    job = await session.get(RenderJob, job_id)
    if job is None:
        raise RefundNotAllowed(job_id, "no such job")
    if job.status not in ("failed", "cancelled"):
        raise RefundNotAllowed(job_id, f"it is {job.status}")
    charges = await _charges(session, job)
    if not charges:
        raise RefundNotAllowed(job_id, "it was never charged")
    round_ = charges - 1
    return await _apply(
        session=session, account_id=job.account_id, kind="refund", amount=job.credit_cost,
        idempotency_key=refund_key(job_id, round_), job_id=job_id, note=note, actor=actor,
    )


async def charge_again(*, session: AsyncSession, job: RenderJob, actor: str) -> CreditEntryRead:
    """A further debit for an admin retry that re-charges the job."""
    round_ = await _charges(session, job)
    return await _apply(
        session=session, account_id=job.account_id, kind="debit", amount=-job.credit_cost,
        idempotency_key=f"debit:{job.id}:{round_}", job_id=job.id, actor=actor,
    )


async def is_refunded(*, session: AsyncSession, job_id: str) -> bool:
    job = await session.get(RenderJob, job_id)
    debits = await _charges(session, job) if job is not None else 0
    refunds = await _job_entries(session, job_id, "refund")
    return bool(debits) and len(refunds) >= debits


def batch_debit_key(batch_id: str) -> str:
    """The one debit of a batch (core/batches.py): it charges every variant job."""
    return f"debit:batch:{batch_id}"


async def _charges(session: AsyncSession, job: RenderJob) -> int:
    """How many times the job was charged: its own debits, plus its batch's one debit
    (which covers each variant once; a variant is refunded alone)."""
    count = len(await _job_entries(session, job.id, "debit"))
    if job.batch_id is not None and await session.scalar(
        select(CreditEntry.id).where(CreditEntry.idempotency_key == batch_debit_key(job.batch_id))
    ) is not None:
        count += 1
    return count


async def statement(*, session: AsyncSession, account_id: str, limit: int = 20) -> CreditsRead:
    current = await balance(session=session, account_id=account_id)
    rows = await session.scalars(
        select(CreditEntry)
        .where(CreditEntry.account_id == account_id)
        .order_by(CreditEntry.id.desc())
        .limit(limit)
    )
    return CreditsRead(
        balance=current, entries=[CreditEntryRead.model_validate(r) for r in rows]
    )


async def _job_entries(session: AsyncSession, job_id: str, kind: str) -> list[CreditEntry]:
    rows = await session.scalars(
        select(CreditEntry).where(CreditEntry.job_id == job_id, CreditEntry.kind == kind)
    )
    return list(rows)


def balance_change(account_id, amount):
    """The guarded UPDATE every credit change makes: the balance moves by ``amount`` only
    if it stays at or above zero (the database decides, so concurrent debits cannot
    overdraw); it returns the new balance, and no row when refused. ``account_id`` and
    ``amount`` are values or bind parameters (``core/job_create.py``'s one-trip debit)."""
    return (
        update(Account)
        .where(Account.id == account_id, Account.balance + amount >= 0)
        .values(balance=Account.balance + amount)
        .returning(Account.balance)
    )


async def _apply(
    *,
    session: AsyncSession,
    account_id: str,
    kind: str,
    amount: int,
    idempotency_key: str,
    job_id: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> CreditEntryRead:
    existing = await session.scalar(
        select(CreditEntry).where(CreditEntry.idempotency_key == idempotency_key)
    )
    if existing is not None:
        return CreditEntryRead.model_validate(existing)
    entry = CreditEntry(
        account_id=account_id, kind=kind, amount=amount, balance_after=0,
        idempotency_key=idempotency_key, job_id=job_id, note=note, actor=actor,
    )
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
            new_balance = await session.scalar(balance_change(account_id, amount))
            if new_balance is None:
                raise _Refused()
            entry.balance_after = new_balance
            await session.flush()
    except IntegrityError:
        # Another transaction wrote the same idempotency key first (it committed while
        # we waited on its row lock): that entry is the answer.
        existing = await session.scalar(
            select(CreditEntry).where(CreditEntry.idempotency_key == idempotency_key)
        )
        if existing is None:
            raise
        return CreditEntryRead.model_validate(existing)
    except _Refused:
        current = await session.scalar(select(Account.balance).where(Account.id == account_id))
        if current is None:
            raise AccountNotFound(account_id) from None
        raise InsufficientCredits(balance=current, cost=-amount) from None
    return CreditEntryRead.model_validate(entry)


class _Refused(Exception):
    pass
