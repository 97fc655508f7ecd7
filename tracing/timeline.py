"""Monitoring over time: a metric per period, a band of expected values, and alerts.

`metric_timeline` cuts production into periods (hour, day or week) and computes, per period,
the row count, the rows with actuals, the realized metric and, for binary models with scores,
the metric *estimated* from the scores (`tracing.estimate`). Additive metrics are one
``np.bincount`` per sufficient statistic over the period codes; rank metrics (ROC AUC, PR AUC)
are computed exactly per period.

**Granularity** (`auto_freq`, override with ``freq``): from the time span of production, hourly
below 3 days (at most 72 periods), daily below 180 days (at most 180), weekly beyond. Periods are
``[start, end)`` in the timestamp's own time zone; weeks start on Monday. Every period between
the first and the last is listed, empty ones included.

**Expected band** ``mean +/- k * std`` (sample std) of the metric, from either

- the **baseline**'s periods at the same granularity (the default when a baseline is given):
  one fixed band, the baseline's normal period-to-period variation; or
- a **rolling window** of the previous ``window`` production periods (``window=N``; the
  default without a baseline), leaving out periods that alerted: the band follows slow change,
  an anomaly does not widen the band that judges the next periods, and a lasting change alerts
  for about ``window`` periods before it becomes the new normal (use the baseline band to
  keep comparing with a fixed reference).

Only periods with enough rows count for a band, and a band needs at least `MIN_BAND_PERIODS`
of them.

**Defaults.** ``k = 3`` and ``window = 30`` periods. The paper suggests a rolling 30 days and
one standard deviation; one std means that on a stable model a period alerts with probability
P(Z > 1) = 16% (alerts fire only on the worse side): about one false alert a week with daily
periods, which teaches people to ignore alerts. ``k = 2`` gives 2.3% (one false alert every
six weeks of days, every two days of hours); ``k = 3``, NannyML's default, gives 0.13% (about one
false alert every two years of daily periods, or every month of hourly ones) while still
catching a drop of three period-to-period standard deviations (e.g. about 2 points of accuracy
on 2,000 rows a day). Those rates assume a band known exactly; estimated from 30 periods it is
itself noisy and the chance rate at k = 3 is about 0.3% per period (Student's t with 29 degrees
of freedom), 0.2% from 60 periods: still about one false alert a year of daily periods.

**Judging a period.** A period is judged on its realized metric when at least ``min_rows``
rows have actuals (and, when an estimate exists, they cover at least half of its rows); else on
the estimate when the estimate covers at least ``min_rows`` rows; otherwise it is **sparse**:
listed, never judged, and left out of bands. It **alerts** when the judged value is outside the
band on the *worse* side (`tracing.metrics.worse_by`); two-sided metrics (mean error, predicted
positive rate) alert outside either side. The table's ``judged`` column says which periods were
judged: a value to judge (``basis`` is not ``"none"`` and the metric is defined) and a band to
judge it against; ``alert`` is only ever true for judged periods.

**One judgement for every engine.** Measuring a side gives its `Periods` (rows, rows with
actuals, realized and estimated metric per period); `assemble_timeline` judges them. In memory
`metric_timeline` measures with the engine seam; on a SQL engine `tracing.engine_timeline`
measures every row in the engine (the period key from `period_index` and `period_starts`, the
sums through `periods_from_sums`) and calls the same `assemble_timeline`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.analysis import Analysis
from tracing.engine import Filter, MemoryTable, Side
from tracing.errors import DataError
from tracing.estimate import (
    ScoreEstimator,
    can_estimate,
    estimate_rank_metric,
    estimated_row_stats,
    fit_estimator,
    prediction_rows,
)
from tracing.metrics import (
    Direction,
    Metric,
    Prepared,
    default_metric,
    get_metric,
    row_stat_columns,
    score_groups,
    worse_by,
)
from tracing.options import DEFAULT_K, DEFAULT_MIN_ROWS, DEFAULT_WINDOW
from tracing.schema import ModelType, Schema, detect_roles, resolve_schema
from tracing.textfmt import jsonable
from tracing.vocab import Basis, Freq
from tracing.windows import parse_timestamps, period_text, timestamp_column

__all__ = [
    "DEFAULT_K",
    "DEFAULT_MIN_ROWS",
    "DEFAULT_WINDOW",
    "FREQS",
    "MIN_BAND_PERIODS",
    "TABLE_COLUMNS",
    "Periods",
    "Timeline",
    "assemble_timeline",
    "auto_freq",
    "check_freq",
    "check_options",
    "choose_metric",
    "estimate_disagrees",
    "metric_timeline",
    "monitoring_schema",
    "no_time_note",
    "period_codes",
    "period_index",
    "period_starts",
    "period_wall_start_ns",
    "period_window",
    "periods_from_sums",
    "require_baseline_timestamp",
    "timeline_estimator",
    "timeline_for",
    "timeline_json",
]

Array = NDArray[np.float64]

FREQS = tuple(Freq)
SCHEMA_VERSION = "1.0"
"""Version of `timeline_json`'s shape (``tracing/schemas/timeline.schema.json``)."""
MIN_BAND_PERIODS = 5
ACTUAL_COVERAGE = 0.5
_HOUR_SPAN = pd.Timedelta(days=3)
_DAY_SPAN = pd.Timedelta(days=180)
_NS = {"hour": 3_600 * 10**9, "day": 86_400 * 10**9, "week": 7 * 86_400 * 10**9}
# 1970-01-01 was a Thursday: shifting by 3 days makes epoch-aligned weeks start on Monday.
_WEEK_SHIFT = 3 * 86_400 * 10**9

TABLE_COLUMNS = (
    "start",
    "end",
    "rows",
    "rows_with_actuals",
    "metric",
    "estimated",
    "expected_low",
    "expected_high",
    "alert",
    "sparse",
    "basis",
    "judged",
)


@dataclass(frozen=True)
class Timeline:
    """A metric over time with its expected band and alerts.

    Attributes
    ----------
    table : DataFrame
        One row per period, in time order, columns `TABLE_COLUMNS`:

        - ``start``, ``end``: the period ``[start, end)``;
        - ``rows``: production rows; ``rows_with_actuals``: rows with an actual and a prediction;
        - ``metric``: realized value (NaN without actuals or when undefined);
        - ``estimated``: value estimated from the scores of every scored row of the period,
          with or without an actual (NaN where no estimate applies);
        - ``expected_low``, ``expected_high``: the band (NaN when there is none yet);
        - ``alert``: outside the band on the worse side; ``sparse``: too few rows to judge;
        - ``basis``: what the period was judged on, a `tracing.vocab.Basis`: ``"actual"``,
          ``"estimated"`` or ``"none"``;
        - ``judged``: whether the period was judged, i.e. it had a value (``basis`` not
          ``"none"`` and the metric defined) and a band to judge it against; ``alert`` is
          only ever true for judged periods.
    metric : Metric
        The metric.
    freq : Freq
        The period length (``"hour"``, ``"day"`` or ``"week"``).
    band : {"baseline", "rolling", "none"}
        Where the band comes from (``"none"``: not enough periods for one).
    k : float
        Band half-width in standard deviations.
    window : int or None
        Rolling window in periods (``band == "rolling"``).
    min_rows : int
        Fewest rows to judge a period.
    baseline_table : DataFrame or None
        The baseline's periods (``start``, ``end``, ``rows``, ``rows_with_actuals``,
        ``metric``, ``sparse``) when a baseline was given.
    notes : tuple of str
        Rows left out, how the band and the estimate were made.
    """

    table: pd.DataFrame
    metric: Metric
    freq: Freq
    band: str
    k: float
    window: int | None
    min_rows: int
    baseline_table: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def alerts(self) -> pd.DataFrame:
        """The alerting periods (rows of `table`)."""
        return self.table.loc[self.table["alert"].to_numpy(dtype=bool)]


# ---------------------------------------------------------------------------------------------
# Periods


def auto_freq(times: pd.Series) -> Freq:
    """Granularity for a timestamp column: hour below 3 days of span, day below 180, else week.

    Examples
    --------
    >>> auto_freq(pd.Series(pd.date_range("2026-11-16", periods=7, freq="D")))
    'day'
    """
    known = times.dropna()
    if known.empty:
        return Freq.DAY
    span = known.max() - known.min()
    if span < _HOUR_SPAN:
        return Freq.HOUR
    return Freq.DAY if span < _DAY_SPAN else Freq.WEEK


def period_codes(times: pd.Series, freq: str) -> tuple[NDArray[np.int64], pd.DatetimeIndex]:
    """Period index of each timestamp (-1 where missing) and the start of every period.

    Parameters
    ----------
    times : Series
        Parsed timestamps (`tracing.windows.parse_timestamps`).
    freq : {"hour", "day", "week"}
        Period length; days and weeks follow the wall clock of the column's time zone.

    Returns
    -------
    codes : ndarray of int64
        ``0..n_periods-1``; -1 for missing timestamps.
    starts : DatetimeIndex
        Start of each period (same time zone as ``times``), first to last without gaps.
    """
    tz = getattr(times.dtype, "tz", None)
    wall = times.dt.tz_localize(None) if tz is not None else times
    missing = wall.isna().to_numpy(dtype=bool)
    if missing.all():
        return np.full(len(times), -1, dtype=np.int64), pd.DatetimeIndex([], tz=tz)
    ns = wall.to_numpy(dtype="datetime64[ns]").view(np.int64)
    idx = period_index(ns, freq)
    first, last = int(idx[~missing].min()), int(idx[~missing].max())
    codes = np.where(missing, -1, idx - first).astype(np.int64)
    return codes, period_starts(first, last, freq, tz)


def period_index(wall_ns: NDArray[np.int64], freq: str) -> NDArray[np.int64]:
    """Return the absolute period number of wall-clock times (ns since the epoch, naive).

    Period ``i`` starts at ``i * step - shift`` ns on the wall clock (weeks on Mondays): the
    one rule `period_codes` and the SQL engines' period key (`tracing.engine_timeline`) share.
    """
    step = _NS[check_freq(freq)]
    return (np.asarray(wall_ns, dtype=np.int64) + _shift(freq)) // step


def period_wall_start_ns(index: int, freq: str) -> int:
    """Return the wall-clock start (ns since the epoch, naive) of absolute period ``index``."""
    return int(index) * _NS[check_freq(freq)] - _shift(freq)


def period_starts(first: int, last: int, freq: str, tz: Any = None) -> pd.DatetimeIndex:
    """Return the starts of absolute periods ``first..last`` in the time zone ``tz``.

    A wall-clock start that falls in a repeated DST hour is the later (standard-time) instant;
    one in a skipped hour moves forward.
    """
    step = _NS[check_freq(freq)]
    starts_ns = np.arange(first, last + 1, dtype=np.int64) * step - _shift(freq)
    starts = pd.DatetimeIndex(starts_ns.astype("datetime64[ns]"))
    if tz is not None:
        keep_standard = np.zeros(len(starts), dtype=bool)  # the later of a repeated DST hour
        starts = starts.tz_localize(tz, ambiguous=keep_standard, nonexistent="shift_forward")
    return starts


def _shift(freq: str) -> int:
    return _WEEK_SHIFT if freq == "week" else 0


def _period_ends(starts: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """End of each period on the wall clock: the next midnight, even across a DST change."""
    step = pd.Timedelta(nanoseconds=_NS[freq])
    if starts.tz is None or freq == "hour":
        return starts + step
    wall = starts.tz_localize(None) + step
    keep_standard = np.zeros(len(wall), dtype=bool)
    return wall.tz_localize(starts.tz, ambiguous=keep_standard, nonexistent="shift_forward")


def check_freq(freq: str) -> Freq:
    """Return ``freq`` as a `Freq`, or raise a `DataError` naming the choices."""
    if freq not in FREQS:
        raise DataError(f"unknown period {freq!r}; choose one of: {', '.join(FREQS)}.")
    return Freq(freq)


# ---------------------------------------------------------------------------------------------
# Schema for monitoring (production may have no actuals)


def monitoring_schema(
    production: pd.DataFrame,
    baseline: pd.DataFrame | None = None,
    *,
    roles: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    positive_class: Any = None,
    threshold: float = 0.5,
    names: tuple[str, str] = ("baseline", "production"),
) -> Schema:
    """Resolve roles and model type when production may lack actuals.

    Unlike `tracing.analysis.prepare_analysis`, production needs no actual column and no
    baseline is required: roles are detected on the columns of both frames (explicit ``roles``
    win), features are the columns the frames share.

    Parameters
    ----------
    production : DataFrame
        Production predictions.
    baseline : DataFrame, optional
        Baseline predictions with actuals.
    roles, model_type, positive_class, threshold
        As in `prepare_analysis`.
    names : (str, str)
        File names for messages.

    Returns
    -------
    Schema

    Raises
    ------
    DataError
        If a frame is empty, a named column is missing, or a frame lacks the prediction
        columns.
    """
    frames = [f for f in (baseline, production) if f is not None]
    labels = names[-len(frames) :]
    for frame, name in zip(frames, labels, strict=True):
        if len(frame) == 0:
            raise DataError(f"{name}: the file has no data rows; export the predictions again.")
    cols = [str(c) for c in production.columns]
    if baseline is not None:
        cols += [str(c) for c in baseline.columns if c not in set(production.columns)]
    found = detect_roles(cols, overrides=roles, data=frames)  # names and values together
    shared = set.intersection(*(set(map(str, f.columns)) for f in frames))
    features = tuple(c for c in found.features if c in shared)
    found = replace(found, features=features)
    schema = resolve_schema(
        frames,
        found,
        model_type=model_type,
        positive_class=positive_class,
        threshold=threshold,
    )
    needed = [found.prediction_label] if found.prediction_label else list(found.prediction_score)
    for frame, name in zip(frames, labels, strict=True):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"{name}: prediction column {missing[0]!r} is missing; both files need the "
                "same prediction columns (name them with --prediction/--score)."
            )
    return schema


# ---------------------------------------------------------------------------------------------
# Per-period values


@dataclass(frozen=True)
class Periods:
    """One side's measured periods: what `assemble_timeline` judges (any engine measures it).

    Attributes
    ----------
    starts : DatetimeIndex
        Start of each period, first to last without gaps.
    rows, with_actuals : ndarray of int64
        Rows, and rows with an actual and a prediction, per period.
    metric, estimated : ndarray of float64
        Realized and estimated metric per period (NaN where none).
    est_rows : ndarray of int64
        Rows the estimate covers per period.
    """

    starts: pd.DatetimeIndex
    rows: NDArray[np.int64]
    with_actuals: NDArray[np.int64]
    metric: Array
    estimated: Array
    est_rows: NDArray[np.int64]


def _period_columns(periods: Periods, freq: str) -> dict[str, Any]:
    """Return the columns every period table starts with: span, rows, realized metric."""
    return {
        "start": periods.starts,
        "end": _period_ends(periods.starts, freq),
        "rows": periods.rows,
        "rows_with_actuals": periods.with_actuals,
        "metric": periods.metric,
    }


# Statistic names in a period table: realized stats as they are, estimated ones prefixed.
_EST = "estimated:"
_PERIOD, _ACTUAL = "period", "has_actual"


def _period_table(
    codes: NDArray[np.int64],
    n: int,
    valid: NDArray[np.bool_],
    stats: Mapping[str, Array],
    side: Side,
) -> MemoryTable:
    """Build the table of the rows with a period (code >= 0): period, has-actual, ``stats``."""
    ok = codes >= 0
    every = bool(ok.all())  # no copies when every row has a period

    def kept(values: NDArray[Any]) -> NDArray[Any]:
        return values if every else values[ok]

    keys: dict[str, NDArray[np.integer]] = {
        _PERIOD: kept(codes),
        _ACTUAL: kept(valid).view(np.int8),
    }
    return MemoryTable.from_arrays(
        {side: (keys, {k: kept(v) for k, v in stats.items()})},
        cards={_PERIOD: n, _ACTUAL: 2},
        rows={side: np.flatnonzero(ok)},
    )


def _sums(table: MemoryTable, side: Side, prefix: str = "") -> dict[str, Array]:
    """Per-period sums of the table's statistics named ``prefix...`` (prefix dropped)."""
    names = [k for k in table.stat_names(side) if k.startswith(prefix)]
    if not prefix:
        names = [k for k in names if not k.startswith(_EST)]
    sums = table.group_sums((_PERIOD,), names, side=side).sums
    return {k[len(prefix) :]: sums[k] for k in names}


def _split_rows(codes: NDArray[np.int64], n: int) -> list[NDArray[np.intp]]:
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    bounds = np.searchsorted(sorted_codes, np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def _realized(
    metric: Metric,
    data: Prepared,
    codes: NDArray[np.int64],
    n: int,
    table: MemoryTable,
    side: Side,
) -> Array:
    if metric.exact is None:
        return np.asarray(metric.from_stats(_sums(table, side)), dtype=float)
    assert metric.from_groups is not None and data.score is not None
    keep = data.valid & ~np.isnan(data.score)
    out = np.full(n, np.nan)
    for i, rows in enumerate(_split_rows(np.where(keep, codes, -1), n)):
        if len(rows):
            out[i] = metric.from_groups(*score_groups(data.y_true[rows], data.score[rows]))
    return out


def _estimated(
    metric: Metric,
    estimator: ScoreEstimator,
    frame: pd.DataFrame,
    codes: NDArray[np.int64],
    n: int,
    stats: Mapping[str, Array],
    sums: Mapping[str, Array],
) -> tuple[Array, NDArray[np.int64]]:
    if metric.exact is None:
        return _covered_estimate(np.asarray(metric.from_stats(sums), dtype=float), sums)
    data = prediction_rows(frame, estimator.schema)
    assert data.score is not None
    values = np.full(n, np.nan)
    for i, rows in enumerate(_split_rows(codes, n)):
        values[i] = estimate_rank_metric(metric, data.score[rows], stats["p"][rows])
    return _covered_estimate(values, sums)


def _covered_estimate(values: Array, sums: Mapping[str, Array]) -> tuple[Array, NDArray[np.int64]]:
    """Return the estimate where it covers rows (else NaN), and the rows it covers."""
    covered = np.asarray(sums["n"]).round().astype(np.int64)
    return np.where(covered > 0, values, np.nan), covered


def periods_from_sums(
    starts: pd.DatetimeIndex,
    rows: NDArray[np.int64],
    metric: Metric,
    realized: Mapping[str, Array],
    estimated: Mapping[str, Array] | None,
) -> Periods:
    """Return the periods of an additive metric from its per-period sums (a SQL engine's).

    Parameters
    ----------
    starts : DatetimeIndex
        Start of each period (`period_starts`).
    rows : ndarray of int64
        Rows per period.
    metric : Metric
        An additive metric (``metric.exact`` is None).
    realized : mapping of str -> ndarray
        Per-period sums of `tracing.metrics.row_stats` (``n``: the rows with actuals).
    estimated : mapping of str -> ndarray, optional
        Per-period sums of `tracing.estimate.estimated_row_stats` (None: no estimate).
    """
    n = len(starts)
    with_actuals = np.asarray(realized["n"]).round().astype(np.int64)
    metric_values = (
        np.asarray(metric.from_stats(realized), dtype=float)
        if with_actuals.any()
        else np.full(n, np.nan)
    )
    if estimated is not None:
        values, est_rows = _covered_estimate(
            np.asarray(metric.from_stats(estimated), dtype=float), estimated
        )
    else:
        values, est_rows = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    return Periods(
        starts=starts,
        rows=np.asarray(rows, dtype=np.int64),
        with_actuals=with_actuals,
        metric=metric_values,
        estimated=values,
        est_rows=est_rows,
    )


def _times(frame: pd.DataFrame, schema: Schema, name: str) -> tuple[str, pd.Series]:
    col = timestamp_column(frame, schema.roles.timestamp, name=name)
    return col, parse_timestamps(frame[col], name=name)


def _measure(
    frame: pd.DataFrame,
    times: pd.Series,
    schema: Schema,
    metric: Metric,
    freq: str,
    estimator: ScoreEstimator | None,
    name: str,
    side: Side = Side.PRODUCTION,
) -> tuple[Periods, int]:
    """Per-period rows, rows with actuals, realized and estimated metric of one side."""
    codes, starts = period_codes(times, freq)
    n = len(starts)
    ok = codes >= 0
    data = prediction_rows(frame, schema, name=name)
    realized = data.valid.any()
    stats: dict[str, Array] = {}
    if realized and metric.exact is None:
        stats.update(row_stat_columns(data))
    est_stats = estimated_row_stats(estimator, frame) if estimator is not None else {}
    stats.update((_EST + k, v) for k, v in est_stats.items() if k != "p")
    table = _period_table(codes, n, data.valid, stats, side)
    if estimator is not None:
        estimated, est_rows = _estimated(
            metric, estimator, frame, codes, n, est_stats, _sums(table, side, _EST)
        )
    else:
        estimated, est_rows = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    by_period = (_PERIOD,)
    with_actual = Filter.of([(_ACTUAL, 1)])
    periods = Periods(
        starts=starts,
        rows=table.group_sums(by_period, (), side=side).count,
        with_actuals=table.group_sums(by_period, (), side=side, where=with_actual).count,
        metric=(
            _realized(metric, data, codes, n, table, side) if realized else np.full(n, np.nan)
        ),
        estimated=estimated,
        est_rows=est_rows,
    )
    return periods, int((~ok).sum())


def _judged(p: Periods, min_rows: int, has_estimate: bool) -> tuple[Array, list[Basis]]:
    enough_est = has_estimate & (p.est_rows >= min_rows)
    covers = p.with_actuals >= ACTUAL_COVERAGE * np.maximum(p.est_rows, 1)
    use_actual = (p.with_actuals >= min_rows) & (covers | ~enough_est)
    basis = [
        Basis.ACTUAL if a else Basis.ESTIMATED if e else Basis.NONE
        for a, e in zip(use_actual, enough_est, strict=True)
    ]
    value = np.where(use_actual, p.metric, np.where(enough_est, p.estimated, np.nan))
    return value, basis


# ---------------------------------------------------------------------------------------------
# Bands and alerts


def _baseline_band(values: Array, k: float) -> tuple[float, float, int]:
    finite = values[np.isfinite(values)]
    if len(finite) < MIN_BAND_PERIODS:
        return np.nan, np.nan, len(finite)
    mean, std = float(finite.mean()), float(finite.std(ddof=1))
    return mean - k * std, mean + k * std, len(finite)


def _rolling_band(
    values: Array, k: float, window: int, direction: Direction
) -> tuple[Array, Array]:
    """Band of each period from the previous ``window`` periods that were judged and normal.

    Alerting periods are left out of later bands: an anomaly must not widen the band that
    judges the next period, or a drop lasting a few periods would hide itself.
    """
    n = len(values)
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    normal = np.isfinite(values)
    for t in range(n):
        prev = values[max(0, t - window) : t][normal[max(0, t - window) : t]]
        if len(prev) < MIN_BAND_PERIODS:
            continue
        mean, std = prev.mean(), prev.std(ddof=1)
        low[t], high[t] = mean - k * std, mean + k * std
        if _alerts(values[t : t + 1], low[t : t + 1], high[t : t + 1], direction)[0]:
            normal[t] = False
    return low, high


def _alerts(value: Array, low: Array, high: Array, direction: Direction) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        if direction in (Direction.TWO_SIDED, Direction.NEUTRAL):
            out = (value < low) | (value > high)
        else:
            edge = low if direction is Direction.HIGHER_IS_BETTER else high
            out = np.asarray(worse_by(value, edge, direction)) > 0
    return out & np.isfinite(value) & np.isfinite(low) & np.isfinite(high)


# ---------------------------------------------------------------------------------------------
# The timeline


def metric_timeline(
    production: pd.DataFrame,
    baseline: pd.DataFrame | None = None,
    *,
    schema: Schema,
    metric: Metric | str | None = None,
    freq: str | None = None,
    window: int | None = None,
    k: float = DEFAULT_K,
    min_rows: int = DEFAULT_MIN_ROWS,
    estimate: bool = True,
    names: tuple[str, str] = ("baseline", "production"),
) -> Timeline:
    """Compute a metric per period of production, with its expected band and alerts.

    Parameters
    ----------
    production : DataFrame
        Production rows with a timestamp; actuals optional.
    baseline : DataFrame, optional
        Baseline rows with actuals (and a timestamp for a baseline band). Also calibrates the
        estimate.
    schema : Schema
        Roles and model type (`monitoring_schema`, or an `Analysis`'s schema).
    metric : Metric or str, optional
        Metric or id (default: `tracing.metrics.default_metric`).
    freq : {"hour", "day", "week"}, optional
        Period length (default: `auto_freq` of production).
    window : int, optional
        Use a rolling band over the previous ``window`` production periods. Default: the
        baseline band when a baseline is given, else a rolling band of `DEFAULT_WINDOW`.
    k : float, default 3
        Band half-width in standard deviations (module docstring explains the default).
    min_rows : int, default 30
        Fewest rows (with actuals, or covered by the estimate) to judge a period.
    estimate : bool, default True
        Estimate the metric from the scores where possible (binary with a score): calibrated
        on the baseline, or on production rows with actuals when there is no baseline.
    names : (str, str)
        File names for messages.

    Returns
    -------
    Timeline

    Raises
    ------
    DataError
        On a missing or unreadable timestamp column, a bad option, a metric that does not fit,
        or a baseline band requested from a baseline without timestamps.
    """
    check_options(k=k, min_rows=min_rows, window=window)
    chosen = choose_metric(metric, schema, production, baseline, names)
    notes: list[str] = []
    col, times = _times(production, schema, names[1])
    freq = check_freq(freq) if freq else auto_freq(times)
    estimator = (
        timeline_estimator(schema, chosen, production, baseline, notes) if estimate else None
    )
    periods, no_time = _measure(production, times, schema, chosen, freq, estimator, names[1])
    if no_time:
        notes.append(no_time_note(names[1], no_time, col))
    base = None
    if window is None and baseline is not None:
        require_baseline_timestamp(baseline.columns, schema, names[0])
        _, base_times = _times(baseline, schema, names[0])
        base, _ = _measure(
            baseline, base_times, schema, chosen, freq, None, names[0], Side.BASELINE
        )
    return assemble_timeline(
        periods,
        base,
        metric=chosen,
        freq=freq,
        window=window,
        k=k,
        min_rows=min_rows,
        has_estimate=estimator is not None,
        notes=notes,
    )


def check_options(*, k: float, min_rows: int, window: int | None) -> None:
    """Raise a `DataError` on a band option out of range (k > 0, min_rows >= 1, window >= 2)."""
    if k <= 0 or min_rows < 1 or (window is not None and window < 2):
        raise DataError(f"need k > 0, min_rows >= 1, window >= 2 (got {k}, {min_rows}, {window}).")


def no_time_note(name: str, rows: int, column: str) -> str:
    """Say how many rows had no readable timestamp (and were left out)."""
    return f"{name}: {rows:,} rows have no readable {column!r} and are left out"


def require_baseline_timestamp(columns: Iterable[Any], schema: Schema, name: str) -> None:
    """Raise a `DataError` when the baseline has no timestamp column to make a band from."""
    stamp = schema.roles.timestamp
    if not stamp or stamp not in set(map(str, columns)):
        raise DataError(
            f"{name}: no timestamp column {stamp!r}, so the baseline has no periods for a band; "
            "add one, or use a rolling band over production (--window N)."
        )


def assemble_timeline(
    periods: Periods,
    baseline: Periods | None,
    *,
    metric: Metric,
    freq: Freq,
    window: int | None,
    k: float,
    min_rows: int,
    has_estimate: bool,
    notes: Sequence[str] = (),
) -> Timeline:
    """Judge measured periods: bands, alerts, basis; the one judgement of every engine.

    Parameters
    ----------
    periods : Periods
        Production's periods (measured in memory or by a SQL engine).
    baseline : Periods, optional
        The baseline's periods at the same ``freq``: a baseline band (used when ``window`` is
        None); without them the band is rolling.
    metric, freq, window, k, min_rows
        As in `metric_timeline`.
    has_estimate : bool
        Whether ``periods.estimated`` holds an estimate (an estimator was fitted).
    notes : sequence of str
        Notes so far; the band's note is added.

    Returns
    -------
    Timeline
    """
    notes = list(notes)
    value, basis = _judged(periods, min_rows, has_estimate)
    n = len(periods.starts)
    base_table = None
    if window is None and baseline is not None:
        sparse = baseline.with_actuals < min_rows
        base_table = pd.DataFrame({**_period_columns(baseline, freq), "sparse": sparse})
        lo, hi, used = _baseline_band(np.where(sparse, np.nan, baseline.metric), k)
        low, high = np.full(n, lo), np.full(n, hi)
        band = "baseline" if np.isfinite(lo) else "none"
        notes.append(_band_note(band, used, k, freq, lo, hi, metric))
    else:
        window = window or DEFAULT_WINDOW
        low, high = _rolling_band(value, k, window, metric.direction)
        band = "rolling"
        notes.append(
            f"band: mean +/- {k:g} std of the previous {window} {freq} periods that did not "
            f"alert (needs {MIN_BAND_PERIODS} of them)"
        )
    table = pd.DataFrame(
        {
            **_period_columns(periods, freq),
            "estimated": periods.estimated,
            "expected_low": low,
            "expected_high": high,
            "alert": _alerts(value, low, high, metric.direction),
            "sparse": [b is Basis.NONE for b in basis],
            "basis": basis,
            "judged": np.isfinite(value) & np.isfinite(low) & np.isfinite(high),
        },
        columns=list(TABLE_COLUMNS),
    )
    return Timeline(
        table=table,
        metric=metric,
        freq=freq,
        band=band,
        k=float(k),
        window=window if band == "rolling" else None,
        min_rows=min_rows,
        baseline_table=base_table,
        notes=tuple(notes),
    )


def choose_metric(
    metric: Metric | str | None,
    schema: Schema,
    production: pd.DataFrame,
    baseline: pd.DataFrame | None,
    names: tuple[str, str],
) -> Metric:
    """Return the timeline's metric: the one given, else the default for the baseline's rate."""
    if isinstance(metric, Metric) or metric:
        return get_metric(metric, schema)  # a Metric passes through when it applies
    rate = None
    if schema.model_type is ModelType.BINARY:
        frame, name = (baseline, names[0]) if baseline is not None else (production, names[1])
        data = prediction_rows(frame, schema, name=name)
        rate = float(np.mean(data.y_true[data.valid])) if data.valid.any() else None
    return default_metric(schema, rate)


def timeline_estimator(
    schema: Schema,
    metric: Metric,
    production: pd.DataFrame,
    baseline: pd.DataFrame | None,
    notes: list[str],
) -> ScoreEstimator | None:
    """Fit the estimate's calibration on the baseline (else production), noting how or why not.

    Returns None when no estimate applies (not binary with a score, a rank metric the schema
    lacks) or the calibration data is too small (said in ``notes``).
    """
    if not can_estimate(schema, metric):
        return None
    source, label = (baseline, "baseline") if baseline is not None else (production, "production")
    try:
        estimator = fit_estimator(prediction_rows(source, schema, name=label))
    except DataError as exc:
        notes.append(f"no estimate: {exc}")
        return None
    notes.append(
        f"estimated: scores calibrated (isotonic) on {estimator.n_rows:,} {label} rows with "
        "actuals; assumes no concept shift"
    )
    return estimator


def _band_note(
    band: str, used: int, k: float, freq: str, lo: float, hi: float, metric: Metric
) -> str:
    if band == "none":
        return (
            f"no band: the baseline has {used} {freq} periods with enough rows with actuals, "
            f"{MIN_BAND_PERIODS} are needed; use a finer --freq or a rolling --window"
        )
    return (
        f"band: mean +/- {k:g} std of {metric.id} over {used} baseline {freq} periods "
        f"= [{lo:.4g}, {hi:.4g}]"
    )


def timeline_for(analysis: Analysis, **options: Any) -> Timeline:
    """`metric_timeline` of an `Analysis` (its frames, schema, names and lead metric).

    Keyword options are passed on (``freq``, ``window``, ``k``, ``min_rows``, ``metric``...).
    """
    options.setdefault("metric", analysis.metric)
    return metric_timeline(
        analysis.production_frame,
        analysis.baseline_frame,
        schema=analysis.schema,
        names=analysis.names,
        **options,
    )


def period_window(timeline: Timeline, position: int) -> str:
    """Return the ``START,END`` window of one period, to trace it (e.g. an alerting one).

    Pass it as ``production=`` to `tracing.windows.split_by_windows` (or to
    ``--production-window``): the bounds carry a time, so the window is exactly
    ``[start, end)`` (`tracing.windows.period_text` without ``freq``).

    Examples
    --------
    >>> times = pd.Series(pd.date_range("2026-11-16", periods=48, freq="h", tz="UTC"))
    >>> frame = pd.DataFrame({"timestamp": times, "score": 0.9, "label": 1})
    >>> tl = metric_timeline(frame, schema=monitoring_schema(frame), freq="day")
    >>> period_window(tl, 1)
    '2026-11-17T00:00:00+00:00,2026-11-18T00:00:00+00:00'
    """
    row = timeline.table.iloc[position]
    return period_text(row["start"], row["end"])


def estimate_disagrees(timeline: Timeline, *, bounds: tuple[float, float] | None = None) -> bool:
    """Whether the estimate misses the measured values by more than the band's half-width.

    Over the periods with both a measured value (at least ``min_rows`` rows with actuals) and
    an estimate (the period not sparse) and a band: the median gap between the two exceeds the
    median half-width of the band. That is the estimate's blind spot (a new kind of row the
    model is confidently wrong on), and exactly when it must not be trusted where actuals are
    missing.

    Parameters
    ----------
    timeline : Timeline
        The timeline.
    bounds : (float, float), optional
        Clip the band to the values the metric can take first (e.g. ``(0, 1)`` for a rate), as
        a chart of it does.

    Returns
    -------
    bool
        False when no period has both values and a band.
    """
    t = timeline.table
    low, high = t["expected_low"], t["expected_high"]
    if bounds is not None:
        low, high = low.clip(*bounds), high.clip(*bounds)
    both = pd.DataFrame(
        {
            "realized": t["metric"].where(t["rows_with_actuals"] >= timeline.min_rows),
            "estimated": t["estimated"].where(~t["sparse"].astype(bool)),
            "low": low,
            "high": high,
        }
    ).dropna()
    if both.empty:
        return False
    gap = (both["realized"] - both["estimated"]).abs().median()
    half = ((both["high"] - both["low"]) / 2).median()
    return bool(gap > half)


# ---------------------------------------------------------------------------------------------
# Output


_JSON_PERIOD_KEYS = (*TABLE_COLUMNS,)


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """Return the timeline as a JSON-ready dict (NaN becomes None, timestamps ISO 8601).

    Keys: ``schema_version``, ``metric`` (id), ``metric_name``, ``direction``, ``freq``,
    ``band``, ``k``, ``window``, ``min_rows``, ``notes``, ``periods`` (one dict per period
    with the keys of `TABLE_COLUMNS`), ``alerts`` (the starts of the alerting periods).
    """
    periods = []
    for row in timeline.table.itertuples(index=False):
        rec = {}
        for key, value in zip(_JSON_PERIOD_KEYS, row, strict=True):
            rec[key] = jsonable(value)
        periods.append(rec)
    return {
        "schema_version": SCHEMA_VERSION,
        "metric": timeline.metric.id,
        "metric_name": timeline.metric.name,
        "direction": timeline.metric.direction.value,
        "freq": timeline.freq,
        "band": timeline.band,
        "k": timeline.k,
        "window": timeline.window,
        "min_rows": timeline.min_rows,
        "notes": list(timeline.notes),
        "periods": periods,
        "alerts": [p["start"] for p in periods if p["alert"]],
    }
