"""The worker-side status updates: the Slack notifier and its paced sender against the
fake Slack Web API (real HTTP), fed with job states as the worker produces them."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime

import pytest

from bots.slack.budget import TokenBucket
from bots.slack.notifier import SlackNotifier
from bots.slack.sender import SlackSender
from core.schemas import JobRead
from tests.fixtures.fake_slack import BOT_TOKEN, TEAM
from tests.slack.conftest import wait_for
from tests.slack.test_app_flow import blocks_text

OTHER_TEAM, OTHER_TOKEN = "T0002", "xoxb-fake-0002"


def job_state(ts: str, *, job_id: str = "job_1", status: str = "processing", progress: int = 0,
              channel: str = "C1", team: str = TEAM, **extra) -> JobRead:
    return JobRead(
        id=job_id, status=status, progress=progress, project_id="prj_1", account_id="acc_1",
        settings={"resolution": [320, 180], "frame_rate": 24, "duration": 1, "quality": "low",
                  "effects": []},
        credit_cost=1, created_at=datetime.now(UTC), backend="local",
        result_url="http://127.0.0.1:1/d/job_1?exp=1&sig=x" if status == "completed" else None,
        origin={"platform": "slack", "team_id": team, "channel_id": channel, "message_ts": ts,
                "user_id": "U1", "title": "Teaser"},
        **extra,
    )


def notifier(fake, **options) -> SlackNotifier:
    tokens = {TEAM: BOT_TOKEN, OTHER_TEAM: OTHER_TOKEN}

    async def token_for(team_id: str):
        return tokens.get(team_id)

    options.setdefault("update_interval", 0.2)
    return SlackNotifier(SlackSender(token_for=token_for, api_base=fake.api_base, **options))


@pytest.fixture
async def slack_notifier(fake_slack):
    made = []

    def make(**options):
        made.append(notifier(fake_slack, **options))
        return made[-1]

    yield make
    for n in made:
        await n.sender.close()


def percents(fake, channel, ts) -> list[int]:
    texts = [blocks_text(m["blocks"]) for _, m in fake.versions(channel, ts)[1:]]
    return [100 if "Done" in t else int(re.search(r"` (\d+)%", t)[1]) for t in texts]


async def test_progress_is_coalesced_throttled_and_never_goes_backwards(fake_slack, slack_notifier):
    n = slack_notifier(update_interval=0.3)
    ts = fake_slack.post_message("C1")
    began = time.monotonic()
    for p in range(0, 100, 5):
        await n.job_changed(job_state(ts, progress=p), "progress")
        await asyncio.sleep(0.03)
    await n.job_changed(job_state(ts, status="completed", progress=100), "completed")
    await n.job_changed(job_state(ts, progress=95), "progress")  # late: ignored
    assert await n.sender.flush(10)
    elapsed = time.monotonic() - began
    seen = percents(fake_slack, "C1", ts)
    assert seen == sorted(seen) and seen[-1] == 100
    assert len(seen) <= elapsed / 0.3 + 2, seen  # one update per 0.3 s, plus the final
    assert n.sender.stats.coalesced > 0
    final = fake_slack.message("C1", ts)
    assert "<@U1> Your video is ready." in blocks_text(final["blocks"])
    # the completion is announced once, in the message's thread, with a mention
    await n.job_changed(job_state(ts, status="completed", progress=100), "completed")
    ping = await wait_for(lambda: [m for m in fake_slack.channel_messages("C1")
                                   if m.get("thread_ts") == ts])
    await asyncio.sleep(0.3)
    assert len([m for m in fake_slack.channel_messages("C1") if m.get("thread_ts") == ts]) == 1
    assert ping[0]["text"] == ("<@U1> your render of *Teaser* is ready: "
                               "<http://127.0.0.1:1/d/job_1?exp=1&sig=x|download the video>")


async def test_updates_stay_inside_the_workspace_budget_and_finals_all_arrive(
    fake_slack, slack_notifier
):
    per_minute, burst = 600.0, 4  # 10 a second, to keep the test short
    n = slack_notifier(update_interval=0.0, per_team_updates_per_minute=per_minute,
                       update_burst=burst)
    fake_slack.tokens[OTHER_TOKEN] = OTHER_TEAM
    jobs = [(f"job_{i}", fake_slack.post_message("C1")) for i in range(20)]
    other_ts = fake_slack.post_message("C2")
    began = time.monotonic()
    for step in range(1, 26):  # 2.5 s of progress from 20 jobs: more than the budget
        for job_id, ts in jobs:
            await n.job_changed(job_state(ts, job_id=job_id, progress=step * 4), "progress")
        await asyncio.sleep(0.1)
    # another workspace is not slowed down by this one's budget
    other_sent = time.monotonic()
    await n.job_changed(job_state(other_ts, job_id="job_x", team=OTHER_TEAM, channel="C2",
                                  progress=50), "progress")
    await wait_for(lambda: len(fake_slack.versions("C2", other_ts)) > 1)
    assert time.monotonic() - other_sent < 0.5
    for job_id, ts in jobs:
        await n.job_changed(job_state(ts, job_id=job_id, status="completed", progress=100),
                            "completed")
    # every final state arrives (the thread pings follow at Slack's 1 a second per channel)
    await wait_for(lambda: all("Done" in blocks_text(fake_slack.message("C1", ts)["blocks"])
                               for _, ts in jobs), within=30)
    elapsed = time.monotonic() - began
    mine = [c for c in fake_slack.calls_to("chat.update", status=None) if c.team == TEAM]
    allowed = burst + per_minute / 60 * elapsed + 1
    assert len(mine) <= allowed, (len(mine), allowed)
    assert n.sender.stats.dropped_final == 0 and n.sender.stats.rate_limited == 0
    # fair: every job's message showed progress during the run, not just the first few
    assert all(len(fake_slack.versions("C1", ts)) >= 3 for _, ts in jobs)
    assert n.sender.stats.coalesced > 0


async def test_429_blocks_the_workspace_for_retry_after_and_the_final_arrives(
    fake_slack, slack_notifier
):
    n = slack_notifier()
    ts = fake_slack.post_message("C1")
    fake_slack.inject_429("chat.update", count=2, retry_after=1)
    await n.job_changed(job_state(ts, progress=40), "progress")
    await n.job_changed(job_state(ts, status="completed", progress=100), "completed")
    assert await n.sender.flush(15)
    calls = fake_slack.calls_to("chat.update", status=None)
    assert [c.status for c in calls] == [429, 429, 200]
    assert calls[1].at - calls[0].at >= 1.0 and calls[2].at - calls[1].at >= 1.0
    assert "Done" in blocks_text(calls[-1].params["blocks"])
    assert n.sender.stats.rate_limited == 2 and n.sender.stats.dropped == 0


async def test_final_state_is_retried_through_server_errors(fake_slack, slack_notifier):
    n = slack_notifier()
    ts = fake_slack.post_message("C1")
    fake_slack.inject_error("chat.update", count=3, status=500, error="internal_error")
    await n.job_changed(job_state(ts, status="failed", progress=30,
                                  error="the composition crashed"), "failed")
    assert await n.sender.flush(15)
    calls = fake_slack.calls_to("chat.update", status=None)
    assert [c.status for c in calls] == [500, 500, 500, 200]
    text = blocks_text(fake_slack.message("C1", ts)["blocks"])
    assert "The render failed: the composition crashed. Refunded 1 credit." in text
    ping = await wait_for(lambda: [m for m in fake_slack.channel_messages("C1")
                                   if m.get("thread_ts") == ts])
    assert "failed. Refunded 1 credit." in ping[0]["text"]


async def test_a_deleted_message_is_given_up_at_once(fake_slack, slack_notifier):
    n = slack_notifier()
    await n.job_changed(job_state("1.000001", status="completed", progress=100), "completed")
    assert await n.sender.flush(5)
    assert len(fake_slack.calls_to("chat.update", status=None)) == 1
    assert n.sender.stats.dropped_final == 1


async def test_jobs_without_a_slack_status_message_are_ignored(fake_slack, slack_notifier):
    n = slack_notifier()
    await n.job_changed(job_state("", progress=10), "progress")  # not posted yet
    discord = job_state("1.1", progress=10).model_copy(update={"origin": {"platform": "discord"}})
    await n.job_changed(discord, "progress")
    await asyncio.sleep(0.2)
    assert fake_slack.calls == []


def test_token_bucket_allows_burst_then_rate_and_blocks_on_429():
    now = [100.0]
    bucket = TokenBucket(60, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.ready_at() == pytest.approx(101.0)
    now[0] = 101.0
    assert bucket.take() and not bucket.take()
    bucket.block(5)  # a 429 with Retry-After: 5
    now[0] = 105.5
    assert not bucket.take() and bucket.ready_at() == pytest.approx(106.0)
    now[0] = 106.0
    assert bucket.take() and not bucket.take()  # the retry, then the rate again
    assert bucket.ready_at() == pytest.approx(107.0)
