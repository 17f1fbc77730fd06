"""The page's way into core: one event-loop thread and one engine per database URL.

Streamlit reruns the script in a fresh thread on every interaction; async SQLAlchemy
wants one engine per event loop (house style 5). So a long-lived loop runs in a daemon
thread, owns the engine, and each call runs one core service in one transaction there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import streamlit as st

from core.db import Database
from core.settings import Settings, get_settings

T = TypeVar("T")


class Backend:
    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="dashboard-db", daemon=True
        )
        self.thread.start()
        self.db = self._run(self._open(url))

    @staticmethod
    async def _open(url: str) -> Database:
        return Database(url)

    def _run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, work: Callable[..., Awaitable[T]], **kwargs) -> T:
        """``await work(session=s, **kwargs)`` in one transaction (committed on success)."""

        async def go() -> T:
            async with self.db.transaction() as session:
                return await work(session=session, **kwargs)

        return self._run(go())


@st.cache_resource(show_spinner=False)
def _backend(url: str) -> Backend:
    return Backend(url)


def settings() -> Settings:
    return get_settings()


def call(work: Callable[..., Awaitable[T]], **kwargs) -> T:
    return _backend(settings().database_url).call(work, **kwargs)


def enqueuer():
    """The ``enqueue`` port for retries (None on the embedded default: a worker's
    reconciler picks the re-queued job up)."""
    from jobs.enqueue import enqueuer_for

    return enqueuer_for(settings())


def announcer():
    """Tells the workers' notifiers (chat message, callbacks) about a job the dashboard
    ended; None when no broker can reach a worker (embedded default)."""
    from jobs.enqueue import announcer_for

    return announcer_for(settings())
