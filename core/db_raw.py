"""Several statements of a hot path in ONE trip through the driver, in the session's
own transaction.

Through the ORM, each statement of a create went through SQLAlchemy's statement and
result machinery and, on SQLite, four hops to aiosqlite's thread (cursor, execute, fetch,
close); a create's CPU was mostly that, not the database's work. :func:`run` takes a
plain function ``steps(execute)`` that issues Core statements through ``execute`` and
runs all of it at once: on SQLite as ONE call in aiosqlite's thread on the session's
sqlite3 connection, on PostgreSQL on the session's asyncpg connection (statements
awaited one after another, nothing else in between).

Each statement is compiled once per dialect by SQLAlchemy (:class:`Raw`), and its
parameters and results go through the same type processors the ORM applies (JSON,
UTC datetimes, booleans), so the rows written and read are the ones the ORM would write
and read. Driver integrity errors come out as SQLAlchemy's :class:`IntegrityError`, so
callers (and SAVEPOINTs around them) handle them as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.util import await_only, greenlet_spawn

T = TypeVar("T")
Execute = Callable[["Raw", dict[str, Any]], list[tuple]]


class Raw:
    """A Core statement; its ``bindparam("name")`` values come from ``execute``'s dict,
    its literals (``status == "queued"``, ``LIMIT 20``) from the statement."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, list[tuple], list[Any] | None]] = {}

    def for_dialect(self, dialect) -> tuple[str, list[tuple], list[Any] | None]:
        """(SQL, [(parameter, bind processor, is literal, literal value)], result
        processors per column)."""
        key = dialect.name
        hit = self._compiled.get(key)
        if hit is None:
            compiled = self.statement.compile(dialect=dialect)
            prefetch = [c.name for c in (compiled.insert_prefetch or []) +
                        (compiled.update_prefetch or [])]
            if prefetch:  # their Python-side defaults would be skipped here: spell them out
                raise ValueError(f"give these columns a value: {', '.join(prefetch)}")
            procs = compiled._bind_processors
            literals = {name: bind.effective_value for name, bind in compiled.binds.items()
                        if not bind.required}
            names = [(n, procs.get(n), n in literals, literals.get(n))
                     for n in compiled.positiontup or ()]
            results = None
            if compiled._result_columns:
                results = [col[3]._cached_result_processor(dialect, None) if col[3] is not None
                           else None for col in compiled._result_columns]
            hit = self._compiled[key] = (compiled.string, names, results)
        return hit


def _params(names: Sequence[tuple[str, Any, bool, Any]], values: dict[str, Any]) -> list[Any]:
    out = []
    for name, proc, is_literal, literal in names:
        value = literal if is_literal else values[name]
        out.append(proc(value) if proc is not None else value)
    return out


def _rows(rows, results: list[Any] | None) -> list[tuple]:
    if not results or not any(results):
        return [tuple(r) for r in rows]
    return [tuple(p(v) if p is not None else v for p, v in zip(results, r, strict=True))
            for r in rows]


async def run(session: AsyncSession, steps: Callable[[Execute], T]) -> T:
    """``steps(execute)`` with ``execute(raw, values) -> rows`` on the session's connection,
    in its current transaction (begun here if need be)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    dialect = connection.dialect
    driver = raw.driver_connection
    if dialect.name == "sqlite":
        sqlite3_connection = driver._conn  # aiosqlite: the thread's sqlite3 connection

        def execute(statement: Raw, values: dict[str, Any]) -> list[tuple]:
            sql, names, results = statement.for_dialect(dialect)
            cursor = sqlite3_connection.cursor()
            try:
                cursor.execute(sql, _params(names, values))
                return _rows(cursor.fetchall(), results) if cursor.description else []
            except dialect.dbapi.IntegrityError as exc:
                raise IntegrityError(sql, values, exc) from exc
            finally:
                cursor.close()

        # aiosqlite runs each call in its connection's thread; this is one call
        return await driver._execute(steps, execute)

    adapter = raw.dbapi_connection  # SQLAlchemy's asyncpg adapter: it BEGINs lazily
    if getattr(adapter, "_transaction", True) is None:
        await adapter._start_transaction()

    def pg_execute(statement: Raw, values: dict[str, Any]) -> list[tuple]:
        sql, names, results = statement.for_dialect(dialect)
        try:
            rows = await_only(driver.fetch(sql, *_params(names, values)))
        except Exception as exc:
            if _is_integrity_error(exc):
                raise IntegrityError(sql, values, exc) from exc
            raise
        return _rows(rows, results)

    return await greenlet_spawn(steps, pg_execute)


def _is_integrity_error(exc: Exception) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - PostgreSQL needs it
        return False
    return isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError)
