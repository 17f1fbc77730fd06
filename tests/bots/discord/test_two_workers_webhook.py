"""Two `renderbot worker` processes on one Redis edit status messages that are interaction
follow-ups: the token the bot kept in Redis lets both edit through the interaction webhook;
a 429 on that route holds for both (nobody sends inside its ``retry_after``), and the last
write to every message is its final state — 20 jobs in a row, each with a forced 429."""

from __future__ import annotations

import asyncio

import pytest

from bots import shared_state
from bots.discord import interaction_tokens
from core import accounts, credits, projects, renders
from core.db import Database
from core.settings import Settings
from jobs.enqueue import enqueuer_for
from tests.bots.discord.test_two_workers import RETRY_AFTER, RUNS, logs, workers  # noqa: F401
from tests.fixtures.fake_discord import wait_until


async def test_a_webhook_429_holds_for_every_worker_and_the_final_state_is_the_last_write(
    workers, fake_discord, pg_url, private_redis, tmp_path  # noqa: F811 - the fixture
):
    settings = Settings(database_url=pg_url, broker_url=private_redis.url,
                        secret_key="test-secret-0123456789", render_backend="instant",
                        test_backends=True, var_dir=tmp_path / "test-var")
    # where the bot keeps the tokens: the workers' shared state (RenderBot.shared_state)
    shared = shared_state.for_broker(private_redis.url, "discord",
                                     f"{fake_discord.token}@{fake_discord.api_base}")
    db = Database(pg_url)
    async with db.transaction() as s:
        account = await accounts.create(session=s, name="two workers, webhooks")
        await credits.grant(session=s, account_id=account.id, amount=10 * RUNS,
                            idempotency_key="grant:two-workers-webhooks")
        project = await projects.create(session=s, account_id=account.id, name="Teaser")
    enqueue = enqueuer_for(settings)
    try:
        for run in range(RUNS):
            channel = str(90_000 + run)
            token, message = fake_discord.add_followup(channel, "posting…")
            await interaction_tokens.remember(shared, message["id"], app_id=fake_discord.app_id,
                                              token=token)
            edits = rf"/webhooks/{fake_discord.app_id}/{token}/messages/{message['id']}"
            fake_discord.inject_429("PATCH", edits, retry_after=RETRY_AFTER)
            async with db.transaction() as s:
                job = (await renders.submit(
                    session=s, settings=settings, account_id=account.id, project_id=project.id,
                    render_settings={"resolution": [320, 180], "frame_rate": 24, "duration": 1,
                                     "quality": "low"},
                    origin={"platform": "discord", "channel_id": channel, "guild_id": "9001",
                            "message_id": message["id"], "user_id": "4242", "title": "Teaser"},
                    enqueue=enqueue)).job
            try:
                await wait_until(lambda m=message: "**Done**" in fake_discord.messages[m["id"]]
                                 ["content"], 30)
            except AssertionError:
                pytest.fail(f"run {run}: no Done\n{logs(tmp_path)}")
            await asyncio.sleep(0.4)  # anything still on its way would land now
            sent = fake_discord.calls_to("PATCH", edits)
            assert sent[0].status == 429, (run, [c.status for c in sent])
            ok = [c for c in sent if c.status == 200]
            assert ok and "**Done**" in ok[-1].json["content"], (run, [c.json for c in ok])
            assert job.id in ok[-1].json["content"]
            assert "**Done**" in fake_discord.messages[message["id"]]["content"]
            # every edit went through the webhook: none with the bot token
            assert not fake_discord.calls_to("PATCH", rf"/channels/{channel}/messages/\d+")
            assert fake_discord.inside_retry_after == [], (run, fake_discord.inside_retry_after)
        assert all(p.poll() is None for p in workers), logs(tmp_path)
        assert fake_discord.injected_429s == RUNS and fake_discord.limit_429s == 0
    finally:
        await db.dispose()
