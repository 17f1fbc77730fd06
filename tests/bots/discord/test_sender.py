"""The paced status-message sender against the fake Discord's REST API (real sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from bots.discord.sender import StatusSender
from tests.fixtures.fake_discord import FakeDiscord, wait_until

EDIT = r"/channels/\d+/messages/\d+"


def state(progress: int, terminal: bool = False) -> tuple[dict, tuple]:
    text = f"done {progress}" if terminal else f"at {progress}%"
    return {"content": text, "components": []}, ((2 if terminal else 1), progress)


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, **options):
    options.setdefault("edit_interval", 0.3)
    sender = StatusSender(token=fake.token, api_base=fake.api_base, **options)
    try:
        yield sender
    finally:
        await sender.close()


@pytest.fixture
async def fake():
    fake = await FakeDiscord().start()
    yield fake
    await fake.stop()


def edits(fake: FakeDiscord, message: dict):
    return fake.calls_to("PATCH", rf"/channels/{message['channel_id']}/messages/{message['id']}")


async def test_coalesces_to_the_newest_state_and_throttles_each_message(fake):
    message = fake.add_message("100")
    async with running(fake, edit_interval=0.4) as sender:
        for p in range(1, 41):
            sender.edit("100", message["id"], *state(p)[:1], rank=state(p)[1], terminal=False)
            await asyncio.sleep(0.03)
        sender.edit("100", message["id"], state(100, True)[0], rank=state(100, True)[1],
                    terminal=True)
        assert await sender.flush(10)
    calls = edits(fake, message)
    assert 3 <= len(calls) <= 6, [c.json["content"] for c in calls]  # not 41
    progress_calls = [c for c in calls if c.json["content"].startswith("at")]
    for a, b in zip(progress_calls, progress_calls[1:], strict=False):
        assert b.at - a.at >= 0.38
    shown = [int(c.json["content"].split()[-1].rstrip("%")) for c in calls]
    assert shown == sorted(shown)
    assert fake.messages[message["id"]]["content"] == "done 100"
    assert sender.stats.coalesced > 30


async def test_an_older_state_never_replaces_a_newer_one(fake):
    message = fake.add_message("100")
    async with running(fake) as sender:
        assert sender.edit("100", message["id"], *state(50)[:1], rank=state(50)[1], terminal=False)
        assert not sender.edit("100", message["id"], *state(40)[:1], rank=state(40)[1],
                               terminal=False)
        assert sender.edit("100", message["id"], state(100, True)[0], rank=state(100, True)[1],
                           terminal=True)
        assert not sender.edit("100", message["id"], *state(99)[:1], rank=state(99)[1],
                               terminal=False)
        assert await sender.flush(5)
        # a late progress event after the final state was delivered is ignored
        assert not sender.edit("100", message["id"], *state(99)[:1], rank=state(99)[1],
                               terminal=False)
        await asyncio.sleep(0.5)
    assert fake.messages[message["id"]]["content"] == "done 100"
    assert [c.json["content"] for c in edits(fake, message)][-1] == "done 100"


@pytest.mark.parametrize("via", [True, False])
async def test_429_retry_after_is_honoured_and_the_final_state_arrives(fake, via):
    message = fake.add_message("100")
    fake.inject_429("PATCH", EDIT, retry_after=0.8, count=2, via=via)
    async with running(fake) as sender:
        sender.edit("100", message["id"], state(100, True)[0], rank=state(100, True)[1],
                    terminal=True)
        assert await sender.flush(10)
    calls = edits(fake, message)
    assert [c.status for c in calls] == [429, 429, 200]
    assert calls[1].at - calls[0].at >= 0.8 and calls[2].at - calls[1].at >= 0.8
    assert sender.stats.rate_limited == 2
    assert fake.messages[message["id"]]["content"] == "done 100"


async def test_a_global_429_pauses_every_message(fake):
    one, two = fake.add_message("100"), fake.add_message("200")
    fake.inject_429("PATCH", EDIT, retry_after=1.0, count=1, is_global=True)
    async with running(fake) as sender:
        sender.edit("100", one["id"], state(100, True)[0], rank=state(100, True)[1],
                    terminal=True)
        await wait_until(lambda: fake.injected_429s == 1)
        sender.edit("200", two["id"], state(100, True)[0], rank=state(100, True)[1],
                    terminal=True)
        assert await sender.flush(10)
    limited = fake.calls_to("PATCH", EDIT, status=429)[0]
    later = [c for c in fake.calls_to("PATCH", EDIT) if c.at > limited.at]
    assert len(later) == 2 and all(c.at - limited.at >= 1.0 for c in later)


async def test_pacing_stays_inside_channel_buckets_without_a_single_429():
    fake = await FakeDiscord(channel_limit=(5, 1.0)).start()
    try:
        messages = [fake.add_message("100") for _ in range(10)]
        async with running(fake, edit_interval=0.1) as sender:
            for p in (10, 50, 90):
                for m in messages:
                    sender.edit("100", m["id"], *state(p)[:1], rank=state(p)[1], terminal=False)
                await asyncio.sleep(0.2)
            for m in messages:
                sender.edit("100", m["id"], state(100, True)[0], rank=state(100, True)[1],
                            terminal=True)
            assert await sender.flush(30)
        assert fake.limit_429s == 0 and sender.stats.rate_limited == 0
        assert all(fake.messages[m["id"]]["content"] == "done 100" for m in messages)
    finally:
        await fake.stop()


async def test_pacing_stays_under_the_global_limit_without_a_single_429():
    fake = await FakeDiscord(global_limit=(10, 1.0)).start()
    try:
        messages = [fake.add_message(str(1000 + i)) for i in range(25)]
        started = time.monotonic()
        async with running(fake, global_rate=8) as sender:
            for m in messages:
                sender.edit(m["channel_id"], m["id"], state(100, True)[0],
                            rank=state(100, True)[1], terminal=True)
            assert await sender.flush(30)
        assert fake.limit_429s == 0
        assert time.monotonic() - started >= (25 - 5) / 8 - 0.2
        assert all(fake.messages[m["id"]]["content"] == "done 100" for m in messages)
    finally:
        await fake.stop()


async def test_the_final_state_is_retried_through_server_errors(fake):
    message = fake.add_message("100")
    fake.inject_error("PATCH", EDIT, status=502, count=3)
    async with running(fake) as sender:
        sender.edit("100", message["id"], state(100, True)[0], rank=state(100, True)[1],
                    terminal=True)
        assert await sender.flush(15)
    assert [c.status for c in edits(fake, message)] == [502, 502, 502, 200]
    assert fake.messages[message["id"]]["content"] == "done 100"


async def test_progress_gives_up_on_errors_but_the_next_state_goes_through(fake):
    message = fake.add_message("100")
    fake.inject_error("PATCH", EDIT, status=500, count=2)
    async with running(fake, progress_attempts=2) as sender:
        sender.edit("100", message["id"], *state(30)[:1], rank=state(30)[1], terminal=False)
        await wait_until(lambda: sender.stats.dropped == 1, 10)
        sender.edit("100", message["id"], *state(60)[:1], rank=state(60)[1], terminal=False)
        assert await sender.flush(10)
    assert fake.messages[message["id"]]["content"] == "at 60%"


async def test_a_deleted_message_is_dropped_not_retried(fake):
    async with running(fake) as sender:
        sender.edit("100", "123", state(100, True)[0], rank=state(100, True)[1], terminal=True)
        assert await sender.flush(5)
        await asyncio.sleep(0.3)
    assert [c.status for c in fake.calls_to("PATCH", EDIT)] == [404]
    assert sender.stats.dropped == 1


async def test_the_follow_up_is_posted_after_the_final_edit(fake):
    message = fake.add_message("100")
    async with running(fake) as sender:
        def ping():
            sender.post("100", {"content": "<@1> ready"}, tag="ping:job_1")

        sender.edit("100", message["id"], state(100, True)[0], rank=state(100, True)[1],
                    terminal=True, then=ping)
        assert await sender.flush(5)
        await wait_until(lambda: len(fake.channel_messages("100")) == 2)
        assert not sender.post("100", {"content": "<@1> ready"}, tag="ping:job_1")  # once
    final_edit = edits(fake, message)[-1]
    post = fake.calls_to("POST", r"/channels/100/messages")[-1]
    assert post.at > final_edit.at and post.json["content"] == "<@1> ready"
