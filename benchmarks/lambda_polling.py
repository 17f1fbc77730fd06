"""In-flight Lambda renders one worker process keeps polled every ≤ 2 s.

    .venv/bin/python benchmarks/lambda_polling.py [--interval 2] [--threads 8] [--seconds 8]

The lambda backend polls Remotion Lambda (``get_render_progress``: one Lambda Invoke that
reads the render's progress file on S3) through the blocking SDK on a pool of at most
``--threads`` threads (``RENDERBOT_REMOTION__SDK_THREADS``, 8). This measures how many
renders one process keeps polled at least every ``--interval`` seconds.

Against the Lambda stand-in (``tests/lambda_standin``, in its own process, with its "AWS
S3" moto server in another): the real function would render every video, which is what
we do not want to measure here. The renders are in flight for the whole run (their
progress files say "rendering"); nothing renders.

1. baseline, measured in the run: the same search (2.) with the SDK's own
   ``RemotionClient``, which makes a new boto3 Lambda client for every call (what the
   backend did before it kept one per thread); the latency of one poll on one thread is
   printed too;
2. the backend as the worker runs it (``LambdaBackend.status`` from one event loop,
   ``--threads`` SDK threads): N renders, each render's next poll starting 0.75 ×
   ``interval`` after its previous one started; N doubles (then bisects) while the gaps
   between two completed polls of one render stay ≤ ``interval`` (their 99th
   percentile; the worst gap is printed too: on a shared machine one stall of another
   process shows up there).

Prints both capacities and their ratio. Only the Lambda side is timed: the pipeline's
database write per poll is not included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STANDIN = """
import json, sys, time
from pathlib import Path
from tests.lambda_standin import LambdaStandIn
standin = LambdaStandIn(aws_s3_endpoint=sys.argv[1], render_server_dir=Path(sys.argv[2]),
                        remotion_dir=Path(sys.argv[3])).start()
print(json.dumps({"url": standin.url, "bucket": standin.bucket_name,
                  "function": standin.function_name}), flush=True)
sys.stdin.read()
"""


PERIOD = 0.75  # share of the interval between the starts of two polls of one render


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_s3(endpoint: str):
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list_buckets()
            return client
        except Exception:  # noqa: BLE001 - not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _in_flight(s3, bucket: str, count: int) -> list[str]:
    """``count`` renders whose progress files say they are rendering."""
    now = int(time.time() * 1000)
    ids = [f"bench{i:05d}" for i in range(count)]
    for render_id in ids:
        doc = {"cancellationEnabled": True, "chunks": [], "framesRendered": 0,
               "framesEncoded": 0, "combinedFrames": 0, "timeToCombine": None,
               "timeToEncode": None, "lambdasInvoked": 0, "retries": [], "postRenderData": None,
               "timings": [], "renderMetadata": None, "errors": [], "fatalErrorTimestamp": None,
               "timeToRenderFrames": None, "timeoutTimestamp": now + 3_600_000,
               "functionLaunched": now, "serveUrlOpened": None, "compositionValidated": None,
               "receivedArtifact": []}
        s3.put_object(Bucket=bucket, Key=f"renders/{render_id}/progress.json",
                      Body=json.dumps(doc).encode())
    return ids


def _backend(tmp: Path, s3_endpoint: str, standin: dict, threads: int):
    from core.runtime import Runtime
    from core.settings import RemotionSettings, Settings

    settings = Settings(
        _env_file=None, var_dir=tmp / "var", database_url=f"sqlite+aiosqlite:///{tmp}/db.sqlite",
        render_backend="lambda", storage_url="s3://bench-r2", s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1", s3_access_key_id="testing", s3_secret_access_key="testing",
        remotion_region="us-east-1", remotion_function_name=standin["function"],
        remotion_serve_url="https://example.invalid/sites/renderbot/index.html",
        remotion=RemotionSettings(sdk_threads=threads),
    )
    return Runtime(settings).backend


async def _baseline(backend, bucket: str, render_id: str, seconds: float) -> float:
    """Median latency of one poll, one after another on one thread."""
    await backend.status(f"{bucket}/{render_id}")  # the thread's client is made once
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        status = await backend.status(f"{bucket}/{render_id}")
        assert status.state == "rendering", status
        latencies.append(time.monotonic() - began)
    return statistics.median(latencies)


async def _sustained(backend, bucket: str, ids: list[str], interval: float,
                     seconds: float) -> tuple[bool, dict[str, float]]:
    """Start each render's next poll ``PERIOD × interval`` after its previous one started
    (a worker re-polls with margin); the worst gap between two completed polls of one
    render must stay ≤ ``interval``."""
    gaps: list[float] = []
    latencies: list[float] = []
    end = time.monotonic() + seconds

    async def keep(render_id: str) -> None:
        last_done = None
        while time.monotonic() < end:
            began = time.monotonic()
            status = await backend.status(f"{bucket}/{render_id}")
            assert status.state == "rendering", status
            done = time.monotonic()
            latencies.append(done - began)
            if last_done is not None:
                gaps.append(done - last_done)
            last_done = done
            await asyncio.sleep(max(0.0, PERIOD * interval - (done - began)))

    # spread the first polls over one interval, as renders start at different times
    async def staggered(i: int, render_id: str) -> None:
        await asyncio.sleep(interval * i / len(ids))
        await keep(render_id)

    await asyncio.gather(*(staggered(i, r) for i, r in enumerate(ids)))
    gaps.sort()
    figures = {"p99_gap": gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] if gaps else 0.0,
               "worst_gap": gaps[-1] if gaps else 0.0,
               "p50_poll": statistics.median(latencies) if latencies else 0.0}
    return figures["p99_gap"] <= interval, figures


def _line(n: int, ok: bool, fig: dict[str, float]) -> None:
    print(f"  {n:4d} renders: gap p99 {fig['p99_gap']:.2f} s, worst {fig['worst_gap']:.2f} s, "
          f"poll p50 {fig['p50_poll'] * 1000:.0f} ms: {'ok' if ok else 'too slow'}")


def _stock_sdk(backend) -> None:
    """The baseline: the SDK's own RemotionClient, which makes a boto3 Lambda client for
    every call (what the backend used before it kept one per thread)."""
    import threading

    import boto3
    from remotion_lambda import RemotionClient

    sdk, local = backend.sdk, threading.local()

    def client():
        made = getattr(local, "client", None)
        if made is None:
            made = local.client = RemotionClient(
                region=sdk.region, serve_url=sdk.serve_url, function_name=sdk.function_name,
                session=boto3.session.Session(region_name=sdk.region), config=sdk.config,
                force_path_style=sdk.force_path_style)
        return made

    sdk.client = client


async def _capacity(backend, bucket: str, ids: list[str], args) -> tuple[int, int | None]:
    """The most renders kept polled (and the fewest that were not)."""
    good, bad, n = 0, None, 4
    while n <= len(ids):
        ok, fig = await _sustained(backend, bucket, ids[:n], args.interval, args.seconds)
        _line(n, ok, fig)
        if not ok:
            bad = n
            break
        good, n = n, n * 2
    while bad is not None and bad - good > max(1, good // 8):
        mid = (good + bad) // 2
        ok, fig = await _sustained(backend, bucket, ids[:mid], args.interval, args.seconds)
        _line(mid, ok, fig)
        good, bad = (mid, bad) if ok else (good, mid)
    return good, bad


async def _measure(args, tmp: Path, endpoint: str, standin: dict, ids: list[str]) -> None:
    bucket = standin["bucket"]
    single = _backend(tmp, endpoint, standin, threads=1)
    latency = await _baseline(single, bucket, ids[0], args.seconds / 2)
    await single.close()
    print(f"one poll on one thread: {latency * 1000:.1f} ms (median)")

    print(f"baseline — the SDK's own client (a new boto3 client per call), {args.threads} threads:")
    stock = _backend(tmp, endpoint, standin, threads=args.threads)
    _stock_sdk(stock)
    base, _ = await _capacity(stock, bucket, ids, args)
    await stock.close()

    print(f"the lambda backend as shipped, {args.threads} threads:")
    backend = _backend(tmp, endpoint, standin, threads=args.threads)
    good, bad = await _capacity(backend, bucket, ids, args)
    await backend.close()
    print(f"one worker process ({args.threads} SDK threads) keeps {good} in-flight Lambda "
          f"renders polled every ≤ {args.interval:g} s"
          + (f" (not {bad})" if bad else f" (the most tried, --max {args.max})"))
    print(f"baseline (stock SDK client): {base}; ratio {good / base:.1f}×" if base else
          f"baseline (stock SDK client): {base} renders")


def _run(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lambda-polling-"))
    port = _port()
    endpoint = f"http://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        s3 = _wait_s3(endpoint)
        s3.create_bucket(Bucket="bench-r2")
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_ENDPOINT_URL_S3": endpoint, "PYTHONPATH": str(REPO)}
        standin_proc = subprocess.Popen(
            [sys.executable, "-c", STANDIN, endpoint, str(tmp / "render-server"),
             str(REPO / "remotion")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            cwd=REPO, text=True)
        procs.append(standin_proc)
        standin = json.loads(standin_proc.stdout.readline())
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_ENDPOINT_URL_S3": endpoint,
                           "AWS_ENDPOINT_URL_LAMBDA": standin["url"]})
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            os.environ.pop(name, None)
        ids = _in_flight(s3, standin["bucket"], args.max)
        asyncio.run(_measure(args, tmp, endpoint, standin, ids))
    finally:
        for proc in reversed(procs):
            if proc.stdin:
                proc.stdin.close()
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0, help="per step")
    parser.add_argument("--max", type=int, default=512, help="most renders tried")
    args = parser.parse_args()
    if args.threads > 8:
        parser.error("--threads: at most 8 (a worker's SDK pool)")
    _run(args)


if __name__ == "__main__":
    main()
