"""The health page: every figure comes from one ``core.admin.health`` call."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import admin
from dashboard import actions, data
from dashboard import format as fmt

BANNER = {"green": st.success, "amber": st.warning, "red": st.error}


def health_page(window_key: str) -> None:
    settings = data.settings()
    report = data.call(admin.health, window_key=window_key, broker_url=settings.broker_url)
    st.header(f"Queue health — {report.window.label}")
    st.caption(f"{fmt.when(report.window.start)} → {fmt.when(report.window.end)}")
    BANNER[report.status](f"**{report.status.upper()}** — {report.status_rule}")

    row = st.columns(4)
    row[0].metric("Queued now", fmt.count(report.queued))
    row[1].metric("Processing now", fmt.count(report.processing))
    row[2].metric("Oldest queued", fmt.seconds(report.oldest_queued_age),
                  help=report.oldest_queued_job_id)
    row[3].metric("Created", fmt.count(report.created))
    row = st.columns(4)
    row[0].metric("Completed", fmt.count(report.completed))
    row[1].metric("Failed", fmt.count(report.failed))
    row[2].metric("Cancelled", fmt.count(report.cancelled))
    row[3].metric("Failure rate", fmt.pct(report.failure_rate),
                  help="failed / (completed + failed), jobs finished in the window")
    row = st.columns(4)
    row[0].metric("Queue wait p50", fmt.seconds(report.queue_wait.p50))
    row[1].metric("Queue wait p95", fmt.seconds(report.queue_wait.p95),
                  help=_sample(report.queue_wait, "started"))
    row[2].metric("Render time p50", fmt.seconds(report.render_time.p50))
    row[3].metric("Render time p95", fmt.seconds(report.render_time.p95),
                  help=_sample(report.render_time, "completed"))
    row = st.columns(4)
    row[0].metric("Credits debited", fmt.count(report.credits_debited))
    row[1].metric("Credits refunded", fmt.count(report.credits_refunded))
    row[2].metric("Render attempts", fmt.count(report.attempts))
    row[3].metric("Attempt errors", fmt.count(report.attempt_errors))

    st.subheader("Targets")
    st.dataframe(
        pd.DataFrame([
            {"metric": t.name, "value": fmt.pct(t.value), "target": t.target,
             "met": "—" if t.met is None else ("yes" if t.met else "NO"), "sample": t.sample}
            for t in report.targets
        ]),
        hide_index=True, key="targets",
    )
    if report.rules:
        st.caption("Rules triggered: " + " · ".join(f"{r.level}: {r.text}" for r in report.rules))

    st.subheader("Throughput")
    frame = pd.DataFrame(
        [{"interval": b.start.strftime("%m-%d %H:%M"), "completed": b.completed,
          "failed": b.failed, "cancelled": b.cancelled} for b in report.throughput]
    ).set_index("interval")
    st.bar_chart(frame, color=["#2e9e5b", "#d9534f", "#9aa0a6"], height=220)
    with st.expander(f"Per {fmt.seconds(report.window.bucket_seconds)} interval"):
        st.dataframe(frame, key="throughput")

    _lambda_and_broker(report, settings)
    actions.window_retry(report.window, report.failed)


def _sample(p: admin.Percentiles, what: str) -> str:
    text = f"{p.count:,} job(s) {what} in the window"
    if p.sample < p.count:
        text += f"; percentiles of the latest {p.sample:,}"
    return text


def _lambda_and_broker(report: admin.Health, settings) -> None:
    cost = report.lambda_cost
    if cost is not None or settings.render_backend == "lambda":
        st.subheader("Remotion Lambda")
        row = st.columns(5)
        row[0].metric("Lambda jobs", fmt.count(cost.jobs if cost else 0))
        # every attempt's cost (failed, retried, cancelled too) beside the credits charged
        row[1].metric("Lambda cost (all attempts)", fmt.usd(cost.total_cost if cost else 0.0),
                      help=f"{cost.attempts if cost else 0} attempt(s) with a reported cost, "
                           "failed, retried and cancelled ones included")
        row[2].metric("Credits charged (Lambda)", fmt.count(cost.credits_charged if cost else 0))
        row[3].metric("Lambda cost reported", fmt.usd(cost.cost_reported if cost else 0.0),
                      help="completed jobs only")
        row[4].metric("USD per credit", fmt.usd(cost.cost_per_credit if cost else None))
    st.subheader("Broker")
    broker = report.broker
    if broker is None:
        st.caption(f"{settings.broker_url.split(':')[0]} queue: no broker figures "
                   "(the database is the source of truth; the reconciler re-enqueues)")
        return
    if broker.error:
        st.error(f"Redis at {broker.url}: {broker.error}")
        return
    row = st.columns(4)
    row[0].metric("Ready messages", fmt.count(broker.ready))
    row[1].metric("Delayed messages", fmt.count(broker.delayed))
    row[2].metric("In flight", fmt.count(broker.in_flight))
    row[3].metric("Dead letters", fmt.count(broker.dead_letters))
