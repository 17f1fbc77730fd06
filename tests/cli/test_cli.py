"""The `renderbot` CLI on the embedded default: the typer app in-process (typer's
CliRunner, each invocation with a clean RENDERBOT_* environment, its own working directory
and fresh settings), and the real entry point as a subprocess for the smoke tests
(``Cli(..., as_subprocess=True)``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

RENDERBOT = shutil.which("renderbot", path=str(Path(sys.executable).parent)) or "renderbot"


class Cli:
    def __init__(self, tmp_path: Path, extra_env: dict[str, str] | None = None, *,
                 as_subprocess: bool = False) -> None:
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")
        } | {"RENDERBOT_VAR_DIR": str(tmp_path / "var")} | (extra_env or {})
        self.cwd = tmp_path
        self.as_subprocess = as_subprocess

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        run = self._subprocess if self.as_subprocess else self._in_process
        proc = run(list(args))
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    def _subprocess(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [RENDERBOT, *args], capture_output=True, text=True, env=self.env, cwd=self.cwd,
            timeout=120,
        )

    def _in_process(self, args: list[str]) -> subprocess.CompletedProcess:
        """The same command through the typer app, in this process: the environment is
        exactly ``self.env`` while it runs, settings are read afresh (``get_settings`` is
        cached per process), and an exception the CLI let through shows as the traceback
        the real entry point would print."""
        from typer.testing import CliRunner

        from cli.main import app
        from core.settings import get_settings

        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.cwd)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, args)
        finally:
            get_settings.cache_clear()
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        stderr = result.stderr
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*result.exc_info))
        return subprocess.CompletedProcess(["renderbot", *args], result.exit_code,
                                           result.stdout, stderr)

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)

    def refused(self, *args: str, says: str) -> str:
        proc = self(*args, ok=False)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
        line = proc.stderr.strip()
        assert len(line.splitlines()) == 1, line
        assert says in line, line
        return line


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


def fund(cli: Cli) -> tuple[str, str]:
    account = cli("accounts", "create", "alice").stdout.strip()
    cli("credits", "grant", account, "3", "--note", "trial")
    project = cli("projects", "create", account, "--name", "Launch teaser").stdout.strip()
    return account, project


@pytest.fixture
def funded(cli):
    return fund(cli)


SMALL = ["--resolution", "320x180", "--fps", "30", "--duration", "2", "--quality", "low"]


def test_happy_path_from_account_to_cancelled_render(tmp_path):
    cli = Cli(tmp_path, as_subprocess=True)  # smoke: the installed entry point, end to end
    account, project = fund(cli)
    assert account.startswith("acc_") and project.startswith("prj_")
    quote = cli.json("render", "quote", project, *SMALL, "--effect", "grain")
    assert quote["credit_cost"] == 1 and quote["balance"] == 3 and quote["balance_after"] == 2
    assert quote["settings"]["effects"] == ["grain"]

    job = cli.json("render", "submit", project, *SMALL)
    assert job["status"] == "queued" and job["credit_cost"] == 1
    assert cli.json("credits", "show", account)["balance"] == 2
    assert cli.json("render", "status", job["id"])["id"] == job["id"]
    listed = cli.json("render", "list", "--status", "queued")
    assert [j["id"] for j in listed] == [job["id"]]

    cancelled = cli.json("render", "cancel", job["id"])
    assert cancelled["status"] == "cancelled"
    statement = cli.json("credits", "show", account)
    assert statement["balance"] == 3
    assert [e["kind"] for e in statement["entries"]] == ["refund", "debit", "grant"]
    projects = cli.json("projects", "list", account)
    assert projects[0]["name"] == "Launch teaser"


def test_keys_are_printed_once_and_differ(cli, funded):
    account, _ = funded
    first = cli("keys", "create", account).stdout.strip()
    second = cli("keys", "create", account).stdout.strip()
    assert first.startswith("rb_") and second.startswith("rb_") and first != second


def test_state_file_sets_the_project_props(cli, funded, tmp_path):
    account, _ = funded
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"props": {"title": "Hello", "palette": ["#000", "#fff"]}}))
    project = cli.json("projects", "create", account, "--name", "p2", "--state-file", str(state))
    assert project["state"]["props"]["title"] == "Hello"
    assert project["state"]["composition"] == "Visualizer"


def test_idempotent_cli_submit_charges_once(cli, funded):
    account, project = funded
    a = cli.json("render", "submit", project, *SMALL, "--idempotency-key", "k")
    b = cli.json("render", "submit", project, *SMALL, "--idempotency-key", "k")
    assert a["id"] == b["id"]
    assert cli.json("credits", "show", account)["balance"] == 2
    cli.refused("render", "submit", project, *SMALL[:-2], "--quality", "high",
                "--idempotency-key", "k", says="different request")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--resolution", "321x180"], "resolution"),
        (["--resolution", "big"], "WIDTHxHEIGHT"),
        (["--fps", "29"], "frame_rate: 29 is not supported"),
        (["--duration", "0.2"], "duration"),
        (["--duration", "9999"], "duration"),
        (["--quality", "ultra"], "quality"),
        (["--effect", "sparkles"], "effects: 'sparkles' is not an effect"),
    ],
)
def test_bad_settings_are_refused_in_one_line_and_charge_nothing(cli, funded, args, says):
    account, project = funded
    cli.refused("render", "submit", project, *args, says=says)
    assert cli.json("credits", "show", account)["balance"] == 3
    assert cli.json("render", "list") == []


def test_insufficient_credits_is_refused_and_writes_nothing(cli, funded):
    account, project = funded
    cli.refused("render", "submit", project, "--resolution", "1920x1080", "--duration", "60",
                says="missing")
    assert cli.json("credits", "show", account)["balance"] == 3
    assert cli.json("render", "list") == []


def test_unknown_ids_and_bad_values_are_one_line_errors(cli, funded, tmp_path):
    account, project = funded
    cli.refused("credits", "show", "acc_nope", says="account 'acc_nope' not found")
    cli.refused("credits", "grant", account, "0", says="amount")
    cli.refused("credits", "grant", "acc_nope", "5", says="not found")
    cli.refused("projects", "create", "acc_nope", "--name", "x", says="not found")
    cli.refused("render", "quote", "prj_nope", says="project 'prj_nope' not found")
    cli.refused("render", "status", "job_nope", says="not found")
    cli.refused("render", "cancel", "job_nope", says="not found")
    cli.refused("render", "list", "--status", "lost", says="status")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    cli.refused("projects", "create", account, "--name", "x", "--state-file", str(bad),
                says="--state-file")
    bad.write_text(json.dumps({"props": {"palette": ["#000"]}}))
    cli.refused("projects", "create", account, "--name", "x", "--state-file", str(bad),
                says="palette")


def test_cancel_of_a_terminal_job_is_refused(cli, funded):
    _, project = funded
    job = cli.json("render", "submit", project, *SMALL)
    cli("render", "cancel", job["id"])
    cli.refused("render", "cancel", job["id"], says="is cancelled; cannot cancel")


def test_placeholder_secret_is_refused(tmp_path):
    cli = Cli(tmp_path, {"RENDERBOT_SECRET_KEY": "changeme"}, as_subprocess=True)
    cli.refused("accounts", "list", says="placeholder")


def test_db_upgrade_on_postgresql(tmp_path, pg_url):
    cli = Cli(tmp_path, {"RENDERBOT_DATABASE_URL": pg_url, "RENDERBOT_SECRET_KEY": "s3cret-for-tests"})
    assert "head" in cli("db", "upgrade").stdout
    account = cli("accounts", "create", "pg").stdout.strip()
    assert cli.json("credits", "show", account)["balance"] == 0


def test_missing_schema_on_postgresql_points_at_db_upgrade(tmp_path, pg_url):
    url = pg_url.rsplit("/", 1)[0] + "/test"
    cli = Cli(tmp_path, {"RENDERBOT_DATABASE_URL": url, "RENDERBOT_SECRET_KEY": "s3cret-for-tests"})
    cli.refused("accounts", "list", says="renderbot db upgrade")


def test_admins_create_prints_the_password_once_list_and_disable(cli):
    created = cli.json("admins", "create", "alice", "--role", "operator")
    assert created["name"] == "alice" and created["role"] == "operator"
    assert len(created["password"]) >= 20
    text = cli("admins", "create", "bob", "--role", "viewer").stdout
    assert "password (shown once):" in text
    cli.refused("admins", "create", "alice", "--role", "viewer", says="already exists")
    cli.refused("admins", "create", "carol", "--role", "root", says="role")
    listed = cli.json("admins", "list")
    assert [(a["name"], a["role"], a["disabled_at"]) for a in listed] == [
        ("alice", "operator", None), ("bob", "viewer", None)]
    assert created["password"] not in json.dumps(listed)
    assert cli.json("admins", "disable", "bob")["disabled_at"] is not None
    cli.refused("admins", "disable", "nobody", says="not found")
    db = (cli.cwd / "var" / "renderbot.db").read_bytes()
    assert created["password"].encode() not in db
