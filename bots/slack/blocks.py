"""Slack Block Kit payloads: pure functions, schemas in, JSON out (no I/O).

The wording comes from :mod:`bots.progress` (shared with Discord); only the layout is
Slack's. Flow state rides in a view's ``private_metadata`` (small JSON of ids and the
picked settings) and in button values (a job id), so nothing lives in the app's memory.

    /render → form modal (callback ``render_form``) → quote modal (``render_quote``,
    submit = Confirm, a Back button) → "submitted" modal; status message in the channel.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from bots import progress
from core.batches import ASPECTS, BatchQuoteRead
from core.schemas import JobRead, ProjectRead, QuoteRead

FORM, QUOTE = "render_form", "render_quote"
BACK, CANCEL, DOWNLOAD = "render_back", "render_cancel", "render_download"
B_PROJECT, B_SIZE, B_FPS, B_DURATION, B_QUALITY, B_EFFECTS = (
    "project", "size", "fps", "duration", "quality", "effects",
)
B_FORMAT = "format"  # issue 18: mp4 | webm | gif
B_ASPECTS = "aspects"  # issue 18: the "Formats" multi-select (2-4 aspects → one batch)
FORMAT_LABELS = {"mp4": "MP4 (H.264)", "webm": "WebM (VP9)", "gif": "GIF (≤ 15 s, ≤ 720 px)"}
# a core InvalidSettings field -> the block that shows the error
FIELD_BLOCKS = {
    "project": B_PROJECT, "project_id": B_PROJECT, "resolution": B_SIZE,
    "frame_rate": B_FPS, "duration": B_DURATION, "quality": B_QUALITY, "effects": B_EFFECTS,
    "format": B_FORMAT,
}
QUALITY_LABELS = {"high": "High", "medium": "Medium", "low": "Low (fastest)"}
MAX_TEXT = 3000  # section text
MAX_OPTION = 75  # option / button text
MAX_URL = 3000


def escape(text: str) -> str:
    """Slack's three control characters (``&``, ``<``, ``>``) in any ``text`` or mrkdwn built
    from user data (project names, notes, error messages): the one helper for all of them.
    Slack shows ``&amp;`` as ``&``; unescaped, ``<teaser>`` could be read as a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def _plain(text: str, limit: int = MAX_OPTION) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": True}


def _md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _md(text)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_md(text)]}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the form ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormValues:
    """What the form shows (initial values) or what the user picked."""

    project_id: str | None = None
    project_name: str | None = None
    size: str = "1920x1080"  # "WxH"
    frame_rate: int = 30
    duration: str = "10"
    quality: str = "high"
    effects: tuple[str, ...] = field(default_factory=tuple)
    format: str = "mp4"
    aspects: tuple[str, ...] = field(default_factory=tuple)

    @property
    def resolution(self) -> list[int]:
        width, height = self.size.lower().split("x")
        return [int(width), int(height)]

    def render_settings(self, duration: float) -> dict[str, Any]:
        return {"resolution": self.resolution, "frame_rate": self.frame_rate,
                "duration": duration, "quality": self.quality, "effects": list(self.effects),
                "format": self.format}

    def compact(self) -> dict[str, Any]:
        data = asdict(self)
        data["effects"] = list(self.effects)
        data["aspects"] = list(self.aspects)
        return data

    @classmethod
    def from_compact(cls, data: dict[str, Any]) -> FormValues:
        data = dict(data)
        data["effects"] = tuple(data.get("effects") or ())
        data["aspects"] = tuple(data.get("aspects") or ())
        return cls(**data)


def size_value(size: tuple[int, int] | list[int]) -> str:
    return f"{size[0]}x{size[1]}"


def size_label(name: str, size: tuple[int, int] | list[int]) -> str:
    dims = f"{size[0]}×{size[1]}"
    return name if dims in name else f"{name} ({dims})"


def project_option(project: ProjectRead) -> dict[str, Any]:
    return _option(project.name, project.id)


def project_options(projects: list[ProjectRead]) -> list[dict[str, Any]]:
    """The answer to a type-ahead search (``block_suggestion``): at most 100 options."""
    return [project_option(p) for p in projects[:100]]


def form_view(
    *, channel_id: str, values: FormValues, presets: dict[str, tuple[int, int]],
    frame_rates: list[int], effects: list[str], qualities: tuple[str, ...],
    projects: list[ProjectRead] | None, duration_hint: str,
) -> dict[str, Any]:
    """The /render modal. ``projects`` None = too many to list: type-ahead search instead."""
    project_el: dict[str, Any]
    initial = (_option(values.project_name or values.project_id, values.project_id)
               if values.project_id else None)
    if projects is None:
        project_el = {"type": "external_select", "min_query_length": 0,
                      "placeholder": _plain("Start typing a project name")}
    else:
        options = [project_option(p) for p in projects[:100]]
        project_el = {"type": "static_select", "options": options,
                      "placeholder": _plain("Pick a project")}
        if initial is not None:
            initial = next((o for o in options if o["value"] == values.project_id), None)
    if initial is not None:
        project_el["initial_option"] = initial

    size_options = [_option(size_label(name, size), size_value(size))
                    for name, size in presets.items()]
    if not any(o["value"] == values.size for o in size_options):
        size_options.append(_option(values.size.replace("x", "×"), values.size))
    fps_options = [_option(f"{rate} fps", str(rate)) for rate in frame_rates]
    quality_options = [_option(QUALITY_LABELS.get(q, q), q) for q in qualities]
    format_options = [_option(label, value) for value, label in FORMAT_LABELS.items()]
    aspect_options = [_option(f"{a} ({w}×{h})", a) for a, (w, h) in ASPECTS.items()]
    effect_options = [_option(name, name) for name in effects[:10]]

    def pick(options, value):
        return next((o for o in options if o["value"] == value), options[0])

    blocks = [
        _input(B_PROJECT, "Project", project_el),
        _input(B_SIZE, "Size", {
            "type": "static_select", "options": size_options,
            "initial_option": pick(size_options, values.size)}),
        _input(B_FPS, "Frame rate", {
            "type": "static_select", "options": fps_options,
            "initial_option": pick(fps_options, str(values.frame_rate))}),
        _input(B_DURATION, "Duration (seconds)", {
            "type": "plain_text_input", "initial_value": values.duration,
            "placeholder": _plain("e.g. 10 or 1:30")}, hint=duration_hint),
        _input(B_QUALITY, "Quality", {
            "type": "radio_buttons", "options": quality_options,
            "initial_option": pick(quality_options, values.quality)}),
        _input(B_FORMAT, "Format", {
            "type": "static_select", "options": format_options,
            "initial_option": pick(format_options, values.format)}),
    ]
    multi: dict[str, Any] = {"type": "multi_static_select", "options": aspect_options,
                             "max_selected_items": len(aspect_options),
                             "placeholder": _plain("One size (above)")}
    chosen_aspects = [o for o in aspect_options if o["value"] in values.aspects]
    if chosen_aspects:
        multi["initial_options"] = chosen_aspects
    blocks.append(_input(B_ASPECTS, "Formats (2-3 aspects: one batch, one debit)", multi,
                         optional=True, hint="Pick two or more to render every aspect at once; "
                         "they replace the size above."))
    if effect_options:
        checkboxes: dict[str, Any] = {"type": "checkboxes", "options": effect_options}
        chosen = [o for o in effect_options if o["value"] in values.effects]
        if chosen:
            checkboxes["initial_options"] = chosen
        blocks.append(_input(B_EFFECTS, "Effects", checkboxes, optional=True))
    return {
        "type": "modal", "callback_id": FORM,
        "title": _plain("Render a video", 24), "submit": _plain("Get a quote"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"c": channel_id}, separators=(",", ":")),
        "blocks": blocks,
    }


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    element = {**element, "action_id": block_id}  # action ids = block ids ("project", ...)
    block = {"type": "input", "block_id": block_id, "label": _plain(label, 2000),
             "element": element, "optional": optional}
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def read_form(state_values: dict[str, Any]) -> FormValues:
    """A submitted form's ``view.state.values`` → :class:`FormValues` (not validated)."""

    def element(block_id: str) -> dict[str, Any]:
        return (state_values.get(block_id) or {}).get(block_id) or {}

    def selected(block_id: str) -> dict[str, Any] | None:
        return element(block_id).get("selected_option")

    project = selected(B_PROJECT)
    size = selected(B_SIZE)
    fps = selected(B_FPS)
    quality = selected(B_QUALITY)
    fmt = selected(B_FORMAT)
    effects = element(B_EFFECTS).get("selected_options") or []
    aspects = element(B_ASPECTS).get("selected_options") or []
    defaults = FormValues()
    return FormValues(
        project_id=project["value"] if project else None,
        project_name=project["text"]["text"] if project else None,
        size=size["value"] if size else defaults.size,
        frame_rate=int(fps["value"]) if fps else defaults.frame_rate,
        duration=(element(B_DURATION).get("value") or "").strip(),
        quality=quality["value"] if quality else defaults.quality,
        effects=tuple(o["value"] for o in effects),
        format=fmt["value"] if fmt else defaults.format,
        aspects=tuple(o["value"] for o in aspects if o["value"] in ASPECTS),
    )


def field_errors(field_name: str, message: str) -> dict[str, str]:
    """``response_action: errors`` for the block of a core field (``project`` if unknown)."""
    return {FIELD_BLOCKS.get(field_name, B_PROJECT): _cut(message, 150)}


# --- the quote -----------------------------------------------------------------------------


def quote_metadata(*, channel_id: str, values: FormValues, render_settings: dict[str, Any],
                   variants: list | None = None) -> str:
    data = {"c": channel_id, "f": values.compact(), "s": render_settings}
    if variants:
        data["v"] = variants
    return json.dumps(data, separators=(",", ":"))


def quote_view(
    *, project_name: str, quote: QuoteRead, metadata: str, problem: str | None = None,
    preview: dict[str, Any] | None = None, draft: QuoteRead | None = None,
) -> dict[str, Any]:
    """Cost and balance after, with Confirm (the modal's submit) and Back; without Confirm
    when there is a ``problem`` (e.g. too few credits). A batch quote lists each variant.
    ``preview``: the preview's image block (or its pending / unavailable line); ``draft``:
    the draft's quote, offered as a Draft button when affordable (bots/slack/followup_blocks.py)."""
    from bots.slack import followup_blocks as fb
    summary = progress.settings_summary(quote.settings)
    if isinstance(quote, BatchQuoteRead):
        summary = summary.split(" · ", 1)[1] + "".join(
            f"\n• {v.resolution[0]}×{v.resolution[1]}: {progress.credits(v.credit_cost)}"
            for v in quote.variants)
    nav = [{"type": "button", "action_id": BACK, "text": _plain("◀ Back"), "value": "back"}]
    blocks = [_section(f"*{escape(project_name)}*\n{summary}")]
    if preview is not None:
        blocks.append(preview)
    blocks.append(_section(f"*{progress.quote_text(quote)}*" if problem is None else problem))
    if draft is not None and draft.balance_after >= 0:
        blocks.append(fb.draft_line(draft))
        nav.insert(0, fb.draft_button(draft))
    blocks.append({"type": "actions", "block_id": "nav", "elements": nav})
    view: dict[str, Any] = {
        "type": "modal", "callback_id": QUOTE, "title": _plain("Confirm render", 24),
        "close": _plain("Cancel"), "private_metadata": metadata, "blocks": blocks,
    }
    if problem is None:
        view["submit"] = _plain("Confirm")
    return view


def insufficient_text(cost: int, balance: int) -> str:
    """Too few credits: how many are missing and how to get more (nothing is charged)."""
    missing = cost - balance
    return (
        f":warning: This render costs {progress.credits(cost)}; you have {balance} "
        f"(*{missing} missing*). Nothing was charged.\nAsk an admin for credits, or link an "
        "account that has credits with `/render link CODE` (`renderbot accounts link-code "
        "ACCOUNT`, or `/link` on Discord)."
    )


def problem_view(text: str, *, title: str = "Render") -> dict[str, Any]:
    """A modal that only says something (an error, or that nothing can be done)."""
    return {"type": "modal", "title": _plain(title, 24), "close": _plain("Close"),
            "blocks": [_section(text)]}


def submitted_view(job: JobRead, *, created: bool) -> dict[str, Any]:
    if created:
        text = (f":white_check_mark: Submitted — {progress.credits(job.credit_cost)} charged.\n"
                "I'll post the progress in the channel (or in a DM if I can't post there).")
    else:
        text = already_submitted_text(job)
    return {"type": "modal", "title": _plain("Render submitted", 24), "close": _plain("Close"),
            "blocks": [_section(text), _context(f"job `{job.id}`")]}


def already_submitted_text(job: JobRead) -> str:
    return f"This quote was already confirmed (job `{job.id}`, {job.status}). Nothing more was charged."


# --- the status message --------------------------------------------------------------------


def status_message(job: JobRead) -> dict[str, Any]:
    """``text`` (notification fallback) and ``blocks`` of a job's status message; once
    completed, the poster and the follow-up buttons (bots/slack/followup_blocks.py)."""
    from bots.slack import followup_blocks as fb
    origin = job.origin or {}
    user_id = origin.get("user_id")
    title = origin.get("title")
    line = progress.status(job)
    head = f"{line.emoji} *{line.headline}*" + (f" — {escape(title)}" if title else "")
    blocks: list[dict[str, Any]] = [_section(head)]
    if line.bar is not None:
        detail = f" · {escape(line.detail)}" if line.detail and line.key != "completed" else ""
        blocks.append(_section(f"`{line.bar}` {line.percent}{detail}"))
    final = None
    if line.terminal:
        who = f"{mention(user_id)} " if user_id and job.status != "cancelled" else ""
        final = f"{who}{escape(line.detail or '')}"
        blocks.append(_section(final))
    charged = (f"{progress.credits(job.credit_cost)} charged" if job.status == "completed"
               else progress.credits(job.credit_cost))
    blocks.append(_context(f"{progress.settings_summary(job.settings)} · {charged} · job `{job.id}`"))
    url = job.result_url if job.status == "completed" else None
    if not line.terminal and line.key != "cancelling":
        blocks.append({"type": "actions", "block_id": "status", "elements": [{
            "type": "button", "action_id": CANCEL, "text": _plain("Cancel"), "style": "danger",
            "value": job.id,
            "confirm": {"title": _plain("Cancel this render?", 100),
                        "text": _md("The render stops and the credits are refunded."),
                        "confirm": _plain("Cancel render"), "deny": _plain("Keep rendering")},
        }]})
    else:
        shown = fb.poster(job)
        if shown is not None:
            blocks.insert(1, shown)
        buttons = fb.followup_buttons(job)
        if url and len(url) <= MAX_URL:
            buttons.insert(0, {"type": "button", "action_id": DOWNLOAD,
                               "text": _plain("Download video"), "style": "primary",
                               "url": url, "value": job.id})
        elif url:  # longer than a button (and a section) may hold: never for our /d/ links
            blocks.append(_context(f"The download link is too long for Slack; get it from "
                                   f"`GET /v1/renders/{job.id}` (`result_url`)."))
        if buttons:
            blocks.append({"type": "actions", "block_id": "status", "elements": buttons})
    text = escape(progress.status_text(job, title))  # the title and an error are user data
    if final:
        text = f"{text.splitlines()[0]} — {final}"
    return {"text": _cut(text, MAX_TEXT), "blocks": blocks}


def ping_text(job: JobRead) -> str | None:
    """A thread reply that notifies the user (edits don't): completion (with the link, so
    it is there even while the status message waits for the workspace's update budget)
    or failure."""
    origin = job.origin or {}
    user_id = origin.get("user_id")
    if not user_id or job.status not in ("completed", "failed"):
        return None
    title = escape(origin.get("title") or "your project")
    if job.status == "completed":
        url = job.result_url
        link = f": <{url}|download the video>" if url and len(url) <= MAX_URL - 200 else "."
        return f"{mention(user_id)} your render of *{title}* is ready{link}"
    refund = progress.refund_text(job)
    return f"{mention(user_id)} your render of *{title}* failed." + (f" {refund}" if refund else "")
