"""``bots.flow.preview``, what the chat bots call: the JPEG bytes (Discord attaches them),
a signed link (Slack's image block) and the size, for the chat user's own project only."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bots import flow
from core.errors import InvalidSettings, ProjectNotFound
from core.runtime import Runtime
from tests.fixtures.pipeline import TINY


async def test_a_chat_user_previews_their_project(db, pipeline_settings, factory):
    rt = Runtime(pipeline_settings)
    alice = flow.ChatUser("discord", "g1", "u-alice", "Alice")
    bob = flow.ChatUser("discord", "g1", "u-bob", "Bob")
    try:
        async with db.transaction() as s:
            account = await flow.account(session=s, settings=pipeline_settings, user=alice)
        project = await factory.project(account.id)
        got = await flow.preview(runtime=rt, settings=pipeline_settings, user=alice,
                                 project_id=project, render_settings={**TINY, "draft": True})
        image = Image.open(io.BytesIO(got.jpeg))
        assert image.format == "JPEG" and image.size == (got.width, got.height) == (160, 90)
        path = rt.storage.local_path(key=got.url.split("/media/", 1)[1].split("?", 1)[0])
        assert path.read_bytes() == got.jpeg  # the link's object is the same still
        with pytest.raises(ProjectNotFound):
            await flow.preview(runtime=rt, user=bob, project_id=project, render_settings=TINY)
        with pytest.raises(InvalidSettings) as bad:
            await flow.preview(runtime=rt, user=alice, project_id=project,
                               render_settings={**TINY, "frame_rate": 7})
        assert "frame_rate" in flow.friendly(bad.value)
    finally:
        await rt.close()
