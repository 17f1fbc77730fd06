"""`renderbot lambda deploy` without AWS: the commands it would run, the version check, and
reading the Remotion CLI's output. (A real deploy needs an AWS account; none here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.lambda_deploy import deploy_flags, function_name, parse_serve_url
from tests.fixtures.databases import missing_service
from tests.fixtures.pipeline import REMOTION_DIR
from tests.lambda_standin.server import FUNCTION_NAME

ROOT = Path(__file__).resolve().parents[2]


def _renderbot(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")}
    environ.update({"RENDERBOT_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_dry_run_prints_the_pinned_deploy_commands(tmp_path):
    out = _renderbot(tmp_path, "lambda", "deploy", "--dry-run", "--region", "eu-central-1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "# Remotion 4.0.527 (SDK and remotion/node_modules agree)"
    assert f"--prefix {REMOTION_DIR} deploy:lambda:function -- --region=eu-central-1 -q" in lines[1]
    assert f"--prefix {REMOTION_DIR} deploy:lambda:site -- --region=eu-central-1" in lines[2]
    assert lines[3] == f"# the function will be named {FUNCTION_NAME}"


def test_a_version_mismatch_is_refused_before_anything_runs(tmp_path):
    fake = tmp_path / "remotion"
    (fake / "node_modules" / "@remotion" / "lambda").mkdir(parents=True)
    (fake / "node_modules" / "@remotion" / "lambda" / "package.json").write_text(
        json.dumps({"version": "4.0.400"}))
    out = _renderbot(tmp_path, "lambda", "deploy", RENDERBOT_REMOTION_DIR=str(fake))
    assert out.returncode == 1
    assert "4.0.400" in out.stderr and "4.0.527" in out.stderr


def test_the_npm_scripts_deploy_with_the_pinned_cli_and_our_timeout():
    scripts = json.loads((REMOTION_DIR / "package.json").read_text())["scripts"]
    assert scripts["deploy:lambda"] == "npm run deploy:lambda:function && npm run deploy:lambda:site"
    assert scripts["deploy:lambda:function"].startswith("npx --no remotion lambda functions deploy")
    assert scripts["deploy:lambda:site"] == (
        "npx --no remotion lambda sites create src/index.ts --site-name=renderbot")
    assert deploy_flags(REMOTION_DIR) == {"memory": 2048, "disk": 2048, "timeout": 900}


def test_the_function_name_is_remotions_own():
    if not (REMOTION_DIR / "node_modules" / "@remotion" / "lambda-client").is_dir():
        missing_service("Remotion is not installed (run `npm ci --prefix remotion`)")
    script = ("const {speculateFunctionName: f} = require('@remotion/lambda-client');"
              "console.log(f({memorySizeInMb: 2048, diskSizeInMb: 2048, timeoutInSeconds: 900}))")
    out = subprocess.run(["node", "-e", script], cwd=REMOTION_DIR, capture_output=True,
                         text=True, check=True, timeout=60).stdout.strip()
    assert function_name(deploy_flags(REMOTION_DIR)) == out == FUNCTION_NAME


def test_the_serve_url_is_read_from_the_cli_output():
    # printFact('info') of @remotion/cli 4.0.527: the label padded to 20, the whole line
    # coloured; with --log=verbose "label = value"
    url = "https://remotionlambda-useast1-abc.s3.us-east-1.amazonaws.com/sites/renderbot/index.html"
    output = ("\x1b[90m+ S3\x1b[39m Bucket ready\n"
              f"\x1b[94m{'Serve URL'.ljust(20)} {url}\x1b[39m\n"
              f"\x1b[94m{'Site name'.ljust(20)} renderbot\x1b[39m\n")
    assert parse_serve_url(output) == url
    assert parse_serve_url(f"\x1b[94mServe URL = {url}\x1b[39m") == url
    assert parse_serve_url("nothing here") is None
