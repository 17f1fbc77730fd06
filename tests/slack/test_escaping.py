"""A project named ``R&D <teaser> & "quotes"`` from /render to "Done": every ``text`` (and
mrkdwn) Slack receives has ``&``, ``<``, ``>`` escaped outside control sequences, and what
the user reads is the name as typed. The instant backend: the wording is under test."""

from __future__ import annotations

import pytest

from tests.fixtures.fake_slack import unescaped, visible
from tests.slack.conftest import Harness, slack_settings, wait_for
from tests.slack.test_app_flow import blocks_text

NAME = 'R&D <teaser> & "quotes"'


@pytest.fixture
async def instant_harness(fake_slack, tmp_path, database_url, db):
    settings = slack_settings(tmp_path, database_url, fake_slack, render_backend="instant")
    h = Harness(fake_slack, settings, db).start()
    yield h
    await h.close()


def mrkdwn_texts(value) -> list[str]:
    """Every mrkdwn text object inside blocks or a view."""
    found = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            found.append(value["text"])
        for item in value.values():
            found += mrkdwn_texts(item)
    elif isinstance(value, list):
        for item in value:
            found += mrkdwn_texts(item)
    return found


async def test_a_name_with_ampersands_and_angle_brackets_is_escaped_everywhere(instant_harness, db):
    h, fake = instant_harness, instant_harness.fake
    alice = h.user()
    await h.account(alice, credits_=10, project_names=(NAME,))
    h.start_worker()
    quote = await h.quote(alice)
    assert NAME in visible(blocks_text(quote["blocks"]))
    _, data, _ = await alice.submit_and_apply(quote)
    assert "Submitted" in blocks_text(data["view"]["blocks"]), data
    status = await h.status_message(alice.channel_id)
    done = await wait_for(lambda: (m := fake.message(status["channel"], status["ts"]))
                          and "Done" in m["text"] and m, 60)
    ping = await wait_for(lambda: [m for m in fake.channel_messages(alice.channel_id)
                                   if m.get("thread_ts") == status["ts"]], 20)

    sent = [c for c in fake.calls if c.method in ("chat.postMessage", "chat.update",
                                                   "chat.postEphemeral", "views.open",
                                                   "views.update")]
    texts = [(c.method, c.params["text"]) for c in sent if isinstance(c.params.get("text"), str)]
    texts += [(c.method, t) for c in sent for t in mrkdwn_texts(c.params)]
    texts += [("response_url", b["text"]) for bodies in fake.responses.values() for b in bodies
              if isinstance(b.get("text"), str)]
    assert len([m for m, _ in texts if m in ("chat.postMessage", "chat.update")]) >= 3
    raw = [(method, text) for method, text in texts if unescaped(text)]
    assert raw == [], raw

    # what people read: the status text (notifications), its blocks and the ping
    head = visible(done["text"]).splitlines()[0]
    assert head.startswith(f"✅ Done — {NAME} — "), head
    assert f"Done* — {NAME}" in visible(blocks_text(done["blocks"]))
    assert f"your render of *{NAME}* is ready" in visible(ping[0]["text"])
    updates = [c.params["text"] for c in fake.calls_to("chat.update")]
    assert all(NAME in visible(t) for t in updates), updates

