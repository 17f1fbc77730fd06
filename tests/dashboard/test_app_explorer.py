"""The job explorer (AppTest, SQLite and PostgreSQL): filters pick exactly the seeded jobs
that match; a job's detail shows its attempts, events, credit entries, origin and link."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.dashboard.apptest import frame, go, run
from tests.fixtures.dashboard import ADMINS, app_test, sign_in


def listed(at) -> set[str]:
    return set(frame(at, "id", "state", "platform")["id"])


@pytest.mark.parametrize(
    "filters, keep",
    [
        ({}, lambda j, now: j.created >= now - timedelta(hours=1)),  # created in the window
        ({"f_time": "any time", "f_status": "completed", "f_platform": "api"},
         lambda j, now: j.status == "completed" and j.platform == "api"),
        ({"f_time": "any time", "f_backend": "lambda"}, lambda j, now: j.backend == "lambda"),
        ({"f_time": "any time", "f_status": "failed", "f_platform": "slack"},
         lambda j, now: j.status == "failed" and j.platform == "slack"),
        ({"f_time": "any time", "account": "B"}, lambda j, now: j.account == "B"),
        ({"f_time": "any time", "project": "A", "f_status": "queued"},
         lambda j, now: j.account == "A" and j.status == "queued"),
    ],
)
async def test_filters_list_exactly_the_matching_jobs(dashboard_env, seeded, filters, keep):
    at = go(run(app_test()), "Jobs")
    for key, value in filters.items():
        if key == "account":
            at.text_input(key="f_account").input(seeded.accounts[value])
        elif key == "project":
            at.text_input(key="f_project").input(seeded.projects[value])
        else:
            at.selectbox(key=key).set_value(value)
    run(at)
    want = {j.id for j in seeded.jobs.values() if keep(j, seeded.now)}
    assert want and listed(at) == want


async def test_job_detail_shows_attempts_events_credits_origin_and_link(dashboard_env, seeded):
    job = seeded.jobs["c05"]  # lambda, one transient error then success
    at = go(run(app_test()), "Jobs")
    at.selectbox(key="job_pick").set_value(job.id)
    run(at)
    assert at.subheader[0].value == f"Job {job.id} — completed"
    attempts = frame(at, "series", "attempt", "outcome")
    assert list(attempts["attempt"]) == [1, 2]
    assert list(attempts["outcome"]) == ["error", "completed"]
    assert list(attempts["error"]) == ["transient error 1", ""]
    events = frame(at, "at", "kind", "state", "actor")
    seeded_events = sorted((e for e in seeded.events if e["job"] == job.key), key=lambda e: e["at"])
    assert list(events["kind"]) == [e["kind"] for e in seeded_events]
    credits = frame(at, "kind", "amount", "balance after")
    assert [(k, a) for k, a in zip(credits["kind"], credits["amount"], strict=True)] == [
        ("debit", -job.cost)]
    codes = [c.value for c in at.code]
    assert any('"platform": "discord"' in c for c in codes)
    assert any('"resolution"' in c for c in codes)
    assert any(f"/media/{job.id}.mp4" in m.value for m in at.markdown)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Attempts"], shown["Downloads"], shown["Credits"]) == (
        "2", str(job.downloads), str(job.cost))


async def test_job_from_the_link_query_parameter_opens_on_the_jobs_page(dashboard_env, seeded):
    job = seeded.jobs["f01"]
    at = app_test(admin=None)
    at.query_params["job"] = job.id
    sign_in(at, "vic", ADMINS["vic"][1])
    assert at.subheader[0].value == f"Job {job.id} — failed"
    assert any(job.error in e.value for e in at.error)


async def test_an_unknown_job_id_says_so(dashboard_env, seeded):
    at = go(run(app_test()), "Jobs")
    at.text_input(key="job_id").input("job_nope")
    run(at)
    assert "render job 'job_nope' not found" in [e.value for e in at.error]
