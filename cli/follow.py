"""Follow a job to its end with a rich progress bar (reads the database, like any client)."""

from __future__ import annotations

import asyncio

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from cli.common import err_console
from core import renders
from core.db import Database
from core.schemas import JobRead
from core.settings import Settings


def _label(job: JobRead) -> str:
    if job.status == "queued" or job.queue_position:
        return f"{job.status} (queue position {job.queue_position or '?'})"
    if job.status == "processing" and job.eta_seconds:
        return f"rendering, about {job.eta_seconds:.0f} s left"
    return "rendering" if job.status == "processing" else job.status


async def follow(
    db: Database, settings: Settings, job_id: str, *, quiet: bool = False,
    interval: float = 0.25, give_up_after: float = 3600.0,
) -> JobRead:
    progress = Progress(
        TextColumn("[bold]{task.fields[job]}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err_console, disable=quiet, transient=False,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    with progress:
        task = progress.add_task("queued", total=100, job=job_id)
        while True:
            async with db.transaction() as session:
                job = await renders.get(session=session, account_id=None, job_id=job_id)
            progress.update(task, completed=job.progress, description=_label(job))
            if job.is_final or loop.time() > deadline:
                return job
            await asyncio.sleep(interval)
