"""``renderbot render status --json`` carries the job's ``poster_url`` (issue 17)."""

from __future__ import annotations

import json

from tests.cli.test_cli import Cli


def test_render_status_json_has_the_poster_url(tmp_path):
    cli = Cli(tmp_path, {"RENDERBOT_RENDER_BACKEND": "instant", "RENDERBOT_TEST_BACKENDS": "1",
                         "RENDERBOT_SECRET_KEY": "test-secret-0123456789"})
    account = cli("accounts", "create", "poster").stdout.strip()
    cli("credits", "grant", account, "10")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"composition": "Visualizer", "props": {"title": "x"}}))
    project = cli("projects", "create", account, "--name", "p", "--state-file",
                  str(state)).stdout.strip()
    submitted = json.loads(cli("render", "submit", project, "--resolution", "320x180",
                               "--duration", "1", "--wait", "--json").stdout)
    job = json.loads(cli("render", "status", submitted["id"], "--json").stdout)
    assert job["status"] == "completed"
    assert "/p/" in job["poster_url"] and job["poster_url"] != job["result_url"]
