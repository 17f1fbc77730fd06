"""core.admin.health against the seeded database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import admin
from tests.dashboard.expected import expected


@pytest.mark.parametrize("window_key", ["15m", "1h", "24h", "7d"])
async def test_health_figures_equal_the_ones_computed_from_the_seed(db, seeded, window_key):
    async with db.transaction() as s:
        report = await admin.health(session=s, window_key=window_key, now=seeded.now)
    want = expected(seeded, admin.WINDOWS[window_key], admin.BUCKET_SECONDS[window_key])
    assert (report.queued, report.processing) == (want.queued, want.processing)
    assert report.oldest_queued_job_id == seeded.jobs[want.oldest_queued_key].id
    assert report.oldest_queued_age == pytest.approx(want.oldest_queued_age, abs=0.01)
    assert report.created == want.created
    assert (report.completed, report.failed, report.cancelled) == (
        want.completed, want.failed, want.cancelled)
    assert report.failure_rate == pytest.approx(want.failure_rate)
    assert (report.attempts, report.attempt_errors) == (want.attempts, want.attempt_errors)
    assert report.queue_wait.p50 == pytest.approx(want.wait_p50, abs=0.01)
    assert report.queue_wait.p95 == pytest.approx(want.wait_p95, abs=0.01)
    assert report.render_time.p50 == pytest.approx(want.render_p50, abs=0.01)
    assert report.render_time.p95 == pytest.approx(want.render_p95, abs=0.01)
    assert (report.credits_debited, report.credits_refunded) == (want.debited, want.refunded)
    if want.lambda_jobs == 0:
        assert report.lambda_cost is None
    else:
        assert report.lambda_cost.jobs == want.lambda_jobs
        assert report.lambda_cost.cost_reported == pytest.approx(want.lambda_usd)
        assert report.lambda_cost.credits_charged == want.lambda_credits
    assert [(b.completed, b.failed, b.cancelled) for b in report.throughput] == want.throughput
    targets = {t.name: t.value for t in report.targets}
    assert targets["success rate"] == pytest.approx(want.success_rate)
    assert targets["error rate"] == pytest.approx(want.error_rate)
    assert targets["download-link usage"] == pytest.approx(want.download_usage)


async def test_the_seed_is_red_because_of_its_error_rate(db, seeded):
    async with db.transaction() as s:
        report = await admin.health(session=s, window_key="1h", now=seeded.now)
    want = expected(seeded, timedelta(hours=1), 300)
    assert want.error_rate >= 0.10 and want.completed + want.failed >= 10
    assert report.status == "red"
    assert report.status_rule == f"error rate {want.error_rate * 100:.1f}% ≥ 10.0%"
    assert {r.level for r in report.rules} == {"red", "amber"}


async def test_percentiles_are_taken_over_the_latest_jobs_of_a_busy_window(
    db, seeded, monkeypatch
):
    from core.admin import queue_health
    from tests.dashboard.expected import nearest_rank

    monkeypatch.setattr(queue_health, "PERCENTILE_SAMPLE", 5)
    async with db.transaction() as s:
        report = await admin.health(session=s, window_key="1h", now=seeded.now)
    start = seeded.now - timedelta(hours=1)
    started = sorted((j for j in seeded.jobs.values() if j.started and j.started >= start),
                     key=lambda j: j.started)
    latest = [(j.started - j.created).total_seconds() for j in started[-5:]]
    assert (report.queue_wait.count, report.queue_wait.sample) == (len(started), 5)
    assert report.queue_wait.p50 == pytest.approx(nearest_rank(latest, 50), abs=0.01)
    assert report.queue_wait.p95 == pytest.approx(nearest_rank(latest, 95), abs=0.01)
    done = sorted((j for j in seeded.jobs.values() if j.status == "completed"
                   and j.finished >= start), key=lambda j: j.finished)
    latest = [(j.finished - j.started).total_seconds() for j in done[-5:]]
    assert report.render_time.p50 == pytest.approx(nearest_rank(latest, 50), abs=0.01)
    assert report.render_time.p95 == pytest.approx(nearest_rank(latest, 95), abs=0.01)
