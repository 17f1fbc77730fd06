"""The deployed function the stand-in plays: its account, name and Remotion version."""

from __future__ import annotations

import json
from pathlib import Path

ACCOUNT_ID = "123456789012"
FUNCTION_NAME = "remotion-render-4-0-527-mem2048mb-disk2048mb-900sec"


def remotion_version(remotion_dir: Path) -> str:
    """The version `npx remotion lambda functions deploy` would deploy from remotion/."""
    package = Path(remotion_dir) / "node_modules" / "@remotion" / "lambda" / "package.json"
    return json.loads(package.read_text())["version"]
