"""schemathesis against the app's own OpenAPI document, over real HTTP: generated requests
(valid and invalid) never get a 5xx, and every response matches the documented status
codes, content types, headers and schemas. Bounded: a few dozen examples per operation."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core import accounts, credits, projects, renders
from core.db import Database
from core.settings import LimitSettings
from tests.fixtures.api import LiveServer, free_port, make_api_settings
from tests.fixtures.pipeline import TINY


@schemathesis.check
def no_server_error(ctx, response, case):
    """``not_a_server_error``, except a preview no worker rendered in time (no worker runs
    here): 503 ``preview_unavailable`` by design, documented."""
    if (case.operation.path == "/v1/previews" and response.status_code == 503
            and response.json()["error"]["code"] == "preview_unavailable"):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 30


async def _seed(settings):
    """An account with plenty of credits, an API key, a project and a queued job."""
    db = Database(settings.database_url)
    try:
        async with db.transaction() as s:
            account = await accounts.create(session=s, name="fuzz")
            await credits.grant(session=s, account_id=account.id, amount=10**9,
                                idempotency_key=f"fuzz:{account.id}")
            key = await accounts.create_api_key(session=s, account_id=account.id)
            project = await projects.create(session=s, account_id=account.id, name="fuzz")
            job = (await renders.submit(
                session=s, settings=settings, account_id=account.id, project_id=project.id,
                render_settings=TINY,
            )).job
        return {"key": key.key, "project_id": project.id, "job_id": job.id}
    finally:
        await db.dispose()


@pytest.fixture
def fuzz_target(tmp_path, database_url, redis_url):
    # Redis as the broker (so /readyz is ready) and no worker: created renders stay queued;
    # what is under test is the HTTP layer.
    # previews: no worker renders them here, so the shortest wait for one (one look, then
    # 503): each generated preview request waits it out
    api_settings = make_api_settings(tmp_path, database_url, free_port(), broker_url=redis_url,
                                     limits=LimitSettings(preview_wait_seconds=0.05))
    seeded = asyncio.run(_seed(api_settings))
    server = LiveServer(api_settings).start()
    yield server, seeded
    server.stop()


def _operations():
    """The app's own OpenAPI document (the one it serves, checked below), as operations."""
    from api.app import create_app
    from core.settings import Settings

    spec = create_app(Settings(secret_key="fuzz-secret-0123456789", _env_file=None)).openapi()
    return spec, [r.ok() for r in schemathesis.openapi.from_dict(spec).get_all_operations()]


SPEC, OPERATIONS = _operations()


def test_the_served_document_is_the_one_fuzzed(fuzz_target):
    import httpx

    server, _ = fuzz_target
    assert httpx.get(f"{server.url}/openapi.json").json() == SPEC
    assert len(OPERATIONS) >= 13


def _takes_input(op) -> bool:
    definition = SPEC["paths"][op.path][op.method.lower()]
    return bool(definition.get("parameters") or definition.get("requestBody"))


CASES = [
    pytest.param(op, mode, id=f"{op.label}-{mode.value}")
    for op in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _takes_input(op)  # nothing to break otherwise
]


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_generated_requests_get_no_5xx_and_only_documented_responses(
    operation, mode, fuzz_target
):
    server, seeded = fuzz_target
    headers = {"Authorization": f"Bearer {seeded['key']}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        # Every other case aims at the caller's real resources, so 2xx bodies are checked too.
        aim = len(repr(case.path_parameters) + repr(case.body) + repr(case.query)) % 2 == 0
        if aim and case.path_parameters:
            for name, real in (("project_id", seeded["project_id"]), ("job_id", seeded["job_id"])):
                if name in case.path_parameters:
                    case.path_parameters[name] = real
        if aim and isinstance(case.body, dict) and isinstance(case.body.get("project_id"), str):
            case.body["project_id"] = seeded["project_id"]
        case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS, timeout=30)

    run()
