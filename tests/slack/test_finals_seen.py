"""Slack's finals under the workspace's chat.update budget (Tier 3, about 50 a minute):
the channel sees the final state from the completion reply, broadcast to the channel
(chat.postMessage: its own limit, about one a second per channel), while the status
message waits for the budget; and a final waiting for that budget in one process makes
every process's progress yield it. Against the fake Slack (real HTTP) with those limits."""

from __future__ import annotations

import time

from bots import shared_state
from bots.slack.notifier import SlackNotifier
from bots.slack.sender import FINALS_HOLD, SlackSender
from tests.fixtures.fake_slack import BOT_TOKEN, TEAM
from tests.slack.conftest import wait_for
from tests.slack.test_app_flow import blocks_text
from tests.slack.test_sender import job_state

BUDGET = f"chat.update/{TEAM}"


def notifier(fake, shared=None, **options) -> SlackNotifier:
    async def token_for(team_id: str):
        return BOT_TOKEN

    options.setdefault("update_interval", 0.0)
    return SlackNotifier(SlackSender(token_for=token_for, api_base=fake.api_base,
                                     shared=shared, **options))


async def test_the_channel_sees_the_final_from_the_broadcast_reply_while_the_update_waits(
    fake_slack,
):
    fake_slack.limit("chat.update", 2)  # a tiny Tier 3: two a minute
    fake_slack.limit_per_channel("chat.postMessage", 1, 1.0)
    n = notifier(fake_slack, per_team_updates_per_minute=2, update_burst=1)
    ts = fake_slack.post_message("C7")
    try:
        await n.job_changed(job_state(ts, channel="C7", progress=10), "progress")
        await wait_for(lambda: len(fake_slack.versions("C7", ts)) == 2)
        await n.job_changed(job_state(ts, channel="C7", progress=50), "progress")
        await n.job_changed(job_state(ts, channel="C7", status="completed"), "completed")
        reply = await wait_for(lambda: next((m for m in fake_slack.channel_messages("C7")
                                             if m.get("thread_ts") == ts), None), 5)
        # the status message still waits for the workspace's budget (30 s away) ...
        assert "Done" not in blocks_text(fake_slack.message("C7", ts)["blocks"])
        # ... while the channel already shows the final state: the reply, broadcast
        assert reply["reply_broadcast"] is True
        assert reply["text"].startswith("<@U1> your render of *Teaser* is ready: <http")
        (call,) = fake_slack.calls_to("chat.postMessage")[-1:]
        assert call.params["reply_broadcast"] is True and call.params["thread_ts"] == ts
        assert fake_slack.over_limit == 0 and fake_slack.inside_retry_after == []
        assert len(fake_slack.calls_to("chat.update", status=None)) == 1
    finally:
        await n.sender.close()


async def test_a_final_refused_by_the_budget_marks_the_workspace_for_every_process(
    fake_slack,
):
    """B's final, refused by the full workspace budget (shared, as by worker processes on
    one Redis), marks the workspace "finals waiting" until its turn and a little after."""
    shared = shared_state.SharedState(f"test:finals:{time.monotonic_ns()}:")
    b = notifier(fake_slack, shared, per_team_updates_per_minute=30, update_burst=1)
    spent = 0
    while await shared.pace(BUDGET, 0.5, 2.0) == 0:  # the budget is spent (by other jobs)
        spent += 1
    assert spent >= 1
    ts = fake_slack.post_message("C8")
    try:
        assert await shared.blocked_for(f"{BUDGET}/finals-waiting") == 0
        await b.job_changed(job_state(ts, job_id="job_b", channel="C8", status="completed"),
                            "completed")
        await wait_for(lambda: b.sender.stats.waited > 0, 5)
        assert await shared.blocked_for(f"{BUDGET}/finals-waiting") > FINALS_HOLD
        assert fake_slack.calls_to("chat.update", status=None) == []
    finally:
        await b.sender.close()


async def test_progress_yields_the_budget_while_a_final_waits_elsewhere(fake_slack):
    """The budget has room, but another process's final waits (its mark): progress goes
    only after the mark."""
    shared = shared_state.SharedState(f"test:finals:{time.monotonic_ns()}:")
    a = notifier(fake_slack, shared, per_team_updates_per_minute=30, update_burst=30)
    ts = fake_slack.post_message("C10")
    await shared.block(f"{BUDGET}/finals-waiting", 1.0)  # as another process's final did
    marked_at = time.monotonic()
    try:
        await a.job_changed(job_state(ts, job_id="job_a", channel="C10", progress=40),
                            "progress")
        await wait_for(lambda: fake_slack.calls_to("chat.update"), 5)
        (call,) = fake_slack.calls_to("chat.update")
        assert call.at - marked_at >= 1.0  # not inside the mark
        assert "40%" in blocks_text(fake_slack.message("C10", ts)["blocks"])
    finally:
        await a.sender.close()
