"""Shared binning of feature columns, fitted on the baseline so both datasets share bins.

Slices, drift histograms and per-feature breakdowns all need the same discrete view of a column:

- numeric columns: quantile bins of the **baseline** (default 10), outer bins open-ended
  (``< a`` and ``>= b``), tied quantiles collapsed, so production values outside the baseline's
  range still land in a bin; a numeric column with at most ``bins`` distinct baseline values is
  treated as categorical (each value its own bin);
- categorical columns (strings, booleans, categories): every value with at least ``min_count``
  rows on either side keeps its own bin; rarer values are pooled into ``"(other)"``;
- missing values get their own ``"(missing)"`` bin in every column;
- a numeric column whose baseline values all fall in one range bin (deciles tie at the
  minimum, as for rain: 93% of hours are 0) has one value bin, ``"(present)"``: its only
  split is missing against present, and the label says so (not ``">= 0"``).

Slicing also needs to know which columns not to cut: `slice_exclusion` names the id-like and
free-text columns (nearly one value per row, or most rows in values too rare to rank), and
`calendar_features` derives ``<timestamp>.hour``, ``.weekday`` and ``.day`` from a timestamp
(in the data's own time zone, UTC when it carries none); `column_values` returns a raw or
derived column by name.

`fit_bins` returns a `ColumnBins` whose `ColumnBins.codes` maps any series to integer codes
``0..len(labels)-1``, with labels such as ``"[10, 25)"``, ``"CA"``, ``"(other)"``.

Each column is read once: `ColumnValues` holds one side of a column and computes its floats,
sorted values and value counts at most once, so fitting the bins (`fit_column_bins`) and
counting rows per bin (`bin_counts`, a histogram without coding every row) share them. Numeric
bins are cut from the sorted baseline (no second sort or partition for the quantiles); codes
are a few vectorised comparisons against the cut points (numeric) or one hash pass over the
values (`pyarrow.compute.index_in` for Arrow strings, the dictionary indices of a pandas
categorical, a factorize otherwise) followed by one lookup in a table of the distinct values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from tracing.options import SliceSearch

__all__ = [
    "CALENDAR",
    "MISSING",
    "OTHER",
    "PRESENT",
    "ColumnBins",
    "ColumnValues",
    "as_float",
    "bin_counts",
    "calendar_features",
    "column_values",
    "fit_bins",
    "fit_column_bins",
    "is_numeric_column",
    "missing_count",
    "slice_exclusion",
]

MISSING = "(missing)"
OTHER = "(other)"
PRESENT = "(present)"
# Calendar parts of a timestamp, as slice features named "<timestamp>.<part>".
CALENDAR = ("hour", "weekday", "day")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Id-like columns: at least this many distinct values, and nearly one per row (this share of
# the non-missing rows, integers: ID_INT_SHARE), or most rows in values rarer than min_size.
ID_MIN_VALUES = 50
ID_SHARE = 0.9
ID_INT_SHARE = 0.99
ID_POOLED_SHARE = 0.5
# Up to this many cut points, numeric codes are a sum of comparisons (one cheap pass per edge):
# a binary search per row (np.searchsorted on unsorted values) is ~7x slower for 10 bins.
_COMPARE_MAX_EDGES = 32


def is_numeric_column(series: pd.Series) -> bool:
    """Whether a column is binned by value ranges (numbers and datetimes, not booleans)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return bool(
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
    )


def as_float(series: pd.Series) -> NDArray[np.float64]:
    """Return a numeric or datetime column as float64, NaN where missing."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        out = series.astype("int64").to_numpy(dtype=float)
        return np.where(series.isna().to_numpy(), np.nan, out)
    return np.asarray(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)


@dataclass(frozen=True)
class ColumnBins:
    """How one column is discretised.

    Attributes
    ----------
    feature : str
        Column name.
    kind : {"numeric", "categorical"}
        Value-range bins or one bin per value.
    edges : tuple of float
        Numeric: interior cut points ``e_1 < ... < e_k``; bin i is ``[e_i, e_{i+1})`` with
        open outer bins. Empty for categorical.
    categories : tuple
        Categorical: the values kept in their own bin, in label order.
    labels : tuple of str
        One label per code: value bins, then ``"(other)"`` (categorical, if pooled) and
        ``"(missing)"`` (always last).
    """

    feature: str
    kind: str
    edges: tuple[float, ...]
    categories: tuple[Any, ...]
    labels: tuple[str, ...]
    pooled: bool = False

    @property
    def missing_code(self) -> int:
        """Code of the ``(missing)`` bin (always the last)."""
        return len(self.labels) - 1

    @property
    def other_code(self) -> int | None:
        """Code of the ``(other)`` bin, if rare categories were pooled."""
        return len(self.labels) - 2 if self.pooled else None

    def codes(self, series: pd.Series) -> NDArray[np.int32]:
        """Map values to bin codes (int32, ``0..len(labels)-1``)."""
        if self.kind == "numeric":
            values = as_float(series)
            codes = _range_codes(np.asarray(self.edges, dtype=np.float64), values)
            np.putmask(codes, np.isnan(values), self.missing_code)  # as_float: missing is NaN
            return codes
        row_codes, uniques = _distinct_codes(series, self.categories)
        # One code per distinct value, then one gather over the rows (row code -1, missing,
        # picks the lookup's last entry: the missing code).
        lookup = self._lookup(uniques)
        if not (lookup < 0).any():
            # `np.take` gathers about twice as fast as fancy indexing does (same values).
            return np.take(lookup, row_codes)
        codes = np.asarray(lookup[row_codes], dtype=np.int32)
        if (lookup < 0).any():  # a value outside the categories and nothing pooled
            unknown = np.flatnonzero(codes < 0)
            if len(unknown):
                example = series.iloc[int(unknown[0])]
                raise ValueError(
                    f"column {self.feature!r}: value {example!r} was not seen when the bins "
                    "were fitted; fit on both baseline and production."
                )
        return codes

    def _lookup(self, uniques: Sequence[Any]) -> NDArray[np.int32]:
        """Code of each distinct value, then the missing code (for row code -1).

        A value outside the categories gets the ``(other)`` code, or -1 when nothing was
        pooled; `_NULL` (the missing values) gets the missing code.
        """
        index = pd.Index(list(self.categories), dtype=object)
        found = np.asarray(index.get_indexer(pd.Index(uniques, dtype=object)), dtype=np.int64)
        other = self.other_code
        found = np.where(found < 0, -1 if other is None else other, found)
        found[[u is _NULL for u in uniques]] = self.missing_code
        return np.append(found, self.missing_code).astype(np.int32)


class _Absent:
    """Stands for every value outside the categories (equal to no category)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()
_NULL = _Absent()  # the missing values, where a lookup table gives them a row code of its own


def _range_codes(edges: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.int32]:
    """Count the edges <= each value: ``np.searchsorted(edges, values, side="right")``."""
    if len(edges) > _COMPARE_MAX_EDGES:
        return np.searchsorted(edges, values, side="right").astype(np.int32)
    # Counted in one byte per row (at most _COMPARE_MAX_EDGES), widened once at the end.
    counts = np.zeros(len(values), dtype=np.uint8)
    above = np.empty(len(values), dtype=bool)
    for edge in edges:  # NaN compares False: the caller overwrites it with the missing code
        np.greater_equal(values, edge, out=above)
        np.add(counts, above, out=counts, casting="unsafe")
    return counts.astype(np.int32)


def _distinct_codes(
    series: pd.Series, categories: Sequence[Any]
) -> tuple[NDArray[np.integer], list[Any]]:
    """Row codes into a small table of distinct values (-1: missing) and that table.

    Pandas categoricals give their dictionary indices; Arrow strings are looked up among the
    categories in one `pyarrow.compute.index_in` pass (every other value is `_ABSENT`); the
    rest is factorized.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return np.asarray(series.cat.codes), list(series.cat.categories)
    chunks = _arrow_strings(series)
    texts = [c for c in categories if isinstance(c, str)]
    if chunks is not None and len(texts) == len(categories):
        # A null in the value set catches the missing rows (code k); the rest is absent (k + 1).
        value_set = pa.array([*texts, None], type=chunks.type)
        found = pc.index_in(chunks, value_set=value_set, skip_nulls=False)
        rows = pc.fill_null(found, pa.scalar(len(texts) + 1, found.type))
        return np.asarray(rows), [*texts, _NULL, _ABSENT]
    row_codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(row_codes), list(uniques)


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """Return the Arrow chunks of a text column stored by Arrow (pandas' ``str``), else None."""
    dtype = series.dtype
    held = isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
    )
    if not held:  # python-storage strings would be converted (copied), not read
        return None
    chunks = series.array.__arrow_array__()  # zero-copy: the column's own chunks
    if isinstance(chunks, pa.Array):
        chunks = pa.chunked_array([chunks])
    if not isinstance(chunks, pa.ChunkedArray):
        return None
    text = pa.types.is_string(chunks.type) or pa.types.is_large_string(chunks.type)
    return chunks if text else None


def missing_count(series: pd.Series) -> int:
    """Count the missing values, ``int(series.isna().sum())``, without a mask where it can.

    Arrow text keeps its null count; a float column counts its NaNs.

    Examples
    --------
    >>> missing_count(pd.Series(["a", None, "b"], dtype="str"))
    1
    """
    chunks = _arrow_strings(series)
    if chunks is not None:
        return int(chunks.null_count)
    if series.dtype == np.float64:
        return int(np.count_nonzero(np.isnan(series.to_numpy())))
    return int(series.isna().sum())


class ColumnValues:
    """One column on one side, read once: each view of it is computed at most once.

    Fitting bins (`fit_column_bins`), counting rows per bin (`bin_counts`) and the drift
    tests all read the same column; holding it here means one float conversion, one sort and
    one value count per side, whoever asks first.

    Parameters
    ----------
    series : Series
        The column's values on this side.
    count : callable, optional
        Returns the value counts of ``series`` (`counts`) when first asked, e.g. from a cache
        another step shares; default ``series.value_counts(dropna=True)``.

    Examples
    --------
    >>> v = ColumnValues(pd.Series([3.0, None, 1.0, np.inf]))
    >>> v.sorted.tolist(), v.finite.tolist(), v.missing
    ([1.0, 3.0, inf], [1.0, 3.0], 1)
    """

    def __init__(self, series: pd.Series, *, count: Callable[[], pd.Series] | None = None) -> None:
        self.series = series
        self.numeric = is_numeric_column(series)
        self._count = count

    @cached_property
    def floats(self) -> NDArray[np.float64]:
        """The values as float64, NaN where missing (numeric and datetime columns)."""
        return as_float(self.series)

    @cached_property
    def sorted(self) -> NDArray[np.float64]:
        """The non-missing values as sorted floats (infinities included)."""
        values = self.floats
        # NaN sorts last, so sorting first and cutting the tail off spares a masked copy.
        n_nan = int(np.count_nonzero(np.isnan(values)))
        return np.sort(values)[: len(values) - n_nan]

    @cached_property
    def finite(self) -> NDArray[np.float64]:
        """The finite values, sorted (a view of `sorted` between the infinities)."""
        values = self.sorted
        lo = int(np.searchsorted(values, -np.inf, side="right"))
        hi = int(np.searchsorted(values, np.inf, side="left"))
        return values[lo:hi]

    @cached_property
    def counts(self) -> pd.Series:
        """Rows per distinct non-missing value (`pandas.Series.value_counts`)."""
        if self._count is not None:
            return self._count()
        return self.series.value_counts(dropna=True)

    @cached_property
    def missing(self) -> int:
        """Number of missing values."""
        return missing_count(self.series)

    @cached_property
    def all_missing(self) -> bool:
        """Whether every value is missing (an empty side too)."""
        return bool(self.series.isna().all())


def fit_bins(
    baseline: pd.Series,
    production: pd.Series | None = None,
    *,
    bins: int = SliceSearch.bins,
    min_count: int = 1,
) -> ColumnBins:
    """Fit the bins of one column on the baseline (categories on both sides).

    Parameters
    ----------
    baseline : Series
        Baseline values: numeric bin edges are its quantiles.
    production : Series, optional
        Production values: categories seen only here get bins too (new categories).
    bins : int, default 10
        Number of quantile bins for numeric columns (fewer when quantiles tie).
    min_count : int, default 1
        Categorical: values with fewer rows than this on both sides are pooled into
        ``"(other)"``.

    Returns
    -------
    ColumnBins

    Examples
    --------
    >>> b = fit_bins(pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), bins=4)
    >>> b.labels
    ('< 3.75', '[3.75, 6.5)', '[6.5, 9.25)', '>= 9.25', '(missing)')
    """
    other = None if production is None else ColumnValues(production)
    return fit_column_bins(ColumnValues(baseline), other, bins=bins, min_count=min_count)


def fit_column_bins(
    baseline: ColumnValues,
    production: ColumnValues | None = None,
    *,
    bins: int = SliceSearch.bins,
    min_count: int = 1,
) -> ColumnBins:
    """`fit_bins` on columns already read (their sorted values and counts are reused).

    Examples
    --------
    >>> base = ColumnValues(pd.Series(["a", "b", "a"], name="c"))
    >>> prod = ColumnValues(pd.Series(["a", "z", None], name="c"))
    >>> fit_column_bins(base, prod).labels
    ('a', 'b', 'z', '(missing)')
    >>> base.counts.to_dict()  # counted once, kept for `bin_counts`
    {'a': 2, 'b': 1}
    """
    name = str(baseline.series.name)
    same_kind = production is None or production.numeric or production.all_missing
    if baseline.numeric and same_kind:
        finite = baseline.finite
        if len(finite) and _more_distinct_than(finite, bins):
            qs = _sorted_quantiles(finite, np.linspace(0, 1, bins + 1)[1:-1])
            edges = np.unique(qs) + 0.0  # -0.0 (a lerp between -x and x) is the cut 0
            if len(edges) == 1 and edges[0] <= finite[0]:  # every value in ">= edge"
                return ColumnBins(name, "numeric", (), (), (PRESENT, MISSING))
            labels = _range_labels(edges, baseline.series)
            return ColumnBins(name, "numeric", tuple(map(float, edges)), (), (*labels, MISSING))
    return _fit_categorical(name, baseline, production, min_count)


def _more_distinct_than(values: NDArray[np.float64], k: int) -> bool:
    """Whether sorted ``values`` hold more than ``k`` distinct values (k + 1 binary searches)."""
    start = 0
    for _ in range(k + 1):
        if start >= len(values):
            return False
        start = int(np.searchsorted(values, values[start], side="right"))
    return True


def _sorted_quantiles(values: NDArray[np.float64], qs: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.quantile(values, qs)`` (method "linear") of sorted values, without a partition.

    The same arithmetic as numpy's ``_quantile`` and ``_lerp``, so the result is identical
    (tests/test_binning.py checks it against ``np.quantile``); reading the two neighbours of
    each virtual index off the sorted values replaces numpy's copy and partition.
    """
    n = len(values)
    virtual = (n - 1) * qs
    below = np.floor(virtual)
    above = below + 1
    at_end = virtual >= n - 1  # the largest value (numpy's -1 index)
    below[at_end] = -1
    above[at_end] = -1
    lo, hi = below.astype(np.intp), above.astype(np.intp)
    gamma = np.asarray(virtual - lo, dtype=np.float64)
    a, b = values[lo], values[hi]
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def bin_counts(bins: ColumnBins, values: ColumnValues) -> NDArray[np.int64]:
    """Rows per bin of one column, without coding every row (a bincount of the codes).

    Numeric bins cut the sorted values at the edges; categorical bins read the value counts
    and pool the rest into ``"(other)"``. Missing values fill the last bin.

    Examples
    --------
    >>> s = pd.Series(["a", "b", "a", None])
    >>> bin_counts(fit_bins(s), ColumnValues(s)).tolist()
    [2, 1, 1]
    """
    out = np.zeros(len(bins.labels), dtype=np.int64)
    if bins.kind == "numeric":
        cuts = np.searchsorted(values.sorted, np.asarray(bins.edges), side="left")
        out[:-1] = np.diff(np.r_[0, cuts, len(values.sorted)])
    else:
        counts = values.counts
        kept = counts.reindex(list(bins.categories), fill_value=0).to_numpy()
        out[: len(kept)] = kept
        if bins.other_code is not None:
            out[bins.other_code] = int(counts.sum()) - int(kept.sum())
    out[-1] = len(values.series) - int(out[:-1].sum())
    return out


def _fit_categorical(
    name: str, baseline: ColumnValues, production: ColumnValues | None, min_count: int
) -> ColumnBins:
    counts_b = baseline.counts
    counts = counts_b
    per_side_max = counts_b
    if production is not None:
        counts_p = production.counts
        counts = counts_b.add(counts_p, fill_value=0)
        per_side_max = counts_b.reindex(counts.index, fill_value=0)
        counts_p = counts_p.reindex(counts.index, fill_value=0)
        per_side_max = per_side_max.where(per_side_max >= counts_p, counts_p)
    keep = per_side_max[per_side_max >= min_count]
    # Order: most frequent first, so charts and tables read naturally.
    ordered = keep.sort_values(ascending=False, kind="mergesort").index.tolist()
    pooled = len(keep) < len(counts)
    labels = [str(v) for v in ordered] + ([OTHER] if pooled else []) + [MISSING]
    return ColumnBins(name, "categorical", (), tuple(ordered), tuple(labels), pooled=pooled)


def _range_labels(edges: NDArray[np.float64], series: pd.Series) -> list[str]:
    fmt = _formatter(series)
    if len(edges) == 0:
        return [PRESENT]
    labels = [f"< {fmt(edges[0])}"]
    labels += [f"[{fmt(a)}, {fmt(b)})" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f">= {fmt(edges[-1])}")
    return labels


def _formatter(series: pd.Series) -> Any:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        tz = getattr(series.dtype, "tz", None)
        dtype: Any = series.dtype
        unit = str(dtype.unit if hasattr(dtype, "unit") else np.datetime_data(dtype)[0])

        def stamp(v: float) -> str:
            # Edges are epoch numbers in the column's own unit (see as_float).
            ts = pd.Timestamp(int(v), unit=unit, tz="UTC" if tz else None)
            ts = ts.tz_convert(tz) if tz else ts
            return (
                ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")
            )

        return stamp
    return lambda v: f"{v:.4g}"


def column_values(
    frame: pd.DataFrame,
    feature: str,
    *,
    parts: Callable[[pd.DataFrame, str], dict[str, pd.Series]] | None = None,
) -> pd.Series:
    """Return a column of ``frame`` by slice feature name, deriving calendar features.

    A real column of that name wins; otherwise ``"<timestamp>.hour"`` and the other
    `CALENDAR` parts are derived from the timestamp column: ``parts(frame, column)``, by
    default `calendar_features` (`tracing.codes.calendar_parts` remembers them per frame).

    Raises
    ------
    KeyError
        Neither a column nor a calendar part of a datetime column.
    """
    if feature in frame.columns:
        return frame[feature]
    base, _, part = feature.rpartition(".")
    if part in CALENDAR and base in frame.columns:
        derived = calendar_features(frame[base], base) if parts is None else parts(frame, base)
        if feature in derived:
            return derived[feature]
    raise KeyError(feature)


def calendar_features(series: pd.Series, name: str) -> dict[str, pd.Series]:
    """Hour (0-23), weekday (Monday...) and day of month of a timestamp, named ``name.part``.

    In the column's own time zone when it carries one, else as written (taken as UTC).
    Strings are parsed; a column that is not mostly times yields nothing.

    Examples
    --------
    >>> ts = pd.Series(pd.to_datetime(["2013-07-01 18:30", None]))
    >>> {k: v.tolist() for k, v in calendar_features(ts, "t").items()}
    {'t.hour': [18.0, nan], 't.weekday': ['Monday', None], 't.day': [1.0, nan]}
    """
    values = series
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
            return {}
        values = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        if values.notna().sum() < 0.5 * series.notna().sum():
            return {}
    dt = values.dt
    weekday = pd.Series(
        np.asarray(_WEEKDAYS + (None,), dtype=object)[dt.day_of_week.fillna(7).astype(int)],
        index=series.index,
        dtype=object,
    )
    return {
        f"{name}.hour": dt.hour.astype(float),
        f"{name}.weekday": weekday,
        f"{name}.day": dt.day.astype(float),
    }


def slice_exclusion(
    baseline: pd.Series,
    production: pd.Series,
    *,
    min_count: int,
    counts: Callable[[], tuple[pd.Series, pd.Series]] | None = None,
) -> str | None:
    """Why a column is left out of slicing by default (None: it is sliced).

    Id-like and free-text columns: at least `ID_MIN_VALUES` distinct values and either nearly
    one value per row (`ID_SHARE` of the non-missing rows on a side; integers `ID_INT_SHARE`,
    since counts are binned by range) or, for text, more than `ID_POOLED_SHARE` of the rows in
    values with fewer than ``min_count`` rows on both sides (they would be pooled into
    ``"(other)"``: more distinct values than the search can use). Floats and datetimes are cut
    by range and never excluded.

    Examples
    --------
    >>> ids = pd.Series([f"N{i}" for i in range(100)])
    >>> slice_exclusion(ids, ids, min_count=30)
    'id-like: one value per row (100 distinct values in 100 rows)'
    >>> slice_exclusion(pd.Series(["a", "b"] * 50), pd.Series(["a"] * 100), min_count=30) is None
    True
    """
    numeric = is_numeric_column(baseline) and is_numeric_column(production)
    if numeric and not (
        pd.api.types.is_integer_dtype(baseline.dtype)
        and pd.api.types.is_integer_dtype(production.dtype)
    ):
        return None
    # The sides' value counts: ``counts()`` when given (counted once, `tracing.codes`).
    sides = (
        counts()
        if counts is not None
        else (baseline.value_counts(dropna=True), production.value_counts(dropna=True))
    )
    distinct = int(sides[0].index.union(sides[1].index).size)
    if distinct < ID_MIN_VALUES:
        return None
    share = ID_INT_SHARE if numeric else ID_SHARE
    for c in sides:
        rows = int(c.sum())
        if rows and len(c) >= share * rows:
            return f"id-like: one value per row ({distinct:,} distinct values in {rows:,} rows)"
    if numeric:
        return None
    both = sides[0].add(sides[1], fill_value=0)
    most = (
        sides[0]
        .reindex(both.index, fill_value=0)
        .combine(sides[1].reindex(both.index, fill_value=0), max)
    )
    rare = float(both[most < min_count].sum()) / max(float(both.sum()), 1.0)
    if rare > ID_POOLED_SHARE:
        return (
            f"id-like or free text: {distinct:,} distinct values, {rare:.0%} of rows in values "
            f"with fewer than "
            f"{min_count:,} rows"
        )
    return None
