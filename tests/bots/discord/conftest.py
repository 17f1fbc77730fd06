"""The real discord.py bot against the fake Discord, with a real database and (for the
render tests) a real in-process worker rendering tiny clips."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bots.discord import endpoints
from bots.discord.bot import RenderBot
from cli.discord_bot import stop_worker
from core.runtime import Runtime
from core.settings import DiscordSettings, Settings
from tests.fixtures.fake_discord import FakeDiscord, custom_ids, wait_until
from tests.fixtures.pipeline import FAST_WORKER

# Tiny sizes instead of core's big presets: keeps the real renders fast.
TINY_PRESETS = {"tiny 320×180": (320, 180), "small 256×144": (256, 144)}
GUILD, CHANNEL = "9001", "7001"


def discord_settings(fake: FakeDiscord, **overrides) -> DiscordSettings:
    values = dict(api_base=fake.api_base, gateway_url=fake.gateway_url, edit_interval=0.3,
                  size_presets=TINY_PRESETS)
    values.update(overrides)
    return DiscordSettings(**values)


def bot_settings(tmp_path, database_url, fake: FakeDiscord, *, render_server_dir=None,
                 discord: DiscordSettings | None = None, **overrides) -> Settings:
    values = dict(
        var_dir=tmp_path / "var", database_url=database_url,
        secret_key="test-secret-0123456789", worker=FAST_WORKER, discord_token=fake.token,
        discord=discord or discord_settings(fake), _env_file=None,
    )
    if render_server_dir is not None:
        values["render_server_dir"] = render_server_dir
    values.update(overrides)
    return Settings(**values)


class Harness:
    """Starts/stops bot processes (clients) and workers against one fake Discord."""

    def __init__(self, fake: FakeDiscord, settings: Settings) -> None:
        self.fake = fake
        self.settings = settings
        self.bots: list[tuple[RenderBot, asyncio.Task]] = []
        self.workers = []

    async def start_bot(self) -> RenderBot:
        endpoints.apply(self.settings)
        bot = RenderBot(self.settings, guild_ready_timeout=0.05)
        await bot.login(self.fake.token)
        task = asyncio.create_task(bot.connect(reconnect=False))
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        self.bots.append((bot, task))
        return bot

    async def stop_bot(self, bot: RenderBot) -> None:
        for entry in list(self.bots):
            if entry[0] is bot:
                self.bots.remove(entry)
                await bot.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(entry[1], 5)

    def start_worker(self):
        from jobs.worker import RenderWorker

        worker = RenderWorker(Runtime(self.settings), threads=2).start()
        self.workers.append(worker)
        return worker

    async def close(self) -> None:
        for bot, _ in list(self.bots):
            await self.stop_bot(bot)
        for worker in self.workers:
            await asyncio.to_thread(stop_worker, worker)

    # --- a user going through /render ----------------------------------------------------

    async def open_form(self, user: dict, *, channel_id: str = CHANNEL, guild_id=GUILD,
                        project: str | None = None) -> dict:
        it = await self.fake.slash("render", {"project": project} if project else None,
                                   user=user, channel_id=channel_id, guild_id=guild_id)
        body = await it.response()
        assert body["type"] == 4 and body["data"]["flags"] == 64, body
        return it.original()

    async def choose(self, message: dict, prefix: str, values: list[str], user: dict,
                     guild_id=GUILD) -> dict:
        custom_id = next(c for c in custom_ids(message) if c.startswith(prefix))
        it = await self.fake.click(message, custom_id, values, user=user, guild_id=guild_id)
        body = await it.response()
        assert body["type"] == 7, body
        return self.fake.messages[message["id"]]

    async def quote(self, user: dict, *, size="320x180", fps="24", quality="low",
                    effects=(), duration="1", channel_id: str = CHANNEL, guild_id=GUILD,
                    project: str | None = None) -> dict:
        form = await self.open_form(user, channel_id=channel_id, guild_id=guild_id,
                                    project=project)
        form = await self.choose(form, "rb:set:size:", [size], user, guild_id)
        form = await self.choose(form, "rb:set:fps:", [fps], user, guild_id)
        form = await self.choose(form, "rb:set:q:", [quality], user, guild_id)
        if effects:
            form = await self.choose(form, "rb:set:fx:", list(effects), user, guild_id)
        dur = next(c for c in custom_ids(form) if c.startswith("rb:dur:"))
        opened = await self.fake.click(form, dur, user=user, guild_id=guild_id)
        assert (await opened.response())["type"] == 9
        submitted = await self.fake.submit_modal(opened, {"duration": duration}, user=user,
                                                 guild_id=guild_id)
        body = await submitted.response()
        assert body["type"] == 4, body
        return submitted.original()

    async def confirm(self, quote: dict, user: dict, guild_id=GUILD):
        ok = next(c for c in custom_ids(quote) if c.startswith("rb:ok:"))
        it = await self.fake.click(quote, ok, user=user, guild_id=guild_id)
        assert (await it.response())["type"] == 6
        return it

    async def status_message(self, channel_id: str = CHANNEL, within: float = 10) -> dict:
        return await wait_until(
            lambda: next((m for m in self.fake.channel_messages(channel_id)
                          if "job `" in m["content"]), None), within)


@pytest.fixture
def user(fake_discord):
    return fake_discord.user("4242", "alice")


@pytest.fixture
async def harness(fake_discord, tmp_path, database_url):
    h = Harness(fake_discord, bot_settings(tmp_path, database_url, fake_discord))
    yield h
    await h.close()


@pytest.fixture
async def render_harness(fake_discord, tmp_path, database_url, render_server_dir):
    h = Harness(fake_discord, bot_settings(tmp_path, database_url, fake_discord,
                                           render_server_dir=render_server_dir))
    yield h
    await h.close()


@pytest.fixture
async def served_harness(fake_discord, tmp_path, database_url, render_server_dir):
    """A render harness whose links point at the real HTTP API, served on a free port."""
    from tests.fixtures.api import LiveServer, free_port, make_api_settings

    settings = make_api_settings(
        tmp_path, database_url, free_port(), render_server_dir=render_server_dir,
        discord_token=fake_discord.token, discord=discord_settings(fake_discord),
    )
    server = await asyncio.to_thread(LiveServer(settings).start)
    h = Harness(fake_discord, settings)
    h.api_url = server.url
    yield h
    await h.close()
    await asyncio.to_thread(server.stop)
