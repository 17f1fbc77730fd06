"""A render about to end is polled again just after its ETA (at most every 0.2 s) where a
poll is cheap (the local render server), so its end is seen at once instead of up to a
whole poll interval later; Lambda progress polls (function invocations) keep the interval."""

from __future__ import annotations

import pytest

from core.backends.base import RenderStatus
from core.backends.lambda_ import LambdaBackend
from core.backends.local import LocalBackend
from core.pipeline import SOON, next_poll


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
