"""renderbot admin dashboard (``renderbot dashboard``; Streamlit)."""

from __future__ import annotations

import streamlit as st

from core import admin
from dashboard import actions, auth, data, explorer, health

PAGES = ("Health", "Jobs", "Credits")


def main() -> None:
    st.set_page_config(page_title="renderbot admin", page_icon="🎬", layout="wide")
    settings = data.settings()
    who = auth.require(settings)
    if "page" not in st.session_state:
        st.session_state["page"] = "Jobs" if st.query_params.get("job") else "Health"
    with st.sidebar:
        st.title("renderbot admin")
        page = st.radio("Page", PAGES, key="page")
        window_key = st.selectbox("Time window", list(admin.WINDOWS), index=1, key="window",
                                  format_func=admin.WINDOW_LABELS.get)
        st.caption(f"signed in as **{who.name}** ({who.role})")
        if not settings.dashboard.trusted_user_header and st.button("Sign out", key="sign_out"):
            auth.sign_out()
            st.rerun()
        every = settings.dashboard.refresh_seconds
        label = f"Auto-refresh every {every:g} s" if every > 0 else "Auto-refresh off"
        auto = st.checkbox(label, value=every > 0, key="auto", disabled=every <= 0,
                           help="RENDERBOT_DASHBOARD__REFRESH_SECONDS")
        if st.button("Refresh now", key="refresh"):
            st.rerun()
        st.caption(f"database: {settings.database_url.split('://')[0]}")
    actions.show_flash()
    if page == "Health":
        run_every = every if auto and every > 0 else None
        st.fragment(health.health_page, run_every=run_every)(window_key)
    elif page == "Jobs":
        explorer.jobs_page(window_key)
    else:
        actions.credits_page()


main()
