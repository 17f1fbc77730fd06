"""Status edits through the Confirm interaction's webhook (its token's 15 minutes), then
through the bot token's channel route: the notifier and its paced sender against the fake
Discord (real sockets), which models both routes as Discord documents them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

import pytest

from bots import shared_state
from bots.discord import interaction_tokens
from bots.discord.notifier import DiscordNotifier
from bots.discord.sender import StatusSender
from core.schemas import JobRead
from tests.bots.discord.conftest import CHANNEL
from tests.bots.discord.test_bot_flow import discord_account, jobs_of, submitted
from tests.fixtures.fake_discord import FakeDiscord, wait_until

SETTINGS = {"resolution": [320, 180], "frame_rate": 24, "duration": 1, "quality": "low",
            "effects": []}


def job(message: dict, *, status: str = "processing", progress: int = 0) -> JobRead:
    origin = {"platform": "discord", "channel_id": message["channel_id"],
              "message_id": message["id"], "user_id": "4242", "title": "Teaser"}
    done = status == "completed"
    return JobRead(id="job_webhook1", status=status, progress=100 if done else progress,
                   project_id="prj_1", account_id="acc_1", settings=SETTINGS, credit_cost=1,
                   created_at=datetime.now(UTC), backend="local", origin=origin,
                   result_url="https://example.invalid/d/job_webhook1" if done else None)


@contextlib.asynccontextmanager
async def notifier_for(fake: FakeDiscord, **options):
    options.setdefault("edit_interval", 0.2)
    shared = shared_state.SharedState(f"test:{uuid.uuid4().hex}:")  # the process's memory
    sender = StatusSender(token=fake.token, api_base=fake.api_base, shared=shared, **options)
    try:
        yield DiscordNotifier(sender), shared
    finally:
        await sender.close()


def webhook_edits(fake: FakeDiscord, message: dict):
    return fake.calls_to("PATCH", rf"/webhooks/{fake.app_id}/[^/]+/messages/{message['id']}")


def channel_edits(fake: FakeDiscord, message: dict):
    return fake.calls_to("PATCH", rf"/channels/{message['channel_id']}/messages/{message['id']}")


@pytest.fixture
async def short_lived():
    fake = await FakeDiscord(token_ttl=1.5).start()
    yield fake
    await fake.stop()


async def test_an_edit_in_the_tokens_life_goes_through_the_webhook_outside_the_global_limit(
    fake_discord,
):
    fake = fake_discord
    token, followup = fake.add_followup("300")
    other = fake.add_message("301")  # posted with the bot token: its edits are global
    async with notifier_for(fake) as (notifier, shared):
        await interaction_tokens.remember(shared, followup["id"], app_id=fake.app_id,
                                          token=token)
        # the bot token's global limit is hit: 3 s in which no bot-token call may go
        fake.inject_429("PATCH", rf"/channels/301/messages/{other['id']}", retry_after=3.0,
                        is_global=True)
        await notifier.job_changed(job(other, progress=10), "progress")
        await wait_until(lambda: fake.injected_429s == 1, 5)
        await notifier.job_changed(job(followup, progress=10), "progress")
        await wait_until(lambda: "10%" in fake.messages[followup["id"]]["content"], 2)
        await notifier.job_changed(job(followup, status="completed"), "completed")
        await wait_until(lambda: "**Done**" in fake.messages[followup["id"]]["content"], 2)
        assert await notifier.sender.flush(10)
    limited = channel_edits(fake, other)[0]
    sent = webhook_edits(fake, followup)
    assert [c.status for c in sent] == [200, 200]
    # inside the global 429's window, without the bot token: that limit is not theirs
    assert all(c.at - limited.at < 3.0 for c in sent)
    assert all(c.auth is None and token in c.path for c in sent)
    assert channel_edits(fake, followup) == []
    assert [c.status for c in channel_edits(fake, other)] == [429, 200]
    assert fake.inside_retry_after == [] and fake.limit_429s == 0
    # the token is a credential: the status message never shows it
    assert token not in fake.messages[followup["id"]]["content"]


async def test_after_the_token_expires_edits_use_the_channel_route_and_end_on_the_final(
    short_lived,
):
    fake = short_lived
    token, followup = fake.add_followup("310")
    async with notifier_for(fake) as (notifier, shared):
        await interaction_tokens.remember(shared, followup["id"], app_id=fake.app_id,
                                          token=token)
        await notifier.job_changed(job(followup, progress=20), "progress")
        await wait_until(lambda: "20%" in fake.messages[followup["id"]]["content"], 3)
        await asyncio.sleep(1.7)  # past the fake's token life (ours still says "usable")
        await notifier.job_changed(job(followup, progress=60), "progress")
        await wait_until(lambda: "60%" in fake.messages[followup["id"]]["content"], 3)
        await notifier.job_changed(job(followup, status="completed"), "completed")
        assert await notifier.sender.flush(10)
        assert await interaction_tokens.lookup(shared, followup["id"]) is None  # forgotten
    assert "**Done**" in fake.messages[followup["id"]]["content"]
    hooks = webhook_edits(fake, followup)
    assert [c.status for c in hooks] == [200, 401]  # refused once, then never tried again
    assert fake.calls[-1].path.startswith("/channels/")
    after = channel_edits(fake, followup)
    assert [c.status for c in after] == [200, 200] and all(c.at > hooks[-1].at for c in after)
    assert "**Done**" in after[-1].json["content"]
    assert all(c.auth == f"Bot {fake.token}" for c in after)


async def test_a_429_on_the_webhook_route_blocks_that_route_only(fake_discord):
    fake = fake_discord
    token, followup = fake.add_followup("320")
    other = fake.add_message("321")
    async with notifier_for(fake) as (notifier, shared):
        await interaction_tokens.remember(shared, followup["id"], app_id=fake.app_id,
                                          token=token)
        fake.inject_429("PATCH", rf"/webhooks/\d+/[^/]+/messages/{followup['id']}",
                        retry_after=1.0)
        await notifier.job_changed(job(followup, progress=30), "progress")
        await wait_until(lambda: fake.injected_429s == 1, 5)
        await notifier.job_changed(job(other, progress=30), "progress")
        await notifier.job_changed(job(followup, status="completed"), "completed")
        assert await notifier.sender.flush(10)
    limited, *rest = webhook_edits(fake, followup)
    assert limited.status == 429 and [c.status for c in rest] == [200]
    assert rest[0].at - limited.at >= 1.0 and "**Done**" in rest[0].json["content"]
    assert channel_edits(fake, other)[0].at - limited.at < 1.0  # the bot token's route went on
    assert fake.inside_retry_after == []


async def test_the_bot_posts_a_followup_and_keeps_its_token_out_of_the_job(
    harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = await harness.quote(user)
    await harness.confirm(quote, user)
    status = await harness.status_message()
    await submitted(fake_discord, quote)
    posts = [c for c in fake_discord.calls_to("POST", rf"/webhooks/{fake_discord.app_id}/[^/]+")
             if "job `" in (c.json or {}).get("content", "")]
    assert len(posts) == 1 and posts[0].status == 200 and posts[0].auth is None
    assert status["webhook_id"] == fake_discord.app_id and not status["flags"] & 64  # public
    (job_,) = await jobs_of(db, account)
    token = posts[0].path.split("/")[3]
    assert job_.origin["message_id"] == status["id"] and job_.origin["dm"] is False
    assert token not in str(job_.origin)  # a credential: not in the database


async def test_where_the_channel_refuses_the_bot_the_status_goes_to_a_dm_not_a_followup(
    harness, fake_discord, user, db
):
    """The interaction says the bot may not post there (``app_permissions``): a follow-up
    would work for 15 minutes, then freeze (the channel route refuses the bot), so the
    status goes to a DM, edited with the bot token for the whole render."""
    account, _ = await discord_account(db, credits_=10)
    fake_discord.forbidden_channels.add(CHANNEL)
    await harness.start_bot()
    quote = await harness.quote(user)
    await harness.confirm(quote, user)
    dm = await wait_until(lambda: fake_discord.dm_channels.get(user["id"]))
    status = await harness.status_message(channel_id=dm)
    assert f"/@me/{dm}/{status['id']}" in (await submitted(fake_discord, quote))["content"]
    assert not [c for c in fake_discord.calls_to("POST", r"/webhooks/\d+/[^/]+")
                if "job `" in (c.json or {}).get("content", "")]
    assert fake_discord.calls_to("POST", rf"/channels/{CHANNEL}/messages", status=403)
    (job_,) = await jobs_of(db, account)
    assert job_.origin["channel_id"] == dm and job_.origin["dm"] is True
    assert job_.origin["message_id"] == status["id"]
    # a channel-route edit in the refusing channel is refused, as Discord does
    message = fake_discord.add_message(CHANNEL)
    async with notifier_for(fake_discord) as (notifier, _):
        await notifier.job_changed(job(message, status="completed"), "completed")
        assert await notifier.sender.flush(5)
    assert [c.status for c in channel_edits(fake_discord, message)] == [403]
