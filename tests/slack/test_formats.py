"""The Slack /render form offers the format (issue 18)."""

from __future__ import annotations

import json

from bots.slack import blocks
from bots.slack.blocks import FormValues
from tests.slack.test_blocks import form, state_values


def test_the_form_offers_mp4_webm_and_gif_and_reads_the_pick():
    view = form()
    block = next(b for b in view["blocks"] if b["block_id"] == blocks.B_FORMAT)
    values = [o["value"] for o in block["element"]["options"]]
    assert values == ["mp4", "webm", "gif"]
    assert block["element"]["initial_option"]["value"] == "mp4"
    picked = blocks.read_form(state_values(view, {"format": "gif"})["values"])
    assert picked.format == "gif"
    assert picked.render_settings(5.0)["format"] == "gif"
    assert FormValues.from_compact(json.loads(json.dumps(picked.compact()))) == picked
    # a form saved before formats existed reads as mp4
    old = {k: v for k, v in picked.compact().items() if k != "format"}
    assert FormValues.from_compact(old).format == "mp4"


def test_a_gif_error_points_at_its_block():
    assert blocks.field_errors("format", "no") == {"format": "no"}
    assert blocks.field_errors("duration", "too long for a GIF") == {"duration": "too long for a GIF"}
