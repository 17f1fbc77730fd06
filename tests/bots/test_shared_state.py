"""What the chat senders of one token share (bots.shared_state): the same rules in process
memory (embedded default: the bot's and the worker's sender) and in Redis (every process:
two instances here, as two processes hold them), checked on both."""

from __future__ import annotations

import asyncio

import pytest

from bots.shared_state import RedisSharedState, SharedState, mark, namespace

PROGRESS, LATER, DONE = mark((1, 40, 0, 0)), mark((1, 60, 0, 0)), mark((2, 100, 0, 0))


@pytest.fixture(params=["memory", "redis"])
def pair(request):
    """Two views of one shared state (two processes' worth in Redis)."""
    prefix = namespace("discord", f"test-{request.param}")
    if request.param == "memory":
        state = SharedState(prefix)
        return state, state
    url = request.getfixturevalue("private_redis").url
    return RedisSharedState(prefix, url), RedisSharedState(prefix, url)


def test_marks_order_like_the_ranks():
    ranks = [(0, 0, 0, -3), (0, 0, 0, -1), (1, 0, 0, 0), (1, 5, 0, 0), (1, 5, 1, 0), (2, 100, 0, 0)]
    assert [mark(r) for r in ranks] == sorted(mark(r) for r in ranks)


async def test_one_lease_per_message_and_never_an_older_version(pair):
    a, b = pair
    assert await a.claim("m1", PROGRESS, "A", 5) == ("go", 0.0)
    assert (await b.claim("m1", DONE, "B", 5))[0] == "busy"  # A's call is in flight
    assert await a.current("m1", PROGRESS, "A", 5)  # a retry of A's call may go
    await a.delivered("m1", PROGRESS, "A")
    assert await b.claim("m1", DONE, "B", 5) == ("go", 0.0)
    assert not await a.current("m1", PROGRESS, "A", 5)  # the lease is B's now
    await b.delivered("m1", DONE, "B")
    assert (await a.claim("m1", LATER, "A2", 5))[0] == "stale"  # older than Done
    assert (await a.claim("m1", DONE, "A3", 5))[0] == "stale"  # equal: sent already


async def test_a_newer_state_waiting_elsewhere_goes_instead_of_an_older_one(pair):
    a, b = pair
    assert await b.claim("m2", LATER, "B", 5) == ("go", 0.0)
    await b.release("m2", "B")  # e.g. a shared budget said wait: B still holds LATER
    assert (await a.claim("m2", PROGRESS, "A", 5))[0] == "stale"
    assert (await b.claim("m2", LATER, "B", 5))[0] == "go"


async def test_the_interval_holds_across_senders_but_not_for_a_final_state(pair):
    a, b = pair
    assert (await a.claim("m3", PROGRESS, "A", 5, 0.5))[0] == "go"
    await a.delivered("m3", PROGRESS, "A")
    claim, seconds = await b.claim("m3", LATER, "B", 5, 0.5)
    assert claim == "wait" and 0.2 < seconds <= 0.5
    assert (await b.claim("m3", DONE, "B", 5, 0.0))[0] == "go"


async def test_an_expired_lease_is_taken_over(pair):
    a, b = pair
    assert (await a.claim("m4", PROGRESS, "A", 0.1))[0] == "go"  # A died holding it
    await asyncio.sleep(0.2)
    assert (await b.claim("m4", LATER, "B", 5))[0] == "go"


async def test_budgets_hold_for_every_sender(pair):
    a, b = pair
    route = "PATCH /channels/{channel_id}/messages/{message_id}"
    # a 429 seen by A blocks the token (global) for B
    await a.block("global", 0.5)
    assert 0.3 < await b.blocked_for("global") <= 0.5
    # a bucket learnt by A (one call left) is spent by B, then B waits for its reset
    await a.learn(route, "7001", "bucket-hash", 1, 0.8)
    assert await b.take(route, "7001") == 0.0
    assert 0.5 < await b.take(route, "7001") <= 0.8
    assert await b.take(route, "7002") == 0.0  # another channel: another bucket
    # a 429 on a route blocks it by its bucket for everyone
    await a.block_route(route, "7003", None, 0.6)
    assert 0.3 < await b.take(route, "7003") <= 0.6
    # the token's global pace: evenly spaced calls, a refused one learns when it may go
    assert await a.pace("global", 10, 0.0) == 0.0
    assert 0.05 < await b.pace("global", 10, 0.0) <= 0.1
