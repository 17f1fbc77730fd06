"""The preview still in the Slack quote (issue 17), over the real bolt app, the fake Slack
and the real render server: the quote is answered within Slack's 3 s with a "preparing"
line, then the modal is updated with an image block whose image_url is a JPEG of the
chosen size; past the per-account preview limit the quote says why and still confirms."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from PIL import Image

from core.settings import LimitSettings
from tests.slack.conftest import Harness, slack_settings, wait_for
from tests.slack.test_app_flow import blocks_text


def image_blocks(view: dict) -> list[dict]:
    return [b for b in view.get("blocks", []) if b["type"] == "image"]


async def quote_timed(h: Harness, user, values: dict) -> tuple[dict, dict, float]:
    """Submit the form; (the quote view as acked, the view after its preview, ack seconds)."""
    form = await h.open_form(user)
    chosen = {"size": "320x180", "fps": "24", "duration": "1", "quality": "low"}
    chosen.update(values)
    began = time.monotonic()
    response = await user.submit(form, chosen)
    acked = time.monotonic() - began
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["response_action"] == "update", data
    h.fake.apply_view_response(form["id"], data)
    updated = await wait_for(lambda: next(
        (c.params["view"] for c in h.fake.calls_to("views.update")
         if c.params.get("view_id") == form["id"]
         and "preview_pending" not in [b.get("block_id") for b in c.params["view"]["blocks"]]),
        None), 60)
    return data["view"], {**updated, "id": form["id"]}, acked


async def fetch_jpeg(url: str) -> Image.Image:
    async with httpx.AsyncClient(timeout=30, trust_env=False, follow_redirects=True) as http:
        got = await http.get(url)
    assert got.status_code == 200, got.text
    assert got.content[:3] == b"\xff\xd8\xff"  # JPEG's SOI marker
    image = Image.open(io.BytesIO(got.content))
    image.load()
    return image


async def test_the_quote_acks_at_once_then_shows_a_jpeg_preview_of_the_chosen_size(
    render_harness,
):
    h = render_harness
    alice = h.user()
    await h.account(alice, credits_=10)
    for size, expected in (("320x180", (320, 180)), ("180x180", (180, 180))):
        acked_view, shown, acked = await quote_timed(h, alice, {"size": size})
        assert acked < 3.0, acked  # the preview never delays Slack's 3 s ack
        assert "Preparing a preview" in blocks_text(acked_view["blocks"])
        assert image_blocks(acked_view) == []
        (image,) = image_blocks(shown)
        assert image["alt_text"] == f"Preview of Teaser at {expected[0]}×{expected[1]}"
        assert image["image_url"].startswith(h.server.url)  # a signed link of ours
        still = await fetch_jpeg(image["image_url"])
        assert still.format == "JPEG" and still.size == expected
        # the quote itself is unchanged: cost, Confirm, Back
        assert "Cost: 1 credit" in blocks_text(shown["blocks"])
        assert shown["submit"]["text"] == "Confirm" and shown["callback_id"] == "render_quote"


@pytest.fixture
async def limited_harness(fake_slack, tmp_path, database_url, db, render_server_dir):
    settings = slack_settings(tmp_path, database_url, fake_slack,
                              render_server_dir=render_server_dir,
                              limits=LimitSettings(previews_per_minute=1))
    h = Harness(fake_slack, settings, db).start()
    yield h
    await h.close()


async def test_past_the_preview_limit_the_quote_says_why_and_still_confirms(limited_harness, db):
    h = limited_harness
    alice = h.user()
    account, _ = await h.account(alice, credits_=10)
    _, first, _ = await quote_timed(h, alice, {})
    assert len(image_blocks(first)) == 1
    _, second, acked = await quote_timed(h, alice, {"duration": "2"})
    assert acked < 3.0
    assert image_blocks(second) == []
    line = blocks_text(second["blocks"])
    assert "No preview: too many previews for this account" in line, line
    assert "Traceback" not in line and "127.0.0.1" not in line
    # still a quote that confirms, once
    _, data, after = await alice.submit_and_apply(second)
    assert "Submitted — 1 credit charged" in blocks_text(data["view"]["blocks"])
    from tests.slack.test_app_flow import balance

    assert await balance(db, account) == 9
