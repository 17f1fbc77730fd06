"""Named dashboard admins: ``viewer`` sees, ``operator`` acts.

Passwords are generated (never chosen), shown once and kept as a salted scrypt hash
(stdlib ``hashlib.scrypt``). Sign-ins are throttled per name and per client address in
the throttle store (memory, or Redis when the broker is Redis). Every action service in
:mod:`core.admin.actions` calls :func:`operator` with the signed-in name, so a viewer, a
disabled admin or an unknown name is refused in core, whatever the transport shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import throttle
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PermissionDenied, TooManyAttempts
from core.models import Admin

Role = Literal["viewer", "operator"]
ROLES: tuple[str, ...] = ("viewer", "operator")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,119}$")
SIGN_IN_PER_NAME = throttle.Rule("admin-sign-in-name", 5, per="minute")
SIGN_IN_PER_CLIENT = throttle.Rule("admin-sign-in-client", 20, per="minute")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AdminRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: Role
    disabled_at: datetime | None
    last_sign_in_at: datetime | None
    created_at: datetime

    @property
    def can_act(self) -> bool:
        return self.role == "operator" and self.disabled_at is None


class AdminCreated(BaseModel):
    admin: AdminRead
    password: str  # shown once


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return (f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
            f"{b64(salt).decode()}${b64(digest).decode()}")


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# A valid hash of no password anyone knows: unknown names cost the same time as known ones.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.match(name):
        raise InvalidInput("name", "1 to 120 letters, digits, '.', '_', '@' or '-'")
    return name


async def create(*, session: AsyncSession, name: str, role: str) -> AdminCreated:
    name = _name(name)
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    password = secrets.token_urlsafe(18)
    row = Admin(name=name, role=role, password_hash=hash_password(password))
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise InvalidInput("name", f"an admin named {name!r} already exists") from None
    return AdminCreated(admin=AdminRead.model_validate(row), password=password)


async def list_(*, session: AsyncSession) -> list[AdminRead]:
    rows = await session.scalars(select(Admin).order_by(Admin.name))
    return [AdminRead.model_validate(r) for r in rows]


async def _row(session: AsyncSession, name: str) -> Admin | None:
    return await session.scalar(select(Admin).where(Admin.name == (name or "").strip()))


async def get(*, session: AsyncSession, name: str) -> AdminRead:
    row = await _row(session, name)
    if row is None:
        raise NotFound("admin", name)
    return AdminRead.model_validate(row)


async def disable(*, session: AsyncSession, name: str) -> AdminRead:
    row = await _row(session, name)
    if row is None:
        raise NotFound("admin", name)
    row.disabled_at = row.disabled_at or utcnow()
    await session.flush()
    return AdminRead.model_validate(row)


async def count(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Admin)) or 0)


async def sign_in(
    *, session: AsyncSession, name: str, password: str, client: str,
    throttle_url: str = "memory://",
) -> AdminRead:
    """The enabled admin ``name`` when ``password`` is theirs; :class:`InvalidInput`
    (one message for every failure) otherwise. Failed sign-ins are counted per name and
    per client: past :data:`SIGN_IN_PER_NAME` or :data:`SIGN_IN_PER_CLIENT` of them every
    try (even a right one) gets :class:`TooManyAttempts` until the window moves on."""
    name = (name or "").strip()[:120]
    keys = ((SIGN_IN_PER_NAME, name.lower()), (SIGN_IN_PER_CLIENT, client or "?"))
    for rule, who in keys:
        wait = await throttle.blocked(throttle_url, rule, who, fail_open=False)
        if wait is not None:
            raise TooManyAttempts("sign-in", wait)
    row = await _row(session, name)
    ok = verify_password(password or "", row.password_hash if row else _DUMMY_HASH)
    if row is None or not ok or row.disabled_at is not None:
        for rule, who in keys:
            await throttle.hit(throttle_url, rule, who, fail_open=False)
        raise InvalidInput("sign-in", "unknown name, wrong password or disabled admin")
    row.last_sign_in_at = utcnow()
    await session.flush()
    return AdminRead.model_validate(row)


async def trusted(*, session: AsyncSession, name: str) -> AdminRead:
    """The admin an authenticating proxy vouched for (its header): must exist, enabled."""
    row = await _row(session, name)
    if row is None or row.disabled_at is not None:
        raise InvalidInput("sign-in", f"{(name or '').strip()[:120]!r} is not an enabled admin")
    return AdminRead.model_validate(row)


async def operator(*, session: AsyncSession, name: str, action: str) -> str:
    """The name of an enabled operator, else :class:`PermissionDenied` (actions call this)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("admin", "an admin name (1 to 120 characters) is required")
    row = await _row(session, name)
    if row is None or row.disabled_at is not None or row.role != "operator":
        raise PermissionDenied(f"admin {name!r}" if row else f"unknown admin {name!r}", action)
    return row.name
