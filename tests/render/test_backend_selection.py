"""The ``instant`` backend (placeholder bytes, real charges) exists for tests and
benchmarks only: settings refuse it unless RENDERBOT_TEST_BACKENDS=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_instant_is_refused_without_the_test_flag(tmp_path):
    with pytest.raises(ValidationError, match="RENDERBOT_TEST_BACKENDS=1"):
        Settings(var_dir=tmp_path, render_backend="instant", _env_file=None)


def test_instant_is_allowed_with_the_test_flag(tmp_path):
    settings = Settings(var_dir=tmp_path, render_backend="instant", test_backends=True,
                        _env_file=None)
    assert settings.render_backend == "instant"


def test_the_cli_says_why_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERBOT_")}
    env.update(RENDERBOT_VAR_DIR=str(tmp_path), RENDERBOT_RENDER_BACKEND="instant")
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "render", "list"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "RENDERBOT_TEST_BACKENDS=1" in lines[0] and "Traceback" not in done.stderr
