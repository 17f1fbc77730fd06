"""A render about to end is polled again just after its ETA (at most every 0.2 s) where a
poll is cheap (the local render server), so its end is seen at once instead of up to a
whole poll interval later; in its last stretch, where its ETA is unreliable, a poll watches
it for a bounded while; Lambda progress polls (function invocations) keep the interval."""

from __future__ import annotations

import time

import pytest

from core.backends.base import RenderStatus
from core.backends.lambda_ import LambdaBackend
from core.backends.local import LocalBackend
from core.poll_timing import END_STRETCH, SOON, WATCH_FOR, next_poll, watch_end


@pytest.mark.parametrize(("state", "eta", "expected"), [
    ("rendering", 30.0, 1.0),  # far from the end: the interval
    ("rendering", 0.6, 0.6),  # ends before the next regular poll: look just then
    ("rendering", 0.0, SOON),  # stitching, ETA spent: every SOON seconds, never a busy loop
    ("rendering", None, 1.0),  # no ETA yet
    ("queued", 0.1, 1.0),  # waiting behind another render: its ETA says nothing
])
def test_the_local_render_server_is_looked_at_when_the_render_should_end(state, eta, expected):
    status = RenderStatus(state=state, progress=0.5, eta_seconds=eta)
    assert next_poll(LocalBackend, status, 1.0) == pytest.approx(expected)


def test_lambda_keeps_the_interval_a_poll_is_an_invocation():
    status = RenderStatus(state="rendering", progress=0.98, eta_seconds=0.1)
    assert next_poll(LambdaBackend, status, 1.0) == 1.0


def test_a_render_in_its_last_stretch_is_polled_again_at_once_where_polls_are_cheap():
    # its ETA is unreliable there: the next poll goes on watching it (watch_end)
    status = RenderStatus(state="rendering", progress=END_STRETCH, eta_seconds=5.0)
    assert next_poll(LocalBackend, status, 1.0) == 0.0
    assert next_poll(LambdaBackend, status, 1.0) == 1.0


class Ending:
    """A cheap-status backend whose render says "5 s left" at 92 %, then is done."""

    cheap_status = True

    def __init__(self, renders_left: int) -> None:
        self.renders_left = renders_left
        self.looks = 0

    async def status(self, ref: str) -> RenderStatus:
        self.looks += 1
        if self.looks > self.renders_left:
            return RenderStatus(state="done", progress=1.0)
        return RenderStatus(state="rendering", progress=0.92, eta_seconds=5.0)


async def test_a_poll_watches_the_last_stretch_and_returns_the_end_when_it_comes():
    backend = Ending(renders_left=3)
    began = time.monotonic()
    status = await watch_end(backend, "ref", await backend.status("ref"))
    assert status.state == "done" and backend.looks == 4
    assert time.monotonic() - began < WATCH_FOR  # ~3 looks of WATCH_EVERY, not the ETA


async def test_the_watch_is_bounded_and_skips_renders_far_from_their_end():
    backend = Ending(renders_left=10_000)
    began = time.monotonic()
    status = await watch_end(backend, "ref", await backend.status("ref"))
    assert status.state == "rendering"
    assert WATCH_FOR <= time.monotonic() - began < WATCH_FOR + 1.0
    early = RenderStatus(state="rendering", progress=0.5, eta_seconds=0.5)
    assert await watch_end(backend, "ref", early) is early  # next_poll's ETA covers it
    lambda_end = RenderStatus(state="rendering", progress=0.99, eta_seconds=0.1)
    assert await watch_end(LambdaBackend, "ref", lambda_end) is lambda_end
