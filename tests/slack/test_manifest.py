"""The committed Slack app manifest matches what the app serves and asks for."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from bots.slack.workspaces import BOT_SCOPES

MANIFEST = Path(__file__).resolve().parents[2] / "slack-app-manifest.yml"


def test_manifest_points_slack_at_our_routes_with_our_scopes():
    manifest = yaml.safe_load(MANIFEST.read_text())
    (command,) = manifest["features"]["slash_commands"]
    interactivity = manifest["settings"]["interactivity"]
    assert command["command"] == "/render"
    paths = {urlparse(url).path for url in (command["url"], interactivity["request_url"],
                                            interactivity["message_menu_options_url"])}
    assert paths == {"/slack/events"} and interactivity["is_enabled"] is True
    assert [urlparse(u).path for u in manifest["oauth_config"]["redirect_urls"]] == [
        "/slack/oauth_redirect"]
    assert manifest["oauth_config"]["scopes"]["bot"] == BOT_SCOPES
    assert manifest["settings"]["socket_mode_enabled"] is False
