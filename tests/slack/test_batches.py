"""The "Formats" multi-select (issue 18) in the fake Slack: three aspects → a batch quote
with each variant's price and the sum, Confirm → ONE ledger debit for the sum, three
completed jobs (instant backend), and ONE status message that ends listing three links;
Cancel all on that message cancels every unfinished variant."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core import batches, credits, renders
from core.models import CreditEntry
from tests.fixtures.fake_slack import unescaped
from tests.slack.conftest import Harness, slack_settings, wait_for
from tests.slack.test_app_flow import blocks_text
from tests.slack.test_render import elements

ALL = ["16:9", "9:16", "1:1"]


@pytest.fixture
async def instant_harness(fake_slack, tmp_path, database_url, db):
    settings = slack_settings(tmp_path, database_url, fake_slack, render_backend="instant")
    h = Harness(fake_slack, settings, db).start()
    yield h
    await h.close()


async def batch_message(h, user):
    status = await h.status_message(user.channel_id)
    batch_id = re.search(r"batch `(batch_\w+|[\w-]+)`", blocks_text(status["blocks"]))[1]
    return status, batch_id


async def test_three_aspects_are_one_debit_three_jobs_and_one_message_with_three_links(
    instant_harness, db
):
    h, fake = instant_harness, instant_harness.fake
    alice = h.user()
    account, _ = await h.account(alice, credits_=100)
    quote = await h.quote(alice, {"aspects": ALL, "format": "webm"})
    text = blocks_text(quote["blocks"])
    prices = [int(p) for p in re.findall(r"• \d+×\d+: (\d+) credit", text)]
    assert len(prices) == 3 and "1280×720" in text and "720×1280" in text and "720×720" in text
    assert f"Cost: {sum(prices)} credits" in text, text

    h.start_worker()
    _, data, _ = await alice.submit_and_apply(quote)
    assert "Submitted 3 variants" in blocks_text(data["view"]["blocks"]), data
    status, batch_id = await batch_message(h, alice)
    final = await wait_for(lambda: (m := fake.message(status["channel"], status["ts"]))
                           and blocks_text(m["blocks"]).count("|download>") == 3 and m, 60)

    async with db.transaction() as s:
        batch = await batches.get(session=s, account_id=None, batch_id=batch_id)
        assert [j.status for j in batch.jobs] == ["completed"] * 3
        assert sorted(tuple(j.settings.resolution) for j in batch.jobs) == sorted(
            [(1280, 720), (720, 1280), (720, 720)])
        assert {j.settings.format for j in batch.jobs} == {"webm"}  # the format reached the jobs
        assert await credits.balance(session=s, account_id=account) == 100 - sum(prices)
        debits = (await s.scalars(select(CreditEntry).where(
            CreditEntry.account_id == account, CreditEntry.amount < 0))).all()
    assert [d.amount for d in debits] == [-sum(prices)] == [-batch.credit_cost]
    # ONE status message, every link in it, each variant's own video
    posted = [m for m in fake.channel_messages(alice.channel_id) if not m.get("thread_ts")]
    assert len(posted) == 1
    ping = await wait_for(lambda: next((m for m in fake.channel_messages(alice.channel_id)
                                        if m.get("thread_ts") == status["ts"]), None))
    assert "your batch is ready" in ping["text"] and ping["text"].count("<http") == 3
    links = re.findall(r"<([^|>]+)\|download>", blocks_text(final["blocks"]))
    assert sorted(links) == sorted(j.result_url for j in batch.jobs)
    assert elements(final) == []  # no Cancel once every variant ended
    # every edit went through the workers' paced sender; it never went backwards
    done_counts = [blocks_text(m["blocks"]).count("|download>")
                   for _, m in fake.versions(status["channel"], status["ts"])]
    assert done_counts == sorted(done_counts), done_counts
    for call in fake.calls_to("chat.update"):
        assert not unescaped(call.params.get("text") or "")


async def test_one_aspect_keeps_the_single_job_flow(instant_harness, db):
    h = instant_harness
    alice = h.user()
    await h.account(alice, credits_=100)
    quote = await h.quote(alice, {"aspects": ["9:16"]})
    text = blocks_text(quote["blocks"])
    assert "720×1280" in text and "•" not in text
    _, data, _ = await alice.submit_and_apply(quote)
    job_id = re.search(r"job `(\w+)`", blocks_text(data["view"]["blocks"]))[1]
    async with db.transaction() as s:
        job = await renders.get(session=s, account_id=None, job_id=job_id)
    assert job.batch_id is None and list(job.settings.resolution) == [720, 1280]


async def test_cancel_all_on_the_batch_message_cancels_every_unfinished_variant(
    instant_harness, db
):
    h, fake = instant_harness, instant_harness.fake
    alice = h.user()
    account, _ = await h.account(alice, credits_=100)
    quote = await h.quote(alice, {"aspects": ALL})  # no worker: all stay queued
    _, data, _ = await alice.submit_and_apply(quote)
    status, batch_id = await batch_message(h, alice)
    shown = fake.message(status["channel"], status["ts"])
    (button,) = elements(shown)
    assert button["text"]["text"] == "Cancel all" and button["value"] == f"batch:{batch_id}"
    response, _ = await alice.click_in_message(shown, "render_cancel")
    assert response.status_code == 200
    await wait_for(lambda: (m := fake.message(status["channel"], status["ts"]))
                   and blocks_text(m["blocks"]).count("Refunded") == 3 and m, 30)
    async with db.transaction() as s:
        batch = await batches.get(session=s, account_id=None, batch_id=batch_id)
        assert [j.status for j in batch.jobs] == ["cancelled"] * 3
        assert await credits.balance(session=s, account_id=account) == 100
