"""Inline delivery (issue 17) end to end: a real tiny render by an in-process worker, then
the video uploaded through files.uploadV2 into the status message's thread of the fake
Slack — or, past RENDERBOT_SLACK__INLINE_MAX_BYTES or when the upload fails, the link."""

from __future__ import annotations

import httpx
import pytest

from bots.slack.sender import USER_AGENT
from tests.slack.conftest import Harness, slack_settings, wait_for
from tests.slack.test_render import final_version, start_render


@pytest.fixture
async def make_harness(fake_slack, tmp_path, database_url, db, render_server_dir):
    made: list[Harness] = []

    def make(**slack) -> Harness:
        h = Harness(fake_slack, slack_settings(tmp_path, database_url, fake_slack,
                                               render_server_dir=render_server_dir,
                                               slack=slack), db).start()
        made.append(h)
        return h

    yield make
    for h in made:
        await h.close()


async def render_and_ping(h: Harness):
    alice = h.user()
    await h.account(alice, credits_=10)
    h.start_worker()
    status, job_id = await start_render(h, alice)
    final = await final_version(h.fake, status, "Done")
    ping = await wait_for(lambda: next(
        (m for m in h.fake.channel_messages(alice.channel_id)
         if m.get("thread_ts") == status["ts"]), None), 30)
    return alice, status, final, ping


async def stored_video(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=30, trust_env=False, follow_redirects=True) as http:
        got = await http.get(url)
    assert got.status_code == 200
    return got.content


def link_of(message: dict) -> str:
    (button,) = [e for b in message["blocks"] if b["type"] == "actions"
                 for e in b["elements"] if e["action_id"] == "render_download"]
    return button["url"]


async def test_a_small_render_is_uploaded_into_the_status_thread(render_harness):
    h, fake = render_harness, render_harness.fake
    alice, status, final, ping = await render_and_ping(h)
    (shared,) = await wait_for(lambda: fake.uploaded(), 30)
    # the bytes Slack received are the stored video, shared as a reply to the status message
    assert shared["data"] == await stored_video(link_of(final))
    assert shared["data"][4:8] == b"ftyp" and shared["length"] == len(shared["data"])
    (where,) = shared["shared"]
    assert where["channel"] == alice.channel_id and where["thread_ts"] == status["ts"]
    assert where["initial_comment"].startswith(f"<@{alice.user_id}> your render of *Teaser*")
    assert shared["filename"].endswith(".mp4") and shared["filename"].startswith("Teaser-")
    assert ping.get("files") == [shared["id"]]  # the ping IS the upload: one thread reply
    replies = [m for m in fake.channel_messages(alice.channel_id)
               if m.get("thread_ts") == status["ts"]]
    assert len(replies) == 1
    # with the bot token, through the workers' paced sender
    calls = fake.calls_to("files.getUploadURLExternal") + fake.calls_to(
        "files.completeUploadExternal")
    assert len(calls) == 2 and all(USER_AGENT in c.agent for c in calls)
    assert int(calls[0].params["length"]) == len(shared["data"])


async def test_past_the_inline_cap_the_thread_gets_the_link(make_harness):
    h = make_harness(inline_max_bytes=1000)
    alice, status, final, ping = await render_and_ping(h)
    assert ping["text"] == (f"<@{alice.user_id}> your render of *Teaser* is ready: "
                            f"<{link_of(final)}|download the video>")
    assert not h.fake.calls_to("files.getUploadURLExternal", status=None)
    assert h.fake.uploaded() == []


async def test_a_failed_upload_falls_back_to_the_link_never_an_error(render_harness):
    h, fake = render_harness, render_harness.fake
    fake.fail_uploads(500, count=5)  # the upload URL answers 500 (slack_sdk retries once)
    alice, status, final, ping = await render_and_ping(h)
    assert ping["text"].endswith(f"<{link_of(final)}|download the video>")
    assert fake.calls_to("files.getUploadURLExternal")
    assert not fake.calls_to("files.completeUploadExternal", status=None)
    assert fake.uploaded() == [] and fake.ephemerals == []
    assert "Done" in final["blocks"][0]["text"]["text"]


async def test_a_workspace_that_restricts_large_files_gets_the_link(render_harness):
    h, fake = render_harness, render_harness.fake
    fake.file_size_limit = 100  # Slack: file_upload_size_restricted
    alice, status, final, ping = await render_and_ping(h)
    assert ping["text"].endswith(f"<{link_of(final)}|download the video>")
    (call,) = fake.calls_to("files.getUploadURLExternal", status=None)
    assert call.response["error"] == "file_upload_size_restricted"
    assert fake.uploaded() == []
