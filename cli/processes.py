"""`renderbot demo` and `renderbot worker`."""

from __future__ import annotations

import json
import subprocess

import typer

from cli.common import console, fail, load_settings, prepare_database, run
from core import accounts, credits, projects, renders
from core.render.local_server import find_ffprobe
from core.runtime import Runtime
from core.settings import Settings

DEMO_SETTINGS = {
    "resolution": [1280, 720], "frame_rate": 30, "duration": 4, "quality": "high",
    "effects": ["grain", "vignette", "glow"],
}
DEMO_STATE = {
    "composition": "Visualizer",
    "props": {
        "title": "renderbot",
        "subtitle": "render my project → a finished video link",
        "palette": ["#ff5f6d", "#ffc371", "#47cacc", "#7b61ff"],
        "background": "#0b0f1a",
    },
}


def worker(threads: int = typer.Option(4, "--threads", min=1, help="worker threads")) -> None:
    """Run a render worker (Dramatiq) until interrupted."""
    from jobs.worker import run_forever

    settings = load_settings()
    if settings.broker_url.startswith("memory"):
        fail("renderbot worker needs RENDERBOT_BROKER_URL=redis://...; "
             "on the embedded default use `renderbot serve` or `renderbot demo`")
    from core import logs

    logs.configure(settings.api.log_format, uncaught=True)  # RENDERBOT_API__LOG_FORMAT=json: every process
    prepare_database(settings)
    if run_forever(Runtime(settings), threads=threads):
        raise typer.Exit(1)


def demo() -> None:
    """Render a short clip end to end on this machine and print the link."""
    from jobs.worker import RenderWorker

    settings = load_settings()
    prepare_database(settings)
    rt = Runtime(settings)
    with RenderWorker(rt):
        from jobs.enqueue import enqueuer_for

        job = run(lambda db, s: _demo(db, s, enqueuer_for(s)))
    path = rt.storage.local_path(key=job_output_key(job.id, settings))
    console.print(f"job       {job.id}")
    console.print(f"status    {job.status}")
    console.print(f"charged   {job.credit_cost} credits")
    if job.status != "completed":
        fail(f"the demo render {job.status}: {job.error or 'no reason given'}")
    console.print(f"link      {job.result_url}", soft_wrap=True, highlight=False)
    if settings.is_embedded:
        console.print("          (the link is served by `renderbot serve`)", highlight=False)
    if path is not None:
        console.print(f"file      {path}", soft_wrap=True, highlight=False)
        problem = check_playable(settings, path)
        if problem:
            fail(f"the output is not a playable mp4: {problem}")


def job_output_key(job_id: str, settings: Settings) -> str:
    from core.storage.base import object_key

    return object_key(prefix=None, job_id=job_id)


async def _demo(db, settings: Settings, enqueue):
    from cli.follow import follow

    marker = settings.var_dir / "demo.json"
    ids = json.loads(marker.read_text()) if marker.exists() else {}
    async with db.transaction() as s:
        try:
            await accounts.get(session=s, account_id=ids.get("account", ""))
            await projects.get(session=s, account_id=ids["account"], project_id=ids["project"])
        except Exception:  # noqa: BLE001 - first run, or the database was reset
            account = await accounts.create(session=s, name="demo")
            project = await projects.create(
                session=s, account_id=account.id, name="Demo visualizer", state=DEMO_STATE
            )
            ids = {"account": account.id, "project": project.id}
        quote = await renders.quote(
            session=s, settings=settings, account_id=ids["account"], project_id=ids["project"],
            render_settings=DEMO_SETTINGS,
        )
        if quote.balance < quote.credit_cost:
            await credits.grant(
                session=s, account_id=ids["account"], amount=100, note="demo credits",
                idempotency_key=f"demo-grant:{ids['account']}:{quote.balance}:{len(ids)}"
                f":{__import__('uuid').uuid4()}",
            )
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(ids))
    async with db.transaction() as s:
        submitted = await renders.submit(
            session=s, settings=settings, account_id=ids["account"], project_id=ids["project"],
            render_settings=DEMO_SETTINGS, origin={"platform": "cli"}, enqueue=enqueue,
        )
    console.print(f"rendering {submitted.job.id}: 4 s of 1280x720 at 30 fps, "
                  f"{submitted.job.credit_cost} credit(s)")
    return await follow(db, settings, submitted.job.id)


def check_playable(settings: Settings, path) -> str | None:
    """None when ffprobe reads an H.264 video stream of non-zero duration from ``path``."""
    try:
        ffprobe = find_ffprobe(settings.remotion_dir)
        out = subprocess.run(
            [str(ffprobe), "-v", "error", "-print_format", "json", "-show_streams",
             "-show_format", str(path)], capture_output=True, text=True, timeout=60,
        )
    except Exception as exc:  # noqa: BLE001
        return f"ffprobe could not run ({exc})"
    if out.returncode != 0:
        return out.stderr.strip()[:200] or "ffprobe failed"
    info = json.loads(out.stdout)
    video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not video or video[0].get("codec_name") != "h264":
        return "no H.264 video stream"
    if float(info.get("format", {}).get("duration", 0)) <= 0:
        return "zero duration"
    return None
