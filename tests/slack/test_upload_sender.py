"""The paced sender's inline upload (files.uploadV2 over the fake Slack, real HTTP): a 429
on files.getUploadURLExternal is waited out (Retry-After) and the upload then completes;
a loader that says "too large" and a Slack error both post the link instead, once."""

from __future__ import annotations

import pytest

from bots.slack.sender import SlackSender
from tests.fixtures.fake_slack import BOT_TOKEN, TEAM
from tests.slack.conftest import wait_for

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


@pytest.fixture
async def sender(fake_slack):
    async def token_for(team_id: str):
        return BOT_TOKEN if team_id == TEAM else None

    made = SlackSender(token_for=token_for, api_base=fake_slack.api_base, update_interval=0.1)
    yield made
    await made.close()


def upload(sender: SlackSender, thread_ts: str, data: bytes | None, tag: str = "ping:job_1"):
    async def load():
        return data

    return sender.upload(TEAM, "C1", thread_ts, tag=tag, load=load, filename="Teaser-job_1.mp4",
                         title="Teaser", comment="<@U1> your render of *Teaser* is ready",
                         fallback={"text": "<@U1> ready: <http://x.test/d/job_1|download the video>"})


def replies(fake, ts: str) -> list[dict]:
    return [m for m in fake.channel_messages("C1") if m.get("thread_ts") == ts]


async def test_a_429_on_the_upload_is_waited_out_then_the_file_arrives(fake_slack, sender):
    ts = fake_slack.post_message("C1")
    fake_slack.inject_429("files.getUploadURLExternal", count=1, retry_after=1)
    assert upload(sender, ts, VIDEO)
    (shared,) = await wait_for(lambda: fake_slack.uploaded(), 15)
    assert shared["data"] == VIDEO and shared["shared"][0]["thread_ts"] == ts
    first, second = fake_slack.calls_to("files.getUploadURLExternal", status=None)
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0  # nothing before Retry-After
    (reply,) = replies(fake_slack, ts)
    assert reply["text"] == "<@U1> your render of *Teaser* is ready" and reply["files"]
    assert not upload(sender, ts, VIDEO)  # once per tag
    assert await sender.flush(5)
    assert len(fake_slack.uploaded()) == 1 and not fake_slack.calls_to("chat.postMessage")


async def test_too_large_posts_the_link_without_asking_slack(fake_slack, sender):
    ts = fake_slack.post_message("C1")
    upload(sender, ts, None)
    (reply,) = await wait_for(lambda: replies(fake_slack, ts) or None)
    assert reply["text"].endswith("|download the video>")
    assert not fake_slack.calls_to("files.getUploadURLExternal", status=None)


async def test_a_slack_error_posts_the_link_once(fake_slack, sender):
    ts = fake_slack.post_message("C1")
    fake_slack.inject_error("files.completeUploadExternal", count=3, status=200,
                            error="internal_error")
    upload(sender, ts, VIDEO)
    (reply,) = await wait_for(lambda: replies(fake_slack, ts) or None)
    assert reply["text"].endswith("|download the video>") and "files" not in reply
    assert await sender.flush(5)
    assert len(replies(fake_slack, ts)) == 1 and fake_slack.uploaded() == []
