"""The timeline of data held by a SQL engine: every period measured on every row, in the engine.

`tracing.timeline.timeline_for` cuts an in-memory analysis into periods. On an
`tracing.engine_analysis.EngineAnalysis` that would run on the engine's sample; `engine_timeline`
instead asks the engine, per side, for

1. the earliest and latest **wall-clock time** of the timestamp column (one small query): the
   granularity (`tracing.timeline.auto_freq`) and the period starts follow from them by the
   in-memory rules (`tracing.timeline.period_index`, `tracing.timeline.period_starts`);
2. per period, the rows, the rows with actuals and the sums of every realized statistic and,
   for binary models with a score, of every *expected* statistic of the estimate
   (`tracing.engine_analysis.estimated_table`: the calibration fitted on the sample's baseline
   and applied in the engine as a ``CASE`` over the score): one ``GROUP BY`` over a derived
   **period key** ``(wall - first start) DIV step``, on every row.

The sums go through the same `tracing.timeline.periods_from_sums` and the periods through the
same `tracing.timeline.assemble_timeline` (bands, alerts, sparse periods, basis) as in memory,
so on data the sample holds whole the timeline equals `timeline_for`'s on the sample.

**Wall clock.** Periods follow the wall clock of the timestamp's time zone as the engine shows
it (`tracing.timeline`'s rule): DuckDB shows a zoned timestamp in its session zone
(``TIMEZONE(zone, t)`` is that wall clock), Spark in UTC. Timestamps are exact integers
(microseconds, or nanoseconds for DuckDB's ``TIMESTAMP_NS``); numeric epochs count seconds or
milliseconds since 1970 UTC (`tracing.windows`' rule for which), fractional ones floored to the
microsecond.

**On the sample instead** (said in the timeline's notes): rank metrics (ROC AUC, PR AUC: a
period needs its rows in score order) and timestamps held as text or another type the engine
would have to parse (pandas' parser decides what text is a time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlglot import exp

from tracing import rowexpr
from tracing.engine import Side
from tracing.engine_analysis import ESTIMATED, EngineAnalysis, estimated_table
from tracing.estimate import ScoreEstimator, estimated_stat_expressions
from tracing.metrics import Metric
from tracing.timeline import (
    DEFAULT_K,
    DEFAULT_MIN_ROWS,
    Periods,
    Timeline,
    assemble_timeline,
    auto_freq,
    check_freq,
    check_options,
    choose_metric,
    no_time_note,
    period_index,
    period_starts,
    period_wall_start_ns,
    periods_from_sums,
    require_baseline_timestamp,
    timeline_estimator,
    timeline_for,
)
from tracing.vocab import Freq
from tracing.windows import timestamp_column

if TYPE_CHECKING:
    import pyarrow as pa

    from tracing.sqltable import SqlTable

__all__ = ["engine_timeline"]

Expr = exp.Expression
_PERIOD = "period"
_ALL = "time:all"  # a constant key: groups every row, and makes the query read the raw view
_EPOCH_MS = 10**11  # tracing.windows' rule: a larger epoch number counts milliseconds
_US = 10**6


@dataclass(frozen=True)
class _Clock:
    """A side's timestamp as integers: each row's wall-clock time, and the side's range."""

    wall: Expr  # wall-clock time per row (NULL where missing), in 1 / per_second seconds
    per_second: int
    tz: Any  # the periods' time zone (None: naive)
    first: int | None  # earliest and latest wall-clock time (None: no timestamp at all)
    last: int | None
    span: pd.Timedelta  # latest - earliest instant


def engine_timeline(
    analysis: EngineAnalysis,
    *,
    metric: Metric | str | None = None,
    freq: str | None = None,
    window: int | None = None,
    k: float = DEFAULT_K,
    min_rows: int = DEFAULT_MIN_ROWS,
    estimate: bool = True,
) -> Timeline:
    """`tracing.timeline.timeline_for` of an engine's analysis, on every row.

    Options are those of `tracing.timeline.metric_timeline`. Rank metrics and timestamps
    held as text run on the engine's sample instead, and the notes say so.

    Raises
    ------
    DataError
        As `tracing.timeline.metric_timeline` (no timestamp column, bad options...).
    """
    sample = analysis.sample
    schema, names = sample.schema, sample.names
    check_options(k=k, min_rows=min_rows, window=window)
    production, baseline = sample.production_frame, sample.baseline_frame
    chosen = choose_metric(metric or sample.metric, schema, production, baseline, names)
    column = timestamp_column(production, schema.roles.timestamp, name=names[1])
    banded = window is None
    sides = [Side.PRODUCTION, Side.BASELINE] if banded else [Side.PRODUCTION]
    why = _why_sample(analysis.table, chosen, column, sides)
    if why:
        options = {"freq": freq, "window": window, "k": k, "min_rows": min_rows}
        return _on_sample(analysis, why, metric=chosen, estimate=estimate, **options)
    prod_clock = _clock(analysis.table, Side.PRODUCTION, column)
    period = check_freq(freq) if freq else _auto_freq(prod_clock)
    notes: list[str] = []
    estimator = (
        timeline_estimator(schema, chosen, production, baseline, notes) if estimate else None
    )
    periods, no_time = _measure(analysis, Side.PRODUCTION, prod_clock, chosen, period, estimator)
    if no_time:
        notes.append(no_time_note(names[1], no_time, column))
    base = None
    if banded:
        require_baseline_timestamp(baseline.columns, schema, names[0])
        base_clock = _clock(analysis.table, Side.BASELINE, column)
        base, _ = _measure(analysis, Side.BASELINE, base_clock, chosen, period, None)
    notes.append(_engine_note(analysis, estimator))
    return assemble_timeline(
        periods,
        base,
        metric=chosen,
        freq=period,
        window=window,
        k=k,
        min_rows=min_rows,
        has_estimate=estimator is not None,
        notes=notes,
    )


def _engine_note(analysis: EngineAnalysis, estimator: ScoreEstimator | None) -> str:
    b, p = analysis.rows
    note = (
        f"engine: {analysis.backend.name}; every period's rows and metric are computed on all "
        f"{b:,} + {p:,} rows"
    )
    if estimator is not None:
        note += (
            ", and the estimate too, from a calibration fitted on the engine's uniform sample "
            f"of {analysis.sample_rows[0]:,} baseline rows"
        )
    return note


# ---------------------------------------------------------------------------------------------
# What runs on the sample


def _why_sample(table: SqlTable, metric: Metric, column: str, sides: list[Side]) -> str | None:
    """Return why the timeline must run on the sample (None: it runs on every row)."""
    if metric.exact is not None:
        return f"{metric.id} per period needs each period's rows in score order"
    for side in sides:
        if column not in table.columns(side):
            continue  # no baseline timestamp: the in-memory rules say what then
        dtype = table.column_type(side, column)
        if _kind(dtype) is None:
            return (
                f"the {side.value} timestamp column {column!r} holds {dtype}, which the engine "
                "does not read as times"
            )
    return None


def _on_sample(analysis: EngineAnalysis, why: str, **options: Any) -> Timeline:
    found = timeline_for(analysis.sample, **options)
    b, p = analysis.sample_rows
    note = (
        f"computed on a uniform sample of {b:,} baseline and {p:,} production rows drawn by the "
        f"{analysis.backend.name} engine (not on every row): {why}"
    )
    return replace(found, notes=(*found.notes, note))


# ---------------------------------------------------------------------------------------------
# Time as integers


def _kind(dtype: pa.DataType) -> str | None:
    """Return how the engine reads a column as time: timestamp, date, integer, float, or None."""
    import pyarrow as pa

    for kind, test in (
        ("timestamp", pa.types.is_timestamp),
        ("date", pa.types.is_date),
        ("integer", pa.types.is_integer),
        ("float", pa.types.is_floating),
    ):
        if test(dtype):
            return kind
    return None


def _fn(name: str, *args: Expr) -> Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(e: Expr, to: str) -> Expr:
    return exp.Cast(this=e, to=exp.DataType.build(to))


def _micros(dialect: str, e: Expr) -> Expr:
    """Return microseconds since the epoch of a timestamp (its own wall clock when naive)."""
    return _fn("UNIX_MICROS" if dialect == "spark" else "EPOCH_US", e)


def _wall(dialect: str, x: Expr, dtype: pa.DataType) -> tuple[Expr, int, Any]:
    """Return a timestamp or date column's wall-clock time (an integer), its unit, its zone."""
    import pyarrow as pa

    if pa.types.is_date(dtype):
        return _micros(dialect, _cast(x, "timestamp")), _US, None
    tz = dtype.tz
    if dialect == "spark":  # zoned: instants (shown in the zone); TIMESTAMP_NTZ: wall times
        if tz is not None:
            shown = _fn("FROM_UTC_TIMESTAMP", x, exp.Literal.string(str(tz)))
            return _micros(dialect, shown), _US, tz
        return _micros(dialect, _cast(x, "timestamp")), _US, None
    if tz is not None:  # DuckDB: the wall clock of the zone its results are shown in
        return _micros(dialect, _fn("TIMEZONE", exp.Literal.string(str(tz)), x)), _US, tz
    if dtype.unit == "ns":
        return _fn("EPOCH_NS", x), 10**9, None
    return _micros(dialect, x), _US, None


def _epoch(x: Expr, *, integer: bool, scale: int) -> Expr:
    """Return a numeric epoch times ``scale`` as an integer (floored), NULL where not finite."""
    factor = exp.Literal.number(scale)
    if integer:
        return exp.Mul(this=_cast(x, "bigint"), expression=factor)
    value = _cast(x, "double")
    finite = exp.and_(
        exp.GT(this=value.copy(), expression=rowexpr.literal(float("-inf"))),
        exp.LT(this=value.copy(), expression=rowexpr.literal(float("inf"))),
        copy=True,
    )
    floored = _cast(exp.Floor(this=exp.Mul(this=value.copy(), expression=factor)), "bigint")
    return exp.Case(ifs=[exp.If(this=finite, true=floored)], default=exp.Null())


def _clock(table: SqlTable, side: Side, column: str) -> _Clock:
    """Return a side's timestamp as integers, with its range (one query, two for epochs)."""
    dtype = table.column_type(side, column)
    kind = _kind(dtype)
    x = rowexpr.col(column)
    if kind in ("integer", "float"):
        integer = kind == "integer"
        found = _range(table, side, _epoch(x.copy(), integer=integer, scale=1))
        if found is None:
            return _Clock(exp.Null(), _US, "UTC", None, None, pd.Timedelta(0))
        # tracing.windows: milliseconds when the largest magnitude is past 1e11
        scale = 10**3 if max(abs(found[0]), abs(found[1])) >= _EPOCH_MS else _US
        wall = _epoch(x.copy(), integer=integer, scale=scale)
        if integer:
            lo, hi = found[0] * scale, found[1] * scale
        else:  # the range again, each row floored to the microsecond
            lo, hi = _range(table, side, wall) or (0, 0)
        return _Clock(wall, _US, "UTC", lo, hi, pd.Timedelta(microseconds=hi - lo))
    wall, per_second, tz = _wall(table.dialect, x.copy(), dtype)
    # Zoned: the instants' span too (across a DST change it is not the wall clock's).
    instant = _micros(table.dialect, x.copy()) if tz is not None else None
    found = _range(table, side, wall, instant)
    if found is None:
        return _Clock(wall, per_second, tz, None, None, pd.Timedelta(0))
    lo, hi = found[0], found[1]
    span = pd.Timedelta((hi - lo) * (10**9 // per_second), unit="ns")
    if instant is not None:
        span = pd.Timedelta(microseconds=found[3] - found[2])
    return _Clock(wall, per_second, tz, lo, hi, span)


def _range(
    table: SqlTable, side: Side, value: Expr, also: Expr | None = None
) -> tuple[int, ...] | None:
    """Return the least and greatest of an integer expression on a side (None: all NULL).

    With ``also``, its least and greatest follow, from the same query.
    """
    values = [value] if also is None else [value, also]
    stats = {
        "time:known": rowexpr.flag(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())))
    }
    for i, v in enumerate(values):
        stats[f"time:{i}:-lo"] = exp.Neg(this=exp.Paren(this=v.copy()))
        stats[f"time:{i}:hi"] = v.copy()
    tops = [name for name in stats if name != "time:known"]
    keyed = table.with_key_expressions({_ALL: (exp.Literal.number(0), 1)})
    found = keyed.with_derived(side, stats).group_sums(
        (_ALL,), ["time:known"], side=side, maxes=tops
    )
    if found.sums["time:known"][0] == 0:
        return None
    top = [int(found.maxes[name][0]) for name in tops]  # -lo, hi, per value
    return tuple(v if i % 2 else -v for i, v in enumerate(top))


def _auto_freq(clock: _Clock) -> Freq:
    """Return `tracing.timeline.auto_freq` of a side's span of time."""
    if clock.first is None:
        return auto_freq(pd.Series([], dtype="datetime64[ns]"))
    return auto_freq(pd.Series([pd.Timestamp(0), pd.Timestamp(0) + clock.span]))


# ---------------------------------------------------------------------------------------------
# Per-period sums


def _measure(
    analysis: EngineAnalysis,
    side: Side,
    clock: _Clock,
    metric: Metric,
    freq: Freq,
    estimator: ScoreEstimator | None,
) -> tuple[Periods, int]:
    """Return a side's periods (one grouping query) and its rows without a timestamp."""
    total = analysis.rows[0 if side is Side.BASELINE else 1]
    if clock.first is None or clock.last is None:
        none = np.zeros(0, dtype=np.int64)
        empty = pd.DatetimeIndex([], tz=clock.tz)
        return periods_from_sums(empty, none, metric, {"n": np.zeros(0)}, None), total
    to_ns = 10**9 // clock.per_second
    bounds = period_index(np.array([clock.first, clock.last], dtype=np.int64) * to_ns, freq)
    first, last = int(bounds[0]), int(bounds[1])
    start = period_wall_start_ns(first, freq) // to_ns
    step = (period_wall_start_ns(first + 1, freq) - period_wall_start_ns(first, freq)) // to_ns
    # Every row is at or after the first start: the integer division truncates as floor would.
    since = exp.Sub(this=exp.Paren(this=clock.wall.copy()), expression=exp.Literal.number(start))
    key = exp.IntDiv(this=exp.Paren(this=since), expression=exp.Literal.number(step))
    table = analysis.table.with_key_expressions({_PERIOD: (key, last - first + 1)})
    realized = [s for s in table.stat_names(side) if not s.startswith("rows:")]
    stats = list(realized)
    if estimator is not None:
        table = estimated_table(table, estimator, side)
        stats += [ESTIMATED + s for s in estimated_stat_expressions()]
    sums = table.group_sums((_PERIOD,), stats, side=side)
    expected = {s[len(ESTIMATED) :]: sums.sums[s] for s in stats if s.startswith(ESTIMATED)}
    periods = periods_from_sums(
        period_starts(first, last, freq, clock.tz),
        sums.count,
        metric,
        {s: sums.sums[s] for s in realized},  # "n" counts the valid rows: rows with actuals
        expected if estimator is not None else None,
    )
    return periods, total - int(sums.count.sum())
