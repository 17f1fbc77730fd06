"""The shared progress wording (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bots import progress
from core.schemas import JobRead, QuoteRead

SETTINGS = {"resolution": [1280, 720], "frame_rate": 30, "duration": 12, "quality": "high",
            "effects": ["grain", "glow"]}


def job(**changes) -> JobRead:
    values = dict(
        id="job_1", status="processing", progress=40, project_id="prj_1", account_id="acc_1",
        settings=SETTINGS, credit_cost=12, created_at=datetime(2026, 1, 1, tzinfo=UTC),
        backend="local",
    )
    values.update(changes)
    return JobRead(**values)


@pytest.mark.parametrize(("value", "expected"), [
    (0, "░" * 20), (4, "░" * 20), (5, "█" + "░" * 19), (42, "█" * 8 + "░" * 12),
    (99, "█" * 19 + "░"), (100, "█" * 20), (130, "█" * 20), (-5, "░" * 20), (None, "░" * 20),
])
def test_bar_has_twenty_cells_and_is_full_only_at_100(value, expected):
    assert progress.bar(value) == expected
    assert len(progress.bar(value)) == progress.BAR_CELLS


def test_percent_is_clamped():
    assert [progress.percent(v) for v in (-1, 0, 42, 100, 101)] == ["0%", "0%", "42%", "100%",
                                                                     "100%"]


@pytest.mark.parametrize(("seconds", "expected"), [
    (None, None), (float("nan"), None), (-1, None), (0, "a few seconds left"),
    (9.9, "a few seconds left"), (38, "about 40 s left"), (42, "about 40 s left"),
    (59, "about 60 s left"), (60, "about 1 min left"), (150, "about 2 min left"),
    (3599, "about 60 min left"), (3600, "about 1 h left"), (5400, "about 1.5 h left"),
])
def test_eta_wording(seconds, expected):
    assert progress.eta(seconds) == expected


def test_queue_position_wording():
    assert progress.queue_position(None) is None
    assert progress.queue_position(0) is None
    assert progress.queue_position(1) == "next in the queue"
    assert progress.queue_position(3) == "position 3 in the queue"


def test_status_line_for_each_state():
    queued = progress.status(job(status="queued", progress=0, queue_position=3))
    assert (queued.key, queued.headline, queued.percent) == ("queued", "Queued", "0%")
    assert queued.detail == "position 3 in the queue" and not queued.terminal

    rendering = progress.status(job(progress=42, eta_seconds=41))
    assert rendering.progress_line() == f"{'█' * 8}{'░' * 12} 42% · about 40 s left"
    assert progress.status(job(progress=42)).progress_line() == f"{'█' * 8}{'░' * 12} 42%"

    cancelling = progress.status(job(cancel_requested=True))
    assert (cancelling.key, cancelling.headline) == ("cancelling", "Cancelling")

    done = progress.status(job(status="completed", progress=100))
    assert done.terminal and done.percent == "100%" and done.detail == "Your video is ready."

    failed = progress.status(job(status="failed", error="the composition threw: boom."))
    assert failed.terminal and failed.bar is None
    assert failed.detail == "The render failed: the composition threw: boom. Refunded 12 credits."

    cancelled = progress.status(job(status="cancelled", credit_cost=1))
    assert cancelled.detail == "The render was cancelled. Refunded 1 credit."


def test_failure_without_a_reason_still_says_what_happened():
    assert progress.failure_text(job(status="failed", error=None)) == (
        "The render failed: the render did not finish. Refunded 12 credits.")


def test_status_text_and_settings_summary():
    text = progress.status_text(job(progress=10, eta_seconds=300), title="Teaser")
    assert text.splitlines()[0] == "🎬 Rendering — Teaser"
    assert text.splitlines()[1].endswith("10% · about 5 min left")
    assert progress.settings_summary(SETTINGS) == "1280×720 · 30 fps · 12 s · high · grain, glow"
    assert progress.settings_summary({**SETTINGS, "effects": [], "duration": 2.5}).endswith(
        "2.5 s · high · no effects")
    assert progress.settings_summary({**SETTINGS, "format": "webm", "draft": True}).endswith(
        "grain, glow · webm · draft")


def test_insufficient_credits_and_quote_wording():
    assert progress.insufficient_text(12, 5) == (
        "This render costs 12 credits; you have 5 (7 missing). Ask an admin for credits or "
        "link your account with /link.")
    quote = QuoteRead(project_id="prj_1", settings=SETTINGS, credit_cost=3, balance=10,
                      balance_after=7, frame_count=360)
    assert progress.quote_text(quote) == "Cost: 3 credits · balance 10 → 7 after"


def test_a_batch_message_ranks_every_later_snapshot_higher():
    """A batch's ONE message is ranked by its variants: any variant moving on (queue
    position, progress, state, a cancel) raises the rank; an older snapshot never wins."""
    a, b = job(id="job_a", status="queued", progress=0, queue_position=2), \
        job(id="job_b", status="queued", progress=0, queue_position=3)
    steps = [
        [a, b],
        [a.model_copy(update={"queue_position": 1}), b],
        [job(id="job_a", progress=0), b],
        [job(id="job_a", progress=60), b],
        [job(id="job_a", progress=60, cancel_requested=True), b],
        [job(id="job_a", status="cancelled", progress=60, cancel_requested=True), b],
        [job(id="job_a", status="cancelled", progress=60, cancel_requested=True),
         job(id="job_b", status="completed", progress=100)],
    ]
    ranks = [progress.batch_rank(jobs) for jobs in steps]
    assert all(x < y for x, y in zip(ranks, ranks[1:], strict=False)), ranks
