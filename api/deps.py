"""Per-request dependencies: the unit of work and the caller behind the API key."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Unauthorized
from core import accounts
from core.db import Database
from core.runtime import Runtime
from core.settings import Settings

bearer = HTTPBearer(
    auto_error=False, bearerFormat="API key",
    description="An API key from `renderbot keys create ACCOUNT`: `Authorization: Bearer rb_...`",
)


def runtime_of(request: Request) -> Runtime:
    """The app's runtime, for code that has the request (the dependencies below wrap it)."""
    return request.app.state.rt


# ``async def`` although they await nothing: FastAPI runs a plain ``def`` dependency in its
# thread pool, a thread hop per request for an attribute read.
async def runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def settings(request: Request) -> Settings:
    return runtime_of(request).settings


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commits when the route returns, before the response
    is sent (a 202 means the job is committed); rolls back when it raises. The
    connection (and, on SQLite, the write lock) is only taken at the first statement."""
    async with request.app.state.rt.db.transaction() as s:
        yield s


Session = Annotated[AsyncSession, Depends(session, scope="function")]
SettingsDep = Annotated[Settings, Depends(settings)]


@dataclass(frozen=True)
class Caller:
    account_id: str
    key_id: str  # a digest of the key: log and audit field, never the key (limits are per account)


async def _live_caller(request: Request, credentials, session: AsyncSession | None) -> Caller:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing API key: send Authorization: Bearer <api key>")
    key = credentials.credentials
    account_id = await _account_of(request.app.state.rt.db, key, session)
    if account_id is None:
        raise Unauthorized("unknown or revoked API key")
    key_id = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]
    request.state.account_id = account_id
    return Caller(account_id=account_id, key_id=key_id)


async def _account_of(db: Database, key: str, session: AsyncSession | None) -> str | None:
    """The account of a live key, looked up in the request's unit of work where
    ``Database.lookup`` says (``session``), or in short transactions of its own (None).
    ``last_used_at`` (written at most once a minute) goes in the transaction the lookup
    ran in when that is the request's: a second transaction while the request holds its
    connection would need two connections per request."""
    async with (db.read() if session is None else db.lookup(session)) as reader:
        live = await accounts.live_api_key(session=reader, key=key)
    if live is None:
        return None
    account_id, touch = live
    if touch is not None:
        if reader is session:
            await accounts.touch_api_key(session=session, key_id=touch)
        else:  # its own: on SQLite the writer is free until the route's first statement
            async with db.transaction() as writer:
                await accounts.touch_api_key(session=writer, key_id=touch)
    return account_id


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    session: Session,
) -> Caller:
    """The account of a live API key; 401 for a missing, unknown or revoked one. For the
    routes whose work is in the request's unit of work (``Session``).

    Looked up where ``Database.lookup`` says: on SQLite a read-only transaction of its
    own, so the route's own work (a DNS lookup of a callback URL, ...) happens before it
    takes the write lock and the lookup never waits for a writer; on PostgreSQL the
    request's own transaction (a plain SELECT takes no lock), so a request takes one
    connection and one BEGIN, not two.
    """
    return await _live_caller(request, credentials, session)


async def caller_alone(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """``caller`` for the routes that don't use the request's unit of work and spend a
    while on the network (a still render, a bucket check): the key is checked in short
    transactions of its own, so no connection is held while the route works."""
    return await _live_caller(request, credentials, None)


CallerDep = Annotated[Caller, Depends(caller)]
CallerAloneDep = Annotated[Caller, Depends(caller_alone)]
