"""Multi-workspace: with an OAuth client id/secret the app is installed per workspace
(slack_sdk's SQLAlchemy installation store in our database), each workspace's requests use
its own bot token, and the worker's notifier finds that token too."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from bots.slack.notifier import SlackNotifier
from tests.fixtures.fake_slack import SlackUserSide
from tests.slack.conftest import Harness, slack_settings, wait_for
from tests.slack.test_sender import job_state

OTHER_TEAM, OTHER_TOKEN = "T0002", "xoxb-installed-0002"
SLACK_TABLES = ("slack_installations", "slack_bots", "slack_oauth_states")


@pytest.fixture
async def oauth_harness(fake_slack, tmp_path, database_url, db):
    settings = slack_settings(tmp_path, database_url, fake_slack, slack_bot_token=None,
                              slack={"client_id": "1111.2222", "client_secret": "oauth-secret"})
    h = Harness(fake_slack, settings, db).start()
    yield h
    await h.close()
    async with db.engine.begin() as conn:  # slack_sdk's tables are not part of our schema
        for table in SLACK_TABLES:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


async def install(h: Harness, team: str, token: str, code: str) -> httpx.Response:
    h.fake.add_install(code, team, token)
    async with httpx.AsyncClient(base_url=h.server.url, timeout=30, trust_env=False) as http:
        page = await http.get("/slack/install")
        assert page.status_code == 200, page.text
        state = re.search(r"state=([\w-]+)", page.text)[1]
        cookie = page.headers["set-cookie"].split(";")[0]  # Secure: sent by hand over http
        return await http.get("/slack/oauth_redirect", params={"code": code, "state": state},
                              headers={"Cookie": cookie})


async def test_install_then_each_workspace_uses_its_own_bot_token(oauth_harness, db):
    h = oauth_harness
    done = await install(h, OTHER_TEAM, OTHER_TOKEN, "code-1")
    assert done.status_code == 200, done.text
    access = h.fake.calls_to("oauth.v2.access")
    assert len(access) == 1 and access[0].params["code"] == "code-1"

    carol = SlackUserSide(h.fake, h.server.url, user_id="U0CAROL", user_name="carol",
                          team_id=OTHER_TEAM)
    await h.account(carol)
    await h.open_form(carol)
    opened = h.fake.calls_to("views.open")
    assert [c.token for c in opened] == [OTHER_TOKEN]

    # a workspace that never installed the app is told so and nothing runs
    stranger = SlackUserSide(h.fake, h.server.url, user_id="U0DAVE", team_id="T0009")
    response, rid = await stranger.command("")
    assert response.status_code == 200
    said = await wait_for(lambda: h.fake.responses[rid])
    assert said[0]["text"] == ("renderbot is not installed in this workspace yet — an admin "
                               f"can add it at {h.server.url}/slack/install")
    assert len(h.fake.calls_to("views.open", status=None)) == 1

    # the worker side finds the installed token for that workspace's status messages
    notifier = SlackNotifier.from_settings(h.settings, engine_of=lambda: db.engine)
    ts = h.fake.post_message("C9")
    try:
        await notifier.job_changed(job_state(ts, team=OTHER_TEAM, channel="C9", progress=20),
                                   "progress")
        update = await wait_for(lambda: h.fake.calls_to("chat.update"))
        assert update[0].token == OTHER_TOKEN and update[0].team == OTHER_TEAM
    finally:
        await notifier.sender.close()


async def test_a_replayed_or_forged_install_state_is_refused(oauth_harness):
    h = oauth_harness
    h.fake.add_install("code-2", OTHER_TEAM, OTHER_TOKEN)
    async with httpx.AsyncClient(base_url=h.server.url, timeout=30, trust_env=False) as http:
        refused = await http.get("/slack/oauth_redirect",
                                 params={"code": "code-2", "state": "made-up"},
                                 headers={"Cookie": "slack-app-oauth-state=made-up"})
    assert refused.status_code in (400, 401, 403)
    assert h.fake.calls_to("oauth.v2.access", status=None) == []
