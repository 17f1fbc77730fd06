"""Projects: what users render. ``state`` is the composition id and its input props."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import assets, network
from core.errors import InvalidInput, ProjectNotFound
from core.models import Project
from core.schemas import ProjectRead

DEFAULT_COMPOSITION = "Visualizer"
MAX_STATE_BYTES = 64 * 1024

DEFAULT_STATE: dict[str, Any] = {
    "composition": DEFAULT_COMPOSITION,
    "props": {
        "title": "Untitled",
        "subtitle": "",
        "palette": ["#ff5f6d", "#ffc371", "#47cacc"],
        "background": "#0b0f1a",
    },
}


def normalise_state(
    state: Any, *, name: str = "", policy: network.Policy | None = None
) -> dict[str, Any]:
    """Validate a project state and fill in defaults (composition, title, palette).

    URL props (``audioUrl``…) must be http(s) without credentials and not an address
    ``policy`` (default: public addresses only) refuses; host names are looked up by
    :func:`create` / :func:`update`, which call :func:`core.assets.check_props`."""
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise InvalidInput("state", "must be a JSON object")
    props = state.get("props", {})
    if not isinstance(props, dict):
        raise InvalidInput("state.props", "must be a JSON object")
    composition = state.get("composition", DEFAULT_COMPOSITION)
    if composition != DEFAULT_COMPOSITION:
        raise InvalidInput("state.composition", f"unknown composition (allowed: {DEFAULT_COMPOSITION})")
    merged = {**DEFAULT_STATE["props"], "title": name or "Untitled", **props}
    palette = merged.get("palette")
    if not isinstance(palette, list) or not 2 <= len(palette) <= 5:
        raise InvalidInput("state.props.palette", "must list 2 to 5 colours")
    assets.validate_props(merged, policy or network.Policy())
    normalised = {**state, "composition": composition, "props": merged}
    if len(json.dumps(normalised)) > MAX_STATE_BYTES:
        raise InvalidInput("state", f"is larger than {MAX_STATE_BYTES} bytes")
    return normalised


async def create(
    *,
    session: AsyncSession,
    account_id: str,
    name: str,
    state: dict[str, Any] | None = None,
    policy: network.Policy | None = None,
) -> ProjectRead:
    """``policy``: the network policy URL props must pass (``network.policy(settings)``;
    default: public addresses only)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name", "must be 1 to 200 characters")
    policy = policy or network.Policy()
    normalised = normalise_state(state, name=name, policy=policy)
    await assets.check_props(normalised["props"], policy)
    project = Project(account_id=account_id, name=name, state=normalised)
    session.add(project)
    await session.flush()
    return ProjectRead.model_validate(project)


async def get_model(*, session: AsyncSession, account_id: str | None, project_id: str) -> Project:
    """The project, if it exists and belongs to ``account_id`` (None = any account, admin)."""
    project = await session.get(Project, project_id, populate_existing=True)
    if project is None or (account_id is not None and project.account_id != account_id):
        raise ProjectNotFound(project_id)
    return project


async def get(*, session: AsyncSession, account_id: str | None, project_id: str) -> ProjectRead:
    project = await get_model(session=session, account_id=account_id, project_id=project_id)
    return ProjectRead.model_validate(project)


async def find_by_name(*, session: AsyncSession, account_id: str, name: str) -> ProjectRead:
    project = await session.scalar(
        select(Project)
        .where(Project.account_id == account_id, func.lower(Project.name) == name.strip().lower())
        .order_by(Project.created_at.desc())
        .limit(1)
    )
    if project is None:
        raise ProjectNotFound(name)
    return ProjectRead.model_validate(project)


async def list_(
    *, session: AsyncSession, account_id: str, search: str | None = None, limit: int = 100
) -> list[ProjectRead]:
    query = select(Project).where(Project.account_id == account_id)
    if search:
        query = query.where(func.lower(Project.name).contains(search.lower()))
    rows = await session.scalars(query.order_by(Project.updated_at.desc()).limit(limit))
    return [ProjectRead.model_validate(r) for r in rows]


async def update(
    *,
    session: AsyncSession,
    account_id: str,
    project_id: str,
    name: str | None = None,
    state: dict[str, Any] | None = None,
    policy: network.Policy | None = None,
) -> ProjectRead:
    project = await get_model(session=session, account_id=account_id, project_id=project_id)
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name", "must be 1 to 200 characters")
        project.name = name
    if state is not None:
        policy = policy or network.Policy()
        normalised = normalise_state(state, name=project.name, policy=policy)
        await assets.check_props(normalised["props"], policy)
        project.state = normalised
    await session.flush()
    await session.refresh(project)
    return ProjectRead.model_validate(project)
