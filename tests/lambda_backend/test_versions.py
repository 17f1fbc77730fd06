"""One Remotion version everywhere: the function refuses a client of another version, so
the Python SDK, the npm packages (what `npm run deploy:lambda` deploys) and the lock files
must agree."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from remotion_lambda.version import VERSION

ROOT = Path(__file__).resolve().parents[2]
PINNED = "4.0.527"


def _is_remotion(name: str) -> bool:
    return name == "remotion" or name.startswith("@remotion/")


def test_the_python_sdk_is_the_pinned_version():
    assert VERSION == PINNED
    assert version("remotion-lambda") == PINNED
    lock = (ROOT / "requirements.lock").read_text()
    assert re.findall(r"^remotion-lambda==(\S+)$", lock, re.M) == [PINNED]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r'"remotion-lambda==([^"]+)"', pyproject) == [PINNED]


def test_every_remotion_npm_package_is_the_pinned_version():
    package = json.loads((ROOT / "remotion" / "package.json").read_text())
    declared = {}
    for section in ("dependencies", "devDependencies", "optionalDependencies", "overrides"):
        for name, spec in (package.get(section) or {}).items():
            if _is_remotion(name):
                declared[f"{section}:{name}"] = spec
    assert "dependencies:remotion" in declared and "dependencies:@remotion/lambda" in declared
    for where, spec in declared.items():
        # "$@remotion/x" in overrides means "the version given in dependencies"
        resolved = package["dependencies"][spec[1:]] if spec.startswith("$") else spec
        assert resolved == PINNED, (where, spec)


def test_the_npm_lock_and_the_installed_modules_are_the_pinned_version():
    lock = json.loads((ROOT / "remotion" / "package-lock.json").read_text())
    found = {
        path: entry.get("version")
        for path, entry in lock["packages"].items()
        if _is_remotion(path.rsplit("node_modules/", 1)[-1]) and path
    }
    assert "node_modules/@remotion/lambda" in found and "node_modules/remotion" in found
    assert {p: v for p, v in found.items() if v != PINNED} == {}
    modules = ROOT / "remotion" / "node_modules"
    if not (modules / "@remotion" / "lambda").is_dir():
        pytest.skip("remotion/node_modules not installed")
    installed = {
        p.parent.name if p.parent.parent.name != "@remotion" else f"@remotion/{p.parent.name}":
        json.loads(p.read_text())["version"]
        for p in [modules / "remotion" / "package.json",
                  *sorted((modules / "@remotion").glob("*/package.json"))]
    }
    assert {n: v for n, v in installed.items() if v != PINNED} == {}
