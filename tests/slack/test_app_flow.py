"""The real bolt app over real HTTP with real signatures against the fake Slack: the
/render modal, quotes, confirmation, errors, credits and linking (no renders here)."""

from __future__ import annotations

import asyncio
import time

from core import accounts, credits, renders
from tests.fixtures.fake_slack import SIGNING_SECRET, TEAM, signed_headers
from tests.slack.conftest import wait_for

TINY = {"resolution": [320, 180], "frame_rate": 24, "duration": 1, "quality": "low"}


def blocks_text(blocks: list[dict]) -> str:
    parts = []
    for block in blocks or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        for el in block.get("elements", []):
            if isinstance(el.get("text"), str):
                parts.append(el["text"])
    return "\n".join(parts)


async def jobs_of(db, account_id):
    async with db.transaction() as s:
        return await renders.list_(session=s, account_id=account_id)


async def with_message_recorded(db, job_id, within: float = 10.0):
    """The job once the app has stored its status message (it does so right after posting)."""
    deadline = time.monotonic() + within
    while True:
        async with db.transaction() as s:
            job = await renders.get(session=s, account_id=None, job_id=job_id)
        if job.origin.get("message_ts") or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.05)


async def balance(db, account_id):
    async with db.transaction() as s:
        return await credits.balance(session=s, account_id=account_id)


async def test_render_command_acks_fast_and_opens_the_modal(harness):
    alice = harness.user()
    _, (project_id,) = await harness.account(alice)
    began = time.monotonic()
    response, _ = await alice.command("")
    acked = time.monotonic() - began
    assert response.status_code == 200 and acked < 3.0
    calls = await wait_for(lambda: harness.fake.calls_to("views.open"))
    view = calls[0].params["view"]
    assert calls[0].token == harness.settings.slack_bot_token.get_secret_value()
    assert view["callback_id"] == "render_form"
    by_id = {b["block_id"]: b for b in view["blocks"]}
    assert set(by_id) == {"project", "size", "fps", "duration", "quality", "format", "aspects",
                          "effects"}
    project = by_id["project"]["element"]
    # a single project is listed and already picked
    assert project["type"] == "static_select"
    assert project["initial_option"]["value"] == project_id
    assert [o["value"] for o in by_id["size"]["element"]["options"]] == ["320x180", "180x180"]
    assert by_id["effects"]["element"]["type"] == "checkboxes"
    assert by_id["quality"]["element"]["type"] == "radio_buttons"


async def test_quote_confirm_posts_one_status_message_and_charges_once(harness, db):
    alice = harness.user()
    account, (project_id,) = await harness.account(alice, credits_=10)
    quote = await harness.quote(alice, {"effects": ["vignette"]})
    assert quote["callback_id"] == "render_quote" and quote["submit"]["text"] == "Confirm"
    text = blocks_text(quote["blocks"])
    assert "Cost: 1 credit · balance 10 → 9 after" in text
    assert "320×180 · 24 fps · 1 s · low · vignette" in text

    # double click: two submissions of the same quote view at the same time
    first, second = await asyncio.gather(alice.submit(quote), alice.submit(quote))
    assert first.status_code == second.status_code == 200
    answers = [r.json() for r in (first, second)]
    assert all(a["response_action"] == "update" for a in answers)
    said = [blocks_text(a["view"]["blocks"]) for a in answers]
    assert sum("Submitted — 1 credit charged" in t for t in said) == 1
    assert sum("already confirmed" in t for t in said) == 1

    status = await harness.status_message(alice.channel_id)
    jobs = await jobs_of(db, account)
    assert len(jobs) == 1 and await balance(db, account) == 9
    job = jobs[0]
    await wait_for(lambda: job.id in blocks_text(status["blocks"]))
    job = await with_message_recorded(db, job.id)
    assert job.origin["platform"] == "slack" and job.origin["team_id"] == TEAM
    assert job.origin["channel_id"] == alice.channel_id
    assert job.origin["message_ts"] == status["ts"] and job.origin["user_id"] == alice.user_id
    assert len([m for m in harness.fake.channel_messages(alice.channel_id)
                if not m.get("thread_ts")]) == 1
    # the status message: queued, a bar, a cancel button
    shown = blocks_text(status["blocks"])
    assert "Queued" in shown and "Teaser" in shown and "░" in shown
    cancel = [e for b in status["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert cancel[0]["action_id"] == "render_cancel" and cancel[0]["value"] == job.id


async def test_back_returns_to_the_form_with_the_picked_values(harness):
    alice = harness.user()
    await harness.account(alice)
    quote = await harness.quote(alice, {"duration": "2", "effects": ["grain"]})
    response = await alice.click_in_view(quote, "render_back")
    assert response.status_code == 200
    update = await wait_for(lambda: harness.fake.calls_to("views.update"))
    form = update[0].params["view"]
    assert update[0].params["view_id"] == quote["id"]
    by_id = {b["block_id"]: b["element"] for b in form["blocks"]}
    assert by_id["duration"]["initial_value"] == "2"
    assert [o["value"] for o in by_id["effects"]["initial_options"]] == ["grain"]
    assert by_id["fps"]["initial_option"]["value"] == "24"


async def test_invalid_settings_are_shown_on_their_field_and_nothing_is_charged(harness, db):
    alice = harness.user()
    account, _ = await harness.account(alice)
    form = await harness.open_form(alice)
    base = {"size": "320x180", "fps": "24", "quality": "low"}
    for duration, words in (("abc", "'abc' is not a number of seconds"),
                            ("0.2", "0.2 s is out of bounds (allowed: 1..600 seconds)"),
                            ("9999", "9999 s is out of bounds")):
        _, data, _ = await alice.submit_and_apply(form, {**base, "duration": duration})
        assert data["response_action"] == "errors", data
        assert list(data["errors"]) == ["duration"], data
        assert words in data["errors"]["duration"]
    _, data, _ = await alice.submit_and_apply(form, {**base, "duration": "1", "size": "321x180"})
    assert list(data["errors"]) == ["size"], data
    assert data["errors"]["size"].startswith("321x180 has an odd side")
    _, data, _ = await alice.submit_and_apply(form, {**base, "duration": "1", "project": None})
    assert list(data["errors"]) == ["project"], data
    assert await jobs_of(db, account) == [] and await balance(db, account) == 10


async def test_insufficient_credits_say_what_is_missing_and_charge_nothing(harness, db):
    alice = harness.user()
    account, _ = await harness.account(alice, credits_=0)
    quote = await harness.quote(alice)
    text = blocks_text(quote["blocks"])
    assert "costs 1 credit; you have 0 (*1 missing*)" in text
    assert "/render link CODE" in text and "Ask an admin" in text
    assert "submit" not in quote  # no Confirm
    assert await jobs_of(db, account) == [] and await balance(db, account) == 0


async def test_confirm_after_the_balance_dropped_charges_nothing(harness, db):
    alice = harness.user()
    account, (project_id,) = await harness.account(alice, credits_=1)
    quote = await harness.quote(alice)
    async with db.transaction() as s:  # spent elsewhere (the API) meanwhile
        await renders.submit(session=s, settings=harness.settings, account_id=account,
                             project_id=project_id, render_settings=TINY)
    _, data, view = await alice.submit_and_apply(quote)
    assert "1 missing" in blocks_text(view["blocks"])
    assert len(await jobs_of(db, account)) == 1 and await balance(db, account) == 0
    assert harness.fake.calls_to("chat.postMessage") == []


async def test_many_projects_are_searched_as_you_type(harness):
    alice = harness.user()
    names = [f"Clip {i:02d}" for i in range(30)] + ["Teaser"]
    await harness.account(alice, project_names=names)
    form = await harness.open_form(alice)
    project = next(b for b in form["blocks"] if b["block_id"] == "project")["element"]
    assert project["type"] == "external_select" and "initial_option" not in project
    response = await alice.search(form, "project", "tea")
    assert response.status_code == 200
    options = response.json()["options"]
    assert [o["text"]["text"] for o in options] == ["Teaser"]
    everything = (await alice.search(form, "project", "")).json()["options"]
    assert len(everything) == 31


async def test_render_with_a_project_name_picks_it(harness):
    alice = harness.user()
    _, ids = await harness.account(alice, project_names=("Teaser", "Outro"))
    form = await harness.open_form(alice, "outro")
    project = next(b for b in form["blocks"] if b["block_id"] == "project")["element"]
    assert project["initial_option"]["value"] == ids[1]


async def test_unknown_project_name_gets_a_friendly_ephemeral_answer(harness):
    alice = harness.user()
    await harness.account(alice)
    response, rid = await alice.command("no such thing")
    assert response.status_code == 200
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert said[0]["response_type"] == "ephemeral"
    assert "project was not found" in said[0]["text"]
    assert harness.fake.calls_to("views.open") == []


async def test_an_error_right_after_the_ack_is_answered_200_every_time(harness):
    """Bolt drops the ack of a listener that raises within ~10 ms of it (its runner polls
    for the ack that often, and resets it on an error): it waited out its 3 s ack timeout
    and answered Slack 404, and the user saw "/render failed" beside the error message.
    An unknown project name raised that fast; five in a row must all be 200s."""
    alice = harness.user()
    await harness.account(alice)
    for _ in range(5):
        response, rid = await alice.command("no such thing")
        assert response.status_code == 200
        said = await wait_for(lambda: harness.fake.responses[rid])  # noqa: B023
        assert "project was not found" in said[0]["text"]


async def test_first_time_user_gets_an_account_and_a_hint_without_projects(harness, db):
    bob = harness.user("U0BOB", "bob")
    response, rid = await bob.command("")
    assert response.status_code == 200
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert "no projects yet" in said[0]["text"]
    async with db.transaction() as s:
        names = [a.name for a in await accounts.list_(session=s)]
    assert "bob" in names


async def test_credits_shows_balance_and_recent_entries(harness):
    alice = harness.user()
    await harness.account(alice, credits_=7)
    response, rid = await alice.command("credits")
    assert response.status_code == 200
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert said[0]["response_type"] == "ephemeral"
    assert "*Balance: 7 credits*" in said[0]["text"] and "+7 · grant" in said[0]["text"]


async def test_link_code_points_the_slack_user_at_an_existing_account(harness, db):
    alice = harness.user()
    async with db.transaction() as s:
        shared = await accounts.create(session=s, name="studio", starting_credits=42)
        code = await accounts.create_link_code(session=s, account_id=shared.id)
    response, rid = await alice.command(f"link {code.lower()}")
    assert response.status_code == 200
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert "*studio*" in said[0]["text"] and "42 credits" in said[0]["text"]
    async with db.transaction() as s:
        mine = await accounts.for_chat_user(session=s, platform="slack", team_id=TEAM,
                                            user_id=alice.user_id, display_name="alice")
    assert mine.id == shared.id
    # a used code is refused, kindly
    response, rid = await alice.command(f"link {code}")
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert "link code is unknown, used or expired" in said[0]["text"]


async def test_forged_or_stale_requests_get_401_and_change_nothing(harness, db):
    alice = harness.user()
    account, _ = await harness.account(alice)
    body, rid = alice.command_body("credits")
    forged = signed_headers(body, secret="not-the-secret")
    stale = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    tampered = signed_headers(body)
    for headers, sent in ((forged, body), (stale, body), (tampered, body + b"&x=1"), ({}, body)):
        response = await alice.send(sent, headers=headers or {"Content-Type":
                                                             "application/x-www-form-urlencoded"})
        assert response.status_code == 401, response.text
    quote_like = signed_headers(body, secret=SIGNING_SECRET[::-1])
    assert (await alice.send(body, headers=quote_like)).status_code == 401
    await asyncio.sleep(0.3)
    assert harness.fake.responses[rid] == []
    assert [c.method for c in harness.fake.calls] == []
    assert await jobs_of(db, account) == []


async def test_status_goes_to_a_dm_when_the_bot_is_not_in_the_channel(harness, db):
    alice = harness.user(channel_id="C0PRIVATE")
    account, _ = await harness.account(alice)
    harness.fake.not_in_channel.add("C0PRIVATE")
    quote = await harness.quote(alice)
    await alice.submit_and_apply(quote)
    status = await harness.status_message(f"D{alice.user_id}")
    assert harness.fake.calls_to("conversations.open")[0].params["users"] == alice.user_id
    (job,) = await jobs_of(db, account)
    await wait_for(lambda: harness.fake.calls_to("conversations.open"))
    job = await with_message_recorded(db, job.id)
    assert job.origin["channel_id"] == f"D{alice.user_id}" and job.origin["dm"] is True
    assert job.origin["message_ts"] == status["ts"]


async def test_cancel_button_cancels_a_queued_job_refunds_and_updates_the_message(harness, db):
    alice = harness.user()
    account, _ = await harness.account(alice, credits_=10)
    quote = await harness.quote(alice)
    await alice.submit_and_apply(quote)
    status = await harness.status_message(alice.channel_id)
    await wait_for(lambda: "job `" in blocks_text(status["blocks"]))
    response, rid = await alice.click_in_message(status, "render_cancel")
    assert response.status_code == 200
    (job,) = await jobs_of(db, account)
    await wait_for(lambda: "Cancelled" in blocks_text(
        harness.fake.message(status["channel"], status["ts"])["blocks"]))
    final = harness.fake.message(status["channel"], status["ts"])
    assert "Refunded 1 credit" in blocks_text(final["blocks"])
    assert not [b for b in final["blocks"] if b["type"] == "actions"]
    assert (await jobs_of(db, account))[0].status == "cancelled"
    assert await balance(db, account) == 10
    # another click on the stale button: friendly, ephemeral, nothing else
    response, rid = await alice.click_in_message(status, "render_cancel")
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert "already cancelled" in said[0]["text"] and said[0]["response_type"] == "ephemeral"


async def test_someone_else_cannot_cancel_my_render(harness, db):
    alice = harness.user()
    account, _ = await harness.account(alice)
    await alice.submit_and_apply(await harness.quote(alice))
    status = await harness.status_message(alice.channel_id)
    mallory = harness.user("U0MALLORY", "mallory")
    _, rid = await mallory.click_in_message(status, "render_cancel")
    said = await wait_for(lambda: harness.fake.responses[rid])
    assert "not found" in said[0]["text"]
    assert (await jobs_of(db, account))[0].status == "queued"


async def test_unexpected_errors_become_an_ephemeral_message_with_an_error_id(harness, db,
                                                                              caplog):
    alice = harness.user()
    account, _ = await harness.account(alice)
    quote = await harness.quote(alice)
    broken = {**quote, "private_metadata": "{not json"}
    response = await alice.submit(broken)
    assert response.status_code == 200
    data = response.json()
    text = blocks_text(data["view"]["blocks"])
    assert data["response_action"] == "update" and "error id `" in text
    error_id = text.split("error id `")[1].split("`")[0]
    assert any(error_id in r.getMessage() for r in caplog.records)
    assert await jobs_of(db, account) == [] and await balance(db, account) == 10
