"""Production topology: the bot in one process, `renderbot worker` in another (Redis broker,
PostgreSQL); the worker's notifier edits the status message the bot posted."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from core import renders
from core.db import Database
from tests.bots.discord.conftest import Harness, bot_settings
from tests.bots.discord.test_bot_flow import discord_account
from tests.bots.discord.test_bot_render import finished, job_id_of
from tests.fixtures.databases import truncate_all
from tests.fixtures.pipeline import own_render_server_dir
from tests.pipeline.test_production_topology import RENDERBOT


@pytest.fixture
async def clean_pg(pg_url):
    db = Database(pg_url)
    await truncate_all(db)  # before the worker starts: its reconciler sees only our jobs
    yield db
    await db.dispose()


@pytest.fixture
def worker_process(clean_pg, tmp_path, pg_url, redis_url, production_bundles, fake_discord):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": pg_url,
        "RENDERBOT_BROKER_URL": redis_url,
        "RENDERBOT_SECRET_KEY": "test-secret-0123456789",
        "RENDERBOT_VAR_DIR": str(tmp_path / "worker-var"),
        # its own render server dir, as compose gives each worker container
        "RENDERBOT_RENDER_SERVER_DIR": str(
            own_render_server_dir(tmp_path, "worker", production_bundles)),
        "RENDERBOT_WORKER__POLL_INTERVAL": "0.2",
        "RENDERBOT_DISCORD_TOKEN": fake_discord.token,
        "RENDERBOT_DISCORD__API_BASE": fake_discord.api_base,
        "RENDERBOT_DISCORD__EDIT_INTERVAL": "0.3",
    }
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([RENDERBOT, "worker", "--threads", "2"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=tmp_path)
        yield worker
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
async def split(worker_process, clean_pg, tmp_path, pg_url, redis_url, fake_discord):
    harness = Harness(fake_discord, bot_settings(tmp_path, pg_url, fake_discord,
                                                 broker_url=redis_url))
    yield harness, clean_pg, worker_process
    await harness.close()


async def test_the_worker_process_edits_the_status_message_the_bot_posted(
    split, fake_discord, user, tmp_path
):
    harness, db, worker = split
    account, _ = await discord_account(db, credits_=10)
    bot = await harness.start_bot()
    quote = await harness.quote(user, size="320x180", fps="24", quality="low", duration="2")
    await harness.confirm(quote, user)
    status = await harness.status_message()
    await harness.stop_bot(bot)  # from here on only the worker process talks to Discord
    final = await finished(fake_discord, status["id"], within=180)
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=account, job_id=job_id_of(status))
    assert job.status == "completed", (tmp_path / "worker.log").read_text()[-2000:]
    assert final["components"][0]["components"][0]["url"] == job.result_url
    # through the interaction's webhook: the bot kept its token in Redis for the worker
    edits = fake_discord.calls_to("PATCH", rf"/webhooks/\d+/[^/]+/messages/{status['id']}")
    assert any("renderbot" in c.agent and c.status == 200 for c in edits)
    assert worker.poll() is None
