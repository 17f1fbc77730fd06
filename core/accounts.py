"""Accounts, the chat identities and API keys that lead to them, and link codes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, db_raw, throttle
from core.db import utcnow
from core.errors import AccountNotFound, InvalidInput, NotFound, TooManyAttempts
from core.models import Account, ApiKey, ChatIdentity, LinkCode
from core.schemas import AccountRead, ApiKeyCreated

API_KEY_PREFIX = "rb_"
LINK_CODE_TTL = timedelta(minutes=30)
LINK_CODE_BYTES = 10  # 80 bits
LINK_ATTEMPTS = throttle.Rule("link-code", 5, per="hour")  # per chat user


async def create(
    *, session: AsyncSession, name: str, starting_credits: int = 0
) -> AccountRead:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name", "must be 1 to 200 characters")
    account = Account(name=name, balance=0, webhook_secret=_new_webhook_secret())
    session.add(account)
    await session.flush()
    if starting_credits:
        await credits.grant(
            session=session, account_id=account.id, amount=starting_credits,
            idempotency_key=f"welcome:{account.id}", note="welcome credits",
        )
        await session.refresh(account)
    return AccountRead.model_validate(account)


async def get(*, session: AsyncSession, account_id: str) -> AccountRead:
    account = await session.get(Account, account_id, populate_existing=True)
    if account is None:
        raise AccountNotFound(account_id)
    return AccountRead.model_validate(account)


async def list_(*, session: AsyncSession, limit: int = 100) -> list[AccountRead]:
    rows = await session.scalars(select(Account).order_by(Account.created_at).limit(limit))
    return [AccountRead.model_validate(r) for r in rows]


def _new_webhook_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


async def rotate_webhook_secret(*, session: AsyncSession, account_id: str) -> str:
    """A new per-account secret for signing callbacks; returned once."""
    account = await session.get(Account, account_id)
    if account is None:
        raise AccountNotFound(account_id)
    account.webhook_secret = _new_webhook_secret()
    await session.flush()
    return account.webhook_secret


async def webhook_secret(*, session: AsyncSession, account_id: str) -> str:
    account = await session.get(Account, account_id)
    if account is None:
        raise AccountNotFound(account_id)
    return account.webhook_secret or ""


# --- API keys ---------------------------------------------------------------------------


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(*, session: AsyncSession, account_id: str) -> ApiKeyCreated:
    await get(session=session, account_id=account_id)
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(account_id=account_id, prefix=key[:10], key_hash=hash_api_key(key))
    session.add(row)
    await session.flush()
    return ApiKeyCreated(id=row.id, account_id=account_id, key=key)


# last_used_at is kept to this resolution: the request path writes it at most once per
# key per minute (a write on every request serialised the embedded default's requests)
LAST_USED_RESOLUTION = timedelta(minutes=1)


_LIVE_KEY = db_raw.Raw(
    select(ApiKey.id, ApiKey.account_id, ApiKey.revoked_at, ApiKey.last_used_at)
    .where(ApiKey.key_hash == bindparam("key_hash"))
)


async def live_api_key(*, session: AsyncSession, key: str) -> tuple[str, str | None] | None:
    """(account id, key row id to touch or None) of a live key, or None for an unknown or
    revoked one. Only reads (one statement, on every authenticated request: core/db_raw.py):
    the id is given when ``last_used_at`` is older than LAST_USED_RESOLUTION (then
    :func:`touch_api_key` in a write transaction)."""
    rows = await db_raw.run(session, lambda execute: execute(
        _LIVE_KEY, {"key_hash": hash_api_key(key)}))
    if not rows:
        return None
    key_id, account_id, revoked_at, last = rows[0]
    if revoked_at is not None:
        return None
    stale = last is None or last < utcnow() - LAST_USED_RESOLUTION
    return account_id, (key_id if stale else None)


async def touch_api_key(*, session: AsyncSession, key_id: str) -> None:
    now = utcnow()
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, (ApiKey.last_used_at.is_(None))
               | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
    )


async def account_for_api_key(*, session: AsyncSession, key: str) -> str | None:
    """The account id of a live key, or None for an unknown or revoked one."""
    live = await live_api_key(session=session, key=key)
    if live is None:
        return None
    account_id, touch = live
    if touch is not None:
        await touch_api_key(session=session, key_id=touch)
    return account_id


async def revoke_api_key(*, session: AsyncSession, key_id: str) -> None:
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("api key", key_id)
    row.revoked_at = row.revoked_at or utcnow()


# --- chat identities and link codes -----------------------------------------------------


async def for_chat_user(
    *,
    session: AsyncSession,
    platform: str,
    team_id: str,
    user_id: str,
    display_name: str,
    starting_credits: int = 0,
) -> AccountRead:
    """The account behind a Discord/Slack user, created on first use."""
    found = await _identity_account(session, platform, team_id, user_id)
    if found is not None:
        return await get(session=session, account_id=found)
    account = await create(
        session=session, name=display_name or f"{platform}:{user_id}",
        starting_credits=starting_credits,
    )
    try:
        async with session.begin_nested():
            session.add(
                ChatIdentity(
                    platform=platform, team_id=team_id, user_id=user_id, account_id=account.id
                )
            )
            await session.flush()
    except IntegrityError:
        # The same user's first two clicks raced; the other one created the identity.
        found = await _identity_account(session, platform, team_id, user_id)
        if found is None:
            raise
        await session.delete(await session.get(Account, account.id))
        return await get(session=session, account_id=found)
    return account


async def _identity_account(
    session: AsyncSession, platform: str, team_id: str, user_id: str
) -> str | None:
    return await session.scalar(
        select(ChatIdentity.account_id).where(
            ChatIdentity.platform == platform,
            ChatIdentity.team_id == team_id,
            ChatIdentity.user_id == user_id,
        )
    )


def _normalise_code(code: str) -> str:
    """Codes are shown in groups (``ABCD-EFGH-...``); people type them any which way."""
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())[:64]


async def create_link_code(*, session: AsyncSession, account_id: str) -> str:
    """A single-use code (80 random bits, base32, shown in groups of four) that links
    another chat identity to ``account_id`` within :data:`LINK_CODE_TTL`."""
    await get(session=session, account_id=account_id)
    code = base64.b32encode(secrets.token_bytes(LINK_CODE_BYTES)).decode().rstrip("=")
    session.add(LinkCode(code=code, account_id=account_id, expires_at=utcnow() + LINK_CODE_TTL))
    await session.flush()
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


async def redeem_link_code(
    *, session: AsyncSession, code: str, platform: str, team_id: str, user_id: str,
    throttle_url: str = "memory://",
) -> AccountRead:
    """Point this chat user at the code's account (their old account keeps its history).

    At most :data:`LINK_ATTEMPTS` tries per chat user per hour (counted in the throttle
    store of ``throttle_url``, the broker URL, so a failed try is counted although its
    transaction rolls back). The code is spent by one conditional UPDATE: of concurrent
    redemptions exactly one finds it unused.
    """
    wait = await throttle.hit(throttle_url, LINK_ATTEMPTS, platform, team_id, user_id,
                              fail_open=False)
    if wait is not None:
        raise TooManyAttempts("link code", wait)
    now = utcnow()
    account_id = await session.scalar(
        update(LinkCode)
        .where(LinkCode.code == _normalise_code(code), LinkCode.used_at.is_(None),
               LinkCode.expires_at > now)
        .values(used_at=now)
        .returning(LinkCode.account_id)
    )
    if account_id is None:
        raise InvalidInput("code", "unknown, used or expired link code")
    identity = await session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.platform == platform,
            ChatIdentity.team_id == team_id,
            ChatIdentity.user_id == user_id,
        )
    )
    if identity is None:
        session.add(
            ChatIdentity(
                platform=platform, team_id=team_id, user_id=user_id, account_id=account_id
            )
        )
    else:
        identity.account_id = account_id
    await session.flush()
    return await get(session=session, account_id=account_id)
