"""Preview stills are cached under ``previews/`` and deleted by the retention sweep once
older than RENDERBOT_STORAGE__PREVIEW_RETENTION_HOURS (local storage and S3); nothing else
is touched."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from core import retention
from core.db import utcnow
from core.runtime import Runtime
from core.storage.s3 import S3Storage


async def test_old_local_previews_are_swept_and_nothing_else(settings):
    rt = Runtime(settings)
    try:
        storage = rt.storage
        for key in ("previews/old.jpg", "previews/new.jpg", "renders/old.mp4"):
            await storage.put_bytes(key=key, data=b"x", content_type="image/jpeg")
        two_days_ago = time.time() - 48 * 3600
        for key in ("previews/old.jpg", "renders/old.mp4"):
            os.utime(storage.local_path(key=key), (two_days_ago, two_days_ago))
        assert await retention.sweep_previews(rt) == 1
        assert not await storage.exists(key="previews/old.jpg")
        assert await storage.exists(key="previews/new.jpg")
        assert await storage.exists(key="renders/old.mp4")  # videos have their own rule
        assert await retention.sweep_previews(rt) == 0
    finally:
        await rt.close()


async def test_old_s3_previews_are_swept_under_the_storage_prefix(moto_s3, s3_bucket):
    storage = S3Storage(bucket=s3_bucket, endpoint_url=moto_s3.endpoint_url,
                        region=moto_s3.region, access_key_id=moto_s3.access_key_id,
                        secret_access_key=moto_s3.secret_access_key, prefix="deploy")
    for key in ("previews/a.jpg", "previews/b.jpg", "renders/j.mp4"):
        await storage.put_bytes(key=key, data=b"x")
    earlier = utcnow() - timedelta(minutes=1)
    assert await storage.delete_older(prefix="previews", before=earlier) == 0
    later = utcnow() + timedelta(minutes=1)
    assert await storage.delete_older(prefix="previews", before=later) == 2
    listed = moto_s3.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == ["deploy/renders/j.mp4"]
