"""Measure the Remotion Lambda timing terms the planner models, on the real function here.

    .venv/bin/python -m tests.lambda_real.calibrate [--renders N]

Starts a moto server ("AWS S3"), the harness (emulator + deploySite) and renders a
320x180, 30-frame clip with 1 renderer (framesPerLambda 30) and with 2 (15), through the
Python SDK, N times each. Prints the harness start-up time and, per render: the launch
delay (start invoked → first renderer invoked), the gap between renderer invocations,
each renderer's wall time, the stitch time (last renderer done → progress ``done``) and
Remotion's ``timeToFinish``. Solving ``renderer = cold + k · frame`` over the two chunk
sizes gives the renderer cold start and the per-frame time at 320x180 on this machine.
The figures are this machine's (x64, shared cores), not AWS's: see
``core/render/lambda_planner.py`` for which constants they calibrate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lambda_real.harness import RealLambda


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _render(harness: RealLambda, frames_per_lambda: int) -> dict[str, float]:
    from remotion_lambda import Privacy, RemotionClient, RenderMediaParams

    emulator = harness.emulator
    assert emulator is not None
    emulator.reset()
    client = RemotionClient(region=harness.region, serve_url=harness.serve_urls["renderbot"],
                            function_name=harness.function_name)
    props = {"title": "calibration", "width": 320, "height": 180, "fps": 30, "durationInFrames": 30}
    began = time.monotonic()
    started = client.render_media_on_lambda(RenderMediaParams(
        composition="Visualizer", input_props=props, codec="h264",
        frames_per_lambda=frames_per_lambda, privacy=Privacy.NO_ACL, force_width=320,
        force_height=180, force_fps=30, force_duration_in_frames=30))
    while True:
        progress = client.get_render_progress(render_id=started.render_id,
                                              bucket_name=started.bucket_name)
        if progress.done or progress.fatalErrorEncountered:
            break
        if time.monotonic() - began > 300:
            raise RuntimeError("the render did not finish in 300 s")
        time.sleep(0.25)
    done_at = time.monotonic()
    if not progress.done:
        raise RuntimeError(f"the render failed: {progress.errors}")
    start = emulator.of("start")[0]
    renderers = sorted(emulator.of("renderer"), key=lambda i: i.started)
    gaps = [b.started - a.started for a, b in zip(renderers, renderers[1:], strict=False)]
    return {
        "renderers": len(renderers),
        "frames_per_lambda": frames_per_lambda,
        "launch_s": renderers[0].started - start.started,
        "invoke_gap_s": statistics.mean(gaps) if gaps else 0.0,
        "renderer_s": max(r.seconds or 0.0 for r in renderers),
        "stitch_s": done_at - max(r.ended or done_at for r in renderers),
        "wall_s": done_at - began,
        "time_to_finish_s": (vars(progress).get("timeToFinish") or 0) / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=2, help="0: the start-up time only")
    args = parser.parse_args()
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="lambda-calibrate-"))
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness = None
    try:
        began = time.monotonic()
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        while True:
            try:
                boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id="testing",
                             aws_secret_access_key="testing").list_buckets()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        harness = RealLambda(aws_s3_endpoint=endpoint, work_dir=work).start()
        print(f"harness start-up: {time.monotonic() - began:.1f} s "
              f"(moto + function + emulator + deploySite; {harness.startup_seconds})")
        os.environ.update(harness.aws_env)
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = harness.url
        rows = []
        for _ in range(args.renders):
            for k in (30, 15):
                row = _render(harness, k)
                rows.append(row)
                print(" ".join(f"{key}={value:.2f}" if isinstance(value, float) else
                               f"{key}={value}" for key, value in row.items()))
        if not rows:
            return
        one = statistics.median(r["renderer_s"] for r in rows if r["frames_per_lambda"] == 30)
        two = statistics.median(r["renderer_s"] for r in rows if r["frames_per_lambda"] == 15)
        frame = max(0.0, (one - two) / 15)
        print(f"median launch {statistics.median(r['launch_s'] for r in rows):.2f} s, "
              f"invoke gap {statistics.median(r['invoke_gap_s'] for r in rows if r['renderers'] > 1):.3f} s, "
              f"stitch {statistics.median(r['stitch_s'] for r in rows):.2f} s, "
              f"renderer cold start {max(0.0, two - 15 * frame):.2f} s, "
              f"frame at 320x180 {frame:.3f} s, "
              f"render wall {statistics.median(r['wall_s'] for r in rows):.1f} s")
    finally:
        if harness is not None:
            harness.stop()
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    main()
