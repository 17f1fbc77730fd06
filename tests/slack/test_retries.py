"""slack_sdk's retry handlers re-send a failed call as it was: a re-send must never carry an
older state than the newest one pending or delivered — in one process, and across
processes sharing Redis (two senders on one Redis here, as two workers would be)."""

from __future__ import annotations

import asyncio

import pytest

from bots.shared_state import RedisSharedState, SharedState, namespace
from bots.slack.notifier import SlackNotifier
from bots.slack.sender import SlackSender
from tests.fixtures.fake_slack import BOT_TOKEN, TEAM
from tests.slack.conftest import wait_for
from tests.slack.test_sender import job_state


def make_notifier(fake, shared) -> SlackNotifier:
    async def token_for(team_id: str):
        return BOT_TOKEN if team_id == TEAM else None

    return SlackNotifier(SlackSender(token_for=token_for, api_base=fake.api_base,
                                     update_interval=0.2, shared=shared))


def done(params: dict) -> bool:
    return "Done" in params.get("text", "")


def heads(fake) -> list[tuple[str, int]]:
    """(first line of the text, HTTP status) of every chat.update, in arrival order."""
    return [(c.params["text"].split("\n")[0].split(" — ")[0], c.status)
            for c in fake.calls_to("chat.update", status=None)]


def nothing_older_after_done(fake) -> None:
    seen = heads(fake)
    first_done = next(i for i, (head, _) in enumerate(seen) if "Done" in head)
    assert all("Done" in head for head, _ in seen[first_done:]), seen


@pytest.fixture
async def notifiers():
    made: list[SlackNotifier] = []
    yield made
    for n in made:
        await n.sender.close()


async def test_a_500_on_done_is_retried_by_the_library_and_a_stale_retry_is_not_sent(
    fake_slack, notifiers
):
    n = make_notifier(fake_slack, SharedState(namespace("slack", "test-one-process")))
    notifiers.append(n)
    ts = fake_slack.post_message("C1")
    fake_slack.inject_error("chat.update", status=500)  # the first "Rendering" update
    fake_slack.inject_error("chat.update", status=500, when=done)  # the first "Done"
    await n.job_changed(job_state(ts, progress=10), "progress")
    # "Rendering 10%" got its 500; slack_sdk's handler waits before re-sending it
    await wait_for(lambda: heads(fake_slack) == [("🎬 Rendering", 500)], 5)
    await n.job_changed(job_state(ts, status="completed", progress=100), "completed")
    assert await n.sender.flush(15)
    await asyncio.sleep(1.2)  # a stale re-send would arrive by now
    # Rendering was not re-sent (Done was waiting); Done's 500 was re-sent by the library
    assert heads(fake_slack) == [("🎬 Rendering", 500), ("✅ Done", 500), ("✅ Done", 200)]
    assert "Done" in fake_slack.message("C1", ts)["text"]
    assert n.sender.stats.errors == 1  # only Rendering's: the library's retry fixed Done


@pytest.fixture
def shared_pair(private_redis):
    prefix = namespace("slack", "test-two-processes")
    return RedisSharedState(prefix, private_redis.url), RedisSharedState(prefix, private_redis.url)


async def test_two_senders_on_redis_never_go_back_from_done(fake_slack, notifiers, shared_pair):
    a, b = (make_notifier(fake_slack, shared) for shared in shared_pair)
    notifiers += [a, b]
    # 1. A's "Rendering" fails with a 500 and is being retried when B has "Done"
    ts = fake_slack.post_message("C1")
    fake_slack.inject_error("chat.update", status=500)
    fake_slack.inject_error("chat.update", status=500, when=done)
    await a.job_changed(job_state(ts, progress=10), "progress")
    await wait_for(lambda: heads(fake_slack) == [("🎬 Rendering", 500)], 5)
    await b.job_changed(job_state(ts, status="completed", progress=100), "completed")
    assert await a.sender.flush(15) and await b.sender.flush(15)
    await asyncio.sleep(1.2)
    assert "Done" in fake_slack.message("C1", ts)["text"]
    nothing_older_after_done(fake_slack)

    # 2. B delivered "Done"; A's late "Rendering 90%" is dropped before it leaves
    before = len(heads(fake_slack))
    await a.job_changed(job_state(ts, progress=90), "progress")
    assert await a.sender.flush(5)
    await asyncio.sleep(0.3)
    assert len(heads(fake_slack)) == before
    assert "Done" in fake_slack.message("C1", ts)["text"]
