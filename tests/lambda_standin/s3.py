"""S3 for the stand-in: Remotion's own bucket (progress.json, cancel.json, input props)
on "AWS S3", and the upload of the finished mp4 to its ``outName`` target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.lambda_standin.records import StandinRender


class S3Mixin:
    """``LambdaStandIn`` supplies ``aws_s3_endpoint``, ``region``, ``bucket_name`` and
    ``_clients`` (a ``threading.local``)."""

    def aws_s3(self) -> Any:
        """Remotion's own bucket lives here (progress.json, cancel.json)."""
        client = getattr(self._clients, "aws_s3", None)
        if client is None:  # one per thread: making a boto3 client costs ~50 ms of CPU
            client = self._clients.aws_s3 = _s3_client(self.aws_s3_endpoint, "testing",
                                                       "testing", self.region)
        return client

    def read_progress(self, render_id: str, bucket: str | None = None) -> dict[str, Any]:
        body = self.aws_s3().get_object(Bucket=bucket or self.bucket_name,
                                        Key=f"renders/{render_id}/progress.json")["Body"].read()
        return json.loads(body)

    def _write_progress(self, render: StandinRender, doc: dict[str, Any]) -> None:
        self.aws_s3().put_object(
            Bucket=render.bucket, Key=f"renders/{render.render_id}/progress.json",
            Body=json.dumps(doc).encode(), ContentType="application/json",
        )

    def _cancel_requested(self, render: StandinRender) -> bool:
        try:
            self.aws_s3().head_object(Bucket=render.bucket,
                                      Key=f"renders/{render.render_id}/cancel.json")
        except Exception:  # noqa: BLE001 - NotFound: not cancelled
            return False
        return True

    def _upload(self, render: StandinRender, path: Path) -> tuple[int, dict[str, Any]]:
        try:
            return path.stat().st_size, self._put(render, path)
        finally:
            path.unlink(missing_ok=True)

    def _put(self, render: StandinRender, path: Path) -> dict[str, Any]:
        p = render.payload
        out = p.get("outName")
        if isinstance(out, dict):
            bucket, key = out["bucketName"], out["key"]
            provider = out.get("s3OutputProvider")
        elif isinstance(out, str):
            bucket, key, provider = render.bucket, out, None
        else:
            bucket, key, provider = render.bucket, f"renders/{render.render_id}/out.mp4", None
        if provider:
            if p.get("privacy") != "no-acl":
                raise RuntimeError("NotImplemented: the S3-compatible output store does not "
                                   "implement ACLs; render with privacy 'no-acl'")
            endpoint = provider["endpoint"]
            client = _s3_client(endpoint, provider.get("accessKeyId"),
                                provider.get("secretAccessKey"), provider.get("region") or "auto")
        else:
            endpoint = self.aws_s3_endpoint
            client = self.aws_s3()
        client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": "video/mp4"})
        return {"endpoint": endpoint, "bucket": bucket, "key": key,
                "url": f"{endpoint.rstrip('/')}/{bucket}/{key}"}


def _s3_client(endpoint: str, key: str | None, secret: str | None, region: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )
