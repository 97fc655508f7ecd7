"""What pages say about the engine: which one runs, progress while it works, sampled sections.

The decisions are `tracing.app_engine`'s (which engine, the sentences); this module only draws
them. In memory nothing changes: `progress` is the page's plain spinner and `sampled` draws
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from tracing.app_engine import opening_text, progress_text, sampled_text
from tracing.report import SAMPLED_ON_ENGINE, Section
from ui import cache, fmt
from ui.state import View

__all__ = ["opening", "progress", "sampled", "sampled_text_of"]


@contextmanager
def progress(key: cache.Key, what: str, *, side: str = "production") -> Iterator[None]:
    """Show a spinner saying what is computed, on how many rows, with which engine.

    ``what`` is the step ("Searching slices"); ``side`` whose rows it reads (``both``: the
    two sides' rows together). On a SQL engine the spinner also shows the time elapsed.
    """
    session = cache.engine(key)
    rows = None
    if session is not None:
        base, prod = session.analysis.rows
        rows = {"baseline": base, "production": prod, "both": base + prod}[side]
    text = progress_text(what, rows, cache.plan_of(key))
    with st.spinner(text, show_time=session is not None):
        yield


@contextmanager
def opening(view: View, memory_text: str = "Loading and checking the data…") -> Iterator[None]:
    """Show a spinner while the view's data is opened (on a SQL engine: what that costs)."""
    try:
        plan = None if cache.is_prepared(view) else cache.plan(view)
    except Exception:  # the page's own guard shows the error
        plan = None
    if plan is None or plan.in_memory:
        with st.spinner(memory_text):
            yield
        return
    with st.spinner(opening_text(plan), show_time=True):
        yield


def sampled_text_of(key: cache.Key) -> str | None:
    """Say that a row-level step runs on the engine's sample (None in memory)."""
    session = cache.engine(key)
    return None if session is None else sampled_text(session.analysis)


def sampled(key: cache.Key, what: str, *, section: Section | None = None) -> None:
    """Say, under a section, that it is computed on the engine's sample (nothing otherwise).

    ``section`` (a report section): said only while the report runs it on the sample
    (`tracing.report.SAMPLED_ON_ENGINE`), so a section pushed down to every row stops
    saying it by itself.
    """
    if section is not None and section not in SAMPLED_ON_ENGINE:
        return
    text = sampled_text_of(key)
    if text:
        st.caption(f":material/science: {fmt.md(what)}: {fmt.md(text)}.")
