"""Progress wording shared by every chat platform: pure functions, JobRead in, text out.

Platform builders (``bots/discord/messages.py``, later ``bots/slack/blocks.py``) add their
own emphasis and components around these plain-text pieces, so Discord and Slack say the
same thing in the same words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.schemas import JobRead, QuoteRead, SettingsModel

BAR_CELLS = 20
FULL, EMPTY = "█", "░"

# status -> (emoji, headline)
HEADLINES = {
    "queued": ("⏳", "Queued"),
    "processing": ("🎬", "Rendering"),
    "cancelling": ("🛑", "Cancelling"),
    "completed": ("✅", "Done"),
    "failed": ("❌", "Failed"),
    "cancelled": ("🚫", "Cancelled"),
}


def clamp_progress(progress: int | float | None) -> int:
    if progress is None:
        return 0
    return max(0, min(100, int(progress)))


def bar(progress: int | float | None, cells: int = BAR_CELLS) -> str:
    """``██████░░░░░░░░░░░░░░`` for 30 %: filled cells rounded down, never full below 100."""
    value = clamp_progress(progress)
    filled = value * cells // 100
    return FULL * filled + EMPTY * (cells - filled)


def percent(progress: int | float | None) -> str:
    return f"{clamp_progress(progress)}%"


def eta(seconds: float | None) -> str | None:
    """``about 40 s left``; None when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    if seconds < 10:
        return "a few seconds left"
    if seconds < 60:
        return f"about {int(round(seconds / 5) * 5)} s left"
    if seconds < 3600:
        minutes = max(1, round(seconds / 60))
        return f"about {minutes} min left"
    hours = seconds / 3600
    return f"about {hours:.1f} h left".replace(".0 h", " h")


def queue_position(position: int | None) -> str | None:
    """``next in the queue`` / ``position 3 in the queue``; None when not queued."""
    if position is None or position < 1:
        return None
    if position == 1:
        return "next in the queue"
    return f"position {position} in the queue"


def credits(amount: int) -> str:
    return f"{amount} credit" if abs(amount) == 1 else f"{amount} credits"


def settings_summary(settings: SettingsModel | dict) -> str:
    """``1280×720 · 30 fps · 10 s · high · glow, grain`` (`` · webm``, `` · draft`` when so)."""
    s = settings if isinstance(settings, SettingsModel) else SettingsModel.model_validate(settings)
    width, height = s.resolution
    fx = ", ".join(s.effects) if s.effects else "no effects"
    extra = ("" if s.format == "mp4" else f" · {s.format}") + (" · draft" if s.draft else "")
    return f"{width}×{height} · {s.frame_rate} fps · {s.duration:g} s · {s.quality} · {fx}{extra}"


def state_key(job: JobRead) -> str:
    """The state a message shows: the job status, or ``cancelling`` while a cancel is pending."""
    if job.status == "processing" and job.cancel_requested:
        return "cancelling"
    return job.status


def headline(job: JobRead) -> tuple[str, str]:
    return HEADLINES[state_key(job)]


def refund_text(job: JobRead) -> str | None:
    """Failed and cancelled jobs are refunded in full by core (exactly once)."""
    if job.status in ("failed", "cancelled") and job.credit_cost > 0:
        return f"Refunded {credits(job.credit_cost)}."
    return None


def failure_text(job: JobRead) -> str:
    reason = (job.error or "the render did not finish").strip().rstrip(".")
    text = f"The render failed: {reason}."
    refund = refund_text(job)
    return f"{text} {refund}" if refund else text


def completion_text(job: JobRead) -> str:
    return "Your video is ready."


def cancelled_text(job: JobRead) -> str:
    refund = refund_text(job)
    return f"The render was cancelled. {refund}" if refund else "The render was cancelled."


@dataclass(frozen=True)
class StatusLine:
    """The pieces of one status message, for a platform builder to lay out."""

    key: str  # queued | processing | cancelling | completed | failed | cancelled
    emoji: str
    headline: str
    bar: str | None
    percent: str | None
    detail: str | None  # ETA, queue position, failure reason, completion note
    terminal: bool

    def progress_line(self) -> str | None:
        """``██████░░░░ 30% · about 40 s left`` (None for terminal states without a bar)."""
        if self.bar is None:
            return self.detail
        parts = [f"{self.bar} {self.percent}"]
        if self.detail:
            parts.append(self.detail)
        return " · ".join(parts)


def status(job: JobRead) -> StatusLine:
    key = state_key(job)
    emoji, title = HEADLINES[key]
    if key == "queued":
        return StatusLine(key, emoji, title, bar(0), percent(0),
                          queue_position(job.queue_position) or "waiting for a renderer", False)
    if key in ("processing", "cancelling"):
        detail = eta(job.eta_seconds) if key == "processing" else "stopping the render"
        if key == "processing" and detail is None and job.queue_position:
            detail = queue_position(job.queue_position)
        return StatusLine(key, emoji, title, bar(job.progress), percent(job.progress), detail, False)
    if key == "completed":
        return StatusLine(key, emoji, title, bar(100), percent(100), completion_text(job), True)
    if key == "failed":
        return StatusLine(key, emoji, title, None, None, failure_text(job), True)
    return StatusLine(key, emoji, title, None, None, cancelled_text(job), True)


def status_text(job: JobRead, title: str | None = None) -> str:
    """Plain text of a status message: ``🎬 Rendering — Teaser`` + the progress line."""
    line = status(job)
    head = f"{line.emoji} {line.headline}" + (f" — {title}" if title else "")
    body = line.progress_line()
    return f"{head}\n{body}" if body else head


def insufficient_text(cost: int, balance: int) -> str:
    missing = cost - balance
    return (
        f"This render costs {credits(cost)}; you have {balance} ({missing} missing). "
        "Ask an admin for credits or link your account with /link."
    )


def quote_text(quote: QuoteRead) -> str:
    """``Cost: 3 credits · balance 10 → 7 after``."""
    return (
        f"Cost: {credits(quote.credit_cost)} · balance {quote.balance} → "
        f"{quote.balance_after} after"
    )


def batch_rank(jobs: list[JobRead]) -> tuple:
    """Orders snapshots of a batch's ONE message: each variant's rank only grows, so the
    element-wise sums do too (an equal state sum means every variant kept its state)."""
    from core.notify import state_rank

    ranks = [state_rank(j) for j in jobs]
    return tuple(sum(r[i] for r in ranks) for i in range(len(ranks[0]))) if ranks else ()
