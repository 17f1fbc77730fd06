"""The real bolt app inside the real FastAPI app (uvicorn on a free port) against the fake
Slack, with a real database and, for the render tests, a real in-process worker."""

from __future__ import annotations

import asyncio

import pytest

from core import accounts, credits, projects
from core.runtime import Runtime
from core.settings import SlackSettings
from tests.fixtures.api import LiveServer, free_port, make_api_settings
from tests.fixtures.fake_slack import BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack, SlackUserSide

# Tiny sizes instead of core's big presets: keeps the real renders fast.
TINY_PRESETS = {"tiny": (320, 180), "small square": (180, 180)}


def slack_settings(tmp_path, database_url, fake: FakeSlack, *, render_server_dir=None,
                   slack: dict | None = None, **overrides):
    port = free_port()
    section = dict(api_base=fake.api_base, update_interval=0.2, size_presets=TINY_PRESETS)
    section.update(slack or {})
    values = dict(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                  slack=SlackSettings(**section))
    if render_server_dir is not None:
        values["render_server_dir"] = render_server_dir
    values.update(overrides)
    return make_api_settings(tmp_path, database_url, port, **values)


class Harness:
    """The app (and workers) on one database, a user side, helpers to go through /render."""

    def __init__(self, fake: FakeSlack, settings, db) -> None:
        self.fake = fake
        self.settings = settings
        self.db = db
        self.server: LiveServer | None = None
        self.workers = []

    def start(self) -> Harness:
        self.server = LiveServer(self.settings).start()
        return self

    def start_worker(self):
        from jobs.worker import RenderWorker

        worker = RenderWorker(Runtime(self.settings), threads=2).start()
        self.workers.append(worker)
        return worker

    async def close(self) -> None:
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)

    def user(self, user_id: str = "U0ALICE", name: str = "alice", **kw) -> SlackUserSide:
        assert self.server is not None
        return SlackUserSide(self.fake, self.server.url, user_id=user_id, user_name=name, **kw)

    async def account(self, user: SlackUserSide, *, credits_: int = 10,
                      project_names=("Teaser",)) -> tuple[str, list[str]]:
        """The user's account (as the app would create it) with credits and projects."""
        async with self.db.transaction() as s:
            account = await accounts.for_chat_user(
                session=s, platform="slack", team_id=user.team_id, user_id=user.user_id,
                display_name=user.user_name)
            if credits_:
                await credits.grant(session=s, account_id=account.id, amount=credits_,
                                    idempotency_key=f"test-grant:{account.id}")
            ids = [(await projects.create(session=s, account_id=account.id, name=n)).id
                   for n in project_names]
        return account.id, ids

    async def open_form(self, user: SlackUserSide, text: str = "") -> dict:
        before = len(self.fake.calls_to("views.open", status=None))
        response, _ = await user.command(text)
        assert response.status_code == 200, response.text
        calls = await wait_for(lambda: [c for c in self.fake.calls_to("views.open", status=None)
                                        [before:] if c.response is not None])
        assert calls[0].response["ok"], calls[0].response
        return self.fake.views[calls[0].response["view"]["id"]]

    async def quote(self, user: SlackUserSide, values: dict | None = None, text: str = "") -> dict:
        form = await self.open_form(user, text)
        chosen = {"size": "320x180", "fps": "24", "duration": "1", "quality": "low"}
        chosen.update(values or {})
        _, data, view = await user.submit_and_apply(form, chosen)
        assert data and data["response_action"] == "update", data
        return view

    async def status_message(self, channel: str, within: float = 10) -> dict:
        return await wait_for(lambda: next(
            (m for m in self.fake.channel_messages(channel)
             if m["blocks"] and not m.get("thread_ts")), None), within)


async def wait_for(predicate, within: float = 10.0):
    from tests.fixtures.fake_slack import wait_until

    return await wait_until(predicate, within)


@pytest.fixture
async def harness(fake_slack, tmp_path, database_url, db):
    h = Harness(fake_slack, slack_settings(tmp_path, database_url, fake_slack), db).start()
    yield h
    await h.close()


@pytest.fixture
async def render_harness(fake_slack, tmp_path, database_url, db, render_server_dir):
    h = Harness(fake_slack, slack_settings(tmp_path, database_url, fake_slack,
                                           render_server_dir=render_server_dir), db).start()
    yield h
    await h.close()


__all__ = ["TEAM", "Harness", "slack_settings", "wait_for"]
