"""``/v1``: projects, quotes, renders and credits for webhook callers (bearer API keys).

Each route is a translation: parse, call one core service in the request's transaction,
return its schema. Rules about credits, states and prices live in core.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from api.deps import CallerDep, Session, SettingsDep
from api.errors import RateLimited
from api.schemas import (
    Job,
    ProjectCreate,
    ProjectUpdate,
    QuoteRequest,
    RenderCreate,
    Text,
    errors,
)
from core import batches, callbacks, credits, network, projects, renders
from core.callbacks import CallbackAttemptRead
from core.errors import JobNotFound, ProjectNotFound
from core.schemas import CreditsRead, JobStatus, ProjectRead, QuoteRead
from jobs.enqueue import announcer_for, enqueuer_for

log = logging.getLogger("renderbot.api")
router = APIRouter(prefix="/v1", responses=errors(401, 422))

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ProjectId = Annotated[str, Path(description="a project id (`prj_...`)")]
JobId = Annotated[str, Path(description="a render job id (`job_...`)")]


def _project_id(value: str) -> str:
    # Ids never contain anything else; an id that cannot exist is simply not found.
    if not _ID.match(value):
        raise ProjectNotFound(value[:64])
    return value


def _job_id(value: str) -> str:
    if not _ID.match(value):
        raise JobNotFound(value[:64])
    return value


# --- projects ---------------------------------------------------------------------------


@router.get("/projects", response_model=list[ProjectRead], tags=["projects"],
            responses=errors(422))
async def list_projects(
    caller: CallerDep,
    session: Session,
    search: Annotated[Text | None, Query(max_length=200, description="name contains")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[ProjectRead]:
    """The caller's projects, most recently updated first."""
    return await projects.list_(
        session=session, account_id=caller.account_id, search=search, limit=limit
    )


@router.post("/projects", status_code=201, response_model=ProjectRead, tags=["projects"],
             responses=errors(422))
async def create_project(
    body: ProjectCreate, caller: CallerDep, session: Session, response: Response,
    settings: SettingsDep,
) -> ProjectRead:
    project = await projects.create(
        session=session, account_id=caller.account_id, name=body.name, state=body.state,
        policy=network.policy(settings),
    )
    response.headers["Location"] = f"/v1/projects/{project.id}"
    return project


@router.get("/projects/{project_id}", response_model=ProjectRead, tags=["projects"],
            responses=errors(404))
async def get_project(project_id: ProjectId, caller: CallerDep, session: Session) -> ProjectRead:
    return await projects.get(
        session=session, account_id=caller.account_id, project_id=_project_id(project_id)
    )


@router.patch("/projects/{project_id}", response_model=ProjectRead, tags=["projects"],
              responses=errors(404, 422))
async def update_project(
    project_id: ProjectId, body: ProjectUpdate, caller: CallerDep, session: Session,
    settings: SettingsDep,
) -> ProjectRead:
    """Rename the project and/or replace its state (what the next render shows)."""
    return await projects.update(
        session=session, account_id=caller.account_id, project_id=_project_id(project_id),
        name=body.name, state=body.state, policy=network.policy(settings),
    )


# --- quotes -----------------------------------------------------------------------------


@router.post("/quotes", response_model=QuoteRead | batches.BatchQuoteRead, tags=["renders"],
             responses=errors(404, 422))
async def quote(
    body: QuoteRequest, caller: CallerDep, session: Session, settings: SettingsDep
) -> QuoteRead | batches.BatchQuoteRead:
    """What a render with these settings would cost, and the balance now; with
    ``variants``, what the batch costs (the sum) and each variant's price."""
    if body.variants is not None:
        return await batches.quote(
            session=session, settings=settings, account_id=caller.account_id,
            project_id=_project_id(body.project_id), render_settings=body.settings.to_core(),
            variants=body.variants,
        )
    return await renders.quote(
        session=session, settings=settings, account_id=caller.account_id,
        project_id=_project_id(body.project_id), render_settings=body.settings.to_core(),
    )


# --- renders ----------------------------------------------------------------------------


@router.post(
    "/renders", status_code=202, response_model=Job, tags=["renders"],
    responses=errors(402, 404, 409, 422, 429),
)
async def create_render(
    body: RenderCreate,
    request: Request,
    response: Response,
    caller: CallerDep,
    session: Session,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", min_length=1, max_length=255,
            description="a retry with the same key and body returns the first job (202, "
            "`Idempotent-Replayed: true`) instead of charging again; the same key with "
            "another body is 409",
        ),
    ] = None,
) -> Job:
    """Charge the credits and queue the render. 202 with the job; 402 leaves nothing
    queued and nothing charged."""
    wait = await request.app.state.limiter.hit(caller.account_id)  # per account, not per key
    if wait is not None:
        raise RateLimited(wait, request.app.state.limiter.limit)
    if body.callback_url is not None:
        await callbacks.check_url(body.callback_url, network.policy(settings))  # before any DB lock
    submitted = await renders.submit(
        session=session, settings=settings, account_id=caller.account_id,
        project_id=_project_id(body.project_id), render_settings=body.settings.to_core(),
        idempotency_key=idempotency_key, callback_url=body.callback_url,
        origin={"platform": "api", "api_key": caller.key_id},
        enqueue=enqueuer_for(settings),  # never raises: the reconciler covers a broker outage
    )
    job = submitted.job
    response.headers["Location"] = f"/v1/renders/{job.id}"
    if not submitted.created:
        response.headers["Idempotent-Replayed"] = "true"
    log.info("render %s %s (%d credits)", job.id, "created" if submitted.created else "replayed",
             job.credit_cost, extra={"job_id": job.id, "account_id": caller.account_id})
    return Job.of(job)


@router.get("/renders", response_model=list[Job], tags=["renders"], responses=errors(422))
async def list_renders(
    caller: CallerDep,
    session: Session,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[Job]:
    """The caller's render jobs, newest first."""
    jobs = await renders.list_(
        session=session, account_id=caller.account_id, status=status, limit=limit
    )
    return [Job.of(j) for j in jobs]


@router.get("/renders/{job_id}", response_model=Job, tags=["renders"], responses=errors(404))
async def get_render(job_id: JobId, caller: CallerDep, session: Session) -> Job:
    return Job.of(
        await renders.get(session=session, account_id=caller.account_id, job_id=_job_id(job_id))
    )


@router.post("/renders/{job_id}/cancel", response_model=Job, tags=["renders"],
             responses=errors(404, 409))
async def cancel_render(
    job_id: JobId, caller: CallerDep, session: Session, settings: SettingsDep
) -> Job:
    """A queued job is cancelled at once and refunded; a rendering one is stopped by its
    worker (``status`` stays ``processing`` until then, and it is refunded too); an ended
    job is 409."""
    job = await renders.cancel(
        session=session, account_id=caller.account_id, job_id=_job_id(job_id),
        actor=f"api:{caller.key_id}",
        # A queued job never reached a worker: the workers' notifiers (callbacks, chat)
        # hear of it through the broker instead.
        announce=_announcer(settings),
    )
    log.info("render %s cancel requested", job.id,
             extra={"job_id": job.id, "account_id": caller.account_id})
    return Job.of(job)


def _announcer(settings):
    announce = announcer_for(settings)
    if announce is None:
        return None

    def run(job_id: str, change: str) -> None:
        try:
            announce(job_id, change)
        except Exception:  # noqa: BLE001 - the cancel is committed; telling is best effort
            log.warning("could not announce job %s %s", job_id, change, exc_info=True,
                        extra={"job_id": job_id})

    return run


@router.get("/renders/{job_id}/callbacks", response_model=list[CallbackAttemptRead],
            tags=["renders"], responses=errors(404))
async def render_callbacks(
    job_id: JobId, caller: CallerDep, session: Session
) -> list[CallbackAttemptRead]:
    """Every delivery attempt of this job's callbacks, oldest first."""
    return await callbacks.attempts(
        session=session, account_id=caller.account_id, job_id=_job_id(job_id)
    )


# --- credits ----------------------------------------------------------------------------


@router.get("/credits", response_model=CreditsRead, tags=["credits"], responses=errors(422))
async def get_credits(
    caller: CallerDep,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=200, description="ledger entries, newest first")] = 20,
) -> CreditsRead:
    return await credits.statement(session=session, account_id=caller.account_id, limit=limit)
