"""Remotion's real Lambda function, made runnable on an x64 Linux host (tests only).

The deployed artefact is ``@remotion/lambda/remotionlambda-arm64.zip``: ``index.js`` (a
self-contained bundle exporting ``handler``), ``mappings.wasm`` and arm64 native
binaries (ffmpeg, ffprobe, the compositor ``remotion``, ``lib*.so``). :func:`prepare`
unzips it into a cache directory and swaps only those native binaries for the x64 ones
of ``@remotion/compositor-linux-x64-gnu`` (same version, installed by ``npm ci``); the
JavaScript is Remotion's, unchanged. The directory is reused while the zip is the same.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REMOTION_DIR = REPO / "remotion"
CACHE_DIR = REPO / "var" / "cache" / "lambda-function"
RUNNER = Path(__file__).with_name("runner.cjs")


def package_dir(name: str, remotion_dir: Path = REMOTION_DIR) -> Path:
    return remotion_dir / "node_modules" / "@remotion" / name


def package_version(name: str, remotion_dir: Path = REMOTION_DIR) -> str:
    return json.loads((package_dir(name, remotion_dir) / "package.json").read_text())["version"]


def prepare(cache_dir: Path = CACHE_DIR, remotion_dir: Path = REMOTION_DIR) -> Path:
    """The function's code directory (``index.js`` + x64 binaries), built once."""
    archive = package_dir("lambda", remotion_dir) / "remotionlambda-arm64.zip"
    x64 = package_dir("compositor-linux-x64-gnu", remotion_dir)
    if not archive.is_file():
        raise RuntimeError(f"{archive} is missing: run `make node-deps`")
    if not (x64 / "remotion").is_file():
        raise RuntimeError("@remotion/compositor-linux-x64-gnu is not installed: run `make node-deps`")
    version = package_version("lambda", remotion_dir)
    if package_version("compositor-linux-x64-gnu", remotion_dir) != version:
        raise RuntimeError("@remotion/compositor-linux-x64-gnu differs from @remotion/lambda")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:12]
    target = cache_dir / f"remotion-lambda-{version}-{digest}-x64"
    if (target / ".ready").is_file():
        return target
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    with zipfile.ZipFile(archive) as z:
        z.extractall(building)
    swapped = 0
    for native in building.iterdir():
        replacement = x64 / native.name
        if native.name in ("index.js", "mappings.wasm") or not replacement.is_file():
            continue
        shutil.copyfile(replacement, native)
        native.chmod(native.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        swapped += 1
    if swapped < 3 or not (building / "index.js").is_file():
        raise RuntimeError(f"unexpected layout of {archive.name} ({swapped} binaries swapped)")
    (building / ".ready").write_text(version)
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return target


def with_version(code_dir: Path, version: str) -> Path:
    """A copy of the function that reports another Remotion ``version`` — what a function
    deployed from an older @remotion/lambda is (only the version strings differ)."""
    real = (code_dir / ".ready").read_text()
    target = code_dir.with_name(f"{code_dir.name}-as-{version}")
    if (target / ".ready").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(code_dir, target, symlinks=True)
    source = (code_dir / "index.js").read_text()
    (target / "index.js").write_text(source.replace(f'"{real}"', f'"{version}"'))
    return target
