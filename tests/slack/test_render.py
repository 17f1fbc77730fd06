"""End to end: /render in the fake Slack → real local render by an in-process worker →
chat.update of the status message with the bot token → a Download button whose link
(served by the same live app) returns the mp4."""

from __future__ import annotations

import re
import time

import httpx

from bots.slack.sender import USER_AGENT
from core import credits, renders
from tests.fixtures.fake_slack import BOT_TOKEN
from tests.pipeline.test_local_pipeline import probe, video_stream
from tests.slack.conftest import wait_for
from tests.slack.test_app_flow import blocks_text


def elements(message: dict) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def start_render(h, user, values=None):
    quote = await h.quote(user, values)
    _, data, _ = await user.submit_and_apply(quote)
    assert "Submitted" in blocks_text(data["view"]["blocks"]), data
    status = await h.status_message(user.channel_id)
    job_id = re.search(r"job `(job_\w+)`", blocks_text(status["blocks"]))[1]
    return status, job_id


async def final_version(fake, status, word: str, within: float = 120) -> dict:
    return await wait_for(lambda: (m := fake.message(status["channel"], status["ts"]))
                          and word in blocks_text(m["blocks"]) and m, within)


async def test_render_from_slash_command_to_a_download_link(render_harness, db, tmp_path):
    h, fake = render_harness, render_harness.fake
    alice = h.user()
    account, _ = await h.account(alice, credits_=10)
    h.start_worker()
    status, job_id = await start_render(h, alice, {"effects": ["vignette"], "duration": "2"})
    final = await final_version(fake, status, "Done")

    # progress was written into the same message, in order, with a bar, % and ETA
    seen = [blocks_text(m["blocks"]) for _, m in fake.versions(status["channel"], status["ts"])]
    percents = [int(p) for text in seen for p in re.findall(r"` (\d+)%", text)]
    assert percents == sorted(percents) and percents[-1] == 100, seen
    rendering = [t for t in seen if "Rendering" in t]
    assert rendering and any(0 < p < 100 for p in percents), seen
    assert re.search(r"`[█░]{20}` \d+%", rendering[-1])
    updates = fake.calls_to("chat.update")
    assert len(updates) >= 2 and all(c.token == BOT_TOKEN for c in updates)

    # completion: settings, credits charged, a mention, a Download button, a thread ping
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=None, job_id=job_id)
        assert await credits.balance(session=s, account_id=account) == 9
    assert job.status == "completed"
    text = blocks_text(final["blocks"])
    assert f"<@{alice.user_id}> Your video is ready." in text
    assert "320×180 · 24 fps · 2 s · low · vignette · 1 credit charged" in text
    button, *followups = elements(final)
    assert [e["action_id"] for e in followups] == ["render_again", "render_vertical",
                                                   "render_square"]
    assert button["action_id"] == "render_download" and button["url"] == job.result_url
    ping = await wait_for(lambda: next((m for m in fake.channel_messages(alice.channel_id)
                                        if m.get("thread_ts") == status["ts"]), None))
    assert ping["text"] == (f"<@{alice.user_id}> your render of *Teaser* is ready: "
                            f"<{job.result_url}|download the video>")

    # the button's link, fetched from the live app, is the mp4 of the chosen settings
    assert button["url"].startswith(h.server.url)
    async with httpx.AsyncClient(timeout=30, trust_env=False, follow_redirects=True) as http:
        got = await http.get(button["url"])
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "video/mp4" and got.content[4:8] == b"ftyp"
    path = tmp_path / "video.mp4"
    path.write_bytes(got.content)
    video = video_stream(probe(path))
    assert (video["width"], video["height"], video["r_frame_rate"]) == (320, 180, "24/1")
    # clicking the link button is acknowledged (Slack sends an interaction for it too)
    response, _ = await alice.click_in_message(final, "render_download")
    assert response.status_code == 200


async def test_cancel_button_while_rendering_stops_it_and_refunds(render_harness, db):
    h, fake = render_harness, render_harness.fake
    alice = h.user()
    account, _ = await h.account(alice, credits_=10)
    h.start_worker()
    status, job_id = await start_render(h, alice, {"duration": "30", "fps": "30",
                                                   "quality": "high"})
    rendering = await final_version(fake, status, "Rendering", within=60)
    clicked = time.monotonic()
    response, rid = await alice.click_in_message(rendering, "render_cancel")
    assert response.status_code == 200
    final = await final_version(fake, status, "Cancelled", within=30)
    assert time.monotonic() - clicked < 20
    assert "Refunded" in blocks_text(final["blocks"]) and elements(final) == []
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=None, job_id=job_id)
        assert job.status == "cancelled"
        assert await credits.balance(session=s, account_id=account) == 10
        assert await credits.is_refunded(session=s, job_id=job_id)
    assert fake.responses[rid] == []  # no error was reported


async def test_429s_on_chat_update_are_waited_out_and_the_final_update_arrives(
    render_harness, db
):
    h, fake = render_harness, render_harness.fake
    alice = h.user()
    await h.account(alice, credits_=10)
    h.start_worker()
    status, job_id = await start_render(h, alice, {"duration": "3"})
    await final_version(fake, status, "Rendering", within=60)
    fake.inject_429("chat.update", count=3, retry_after=1)
    final = await final_version(fake, status, "Done")
    assert elements(final)[0]["action_id"] == "render_download"
    updates = [c for c in fake.calls_to("chat.update", status=None)
               if c.params.get("ts") == status["ts"] and USER_AGENT in c.agent]
    limited = [i for i, c in enumerate(updates) if c.status == 429]
    assert len(limited) == 3
    for i in limited:  # nothing went to Slack for that workspace before Retry-After
        assert updates[i + 1].at - updates[i].at >= 1.0, (updates[i].at, updates[i + 1].at)
    assert updates[-1].status == 200 and "Done" in blocks_text(updates[-1].params["blocks"])
