"""A committed change stays a success when Redis is unreachable: a cancel from the CLI
(or the dashboard, which calls the same core service with the same announcer) is
refunded and reported as done; only the announcement is lost, and logged."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from core import credits, renders
from core.db import after_commit
from core.models import CreditEntry
from jobs.enqueue import announcer_for
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import _submit

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"


async def _refunds(db, job_id: str) -> int:
    async with db.transaction() as s:
        return await s.scalar(select(func.count()).select_from(CreditEntry).where(
            CreditEntry.job_id == job_id, CreditEntry.kind == "refund"))


async def test_a_cancel_with_redis_unreachable_succeeds_and_refunds_once(
    db, pipeline_settings, factory
):
    down = pipeline_settings.model_copy(update={"broker_url": DEAD_REDIS})
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, down, account, project, TINY, enqueue=lambda _: None)
    async with db.transaction() as s:
        cancelled = await renders.cancel(session=s, account_id=None, job_id=job.id,
                                         actor="cli", announce=announcer_for(down))
    assert cancelled.status == "cancelled"
    assert await _refunds(db, job.id) == 1
    assert await factory.balance(account) == 5


async def test_a_failing_after_commit_hook_never_undoes_or_fails_the_commit(db, factory):
    account = await factory.account(credits_=5)

    def broken() -> None:
        raise ConnectionError("redis is down")

    async with db.transaction() as s:  # must not raise: the grant is committed
        await credits.grant(session=s, account_id=account, amount=1,
                            idempotency_key=f"hook-test:{account}")
        after_commit(s, broken)
    assert await factory.balance(account) == 6


async def test_the_cli_cancel_with_redis_unreachable_exits_0(
    db, pipeline_settings, factory, database_url, tmp_path
):
    down = pipeline_settings.model_copy(update={"broker_url": DEAD_REDIS})
    account = await factory.account(credits_=5)
    project = await factory.project(account)
    job = await _submit(db, down, account, project, TINY, enqueue=lambda _: None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_DATABASE_URL": database_url,
        "RENDERBOT_BROKER_URL": DEAD_REDIS,
        "RENDERBOT_SECRET_KEY": "test-secret-0123456789",
        "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
    }
    done = await asyncio.to_thread(
        subprocess.run, [RENDERBOT, "render", "cancel", job.id, "--json"], env=env,
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "cancelled"
    assert await _refunds(db, job.id) == 1

