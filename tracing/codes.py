"""Each column of a dataset binned and coded once, shared by every section that reads it.

Slices, drilldowns, drift, root cause and the timeline all ask the same two questions of a
column: its bins (`tracing.binning.fit_bins` on a baseline/production pair) and each row's bin
code (`tracing.binning.ColumnBins.codes`). On a 10M-row file one coding pass over 20 columns
costs seconds and one code array per column and side is tens of megabytes, so computing them
per section (root cause used to recode every slice column for every candidate slice) costs
both time and memory. `column_bins` and `column_codes` remember them per frame *object*, weakly
(a dropped dataset drops its codes), in `tracing.bytecache.process_store`, so they count against
``TRACING_CACHE_MB`` with every other cache.

Codes are held in the smallest unsigned integer type that fits the bins (`code_dtype`: uint8
for up to 256 bins), a quarter of int32's memory for almost every column, and are read-only,
because every caller shares the same array.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.binning import (
    ColumnBins,
    ColumnValues,
    calendar_features,
    column_values,
    fit_column_bins,
)
from tracing.bytecache import process_store
from tracing.options import SliceSearch

__all__ = [
    "calendar_parts",
    "code_dtype",
    "column_bins",
    "column_codes",
    "column_counts",
    "feature_values",
]

T = TypeVar("T")


def code_dtype(n_codes: int) -> type[np.unsignedinteger[Any]] | type[np.int32]:
    """Return the smallest integer type that holds codes ``0..n_codes-1``.

    Examples
    --------
    >>> code_dtype(11).__name__, code_dtype(300).__name__, code_dtype(70_000).__name__
    ('uint8', 'uint16', 'int32')
    """
    if n_codes <= 1 << 8:
        return np.uint8
    if n_codes <= 1 << 16:
        return np.uint16
    return np.int32


def column_codes(frame: pd.DataFrame, feature: str, fitted: ColumnBins) -> NDArray[np.integer]:
    """Return every row's bin code of one (raw or calendar) column, computed once per frame.

    Parameters
    ----------
    frame : DataFrame
        The dataset (the analysis' own frame object: the result is remembered for it).
    feature : str
        A column, or a calendar part of a timestamp column (`tracing.binning.column_values`).
    fitted : ColumnBins
        The bins to code with.

    Returns
    -------
    ndarray
        One code per row of ``frame``, of type `code_dtype` (read-only: it is shared).

    Raises
    ------
    KeyError
        The frame has no such column.
    """
    key = ("codes", id(frame), feature, fitted)

    def code() -> NDArray[np.integer]:
        codes = fitted.codes(feature_values(frame, feature))
        out = codes.astype(code_dtype(len(fitted.labels)), copy=False)
        out.setflags(write=False)
        return out

    return _remembered(key, (frame,), code)


def column_bins(
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    feature: str,
    *,
    bins: int = SliceSearch.bins,
    min_count: int = 1,
) -> ColumnBins:
    """Return `tracing.binning.fit_bins` of one column of a frame pair, fitted once per pair.

    Parameters
    ----------
    baseline, production : DataFrame
        The two datasets (their objects key the memo).
    feature : str
        A column, or a calendar part of a timestamp column.
    bins : int, default 10
        Quantile bins of a numeric column.
    min_count : int, default 1
        Categories rarer than this on both sides are pooled.

    Returns
    -------
    ColumnBins
    """
    key = ("bins", id(baseline), id(production), feature, int(bins), int(min_count))

    def read(frame: pd.DataFrame) -> ColumnValues:
        return ColumnValues(
            feature_values(frame, feature), count=lambda: column_counts(frame, feature)
        )

    def fit() -> ColumnBins:
        return fit_column_bins(read(baseline), read(production), bins=bins, min_count=min_count)

    return _remembered(key, (baseline, production), fit)


def feature_values(frame: pd.DataFrame, feature: str) -> pd.Series:
    """Return a column by slice feature name: `tracing.binning.column_values`, shared.

    A real column is the frame's own; a calendar part (``"<timestamp>.hour"``) comes from
    `calendar_parts`, derived once per frame.

    Raises
    ------
    KeyError
        Neither a column nor a calendar part of a datetime column.
    """
    return column_values(frame, feature, parts=calendar_parts)


def calendar_parts(frame: pd.DataFrame, column: str) -> dict[str, pd.Series]:
    """Return `tracing.binning.calendar_features` of one column, derived once per frame.

    Parsing and splitting a timestamp costs about a second per 10M rows and part; slicing,
    coding and the default-feature rules all ask for the same parts.
    """
    key = ("calendar", id(frame), column)
    return _remembered(key, (frame,), lambda: calendar_features(frame[column], column))


def column_counts(frame: pd.DataFrame, feature: str) -> pd.Series:
    """Return the rows per distinct non-missing value of one column, counted once per frame.

    Drift, quality and the slices' bins read the same counts (`pandas.Series.value_counts`);
    shared, so callers must not modify the result.
    """
    key = ("counts", id(frame), feature)
    return _remembered(
        key, (frame,), lambda: feature_values(frame, feature).value_counts(dropna=True)
    )


def _size(value: object) -> int:
    """Bytes an entry holds (arrays, series and dicts of series; small objects count 1 kB)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, pd.Series):
        return int(value.memory_usage(deep=False, index=True))
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    return 1_000


def _remembered(key: Hashable, owners: tuple[pd.DataFrame, ...], compute: Callable[[], T]) -> T:
    """``compute()``, remembered under ``key`` while every owner frame is alive."""
    store = process_store()
    found = store.get(key)
    if isinstance(found, tuple) and all(r() is o for r, o in zip(found[0], owners, strict=True)):
        return cast(T, found[1])
    value = compute()
    refs = tuple(weakref.ref(o) for o in owners)
    size = _size(value)
    if store.put(key, (refs, value), size):
        for owner in owners:
            weakref.finalize(owner, _forget, store, key, refs)
    return value


def _forget(store: Any, key: Hashable, refs: tuple[weakref.ref[Any], ...]) -> None:
    """Drop an entry once an owner is gone (unless a newer frame took the key)."""
    found = store.peek(key)
    if isinstance(found, tuple) and found[0] is refs:
        store.pop(key)
