"""End to end: /render in the fake Discord → real local render by an in-process worker →
progress edits of the status message with the bot token → the video link."""

from __future__ import annotations

import copy
import re
import time

import httpx

from core import credits, renders
from tests.bots.discord.conftest import CHANNEL
from tests.bots.discord.test_bot_flow import discord_account
from tests.fixtures.fake_discord import find_component, wait_until
from tests.pipeline.test_local_pipeline import probe, video_stream

EDIT = r"/webhooks/\d+/[^/]+/messages/\d+"  # the Confirm's follow-up, with its token


def job_id_of(message: dict) -> str:
    return re.search(r"job `(job_\w+)`", message["content"])[1]


def versions(fake, message_id: str) -> list[dict]:
    return [m for _, m in fake.history[message_id]]


async def finished(fake, message_id: str, word: str = "Done", within: float = 120) -> dict:
    return await wait_until(lambda: word in fake.messages[message_id]["content"]
                            and fake.messages[message_id], within)


async def test_render_from_slash_command_to_a_video_link(
    served_harness, fake_discord, user, db, tmp_path
):
    render_harness = served_harness
    account, _ = await discord_account(db, credits_=10)
    render_harness.start_worker()
    await render_harness.start_bot()

    quote = await render_harness.quote(user, size="320x180", fps="24", quality="low",
                                       effects=("vignette",), duration="2")
    assert "Cost: 1 credit · balance 10 → 9 after" in quote["content"]
    await render_harness.confirm(quote, user)
    status = await render_harness.status_message()
    job_id = job_id_of(status)
    final = await finished(fake_discord, status["id"])

    # progress was edited into the same public message, in order, with bar and percent
    seen = versions(fake_discord, status["id"])
    rendering = [m["content"] for m in seen if "Rendering" in m["content"]]
    assert rendering, [m["content"] for m in seen]
    percents = [int(p) for m in seen for p in re.findall(r"` (\d+)%", m["content"])]
    assert percents == sorted(percents) and percents[-1] == 100
    assert any(0 < p < 100 for p in percents), percents
    assert re.search(r"`[█░]{20}` \d+%", rendering[-1])
    # through the interaction's webhook (its token in the path, no bot token), not the
    # bot token's channel route (bound to the global rate limit)
    edits = fake_discord.calls_to("PATCH", rf"/webhooks/\d+/[^/]+/messages/{status['id']}")
    assert edits and all(c.auth is None for c in edits)
    assert not fake_discord.calls_to("PATCH", rf"/channels/{CHANNEL}/messages/{status['id']}")

    # completion: a link button to the video, and a mention in a reply that pings
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=None, job_id=job_id)
        assert await credits.balance(session=s, account_id=account) == 9
    assert job.status == "completed"
    button = final["components"][0]["components"][0]
    assert button["style"] == 5 and button["url"] == job.result_url
    assert f"<@{user['id']}> Your video is ready." in final["content"]
    ping = await wait_until(lambda: next((m for m in fake_discord.channel_messages(CHANNEL)
                                          if m.get("message_reference")), None))
    assert ping["content"].startswith(f"<@{user['id']}> your render of **Teaser** is ready")
    assert ping["message_reference"]["message_id"] == status["id"]
    call = fake_discord.calls_to("POST", rf"/channels/{CHANNEL}/messages")[-1]
    assert call.json["allowed_mentions"]["users"] == [user["id"]]

    # the link downloads a playable mp4 of the chosen settings (through the HTTP API)
    assert button["url"].startswith(render_harness.api_url + "/d/")
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False, timeout=30) as http:
        got = await http.get(button["url"])
        forged = await http.get(button["url"].replace("sig=", "sig=0"))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "video/mp4"
    assert got.content[4:8] == b"ftyp"
    assert forged.status_code == 403
    path = tmp_path / "video.mp4"
    path.write_bytes(got.content)
    video = video_stream(probe(path))
    assert (video["width"], video["height"], video["r_frame_rate"]) == (320, 180, "24/1")


async def test_progress_continues_when_the_interaction_token_expires_and_the_bot_restarts(
    render_harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    render_harness.start_worker()
    bot = await render_harness.start_bot()
    quote = await render_harness.quote(user, size="320x180", fps="24", quality="low",
                                       duration="3")
    await render_harness.confirm(quote, user)
    status = await render_harness.status_message()
    await wait_until(lambda: "Submitted" in fake_discord.messages[quote["id"]]["content"])
    fake_discord.expire_tokens()  # 15 minutes later...
    expired_at = time.monotonic()
    await render_harness.stop_bot(bot)  # ...and the bot process is gone
    before = len(fake_discord.history[status["id"]])
    final = await finished(fake_discord, status["id"])
    assert len(fake_discord.history[status["id"]]) > before
    assert final["components"][0]["components"][0]["style"] == 5
    after = [c for c in fake_discord.calls if c.at > expired_at]
    # the expired token is refused (401) and forgotten: then the bot token's route; at most
    # once per sender (here two: the bot's catch-up and the worker's, one process)
    refused = [c for c in after if c.path.startswith("/webhooks/")]
    assert len(refused) <= 2 and all(c.status == 401 for c in refused), refused
    rest = [c for c in after if c not in refused]
    assert rest and all(c.path.startswith("/channels/") for c in rest), rest
    assert all(c.auth == f"Bot {fake_discord.token}" for c in rest)


async def test_429_on_the_status_edit_is_waited_out_and_the_final_edit_arrives(
    render_harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    render_harness.start_worker()
    await render_harness.start_bot()
    quote = await render_harness.quote(user, size="320x180", fps="24", quality="low",
                                       duration="2")
    await render_harness.confirm(quote, user)
    status = await render_harness.status_message()
    # the worker's sender (not discord.py) edits the status message: 429 it twice
    fake_discord.inject_429("PATCH", EDIT, retry_after=1.2, count=2, agent="renderbot")
    final = await finished(fake_discord, status["id"])
    assert final["components"][0]["components"][0]["style"] == 5
    assert fake_discord.injected_429s == 2
    patches = [c for c in fake_discord.calls_to(
        "PATCH", rf"/webhooks/\d+/[^/]+/messages/{status['id']}") if "renderbot" in c.agent]
    limited = [i for i, c in enumerate(patches) if c.status == 429]
    assert len(limited) == 2
    for i in limited:  # every retry waited for retry_after
        assert patches[i + 1].at - patches[i].at >= 1.2, (patches[i].at, patches[i + 1].at)
    assert patches[-1].status == 200
    assert fake_discord.limit_429s == 0


async def test_cancel_while_rendering_after_a_bot_restart_refunds(
    render_harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=10)
    render_harness.start_worker()
    bot = await render_harness.start_bot()
    quote = await render_harness.quote(user, size="320x180", fps="30", quality="high",
                                       duration="60")
    await render_harness.confirm(quote, user)
    status = await render_harness.status_message()
    job_id = job_id_of(status)
    await wait_until(lambda: "Rendering" in fake_discord.messages[status["id"]]["content"], 60)
    await render_harness.stop_bot(bot)
    await render_harness.start_bot()

    shown = copy.deepcopy(fake_discord.messages[status["id"]])
    assert find_component(shown, f"rb:cancel:{job_id}")
    clicked = time.monotonic()
    it = await fake_discord.click(shown, f"rb:cancel:{job_id}", user=user)
    assert (await it.response())["type"] == 6
    final = await finished(fake_discord, status["id"], "Cancelled", within=30)
    assert "Refunded" in final["content"] and final["components"] == []
    assert time.monotonic() - clicked < 20
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=None, job_id=job_id)
        assert job.status == "cancelled"
        assert await credits.balance(session=s, account_id=account) == 10
        assert await credits.is_refunded(session=s, job_id=job_id)
