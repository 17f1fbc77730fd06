"""core.admin actions and guards (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import admin
from core.errors import InvalidInput, InvalidTransition, RefundNotAllowed
from dashboard import auth
from tests.dashboard.apptest import entries, job_events, job_row


async def test_every_action_needs_an_admin_name(db, seeded):
    async with db.transaction() as s:
        with pytest.raises(InvalidInput, match="admin"):
            await admin.cancel_job(session=s, job_id=seeded.jobs["q01"].id, admin="  ")


async def test_only_failed_jobs_can_be_retried(db, seeded):
    async with db.transaction() as s:
        for key in ("c01", "q01", "x01"):
            with pytest.raises(InvalidTransition):
                await admin.retry_job(session=s, job_id=seeded.jobs[key].id, recharge=False,
                                      admin="ops")


async def test_refund_refuses_a_job_already_refunded_or_completed(db, seeded):
    async with db.transaction() as s:
        with pytest.raises(RefundNotAllowed, match="already refunded"):
            await admin.refund_job(session=s, job_id=seeded.jobs["f01"].id, admin="ops")
        with pytest.raises(RefundNotAllowed, match="completed"):
            await admin.refund_job(session=s, job_id=seeded.jobs["c01"].id, admin="ops")


async def test_grant_with_the_same_confirmation_key_grants_once(db, seeded):
    account = seeded.accounts["B"]
    for _ in range(2):
        async with db.transaction() as s:
            await admin.grant(session=s, account_id=account, amount=7, admin="ops",
                              idempotency_key="confirm-1")
    grants = [e for e in await entries(db, account_id=account) if e.kind == "grant"]
    assert [g.amount for g in grants] == [25, 7]
    async with db.transaction() as s:
        for amount in (0, -5, 1_000_001, True):
            with pytest.raises(InvalidInput):
                await admin.grant(session=s, account_id=account, amount=amount, admin="ops",
                                  idempotency_key=f"bad-{amount}")


async def test_window_retry_is_bounded_in_time_and_count(db, seeded):
    now = seeded.now
    async with db.transaction() as s:
        with pytest.raises(InvalidInput, match="longest window"):
            await admin.retry_failed_in_window(session=s, start=now - timedelta(days=30),
                                               end=now, recharge=False, admin="ops")
        with pytest.raises(InvalidInput, match="end after"):
            await admin.retry_failed_in_window(session=s, start=now, end=now, recharge=False,
                                               admin="ops")
        report = await admin.retry_failed_in_window(
            session=s, start=now - timedelta(hours=24), end=now, recharge=False, admin="ops",
            limit=2,
        )
    # oldest failure first: f04 (4 h ago), f05 (3 h ago); f03, f02, f01 wait for the next run
    assert report.retried == [seeded.jobs["f04"].id, seeded.jobs["f05"].id]
    assert report.more is True
    assert (await job_row(db, seeded.jobs["f03"].id)).status == "failed"


async def test_enqueue_runs_only_after_the_retry_commits(db, seeded):
    sent: list[str] = []
    job_id = seeded.jobs["f01"].id
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            await admin.retry_job(session=s, job_id=job_id, recharge=False, admin="ops",
                                  enqueue=sent.append)
            raise RuntimeError("the edge's transaction fails")
    assert sent == [] and (await job_row(db, job_id)).status == "failed"
    assert await job_events(db, job_id, "audit") == []
    async with db.transaction() as s:
        await admin.retry_job(session=s, job_id=job_id, recharge=False, admin="ops",
                              enqueue=sent.append)
    assert sent == [job_id]


async def test_attempts_start_a_new_series_after_a_retry(db, seeded):
    job_id = seeded.jobs["f01"].id
    async with db.transaction() as s:
        await admin.retry_job(session=s, job_id=job_id, recharge=False, admin="ops")
    async with db.transaction() as s:
        detail = await admin.job_detail(session=s, job_id=job_id)
    assert [(a.series, a.number, a.outcome) for a in detail.attempts] == [
        (1, 1, "error"), (1, 2, "error"), (1, 3, "failed")]
    assert detail.can_retry is False and detail.can_cancel is True


@pytest.mark.parametrize(
    "host, local", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                    ("0.0.0.0", False), ("10.0.0.5", False), (None, False), ("", False)],
)
def test_only_loopback_counts_as_local(host, local):
    assert auth.is_local(host) is local


def test_no_password_refuses_every_interface_but_localhost(tmp_path):
    from core.settings import DashboardSettings, Settings

    open_ = Settings(var_dir=tmp_path, _env_file=None)
    assert auth.start_refusal(open_, "127.0.0.1") is None
    assert "without a password" in auth.start_refusal(open_, "0.0.0.0")
    locked = Settings(var_dir=tmp_path, dashboard=DashboardSettings(password="pw-123456"),
                      _env_file=None)
    assert auth.start_refusal(locked, "0.0.0.0") is None
    assert auth.password_ok(locked, "pw-123456") and not auth.password_ok(locked, "pw")
    assert not auth.password_ok(open_, "")
