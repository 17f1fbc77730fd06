"""Two `renderbot worker` processes on one Redis edit status messages that are interaction
follow-ups: the token the bot kept in Redis lets both edit through the interaction webhook;
a 429 on that route holds for both (nobody sends inside its ``retry_after``), and the last
write to every message is its final state — 20 jobs in a row, each with a forced 429."""

from __future__ import annotations

from bots import shared_state
from bots.discord import interaction_tokens
from tests.bots.discord.test_two_workers import (  # noqa: F401 - workers: a fixture
    RUNS,
    logs,
    render_after_a_429,
    seeded,
    workers,
)


async def test_a_webhook_429_holds_for_every_worker_and_the_final_state_is_the_last_write(
    workers, fake_discord, pg_url, private_redis, tmp_path  # noqa: F811 - the fixture
):
    seed = await seeded(pg_url, private_redis.url, tmp_path, "two-workers-webhooks")
    # where the bot keeps the tokens: the workers' shared state (RenderBot.shared_state)
    shared = shared_state.for_broker(private_redis.url, "discord",
                                     f"{fake_discord.token}@{fake_discord.api_base}")
    try:
        for run in range(RUNS):
            channel = str(90_000 + run)
            token, message = fake_discord.add_followup(channel, "posting…")
            await interaction_tokens.remember(shared, message["id"], app_id=fake_discord.app_id,
                                              token=token)
            await render_after_a_429(
                seed, fake_discord, tmp_path, run=run, channel=channel, message=message,
                edits=rf"/webhooks/{fake_discord.app_id}/{token}/messages/{message['id']}")
            # every edit went through the webhook: none with the bot token
            assert not fake_discord.calls_to("PATCH", rf"/channels/{channel}/messages/\d+")
        assert all(p.poll() is None for p in workers), logs(tmp_path)
        assert fake_discord.injected_429s == RUNS and fake_discord.limit_429s == 0
    finally:
        await seed[1].dispose()
