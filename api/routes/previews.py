"""``POST /v1/previews``: a free JPEG still of a project before a quote (core/previews.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from api.deps import CallerAloneDep, runtime
from api.errors import error_response
from api.routes.v1 import _project_id
from api.schemas import RenderSettingsIn, Text, errors
from core import previews
from core.runtime import Runtime
from jobs.still_requests import requester_for

RuntimeDep = Annotated[Runtime, Depends(runtime)]
router = APIRouter(prefix="/v1", responses=errors(401, 422))


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Text = Field(max_length=64)
    settings: RenderSettingsIn = Field(default_factory=RenderSettingsIn)
    at: StrictInt | StrictFloat | None = Field(
        None, examples=[2.5],
        description="seconds into the video (0 <= at < duration); default: one third in",
    )


class PreviewOut(BaseModel):
    url: str = Field(description="time-limited link to the JPEG; works without auth")
    width: int
    height: int


@router.post("/previews", response_model=PreviewOut, tags=["renders"],
             responses=errors(404, 422, 429, 503))
async def create_preview(
    body: PreviewRequest, caller: CallerAloneDep, rt: RuntimeDep
) -> PreviewOut | JSONResponse:
    """A JPEG still of the frame at ``at`` at the settings' size (a draft's: half size).
    Free; cached per project state, settings and frame; limited per account per minute."""
    try:
        found = await previews.create(
            rt, account_id=caller.account_id, project_id=_project_id(body.project_id),
            render_settings=body.settings.to_core(), at=body.at,
            request_still=requester_for(rt.settings),
        )
    except previews.PreviewsThrottled as exc:
        return error_response(429, exc.code, str(exc),
                              headers={"Retry-After": str(exc.retry_after)})
    return PreviewOut(url=found.url, width=found.width, height=found.height)
