"""Uploads through the paced sender (inline delivery) against the fake Discord: Discord's
multipart form, the token's rate limits, and the fallback when Discord refuses the file."""

from __future__ import annotations

import time

from tests.bots.discord.test_sender import fake, running  # noqa: F401 - the fixture

POST = r"/channels/\d+/messages"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


async def test_an_upload_is_one_multipart_post_with_the_file_and_its_attachment(fake):  # noqa: F811
    fake.add_guild("1")
    fake.channel_guilds["100"] = "1"
    fell_back = []
    async with running(fake) as sender:
        assert sender.upload("100", {"content": "ready"}, [("clip.mp4", VIDEO, "video/mp4")],
                             tag="ping:job_1", fallback=lambda: fell_back.append(1))
        assert not sender.upload("100", {"content": "again"}, [("clip.mp4", VIDEO, "video/mp4")],
                                 tag="ping:job_1")  # once per tag
        assert await sender.flush(10)
    [call] = fake.calls_to("POST", POST)
    assert call.json["attachments"] == [{"id": 0, "filename": "clip.mp4"}]
    assert call.files == [("clip.mp4", VIDEO)] and call.auth == f"Bot {fake.token}"
    [message] = fake.channel_messages("100")
    assert message["content"] == "ready" and fake.attachment_bytes(message, "clip.mp4") == VIDEO
    assert message["attachments"][0]["content_type"] == "video/mp4"
    assert fell_back == []


async def test_a_429_on_an_upload_is_waited_out_and_the_file_sent_again(fake):  # noqa: F811
    fake.inject_429("POST", POST, retry_after=0.6)
    async with running(fake) as sender:
        sender.upload("100", {"content": "ready"}, [("clip.mp4", VIDEO, "video/mp4")],
                      tag="ping:job_1", fallback=lambda: None)
        assert await sender.flush(10)
    first, second = fake.calls_to("POST", POST)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.6 and second.files == [("clip.mp4", VIDEO)]
    assert fake.inside_retry_after == []


async def test_a_refused_upload_runs_the_fallback_once_and_is_not_retried(fake):  # noqa: F811
    fake.refuse_uploads_over = 100
    fell_back = []
    async with running(fake) as sender:
        started = time.monotonic()
        sender.upload("100", {"content": "ready"}, [("clip.mp4", VIDEO, "video/mp4")],
                      tag="ping:job_1",
                      fallback=lambda: (fell_back.append(1),
                                        sender.post("100", {"content": "link"}, tag="link")))
        assert await sender.flush(10)
        assert time.monotonic() - started < 3
    calls = fake.calls_to("POST", POST)
    assert [c.status for c in calls] == [413, 200] and fell_back == [1]
    assert [m["content"] for m in fake.channel_messages("100")] == ["link"]
    assert [u.filename for u in fake.too_large] == ["clip.mp4"]
