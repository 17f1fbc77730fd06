"""Helpers to drive the Streamlit page with AppTest."""

from __future__ import annotations

from sqlalchemy import select

from core.models import CreditEntry, JobEvent, RenderJob


def run(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame(at, *columns: str):
    """The first dataframe on the page with these columns."""
    for df in at.dataframe:
        value = df.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no dataframe with columns {columns}")


def go(at, page: str):
    at.sidebar.radio(key="page").set_value(page)
    return run(at)


def click(at, key: str):
    at.button(key=key).click()
    return run(at)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


async def job_row(db, job_id: str) -> RenderJob:
    async with db.transaction() as s:
        return await s.get(RenderJob, job_id)


async def job_events(db, job_id: str, kind: str | None = None) -> list[JobEvent]:
    async with db.transaction() as s:
        query = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        if kind:
            query = query.where(JobEvent.kind == kind)
        return list(await s.scalars(query))


async def entries(db, *, job_id: str | None = None, account_id: str | None = None):
    async with db.transaction() as s:
        query = select(CreditEntry).order_by(CreditEntry.id)
        if job_id:
            query = query.where(CreditEntry.job_id == job_id)
        if account_id:
            query = query.where(CreditEntry.account_id == account_id)
        return list(await s.scalars(query))
