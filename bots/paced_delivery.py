"""One paced call on its way out: under the message's lease and version check shared with the
token's other senders (:mod:`bots.shared_state`), and :func:`still_current` for a client
library's retry handler. :class:`bots.pacing.PacedSender` inherits :class:`SharedDelivery`;
:mod:`bots.pacing` re-exports :func:`still_current`."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bots.slots import STALE, Outcome, Slot, wait

if TYPE_CHECKING:
    from bots.shared_state import SharedState

_BUSY_WAIT = 0.05  # seconds before looking again at a message another process is sending

# The call in flight on this task: "may a library-level retry re-send it?" (see still_current)
_current_call: contextvars.ContextVar[Callable[[], Awaitable[bool]] | None] = \
    contextvars.ContextVar("renderbot_paced_call", default=None)


async def still_current() -> bool:
    """For a client library's retry handler, right before it re-sends: True when the call
    in flight still carries the newest state of its message (no newer one is pending here,
    none equal or newer was delivered by any process, the message's lease is still ours).
    True outside a paced call."""
    check = _current_call.get()
    return True if check is None else await check()


class SharedDelivery:
    """:class:`bots.pacing.PacedSender`'s calls as they leave: a new state is announced to
    the token's other senders, and a call goes under the message's shared lease and version
    check, with :func:`still_current` answering for it. Uses the sender's ``shared``,
    ``interval``, ``_owner``, :meth:`_call`, :meth:`_shared_admit` and
    :meth:`_lease_seconds`."""

    shared: SharedState | None
    interval: float
    _owner: str

    async def _publish(self, key: tuple, rank: tuple) -> None:
        from bots.shared_state import mark

        await self.shared.pending("|".join(map(str, key)), mark(rank))

    async def _deliver(self, slot: Slot, version: int) -> Outcome:
        """The call, under the message's shared lease and version check."""
        shared = self.shared
        if shared is None:
            return await self._call_guarded(slot, version, None)
        from bots.shared_state import mark

        key, mark_, hold = "|".join(map(str, slot.key)), mark(slot.rank), self._lease_seconds()
        owner = f"{self._owner}:{version}"
        claim, seconds = await shared.claim(key, mark_, owner, hold,
                                            0.0 if slot.terminal else self.interval)
        if claim == "stale":
            return STALE
        if claim == "busy":
            return wait(_BUSY_WAIT)
        if claim == "wait":  # another process edited the message within the interval
            return Outcome("wait", "interval", seconds)
        delivered = False
        try:
            seconds = await self._shared_admit(slot)
            if seconds > 0:
                return wait(seconds)

            async def current() -> bool:
                return await shared.current(key, mark_, owner, hold)

            outcome = await self._call_guarded(slot, version, current)
            if outcome.kind == "ok":
                await shared.delivered(key, mark_, owner)
                delivered = True
            return outcome
        finally:
            if not delivered:
                await shared.release(key, owner)

    async def _call_guarded(self, slot: Slot, version: int, shared_current) -> Outcome:
        async def check() -> bool:
            if slot.version != version:
                return False  # a newer state waits here: send that one instead
            return True if shared_current is None else await shared_current()

        token = _current_call.set(check)
        try:
            return await self._call(slot)
        finally:
            _current_call.reset(token)
