"""`renderbot lambda deploy`: deploy the Remotion Lambda function and site, print the settings.

Runs the npm scripts of ``remotion/package.json`` (``deploy:lambda:function`` and
``deploy:lambda:site``), which call the Remotion CLI installed in ``remotion/node_modules``
— the pinned version, the same as the ``remotion-lambda`` Python SDK (checked first: the
function refuses a client of another version). AWS credentials and region come from the
environment the Remotion CLI reads (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or
``REMOTION_AWS_*``, ``--region``); see Remotion's Lambda setup guide for the IAM policy.

Prints the ``RENDERBOT_*`` lines for the worker's environment. ``--dry-run`` prints the
commands and the function name Remotion will use, without calling AWS.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import typer

from cli.common import console, fail, load_settings


def sdk_version() -> str:
    """The remotion-lambda SDK's Remotion version (imported here: it brings boto3, which
    every other ``renderbot`` command would pay for at start-up)."""
    from remotion_lambda.version import VERSION

    return VERSION

lambda_app = typer.Typer(help="Remotion Lambda: deploy the function and site.",
                         no_args_is_help=True)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def installed_version(remotion_dir: Path) -> str | None:
    package = remotion_dir / "node_modules" / "@remotion" / "lambda" / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def deploy_flags(remotion_dir: Path) -> dict[str, int]:
    """``--memory``/``--disk``/``--timeout`` of the ``deploy:lambda:function`` script."""
    scripts = json.loads((remotion_dir / "package.json").read_text()).get("scripts", {})
    script = scripts.get("deploy:lambda:function", "")
    flags = {k: int(v) for k, v in re.findall(r"--(memory|disk|timeout)=(\d+)", script)}
    # Remotion's defaults when a flag is absent
    return {"memory": flags.get("memory", 2048), "disk": flags.get("disk", 2048),
            "timeout": flags.get("timeout", 120)}


def function_name(flags: dict[str, int], version: str | None = None) -> str:
    """The name Remotion gives the function (``speculateFunctionName``)."""
    version = version or sdk_version()
    return (f"remotion-render-{version.replace('.', '-')}-mem{flags['memory']}mb-"
            f"disk{flags['disk']}mb-{flags['timeout']}sec")


def parse_serve_url(output: str) -> str | None:
    """The serve URL from ``remotion lambda sites create`` output ("Serve URL  https://...")."""
    for line in _ANSI.sub("", output).splitlines():
        match = re.match(r"\s*Serve URL\s*=?\s+(\S+)", line)  # "=" with --log=verbose
        if match:
            return match.group(1)
    return None


def _npm(remotion_dir: Path, script: str, *args: str) -> list[str]:
    return ["npm", "run", "--silent", "--prefix", str(remotion_dir), script, "--", *args]


@lambda_app.command("deploy")
def deploy(
    region: str = typer.Option(None, "--region", help="AWS region (default: "
                               "RENDERBOT_REMOTION_REGION, AWS_REGION, us-east-1)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print what would run; call nothing"),
) -> None:
    """Deploy the function and the site with the pinned Remotion; print RENDERBOT_* values."""
    settings = load_settings()
    remotion_dir = settings.remotion_dir
    region = region or settings.remotion_region or os.environ.get("AWS_REGION") or "us-east-1"
    found = installed_version(remotion_dir)
    if found is None:
        fail(f"Remotion is not installed in {remotion_dir}: run `npm ci --prefix remotion`")
    if found != sdk_version():
        fail(f"remotion/node_modules has @remotion/lambda {found} but the remotion-lambda SDK is "
             f"{sdk_version()}; the function would refuse renderbot: install matching versions")
    flags = deploy_flags(remotion_dir)
    fn_cmd = _npm(remotion_dir, "deploy:lambda:function", f"--region={region}", "-q")
    site_cmd = _npm(remotion_dir, "deploy:lambda:site", f"--region={region}")
    if dry_run:
        console.print(f"# Remotion {sdk_version()} (SDK and remotion/node_modules agree)")
        console.print(" ".join(fn_cmd), highlight=False, soft_wrap=True)
        console.print(" ".join(site_cmd), highlight=False, soft_wrap=True)
        console.print(f"# the function will be named {function_name(flags)}", highlight=False)
        return

    name = _run(fn_cmd, "function deploy").strip().splitlines()
    deployed = name[-1].strip() if name else ""
    if not deployed.startswith("remotion-render-"):
        fail(f"could not read the function name from the deploy output: {deployed!r}")
    serve_url = parse_serve_url(_run(site_cmd, "site create"))
    if serve_url is None:
        fail("could not read the serve URL from `remotion lambda sites create`")
    secret = settings.remotion_webhook_secret
    lines = [
        "RENDERBOT_RENDER_BACKEND=lambda",
        f"RENDERBOT_REMOTION_REGION={region}",
        f"RENDERBOT_REMOTION_FUNCTION_NAME={deployed}",
        f"RENDERBOT_REMOTION_SERVE_URL={serve_url}",
        f"RENDERBOT_REMOTION__FUNCTION_TIMEOUT_SECONDS={flags['timeout']}",
    ]
    if secret is None:
        lines.append(f"RENDERBOT_REMOTION_WEBHOOK_SECRET={secrets.token_urlsafe(32)}  # new")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)


def _run(cmd: list[str], what: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        fail("npm is not installed")
    except subprocess.TimeoutExpired:
        fail(f"Remotion Lambda {what} did not finish in 30 minutes")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        fail(f"Remotion Lambda {what} failed: {' | '.join(tail)}")
    return done.stdout
