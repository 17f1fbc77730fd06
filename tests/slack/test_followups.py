"""Draft and follow-ups on Slack (issue 17), end to end: the quote's Draft button submits a
draft at a tenth of the price (one debit, confirm-once with Confirm), a real render by an
in-process worker, then the finished message's poster and follow-up buttons — each opens
a NEW quote for the job's owner (nothing charged until its Confirm); others get a line."""

from __future__ import annotations

import io
import math
import re
import subprocess

import httpx
import pytest
from PIL import Image

from core import credits, renders
from core.settings import PricingSettings
from tests.slack.conftest import Harness, slack_settings, wait_for
from tests.slack.test_app_flow import balance, blocks_text, jobs_of
from tests.slack.test_render import elements, final_version

# 320x180, 24 fps, 1 s, low costs 28 credits at this rate: a draft ceil(28 / 10) = 3
PRICEY = PricingSettings(credits_per_minute=100_000)
FULL, DRAFT = 28, 3


@pytest.fixture
async def pricey(fake_slack, tmp_path, database_url, db, render_server_dir):
    settings = slack_settings(tmp_path, database_url, fake_slack,
                              render_server_dir=render_server_dir, pricing=PRICEY)
    h = Harness(fake_slack, settings, db).start()
    yield h
    await h.close()


def button(blocks: list[dict], action_id: str) -> dict:
    return next(e for b in blocks if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == action_id)


async def opened_quote(fake, before: int) -> dict:
    """The quote modal a follow-up opened (views.open after ``before`` calls)."""
    call = await wait_for(lambda: next(iter(fake.calls_to("views.open")[before:]), None))
    return fake.views[call.response["view"]["id"]]


def first_frame(video: bytes, tmp_path) -> tuple[int, int, bytes]:
    from core.render.local_server import find_ffmpeg
    from tests.pipeline.test_local_pipeline import REMOTION_DIR, probe, video_stream

    path = tmp_path / "draft.mp4"
    path.write_bytes(video)
    stream = video_stream(probe(path))
    png = tmp_path / "frame.png"  # Remotion's ffmpeg has the png encoder (no rawvideo muxer)
    subprocess.run([str(find_ffmpeg(REMOTION_DIR)), "-v", "error", "-i", str(path),
                    "-frames:v", "1", str(png)], capture_output=True, check=True, timeout=60)
    frame = Image.open(png).convert("RGB")
    assert frame.size == (stream["width"], stream["height"])
    return frame.width, frame.height, frame.tobytes()


def pixel(rgb: bytes, width: int, x: int, y: int) -> tuple[int, int, int]:
    i = (y * width + x) * 3
    return rgb[i], rgb[i + 1], rgb[i + 2]


def is_draft_yellow(color: tuple[int, int, int]) -> bool:  # #ffd400, give or take the codec
    r, g, b = color
    return r > 200 and 170 < g < 250 and b < 80


async def test_draft_then_follow_ups(pricey, db, tmp_path):
    h, fake = pricey, pricey.fake
    alice, bob = h.user(), h.user("U0BOB", "bob")
    account, _ = await h.account(alice, credits_=100)
    quote = await h.quote(alice)
    text = blocks_text(quote["blocks"])
    assert f"Cost: {FULL} credits · balance 100 → {100 - FULL} after" in text
    draft_button = button(quote["blocks"], "render_draft")
    assert draft_button["text"]["text"] == f"Draft · {DRAFT} credits" == f"Draft · {math.ceil(FULL / 10)} credits"

    # Draft: one draft job, one debit of the draft price
    response = await alice.click_in_view(quote, "render_draft")
    assert response.status_code == 200
    shown = await wait_for(lambda: next(
        (c.params["view"] for c in fake.calls_to("views.update")
         if c.params.get("view_id") == quote["id"] and "Submitted" in blocks_text(
             c.params["view"]["blocks"])), None))
    assert f"Submitted — {DRAFT} credits charged" in blocks_text(shown["blocks"])
    (job,) = await jobs_of(db, account)
    assert job.settings.draft is True and job.credit_cost == DRAFT
    assert job.settings.resolution == [320, 180]  # requested; rendered at half size
    assert await balance(db, account) == 100 - DRAFT
    # confirm-once: Confirm on the same quote afterwards charges nothing more
    _, data, _ = await alice.submit_and_apply(quote)
    assert "already confirmed" in blocks_text(data["view"]["blocks"])
    assert len(await jobs_of(db, account)) == 1 and await balance(db, account) == 100 - DRAFT
    async with db.transaction() as s:
        debits = [e for e in (await credits.statement(session=s, account_id=account,
                                                      limit=20)).entries if e.amount < 0]
    assert [e.amount for e in debits] == [-DRAFT]

    # the render: the finished message has the poster and the follow-up buttons
    h.start_worker()
    status = await h.status_message(alice.channel_id)
    final = await final_version(fake, status, "Done")
    async with db.transaction() as s:
        done = await renders.get(session=s, account_id=None, job_id=job.id)
    (poster,) = [b for b in final["blocks"] if b["type"] == "image"]
    assert poster["image_url"] == done.poster_url and poster["alt_text"]
    async with httpx.AsyncClient(timeout=30, trust_env=False, follow_redirects=True) as http:
        got = await http.get(poster["image_url"])
    assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).format == "JPEG"
    assert [e["text"]["text"] for e in elements(final)] == [
        "Download video", "Render again", "Full quality", "Vertical 9:16", "Square 1:1"]
    # the draft video itself was uploaded into the thread: half size, with the DRAFT band
    (uploaded,) = await wait_for(lambda: fake.uploaded(), 30)
    assert uploaded["shared"][0]["thread_ts"] == status["ts"]
    width, height, rgb = first_frame(uploaded["data"], tmp_path)
    assert (width, height) == (160, 90)
    assert is_draft_yellow(pixel(rgb, width, 2, 8))  # the band's left end, left of its text
    assert not is_draft_yellow(pixel(rgb, width, width - 3, height - 3))

    # another user: one ephemeral line, no quote
    opens = len(fake.calls_to("views.open"))
    response, rid = await bob.click_in_message(final, "render_again")
    assert response.status_code == 200
    said = await wait_for(lambda: fake.responses[rid])
    assert said[0]["text"].startswith(f"Only <@{alice.user_id}> can use the buttons")
    assert said[0]["response_type"] == "ephemeral"
    assert len(fake.calls_to("views.open")) == opens

    # the owner: each button is a new quote, nothing charged
    expected = {"render_full": ("320×180", FULL, False), "render_vertical": ("180×320", DRAFT, True),
                "render_square": ("180×180", 2, True), "render_again": ("320×180", DRAFT, True)}
    for action_id, (size, cost, draft) in expected.items():
        before = len(fake.calls_to("views.open"))
        response, _ = await alice.click_in_message(final, action_id)
        assert response.status_code == 200
        new = await opened_quote(fake, before)
        text = blocks_text(new["blocks"])
        assert new["callback_id"] == "render_quote" and new["submit"]["text"] == "Confirm"
        assert size in text and f"Cost: {cost} credit" in text, (action_id, text)
        assert ("render_draft" in str(new["blocks"])) is (not draft)  # already a draft: no Draft
        assert await balance(db, account) == 100 - DRAFT
        assert len(await jobs_of(db, account)) == 1
    # "Render again" then Confirm: a new job, one more debit of the same price
    _, data, _ = await alice.submit_and_apply(new)
    assert f"Submitted — {DRAFT} credits charged" in blocks_text(data["view"]["blocks"])
    jobs = await jobs_of(db, account)
    assert len(jobs) == 2 and await balance(db, account) == 100 - 2 * DRAFT
    again = next(j for j in jobs if j.id != job.id)
    assert again.settings.model_dump() == job.settings.model_dump()
    assert re.match(r"job_\w+", again.id)
