"""Two `renderbot worker` processes on one Redis edit the same status messages: a 429 on
an edit holds for both (nobody sends inside its ``retry_after``), and the last write to
every message is its final state — 20 jobs in a row, each with a forced 429.

The instant backend keeps each job short (queued → processing → completed, the polls on
whichever worker takes them); what is under test is the chat sender, not the render."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import pytest

from core import accounts, credits, projects, renders
from core.db import Database
from core.settings import Settings
from jobs.enqueue import enqueuer_for
from tests.fixtures.fake_discord import wait_until
from tests.pipeline.test_production_topology import RENDERBOT

RUNS = 20
RETRY_AFTER = 0.8  # seconds; short, so 20 runs stay quick


@pytest.fixture
def workers(pg_url, private_redis, tmp_path, fake_discord):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": pg_url,
        "RENDERBOT_BROKER_URL": private_redis.url,
        "RENDERBOT_SECRET_KEY": "test-secret-0123456789",
        "RENDERBOT_RENDER_BACKEND": "instant",
        "RENDERBOT_TEST_BACKENDS": "1",
        "RENDERBOT_WORKER__POLL_INTERVAL": "0.2",
        "RENDERBOT_DISCORD_TOKEN": fake_discord.token,
        "RENDERBOT_DISCORD__API_BASE": fake_discord.api_base,
        "RENDERBOT_DISCORD__EDIT_INTERVAL": "0.3",
    }
    procs = []
    for n in range(2):
        log = open(tmp_path / f"worker{n}.log", "wb")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(
            [RENDERBOT, "worker", "--threads", "2"], stdout=log, stderr=subprocess.STDOUT,
            cwd=tmp_path, env=env | {"RENDERBOT_VAR_DIR": str(tmp_path / f"var{n}")}), log))
    yield [p for p, _ in procs]
    for proc, log in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def logs(tmp_path) -> str:
    return "\n".join((tmp_path / f"worker{n}.log").read_text()[-1500:] for n in range(2))


async def seeded(pg_url: str, redis_url: str, tmp_path, name: str):
    """(settings, database, account id, project id, enqueue) for ``RUNS`` jobs."""
    settings = Settings(database_url=pg_url, broker_url=redis_url,
                        secret_key="test-secret-0123456789", render_backend="instant",
                        test_backends=True, var_dir=tmp_path / "test-var")
    db = Database(pg_url)
    async with db.transaction() as s:
        account = await accounts.create(session=s, name=name)
        await credits.grant(session=s, account_id=account.id, amount=10 * RUNS,
                            idempotency_key=f"grant:{name}")
        project = await projects.create(session=s, account_id=account.id, name="Teaser")
    return settings, db, account.id, project.id, enqueuer_for(settings)


async def render_after_a_429(seed, fake_discord, tmp_path, *, run: int, channel: str,
                             message: dict, edits: str) -> None:
    """One job whose status ``message`` is edited on route ``edits``, which answers its
    first call with a 429: it ends on Done, written last, and nobody (neither worker)
    sent on that route inside the 429's ``retry_after``."""
    settings, db, account_id, project_id, enqueue = seed
    fake_discord.inject_429("PATCH", edits, retry_after=RETRY_AFTER)
    async with db.transaction() as s:
        job = (await renders.submit(
            session=s, settings=settings, account_id=account_id, project_id=project_id,
            render_settings={"resolution": [320, 180], "frame_rate": 24, "duration": 1,
                             "quality": "low"},
            origin={"platform": "discord", "channel_id": channel, "guild_id": "9001",
                    "message_id": message["id"], "user_id": "4242", "title": "Teaser"},
            enqueue=enqueue)).job
    try:
        await wait_until(lambda: "**Done**" in fake_discord.messages[message["id"]]["content"],
                         30)
    except AssertionError:
        pytest.fail(f"run {run}: no Done\n{logs(tmp_path)}")
    await asyncio.sleep(0.4)  # anything still on its way would land now
    sent = fake_discord.calls_to("PATCH", edits)
    assert sent[0].status == 429, (run, [c.status for c in sent])
    ok = [c for c in sent if c.status == 200]
    assert ok and "**Done**" in ok[-1].json["content"], (run, [c.json for c in ok])
    assert job.id in ok[-1].json["content"]
    assert "**Done**" in fake_discord.messages[message["id"]]["content"]
    assert fake_discord.inside_retry_after == [], (run, fake_discord.inside_retry_after)


async def test_a_429_holds_for_every_worker_and_the_final_state_is_the_last_write(
    workers, fake_discord, pg_url, private_redis, tmp_path
):
    seed = await seeded(pg_url, private_redis.url, tmp_path, "two-workers")
    try:
        for run in range(RUNS):
            channel = str(80_000 + run)
            message = fake_discord.add_message(channel, "posting…")
            await render_after_a_429(seed, fake_discord, tmp_path, run=run, channel=channel,
                                     message=message,
                                     edits=rf"/channels/{channel}/messages/{message['id']}")
        assert all(p.poll() is None for p in workers), logs(tmp_path)
        assert fake_discord.injected_429s == RUNS
    finally:
        await seed[1].dispose()
