"""``/v1/storage``: the caller's own bucket (R2 / S3) renders are delivered to.

``PUT`` verifies it (network policy, then write/read/delete a probe object) before
storing it; ``GET`` shows it without the secret; ``DELETE`` sends later renders back to
the default storage. Rules live in ``core/storage/destinations.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, SecretStr

from api.deps import CallerAloneDep, CallerDep, Session, SettingsDep, runtime_of
from api.schemas import errors
from core.storage import destinations
from core.storage.destinations import DestinationRead, DestinationSpec

router = APIRouter(prefix="/v1", tags=["storage"], responses=errors(401))


class StorageSet(BaseModel):
    endpoint: str = Field(max_length=2048, examples=["https://<account>.r2.cloudflarestorage.com"])
    bucket: str = Field(max_length=63, examples=["my-renders"])
    prefix: str = Field("", max_length=200, examples=["renderbot"])
    region: str | None = Field(None, max_length=64, examples=["auto"])
    access_key_id: str = Field(min_length=1, max_length=255)
    secret_access_key: SecretStr = Field(min_length=1, max_length=1024)


@router.put("/storage", response_model=DestinationRead, responses=errors(422))
async def set_storage(
    body: StorageSet, caller: CallerAloneDep, request: Request, settings: SettingsDep,
) -> DestinationRead:
    """Verify the bucket (a small object written, read back and deleted), then deliver
    this account's renders there. On failure: 422 ``storage_unverified`` naming what
    failed, and nothing is stored."""
    spec = DestinationSpec(
        endpoint=body.endpoint, bucket=body.bucket, prefix=body.prefix, region=body.region,
        access_key_id=body.access_key_id,
        secret_access_key=body.secret_access_key.get_secret_value(),
    )
    return await destinations.set_(
        db=runtime_of(request).db, settings=settings, account_id=caller.account_id, spec=spec,
    )


@router.get("/storage", response_model=DestinationRead, responses=errors(404))
async def get_storage(caller: CallerDep, session: Session) -> DestinationRead:
    """Where this account's renders go (never the secret); 404 when the default storage."""
    return await destinations.get(session=session, account_id=caller.account_id)


@router.delete("/storage", status_code=204, responses=errors(404))
async def clear_storage(caller: CallerDep, session: Session) -> Response:
    """Later renders go to the default storage (videos already delivered stay)."""
    await destinations.clear(session=session, account_id=caller.account_id)
    return Response(status_code=204)
