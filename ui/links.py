"""Share links as snapshots in the app: open ``?link=lk-...``, and make one on the Share page.

The records and their rules live in `tracing.links`; this module only turns a record into the
view it froze (its parameters, on its page) and draws the refusals.
"""

from __future__ import annotations

import streamlit as st

from tracing import links
from tracing.errors import DataError
from ui import fmt
from ui.layout import PAGE_FILES

__all__ = ["LINK_PARAM", "open_link", "snapshot_url"]

LINK_PARAM = "link"


def open_link() -> None:
    """On a ``?link=`` URL, go to the record's page with its parameters (or say why not)."""
    link_id = st.query_params.get(LINK_PARAM)
    if not link_id:
        return
    try:
        record = links.load_link(str(link_id))
    except DataError as exc:
        st.error(fmt.md(str(exc)), icon=":material/link_off:")
        st.stop()
    page = PAGE_FILES.get(record.page, PAGE_FILES["overview"])
    st.switch_page(page, query_params=record.params)


def snapshot_url(base: str, link_id: str) -> str:
    """Return the absolute URL of a link record (``base`` ends with "/")."""
    return f"{base}?{LINK_PARAM}={link_id}"
