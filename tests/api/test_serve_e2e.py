"""End to end on the embedded default: `renderbot serve` as a subprocess, set up with the
CLI, a render created and followed over HTTP like a script would, its result_url
downloaded without an API key (a real mp4), and that link expiring."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core import downloads
from tests.fixtures.api import free_port
from tests.fixtures.pipeline import TINY
from tests.pipeline.test_local_pipeline import probe, video_stream

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"
LINK_SECONDS = 60  # the shortest link lifetime the settings allow


@pytest.fixture
def serve(tmp_path, render_server_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")} | {
        "RENDERBOT_VAR_DIR": str(tmp_path / "var"),
        "RENDERBOT_RENDER_SERVER_DIR": str(render_server_dir),  # the session's warm server
        "RENDERBOT_WORKER__POLL_INTERVAL": "0.2",
        "RENDERBOT_WORKER__LINK_EXPIRY_SECONDS": str(LINK_SECONDS),
        "RENDERBOT_API__LOG_FORMAT": "json",
    }
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([RENDERBOT, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])
        time.sleep(0.2)

    def cli(*args: str) -> str:
        out = subprocess.run([RENDERBOT, *args], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    yield url, cli, tmp_path / "serve.log"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


async def test_serve_renders_over_http_and_the_link_downloads_an_mp4_then_expires(
    serve, tmp_path
):
    url, cli, log_path = serve
    account = cli("accounts", "create", "e2e")
    cli("credits", "grant", account, "10")
    key = cli("keys", "create", account)
    auth = {"Authorization": f"Bearer {key}"}

    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        assert (await api.get("/readyz")).json()["status"] == "ready"
        project = await api.post("/v1/projects", headers=auth, json={"name": "E2E clip"})
        assert project.status_code == 201, project.text
        created = await api.post(
            "/v1/renders", headers={**auth, "Idempotency-Key": "e2e-1"},
            json={"project_id": project.json()["id"], "settings": {**TINY, "duration": 2}},
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + 180
        while True:
            job = (await api.get(f"/v1/renders/{job_id}", headers=auth)).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.3)
        assert job["status"] == "completed", job["error"]
        assert job["progress"] == 100
        credits = (await api.get("/v1/credits", headers=auth)).json()
        assert credits["balance"] == 9

    result_url = job["result_url"]
    assert result_url.startswith(f"{url}/d/{job_id}?")
    async with httpx.AsyncClient(timeout=30) as anonymous:  # no API key, like a browser
        video = await anonymous.get(result_url, follow_redirects=True)
        assert video.status_code == 200, video.text
        assert video.headers["content-type"] == "video/mp4"
        assert "attachment" in video.headers["content-disposition"]
        path = tmp_path / "download.mp4"
        path.write_bytes(video.content)
        stream = video_stream(probe(path))
        assert (stream["width"], stream["height"], stream["codec_name"]) == (320, 180, "h264")
        assert int(stream["nb_read_frames"]) == 60

        # The link is time-limited: it expires after the configured lifetime, and a link
        # past its expiry is refused. Rather than wait the lifetime out (a minute), the
        # test signs the same job's link with this server's own key (the embedded
        # default's var/secret_key): once with an expiry just passed, once with the
        # server's own expiry, which must be exactly the link the server handed out.
        expires = int(parse_qs(urlsplit(result_url).query)["exp"][0])
        assert 0 < expires - time.time() <= LINK_SECONDS
        secret = (tmp_path / "var" / "secret_key").read_text().strip().encode()
        assert f"sig={downloads.sign(secret, job_id, expires)}" in result_url
        past = int(time.time()) - 1
        late = await anonymous.get(
            f"{url}/d/{job_id}?exp={past}&sig={downloads.sign(secret, job_id, past)}")
        assert late.status_code == 410
        assert late.json()["error"]["code"] == "link_expired"

    logged = log_path.read_text()
    assert f'"job_id": "{job_id}"' in logged  # structured lines about the job carry its id
