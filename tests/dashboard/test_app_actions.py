"""Admin actions through the page (AppTest, SQLite and PostgreSQL): each asks for
confirmation, changes the right rows through core and leaves its audit record."""

from __future__ import annotations

from datetime import timedelta

from core import renders
from tests.dashboard.apptest import click, entries, go, job_events, job_row, run, texts
from tests.fixtures.dashboard import app_test


def open_job(job_id: str, admin: str = "ops-bob"):
    at = run(app_test(admin))
    go(at, "Jobs")
    at.text_input(key="job_id").input(job_id)
    return run(at)


async def fail_again(db, job_id: str) -> None:
    """What a worker does with the re-queued job when its render fails for good."""
    async with db.transaction() as s:
        job, ended = await renders.start_attempt(
            session=s, job_id=job_id, after_attempt=0, lease_seconds=60, max_attempts=3
        )
        assert job is not None and ended is None
        await renders.fail(session=s, job=job, error="failed again")


async def balance(db, seeded, account: str) -> int:
    from core import credits

    async with db.transaction() as s:
        return await credits.balance(session=s, account_id=seeded.accounts[account])


async def test_cancel_asks_first_then_cancels_refunds_and_audits(dashboard_env, db, seeded):
    job = seeded.jobs["q01"]
    at = open_job(job.id)
    click(at, "ask:cancel")
    assert texts(at.warning) and texts(at.warning)[-1].startswith(f"Cancel job {job.id}?")
    click(at, "no:cancel")  # abort: nothing happens
    assert (await job_row(db, job.id)).status == "queued"

    click(at, "ask:cancel")
    click(at, "yes:cancel")
    assert texts(at.success) == [f"job {job.id} is cancelled"]
    assert (await job_row(db, job.id)).status == "cancelled"
    [audit] = await job_events(db, job.id, "audit")
    assert (audit.actor, audit.detail["action"]) == ("ops-bob", "cancel")
    refund = [e for e in await entries(db, job_id=job.id) if e.kind == "refund"]
    assert [(e.amount, e.actor) for e in refund] == [(job.cost, "ops-bob")]
    assert (await job_row(db, seeded.jobs["q02"].id)).status == "queued"


async def test_free_retry_requeues_as_a_fresh_series_and_never_refunds_twice(
    dashboard_env, db, seeded
):
    job = seeded.jobs["f01"]
    before = await balance(db, seeded, "A")
    at = open_job(job.id)
    assert at.button(key="ask:retry").disabled  # the charge must be chosen explicitly
    at.radio(key="retry_charge").set_value("free")
    run(at)
    click(at, "ask:retry")
    assert "free of charge?" in texts(at.warning)[-1]
    click(at, "yes:retry")
    assert texts(at.success) == [f"job {job.id} is queued again (free retry)"]

    row = await job_row(db, job.id)
    assert (row.status, row.attempts, row.error, row.progress) == ("queued", 0, None, 0)
    assert row.finished_at is None and row.started_at is None and row.backend_ref is None
    assert row.queued_at > seeded.now
    state = (await job_events(db, job.id, "state"))[-1]
    assert (state.state, state.actor, state.detail["retry"], state.detail["recharged"]) == (
        "queued", "ops-bob", True, False)
    [audit] = await job_events(db, job.id, "audit")
    assert (audit.actor, audit.detail["action"], audit.detail["recharge"]) == (
        "ops-bob", "retry", False)
    assert audit.detail["previous"]["attempts"] == 3
    assert await balance(db, seeded, "A") == before

    await fail_again(db, job.id)
    kinds = [e.kind for e in await entries(db, job_id=job.id)]
    assert kinds == ["debit", "refund"]  # the free retry's failure refunds nothing more
    assert await balance(db, seeded, "A") == before


async def test_recharged_retry_debits_again_and_its_failure_refunds_that_charge(
    dashboard_env, db, seeded
):
    job = seeded.jobs["f03"]
    before = await balance(db, seeded, "A")
    at = open_job(job.id)
    at.radio(key="retry_charge").set_value("recharge")
    run(at)
    click(at, "ask:retry")
    click(at, "yes:retry")
    assert texts(at.success) == [f"job {job.id} is queued again (re-charged)"]
    charged = await entries(db, job_id=job.id)
    assert [(e.kind, e.amount, e.actor) for e in charged] == [
        ("debit", -job.cost, None), ("refund", job.cost, None), ("debit", -job.cost, "ops-bob")]
    assert await balance(db, seeded, "A") == before - job.cost

    await fail_again(db, job.id)
    assert [e.kind for e in await entries(db, job_id=job.id)][-1] == "refund"
    assert await balance(db, seeded, "A") == before


async def test_recharged_retry_without_enough_credits_changes_nothing(dashboard_env, db, seeded):
    job = seeded.jobs["f02"]  # account B holds 15 credits, the job costs 20
    at = open_job(job.id)
    at.radio(key="retry_charge").set_value("recharge")
    run(at)
    click(at, "ask:retry")
    click(at, "yes:retry")
    assert texts(at.error)[0].startswith("this render costs 20 credits but the balance is 15")
    assert (await job_row(db, job.id)).status == "failed"
    assert len(await entries(db, job_id=job.id)) == 2
    assert await job_events(db, job.id, "audit") == []


async def test_refund_gives_a_lost_refund_back_once_and_audits_it(dashboard_env, db, seeded):
    job = seeded.jobs["f05"]  # failed, its refund never happened
    before = await balance(db, seeded, "A")
    at = open_job(job.id)
    click(at, "ask:refund")
    click(at, "yes:refund")
    assert texts(at.success) == [f"job {job.id} refunded {job.cost} credit(s)"]
    [refund] = [e for e in await entries(db, job_id=job.id) if e.kind == "refund"]
    assert (refund.amount, refund.actor) == (job.cost, "ops-bob")
    [audit] = await job_events(db, job.id, "audit")
    assert (audit.actor, audit.detail["action"]) == ("ops-bob", "refund")
    assert await balance(db, seeded, "A") == before + job.cost
    assert at.button(key="ask:refund").disabled  # refunded now

    for done in ("c01", "f01"):  # completed; already refunded
        assert open_job(seeded.jobs[done].id).button(key="ask:refund").disabled


async def test_grant_credits_with_confirmation_records_the_admin(dashboard_env, db, seeded):
    account = seeded.accounts["B"]
    at = run(app_test())
    go(at, "Credits")
    at.text_input(key="grant_account").input(account)
    run(at)
    at.number_input(key="grant_amount").set_value(50)
    at.text_input(key="grant_note").input("goodwill after outage")
    run(at)
    click(at, "ask:grant")
    assert texts(at.warning)[-1] == f"Grant 50 credit(s) to account {account}?"
    click(at, "yes:grant")
    assert texts(at.success) == ["granted 50 credit(s); balance now 65"]
    grant = (await entries(db, account_id=account))[-1]
    assert (grant.kind, grant.amount, grant.actor, grant.note) == (
        "grant", 50, "ops-alice", "goodwill after outage")
    assert await balance(db, seeded, "B") == 65


async def test_retry_failed_in_window_touches_only_that_window(dashboard_env, db, seeded):
    at = run(app_test())  # the last hour: f01 and f02 failed in it; f03-f05 before it
    at.radio(key="window_charge").set_value("free")
    run(at)
    click(at, "ask:window_retry")
    assert texts(at.warning)[-1].startswith("Retry the 2 job(s) that failed between")
    click(at, "yes:window_retry")
    assert texts(at.success) == ["retried 2 job(s)"]
    for key in ("f01", "f02"):
        row = await job_row(db, seeded.jobs[key].id)
        assert row.status == "queued"
        [audit] = await job_events(db, row.id, "audit")
        assert (audit.actor, audit.detail["scope"]) == ("ops-alice", "window")
        start, end = audit.detail["window"]
        assert end > seeded.now.isoformat() and start < (seeded.now - timedelta(minutes=59)).isoformat()
    for key in ("f03", "f04", "f05"):
        job = seeded.jobs[key]
        row = await job_row(db, job.id)
        assert (row.status, row.finished_at) == ("failed", job.finished)
        assert await job_events(db, job.id, "audit") == []


async def test_recharged_window_retry_skips_jobs_whose_account_cannot_pay(
    dashboard_env, db, seeded
):
    at = run(app_test())
    at.radio(key="window_charge").set_value("recharge")
    run(at)
    click(at, "ask:window_retry")
    click(at, "yes:window_retry")
    [message] = texts(at.success)
    assert message.startswith("retried 1 job(s); skipped 1: job_seed_f02: this render costs 20")
    assert (await job_row(db, seeded.jobs["f01"].id)).status == "queued"
    assert (await job_row(db, seeded.jobs["f02"].id)).status == "failed"


async def test_a_retry_is_enqueued_on_the_redis_broker_after_commit(
    dashboard_env, db, seeded, redis_url, monkeypatch
):
    import json

    import redis

    from core.settings import get_settings

    monkeypatch.setenv("RENDERBOT_BROKER_URL", redis_url)
    get_settings.cache_clear()
    job = seeded.jobs["f01"]
    at = open_job(job.id)
    at.radio(key="retry_charge").set_value("free")
    run(at)
    click(at, "ask:retry")
    click(at, "yes:retry")
    client = redis.Redis.from_url(redis_url)
    [message_id] = client.lrange("dramatiq:renders", 0, -1)
    message = json.loads(client.hget("dramatiq:renders.msgs", message_id))
    assert (message["actor_name"], message["args"]) == ("start_render", [job.id, 0])
    go(at, "Health")
    assert {m.label: m.value for m in at.metric}["Ready messages"] == "1"
