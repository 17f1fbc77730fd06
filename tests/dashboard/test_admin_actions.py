"""core.admin actions and guards (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import admin
from core.admin import admins
from core.errors import (
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    RefundNotAllowed,
    TooManyAttempts,
)
from core.models import Admin
from tests.dashboard.apptest import entries, job_events, job_row
from tests.fixtures.dashboard import ADMINS


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
        for amount in (0, -5, 10_001, True):
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


async def test_a_viewer_a_disabled_or_unknown_admin_is_refused_in_core(db, seeded):
    job_id = seeded.jobs["f01"].id
    async with db.transaction() as s:
        await admins.disable(session=s, name="ops-bob")
    for who in ("vic", "ops-bob", "nobody"):
        async with db.transaction() as s:
            with pytest.raises(PermissionDenied):
                await admin.retry_job(session=s, job_id=job_id, recharge=False, admin=who)
            with pytest.raises(PermissionDenied):
                await admin.grant(session=s, account_id=seeded.accounts["A"], amount=1,
                                  admin=who, idempotency_key=f"k-{who}")
    assert (await job_row(db, job_id)).status == "failed"
    assert await job_events(db, job_id, "audit") == []


async def test_a_grant_is_bounded_by_the_setting(db, seeded):
    account = seeded.accounts["B"]
    async with db.transaction() as s:
        with pytest.raises(InvalidInput, match="from 1 to 100"):
            await admin.grant(session=s, account_id=account, amount=101, admin="ops",
                              idempotency_key="big", max_amount=100)
        await admin.grant(session=s, account_id=account, amount=100, admin="ops",
                          idempotency_key="ok", max_amount=100)
        with pytest.raises(InvalidInput, match="10,000"):
            await admin.grant(session=s, account_id=account, amount=10_001, admin="ops",
                              idempotency_key="default")


async def test_admins_are_created_with_a_one_time_password_kept_hashed(db):
    async with db.transaction() as s:
        created = await admins.create(session=s, name="carol", role="viewer")
        with pytest.raises(InvalidInput, match="already exists"):
            await admins.create(session=s, name="carol", role="operator")
        with pytest.raises(InvalidInput, match="role"):
            await admins.create(session=s, name="dave", role="root")
        stored = await s.scalar(select(Admin.password_hash).where(Admin.name == "carol"))
    assert len(created.password) >= 20 and created.password not in stored
    assert stored.startswith("scrypt$")
    assert admins.verify_password(created.password, stored)
    assert not admins.verify_password(created.password + "x", stored)
    async with db.transaction() as s:
        who = await admins.sign_in(session=s, name="carol", password=created.password,
                                   client="10.0.0.1")
        assert (who.name, who.role, who.can_act) == ("carol", "viewer", False)
        await admins.disable(session=s, name="carol")
        with pytest.raises(InvalidInput, match="disabled"):
            await admins.sign_in(session=s, name="carol", password=created.password,
                                 client="10.0.0.1")
        assert [(a.name, a.disabled_at is not None) for a in await admins.list_(session=s)] \
            == [("carol", True)]


async def test_failed_sign_ins_are_throttled_per_client_across_names(db, seeded):
    for i in range(20):
        async with db.transaction() as s:
            with pytest.raises(InvalidInput):
                await admins.sign_in(session=s, name=f"guess{i}", password="x",
                                     client="203.0.113.9")
    async with db.transaction() as s:
        with pytest.raises(TooManyAttempts):
            await admins.sign_in(session=s, name="ops", password=ADMINS["ops"][1],
                                 client="203.0.113.9")
        who = await admins.sign_in(session=s, name="ops", password=ADMINS["ops"][1],
                                   client="203.0.113.10")
    assert who.name == "ops"
