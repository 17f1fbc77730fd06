"""Links that work without an API key: counted download links and local media.

``GET /d/{job_id}?exp&sig`` is a job's ``result_url``: it checks the signature and
expiry, counts the download and redirects to a fresh short-lived storage link (a presigned
R2/S3 URL — from the creator's own bucket when the job went there — or ``/media/...`` for
local storage); 410 ``video_expired`` once the retention sweep deleted the video.
``GET /p/{job_id}?exp&sig`` is a job's ``poster_url``: the same for its JPEG poster frame
(not counted). ``GET /media/{key}?exp&sig[&filename]``
serves local storage files with range requests so browsers can seek.
"""

from __future__ import annotations

import hmac
import logging
import mimetypes
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse

from api.deps import Session, SettingsDep, runtime_of
from api.errors import LinkRefused
from api.schemas import errors
from core import downloads
from core.errors import NotFound
from core.storage import destinations
from core.storage.base import content_disposition

log = logging.getLogger("renderbot.api")
router = APIRouter(tags=["links"], responses=errors(422))

Exp = Annotated[str | None, Query(description="unix time the link expires")]
Sig = Annotated[str | None, Query(description="signature", max_length=128)]


@router.get(
    "/d/{job_id}", status_code=302, response_class=RedirectResponse,
    responses={302: {"description": "to a fresh, short-lived link to the video"},
               **errors(403, 404, 410)},
)
async def download(
    job_id: Annotated[str, Path(max_length=64)],
    request: Request,
    session: Session,
    settings: SettingsDep,
    exp: Exp = None,
    sig: Sig = None,
) -> RedirectResponse:
    """A job's ``result_url``: counted, then redirected to the video."""
    verdict = downloads.check(settings.secret_bytes(), job_id, exp, sig)
    if verdict != "ok":
        raise LinkRefused(expired=verdict == "expired")
    found = await downloads.record_download(
        session=session, job_id=job_id,
        detail={"user_agent": (request.headers.get("user-agent") or "")[:200]},
    )
    # the default storage, or the creator's own bucket the job's video went to
    storage = await destinations.storage_of(runtime_of(request), session, found.destination_id)
    url = await storage.download_url(
        key=found.key, bucket=found.bucket, expires_in=settings.api.media_link_seconds,
        filename=found.filename,
    )
    log.info("job %s downloaded (%d)", job_id, found.count, extra={"job_id": job_id})
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get(
    "/p/{job_id}", status_code=302, response_class=RedirectResponse,
    responses={302: {"description": "to a fresh, short-lived link to the JPEG poster"},
               **errors(403, 404, 410)},
)
async def poster(
    job_id: Annotated[str, Path(max_length=64)],
    request: Request,
    session: Session,
    settings: SettingsDep,
    exp: Exp = None,
    sig: Sig = None,
) -> RedirectResponse:
    """A job's ``poster_url``: redirected to its JPEG poster frame (shown inline)."""
    verdict = downloads.check(settings.secret_bytes(), job_id, exp, sig,
                              purpose=downloads.POSTER)
    if verdict != "ok":
        raise LinkRefused(expired=verdict == "expired")
    found = await downloads.poster_of(session=session, job_id=job_id)
    storage = await destinations.storage_of(runtime_of(request), session, found.destination_id)
    url = await storage.download_url(key=found.key, bucket=found.bucket,
                                     expires_in=settings.api.media_link_seconds)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.head("/media/{key:path}", include_in_schema=False)
@router.get(
    "/media/{key:path}", response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {}}, "description": "the file"},
        206: {"content": {"video/mp4": {}}, "description": "the requested byte range"},
        416: {"description": "range not satisfiable"},
        **errors(403, 404, 410),
    },
)
async def media(
    key: Annotated[str, Path(max_length=1024)],
    request: Request,
    exp: Exp = None,
    sig: Sig = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> FileResponse:
    """A file of the local storage, behind a signed, expiring link (range requests work)."""
    storage = runtime_of(request).storage
    if storage.name != "local":
        raise NotFound("file", key)
    try:
        path = storage.local_path(key=key)  # refuses "..", absolute keys, escapes
    except ValueError:
        raise NotFound("file", key) from None
    if not storage.verify_signature(key, exp or "", sig or "", filename):
        raise LinkRefused(expired=_genuine(storage, key, exp, sig, filename))
    if not path.is_file():
        raise NotFound("file", key)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # A signed link is a capability of its own; the renderer's page (another origin)
    # reads project files fetched into storage (core/assets.py) through it.
    headers = {"Cache-Control": "private, max-age=300", "Access-Control-Allow-Origin": "*"}
    if filename:
        headers["Content-Disposition"] = content_disposition(filename)
    return FileResponse(path, media_type=media_type, headers=headers)


def _genuine(storage, key: str, exp, sig, filename) -> bool:
    """A correctly signed link whose time is up (410), as opposed to a forged one (403)."""
    try:
        exp_int = int(exp)
        expected = storage.sign(key, exp_int, filename)
    except (TypeError, ValueError):
        return False
    if exp_int >= time.time():
        return False
    return hmac.compare_digest(expected.encode(), (sig or "").encode("utf-8", "replace"))
