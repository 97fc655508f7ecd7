"""Which slices pull the metric down: exact impact search, drilldown, baseline decomposition.

Definitions
-----------
Slice
    A conjunction of 1 to ``max_depth`` (at most 4) conditions ``feature = value`` over the slice
    columns (features, then tags). Values are the bins of `tracing.binning.fit_bins`, fitted
    once per feature on baseline and production so both share them: numeric columns get
    baseline quantile bins (default 10, open-ended outer bins, tied quantiles collapsed);
    missing values are their own value ``"(missing)"`` in every feature; categories with fewer
    than ``min_size`` rows on both sides are pooled into ``"(other)"``. The empty slice (no
    condition) is the whole dataset. A slice's key is its `slice_id`, e.g.
    ``"state=CA&merchant_id=scammeds.com"`` (URL-escaped; `parse_slice_id` is the inverse).
Rows and size
    Metrics use the rows with both an actual and a prediction; ``size`` counts those rows of the
    production data and ``share`` is ``size`` over all of them.
Volume
    A slice's share of the metric's denominator (`tracing.metrics.Metric.volume_stat`): rows for
    accuracy, MAE or mean error, actual positives for recall and FNR, predicted positives for
    precision, actual negatives for FPR and specificity. Metrics that are not a ratio of sums
    (F1, RMSE, R², macro and weighted averages, ROC AUC, PR AUC) use the share of rows.
Impact (the white paper's *performance impact score*)
    ``impact = worse_by(m_slice, m_overall) * volume`` where `tracing.metrics.worse_by` is
    ``m_overall - m_slice`` when higher is better, ``m_slice - m_overall`` when lower is better
    and ``|m_slice| - |m_overall|`` for two-sided metrics (mean error). The paper's step 2c says
    "divide by volume" but its formula and prose multiply: we multiply, since dividing ranks
    one-row slices first. For a ratio metric ``m = sum(u) / sum(v)`` the impact is a sum over
    the slice's rows, ``impact(S) = sum_{i in S} (M v_i - u_i) / V`` (higher is better): the
    slice's exact share of the gap between the overall metric ``M`` and a world where the slice
    performed like the average. So the impacts of a partition (all values of one feature) add
    up to 0. For two-sided metrics the impact is the larger of two such sums (partitions add up
    to at least 0).
Ranked slices
    Slices with at least ``min_size`` rows (default ``max(30, 0.1% of rows)``), a defined
    metric and a positive impact (they pull the metric down), every condition of which removes
    at least one row: a condition that removes no row adds nothing (``state = NY & amount =
    (missing)`` when every production row misses ``amount`` is ``state = NY`` again), so such
    a slice is left out and the slice without that condition, with the same rows and impact,
    stands for it. Rows here are the production rows the metric uses. The top ``top`` are
    sorted by impact, then the deeper slice first, then feature order.
Slice columns
    By default the schema's features and tags, less **id-like and free-text columns**
    (`tracing.binning.slice_exclusion`: at least 50 distinct values and nearly one per row,
    or most rows in values too rare to rank, which would all pool into ``"(other)"``), plus
    the **calendar parts** of the timestamp role, ``<timestamp>.hour`` (0-23),
    ``<timestamp>.weekday`` (Monday...) and ``<timestamp>.day`` (of the month), in the data's
    own time zone or, when it carries none, as written (UTC). A calendar part with the same
    values as a slice column (a logged ``hour``) is left out as its twin. What is left out is
    in `SliceResult.excluded`, with the reason (`SliceResult.excluded_note` says it in one
    sentence); naming columns in ``features=`` overrides all of this.
Every condition earns its place
    A listed slice S keeps a condition c only if dropping it (to P = S without c) changes the
    metric both **beyond chance** and **materially**:

    - the test: S against the rows c removes (P minus S), with the p-value machinery below
      (Welch for ratio metrics, delta-method z for other additive ones), below
      ``condition_alpha`` (0.05); rank metrics (ROC/PR AUC) have no test, only the next rule;
    - materiality: ``worse_by(m_S, m_P) >= condition_share * worse_by(m_S, M)`` (0.1): c
      accounts for at least a tenth of S's gap to the overall metric ``M``, so ``tailnum =
      (other)`` taking 0.006 pts off a 2-pt gap does not count.

    Otherwise the shorter slice stands for S: conditions that fail are dropped one at a time,
    the least material first, until every one left earns its place (a one-condition slice is
    not reduced: its p-value against the rest is in the table). S stays ranked in
    `SliceResult.table` with ``explained_by`` = the shorter slice's id; when that slice is not
    ranked itself it is listed as a **stand-in** (`SliceResult.stand_ins`, the same columns).
    The search and its exact top-k are unchanged: the rule only decides what is listed and
    under which name.
Explained by
    When a listed child (one more condition, fewer rows) keeps at least ``explained_ratio``
    (0.9) of its parent's impact, the parent stays in the list with ``explained_by`` = the
    child's slice id (the best such child), so a UI can fold it under the more specific slice.
    A child with a longer description replaces its parent only when it is materially more
    concentrated (its extra condition earns its place, as above); ties go to the shorter
    description. A child may be listed under a shorter name with the same rows: ``state = CA
    & category = pharmacy & merchant = scam`` is listed as ``merchant = scam`` when every scam
    row is a Californian pharmacy (see "Ranked slices"); such a child explains its parent
    without the materiality test, its description being the shorter. So a listed slice S is
    a child of P when S has exactly one condition P lacks and every row of S is a row of P.
Neighbouring cuts
    Slices that differ only in the bin of one numeric feature, at neighbouring bins (``temp >=
    75``, ``temp in [70, 75)``...), are one finding: the best of each run of contiguous bins
    is listed and the others get its id in ``explained_by``. A numeric column whose values
    all fall in one range bin has the bin ``"(present)"``: the only split it offers is
    missing against present, and it says so.
Baseline and decomposition
    The same slice in the baseline: ``baseline_size``, ``baseline_share``, ``baseline_volume``,
    ``baseline_metric`` and ``baseline_delta = metric - baseline_metric``. For ratio metrics
    the overall change ``M_p - M_b`` is split per slice, with ``w`` the slice's volume on each
    side and ``m_b`` its baseline metric (the baseline overall metric ``M_b`` when the slice is
    absent from the baseline or undefined there)::

        mix_effect         = (w_p - w_b) * (m_b - M_b)    # the slice's weight changed
        performance_effect = w_p * (m_p - m_b)            # the slice itself got worse/better

    Over any partition ``sum(mix_effect + performance_effect) == M_p - M_b`` exactly. The
    uncentred shift-share form ``(w_p - w_b) * m_b`` differs from our mix part by ``(w_p - w_b)
    * M_b``, which sums to 0 over any partition, so every total is the same; centring on
    ``M_b`` makes one slice's own numbers read right: a
    slice that grows while performing like the baseline average has no mix effect, and a slice
    absent from the baseline has none either (its whole effect is performance). Both parts are
    in the metric's units, production minus baseline (not oriented by direction). Metrics that
    are not ratios have no decomposition (NaN).
p-value
    The slice against the rest of the production rows (of the parent, in a drilldown). Ratio
    metrics: Welch's t-test on the per-row numerator values of the rows in the denominator
    (0/1 for proportions such as accuracy or recall), via `scipy.stats.ttest_ind_from_stats`
    on summed statistics (equal to `scipy.stats.ttest_ind` on the rows, tested). Other
    additive metrics: a z-test with delta-method variances (`tracing.compare.metric_variance`).
    Rank metrics (ROC AUC, PR AUC): NaN.

Search
------
Every feature is integer-coded once, by the engine seam (`tracing.engine.MemoryTable`), which
also holds the per-row statistics; every per-slice number (slice records, drilldown children and
breakdowns inside the parent slice) is a `tracing.engine.CodedTable.group_sums` with a filter.
Inside the search, a combination's cells are counted with `numpy.bincount` over the table's
codes.
Ratio metrics use an exact branch and bound (`tracing._slice_search.branch_and_bound`): a child's
impact can never exceed the sum of the positive per-row excesses inside its parent, so each level
is counted only on the rows of parent cells that can still hold a top slice, and only cells whose
bound reaches the k-th best are scored. Other additive metrics (F1, RMSE, R², macro/weighted
averages) are exact but slower: every combination is scored from summed statistics without pruning,
except that cells below ``min_size`` are not extended. Rank metrics (ROC AUC, PR AUC) are also
enumerated exactly, every cell of at least ``min_size`` rows being scored by `tracing.ranks`: the
search runs on the rows sorted once by score, so each combination's rows arrive in score order and
need only a radix sort by cell, never a float sort (about 15 s of CPU at a million rows and depth
3). Every path equals brute-force enumeration (tested).
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing import _slice_levels as levels
from tracing import _slice_search as search
from tracing import ranks
from tracing.analysis import Analysis, analysis_row_stats
from tracing.binning import (
    ColumnBins,
    as_float,
    slice_exclusion,
)
from tracing.codes import calendar_parts, column_codes, column_counts, feature_values
from tracing.engine import CodedTable, Filter, GroupSums, MemoryTable, Side
from tracing.errors import DataError
from tracing.memo import per_analysis
from tracing.metrics import (
    Direction,
    Metric,
    Prepared,
    get_metric,
    row_stat_definitions,
    worse_by,
)
from tracing.options import MAX_DEPTH, SliceSearch, whole_number

if TYPE_CHECKING:
    from tracing.compare import Moments
    from tracing.engine_analysis import EngineAnalysis

__all__ = [
    "MAX_DEPTH",
    "ChangeCause",
    "TABLE_COLUMNS",
    "Drilldown",
    "SliceResult",
    "HIVE_PARTITION",
    "distinct_mask",
    "default_features",
    "drilldown",
    "find_slices",
    "needed_stats",
    "parse_slice_id",
    "slice_id",
    "slice_mask",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Conditions = tuple[tuple[str, str], ...]
Excluded = tuple[tuple[str, str], ...]  # (column, why it is not sliced)

_MIN_ROWS = 30
_MIN_SHARE = 0.001

TABLE_COLUMNS = (
    "slice_id", "conditions", "depth", "size", "share", "volume", "metric", "delta", "impact",
    "baseline_size", "baseline_share", "baseline_volume", "baseline_metric", "baseline_delta",
    "mix_effect", "performance_effect", "p_value", "explained_by",
)  # fmt: skip
BREAKDOWN_COLUMNS = (
    "feature", "value", "size", "share", "volume", "metric", "delta", "impact",
    "baseline_size", "baseline_share", "baseline_volume", "baseline_metric", "mix_effect",
    "performance_effect",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Slice ids and masks


def slice_id(conditions: Sequence[tuple[str, str]]) -> str:
    """Return the URL-safe key of a slice: ``feature=value`` pairs joined by ``&``.

    Examples
    --------
    >>> slice_id([("state", "CA"), ("amount", "[10, 25)")])
    'state=CA&amount=%5B10%2C%2025%29'
    >>> slice_id([])  # the whole dataset
    ''
    """
    return "&".join(f"{quote(str(f), safe='')}={quote(str(v), safe='')}" for f, v in conditions)


def parse_slice_id(text: str) -> Conditions:
    """Inverse of `slice_id`: the ``(feature, value label)`` pairs of a slice key.

    Examples
    --------
    >>> parse_slice_id("state=CA&amount=%5B10%2C%2025%29")
    (('state', 'CA'), ('amount', '[10, 25)'))
    """
    if not text:
        return ()
    out = []
    for part in text.split("&"):
        feature, sep, value = part.partition("=")
        if not sep or not feature:
            raise DataError(
                f"slice id {text!r} is malformed at {part!r}; expected feature=value pairs "
                "joined by '&' (as produced by tracing.slices.slice_id)."
            )
        out.append((unquote(feature), unquote(value)))
    return tuple(out)


def slice_mask(
    frame: pd.DataFrame, conditions: Sequence[tuple[str, str]], bins: Mapping[str, ColumnBins]
) -> NDArray[np.bool_]:
    """Rows of ``frame`` in the slice (all rows for no condition).

    Parameters
    ----------
    frame : DataFrame
        Baseline or production rows.
    conditions : sequence of (feature, value label)
        The slice, e.g. ``[("state", "CA")]``.
    bins : mapping of feature -> ColumnBins
        The bins the labels refer to (`SliceResult.bins`).

    Returns
    -------
    ndarray of bool, one per row of ``frame``.
    """
    mask = np.ones(len(frame), dtype=bool)
    for feature, label in conditions:
        code = _label_code(bins, feature, label)
        try:
            codes = column_codes(frame, feature, bins[feature])
        except KeyError:
            raise DataError(
                f"column {feature!r} is not in the data; it is needed by the slice."
            ) from None
        mask &= codes == code
    return mask


def _label_code(bins: Mapping[str, ColumnBins], feature: str, label: str) -> int:
    if feature not in bins:
        raise DataError(f"{feature!r} is not a slice feature; choose from: {', '.join(bins)}.")
    labels = bins[feature].labels
    if label not in labels:
        raise DataError(
            f"feature {feature!r} has no value {label!r}; valid values: {', '.join(labels)}."
        )
    return labels.index(label)


# ---------------------------------------------------------------------------------------------
# One dataset side, integer-coded, restricted to the rows metrics use


@dataclass(frozen=True, eq=False)
class _Side:
    """One side of a search, in memory or in a SQL engine.

    In an engine only ``table``, ``which``, the statistics' names (``stats`` keys, empty
    arrays), ``overall``, ``n``, ``volume_total`` and ``moments`` are set: every number then
    comes from the table's group sums.
    """

    frame: pd.DataFrame | None
    rows: IntArray | None  # positions (in frame) of the rows with an actual and a prediction
    prepared: Prepared | None  # those rows only
    table: CodedTable  # those rows, coded: what the per-slice numbers are summed from
    which: Side
    codes: list[NDArray[np.int32]]  # per feature, over those rows (the table's, for the search)
    stats: dict[str, FloatArray]  # the metric's sufficient statistics, over those rows
    stats_frame: pd.DataFrame | None
    overall: float
    n: int  # rows with an actual and a prediction
    volume_total: float  # the metric's denominator over them (rows for other metrics)
    # In a SQL engine, non-ratio metrics: the statistics' sums and Gram matrix of some rows
    moments: Callable[[Filter | None], Moments] | None = None

    @property
    def memory(self) -> MemoryTable:
        """The in-memory table (the row-level paths: rank metrics, delta-method p-values)."""
        if not isinstance(self.table, MemoryTable):
            raise DataError("this step needs the rows in memory; run it with --engine memory.")
        return self.table

    @property
    def data(self) -> Prepared:
        """The prepared rows (in memory only)."""
        if self.prepared is None:
            raise DataError("this step needs the rows in memory; run it with --engine memory.")
        return self.prepared


@dataclass(frozen=True, eq=False)
class _Context:
    metric: Metric
    features: tuple[str, ...]
    bins: dict[str, ColumnBins]
    min_size: int
    prod: _Side
    base: _Side
    excluded: Excluded = ()

    @property
    def cards(self) -> list[int]:
        return [len(self.bins[f].labels) for f in self.features]


class _Recorder(dict[str, Any]):
    """A mapping that remembers which keys were read (to find the stats a metric needs)."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__({k: np.ones(2) for k in keys})
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return super().__getitem__(key)


def needed_stats(metric: Metric, columns: Sequence[str]) -> list[str]:
    """Return the statistics (of ``columns``) an additive metric reads; none for other metrics."""
    if not metric.additive:
        return []
    probe = _Recorder(columns)
    metric.from_stats(probe)
    return [c for c in columns if c in probe.used]


def _take(data: Prepared, idx: IntArray) -> Prepared:
    return replace(
        data,
        valid=data.valid[idx],
        y_true=data.y_true[idx],
        y_pred=data.y_pred[idx],
        score=None if data.score is None else data.score[idx],
        n_rows=len(idx),
    )


# Welch sums of ratio metrics, held in the table as statistics: rows in the denominator, and
# the numerator's sum and sum of squares over them.
_WELCH = ("welch:k", "welch:s", "welch:q")


@dataclass(frozen=True, eq=False)
class _Stats:
    """One side's rows with an actual and a prediction, and their statistics."""

    rows: IntArray
    prepared: Prepared
    needed: list[str]
    stats: dict[str, FloatArray]
    stats_frame: pd.DataFrame | None  # every stat: only for the delta-method p-values
    overall: float


def _stats_read(metric: Metric, analysis: Analysis) -> tuple[str, ...] | None:
    """Return the row statistics a search reads: a ratio metric's own (accuracy: 2 of 9).

    None (every statistic) for the other metrics: the delta-method p-values of additive
    non-ratio metrics read them all (`_side_stats`), and rank metrics are not searched on sums.
    """
    if not (metric.additive and metric.decomposable):
        return None
    return tuple(needed_stats(metric, list(row_stat_definitions(analysis.production))))


def _side_stats(
    frame: pd.DataFrame,
    prepared: Prepared,
    metric: Metric,
    per_row: pd.DataFrame,
    *,
    welch: bool = False,
) -> _Stats:
    """One side's kept rows and the statistics the metric sums, from its shared row stats."""
    rows = np.flatnonzero(prepared.valid).astype(np.intp)
    every = len(rows) == len(frame)  # no copies when every row has an actual and a prediction
    kept = prepared if every else _take(prepared, rows)
    needed = needed_stats(metric, list(per_row.columns))
    # every stat is only needed for the delta-method p-values of non-ratio metrics
    keep_all = metric.additive and not metric.decomposable
    stats_all = per_row if keep_all else per_row[needed]
    if not every:
        stats_all = stats_all.iloc[rows].reset_index(drop=True)
    stats = {c: stats_all[c].to_numpy(dtype=float) for c in needed}
    if welch and metric.decomposable:  # p-values: production only
        assert metric.numerator is not None and metric.denominator is not None
        u, inden = stats[metric.numerator], (stats[metric.denominator] > 0) * 1.0
        stats.update(zip(_WELCH, (inden, u * inden, u * u * inden), strict=True))
    overall = float(metric.compute(kept, stats_all))
    frame_kept = stats_all if keep_all else None
    return _Stats(rows, kept, needed, stats, frame_kept, overall)


def _side(
    frame: pd.DataFrame,
    data: _Stats,
    metric: Metric,
    features: Sequence[str],
    table: MemoryTable,
    which: Side,
) -> _Side:
    stats = {c: table.stat(which, c) for c in data.needed}
    n = len(data.rows)
    return _Side(
        frame=frame,
        rows=data.rows,
        prepared=data.prepared,
        table=table,
        which=which,
        codes=[table.key_codes(which, f) for f in features],  # type: ignore[misc]
        stats=stats,
        stats_frame=data.stats_frame,
        overall=data.overall,
        n=n,
        volume_total=float(stats[metric.volume_stat].sum()) if metric.decomposable else float(n),
    )


def _context(
    analysis: Analysis | EngineAnalysis,
    *,
    metric: str | Metric | None,
    features: Sequence[str] | None,
    bins: int | Mapping[str, ColumnBins],
    min_size: int | None,
) -> _Context:
    """Return the coded rows and statistics of a search, built once per analysis and options.

    A drilldown reuses its search's context (same metric, features, bins and minimum size),
    so opening a slice codes and gathers nothing again.
    """
    if isinstance(metric, Metric):  # not a memo key: built afresh
        return _build_context(
            analysis, metric=metric, features=features, bins=bins, min_size=min_size
        )
    return _shared_context(
        analysis,
        metric=metric,
        features=None if features is None else tuple(features),
        bins=bins if isinstance(bins, int) else tuple(bins.items()),
        min_size=min_size,
    )


@per_analysis
def _shared_context(
    analysis: Analysis | EngineAnalysis,
    *,
    metric: str | None,
    features: tuple[str, ...] | None,
    bins: int | tuple[tuple[str, ColumnBins], ...],
    min_size: int | None,
) -> _Context:
    fitted = bins if isinstance(bins, int) else dict(bins)
    return _build_context(
        analysis, metric=metric, features=features, bins=fitted, min_size=min_size
    )


def _build_context(
    analysis: Analysis | EngineAnalysis,
    *,
    metric: str | Metric | None,
    features: Sequence[str] | None,
    bins: int | Mapping[str, ColumnBins],
    min_size: int | None,
) -> _Context:
    if not isinstance(analysis, Analysis):
        return _engine_context(
            analysis, metric=metric, features=features, bins=bins, min_size=min_size
        )
    if isinstance(metric, Metric):
        m = metric
    else:
        m = analysis.metric if metric is None else get_metric(metric, analysis.schema)
    n_valid = int(analysis.production.valid.sum())
    size = _min_size(min_size, n_valid)
    excluded: tuple[tuple[str, str], ...] = ()
    if features is None:  # id-like columns by the default size: not moved by min_size
        feats, excluded = _default_features(analysis, _min_size(None, n_valid))
    else:
        feats = tuple(features)
    if not feats:
        left_out = f" ({_excluded_note(excluded)})" if excluded else ""
        raise DataError(
            f"no slice columns{left_out}: pass features=[...] or assign feature/tag columns."
        )
    frames = {Side.BASELINE: analysis.baseline_frame, Side.PRODUCTION: analysis.production_frame}
    for side, name in ((Side.BASELINE, analysis.names[0]), (Side.PRODUCTION, analysis.names[1])):
        _check_columns(frames[side], feats, name)
    stats_b, stats_p = analysis_row_stats(analysis, _stats_read(m, analysis))
    data = {
        Side.PRODUCTION: _side_stats(
            analysis.production_frame, analysis.production, m, stats_p, welch=True
        ),
        Side.BASELINE: _side_stats(analysis.baseline_frame, analysis.baseline, m, stats_b),
    }
    table = MemoryTable.from_frames(
        frames,
        rows={k: v.rows for k, v in data.items()},
        stats={k: v.stats for k, v in data.items()},
    )
    if isinstance(bins, Mapping):
        fitted = {f: bins[f] for f in feats}
    else:
        fitted = table.fit_bins(feats, bins=bins, min_count=size)
    overall = data[Side.PRODUCTION].overall
    if math.isnan(overall):
        raise DataError(
            f"{m.id} is undefined on {analysis.names[1]} ({m.reason(overall)}); "
            "choose another metric."
        )
    table = table.with_keys(fitted)
    prod, base = (
        _side(frames[w], data[w], m, feats, table, w) for w in (Side.PRODUCTION, Side.BASELINE)
    )
    return _Context(m, feats, fitted, size, prod, base, excluded)


def _engine_context(
    analysis: EngineAnalysis,
    *,
    metric: str | Metric | None,
    features: Sequence[str] | None,
    bins: int | Mapping[str, ColumnBins],
    min_size: int | None,
) -> _Context:
    """Build the search context of an analysis held by a SQL engine: sums only, no rows.

    The same definitions as `_build_context`: bins fitted on every row of both sides, the
    search and every per-slice number on the rows with an actual and a prediction, the
    statistics the metric reads, Welch sums for ratio metrics. Rank metrics need the rows'
    score order, which no engine query returns yet.
    """
    if isinstance(metric, Metric):
        m = metric
    else:
        m = analysis.metric if metric is None else get_metric(metric, analysis.schema)
    if not m.additive:
        raise DataError(
            f"{m.id} is not ranked per slice by the {analysis.backend.name} engine yet (rank "
            "metrics need every row's score order); choose an additive metric or run with "
            "--engine memory."
        )
    n_valid = analysis.valid.count(Side.PRODUCTION)
    size = _min_size(min_size, n_valid)
    excluded: Excluded = ()
    if features is None:
        feats, excluded = _engine_default_features(analysis, _min_size(None, n_valid))
    else:
        feats = tuple(features)
    if not feats:
        left_out = f" ({_excluded_note(excluded)})" if excluded else ""
        raise DataError(
            f"no slice columns{left_out}: pass features=[...] or assign feature/tag columns."
        )
    for side, name in zip(Side, analysis.names, strict=True):
        missing = [f for f in feats if f not in analysis.table.columns(side)]
        if missing:
            raise DataError(
                f"{name}: slice column {missing[0]!r} is missing; available columns: "
                f"{', '.join(analysis.table.columns(side))}."
            )
    if isinstance(bins, Mapping):
        fitted = {f: bins[f] for f in feats}
    else:
        fitted = analysis.table.fit_bins(feats, bins=bins, min_count=size)
    names = needed_stats(m, analysis.valid.stat_names())
    table: CodedTable = analysis.valid.with_keys(fitted)
    if m.decomposable:
        table = table.with_derived(Side.PRODUCTION, _welch_definitions(m))
    elif m.additive:
        table = table.with_derived(Side.PRODUCTION, _product_definitions(names))
    sides = {}
    for which in (Side.PRODUCTION, Side.BASELINE):
        sums = table.group_sums((), names, side=which)
        n = int(sums.count[0])
        totals = {k: n if k == "n" else float(sums.sums[k][0]) for k in names}
        overall = float(m.from_stats(totals)) if n else math.nan
        moments = None
        if which is Side.PRODUCTION and not m.decomposable:
            moments = functools.partial(_engine_moments, table, tuple(names))
        sides[which] = _Side(
            frame=None,
            rows=None,
            prepared=None,
            table=table,
            which=which,
            codes=[],
            stats={k: np.empty(0) for k in names},
            stats_frame=None,
            overall=overall,
            n=n,
            volume_total=float(totals[m.volume_stat]) if m.decomposable else float(n),
            moments=moments,
        )
    if math.isnan(sides[Side.PRODUCTION].overall):
        raise DataError(f"{m.id} is undefined on {analysis.names[1]}; choose another metric.")
    return _Context(m, feats, fitted, size, sides[Side.PRODUCTION], sides[Side.BASELINE], excluded)


def _welch_definitions(m: Metric) -> dict[str, Any]:
    """Welch sums of a ratio metric as derived statistics (as `_side_stats` computes them)."""
    from sqlglot import exp

    from tracing.rowexpr import col, flag

    assert m.numerator is not None and m.denominator is not None
    u = col(m.numerator)
    inden = flag(exp.GT(this=col(m.denominator), expression=exp.Literal.number(0)))
    return {
        _WELCH[0]: inden,
        _WELCH[1]: exp.Mul(this=u.copy(), expression=inden.copy()),
        _WELCH[2]: exp.Mul(
            this=exp.Mul(this=u.copy(), expression=u.copy()), expression=inden.copy()
        ),
    }


def _pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i:]]


def _product_definitions(names: Sequence[str]) -> dict[str, Any]:
    """Products of every pair of statistics (the Gram matrix of the delta method)."""
    from sqlglot import exp

    from tracing.rowexpr import col

    return {f"x:{a}*{b}": exp.Mul(this=col(a), expression=col(b)) for a, b in _pairs(names)}


def _engine_moments(table: CodedTable, names: tuple[str, ...], where: Filter | None) -> Moments:
    """Return the statistics' sums and Gram matrix over the production rows in ``where``."""
    from tracing.compare import Moments

    products = _product_definitions(names)
    sums = table.group_sums((), [*names, *products], side=Side.PRODUCTION, where=where)
    n = int(sums.count[0])
    index = {name: i for i, name in enumerate(names)}
    gram = np.zeros((len(names), len(names)))
    for a, b in _pairs(names):
        gram[index[a], index[b]] = gram[index[b], index[a]] = float(sums.sums[f"x:{a}*{b}"][0])
    vector = np.array([float(n) if k == "n" else float(sums.sums[k][0]) for k in names])
    return Moments(names, vector, gram, n)


def _engine_default_features(
    analysis: EngineAnalysis, size: int
) -> tuple[tuple[str, ...], Excluded]:
    """`_default_features` on an engine: the same exclusions, from the engine's value counts.

    Calendar parts of the timestamp are derived by the engine (`_engine_calendar`). Hive
    partition columns (the keys of ``day=2026-11-30/`` folders) are left out too: how the files
    were laid out, not what the model saw (named in ``features``, they are sliced).
    """
    roles = analysis.schema.roles
    sample = analysis.sample
    partitions = {c for side in Side for c in analysis.table.partition_columns(side)}
    feats: list[str] = []
    excluded: list[tuple[str, str]] = []
    for f in roles.slice_columns():
        if f in partitions:
            excluded.append((f, HIVE_PARTITION))
            continue
        if f not in sample.baseline_frame.columns or f not in sample.production_frame.columns:
            feats.append(f)  # reported as missing by the caller
            continue
        # the dtypes as read (the sample's), the counts of every row (the engine's)
        empty = (sample.baseline_frame[f].iloc[:0], sample.production_frame[f].iloc[:0])
        why = slice_exclusion(
            *empty, min_count=size, counts=functools.partial(_engine_counts, analysis, f)
        )
        if why is None:
            feats.append(f)
        else:
            excluded.append((f, why))
    if roles.timestamp:
        _engine_calendar(analysis, roles.timestamp, feats, excluded)
    return tuple(feats), tuple(excluded)


def _engine_calendar(
    analysis: EngineAnalysis, ts: str, feats: list[str], excluded: list[tuple[str, str]]
) -> None:
    """Add the timestamp's calendar parts as `_default_features` does, from the engine.

    The same rules on every row: a real column of the name wins, the day of the month only
    when production spans two months, and a part equal to a slice column on both sides (a
    logged ``hour``) is left out as its twin.
    """
    table, sample = analysis.table, analysis.sample
    raw = set(sample.baseline_frame.columns)
    parts = [c for c in table.columns(Side.PRODUCTION) if c.startswith(f"{ts}.") and c not in raw]
    if not parts:
        if ts in raw:
            why = "calendar parts are derived by this engine from time columns, not from text"
            excluded.append((ts, why))
        return
    lo, hi = table.min_max(Side.PRODUCTION, ts)
    days = (hi - lo) / pd.Timedelta(days=1) if lo is not None and hi is not None else 0.0
    frame = sample.production_frame
    for name in parts:
        if name in feats:
            continue
        if name.endswith(".day") and days < _DAY_OF_MONTH_MIN_DAYS:
            excluded.append((name, "production spans under two months: each day is a date"))
            continue
        numeric = not name.endswith(".weekday")
        kin = [
            f
            for f in feats
            if f in frame.columns and pd.api.types.is_numeric_dtype(frame[f].dtype) == numeric
        ]
        differ = [table.differing(side, name, kin) for side in Side]
        twin = next((f for f in kin if all(d[f] == 0 for d in differ)), None)
        if twin is None:
            feats.append(name)
        else:
            excluded.append((name, f"the same values as {twin}"))


HIVE_PARTITION = "a hive partition column, named by the folders"
"""Why a hive partition column is not sliced by default on an engine."""


def _engine_counts(analysis: EngineAnalysis, feature: str) -> tuple[pd.Series, pd.Series]:
    table = analysis.table
    counts = (table.value_counts(s, feature) for s in (Side.BASELINE, Side.PRODUCTION))
    return next(counts), next(counts)


_DAY_OF_MONTH_MIN_DAYS = 60


def _span_days(times: pd.Series) -> float:
    """Days between the first and last parseable time of a column (0 when none)."""
    values = times
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    values = values.dropna()
    return float((values.max() - values.min()) / pd.Timedelta(days=1)) if len(values) else 0.0


def default_features(analysis: Analysis | EngineAnalysis) -> tuple[tuple[str, ...], Excluded]:
    """Return the columns `find_slices` slices by default, and those it leaves out with why.

    The schema's slice columns minus id-like and free-text ones, plus the timestamp's calendar
    parts (module docstring); what a picker of slice features should start with. On an engine
    analysis the same rules read the engine's value counts of every row, and hive partition
    columns are left out too (`HIVE_PARTITION`): exactly what `find_slices` uses when no
    features are given.

    Parameters
    ----------
    analysis : Analysis or EngineAnalysis
        The prepared analysis, in memory or held by a SQL engine.

    Returns
    -------
    tuple of (tuple of str, tuple of (str, str))
        The default slice columns, and each column left out with its reason.
    """
    if not isinstance(analysis, Analysis):
        n_valid = analysis.valid.count(Side.PRODUCTION)
        return _engine_default_features(analysis, _min_size(None, n_valid))
    return _default_features(analysis, _min_size(None, int(analysis.production.valid.sum())))


def _default_features(analysis: Analysis, size: int) -> tuple[tuple[str, ...], Excluded]:
    """Return the schema's slice columns minus id-like ones, plus calendar parts; and why."""
    roles = analysis.schema.roles
    base, prod = analysis.baseline_frame, analysis.production_frame
    feats, excluded = [], []
    for f in roles.slice_columns():
        if f not in base.columns or f not in prod.columns:
            feats.append(f)  # reported as missing by the caller
            continue
        why = slice_exclusion(
            base[f], prod[f], min_count=size, counts=functools.partial(_both_counts, base, prod, f)
        )
        if why is None:
            feats.append(f)
        else:
            excluded.append((f, why))
    ts = roles.timestamp
    if ts and ts in base.columns and ts in prod.columns:
        parts, base_parts = calendar_parts(prod, ts), calendar_parts(base, ts)
        months = _span_days(prod[ts]) >= _DAY_OF_MONTH_MIN_DAYS
        for name, values in parts.items() if base_parts else ():
            if name in base.columns or name in feats:
                continue
            if name.endswith(".day") and not months:
                # Within a few weeks a day of the month is one date: the weekday's slices again.
                excluded.append((name, "production spans under two months: each day is a date"))
                continue
            twin = _same_values(values, base_parts[name], prod, base, feats)
            if twin is None:
                feats.append(name)
            else:  # e.g. a logged "hour" column: the same slices under two names
                excluded.append((name, f"the same values as {twin}"))
    return tuple(feats), tuple(excluded)


def _both_counts(
    base: pd.DataFrame, prod: pd.DataFrame, feature: str
) -> tuple[pd.Series, pd.Series]:
    return column_counts(base, feature), column_counts(prod, feature)


def _same_values(
    prod_values: pd.Series,
    base_values: pd.Series,
    prod: pd.DataFrame,
    base: pd.DataFrame,
    feats: Sequence[str],
) -> str | None:
    """Return a slice column with the same values as a derived one on both sides, if any."""
    numeric = pd.api.types.is_numeric_dtype(prod_values.dtype)
    for f in feats:
        if f not in prod.columns or f not in base.columns:
            continue
        same_kind = pd.api.types.is_numeric_dtype(prod[f].dtype) == numeric
        if (
            same_kind
            and _equal(prod[f], prod_values, numeric)
            and _equal(base[f], base_values, numeric)
        ):
            return f
    return None


_PROBE_ROWS = 1_000


def _equal(a: pd.Series, b: pd.Series, numeric: bool) -> bool:
    """Whether two columns hold the same values, row by row (missing equal to missing)."""
    if len(a) > _PROBE_ROWS and not _equal(a.iloc[:_PROBE_ROWS], b.iloc[:_PROBE_ROWS], numeric):
        return False  # almost every pair differs early: no full-length comparison needed
    if numeric:
        return bool(np.array_equal(as_float(a), as_float(b), equal_nan=True))
    return bool((a.astype(object).to_numpy() == b.astype(object).to_numpy()).all())


def _check_columns(frame: pd.DataFrame, feats: Sequence[str], name: str) -> None:
    """Raise unless every slice feature is a column or a calendar part of one.

    The frame itself is never extended: calendar features are derived where they are coded
    (`tracing.codes.column_codes`), so every section shares the codes of the analysis' frames.
    """
    for f in feats:
        if f in frame.columns:
            continue
        try:
            feature_values(frame, f)
        except KeyError:
            raise DataError(
                f"{name}: slice column {f!r} is missing; available columns: "
                f"{', '.join(map(str, frame.columns))}."
            ) from None


def _excluded_note(excluded: Excluded) -> str:
    names = ", ".join(f"{f} ({why})" for f, why in excluded)
    return f"not sliced: {names}"


def _min_size(min_size: int | None, n_rows: int) -> int:
    if min_size is None:
        return max(_MIN_ROWS, math.ceil(_MIN_SHARE * n_rows))
    return whole_number("min_size", min_size, 1, None, "rows of the smallest slice ranked")


# ---------------------------------------------------------------------------------------------
# Per-cell statistics


@dataclass(frozen=True)
class _Cells:
    """Per cell of a grouping: rows, volume (denominator sum), metric, and Welch sums."""

    count: NDArray[np.int64]
    volume: FloatArray
    value: FloatArray
    welch: tuple[FloatArray, FloatArray, FloatArray] | None = None


def _cells(
    ctx: _Context,
    side: _Side,
    rows: IntArray | None,
    group: IntArray,
    n_groups: int,
    *,
    min_count: int = 0,
    by_score: bool = False,
) -> _Cells:
    """Cells of the search's own groupings (``rows``, ``group``: see `tracing._slice_search`).

    ``by_score``: rows are positions in score order (`_search_codes`), for rank metrics.
    """
    m = ctx.metric
    count = np.bincount(group, minlength=n_groups)

    def total(col: NDArray[Any]) -> FloatArray:
        w = col if rows is None else col[rows]
        return np.bincount(group, weights=w, minlength=n_groups).astype(float, copy=False)

    volume: FloatArray = count.astype(float)
    if m.additive:
        sums = {k: count if k == "n" else total(v) for k, v in side.stats.items()}
        value = np.asarray(m.from_stats(sums), dtype=float).reshape(n_groups)
        if m.decomposable:
            volume = np.asarray(sums[m.volume_stat], dtype=np.float64)
    else:
        value = _grouped_exact(m, side, rows, group, n_groups, count, min_count, by_score=by_score)
    return _Cells(count, volume, value)


def _group(
    ctx: _Context,
    side: _Side,
    keys: Sequence[str],
    where: Filter | None,
    *,
    welch: bool = False,
    min_count: int = 0,
) -> _Cells:
    """Cells of ``keys`` over the side's rows meeting ``where``, from the table's group sums."""
    m = ctx.metric
    names = [k for k in side.stats if k != "n"] if m.additive else []
    extra = list(_WELCH) if welch and m.decomposable else []
    sums_by_cell = side.table.group_sums(keys, names + extra, side=side.which, where=where)
    count = sums_by_cell.count
    n_groups = len(count)
    volume: FloatArray = count.astype(float)
    if m.additive:
        sums = {k: count if k == "n" else sums_by_cell.sums[k] for k in side.stats}
        value = np.asarray(m.from_stats(sums), dtype=float).reshape(n_groups)
        if m.decomposable:
            volume = np.asarray(sums[m.volume_stat], dtype=np.float64)
    else:  # rank metrics need the rows themselves
        rows, code = side.memory.cell_codes(side.which, keys, where)
        group = code.astype(np.intp, copy=False)
        value = _grouped_exact(m, side, rows, group, n_groups, count, min_count)
    welch_sums = None
    if extra:
        k, u, q = (sums_by_cell.sums[name] for name in _WELCH)
        welch_sums = (k, u, q)
    return _Cells(count, volume, value, welch_sums)


def _grouped_exact(
    metric: Metric,
    side: _Side,
    rows: IntArray | None,
    group: IntArray,
    n_groups: int,
    count: NDArray[np.int64],
    min_count: int,
    *,
    by_score: bool = False,
) -> FloatArray:
    """Compute a rank metric per group with at least ``min_count`` rows (NaN elsewhere).

    ``rows`` are the side's rows (None: all), or with ``by_score`` increasing positions in
    its score order (`_score_order`), as the search sees them (`_search_codes`); ``count``
    holds the rows of each group.
    """
    wanted = count >= min_count
    if not wanted.any():
        return np.full(n_groups, np.nan)
    order = _score_order(side)
    grouped = ranks.GROUPED.get(metric.id)
    if grouped is not None:
        positions, at = (rows, group) if by_score else order.positions(rows, group)
        return grouped(order, at, n_groups, positions=positions, wanted=wanted, count=count)
    out = np.full(n_groups, np.nan)
    assert metric.exact is not None
    data = side.data
    sel = np.arange(len(group)) if rows is None else rows
    if by_score:
        sel = order.order[sel]
    score = data.score[sel] if data.score is not None else np.full(len(sel), np.nan)
    keep = wanted[group] & ~np.isnan(score)
    g = group[keep]
    by_group = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[by_group], np.arange(n_groups + 1))
    picked = sel[keep]
    for cell in np.flatnonzero(wanted):
        idx = picked[by_group[bounds[cell] : bounds[cell + 1]]]
        out[cell] = metric.exact(_take(data, idx)) if len(idx) else np.nan
    return out


_SCORE_ORDERS: weakref.WeakKeyDictionary[_Side, ranks.ScoreOrder] = weakref.WeakKeyDictionary()


def _score_order(side: _Side) -> ranks.ScoreOrder:
    """Sort the side's rows by score, once: every grouping of them shares the order."""
    order = _SCORE_ORDERS.get(side)
    if order is None:
        data = side.data
        score = np.full(side.n, np.nan) if data.score is None else data.score
        order = _SCORE_ORDERS[side] = ranks.ScoreOrder.from_scores(data.y_true, score)
    return order


def _search_codes(ctx: _Context) -> list[NDArray[np.int32]]:
    """Return the codes the search runs on: for rank metrics, in score order (`_score_order`).

    The search passes its rows back to the scorer as increasing positions, so each grouping
    then arrives in score order and the grouped rank metrics never sort a float.
    """
    if ctx.metric.additive:
        return ctx.prod.codes
    order = _score_order(ctx.prod).order
    return [c[order] for c in ctx.prod.codes]


def _grouped_roc_auc(y: NDArray[np.bool_], s: FloatArray, g: IntArray, n: int) -> FloatArray:
    """ROC AUC per group (`tracing.ranks.grouped_roc_auc`)."""
    return ranks.grouped_roc_auc(y, s, g, n)


def _grouped_pr_auc(y: NDArray[np.bool_], s: FloatArray, g: IntArray, n: int) -> FloatArray:
    """Average precision per group (`tracing.ranks.grouped_average_precision`)."""
    return ranks.grouped_average_precision(y, s, g, n)


# ---------------------------------------------------------------------------------------------
# The search


def _floor(overall: float) -> float:
    # Impacts within rounding of 0 (a slice equal to the whole data) do not pull anything down.
    return 1e-12 * max(1.0, abs(overall))


def _excess(ctx: _Context) -> FloatArray:
    """Per-row excess x[b, i] with impact(S) = max_b sum_{i in S} x[b, i] (ratio metrics)."""
    m, side = ctx.metric, ctx.prod
    assert m.numerator is not None and m.denominator is not None
    u, v = side.stats[m.numerator], side.stats[m.denominator]
    total, overall = float(v.sum()), side.overall
    if m.direction is Direction.HIGHER_IS_BETTER:
        return ((overall * v - u) / total)[None, :]
    if m.direction is Direction.LOWER_IS_BETTER:
        return ((u - overall * v) / total)[None, :]
    if m.direction is Direction.NEUTRAL:  # |m_S - M| * volume: a deviation either way
        return np.stack([(u - overall * v) / total, (overall * v - u) / total])
    a = abs(overall)
    return np.stack([(u - a * v) / total, (-u - a * v) / total])


def _scorer(ctx: _Context) -> search.Scorer:
    side, m = ctx.prod, ctx.metric
    volume_total = side.volume_total

    def score(rows: IntArray | None, group: IntArray, n_groups: int) -> tuple[Any, FloatArray]:
        cells = _cells(
            ctx, side, rows, group, n_groups, min_count=ctx.min_size, by_score=not m.additive
        )
        impact = worse_by(cells.value, side.overall, m.direction) * cells.volume / volume_total
        ok = (cells.count >= ctx.min_size) & np.isfinite(impact)
        return cells.count, np.where(ok, impact, -np.inf)

    return score


# Tests force the pushed-down search (`tracing._slice_levels`) on in-memory tables.
_FORCE_LEVELS = False


def _pushed_down(table: CodedTable) -> bool:
    """Whether the search runs through the engine's queries (any engine but `MemoryTable`)."""
    return _FORCE_LEVELS or not isinstance(table, MemoryTable)


def _search_levels(ctx: _Context, max_depth: int, top: int) -> tuple[list[search.Found], Any]:
    """Run the search through `tracing.engine.CodedTable.grouping_sets`, level by level."""
    side, m = ctx.prod, ctx.metric
    volume_total = side.volume_total
    names = [k for k in side.stats if k != "n"]

    def score_cells(cells: GroupSums) -> tuple[Any, FloatArray]:  # `_scorer` from sums
        count = cells.count
        sums = {k: count if k == "n" else cells.sums[k] for k in side.stats}
        value = np.asarray(m.from_stats(sums), dtype=float).reshape(len(count))
        volume = np.asarray(sums[m.volume_stat], dtype=float) if m.decomposable else count
        impact = worse_by(value, side.overall, m.direction) * volume / volume_total
        ok = (count >= ctx.min_size) & np.isfinite(impact)
        return count, np.where(ok, impact, -np.inf)

    excess = None
    if m.decomposable:
        assert m.numerator is not None and m.denominator is not None
        total = side.volume_total  # the denominator's sum (a ratio's volume statistic)
        excess = levels.ratio_excess(
            m.numerator, m.denominator, overall=side.overall, total=total, direction=m.direction
        )
    return levels.search_levels(
        side.table,
        side.which,
        ctx.features,
        names,
        score_cells,
        excess=excess,
        max_depth=max_depth,
        top=top,
        min_size=ctx.min_size,
        floor=_floor(side.overall),
        ratio=None if excess is None else (str(m.numerator), str(m.denominator)),
    )


def _search(
    ctx: _Context, max_depth: int, top: int, *, pushed_down: bool | None = None
) -> tuple[list[search.Found], dict[str, Any]]:
    codes, cards, scorer = _search_codes(ctx), ctx.cards, _scorer(ctx)
    floor = _floor(ctx.prod.overall)
    if pushed_down is None:
        pushed_down = _pushed_down(ctx.prod.table)
    if pushed_down and ctx.metric.additive:  # rank metrics need the rows: in memory
        found, stats = _search_levels(ctx, max_depth, top)
    elif ctx.metric.decomposable:
        found, stats = search.branch_and_bound(
            codes,
            cards,
            scorer,
            _excess(ctx),
            max_depth=max_depth,
            top=top,
            min_size=ctx.min_size,
            floor=floor,
        )
    else:
        found, stats = search.exhaustive(
            codes,
            cards,
            scorer,
            max_depth=max_depth,
            top=top,
            min_size=ctx.min_size,
            floor=floor,
        )
    table = ctx.prod.table
    singles = sum(
        int((table.group_sums((f,), (), side=Side.PRODUCTION).count >= ctx.min_size).sum())
        for f in ctx.features
    )
    return found, {
        "method": stats.method,
        "combos_total": stats.combos_total,
        "combos_scored": stats.combos_scored,
        "rows_scored": stats.rows_scored,
        "single_slices": singles,
    }


# ---------------------------------------------------------------------------------------------
# Measuring slices against a parent (the whole data, or the slice drilled into)


@dataclass(frozen=True)
class _Parent:
    prod: _Cells  # one cell: the parent's production rows
    base: _Cells
    base_metric: float  # the parent's baseline metric, with the documented fallback


def _parent(ctx: _Context, where: Filter | None) -> _Parent:
    prod = _group(ctx, ctx.prod, (), where, welch=True)
    base = _group(ctx, ctx.base, (), where)
    mb = float(base.value[0]) if base.volume[0] > 0 else math.nan
    return _Parent(prod, base, mb if np.isfinite(mb) else ctx.base.overall)


def _measure(ctx: _Context, p: _Cells, b: _Cells, parent: _Parent) -> dict[str, FloatArray]:
    """Every table column, per cell, relative to ``parent``."""
    m = ctx.metric
    top_p, top_b = parent.prod, parent.base
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = float(top_p.value[0])
        volume = p.volume / top_p.volume[0]
        impact = worse_by(p.value, ref, m.direction) * volume
        b_share = b.count / top_b.count[0] if top_b.count[0] > 0 else np.zeros(len(b.count))
        b_volume = b.volume / top_b.volume[0] if top_b.volume[0] > 0 else np.zeros(len(b.count))
        b_metric = np.where(b.volume > 0, b.value, np.nan)
        out = {
            "size": p.count * 1.0,
            "share": p.count / top_p.count[0],
            "volume": volume,
            "metric": p.value,
            "delta": p.value - ref,
            "impact": impact,
            "baseline_size": b.count * 1.0,
            "baseline_share": b_share,
            "baseline_volume": b_volume,
            "baseline_metric": b_metric,
            "baseline_delta": p.value - b_metric,
        }
        nan = np.full(len(p.count), np.nan)
        if m.decomposable:
            mb = np.where(np.isfinite(b_metric), b_metric, parent.base_metric)
            out["mix_effect"] = (volume - b_volume) * (mb - parent.base_metric)
            out["performance_effect"] = np.where(volume > 0, volume * (p.value - mb), 0.0)
        else:
            out["mix_effect"] = out["performance_effect"] = nan
        out["p_value"] = _welch_vs_rest(p, top_p) if p.welch is not None else nan
    return out


def _welch_vs_rest(p: _Cells, parent: _Cells) -> FloatArray:
    """Welch's t-test of each cell's per-row values against the rest of the parent's rows."""
    from tracing.pvalues import welch_ttest_from_stats

    assert p.welch is not None and parent.welch is not None
    k1, s1, q1 = p.welch
    k2, s2, q2 = (t[0] - x for t, x in zip(parent.welch, p.welch, strict=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m2 = s1 / k1, s2 / k2
        v1 = np.maximum(q1 - s1 * m1, 0.0) / (k1 - 1)
        v2 = np.maximum(q2 - s2 * m2, 0.0) / (k2 - 1)
        ok = (k1 >= 2) & (k2 >= 2)
        flat = ok & (v1 / np.where(ok, k1, 1) + v2 / np.where(ok, k2, 1) == 0)
        good = ok & ~flat
        pvalue = np.full(len(k1), np.nan)
        if good.any():
            res = welch_ttest_from_stats(
                m1[good],
                np.sqrt(v1[good]),
                k1[good],
                m2[good],
                np.sqrt(v2[good]),
                k2[good],
            )
            pvalue[good] = res.pvalue
    # No spread on either side: the difference is certain (or there is none).
    pvalue[flat] = np.where(m1[flat] != m2[flat], 0.0, 1.0)
    return pvalue


def _delta_p_value(ctx: _Context, inside: IntArray, rest: IntArray) -> float:
    """Slice vs rest for additive non-ratio metrics: z-test with delta-method variances."""
    from tracing.compare import metric_variance
    from tracing.pvalues import normal_two_sided_p

    side, m = ctx.prod, ctx.metric
    if side.stats_frame is None or len(inside) < 2 or len(rest) < 2:
        return math.nan
    va, var_a = metric_variance(m, _take(side.data, inside), side.stats_frame.iloc[inside])
    vb, var_b = metric_variance(m, _take(side.data, rest), side.stats_frame.iloc[rest])
    se = math.sqrt(var_a + var_b) if np.isfinite(var_a + var_b) else math.nan
    if not np.isfinite(va - vb) or math.isnan(se):
        return math.nan
    if se == 0:
        return 0.0 if va != vb else 1.0
    return normal_two_sided_p((va - vb) / se)


def _engine_p_value(ctx: _Context, inside: Filter, outer: Filter | None) -> float:
    """`_delta_p_value` from sums: the slice's rows against the rest of ``outer``'s rows.

    The same z-test on the same delta-method variances, from each part's statistic sums and
    Gram matrix (the rest is the outer rows' moments minus the slice's).
    """
    from tracing.pvalues import normal_two_sided_p

    assert ctx.prod.moments is not None
    a, whole = ctx.prod.moments(inside), ctx.prod.moments(outer)
    b = type(a)(a.names, whole.sums - a.sums, whole.gram - a.gram, whole.n - a.n)
    if a.n < 2 or b.n < 2:
        return math.nan
    (va, var_a), (vb, var_b) = a.delta_method(ctx.metric, None), b.delta_method(ctx.metric, None)
    se = math.sqrt(var_a + var_b) if np.isfinite(var_a + var_b) else math.nan
    if not np.isfinite(va - vb) or math.isnan(se):
        return math.nan
    if se == 0:
        return 0.0 if va != vb else 1.0
    return normal_two_sided_p((va - vb) / se)


def _where(ctx: _Context, combo: Sequence[int], values: Sequence[int]) -> Filter:
    """Return the rows of a slice (feature indices, bin codes) as a table filter."""
    return Filter.of((ctx.features[j], int(v)) for j, v in zip(combo, values, strict=True))


def _slice_record(
    ctx: _Context, combo: Sequence[int], values: Sequence[int], parent: _Parent
) -> dict[str, Any]:
    """One slice against the whole data: every table column but ``explained_by``."""
    where = _where(ctx, combo, values)
    # Only the slice's own rows are counted: the rest is the parent's totals minus the slice.
    p = _group(ctx, ctx.prod, (), where, welch=True)
    b = _group(ctx, ctx.base, (), where)
    cols = _measure(ctx, p, b, parent)
    record: dict[str, Any] = {k: float(v[0]) for k, v in cols.items()}
    record["size"], record["baseline_size"] = int(p.count[0]), int(b.count[0])
    if ctx.metric.additive and not ctx.metric.decomposable and ctx.prod.moments is not None:
        record["p_value"] = _engine_p_value(ctx, where, None)
    elif ctx.metric.additive and not ctx.metric.decomposable:
        in_p = np.flatnonzero(ctx.prod.memory.mask(Side.PRODUCTION, where))
        rest = np.setdiff1d(np.arange(ctx.prod.n), in_p, assume_unique=True)
        record["p_value"] = _delta_p_value(ctx, in_p, rest)
    conditions = tuple(
        (ctx.features[j], ctx.bins[ctx.features[j]].labels[v])
        for j, v in zip(combo, values, strict=True)
    )
    return {
        "slice_id": slice_id(conditions),
        "conditions": conditions,
        "depth": len(conditions),
        **record,
    }


_TEXT_COLUMNS = ("slice_id", "conditions", "explained_by")


def _table(records: list[dict[str, Any]], columns: Sequence[str] = TABLE_COLUMNS) -> pd.DataFrame:
    table = pd.DataFrame.from_records(records, columns=list(columns))
    types = {
        c: np.int64 if c in ("depth", "size", "baseline_size") else np.float64
        for c in columns
        if c not in _TEXT_COLUMNS
    }
    return table.astype(types)


@dataclass(frozen=True)
class _Listed:
    """A slice of the listing: ranked (in ``table``) or a stand-in for a padded one."""

    combo: tuple[int, ...]
    values: tuple[int, ...]

    def drop(self, i: int) -> _Listed:
        return _Listed(
            self.combo[:i] + self.combo[i + 1 :], self.values[:i] + self.values[i + 1 :]
        )


class _Rule:
    """The rule "every condition earns its place" (module docstring), with cached cells."""

    def __init__(self, ctx: _Context, alpha: float, share: float) -> None:
        self.ctx, self.alpha, self.share = ctx, alpha, share
        self._cells: dict[_Listed, _Cells] = {}

    def cells(self, s: _Listed) -> _Cells:
        if s not in self._cells:
            self._cells[s] = _group(
                self.ctx, self.ctx.prod, (), _where(self.ctx, s.combo, s.values), welch=True
            )
        return self._cells[s]

    def compare(self, s: _Listed, wider: _Listed) -> tuple[float, float]:
        """Measure dropping ``s``'s extra conditions (to ``wider``, holding every row of ``s``).

        Returns ``(change, p)``: how much worse ``s`` is than ``wider`` as a share of ``s``'s
        gap to the overall metric, and the p-value of ``s`` against the rows it leaves out.
        """
        ctx, m = self.ctx, self.ctx.metric
        a, b = self.cells(s), self.cells(wider)
        value_s, value_w = float(a.value[0]), float(b.value[0])
        gap = float(worse_by(value_s, ctx.prod.overall, m.direction))
        change = float(worse_by(value_s, value_w, m.direction)) / gap if gap > 0 else math.nan
        if a.welch is not None:
            p = float(_welch_vs_rest(a, b)[0])
        elif m.additive and ctx.prod.moments is not None:
            inner = _where(ctx, s.combo, s.values)
            p = _engine_p_value(ctx, inner, _where(ctx, wider.combo, wider.values))
        elif m.additive:
            inside = ctx.prod.memory.mask(Side.PRODUCTION, _where(ctx, s.combo, s.values))
            outer = ctx.prod.memory.mask(Side.PRODUCTION, _where(ctx, wider.combo, wider.values))
            p = _delta_p_value(ctx, np.flatnonzero(inside), np.flatnonzero(outer & ~inside))
        else:
            p = math.nan
        return change, p

    def earns(self, s: _Listed, wider: _Listed) -> bool:
        """Whether ``s``'s extra conditions earn their place against ``wider``."""
        change, p = self.compare(s, wider)
        tested = self.ctx.metric.additive  # rank metrics have no p-value: materiality only
        return bool(change >= self.share and (not tested or p < self.alpha))

    def reduce(self, s: _Listed) -> _Listed:
        """Drop conditions that do not earn their place, the least material first."""
        while len(s.combo) >= 2:
            failing = []
            for i in range(len(s.combo)):
                if not self.earns(s, s.drop(i)):
                    failing.append((self.compare(s, s.drop(i))[0], i))
            if not failing:
                break
            s = s.drop(min(failing, key=lambda t: (np.nan_to_num(t[0], nan=-np.inf), t[1]))[1])
        return s


def _listing(
    ctx: _Context,
    table: pd.DataFrame,
    found: Sequence[search.Found],
    opts: SliceSearch,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill ``explained_by`` and build the stand-ins (module docstring, "Listing")."""
    rule = _Rule(ctx, opts.condition_alpha, opts.condition_share)
    ranked = [_Listed(f.combo, f.values) for f in found]
    reduced = [rule.reduce(s) for s in ranked]
    known = set(ranked)
    extra = list(dict.fromkeys(r for r in reduced if r not in known))
    whole = _parent(ctx, None)
    stand_ins = _table([_slice_record(ctx, r.combo, r.values, whole) for r in extra])
    stand_ins.index = pd.RangeIndex(len(table), len(table) + len(stand_ins))
    union = pd.concat([table, stand_ins]) if len(stand_ins) else table.copy()
    slices = ranked + extra
    reduced_all = reduced + extra  # a stand-in earns every condition (it is fully reduced)
    folded: list[str | None] = [
        None if r == s else slice_id(_conditions(ctx, r))
        for s, r in zip(slices, reduced_all, strict=True)
    ]
    explained = _explained_by_children(ctx, rule, union, slices, folded, opts.explained_ratio)
    merged = [f if f is not None else e for f, e in zip(folded, explained, strict=True)]
    union = union.assign(explained_by=pd.Series(merged, index=union.index, dtype=object))
    union = _order(union)
    union = _fold_neighbours(
        ctx, union, dict(zip([*table.index, *stand_ins.index], slices, strict=True))
    )
    return union.loc[table.index], union.loc[stand_ins.index]


def _order(table: pd.DataFrame) -> pd.DataFrame:
    """Sort by impact, then the deeper slice first (the ranking's order)."""
    key = table.assign(_neg=-table["depth"])
    order = key.sort_values(["impact", "_neg"], ascending=[False, True], kind="mergesort").index
    return table.loc[order]


def _conditions(ctx: _Context, s: _Listed) -> Conditions:
    return tuple(
        (ctx.features[j], ctx.bins[ctx.features[j]].labels[v])
        for j, v in zip(s.combo, s.values, strict=True)
    )


def _explained_by_children(
    ctx: _Context,
    rule: _Rule,
    table: pd.DataFrame,
    slices: Sequence[_Listed],
    folded: Sequence[str | None],
    ratio: float,
) -> list[str | None]:
    """Return each slice's best child that explains it, or None.

    The child keeps ``ratio`` of its impact and is materially more concentrated: its extra
    condition earns its place.
    """
    conds = [frozenset(c) for c in table["conditions"]]
    impact = table["impact"].to_numpy()
    size = table["size"].to_numpy()
    wheres = [_where(ctx, s.combo, s.values) for s in slices]

    def within(j: int, i: int) -> bool:  # every row of slice j is a row of slice i
        both = Filter(wheres[j].conditions + wheres[i].conditions)
        return bool(ctx.prod.table.count(Side.PRODUCTION, both) == size[j])

    explained: list[str | None] = []
    for i, parent in enumerate(conds):
        best = None
        for j, child in enumerate(conds):
            if (
                folded[j] is None
                and impact[i] > 0
                and impact[j] >= ratio * impact[i]
                and size[j] < size[i]
                and len(child - parent) == 1
                and (best is None or impact[j] > impact[best])
                and (parent < child or within(j, i))
                # a longer description must be materially more concentrated; a child named
                # by no more conditions than its parent wins the tie (the shorter one)
                and (len(child) < len(parent) or rule.earns(slices[j], slices[i]))
            ):
                best = j
        explained.append(None if best is None else str(table["slice_id"].iloc[best]))
    return explained


def _fold_neighbours(
    ctx: _Context, table: pd.DataFrame, slices: Mapping[Any, _Listed]
) -> pd.DataFrame:
    """Fold slices that differ from a better one only by a neighbouring numeric bin.

    ``temp >= 75``, ``temp in [70, 75)`` and ``temp in [65, 70)`` (same other conditions) are
    one finding: the slices not yet folded are grouped into runs of contiguous bin codes of
    one numeric feature, and every slice of a run but the first (best) gets the first one's
    id in ``explained_by``. "(missing)" is nobody's neighbour.
    """
    explained = table["explained_by"].tolist()
    ids = table["slice_id"].tolist()
    groups: dict[tuple[Any, ...], list[tuple[int, int]]] = {}  # (feature, rest) -> (code, pos)
    for pos, idx in enumerate(table.index):
        if not _no_value(explained[pos]):
            continue
        s = slices[idx]
        for i, j in enumerate(s.combo):
            b = ctx.bins[ctx.features[j]]
            if b.kind == "numeric" and s.values[i] != b.missing_code:
                groups.setdefault((j, _others(s, i)), []).append((s.values[i], pos))
    for members in groups.values():
        members.sort()
        run: list[tuple[int, int]] = []
        for code, pos in [*members, (-2, -1)]:  # a sentinel closes the last run
            if run and code != run[-1][0] + 1:
                head = min(p for _, p in run)
                for _, p in run:
                    if p != head and _no_value(explained[p]):
                        explained[p] = ids[head]
                run = []
            run.append((code, pos))
    return table.assign(explained_by=pd.Series(explained, index=table.index, dtype=object))


def _others(s: _Listed, i: int) -> tuple[tuple[int, int], ...]:
    return tuple((j, v) for k, (j, v) in enumerate(zip(s.combo, s.values, strict=True)) if k != i)


# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True, eq=False)
class SliceResult:
    """The slices that pull the metric down most, with their baseline decomposition.

    Attributes
    ----------
    table : DataFrame
        One row per ranked slice, sorted by impact (descending). Columns: ``slice_id`` (URL key,
        see `parse_slice_id`), ``conditions`` (tuple of (feature, value label)), ``depth``,
        ``size`` (production rows), ``share`` (of rows), ``volume`` (share of the metric's
        denominator), ``metric``, ``delta`` (metric - overall), ``impact``,
        ``baseline_size``, ``baseline_share``, ``baseline_volume``, ``baseline_metric`` (NaN
        when absent or undefined in the baseline), ``baseline_delta`` (metric -
        baseline_metric), ``mix_effect``, ``performance_effect`` (ratio metrics, else NaN),
        ``p_value`` (slice vs rest) and ``explained_by`` (the slice listed in its place: a
        listed child keeping at least ``explained_ratio`` of the impact, the shorter slice
        when a condition does not earn its place, or the best neighbouring cut; None when
        it is listed itself). See the module docstring.
    metric_id : str
        The metric ranked.
    direction : Direction
        Its direction.
    overall_metric, baseline_overall_metric : float
        The metric on all production / baseline rows.
    features : tuple of str
        The slice columns searched.
    bins : dict of str -> ColumnBins
        How each feature was discretised (value labels of ``conditions``).
    min_size, max_depth, top : int
        The search limits used.
    explained_ratio : float
        Threshold of ``explained_by``.
    stand_ins : DataFrame
        Shorter slices listed in place of ranked ones whose conditions do not all earn their
        place, when not ranked themselves (columns of ``table``; `distinct` merges them in).
    excluded : tuple of (str, str)
        Columns left out of slicing by default and why (id-like, free text, a calendar twin).
    condition_alpha, condition_share : float
        The thresholds of "Every condition earns its place".
    search : dict
        What the search did: ``method``, ``combos_total``, ``combos_scored``, ``rows_scored``
        and ``single_slices`` (one-condition slices of at least ``min_size`` rows: a lower
        bound on the slices it could rank, for multiple-testing corrections).
    """

    table: pd.DataFrame
    metric_id: str
    direction: Direction
    overall_metric: float
    baseline_overall_metric: float
    features: tuple[str, ...]
    bins: dict[str, ColumnBins]
    min_size: int
    max_depth: int
    top: int
    explained_ratio: float
    search: dict[str, Any] = field(default_factory=dict)
    stand_ins: pd.DataFrame = field(default_factory=lambda: _table([]))
    excluded: Excluded = ()
    condition_alpha: float = SliceSearch.condition_alpha
    condition_share: float = SliceSearch.condition_share

    @property
    def excluded_note(self) -> str | None:
        """One sentence naming the columns left out of slicing and how to put them back."""
        if not self.excluded:
            return None
        return (
            f"{_excluded_note(self.excluded)[0].upper()}{_excluded_note(self.excluded)[1:]}. "
            "To slice by them anyway, name them in the slice search's features option "
            "(SliceSearch.features)."
        )

    def distinct(self) -> pd.DataFrame:
        """Return the slices that are distinct findings (the rows to list).

        The rows of `table` and `stand_ins`, by impact. The one rule by which the Slices
        page, every report format and the root-cause summary decide which slices repeat
        another: a slice is left out when another is listed in its place (``explained_by``:
        a narrower slice keeping most of its impact, the shorter slice when a condition does
        not earn its place, or a better neighbouring cut), or when it
        narrows a slice listed above it (its conditions include all of the other's, which
        already accounts for it, and whose drilldown lists it). Only listed slices hide
        narrower ones: a broad slice left out because a narrower one explains it does not hide
        that narrower one. Columns are those of `table`.
        """
        every = (
            _order(pd.concat([self.table, self.stand_ins])) if len(self.stand_ins) else self.table
        )
        keep = distinct_mask(every["conditions"], every["explained_by"])
        return every[keep]

    def listed(self, *, distinct: bool = SliceSearch.distinct) -> pd.DataFrame:
        """Return the slices to list: `distinct` ones, or every ranked slice."""
        return self.distinct() if distinct else self.table


def distinct_mask(conditions: Iterable[Iterable[Any]], explained_by: Iterable[Any]) -> list[bool]:
    """Return which slices of a ranked list are distinct findings (`SliceResult.distinct`).

    Parameters
    ----------
    conditions : iterable of iterables of (feature, value label)
        Each slice's conditions, most costly slice first.
    explained_by : iterable
        Each slice's ``explained_by`` (None or NaN: not explained).

    Examples
    --------
    >>> distinct_mask([[("a", "1")], [("a", "1"), ("b", "2")], [("c", "3")]], ["x", None, None])
    [False, True, True]
    """
    above: list[frozenset[Any]] = []
    keep = []
    for conds_in, explained in zip(conditions, explained_by, strict=True):
        conds = frozenset(tuple(c) for c in conds_in)
        kept = _no_value(explained) and not any(a <= conds for a in above)
        keep.append(kept)
        if kept and conds:  # an empty slice (all rows) would swallow every later one
            above.append(conds)
    return keep


def _no_value(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@per_analysis
def find_slices(
    analysis: Analysis | EngineAnalysis,
    *,
    metric: str | None = None,
    max_depth: int = SliceSearch.max_depth,
    min_size: int | None = SliceSearch.min_size,
    top: int = SliceSearch.top,
    features: Sequence[str] | None = SliceSearch.features,
    bins: int = SliceSearch.bins,
    explained_ratio: float = SliceSearch.explained_ratio,
    condition_alpha: float = SliceSearch.condition_alpha,
    condition_share: float = SliceSearch.condition_share,
    random_state: int = 0,
) -> SliceResult:
    """Find the slices with the largest performance impact (exact top-k).

    Parameters
    ----------
    analysis : Analysis or EngineAnalysis
        The baseline/production pair, in memory or held by a SQL engine
        (`tracing.engine_analysis`: the search then runs level by level in the engine, and the
        p-values of rank metrics are not available).
    metric : str, optional
        Metric id; default the analysis' lead metric.
    max_depth : int, default 3
        Most conditions per slice (1 to 4).
    min_size : int, optional
        Fewest production rows a ranked slice has; default ``max(30, 0.1% of rows)``. Also
        the pooling threshold of rare categories.
    top : int, default 20
        How many slices to return.
    features : sequence of str, optional
        Columns to slice by; default the schema's features and tags.
    bins : int, default 10
        Quantile bins per numeric feature.
    explained_ratio : float, default 0.9
        A parent is ``explained_by`` a listed child keeping at least this share of its impact.
    condition_alpha, condition_share : float, default 0.05 and 0.1
        The thresholds of "Every condition earns its place" (module docstring).
    random_state : int, default 0
        Accepted for a uniform engine API; the search is exact and deterministic.

    Returns
    -------
    SliceResult

    Raises
    ------
    DataError
        Unknown metric or column, bad limits, or a metric undefined on production.

    Examples
    --------
    >>> from tracing import prepare_analysis, read_table
    >>> a = prepare_analysis(read_table("demo_data/fraud_training.parquet"),
    ...                      read_table("demo_data/fraud_production.parquet"))
    >>> res = find_slices(a, metric="accuracy", top=5)  # doctest: +SKIP
    >>> res.table[["slice_id", "size", "metric", "impact"]].iloc[0].to_dict()  # doctest: +SKIP
    {'slice_id': 'state=CA&merchant_category=online%20pharmacy&merchant_id=scammeds.com', ...}
    """
    del random_state
    opts = SliceSearch(
        max_depth=max_depth,
        min_size=min_size,
        top=top,
        features=None if features is None else tuple(features),
        bins=bins,
        explained_ratio=explained_ratio,
        condition_alpha=condition_alpha,
        condition_share=condition_share,
    )
    max_depth, top, explained_ratio = opts.max_depth, opts.top, opts.explained_ratio
    ctx = _context(
        analysis, metric=metric, features=opts.features, bins=opts.bins, min_size=opts.min_size
    )
    widest = sorted(ctx.cards, reverse=True)[: int(max_depth)]
    if math.prod(widest) >= 2**62:  # cell codes are int64
        raise DataError(
            f"too many values to combine {max_depth} at a time "
            f"({' x '.join(map(str, widest))} cells); raise min_size (rarer values are pooled) "
            "or lower max_depth."
        )
    found, stats = _search(ctx, int(max_depth), int(top))
    if not isinstance(ctx.prod.table, MemoryTable):
        ctx = _remembered(ctx)
    parent = _parent(ctx, None)
    records = [_slice_record(ctx, f.combo, f.values, parent) for f in found]
    table, stand_ins = _listing(ctx, _table(records), found, opts)
    return SliceResult(
        table=table,
        metric_id=ctx.metric.id,
        direction=ctx.metric.direction,
        overall_metric=ctx.prod.overall,
        baseline_overall_metric=ctx.base.overall,
        features=ctx.features,
        bins=ctx.bins,
        min_size=ctx.min_size,
        max_depth=int(max_depth),
        top=int(top),
        explained_ratio=float(explained_ratio),
        search=stats,
        stand_ins=stand_ins,
        excluded=ctx.excluded,
        condition_alpha=opts.condition_alpha,
        condition_share=opts.condition_share,
    )


class ChangeCause(StrEnum):
    """Why a slice moved the overall metric since the baseline (`Drilldown.cause`)."""

    NEW = "new in production"
    WORSE = "got worse"
    GREW = "grew"


@dataclass(frozen=True, eq=False)
class Drilldown:
    """One slice up close: its numbers, its children and its per-feature breakdown.

    Attributes
    ----------
    conditions : tuple of (feature, value label)
        The slice (empty: the whole dataset), in feature order.
    slice_id : str
        Its key.
    metric_id : str
        The metric.
    stats : dict
        The slice against the whole data: the columns of `SliceResult.table` (``explained_by``
        is None).
    children : DataFrame
        Every slice with one more condition that has at least ``min_size`` rows, a defined
        metric and fewer rows than this slice (a condition that removes no row adds nothing),
        sorted by impact **within the parent**: the `SliceResult.table` columns, with
        ``share``, ``volume``, ``delta``, ``impact``, ``baseline_share``, ``baseline_volume``,
        ``mix_effect``, ``performance_effect`` and ``p_value`` relative to this slice (its
        children's decomposition adds up to this slice's change), plus ``overall_impact``
        (the impact against the whole data).
    breakdown : DataFrame
        For every feature, every value seen in the slice on either side: ``feature``,
        ``value``, ``size``, ``share``, ``volume``, ``metric``, ``delta``, ``impact`` (within
        the slice, production), ``baseline_size``, ``baseline_share``, ``baseline_volume``,
        ``baseline_metric``, ``mix_effect`` and ``performance_effect`` (the slice's change
        split over the feature's values). No size filter.
    bins : dict of str -> ColumnBins
        The value labels' bins.
    min_size : int
        Size filter of the children.
    production_mask, baseline_mask : ndarray of bool
        The slice's rows among the rows `rows` returns.
    rows_sampled : bool
        True when the analysis is held by a SQL engine: every number above is from all rows,
        but `rows` (and the masks) are over the engine's uniform sample of each side.
    """

    conditions: Conditions
    slice_id: str
    metric_id: str
    stats: dict[str, Any]
    children: pd.DataFrame
    breakdown: pd.DataFrame
    bins: dict[str, ColumnBins]
    min_size: int
    production_mask: NDArray[np.bool_] = field(repr=False)
    baseline_mask: NDArray[np.bool_] = field(repr=False)
    _frames: tuple[pd.DataFrame, pd.DataFrame] = field(repr=False)
    rows_sampled: bool = False

    @property
    def cause(self) -> ChangeCause | None:
        """Why the slice moved the overall metric since the baseline (None: no decomposition).

        ``NEW`` when the slice has no baseline rows, else ``WORSE`` when its own performance
        moved the metric at least as much as its change in volume, else ``GREW``.
        """
        perf, mix = self.stats["performance_effect"], self.stats["mix_effect"]
        if not (np.isfinite(perf) and np.isfinite(mix)):  # only ratio metrics decompose
            return None
        if not self.stats["baseline_size"]:
            return ChangeCause.NEW
        return ChangeCause.WORSE if abs(perf) >= abs(mix) else ChangeCause.GREW

    def feature_order(self) -> list[str]:
        """Return the features the slice leaves free, most telling first.

        Ordered by the largest impact of any of a feature's values inside the slice (where
        the slice's rows differ most), then the rest in feature order.
        """
        fixed = {f for f, _ in self.conditions}
        free = [f for f in dict.fromkeys(self.breakdown["feature"]) if f not in fixed]
        bd = self.breakdown[self.breakdown["feature"].isin(free)]
        ranked = bd.groupby("feature", sort=False)["impact"].max().dropna()
        ranked = ranked.sort_values(ascending=False, kind="mergesort")
        return [*map(str, ranked.index), *(f for f in free if f not in ranked.index)]

    def rows(self, which: str = "production") -> pd.DataFrame:
        """Return the slice's rows of ``"production"`` or ``"baseline"`` (all columns)."""
        if which not in ("production", "baseline"):
            raise DataError(f"which must be 'production' or 'baseline', got {which!r}.")
        frame, mask = (
            (self._frames[1], self.production_mask)
            if which == "production"
            else (self._frames[0], self.baseline_mask)
        )
        return frame[mask]


def drilldown(
    analysis: Analysis | EngineAnalysis,
    target: str | Sequence[tuple[str, str]],
    *,
    metric: str | None = None,
    features: Sequence[str] | None = None,
    bins: int = SliceSearch.bins,
    min_size: int | None = None,
    result: SliceResult | None = None,
) -> Drilldown:
    """Open one slice: its numbers, its children ranked by impact within it, its breakdown.

    Parameters
    ----------
    analysis : Analysis or EngineAnalysis
        The baseline/production pair, in memory or held by a SQL engine (then one
        grouping-sets query per side counts the slice and every feature's values in it).
    target : str or sequence of (feature, value label)
        A `slice_id` (``""`` = the whole dataset) or its conditions.
    metric, features, bins, min_size
        As in `find_slices` (use the same values so the value labels match).
    result : SliceResult, optional
        A `find_slices` result whose metric, features, bins and min_size are reused (they
        then override the other arguments).

    Returns
    -------
    Drilldown
    """
    bins_arg: int | Mapping[str, ColumnBins] = bins
    metric_arg: str | Metric | None = metric
    if result is not None:
        metric_arg, features, bins_arg = result.metric_id, result.features, result.bins
        min_size = result.min_size
    ctx = _context(
        analysis, metric=metric_arg, features=features, bins=bins_arg, min_size=min_size
    )
    conditions = _canonical(ctx, parse_slice_id(target) if isinstance(target, str) else target)
    combo = [ctx.features.index(f) for f, _ in conditions]
    values = [_label_code(ctx.bins, f, v) for f, v in conditions]
    where = _where(ctx, combo, values)
    whole = _whole(ctx)
    if not isinstance(ctx.prod.table, MemoryTable):
        ctx = _prefetched(ctx, where)
    own = _slice_record(ctx, combo, values, whole)
    own["explained_by"] = None
    parent = _parent(ctx, where)
    frames = analysis if isinstance(analysis, Analysis) else analysis.sample
    return Drilldown(
        conditions=conditions,
        slice_id=slice_id(conditions),
        metric_id=ctx.metric.id,
        stats=own,
        children=_children(ctx, conditions, where, parent),
        breakdown=_breakdown(ctx, where, parent),
        bins=ctx.bins,
        min_size=ctx.min_size,
        production_mask=slice_mask(frames.production_frame, conditions, ctx.bins),
        baseline_mask=slice_mask(frames.baseline_frame, conditions, ctx.bins),
        _frames=(frames.baseline_frame, frames.production_frame),
        rows_sampled=frames is not analysis,
    )


# The whole data's sums of a (memoised) search context: every drilldown of it reads them.
_WHOLE: weakref.WeakKeyDictionary[_Context, _Parent] = weakref.WeakKeyDictionary()


def _whole(ctx: _Context) -> _Parent:
    if ctx not in _WHOLE:
        _WHOLE[ctx] = _parent(ctx, None)
    return _WHOLE[ctx]


def _prefetched(ctx: _Context, where: Filter) -> _Context:
    """Return the context with a slice's sums counted ahead: one engine query per side.

    The slice itself and every feature's cells within it (children, breakdown and the
    children's moments) come from one grouping-sets scan of the slice's rows.
    """
    from tracing.prefetch import PrefetchedTable

    groupings = [((), where), *(((f,), where) for f in ctx.features)]
    return _wrapped(ctx, lambda t, side, stats: PrefetchedTable(t, side, groupings, stats))


def _remembered(ctx: _Context) -> _Context:
    """Return the context whose tables ask each slice's sums once (`tracing.prefetch.MemoTable`).

    For the listing on a SQL engine: a listed slice's sums are read by its record, its
    p-value and every "earns its place" comparison it takes part in.
    """
    from tracing.prefetch import MemoTable

    return _wrapped(ctx, lambda table, side, _: MemoTable(table, side))


def _wrapped(ctx: _Context, wrap: Callable[[CodedTable, Side, list[str]], CodedTable]) -> _Context:
    """Return the context with both sides' tables wrapped (``wrap(table, side, stats)``)."""
    sides = []
    for side in (ctx.prod, ctx.base):
        stats = [s for s in side.table.stat_names(side.which) if s != "n"]
        table = wrap(side.table, side.which, stats)
        moments = None
        if side.moments is not None:
            moments = functools.partial(_engine_moments, table, tuple(side.stats))
        sides.append(replace(side, table=table, moments=moments))
    return replace(ctx, prod=sides[0], base=sides[1])


def _canonical(ctx: _Context, conditions: Sequence[tuple[str, str]]) -> Conditions:
    seen: dict[str, str] = {}
    for feature, label in conditions:
        _label_code(ctx.bins, feature, label)
        if feature in seen:
            raise DataError(f"feature {feature!r} appears twice in the slice; keep one value.")
        seen[feature] = label
    return tuple((f, seen[f]) for f in ctx.features if f in seen)


def _children(
    ctx: _Context, conditions: Conditions, where: Filter, parent: _Parent
) -> pd.DataFrame:
    used = {f for f, _ in conditions}
    m, side = ctx.metric, ctx.prod
    volume_total = side.volume_total
    records = []
    n_parent = int(parent.prod.count[0])
    # p-values from the rows themselves (in memory; a SQL engine leaves them NaN)
    delta = m.additive and not m.decomposable and side.stats_frame is not None
    rows_p = np.flatnonzero(side.memory.mask(Side.PRODUCTION, where)) if delta else None
    for j, feature in enumerate(ctx.features):
        if feature in used:
            continue
        p = _group(ctx, side, (feature,), where, welch=True, min_count=ctx.min_size)
        b = _group(ctx, ctx.base, (feature,), where)
        cols = _measure(ctx, p, b, parent)
        overall = worse_by(p.value, side.overall, m.direction) * p.volume / volume_total
        # a child with all of the parent's rows is the parent again (see "Ranked slices")
        shown = (p.count >= ctx.min_size) & (p.count < n_parent) & np.isfinite(cols["impact"])
        for v in np.flatnonzero(shown):
            conds = _canonical(ctx, (*conditions, (feature, ctx.bins[feature].labels[v])))
            rec = {k: float(col[v]) for k, col in cols.items()}
            if rows_p is not None:
                hit = side.codes[j][rows_p] == v
                rec["p_value"] = _delta_p_value(ctx, rows_p[hit], rows_p[~hit])
            elif m.additive and not m.decomposable and side.moments is not None:
                child = where.also(Filter.of([(feature, int(v))]))
                rec["p_value"] = _engine_p_value(ctx, child, where)
            records.append(
                {
                    "slice_id": slice_id(conds),
                    "conditions": conds,
                    "depth": len(conds),
                    **rec,
                    "overall_impact": float(overall[v]),
                }
            )
    table = _table(records, [*TABLE_COLUMNS, "overall_impact"])
    table["explained_by"] = pd.Series([None] * len(table), index=table.index, dtype=object)
    table["order"] = -table["depth"]
    table = table.sort_values(["impact", "order"], ascending=[False, True], kind="mergesort")
    return table.drop(columns="order").reset_index(drop=True)


def _breakdown(ctx: _Context, where: Filter, parent: _Parent) -> pd.DataFrame:
    frames = []
    for feature in ctx.features:
        labels = ctx.bins[feature].labels
        p, b = (_group(ctx, side, (feature,), where, min_count=1) for side in (ctx.prod, ctx.base))
        cols = _measure(ctx, p, b, parent)
        seen = (p.count > 0) | (b.count > 0)
        part = pd.DataFrame({k: cols[k][seen] for k in BREAKDOWN_COLUMNS[2:]})
        part.insert(0, "value", np.asarray(labels, dtype=object)[seen])
        part.insert(0, "feature", feature)
        frames.append(part)
    table = pd.concat(frames, ignore_index=True)
    return table.astype({"size": np.int64, "baseline_size": np.int64})
