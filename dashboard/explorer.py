"""The job explorer: filters → newest matching jobs → one job's detail and actions."""

from __future__ import annotations

import json

import streamlit as st

from core import admin
from core.errors import RenderbotError
from dashboard import actions, data
from dashboard import format as fmt

ANY = "any"


def _pick(label: str, options, key: str) -> str | None:
    value = st.selectbox(label, [ANY, *options], key=key)
    return None if value == ANY else value


def jobs_page(window_key: str) -> None:
    st.header("Jobs")
    cols = st.columns(6)
    with cols[0]:
        status = _pick("State", admin.STATES, "f_status")
    with cols[1]:
        backend = _pick("Backend", admin.BACKENDS, "f_backend")
    with cols[2]:
        platform = _pick("Platform", admin.PLATFORMS, "f_platform")
    with cols[3]:
        account = st.text_input("Account id", key="f_account").strip() or None
    with cols[4]:
        project = st.text_input("Project id", key="f_project").strip() or None
    with cols[5]:
        when = st.selectbox("Created", ["window", "any time"], key="f_time",
                            format_func=lambda v: admin.WINDOW_LABELS[window_key]
                            if v == "window" else v)
    win = admin.window(window_key) if when == "window" else None
    rows = data.call(
        admin.list_jobs, status=status, account_id=account, project_id=project,
        backend=backend, platform=platform, created_from=win.start if win else None,
        limit=200,
    )
    st.caption(f"{len(rows)} job(s), newest first (at most 200)")
    st.dataframe(
        [{"id": r.id, "state": r.status, "progress": r.progress, "platform": r.platform,
          "backend": r.backend, "account": r.account_id, "project": r.project_id,
          "credits": r.credit_cost, "attempts": r.attempts, "downloads": r.download_count,
          "created": fmt.when(r.created_at), "finished": fmt.when(r.finished_at),
          "error": (r.error or "")[:120]} for r in rows],
        hide_index=True, key="jobs",
    )
    picked = st.selectbox("Open job", [""] + [r.id for r in rows], key="job_pick")
    typed = st.text_input("…or a job id", key="job_id").strip()
    job_id = typed or picked or st.query_params.get("job", "")
    if job_id:
        job_detail(job_id)


def job_detail(job_id: str) -> None:
    try:
        detail = data.call(admin.job_detail, job_id=job_id)
    except RenderbotError as exc:
        st.error(str(exc))
        return
    job = detail.job
    st.subheader(f"Job {job.id} — {job.status}")
    row = st.columns(5)
    row[0].metric("Progress", f"{job.progress}%")
    row[1].metric("Credits", fmt.count(job.credit_cost))
    row[2].metric("Attempts", fmt.count(job.attempts))
    row[3].metric("Downloads", fmt.count(detail.download_count))
    row[4].metric("Refunded", "yes" if detail.refunded else "no")
    st.markdown(
        f"Account **{detail.account_name}** `{job.account_id}` · project "
        f"**{detail.project_name}** `{job.project_id}` · backend `{job.backend}`"
        f"{f' ({detail.backend_ref})' if detail.backend_ref else ''} · platform "
        f"`{detail.platform or '—'}`"
    )
    st.caption(f"created {fmt.when(job.created_at)} · queued {fmt.when(detail.queued_at)} · "
               f"started {fmt.when(job.started_at)} · finished {fmt.when(job.finished_at)}")
    if job.error:
        st.error(job.error)
    if detail.error_detail:  # stderr, stack, paths: what creators never see
        with st.expander("Error detail (admins only)"):
            st.code(detail.error_detail, language="text")
    if job.result_url:
        st.markdown(f"[Download link]({job.result_url}) (signed, time-limited)")
    if job.poster_url and detail.output_expired_at is None:  # swept with the video
        st.image(job.poster_url, caption="Poster frame", width=320)
    st.caption(fmt.destination(detail.destination, detail.output_expired_at))
    if detail.cost_reported is not None:
        st.caption(f"cost reported by the backend: {fmt.usd(detail.cost_reported)}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Settings**")
        st.code(json.dumps(job.settings.model_dump(), indent=2), language="json")
    with right:
        st.markdown("**Origin**")
        st.code(json.dumps({**detail.origin, "callback_url": detail.callback_url}, indent=2),
                language="json")
    st.markdown("**Attempts**")
    st.dataframe(
        [{"series": a.series, "attempt": a.number, "started": fmt.when(a.started_at),
          "ended": fmt.when(a.ended_at), "outcome": a.outcome or "running",
          "error": a.error or ""} for a in detail.attempts],
        hide_index=True, key="attempts",
    )
    st.markdown("**Events**")
    st.dataframe(
        [{"at": fmt.when(e.at), "kind": e.kind, "state": e.state, "progress": e.progress,
          "actor": e.actor, "detail": json.dumps(e.detail) if e.detail else ""}
         for e in detail.events],
        hide_index=True, key="events",
    )
    st.markdown("**Credit entries**")
    st.dataframe(
        [{"id": e.id, "at": fmt.when(e.created_at), "kind": e.kind, "amount": e.amount,
          "balance after": e.balance_after, "by": e.actor, "note": e.note}
         for e in detail.credit_entries],
        hide_index=True, key="credit_entries",
    )
    actions.job_actions(detail)
