"""`renderbot dashboard` as a real process, seen by headless Chromium: the health page
renders its key figures (read back from the page's text) and a screenshot is kept at
``artifacts/dashboard-health.png``."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core import admin
from core.db import Database, utcnow
from dashboard import format as fmt
from tests.dashboard.cdp import Browser
from tests.dashboard.expected import expected
from tests.fixtures.dashboard import build_seed, insert_seed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "artifacts" / "dashboard-health.png"
CHROMIUM = os.environ.get("RENDERBOT_CHROMIUM_PATH", "/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _renderbot() -> list[str]:
    script = Path(sys.executable).parent / "renderbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


@pytest.fixture
def dashboard_process(sqlite_url, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")}
    env.update(RENDERBOT_DATABASE_URL=sqlite_url, RENDERBOT_VAR_DIR=str(tmp_path / "var"),
               RENDERBOT_DASHBOARD__REFRESH_SECONDS="0")
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


def test_the_health_page_renders_its_figures_in_a_real_browser(
    sqlite_url, tmp_path, dashboard_process
):
    if not Path(CHROMIUM).exists():
        from tests.fixtures.databases import missing_service

        missing_service(f"Chromium not found at {CHROMIUM}")
    seed = asyncio.run(_seed(sqlite_url))
    want = expected(seed, admin.WINDOWS["1h"], admin.BUCKET_SECONDS["1h"])

    browser = Browser(CHROMIUM, tmp_path / "chromium")
    try:
        browser.open(dashboard_process)
        text = browser.wait_for(lambda t: "Retry failed jobs in this window" in t
                                and "Dead" not in t and "USD per credit" in t)
        browser.screenshot(ARTIFACT)
    finally:
        browser.close()
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)

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
