"""Issue 18 on Discord, against the fake Discord with the instant backend: the quote's
Format select reaches the job's settings; its "Formats" multi-select (16:9, 9:16, 1:1)
quotes the batch (each variant's price and the sum) and Confirm submits ONE batch: one
ledger debit equal to the sum, three completed jobs, ONE status message that ends listing
three links; "Cancel all" cancels every unfinished variant."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core import batches
from core.models import CreditEntry
from tests.bots.discord.conftest import CHANNEL, GUILD, Harness, bot_settings
from tests.bots.discord.test_bot_flow import balance, discord_account, jobs_of
from tests.fixtures.fake_discord import custom_ids, find_component, wait_until

ALL = ["16:9", "9:16", "1:1"]


@pytest.fixture
async def instant(fake_discord, tmp_path, database_url):
    h = Harness(fake_discord, bot_settings(tmp_path, database_url, fake_discord,
                                           render_backend="instant", test_backends=True))
    yield h
    await h.close()


async def batch_quote(h, user, fmt="webm"):
    quote = await h.quote(user)
    quote = await h.choose(quote, "rb:re:fmt:", [fmt], user)
    quote = await h.choose(quote, "rb:re:asp:", ALL, user)
    return quote


async def batch_status(h) -> tuple[dict, str]:
    status = await wait_until(lambda: next((m for m in h.fake.channel_messages(CHANNEL)
                                            if "batch `" in m["content"]), None))
    return status, re.search(r"batch `([\w-]+)`", status["content"])[1]


async def test_the_format_select_reaches_the_jobs_settings(instant, fake_discord, user, db):
    account, _ = await discord_account(db, credits_=50)
    await instant.start_bot()
    quote = await instant.quote(user)
    quote = await instant.choose(quote, "rb:re:fmt:", ["gif"], user)
    assert "Quote for Teaser" in quote["content"]
    await instant.confirm(quote, user)
    await instant.status_message()
    (job,) = await jobs_of(db, account)
    assert job.settings.format == "gif" and job.batch_id is None


async def test_three_aspects_are_one_debit_three_jobs_and_one_message_with_three_links(
    instant, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=100)
    await instant.start_bot()
    quote = await batch_quote(instant, user)
    prices = [int(p) for p in re.findall(r"• \d+×\d+: (\d+) credit", quote["content"])]
    assert len(prices) == 3, quote["content"]
    assert f"Cost: {sum(prices)} credits" in quote["content"]
    instant.start_worker()
    await instant.confirm(quote, user)
    status, batch_id = await batch_status(instant)
    final = await wait_until(lambda: (m := fake_discord.messages[status["id"]])
                             and m["content"].count("](") == 3 and m, 60)
    async with db.transaction() as s:
        batch = await batches.get(session=s, account_id=None, batch_id=batch_id)
        debits = (await s.scalars(select(CreditEntry).where(
            CreditEntry.account_id == account, CreditEntry.amount < 0))).all()
    assert [j.status for j in batch.jobs] == ["completed"] * 3
    assert sorted(tuple(j.settings.resolution) for j in batch.jobs) == sorted(
        [(1280, 720), (720, 1280), (720, 720)])
    assert {j.settings.format for j in batch.jobs} == {"webm"}
    assert [d.amount for d in debits] == [-sum(prices)] == [-batch.credit_cost]
    assert await balance(db, account) == 100 - sum(prices)
    links = re.findall(r"\[download\]\(([^)]+)\)", final["content"])
    assert sorted(links) == sorted(j.result_url for j in batch.jobs)
    assert final["components"] == []
    assert len([m for m in fake_discord.channel_messages(CHANNEL)
                if "batch `" in m["content"]]) == 1  # ONE status message
    assert len(await jobs_of(db, account)) == 3
    # edits never notify: one reply pings the user with the three links
    ping = await wait_until(lambda: next((m for m in fake_discord.channel_messages(CHANNEL)
                                          if "your batch has ended" in m["content"]), None))
    assert sorted(re.findall(r"\]\(([^)]+)\)", ping["content"])) == sorted(links)


async def test_cancel_all_cancels_every_unfinished_variant(instant, fake_discord, user, db):
    account, _ = await discord_account(db, credits_=100)
    await instant.start_bot()
    quote = await batch_quote(instant, user, "mp4")
    await instant.confirm(quote, user)  # no worker: every variant stays queued
    status, batch_id = await batch_status(instant)
    cancel = f"rb:bcancel:{batch_id}"
    assert find_component(status, cancel)["label"] == "Cancel all"
    it = await fake_discord.click(status, cancel, user=user, guild_id=GUILD)
    assert (await it.response())["type"] == 6
    await wait_until(lambda: fake_discord.messages[status["id"]]["content"].count("Refunded") == 3,
                     30)
    async with db.transaction() as s:
        batch = await batches.get(session=s, account_id=None, batch_id=batch_id)
    assert [j.status for j in batch.jobs] == ["cancelled"] * 3
    assert await balance(db, account) == 100
    assert not [c for c in custom_ids(fake_discord.messages[status["id"]])]
