"""What Remotion's ``launch`` would refuse is refused before ``start``: the real function
accepts such a render at ``start`` and fails it later as a "stitcher" error that reads like
a broken composition (issue 15). Nothing reaches the function; one clear line."""

from __future__ import annotations

import dataclasses

import pytest

from core.backends.base import RenderError
from core.render.lambda_planner import check, plan
from core.render_settings import RenderSettings
from core.settings import RemotionSettings
from tests.lambda_backend.test_backend_wire import _request, backend_for, database_url  # noqa: F401

TINY = RenderSettings(resolution=(320, 180), frame_rate=30, duration=1, quality="low", effects=())


def test_the_planner_never_makes_a_plan_remotion_refuses():
    for frames in (1, 4, 5, 30, 299, 18000, 200 * 5 + 1):
        for limit in (2, 3, 50, 1000):
            chosen = plan(frames=frames, width=1920, height=1080,
                          settings=RemotionSettings(concurrency_limit=limit))
            assert check(chosen) is None, (frames, limit, chosen)


def test_plans_remotion_refuses_are_named():
    good = plan(frames=30, width=320, height=180, settings=RemotionSettings())
    assert check(dataclasses.replace(good, frames_per_lambda=4)) == (
        "framesPerLambda 4 is below Remotion's minimum of 5")
    assert check(dataclasses.replace(good, frames=3, frames_per_lambda=3)) is None
    assert "201 renderers exceed Remotion's limit of 200" in check(
        dataclasses.replace(good, renderers=201))


@pytest.mark.parametrize(("job_id", "words"), [
    ("x" * 1100, "customData is over 1024 bytes"),
    ("jöb-1", "customData is not ASCII"),
])
async def test_bad_custom_data_is_refused_before_the_function_is_invoked(
    backend_for, lambda_standin, job_id, words  # noqa: F811
):
    backend = backend_for()
    with pytest.raises(RenderError) as caught:
        await backend.start(_request(job_id=job_id))
    message = str(caught.value)
    assert not caught.value.retryable
    assert message == f"invalid Remotion Lambda render: the webhook's {words}"
    assert lambda_standin.invocations_of("start") == []


async def test_a_refused_plan_is_one_line_and_not_retried(backend_for, lambda_standin):  # noqa: F811
    backend = backend_for()
    key = (TINY.frame_count, TINY.width, TINY.height)
    backend._plans[key] = dataclasses.replace(backend.plan_for(TINY), frames_per_lambda=2)
    with pytest.raises(RenderError) as caught:
        await backend.start(_request())
    assert str(caught.value) == ("invalid Remotion Lambda render: framesPerLambda 2 is below "
                                 "Remotion's minimum of 5")
    assert not caught.value.retryable and lambda_standin.invocations_of("start") == []
