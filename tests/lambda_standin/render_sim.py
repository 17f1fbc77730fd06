"""The render itself: the local Remotion render server renders the composition while
progress.json follows it (frames, chunks, retries, errors, timeout, cancellation), then the
mp4 is uploaded and the webhook sent."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from core.render.lambda_planner import remotion_default_frames_per_lambda
from core.render.local_server import LocalRenderServer
from tests.lambda_standin.faults import FLAKY_STACK
from tests.lambda_standin.progress import _format_costs, _ms
from tests.lambda_standin.records import StandinRender

log = logging.getLogger("tests.lambda_standin")


class RenderMixin:
    """``LambdaStandIn`` supplies the render server's directories, ``_renderer``,
    ``_out_dir``, the function's settings and the S3 access; ``_cost``, ``_upload`` and
    ``_webhook`` come from the other mixins."""

    def _renderer_client(self) -> LocalRenderServer:
        if self._renderer is None:
            self._renderer = LocalRenderServer(
                remotion_dir=self._remotion_dir, socket_path=self._server_dir / "render.sock",
                cache_dir=self._server_dir / "cache",
            )
        return self._renderer

    async def _run(self, render: StandinRender) -> None:
        try:
            await self._render(render)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug in the stand-in: fail the render loudly
            log.exception("stand-in render %s crashed", render.render_id)
            render.state = "failed"

    async def _render(self, render: StandinRender) -> None:
        p, props, faults = render.payload, render.input_props, render.faults
        doc = await asyncio.to_thread(self.read_progress, render.render_id, render.bucket)
        frames = int(p.get("forceDurationInFrames") or props.get("durationInFrames") or 1)
        fps = p.get("forceFps") or props.get("fps") or 30
        fpl = int(p.get("framesPerLambda") or remotion_default_frames_per_lambda(frames))
        chunks_total = math.ceil(frames / fpl)
        started_ms = _ms()
        await asyncio.sleep(0.1)  # the main function's cold start
        doc.update(serveUrlOpened=_ms(), compositionValidated=_ms(), lambdasInvoked=chunks_total)
        doc["renderMetadata"] = {
            "siteId": "renderbot", "startedDate": started_ms, "totalChunks": chunks_total,
            "estimatedTotalLambdaInvokations": chunks_total + 1,
            "estimatedRenderLambdaInvokations": chunks_total,
            "compositionId": p["composition"], "codec": p.get("codec"),
            "audioCodec": p.get("audioCodec"), "type": "video", "imageFormat": p.get("imageFormat"),
            "inputProps": p.get("inputProps"), "framesPerLambda": fpl, "memorySizeInMb": 2048,
            "lambdaVersion": self.version, "region": self.region, "renderId": render.render_id,
            "outName": p.get("outName"), "privacy": p.get("privacy"), "everyNthFrame": 1,
            "frameRange": [0, frames - 1], "audioBitrate": p.get("audioBitrate"),
            "rendererFunctionName": self.function_name, "scale": p.get("scale"),
            "downloadBehavior": p.get("downloadBehavior"), "deleteAfter": None,
            "numberOfGifLoops": None, "metadata": p.get("metadata"),
            "videoConfig": {"id": p["composition"], "durationInFrames": frames, "fps": fps,
                            "width": p.get("forceWidth") or props.get("width"),
                            "height": p.get("forceHeight") or props.get("height")},
            "dimensions": {"width": p.get("forceWidth") or props.get("width"),
                           "height": p.get("forceHeight") or props.get("height")},
        }
        await self._flush(render, doc)

        if faults.timeout:
            await self._time_out(render, doc)
            return
        if faults.fatal:
            await self._fail(render, doc, name="Error", message=faults.fatal, kind="renderer",
                             stack=f"Error: {faults.fatal}\n    at Visualizer (webpack://src/"
                                   "visualizer/Visualizer.tsx:268:15)")
            return

        max_retries = int(p.get("maxRetries") or 0)
        attempt, flaky_left = 1, faults.flaky_chunks
        output: Path | None = None
        renderer = self._renderer_client()
        await renderer.ensure_started()
        while output is None:
            local_id = f"standin-{render.render_id}-{attempt}"
            render.local_ids.append(local_id)
            target = self._out_dir / f"{local_id}.mp4"
            await renderer.submit(
                render_id=local_id, composition=p["composition"], input_props=props,
                output_path=target, crf=p.get("crf") or 18,
                x264_preset=p.get("x264Preset") or "medium",
                audio_bitrate=p.get("audioBitrate"),
            )
            last_write = 0.0
            while True:
                if await asyncio.to_thread(self._cancel_requested, render):
                    render.cancel_seen = True
                    await renderer.cancel(local_id)
                    await self._fail(render, doc, name="CancelledError",
                                     message="renderMedia() got cancelled", kind="renderer",
                                     state="cancelled")
                    return
                st = await renderer.status(local_id)
                if st is None:
                    raise RuntimeError(f"the local render server lost {local_id}")
                if flaky_left > 0:
                    flaky_left -= 1
                    await renderer.cancel(local_id)
                    if not await self._chunk_error(render, doc, attempt, max_retries,
                                                   "Error", "Target closed.", FLAKY_STACK):
                        return
                    attempt += 1
                    break
                if st.state == "failed":
                    message = st.error_message or "unknown error"
                    kind = "stitcher" if "Could not select composition" in message else "renderer"
                    if st.retryable:
                        if not await self._chunk_error(render, doc, attempt, max_retries,
                                                       "Error", message, f"Error: {message}"):
                            return
                        attempt += 1
                        break
                    await self._fail(render, doc, name="Error", message=message, kind=kind,
                                     stack=f"Error: {message}")
                    return
                if st.state == "cancelled":
                    await self._fail(render, doc, name="CancelledError", message="cancelled",
                                     kind="renderer", state="cancelled")
                    return
                rendered = frames if st.state == "done" else min(frames, st.frames_rendered)
                doc["framesRendered"] = rendered
                doc["framesEncoded"] = rendered
                doc["chunks"] = [i for i in range(chunks_total)
                                 if st.state == "done" or min((i + 1) * fpl, frames) <= rendered]
                if st.state == "done":
                    output = st.output_path or target
                    break
                if time.monotonic() - last_write > self.progress_interval:
                    await self._flush(render, doc)
                    last_write = time.monotonic()
                await asyncio.sleep(0.05)
        await self._finish(render, doc, output, started_ms)

    async def _chunk_error(self, render, doc, attempt: int, max_retries: int, name: str,
                           message: str, stack: str) -> bool:
        """A chunk failed; True when Remotion retries it (``maxRetries``)."""
        will_retry = attempt <= max_retries
        doc["errors"].append({
            "name": name, "message": message, "stack": stack, "chunk": 0, "frame": None,
            "type": "renderer", "isFatal": not will_retry, "tmpDir": None, "attempt": attempt,
            "totalAttempts": max_retries + 1, "willRetry": will_retry,
        })
        if will_retry:
            doc["retries"].append({"chunk": 0, "attempt": attempt + 1, "time": _ms()})
            await self._flush(render, doc)
            return True
        doc["fatalErrorTimestamp"] = _ms()
        await self._flush(render, doc)
        render.state, render.finished_at = "failed", time.time()
        await self._webhook(render, {"type": "error", "errors": [
            {"message": message, "name": name, "stack": stack}]})
        return False

    async def _fail(self, render, doc, *, name: str, message: str, kind: str, stack: str = "",
                    state: str = "failed") -> None:
        doc["errors"].append({
            "name": name, "message": message, "stack": stack or f"{name}: {message}",
            "chunk": 0 if kind == "renderer" else None, "frame": None, "type": kind,
            "isFatal": True, "tmpDir": None, "attempt": 1, "totalAttempts": 1,
            "willRetry": False,
        })
        doc["fatalErrorTimestamp"] = _ms()
        await self._flush(render, doc)
        render.state, render.finished_at = state, time.time()
        await self._webhook(render, {"type": "error", "errors": [
            {"message": message, "name": name, "stack": stack}]})

    async def _time_out(self, render, doc) -> None:
        """Renderers never report back; the main function sends the timeout webhook one
        second before it is killed (``webhookDueToTimeout``)."""
        deadline = time.monotonic() + max(self.function_timeout - 1.0, 1.0)
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self._cancel_requested, render):
                render.cancel_seen = True
                break
            await asyncio.sleep(0.1)
        render.state, render.finished_at = "timeout", time.time()
        await self._webhook(render, {"type": "timeout"})

    async def _finish(self, render, doc, output: Path, started_ms: int) -> None:
        try:
            size, target = await asyncio.to_thread(self._upload, render, output)
        except Exception as exc:  # noqa: BLE001 - the stitcher's upload failed
            await self._fail(render, doc, name=type(exc).__name__, message=str(exc),
                             kind="stitcher")
            return
        render.output = target
        done_ms = _ms()
        doc["combinedFrames"] = doc["framesRendered"]
        doc["timeToCombine"] = 50
        doc["timeToEncode"] = done_ms - started_ms
        doc["timeToRenderFrames"] = done_ms - started_ms
        cost = self._cost(doc["renderMetadata"], doc)
        doc["postRenderData"] = {
            "cost": {"estimatedCost": cost, "estimatedDisplayCost": _format_costs(cost)["displayCost"],
                     "currency": "USD",
                     "disclaimer": "Estimated cost for function invocations only. Does not "
                                   "include cost for storage and data transfer."},
            "outputFile": target["url"], "outputSize": size, "renderSize": size,
            "timeToFinish": done_ms - started_ms, "errors": doc["errors"],
            "startTime": started_ms, "endTime": done_ms, "filesCleanedUp": 0,
            "timeToRenderFrames": doc["timeToRenderFrames"], "timeToEncode": doc["timeToEncode"],
            "timeToCleanUp": 0, "timeToCombine": 50, "timeToRenderChunks": done_ms - started_ms,
            "retriesInfo": doc["retries"], "mostExpensiveFrameRanges": None,
            "estimatedBillingDurationInMilliseconds": (done_ms - started_ms)
            * (doc["renderMetadata"]["totalChunks"] + 1),
            "deletedFiles": [], "artifacts": [],
        }
        render.state, render.finished_at = "done", time.time()
        webhook = {"type": "success", "outputUrl": target["url"], "outputFile": target["url"],
                   "lambdaErrors": doc["errors"], "timeToFinish": done_ms - started_ms,
                   "costs": doc["postRenderData"]["cost"]}
        if render.faults.status_lag:
            await self._webhook(render, webhook)
            await asyncio.sleep(render.faults.status_lag)
            await self._flush(render, doc)
            return
        await self._flush(render, doc)
        if render.faults.webhook_delay:
            await asyncio.sleep(render.faults.webhook_delay)
        await self._webhook(render, webhook)

    async def _flush(self, render: StandinRender, doc: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write_progress, render, json.loads(json.dumps(doc)))
