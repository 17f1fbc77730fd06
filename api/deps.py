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


def runtime(request: Request) -> Runtime:
    return request.app.state.rt


def settings(request: Request) -> Settings:
    return request.app.state.rt.settings


def database(request: Request) -> Database:
    return request.app.state.rt.db


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


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """The account of a live API key; 401 for a missing, unknown or revoked one.

    Checked in a read-only transaction of its own, so the route's own work (a DNS lookup
    of a callback URL, ...) happens before it takes any database lock, and the lookup
    never waits for a writer on SQLite.
    """
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing API key: send Authorization: Bearer <api key>")
    key = credentials.credentials
    db = request.app.state.rt.db
    async with db.read() as s:  # no write lock: last_used_at is written at most once a minute
        live = await accounts.live_api_key(session=s, key=key)
    if live is None:
        raise Unauthorized("unknown or revoked API key")
    account_id, touch = live
    if touch is not None:
        async with db.transaction() as s:
            await accounts.touch_api_key(session=s, key_id=touch)
    key_id = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]
    request.state.account_id = account_id
    return Caller(account_id=account_id, key_id=key_id)


CallerDep = Annotated[Caller, Depends(caller)]
