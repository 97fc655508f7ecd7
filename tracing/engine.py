"""The engine seam: one small interface over a coded table, and its in-memory implementation.

Every analysis step reduces to the same few questions about two datasets (the *sides*,
baseline and production): how are the columns discretised, how many rows are there (in a
slice), and what do the per-row **sufficient statistics** of the metrics
(`tracing.metrics.row_stats`) sum to per group of a set of **key columns**. A slice's metric is
its sums through `tracing.metrics.Metric.from_stats`, a drilldown is the same grouped by one more
key inside the parent slice, a timeline is the sums per period, a drift histogram the row counts
per bin. `CodedTable` is that interface; the steps talk to it instead of building codes and
sums themselves, so an out-of-core or distributed engine (DuckDB, Spark: a ``GROUP BY`` /
``GROUPING SETS`` query per call) implements it without touching them.

What this module owns
---------------------
- `Side`, `Condition`, `Filter`: which side, and which rows (a conjunction of ``key == code``);
- `GroupSums`: the result of one grouping, dense over the keys' mixed-radix code space;
- `CodedTable`: the protocol an engine implements: `CodedTable.fit_bins`,
  `CodedTable.with_keys`, `CodedTable.cardinality`, `CodedTable.count`,
  `CodedTable.group_sums`, `CodedTable.grouping_sets` (several groupings over the same rows:
  one scan per search level) and `CodedTable.sample`;
- `MemoryTable`: the first implementation, numpy arrays in memory (today's code paths: each key
  column coded once with `tracing.binning.ColumnBins.codes`, each statistic held as one float64
  array, grouped with `numpy.bincount`), plus the kernel accessors the in-memory search reads.

The contract an engine must meet
--------------------------------
- **Keys** are integer codes ``0..cardinality-1`` (bins of `tracing.binning.fit_bins`, fitted on
  the baseline with categories from both sides, or derived keys such as a period index). A key
  holds a code on every row of the table: rows an analysis leaves out are not in the table.
- **Statistics** are named float64 per-row values; the table only sums them.
- **Exactness**: every aggregate is exact. Counts are exact integers; sums are float64 sums of
  the same per-row values (an engine may add in another order, so sums agree to rounding, about
  1e-12 relative; `MemoryTable` adds in row order and is bit-for-bit the code it replaced).
  No aggregate may be approximate: no sampling, sketches or approximate quantiles behind
  `group_sums`, `count` or `fit_bins` (only `sample` samples, and says so).
- **Cells** of a grouping are identified by their mixed-radix code over the keys *in the order
  given*: ``((c1 * card2) + c2) * card3 + ...``. `GroupSums` is dense (one entry per possible
  cell, empty cells 0) when the space has at most `DENSE_LIMIT` cells; beyond, it lists only the
  non-empty cells, in increasing code order, in `GroupSums.cells`.
- **Filters** select the rows whose keys equal the given codes (all conditions at once); an
  empty filter (or None) selects every row of the side.

Who talks to it
---------------
- `tracing.slices`: every per-slice number (slice records, a drilldown's children and
  breakdown inside the parent slice, the parents' totals) is `group_sums` with a `Filter`; the
  explained-by containment check is a `count`; bins are fitted with `fit_bins`.
- `tracing.timeline`: rows, rows with actuals, realized and estimated sums per period are
  `group_sums` over a derived ``period`` key (and a ``has_actual`` key for the filter).
- `tracing.drift`: the histograms are row counts per bin, `group_sums` over a key added with
  ``with_keys(..., lazy=True)``: `MemoryTable` answers such a count from the sorted values the
  KS and Wasserstein tests need anyway (`tracing.binning.bin_counts`), so no column is coded.

The SQL engines (`tracing.sqltable.SqlTable`) answer the same protocol, and a few steps ask
them more than the protocol holds, each in its own module: `tracing.engine_drift` (KS and
Wasserstein from the engine's value counts or the CDF grid), `tracing.engine_quality` (quality
facts and label checks as aggregates), `tracing.engine_timeline` (periods as a derived key)
and `tracing.engine_analysis` (overall moments, per-score counts for the rank metrics).

Not (yet) behind the seam, and why:

- the in-memory slice search (`tracing._slice_search`) reads `MemoryTable.key_codes` and
  `MemoryTable.stat` for its inner loop (the engines run `tracing._slice_levels` instead, level
  by level through `CodedTable.grouping_sets`);
- rank metrics per slice (ROC AUC, PR AUC) need per-group score orders (a grouping by
  ``(keys..., score)`` would do), and the delta-method p-values of non-ratio metrics read rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing import rowexpr
from tracing.binning import ColumnBins, ColumnValues, as_float, bin_counts
from tracing.codes import column_bins, column_codes, column_counts, feature_values
from tracing.options import SliceSearch

if TYPE_CHECKING:
    from sqlglot.expressions import Expression

__all__ = [
    "DENSE_LIMIT",
    "CellSet",
    "CodedTable",
    "Condition",
    "Filter",
    "GroupSums",
    "MemoryTable",
    "Side",
    "fit_frame_bins",
    "sorted_values",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
CodeArray = NDArray[np.integer]

# Groupings with more cells than this come back compacted (non-empty cells only), like the
# slice search's own limit: 4M cells of float64 is 32 MB per statistic.
DENSE_LIMIT = 1 << 22


class Side(StrEnum):
    """Which dataset of the pair."""

    BASELINE = "baseline"
    PRODUCTION = "production"


@dataclass(frozen=True)
class Condition:
    """Rows whose key column ``key`` holds the code ``code``."""

    key: str
    code: int


@dataclass(frozen=True)
class CellSet:
    """Rows whose mixed-radix cell code over ``keys`` is one of ``cells``.

    The slice search carries its pruning into an engine with it: a level is counted only on
    the rows of the parent cells that can still hold a top slice (``(k1, k2) IN (...)``).
    """

    keys: tuple[str, ...]
    cells: tuple[int, ...]


@dataclass(frozen=True)
class Filter:
    """A conjunction of `Condition` and `CellSet`: the rows meeting all of them (none: every row).

    Examples
    --------
    >>> Filter.of([("state", 2), ("amount", 0)]).keys
    ('state', 'amount')
    >>> bool(Filter().inside(("state",), [1, 3]))
    True
    """

    conditions: tuple[Condition, ...] = ()
    cell_sets: tuple[CellSet, ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, int]]) -> Filter:
        """Build a filter from ``(key, code)`` pairs."""
        return cls(tuple(Condition(str(k), int(c)) for k, c in pairs))

    def inside(self, keys: Sequence[str], cells: Iterable[int]) -> Filter:
        """Return this filter and: the rows whose cell over ``keys`` is one of ``cells``."""
        cell_set = CellSet(tuple(map(str, keys)), tuple(sorted({int(c) for c in cells})))
        return Filter(self.conditions, (*self.cell_sets, cell_set))

    def also(self, other: Filter | None) -> Filter:
        """Return the rows meeting both filters."""
        if not other:
            return self
        return Filter(self.conditions + other.conditions, self.cell_sets + other.cell_sets)

    @property
    def keys(self) -> tuple[str, ...]:
        """The key columns the filter's conditions read."""
        return tuple(c.key for c in self.conditions)

    def __bool__(self) -> bool:
        return bool(self.conditions) or bool(self.cell_sets)


@dataclass(frozen=True, eq=False)
class GroupSums:
    """Per-cell row counts and statistic sums of one grouping.

    Attributes
    ----------
    keys : tuple of str
        The key columns grouped by, in order (the empty tuple: one cell, every selected row).
    cards : tuple of int
        Their cardinalities; the code space has ``prod(cards)`` cells.
    cells : ndarray of int64 or None
        None when dense (entry ``i`` is the cell with code ``i``); otherwise the codes of the
        non-empty cells, increasing, one per entry.
    count : ndarray of int64
        Rows per cell.
    sums : dict of str -> ndarray of float64
        Sum of each requested statistic per cell.
    maxes : dict of str -> ndarray of float64
        Largest value of each requested statistic per cell (``-inf`` for an empty cell).
    """

    keys: tuple[str, ...]
    cards: tuple[int, ...]
    cells: NDArray[np.int64] | None
    count: NDArray[np.int64]
    sums: dict[str, FloatArray] = field(default_factory=dict)
    maxes: dict[str, FloatArray] = field(default_factory=dict)

    @property
    def space(self) -> int:
        """Number of possible cells (the product of the cardinalities)."""
        return math.prod(self.cards)

    def codes(self) -> NDArray[np.int64]:
        """Cell code of every entry (``arange(space)`` when dense)."""
        return np.arange(self.space, dtype=np.int64) if self.cells is None else self.cells

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame of the non-empty cells: one code column per key, ``count``, the sums.

        Rows are in increasing cell code order, which is the lexicographic order of the keys.
        """
        keep = np.flatnonzero(self.count > 0)
        rest = self.codes()[keep]
        key_codes: dict[str, NDArray[np.int64]] = {}
        for key, card in zip(reversed(self.keys), reversed(self.cards), strict=True):
            key_codes[key] = rest % card
            rest = rest // card
        out = {k: key_codes[k] for k in self.keys}
        out_frame = pd.DataFrame(out)
        out_frame["count"] = self.count[keep]
        for name, values in self.sums.items():
            out_frame[name] = values[keep]
        for name, values in self.maxes.items():
            out_frame[f"max:{name}"] = values[keep]
        return out_frame


@runtime_checkable
class CodedTable(Protocol):
    """What every analysis step asks of an engine (see the module docstring's contract)."""

    def fit_bins(
        self, columns: Sequence[str], *, bins: int = SliceSearch.bins, min_count: int = 1
    ) -> dict[str, ColumnBins]:
        """Fit `tracing.binning.fit_bins` per raw column: baseline quantiles, both sides' values.

        Parameters
        ----------
        columns : sequence of str
            Raw columns of both sides.
        bins : int, default 10
            Quantile bins of numeric columns.
        min_count : int, default 1
            Categories with fewer rows on both sides are pooled into ``"(other)"``.

        Returns
        -------
        dict of str -> ColumnBins
            Exactly what `tracing.binning.fit_bins` returns on the in-memory columns.
        """
        ...

    def with_keys(self, bins: Mapping[str, ColumnBins]) -> CodedTable:
        """Return the same rows with these raw columns coded as key columns (codes held)."""
        ...

    def cardinality(self, key: str) -> int:
        """Return the number of codes of a key column."""
        ...

    def stat_names(self, side: Side) -> Sequence[str]:
        """Return the names of the statistics defined on one side."""
        ...

    def count(self, side: Side, where: Filter | None = None) -> int:
        """Rows of one side (meeting ``where``)."""
        ...

    def group_sums(
        self,
        keys: Sequence[str],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        maxes: Sequence[str] = (),
    ) -> GroupSums:
        """Row counts and sums of ``stats`` per cell of ``keys`` over one side's rows.

        Parameters
        ----------
        keys : sequence of str
            Key columns to group by (empty: one cell).
        stats : sequence of str
            Statistics to sum.
        side : Side
            Baseline or production.
        where : Filter, optional
            Only the rows meeting it (e.g. inside a parent slice).
        maxes : sequence of str, default ()
            Statistics whose largest value per cell is wanted too (`GroupSums.maxes`).

        Returns
        -------
        GroupSums
        """
        ...

    def grouping_sets(
        self,
        key_sets: Sequence[Sequence[str]],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        each: Sequence[Filter | None] | None = None,
        maxes: Sequence[str] = (),
    ) -> list[GroupSums]:
        """`group_sums` for several key sets over the same rows, in order (one scan, ideally).

        A whole search level (every single feature, every candidate pair) is one call, so an
        engine answers it with one ``GROUP BY GROUPING SETS`` query instead of one scan per set.
        ``each[i]`` (optional) restricts the rows of set ``i`` further (on top of ``where``):
        the search counts each set only on the rows of its parent's live cells.
        """
        ...

    def with_derived(self, side: Side, definitions: Mapping[str, Expression]) -> CodedTable:
        """Return the table with more statistics on one side, defined over its statistics.

        ``definitions`` maps a new name to a `tracing.rowexpr` expression whose columns are
        statistic names of the side (and literals): e.g. the search's per-row excess
        ``greatest(M * n - correct, 0)``. In memory it is evaluated with numpy once; a SQL
        engine inlines it in its queries.
        """
        ...

    def sample(
        self, side: Side, n: int, *, random_state: int = 0, where: Filter | None = None
    ) -> IntArray:
        """Row ids (positions in the side's source) of a uniform sample without replacement.

        At most ``n`` rows (all of them when fewer meet ``where``), in increasing order; the
        same ``random_state`` gives the same rows on the same engine.
        """
        ...


# ---------------------------------------------------------------------------------------------
# The in-memory engine


def fit_frame_bins(
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    columns: Sequence[str],
    *,
    bins: int = SliceSearch.bins,
    min_count: int = 1,
) -> dict[str, ColumnBins]:
    """`tracing.binning.fit_bins` for each column of a baseline/production pair of frames."""
    return {
        c: column_bins(baseline, production, c, bins=bins, min_count=min_count) for c in columns
    }


def sorted_values(series: pd.Series) -> FloatArray:
    """Return the non-missing values of a numeric or datetime column as sorted floats."""
    values = as_float(series)
    return np.sort(values[~np.isnan(values)])


@dataclass(frozen=True, eq=False)
class _Rows:
    """One side in memory: source frame, kept rows, key codes and statistics over those rows.

    Keys in ``lazy`` are coded on first use (and kept); until then a count per bin over every
    row is answered by `tracing.binning.bin_counts` from the column read once (``values``).
    """

    frame: pd.DataFrame | None
    rows: IntArray  # positions in ``frame`` (or in the caller's source) of the kept rows
    keys: dict[str, NDArray[np.integer]]
    stats: dict[str, FloatArray]
    lazy: dict[str, ColumnBins] = field(default_factory=dict)
    values: dict[str, ColumnValues] = field(default_factory=dict)

    @property
    def every(self) -> bool:
        return self.frame is not None and len(self.rows) == len(self.frame)

    def codes(self, key: str) -> NDArray[np.integer]:
        if key not in self.keys:
            assert self.frame is not None
            codes = column_codes(self.frame, key, self.lazy[key])
            self.keys[key] = codes if self.every else codes[self.rows]
        return self.keys[key]


class MemoryTable:
    """`CodedTable` over numpy arrays: codes per key column and statistics, computed once.

    Parameters
    ----------
    sides : mapping of Side -> (rows, keys, stats, frame)
        Per side: ``rows`` (positions of the table's rows in the side's source, increasing),
        ``keys`` (key column -> int codes, one per row), ``stats`` (statistic -> float64
        values, one per row) and the source ``frame`` (None when only derived keys are used;
        `fit_bins` and `with_keys` need it).
    cards : mapping of str -> int
        Cardinality of every key column.
    bins : mapping of str -> ColumnBins, optional
        The bins of the key columns coded from raw columns.

    Examples
    --------
    >>> t = MemoryTable.from_arrays(
    ...     {Side.PRODUCTION: ({"g": np.array([0, 1, 1])}, {"x": np.array([1.0, 2.0, 3.0])})},
    ...     cards={"g": 2},
    ... )
    >>> t.group_sums(["g"], ["x"], side=Side.PRODUCTION).sums["x"].tolist()
    [1.0, 5.0]
    """

    def __init__(
        self,
        sides: Mapping[Side, _Rows],
        cards: Mapping[str, int],
        bins: Mapping[str, ColumnBins] | None = None,
    ) -> None:
        self._sides = dict(sides)
        self._cards = {str(k): int(v) for k, v in cards.items()}
        self.bins: dict[str, ColumnBins] = dict(bins or {})

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[Side, pd.DataFrame],
        *,
        stats: Mapping[Side, Mapping[str, FloatArray]],
        rows: Mapping[Side, IntArray] | None = None,
        bins: Mapping[str, ColumnBins] | None = None,
    ) -> MemoryTable:
        """Build a table over frames: ``rows`` kept (default all), their statistics given.

        ``stats[side][name]`` holds one value per kept row. Key columns are coded from
        ``bins`` (or later, with `with_keys`).
        """
        sides = {}
        for side, frame in frames.items():
            kept = (
                np.arange(len(frame), dtype=np.intp)
                if rows is None or side not in rows
                else np.asarray(rows[side], dtype=np.intp)
            )
            values = {k: np.asarray(v, dtype=np.float64) for k, v in stats.get(side, {}).items()}
            sides[side] = _Rows(frame, kept, {}, values)
        return cls(sides, {}).with_keys(bins or {})

    @classmethod
    def from_arrays(
        cls,
        sides: Mapping[Side, tuple[Mapping[str, CodeArray], Mapping[str, FloatArray]]],
        *,
        cards: Mapping[str, int],
        rows: Mapping[Side, IntArray] | None = None,
    ) -> MemoryTable:
        """Build a table from derived key codes and statistics (no raw columns)."""
        out = {}
        for side, (keys, stats) in sides.items():
            n = len(next(iter(keys.values()))) if keys else len(next(iter(stats.values())))
            kept = (
                np.arange(n, dtype=np.intp)
                if rows is None or side not in rows
                else np.asarray(rows[side], dtype=np.intp)
            )
            out[side] = _Rows(
                None,
                kept,
                {k: np.asarray(v) for k, v in keys.items()},
                {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()},
            )
        return cls(out, cards)

    def fit_bins(
        self, columns: Sequence[str], *, bins: int = SliceSearch.bins, min_count: int = 1
    ) -> dict[str, ColumnBins]:
        """Fit bins per raw column on the sides' frames (see `CodedTable.fit_bins`)."""
        base, prod = (self._frame(s) for s in (Side.BASELINE, Side.PRODUCTION))
        return fit_frame_bins(base, prod, columns, bins=bins, min_count=min_count)

    def with_keys(self, bins: Mapping[str, ColumnBins], *, lazy: bool = False) -> MemoryTable:
        """Return a table that also holds the codes of these raw columns (computed once).

        With ``lazy``, each column is coded when a grouping first needs its codes; a row count
        per bin of one column over every row (a histogram) never needs them.
        """
        if not bins:
            return self
        sides = {}
        for side, data in self._sides.items():
            frame = self._frame(side)
            keys = dict(data.keys)
            later = dict(data.lazy)
            for name, fitted in bins.items():
                if lazy:
                    later[name] = fitted
                    continue
                codes = column_codes(frame, name, fitted)
                keys[name] = codes if data.every else codes[data.rows]
            sides[side] = _Rows(data.frame, data.rows, keys, data.stats, later, data.values)
        cards = {**self._cards, **{k: len(b.labels) for k, b in bins.items()}}
        return MemoryTable(sides, cards, {**self.bins, **bins})

    def with_stats(self, side: Side, stats: Mapping[str, FloatArray]) -> MemoryTable:
        """Return a table with more statistics on one side (one value per row of the table)."""
        data = self._sides[side]
        added = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
        sides = {
            **self._sides,
            side: _Rows(
                data.frame, data.rows, data.keys, {**data.stats, **added}, data.lazy, data.values
            ),
        }
        return MemoryTable(sides, self._cards, self.bins)

    def _frame(self, side: Side) -> pd.DataFrame:
        frame = self._sides[side].frame
        if frame is None:
            raise ValueError(f"the {side} side of this table has no source frame")
        return frame

    # -- the protocol ----------------------------------------------------------------------

    def cardinality(self, key: str) -> int:
        """Return the number of codes of a key column."""
        return self._cards[key]

    def count(self, side: Side, where: Filter | None = None) -> int:
        """Rows of one side (meeting ``where``)."""
        if not where:
            return len(self._sides[side].rows)
        return int(self.mask(side, where).sum())

    def group_sums(
        self,
        keys: Sequence[str],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        maxes: Sequence[str] = (),
    ) -> GroupSums:
        """Row counts and sums per cell (see `CodedTable.group_sums`): one bincount each.

        Rows are added in table order, so the sums are those of `numpy.bincount` over the
        selected rows.
        """
        data = self._sides[side]
        cards = tuple(self._cards[k] for k in keys)
        if len(keys) == 1 and not stats and not maxes and not where and data.every:
            key = keys[0]
            if key in data.lazy and key not in data.keys:  # a histogram: no codes needed
                count = bin_counts(data.lazy[key], self._values(side, key))
                return GroupSums(tuple(keys), cards, None, count, {})
        selected, code = self.cell_codes(side, keys, where)
        space = math.prod(cards)
        cells = None
        if space > DENSE_LIMIT:
            uniq, inverse = np.unique(code, return_inverse=True)
            cells, group, n_groups = uniq.astype(np.int64), inverse.astype(np.intp), len(uniq)
        else:
            group, n_groups = code.astype(np.intp, copy=False), space
        count = np.bincount(group, minlength=n_groups).astype(np.int64, copy=False)
        sums = {}
        for name in stats:
            values = data.stats[name]
            w = values if selected is None else values[selected]
            sums[name] = np.bincount(group, weights=w, minlength=n_groups).astype(
                np.float64, copy=False
            )
        tops = {}
        for name in maxes:
            values = data.stats[name]
            top = np.full(n_groups, -np.inf)
            np.maximum.at(top, group, values if selected is None else values[selected])
            tops[name] = top
        return GroupSums(tuple(keys), cards, cells, count, sums, tops)

    def grouping_sets(
        self,
        key_sets: Sequence[Sequence[str]],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        each: Sequence[Filter | None] | None = None,
        maxes: Sequence[str] = (),
    ) -> list[GroupSums]:
        """`group_sums` per key set (see `CodedTable.grouping_sets`): in memory, one by one."""
        extra = list(each) if each is not None else [None] * len(key_sets)
        if len(extra) != len(key_sets):
            raise ValueError("grouping_sets: one filter per key set in each=")
        base = where or Filter()
        return [
            self.group_sums(keys, stats, side=side, where=base.also(more), maxes=maxes)
            for keys, more in zip(key_sets, extra, strict=True)
        ]

    def with_derived(self, side: Side, definitions: Mapping[str, Expression]) -> MemoryTable:
        """Evaluate derived statistics once with numpy (see `CodedTable.with_derived`)."""
        data = self._sides[side]
        values = rowexpr.evaluate_all(definitions, data.stats, length=len(data.rows))
        return self.with_stats(side, values)

    def sample(
        self, side: Side, n: int, *, random_state: int = 0, where: Filter | None = None
    ) -> IntArray:
        """Uniform sample of row ids without replacement (see `CodedTable.sample`)."""
        data = self._sides[side]
        pool = data.rows if not where else data.rows[self.mask(side, where)]
        if len(pool) <= n:
            return pool.copy()
        rng = np.random.default_rng(random_state)
        return np.sort(rng.choice(pool, size=int(n), replace=False)).astype(np.intp)

    # -- the in-memory kernel (not part of the protocol) ---------------------------------------

    def mask(self, side: Side, where: Filter | None) -> NDArray[np.bool_]:
        """Which rows of the table meet ``where`` (one bool per row)."""
        data = self._sides[side]
        out = np.ones(len(data.rows), dtype=bool)
        for cond in where.conditions if where else ():
            out &= data.codes(cond.key) == cond.code
        for cell_set in where.cell_sets if where else ():
            _, code = self.cell_codes(side, cell_set.keys)
            out &= np.isin(code, np.asarray(cell_set.cells, dtype=np.int64))
        return out

    def rows(self, side: Side) -> IntArray:
        """Positions of the table's rows in the side's source."""
        return self._sides[side].rows

    def key_codes(self, side: Side, key: str) -> NDArray[np.integer]:
        """Codes of one key column (one per row of the table)."""
        return self._sides[side].codes(key)

    def stat(self, side: Side, name: str) -> FloatArray:
        """Per-row values of one statistic (one per row of the table)."""
        return self._sides[side].stats[name]

    def sorted_values(self, side: Side, column: str) -> FloatArray:
        """Sorted non-missing values of a numeric raw column over every row (computed once)."""
        return self._values(side, column).sorted

    def _values(self, side: Side, column: str) -> ColumnValues:
        """One raw column of one side, read once (its sort and value counts computed once)."""
        data = self._sides[side]
        if column not in data.values:
            frame = self._frame(side)
            data.values[column] = ColumnValues(
                feature_values(frame, column), count=lambda: column_counts(frame, column)
            )
        return data.values[column]

    def stat_names(self, side: Side) -> tuple[str, ...]:
        """Return the names of the statistics held on one side."""
        return tuple(self._sides[side].stats)

    def cell_codes(
        self, side: Side, keys: Sequence[str], where: Filter | None = None
    ) -> tuple[IntArray | None, NDArray]:
        """Rows meeting ``where`` (None: every row) and their mixed-radix cell codes.

        The codes are int64, or intp zeros when there is no key.
        """
        data = self._sides[side]
        selected = None if not where else np.flatnonzero(self.mask(side, where))
        if not keys:
            n = len(data.rows) if selected is None else len(selected)
            return selected, np.zeros(n, dtype=np.intp)
        code: NDArray | None = None
        for key in keys:
            col = data.codes(key) if selected is None else data.codes(key)[selected]
            # never modified in place, so the first key's codes need no copy
            first = col.astype(np.int64, copy=False)
            code = first if code is None else code * self._cards[key] + col
        assert code is not None
        return selected, code
