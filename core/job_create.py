"""The statements of a new job (core.renders.submit), in one trip (core/db_raw.py).

In order: the project (404 unless it is the caller's) with the account's active bucket
set (issue 16); the guarded balance UPDATE (``credits.balance_change``, the one every
credit change makes; a refusal writes nothing and raises
InsufficientCredits); the job row; its ledger entry (``debit:{job}``, the same row
``credits.debit_for_job`` writes, its ``balance_after`` from the UPDATE's RETURNING); its
first event; then what the answer shows: the fair-queue position and the ETA
(core/fairness.py, the same statements and arithmetic).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, db_raw, fairness
from core.errors import AccountNotFound, InsufficientCredits, ProjectNotFound
from core.models import Account, CreditEntry, JobEvent, Project, RenderJob, StorageDestination

_active_destination = (
    select(StorageDestination.id)
    .where(StorageDestination.account_id == bindparam("account_id"),
           StorageDestination.cleared_at.is_(None))
    .order_by(StorageDestination.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
PROJECT = db_raw.Raw(
    select(Project.account_id, Project.state, _active_destination)
    .where(Project.id == bindparam("project_id"))
)
DEBIT = db_raw.Raw(credits.balance_change(bindparam("account_id"), bindparam("amount")))
BALANCE = db_raw.Raw(select(Account.balance).where(Account.id == bindparam("account_id")))
JOB_COLUMNS = [c.name for c in RenderJob.__table__.c]
JOB = db_raw.Raw(insert(RenderJob).values({name: bindparam(name) for name in JOB_COLUMNS}))
ENTRY = db_raw.Raw(insert(CreditEntry).values(
    account_id=bindparam("account_id"), kind=bindparam("kind"), amount=bindparam("amount"),
    balance_after=bindparam("balance_after"), idempotency_key=bindparam("idempotency_key"),
    job_id=bindparam("job_id"), note=bindparam("note"), actor=bindparam("actor"),
    created_at=bindparam("created_at"),
))
EVENT = db_raw.Raw(insert(JobEvent).values(
    job_id=bindparam("job_id"), at=bindparam("at"), kind=bindparam("kind"),
    state=bindparam("state"), progress=bindparam("progress"), actor=bindparam("actor"),
    detail=bindparam("detail"),
))
# the position and the ETA's rows in one statement: the position beside each of the
# latest renders' (start, end), or beside NULLs when there are none yet
_position = fairness.position_statement(
    bindparam("account_id"), bindparam("created_at"), bindparam("job_id")).scalar_subquery()
_recent = fairness.recent_render_times().subquery()
POSITION_ETA = db_raw.Raw(
    select(_position, _recent.c.started_at, _recent.c.finished_at)
    .select_from(select(literal_column("1").label("one")).subquery()
                 .outerjoin(_recent, true()))
)


async def project(
    session: AsyncSession, *, account_id: str, project_id: str
) -> tuple[dict[str, Any], str | None]:
    """(project state, active destination id) of the caller's project; ProjectNotFound."""
    return await db_raw.run(session, lambda execute: _project(execute, account_id, project_id))


def _project(execute, account_id: str, project_id: str) -> tuple[dict[str, Any], str | None]:
    rows = execute(PROJECT, {"project_id": project_id, "account_id": account_id})
    if not rows or rows[0][0] != account_id:
        raise ProjectNotFound(project_id)
    return rows[0][1], rows[0][2]


async def record(
    session: AsyncSession, values: dict[str, Any], *, project_id: str | None = None
) -> tuple[int, float | None]:
    """Write the new job ``values`` (every render_job column but those left None) with
    its debit, ledger entry and event; returns (queue position, ETA seconds). With
    ``project_id``, the project is checked first, in the same trip, and ``values``'
    ``project_state`` and ``destination_id`` are filled from it."""
    return await db_raw.run(session, lambda execute: _record(execute, values, project_id))


def _record(execute, values: dict[str, Any], project_id: str | None) -> tuple[int, float | None]:
    account_id, cost, at = values["account_id"], values["credit_cost"], values["created_at"]
    if project_id is not None:
        values["project_state"], values["destination_id"] = _project(
            execute, account_id, project_id)
    debited = execute(DEBIT, {"account_id": account_id, "amount": -cost})
    if not debited:
        current = execute(BALANCE, {"account_id": account_id})
        if not current:
            raise AccountNotFound(account_id)
        raise InsufficientCredits(balance=current[0][0], cost=cost)
    execute(JOB, {name: values.get(name) for name in JOB_COLUMNS})
    execute(ENTRY, {
        "account_id": account_id, "kind": "debit", "amount": -cost,
        "balance_after": debited[0][0], "idempotency_key": f"debit:{values['id']}",
        "job_id": values["id"], "note": None, "actor": None, "created_at": at,
    })
    execute(EVENT, {
        "job_id": values["id"], "at": at, "kind": "state", "state": "queued",
        "progress": None, "actor": None, "detail": {"credit_cost": cost},
    })
    return _position_and_eta(execute, account_id, at, values["id"])


def _position_and_eta(execute, account_id: str, created_at: datetime,
                      job_id: str) -> tuple[int, float | None]:
    rows = execute(POSITION_ETA, {"account_id": account_id, "created_at": created_at,
                                  "job_id": job_id})
    position = int(rows[0][0])
    recent = [(start, end) for _, start, end in rows if start is not None]
    return position, fairness.eta_from(recent, position)
