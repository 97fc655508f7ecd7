"""The view: everything a shared link must reproduce, kept in the session and in the URL.

One frozen `View` holds the datasets, column roles, model type, positive class, metric and
selected slice. It is read from the URL once per session (a shared link starts a new session),
kept in ``st.session_state`` afterwards, and written back to the URL on every change, so the
address bar is always a link to the current view. The page is the URL path (``/slices``).

Query parameters (all optional; the app opens on the fraud demo without them):

==================  ==========================================================================
``baseline``        dataset id (``ds-...``), path under an allowed folder, or URL (if enabled)
``production``      same, for the production data
``id``              prediction id column
``timestamp``       timestamp column
``prediction``      predicted label / value column
``score``           score column(s), comma-separated (binary: probability of the positive class)
``actual``          actual label / value column
``features``        feature columns, comma-separated (default: every other column)
``model_type``      ``binary``, ``multiclass`` or ``regression``
``positive_class``  binary: the positive label
``metric``          lead metric id (``recall``, ``mae``, ...)
``slice``           selected slice id (from the Slices page)
==================  ==========================================================================

A role parameter that is present but empty (``timestamp=``) means "no such column"; an absent
one means "detect it". Page-local controls (slice depth, minimum size...) are widgets bound to
their own query parameters with ``bind="query-params"``; this module never touches those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from tracing.schema import ColumnRoles
from tracing.sources import DEMO_DIR

__all__ = [
    "DEFAULT_DEPTH",
    "DEMOS",
    "DEPTH_KEY",
    "FOLD_KEY",
    "GLOBAL_PARAMS",
    "MIN_SIZE_KEY",
    "ROLE_PARAMS",
    "SLICE_BY_KEY",
    "SLICE_TOP",
    "Demo",
    "View",
    "current_view",
    "demo_view",
    "set_view",
    "share_url",
    "slice_settings",
    "sync_url",
    "app_base_url",
]

# URL parameter -> ColumnRoles field.
ROLE_PARAMS: dict[str, str] = {
    "id": "prediction_id",
    "timestamp": "timestamp",
    "prediction": "prediction_label",
    "score": "prediction_score",
    "actual": "actual_label",
    "features": "features",
}
_LIST_ROLES = {"score", "features"}
GLOBAL_PARAMS: tuple[str, ...] = (
    "baseline",
    "production",
    *ROLE_PARAMS,
    "model_type",
    "positive_class",
    "metric",
    "slice",
)
_SESSION_KEY = "_view"


@dataclass(frozen=True)
class Demo:
    """A bundled demo: two files and a one-line story."""

    key: str
    label: str
    baseline: str
    production: str
    story: str


def _demo_ref(name: str) -> str:
    """Return the demo file as a short path when the server runs from the project folder."""
    path = DEMO_DIR / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


DEMOS: dict[str, Demo] = {
    "fraud": Demo(
        "fraud",
        "Card fraud (binary classifier)",
        _demo_ref("fraud_training.parquet"),
        _demo_ref("fraud_production.parquet"),
        "A fraud model's recall collapsed in production week 2026-11-16: find out where.",
    ),
    "eta": Demo(
        "eta",
        "Ride ETA (regression)",
        _demo_ref("eta_training.parquet"),
        _demo_ref("eta_production.parquet"),
        "Arrival-time predictions became too optimistic in production: find out where.",
    ),
}


@dataclass(frozen=True)
class View:
    """Everything that defines what the app shows (the share link's content).

    Attributes
    ----------
    baseline, production : str
        Dataset references (see `tracing.sources`).
    roles : tuple of (str, str)
        Explicit column roles as (URL parameter, value) pairs; value ``""`` means "none";
        roles not listed are detected.
    model_type, positive_class, metric, slice : str or None
        Explicit choices; None means "default".
    """

    baseline: str
    production: str
    roles: tuple[tuple[str, str], ...] = ()
    model_type: str | None = None
    positive_class: str | None = None
    metric: str | None = None
    slice: str | None = None

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> View:
        """Build a view from URL parameters (missing data means the fraud demo)."""
        demo = DEMOS["fraud"]
        baseline = params.get("baseline") or ""
        production = params.get("production") or ""
        if not baseline and not production:
            baseline, production = demo.baseline, demo.production
        roles = tuple(
            (p, _clean_list(params[p]) if p in _LIST_ROLES else params[p].strip())
            for p in ROLE_PARAMS
            if p in params
        )
        return cls(
            baseline=baseline.strip(),
            production=production.strip(),
            roles=roles,
            model_type=_opt(params.get("model_type")),
            positive_class=_opt(params.get("positive_class"), strip=False),
            metric=_opt(params.get("metric")),
            slice=_opt(params.get("slice"), strip=False),
        )

    def overrides(self) -> dict[str, Any]:
        """Return the explicit roles in the form `tracing.analysis.prepare_analysis` takes."""
        out: dict[str, Any] = {}
        for param, value in self.roles:
            role = ROLE_PARAMS[param]
            if param in _LIST_ROLES:
                out[role] = tuple(v for v in value.split(",") if v)
            else:
                out[role] = value or None
        return out

    def data_key(self) -> tuple[Any, ...]:
        """Return a hashable key of everything the analysis (not the metric) depends on."""
        return (self.baseline, self.production, self.roles, self.model_type, self.positive_class)

    # -- writing ----------------------------------------------------------------------------

    def to_params(self) -> dict[str, str]:
        """Return the URL parameters of this view (only what is set)."""
        out = {"baseline": self.baseline, "production": self.production}
        out.update(dict(self.roles))
        for name in ("model_type", "positive_class", "metric", "slice"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def with_data(self, baseline: str, production: str) -> View:
        """Return a view on other data: roles, settings and slice start over."""
        return View(baseline=baseline.strip(), production=production.strip())

    def with_role(self, param: str, value: str | None) -> View:
        """Return the view with one role set (None = detect, "" = none); clears the slice."""
        roles = tuple((p, v) for p, v in self.roles if p != param)
        if value is not None:
            roles = tuple(sorted((*roles, (param, value)), key=lambda pv: _ORDER[pv[0]]))
        return replace(self, roles=roles, slice=None)

    def pinned(
        self, roles: ColumnRoles, model_type: str, positive_class: Any, metric: str
    ) -> View:
        """Return the view with detected roles and defaults made explicit.

        Pinning makes a shared link independent of detection rules. Features stay implicit
        (the default "every other column" keeps links short) unless the user chose them.
        """
        explicit = dict(self.roles)
        for param, role in ROLE_PARAMS.items():
            if param in explicit or param == "features":
                continue
            value = getattr(roles, role)
            text = ",".join(value) if isinstance(value, tuple) else (value or "")
            if text:
                explicit[param] = text
        ordered = tuple(sorted(explicit.items(), key=lambda pv: _ORDER[pv[0]]))
        return replace(
            self,
            roles=ordered,
            model_type=self.model_type or model_type,
            positive_class=(
                self.positive_class
                if self.positive_class is not None or positive_class is None
                else str(positive_class)
            ),
            metric=self.metric or metric,
        )


_ORDER = {p: i for i, p in enumerate(ROLE_PARAMS)}


def _opt(value: str | None, *, strip: bool = True) -> str | None:
    if value is None:
        return None
    value = value.strip() if strip else value
    return value or None


def _clean_list(value: str) -> str:
    return ",".join(v.strip() for v in value.split(",") if v.strip())


def demo_view(key: str) -> View:
    """Return the view of a bundled demo."""
    demo = DEMOS[key]
    return View(baseline=demo.baseline, production=demo.production)


def _url_params() -> dict[str, str]:
    return {k: st.query_params[k] for k in st.query_params}


def current_view() -> View:
    """Return the session's view; on a session's first run, read it from the URL."""
    view = st.session_state.get(_SESSION_KEY)
    if view is None:
        view = View.from_params(_url_params())
        st.session_state[_SESSION_KEY] = view
    return view  # type: ignore[no-any-return]


def set_view(view: View) -> None:
    """Make ``view`` the session's view and write it to the URL."""
    st.session_state[_SESSION_KEY] = view
    sync_url(view)


def sync_url(view: View) -> None:
    """Write the view's parameters to the URL (leaving unrelated and widget-bound ones)."""
    wanted = view.to_params()
    current = _url_params()
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changes:
        st.query_params.update(changes)
    for key in GLOBAL_PARAMS:
        if key not in wanted and key in current:
            del st.query_params[key]


def share_url(view: View, page_path: str, *, base: str) -> str:
    """Return an absolute link that opens ``page_path`` on ``view``.

    Parameters
    ----------
    view : View
        The view to share.
    page_path : str
        The page's URL path ("" for the default page).
    base : str
        The app's root URL (scheme, host, port and base path, ending with "/").
    """
    query = urlencode(view.to_params(), safe=",/:")
    return f"{base}{page_path}?{query}"


def app_base_url(current_url: str, page_path: str) -> str:
    """Return the app's root URL from the current page's URL (`st.context.url`)."""
    url = current_url.split("?", 1)[0]
    if page_path and url.rstrip("/").endswith("/" + page_path):
        url = url.rstrip("/")[: -len(page_path)]
    return url if url.endswith("/") else url + "/"


# Slice-search settings: widgets of the Slices page bound to their own URL parameters; other
# pages (root cause, explain, share) reuse the same search through `slice_settings`.
DEPTH_KEY, MIN_SIZE_KEY, SLICE_BY_KEY, FOLD_KEY = "depth", "min_size", "slice_by", "fold"
DEFAULT_DEPTH = 3
SLICE_TOP = 40


def slice_settings(
    slice_columns: tuple[str, ...],
) -> tuple[int, int | None, tuple[str, ...] | None]:
    """Return (max_depth, min_size, features) as last set on the Slices page (or defaults)."""
    ss = st.session_state
    depth = int(ss.get(DEPTH_KEY) or DEFAULT_DEPTH)
    min_size = ss.get(MIN_SIZE_KEY)
    chosen = ss.get(SLICE_BY_KEY)
    features = None if not chosen or set(chosen) == set(slice_columns) else tuple(chosen)
    return depth, (int(min_size) if min_size else None), features
