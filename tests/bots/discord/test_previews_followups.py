"""Issue 17 on Discord, end to end on the fake (real discord.py over sockets, real
database, real Remotion renders at 320x180): the quote's preview still, the Draft button,
the finished message's poster and follow-up buttons, and inline delivery of the video."""

from __future__ import annotations

import copy
import io

import pytest
from PIL import Image
from sqlalchemy import select

from core import credits, renders
from core.models import RenderJob
from core.runtime import Runtime
from core.settings import LimitSettings
from tests.bots.discord.conftest import CHANNEL, GUILD, Harness, bot_settings, discord_settings
from tests.bots.discord.test_bot_flow import discord_account
from tests.bots.discord.test_bot_render import finished, job_id_of
from tests.fixtures.fake_discord import custom_ids, wait_until

MIB = 1024 * 1024


@pytest.fixture
async def make_harness(fake_discord, tmp_path, database_url, render_server_dir):
    made: list[Harness] = []

    def make(*, discord=None, **overrides) -> Harness:
        h = Harness(fake_discord, bot_settings(
            tmp_path, database_url, fake_discord, render_server_dir=render_server_dir,
            discord=discord or discord_settings(fake_discord), **overrides))
        made.append(h)
        return h

    yield make
    for h in made:
        await h.close()


async def balance(db, account_id: str) -> int:
    async with db.transaction() as s:
        return await credits.balance(session=s, account_id=account_id)


async def job_row(db, job_id: str):
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=None, job_id=job_id)
        key = await s.scalar(select(RenderJob.output_key).where(RenderJob.id == job_id))
    return job, key


def ephemeral_lines(fake, channel_id: str = CHANNEL) -> list[str]:
    return [m["content"] for m in fake.messages.values()
            if m["channel_id"] == channel_id and m["flags"] & 64]


async def quote_with_preview(fake, h: Harness, user, **kw) -> dict:
    quote = await h.quote(user, **kw)
    return await wait_until(lambda: fake.messages[quote["id"]]["attachments"]
                            and fake.messages[quote["id"]], 60)


async def test_the_quote_answers_within_3_s_then_shows_a_jpeg_preview_of_the_chosen_size(
    make_harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    h = make_harness()
    await h.start_bot()
    quote = await h.quote(user, size="320x180", fps="24", quality="low", duration="2")
    modal = next(i for i in fake_discord.interactions.values() if i.payload["type"] == 5)
    assert modal.ack_seconds is not None and modal.ack_seconds < 3, modal.ack_seconds
    assert quote["attachments"] == []  # answered before the still was made
    shown = await wait_until(lambda: fake_discord.messages[quote["id"]]["attachments"]
                             and fake_discord.messages[quote["id"]], 60)
    [attachment] = shown["attachments"]
    assert attachment["filename"] == "preview.jpg"
    assert attachment["content_type"] == "image/jpeg"
    image = Image.open(io.BytesIO(fake_discord.files[attachment["id"]]))
    assert image.format == "JPEG" and image.size == (320, 180)
    assert shown["embeds"][0]["image"]["url"] == attachment["url"]
    # the quote stays usable: Confirm and Draft (with the draft's price) beside it
    ids = custom_ids(shown)
    assert any(c.startswith("rb:ok:") for c in ids) and any(c.startswith("rb:draft:") for c in ids)
    assert "Draft: 1 credit" in shown["content"]


async def test_draft_submits_one_draft_job_at_a_tenth_of_the_price(
    make_harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=20)
    h = make_harness(discord=discord_settings(fake_discord, size_presets={"1080p": (1920, 1080)}))
    await h.start_bot()
    quote = copy.deepcopy(await h.quote(user, size="1920x1080", fps="30", quality="high",
                                        duration="60"))  # as the user's client shows it
    assert "Cost: 15 credits" in quote["content"]  # 10/min × 1 min × 1080p30 × high 1.5
    draft = next(c for c in custom_ids(quote) if c.startswith("rb:draft:"))
    button = next(c for row in quote["components"] for c in row["components"]
                  if c.get("custom_id") == draft)
    assert button["label"] == "Draft · 2 credits"  # ceil(15 / 10)
    it = await fake_discord.click(quote, draft, user=user, guild_id=GUILD)
    assert (await it.response())["type"] == 6
    status = await h.status_message()
    job, _ = await job_row(db, job_id_of(status))
    assert job.settings.draft is True and job.credit_cost == 2
    assert job.settings.resolution == [1920, 1080]  # requested; rendered at half size
    assert await balance(db, account) == 18
    await wait_until(lambda: "Draft submitted" in fake_discord.messages[quote["id"]]["content"])
    # Confirm on the same quote: one job per quote, no second debit
    again = await h.confirm(quote, user)
    line = await wait_until(lambda: next((c for c in ephemeral_lines(fake_discord)
                                          if "already used" in c), None))
    assert line == "This quote was already used for another render. Ask for a new quote."
    assert again.ack_seconds < 3
    async with db.transaction() as s:
        assert len(await renders.list_(session=s, account_id=account)) == 1
    assert await balance(db, account) == 18


async def test_a_failed_preview_leaves_the_quote_usable_with_one_line(
    make_harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    h = make_harness(limits=LimitSettings(previews_per_minute=1))
    await h.start_bot()
    await quote_with_preview(fake_discord, h, user, size="320x180")
    second = await h.quote(user, size="256x144")  # another still: over the limit
    note = await wait_until(lambda: next((c for c in ephemeral_lines(fake_discord)
                                          if c.startswith("-# No preview this time")), None), 30)
    assert "\n" not in note and "too many previews" in note, note
    assert fake_discord.messages[second["id"]]["attachments"] == []
    assert any(c.startswith("rb:ok:") for c in custom_ids(fake_discord.messages[second["id"]]))


async def render_to_the_end(h: Harness, fake, user, db, *, duration="1") -> tuple[dict, dict]:
    quote = await h.quote(user, size="320x180", fps="24", quality="low", duration=duration)
    await h.confirm(quote, user)
    status = await h.status_message()
    return await finished(fake, status["id"]), status


async def ping_of(fake, status: dict, within: float = 30) -> dict:
    return await wait_until(lambda: next(
        (m for m in fake.channel_messages(CHANNEL)
         if (m.get("message_reference") or {}).get("message_id") == status["id"]), None), within)


async def test_the_finished_message_has_the_poster_follow_ups_and_the_video_inline(
    make_harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=10)
    fake_discord.add_guild(GUILD, premium_tier=2)  # 50 MiB uploads
    h = make_harness()
    h.start_worker()
    bot = await h.start_bot()
    final, status = await render_to_the_end(h, fake_discord, user, db)
    job, key = await job_row(db, job_id_of(status))
    assert job.origin["upload_limit"] == 50 * MIB  # the guild's tier, read by discord.py
    assert job.poster_url and final["embeds"][0]["image"]["url"] == job.poster_url
    labels = [c["label"] for row in final["components"] for c in row["components"]]
    assert labels == ["Download video", "Render again", "Vertical 9:16", "Square 1:1"]

    # inline: the ping replies with the stored video attached
    ping = await ping_of(fake_discord, status)
    [video] = ping["attachments"]
    stored = await Runtime(h.settings).storage.get_bytes(key=key)
    assert fake_discord.files[video["id"]] == stored and stored[4:8] == b"ftyp"
    assert video["content_type"] == "video/mp4" and video["size"] == len(stored)
    assert ping["content"].startswith(f"<@{user['id']}> your render of **Teaser** is ready")
    upload = next(c for c in fake_discord.calls
                  if c.files and c.path.startswith("/channels/"))
    assert upload.auth == f"Bot {fake_discord.token}" and "renderbot" in upload.agent
    assert await balance(db, account) == 9

    # the buttons work after a restart; only the owner may use them; never a charge
    await h.stop_bot(bot)
    await h.start_bot()
    intruder = fake_discord.user("5151", "mallory")
    it = await fake_discord.click(final, f"rb:again:{job.id}", user=intruder, guild_id=GUILD)
    body = await it.response()
    assert body["type"] == 4 and body["data"]["flags"] == 64
    assert "Only the person who started this render" in body["data"]["content"]
    it = await fake_discord.click(final, f"rb:again:{job.id}", user=user, guild_id=GUILD)
    body = await it.response()
    assert it.ack_seconds < 3
    assert body["type"] == 4 and body["data"]["flags"] == 64
    assert body["data"]["content"].startswith("**Quote for Teaser**")
    assert "320×180 · 24 fps · 1 s · low" in body["data"]["content"]
    assert any(c.startswith("rb:ok:") for c in custom_ids(it.original()))
    it = await fake_discord.click(final, f"rb:var:916:{job.id}", user=user, guild_id=GUILD)
    body = await it.response()
    assert "180×320 · 24 fps · 1 s · low" in body["data"]["content"]
    assert await balance(db, account) == 9
    async with db.transaction() as s:
        assert len(await renders.list_(session=s, account_id=account)) == 1


async def test_over_the_inline_setting_the_ping_has_the_link_only(
    make_harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    h = make_harness(discord=discord_settings(fake_discord, inline_max_bytes=1000))
    h.start_worker()
    await h.start_bot()
    final, status = await render_to_the_end(h, fake_discord, user, db)
    ping = await ping_of(fake_discord, status)
    assert ping["attachments"] == []
    assert not [u for u in fake_discord.uploads if not u.filename.endswith(".jpg")]
    assert final["components"][0]["components"][0]["style"] == 5  # the link


async def test_a_413_from_discord_falls_back_to_the_link_without_an_error(
    make_harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    fake_discord.refuse_uploads_over = 1000  # e.g. the guild lost its boosts meanwhile
    h = make_harness()
    h.start_worker()
    await h.start_bot()
    final, status = await render_to_the_end(h, fake_discord, user, db)
    job, _ = await job_row(db, job_id_of(status))
    assert job.origin["upload_limit"] == 10 * MIB  # no guild cached: the interaction's limit
    ping = await ping_of(fake_discord, status)
    assert ping["attachments"] == []
    videos = [u.filename for u in fake_discord.too_large if u.filename.endswith(".mp4")]
    assert videos == [f"Teaser-{job_id_of(status)[-8:]}.mp4"]
    refused = next(c for c in fake_discord.calls
                   if c.files and c.path.startswith("/channels/"))
    assert refused.status == 413
    public = [m["content"] for m in fake_discord.channel_messages(CHANNEL)]
    assert len(public) == 2, public  # the status message and the ping: no error line
    assert final["components"][0]["components"][0]["style"] == 5


async def test_a_finished_draft_offers_full_quality_as_a_new_quote_without_a_charge(
    make_harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=10)
    h = make_harness()
    h.start_worker()
    await h.start_bot()
    quote = await h.quote(user, size="320x180", fps="24", quality="low", duration="1")
    draft = next(c for c in custom_ids(quote) if c.startswith("rb:draft:"))
    it = await fake_discord.click(quote, draft, user=user, guild_id=GUILD)
    assert (await it.response())["type"] == 6
    status = await h.status_message()
    final = await finished(fake_discord, status["id"])
    job, _ = await job_row(db, job_id_of(status))
    assert job.settings.draft is True
    labels = [c["label"] for row in final["components"] for c in row["components"]]
    assert labels == ["Download video", "Render again", "Full quality", "Vertical 9:16",
                      "Square 1:1"]
    spent = 10 - await balance(db, account)
    assert spent == job.credit_cost == 1
    it = await fake_discord.click(final, f"rb:full:{job.id}", user=user, guild_id=GUILD)
    body = await it.response()
    assert body["type"] == 4 and body["data"]["flags"] == 64
    assert "320×180 · 24 fps · 1 s · low" in body["data"]["content"]
    full_quote = copy.deepcopy(it.original())
    it = await fake_discord.click(final, f"rb:var:11:{job.id}", user=user, guild_id=GUILD)
    assert "180×180" in (await it.response())["data"]["content"]
    assert await balance(db, account) == 9  # quotes only: nothing charged
    async with db.transaction() as s:
        assert len(await renders.list_(session=s, account_id=account)) == 1
    # Confirm on the Full quality quote: the same settings, not a draft
    await h.confirm(full_quote, user)
    await wait_until(lambda: "Submitted ✓" in fake_discord.messages[full_quote["id"]]["content"])
    async with db.transaction() as s:
        jobs = await renders.list_(session=s, account_id=account)
    [full] = [j for j in jobs if j.id != job.id]
    assert full.settings.draft is False and full.settings.resolution == [320, 180]
    assert await balance(db, account) == 9 - full.credit_cost
