"""The dashboard's entry script (`floyo dashboard` runs it): sign-in, then the pages in the sidebar."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from app_streamlit.client import ApiError, call
from app_streamlit.common import api_url

VIEWS = Path(__file__).parent / "views"
PAGES = [  # (file, title, icon): the sidebar's names, exactly
    ("overview.py", "Overview", ":material/dashboard:"),
    ("activity.py", "Activity", ":material/calendar_month:"),
    ("patterns.py", "Patterns", ":material/account_tree:"),
    ("suggestions.py", "Suggestions", ":material/lightbulb:"),
    ("models.py", "Models", ":material/model_training:"),
]
ADMIN_PAGES = [("operations.py", "Operations", ":material/monitor_heart:")]


def sign_in(tok: str) -> str | None:
    """Check a token with GET /api/v1/me; keep it in the session when it is good; else the error to show."""
    try:
        me = call(api_url(), tok, "GET", "/api/v1/me")
    except ApiError as exc:
        return str(exc)
    st.session_state["token"] = tok
    st.session_state["me"] = me
    return None


def _auto_sign_in() -> None:
    """FLOYO_DASHBOARD_TOKEN signs the person in once, at the session's start."""
    if st.session_state.get("auto_tried"):
        return
    st.session_state["auto_tried"] = True
    tok = os.environ.get("FLOYO_DASHBOARD_TOKEN", "").strip()
    if tok and "token" not in st.session_state:
        error = sign_in(tok)
        if error:
            st.session_state["sign_in_error"] = f"FLOYO_DASHBOARD_TOKEN did not sign you in. {error}"


def _sign_in_page() -> None:
    st.title("Sign in to Floyo")
    st.caption(f"API: {api_url()}")
    if error := st.session_state.pop("sign_in_error", None):
        st.error(error)
    with st.form("sign_in"):
        tok = st.text_input("Token", type="password", help="a device token (`floyo token create`) or a JWT")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        error = sign_in(tok.strip()) if tok.strip() else "Paste a token first."
        if error:
            st.error(error)
        else:
            st.rerun()


def _sign_out() -> None:
    for key in ("token", "me"):
        st.session_state.pop(key, None)
    st.cache_data.clear()


def main() -> None:
    st.set_page_config(page_title="Floyo", page_icon=":material/bolt:", layout="wide")
    _auto_sign_in()
    me = st.session_state.get("me")
    if not me:
        st.navigation([st.Page(_sign_in_page, title="Sign in", icon=":material/login:")]).run()
        return
    listed = PAGES + (ADMIN_PAGES if me.get("is_admin") else [])
    pages = [st.Page(str(VIEWS / f), title=t, icon=i, default=(t == "Overview")) for f, t, i in listed]
    with st.sidebar:
        device = f" ({me['device']})" if me.get("device") else ""
        st.caption(f"Signed in as **{me['user']}**{device}")
        st.button("Sign out", on_click=_sign_out)
    st.navigation(pages).run()


main()
