"""A creator's own bucket (R2 / S3) their renders are delivered to (issue 16).

``set_`` checks the endpoint against the network policy, verifies the bucket with a
probe (core/storage/probe.py) and only then stores it, the secret encrypted
(core/secret_box.py); ``get`` never returns the secret; ``clear`` sends later renders
back to the default storage. A replaced or cleared destination keeps its row
(``cleared_at``) so the videos already delivered there keep working links.

``storage_for`` builds the ``S3Storage`` a job's video is written to and presigned from
(``job.destination_id``); ``None`` means the default storage (``rt.storage``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import network
from core.backends.base import OutputTarget
from core.db import Database, utcnow
from core.errors import InvalidInput, NotFound, RenderbotError
from core.models import Account, StorageDestination
from core.secret_box import box_for
from core.settings import Settings
from core.storage.base import normalize_prefix
from core.storage.probe import ProbeFailed, probe

# S3 / R2 bucket names: 3-63 chars, lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")
_KEY_ID = re.compile(r"^[\x21-\x7e]{1,255}$")


class StorageUnverified(RenderbotError):
    """The destination failed its verification; nothing was stored."""

    code = "storage_unverified"
    http_status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"the storage could not be verified: {message}")
        self.field = field


class DestinationNotFound(NotFound):
    def __init__(self, account_id: str) -> None:
        super().__init__("storage destination of account", account_id)


@dataclass(frozen=True)
class DestinationSpec:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    prefix: str = ""
    region: str | None = None

    def __repr__(self) -> str:  # never the secret
        return (f"DestinationSpec(endpoint={network.redact(self.endpoint)!r}, "
                f"bucket={self.bucket!r}, prefix={self.prefix!r}, region={self.region!r})")


class DestinationRead(BaseModel):
    """What a creator (and the dashboard) sees of a destination: never the secret."""

    endpoint: str
    bucket: str
    prefix: str
    region: str | None
    access_key_id_hint: str
    verified_at: datetime


def hint(access_key_id: str) -> str:
    """``…WXYZ``: enough to recognise the key, not to use it."""
    return "…" + access_key_id[-4:] if len(access_key_id) > 8 else "…"


def read(row: StorageDestination) -> DestinationRead:
    return DestinationRead(
        endpoint=row.endpoint, bucket=row.bucket, prefix=row.prefix, region=row.region,
        access_key_id_hint=hint(row.access_key_id), verified_at=row.verified_at,
    )


def checked(spec: DestinationSpec) -> DestinationSpec:
    """The spec with a normalised prefix; :class:`InvalidInput` for malformed fields."""
    network.parse_url(spec.endpoint, field="endpoint", credentials=False)
    if not _BUCKET.match(spec.bucket or "") or ".." in spec.bucket:
        raise InvalidInput("bucket", "must be 3-63 lowercase letters, digits, dots or hyphens")
    try:
        prefix = normalize_prefix(spec.prefix)
    except ValueError:
        raise InvalidInput("prefix", "must be a relative path without '.' or '..' parts") from None
    if len(prefix) > 200:
        raise InvalidInput("prefix", "must be at most 200 characters")
    if spec.region is not None and spec.region != "" and not _REGION.match(spec.region):
        raise InvalidInput("region", "must be a region name such as auto or eu-west-1")
    if not _KEY_ID.match(spec.access_key_id or ""):
        raise InvalidInput("access_key_id", "must be 1-255 printable characters")
    if not spec.secret_access_key or len(spec.secret_access_key) > 1024:
        raise InvalidInput("secret_access_key", "must be 1-1024 characters")
    return DestinationSpec(
        endpoint=spec.endpoint, bucket=spec.bucket, prefix=prefix, region=spec.region or None,
        access_key_id=spec.access_key_id, secret_access_key=spec.secret_access_key,
    )


def _s3(settings: Settings, spec_or_row, secret: str, *, timeout: float | None = None,
        max_attempts: int = 3):
    """A creator's endpoint: every connection obeys the network policy, pinned to the
    address it checked (no second DNS lookup between the check and the connection)."""
    from core.storage.s3 import S3Storage  # boto3 only where a destination is used

    return S3Storage(
        bucket=spec_or_row.bucket, endpoint_url=spec_or_row.endpoint,
        region=spec_or_row.region, access_key_id=spec_or_row.access_key_id,
        secret_access_key=secret, timeout=timeout, max_attempts=max_attempts,
        policy=network.policy(settings),
    )


async def verify(settings: Settings, spec: DestinationSpec) -> DestinationSpec:
    """The checked spec once its endpoint passes the network policy and the probe
    succeeds; :class:`StorageUnverified` naming what failed otherwise."""
    spec = checked(spec)
    try:
        await network.check_url(spec.endpoint, network.policy(settings), field="endpoint",
                                credentials=False)
    except InvalidInput as exc:
        raise StorageUnverified(
            f"the endpoint is refused by the network policy ({str(exc).removeprefix('endpoint: ')})",
            field="endpoint",
        ) from None
    storage = _s3(settings, spec, spec.secret_access_key, timeout=settings.storage.verify_timeout,
                  max_attempts=1)
    try:
        await probe(storage, prefix=spec.prefix)
    except ProbeFailed as exc:
        raise StorageUnverified(str(exc)) from None
    return spec


async def set_(*, db: Database, settings: Settings, account_id: str,
               spec: DestinationSpec) -> DestinationRead:
    """Verify (no database transaction held meanwhile), then store ``spec`` as the
    account's destination, replacing (clearing) the one before."""
    async with db.transaction() as session:
        if await session.get(Account, account_id) is None:
            raise NotFound("account", account_id)
    spec = await verify(settings, spec)
    box = box_for(settings)
    now = utcnow()
    async with db.transaction() as session:
        await session.get(Account, account_id, with_for_update=True)  # one setter at a time
        await session.execute(
            update(StorageDestination)
            .where(StorageDestination.account_id == account_id,
                   StorageDestination.cleared_at.is_(None))
            .values(cleared_at=now)
        )
        row = StorageDestination(
            account_id=account_id, endpoint=spec.endpoint, bucket=spec.bucket,
            prefix=spec.prefix, region=spec.region, access_key_id=spec.access_key_id,
            secret_ciphertext=box.encrypt(spec.secret_access_key), verified_at=now,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return read(row)


async def active(*, session: AsyncSession, account_id: str) -> StorageDestination | None:
    """The account's current destination (None: the default storage)."""
    return (
        await session.execute(
            select(StorageDestination)
            .where(StorageDestination.account_id == account_id,
                   StorageDestination.cleared_at.is_(None))
            .order_by(StorageDestination.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def get(*, session: AsyncSession, account_id: str) -> DestinationRead:
    row = await active(session=session, account_id=account_id)
    if row is None:
        raise DestinationNotFound(account_id)
    return read(row)


async def describe(*, session: AsyncSession, destination_id: str | None) -> DestinationRead | None:
    """A job's destination as admins see it (None: the default storage)."""
    if destination_id is None:
        return None
    row = await session.get(StorageDestination, destination_id)
    return None if row is None else read(row)


async def clear(*, session: AsyncSession, account_id: str) -> None:
    """Later renders go to the default storage; :class:`DestinationNotFound` if none."""
    result = await session.execute(
        update(StorageDestination)
        .where(StorageDestination.account_id == account_id,
               StorageDestination.cleared_at.is_(None))
        .values(cleared_at=utcnow())
    )
    if not result.rowcount:
        raise DestinationNotFound(account_id)


async def rotate(*, session: AsyncSession, settings: Settings) -> int:
    """Re-encrypt every stored secret under the current secret key; how many."""
    box = box_for(settings)
    rows = (await session.execute(select(StorageDestination))).scalars().all()
    for row in rows:
        row.secret_ciphertext = box.rotate(row.secret_ciphertext)
    return len(rows)


# --- the storage of a destination --------------------------------------------------------

_CACHE_SIZE = 256
_cache: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def storage_for(settings: Settings, row: StorageDestination):
    """The ``S3Storage`` of a destination (one boto3 client per destination and secret,
    kept: building a client costs tens of milliseconds)."""
    cache_key = (row.id, row.secret_ciphertext)
    with _lock:
        found = _cache.get(cache_key)
    if found is not None:
        return found
    storage = _s3(settings, row, box_for(settings).decrypt(row.secret_ciphertext))
    with _lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[cache_key] = storage
    return storage


async def storage_of(rt, session: AsyncSession, destination_id: str | None):
    """Where a job's video is (None → the default storage ``rt.storage``)."""
    if destination_id is None:
        return rt.storage
    row = await session.get(StorageDestination, destination_id)
    if row is None:
        raise NotFound("storage destination", destination_id)
    return storage_for(rt.settings, row)


def output_target(settings: Settings, row: StorageDestination) -> OutputTarget:
    """What a backend writing the video itself (Lambda) needs of the destination."""
    return OutputTarget(
        endpoint=row.endpoint, region=row.region, access_key_id=row.access_key_id,
        secret_access_key=box_for(settings).decrypt(row.secret_ciphertext),
    )


async def delivery_storage(rt, destination_id: str | None) -> tuple[object, str | None]:
    """``(storage, None)`` to deliver a job's video to, or ``(storage, why)`` when its
    destination may not be used any more (its endpoint now fails the network policy).
    No transaction is held during the policy's DNS lookup."""
    if destination_id is None:
        return rt.storage, None
    async with rt.db.transaction() as session:
        row = await session.get(StorageDestination, destination_id)
        if row is None:
            return rt.storage, "the job's storage destination no longer exists"
        session.expunge(row)
    storage = storage_for(rt.settings, row)
    if not await endpoint_allowed(rt.settings, row):
        return storage, "the destination's endpoint is now refused by the network policy"
    return storage, None


async def endpoint_allowed(settings: Settings, row: StorageDestination) -> bool:
    """Whether the destination's endpoint still passes the network policy (checked
    again before each delivery: DNS answers change)."""
    try:
        await network.check_url(row.endpoint, network.policy(settings), field="endpoint")
    except InvalidInput:
        return False
    return True


def where_text(dest: DestinationRead | None, *, retention_days: int) -> str:
    """One line for a creator (chat): where their renders go. Never a key or a secret."""
    if dest is not None:
        prefix = f" under `{dest.prefix}/`" if dest.prefix else ""
        return f"Your renders go to your own bucket `{dest.bucket}`{prefix}."
    kept = (f"kept {retention_days} days" if retention_days > 0 else "kept until deleted")
    return f"Your renders go to renderbot's storage (videos are {kept})."


async def where(*, session: AsyncSession, settings: Settings, account_id: str) -> str:
    row = await active(session=session, account_id=account_id)
    return where_text(None if row is None else read(row),
                      retention_days=settings.storage.retention_days)
