"""Fixtures for the local render server tests: one real server for the session.

Real renders only. With RENDERBOT_REQUIRE_SERVICES=1 a missing Node install,
node_modules or Chromium fails the tests; otherwise they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.render.local_server import LocalRenderServer, find_ffmpeg, find_ffprobe
from tests.fixtures.faults import TEST_ENTRY

REPO = Path(__file__).resolve().parents[2]
REMOTION_DIR = REPO / "remotion"
# bundles are cached here across runs (var/ is git-ignored)
CACHE_DIR = REPO / "var" / "test-cache" / "remotion"
CHROMIUM = os.environ.get("RENDERBOT_CHROMIUM", "/usr/bin/chromium")


def _missing_render_services() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node.js 20+)"
    if not (REMOTION_DIR / "node_modules" / "@remotion" / "renderer").is_dir():
        return "remotion/node_modules is missing: run `npm ci --prefix remotion`"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    return None


def require_render_services() -> None:
    reason = _missing_render_services()
    if reason is None:
        return
    if os.environ.get("RENDERBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"render services required but missing: {reason}", pytrace=False)
    pytest.skip(reason)


def short_socket_dir() -> Path:
    """A socket directory short enough for sun_path (108 bytes)."""
    return Path(tempfile.mkdtemp(prefix="rb-render-", dir="/tmp"))


def server_kwargs(socket_dir: Path) -> dict[str, Any]:
    return {
        "remotion_dir": REMOTION_DIR,
        "socket_path": socket_dir / "render.sock",
        "cache_dir": CACHE_DIR,
        "chromium": CHROMIUM,
        "entry_point": TEST_ENTRY,  # the test-only entry: see tests/fixtures/faults.py
        # a server orphaned by an interrupted test run goes away by itself
        "idle_exit": 600,
    }


@pytest.fixture(scope="session")
def render_server_config() -> Iterator[dict[str, Any]]:
    """Starts ONE render server for the whole session; yields the constructor kwargs."""
    require_render_services()
    socket_dir = short_socket_dir()
    kwargs = server_kwargs(socket_dir)
    owner = LocalRenderServer(**kwargs)
    asyncio.run(owner.ensure_started())
    yield kwargs
    asyncio.run(owner.close())
    shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.fixture
async def render_server(render_server_config) -> AsyncIterator[LocalRenderServer]:
    """A client of the session's server (joins it; never stops it)."""
    client = LocalRenderServer(**render_server_config)
    await client.ensure_started()
    yield client
    await client.close()


@pytest.fixture(scope="session")
def ffprobe() -> Path:
    require_render_services()
    return find_ffprobe(REMOTION_DIR)


@pytest.fixture(scope="session")
def ffmpeg() -> Path:
    require_render_services()
    return find_ffmpeg(REMOTION_DIR)
