"""SQLAlchemy's aiosqlite adapter with one trip to aiosqlite's thread per statement.

aiosqlite runs each call on a connection in that connection's own thread; SQLAlchemy's
adapter makes four such calls per statement (open a cursor, execute, fetch the rows,
close the cursor), and each hand-over between the event loop and that thread costs
more CPU than SQLite's own work on a small statement (issue 19's profile of a create).
:class:`OneTripCursor` does the four in one call. ``core.db.create_engine`` passes
:func:`dbapi` as the engine's ``module`` for every SQLite URL.

What SQLAlchemy sees is unchanged: the same rows, description, rowcount and lastrowid,
and errors raised from the same sqlite3 calls (the adapter translates them as before).
"""

from __future__ import annotations

import collections
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection) -> None:  # no cursor opened ahead: see execute
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection  # an aiosqlite.Connection
        self._cursor = None
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        return None

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor was closed in its own call

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            self._take(await self._connection._execute(
                _run, self._connection, "execute", operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            self._take(await self._connection._execute(
                _run, self._connection, "executemany", operation, seq_of_parameters))

    def _take(self, outcome: tuple) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows is not None else collections.deque()


def _run(connection, method: str, operation: Any, parameters: Any) -> tuple:
    """In aiosqlite's thread: the whole statement on the sqlite3 connection."""
    cursor = connection._conn.cursor()
    try:
        if parameters is None:
            getattr(cursor, method)(operation)
        else:
            getattr(cursor, method)(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


@lru_cache(maxsize=1)
def dbapi() -> OneTripDBAPI:
    import sqlite3

    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
