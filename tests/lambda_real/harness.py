"""Remotion's real Lambda function on this machine: the emulator, the code, the site.

:class:`RealLambda` prepares the function (:mod:`tests.lambda_real.function`), deploys
the Remotion project with Remotion's own ``getOrCreateBucket()`` + ``deploySite()`` into
the "AWS S3" moto server, and serves the Lambda API (:mod:`tests.lambda_real.emulator`).
The site is served as ``http://<bucket>.localhost:<port>/sites/<name>/index.html``: the
bundle uses absolute ``/sites/<name>/`` paths and Chromium resolves ``*.localhost`` to
loopback; S3 is addressed by IP literal, which Remotion's SDK addresses path-style.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

from tests.lambda_real import function
from tests.lambda_real.emulator import Function, LambdaEmulator

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
VERSION = function.package_version("lambda")
OTHER_VERSION = "4.0.0"  # what an old deployment reports (version-mismatch test)


def function_name(timeout: int, version: str = VERSION) -> str:
    """Remotion's naming: ``remotion-render-4-0-527-mem2048mb-disk2048mb-60sec``."""
    return f"remotion-render-{version.replace('.', '-')}-mem2048mb-disk2048mb-{timeout}sec"


class RealLambda:
    def __init__(self, *, aws_s3_endpoint: str, work_dir: Path, timeout: int = 120) -> None:
        self.aws_s3_endpoint = aws_s3_endpoint
        self.work_dir = work_dir
        self.region = REGION
        self.timeout = timeout
        self.emulator: LambdaEmulator | None = None
        self.code_dir: Path | None = None
        self.bucket = ""
        self.serve_urls: dict[str, str] = {}
        self.startup_seconds: dict[str, float] = {}

    @property
    def aws_env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_ENDPOINT_URL_S3": self.aws_s3_endpoint,
                "AWS_ENDPOINT_URL_STS": self.aws_s3_endpoint}

    @property
    def function_name(self) -> str:
        return function_name(self.timeout)

    @property
    def url(self) -> str:
        assert self.emulator is not None
        return self.emulator.url

    def start(self) -> RealLambda:
        began = time.monotonic()
        self.code_dir = function.prepare()
        self.startup_seconds["function"] = time.monotonic() - began
        self.emulator = LambdaEmulator(
            functions=[Function(self.function_name, self.code_dir, timeout=self.timeout)],
            function_env=self.aws_env, log_dir=self.work_dir / "invocations", region=REGION,
        ).start()
        began = time.monotonic()
        self.serve_urls["renderbot"] = self.deploy_site(function.REMOTION_DIR / "src" / "index.ts",
                                                        "renderbot")
        self.startup_seconds["deploy_site"] = time.monotonic() - began
        return self

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def deploy_site(self, entry_point: Path, site_name: str) -> str:
        """Remotion's deploySite(); returns the serve URL Chromium can load here."""
        env = {**os.environ, **self.aws_env}
        env.pop("AWS_ENDPOINT_URL_LAMBDA", None)
        result = subprocess.run(
            ["node", str(HERE / "deploy_site.cjs"), str(function.REMOTION_DIR), str(entry_point),
             site_name, REGION], env=env, capture_output=True, text=True, timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"deploySite failed: {result.stderr.strip()[-2000:]}")
        deployed = json.loads(result.stdout.strip().splitlines()[-1])
        self.bucket = deployed["bucketName"]
        port = urlparse(self.aws_s3_endpoint).port
        return f"http://{self.bucket}.localhost:{port}/sites/{deployed['siteName']}/index.html"

    def add_function(self, *, timeout: int, version: str = VERSION) -> str:
        """Another function (another timeout, or a function of another Remotion version)."""
        assert self.emulator is not None and self.code_dir is not None
        name = function_name(timeout, version)
        if name not in self.emulator.functions:
            code = self.code_dir if version == VERSION else function.with_version(self.code_dir, version)
            self.emulator.functions[name] = Function(name, code, timeout=timeout)
        return name
