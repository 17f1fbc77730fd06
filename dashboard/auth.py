"""Who is signed in to the dashboard.

Every session signs in by name and password (``renderbot admins create``), or, when
``RENDERBOT_DASHBOARD__TRUSTED_USER_HEADER`` is set, is the admin named by that header
(set by an authenticating proxy). Nothing in the URL is ever a credential. The name is
re-checked on every rerun, so a disabled admin is out at their next click; core checks
the role again on every action.
"""

from __future__ import annotations

import streamlit as st

from core.admin import admins
from core.errors import RenderbotError
from dashboard import data

KEY = "signed_in"  # session_state: the AdminRead of this session


def current() -> admins.AdminRead | None:
    return st.session_state.get(KEY)


def name() -> str:
    who = current()
    return who.name if who else ""


def can_act() -> bool:
    who = current()
    return bool(who and who.can_act)


def require(settings) -> admins.AdminRead:
    """The signed-in admin, or the sign-in form and ``st.stop()``."""
    header = settings.dashboard.trusted_user_header
    if header:
        given = (st.context.headers.get(header) or "").strip()
        if not given:
            _refuse(f"this dashboard is only reachable through its sign-in proxy ({header})")
        try:
            who = data.call(admins.trusted, name=given)
        except RenderbotError as exc:
            _refuse(str(exc))
        st.session_state[KEY] = who
        return who
    who = current()
    if who is not None:
        try:
            who = data.call(admins.trusted, name=who.name)  # disabled since?
        except RenderbotError:
            st.session_state.pop(KEY, None)
            _sign_in_form(settings, "you were signed out: this admin is disabled")
        st.session_state[KEY] = who
        return who
    _sign_in_form(settings)
    raise AssertionError("unreachable")


def _refuse(text: str) -> None:
    st.title("renderbot admin")
    st.error(text)
    st.stop()


def _sign_in_form(settings, notice: str | None = None) -> None:
    st.title("renderbot admin")
    if notice:
        st.warning(notice)
    with st.form("sign_in_form"):
        given_name = st.text_input("Name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", key="sign_in")
    if submitted:
        try:
            who = data.call(admins.sign_in, name=given_name, password=password,
                            client=st.context.ip_address or "unknown",
                            throttle_url=settings.broker_url)
        except RenderbotError as exc:
            st.error(str(exc))
        else:
            st.session_state[KEY] = who
            st.session_state.pop("sign_in_password", None)
            st.rerun()
    st.caption("Admins are created with `renderbot admins create NAME --role viewer|operator`.")
    st.stop()


def sign_out() -> None:
    st.session_state.pop(KEY, None)
    st.session_state.pop("pending", None)
