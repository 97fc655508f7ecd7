"""Drift on every row a SQL engine holds: the `tracing.drift.DriftResult` memory would give.

`engine_drift` answers `tracing.drift.feature_drift` for an
`tracing.engine_analysis.EngineAnalysis` without reading rows into Python. The tests are
drift.py's own (`tracing.drift.drift_row` on a `tracing.drift.ColumnPair`); only what they
read is counted in the engine:

Bins
    `tracing.sqltable.SqlTable.fit_bins` (baseline quantiles, both sides' value counts, the
    pooling rule of `tracing.binning`). The rows per value bin come from those value counts
    (`tracing.binning.bin_counts`), the rows per range bin of every numeric column from one
    ``GROUPING SETS`` query per side.

Finite values of a numeric column (KS, Wasserstein)
    One query per side counts each column's finite values, their approximate distinct count
    (it only picks the plan below; every plan gives memory's numbers), minimum, maximum and
    population std. Then, per column:

    - **runs**: up to `MAX_RUNS` distinct finite values on each side (always so at
      most 100,000 rows, where memory is exact), the value counts, from one ``GROUPING SETS``
      query per side for all such columns. The sorted values are those runs
      (`tracing.drift.SortedValues`): memory's exact merged CDFs and, above 100,000 rows, its
      grid are computed from them by the same code;
    - **grid**: more distinct values than that, memory's grid exactly: each side's values at
      `tracing.drift.grid_ranks` (a ``ROW_NUMBER`` over its finite values; tied rows share a
      value, so the tie order does not matter), then the rows of each side at or below every
      grid point: DuckDB's ``histogram(x, boundaries)``, in Spark ``RANGE``-frame counts in
      the same window query. Sorting the column's rows is the one cost that grows as
      ``n log n``: a few seconds per column and side in DuckDB at 10M rows.

Columns the engine does not bin (times, or a number on one side and text on the other) are
compared on the engine's sample, and the result's notes say so.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlglot import exp

from tracing.binning import ColumnBins, ColumnValues, bin_counts
from tracing.drift import (
    CATEGORICAL,
    CDF_GRID,
    EXACT_CDF_MAX_N,
    NUMERIC,
    ColumnPair,
    DriftResult,
    SortedValues,
    drift_columns,
    drift_row,
    feature_drift,
    gaps_at,
    ranked,
)
from tracing.engine import Side
from tracing.errors import DataError
from tracing.options import DriftOptions

if TYPE_CHECKING:
    import pyarrow as pa

    from tracing.engine_analysis import EngineAnalysis
    from tracing.sqltable import SqlTable

__all__ = ["MAX_RUNS", "engine_drift", "rank_condition"]

MAX_RUNS = 1_000_000
"""Most distinct finite values per column and side fetched as value counts (else: the grid)."""
_RUNS_PER_QUERY = 2_000_000  # value-count rows one query may return, over all its columns
_SIDES = (Side.BASELINE, Side.PRODUCTION)
_GRID_VIEW = "drift_grid"
Array = NDArray[np.float64]


def engine_drift(
    engine: EngineAnalysis,
    *,
    columns: Sequence[str] | None = None,
    bins: int = DriftOptions.bins,
    min_share: float = DriftOptions.min_share,
    alpha: float | None = DriftOptions.alpha,
    thresholds: Mapping[str, tuple[float, float]] | None = None,
    verdict: Sequence[str] | None = None,
) -> DriftResult:
    """`tracing.drift.feature_drift` on every row of a SQL engine (see the module docstring).

    Parameters
    ----------
    engine : EngineAnalysis
        Both sides, held by the engine.
    columns : sequence of str, optional
        Columns to compare (default: `tracing.drift.drift_columns` of the engine's schema).
    bins, min_share, alpha, thresholds, verdict
        As in `tracing.drift.drift_between`.

    Returns
    -------
    DriftResult
        The table memory gives on the same rows; ``notes`` name any column compared on the
        engine's sample instead.

    Raises
    ------
    DataError
        A column missing from a side, or a threshold/verdict naming an unknown test.
    """
    roles = _roles(engine, columns)
    table = engine.table
    kinds, unbinned = _kinds(table, roles)
    names = [c for c in roles if c in kinds]
    # The pooling threshold of memory's rule: a share of the smaller side's rows.
    min_count = max(1, math.ceil(min_share * min(engine.rows)))
    fitted = table.fit_bins(names, bins=bins, min_count=min_count) if names else {}
    counts = _bin_counts(table, fitted, names, engine.rows)
    numeric = _numeric_sides(table, [c for c in names if kinds[c] == NUMERIC])
    rows = []
    for name in names:
        pair: ColumnPair
        if name in numeric:
            pair = numeric[name].pair(engine.rows, fitted[name], counts[name])
        else:
            pair = ColumnPair(kinds[name], engine.rows, fitted[name], counts[name])
        row = drift_row(pair, name, alpha=alpha, thresholds=thresholds, verdict=verdict)
        rows.append({"feature": name, "role": roles[name], **row})
    notes = []
    bins_of: dict[str, ColumnBins] = dict(fitted)
    if unbinned:
        sampled = feature_drift(
            engine.sample,
            columns=list(unbinned),
            bins=bins,
            min_share=min_share,
            alpha=alpha,
            thresholds=thresholds,
            verdict=verdict,
        )
        for record in sampled.table.to_dict(orient="records"):
            row = {str(k): v for k, v in record.items()}
            rows.append({**row, "role": roles[str(row["feature"])]})
        bins_of.update(sampled.bins)
        b, p = engine.sample_rows
        why = "; ".join(f"{c}: {reason}" for c, reason in unbinned.items())
        notes.append(
            f"drift of {', '.join(unbinned)} computed on the engine's uniform sample of {b:,} "
            f"baseline and {p:,} production rows, not on every row ({why})"
        )
    return ranked(rows, bins_of, notes)


def _roles(engine: EngineAnalysis, columns: Sequence[str] | None) -> dict[str, str]:
    known = drift_columns(engine.sample)
    if columns is None:
        return known
    table = engine.table
    shared = set(table.columns(Side.BASELINE)) & set(table.columns(Side.PRODUCTION))
    missing = [c for c in columns if c not in shared]
    if missing:
        raise DataError(
            f"column {missing[0]!r} is not in both datasets; choose from: {', '.join(known)}."
        )
    return {c: known.get(c, "other") for c in columns}


def _kinds(table: SqlTable, roles: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Return each column's kind as memory decides it, and why the engine cannot bin others.

    Memory's rule: numeric when the baseline holds numbers and production numbers or nothing.
    """
    import pyarrow as pa

    kinds, unbinned = {}, {}
    for column in roles:
        types = [table.column_type(side, column) for side in _SIDES]
        if any(t is None for t in types):
            side = _SIDES[types.index(None)]
            raise DataError(f"{table.label(side)}: column {column!r} is missing.")
        base, prod = types
        assert base is not None and prod is not None
        if any(_is_time(t) for t in types):
            unbinned[column] = "times are binned in memory only"
            continue
        number = [_is_number(t) for t in types]
        if pa.types.is_null(base):
            kinds[column] = CATEGORICAL  # an all-missing baseline reads as text
        elif number[0] and (number[1] or pa.types.is_null(prod)):
            kinds[column] = NUMERIC
        elif number[0] or number[1]:
            unbinned[column] = "numbers on one side, other values on the other"
        else:
            kinds[column] = CATEGORICAL
    return kinds, unbinned


def _is_number(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def _is_time(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_duration(t)
    )


def _bin_counts(
    table: SqlTable,
    fitted: Mapping[str, ColumnBins],
    names: Sequence[str],
    rows: tuple[int, int],
) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Rows per bin of every column, per side.

    Value bins (categories, or a number's few values) from the value counts the fit already
    fetched, by `tracing.binning.bin_counts` itself; range bins by one query per side over
    every such column (`SqlTable.range_counts`). Both on the raw view: drift's bins (pooled
    by its own share) are not the slice search's, so a coded table of them would be written
    for this alone.
    """
    ranges = [c for c in names if fitted[c].kind == NUMERIC]
    out = {}
    if ranges:
        per_side = [table.range_counts(side, {c: fitted[c] for c in ranges}) for side in _SIDES]
        for c in ranges:
            out[c] = (per_side[0][c], per_side[1][c])
    for c in names:
        if c not in ranges:
            b, p = (
                _value_bins(table, fitted[c], side, n)
                for side, n in zip(_SIDES, rows, strict=True)
            )
            out[c] = (b, p)
    return out


def _value_bins(table: SqlTable, bins: ColumnBins, side: Side, rows: int) -> NDArray[np.int64]:
    """Rows per value bin from the engine's value counts (kept from the fit: no new scan)."""
    empty = pd.Series([], dtype=object, name=bins.feature)
    values = ColumnValues(empty, count=functools.partial(table.value_counts, side, bins.feature))
    counts = bin_counts(bins, values)
    counts[-1] = rows - int(counts[:-1].sum())  # the missing rows: all the others
    return counts


# ---------------------------------------------------------------------------------------------
# The finite values of numeric columns


class _RunsPair(ColumnPair):
    """A numeric column whose sorted finite values are the engine's value counts."""

    def __init__(self, *args: Any, sides: tuple[SortedValues, SortedValues]) -> None:
        super().__init__(*args)
        self._sides = sides

    @property
    def sorted(self) -> tuple[SortedValues, SortedValues]:
        """Each side's value counts as runs."""
        return self._sides


class _GridPair(ColumnPair):
    """A numeric column of many distinct values: the grid's CDF gaps counted by the engine."""

    def __init__(
        self,
        *args: Any,
        finite_n: tuple[int, int],
        gaps: tuple[Array, Array],
        scale: float,
    ) -> None:
        super().__init__(*args)
        self._finite_n, self._gaps, self._scale = finite_n, gaps, scale

    @property
    def finite_n(self) -> tuple[int, int]:
        """Finite values per side (counted by the engine)."""
        return self._finite_n

    @cached_property
    def cdf_gaps(self) -> tuple[Array, Array]:
        """The gaps at the grid (more rows than the exact CDFs take, so always the grid)."""
        return self._gaps

    @cached_property
    def scale(self) -> float:
        """The baseline's population std, from the engine (NaN when constant)."""
        return self._scale


@dataclass(frozen=True)
class _Finite:
    """What one query per side told of a column's finite values."""

    n: tuple[int, int]
    distinct: tuple[int, int]
    constant: bool  # the baseline's finite values are all equal (or there are none)
    std: float
    runs: tuple[SortedValues, SortedValues] | None = None
    gaps: tuple[Array, Array] | None = None

    def pair(
        self,
        rows: tuple[int, int],
        bins: ColumnBins,
        counts: tuple[NDArray[np.int64], NDArray[np.int64]],
    ) -> ColumnPair:
        if self.runs is not None:
            return _RunsPair(NUMERIC, rows, bins, counts, sides=self.runs)
        empty: Array = np.zeros(0)
        return _GridPair(
            NUMERIC,
            rows,
            bins,
            counts,
            finite_n=self.n,
            gaps=self.gaps if self.gaps is not None else (empty, empty),
            scale=math.nan if self.constant else self.std,
        )


def _numeric_sides(table: SqlTable, columns: Sequence[str]) -> dict[str, _Finite]:
    """Count, then fetch as runs or as the grid, the finite values of numeric columns."""
    if not columns:
        return {}
    facts = _facts(table, columns)
    by_runs = [c for c in columns if _as_runs(facts[c])]
    runs = _runs(table, by_runs, facts)
    out = {}
    for column in columns:
        fact = facts[column]
        if column in runs:
            out[column] = _Finite(**fact, runs=runs[column])
        elif min(fact["n"]):
            out[column] = _Finite(**fact, gaps=_grid(table, column, fact["n"]))
        else:  # a side without finite values: no KS or Wasserstein to compute
            out[column] = _Finite(**fact, runs=(_none(), _none()))
    return out


def _none() -> SortedValues:
    return SortedValues(np.zeros(0), np.zeros(0, dtype=np.int64))


def _as_runs(fact: Mapping[str, Any]) -> bool:
    """Whether value counts are the cheaper way to this column's sorted values."""
    return bool(max(fact["n"]) <= EXACT_CDF_MAX_N or max(fact["distinct"]) <= MAX_RUNS)


def _dialect(table: SqlTable) -> str:
    return table.dialect


def _ident(name: str, dialect: str) -> str:
    return str(exp.to_identifier(name, quoted=True).sql(dialect=dialect))


def _finite_select(table: SqlTable, columns: Sequence[str], side: Side) -> str:
    """``SELECT`` each column as a double, NULL where missing or infinite, as ``f0, f1, ...``.

    NaN compares above every number in both engines, so ``< inf`` leaves it out too.
    """
    dialect = _dialect(table)
    parts = []
    for i, column in enumerate(columns):
        x = f"CAST({_ident(column, dialect)} AS DOUBLE)"
        finite = f"{x} > CAST('-inf' AS DOUBLE) AND {x} < CAST('inf' AS DOUBLE)"
        parts.append(f"CASE WHEN {finite} THEN {x} END AS f{i}")
    return f"SELECT {', '.join(parts)} FROM {table.relation(side)}"


def _facts(table: SqlTable, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Finite count, approximate distinct count, range and std of each column, per side."""
    per_side = []
    for side in _SIDES:
        aggregates = []
        for i in range(len(columns)):
            f = f"f{i}"
            aggregates += [
                f"COUNT({f}) AS n{i}",
                f"APPROX_COUNT_DISTINCT({f}) AS d{i}",
                f"MIN({f}) AS lo{i}",
                f"MAX({f}) AS hi{i}",
                f"STDDEV_POP({f}) AS sd{i}",
            ]
        sql = f"SELECT {', '.join(aggregates)} FROM ({_finite_select(table, columns, side)}) AS t"
        per_side.append(table.query(sql, keep=True).to_pylist()[0])
    base, prod = per_side
    out = {}
    for i, column in enumerate(columns):
        lo, hi, sd = base[f"lo{i}"], base[f"hi{i}"], base[f"sd{i}"]
        out[column] = {
            "n": (int(base[f"n{i}"]), int(prod[f"n{i}"])),
            "distinct": (int(base[f"d{i}"] or 0), int(prod[f"d{i}"] or 0)),
            "constant": lo is None or lo == hi,
            "std": math.nan if sd is None else float(sd),
        }
    return out


def _runs(
    table: SqlTable, columns: Sequence[str], facts: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[SortedValues, SortedValues]]:
    """Value counts of each column's finite values: grouping-sets queries of bounded size."""
    batches: list[list[str]] = []
    size = _RUNS_PER_QUERY
    for column in columns:
        rows = max(facts[column]["distinct"])
        if size + rows > _RUNS_PER_QUERY and (not batches or batches[-1]):
            batches.append([])
            size = 0
        batches[-1].append(column)
        size += rows
    out: dict[str, list[SortedValues]] = {c: [] for c in columns}
    for batch in batches:
        for side in _SIDES:
            for column, runs in _value_counts(table, batch, side).items():
                out[column].append(runs)
    return {c: (v[0], v[1]) for c, v in out.items()}


def _value_counts(table: SqlTable, columns: Sequence[str], side: Side) -> dict[str, SortedValues]:
    sets = ", ".join(f"(f{i})" for i in range(len(columns)))
    flags = ", ".join(f"GROUPING(f{i}) AS g{i}" for i in range(len(columns)))
    values = ", ".join(f"f{i}" for i in range(len(columns)))
    sql = (
        f"SELECT {flags}, {values}, COUNT(*) AS n FROM ({_finite_select(table, columns, side)}) "
        f"AS t GROUP BY GROUPING SETS ({sets})"
    )
    result = table.query(sql, keep=True)
    n = np.asarray(result.column("n").to_numpy(), dtype=np.int64)
    out = {}
    for i, column in enumerate(columns):
        flag = np.asarray(result.column(f"g{i}").to_numpy())
        value = result.column(f"f{i}").to_numpy(zero_copy_only=False)
        value = np.asarray(value, dtype=np.float64)
        keep = (flag == 0) & ~np.isnan(value)  # the NULL group: missing and infinite rows
        order = np.argsort(value[keep], kind="stable")
        out[column] = SortedValues(value[keep][order], n[keep][order])
    return out


def rank_condition(rank: str, n: int, dialect: str) -> str:
    """Return SQL saying a 0-based rank among ``n`` sorted values is in `grid_ranks` ``(n)``.

    The ranks ``floor(k n / G)`` (``k < G``, G the grid size) are those ``r`` whose smallest
    candidate ``k = ceil(r G / n)`` maps back to ``r``; the tails are two ranges. Integer
    arithmetic only, so the engine picks exactly memory's ranks.

    Examples
    --------
    >>> rank_condition("r", 40000, "duckdb")[:27]
    '((r) < 4 OR (r) >= 39996 OR'
    """
    div = " DIV " if dialect == "spark" else " // "
    tail = min(n // CDF_GRID + 2, n)
    k = f"((({rank}) * {CDF_GRID} + {n - 1}){div}{n})"
    quantile = f"({k} < {CDF_GRID} AND ((({k} * {n}){div}{CDF_GRID}) = ({rank})))"
    return f"(({rank}) < {tail} OR ({rank}) >= {n - tail} OR {quantile})"


def _grid(table: SqlTable, column: str, n: tuple[int, int]) -> tuple[Array, Array]:
    """Memory's grid gaps of one column (DuckDB: ranks, then a histogram; else one window)."""
    if table.dialect == "duckdb":
        return _grid_by_histogram(table, column, n)
    return _grid_by_window(table, column, n)


def _grid_by_histogram(table: SqlTable, column: str, n: tuple[int, int]) -> tuple[Array, Array]:
    """Memory's grid gaps of one column, by DuckDB's ``histogram(x, boundaries)``.

    Each side's values at `grid_ranks`, then the rows of each side at or below every grid
    point. The ranks are a ``ROW_NUMBER`` over the side's finite values (one sort per side);
    the grid reaches the histogram as a registered Arrow table, not as 30,000 literals.
    (``RANGE``-frame counts in the ranking query, as for Spark, spare the histograms but took
    twice as long at 10M rows.)
    """
    import pyarrow as pa

    from tracing.sqlbackend import TableSource

    parts = []
    for side, rows in zip(_SIDES, n, strict=True):
        ranked = (
            f"SELECT f0 AS v, ROW_NUMBER() OVER (ORDER BY f0) - 1 AS r "
            f"FROM ({_finite_select(table, [column], side)}) AS t WHERE f0 IS NOT NULL"
        )
        sql = f"SELECT v FROM ({ranked}) AS w WHERE {rank_condition('r', rows, 'duckdb')}"
        parts.append(np.asarray(table.query(sql).column("v").to_numpy(), dtype=np.float64))
    grid = np.unique(np.concatenate(parts))
    # One view name, registered again per column: the previous grid is released, none piles up.
    table.backend.register(_GRID_VIEW, TableSource(_GRID_VIEW, arrow=pa.table({"b": grid})))
    below = []
    for side in _SIDES:
        sql = (
            f"SELECT histogram(f0, (SELECT list(b ORDER BY b) FROM {_GRID_VIEW})) AS h "
            f"FROM ({_finite_select(table, [column], side)}) AS t WHERE f0 IS NOT NULL"
        )
        # Rows in (previous point, point], by point (every point is listed, empty ones too).
        buckets = dict(table.backend.query(sql).column("h").to_pylist()[0])
        per_point = np.array([buckets.get(float(g), 0) for g in grid], dtype=np.int64)
        below.append(np.cumsum(per_point))
    return gaps_at(grid, below[0], below[1], n[0], n[1])


def _grid_by_window(table: SqlTable, column: str, n: tuple[int, int]) -> tuple[Array, Array]:
    """Memory's grid gaps of one column, from one window query over both sides' finite values.

    Spark has no ``histogram(x, boundaries)``: the counts are window sums in the ranking query.

    Each finite row gets its rank on its own side (a running count over the rows in value
    order) and the rows of each side at or below its value (a ``RANGE`` frame: ties included);
    the rows at `grid_ranks` of their side come back.
    """
    dialect = _dialect(table)
    union = " UNION ALL ".join(
        f"SELECT f0 AS v, {flag} AS s FROM ({_finite_select(table, [column], side)}) AS t{flag} "
        "WHERE f0 IS NOT NULL"
        for side, flag in zip(_SIDES, (1, 0), strict=True)
    )
    rows = "ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    upto = "ORDER BY v RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    counted = (
        f"SELECT v, s, CAST(SUM(s) OVER ({rows}) AS BIGINT) AS rb, "
        f"CAST(SUM(1 - s) OVER ({rows}) AS BIGINT) AS rp, "
        f"CAST(SUM(s) OVER ({upto}) AS BIGINT) AS cb, "
        f"CAST(SUM(1 - s) OVER ({upto}) AS BIGINT) AS cp FROM ({union}) AS u"
    )
    keep = (
        f"(s = 1 AND {rank_condition('rb - 1', n[0], dialect)}) OR "
        f"(s = 0 AND {rank_condition('rp - 1', n[1], dialect)})"
    )
    result = table.query(f"SELECT v, cb, cp FROM ({counted}) AS w WHERE {keep}", keep=True)
    v = np.asarray(result.column("v").to_numpy(), dtype=np.float64)
    grid, first = np.unique(v, return_index=True)
    below_b = np.asarray(result.column("cb").to_numpy(), dtype=np.int64)[first]
    below_p = np.asarray(result.column("cp").to_numpy(), dtype=np.int64)[first]
    return gaps_at(grid, below_b, below_p, n[0], n[1])
