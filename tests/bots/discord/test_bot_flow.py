"""The real discord.py bot against the fake Discord: commands, the /render form, quotes,
confirmation, errors. No worker runs here, so submitted jobs stay queued."""

from __future__ import annotations

import asyncio
import copy
import re

from core import accounts, credits, renders
from core import projects as projects_service
from tests.bots.discord.conftest import CHANNEL, GUILD
from tests.fixtures.fake_discord import custom_ids, find_component, wait_until


async def discord_account(db, *, user_id="4242", guild=GUILD, credits_=10,
                          projects=("Teaser",)) -> tuple[str, list[str]]:
    async with db.transaction() as s:
        account = await accounts.for_chat_user(
            session=s, platform="discord", team_id=guild, user_id=user_id, display_name="alice"
        )
        if credits_:
            await credits.grant(session=s, account_id=account.id, amount=credits_,
                                idempotency_key=f"test:{account.id}")
        ids = [(await projects_service.create(session=s, account_id=account.id, name=n)).id
               for n in projects]
    return account.id, ids


async def submitted(fake, quote: dict) -> dict:
    """The quote message once the bot has recorded the status message (its last step)."""
    return await wait_until(lambda: "Submitted" in fake.messages[quote["id"]]["content"]
                            and fake.messages[quote["id"]])


async def jobs_of(db, account_id: str):
    async with db.transaction() as s:
        return await renders.list_(session=s, account_id=account_id)


async def balance(db, account_id: str) -> int:
    async with db.transaction() as s:
        return await credits.balance(session=s, account_id=account_id)


async def test_commands_are_synced_on_start_and_to_the_dev_guild(harness, fake_discord):
    await harness.start_bot()
    assert {c["name"] for c in fake_discord.commands["global"]} == {
        "render", "credits", "renders", "link"}
    render = next(c for c in fake_discord.commands["global"] if c["name"] == "render")
    assert render["options"][0]["name"] == "project"
    assert render["options"][0]["autocomplete"] is True

    harness.settings.discord.guild_id = 555
    await harness.start_bot()
    assert {c["name"] for c in fake_discord.commands["555"]} == {
        "render", "credits", "renders", "link"}


async def test_first_time_user_gets_an_account_with_starting_credits(
    harness, fake_discord, user, db
):
    harness.settings.starting_credits = 7
    await harness.start_bot()
    it = await fake_discord.slash("credits", user=user, channel_id=CHANNEL, guild_id=GUILD)
    body = await it.response()
    assert body["data"]["flags"] == 64
    assert "Balance: 7 credits" in body["data"]["content"]

    it = await fake_discord.slash("render", user=user, channel_id=CHANNEL, guild_id=GUILD)
    assert "no projects yet" in (await it.response())["data"]["content"]
    async with db.transaction() as s:
        account = await accounts.for_chat_user(session=s, platform="discord", team_id=GUILD,
                                               user_id=user["id"], display_name="x")
    assert account.balance == 7


async def test_autocomplete_lists_the_users_projects(harness, fake_discord, user, db):
    await discord_account(db, projects=("Launch teaser", "Podcast intro", "Launch outro"))
    await discord_account(db, user_id="999", projects=("Someone else's launch",))
    await harness.start_bot()
    it = await fake_discord.autocomplete("render", "project", "launch", user=user,
                                         channel_id=CHANNEL, guild_id=GUILD)
    body = await it.response()
    assert body["type"] == 8
    assert sorted(c["name"] for c in body["data"]["choices"]) == ["Launch outro", "Launch teaser"]


async def test_render_with_several_projects_starts_with_a_project_select(
    harness, fake_discord, user, db
):
    _, (teaser, intro) = await discord_account(db, projects=("Teaser", "Intro"))
    await harness.start_bot()
    picker = await harness.open_form(user)
    assert "which project" in picker["content"]
    select = find_component(picker, "rb:pick")
    assert {o["value"] for o in select["options"]} == {teaser, intro}
    form = await harness.choose(picker, "rb:pick", [intro], user)
    assert "Render Intro" in form["content"]
    assert any(c.startswith(f"rb:set:size:{intro}:") for c in custom_ids(form))


async def test_form_selects_keep_their_state_in_the_message(harness, fake_discord, user, db):
    _, (project,) = await discord_account(db)
    await harness.start_bot()
    form = await harness.open_form(user)
    form = await harness.choose(form, "rb:set:size:", ["256x144"], user)
    form = await harness.choose(form, "rb:set:fx:", ["glow", "grain"], user)
    form = await harness.choose(form, "rb:set:q:", ["medium"], user)
    dur = next(c for c in custom_ids(form) if c.startswith("rb:dur:"))
    # grain (bit 0) + glow (bit 2) = 5; medium; 30 fps default
    assert dur == f"rb:dur:{project}:256x144:30:m:5"
    size = find_component(form, next(c for c in custom_ids(form) if c.startswith("rb:set:size")))
    assert [o["value"] for o in size["options"] if o.get("default")] == ["256x144"]


async def test_quote_shows_cost_and_balance_after(harness, fake_discord, user, db):
    account, _ = await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = await harness.quote(user, size="320x180", fps="24", quality="low", duration="2")
    assert "Quote for Teaser" in quote["content"]
    assert "320×180 · 24 fps · 2 s · low · no effects" in quote["content"]
    assert "Cost: 1 credit · balance 10 → 9 after" in quote["content"]
    assert [c for c in custom_ids(quote) if c.startswith("rb:ok:")]
    assert quote["flags"] & 64
    assert await jobs_of(db, account) == []  # a quote charges nothing
    assert await balance(db, account) == 10


async def test_invalid_duration_gets_a_friendly_message_and_no_job(harness, fake_discord, user, db):
    account, _ = await discord_account(db)
    await harness.start_bot()
    form = await harness.open_form(user)
    dur = next(c for c in custom_ids(form) if c.startswith("rb:dur:"))
    opened = await fake_discord.click(form, dur, user=user, guild_id=GUILD)
    await opened.response()
    for text, expected in (("abc", "not a number of seconds"), ("9000", "out of bounds")):
        it = await fake_discord.submit_modal(opened, {"duration": text}, user=user,
                                             guild_id=GUILD)
        body = await it.response()
        assert body["data"]["flags"] == 64
        assert expected in body["data"]["content"], body
    assert await jobs_of(db, account) == []


async def test_insufficient_credits_show_the_missing_amount_and_no_confirm(
    harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=0)
    await harness.start_bot()
    quote = await harness.quote(user, size="320x180", fps="30", quality="high", duration="600")
    assert ("This render costs 5 credits; you have 0 (5 missing). Ask an admin for credits "
            "or link your account with /link.") in quote["content"]
    assert not [c for c in custom_ids(quote) if c.startswith("rb:ok:")]
    assert await jobs_of(db, account) == []


async def test_credits_spent_after_the_quote_refuse_the_confirm_and_charge_nothing(
    harness, fake_discord, user, db
):
    account, (project,) = await discord_account(db, credits_=1)
    await harness.start_bot()
    quote = await harness.quote(user)
    async with db.transaction() as s:  # the last credit goes elsewhere meanwhile
        await renders.submit(session=s, settings=harness.settings, account_id=account,
                             project_id=project, render_settings={"duration": 1})
    it = await harness.confirm(quote, user)
    error = await wait_until(lambda: next(
        (m for m in fake_discord.messages.values()
         if m["flags"] & 64 and "costs 1 credit; you have 0" in m["content"]), None))
    assert error["channel_id"] == CHANNEL
    assert len(await jobs_of(db, account)) == 1  # only the other one
    assert await balance(db, account) == 0
    assert not fake_discord.channel_messages(CHANNEL)  # no status message
    assert it.token in fake_discord.interactions


async def test_double_confirm_submits_one_job_and_charges_once(harness, fake_discord, user, db):
    account, _ = await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = copy.deepcopy(await harness.quote(user))  # what the user's client still shows
    ok = next(c for c in custom_ids(quote) if c.startswith("rb:ok:"))
    clicks = await asyncio.gather(*(fake_discord.click(quote, ok, user=user, guild_id=GUILD)
                                    for _ in range(3)))
    for click in clicks:
        assert (await click.response())["type"] == 6
    status = await harness.status_message()
    # the other two clicks are told so, each in an ephemeral follow-up of its own
    told = await wait_until(lambda: len(found := [
        m for m in fake_discord.messages.values()
        if m["flags"] & 64 and "already confirmed" in m["content"]]) == 2 and found)
    assert all(m["id"] != quote["id"] for m in told)
    await asyncio.sleep(0.5)  # let every click finish
    # the quote message ends one way, whichever click lands last: submitted, with the link
    link = f"/channels/{GUILD}/{CHANNEL}/{status['id']}"
    ended = fake_discord.messages[quote["id"]]["content"]
    assert ended.startswith("Submitted ✓") and link in ended, ended
    jobs = await jobs_of(db, account)
    assert len(jobs) == 1
    assert await balance(db, account) == 9
    assert len([m for m in fake_discord.channel_messages(CHANNEL) if "job `" in m["content"]]) == 1
    # a later click on the same quote is harmless too
    again = await fake_discord.click(quote, ok, user=user, guild_id=GUILD)
    await again.response()
    await asyncio.sleep(0.3)
    assert len(await jobs_of(db, account)) == 1


async def test_confirm_posts_a_public_status_message_and_links_it(harness, fake_discord, user, db):
    account, _ = await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = await harness.quote(user)
    await harness.confirm(quote, user)
    status = await harness.status_message()
    assert not status["flags"] & 64
    assert "⏳ **Queued** — Teaser" in status["content"]
    assert "next in the queue" in status["content"]
    done = await submitted(fake_discord, quote)
    (job,) = await jobs_of(db, account)
    assert job.origin["message_id"] == status["id"]
    assert job.origin["channel_id"] == CHANNEL and job.origin["user_id"] == user["id"]
    async with db.transaction() as s:  # the idempotency key is the quote message's id
        replay = await renders.submit(
            session=s, settings=harness.settings, account_id=account, project_id=job.project_id,
            render_settings=job.settings.model_dump(), idempotency_key=f"discord:{quote['id']}",
        )
    assert not replay.created and replay.job.id == job.id
    assert find_component(status, f"rb:cancel:{job.id}")["style"] == 4
    assert f"/{GUILD}/{CHANNEL}/{status['id']}" in done["content"]
    assert done["components"] == []


async def test_cancel_button_works_after_a_bot_restart(harness, fake_discord, user, db):
    account, _ = await discord_account(db, credits_=10)
    bot = await harness.start_bot()
    quote = await harness.quote(user)
    await harness.confirm(quote, user)
    status = copy.deepcopy(await harness.status_message())
    (job,) = await jobs_of(db, account)
    assert await balance(db, account) == 9

    await harness.stop_bot(bot)
    await harness.start_bot()  # a new process: nothing in memory
    someone = fake_discord.user("777", "mallory")
    it = await fake_discord.click(fake_discord.messages[status["id"]], f"rb:cancel:{job.id}",
                                  user=someone, guild_id=GUILD)
    await it.response()
    refusal = await wait_until(lambda: next(
        (m for m in fake_discord.messages.values()
         if m["flags"] & 64 and "only the person who started it" in m["content"]), None))
    assert refusal
    assert (await jobs_of(db, account))[0].status == "queued"

    it = await fake_discord.click(fake_discord.messages[status["id"]], f"rb:cancel:{job.id}",
                                  user=user, guild_id=GUILD)
    assert (await it.response())["type"] == 6
    final = await wait_until(
        lambda: "Cancelled" in fake_discord.messages[status["id"]]["content"]
        and fake_discord.messages[status["id"]])
    assert "Refunded 1 credit." in final["content"]
    assert final["components"] == []
    assert (await jobs_of(db, account))[0].status == "cancelled"
    assert await balance(db, account) == 10

    # a second click on a stale copy of the message: friendly, nothing changes
    it = await fake_discord.click(status, f"rb:cancel:{job.id}", user=user, guild_id=GUILD)
    await it.response()
    await wait_until(lambda: any(m["flags"] & 64 and "already cancelled" in m["content"]
                                 for m in fake_discord.messages.values()))
    assert await balance(db, account) == 10


async def test_renders_lists_recent_jobs_and_link_redeems_a_code(harness, fake_discord, user, db):
    account, (project,) = await discord_account(db, credits_=10)
    async with db.transaction() as s:
        await renders.submit(session=s, settings=harness.settings, account_id=account,
                             project_id=project, render_settings={"duration": 1})
        other = await accounts.create(session=s, name="studio", starting_credits=50)
        code = await accounts.create_link_code(session=s, account_id=other.id)
    await harness.start_bot()
    it = await fake_discord.slash("renders", user=user, channel_id=CHANNEL, guild_id=GUILD)
    body = await it.response()
    assert re.search(r"⏳ `job_\w+` queued 0%", body["data"]["content"]), body

    it = await fake_discord.slash("link", {"code": "nope"}, user=user, channel_id=CHANNEL,
                                  guild_id=GUILD)
    assert "unknown, used or expired" in (await it.response())["data"]["content"]
    it = await fake_discord.slash("link", {"code": code.lower()}, user=user, channel_id=CHANNEL,
                                  guild_id=GUILD)
    assert "**studio** (50 credits)" in (await it.response())["data"]["content"]
    it = await fake_discord.slash("credits", user=user, channel_id=CHANNEL, guild_id=GUILD)
    assert "Balance: 50 credits" in (await it.response())["data"]["content"]


async def test_unexpected_errors_get_an_error_id_and_charge_nothing(
    harness, fake_discord, user, db, caplog
):
    account, _ = await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = await harness.quote(user)
    await harness.stop_bot(harness.bots[0][0])
    bot = await harness.start_bot()
    await bot.rt.db.dispose()
    # the database goes away: nothing answers on this port
    bot.rt.__dict__["db"] = type(bot.rt.db)("postgresql+asyncpg://postgres@127.0.0.1:9/gone")
    await harness.confirm(quote, user)
    error = await wait_until(lambda: next(
        (m for m in fake_discord.messages.values()
         if m["flags"] & 64 and "error id" in m["content"]), None))
    correlation = re.search(r"error id `(\w+)`", error["content"])[1]
    assert correlation in caplog.text
    assert await jobs_of(db, account) == []
    assert await balance(db, account) == 10


async def test_a_429_on_the_status_post_is_waited_out_by_discord_py(
    harness, fake_discord, user, db
):
    await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = await harness.quote(user)
    followup = r"/webhooks/\d+/[^/]+"  # the status message is the Confirm's follow-up
    fake_discord.inject_429("POST", followup, retry_after=1.0)  # discord.py's webhook call
    await harness.confirm(quote, user)
    status = await harness.status_message()
    posts = fake_discord.calls_to("POST", followup)
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 1.0
    assert status["channel_id"] == CHANNEL


async def test_a_429_without_via_is_not_waited_on_and_the_status_goes_to_a_dm(
    harness, fake_discord, user, db
):
    account, _ = await discord_account(db, credits_=10)
    await harness.start_bot()
    quote = await harness.quote(user)
    fake_discord.inject_429("POST", r"/webhooks/\d+/[^/]+", retry_after=30, via=False)
    fake_discord.inject_429("POST", rf"/channels/{CHANNEL}/messages", retry_after=30,
                            via=False, agent="discord.py")
    started = asyncio.get_running_loop().time()
    await harness.confirm(quote, user)
    dm = await wait_until(lambda: fake_discord.dm_channels.get(user["id"]))
    await harness.status_message(channel_id=dm)
    await submitted(fake_discord, quote)
    assert asyncio.get_running_loop().time() - started < 10
    (job,) = await jobs_of(db, account)
    assert job.origin["channel_id"] == dm
