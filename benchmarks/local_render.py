"""Warm local render server vs a cold `npx remotion render` of the same clip.

    .venv/bin/python benchmarks/local_render.py [--runs 4] [--cli-runs 3]

Renders the Visualizer composition (3 s, 1280x720, 30 fps, "medium" quality encoding)
N times through LocalRenderServer (one long-lived Node process with a cached bundle and
an open Chromium) and reports the median wall time of renders 2..N (render 1 may still
warm caches). Then runs `npx remotion render` with the same props and encoder settings
(a new Node process, bundle and browser each time) and reports its median. Both use the
Debian Chromium. Prints one table and the speed-up ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.render.encoding import encoding_for  # noqa: E402
from core.render.local_server import LocalRenderServer  # noqa: E402

REMOTION_DIR = REPO / "remotion"
CHROMIUM = os.environ.get("RENDERBOT_CHROMIUM", "/usr/bin/chromium")


def clip_props(seconds: float, width: int, height: int, fps: int) -> dict:
    return {
        "title": "Benchmark Render",
        "subtitle": "renderbot local server",
        "palette": ["#ff3d7f", "#ffb347", "#3de1ff"],
        "background": "#0b0b1a",
        "bars": 48,
        "seed": 11,
        "effects": ["glow", "vignette"],
        "width": width,
        "height": height,
        "fps": fps,
        "durationInFrames": round(seconds * fps),
    }


async def bench_server(
    props: dict, runs: int, out_dir: Path, quality: str, concurrency: int | None
) -> dict:
    enc = encoding_for(quality)
    socket_dir = Path(tempfile.mkdtemp(prefix="rb-bench-", dir="/tmp"))
    server = LocalRenderServer(
        remotion_dir=REMOTION_DIR,
        socket_path=socket_dir / "render.sock",
        cache_dir=REPO / "var" / "bench-cache" / "remotion",
        chromium=CHROMIUM,
    )
    times: list[float] = []
    try:
        t0 = time.perf_counter()
        await server.ensure_started()
        startup = time.perf_counter() - t0
        for i in range(runs):
            render_id = f"bench-{uuid.uuid4().hex[:8]}"
            t = time.perf_counter()
            await server.submit(
                render_id=render_id, input_props=props, output_path=out_dir / f"server-{i}.mp4",
                crf=enc.crf, x264_preset=enc.x264_preset, audio_bitrate=enc.audio_bitrate,
                concurrency=concurrency,
            )
            status = await server.wait(render_id, max_wait=900, poll_interval=0.05)
            elapsed = time.perf_counter() - t
            if status.state != "done":
                raise SystemExit(f"server render failed: {status.error_message}")
            times.append(elapsed)
            print(f"  server render {i + 1}/{runs}: {elapsed:.2f} s", flush=True)
    finally:
        await server.close()
        shutil.rmtree(socket_dir, ignore_errors=True)
    return {"startup": startup, "times": times}


def bench_cli(
    props: dict, runs: int, out_dir: Path, quality: str, concurrency: int | None
) -> list[float]:
    enc = encoding_for(quality)
    props_file = out_dir / "props.json"
    props_file.write_text(json.dumps(props))
    times: list[float] = []
    for i in range(runs):
        out = out_dir / f"cli-{i}.mp4"
        cmd = [
            "npx", "--no-install", "remotion", "render", "src/index.ts", "Visualizer", str(out),
            f"--props={props_file}", f"--browser-executable={CHROMIUM}",
            "--codec=h264", f"--crf={enc.crf}", f"--x264-preset={enc.x264_preset}",
            f"--audio-bitrate={enc.audio_bitrate}", "--pixel-format=yuv420p",
            "--color-space=bt709", "--log=error",
        ]
        if concurrency is not None:
            cmd.append(f"--concurrency={concurrency}")
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REMOTION_DIR, capture_output=True, text=True)
        elapsed = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"npx remotion render failed:\n{proc.stderr[-3000:]}")
        times.append(elapsed)
        print(f"  cli render {i + 1}/{runs}: {elapsed:.2f} s", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="renders through the server")
    parser.add_argument("--cli-runs", type=int, default=3, help="cold `npx remotion render` runs")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--quality", default="medium", choices=["high", "medium", "low"])
    parser.add_argument(
        "--concurrency", type=int, default=None,
        help="browser tabs per render, for both sides (default: Remotion's, cores/2)",
    )
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2 (the first render is not counted)")

    props = clip_props(args.seconds, args.width, args.height, args.fps)
    enc = encoding_for(args.quality)
    print(
        f"clip: Visualizer {args.width}x{args.height} {args.fps} fps {args.seconds:g} s "
        f"({props['durationInFrames']} frames), quality={args.quality} "
        f"(crf {enc.crf}, preset {enc.x264_preset}), concurrency={args.concurrency or 'default'}, "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="rb-bench-out-") as tmp:
        out_dir = Path(tmp)
        print("local render server (LocalRenderServer):", flush=True)
        server = asyncio.run(
            bench_server(props, args.runs, out_dir, args.quality, args.concurrency)
        )
        print("cold `npx remotion render`:", flush=True)
        cli = bench_cli(props, args.cli_runs, out_dir, args.quality, args.concurrency)

    warm = statistics.median(server["times"][1:])
    cold = statistics.median(cli)
    print()
    print(f"server start (bundle cache + browser):   {server['startup']:.2f} s")
    print(f"server render #1:                         {server['times'][0]:.2f} s")
    print(
        f"server renders #2..#{args.runs} median:              {warm:.2f} s  "
        f"({', '.join(f'{t:.2f}' for t in server['times'][1:])})"
    )
    print(
        f"npx remotion render median of {len(cli)}:        {cold:.2f} s  "
        f"({', '.join(f'{t:.2f}' for t in cli)})"
    )
    print(f"ratio cold CLI / warm server:             {cold / warm:.2f}x")


if __name__ == "__main__":
    main()
