"""Component custom_ids: the flow state rides in them (small, ids only), so every button
and select works without memory in the bot — after a restart too.

    rb:pick                         project select
    rb:set:<field>:<state>          a settings select (size | fps | q | fx)
    rb:dur:<state>                  "Duration & quote…" button (opens the modal)
    rb:stop                         dismiss a form or quote (nothing charged)
    rb:ok:<state>:<duration>        confirm a quote
    rb:cancel:<job id>              cancel button on a status message
    rb:re:<field>:<state>:<duration> a quote's Format / Formats select (fmt | asp): re-quote
    rb:bcancel:<batch id>           "Cancel all" on a batch's status message
    rb:draft:<state>:<duration>     the quote's Draft button (a draft of what is quoted)
    rb:again:<job id>               "Render again" on a finished message (a new quote)
    rb:full:<job id>                "Full quality" on a finished draft (a new quote)
    rb:var:<aspect code>:<job id>   "Vertical 9:16" / "Square 1:1" (916 | 11; a new quote)

``<state>`` = ``<project id>:<W>x<H>:<fps>:<q>:<effects bitmask>[:<f><aspects mask>]``
(q = h|m|l; the effects mask indexes ``settings.limits.effects``; f = m|w|g for mp4, webm,
gif; the aspects mask indexes core's batch aspects 16:9, 9:16, 1:1; without the sixth
part, as before formats: mp4, one size). Discord allows 100 characters; we stay near 65.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from core.batches import ASPECTS

PREFIX = "rb"
TEMPLATE = (r"rb:(?P<action>pick|set|dur|stop|ok|cancel|bcancel|re|draft|again|full|var)"
            r"(?::(?P<arg>[^\s]+))?")
MAX_LEN = 100
_Q = {"high": "h", "medium": "m", "low": "l"}
_Q_BACK = {v: k for k, v in _Q.items()}
_F = {"mp4": "m", "webm": "w", "gif": "g"}
_F_BACK = {v: k for k, v in _F.items()}
ASPECT_NAMES = list(ASPECTS)
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
VARIANTS = {"916": "9:16", "11": "1:1"}  # follow-up aspect variants by their code
VARIANT_LABELS = {"9:16": "Vertical 9:16", "1:1": "Square 1:1"}


class BadCustomId(ValueError):
    pass


@dataclass(frozen=True)
class FormState:
    project_id: str
    width: int = 1920
    height: int = 1080
    frame_rate: int = 30
    quality: str = "high"
    effects: tuple[str, ...] = ()
    format: str = "mp4"
    aspects: tuple[str, ...] = ()  # 2-3 aspects: a batch (one debit), else one job

    def encode(self, effect_names: list[str]) -> str:
        mask = 0
        for name in self.effects:
            if name in effect_names:
                mask |= 1 << effect_names.index(name)
        text = (
            f"{self.project_id}:{self.width}x{self.height}:{self.frame_rate}:"
            f"{_Q[self.quality]}:{mask}"
        )
        if self.format == "mp4" and not self.aspects:
            return text  # as before formats: mp4, one size
        return f"{text}:{_F[self.format]}{_aspect_mask(self.aspects)}"

    @classmethod
    def decode(cls, text: str, effect_names: list[str]) -> FormState:
        try:
            parts = text.split(":")
            fmt = parts.pop() if len(parts) == 6 else "m0"
            project_id, size, fps, quality, mask = parts
            width, height = (int(v) for v in size.split("x"))
            bits, aspect_bits = int(mask), int(fmt[1:])
            if (not _ID.match(project_id) or quality not in _Q_BACK or bits < 0
                    or fmt[:1] not in _F_BACK or aspect_bits < 0):
                raise ValueError(text)
            chosen = tuple(n for i, n in enumerate(effect_names) if bits >> i & 1)
            aspects = tuple(n for i, n in enumerate(ASPECT_NAMES) if aspect_bits >> i & 1)
            return cls(project_id, width, height, int(fps), _Q_BACK[quality], chosen,
                       _F_BACK[fmt[:1]], aspects)
        except ValueError:
            raise BadCustomId(text) from None

    def with_(self, **changes: Any) -> FormState:
        return replace(self, **changes)

    def render_settings(self, duration: float) -> dict[str, Any]:
        return {
            "resolution": self.size, "frame_rate": self.frame_rate,
            "duration": duration, "quality": self.quality, "effects": list(self.effects),
            "format": self.format,
        }

    @property
    def variants(self) -> list[list[int]]:
        """The batch's sizes (empty below two aspects: one job at :attr:`size`)."""
        return [list(ASPECTS[a]) for a in self.aspects] if len(self.aspects) >= 2 else []

    @property
    def size(self) -> list[int]:
        """One aspect picked: that size; else the size select's."""
        if len(self.aspects) == 1:
            return list(ASPECTS[self.aspects[0]])
        return [self.width, self.height]


def _aspect_mask(aspects: tuple[str, ...]) -> int:
    return sum(1 << ASPECT_NAMES.index(a) for a in aspects if a in ASPECT_NAMES)


def _checked(custom_id: str) -> str:
    if len(custom_id) > MAX_LEN:
        raise BadCustomId(f"custom_id longer than {MAX_LEN}: {custom_id}")
    return custom_id


def pick() -> str:
    return "rb:pick"


def set_(field: str, state: FormState, effect_names: list[str]) -> str:
    return _checked(f"rb:set:{field}:{state.encode(effect_names)}")


def duration(state: FormState, effect_names: list[str]) -> str:
    return _checked(f"rb:dur:{state.encode(effect_names)}")


def stop() -> str:
    return "rb:stop"


def confirm(state: FormState, seconds: float, effect_names: list[str]) -> str:
    return _checked(f"rb:ok:{state.encode(effect_names)}:{seconds:g}")


def cancel(job_id: str) -> str:
    return _checked(f"rb:cancel:{job_id}")


def requote(field: str, state: FormState, seconds: float, effect_names: list[str]) -> str:
    return _checked(f"rb:re:{field}:{state.encode(effect_names)}:{seconds:g}")


def draft(state: FormState, seconds: float, effect_names: list[str]) -> str:
    return _checked(f"rb:draft:{state.encode(effect_names)}:{seconds:g}")


def again(job_id: str) -> str:
    return _checked(f"rb:again:{job_id}")


def full(job_id: str) -> str:
    return _checked(f"rb:full:{job_id}")


def variant(aspect: str, job_id: str) -> str:
    code = next(c for c, a in VARIANTS.items() if a == aspect)
    return _checked(f"rb:var:{code}:{job_id}")


def cancel_batch(batch_id: str) -> str:
    return _checked(f"rb:bcancel:{batch_id}")


def modal(state: FormState, effect_names: list[str]) -> str:
    return _checked(f"rb:modal:{state.encode(effect_names)}")


@dataclass(frozen=True)
class Parsed:
    action: str
    field: str | None = None
    state: FormState | None = None
    duration: float | None = None
    job_id: str | None = None
    batch_id: str | None = None
    aspect: str | None = None


def parse(custom_id: str, effect_names: list[str]) -> Parsed:
    match = re.fullmatch(TEMPLATE, custom_id)
    if match is None:
        raise BadCustomId(custom_id)
    action, arg = match["action"], match["arg"] or ""
    if action in ("pick", "stop"):
        return Parsed(action)
    if action == "cancel":
        if not _ID.match(arg):
            raise BadCustomId(custom_id)
        return Parsed(action, job_id=arg)
    if action in ("again", "full"):
        if not _ID.match(arg):
            raise BadCustomId(custom_id)
        return Parsed(action, job_id=arg)
    if action == "var":
        code, _, job_id = arg.partition(":")
        if code not in VARIANTS or not _ID.match(job_id):
            raise BadCustomId(custom_id)
        return Parsed(action, job_id=job_id, aspect=VARIANTS[code])
    if action == "bcancel":
        if not _ID.match(arg):
            raise BadCustomId(custom_id)
        return Parsed(action, batch_id=arg)
    if action == "set":
        field, _, rest = arg.partition(":")
        if field not in ("size", "fps", "q", "fx"):
            raise BadCustomId(custom_id)
        return Parsed(action, field=field, state=FormState.decode(rest, effect_names))
    if action == "dur":
        return Parsed(action, state=FormState.decode(arg, effect_names))
    field = None
    if action == "re":
        field, _, arg = arg.partition(":")
        if field not in ("fmt", "asp"):
            raise BadCustomId(custom_id)
    # ok / draft / re: <state>:<duration>
    rest, _, seconds = arg.rpartition(":")
    try:
        value = float(seconds)
    except ValueError:
        raise BadCustomId(custom_id) from None
    return Parsed(action, field=field, state=FormState.decode(rest, effect_names), duration=value)


def parse_modal(custom_id: str, effect_names: list[str]) -> FormState:
    if not custom_id.startswith("rb:modal:"):
        raise BadCustomId(custom_id)
    return FormState.decode(custom_id.removeprefix("rb:modal:"), effect_names)
