"""discord.py views for the ephemeral /render conversation: pure builders (no I/O).

Every item is a :class:`RenderbotItem` (a ``DynamicItem``): the state is in the custom_id
(``bots/discord/custom_ids.py``), so the bot keeps nothing in memory between clicks and
the buttons keep working after a restart.
"""

from __future__ import annotations

import discord

from bots.discord import custom_ids
from bots.discord.custom_ids import FormState
from core.batches import ASPECTS
from core.schemas import ProjectRead

QUALITY_LABELS = {
    "high": ("High", "best picture, larger file"),
    "medium": ("Medium", "balanced"),
    "low": ("Low", "smallest file, cheapest"),
}


class RenderbotItem(discord.ui.DynamicItem[discord.ui.Item], template=custom_ids.TEMPLATE):
    """Any renderbot button or select; the click goes to ``client.on_component``."""

    def __init__(self, item: discord.ui.Item) -> None:
        super().__init__(item)

    @classmethod
    async def from_custom_id(cls, interaction, item, match, /):  # noqa: D102
        return cls(item)

    async def callback(self, interaction: discord.Interaction) -> None:
        values = list(getattr(self.item, "values", []) or [])
        await interaction.client.on_component(interaction, self.item.custom_id, values)


def _view(*items: discord.ui.Item) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def picker_view(projects: list[ProjectRead]) -> discord.ui.View:
    options = [
        discord.SelectOption(label=p.name[:100], value=p.id, description=f"project {p.id}"[:100])
        for p in projects[:25]
    ]
    select = discord.ui.Select(
        custom_id=custom_ids.pick(), placeholder="Choose a project", options=options, row=0
    )
    return _view(RenderbotItem(select), _stop_button(row=1))


def form_view(
    state: FormState,
    *,
    presets: dict[str, tuple[int, int]],
    frame_rates: list[int],
    effects: list[str],
) -> discord.ui.View:
    size_options = [
        discord.SelectOption(
            label=f"{name} ({w}×{h})"[:100], value=f"{w}x{h}",
            default=(w, h) == (state.width, state.height),
        )
        for name, (w, h) in list(presets.items())[:25]
    ]
    if not any(o.default for o in size_options):
        size_options.insert(0, discord.SelectOption(
            label=f"{state.width}×{state.height}", value=f"{state.width}x{state.height}",
            default=True,
        ))
        size_options = size_options[:25]
    fps_options = [
        discord.SelectOption(label=f"{fps} fps", value=str(fps), default=fps == state.frame_rate)
        for fps in frame_rates[:25]
    ]
    quality_options = [
        discord.SelectOption(label=label, value=q, description=hint, default=q == state.quality)
        for q, (label, hint) in QUALITY_LABELS.items()
    ]
    effect_options = [
        discord.SelectOption(label=name.capitalize(), value=name, default=name in state.effects)
        for name in effects[:25]
    ]
    items: list[discord.ui.Item] = [
        RenderbotItem(discord.ui.Select(
            custom_id=custom_ids.set_("size", state, effects), placeholder="Size",
            options=size_options, row=0,
        )),
        RenderbotItem(discord.ui.Select(
            custom_id=custom_ids.set_("fps", state, effects), placeholder="Frame rate",
            options=fps_options, row=1,
        )),
        RenderbotItem(discord.ui.Select(
            custom_id=custom_ids.set_("q", state, effects), placeholder="Quality",
            options=quality_options, row=2,
        )),
    ]
    if effect_options:
        items.append(RenderbotItem(discord.ui.Select(
            custom_id=custom_ids.set_("fx", state, effects), placeholder="Effects (optional)",
            options=effect_options, min_values=0, max_values=len(effect_options), row=3,
        )))
    items.append(RenderbotItem(discord.ui.Button(
        custom_id=custom_ids.duration(state, effects), label="Duration & quote…",
        style=discord.ButtonStyle.primary, row=4,
    )))
    items.append(_stop_button(row=4))
    return _view(*items)


FORMAT_LABELS = {"mp4": "MP4 (H.264)", "webm": "WebM (VP9)", "gif": "GIF (≤ 15 s, ≤ 720 px)"}


def quote_view(state: FormState, seconds: float, *, effects: list[str], ok: bool,
               draft_price: int | None = None) -> discord.ui.View:
    """The quote: Format (mp4 | webm | gif) and Formats (aspects: 2-3 = one batch) re-quote
    in place; Confirm submits what is shown, Draft (with its price) a draft of it. (The
    form's 5 rows are full: these live here.)"""
    format_options = [discord.SelectOption(label=label, value=f, default=f == state.format)
                      for f, label in FORMAT_LABELS.items()]
    aspect_options = [discord.SelectOption(label=f"{a} ({w}×{h})", value=a,
                                           default=a in state.aspects)
                      for a, (w, h) in ASPECTS.items()]
    items: list[discord.ui.Item] = [
        RenderbotItem(discord.ui.Select(
            custom_id=custom_ids.requote("fmt", state, seconds, effects), placeholder="Format",
            options=format_options, row=0,
        )),
        RenderbotItem(discord.ui.Select(
            custom_id=custom_ids.requote("asp", state, seconds, effects),
            placeholder="Formats: pick 2-3 aspects for one batch (optional)",
            options=aspect_options, min_values=0, max_values=len(aspect_options), row=1,
        )),
    ]
    if ok:
        items.append(RenderbotItem(discord.ui.Button(
            custom_id=custom_ids.confirm(state, seconds, effects), label="Confirm",
            style=discord.ButtonStyle.success, row=2,
        )))
    if ok and draft_price is not None:
        items.append(RenderbotItem(discord.ui.Button(
            custom_id=custom_ids.draft(state, seconds, effects),
            label=f"Draft · {draft_price} credit{'' if draft_price == 1 else 's'}",
            style=discord.ButtonStyle.primary, row=2,
        )))
    items.append(_stop_button(row=2))
    return _view(*items)


def _stop_button(*, row: int) -> RenderbotItem:
    return RenderbotItem(discord.ui.Button(
        custom_id=custom_ids.stop(), label="Cancel", style=discord.ButtonStyle.secondary, row=row,
    ))


class DurationModal(discord.ui.Modal):
    """Asks for the duration; the form state rides in the modal's custom_id."""

    def __init__(self, state: FormState, *, effects: list[str], default: str = "10",
                 limits: tuple[float, float] = (1, 600)) -> None:
        super().__init__(title="Render duration", custom_id=custom_ids.modal(state, effects),
                         timeout=15 * 60)
        self.state = state
        self.duration = discord.ui.TextInput(
            custom_id="duration", default=default, placeholder="e.g. 10", max_length=8
        )
        self.add_item(discord.ui.Label(
            text=f"Duration in seconds ({limits[0]:g}–{limits[1]:g})", component=self.duration
        ))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.client.on_duration(interaction, self.state, self.duration.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await interaction.client.report_error(interaction, error)
