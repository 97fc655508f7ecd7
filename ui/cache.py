"""Every cached engine call of the app, keyed by dataset references and parameters.

Nothing here hashes a DataFrame: tables are cached by their reference plus a stamp that changes
with the file (`tracing.sources.source_stamp`), the compared rows (actuals joined, versions and
windows cut) and analyses by the view's data key plus the stamps, and engine results by that
key plus their parameters. Results are shared, read-only objects (no per-rerun unpickling of
large frames): callers must not mutate them. Engine errors (`tracing.errors.DataError`)
propagate to the page, which shows them, and are not cached.

Every entry lives in one process-wide `tracing.bytecache.ByteLRU` holding at most
``TRACING_CACHE_MB`` (Streamlit's own caches bound entries and age, not bytes). Each entry
names its parents, the entries whose objects it references (a drilldown: its analysis and slice
search; an analysis: its compared rows; those: the loaded tables), so it is charged only for
what it adds, and evicting a parent evicts its children. The least recently used entries go
first; an entry that alone exceeds the budget is computed but not kept.

On a SQL engine (`tracing.app_engine.plan_engine`: a Parquet folder, glob or big file, by
``TRACING_ENGINE``'s rule) nothing is loaded into pandas: the key's `engine` session holds the
`tracing.engine_analysis.EngineAnalysis` (one per data and roles, kept open by
`tracing.app_engine.EngineStore`, not by the byte budget: it holds a connection), `analysis`
returns its uniform sample (schema, metric, frames for the pickers), and `comparison`,
`counts`, `slice_features`, `slices`, `slice_drilldown`, `timeline` and `report` run on every
row, under the
session's lock (one query at a time per connection). Drift, quality and label conflicts come
from `tracing.report.ReportRun`, so they follow the report when it pushes them down; the time
series and explanations run on the sample, and the pages say so (`ui.engine.sampled`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from tracing import settings
from tracing.admission import admission
from tracing.analysis import Analysis, prepare_analysis
from tracing.app_engine import (
    EnginePlan,
    EngineSession,
    data_stamp,
    display_name,
    memory_only_reason,
    open_engine,
    open_sessions,
    plan_engine,
    row_counts,
    sample_notes,
)
from tracing.bytecache import ByteLRU, nbytes, process_store
from tracing.compare import Comparison, compare
from tracing.drift import DriftResult, feature_drift
from tracing.drift import histogram as drift_histogram
from tracing.errors import DataError
from tracing.io import read_table, visitor_limits
from tracing.labels import LabelConflicts, label_conflicts
from tracing.metrics import get_metric
from tracing.options import ReportOptions, SliceSearch
from tracing.quality import quality_checks
from tracing.report import ReportRun, build_report
from tracing.rootcause import root_cause
from tracing.rows import ComparedRows, RowsSpec, compared_rows
from tracing.selection import ActualsCoverage
from tracing.selection import actuals_coverage as coverage_of_actuals
from tracing.slices import Drilldown, SliceResult, default_features, drilldown, find_slices
from tracing.sources import resolve_source, source_stamp
from tracing.store import dataset_name, is_dataset_id
from tracing.timeline import Timeline, metric_timeline
from tracing.windows import VERSION_COLUMN, parse_timestamps
from ui.auth import current_visitor
from ui.state import View

if TYPE_CHECKING:  # shap and lightgbm load on first use only: they slow the app's start
    from tracing.explain import Explanation

__all__ = [
    "Key",
    "Loaded",
    "actuals_coverage",
    "analysis",
    "comparison",
    "counts",
    "drift",
    "engine",
    "explanations",
    "histogram",
    "labels",
    "load_pair",
    "is_prepared",
    "load_table",
    "plan",
    "plan_of",
    "prefetch_drilldowns",
    "quality",
    "report",
    "rows",
    "slice_drilldown",
    "slice_features",
    "slices",
    "suspects",
    "time_span",
    "timeline",
]

log = logging.getLogger("tracing.app")

Key = tuple[Any, ...]
"""Hashable identity of an analysis: the view's data key plus the files' stamps."""

P = ParamSpec("P")
R = TypeVar("R")


def memory() -> ByteLRU[Hashable, Any]:
    """Return the process-wide byte-bounded store (a new one when ``TRACING_CACHE_MB`` changes).

    The engine's memos (`tracing.memo`) share it, so one budget bounds both.
    """
    return process_store()


def _cached(
    kind: str, parents: Callable[..., Iterable[Key]] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a function of hashable positional arguments in `memory` under ``(kind, *args)``.

    ``parents(*args)`` names the entries the result references (see the module docstring).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs:
                raise TypeError(f"{fn.__name__} takes positional arguments only (its cache key)")
            named: Callable[[], Iterable[Key]] = (
                (lambda: parents(*args)) if parents is not None else tuple
            )
            value: R = memory().get_or_compute(
                (kind, *args), lambda: fn(*args, **kwargs), parents=named
            )
            return value

        return wrapper

    return decorate


def _on_load(ref: str, stamp: str, *rest: Any) -> list[Key]:
    return [("load", ref, stamp)]


def _on_analysis(key: Key, *rest: Any) -> list[Key]:
    return [("analysis", key)]


@dataclass(frozen=True)
class Loaded:
    """A loaded table and its display name."""

    name: str
    frame: pd.DataFrame


@contextmanager
def _admitted(what: str) -> Iterator[None]:
    """Run a heavy step when the server's gate lets it (``TRACING_MAX_CONCURRENT``).

    While it waits, the page says so, with its place in the queue; the message goes once the
    step starts. Background threads (prefetches) have no page: they wait silently.
    """
    box: Any = None

    def waiting(place: int) -> None:
        nonlocal box
        with contextlib.suppress(Exception):  # no page in a background thread
            box = box or st.empty()
            ahead = "next in line" if place == 1 else f"{place - 1} ahead of you"
            box.info(
                f"Queued ({ahead}): this server runs a few heavy analyses at a time, and "
                f"{what} starts by itself when one finishes.",
                icon=":material/hourglass_top:",
            )

    with admission().slot(waiting):
        if box is not None:
            with contextlib.suppress(Exception):
                box.empty()
        yield


@_cached("load")
def _load(ref: str, stamp: str) -> Loaded:
    with _admitted("reading the file"):
        name, data = resolve_source(ref)
        # Visitors reach these files (uploads, URLs, link sources): the server's caps apply.
        return Loaded(name, read_table(data, name=name, limits=visitor_limits()))


def load_table(ref: str) -> Loaded:
    """Load the table behind a dataset reference (cached until the file changes).

    An upload is named as *this* visitor named it (their upload record), or by its id: the
    table is shared between visitors, the name is not (`tracing.store`).
    """
    loaded = _load(ref, source_stamp(ref))
    if is_dataset_id(ref):
        return replace(loaded, name=dataset_name(ref, uploader=current_visitor().uploader))
    return loaded


def load_pair(view: View) -> tuple[Loaded | None, Loaded]:
    """Load the view's baseline (None: cut from production) and production tables."""
    base = load_table(view.baseline) if view.baseline else None
    return base, load_table(view.production)


@_cached("span", _on_load)
def _span(ref: str, stamp: str, column: str) -> tuple[date, date] | None:
    frame = _load(ref, stamp).frame
    if column not in frame.columns:
        return None
    times = parse_timestamps(frame[column], name=_load(ref, stamp).name).dropna()
    if times.empty:
        return None
    return times.min().date(), times.max().date()


def time_span(ref: str, column: str | None) -> tuple[date, date] | None:
    """First and last day of a table's timestamp column (None: no such column or no dates).

    Raises
    ------
    DataError
        If the column holds values that are not dates.
    """
    return _span(ref, source_stamp(ref), column) if ref and column else None


def _stamp(ref: str | None) -> str:
    # Files by size and time; a folder or pattern by its files' (tracing.app_engine).
    return data_stamp(ref) if ref else ""


def _key(view: View) -> Key:
    refs = (view.baseline, view.production, view.actuals)
    # Uploads carry each uploader's own file name into the analysis: one entry per uploader.
    who = current_visitor().uploader if any(r and is_dataset_id(r) for r in refs) else ""
    return (
        view.data_key(),
        _stamp(view.baseline),
        _stamp(view.production),
        _stamp(view.actuals),
        who,
        # the engine asked for: the same data is another analysis on another engine
        str(settings.get("TRACING_ENGINE")),
    )


@_cached("plan")
def _plan(key: Key) -> EnginePlan:
    view: View = key[0]
    memory_only = memory_only_reason(
        one_file=view.one_file,
        windows=bool(view.production_window or view.baseline_window),
        versions=view.by_version,
        actuals=bool(view.actuals),
    )
    return plan_engine(key[-1], view.baseline, view.production, memory_only=memory_only)


def plan_of(key: Key) -> EnginePlan:
    """Return the engine an analysis key runs on (see `plan`)."""
    return _plan(key)


def is_prepared(view: View) -> bool:
    """Whether the view's analysis is ready (a page then need not say it is opening it)."""
    try:
        return memory().get(("analysis", _key(view))) is not None
    except DataError:
        return False


def plan(view: View) -> EnginePlan:
    """Return the engine the view runs on and why (`tracing.app_engine.plan_engine`).

    Raises
    ------
    DataError
        Data no engine can read as the view asks (the message says what to change).
    """
    return _plan(_key(view))


def engine(key: Key) -> EngineSession | None:
    """Return the engine session of an analysis key (None: the rows are in memory).

    Opened on first use (counting every row and drawing the sample: seconds to a minute on
    big data) and kept open for the next calls, by every visitor (`tracing.app_engine.
    EngineStore`). Raises `DataError` as `analysis` does.
    """
    found = _plan(key)
    if found.in_memory:
        return None
    view: View = key[0]

    def opened() -> EngineSession:
        with _admitted("opening the data"):
            return open_engine(
                found,
                names=(display_name(view.baseline), display_name(view.production)),
                roles=view.overrides(),
                model_type=view.model_type,
                positive_class=view.positive_class,
            )

    return open_sessions().get_or_open(key, opened)


@contextmanager
def _engine_call(key: Key) -> Iterator[Any]:
    """Yield what an engine step runs on: the key's engine analysis, or its memory analysis.

    An engine analysis is held under its session's lock (one query at a time per
    connection).
    """
    session = engine(key)
    if session is None:
        yield _from_key(key, None)
        return
    with session.using(background=getattr(_thread, "background", False)) as held:
        yield held


# Set in prefetch threads: their engine calls give way to the visitors' (`EngineSession.using`).
_thread = threading.local()


@_cached("counts")
def counts(key: Key) -> tuple[int, int, int]:
    """Return every baseline row, every production row and production's rows with actuals."""
    with _engine_call(key) as target:
        if isinstance(target, Analysis):
            return (
                target.baseline.n_rows,
                target.production.n_rows,
                int(target.production.valid.sum()),
            )
        return row_counts(target)


def rows(view: View) -> ComparedRows:
    """Return the rows the view compares (cached; see `tracing.rows.ComparedRows`).

    Raises
    ------
    DataError
        Unreadable files, an actuals file that cannot be joined, bad or empty windows,
        unknown model versions, or no baseline at all.
    """
    return _rows(_key(view))


def _spec(view: View) -> RowsSpec:
    """Return the windows and versions of a view; two versions share the production window."""
    if view.by_version:
        return RowsSpec(
            production_window=view.production_window,
            version_baseline=view.version_baseline,
            version_production=view.version_production,
        )
    return RowsSpec(production_window=view.production_window, baseline_window=view.baseline_window)


def _on_files(key: Key) -> list[Key]:
    view: View = key[0]
    refs = (view.baseline, view.production, view.actuals)
    return [("load", ref, stamp) for ref, stamp in zip(refs, key[1:4], strict=True) if ref]


@_cached("rows", _on_files)
def _rows(key: Key) -> ComparedRows:
    view: View = key[0]
    if not _plan(key).in_memory:  # never load a SQL engine's data into pandas
        raise DataError(
            f"the rows of {view.production} stay in the {_plan(key).engine} engine; this step "
            "runs in memory only."
        )
    spec = _spec(view)  # bad windows fail here, before any file is read
    base, prod = load_pair(view)
    if spec.by_version:
        base = None  # two versions of the production file: a baseline file does not apply
    actuals = load_table(view.actuals) if view.actuals else None
    found = compared_rows(
        prod.frame,
        base.frame if base else None,
        spec=spec,
        names=(base.name if base else "baseline", prod.name),
        actuals=actuals.frame if actuals else None,
        actuals_name=actuals.name if actuals else "actuals",
        roles=view.overrides(),
    )
    if found.baseline is None:
        raise DataError(
            "no baseline: choose a baseline file, a baseline window of the production "
            f"file, or two model versions (a {VERSION_COLUMN!r} column) on the Data page."
        )
    return found


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
    base: Analysis = memory().get_or_compute(
        ("analysis", key), lambda: _prepare(key), parents=lambda: [("rows", key)]
    )
    schema = base.schema
    pinned = view.pinned(
        schema.roles, schema.model_type.value, schema.positive_class, base.metric.id
    )
    # The pinned view describes the same analysis: register it so the next run is a hit (an
    # alias charged nothing while the original entry holds the analysis).
    pinned_key = _key(pinned)
    if pinned_key != key:
        memory().get_or_compute(
            ("analysis", pinned_key), lambda: base, parents=lambda: [("analysis", key)]
        )
        open_sessions().alias(pinned_key, key)  # the same engine analysis, not a second one
    chosen = base if not pinned.metric else replace(base, metric=get_metric(pinned.metric, schema))
    return chosen, pinned, pinned_key


def _prepare(key: Key) -> Analysis:
    view: View = key[0]
    session = engine(key)
    if session is not None:
        # Pages read schema, metric and frames from the engine's sample; every number they
        # show comes from the engine (`comparison`, `slices`, `counts`...).
        sample = session.analysis.sample
        return replace(sample, notes=sample_notes(session.analysis))
    found = rows(view)
    assert found.baseline is not None  # `_rows` refuses a view without one
    base = prepare_analysis(
        found.baseline,
        found.production,
        names=found.names,
        roles=view.overrides(),
        model_type=view.model_type,
        positive_class=view.positive_class,
        require_actuals=False,  # production without actuals: drift and estimates still work
    )
    _warm_explain()
    return replace(base, notes=(*found.notes, *base.notes))


def _from_key(key: Key, metric: str | None) -> Analysis:
    """Rebuild (or fetch) an analysis from its key, for cached engine wrappers."""
    view: View = key[0]
    return analysis(replace(view, metric=metric))[0]


def _on_timeline(key: Key, *rest: Any) -> list[Key]:
    return [("analysis", key), ("rows", key)]


def _on_slices(key: Key, metric: str | None, search: SliceSearch) -> list[Key]:
    return [("analysis", key), ("slices", key, metric, search.searched())]


def _on_drilldown(key: Key, metric: str | None, search: SliceSearch, target: str) -> list[Key]:
    return [("analysis", key), ("slices", key, metric, search)]


def _on_suspects(key: Key, metric: str | None, search: SliceSearch) -> list[Key]:
    parts = [("drift", key), ("quality", key), ("labels", key)]
    return [("analysis", key), ("slices", key, metric, search), *parts]


@_cached("comparison", _on_analysis)
def comparison(key: Key) -> Comparison:
    """Return every metric, production vs baseline, with confidence intervals.

    For binary models with scores, each metric is also estimated from the scores.
    """
    with _engine_call(key) as a:
        if not isinstance(a, Analysis):
            from tracing.engine_analysis import engine_compare

            return engine_compare(a, estimate=True)  # every row; the views cut no versions
        # Two model versions: one model's calibration says nothing about the other's scores.
        frame = None if key[0].by_version else a.production_frame
        return compare(a.baseline, a.production, random_state=0, production_frame=frame)


@_cached("timeline", _on_timeline)
def timeline(
    key: Key, metric: str | None, freq: str | None, band: str, window: int, k: float
) -> Timeline:
    """Return the metric per period of the whole production (`tracing.timeline`).

    ``band`` is ``"baseline"`` (the baseline's periods; needs
    `ComparedRows.timeline_baseline` with a timestamp) or ``"rolling"`` (the previous
    ``window`` periods of production).
    """
    a = _from_key(key, metric)
    if engine(key) is not None:
        from tracing.engine_timeline import engine_timeline

        with _engine_call(key) as held:  # every row (its notes say what ran on the sample)
            return engine_timeline(
                held,
                metric=a.metric,
                freq=freq,
                window=None if band == "baseline" else window,
                k=k,
            )
    found = rows(key[0])
    return metric_timeline(
        found.timeline_production,
        found.timeline_baseline,
        schema=a.schema,
        metric=a.metric,
        freq=freq,
        window=None if band == "baseline" else window,
        k=k,
        estimate=not key[0].by_version,  # see `comparison`
        names=a.names,
    )


@_cached("report", _on_analysis)
def report(key: Key, sections: tuple[str, ...], options: ReportOptions) -> dict[str, Any]:
    """Return the JSON-ready report (`tracing.report.build_report`) of an analysis."""
    if engine(key) is None:
        analysis = _from_key(key, options.metric)
        return build_report(analysis, sections=list(sections), options=options)
    with _engine_call(key) as held:  # every row in the engine; sampled sections say so
        return build_report(held, sections=list(sections), options=options)


@_cached("slice_features", _on_analysis)
def slice_features(key: Key) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Return the default slice features and the columns left out, with why."""
    with _engine_call(key) as target:
        return default_features(target)


@_cached("slices", _on_slices)
def slices(key: Key, metric: str | None, search: SliceSearch) -> SliceResult:
    """Return the top slices by impact (`tracing.slices.find_slices`).

    ``search.distinct`` only decides what is listed, so it is not part of the search's key.
    """
    if not search.distinct:
        return slices(key, metric, search.searched())
    with _admitted("the slice search"), _engine_call(key) as target:
        # in memory: the analysis with the view's metric (the search's own default)
        analysis = _from_key(key, metric) if isinstance(target, Analysis) else target
        return find_slices(analysis, metric=metric, **search.search_kwargs())


@_cached("slice_drilldown", _on_drilldown)
def slice_drilldown(key: Key, metric: str | None, search: SliceSearch, target: str) -> Drilldown:
    """Open one slice with the bins of the matching slice search (`tracing.slices.drilldown`)."""
    result = slices(key, metric, search)
    with _engine_call(key) as held:  # an engine: one grouping-sets query per side
        analysis = _from_key(key, metric) if isinstance(held, Analysis) else held
        return drilldown(analysis, target, result=result)


@_cached("actuals_coverage", _on_analysis)
def actuals_coverage(key: Key) -> ActualsCoverage | None:
    """Return whether production's rows with actuals are a selected subset."""
    return coverage_of_actuals(_from_key(key, None))


@_cached("drift", _on_analysis)
def drift(key: Key) -> DriftResult:
    """Return the drift of every column (`tracing.drift.feature_drift`)."""
    run = _engine_run(key)
    if run is None:
        return feature_drift(_from_key(key, None))
    with run[0].using():
        return run[1].drift


@_cached("histogram", _on_analysis)
def histogram(key: Key, column: str) -> pd.DataFrame:
    """Return one column's shares per shared bin (`tracing.drift.histogram`)."""
    return drift_histogram(_from_key(key, None), column)


@_cached("quality", _on_analysis)
def quality(key: Key) -> pd.DataFrame:
    """Return the data-quality findings (`tracing.quality.quality_checks`)."""
    run = _engine_run(key)
    if run is None:
        return quality_checks(_from_key(key, None))
    with run[0].using():
        return run[1].quality


@_cached("labels", _on_analysis)
def labels(key: Key) -> LabelConflicts:
    """Return label conflicts and broken dependencies (`tracing.labels.label_conflicts`)."""
    run = _engine_run(key)
    if run is None:
        return label_conflicts(_from_key(key, None))
    with run[0].using():
        return run[1].conflicts


def _engine_run(key: Key) -> tuple[EngineSession, ReportRun] | None:
    """Return an engine key's report run (None in memory), for the steps it computes.

    Drift, quality and label conflicts come from `tracing.report.ReportRun`, so they run where
    the report's do: on every row in the engine (what still runs on its sample, the report's
    notes say).
    """
    session = engine(key)
    if session is None:
        return None
    return session, ReportRun(session.analysis, ReportOptions())


@_cached("suspects", _on_suspects)
def suspects(key: Key, metric: str | None, search: SliceSearch) -> pd.DataFrame:
    """Return the ranked root-cause suspects (`tracing.rootcause.root_cause`)."""
    return root_cause(
        _from_key(key, metric),
        slices=slices(key, metric, search),
        drift=drift(key),
        quality=quality(key),
        conflicts=labels(key),
    )


class _Explanations:
    """Finished explanations by key and pass; a miss is computed by the page, with a progress bar.

    The page shows the quick first pass (`tracing.explain.explain` with ``quick=True``, a
    second or two) and starts the full pass in the background; the full pass replaces the quick
    one once it is done, or when the visitor asks for it (waiting for the background job if it
    is still running, never computing it twice).
    """

    def __init__(self) -> None:
        self._running: dict[Key, Future[Explanation]] = {}
        self._lock = threading.Lock()

    def get(self, key: Key, *, quick: bool = False) -> Explanation | None:
        """Return the finished explanation of one pass (None: not computed yet)."""
        found: Explanation | None = memory().get(("explanation", key, quick))
        return found

    def best(self, key: Key) -> Explanation | None:
        """Return the full pass if it is done, else the quick pass, else None."""
        return self.get(key) or self.get(key, quick=True)

    def compute(
        self,
        key: Key,
        analysis: Analysis,
        mask: Any,
        progress: Callable[[float, str], None],
        *,
        quick: bool = False,
    ) -> Explanation:
        """Return one pass, computing it here unless it is done (or, full pass, running)."""
        found = self.get(key, quick=quick)
        if found is not None:
            return found
        if not quick:
            with self._lock:
                running = self._running.get(key)
            if running is not None:
                progress(0.5, "finishing the full pass started in the background")
                return running.result()
        return self._run(key, analysis, mask, progress, quick=quick)

    def _run(
        self,
        key: Key,
        analysis: Analysis,
        mask: Any,
        progress: Callable[[float, str], None],
        *,
        quick: bool,
    ) -> Explanation:
        from tracing.explain import explain

        with _admitted("computing SHAP values"):
            result = explain(
                analysis, slice_mask=mask, random_state=0, progress=progress, quick=quick
            )
        memory().put(("explanation", key, quick), result, nbytes(result))
        return result

    def prefetch_full(self, key: Key, analysis: Analysis, mask: Any) -> None:
        """Start the full pass in the background (once per key)."""
        with self._lock:
            if key in self._running or self.get(key) is not None:
                return
            executor, _ = _background()
            self._running[key] = executor.submit(self._full, key, analysis, mask)

    def _full(self, key: Key, analysis: Analysis, mask: Any) -> Explanation:
        try:
            return self._run(key, analysis, mask, _no_progress, quick=False)
        finally:
            with self._lock:
                self._running.pop(key, None)


def _no_progress(fraction: float, message: str) -> None:
    del fraction, message


@st.cache_resource(show_spinner=False)
def explanations() -> _Explanations:
    """Return the process-wide store of SHAP explanations."""
    return _Explanations()


@st.cache_resource(show_spinner=False)
def _background() -> tuple[ThreadPoolExecutor, set[tuple[Any, ...]]]:
    # One worker: prefetching must not starve the sessions' own runs on a small machine.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch"), set()


def _warm_explain() -> None:
    """Import shap and LightGBM in the background once data is loaded.

    The import takes about 2 s, the quick first pass on the demo a fraction of that.
    """
    executor, submitted = _background()
    job = ("explain-import",)
    if job not in submitted:
        submitted.add(job)
        executor.submit(importlib.import_module, "tracing.explain")


def prefetch_drilldowns(
    key: Key, metric: str | None, search: SliceSearch, targets: list[str]
) -> None:
    """Open the given slices in the background, so the click that opens one is a cache hit.

    A drilldown re-reads every feature of both datasets (seconds at a million rows), while
    people take about as long to read the slice table before they click.
    """
    executor, submitted = _background()
    for target in targets:
        job = (key, metric, search, target)
        if job in submitted:
            continue
        submitted.add(job)
        executor.submit(_quiet_drilldown, *job)


def _quiet_drilldown(*job: Any) -> None:
    _thread.background = True  # the prefetch thread's engine calls wait for visitors' calls
    try:
        slice_drilldown(*job)
    except Exception:  # a failed prefetch is retried, with its error shown, on the click
        log.debug("prefetching a drilldown failed", exc_info=True)
