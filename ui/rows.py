"""Widgets that choose which rows are compared: windows, model versions, delayed actuals.

Three ways to get a baseline (`View`): a baseline file compared whole with the production file
(date ranges from a link are named, with a way back to the whole files), two date ranges of the
production file ("last 7 days vs the 30 days before"), or two model versions of the production
file on the same days. Delayed actuals are a third file joined to production by prediction id
(`tracing.actuals`); the actual column itself is picked with the other roles (`ui.controls`).
Every control mirrors the view and writes it (and so the URL) on change, like `ui.controls`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from tracing import sources
from tracing.actuals import JoinReport
from tracing.errors import DataError
from tracing.windows import VERSION_COLUMN, last_days_windows, model_versions, parse_window
from ui import auth, cache, fmt
from ui.layout import guard
from ui.state import View, current_view, set_view, window_text

__all__ = [
    "MODES",
    "actuals_section",
    "dates_window",
    "rows_section",
    "window_dates",
]

MODES = {
    "files": "Baseline file vs production file",
    "windows": "Two date ranges of the production file",
    "versions": "Two model versions, same days",
}
_LAST_BASELINE = "_baseline_file"  # the baseline file, while one-file modes are tried


# -- pure helpers ---------------------------------------------------------------------------


def dates_window(start: date, end: date) -> str:
    """Return the ``START,END`` window of whole days ``start`` to ``end`` (inclusive)."""
    return f"{start:%Y-%m-%d},{end:%Y-%m-%d}"


def window_dates(window: str | None, span: tuple[date, date]) -> tuple[date, date]:
    """Return the days a window covers, within ``span`` (the whole span without a window).

    An exclusive END at midnight (an exact window from a traced period) ends the day before.
    """
    if not window:
        return span
    try:
        w = parse_window(window)
    except DataError:
        return span
    start = w.start.date() if w.start is not None else span[0]
    end = span[1] if w.end is None else (w.end - pd.Timedelta(microseconds=1)).date()
    start = min(max(start, span[0]), span[1])
    end = min(max(end, start), span[1])
    return start, end


# -- which rows -----------------------------------------------------------------------------


def _mode(view: View) -> str:
    if view.by_version:
        return "versions"
    return "windows" if view.one_file else "files"


def _apply(view: View) -> None:
    set_view(view)


def rows_section(
    view: View,
    production: pd.DataFrame,
    timestamp: str | None,
) -> None:
    """Choose the baseline (file, date range, model version) and the production rows."""
    st.subheader("Which rows are compared?")
    st.caption(
        "Compare a baseline file with a production file, "
        "last week with the month before in one file, or two model versions that served the "
        "same traffic. A baseline file is chosen at the top of this page."
    )
    if view.baseline:
        st.session_state[_LAST_BASELINE] = view.baseline
    spans = {
        "production": cache.time_span(view.production, timestamp),
        "baseline": cache.time_span(view.baseline, timestamp) if view.baseline else None,
    }
    versions = [str(v) for v in model_versions(production)]
    modes = [
        m
        for m in MODES
        if (m == "files" and st.session_state.get(_LAST_BASELINE))
        or (m == "windows" and spans["production"])
        or (m == "versions" and len(versions) >= 2)
    ]
    mode = _mode(view)
    if mode not in modes:
        modes.append(mode)
    key = "w_rows_mode"
    st.session_state[key] = mode

    def mode_changed() -> None:
        _apply(_switch(current_view(), st.session_state[key], spans["production"], versions))

    st.radio(
        "Compare",
        modes,
        format_func=MODES.get,
        key=key,
        horizontal=True,
        on_change=mode_changed,
        help="Model versions need a 'model_version' column; date ranges need a timestamp.",
    )
    if mode == "files":
        _files_controls(view, spans)
    elif mode == "windows":
        _windows_controls(view, spans["production"])
    else:
        _versions_controls(view, versions, spans["production"])
    text = view.rows_text()
    if text:
        st.caption(f"Now comparing: {text}.")


def _switch(view: View, mode: str, span: tuple[date, date] | None, versions: list[str]) -> View:
    none: dict[str, str | None] = {
        "production_window": None,
        "baseline_window": None,
        "version_baseline": None,
        "version_production": None,
    }
    if mode == "files":
        baseline = st.session_state.get(_LAST_BASELINE) or view.baseline
        return replace(view.with_rows(**none), baseline=baseline)
    if mode == "versions":
        pair = {"version_baseline": versions[0], "version_production": versions[1]}
        return replace(view.with_rows(**{**none, **pair}), baseline="")
    prod, base = last_days_windows(span[1]) if span else (None, None)
    return replace(
        view.with_rows(**{**none, "production_window": prod, "baseline_window": base}),
        baseline="",
    )


def _range(
    label: str,
    key: str,
    window: str | None,
    span: tuple[date, date],
    write: Callable[[str | None], View],
    *,
    whole_is_none: bool,
    help_text: str,
) -> None:
    """Draw a date-range picker that mirrors one window of the view."""
    st.session_state[key] = window_dates(window, span)

    def changed() -> None:
        picked = st.session_state[key]
        if not isinstance(picked, Sequence) or len(picked) != 2:
            return  # the second day is not picked yet
        start, end = picked
        whole = (start, end) == span and whole_is_none
        _apply(write(None if whole else dates_window(start, end)))

    st.date_input(
        label,
        min_value=span[0],
        max_value=span[1],
        key=key,
        on_change=changed,
        help=help_text,
        format="YYYY-MM-DD",
    )
    if window and "T" in window:
        st.caption(f"Exactly {window_text(window)} (a traced period).")


def _files_controls(view: View, spans: dict[str, tuple[date, date] | None]) -> None:
    # File against file compares the files whole: date ranges belong to the one-file mode,
    # and showing them here read as if the files were being cut.
    if view.production_window or view.baseline_window:
        if st.button("Compare the whole files", key="w_whole_files"):
            _apply(current_view().with_rows(production_window=None, baseline_window=None))
            st.rerun()
    elif spans["production"]:
        st.caption(
            "Both files are compared whole. To compare date ranges of one file, choose "
            "'Two date ranges of the production file' above."
        )


def _windows_controls(view: View, span: tuple[date, date] | None) -> None:
    if span is None:
        st.warning("Date ranges need a timestamp column: pick it under Columns and model above.")
        return
    left, right = st.columns(2)
    with left:
        _range(
            "Production dates",
            "w_production_dates",
            view.production_window,
            span,
            lambda w: current_view().with_rows(production_window=w),
            whole_is_none=False,
            help_text="The rows where the model may be worse.",
        )
    with right:
        key = "w_baseline_kind"
        kinds = {"before": "Every day before production", "range": "These dates"}
        st.session_state[key] = "range" if view.baseline_window else "before"

        def kind_changed() -> None:
            now = current_view()
            if st.session_state[key] == "before":
                _apply(now.with_rows(baseline_window=None))
            else:
                start, _ = window_dates(now.production_window, span)
                first = max(span[0], start - timedelta(days=30))
                last = max(first, start - timedelta(days=1))
                _apply(now.with_rows(baseline_window=dates_window(first, last)))

        st.radio(
            "Baseline", list(kinds), format_func=kinds.get, key=key, horizontal=True,
            on_change=kind_changed,
        )  # fmt: skip
        if view.baseline_window:
            _range(
                "Baseline dates",
                "w_baseline_dates",
                view.baseline_window,
                span,
                lambda w: current_view().with_rows(baseline_window=w),
                whole_is_none=False,
                help_text="Rows you trust; they must not overlap production.",
            )
    if st.button(
        "Last 7 days vs the 30 days before", key="w_last_days", icon=":material/history:"
    ):
        prod, base = last_days_windows(span[1])
        _apply(current_view().with_rows(production_window=prod, baseline_window=base))
        st.rerun()


def _versions_controls(view: View, versions: list[str], span: tuple[date, date] | None) -> None:
    cols = st.columns(3)
    for col, side, label in (
        (cols[0], "version_baseline", "Baseline version"),
        (cols[1], "version_production", "Production version"),
    ):
        key = f"w_{side}"
        current = getattr(view, side)
        options = versions if current in versions else [*versions, current]
        st.session_state[key] = current

        def changed(side: str = side, key: str = key) -> None:
            _apply(current_view().with_rows(**{side: st.session_state[key]}))

        with col:
            st.selectbox(label, options, key=key, on_change=changed)
    with cols[2]:
        if span:
            _range(
                "Dates (both versions)",
                "w_production_dates",
                view.production_window,
                span,
                lambda w: current_view().with_rows(production_window=w),
                whole_is_none=True,
                help_text="Compare the versions on these days only (all days by default).",
            )
    st.caption(
        f"Rows of each version of {VERSION_COLUMN!r}: the baseline version is the champion, "
        "the production version the challenger, on the same traffic."
    )


# -- delayed actuals ------------------------------------------------------------------------


def join_cards(join: JoinReport) -> None:
    """Show the join's outcome as four cards: with/without actuals, unmatched, duplicates."""
    cards = st.columns(4)
    share = join.with_actuals / max(join.predictions, 1)
    cards[0].metric(
        "Predictions with an actual",
        fmt.count(join.with_actuals),
        delta=f"{fmt.pct(share)} of {fmt.count(join.predictions)}",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    cards[1].metric(
        "Predictions without",
        fmt.count(join.without_actuals),
        border=True,
        help="Their actual has not arrived yet: metrics leave them out; the estimate covers them.",
    )
    cards[2].metric(
        "Actuals with no prediction",
        fmt.count(join.unmatched_actuals),
        border=True,
        help="Ids in the actuals file that match no prediction (e.g. from another period).",
    )
    cards[3].metric(
        "Ids with several actuals",
        fmt.count(join.duplicate_actual_ids),
        border=True,
        help="The latest actual wins (by its timestamp, else by file order): "
        f"{fmt.count(join.superseded_actuals)} earlier rows were replaced. "
        f"{fmt.count(join.duplicate_prediction_ids)} prediction ids occur on several rows.",
    )


def actuals_section(view: View) -> None:
    """Join a delayed-actuals file (upload or path) and show the join.

    The actual column itself (or a proxy for it) is picked once, under "Actual" with the other
    column roles.
    """
    st.subheader("Actuals")
    st.caption(
        "Actuals often arrive days after the predictions. Join them from their own file "
        "(prediction id, actual, optionally actual_timestamp): the latest actual per id wins, "
        "and metrics use only the rows that have one. Without actuals, the Overview estimates "
        "performance from the scores (binary models), or pick a proxy under Actual above."
    )
    if view.actuals:
        with guard("joining the actuals", stop=False):
            found = cache.rows(view)
            if found.join is not None:
                join_cards(found.join)
        name = sources.describe_source(view.actuals).name
        left, right = st.columns([3, 1])
        by = found.join.id_column if found.join else "prediction id"
        left.caption(
            f"Joined: **{name}**, by {by}. The counts are over the whole production file, "
            "before any date range."
        )
        if right.button("Remove the actuals file", key="w_drop_actuals"):
            set_view(view.with_rows(actuals=None))
            st.rerun()
    up_col, path_col = st.columns(2)
    with up_col:
        upload = st.file_uploader(
            "Actuals file (CSV or Parquet)",
            type=["csv", "parquet", "pq", "tsv", "txt", "gz"],
            key="w_upload_actuals",
        )
        if upload is not None and st.session_state.get("_applied_actuals") != upload.file_id:
            with guard(f"storing {upload.name}", stop=False):
                ref = sources.store_upload(
                    upload.getvalue(), upload.name, uploader=auth.current_visitor().uploader
                )
                st.session_state["_applied_actuals"] = upload.file_id
                set_view(current_view().with_rows(actuals=ref))
                st.rerun()
    with path_col, st.form("actuals_form", border=False):
        st.text_input("…or its path", key="w_path_actuals", placeholder="demo_data/…")
        if st.form_submit_button("Join this file"):
            ref = st.session_state["w_path_actuals"].strip()
            try:
                sources.describe_source(ref)
            except DataError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                set_view(current_view().with_rows(actuals=ref))
                st.rerun()
