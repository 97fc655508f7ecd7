"""Performance tracing app: where and why a production model got worse.

Run with ``streamlit run app.py`` from the project folder. The entrypoint is the frame around
every page: it registers the pages, reads the view from the URL (a shared link starts a new
session) and shows what is being compared in the sidebar. Each page is one step of the white
paper's tracing workflow; see ``ui/state.py`` for the URL parameters.
"""

import streamlit as st

from tracing import settings
from ui import auth, layout, links
from ui.state import restore_url

st.set_page_config(
    page_title="Performance tracing",
    page_icon=":material/troubleshoot:",
    layout="wide",
)

files = layout.PAGE_FILES
pages = {
    "": [
        st.Page(files["data"], title="Data", icon=":material/database:", url_path="data"),
    ],
    "Trace the drop": [
        st.Page(
            files["overview"],
            title="1 · Overview",
            icon=":material/monitoring:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            files["slices"], title="2 · Slices", icon=":material/splitscreen:", url_path="slices"
        ),
        st.Page(
            files["root_cause"],
            title="3 · Root cause",
            icon=":material/search_insights:",
            url_path="root_cause",
        ),
    ],
    "Go further": [
        st.Page(
            files["explain"], title="Explain", icon=":material/psychology:", url_path="explain"
        ),
        st.Page(
            files["pipeline"],
            title="Pipeline",
            icon=":material/account_tree:",
            url_path="pipeline",
        ),
        st.Page(files["share"], title="Share", icon=":material/share:", url_path="share"),
    ],
}

# Bad server settings are the operator's to fix: name every one, serve nothing else.
bad_settings = settings.problems()
if bad_settings:
    for line in bad_settings:
        st.error(line, icon=":material/settings_alert:")
    st.stop()

# The menu is the app's own (`layout.frame`): Streamlit's drops the query, so each page visit
# took two history entries (its push, then the view written back). Registered before the gate
# so that no run falls back to Streamlit's legacy pages/ menu, which would list the pages.
page = st.navigation(pages, position="hidden")
# Sign-in next: without it (or outside the allow-list) nothing below is drawn, not even for a
# share link, which opens after sign-in (ui/auth.py).
auth.gate()
# A snapshot link (?link=lk-...) becomes the view it froze, on its page.
links.open_link()
# Re-write the view to the URL on every run: links that drop the query (a bare st.page_link).
restore_url()
with layout.frame(pages):
    try:
        page.run()
    finally:
        # After the page, which loads the data with a progress spinner (pages that load it
        # draw the summary themselves, as soon as it is loaded).
        layout.sidebar_summary()
