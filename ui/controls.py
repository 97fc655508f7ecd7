"""Widgets that edit the view (metric, column roles, model type, positive class).

Each widget mirrors the view: its session-state value is set from the view before it is drawn
and its change callback writes the view (and so the URL). The view stays the single source of
truth across pages, where a plain widget would lose its value when its page is left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import streamlit as st

from tracing.analysis import Analysis
from tracing.app_engine import EnginePlan, engine_metrics
from tracing.metrics import applicable_metrics
from tracing.schema import ColumnRoles, ModelType
from ui import fmt
from ui.state import ROLE_PARAMS, View, current_view, set_view

__all__ = ["CONFIRMED", "NONE", "ROLE_OF_FIELD", "metric_picker", "model_pickers", "role_pickers"]

NONE = "(none)"
CONFIRMED = "_confirmed_roles"  # session key: the pickers whose guess the user confirmed
# The picker (view parameter) of each ColumnRoles field, to put a message next to its picker.
ROLE_OF_FIELD = {field: param for param, field in ROLE_PARAMS.items()}

_ROLE_LABELS = {
    "prediction": ("Prediction", "The predicted label (classification) or value (regression)."),
    "score": ("Score", "Probability of the positive class (binary), or one column per class."),
    "actual": (
        "Actual",
        "The ground truth: what really happened. Until the real outcome arrives, any column "
        "can stand in for it (a chargeback flag for fraud, a cancellation request for churn); "
        "metrics then measure agreement with that column.",
    ),
    "id": ("Prediction ID", "Unique id per prediction (used to join delayed actuals)."),
    "timestamp": ("Timestamp", "When the prediction was made."),
}


def _mirror(key: str, value: Any) -> None:
    st.session_state[key] = value


def _apply(change: Callable[[View], View]) -> None:
    set_view(change(current_view()))


def metric_picker(
    analysis: Analysis, *, key: str, label: str = "Metric", plan: EnginePlan | None = None
) -> None:
    """Select the lead metric among those that fit the model (writes ``metric``).

    On a SQL engine (``plan``), only the metrics it computes (`tracing.app_engine.
    engine_metrics`).
    """
    fitting = applicable_metrics(analysis.schema)
    if plan is not None:
        fitting = engine_metrics(fitting, plan)
    metrics = {m.id: m for m in fitting}
    _mirror(key, analysis.metric.id)

    def changed() -> None:
        _apply(lambda v: replace(v, metric=st.session_state[key]))

    st.selectbox(
        label,
        list(metrics),
        format_func=lambda i: metrics[i].name,
        key=key,
        on_change=changed,
        help="The metric slices are ranked by. " + analysis.metric.description,
    )


def role_pickers(
    columns: Sequence[str],
    roles: ColumnRoles,
    *,
    prefix: str = "w_role_",
    problems: Mapping[str, Sequence[str]] | None = None,
    guesses: Mapping[str, str] | None = None,
) -> None:
    """Column pickers for prediction, score, actual, id, timestamp and features.

    ``problems`` (errors, in the app's words) and ``guesses`` (why a column was guessed) are
    keyed by view parameter (``"actual"``...) and shown right under their picker.
    """
    cols = list(columns)
    problems = problems or {}
    guesses = guesses or {}
    grid = st.columns(3)
    for i, (param, (label, help_text)) in enumerate(_ROLE_LABELS.items()):
        with grid[i % 3]:
            _role_picker(param, label, help_text, cols, roles, prefix + param)
            for text in problems.get(param, ()):
                st.error(fmt.md(text), icon=":material/error:")
            if param in guesses:
                st.caption(f":material/help: {fmt.md(guesses[param])}")
    key = prefix + "features"
    _mirror(key, [c for c in roles.features if c in cols])
    st.multiselect(
        "Features",
        cols,
        key=key,
        help="Columns to slice by and check for drift (default: every column without a role).",
        on_change=_role_changed,
        args=("features", key),
    )


def _role_picker(
    param: str, label: str, help_text: str, cols: list[str], roles: ColumnRoles, key: str
) -> None:
    value = getattr(roles, ROLE_PARAMS[param])
    if param == "score":
        _mirror(key, [c for c in value if c in cols])
        st.multiselect(
            label,
            cols,
            key=key,
            help=help_text,
            placeholder=NONE,
            on_change=_role_changed,
            args=(param, key),
        )
    else:
        _mirror(key, value if value in cols else NONE)
        st.selectbox(
            label,
            [NONE, *cols],
            key=key,
            help=help_text,
            on_change=_role_changed,
            args=(param, key),
        )


def _role_changed(param: str, key: str) -> None:
    value = st.session_state[key]
    if isinstance(value, list):
        text = ",".join(value)
        # An emptied feature list means "back to the default", not "no features".
        new: str | None = text if text or param != "features" else None
    else:
        new = "" if value == NONE else str(value)
    # A column the user picks is confirmed: no "guessed" note for it any more.
    st.session_state.setdefault(CONFIRMED, set()).add(param)
    _apply(lambda v: v.with_role(param, new))


def model_pickers(analysis: Analysis, *, prefix: str = "w_model_") -> None:
    """Model type and (binary) positive class pickers."""
    schema = analysis.schema
    left, right = st.columns(2)
    key = prefix + "type"
    _mirror(key, schema.model_type.value)

    def type_changed() -> None:
        chosen = st.session_state[key]
        _apply(
            lambda v: replace(v, model_type=chosen, positive_class=None, metric=None, slice=None)
        )

    with left:
        st.selectbox(
            "Model type",
            [m.value for m in ModelType],
            key=key,
            on_change=type_changed,
            help="Detected from the labels; change it if the guess is wrong.",
        )
    if schema.model_type is not ModelType.BINARY:
        return
    key_pc = prefix + "positive"
    options = [str(c) for c in schema.classes]
    _mirror(key_pc, str(schema.positive_class))

    def positive_changed() -> None:
        chosen = st.session_state[key_pc]
        _apply(lambda v: replace(v, positive_class=chosen, slice=None))

    with right:
        st.selectbox(
            "Positive class",
            options,
            key=key_pc,
            on_change=positive_changed,
            help="The label that counts as positive (e.g. fraud = 1) for recall, precision...",
        )
