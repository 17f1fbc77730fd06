"""`renderbot serve` also runs the Discord bot when its token is set (the contract's
all-in-one process): the bot connects to the gateway and syncs its commands."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.fixtures.api import free_port
from tests.fixtures.fake_discord import wait_until

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"


def _start(env: dict, port: int, tmp_path: Path):
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed by the test
    proc = subprocess.Popen([RENDERBOT, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, log


async def test_serve_starts_the_discord_bot_beside_the_api(fake_discord, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
        "RENDERBOT_DISCORD_TOKEN": fake_discord.token,
        "RENDERBOT_DISCORD__API_BASE": fake_discord.api_base,
        "RENDERBOT_DISCORD__GATEWAY_URL": fake_discord.gateway_url,
    }
    proc, log = _start(env, port, tmp_path)
    try:
        await fake_discord.wait_connected(within=60)
        await wait_until(
            lambda: any(c.method == "PUT" and c.path.endswith("/commands")
                        for c in fake_discord.calls),
            within=30,
        )
        async with httpx.AsyncClient() as client:
            for _ in range(100):  # the API comes up beside the bot
                try:
                    health = await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
        assert health.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            log.close()
            if proc.poll() is None:
                proc.kill()
