"""The local render server's renders as jobs, with real renders: failures (permanent and
retryable), the queue, cancel, and idempotency by id."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.fixtures.faults import crash_props, flaky_props
from tests.render.helpers import props
from tests.render.local_render import FAST, render, rid

# ---------------------------------------------------------------- errors


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"palette": []}, "palette"),
        (crash_props("boom from the test composition"), "boom from the test composition"),
        ({"background": "definitely-not-a-color"}, "background"),
    ],
    ids=["empty-palette", "crash-title", "bad-color"],
)
async def test_bad_props_fail_permanently_with_readable_message(
    render_server, tmp_path, overrides, expected
):
    out = tmp_path / "bad.mp4"
    status = await render(render_server, out, **overrides)
    assert status.state == "failed"
    assert status.retryable is False
    assert expected in (status.error_message or "")
    assert len(status.error_message) < 2000
    assert status.output_path is None and not out.exists()


@pytest.mark.asyncio
async def test_transient_failure_is_retryable_and_succeeds_on_retry(render_server, tmp_path):
    token = uuid.uuid4().hex
    first = await render(render_server, tmp_path / "a.mp4", **flaky_props(token))
    assert first.state == "failed" and first.retryable is True
    assert first.error_message and token in first.error_message
    assert not (tmp_path / "a.mp4").exists()

    second = await render(render_server, tmp_path / "b.mp4")
    assert second.state == "done", second.error_message
    assert (tmp_path / "b.mp4").is_file()


# ---------------------------------------------------------------- queue, cancel, idempotency


@pytest.mark.asyncio
async def test_cancel_while_rendering_deletes_partial_output(render_server, tmp_path):
    out = tmp_path / "cancelled.mp4"
    render_id = rid("cancel-running")
    await render_server.submit(
        render_id=render_id, input_props=props(durationInFrames=150), output_path=out, **FAST
    )
    deadline = time.monotonic() + 120
    while True:
        status = await render_server.status(render_id)
        if status.state == "rendering" and status.frames_rendered > 0:
            break
        assert not status.terminal, status
        assert time.monotonic() < deadline, "render never started"
        await asyncio.sleep(0.05)

    await render_server.cancel(render_id)

    status = await render_server.status(render_id)
    assert status.state == "cancelled"
    assert status.output_path is None
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "partial files are removed"


@pytest.mark.asyncio
async def test_cancel_while_queued_never_renders(render_server, tmp_path):
    first, second = rid("busy"), rid("queued")
    await render_server.submit(
        render_id=first, input_props=props(durationInFrames=150),
        output_path=tmp_path / "first.mp4", **FAST,
    )
    queued = await render_server.submit(
        render_id=second, input_props=props(), output_path=tmp_path / "second.mp4", **FAST
    )
    assert queued.state == "queued" and queued.queue_position >= 1

    await render_server.cancel(second)
    status = await render_server.status(second)
    assert status.state == "cancelled"

    await render_server.cancel(first)
    assert (await render_server.status(first)).state == "cancelled"
    await asyncio.sleep(0.5)
    assert (await render_server.status(second)).state == "cancelled"
    assert not (tmp_path / "second.mp4").exists()


@pytest.mark.asyncio
async def test_renders_run_one_at_a_time_in_fifo_order(render_server, tmp_path):
    ids = [rid(f"fifo{i}") for i in range(3)]
    submitted = [
        await render_server.submit(
            render_id=render_id, input_props=props(durationInFrames=15),
            output_path=tmp_path / f"{i}.mp4", **FAST,
        )
        for i, render_id in enumerate(ids)
    ]
    # the last two wait behind the first, in order
    assert submitted[1].state == submitted[2].state == "queued"
    assert submitted[2].queue_position == submitted[1].queue_position + 1
    statuses = [await render_server.wait(r, max_wait=240, poll_interval=0.1) for r in ids]
    assert [s.state for s in statuses] == ["done"] * 3
    for earlier, later in zip(statuses, statuses[1:], strict=False):
        # FIFO, and the next one starts only when the previous one has finished
        assert later.started_at >= earlier.finished_at, (earlier, later)


@pytest.mark.asyncio
async def test_submit_is_idempotent_by_id(render_server, tmp_path):
    render_id = rid("idem")
    out = tmp_path / "idem.mp4"
    first = await render_server.submit(
        render_id=render_id, input_props=props(), output_path=out, **FAST
    )
    again = await render_server.submit(
        render_id=render_id, input_props=props(), output_path=out, **FAST
    )
    assert again.id == first.id == render_id
    assert again.state in ("queued", "rendering", "done")
    done = await render_server.wait(render_id, max_wait=240)
    assert done.state == "done"
    mtime = out.stat().st_mtime_ns

    after = await render_server.submit(
        render_id=render_id, input_props=props(title="different"), output_path=out, **FAST
    )
    assert after.state == "done" and after.progress == 1.0
    await asyncio.sleep(1.0)
    assert (await render_server.status(render_id)).state == "done"
    assert out.stat().st_mtime_ns == mtime, "no second render"


@pytest.mark.asyncio
async def test_unknown_id_has_no_status_and_cancel_is_harmless(render_server):
    assert await render_server.status("never-submitted") is None
    await render_server.cancel("never-submitted")
