"""Shared page furniture: headers, error guards, the sidebar summary, and the current analysis.

Every engine call on a page runs inside `guard`, which turns a `tracing.errors.DataError` into
an ``st.error`` carrying the engine's message (it names the file/column and the fix) and any
other exception into a short ``st.error`` with the details in the server log: a user never
sees a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from tracing.analysis import Analysis
from tracing.errors import DataError
from tracing.slices import parse_slice_id
from ui import cache, fmt
from ui.engine import opening
from ui.state import View, current_view, nav_params, set_view, view_listener, window_text

__all__ = [
    "PAGE_FILES",
    "frame",
    "guard",
    "header",
    "needs_actuals",
    "page_link",
    "require_analysis",
    "sidebar_summary",
    "tracing_banner",
    "tracing_text",
]

log = logging.getLogger("tracing.app")

# Page files by role, so pages can link to each other without repeating paths.
PAGE_FILES = {
    "data": "pages/data.py",
    "overview": "pages/overview.py",
    "slices": "pages/slices.py",
    "root_cause": "pages/root_cause.py",
    "explain": "pages/explain.py",
    "pipeline": "pages/pipeline.py",
    "share": "pages/share.py",
}


def _ensure_frame() -> None:
    """Rerun through ``app.py`` when Streamlit ran a page file on its own.

    Until some session of the server process has run ``app.py`` (whose ``st.navigation`` call
    switches Streamlit to its current multipage mode for good), a folder named ``pages/`` makes
    Streamlit treat the app as a legacy multipage app: a first request to ``/slices`` (a shared
    link opened after a restart) runs ``pages/slices.py`` alone, without navigation, sidebar or
    URL handling. Leaving legacy mode and rerunning fixes that: the page URL paths equal the
    file names, so the rerun lands on the same page. (Page files named differently from their
    URL paths would instead show a "Page not found" dialog.) Renaming the folder, e.g. to
    ``app_pages/`` as Streamlit recommends, would make this unnecessary.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_link(page: str, label: str, icon: str | None = None) -> None:
    """Link to another page (a `PAGE_FILES` id), carrying the view: one history entry.

    ``st.page_link(PAGE_FILES[...])`` alone drops the query, and the app's rewrite of the
    view can then add a second history entry (see `ui.state`).
    """
    st.page_link(PAGE_FILES[page], label=label, icon=icon, query_params=nav_params(current_view()))


# Where the sidebar summary goes in this script run (reserved by `frame`, under the menu).
_summary_slot: ContextVar[Any] = ContextVar("summary_slot", default=None)


@contextmanager
def frame(sections: Mapping[str, Sequence[Any]]) -> Iterator[None]:
    """Draw the sidebar around the page run inside the block: the menu, then the summary.

    The menu replaces Streamlit's own (``st.navigation(position="hidden")``), whose links
    drop the query, which the app then writes back: a race between Streamlit's history entry
    for the bare page and the app's for the view (in Chromium, sometimes two entries per
    visit). Its links carry the view (`ui.state.nav_params`), so the page's URL already shows
    it and there is nothing to write. They are redrawn whenever the page changes the view, so
    they never carry an older one, even when the page stops early (after ``st.stop`` nothing
    more is drawn in the run), which Back-detection (`ui.state.url_moved`) would take for a
    move through history.

    Parameters
    ----------
    sections : mapping of str -> sequence of st.Page
        The pages as given to ``st.navigation`` ("" = no section title).
    """
    menu, summary = st.sidebar.empty(), st.sidebar.empty()

    def draw_menu() -> None:
        query = nav_params(current_view())
        with menu.container():
            for section, pages in sections.items():
                if section:  # a small grey title, as Streamlit's own menu shows sections
                    st.markdown(f":small[:gray[{section}]]")
                for page in pages:
                    st.page_link(page, query_params=query)

    draw_menu()
    token = _summary_slot.set(summary)
    try:
        with view_listener(draw_menu):
            yield
    finally:
        _summary_slot.reset(token)


def header(title: str, caption: str, *, page: str | None = None) -> None:
    """Render a page title (a question the page answers) and a one-line caption.

    ``page`` (an id of `PAGE_FILES`) is accepted and ignored: a share link no longer opens on
    the page looked at last but on the finding's (`ui.state.finding_page`).
    """
    del page
    _ensure_frame()
    st.title(title)
    st.caption(caption)


@contextmanager
def guard(what: str, *, stop: bool = True, fix_link: bool = False) -> Iterator[None]:
    """Show engine errors as ``st.error`` (never a traceback); stop the page if ``stop``.

    Parameters
    ----------
    what : str
        What was being done, for unexpected errors ("finding slices").
    stop : bool, default True
        Stop the page after showing the error.
    fix_link : bool, default False
        Add a link to the Data page, where data and columns are fixed.
    """
    try:
        yield
    except DataError as exc:
        _failed(str(exc), stop=stop, fix_link=fix_link)
    except Exception as exc:  # the user must never see a traceback
        log.exception("unexpected error while %s", what)
        _failed(
            f"Something went wrong while {what} ({type(exc).__name__}). The details are in the "
            "server log; try other settings on the Data page, or report the problem.",
            stop=stop,
            fix_link=fix_link,
        )


def _failed(message: str, *, stop: bool, fix_link: bool) -> None:
    # Engine messages quote file and column names: shown as text, never as Markdown.
    st.error(fmt.md(message), icon=":material/error:")
    if fix_link:
        page_link("data", label="Fix the data or the columns", icon="🛠️")
    if stop:
        st.stop()


def require_analysis() -> tuple[Analysis, View, cache.Key]:
    """Return the current analysis, or explain what is wrong and stop the page."""
    view = current_view()
    with opening(view), guard("loading the data", fix_link=True):
        analysis, pinned, key = cache.analysis(view)
    if pinned != view:
        set_view(pinned)
    if _summary_slot.get() is not None:
        sidebar_summary()  # now: the page may stop early, and nothing is drawn after st.stop
    return analysis, pinned, key


def tracing_text(view: View, analysis: Analysis) -> str | None:
    """Say which period or version is traced against what (None: the whole files)."""
    if not (view.production_window or view.by_version):
        return None
    what = (
        f"model {view.version_production}"
        if view.by_version
        else window_text(view.production_window or "")
    )
    if view.by_version:
        days = f", {window_text(view.production_window)}" if view.production_window else ""
        against = f"against model {view.version_baseline} on the same traffic{days}"
    elif view.one_file:
        against = (
            f"against {window_text(view.baseline_window)}"
            if view.baseline_window
            else "against every earlier day"
        )
    else:
        against = f"against the baseline {fmt.md(analysis.names[0])}"
    return f"Tracing **{what}** {against}."


def tracing_banner(view: View, analysis: Analysis) -> None:
    """Remind, on the tracing pages, which period or version is being traced."""
    text = tracing_text(view, analysis)
    if text:
        st.markdown(f":material/target: {text} Change it on the Overview or the Data page.")


def needs_actuals(analysis: Analysis, what: str) -> None:
    """Explain that ``what`` needs production actuals and stop the page when there are none."""
    if analysis.has_actuals:
        return
    st.info(
        f"{what} needs actuals (what really happened), and production has none yet. "
        "To trace without waiting: join a file of delayed actuals on the Data page, choose "
        "another column as a proxy actual there, or trace an earlier period whose actuals have "
        "arrived (Overview). Meanwhile the Overview estimates performance from the scores and "
        "the Root cause page shows what drifted.",
        icon=":material/hourglass_empty:",
    )
    page_link("data", label="Join actuals on the Data page", icon="➡️")
    st.stop()


def sidebar_summary() -> None:
    """Show what is being compared, so a reader of a shared link knows at a glance.

    Drawn in the slot `frame` reserved (each call replaces the last), else at the end of the
    sidebar.
    """
    view = current_view()
    slot = _summary_slot.get()
    with st.sidebar if slot is None else slot.container():
        st.markdown("**Comparing**")
        try:
            analysis, pinned, key = cache.analysis(view)
            n_base, n_prod, with_actuals = cache.counts(key)  # every row, on any engine
            plan = cache.plan_of(key)
        except Exception:  # the page itself shows the error
            st.caption("No valid data loaded yet.")
            return
        if pinned != view:
            set_view(pinned)
        actuals = (
            "no actuals yet"
            if not with_actuals
            else f"{fmt.pct(with_actuals / max(n_prod, 1), 0)} with actuals"
            if with_actuals < n_prod
            else "all with actuals"
        )
        st.caption(
            f"Baseline: **{fmt.md(analysis.names[0])}** ({fmt.count(n_base)} rows)  \n"
            f"Production: **{fmt.md(analysis.names[1])}** ({fmt.count(n_prod)} rows, "
            f"{actuals})  \n"
            f"Model: {analysis.schema.model_type.value}; metric: **{analysis.metric.name}** "
            f"({fmt.direction_words(analysis.metric.direction)})"
            + ("" if plan.in_memory else f"  \nEngine: **{plan.title}**")
        )
        if pinned.slice:
            try:
                text = fmt.md_conditions(parse_slice_id(pinned.slice))
            except DataError:
                text = fmt.md(pinned.slice)
            st.caption(f"Selected slice: **{text}**")
