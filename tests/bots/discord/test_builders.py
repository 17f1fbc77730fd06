"""Discord message and view builders, and the custom_id grammar (pure, no I/O)."""

from __future__ import annotations

import pytest

from bots.discord import custom_ids, messages, views
from bots.discord.custom_ids import BadCustomId, FormState
from bots.discord.notifier import rank, target
from core.render_settings import PRESETS
from tests.bots.test_progress import job

EFFECTS = ["grain", "vignette", "glow", "scanlines"]
ORIGIN = {"platform": "discord", "channel_id": "7001", "message_id": "8001", "user_id": "4242",
          "guild_id": "9001", "title": "Teaser"}


def test_form_state_round_trips_through_custom_ids():
    state = FormState("prj_0123456789abcdef0123", 1080, 1920, 60, "medium", ("grain", "glow"))
    text = state.encode(EFFECTS)
    assert text == "prj_0123456789abcdef0123:1080x1920:60:m:5"
    assert FormState.decode(text, EFFECTS) == state
    for custom_id in (custom_ids.set_("fx", state, EFFECTS), custom_ids.duration(state, EFFECTS),
                      custom_ids.confirm(state, 600, EFFECTS)):
        assert len(custom_id) <= 100
    parsed = custom_ids.parse(custom_ids.confirm(state, 2.5, EFFECTS), EFFECTS)
    assert (parsed.action, parsed.state, parsed.duration) == ("ok", state, 2.5)
    parsed = custom_ids.parse(custom_ids.set_("size", state, EFFECTS), EFFECTS)
    assert (parsed.action, parsed.field, parsed.state) == ("set", "size", state)
    assert custom_ids.parse("rb:cancel:job_abc", EFFECTS).job_id == "job_abc"
    assert custom_ids.parse_modal(custom_ids.modal(state, EFFECTS), EFFECTS) == state


@pytest.mark.parametrize("bad", [
    "rb:nope", "rb:set:colour:prj_1:1x1:30:h:0", "rb:ok:prj_1:1280x720:30:h:0:ten",
    "rb:dur:prj_1:1280x720:30:z:0", "rb:cancel:job 1", "rb:dur:prj_1:wide:30:h:0", "xx:pick",
])
def test_malformed_custom_ids_are_refused(bad):
    with pytest.raises(BadCustomId):
        custom_ids.parse(bad, EFFECTS)


def test_status_payload_while_rendering_has_bar_eta_and_a_cancel_button():
    payload = messages.status_payload(job(progress=42, eta_seconds=40, origin=ORIGIN))
    lines = payload["content"].splitlines()
    assert lines[0] == "🎬 **Rendering** — Teaser"
    assert lines[1] == "1280×720 · 30 fps · 12 s · high · grain, glow · 12 credits"
    assert lines[2] == f"`{'█' * 8}{'░' * 12}` 42% · about 40 s left"
    assert lines[3] == "-# job `job_1`"
    button = payload["components"][0]["components"][0]
    assert button == {"type": 2, "style": 4, "label": "Cancel", "custom_id": "rb:cancel:job_1",
                      "disabled": False}
    assert payload["allowed_mentions"] == {"parse": [], "users": ["4242"]}
    assert "<@" not in payload["content"]


def test_status_payload_queued_and_cancelling():
    queued = messages.status_payload(job(status="queued", progress=0, queue_position=2,
                                         origin=ORIGIN))
    assert "0% · position 2 in the queue" in queued["content"]
    cancelling = messages.status_payload(job(cancel_requested=True, origin=ORIGIN))
    assert cancelling["content"].startswith("🛑 **Cancelling**")
    assert cancelling["components"][0]["components"][0]["disabled"] is True


def test_status_payload_completed_links_the_video_and_mentions_the_user():
    url = "http://127.0.0.1:8000/d/job_1?exp=1&sig=abc"
    payload = messages.status_payload(job(status="completed", progress=100, result_url=url,
                                          origin=ORIGIN))
    assert "<@4242> Your video is ready." in payload["content"]
    again = {"type": 2, "style": 2, "label": "Render again", "custom_id": "rb:again:job_1",
             "disabled": False}
    assert payload["components"] == [
        {"type": 1, "components": [
            {"type": 2, "style": 5, "label": "Download video", "url": url}, again]},
        {"type": 1, "components": [
            {"type": 2, "style": 2, "label": "Vertical 9:16", "custom_id": "rb:var:916:job_1",
             "disabled": False},
            {"type": 2, "style": 2, "label": "Square 1:1", "custom_id": "rb:var:11:job_1",
             "disabled": False}]}]
    assert payload["embeds"] == []  # no poster_url: no image


def test_a_finished_draft_offers_full_quality_and_shows_the_poster():
    payload = messages.status_payload(job(
        status="completed", progress=100, result_url="http://x/d/job_1", origin=ORIGIN,
        settings={**job().settings.model_dump(), "draft": True},
        poster_url="http://x/p/job_1.jpg"))
    labels = [c["label"] for row in payload["components"] for c in row["components"]]
    assert labels == ["Download video", "Render again", "Full quality", "Vertical 9:16",
                      "Square 1:1"]
    assert payload["embeds"] == [{"image": {"url": "http://x/p/job_1.jpg"}}]


def test_a_link_too_long_for_a_button_goes_into_the_text():
    url = "https://r2.example/" + "x" * 600
    payload = messages.status_payload(job(status="completed", progress=100, result_url=url,
                                          origin=ORIGIN))
    assert [c["label"] for c in payload["components"][0]["components"]] == ["Render again"]
    assert f"[Download the video]({url})" in payload["content"]


def test_status_payload_failure_and_cancel_show_the_refund():
    failed = messages.status_payload(job(status="failed", error="browser crashed",
                                         origin=ORIGIN))
    assert failed["content"].startswith("❌ **Failed** — Teaser")
    assert ("<@4242> The render failed: browser crashed. Refunded 12 credits."
            in failed["content"])
    assert failed["components"] == []
    cancelled = messages.status_payload(job(status="cancelled", origin=ORIGIN))
    assert "The render was cancelled. Refunded 12 credits." in cancelled["content"]
    assert "<@" not in cancelled["content"]


def test_ping_replies_to_the_status_message():
    ping = messages.ping_payload(job(status="completed", progress=100, origin=ORIGIN))
    assert ping == {
        "content": "<@4242> your render of **Teaser** is ready.",
        "allowed_mentions": {"parse": [], "users": ["4242"], "replied_user": False},
        "message_reference": {"message_id": "8001", "fail_if_not_exists": False},
    }
    failed = messages.ping_payload(job(status="failed", origin=ORIGIN))
    assert failed["content"].endswith("failed. Refunded 12 credits.")
    assert messages.ping_payload(job(status="cancelled", origin=ORIGIN)) is None
    assert messages.ping_payload(job(origin=ORIGIN)) is None


def test_content_never_exceeds_discords_limit():
    payload = messages.status_payload(job(status="failed", error="x" * 5000, origin=ORIGIN))
    assert len(payload["content"]) == 2000
    jobs = [job(id=f"job_{i}", status="completed", result_url="http://h/" + "y" * 300)
            for i in range(20)]
    assert len(messages.renders_text(jobs)) <= 2000


def test_notifier_rank_orders_states_and_target_needs_a_message():
    assert rank(job(status="queued", progress=0, queue_position=3)) < rank(
        job(status="queued", progress=0, queue_position=1))
    assert rank(job(status="queued", progress=0)) < rank(job(progress=0))
    assert rank(job(progress=10)) < rank(job(progress=11)) < rank(job(progress=11,
                                                                      cancel_requested=True))
    assert rank(job(progress=99)) < rank(job(status="failed", progress=3))
    assert target(job(origin=ORIGIN)) == ("7001", "8001")
    assert target(job(origin={**ORIGIN, "message_id": None})) is None
    assert target(job(origin={**ORIGIN, "platform": "slack"})) is None
    assert target(job()) is None


def test_form_view_marks_the_chosen_options_and_fits_five_rows():
    state = FormState("prj_1", 1280, 720, 24, "low", ("glow",))
    view = views.form_view(state, presets=PRESETS, frame_rates=[24, 30], effects=EFFECTS)
    rows = view.to_components()
    assert len(rows) == 5
    size, fps, quality, fx = (r["components"][0] for r in rows[:4])
    assert [o["value"] for o in size["options"] if o.get("default")] == ["1280x720"]
    assert [o["value"] for o in fps["options"] if o.get("default")] == ["24"]
    assert [o["value"] for o in quality["options"] if o.get("default")] == ["low"]
    assert [o["value"] for o in fx["options"] if o.get("default")] == ["glow"]
    assert (fx["min_values"], fx["max_values"]) == (0, 4)
    buttons = rows[4]["components"]
    assert [b["custom_id"] for b in buttons] == ["rb:dur:prj_1:1280x720:24:l:4", "rb:stop"]


def test_form_view_offers_an_unlisted_size_it_already_has():
    state = FormState("prj_1", 640, 360, 30, "high", ())
    view = views.form_view(state, presets=PRESETS, frame_rates=[30], effects=[])
    rows = view.to_components()
    assert len(rows) == 4  # no effects select when no effects exist
    size = rows[0]["components"][0]
    assert size["options"][0] == {**size["options"][0], "value": "640x360", "default": True}


def test_quote_view_has_confirm_only_when_the_quote_is_ok():
    state = FormState("prj_1", 1280, 720, 24, "low", ())
    rows = views.quote_view(state, 3, effects=EFFECTS, ok=True).to_components()
    assert [b["custom_id"] for b in rows[-1]["components"]] == [
        "rb:ok:prj_1:1280x720:24:l:0:3", "rb:stop"]
    # issue 18: the Format select and the "Formats" multi-select (aspects) re-quote
    fmt, asp = rows[0]["components"][0], rows[1]["components"][0]
    assert fmt["custom_id"] == "rb:re:fmt:prj_1:1280x720:24:l:0:3"
    assert [o["value"] for o in fmt["options"]] == ["mp4", "webm", "gif"]
    assert [o["value"] for o in asp["options"]] == ["16:9", "9:16", "1:1"]
    assert (asp["min_values"], asp["max_values"]) == (0, 3)
    refused = views.quote_view(state, 3, effects=EFFECTS, ok=False).to_components()
    assert [b["custom_id"] for b in refused[-1]["components"]] == ["rb:stop"]


def test_format_and_aspects_round_trip_through_custom_ids():
    state = FormState("prj_1", 1280, 720, 24, "low", (), "webm", ("16:9", "1:1"))
    parsed = custom_ids.parse(custom_ids.requote("asp", state, 2, EFFECTS), EFFECTS)
    assert (parsed.action, parsed.field, parsed.state, parsed.duration) == ("re", "asp", state, 2)
    assert parsed.state.variants == [[1280, 720], [720, 720]]
    assert parsed.state.render_settings(2)["format"] == "webm"
    one = state.with_(aspects=("9:16",))
    assert one.variants == [] and one.render_settings(2)["resolution"] == [720, 1280]
    assert custom_ids.parse("rb:bcancel:bat_1", EFFECTS).batch_id == "bat_1"


def test_duration_modal_carries_the_state():
    state = FormState("prj_1", 1280, 720, 24, "low", ())
    modal = views.DurationModal(state, effects=EFFECTS, default="10", limits=(1, 600))
    data = modal.to_dict()
    assert data["custom_id"] == "rb:modal:prj_1:1280x720:24:l:0"
    (label,) = data["components"]
    assert label["label"] == "Duration in seconds (1–600)"
    assert label["component"]["custom_id"] == "duration" and label["component"]["value"] == "10"
