"""The Discord bot: slash commands and the /render conversation (discord.py 2, gateway).

    /render [project] → ephemeral form (size, fps, quality, effects selects; the project
    select first when there is a choice) → "Duration & quote…" modal → ephemeral quote
    (cost, balance after; the preview still is attached right after) with Confirm / Draft
    / Cancel → Confirm or Draft submits once (idempotency key ``discord:<quote message
    id>``) and posts a public status message (a DM when the channel refuses) that the
    worker's notifier edits until the video link arrives; the finished message has the
    poster and follow-up buttons, each opening a new quote (``bots/discord/quotes.py``).

Every button and select is a ``DynamicItem`` whose custom_id carries the state, so they
all work after a restart; errors become friendly ephemeral messages (with an error id for
unexpected ones) via ``CommandTree.on_error`` and :meth:`RenderBot.report_error`. All
database work for one interaction is one transaction: nothing is charged unless the
submit commits.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import discord
from discord import app_commands
from discord.http import Route

from bots import catch_up, flow
from bots.discord import (
    batch_flow,
    custom_ids,
    endpoints,
    messages,
    quotes,
    status_posts,
    views,
)
from bots.discord.custom_ids import BadCustomId, FormState, Parsed
from bots.discord.notifier import shared_for
from core.errors import RenderbotError
from core.runtime import Runtime
from core.settings import Settings

log = logging.getLogger("renderbot.discord")


def chat_user(interaction: discord.Interaction) -> flow.ChatUser:
    user = interaction.user
    return flow.ChatUser(
        platform="discord",
        team_id=str(interaction.guild_id) if interaction.guild_id else "dm",
        user_id=str(user.id),
        display_name=getattr(user, "display_name", None) or user.name,
    )


class RenderBot(discord.Client):
    def __init__(self, settings: Settings, *, runtime: Runtime | None = None, **options: Any):
        intents = discord.Intents.none()
        intents.guilds = True  # no privileged intents: slash commands and components only
        options.setdefault("guild_ready_timeout", 2.0)
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False  # no voice here
        super().__init__(intents=intents, **options)
        self.settings = settings
        self.rt = runtime or Runtime(settings)
        self._owns_runtime = runtime is None
        self.effect_names = flow.effects(settings)
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self._on_tree_error
        for command in COMMANDS:
            self.tree.add_command(command)

    # --- lifecycle -----------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.add_dynamic_items(views.RenderbotItem)
        guild_id = self.settings.discord.guild_id
        try:
            if guild_id:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                synced = await self.tree.sync()
            log.info("synced %d slash command(s)%s", len(synced),
                     f" to guild {guild_id}" if guild_id else "")
        except discord.HTTPException:
            log.exception("could not sync the slash commands; the previous ones stay")

    async def close(self) -> None:
        await super().close()
        if self._owns_runtime:
            await self.rt.close()

    @property
    def db(self):
        return self.rt.db

    def enqueue(self):
        from jobs.enqueue import enqueuer_for

        return enqueuer_for(self.settings)

    # --- errors --------------------------------------------------------------------------

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await self.report_error(interaction, error)

    async def report_error(self, interaction: discord.Interaction, error: BaseException) -> None:
        original = getattr(error, "original", None) or error
        if isinstance(original, RenderbotError):
            text = flow.friendly(original)
            log.info("interaction refused: %s", original)
        elif isinstance(original, BadCustomId):
            text = "That button is out of date — run `/render` again."
        else:
            correlation = uuid.uuid4().hex[:12]
            log.error("discord interaction failed (error id %s)", correlation, exc_info=original)
            text = messages.error_text(correlation)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell the user about an error", exc_info=True)

    # --- slash commands ------------------------------------------------------------------

    async def cmd_render(self, interaction: discord.Interaction, project: str | None) -> None:
        user = chat_user(interaction)
        async with self.db.transaction() as s:
            projects = await flow.list_projects(session=s, settings=self.settings, user=user)
            chosen = None
            if project:
                chosen = await flow.resolve_project(
                    session=s, settings=self.settings, user=user, value=project
                )
        if chosen is None and not projects:
            await interaction.response.send_message(messages.no_projects_text(), ephemeral=True)
            return
        if chosen is None and len(projects) == 1:
            chosen = projects[0]
        if chosen is None:
            await interaction.response.send_message(
                messages.picker_text(), view=views.picker_view(projects), ephemeral=True
            )
            return
        state = self.default_state(chosen.id)
        await interaction.response.send_message(
            messages.form_text(chosen), view=self.form(state), ephemeral=True
        )

    async def project_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            async with self.db.transaction() as s:
                projects = await flow.list_projects(
                    session=s, settings=self.settings, user=chat_user(interaction),
                    search=current or None,
                )
        except Exception:  # noqa: BLE001 - autocomplete must answer; an empty list is fine
            log.exception("project autocomplete failed")
            return []
        return [app_commands.Choice(name=p.name[:100], value=p.id) for p in projects[:25]]

    async def cmd_credits(self, interaction: discord.Interaction) -> None:
        async with self.db.transaction() as s:
            statement = await flow.credit_statement(
                session=s, settings=self.settings, user=chat_user(interaction)
            )
        await interaction.response.send_message(messages.credits_text(statement), ephemeral=True)

    async def cmd_renders(self, interaction: discord.Interaction) -> None:
        async with self.db.transaction() as s:
            jobs = await flow.recent_jobs(
                session=s, settings=self.settings, user=chat_user(interaction)
            )
            where = await flow.storage_where(
                session=s, settings=self.settings, user=chat_user(interaction)
            )
        await interaction.response.send_message(
            messages.renders_text(jobs, where), ephemeral=True, suppress_embeds=True
        )

    async def cmd_link(self, interaction: discord.Interaction, code: str) -> None:
        async with self.db.transaction() as s:
            account = await flow.link(session=s, user=chat_user(interaction), code=code,
                                      settings=self.settings)
        await interaction.response.send_message(
            messages.linked_text(account.name, account.balance), ephemeral=True
        )

    # --- the form ------------------------------------------------------------------------

    def default_state(self, project_id: str) -> FormState:
        d = flow.defaults(self.settings)
        width, height = d["resolution"]
        return FormState(project_id, width, height, d["frame_rate"], d["quality"], ())

    def form(self, state: FormState) -> discord.ui.View:
        return views.form_view(
            state, presets=flow.size_presets(self.settings),
            frame_rates=flow.frame_rates(self.settings), effects=self.effect_names,
        )

    async def on_component(
        self, interaction: discord.Interaction, custom_id: str, values: list[str]
    ) -> None:
        try:
            parsed = custom_ids.parse(custom_id, self.effect_names)
            handler = getattr(self, f"_on_{parsed.action}")
            await handler(interaction, parsed, values)
        except Exception as exc:  # noqa: BLE001 - every failure gets a friendly answer
            await self.report_error(interaction, exc)

    async def _on_pick(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        user = chat_user(interaction)
        async with self.db.transaction() as s:
            project = await flow.resolve_project(
                session=s, settings=self.settings, user=user, value=values[0]
            )
        state = self.default_state(project.id)
        await interaction.response.edit_message(content=messages.form_text(project),
                                                view=self.form(state))

    async def _on_set(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        state = parsed.state
        assert state is not None
        if parsed.field == "size":
            width, height = (int(v) for v in values[0].split("x"))
            state = state.with_(width=width, height=height)
        elif parsed.field == "fps":
            state = state.with_(frame_rate=int(values[0]))
        elif parsed.field == "q":
            state = state.with_(quality=values[0])
        else:
            state = state.with_(effects=tuple(n for n in self.effect_names if n in values))
        await interaction.response.edit_message(view=self.form(state))

    async def _on_dur(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        limits = self.settings.limits
        await interaction.response.send_modal(views.DurationModal(
            parsed.state, effects=self.effect_names,
            default=f"{flow.defaults(self.settings)['duration']:g}",
            limits=(limits.min_duration, limits.max_duration),
        ))

    async def _on_stop(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        await interaction.response.edit_message(
            content="Cancelled — nothing was charged.", view=None
        )

    async def on_duration(self, interaction: discord.Interaction, state: FormState, text: str):
        seconds = float(f"{flow.parse_duration(text):g}")
        await quotes.send(self, interaction, state, seconds)

    async def _on_re(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        """The quote's Format / Formats select: quote what is picked, in place."""
        assert parsed.state is not None and parsed.duration is not None
        state = batch_flow.picked(parsed.state, parsed.field or "", values)
        await quotes.send(self, interaction, state, parsed.duration, edit=True)

    # --- confirm / draft: submit once, post the status message ---------------------------

    async def _on_ok(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        await quotes.confirm(self, interaction, parsed, draft=False)

    async def _on_draft(self, interaction: discord.Interaction, parsed: Parsed,
                        values: list[str]):
        await quotes.confirm(self, interaction, parsed, draft=True)

    # --- a finished message's follow-ups: each opens a new quote --------------------------

    async def _on_again(self, interaction: discord.Interaction, parsed: Parsed,
                        values: list[str]):
        await quotes.followup(self, interaction, parsed)

    _on_full = _on_var = _on_again

    async def post_status(
        self, job, *, channel_id: int | None, user_id: str,
        interaction: discord.Interaction | None = None,
    ) -> tuple[str, str, bool] | None:
        """Post the public status message: the Confirm interaction's public follow-up when
        the bot may also post in the channel (its edits skip the bot's global rate limit
        for the token's 15 minutes, then go through the channel with the bot token); else
        in the channel with the bot token, and in a DM when the channel refuses — a
        follow-up in a channel the bot cannot see could not be edited after 15 minutes."""
        payload = messages.status_payload(job)
        if interaction is not None and channel_id is not None and \
                status_posts.may_post(interaction):
            posted = await status_posts.post_followup(
                interaction, payload, shared=shared_for(self.settings), what=f"job {job.id}")
            if posted is not None:
                return posted
        return await self.post_payload(payload, channel_id=channel_id, user_id=user_id,
                                       what=f"job {job.id}")

    async def post_payload(
        self, payload: dict[str, Any], *, channel_id: int | None, user_id: str, what: str
    ) -> tuple[str, str, bool] | None:
        """(channel id, message id, in a DM) of ``payload`` posted; None when nowhere."""
        if channel_id is not None:
            try:
                data = await self._post(channel_id, payload)
                return str(channel_id), str(data["id"]), False
            except discord.HTTPException as exc:  # 403 no access, 404, a 429 without Via
                log.info("cannot post in channel %s (%s); using a DM", channel_id, exc.status)
        try:
            dm = await self.http.start_private_message(int(user_id))
            data = await self._post(dm["id"], payload)
            return str(dm["id"]), str(data["id"]), True
        except discord.HTTPException:
            log.warning("could not post the status of %s anywhere", what, exc_info=True)
            return None

    async def _post(self, channel_id, payload: dict[str, Any]) -> dict[str, Any]:
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        return await self.http.request(route, json=payload)

    async def show_newest(self, job_id: str) -> None:
        """Every edit of a status message goes through the workers' paced sender."""
        from bots.discord.notifier import install

        try:
            await catch_up.show_newest(self.rt, job_id, install=install)
        except Exception:  # noqa: BLE001 - the job runs; its next change updates the message
            log.warning("could not update the status of job %s", job_id, exc_info=True)

    # --- the cancel button on a status message -------------------------------------------

    async def _on_bcancel(self, interaction: discord.Interaction, parsed: Parsed,
                          values: list[str]):
        await batch_flow.cancel(self, interaction, parsed.batch_id or "")

    async def _on_cancel(self, interaction: discord.Interaction, parsed: Parsed, values: list[str]):
        await interaction.response.defer()
        async with self.db.transaction() as s:
            job = await flow.cancel(
                session=s, settings=self.settings, user=chat_user(interaction),
                job_id=parsed.job_id or "",
            )
        log.info("discord user %s cancelled job %s (%s)", interaction.user.id, job.id, job.status,
                 extra={"job_id": job.id})
        await self.show_newest(job.id)


# --- slash command definitions (registered on every RenderBot's tree) ---------------------


@app_commands.command(name="render", description="Render one of your projects into a video")
@app_commands.describe(project="The project to render (start typing to search)")
async def render_command(interaction: discord.Interaction, project: str | None = None) -> None:
    await interaction.client.cmd_render(interaction, project)


@render_command.autocomplete("project")
async def _render_autocomplete(interaction: discord.Interaction, current: str):
    return await interaction.client.project_choices(interaction, current)


@app_commands.command(name="credits", description="Your credit balance and recent entries")
async def credits_command(interaction: discord.Interaction) -> None:
    await interaction.client.cmd_credits(interaction)


@app_commands.command(name="renders",
                      description="Your recent renders, with links, and where they are stored")
async def renders_command(interaction: discord.Interaction) -> None:
    await interaction.client.cmd_renders(interaction)


@app_commands.command(name="link", description="Link this Discord account to a renderbot account")
@app_commands.describe(code="The link code (renderbot accounts link-code ACCOUNT)")
async def link_command(interaction: discord.Interaction, code: str) -> None:
    await interaction.client.cmd_link(interaction, code)


COMMANDS = (render_command, credits_command, renders_command, link_command)


async def run(settings: Settings) -> None:
    """Connect to the gateway and serve until the connection is closed."""
    if settings.discord_token is None:
        raise ValueError("RENDERBOT_DISCORD_TOKEN is not set")
    endpoints.apply(settings)
    bot = RenderBot(settings)
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())
