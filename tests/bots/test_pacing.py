"""The paced slot queue both chat senders share (bots.pacing), on a scripted platform.

The platform here is the smallest real one: its call records what was sent and when, and
answers with the outcomes a test scripts (then ``ok``); no HTTP. The senders' own tests
(tests/bots/discord/test_sender.py, tests/slack/test_sender.py) cover the platforms.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bots.pacing import OK, Outcome, PacedSender, Slot, Wait, error, limited, permanent


class ScriptedSender(PacedSender):
    task_name = "scripted-sender"

    def __init__(self, *outcomes: Outcome, **options) -> None:
        defaults = dict(interval=0.2, max_in_flight=8, terminal_attempts=3,
                        progress_attempts=2, timeout=5.0)
        super().__init__(**{**defaults, **options})
        self.script = list(outcomes)
        self.calls: list[tuple[float, tuple, dict]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed_until = 0.0  # _admit refuses everything before this (monotonic) time
        self.stop_on_refusal = False
        self.refused: list[float] = []  # the ``now`` of each refused admission

    def put(self, key: str, payload: dict, *, rank: tuple, terminal: bool = False,
            then=None) -> bool:
        return self._put((key,), None, payload, rank=rank, terminal=terminal, then=then)

    def _admit(self, slot: Slot, now: float) -> Wait | None:
        if now < self.closed_until:
            self.refused.append(now)
            return Wait(self.closed_until, stop=self.stop_on_refusal)
        return None

    async def _call(self, slot: Slot) -> Outcome:
        self.calls.append((time.monotonic(), slot.key, slot.payload))
        await self.gate.wait()
        return self.script.pop(0) if self.script else OK

    def sent(self, key: str) -> list[dict]:
        return [payload for _, k, payload in self.calls if k == (key,)]

    def times(self, key: str) -> list[float]:
        return [at for at, k, _ in self.calls if k == (key,)]


@pytest.fixture
async def make():
    made: list[ScriptedSender] = []

    def make(*outcomes: Outcome, **options) -> ScriptedSender:
        made.append(ScriptedSender(*outcomes, **options))
        return made[-1]

    yield make
    for sender in made:
        await sender.close()


async def wait_until(condition, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def progress(p: int) -> tuple[dict, tuple]:
    return {"text": f"at {p}%"}, (1, p)


async def test_pending_states_coalesce_to_the_newest(make):
    sender = make(interval=0.3)
    for p in range(1, 11):
        payload, rank = progress(p)
        assert sender.put("m", payload, rank=rank)
    assert await sender.flush(5)
    # all ten were given before the sender's task looked: one call, with the newest
    assert sender.sent("m") == [{"text": "at 10%"}]
    assert sender.stats.coalesced == 9 and sender.stats.sent == 1


async def test_a_state_arriving_while_one_is_in_flight_is_sent_after_it(make):
    sender = make(interval=0.0)
    sender.gate.clear()
    sender.put("m", progress(10)[0], rank=progress(10)[1])
    await asyncio.sleep(0.05)
    for p in (20, 30):
        sender.put("m", progress(p)[0], rank=progress(p)[1])
    sender.gate.set()
    assert await sender.flush(5)
    assert sender.sent("m") == [{"text": "at 10%"}, {"text": "at 30%"}]


async def test_an_older_or_equal_state_never_replaces_a_newer_one(make):
    sender = make()
    assert sender.put("m", {"text": "at 50%"}, rank=(1, 50))
    assert not sender.put("m", {"text": "at 40%"}, rank=(1, 40))
    assert not sender.put("m", {"text": "at 50% again"}, rank=(1, 50))
    assert await sender.flush(5)
    assert sender.sent("m") == [{"text": "at 50%"}]


async def test_a_terminal_state_is_never_overwritten_and_finishes_the_slot(make):
    sender = make()
    sender.gate.clear()
    assert sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
    # even a higher-ranked progress state cannot replace the final one
    assert not sender.put("m", {"text": "at 99%"}, rank=(3, 0))
    sender.gate.set()
    assert await sender.flush(5)
    assert sender.sent("m") == [{"text": "done"}]
    # delivered: the message is finished, nothing more goes to it
    assert not sender.put("m", {"text": "done again"}, rank=(9, 9), terminal=True)
    assert sender.pending == 0


async def test_then_runs_once_after_the_final_state_is_delivered(make):
    sender = make()
    ran: list[int] = []
    sender.gate.clear()
    sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True,
               then=lambda: ran.append(len(sender.calls)))
    await asyncio.sleep(0.05)
    assert ran == []  # not before the final state arrived
    sender.gate.set()
    assert await sender.flush(5)
    await asyncio.sleep(0.05)
    assert ran == [1]


async def test_a_failing_then_does_not_stop_the_sender(make):
    sender = make()

    def boom() -> None:
        raise RuntimeError("follow-up failed")

    sender.put("a", {"text": "done"}, rank=(2, 100), terminal=True, then=boom)
    assert await sender.flush(5)
    sender.put("b", {"text": "done"}, rank=(2, 100), terminal=True)
    assert await sender.flush(5)
    assert sender.sent("b") == [{"text": "done"}]


async def test_finals_go_first_then_the_longest_waiting(make):
    sender = make(max_in_flight=1, interval=0.0)
    sender.gate.clear()
    sender.put("first", {"text": "at 1%"}, rank=(1, 1))  # takes the only call
    await asyncio.sleep(0.05)
    for key in ("b", "c"):
        sender.put(key, {"text": "at 1%"}, rank=(1, 1))
        await asyncio.sleep(0.01)
    sender.put("final", {"text": "done"}, rank=(2, 100), terminal=True)
    # a newer state for "b" keeps its place in the queue (it has waited since its first)
    sender.put("b", {"text": "at 2%"}, rank=(1, 2))
    sender.gate.set()
    assert await sender.flush(5)
    assert [key for _, (key,), _ in sender.calls] == ["first", "final", "b", "c"]
    assert sender.sent("b") == [{"text": "at 2%"}]


async def test_each_message_waits_the_interval_but_a_final_state_does_not(make):
    sender = make(interval=0.4)
    sender.put("m", {"text": "at 10%"}, rank=(1, 10))
    sender.put("other", {"text": "at 10%"}, rank=(1, 10))
    await asyncio.sleep(0.05)
    sender.put("m", {"text": "at 20%"}, rank=(1, 20))
    sender.put("other", {"text": "at 20%"}, rank=(1, 20))
    await wait_until(lambda: len(sender.times("m")) == 2)
    sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
    assert await sender.flush(5)
    first, second, final = sender.times("m")
    assert second - first >= 0.39
    assert final - second < 0.39  # the final state went at once, not after the interval
    assert sender.sent("m")[-1] == {"text": "done"}
    # the other message kept its own pace, independent of the first
    assert len(sender.times("other")) == 2


async def test_a_final_state_is_retried_with_backoff_until_it_arrives(make):
    sender = make(error("HTTP 500"), error("HTTP 502"), terminal_attempts=3)
    sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
    assert await sender.flush(10)
    times = sender.times("m")
    assert len(times) == 3
    assert times[1] - times[0] >= 0.49 and times[2] - times[1] >= 0.99  # 0.5 s, then 1 s
    assert sender.stats.errors == 2 and sender.stats.sent == 1 and sender.stats.dropped == 0


@pytest.mark.parametrize(("outcomes", "calls"), [
    ([error("HTTP 500"), error("HTTP 500")], 2),
    ([permanent("message_not_found")], 1),
], ids=["after-its-attempts", "at-once-on-a-permanent-error"])
async def test_a_final_state_given_up_finishes_the_slot(make, outcomes, calls):
    sender = make(*outcomes, terminal_attempts=2)
    sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
    assert await sender.flush(5)
    assert len(sender.times("m")) == calls
    assert sender.stats.errors == calls
    assert sender.stats.dropped == 1 and sender.stats.dropped_final == 1
    assert not sender.put("m", {"text": "done"}, rank=(3, 0), terminal=True)


async def test_progress_gives_up_sooner_and_waits_for_the_next_state(make):
    sender = make(error("HTTP 500"), error("HTTP 500"), progress_attempts=2, interval=0.0)
    sender.put("m", {"text": "at 30%"}, rank=(1, 30))
    assert await sender.flush(5)
    assert len(sender.times("m")) == 2
    assert sender.stats.dropped == 1 and sender.stats.dropped_final == 0
    assert sender.put("m", {"text": "at 60%"}, rank=(1, 60))  # not finished: next state goes
    assert await sender.flush(5)
    assert sender.sent("m")[-1] == {"text": "at 60%"}


async def test_a_rate_limit_waits_retry_after_and_is_not_a_failure(make):
    sender = make(limited(0.5), limited(0.5), terminal_attempts=2)
    sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
    assert await sender.flush(5)
    times = sender.times("m")
    assert len(times) == 3 and times[1] - times[0] >= 0.49 and times[2] - times[1] >= 0.49
    assert sender.stats.rate_limited == 2 and sender.stats.errors == 0
    assert sender.stats.dropped == 0


async def test_a_platform_limit_delays_the_call_until_admitted(make):
    sender = make()
    sender.closed_until = time.monotonic() + 0.4
    sender.put("a", {"text": "at 1%"}, rank=(1, 1))
    sender.put("b", {"text": "at 1%"}, rank=(1, 1))
    assert await sender.flush(5)
    assert all(at >= sender.closed_until for at, _, _ in sender.calls)
    # a per-slot limit asks about every slot in a pass
    assert sender.refused.count(sender.refused[0]) == 2


async def test_a_shared_limit_stops_the_pass_at_the_first_refusal(make):
    sender = make()
    sender.stop_on_refusal = True
    sender.closed_until = time.monotonic() + 0.4
    for key in "abc":
        sender.put(key, {"text": "at 1%"}, rank=(1, 1))
    assert await sender.flush(5)
    assert len(sender.calls) == 3
    assert len(set(sender.refused)) == len(sender.refused)  # one refusal per pass


async def test_flush_times_out_while_a_call_hangs_then_succeeds(make):
    sender = make()
    sender.gate.clear()
    sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
    assert sender.pending == 1
    assert not await sender.flush(0.2)
    sender.gate.set()
    assert await sender.flush(5)
    assert sender.pending == 0


async def test_close_cancels_calls_in_flight_and_refuses_new_states(make):
    sender = make()
    sender.gate.clear()
    sender.put("m", {"text": "at 10%"}, rank=(1, 10))
    await asyncio.sleep(0.05)
    await sender.close()
    assert [t for t in asyncio.all_tasks() if t.get_name() == "scripted-sender"] == []
    assert not sender.put("other", {"text": "at 10%"}, rank=(1, 10))
    sender.gate.set()
    await asyncio.sleep(0.05)
    assert len(sender.calls) == 1


class IdleStoppingSender(ScriptedSender):
    stop_when_idle = True
    task_name = "idle-stopping-sender"


def running(name: str) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]


async def test_an_idle_stopping_sender_ends_its_task_and_starts_again():
    sender = IdleStoppingSender()
    try:
        sender.put("m", {"text": "at 10%"}, rank=(1, 10))
        assert running("idle-stopping-sender")
        assert await sender.flush(5)
        await asyncio.sleep(0.05)
        assert running("idle-stopping-sender") == []
        sender.put("m", {"text": "done"}, rank=(2, 100), terminal=True)
        assert await sender.flush(5)
        assert sender.sent("m")[-1] == {"text": "done"}
    finally:
        await sender.close()
