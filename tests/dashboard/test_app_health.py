"""The health page (AppTest, SQLite and PostgreSQL): figures equal the ones computed from
the seed in plain Python; access control; the broker's queue depth and dead letters."""

from __future__ import annotations

import pytest

from core import admin
from dashboard import format as fmt
from tests.dashboard.apptest import frame, metrics, run, texts
from tests.dashboard.expected import expected
from tests.fixtures.dashboard import ADMINS, app_test, sign_in


def _minutes(value: str) -> float:
    number, unit = value.split()
    return float(number) * {"s": 1, "min": 60, "h": 3600}[unit]


@pytest.mark.parametrize("window_key", ["1h", "24h"])
async def test_health_page_shows_the_figures_computed_from_the_seed(
    dashboard_env, seeded, window_key
):
    at = app_test()
    run(at)
    if window_key != "1h":
        at.sidebar.selectbox(key="window").set_value(window_key)
        run(at)
    want = expected(seeded, admin.WINDOWS[window_key], admin.BUCKET_SECONDS[window_key])
    shown = metrics(at)
    assert shown["Queued now"] == str(want.queued)
    assert shown["Processing now"] == str(want.processing)
    assert _minutes(shown["Oldest queued"]) == pytest.approx(want.oldest_queued_age, abs=30)
    assert shown["Created"] == fmt.count(want.created)
    assert shown["Completed"] == fmt.count(want.completed)
    assert shown["Failed"] == fmt.count(want.failed)
    assert shown["Cancelled"] == fmt.count(want.cancelled)
    assert shown["Failure rate"] == fmt.pct(want.failure_rate)
    assert shown["Queue wait p50"] == fmt.seconds(want.wait_p50)
    assert shown["Queue wait p95"] == fmt.seconds(want.wait_p95)
    assert shown["Render time p50"] == fmt.seconds(want.render_p50)
    assert shown["Render time p95"] == fmt.seconds(want.render_p95)
    assert shown["Credits debited"] == fmt.count(want.debited)
    assert shown["Credits refunded"] == fmt.count(want.refunded)
    assert shown["Render attempts"] == fmt.count(want.attempts)
    assert shown["Attempt errors"] == fmt.count(want.attempt_errors)
    assert shown["Lambda jobs"] == fmt.count(want.lambda_jobs)
    assert shown["Lambda cost reported"] == fmt.usd(want.lambda_usd)
    assert shown["Credits charged (Lambda)"] == fmt.count(want.lambda_credits)
    assert shown["USD per credit"] == fmt.usd(want.lambda_usd / want.lambda_credits)

    targets = frame(at, "metric", "value", "target").set_index("metric")
    assert targets.loc["success rate", "value"] == fmt.pct(want.success_rate)
    assert targets.loc["error rate", "value"] == fmt.pct(want.error_rate)
    assert targets.loc["download-link usage", "value"] == fmt.pct(want.download_usage)
    assert list(targets["met"]) == ["NO", "NO", "NO"]

    throughput = frame(at, "completed", "failed", "cancelled")
    assert [tuple(int(v) for v in row) for row in throughput.itertuples(index=False)] == (
        want.throughput)

    # ≥ 10 finished jobs and a success rate < 80% or an error rate ≥ 10%: red, and the
    # banner names the rule that set it (success first)
    red = []
    if want.success_rate < 0.80:
        red.append(f"success rate {fmt.pct(want.success_rate)} < 80.0%")
    if want.error_rate >= 0.10:
        red.append(f"error rate {fmt.pct(want.error_rate)} ≥ 10.0%")
    assert red and texts(at.error) == [f"**RED** — {red[0]}"]


async def test_a_quiet_healthy_window_is_green(dashboard_env, db):
    at = run(app_test())
    assert metrics(at)["Completed"] == "0"
    assert texts(at.success) == ["**GREEN** — every target met, queue moving"]
    assert at.button(key="ask:window_retry").disabled


async def test_the_page_asks_for_a_name_and_password_and_shows_nothing_before(
    dashboard_env, seeded
):
    at = app_test(admin=None)
    run(at)
    assert not at.metric
    sign_in(at, "ops-alice", "wrong")
    assert not at.metric
    assert "unknown name, wrong password or disabled admin" in texts(at.error)[0]
    sign_in(at, "ops-alice", ADMINS["ops-alice"][1])
    assert metrics(at)["Queued now"] == "2"
    assert "signed in as **ops-alice** (operator)" in texts(at.sidebar.caption)


async def test_a_token_in_the_url_does_nothing(dashboard_env, seeded):
    for token in (ADMINS["ops"][1], "ops"):
        at = app_test(admin=None)
        at.query_params["token"] = token
        run(at)
        assert not at.metric and at.text_input(key="sign_in_name").value == ""


async def test_failed_sign_ins_are_throttled_per_name_even_with_the_right_password(
    dashboard_env, seeded
):
    at = app_test(admin=None)
    for _ in range(5):
        sign_in(at, "tess", "guess")
    sign_in(at, "tess", ADMINS["tess"][1])
    assert not at.metric
    assert "too many sign-in attempts; try again in" in texts(at.error)[0]
    # another admin signs in from the same page meanwhile
    sign_in(at, "ops", ADMINS["ops"][1])
    assert metrics(at)["Queued now"] == "2"


async def test_a_disabled_admin_is_signed_out_at_the_next_click(dashboard_env, db, seeded):
    from core.admin import admins

    at = run(app_test("ops-bob"))
    assert metrics(at)["Queued now"] == "2"
    async with db.transaction() as s:
        await admins.disable(session=s, name="ops-bob")
    run(at)
    assert not at.metric and "this admin is disabled" in texts(at.warning)[0]


async def test_behind_a_trusted_proxy_the_header_names_the_admin(
    dashboard_env, seeded, monkeypatch
):
    from core.settings import get_settings

    monkeypatch.setenv("RENDERBOT_DASHBOARD__TRUSTED_USER_HEADER", "X-Forwarded-User")
    get_settings.cache_clear()
    at = run(app_test(admin=None))  # AppTest sends no such header
    assert not at.metric
    assert "only reachable through its sign-in proxy (X-Forwarded-User)" in texts(at.error)[0]


async def test_broker_depth_and_dead_letters_come_from_dramatiqs_redis_keys(
    dashboard_env, seeded, redis_url, monkeypatch
):
    from dramatiq import Message
    from dramatiq.brokers.redis import RedisBroker

    from core.settings import get_settings

    monkeypatch.setenv("RENDERBOT_BROKER_URL", redis_url)
    get_settings.cache_clear()
    broker = RedisBroker(url=redis_url)
    broker.declare_queue("renders")

    def message(*args):
        return Message(queue_name="renders", actor_name="start_render", args=args, kwargs={},
                       options={})

    broker.enqueue(message("dead", 0))
    consumer = broker.consume("renders", prefetch=1, timeout=2000)
    taken = next(consumer)
    consumer.nack(taken)  # → the dead-letter set renders.XQ
    consumer.close()
    broker.enqueue(message("later", 0), delay=600_000)  # → the delay queue renders.DQ
    broker.enqueue(message("ready", 0))

    at = run(app_test())
    shown = metrics(at)
    assert (shown["Ready messages"], shown["Delayed messages"], shown["Dead letters"]) == (
        "1", "1", "1")
    assert shown["In flight"] == "0"
    assert any("amber: 1 dead-lettered message(s)" in c.value for c in at.caption)
    broker.close()


async def test_auto_refresh_follows_the_configured_interval(dashboard_env, db, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("RENDERBOT_DASHBOARD__REFRESH_SECONDS", "5")
    get_settings.cache_clear()
    at = run(app_test())
    box = at.sidebar.checkbox(key="auto")
    assert (box.label, box.value, box.disabled) == ("Auto-refresh every 5 s", True, False)
    assert metrics(at)["Queued now"] == "0"  # the health page runs inside the timed fragment
