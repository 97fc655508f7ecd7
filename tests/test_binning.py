"""Binning: the fast `fit_bins` and `ColumnBins.codes` equal the original implementation.

The oracle (`old_fit_bins`, `old_codes`) is the code of `tracing/binning.py` before issue 15
(commit c26fbdb), copied here unchanged: a pandas factorize per column for categorical codes,
``np.searchsorted`` for numeric codes, ``np.quantile`` on a fresh sort and three value counts
for fitting. Every property runs on baseline/production pairs whose value sets differ.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing.binning import (
    _COMPARE_MAX_EDGES,
    MISSING,
    OTHER,
    PRESENT,
    ColumnBins,
    ColumnValues,
    _range_codes,
    _range_labels,
    _sorted_quantiles,
    as_float,
    bin_counts,
    fit_bins,
    fit_column_bins,
    is_numeric_column,
)
from tracing.engine import sorted_values

# ---------------------------------------------------------------------------------------------
# The oracle: tracing/binning.py at c26fbdb


def old_codes(self: ColumnBins, series: pd.Series) -> np.ndarray:
    if self.kind == "numeric":
        values = as_float(series)
        missing = np.isnan(values)
        codes = np.searchsorted(np.asarray(self.edges), values, side="right")
    else:
        missing = series.isna().to_numpy()
        row_codes, uniques = pd.factorize(series, use_na_sentinel=True)
        if len(uniques) == 0:
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


def old_fit_bins(
    baseline: pd.Series, production: pd.Series | None = None, *, bins: int = 10, min_count: int = 1
) -> ColumnBins:
    name = str(baseline.name)
    same_kind = production is None or is_numeric_column(production) or production.isna().all()
    if is_numeric_column(baseline) and same_kind:
        values = as_float(baseline)
        finite = np.sort(values[np.isfinite(values)])
        if len(finite) and np.count_nonzero(np.diff(finite)) + 1 > bins:
            qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1], method="linear")
            # the one deliberate change since (8c699ab): a cut of -0.0 is the cut 0 ('< 0')
            edges = np.unique(qs) + 0.0
            if len(edges) == 1 and edges[0] <= finite[0]:
                return ColumnBins(name, "numeric", (), (), (PRESENT, MISSING))
            labels = _range_labels(edges, baseline)
            return ColumnBins(name, "numeric", tuple(map(float, edges)), (), (*labels, MISSING))
    return old_fit_categorical(name, baseline, production, min_count)


def old_fit_categorical(
    name: str, baseline: pd.Series, production: pd.Series | None, min_count: int
) -> ColumnBins:
    counts_b = baseline.value_counts(dropna=True)
    counts = counts_b
    per_side_max = counts_b
    if production is not None:
        counts_p = production.value_counts(dropna=True)
        counts = counts_b.add(counts_p, fill_value=0)
        per_side_max = counts_b.reindex(counts.index, fill_value=0)
        counts_p = counts_p.reindex(counts.index, fill_value=0)
        per_side_max = per_side_max.where(per_side_max >= counts_p, counts_p)
    keep = per_side_max[per_side_max >= min_count]
    ordered = keep.sort_values(ascending=False, kind="mergesort").index.tolist()
    pooled = len(keep) < len(counts)
    labels = [str(v) for v in ordered] + ([OTHER] if pooled else []) + [MISSING]
    return ColumnBins(name, "categorical", (), tuple(ordered), tuple(labels), pooled=pooled)


# ---------------------------------------------------------------------------------------------
# Columns: one strategy per kind, baseline and production drawn from different value sets

FLOATS = [0.0, -0.0, 1.0, 1.5, -2.25, 1e-300, 3e300, -7.0, 10.0, 2.5e6, np.inf, -np.inf, np.nan]
ARROW_TEXT = pd.ArrowDtype(pa.large_string())
TEXTS = ["", "a", "b", "CA", "NY", "é", "日本", "🙂", "a b", "None", "nan", "0", "1.5"]


def _numbers(draw: Any, n: int, pool: list[float], *, ints: bool) -> np.ndarray:
    if draw(st.booleans()):  # a value pool (ties, constant columns, few distinct values)
        values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    else:
        values = draw(
            st.lists(
                st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(pool),
                min_size=n,
                max_size=n,
            )
        )
    out = np.asarray(values, dtype=float)
    if ints:
        out = np.nan_to_num(out, nan=0.0, posinf=5.0, neginf=-5.0).clip(-1e6, 1e6).round()
    return out


@st.composite
def numeric_pair(draw: Any) -> tuple[pd.Series, pd.Series]:
    ints = draw(st.booleans())
    pools = [
        draw(st.lists(st.sampled_from(FLOATS), min_size=1, max_size=8)),
        draw(st.lists(st.sampled_from(FLOATS), min_size=1, max_size=8)),
    ]
    sides = []
    for pool in pools:
        n = draw(st.integers(1, 60))
        values = _numbers(draw, n, pool, ints=ints)
        sides.append(pd.Series(values.astype(np.int64) if ints else values, name="x"))
    return sides[0], sides[1]


@st.composite
def text_pair(draw: Any) -> tuple[pd.Series, pd.Series]:
    dtype = draw(
        st.sampled_from(
            ["str", "object", "category", "string[python]", "string[pyarrow]", ARROW_TEXT]
        )
    )
    alphabet = st.sampled_from(TEXTS) | st.text(string.ascii_lowercase + "éü ", max_size=3)
    sides = []
    for _ in range(2):
        pool = draw(st.lists(alphabet, min_size=1, max_size=6))
        values = draw(st.lists(st.sampled_from([*pool, None]), min_size=1, max_size=60))
        sides.append(pd.Series(values, name="x", dtype=dtype))
    return sides[0], sides[1]


@st.composite
def bool_pair(draw: Any) -> tuple[pd.Series, pd.Series]:
    nullable = draw(st.booleans())
    sides = []
    for _ in range(2):
        values = draw(st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=40))
        if nullable:
            sides.append(pd.Series(values, name="x", dtype="boolean"))
        else:
            sides.append(pd.Series([bool(v) for v in values], name="x"))
    return sides[0], sides[1]


@st.composite
def datetime_pair(draw: Any) -> tuple[pd.Series, pd.Series]:
    tz = draw(st.sampled_from([None, "UTC", "Europe/Paris"]))
    sides = []
    for start in ("2024-01-01", draw(st.sampled_from(["2024-01-01", "2024-06-01"]))):
        days = draw(st.lists(st.integers(0, 400) | st.none(), min_size=1, max_size=40))
        hours = draw(st.booleans())
        stamps = [
            None if d is None else pd.Timestamp(start) + pd.Timedelta(hours=d if hours else 24 * d)
            for d in days
        ]
        sides.append(pd.Series(pd.to_datetime(stamps), name="x").dt.tz_localize(tz))
    return sides[0], sides[1]


@st.composite
def mixed_pair(draw: Any) -> tuple[pd.Series, pd.Series]:
    """A numeric baseline against a text production (and the reverse): categorical bins."""
    base, _ = draw(numeric_pair())
    _, prod = draw(text_pair())
    return (base, prod) if draw(st.booleans()) else (prod, base)


ANY_PAIR = st.one_of(numeric_pair(), text_pair(), bool_pair(), datetime_pair(), mixed_pair())
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _codes_or_error(bins: ColumnBins, series: pd.Series, fn: Any) -> Any:
    try:
        return fn(bins, series).tolist(), np.asarray(fn(bins, series)).dtype
    except ValueError as err:
        return str(err)


def _same_bins(got: ColumnBins, want: ColumnBins) -> None:
    assert got == want
    assert [type(c) for c in got.categories] == [type(c) for c in want.categories]


@SETTINGS
@given(pair=ANY_PAIR, bins=st.integers(1, 12), min_count=st.integers(1, 15))
def test_fit_bins_and_codes_equal_the_original(
    pair: tuple[pd.Series, pd.Series], bins: int, min_count: int
) -> None:
    base, prod = pair
    got = fit_bins(base, prod, bins=bins, min_count=min_count)
    want = old_fit_bins(base, prod, bins=bins, min_count=min_count)
    _same_bins(got, want)
    for series in (base, prod):
        assert _codes_or_error(got, series, ColumnBins.codes) == _codes_or_error(
            want, series, old_codes
        )
    # Baseline-only bins: production values may be unseen (pooled, or the same error).
    alone = fit_bins(base, bins=bins, min_count=min_count)
    _same_bins(alone, old_fit_bins(base, bins=bins, min_count=min_count))
    assert _codes_or_error(alone, prod, ColumnBins.codes) == _codes_or_error(
        alone, prod, old_codes
    )


@SETTINGS
@given(pair=ANY_PAIR, bins=st.integers(1, 12), min_count=st.integers(1, 15))
def test_bin_counts_are_a_bincount_of_the_codes(
    pair: tuple[pd.Series, pd.Series], bins: int, min_count: int
) -> None:
    base, prod = pair
    views = ColumnValues(base), ColumnValues(prod)
    fitted = fit_column_bins(*views, bins=bins, min_count=min_count)
    assert fitted == old_fit_bins(base, prod, bins=bins, min_count=min_count)
    for view, series in zip(views, pair, strict=True):
        want = np.bincount(old_codes(fitted, series), minlength=len(fitted.labels))
        assert bin_counts(fitted, view).tolist() == want.tolist()
        assert view.missing == int(series.isna().sum())
        if view.numeric:
            assert view.sorted.tolist() == sorted_values(series).tolist()
            floats = as_float(series)
            assert view.finite.tolist() == np.sort(floats[np.isfinite(floats)]).tolist()


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64)
        | st.sampled_from([0.0, 1.0, 1.0, 2.0, -1e308, 1e308]),
        min_size=1,
        max_size=80,
    ),
    bins=st.integers(2, 40),
)
def test_sorted_quantiles_are_numpys(values: list[float], bins: int) -> None:
    x = np.sort(np.asarray(values))
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    with np.errstate(all="ignore"):  # huge values overflow b - a alike in both
        want = np.quantile(x, qs, method="linear")
        got = _sorted_quantiles(x, qs)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(
    edges=st.lists(
        st.floats(allow_nan=False, allow_infinity=False), min_size=0, max_size=50, unique=True
    ),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=60),
)
def test_range_codes_are_searchsorted(edges: list[float], values: list[float]) -> None:
    e = np.unique(np.asarray(edges, dtype=float))  # strictly increasing, -0.0 == 0.0 merged
    v = np.asarray(values, dtype=float)
    want = np.searchsorted(e, v, side="right")
    ok = ~np.isnan(v)  # NaN rows get the missing code from the caller
    assert _range_codes(e, v)[ok].tolist() == want[ok].tolist()


def test_many_edges_take_the_binary_search() -> None:
    rng = np.random.default_rng(0)
    values = pd.Series(rng.normal(size=5000), name="x")
    fitted = fit_bins(values, bins=_COMPARE_MAX_EDGES + 10)
    assert len(fitted.edges) > _COMPARE_MAX_EDGES
    assert fitted.codes(values).tolist() == old_codes(fitted, values).tolist()


def test_arrow_strings_with_unseen_values_pool_or_raise() -> None:
    base = pd.Series(["a"] * 5 + ["b"] * 5 + ["rare"], name="c", dtype="str")
    prod = pd.Series(["a", "zz", None, "b", "rare"], name="c", dtype="str")
    pooled = fit_bins(base, min_count=2)
    assert pooled.labels == ("a", "b", OTHER, MISSING)
    assert pooled.codes(prod).tolist() == [0, 2, 3, 1, 2] == old_codes(pooled, prod).tolist()
    strict = fit_bins(base)
    with pytest.raises(ValueError, match="value 'zz' was not seen"):
        strict.codes(prod)
    # Non-text categories never match text: pooled like the original.
    numbers = fit_bins(pd.Series([1, 2, 2, 1], name="c"), prod, min_count=2)
    assert numbers.codes(prod).tolist() == old_codes(numbers, prod).tolist()


def test_codes_of_a_million_rows_equal_the_original() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    cats = np.array([f"v{i}" for i in range(40)], dtype=object)
    text = pd.Series(cats[rng.integers(0, 40, n)], name="t", dtype="str")
    text[rng.random(n) < 0.01] = None
    nums = pd.Series(rng.lognormal(size=n), name="x")
    nums[rng.random(n) < 0.01] = np.nan
    for series in (text, nums, text.astype("category"), text.astype(object)):
        fitted = fit_bins(series.iloc[: n // 2], series.iloc[n // 2 :], min_count=20_000)
        assert fitted == old_fit_bins(
            series.iloc[: n // 2], series.iloc[n // 2 :], min_count=20_000
        )
        assert np.array_equal(fitted.codes(series), old_codes(fitted, series))
