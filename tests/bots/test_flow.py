"""The platform-neutral chat flow over the real services (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bots import flow
from core import credits, renders
from core.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    InvalidSettings,
    InvalidTransition,
    JobNotFound,
    ProjectNotFound,
)
from core.settings import DiscordSettings, Settings

ALICE = flow.ChatUser("discord", "9001", "4242", "alice")
TINY = {"resolution": [320, 180], "frame_rate": 24, "duration": 2, "quality": "low",
        "effects": []}


async def make_alice(db, settings, *, credits_=0, projects=("Teaser",)):
    async with db.transaction() as s:
        account = await flow.account(session=s, settings=settings, user=ALICE)
        if credits_:
            await credits.grant(session=s, account_id=account.id, amount=credits_,
                                idempotency_key=f"t:{account.id}")
        ids = []
        for name in projects:
            from core import projects as projects_service

            ids.append((await projects_service.create(
                session=s, account_id=account.id, name=name)).id)
    return account.id, ids


async def test_the_same_chat_user_always_gets_the_same_account(db, settings):
    settings.starting_credits = 3
    async with db.transaction() as s:
        first = await flow.account(session=s, settings=settings, user=ALICE)
    async with db.transaction() as s:
        again = await flow.account(session=s, settings=settings, user=ALICE)
        elsewhere = await flow.account(
            session=s, settings=settings, user=flow.ChatUser("discord", "dm", "4242"))
    assert first.id == again.id and first.balance == 3
    assert elsewhere.id != first.id


async def test_quote_ok_insufficient_and_invalid(db, settings):
    _, (project,) = await make_alice(db, settings, credits_=1)
    async with db.transaction() as s:
        ok = await flow.quote(session=s, settings=settings, user=ALICE, project_id=project,
                              render_settings=TINY)
        poor = await flow.quote(session=s, settings=settings, user=ALICE, project_id=project,
                                render_settings={**TINY, "duration": 600, "quality": "high"})
        invalid = await flow.quote(session=s, settings=settings, user=ALICE, project_id=project,
                                   render_settings={**TINY, "frame_rate": 23})
    assert ok.ok and ok.quote.credit_cost == 1 and ok.quote.balance_after == 0
    assert not poor.ok and poor.problem == (
        "This render costs 4 credits; you have 1 (3 missing). Ask an admin for credits or "
        "link your account with /link.")
    assert not invalid.ok and "frame_rate" in invalid.problem and invalid.quote is None


async def test_submit_is_idempotent_per_key_and_charges_once(db, settings):
    account, (project,) = await make_alice(db, settings, credits_=5)
    origin = {"platform": "discord", "channel_id": "1", "user_id": "4242"}
    for _ in range(2):
        async with db.transaction() as s:
            result = await flow.submit(
                session=s, settings=settings, user=ALICE, project_id=project,
                render_settings=TINY, idempotency_key="discord:1", origin=origin, enqueue=None)
    assert not result.created
    async with db.transaction() as s:
        assert await credits.balance(session=s, account_id=account) == 4
        assert len(await renders.list_(session=s, account_id=account)) == 1
        with pytest.raises(IdempotencyConflict):
            await flow.submit(session=s, settings=settings, user=ALICE, project_id=project,
                              render_settings={**TINY, "duration": 3},
                              idempotency_key="discord:1", origin=origin, enqueue=None)


async def test_nothing_is_charged_when_the_submit_is_refused(db, settings):
    account, (project,) = await make_alice(db, settings, credits_=0)
    with pytest.raises(InsufficientCredits):
        async with db.transaction() as s:
            await flow.submit(session=s, settings=settings, user=ALICE, project_id=project,
                              render_settings=TINY, idempotency_key="discord:2", origin={},
                              enqueue=None)
    async with db.transaction() as s:
        assert await renders.list_(session=s, account_id=account) == []


async def test_cancel_by_the_starter_from_anywhere_but_not_by_others(db, settings):
    account, (project,) = await make_alice(db, settings, credits_=5)
    async with db.transaction() as s:
        job = (await flow.submit(
            session=s, settings=settings, user=ALICE, project_id=project, render_settings=TINY,
            idempotency_key="k", origin={"platform": "discord", "user_id": "4242"},
            enqueue=None)).job
    mallory = flow.ChatUser("discord", "9001", "666")
    with pytest.raises(JobNotFound):
        async with db.transaction() as s:
            await flow.cancel(session=s, settings=settings, user=mallory, job_id=job.id)
    in_dm = flow.ChatUser("discord", "dm", "4242")  # the status message went to a DM
    async with db.transaction() as s:
        cancelled = await flow.cancel(session=s, settings=settings, user=in_dm, job_id=job.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(InvalidTransition):
        async with db.transaction() as s:
            await flow.cancel(session=s, settings=settings, user=ALICE, job_id=job.id)


async def test_set_origin_merges_the_status_message(db, settings):
    _, (project,) = await make_alice(db, settings, credits_=5)
    async with db.transaction() as s:
        job = (await flow.submit(
            session=s, settings=settings, user=ALICE, project_id=project, render_settings=TINY,
            idempotency_key="k", origin={"platform": "discord", "channel_id": "1",
                                         "message_id": None}, enqueue=None)).job
        job = await flow.set_origin(session=s, job_id=job.id,
                                    origin={"message_id": "55", "channel_id": "2"})
    assert job.origin == {"platform": "discord", "channel_id": "2", "message_id": "55"}


async def test_resolve_project_by_id_or_name_and_link_codes(db, settings):
    _, (teaser,) = await make_alice(db, settings)
    async with db.transaction() as s:
        assert (await flow.resolve_project(session=s, settings=settings, user=ALICE,
                                           value="teaser")).id == teaser
        assert (await flow.resolve_project(session=s, settings=settings, user=ALICE,
                                           value=teaser)).name == "Teaser"
        with pytest.raises(ProjectNotFound):
            await flow.resolve_project(session=s, settings=settings, user=ALICE, value="nope")
    with pytest.raises(InvalidInput) as refused:
        async with db.transaction() as s:
            await flow.link(session=s, user=ALICE, code="ZZZZ")
    assert flow.friendly(refused.value) == (
        "That link code is unknown, used or expired. Ask for a new one.")


def test_parse_duration_and_defaults():
    assert [flow.parse_duration(t) for t in ("12", " 2.5 ", "15s", "1:30", "20 seconds")] == [
        12, 2.5, 15, 90, 20]
    with pytest.raises(InvalidSettings):
        flow.parse_duration("soon")
    plain = Settings(secret_key="test-secret-0123456789", _env_file=None)
    assert flow.defaults(plain)["resolution"] == [1920, 1080]
    tiny = Settings(secret_key="test-secret-0123456789", _env_file=None,
                    discord=DiscordSettings(size_presets={"tiny": (320, 180)}))
    assert flow.size_presets(tiny) == {"tiny": (320, 180)}
    assert flow.defaults(tiny)["resolution"] == [320, 180]


def test_friendly_messages_for_domain_errors():
    assert flow.friendly(InsufficientCredits(balance=5, cost=12)).startswith(
        "This render costs 12 credits; you have 5 (7 missing).")
    assert "duration" in flow.friendly(InvalidSettings("duration", "too long", "1..600"))
    assert flow.friendly(InvalidTransition("job_1", "completed", "cancel")) == (
        "That render is already completed.")
    with pytest.raises(TypeError):
        flow.friendly(RuntimeError("boom"))
