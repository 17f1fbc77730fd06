"""``POST /slack/events``: Slack commands, interactivity and type-ahead options, handed to
the slack-bolt app through bolt's FastAPI adapter (bolt checks the signature: 401 when it
is wrong or older than 5 minutes). With OAuth configured, ``GET /slack/install`` and
``GET /slack/oauth_redirect`` install the app in a workspace.

Included by ``api.app.create_app`` only when ``RENDERBOT_SLACK_SIGNING_SECRET`` is set.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

from bots.slack.app import SlackApp
from bots.slack.workspaces import is_multi_workspace
from core.settings import Settings


def router_for(settings: Settings) -> APIRouter:
    slack = SlackApp(settings)
    handler = AsyncSlackRequestHandler(slack.bolt)
    router = APIRouter(tags=["slack"], include_in_schema=False)

    async def handle(request: Request) -> Response:
        extra = await slack.attach(request.app.state.rt)
        return await handler.handle(request, addition_context_properties=extra)

    router.add_api_route("/slack/events", handle, methods=["POST"], name="slack_events")
    if is_multi_workspace(settings):
        router.add_api_route("/slack/install", handle, methods=["GET"], name="slack_install")
        router.add_api_route("/slack/oauth_redirect", handle, methods=["GET"],
                             name="slack_oauth_redirect")
    return router
