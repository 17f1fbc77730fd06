"""Pipeline overhead: a job's end-to-end time over the render server's own render time.

    .venv/bin/python benchmarks/pipeline_overhead.py [--seconds 10] [--runs 2]
        [--skip-serve] [--skip-production] [--workdir DIR]

For each deployment, submits ``--runs`` renders (one after another) of a ``--seconds`` s
1280x720 30 fps "medium" clip through ``POST /v1/renders`` and times submit -> completed
with a download link that answers (GET follows it to the video: 200). The baseline, measured
in the same run for the same job, is the render server's own time for it: the ``ms`` of
its "render done" log line (request received -> video file written). The ratio is the
pipeline's overhead (queue, lease, worker hand-off, polling, storage upload, link);
1.00 would be none. The first render of a deployment starts the render server (bundle,
browser) and is reported but not in the median.

1. ``renderbot serve`` (the embedded default: SQLite, in-process queue and worker);
2. ``renderbot api`` + one ``renderbot worker`` on PostgreSQL + Redis (a scratch database,
   Redis DB 13 flushed: ``RENDERBOT_BENCH_PG_URL`` / ``RENDERBOT_BENCH_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from benchmarks.bench_procs import (  # noqa: E402
    REDIS_URL,
    RENDERBOT,
    Procs,
    free_port,
    production_scratch,
    renderbot_env,
    seed,
    wait_healthy,
)


def render_server_ms(var_dir: Path, seen: int) -> list[int]:
    """The ``ms`` of every "render done" line in the render server logs under var_dir."""
    out = []
    for log in sorted(var_dir.rglob("render-server.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"render done"' in line:
                try:
                    out.append(int(json.loads(line)["ms"]))
                except (ValueError, KeyError):
                    continue
    return out[seen:]


def one_job(url: str, key: str, project_id: str, settings: dict, var_dir: Path,
            seen: int) -> tuple[float, float]:
    """(end-to-end seconds, render server seconds) of one render."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        began = time.perf_counter()
        r = client.post("/v1/renders", json={"project_id": project_id, "settings": settings})
        if r.status_code != 202:
            raise SystemExit(f"submit: {r.status_code} {r.text[:300]}")
        job_id = r.json()["id"]
        while True:
            job = client.get(f"/v1/renders/{job_id}").json()
            if job["status"] in ("failed", "cancelled"):
                raise SystemExit(f"job {job['status']}: {job.get('error')}")
            if job["status"] == "completed" and job.get("result_url"):
                link = client.get(job["result_url"], follow_redirects=True)
                if link.status_code == 200:
                    break
            time.sleep(0.05)
        total = time.perf_counter() - began
    deadline = time.monotonic() + 10
    while not (own := render_server_ms(var_dir, seen)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not own:
        raise SystemExit(f"no 'render done' line in a render-server.log under {var_dir}")
    return total, own[0] / 1000


def measure(args, label: str, url: str, var_dir: Path, callers) -> dict:
    settings = {"resolution": [1280, 720], "frame_rate": 30, "duration": args.seconds,
                "quality": "medium"}
    key, project_id, _ = callers[0]
    rows = []
    for n in range(args.runs + 1):
        total, own = one_job(url, key, project_id, settings, var_dir, seen=n)
        rows.append((total, own))
        print(f"  {label} render {n + 1}/{args.runs + 1}: end to end {total:.2f} s, "
              f"render server {own:.2f} s, ratio {total / own:.3f}"
              + ("  (first: starts the render server, not counted)" if n == 0 else ""),
              file=sys.stderr, flush=True)
    counted = rows[1:]
    return {"total": statistics.median(t for t, _ in counted),
            "own": statistics.median(o for _, o in counted),
            "ratio": statistics.median(t / o for t, o in counted),
            "ratios": [round(t / o, 3) for t, o in counted]}


def local_env(var_dir: Path, port: int, **extra: str) -> dict:
    env = renderbot_env(var_dir, port, **extra)
    env.pop("RENDERBOT_TEST_BACKENDS", None)
    env.pop("RENDERBOT_WORKER__POLL_INTERVAL", None)  # the default's overhead, not a tuned one
    env["RENDERBOT_RENDER_BACKEND"] = "local"
    return env


def run_serve(args, workdir: Path) -> dict:
    from core.migrate import upgrade

    var = workdir / "serve-var"
    database_url = f"sqlite+aiosqlite:///{var / 'renderbot.db'}"
    upgrade(database_url)
    callers = asyncio.run(seed(database_url, 1, 1000))
    port = free_port()
    procs = Procs(workdir)
    try:
        proc = procs.start("serve", [RENDERBOT, "serve", "--port", str(port)],
                           local_env(var, port))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, workdir / "serve.log")
        return measure(args, "serve", url, var, callers)
    finally:
        procs.stop()


def run_production(args, workdir: Path) -> dict:
    procs = Procs(workdir)
    with production_scratch(procs) as database_url:
        callers = asyncio.run(seed(database_url, 1, 1000))
        port = free_port()
        var = workdir / "prod-var"
        env = local_env(var, port, RENDERBOT_DATABASE_URL=database_url,
                        RENDERBOT_BROKER_URL=REDIS_URL,
                        RENDERBOT_SECRET_KEY="bench-secret-0123456789")
        api = procs.start("api", [RENDERBOT, "api", "--port", str(port)], env)
        procs.start("worker", [RENDERBOT, "worker"], env)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api, workdir / "api.log")
        return measure(args, "api + worker", url, var, callers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="clip length (1280x720)")
    parser.add_argument("--runs", type=int, default=2, help="counted renders per deployment")
    parser.add_argument("--skip-production", action="store_true")
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--workdir", type=Path,
                        help="keep the processes' logs here (default: a temp dir)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if not args.skip_serve:
            rows.append(("renderbot serve (embedded default)", run_serve(args, workdir)))
        if not args.skip_production:
            rows.append(("renderbot api + worker (PostgreSQL + Redis)",
                         run_production(args, workdir)))
    print(f"\n{args.seconds} s 1280x720 30 fps medium clip, median of {args.runs} renders "
          f"(after one that starts the render server)\n")
    header = (f"{'deployment':<46} {'end to end s':>12} {'render server s':>15} "
              f"{'ratio':>7}  ratios")
    print(header)
    print("-" * len(header))
    for label, r in rows:
        print(f"{label:<46} {r['total']:>12.2f} {r['own']:>15.2f} {r['ratio']:>7.3f}  "
              f"{r['ratios']}")


if __name__ == "__main__":
    main()
