"""Warm local render server vs a cold `npx remotion render` of the same clip.

    .venv/bin/python benchmarks/local_render.py [--runs 4] [--cli-runs 3]

Renders the Visualizer composition (3 s, 1280x720, 30 fps, "medium" quality encoding)
N times through LocalRenderServer (one long-lived Node process with a cached bundle and
an open Chromium) and reports the median wall time of renders 2..N (render 1 may still
warm caches). Then runs `npx remotion render` with the same props and encoder settings
(a new Node process, bundle and browser each time) and reports its median; server and CLI
runs alternate so that other load on the machine hits both alike. Prints one table and
the speed-up ratios.

The server runs with its defaults (chromium-headless-shell, all cores per render); the
CLI baseline runs with Remotion's defaults on the Debian `chromium`, and a second CLI
series with the best flags found (the headless shell, --concurrency=<cores>). Every output
is checked with ffprobe: same size, pixel format, frame rate and frame count.
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
CHROMIUM = os.environ.get("RENDERBOT_CHROMIUM", "/usr/bin/chromium")  # the CLI baseline
SHELL = "/usr/bin/chromium-headless-shell"  # the render server's default (core/settings.py)
FFPROBE = REMOTION_DIR / "node_modules/@remotion/compositor-linux-x64-gnu/ffprobe"


def probe(path: Path) -> str:
    """width x height, frame rate, frame count, pixel format of the video stream."""
    out = subprocess.run(
        [str(FFPROBE), "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=width,height,r_frame_rate,nb_read_frames,pix_fmt",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "LD_LIBRARY_PATH": str(FFPROBE.parent)},
    )
    return out.stdout.strip()


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


async def server_render(server: LocalRenderServer, props: dict, out: Path, quality: str,
                        concurrency: int | None) -> float:
    enc = encoding_for(quality)
    render_id = f"bench-{uuid.uuid4().hex[:8]}"
    t = time.perf_counter()
    await server.submit(
        render_id=render_id, input_props=props, output_path=out,
        crf=enc.crf, x264_preset=enc.x264_preset, audio_bitrate=enc.audio_bitrate,
        concurrency=concurrency,
    )
    status = await server.wait(render_id, max_wait=900, poll_interval=0.05)
    elapsed = time.perf_counter() - t
    if status.state != "done":
        raise SystemExit(f"server render failed: {status.error_message}")
    return elapsed


async def cli_render(props_file: Path, out: Path, quality: str, concurrency: int | None,
                     chromium: str = CHROMIUM, extra: list[str] | None = None) -> float:
    enc = encoding_for(quality)
    cmd = [
        "npx", "--no-install", "remotion", "render", "src/index.ts", "Visualizer", str(out),
        f"--props={props_file}", f"--browser-executable={chromium}",
        "--codec=h264", f"--crf={enc.crf}", f"--x264-preset={enc.x264_preset}",
        f"--audio-bitrate={enc.audio_bitrate}", "--pixel-format=yuv420p",
        "--color-space=bt709", "--log=error",
    ]
    if concurrency is not None:
        cmd.append(f"--concurrency={concurrency}")
    cmd += extra or []
    t = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=REMOTION_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"npx remotion render failed:\n{stderr.decode()[-3000:]}")
    return elapsed


async def bench(args: argparse.Namespace, props: dict, out_dir: Path) -> dict:
    """Server render #1 first (warm-up), then server and CLI runs alternate so that
    load from anything else on the machine hits both sides alike."""
    props_file = out_dir / "props.json"
    props_file.write_text(json.dumps(props))
    socket_dir = Path(tempfile.mkdtemp(prefix="rb-bench-", dir="/tmp"))
    server = LocalRenderServer(
        remotion_dir=REMOTION_DIR,
        socket_path=socket_dir / "render.sock",
        cache_dir=REPO / "var" / "bench-cache" / "remotion",
        chromium=args.server_chromium,
    )
    server_times: list[float] = []
    cli_times: list[float] = []
    best_times: list[float] = []
    try:
        t0 = time.perf_counter()
        await server.ensure_started()
        startup = time.perf_counter() - t0
        for i in range(max(args.runs, args.cli_runs + 1)):
            if i < args.runs:
                elapsed = await server_render(
                    server, props, out_dir / f"server-{i}.mp4", args.quality,
                    args.server_concurrency,
                )
                server_times.append(elapsed)
                print(f"  server render {i + 1}/{args.runs}: {elapsed:.2f} s", flush=True)
            if 1 <= i <= args.cli_runs:
                elapsed = await cli_render(
                    props_file, out_dir / f"cli-{i}.mp4", args.quality, args.concurrency
                )
                cli_times.append(elapsed)
                print(f"  cold cli render {i}/{args.cli_runs}: {elapsed:.2f} s", flush=True)
                if args.best_cli_chromium or args.best_cli_concurrency:
                    elapsed = await cli_render(
                        props_file, out_dir / f"best-{i}.mp4", args.quality,
                        args.best_cli_concurrency, args.best_cli_chromium or CHROMIUM,
                    )
                    best_times.append(elapsed)
                    print(f"  cold cli render, best flags {i}/{args.cli_runs}: {elapsed:.2f} s",
                          flush=True)
    finally:
        await server.close()
        shutil.rmtree(socket_dir, ignore_errors=True)
    return {"startup": startup, "server": server_times, "cli": cli_times, "best": best_times}


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
        help="browser tabs per render for the default CLI (default: Remotion's, cores/2)",
    )
    parser.add_argument(
        "--server-concurrency", type=int, default=None,
        help="browser tabs per server render (default: the render server's default)",
    )
    parser.add_argument("--server-chromium", default=SHELL,
                        help="browser of the render server (default: the shipped default)")
    parser.add_argument("--best-cli-chromium", default=SHELL,
                        help="also time the CLI with this --browser-executable ...")
    parser.add_argument("--best-cli-concurrency", type=int, default=os.cpu_count(),
                        help="... and this --concurrency (the best CLI flags found)")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2 (the first render is not counted)")

    props = clip_props(args.seconds, args.width, args.height, args.fps)
    enc = encoding_for(args.quality)
    print(
        f"clip: Visualizer {args.width}x{args.height} {args.fps} fps {args.seconds:g} s "
        f"({props['durationInFrames']} frames), quality={args.quality} "
        f"(crf {enc.crf}, preset {enc.x264_preset}); server {args.server_chromium} "
        f"concurrency={args.server_concurrency or 'default'}; CLI {CHROMIUM} "
        f"concurrency={args.concurrency or 'default'}; best CLI "
        f"{args.best_cli_chromium or '-'} concurrency={args.best_cli_concurrency or '-'}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="rb-bench-out-") as tmp:
        result = asyncio.run(bench(args, props, Path(tmp)))
        shapes = {p.name: probe(p) for p in sorted(Path(tmp).glob("*.mp4"))}
    if len(set(shapes.values())) != 1:
        raise SystemExit(f"outputs differ: {shapes}")
    print(f"every output: {next(iter(shapes.values()))} (w,h,pix_fmt,fps,frames)", flush=True)
    server = {"startup": result["startup"], "times": result["server"]}
    cli = result["cli"]

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
    if result["best"]:
        best = statistics.median(result["best"])
        print(
            f"npx remotion render, best flags, median: {best:.2f} s  "
            f"({', '.join(f'{t:.2f}' for t in result['best'])})"
        )
        print(f"ratio best-flags CLI / warm server:       {best / warm:.2f}x")
    print(f"load average at the end:                  {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
