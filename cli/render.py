"""`renderbot render quote|submit|status|cancel|list`"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli.common import JSON_OPTION, console, emit, load_settings, prepare_database, run
from core import projects, renders
from core import render_settings as rs
from core.schemas import JobRead

render_app = typer.Typer(help="Quote, submit and follow renders.", no_args_is_help=True)


def settings_from_flags(
    resolution: str | None, fps: int | None, duration: float | None, quality: str | None,
    effects: list[str] | None, draft: bool = False,
) -> dict[str, Any]:
    """Only the flags given; the rest take the defaults of core.render_settings."""
    raw: dict[str, Any] = {}
    if resolution is not None:
        raw["resolution"] = list(rs.parse_resolution(resolution))
    if fps is not None:
        raw["frame_rate"] = fps
    if duration is not None:
        raw["duration"] = duration
    if quality is not None:
        raw["quality"] = quality
    if effects:
        raw["effects"] = effects
    if draft:
        raw["draft"] = True
    return raw


RESOLUTION = typer.Option(None, "--resolution", help="WIDTHxHEIGHT, e.g. 1920x1080")
FPS = typer.Option(None, "--fps", help="frames per second")
DURATION = typer.Option(None, "--duration", help="seconds")
QUALITY = typer.Option(None, "--quality", help="high, medium or low")
EFFECT = typer.Option(None, "--effect", help="an effect; repeat for more")
DRAFT = typer.Option(False, "--draft", help="a draft: half size, at most 15 fps, low quality, "
                                           "a DRAFT mark, a tenth of the price")


def describe(job: JobRead) -> str:
    line = f"{job.id}  {job.status}  {job.progress}%  {job.credit_cost} credits"
    if job.queue_position:
        line += f"  (queue position {job.queue_position})"
    if job.result_url:
        line += f"\nlink: {job.result_url}"
    if job.error:
        line += f"\nerror: {job.error}"
    return line


@render_app.command("quote")
def quote(
    project: str, resolution: str = RESOLUTION, fps: int = FPS, duration: float = DURATION,
    quality: str = QUALITY, effect: list[str] = EFFECT, draft: bool = DRAFT,
    as_json: bool = JSON_OPTION,
) -> None:
    """What rendering PROJECT with these settings costs."""

    async def work(db, settings):
        raw = settings_from_flags(resolution, fps, duration, quality, effect, draft)
        async with db.transaction() as s:
            owner = (await projects.get(session=s, account_id=None, project_id=project)).account_id
            return await renders.quote(
                session=s, settings=settings, account_id=owner, project_id=project,
                render_settings=raw,
            )

    q = run(work)
    valid = rs.RenderSettings(**{**q.settings.model_dump(), "resolution": tuple(q.settings.resolution),
                                 "effects": tuple(q.settings.effects)})
    emit(q, as_json, f"{valid.describe()}\ncost {q.credit_cost} credits · balance {q.balance}"
                     f" → {q.balance_after}")


@render_app.command("submit")
def submit(
    project: str, resolution: str = RESOLUTION, fps: int = FPS, duration: float = DURATION,
    quality: str = QUALITY, effect: list[str] = EFFECT, draft: bool = DRAFT,
    wait: bool = typer.Option(False, "--wait", help="follow progress until the job ends"),
    idempotency_key: str = typer.Option(None, "--idempotency-key"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Debit the credits and queue a render of PROJECT."""
    from jobs.enqueue import enqueuer_for

    async def work(db, settings):
        raw = settings_from_flags(resolution, fps, duration, quality, effect, draft)
        async with db.transaction() as s:
            owner = (await projects.get(session=s, account_id=None, project_id=project)).account_id
            result = await renders.submit(
                session=s, settings=settings, account_id=owner, project_id=project,
                render_settings=raw, idempotency_key=idempotency_key,
                origin={"platform": "cli"}, enqueue=enqueuer_for(settings),
            )
        if wait:
            from cli.follow import follow

            return await follow(db, settings, result.job.id, quiet=as_json)
        return result.job

    worker = _in_process_worker() if wait else None
    try:
        job = run(work)
    finally:
        if worker is not None:
            worker.stop()
    emit(job, as_json, describe(job))
    if wait and job.status != "completed":
        raise typer.Exit(1)


def _in_process_worker():
    """On the embedded default nothing else renders: `--wait` brings its own worker."""
    settings = load_settings()
    if not settings.broker_url.startswith("memory"):
        return None
    from core.runtime import Runtime
    from jobs.worker import RenderWorker

    prepare_database(settings)
    return RenderWorker(Runtime(settings)).start()


@render_app.command("status")
def status(job_id: str, as_json: bool = JSON_OPTION) -> None:
    """The job; with --json also ``error_detail``, the full detail of its error (the CLI
    is an admin tool: creators only ever see ``error``)."""

    async def work(db, settings):
        async with db.transaction() as s:
            job = await renders.get(session=s, account_id=None, job_id=job_id)
            return job, await renders.error_detail(session=s, job_id=job_id)

    job, detail = run(work)
    if as_json:
        emit({**job.model_dump(mode="json"), "error_detail": detail}, True, "")
        return
    emit(job, False, describe(job))


@render_app.command("cancel")
def cancel(job_id: str, as_json: bool = JSON_OPTION) -> None:
    """Cancel a queued job (refunded now) or ask a running one to stop."""

    async def work(db, settings):
        async with db.transaction() as s:
            from jobs.enqueue import announcer_for

            return await renders.cancel(
                session=s, account_id=None, job_id=job_id, actor="cli",
                announce=announcer_for(settings),
            )

    job = run(work)
    emit(job, as_json, describe(job) + ("\ncancel requested" if job.cancel_requested else ""))


@render_app.command("list")
def list_(
    status: str = typer.Option(None, "--status", help="queued, processing, completed, failed, cancelled"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = JSON_OPTION,
) -> None:
    async def work(db, settings):
        async with db.transaction() as s:
            return await renders.list_(session=s, account_id=None, status=status, limit=limit)

    rows = run(work)
    if as_json:
        emit(rows, True, "")
        return
    table = Table("id", "status", "progress", "credits", "project", "created")
    for j in rows:
        table.add_row(j.id, j.status, f"{j.progress}%", str(j.credit_cost), j.project_id,
                      f"{j.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(table)
