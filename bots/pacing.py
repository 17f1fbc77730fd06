"""Paced delivery of chat status messages: one slot per message, always its newest state.

The platform-neutral half of :class:`bots.discord.sender.StatusSender` and
:class:`bots.slack.sender.SlackSender`. A platform sender subclasses :class:`PacedSender`
and supplies the HTTP call (:meth:`~PacedSender._call`, which answers with an
:class:`Outcome`) and its rate limits (:meth:`~PacedSender._admit`); this module decides
what goes when:

* **Coalescing**: one slot per message (``key``); a newer state replaces a pending one, an
  older state never replaces a newer one (``rank``) and a final (terminal) state is never
  replaced by a progress one, so a late progress event cannot undo "Done".
* **Per-message throttle**: at most one send every ``interval`` seconds per slot (final
  states skip the wait).
* **Order**: when the platform's budget is short, final states go first, then the slot
  that has waited longest, so every job's message moves.
* **Outcomes**: ``limited`` (429) waits ``retry_after`` and sends the newest state then,
  without counting as a failure; ``error`` retries with backoff — final states up to
  ``terminal_attempts`` times, progress up to ``progress_attempts`` (then it waits for the
  next state); ``permanent`` (deleted message, revoked token, ...) drops the slot.
* A slot whose final state was delivered (or dropped) is finished: later states for its
  key are refused, so a ping is posted once and "Done" stays.
* **Across processes** (``shared``, a :class:`bots.shared_state.SharedState`): before a
  call the sender takes the message's lease and checks no process delivered an equal or
  newer state (else the state is ``stale``: done, nothing sent); a busy lease or a shared
  budget says ``wait``. A library-level retry of the call asks :func:`still_current`
  first, so a re-send never carries an older state than the newest delivered or pending
  (that part in :mod:`bots.paced_delivery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp

from bots.paced_delivery import SharedDelivery, still_current
from bots.slots import (
    OK,
    STALE,
    OnSent,
    Outcome,
    Slot,
    Stats,
    Then,
    Wait,
    error,
    limited,
    permanent,
    wait,
)
from bots.token_bucket import TokenBucket

if TYPE_CHECKING:
    from bots.shared_state import SharedState

__all__ = ["OK", "STALE", "Outcome", "PacedSender", "Slot", "Stats", "TokenBucket", "Wait",
           "error", "limited", "permanent", "still_current", "wait"]


_FINISHED_KEPT = 10_000  # finished keys remembered before the older-than-an-hour ones go
_FLUSH_POLL = 0.02  # seconds between flush()'s looks


class PacedSender(SharedDelivery):
    """Sends the newest state of each slot, paced; subclasses add the platform.

    Create it anywhere; it starts its task on the running loop at the first :meth:`_put`.
    Subclasses implement :meth:`_call` and may override :meth:`_admit`, :meth:`_describe`,
    :meth:`_session_headers` and :meth:`_drop_clients`.
    """

    log = logging.getLogger("renderbot.pacing")
    task_name = "paced-sender"
    # end the task when nothing is pending (and free the connections; the next state
    # starts a new task), so a stopping worker loop leaves nothing behind
    stop_when_idle = False

    def __init__(
        self, *, interval: float, max_in_flight: int = 8, terminal_attempts: int = 12,
        progress_attempts: int = 3, timeout: float = 15.0, shared: SharedState | None = None,
    ) -> None:
        """``interval``: seconds between two sends to one message (final states skip it);
        ``max_in_flight``: calls at once; ``terminal_attempts`` / ``progress_attempts``:
        calls that fail (not 429s) before a final / progress state is given up;
        ``timeout``: seconds per HTTP call; ``shared``: versions, leases and budgets shared
        with the token's other senders (other processes), None for none."""
        self.interval = interval
        self.max_in_flight = max_in_flight
        self.terminal_attempts = terminal_attempts
        self.progress_attempts = progress_attempts
        self.timeout = timeout
        self.shared = shared
        self._owner = uuid.uuid4().hex[:12]
        self.stats = Stats()
        self._slots: dict[tuple, Slot] = {}
        self._finished: dict[tuple, float] = {}
        self._in_flight = 0
        self._paused_until = 0.0  # a shared limit of the whole token says: nobody before
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        # (slot key, payload, response time) of every successful call: tests and benchmarks
        self.on_sent: OnSent | None = None

    # --- public API (call on the sender's loop) ------------------------------------------

    async def flush(self, within: float = 30.0) -> bool:
        """Wait until nothing is pending or in flight; False on timeout."""
        deadline = time.monotonic() + within
        while self.pending:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_FLUSH_POLL)
        return True

    async def close(self) -> None:
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._disconnect()

    @property
    def pending(self) -> int:
        return sum(1 for s in self._slots.values() if s.pending or s.in_flight)

    # --- platform hooks ------------------------------------------------------------------

    async def _call(self, slot: Slot) -> Outcome:
        """Send ``slot.payload`` to ``slot.target``; learn from the answer (rate-limit
        headers, a 429's block) and say how it went. Transport errors are an ``error``."""
        raise NotImplementedError

    def _admit(self, slot: Slot, now: float) -> Wait | None:
        """Take the platform's leave to call for ``slot`` now (None), or say when to look
        again."""
        return None

    def _describe(self, slot: Slot) -> str:
        """The slot in a log line."""
        return repr(slot.key)

    def _session_headers(self) -> dict[str, str] | None:
        return None

    def _drop_clients(self) -> None:
        """The HTTP session is gone: forget whatever was bound to it."""

    def _released(self, slot: Slot) -> None:
        """The send that :meth:`_admit` let go is over (called or not)."""

    async def _shared_admit(self, slot: Slot) -> float:
        """The shared budgets' leave to call now (0.0), or seconds to wait (a limit of the
        whole token also calls :meth:`_pause`)."""
        return 0.0

    def _pause(self, seconds: float) -> None:
        """No call of this sender before ``seconds`` from now (the order is kept: the slot
        that waited longest goes first after the pause)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _lease_seconds(self) -> float:
        """How long a message's lease is held at most: the call with its library retries."""
        return 2 * self.timeout + 10

    # --- for subclasses ------------------------------------------------------------------

    def _put(
        self, key: tuple, target: Any, payload: dict[str, Any], *, rank: tuple,
        terminal: bool, then: Then | None = None,
    ) -> bool:
        """Make ``key`` show ``payload`` soon; False when an equal or newer state is already
        there or on its way (or its final state was delivered)."""
        if self._closed or key in self._finished:
            return False
        now = time.monotonic()
        slot = self._slots.get(key)
        if slot is None:
            slot = Slot(key, target, payload, rank, terminal, then=then, waiting_since=now)
            self._slots[key] = slot
        else:
            if rank <= slot.rank or slot.terminal and not terminal:
                return False
            if slot.pending:
                self.stats.coalesced += 1
            else:
                slot.waiting_since = now
            slot.payload, slot.rank, slot.terminal = payload, rank, terminal
            slot.then = then or slot.then
            slot.version += 1
            slot.failures = 0
        self._ensure_running()
        if self.shared is not None:  # senders elsewhere holding an older state skip it
            self._spawn(self._publish(slot.key, slot.rank))
        assert self._wake is not None
        self._wake.set()
        return True

    def _http(self) -> aiohttp.ClientSession:
        """This loop's HTTP session, made on first use."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self._session_headers())
            self._drop_clients()
        return self._session

    # --- internals -----------------------------------------------------------------------

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._session = None  # a session belongs to one loop
        self._drop_clients()
        self._task = loop.create_task(self._run(), name=self.task_name)

    async def _disconnect(self) -> None:
        session, self._session = self._session, None
        self._drop_clients()
        if session is not None:
            await session.close()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closed:
            wake_at = self._dispatch(time.monotonic())
            self._wake.clear()
            if wake_at is None and self.stop_when_idle and self._idle():
                self._task = None
                await self._disconnect()
                return
            timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
            if timeout is not None and timeout <= 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _idle(self) -> bool:
        return self._in_flight == 0 and not self.pending

    def _dispatch(self, now: float) -> float | None:
        """Start every call that may go now; return when to look again (None: on wake)."""
        if now < self._paused_until:
            return self._paused_until
        wake_at: float | None = None

        def later(at: float) -> None:
            nonlocal wake_at
            wake_at = at if wake_at is None else min(wake_at, at)

        ready = []
        for slot in self._slots.values():
            if not slot.pending or slot.in_flight:
                continue
            due = slot.not_before if slot.terminal else \
                max(slot.not_before, slot.paced_until, slot.last_sent + self.interval)
            if due > now:
                later(due)
                continue
            ready.append(slot)
        # final states first, then whoever has waited longest (fair across messages)
        ready.sort(key=lambda s: (not s.terminal, s.waiting_since))
        for slot in ready:
            if self._in_flight >= self.max_in_flight:
                break  # woken when a call finishes
            wait = self._admit(slot, now)
            if wait is not None:
                if wait.until is not None:
                    later(wait.until)
                if wait.stop:
                    break
                continue
            self._start(slot)
        return wake_at

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start(self, slot: Slot) -> None:
        slot.in_flight = True
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(slot, slot.version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, slot: Slot, version: int) -> None:
        payload = slot.payload
        try:
            outcome = await self._deliver(slot, version)
        except Exception as exc:  # noqa: BLE001 - the sender must keep going
            self.log.exception("sending %s failed unexpectedly", self._describe(slot))
            outcome = error(repr(exc))
        finally:
            slot.in_flight = False
            self._in_flight -= 1
            self._released(slot)
        now = time.monotonic()
        if outcome.kind == "ok":
            self._sent(slot, version, payload, now)
        elif outcome.kind == "stale":
            self.stats.superseded += 1
            self._superseded(slot, version)
        elif outcome.kind == "wait" and outcome.detail == "interval":
            self.stats.waited += 1
            slot.paced_until = now + outcome.retry_after  # a final state needn't wait
        elif outcome.kind == "wait":
            self.stats.waited += 1
            slot.not_before = now + outcome.retry_after
        elif outcome.kind == "limited":
            self.stats.rate_limited += 1
            slot.not_before = now + outcome.retry_after
        elif outcome.kind == "permanent":
            self.stats.errors += 1
            self._drop(slot, outcome.detail)
        else:
            self.stats.errors += 1
            self._failed(slot, now, outcome.detail)
        if self._wake is not None:
            self._wake.set()

    def _superseded(self, slot: Slot, version: int) -> None:
        """Another process delivered this state or a newer one: nothing to send for it."""
        slot.sent_version = max(slot.sent_version, version)
        slot.failures = 0
        if slot.terminal and not slot.pending:
            then, slot.then = slot.then, None
            self._forget(slot)
            if then is not None:
                try:
                    then()
                except Exception:  # noqa: BLE001
                    self.log.exception("follow-up after the final state of %s failed",
                                       self._describe(slot))

    def _sent(self, slot: Slot, version: int, payload: dict[str, Any], now: float) -> None:
        self.stats.sent += 1
        slot.sent_version = max(slot.sent_version, version)
        slot.last_sent = now
        slot.failures = 0
        if self.on_sent is not None:
            self.on_sent(slot.key, payload, now)
        if slot.terminal and not slot.pending:
            then, slot.then = slot.then, None
            self._forget(slot)
            if then is not None:
                try:
                    then()
                except Exception:  # noqa: BLE001 - a follow-up must not break the sender
                    self.log.exception("follow-up after the final state of %s failed",
                                       self._describe(slot))

    def _failed(self, slot: Slot, now: float, detail: str) -> None:
        slot.failures += 1
        limit = self.terminal_attempts if slot.terminal else self.progress_attempts
        if slot.failures >= limit:
            if slot.terminal:
                self._drop(slot, f"failed {slot.failures} times (last: {detail})",
                           level=logging.ERROR)
            else:
                self.stats.dropped += 1
                slot.sent_version = slot.version  # wait for the next state
                self.log.warning("%s failed %d times (last: %s); waiting for the next state",
                                 self._describe(slot), slot.failures, detail)
            return
        slot.not_before = now + min(30.0, 0.5 * 2 ** (slot.failures - 1))

    def _drop(self, slot: Slot, why: str, *, level: int = logging.WARNING) -> None:
        self.stats.dropped += 1
        if slot.terminal:
            self.stats.dropped_final += 1
        self.log.log(level, "giving up on %s%s: %s", self._describe(slot),
                     " and its FINAL state" if slot.terminal else "", why)
        self._forget(slot)

    def _forget(self, slot: Slot) -> None:
        self._slots.pop(slot.key, None)
        self._finished[slot.key] = time.monotonic()
        if len(self._finished) > _FINISHED_KEPT:
            cutoff = time.monotonic() - 3600
            self._finished = {k: t for k, t in self._finished.items() if t > cutoff}
