"""/renders tells a creator where their renders go (issue 16): renderbot's storage (and
for how long) or their own bucket — never a key or a secret."""

from __future__ import annotations

from core.settings import NetworkSettings
from core.storage import destinations
from core.storage.destinations import DestinationSpec
from tests.bots.discord.conftest import CHANNEL, GUILD
from tests.bots.discord.test_bot_flow import discord_account
from tests.fixtures.creator_r2 import creator_r2  # noqa: F401 - a fixture


async def test_renders_says_where_the_renders_go(harness, fake_discord, user, db,
                                                creator_r2):  # noqa: F811
    account, _ = await discord_account(db)
    await harness.start_bot()
    it = await fake_discord.slash("renders", user=user, channel_id=CHANNEL, guild_id=GUILD)
    content = (await it.response())["data"]["content"]
    assert "Your renders go to renderbot's storage (videos are kept 30 days)." in content

    bucket = creator_r2.a.bucket()
    loopback = harness.settings.model_copy(
        update={"network": NetworkSettings(allowed_networks=["127.0.0.0/8"])})
    await destinations.set_(db=db, settings=loopback, account_id=account, spec=DestinationSpec(
        endpoint=creator_r2.a.endpoint_url, bucket=bucket, prefix="clips",
        access_key_id=creator_r2.a.access_key_id,
        secret_access_key=creator_r2.a.secret_access_key))
    it = await fake_discord.slash("renders", user=user, channel_id=CHANNEL, guild_id=GUILD)
    content = (await it.response())["data"]["content"]
    assert f"Your renders go to your own bucket `{bucket}` under `clips/`." in content
    assert creator_r2.a.secret_access_key not in content
    assert creator_r2.a.access_key_id not in content
