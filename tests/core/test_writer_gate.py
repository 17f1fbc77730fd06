"""core.db.WriterGate: the SQLite writers of one process, on any event loop, take turns
(``renderbot serve``: the API's engine and the in-process worker's, each on its loop)."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import func, select, update

from core import accounts
from core.db import Database, WriterGate, writer_gate
from core.models import Account


def _on_new_loop(coro_factory, results: list, index: int) -> threading.Thread:
    def main() -> None:
        results[index] = asyncio.run(coro_factory())

    thread = threading.Thread(target=main)
    thread.start()
    return thread


def test_holders_on_two_loops_never_overlap_and_all_get_it():
    gate = WriterGate()
    holding = 0
    most = 0
    lock = threading.Lock()

    async def writer() -> int:
        nonlocal holding, most
        done = 0
        for _ in range(200):
            assert await gate.acquire(5.0)
            with lock:
                holding += 1
                most = max(most, holding)
            await asyncio.sleep(0)  # let the other coroutines of this loop try
            with lock:
                holding -= 1
            gate.release()
            done += 1
        return done

    async def many() -> list[int]:
        return await asyncio.gather(*[writer() for _ in range(5)])

    results: list = [None, None]
    threads = [_on_new_loop(many, results, i) for i in range(2)]
    for thread in threads:
        thread.join(60)
    assert results == [[200] * 5, [200] * 5]
    assert most == 1


async def test_a_cancelled_waiter_does_not_keep_the_gate():
    gate = WriterGate()
    assert await gate.acquire(1.0)
    waiter = asyncio.create_task(gate.acquire(5.0))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    gate.release()
    assert await asyncio.wait_for(gate.acquire(1.0), 1.0)  # free again, not lost
    gate.release()


async def test_a_waiter_cancelled_as_the_gate_reaches_it_passes_it_on():
    gate = WriterGate()
    assert await gate.acquire(1.0)
    first = asyncio.create_task(gate.acquire(5.0))
    second = asyncio.create_task(gate.acquire(5.0))
    await asyncio.sleep(0.01)
    gate.release()  # handed to ``first`` (its wake-up is scheduled on this loop) ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    assert await asyncio.wait_for(second, 1.0)  # the gate went on to ``second``
    gate.release()


async def test_a_waiter_gives_up_after_its_bound():
    gate = WriterGate()
    assert await gate.acquire(1.0)
    assert await gate.acquire(0.05) is False  # the caller goes on ungated (SQLite decides)
    gate.release()
    assert await gate.acquire(0.05)
    gate.release()


def test_two_engines_on_one_file_on_two_loops_write_without_losing_an_update(sqlite_url):
    assert writer_gate(sqlite_url) is writer_gate(sqlite_url + "?timeout=5")  # one per file

    async def setup() -> str:
        db = Database(sqlite_url)
        try:
            async with db.transaction() as s:
                account = await accounts.create(session=s, name="gate")
            return account.id
        finally:
            await db.dispose()

    account_id = asyncio.run(setup())

    async def increments() -> int:
        db = Database(sqlite_url)  # an engine of its own, on this thread's loop

        async def one() -> None:
            async with db.transaction() as s:
                balance = await s.scalar(select(Account.balance).where(Account.id == account_id))
                await asyncio.sleep(0)  # read-modify-write: only safe if writers take turns
                await s.execute(update(Account).where(Account.id == account_id)
                                .values(balance=balance + 1))

        try:
            for _ in range(10):
                await asyncio.gather(*[one() for _ in range(10)])
            return 100
        finally:
            await db.dispose()

    results: list = [None, None]
    threads = [_on_new_loop(increments, results, i) for i in range(2)]
    for thread in threads:
        thread.join(120)
    assert results == [100, 100]

    async def total() -> int:
        db = Database(sqlite_url)
        try:
            async with db.read() as s:
                return await s.scalar(select(func.sum(Account.balance)))
        finally:
            await db.dispose()

    assert asyncio.run(total()) == 200
