"""Async SQLAlchemy engine and sessions.

One engine per event loop (house style 5). On SQLite (in WAL mode) every transaction
but ``Database.read()``'s starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on
the database lock (with a busy timeout) instead of failing half-way; that, with the
guarded balance UPDATE, is what makes the credits ledger safe under concurrent submits
on SQLite too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import await_only

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, reader: bool = False, **kwargs) -> AsyncEngine:
    """``reader``: SQLite only, an engine whose transactions only read (Database.read).
    ``ping_after_idle``: PostgreSQL, seconds (see PING_AFTER_IDLE)."""
    ping_after_idle = kwargs.pop("ping_after_idle", PING_AFTER_IDLE)
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        if not reader and kwargs.get("poolclass") is None:
            # The writer strategy: SQLite has one writer at a time, so an engine's writers
            # share ONE connection and queue for it in the pool (first come, first served,
            # handed over at once). With several connections they queued in SQLite's busy
            # handler, which polls with sleeps of up to 100 ms while the lock sits free.
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 60)
        if url.startswith("sqlite+aiosqlite"):
            from core.db_sqlite import dbapi  # one trip to aiosqlite's thread per statement

            kwargs.setdefault("module", dbapi())
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _use_immediate_transactions(engine, immediate=not reader)
        if not reader and ":memory:" not in url:
            _gate_writers(engine, writer_gate(url))
        return engine
    # Connections are kept, never churned: an overflow connection (beyond pool_size) is
    # closed when it is returned while the pool is full, so under a steady burst the pool
    # kept opening and closing them (a new server process per PostgreSQL connection).
    # Up to 30 kept ones (the same ceiling as 10 + 20 overflow), opened only as concurrency
    # asks for them: `renderbot api` alone under benchmarks/submit_load.py's load opened
    # 250 -> 60 connections over 2,000 creates (pg_stat_database.sessions).
    kwargs.setdefault("pool_size", 30)
    kwargs.setdefault("max_overflow", 0)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_after_idle)
    return engine


# A pooled PostgreSQL connection is checked (one ";" round trip) before it is handed out
# when it sat idle this long: a server restart or an idle timeout left it dead, and the
# pool replaces it instead of failing the request. SQLAlchemy's pool_pre_ping checked
# EVERY checkout with three round trips (BEGIN, ";", ROLLBACK): a quarter of the
# round trips of a create. A connection used this recently is alive, or its failure
# invalidates the whole pool (SQLAlchemy's disconnect handling) for the next checkout.
PING_AFTER_IDLE = 2.0


def _ping_when_idle(engine: AsyncEngine, idle: float) -> None:
    """SQLAlchemy's documented pessimistic disconnect handling (a ``checkout`` listener
    raising DisconnectionError, which makes the pool connect afresh), only for connections
    idle for ``idle`` seconds or more."""
    pool_events = engine.sync_engine.pool

    @event.listens_for(pool_events, "checkin")
    def _idle_from(_dbapi_connection, record):
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool_events, "checkout")
    def _check(_dbapi_connection, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle:
            return  # new, or just used
        try:  # runs inside SQLAlchemy's greenlet, on the engine's event loop
            await_only(record.driver_connection.execute(";"))
        except Exception as exc:
            raise DisconnectionError("a pooled connection was dead") from exc


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _use_immediate_transactions(engine: AsyncEngine, *, immediate: bool = True) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):
        # a reader's is deferred: WAL lets it run beside the writer
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class WriterGate:
    """A first-come-first-served lock that coroutines of ANY event loop of this process
    can wait on without blocking their loop (release hands it to the next waiter).

    ``renderbot serve`` has two engines on one SQLite file: the API's (uvicorn's loop)
    and the in-process worker's (Dramatiq's loop). Each engine's writers already queue
    for its one connection; across the two, the second writer used to wait in SQLite's
    busy handler, which sleeps 1, 2, 5, ... up to 100 ms between looks while the lock
    sits free. Holding this gate while a writer connection is checked out makes the
    engines take turns instead, handed over at once."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[asyncio.Future] = deque()

    async def acquire(self, within: float) -> bool:
        """True once held; False after ``within`` seconds (the caller goes on ungated,
        and SQLite's own lock and busy timeout decide, as without the gate)."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), within)
            return True
        except TimeoutError:
            with self._mutex:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    return False
            await waiter  # handed over just now (_hand_over runs on this loop)
            return True
        except asyncio.CancelledError:
            with self._mutex:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            # handed over: pass it on (_hand_over, on this same loop, sees it cancelled)
            if waiter.done():
                self.release()
            else:
                waiter.cancel()
            raise

    def release(self) -> None:
        with self._mutex:
            if not self._waiters:
                self._held = False
                return
            waiter = self._waiters.popleft()  # still held: now on behalf of ``waiter``
        try:
            waiter.get_loop().call_soon_threadsafe(self._hand_over, waiter)
        except RuntimeError:  # that loop is closed: its waiter is gone
            self.release()

    def _hand_over(self, waiter: asyncio.Future) -> None:
        if waiter.done():  # cancelled meanwhile
            self.release()
        else:
            waiter.set_result(None)


GATE_TIMEOUT = 30.0  # seconds, as SQLite's busy timeout (connect_args)
_gates: dict[str, WriterGate] = {}
_gates_lock = threading.Lock()


def writer_gate(url: str) -> WriterGate:
    """The process's gate for the SQLite file of ``url``."""
    path = str(Path(url.split("///", 1)[-1].split("?", 1)[0]).resolve())
    with _gates_lock:
        return _gates.setdefault(path, WriterGate())


def _gate_writers(engine: AsyncEngine, gate: WriterGate) -> None:
    pool_events = engine.sync_engine.pool

    @event.listens_for(pool_events, "checkout")
    def _take(_dbapi_connection, record, _proxy):
        # runs inside SQLAlchemy's greenlet, on the engine's event loop
        if await_only(gate.acquire(GATE_TIMEOUT)):
            record.info["gated"] = True
        else:
            logging.getLogger("renderbot.db").warning(
                "a SQLite writer waited %s s for this process's other writer; going on "
                "without the gate", GATE_TIMEOUT)

    @event.listens_for(pool_events, "checkin")
    def _give(_dbapi_connection, record):
        if record is not None and record.info.pop("gated", False):
            gate.release()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class Database:
    """An engine and its session factory, bound to the current event loop."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sessions = session_factory(self.engine)
        self._readers: async_sessionmaker[AsyncSession] | None = None
        self._reader_engine: AsyncEngine | None = None
        self._engine_kwargs = engine_kwargs

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads: on SQLite it does not take the write lock
        (WAL readers run beside the one writer), so lookups such as the API key's don't
        queue behind every create. A write in it may fail with "database is locked"."""
        if not is_sqlite(self.url) or ":memory:" in self.url:
            async with self.transaction() as session:
                yield session
            return
        if self._readers is None:
            self._reader_engine = create_engine(self.url, reader=True, **self._engine_kwargs)
            self._readers = session_factory(self._reader_engine)
        async with self._readers() as session, session.begin():
            yield session

    @asynccontextmanager
    async def lookup(self, session: AsyncSession) -> AsyncIterator[AsyncSession]:
        """Where a request that goes on to write does its first reads (the API key's):
        on SQLite a WAL reader of its own, so the write lock is not taken before the
        request's own work (a callback URL's DNS lookup, ...); elsewhere ``session``, the
        request's own transaction: one connection and one BEGIN for the whole request."""
        if is_sqlite(self.url) and ":memory:" not in self.url:
            async with self.read() as reader:
                yield reader
            return
        yield session

    async def dispose(self) -> None:
        if self._reader_engine is not None:
            await self._reader_engine.dispose()
        await self.engine.dispose()


def after_commit(session: AsyncSession, callback) -> None:
    """Run ``callback()`` once the session's current transaction commits (never on rollback).

    Used to enqueue work only for rows that really exist: a message sent before the
    commit could reach a worker before the job is visible, or for a job that rolled back.
    """
    callbacks = session.info.setdefault("after_commit", [])
    callbacks.append(callback)
    if not session.info.get("after_commit_hooked"):
        session.info["after_commit_hooked"] = True
        sync = session.sync_session

        @event.listens_for(sync, "after_commit")
        def _run(_sync_session):
            pending = session.info.pop("after_commit", [])
            for fn in pending:
                # the change is committed: a failing hook (Redis down for an announce)
                # is logged, never raised into the caller as if the change had failed
                try:
                    fn()
                except Exception:  # noqa: BLE001
                    logging.getLogger("renderbot.db").warning(
                        "an after-commit hook failed (the change itself is committed)",
                        exc_info=True,
                    )

        @event.listens_for(sync, "after_rollback")
        def _drop(_sync_session):
            # A rolled back SAVEPOINT keeps the outer transaction: only drop on a real one.
            if not _sync_session.in_transaction():
                session.info.pop("after_commit", None)
