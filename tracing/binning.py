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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.options import SliceSearch

__all__ = [
    "CALENDAR",
    "MISSING",
    "OTHER",
    "PRESENT",
    "ColumnBins",
    "as_float",
    "calendar_features",
    "column_values",
    "fit_bins",
    "is_numeric_column",
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
            missing = np.isnan(values)  # as_float marks every missing value NaN
            codes = np.searchsorted(np.asarray(self.edges), values, side="right")
        else:
            missing = series.isna().to_numpy()
            # Factorize once (fast on Arrow strings), then map the few distinct values.
            row_codes, uniques = pd.factorize(series, use_na_sentinel=True)
            if len(uniques) == 0:  # every value missing
                return np.full(len(series), self.missing_code, dtype=np.int32)
            index = pd.Index(list(self.categories), dtype=object)
            lookup = np.asarray(index.get_indexer(pd.Index(uniques, dtype=object)), dtype=np.int64)
            codes = np.where(row_codes >= 0, lookup[np.maximum(row_codes, 0)], -1)
            other = self.other_code
            unknown = (codes < 0) & ~missing
            if other is not None:
                codes = np.where(unknown, other, codes)
            elif unknown.any():
                example = series[unknown].iloc[0]
                raise ValueError(
                    f"column {self.feature!r}: value {example!r} was not seen when the bins "
                    "were fitted; fit on both baseline and production."
                )
        return np.where(missing, self.missing_code, codes).astype(np.int32)


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
    name = str(baseline.name)
    same_kind = production is None or is_numeric_column(production) or production.isna().all()
    if is_numeric_column(baseline) and same_kind:
        values = as_float(baseline)
        finite = np.sort(values[np.isfinite(values)])  # one sort serves both questions below
        if len(finite) and np.count_nonzero(np.diff(finite)) + 1 > bins:
            qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1], method="linear")
            edges = np.unique(qs)
            if len(edges) == 1 and edges[0] <= finite[0]:  # every value in ">= edge"
                labels = [PRESENT]
                return ColumnBins(name, "numeric", (), (), (*labels, MISSING))
            labels = _range_labels(edges, baseline)
            return ColumnBins(name, "numeric", tuple(map(float, edges)), (), (*labels, MISSING))
    return _fit_categorical(name, baseline, production, min_count)


def _fit_categorical(
    name: str, baseline: pd.Series, production: pd.Series | None, min_count: int
) -> ColumnBins:
    counts_b = baseline.value_counts(dropna=True)
    counts = counts_b
    per_side_max = counts_b
    if production is not None:
        counts_p = production.value_counts(dropna=True)  # counted once: the costly step
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


def column_values(frame: pd.DataFrame, feature: str) -> pd.Series:
    """Return a column of ``frame`` by slice feature name, deriving calendar features.

    A real column of that name wins; otherwise ``"<timestamp>.hour"`` and the other
    `CALENDAR` parts are derived from the timestamp column (`calendar_features`).

    Raises
    ------
    KeyError
        Neither a column nor a calendar part of a datetime column.
    """
    if feature in frame.columns:
        return frame[feature]
    base, _, part = feature.rpartition(".")
    if part in CALENDAR and base in frame.columns:
        derived = calendar_features(frame[base], base)
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


def slice_exclusion(baseline: pd.Series, production: pd.Series, *, min_count: int) -> str | None:
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
    counts = [s.value_counts(dropna=True) for s in (baseline, production)]
    distinct = int(counts[0].index.union(counts[1].index).size)
    if distinct < ID_MIN_VALUES:
        return None
    share = ID_INT_SHARE if numeric else ID_SHARE
    for c in counts:
        rows = int(c.sum())
        if rows and len(c) >= share * rows:
            return f"id-like: one value per row ({distinct:,} distinct values in {rows:,} rows)"
    if numeric:
        return None
    both = counts[0].add(counts[1], fill_value=0)
    most = (
        counts[0]
        .reindex(both.index, fill_value=0)
        .combine(counts[1].reindex(both.index, fill_value=0), max)
    )
    rare = float(both[most < min_count].sum()) / max(float(both.sum()), 1.0)
    if rare > ID_POOLED_SHARE:
        return (
            f"id-like or free text: {distinct:,} distinct values, {rare:.0%} of rows in values "
            f"with fewer than "
            f"{min_count:,} rows"
        )
    return None
