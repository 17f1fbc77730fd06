"""``type: "status"``: the ``getRenderProgress`` object, computed from progress.json the
way @remotion/serverless-client's ``getProgress`` does it."""

from __future__ import annotations

import time
from typing import Any

WEIGHTS = {"evaluating": 0.1, "encoding": 0.1, "frames": 0.6, "invoking": 0.1, "combining": 0.1}


class _Unhandled(Exception):
    """Thrown inside the function (not buffered): Lambda reports it as Unhandled."""


class StatusMixin:
    """``LambdaStandIn`` supplies ``version``, ``region``, the timeouts, ``read_progress``
    and ``_version_error``."""

    def _status(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("version") != self.version:
            raise _Unhandled(self._version_error("getRenderProgress()", p.get("version")))
        render_id, bucket = p.get("renderId"), p.get("bucketName")
        try:
            doc = self.read_progress(render_id, bucket)
        except Exception:  # noqa: BLE001 - NoSuchKey / NoSuchBucket
            raise _Unhandled(f'No render with ID "{render_id}" found in bucket {bucket} and '
                             f"region {self.region}") from None
        meta = doc.get("renderMetadata")
        post = doc.get("postRenderData")
        if post:
            out_bucket, out_key = _expected_out(meta, bucket)
            frames = meta["videoConfig"]["durationInFrames"]
            return {
                "framesRendered": frames, "bucket": bucket, "renderSize": post["renderSize"],
                "chunks": meta["totalChunks"],
                "cleanup": {"doneIn": 0, "filesDeleted": 0, "minFilesToDelete": 0},
                "costs": {"accruedSoFar": post["cost"]["estimatedCost"],
                          "displayCost": post["cost"]["estimatedDisplayCost"],
                          "currency": post["cost"]["currency"],
                          "disclaimer": post["cost"]["disclaimer"]},
                "currentTime": _ms(), "done": True,
                "encodingStatus": {"framesEncoded": frames, "combinedFrames": frames,
                                   "timeToCombine": post["timeToCombine"]},
                "errors": post["errors"], "fatalErrorEncountered": False,
                "lambdasInvoked": meta["totalChunks"], "outputFile": post["outputFile"],
                "renderId": render_id, "timeToFinish": post["timeToFinish"],
                "timeToFinishChunks": post["timeToRenderChunks"],
                "timeToRenderFrames": post["timeToRenderFrames"], "overallProgress": 1,
                "retriesInfo": post["retriesInfo"], "outKey": out_key, "outBucket": out_bucket,
                "mostExpensiveFrameRanges": None, "timeToEncode": post["timeToEncode"],
                "outputSizeInBytes": post["outputSize"], "type": "success",
                "estimatedBillingDurationInMilliseconds":
                    post["estimatedBillingDurationInMilliseconds"],
                "timeToCombine": post["timeToCombine"], "combinedFrames": frames,
                "renderMetadata": meta, "timeoutTimestamp": doc["timeoutTimestamp"],
                "compositionValidated": doc["compositionValidated"],
                "functionLaunched": doc["functionLaunched"],
                "serveUrlOpened": doc["serveUrlOpened"], "artifacts": [],
            }
        errors = [{**e, "explanation": None, "s3Location": ""} for e in doc["errors"]]
        frames = meta["videoConfig"]["durationInFrames"] if meta else 0
        if meta:
            missing = [i for i in range(meta["totalChunks"]) if i not in doc["chunks"]]
            deadline = meta["startedDate"] + (self.function_timeout + self.timeout_grace) * 1000
            if missing and _ms() > deadline:
                message = (f"The main function timed out after "
                           f"{int(self.function_timeout * 1000)}ms.\nThe following chunks are "
                           f"missing (showing {min(5, len(missing))} out of {len(missing)}):")
                errors.insert(0, {
                    "attempt": 1, "chunk": None, "explanation": None, "frame": None,
                    "isFatal": True, "s3Location": "", "stack": f"Error: {message}",
                    "tmpDir": None, "totalAttempts": 1, "type": "stitcher",
                    "willRetry": False, "message": message, "name": "TimeoutError"})
        evaluation = sum(bool(x) for x in (doc["lambdasInvoked"], doc["serveUrlOpened"],
                                           doc["compositionValidated"])) / 3
        overall = evaluation * WEIGHTS["evaluating"]
        if meta and frames:
            overall += (doc["framesEncoded"] / frames) * WEIGHTS["encoding"]
            overall += (doc["lambdasInvoked"] / meta["estimatedRenderLambdaInvokations"]) * WEIGHTS["invoking"]
            overall += (doc["framesRendered"] / frames) * WEIGHTS["frames"]
            overall += (doc["combinedFrames"] / frames) * WEIGHTS["combining"]
        cost = self._cost(meta, doc)
        return {
            "framesRendered": doc["framesRendered"], "chunks": len(doc["chunks"]), "done": False,
            "encodingStatus": {"framesEncoded": doc["framesEncoded"],
                               "combinedFrames": doc["combinedFrames"],
                               "timeToCombine": doc["timeToCombine"]},
            "timeToRenderFrames": doc["timeToRenderFrames"],
            "costs": _format_costs(cost), "renderId": render_id, "renderMetadata": meta,
            "bucket": bucket, "outputFile": None, "timeToFinish": None, "errors": errors,
            "fatalErrorEncountered": any(e["isFatal"] and not e["willRetry"] for e in errors),
            "currentTime": _ms(), "renderSize": 0, "lambdasInvoked": doc["lambdasInvoked"],
            "cleanup": {"doneIn": None, "minFilesToDelete": 0, "filesDeleted": 0},
            "timeToFinishChunks": None, "overallProgress": overall,
            "retriesInfo": doc["retries"], "outKey": None, "outBucket": None,
            "mostExpensiveFrameRanges": None, "timeToEncode": doc["timeToEncode"],
            "outputSizeInBytes": None, "estimatedBillingDurationInMilliseconds": None,
            "combinedFrames": doc["combinedFrames"], "timeToCombine": doc["timeToCombine"],
            "timeoutTimestamp": doc["timeoutTimestamp"],
            "compositionValidated": doc["compositionValidated"],
            "functionLaunched": doc["functionLaunched"], "serveUrlOpened": doc["serveUrlOpened"],
            "type": "success", "artifacts": [],
        }

    @staticmethod
    def _cost(meta: dict[str, Any] | None, doc: dict[str, Any]) -> float:
        """Lambda GB-seconds at 2048 MB, as if every function ran since the start."""
        if not meta:
            return 0.0
        seconds = max(0.0, (_ms() - meta["startedDate"]) / 1000)
        functions = meta["totalChunks"] + 1
        return round(functions * seconds * 2 * 0.0000166667 + functions * 0.0000002, 6)


def _expected_out(meta: dict[str, Any], bucket: str) -> tuple[str, str]:
    out = meta.get("outName")
    if isinstance(out, dict):
        return out["bucketName"], out["key"]
    if isinstance(out, str):
        return bucket, out
    return bucket, f"renders/{meta['renderId']}/out.mp4"


def _format_costs(accrued: float) -> dict[str, Any]:
    display = "<$0.001" if accrued < 0.001 else f"${accrued:,.3f}"
    return {"accruedSoFar": accrued, "displayCost": display, "currency": "USD",
            "disclaimer": "Estimated cost only. Does not include charges for other AWS services."}


def _ms() -> int:
    return int(time.time() * 1000)
