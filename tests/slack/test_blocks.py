"""The Block Kit builders: pure functions, checked against Slack's limits and our wording."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bots.slack import answer_blocks, blocks
from bots.slack.blocks import FormValues
from core.schemas import AccountRead, CreditEntryRead, CreditsRead, JobRead, ProjectRead, QuoteRead
from tests.fixtures.fake_slack import state_values
from tests.slack.test_app_flow import blocks_text

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
PRESETS = {"16:9 720p": (1280, 720), "tiny": (320, 180)}
SETTINGS = {"resolution": [1280, 720], "frame_rate": 30, "duration": 10, "quality": "high",
            "effects": ["glow"]}


def project(i: int = 1, name: str = "Teaser") -> ProjectRead:
    return ProjectRead(id=f"prj_{i}", account_id="acc_1", name=name, state={}, created_at=NOW,
                       updated_at=NOW)


def job(status: str = "processing", **kw) -> JobRead:
    values = dict(id="job_1", status=status, progress=30, project_id="prj_1",
                  account_id="acc_1", settings=SETTINGS, credit_cost=3, created_at=NOW,
                  backend="local", origin={"platform": "slack", "team_id": "T1",
                                           "channel_id": "C1", "message_ts": "1.2",
                                           "user_id": "U1", "title": "Teaser <b>&"})
    values.update(kw)
    return JobRead(**values)


def form(projects=None, values=None) -> dict:
    return blocks.form_view(
        channel_id="C1", values=values or FormValues(project_id="prj_1", project_name="Teaser",
                                                     size="1280x720"),
        presets=PRESETS, frame_rates=[24, 30, 60], effects=["grain", "glow"],
        qualities=("high", "medium", "low"),
        projects=[project()] if projects is None else projects, duration_hint="1 to 600 seconds")


def walk_texts(node):
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            yield node["text"]
        for value in node.values():
            yield from walk_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_texts(value)


def test_form_lists_few_projects_and_preselects_and_respects_slack_limits():
    view = form()
    assert view["type"] == "modal" and view["callback_id"] == blocks.FORM
    assert len(view["title"]["text"]) <= 24
    assert json.loads(view["private_metadata"]) == {"c": "C1"}
    by_id = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert all(el["action_id"] == bid for bid, el in by_id.items())
    assert by_id["project"]["type"] == "static_select"
    assert by_id["project"]["initial_option"] == {"text": {"type": "plain_text", "text": "Teaser",
                                                           "emoji": True}, "value": "prj_1"}
    assert [o["text"]["text"] for o in by_id["size"]["options"]] == [
        "16:9 720p (1280×720)", "tiny (320×180)"]
    assert by_id["size"]["initial_option"]["value"] == "1280x720"
    assert by_id["fps"]["initial_option"]["value"] == "30"
    assert by_id["quality"]["initial_option"]["value"] == "high"
    # a size no longer offered (presets changed under an open form) stays pickable
    kept = form(values=FormValues(project_id="prj_1", size="640x360"))
    size = next(b["element"] for b in kept["blocks"] if b["block_id"] == "size")
    assert size["initial_option"]["value"] == "640x360" and len(size["options"]) == 3
    assert "initial_options" not in by_id["effects"]
    assert all(len(t) <= 75 for t in walk_texts(by_id))


def test_form_with_many_projects_uses_type_ahead_and_keeps_the_picked_one():
    view = blocks.form_view(
        channel_id="C1", values=FormValues(project_id="prj_9", project_name="Nine", size="320x180",
                                           frame_rate=24, duration="2", quality="low",
                                           effects=("glow",)),
        presets=PRESETS, frame_rates=[24, 30], effects=["grain", "glow"],
        qualities=("high", "medium", "low"), projects=None, duration_hint="")
    by_id = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert by_id["project"]["type"] == "external_select"
    assert by_id["project"]["min_query_length"] == 0
    assert by_id["project"]["initial_option"]["value"] == "prj_9"
    assert by_id["size"]["initial_option"]["value"] == "320x180"
    assert by_id["duration"]["initial_value"] == "2"
    assert [o["value"] for o in by_id["effects"]["initial_options"]] == ["glow"]


def test_read_form_round_trips_what_the_user_picked():
    view = form()
    state = state_values(view, {"size": "320x180", "fps": "60", "duration": " 1:30 ",
                                "quality": "medium", "effects": ["grain", "glow"]})["values"]
    values = blocks.read_form(state)
    assert values == FormValues(project_id="prj_1", project_name="Teaser", size="320x180",
                                frame_rate=60, duration="1:30", quality="medium",
                                effects=("grain", "glow"))
    assert values.render_settings(90.0) == {"resolution": [320, 180], "frame_rate": 60,
                                            "duration": 90.0, "quality": "medium",
                                            "effects": ["grain", "glow"], "format": "mp4"}
    assert FormValues.from_compact(json.loads(json.dumps(values.compact()))) == values
    assert blocks.read_form(state_values(view, {"project": None})["values"]).project_id is None


def test_field_errors_point_at_the_block_of_the_core_field():
    assert blocks.field_errors("frame_rate", "no") == {"fps": "no"}
    assert blocks.field_errors("resolution", "odd") == {"size": "odd"}
    assert blocks.field_errors("something_else", "x" * 300) == {"project": "x" * 149 + "…"}


def test_quote_view_has_confirm_and_back_or_only_back_with_a_problem():
    quote = QuoteRead(project_id="prj_1", settings=SETTINGS, credit_cost=3, balance=10,
                      balance_after=7, frame_count=300)
    meta = blocks.quote_metadata(channel_id="C1", values=FormValues(project_id="prj_1"),
                                 render_settings=SETTINGS)
    assert len(meta) < 3000 and json.loads(meta)["s"] == SETTINGS
    ok = blocks.quote_view(project_name="Teaser", quote=quote, metadata=meta)
    assert ok["callback_id"] == blocks.QUOTE and ok["submit"]["text"] == "Confirm"
    text = blocks_text(ok["blocks"])
    assert "*Cost: 3 credits · balance 10 → 7 after*" in text
    assert "1280×720 · 30 fps · 10 s · high · glow" in text
    back = ok["blocks"][-1]["elements"][0]
    assert back["action_id"] == blocks.BACK
    short = blocks.quote_view(project_name="Teaser", quote=quote, metadata=meta,
                              problem=blocks.insufficient_text(3, 1))
    assert "submit" not in short
    assert "costs 3 credits; you have 1 (*2 missing*). Nothing was charged." in blocks_text(
        short["blocks"])


def test_status_while_queued_shows_the_queue_position_and_a_cancel_button():
    message = blocks.status_message(job("queued", progress=0, queue_position=3))
    text = blocks_text(message["blocks"])
    assert "⏳ *Queued* — Teaser &lt;b&gt;&amp;" in text  # the title is escaped
    assert "`░░░░░░░░░░░░░░░░░░░░` 0% · position 3 in the queue" in text
    assert "1280×720 · 30 fps · 10 s · high · glow · 3 credits · job `job_1`" in text
    (button,) = message["blocks"][-1]["elements"]
    assert button["action_id"] == blocks.CANCEL and button["value"] == "job_1"
    assert button["style"] == "danger" and button["confirm"]["confirm"]["text"] == "Cancel render"
    assert message["text"].startswith("⏳ Queued — Teaser")


def test_status_while_rendering_shows_bar_percent_and_eta():
    message = blocks.status_message(job(progress=45, eta_seconds=42))
    text = blocks_text(message["blocks"])
    assert "🎬 *Rendering*" in text and "`█████████░░░░░░░░░░░` 45% · about 40 s left" in text
    cancelling = blocks.status_message(job(progress=45, cancel_requested=True))
    assert "stopping the render" in blocks_text(cancelling["blocks"])
    assert not [b for b in cancelling["blocks"] if b["type"] == "actions"]


def test_completed_status_has_the_download_button_settings_charge_and_mention():
    url = "https://example.test/d/job_1?exp=1&sig=abc"
    message = blocks.status_message(job("completed", progress=100, result_url=url))
    text = blocks_text(message["blocks"])
    assert "<@U1> Your video is ready." in text and "3 credits charged" in text
    assert "`████████████████████` 100%" in text
    button, *followups = message["blocks"][-1]["elements"]
    assert button == {"type": "button", "action_id": blocks.DOWNLOAD,
                      "text": {"type": "plain_text", "text": "Download video", "emoji": True},
                      "style": "primary", "url": url, "value": "job_1"}
    # a full render: no "Full quality"; every follow-up carries the job id
    assert [(e["text"]["text"], e["value"]) for e in followups] == [
        ("Render again", "job_1"), ("Vertical 9:16", "job_1"), ("Square 1:1", "job_1")]
    assert "<@U1>" in message["text"]
    long_url = "https://example.test/" + "x" * 3100
    fallback = blocks.status_message(job("completed", progress=100, result_url=long_url))
    assert "too long for Slack" in blocks_text(fallback["blocks"])
    assert long_url not in json.dumps(fallback)


def test_failed_and_cancelled_statuses_say_why_and_the_refund():
    failed = blocks_text(blocks.status_message(job("failed", error="Chromium crashed."))["blocks"])
    assert "❌ *Failed*" in failed
    assert "<@U1> The render failed: Chromium crashed. Refunded 3 credits." in failed
    cancelled = blocks_text(blocks.status_message(job("cancelled"))["blocks"])
    assert "The render was cancelled. Refunded 3 credits." in cancelled and "<@U1>" not in cancelled


def test_ping_only_for_completion_and_failure():
    assert blocks.ping_text(job("completed", progress=100)) == (
        "<@U1> your render of *Teaser &lt;b&gt;&amp;* is ready.")
    assert blocks.ping_text(job("completed", progress=100, result_url="https://x.test/d/1")) == (
        "<@U1> your render of *Teaser &lt;b&gt;&amp;* is ready: <https://x.test/d/1|download the "
        "video>")
    assert blocks.ping_text(job("failed")).endswith("failed. Refunded 3 credits.")
    assert blocks.ping_text(job("cancelled")) is None
    assert blocks.ping_text(job("processing")) is None


def test_credits_message_lists_entries_with_slack_dates():
    statement = CreditsRead(balance=7, entries=[
        CreditEntryRead(id=2, kind="debit", amount=-3, balance_after=7, job_id="job_1",
                        created_at=NOW),
        CreditEntryRead(id=1, kind="grant", amount=10, balance_after=10, note="welcome <3",
                        created_at=NOW),
    ])
    text = answer_blocks.credits_message(statement)["text"]
    stamp = int(NOW.timestamp())
    assert text.splitlines() == [
        "*Balance: 7 credits*",
        f"−3 · debit · job `job_1` · <!date^{stamp}^{{date_short_pretty}} {{time}}|2025-05-01 12:00 UTC>",
        f"+10 · grant · welcome &lt;3 · <!date^{stamp}^{{date_short_pretty}} {{time}}|2025-05-01 12:00 UTC>",
    ]
    assert "No entries yet." in answer_blocks.credits_message(CreditsRead(balance=0, entries=[]))["text"]


def test_other_answers():
    account = AccountRead(id="acc_1", name="studio", balance=1, created_at=NOW)
    assert answer_blocks.linked_text(account) == (
        ":link: Linked — this Slack account now uses the account *studio* (1 credit).")
    assert "error id `abc123`" in answer_blocks.error_text("abc123")
    assert "/render link CODE" in answer_blocks.no_projects_text()
    assert "/render credits" in answer_blocks.help_text()
    assert blocks.project_options([project(i, f"P{i}") for i in range(150)])[99]["value"] == "prj_99"
    assert len(blocks.project_options([project(i) for i in range(150)])) == 100
    submitted = blocks.submitted_view(job("queued"), created=True)
    assert "Submitted — 3 credits charged" in blocks_text(submitted["blocks"])
    again = blocks.submitted_view(job("queued"), created=False)
    assert "already confirmed (job `job_1`, queued)" in blocks_text(again["blocks"])
