"""`renderbot dashboard` as a real process, driven by Playwright on Debian's Chromium
(``executable_path``; no browser is downloaded): an operator signs in, sees the health
page's key figures (read back from the page's text; a screenshot is kept at
``artifacts/dashboard-health.png``) and grants credits, recorded with their name; a viewer
gets no action button; a password in ``?token=`` does nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from core import admin
from core.db import Database, utcnow
from dashboard import format as fmt
from tests.dashboard.apptest import entries
from tests.dashboard.expected import expected
from tests.fixtures.dashboard import ADMINS, build_seed, insert_seed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "artifacts" / "dashboard-health.png"
CHROMIUM = os.environ.get("RENDERBOT_CHROMIUM_PATH", "/usr/bin/chromium")
TIMEOUT_MS = 90_000  # two cores shared with other test processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _renderbot() -> list[str]:
    script = Path(sys.executable).parent / "renderbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


@pytest.fixture
def seed(sqlite_url):
    """Seeded before the dashboard starts (it refuses to start without an admin)."""
    return asyncio.run(_seed(sqlite_url))


@pytest.fixture
def dashboard_process(request, sqlite_url, tmp_path, seed):
    """``renderbot dashboard``; a test may add environment with an indirect parameter."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")}
    env.update(RENDERBOT_DATABASE_URL=sqlite_url, RENDERBOT_VAR_DIR=str(tmp_path / "var"),
               RENDERBOT_DASHBOARD__REFRESH_SECONDS="0", **getattr(request, "param", {}))
    log = (tmp_path / "dashboard.log").open("w")
    process = subprocess.Popen(
        [*_renderbot(), "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "dashboard.log").read_text()[-2000:])
            time.sleep(0.25)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # forwarded to the Streamlit child
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


FIGURES = ("Queued now", "Processing now", "Completed", "Failed", "Cancelled", "Failure rate",
           "Queue wait p50", "Render time p95", "Credits debited", "Credits refunded",
           "Lambda cost reported")


def _figure(text: str, label: str) -> str:
    found = re.search(rf"^{re.escape(label)}\n+(.+)$", text, re.M)
    assert found, f"{label!r} is not on the page"
    return found.group(1).strip()


async def _seed(url: str):
    db = Database(url)
    try:
        return await insert_seed(db, build_seed(utcnow()))
    finally:
        await db.dispose()


@pytest.fixture
def browser(tmp_path):
    if not Path(CHROMIUM).exists():
        from tests.fixtures.databases import missing_service

        missing_service(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page


def _sign_in(page, name: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(ADMINS[name][1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"signed in as {name}").wait_for()


def _body(page, *needles: str, absent: str = "Dead") -> str:
    """The page's text once every needle is on it (and Streamlit's "running" marker gone)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        text = page.inner_text("body")
        if all(n in text for n in needles) and absent not in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {needles}: {text[-1500:]}")
        time.sleep(0.25)


def test_an_operator_sees_the_health_figures_and_grants_credits_under_their_name(
    sqlite_url, seed, dashboard_process, browser
):
    want = expected(seed, admin.WINDOWS["1h"], admin.BUCKET_SECONDS["1h"])
    page = _page(browser, dashboard_process)
    _sign_in(page, "ops-alice")
    # Streamlit draws a run's elements one after another: wait for every figure read below
    text = _body(page, "Retry failed jobs in this window", "USD per credit", *FIGURES)
    page.get_by_role("button", name=re.compile(r"^Retry the \d+ failed job")).wait_for()
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACT), full_page=True)

    assert f"RED — error rate {fmt.pct(want.error_rate)} ≥ 10.0%" in text
    assert _figure(text, "Queued now") == str(want.queued)
    assert _figure(text, "Processing now") == str(want.processing)
    assert _figure(text, "Completed") == str(want.completed)
    assert _figure(text, "Failed") == str(want.failed)
    assert _figure(text, "Cancelled") == str(want.cancelled)
    assert _figure(text, "Failure rate") == fmt.pct(want.failure_rate)
    assert _figure(text, "Queue wait p50") == fmt.seconds(want.wait_p50)
    assert _figure(text, "Render time p95") == fmt.seconds(want.render_p95)
    assert _figure(text, "Credits debited") == fmt.count(want.debited)
    assert _figure(text, "Credits refunded") == fmt.count(want.refunded)
    assert _figure(text, "Lambda cost reported") == fmt.usd(want.lambda_usd)
    assert ARTIFACT.stat().st_size > 20_000  # a real rendering, not a blank page

    account = seed.accounts["B"]
    page.get_by_text("Credits", exact=True).first.click()
    _body(page, "Enter an account id")
    page.get_by_label("Account id", exact=True).fill(account)
    page.get_by_label("Account id", exact=True).press("Enter")
    page.get_by_label("Credits to grant", exact=True).fill("7")
    page.get_by_label("Credits to grant", exact=True).press("Enter")
    page.get_by_label("Note (shown on the ledger)").fill("browser grant")
    page.get_by_label("Note (shown on the ledger)").press("Enter")
    page.get_by_role("button", name="Grant credits…").click()
    page.get_by_role("button", name="Confirm").click()
    _body(page, "granted 7 credit(s)")
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        ledger = pool.submit(asyncio.run, _entries(sqlite_url, account)).result()
    grants = [(e.amount, e.actor, e.note) for e in ledger if e.kind == "grant"]
    assert grants[-1] == (7, "ops-alice", "browser grant")


def test_a_viewer_gets_no_action_buttons_and_a_token_in_the_url_does_nothing(
    seed, dashboard_process, browser
):
    page = _page(browser, f"{dashboard_process}/?token={ADMINS['ops'][1]}")
    page.get_by_role("button", name="Sign in").wait_for()
    assert "Queued now" not in page.inner_text("body")

    _sign_in(page, "vic")
    _body(page, "Retry failed jobs in this window", "Read-only: your role is viewer")
    assert page.get_by_role("button", name=re.compile("^Retry the")).count() == 0
    page.get_by_text("Jobs", exact=True).first.click()
    page.get_by_label("…or a job id").wait_for()
    page.get_by_label("…or a job id").fill(seed.jobs["f01"].id)
    page.get_by_label("…or a job id").press("Enter")
    _body(page, f"Job {seed.jobs['f01'].id}", "Read-only: your role is viewer")
    for label in ("Cancel job…", "Retry job…", "Refund job…"):
        assert page.get_by_role("button", name=label).count() == 0
    page.get_by_text("Credits", exact=True).first.click()
    _body(page, "Enter an account id")
    page.get_by_label("Account id", exact=True).fill(seed.accounts["A"])
    page.get_by_label("Account id", exact=True).press("Enter")
    _body(page, "Latest ledger entries", "Read-only: your role is viewer")
    assert page.get_by_role("button", name="Grant credits…").count() == 0


@pytest.mark.parametrize(
    "dashboard_process",
    [{"RENDERBOT_DASHBOARD__TRUSTED_USER_HEADER": "X-Forwarded-User"}], indirect=True,
)
def test_behind_a_proxy_the_trusted_header_names_the_admin(seed, dashboard_process, browser):
    page = browser.new_page(extra_http_headers={"X-Forwarded-User": "vic"})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(dashboard_process)
    _body(page, "signed in as vic (viewer)", "Read-only: your role is viewer")
    assert page.get_by_role("button", name="Sign in").count() == 0
    assert page.get_by_role("button", name="Sign out").count() == 0
    stranger = browser.new_page(extra_http_headers={"X-Forwarded-User": "mallory"})
    stranger.set_default_timeout(TIMEOUT_MS)
    stranger.goto(dashboard_process)
    _body(stranger, "'mallory' is not an enabled admin")
    assert "Queued now" not in stranger.inner_text("body")


async def _entries(url: str, account: str):
    db = Database(url)
    try:
        return await entries(db, account_id=account)
    finally:
        await db.dispose()
