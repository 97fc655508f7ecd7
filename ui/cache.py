"""Every cached engine call of the app, keyed by dataset references and parameters.

Nothing here hashes a DataFrame: tables are cached by their reference plus a stamp that changes
with the file (`tracing.sources.source_stamp`), analyses by the view's data key, and engine
results by that key plus their parameters. Results are cached with ``st.cache_resource`` (one
shared, read-only object; no per-rerun unpickling of large frames): callers must not mutate
them. Engine errors (`tracing.errors.DataError`) propagate to the page, which shows them.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from tracing.analysis import Analysis, prepare_analysis
from tracing.compare import Comparison, compare
from tracing.drift import DriftResult, feature_drift
from tracing.drift import histogram as drift_histogram
from tracing.io import read_table
from tracing.labels import LabelConflicts, label_conflicts
from tracing.metrics import get_metric
from tracing.quality import quality_checks
from tracing.report import build_report
from tracing.rootcause import root_cause
from tracing.slices import Drilldown, SliceResult, drilldown, find_slices
from tracing.sources import resolve_source, source_stamp
from ui.state import View

if TYPE_CHECKING:  # shap and lightgbm load on first use only: they slow the app's start
    from tracing.explain import Explanation

__all__ = [
    "Key",
    "Loaded",
    "analysis",
    "comparison",
    "drift",
    "explanations",
    "histogram",
    "labels",
    "load_pair",
    "load_table",
    "prefetch_drilldowns",
    "quality",
    "report",
    "slice_drilldown",
    "slices",
    "suspects",
]

_TTL = "6h"
log = logging.getLogger("tracing.app")


@dataclass(frozen=True)
class Loaded:
    """A loaded table and its display name."""

    name: str
    frame: pd.DataFrame


@st.cache_resource(show_spinner=False, max_entries=8, ttl=_TTL)
def _load(ref: str, stamp: str) -> Loaded:
    name, data = resolve_source(ref)
    return Loaded(name, read_table(data, name=name))


def load_table(ref: str) -> Loaded:
    """Load the table behind a dataset reference (cached until the file changes)."""
    return _load(ref, source_stamp(ref))


def load_pair(view: View) -> tuple[Loaded, Loaded]:
    """Load the view's baseline and production tables."""
    return load_table(view.baseline), load_table(view.production)


Key = tuple[Any, ...]
"""Hashable identity of an analysis: the view's data key plus the files' stamps."""


class _LRU:
    """A small thread-safe LRU map (sessions run in parallel threads)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Key, Analysis] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Analysis | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: Key, value: Analysis) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _analyses() -> _LRU:
    return _LRU(6)


def _key(view: View) -> Key:
    return (*view.data_key(), source_stamp(view.baseline), source_stamp(view.production))


def analysis(view: View) -> tuple[Analysis, View, Key]:
    """Prepare (or fetch) the analysis of a view.

    Returns
    -------
    (Analysis, View, Key)
        The analysis with the view's metric, the view with detected roles and defaults made
        explicit (see `View.pinned`), and the key that engine calls are cached by.

    Raises
    ------
    DataError
        Bad data or roles; the message names the file/column and the fix.
    """
    key = _key(view)
    base = _analyses().get(key)
    if base is None:
        b, p = load_pair(view)
        base = prepare_analysis(
            b.frame,
            p.frame,
            names=(b.name, p.name),
            roles=view.overrides(),
            model_type=view.model_type,
            positive_class=view.positive_class,
        )
        _analyses().put(key, base)
    schema = base.schema
    pinned = view.pinned(
        schema.roles, schema.model_type.value, schema.positive_class, base.metric.id
    )
    # The pinned view describes the same analysis: register it so the next run is a hit.
    pinned_key = _key(pinned)
    if pinned_key != key and _analyses().get(pinned_key) is None:
        _analyses().put(pinned_key, base)
    chosen = base if not pinned.metric else replace(base, metric=get_metric(pinned.metric, schema))
    return chosen, pinned, pinned_key


def _from_key(key: Key, metric: str | None) -> Analysis:
    """Rebuild (or fetch) an analysis from its key, for cached engine wrappers."""
    baseline, production, roles, model_type, positive_class = key[:5]
    view = View(baseline, production, roles, model_type, positive_class, metric)
    return analysis(view)[0]


@st.cache_resource(show_spinner=False, max_entries=16, ttl=_TTL)
def comparison(key: Key) -> Comparison:
    """Return every metric, production vs baseline, with confidence intervals."""
    a = _from_key(key, None)
    return compare(a.baseline, a.production, random_state=0)


@st.cache_resource(show_spinner=False, max_entries=8, ttl=_TTL)
def report(
    key: Key, metric: str | None, sections: tuple[str, ...], options: tuple[tuple[str, Any], ...]
) -> dict[str, Any]:
    """Return the JSON-ready report (`tracing.report.build_report`) of an analysis."""
    return build_report(_from_key(key, metric), sections=list(sections), options=dict(options))


@st.cache_resource(show_spinner=False, max_entries=16, ttl=_TTL)
def slices(
    key: Key,
    metric: str | None,
    max_depth: int,
    min_size: int | None,
    features: tuple[str, ...] | None,
    top: int,
) -> SliceResult:
    """Return the top slices by impact (`tracing.slices.find_slices`)."""
    return find_slices(
        _from_key(key, metric),
        metric=metric,
        max_depth=max_depth,
        min_size=min_size,
        features=features,
        top=top,
    )


@st.cache_resource(show_spinner=False, max_entries=64, ttl=_TTL)
def slice_drilldown(
    key: Key,
    metric: str | None,
    max_depth: int,
    min_size: int | None,
    features: tuple[str, ...] | None,
    top: int,
    target: str,
) -> Drilldown:
    """Open one slice with the bins of the matching slice search (`tracing.slices.drilldown`)."""
    result = slices(key, metric, max_depth, min_size, features, top)
    return drilldown(_from_key(key, metric), target, result=result)


@st.cache_resource(show_spinner=False, max_entries=16, ttl=_TTL)
def drift(key: Key) -> DriftResult:
    """Return the drift of every column (`tracing.drift.feature_drift`)."""
    return feature_drift(_from_key(key, None))


@st.cache_resource(show_spinner=False, max_entries=64, ttl=_TTL)
def histogram(key: Key, column: str) -> pd.DataFrame:
    """Return one column's shares per shared bin (`tracing.drift.histogram`)."""
    return drift_histogram(_from_key(key, None), column)


@st.cache_resource(show_spinner=False, max_entries=16, ttl=_TTL)
def quality(key: Key) -> pd.DataFrame:
    """Return the data-quality findings (`tracing.quality.quality_checks`)."""
    return quality_checks(_from_key(key, None))


@st.cache_resource(show_spinner=False, max_entries=16, ttl=_TTL)
def labels(key: Key) -> LabelConflicts:
    """Return label conflicts and broken dependencies (`tracing.labels.label_conflicts`)."""
    return label_conflicts(_from_key(key, None))


@st.cache_resource(show_spinner=False, max_entries=16, ttl=_TTL)
def suspects(
    key: Key,
    metric: str | None,
    max_depth: int,
    min_size: int | None,
    features: tuple[str, ...] | None,
    top: int,
) -> pd.DataFrame:
    """Return the ranked root-cause suspects (`tracing.rootcause.root_cause`)."""
    return root_cause(
        _from_key(key, metric),
        slices=slices(key, metric, max_depth, min_size, features, top),
        drift=drift(key),
        quality=quality(key),
        conflicts=labels(key),
    )


class _Explanations:
    """Finished explanations by key; a miss is computed by the page, with a progress bar."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Key, Explanation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Explanation | None:
        with self._lock:
            return self._items.get(key)

    def compute(
        self, key: Key, analysis: Analysis, mask: Any, progress: Callable[[float, str], None]
    ) -> Explanation:
        found = self.get(key)
        if found is not None:
            return found
        from tracing.explain import explain

        result = explain(analysis, slice_mask=mask, random_state=0, progress=progress)
        with self._lock:
            self._items[key] = result
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return result


@st.cache_resource(show_spinner=False)
def explanations() -> _Explanations:
    """Return the process-wide store of SHAP explanations."""
    return _Explanations(8)


@st.cache_resource(show_spinner=False)
def _background() -> tuple[ThreadPoolExecutor, set[tuple[Any, ...]]]:
    # One worker: prefetching must not starve the sessions' own runs on a small machine.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch"), set()


def prefetch_drilldowns(
    key: Key,
    metric: str | None,
    max_depth: int,
    min_size: int | None,
    features: tuple[str, ...] | None,
    top: int,
    targets: list[str],
) -> None:
    """Open the given slices in the background, so the click that opens one is a cache hit.

    A drilldown re-reads every feature of both datasets (seconds at a million rows), while
    people take about as long to read the slice table before they click.
    """
    executor, submitted = _background()
    for target in targets:
        job = (key, metric, max_depth, min_size, features, top, target)
        if job in submitted:
            continue
        submitted.add(job)
        executor.submit(_quiet_drilldown, *job)


def _quiet_drilldown(*job: Any) -> None:
    try:
        slice_drilldown(*job)
    except Exception:  # a failed prefetch is retried, with its error shown, on the click
        log.debug("prefetching a drilldown failed", exc_info=True)
