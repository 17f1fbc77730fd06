"""The Slack app: slack-bolt ``AsyncApp`` served by the API at ``POST /slack/events``.

    /render [project]  → ack → modal (project, size, fps, duration, quality, effects)
                       → submit: the quote (cost, balance after) with Confirm / Back,
                         or the error on the field that caused it
                       → Confirm: submit once (idempotency key ``slack:<team>:<view id>``),
                         post the status message (a DM when the channel refuses); the
                         worker's notifier updates it until the Download button arrives
    /render credits    → balance and recent entries      /render link CODE → link account

``register(app, settings)`` wires every listener; each interaction is one database
transaction (nothing is charged unless the submit commits). Domain errors and unknown
ones are mapped once, in ``@app.error``, to a friendly ephemeral message (with an error
id for unknown ones). The runtime (database) arrives per request in
``context["rt"]`` — the API creates it in its lifespan, on the server's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bots import flow
from bots.slack import answer_blocks, batch_flow, blocks, confirm, followups, previews, workspaces
from bots.slack import followup_blocks as fb
from bots.slack.acknowledged import acknowledged
from bots.slack.blocks import FormValues
from bots.slack.replies import chat_user, explain, show_newest, tell
from core import batches
from core import render_settings as rs
from core.errors import (
    InvalidInput,
    InvalidSettings,
    ProjectNotFound,
)
from core.runtime import Runtime
from core.settings import Settings

log = logging.getLogger("renderbot.slack")


class SlackApp:
    """The bolt app, built from settings, and what the route hands it per request."""

    def __init__(self, settings: Settings) -> None:
        if settings.slack_signing_secret is None:
            raise ValueError("RENDERBOT_SLACK_SIGNING_SECRET is not set")
        if not workspaces.enabled(settings):
            raise ValueError("Slack needs RENDERBOT_SLACK_BOT_TOKEN, or RENDERBOT_SLACK__CLIENT_ID "
                             "and RENDERBOT_SLACK__CLIENT_SECRET for OAuth installs")
        self.settings = settings
        self.rt: Runtime | None = None
        self._tables_ready = not workspaces.is_multi_workspace(settings)
        self._lock: asyncio.Lock | None = None
        self.bolt = build(settings, engine_of=self._engine)
        register(self.bolt, settings)

    def _engine(self):
        if self.rt is None:
            raise RuntimeError("the Slack app has no runtime yet")
        return self.rt.db.engine

    async def attach(self, rt: Runtime) -> dict[str, Any]:
        """Called by the route before each request: the context properties to pass."""
        self.rt = rt
        if not self._tables_ready:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if not self._tables_ready:
                    flow_settings = self.bolt.oauth_flow.settings
                    try:
                        await flow_settings.installation_store.create_tables()
                        await flow_settings.state_store.create_tables()
                    except Exception:  # noqa: BLE001 - e.g. another API process won the race
                        log.warning("could not create slack_sdk's tables (they may exist)",
                                    exc_info=True)
                    self._tables_ready = True
        return {"rt": rt}


def build(settings: Settings, *, engine_of) -> AsyncApp:
    """The bolt app: one bot token, or OAuth installs kept in our database."""
    assert settings.slack_signing_secret is not None
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(
        token=token, base_url=workspaces.api_base(settings), user_agent_prefix="renderbot-app",
        retry_handlers=[AsyncConnectionErrorRetryHandler(),
                        AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
    )
    options: dict[str, Any] = {}
    if workspaces.is_multi_workspace(settings):
        client_id = settings.slack.client_id or ""
        secret = settings.slack.client_secret
        options["oauth_settings"] = AsyncOAuthSettings(
            client_id=client_id, client_secret=secret.get_secret_value() if secret else None,
            scopes=workspaces.BOT_SCOPES,
            installation_store=workspaces.RuntimeInstallationStore(client_id, engine_of),
            installation_store_bot_only=True,
            state_store=workspaces.RuntimeStateStore(engine_of),
        )
        options["installation_store_bot_only"] = True
        options["user_facing_authorize_error_message"] = (
            "renderbot is not installed in this workspace yet — an admin can add it at "
            f"{settings.public_base_url.rstrip('/')}/slack/install")
    return AsyncApp(
        name="renderbot", signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=client, logger=logging.getLogger("renderbot.slack.bolt"), **options,
    )


# --- helpers ---------------------------------------------------------------------------------


def presets(settings: Settings) -> dict[str, tuple[int, int]]:
    """Size presets offered in the modal (``slack.size_presets`` overrides the shared ones)."""
    override = settings.slack.size_presets
    return {n: tuple(s) for n, s in override.items()} if override else flow.size_presets(settings)


def default_values(settings: Settings, project=None) -> FormValues:
    d = flow.defaults(settings)
    offered = presets(settings)
    size = tuple(d["resolution"])
    if offered and size not in offered.values():
        size = next(iter(offered.values()))
    return FormValues(
        project_id=project.id if project else None, project_name=project.name if project else None,
        size=blocks.size_value(size), frame_rate=d["frame_rate"], duration=f"{d['duration']:g}",
        quality=d["quality"], effects=(),
    )


def form_view(settings: Settings, *, channel_id: str, values: FormValues, projects) -> dict:
    limits = settings.limits
    return blocks.form_view(
        channel_id=channel_id, values=values, presets=presets(settings),
        frame_rates=flow.frame_rates(settings), effects=flow.effects(settings),
        qualities=flow.qualities(), projects=projects,
        duration_hint=f"{limits.min_duration:g} to {limits.max_duration:g} seconds",
    )


async def listed_projects(rt: Runtime, settings: Settings, user: flow.ChatUser):
    """The user's projects for the modal, or None when there are too many to list."""
    limit = settings.slack.static_project_limit
    async with rt.db.transaction() as s:
        found = await flow.list_projects(session=s, settings=settings, user=user, limit=limit + 1)
    return None if len(found) > limit else found


# --- listeners -------------------------------------------------------------------------------


def register(app: AsyncApp, settings: Settings) -> None:
    """Wire the /render command, the modals, the buttons, the search and the error mapping."""

    def enqueue():
        from jobs.enqueue import enqueuer_for

        return enqueuer_for(settings)

    @app.command("/render")
    @acknowledged
    async def render_command(ack, command, context, client, respond):
        await ack()  # within 3 s, before any work
        rt: Runtime = context["rt"]
        user = chat_user(command)
        text = (command.get("text") or "").strip()
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word == "credits" and not rest:
            async with rt.db.transaction() as s:
                statement = await flow.credit_statement(session=s, settings=settings, user=user)
            await respond(response_type="ephemeral", **answer_blocks.credits_message(statement))
        elif word == "link":
            if not rest.strip():
                await respond(response_type="ephemeral",
                              text="Usage: `/render link CODE` (codes come from `renderbot "
                                   "accounts link-code ACCOUNT` or `/link` on Discord).")
                return
            async with rt.db.transaction() as s:
                account = await flow.link(session=s, user=user, code=rest.strip(),
                                          settings=settings)
            log.info("slack user %s/%s linked to account %s", user.team_id, user.user_id,
                     account.id)
            await respond(response_type="ephemeral", text=answer_blocks.linked_text(account))
        elif word in ("help", "?") and not rest:
            await respond(response_type="ephemeral", text=answer_blocks.help_text())
        else:
            await open_form(client, rt, user, trigger_id=command["trigger_id"],
                            channel_id=command["channel_id"], project=text or None,
                            respond=respond)

    async def open_form(client, rt: Runtime, user, *, trigger_id, channel_id, project, respond):
        limit = settings.slack.static_project_limit
        async with rt.db.transaction() as s:
            found = await flow.list_projects(session=s, settings=settings, user=user,
                                             limit=limit + 1)
            chosen = None
            if project:
                chosen = await flow.resolve_project(session=s, settings=settings, user=user,
                                                    value=project)
        if chosen is None and not found:
            await respond(response_type="ephemeral", text=answer_blocks.no_projects_text())
            return
        if chosen is None and len(found) == 1:
            chosen = found[0]
        listed = None if len(found) > limit else found
        view = form_view(settings, channel_id=channel_id, values=default_values(settings, chosen),
                         projects=listed)
        await client.views_open(trigger_id=trigger_id, view=view)

    @app.options(blocks.B_PROJECT)
    @acknowledged
    async def project_search(ack, body, context):
        rt: Runtime = context["rt"]
        async with rt.db.transaction() as s:
            found = await flow.list_projects(session=s, settings=settings, user=chat_user(body),
                                             search=(body.get("value") or "").strip() or None,
                                             limit=100)
        await ack(options=blocks.project_options(found))

    @app.view(blocks.FORM)
    @acknowledged
    async def form_submitted(ack, body, view, context, client):
        rt: Runtime = context["rt"]
        user = chat_user(body)
        values = blocks.read_form(view["state"]["values"])
        channel_id = json.loads(view.get("private_metadata") or "{}").get("c") or user.user_id
        if not values.project_id:
            await ack(response_action="errors", errors={blocks.B_PROJECT: "Pick a project."})
            return
        try:
            seconds = flow.parse_duration(values.duration)
            wanted = values.render_settings(seconds)
            rs.validate(wanted, settings.limits)  # core's check, to point at the field
            variants = [list(batches.ASPECTS[a]) for a in values.aspects]
            draft = None
            async with rt.db.transaction() as s:
                if len(variants) >= 2:  # the "Formats" multi-select: one batch
                    outcome = await flow.quote_batch(
                        session=s, settings=settings, user=user, project_id=values.project_id,
                        render_settings=wanted, variants=variants)
                else:
                    if variants:  # one aspect: today's single job at that size
                        wanted = {**wanted, "resolution": variants[0]}
                    outcome = await flow.quote(session=s, settings=settings, user=user,
                                               project_id=values.project_id,
                                               render_settings=wanted)
                    if outcome.quote is not None:  # issue 17: the Draft button's price
                        draft = await followups.draft_quote(
                            session=s, settings=settings, user=user,
                            project_id=values.project_id, render_settings=wanted)
        except InvalidInput as exc:
            await ack(response_action="errors", errors={blocks.B_ASPECTS: str(exc)[:150]})
            return
        except InvalidSettings as exc:
            message = str(exc).removeprefix(f"{exc.field}: ")
            await ack(response_action="errors",
                      errors=blocks.field_errors(exc.field, message[:1].upper() + message[1:]))
            return
        except ProjectNotFound as exc:
            await ack(response_action="errors",
                      errors=blocks.field_errors("project", flow.friendly(exc)))
            return
        if outcome.quote is None:  # settings core refused after all
            await ack(response_action="errors",
                      errors=blocks.field_errors("project", outcome.problem or "Not allowed."))
            return
        quote = outcome.quote
        values = replace(values, project_name=outcome.project.name)
        problem = None if outcome.ok else blocks.insufficient_text(quote.credit_cost, quote.balance)
        metadata = blocks.quote_metadata(channel_id=channel_id, values=values,
                                         render_settings=quote.settings.model_dump(),
                                         variants=[v.resolution for v in
                                                   getattr(quote, "variants", [])])
        if len(variants) >= 2:  # a batch: no single preview
            await ack(response_action="update", view=blocks.quote_view(
                project_name=outcome.project.name, quote=quote, problem=problem,
                metadata=metadata))
            return
        build = followups.quote_builder(project_name=outcome.project.name, quote=quote,
                                        problem=problem, metadata=metadata, draft=draft)
        # the quote at once (the 3 s ack), its preview still when it is made (issue 17)
        await ack(response_action="update", view=build(fb.preview_pending()))
        await previews.show_later(client, rt, settings, user, view_id=view["id"],
                                  project_id=values.project_id,
                                  project_name=outcome.project.name,
                                  render_settings=quote.settings.model_dump(), build=build)

    @app.action(blocks.BACK)
    @acknowledged
    async def back_to_form(ack, body, client, context):
        await ack()
        rt: Runtime = context["rt"]
        view = body["view"]
        previews.moved_on(view["id"])
        meta = json.loads(view["private_metadata"])
        listed = await listed_projects(rt, settings, chat_user(body))
        form = form_view(settings, channel_id=meta["c"], values=FormValues.from_compact(meta["f"]),
                         projects=listed)
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=form)

    @app.view(blocks.QUOTE)
    @acknowledged
    async def confirmed(ack, body, view, client, context):
        rt: Runtime = context["rt"]
        user = chat_user(body)
        meta = json.loads(view["private_metadata"])
        previews.moved_on(view["id"])
        if meta.get("v"):
            values = FormValues.from_compact(meta["f"])
            origin = confirm.origin_for(user, meta)
            await batch_flow.confirm(ack, client, rt, settings, user, meta, values, origin,
                                     view, enqueue=enqueue())
            return

        async def answer(shown: dict) -> None:
            await ack(response_action="update", view=shown)

        await confirm.submit_single(client, rt, settings, user, meta, view_id=view["id"],
                                    render_settings=meta["s"], answer=answer,
                                    enqueue=enqueue())

    @app.action(blocks.CANCEL)
    @acknowledged
    async def cancel_clicked(ack, body, client, context):
        await ack()
        rt: Runtime = context["rt"]
        user = chat_user(body)
        value = body["actions"][0]["value"]
        if value.startswith("batch:"):
            await batch_flow.cancel(rt, settings, user, value.removeprefix("batch:"))
            return
        async with rt.db.transaction() as s:
            job = await flow.cancel(session=s, settings=settings, user=user,
                                    job_id=body["actions"][0]["value"])
        log.info("slack user %s/%s cancelled job %s (%s)", user.team_id, user.user_id, job.id,
                 job.status, extra={"job_id": job.id})
        try:
            await show_newest(rt, job.id)
        except Exception:  # noqa: BLE001 - the worker's next poll shows it anyway
            log.warning("could not update the status of job %s", job.id, exc_info=True)

    @app.action(blocks.DOWNLOAD)
    @acknowledged
    async def download_clicked(ack):
        await ack()  # a link button: Slack opens the URL, we only acknowledge

    followups.register(app, settings, enqueue=enqueue)  # issue 17: Draft and follow-ups

    @app.error
    async def on_error(error, body, respond, client, response):
        text = explain(error)
        kind = body.get("type") or ("slash_command" if "command" in body else "")
        answer = None
        if response is not None:  # not acknowledged yet: the HTTP response can carry it
            if kind == "view_submission":
                return BoltResponse(status=200, body={"response_action": "update",
                                                      "view": blocks.problem_view(text)})
            if kind == "block_suggestion":
                return BoltResponse(status=200, body={"options": []})
            if kind == "slash_command":
                return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
            answer = BoltResponse(status=200, body="")
        try:
            await tell(client, body, text, respond)
        except Exception:  # noqa: BLE001
            log.warning("could not tell the Slack user about an error", exc_info=True)
        return answer
