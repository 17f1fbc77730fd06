"""The chat conversation, platform-neutral: project pick → settings → quote → confirm.

Each step is a function over core services that runs inside the caller's transaction
(the chat edge owns it: one interaction, one ``db.transaction()``). Nothing here knows
about Discord or Slack; the platform code turns the results into messages and maps
:class:`~core.errors.RenderbotError` to text with :func:`friendly`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bots import progress
from core import accounts, credits, projects, renders
from core.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    InvalidSettings,
    InvalidTransition,
    JobNotFound,
    ProjectNotFound,
    RenderbotError,
)
from core.previews import Preview
from core.render_settings import PRESETS, QUALITIES, RenderSettings
from core.renders import Enqueue, Submitted
from core.runtime import Runtime
from core.schemas import AccountRead, CreditsRead, JobRead, ProjectRead, QuoteRead
from core.settings import Settings


@dataclass(frozen=True)
class ChatUser:
    """Who is talking: ``team_id`` is the guild/workspace (``"dm"`` outside one)."""

    platform: str
    team_id: str
    user_id: str
    display_name: str = ""


@dataclass(frozen=True)
class QuoteOutcome:
    """A quote the user may confirm, or the reason they can't (``problem``)."""

    project: ProjectRead
    quote: QuoteRead | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.quote is not None and self.problem is None


def size_presets(settings: Settings) -> dict[str, tuple[int, int]]:
    """The size presets offered in pickers (``discord.size_presets`` overrides core's)."""
    override = settings.discord.size_presets
    return {name: tuple(size) for name, size in override.items()} if override else dict(PRESETS)


def defaults(settings: Settings) -> dict[str, Any]:
    """The settings a new form starts from: core's defaults, snapped to what is offered."""
    base = RenderSettings()
    presets = list(size_presets(settings).values())
    rates = frame_rates(settings)
    return {
        "resolution": list(base.resolution if base.resolution in presets or not presets
                           else presets[0]),
        "frame_rate": base.frame_rate if base.frame_rate in rates else rates[0],
        "duration": base.duration, "quality": base.quality, "effects": [],
    }


def frame_rates(settings: Settings) -> list[int]:
    return list(settings.limits.frame_rates)


def qualities() -> tuple[str, ...]:
    return QUALITIES


def effects(settings: Settings) -> list[str]:
    return list(settings.limits.effects)


def parse_duration(text: str) -> float:
    """``"12"``, ``"2.5"``, ``"15s"``, ``"1:30"`` → seconds (range checked by core)."""
    raw = (text or "").strip().lower().removesuffix("seconds").removesuffix("s").strip()
    try:
        if ":" in raw:
            minutes, seconds = raw.split(":", 1)
            return int(minutes) * 60 + float(seconds)
        return float(raw)
    except ValueError:
        raise InvalidSettings("duration", f"{text!r} is not a number of seconds", "e.g. 10") from None


async def account(*, session: AsyncSession, settings: Settings, user: ChatUser) -> AccountRead:
    """The user's account, created (with the starting credits) on first use."""
    return await accounts.for_chat_user(
        session=session, platform=user.platform, team_id=user.team_id, user_id=user.user_id,
        display_name=user.display_name, starting_credits=settings.starting_credits,
    )


async def list_projects(
    *, session: AsyncSession, settings: Settings, user: ChatUser, search: str | None = None,
    limit: int = 25,
) -> list[ProjectRead]:
    acct = await account(session=session, settings=settings, user=user)
    return await projects.list_(session=session, account_id=acct.id, search=search, limit=limit)


async def resolve_project(
    *, session: AsyncSession, settings: Settings, user: ChatUser, value: str
) -> ProjectRead:
    """A project of this user by id (what autocomplete sends) or by name (typed text)."""
    acct = await account(session=session, settings=settings, user=user)
    try:
        return await projects.get(session=session, account_id=acct.id, project_id=value)
    except ProjectNotFound:
        return await projects.find_by_name(session=session, account_id=acct.id, name=value)


async def quote(
    *, session: AsyncSession, settings: Settings, user: ChatUser, project_id: str,
    render_settings: dict[str, Any],
) -> QuoteOutcome:
    """The cost and balance after, or a friendly problem (invalid settings, too few credits)."""
    acct = await account(session=session, settings=settings, user=user)
    project = await projects.get(session=session, account_id=acct.id, project_id=project_id)
    try:
        q = await renders.quote(
            session=session, settings=settings, account_id=acct.id, project_id=project_id,
            render_settings=render_settings,
        )
    except InvalidSettings as exc:
        return QuoteOutcome(project=project, quote=None, problem=friendly(exc))
    if q.balance_after < 0:
        return QuoteOutcome(
            project=project, quote=q, problem=progress.insufficient_text(q.credit_cost, q.balance)
        )
    return QuoteOutcome(project=project, quote=q)


async def quote_batch(
    *, session: AsyncSession, settings: Settings, user: ChatUser, project_id: str,
    render_settings: dict[str, Any], variants: list[list[int]],
) -> QuoteOutcome:
    """A batch quote (each variant's price and the sum), or why it can't be confirmed."""
    from core import batches

    acct = await account(session=session, settings=settings, user=user)
    project = await projects.get(session=session, account_id=acct.id, project_id=project_id)
    q = await batches.quote(session=session, settings=settings, account_id=acct.id,
                            project_id=project_id, render_settings=render_settings,
                            variants=variants)
    if q.balance_after < 0:
        return QuoteOutcome(
            project=project, quote=q, problem=progress.insufficient_text(q.credit_cost, q.balance)
        )
    return QuoteOutcome(project=project, quote=q)


async def submit_batch(
    *, session: AsyncSession, settings: Settings, user: ChatUser, project_id: str,
    render_settings: dict[str, Any], variants: list[list[int]], idempotency_key: str,
    origin: dict[str, Any], enqueue: Enqueue | None,
):
    """ONE debit for the sum, one job per variant (a replay returns the first batch)."""
    from core import batches

    acct = await account(session=session, settings=settings, user=user)
    return await batches.submit(
        session=session, settings=settings, account_id=acct.id, project_id=project_id,
        render_settings=render_settings, variants=variants, idempotency_key=idempotency_key,
        origin=origin, enqueue=enqueue,
    )


async def cancel_batch(*, session: AsyncSession, settings: Settings, user: ChatUser,
                       batch_id: str):
    """Cancel every unfinished variant of a batch the user started (else "not found")."""
    from core import batches

    found = await batches.get(session=session, account_id=None, batch_id=batch_id)
    origin = (found.jobs[0].origin if found.jobs else None) or {}
    if origin.get("platform") == user.platform and str(origin.get("user_id")) == user.user_id:
        account_id = found.jobs[0].account_id
    else:
        account_id = (await account(session=session, settings=settings, user=user)).id
    return await batches.cancel(session=session, account_id=account_id, batch_id=batch_id,
                                actor=f"{user.platform}:{user.user_id}")


async def submit(
    *, session: AsyncSession, settings: Settings, user: ChatUser, project_id: str,
    render_settings: dict[str, Any], idempotency_key: str, origin: dict[str, Any],
    enqueue: Enqueue | None,
) -> Submitted:
    """Debit and queue the render once per ``idempotency_key`` (a replay returns the job)."""
    acct = await account(session=session, settings=settings, user=user)
    return await renders.submit(
        session=session, settings=settings, account_id=acct.id, project_id=project_id,
        render_settings=render_settings, idempotency_key=idempotency_key, origin=origin,
        enqueue=enqueue,
    )


async def set_origin(*, session: AsyncSession, job_id: str, origin: dict[str, Any]) -> JobRead:
    return await renders.set_origin(session=session, job_id=job_id, origin=origin)


async def job(*, session: AsyncSession, job_id: str) -> JobRead:
    return await renders.get(session=session, account_id=None, job_id=job_id)


async def cancel(
    *, session: AsyncSession, settings: Settings, user: ChatUser, job_id: str
) -> JobRead:
    """Cancel a job the user started (another user's job is "not found").

    The chat user who started the job may cancel it from anywhere (the status message may
    sit in a DM, outside the guild whose account paid); otherwise the job must belong to
    the user's own account.
    """
    found = await renders.get(session=session, account_id=None, job_id=job_id)
    origin = found.origin or {}
    if origin.get("platform") == user.platform and str(origin.get("user_id")) == user.user_id:
        account_id = found.account_id
    else:
        account_id = (await account(session=session, settings=settings, user=user)).id
    return await renders.cancel(
        session=session, account_id=account_id, job_id=job_id,
        actor=f"{user.platform}:{user.user_id}",
    )


async def credit_statement(
    *, session: AsyncSession, settings: Settings, user: ChatUser, limit: int = 5
) -> CreditsRead:
    acct = await account(session=session, settings=settings, user=user)
    return await credits.statement(session=session, account_id=acct.id, limit=limit)


async def recent_jobs(
    *, session: AsyncSession, settings: Settings, user: ChatUser, limit: int = 8
) -> list[JobRead]:
    acct = await account(session=session, settings=settings, user=user)
    return await renders.list_(session=session, account_id=acct.id, limit=limit)


async def storage_where(*, session: AsyncSession, settings: Settings, user: ChatUser) -> str:
    """Where this chat user's renders go (their own bucket or renderbot's storage)."""
    from core.storage import destinations

    acct = await account(session=session, settings=settings, user=user)
    return await destinations.where(session=session, settings=settings, account_id=acct.id)


async def link(
    *, session: AsyncSession, user: ChatUser, code: str, settings: Settings | None = None
) -> AccountRead:
    """Point this chat user at the account a link code was made for (attempts are
    counted where the broker is: memory on the embedded default, else Redis)."""
    return await accounts.redeem_link_code(
        session=session, code=code, platform=user.platform, team_id=user.team_id,
        user_id=user.user_id,
        throttle_url=settings.broker_url if settings is not None else "memory://",
    )


def friendly(exc: BaseException) -> str:
    """What to tell the user about a domain error (unknown errors are the caller's job)."""
    if isinstance(exc, InsufficientCredits):
        return progress.insufficient_text(exc.cost, exc.balance)
    if isinstance(exc, InvalidSettings):
        return f"That setting is not allowed — {exc}."
    if isinstance(exc, ProjectNotFound):
        return "That project was not found. Pick one of your projects from the list."
    if isinstance(exc, JobNotFound):
        return "That render was not found — only the person who started it can change it."
    if isinstance(exc, InvalidTransition):
        return f"That render is already {exc.status}."
    if isinstance(exc, IdempotencyConflict):
        return "This quote was already used for another render. Ask for a new quote."
    if isinstance(exc, InvalidInput):
        if exc.field == "code":
            return "That link code is unknown, used or expired. Ask for a new one."
        return f"That did not work — {exc}."
    if isinstance(exc, RenderbotError):
        return f"That did not work — {exc}."
    raise TypeError(f"not a domain error: {exc!r}")


async def preview(
    *, runtime: Runtime, settings: Settings | None = None, user: ChatUser, project_id: str,
    render_settings: dict[str, Any], at: float | None = None,
) -> Preview:
    """A free preview still of the project at these settings (issue 17): ``url`` a signed
    link (Slack's image block), ``jpeg`` the bytes (Discord attaches them), ``width`` and
    ``height`` the size rendered (a draft's is halved). Opens its own short transaction
    (never the caller's: rendering may take seconds); call it after deferring the
    interaction. Raises RenderbotError (``friendly`` maps it): another user's or an
    unknown project, invalid settings, too many previews, no still in time."""
    from core import previews
    from jobs.still_requests import requester_for

    settings = settings or runtime.settings
    async with runtime.db.transaction() as session:
        acct = await account(session=session, settings=settings, user=user)
    return await previews.create(
        runtime, account_id=acct.id, project_id=project_id, render_settings=render_settings,
        at=at, request_still=requester_for(settings),
    )
