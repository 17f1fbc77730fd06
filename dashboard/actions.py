"""Admin actions: each asks for confirmation, then calls one core.admin service (which
checks the signed-in admin is an operator and writes the audit trail with their name).
A viewer sees no action buttons. No rule or query lives here."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import streamlit as st

from core import admin
from core.errors import RenderbotError
from dashboard import auth, data
from dashboard import format as fmt

CHARGE_CHOICES = {"free": "free retry (no charge)", "recharge": "charge the credits again"}


def admin_name() -> str:
    return auth.name()


def read_only() -> bool:
    """True (and says so) when the signed-in admin may not act."""
    if auth.can_act():
        return False
    st.caption("Read-only: your role is viewer (operators act).")
    return True


def flash(ok: bool, text: str) -> None:
    st.session_state["flash"] = (ok, text)


def show_flash() -> None:
    found = st.session_state.pop("flash", None)
    if found:
        ok, text = found
        (st.success if ok else st.error)(text, icon="✅" if ok else "🚫")


def ask(key: str, label: str, payload: dict | None = None, *, disabled: bool = False) -> None:
    """A button that opens the confirmation box of action ``key`` with ``payload``."""
    if st.button(label, key=f"ask:{key}", disabled=disabled):
        st.session_state["pending"] = {"key": key, "nonce": uuid.uuid4().hex, **(payload or {})}


def confirm(key: str, question: Callable[[dict], str], run: Callable[[dict], str]) -> None:
    """When action ``key`` is pending: the question, then Confirm (runs it) or Abort."""
    pending = st.session_state.get("pending")
    if not pending or pending.get("key") != key:
        return
    st.warning(question(pending))
    yes, no = st.columns(2)
    if yes.button("Confirm", key=f"yes:{key}", type="primary"):
        st.session_state.pop("pending", None)
        try:
            flash(True, run(pending))
        except RenderbotError as exc:
            flash(False, str(exc))
        st.rerun()
    if no.button("Abort", key=f"no:{key}"):
        st.session_state.pop("pending", None)
        st.rerun()


def charge_choice(key: str, cost: int | None = None) -> str | None:
    """The explicit re-charge decision for a retry (nothing is preselected)."""
    labels = dict(CHARGE_CHOICES)
    if cost is not None:
        labels["recharge"] = f"charge {cost} credit(s) again"
    return st.radio("Retry charge", list(labels), index=None, format_func=labels.get, key=key,
                    horizontal=True)


# --- job actions ------------------------------------------------------------------------


def job_actions(detail: admin.JobDetail) -> None:
    job = detail.job
    st.subheader("Actions")
    if read_only():
        return
    cols = st.columns(3)
    with cols[0]:
        ask("cancel", "Cancel job…", {"job_id": job.id}, disabled=not detail.can_cancel)
    with cols[1]:
        choice = charge_choice("retry_charge", job.credit_cost) if detail.can_retry else None
        ask("retry", "Retry job…", {"job_id": job.id, "recharge": choice == "recharge"},
            disabled=not detail.can_retry or choice is None)
    with cols[2]:
        ask("refund", "Refund job…", {"job_id": job.id, "amount": job.credit_cost},
            disabled=not detail.can_refund)
    confirm("cancel", lambda p: f"Cancel job {p['job_id']}? A queued job is cancelled and "
            "refunded now; a rendering one is stopped by its worker.", _cancel)
    confirm("retry", lambda p: f"Retry job {p['job_id']} as a fresh attempt series, "
            + ("charging its credits again?" if p["recharge"] else "free of charge?"), _retry)
    confirm("refund", lambda p: f"Refund {p['amount']} credit(s) for job {p['job_id']}?",
            _refund)


def _cancel(p: dict) -> str:
    job = data.call(admin.cancel_job, job_id=p["job_id"], admin=admin_name(),
                    announce=data.announcer())
    return f"job {job.id} is {job.status}" + (" (cancel requested)" if job.cancel_requested else "")


def _retry(p: dict) -> str:
    job = data.call(admin.retry_job, job_id=p["job_id"], recharge=p["recharge"],
                    admin=admin_name(), enqueue=data.enqueuer())
    return f"job {job.id} is queued again ({'re-charged' if p['recharge'] else 'free retry'})"


def _refund(p: dict) -> str:
    job = data.call(admin.refund_job, job_id=p["job_id"], admin=admin_name())
    return f"job {job.id} refunded {job.credit_cost} credit(s)"


# --- window retry (health page) ---------------------------------------------------------


def window_retry(win: admin.Window, failed: int) -> None:
    st.subheader("Retry failed jobs in this window")
    if read_only():
        return
    choice = charge_choice("window_charge")
    ask("window_retry", f"Retry the {failed} failed job(s) of the {win.label}…",
        {"start": win.start.isoformat(), "end": win.end.isoformat(),
         "recharge": choice == "recharge", "failed": failed},
        disabled=failed == 0 or choice is None)
    confirm("window_retry", lambda p: (
        f"Retry the {p['failed']} job(s) that failed between "
        f"{fmt.when(datetime.fromisoformat(p['start']))} and "
        f"{fmt.when(datetime.fromisoformat(p['end']))}, "
        + ("charging their credits again?" if p["recharge"] else "free of charge?")
    ), _window_retry)


def _window_retry(p: dict) -> str:
    report = data.call(
        admin.retry_failed_in_window, start=datetime.fromisoformat(p["start"]),
        end=datetime.fromisoformat(p["end"]), recharge=p["recharge"], admin=admin_name(),
        enqueue=data.enqueuer(),
    )
    text = f"retried {len(report.retried)} job(s)"
    if report.skipped:
        text += f"; skipped {len(report.skipped)}: " + "; ".join(
            f"{k}: {v}" for k, v in list(report.skipped.items())[:5])
    if report.more:
        text += f"; more remain (at most {admin.MAX_WINDOW_RETRY} per run)"
    return text


# --- credits page -----------------------------------------------------------------------


def credits_page() -> None:
    st.header("Credits")
    account_id = st.text_input("Account id", key="grant_account").strip()
    if not account_id:
        st.caption("Enter an account id (from the job explorer) to see its ledger and grant credits.")
        return
    try:
        balance, entries = data.call(admin.account_ledger, account_id=account_id)
    except RenderbotError as exc:
        st.error(str(exc))
        return
    st.metric("Balance", fmt.count(balance))
    if not read_only():
        limit = data.settings().dashboard.max_grant
        amount = st.number_input("Credits to grant", min_value=1, max_value=limit,
                                 value=min(10, limit), step=1, key="grant_amount",
                                 help=f"at most {limit:,} per grant (RENDERBOT_DASHBOARD__MAX_GRANT)")
        note = st.text_input("Note (shown on the ledger)", key="grant_note")
        ask("grant", "Grant credits…", {"account_id": account_id, "amount": int(amount),
                                        "note": note})
        confirm("grant", lambda p: f"Grant {p['amount']} credit(s) to account "
                f"{p['account_id']}?", _grant)
    st.subheader("Latest ledger entries")
    st.dataframe(
        [{"id": e.id, "at": fmt.when(e.created_at), "kind": e.kind, "amount": e.amount,
          "balance after": e.balance_after, "job": e.job_id, "by": e.actor, "note": e.note}
         for e in entries],
        hide_index=True, key="ledger",
    )


def _grant(p: dict) -> str:
    entry = data.call(admin.grant, account_id=p["account_id"], amount=p["amount"],
                      admin=admin_name(), idempotency_key=p["nonce"], note=p["note"],
                      max_amount=data.settings().dashboard.max_grant)
    return f"granted {entry.amount} credit(s); balance now {entry.balance_after}"
