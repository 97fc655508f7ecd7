"""Drift: how far each column's distribution moved from the baseline to production.

This module owns the drift-test registry (`DRIFT_TESTS`), drift of one column
(`drift_between`), of every column of an analysis, optionally inside a slice (`feature_drift`),
chart-ready histograms (`histogram`) and the ``drift`` report section.

Bins
    Every test that compares histograms uses `tracing.binning.fit_bins`: numeric columns get
    baseline quantile bins (default 10) with open outer bins; categorical columns get one bin
    per value seen on either side, values below ``min_share`` of the smaller dataset pooled into
    ``"(other)"`` (Deepchecks pools below 1% by default); missing values always have their own
    bin, so a change in the missing rate is drift too.

KS and Wasserstein
    Computed on the raw finite values (missing and infinite values left out). Up to 100,000
    rows per side they are exact: the merged empirical CDFs. Above, the CDFs are evaluated at
    16,384 quantiles of each side plus every value in each side's extreme 1/16,384 (the values
    at `grid_ranks` of each side; NannyML likewise bins both tests above 10,000 rows): between
    grid points each CDF moves by at most 1/16,384, so KS is within 0.00006 of exact, and the
    normalised Wasserstein distance within 0.001 in our tests. A million-row column then takes
    milliseconds, not scipy's 0.2 s (KS) and 0.6 s (Wasserstein). The KS p-value is scipy's
    exact one up to 10,000 rows; above, it comes from Kolmogorov's limiting distribution
    (``kstwobign``): within 5% of the ``kstwo.sf`` that ``scipy.stats.ks_2samp`` uses for
    p-values above 1e-6, but always fast (``kstwo.sf`` can take 0.4 s per call at a million
    rows). A constant baseline (every finite value equal) has no scale, so its Wasserstein
    distance is NaN.

Engines
    The tests read only a `ColumnPair`: bin counts, and each side's sorted finite values as an
    array or as value-count runs (`SortedValues`), or the grid's CDF gaps themselves. A SQL
    engine (`tracing.engine_drift`) fills one from what it counts and gets memory's numbers.

Smoothing
    PSI and KL take logarithms of bin shares, so an empty bin would make them infinite. Both use
    additive (Jeffreys) smoothing: every bin that holds rows on at least one side gets half a
    row on both sides, ``share = (count + 0.5) / (n + 0.5 * k)``. Bins empty on both sides are
    dropped. JS and chi-square work on the raw counts (they are finite without smoothing).

Verdict
    At a million rows every p-value is tiny, so the verdict rests on effect sizes: a column's
    ``severity`` is the highest level (``none`` < ``warn`` < ``alert``) reached by PSI, JS or
    Wasserstein. ``drifted`` is true from ``warn`` up. Defaults (`DRIFT_TESTS`):

    ============  ======  ======  ==========================================================
    test          warn    alert   why
    ============  ======  ======  ==========================================================
    psi           0.10    0.25    the common credit-scoring convention (Evidently: 0.1)
    js            0.13    0.20    base-2 distance; on a normal mean shift PSI 0.1 ~ JS 0.13
                                  and PSI 0.25 ~ JS 0.21. Evidently flags natural-log JS at
                                  0.1 (= 0.12 in base 2); NannyML uses mean + 3 sigma of
                                  reference chunks.
    wasserstein   0.30    0.50    W1 / baseline std, i.e. a mean shift in standard
                                  deviations; PSI 0.1 ~ 0.32 sigma, 0.25 ~ 0.5 sigma.
                                  Evidently's 0.1 sigma fires on shifts PSI calls noise.
    ============  ======  ======  ==========================================================

    KL, KS and chi-square are shown beside (their thresholds apply when they are chosen to
    decide). An effect-size verdict also needs a significant difference: at least one of the
    chi-square test on the bins and, for numeric columns, the KS test must reject "same
    distribution" at ``alpha`` (default 0.05). With many rows this never bites; on small
    slices it stops sampling noise (PSI's bias is about ``(k - 1)(1/n_b + 1/n_p)``) from
    raising false alerts.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.analysis import Analysis
from tracing.binning import ColumnBins, ColumnValues, bin_counts, fit_column_bins
from tracing.codes import column_counts
from tracing.errors import DataError
from tracing.memo import per_analysis
from tracing.options import DriftOptions
from tracing.vocab import DriftDirection, Severity

__all__ = [
    "CATEGORICAL",
    "CDF_GRID",
    "DRIFT_TESTS",
    "EXACT_CDF_MAX_N",
    "NUMERIC",
    "SEVERITIES",
    "ColumnPair",
    "DriftDirection",
    "DriftResult",
    "DriftTest",
    "SortedValues",
    "drift_between",
    "drift_columns",
    "drift_row",
    "exact_gaps",
    "feature_drift",
    "gaps_at",
    "grid_gaps",
    "grid_ranks",
    "histogram",
    "ranked",
    "thresholds_text",
    "value_counts",
]

Array = NDArray[np.float64]
SEVERITIES = (Severity.NONE, Severity.WARN, Severity.ALERT)  # the drift part of the scale
NUMERIC, CATEGORICAL = "numeric", "categorical"
_SMOOTHING = 0.5
_EXACT_KS_MAX_N = 10_000  # scipy's own limit for the exact KS distribution
EXACT_CDF_MAX_N = 100_000
"""Finite values per side up to which KS and Wasserstein use the exact merged CDFs."""
CDF_GRID = 16_384
"""Quantile ranks per side of the CDF grid above `EXACT_CDF_MAX_N` (see `grid_ranks`)."""


class ColumnPair:
    """What the drift tests read about one column on both sides, whichever engine counted it.

    Every test (`DRIFT_TESTS`) reads only these attributes, so the in-memory engine (`_Pair`)
    and the SQL engines (`tracing.engine_drift`) run one copy of each test's math.

    Parameters
    ----------
    kind : {"numeric", "categorical"}
        Numeric columns also get KS and Wasserstein.
    n : (int, int)
        Rows per side (missing included).
    bins : ColumnBins
        The shared bins.
    counts : (array, array)
        Rows per bin per side (the last bin: missing).

    Subclasses give each side's sorted finite values (`sorted`) or override what KS and
    Wasserstein read of them (`finite_n`, `finite`, `cdf_gaps`, `scale`); categorical columns
    never ask.
    """

    def __init__(
        self,
        kind: str,
        n: tuple[int, int],
        bins: ColumnBins,
        counts: tuple[NDArray[np.int64], NDArray[np.int64]],
    ) -> None:
        self.kind = kind
        self.n = n
        self.bins = bins
        self.counts = counts

    @cached_property
    def used(self) -> NDArray[np.bool_]:
        """Bins holding rows on at least one side."""
        return (self.counts[0] + self.counts[1]) > 0

    @cached_property
    def smoothed(self) -> tuple[Array, Array]:
        """Smoothed bin shares (baseline, production) over the used bins."""
        k = int(self.used.sum())
        b, p = ((c[self.used] + _SMOOTHING) / (c.sum() + _SMOOTHING * k) for c in self.counts)
        return b, p

    @property
    def sorted(self) -> tuple[SortedValues, SortedValues]:
        """Each side's sorted finite values (numeric columns)."""
        raise NotImplementedError

    @property
    def finite_n(self) -> tuple[int, int]:
        """Finite values per side."""
        return len(self.sorted[0]), len(self.sorted[1])

    @property
    def finite(self) -> tuple[Array, Array]:
        """Sorted finite values per side: the exact KS p-value (up to `_EXACT_KS_MAX_N`)."""
        return self.sorted[0].array(), self.sorted[1].array()

    @cached_property
    def cdf_gaps(self) -> tuple[Array, Array]:
        """Points x_k and the CDF gap F_baseline(x_k) - F_production(x_k) at each of them.

        Exact (every distinct value) up to ``EXACT_CDF_MAX_N`` finite values per side; above,
        on the grid of `grid_ranks` (see the module docstring).
        """
        if uses_grid(self.finite_n):
            return grid_gaps(*self.sorted)
        return exact_gaps(*self.finite)

    @cached_property
    def scale(self) -> float:
        """Population std of the baseline's finite values (NaN when they are all equal)."""
        return self.sorted[0].std()


class SortedValues:
    """One side's sorted finite values, held whole (an array) or as runs (value counts).

    The CDF grid reads only the values at given ranks (`take`) and the rows at or below given
    points (`count_le`), so the same grid comes from an array in memory and from the value
    counts a SQL engine returns.

    Parameters
    ----------
    values : array
        Sorted distinct values (``counts`` given) or every sorted value (``counts`` None).
    counts : array of int, optional
        Rows per value.

    Examples
    --------
    >>> runs = SortedValues(np.array([1.0, 2.0, 5.0]), np.array([2, 1, 3]))
    >>> len(runs), runs.take(np.array([0, 1, 2, 5])).tolist(), runs.count_le(np.array([2.0]))
    (6, [1.0, 1.0, 2.0, 5.0], array([3]))
    >>> runs.array().tolist() == SortedValues(runs.array()).array().tolist()
    True
    """

    def __init__(self, values: Array, counts: NDArray[np.int64] | None = None) -> None:
        self.values = values
        self.ends = None if counts is None else np.cumsum(counts, dtype=np.int64)

    def __len__(self) -> int:
        return (
            len(self.values) if self.ends is None else int(self.ends[-1]) if len(self.ends) else 0
        )

    def take(self, ranks: NDArray[np.int64]) -> Array:
        """Return the values at 0-based ranks of the sorted rows."""
        if self.ends is None:
            return self.values[ranks]
        return self.values[np.searchsorted(self.ends, ranks, side="right")]

    def count_le(self, points: Array) -> NDArray[np.int64]:
        """Rows at or below each point."""
        found = np.searchsorted(self.values, points, side="right")
        if self.ends is None:
            return found.astype(np.int64)
        below: NDArray[np.int64] = np.r_[np.int64(0), self.ends][found]
        return below

    def array(self) -> Array:
        """Return every sorted value (runs repeated: for small sides only)."""
        if self.ends is None:
            return self.values
        return np.repeat(self.values, np.diff(np.r_[np.int64(0), self.ends]))

    def std(self) -> float:
        """Return the population std (NaN when every value is equal, or none is given).

        ``np.std`` of the values themselves up to `EXACT_CDF_MAX_N` rows, so a small side's
        runs give the very float its array gives; above, from the runs.
        """
        if not len(self) or self.values[0] == self.values[-1]:
            return math.nan
        if self.ends is None or len(self) <= EXACT_CDF_MAX_N:
            std = float(np.std(self.array()))
        else:
            weights = np.diff(np.r_[np.int64(0), self.ends]) / len(self)
            mean = float(np.sum(weights * self.values))
            std = math.sqrt(float(np.sum(weights * (self.values - mean) ** 2)))
        # values a few 1e-278 apart: the variance underflows, so there is no scale either
        return std if std > 0 else math.nan


def grid_ranks(n: int) -> NDArray[np.int64]:
    """Return the 0-based ranks of a side's sorted finite values the CDF grid keeps.

    The ranks ``floor(k n / CDF_GRID)`` for ``k = 0 .. CDF_GRID - 1`` (its quantiles) and the
    first and last ``n // CDF_GRID + 2`` ranks: the tails (the first and last grid step) are
    kept whole, since their segments are the widest, so an approximation there would cost the
    most. `tracing.engine_drift` selects the same ranks in SQL (its test checks it).
    """
    at = np.linspace(0, 1, CDF_GRID, endpoint=False)
    tail = min(n // CDF_GRID + 2, n)
    head = np.arange(tail, dtype=np.int64)
    return np.unique(np.concatenate([(at * n).astype(np.int64), head, n - 1 - head]))


def exact_gaps(xb: Array, xp: Array) -> tuple[Array, Array]:
    """CDF gaps at every distinct value of two sorted arrays (the merged empirical CDFs)."""
    x = np.concatenate([xb, xp])
    order = np.argsort(x, kind="stable")  # two sorted runs: a linear merge
    xs = x[order]
    in_b = np.cumsum(order < len(xb), dtype=np.int64)  # baseline rows <= xs[i]
    rank = np.arange(1, len(x) + 1, dtype=np.int64)
    tied = xs[1:] == xs[:-1]
    if tied.any():  # evaluate the CDFs only after the last row of each tie group
        ends = np.flatnonzero(~np.append(tied, False))
        xs, in_b, rank = xs[ends], in_b[ends], rank[ends]
    nb, np_ = len(xb), len(xp)
    return xs, in_b * ((nb + np_) / (nb * np_)) - rank / np_


def grid_gaps(baseline: SortedValues, production: SortedValues) -> tuple[Array, Array]:
    """CDF gaps at each side's values at `grid_ranks` (the union of both sides' points)."""
    parts = [side.take(grid_ranks(len(side))) for side in (baseline, production)]
    grid = np.unique(np.concatenate(parts))
    return gaps_at(
        grid, baseline.count_le(grid), production.count_le(grid), len(baseline), len(production)
    )


def gaps_at(
    grid: Array, below_b: NDArray[np.int64], below_p: NDArray[np.int64], nb: int, np_: int
) -> tuple[Array, Array]:
    """CDF gaps at sorted points from the rows of each side at or below each point."""
    return grid, below_b / nb - below_p / np_


def uses_grid(finite_n: tuple[int, int]) -> bool:
    """Whether KS and Wasserstein run on the grid (more than `EXACT_CDF_MAX_N` on a side)."""
    return max(finite_n) > EXACT_CDF_MAX_N


class _Pair(ColumnPair):
    """One column on both sides, read and binned once in memory."""

    def __init__(
        self,
        baseline: ColumnValues,
        production: ColumnValues,
        *,
        bins: int,
        min_share: float,
    ) -> None:
        # An all-missing side (read as text) does not make a numeric column categorical; the
        # same rule as fit_bins, so the kind and the bins agree.
        both_numeric = baseline.numeric and (production.numeric or production.all_missing)
        self.values = (baseline, production)
        n = (len(baseline.series), len(production.series))
        min_count = max(1, math.ceil(min_share * min(n)))
        fitted = fit_column_bins(baseline, production, bins=bins, min_count=min_count)
        # Row counts per bin from the sorted values or the value counts the fit already
        # computed: no second sort or count, and no code per row.
        counts = (bin_counts(fitted, baseline), bin_counts(fitted, production))
        super().__init__(NUMERIC if both_numeric else CATEGORICAL, n, fitted, counts)

    @cached_property
    def sorted(self) -> tuple[SortedValues, SortedValues]:
        """Each side's sorted finite values (`tracing.binning.ColumnValues.finite`)."""
        return SortedValues(self.values[0].finite), SortedValues(self.values[1].finite)


# ---------------------------------------------------------------------------------------------
# The statistics (each returns the statistic and a p-value or None)

Outcome = tuple[float, float | None]


def _psi(pair: ColumnPair) -> Outcome:
    b, p = pair.smoothed
    return float(np.sum((p - b) * np.log(p / b))), None


def _kl(pair: ColumnPair) -> Outcome:
    b, p = pair.smoothed  # both sum to 1 and are > 0: scipy.stats.entropy(p, b) in one line
    return float(np.sum(p * np.log(p / b))), None


def _js(pair: ColumnPair) -> Outcome:
    from scipy import special  # scipy loads only when a drift test runs

    b, p = (c / c.sum() for c in pair.counts)
    # scipy.spatial.distance.jensenshannon(b, p, base=2) without its per-call overhead.
    m = (b + p) / 2
    divergence = (special.rel_entr(b, m).sum() + special.rel_entr(p, m).sum()) / 2
    return math.sqrt(max(float(divergence), 0.0) / math.log(2)), None


def _chi2(pair: ColumnPair) -> Outcome:
    from scipy import special

    table = np.vstack(pair.counts)[:, pair.used]
    if table.shape[1] < 2:
        return 0.0, 1.0
    # scipy.stats.chi2_contingency(table, correction=False) in closed form: its per-call
    # overhead (~2 ms) dominated drift on files with thousands of columns.
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return statistic, float(special.chdtrc(dof, statistic))


def _ks(pair: ColumnPair) -> Outcome:
    from scipy import stats

    nb, np_ = pair.finite_n
    if not nb or not np_:
        return math.nan, None
    if max(nb, np_) <= _EXACT_KS_MAX_N:
        with warnings.catch_warnings():  # scipy falls back to asymp itself when exact fails
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ks_2samp(*pair.finite)
        return float(res.statistic), float(res.pvalue)
    # Large samples: the statistic from the CDF gaps (shared with Wasserstein) and the
    # p-value from Kolmogorov's limiting distribution. scipy's ks_2samp uses kstwo.sf(d, en)
    # here, within a few percent of it, but that call can take 0.4 s at a million rows.
    _, gaps = pair.cdf_gaps
    d = float(np.max(np.abs(gaps)))
    en = nb * np_ / (nb + np_)
    return d, float(np.clip(stats.kstwobign.sf(math.sqrt(en) * d), 0.0, 1.0))


def _wasserstein(pair: ColumnPair) -> Outcome:
    if not min(pair.finite_n):
        return math.nan, None
    std = pair.scale
    if math.isnan(std):
        return math.nan, None  # constant baseline: no scale to normalise by
    x, gaps = pair.cdf_gaps
    # W1 = integral of |F_b - F_p|: both CDFs are flat between consecutive distinct values
    # (on the grid: the gap at each grid point stands for the segment after it).
    return float(np.sum(np.abs(gaps[:-1]) * np.diff(x))) / std, None


@dataclass(frozen=True)
class DriftTest:
    """One drift statistic with its defaults.

    Attributes
    ----------
    id : str
        Column name in results (``psi``); the p-value, if any, is ``<id>_p_value``.
    name : str
        Display name.
    kinds : frozenset of {"numeric", "categorical"}
        Column kinds it applies to (NaN elsewhere).
    warn, alert : float
        Default thresholds on the thresholded value (see ``measure``).
    direction : DriftDirection
        ``LARGER_IS_MORE_DRIFT`` (distances) or ``SMALLER_IS_MORE_DRIFT`` (p-values).
    measure : {"effect_size", "p_value"}
        What the thresholds apply to: the statistic itself, or the test's p-value.
    decides : bool
        Whether it votes in the default verdict (the effect sizes do).
    symmetric : bool
        Whether swapping the datasets leaves the statistic unchanged (for equal bins).
    compute : callable
        Binned column pair -> (statistic, p-value or None).
    description : str
        One line for tooltips and docs.
    """

    id: str
    name: str
    kinds: frozenset[str]
    warn: float
    alert: float
    direction: DriftDirection
    measure: str
    decides: bool
    symmetric: bool
    compute: Callable[[ColumnPair], Outcome]
    description: str = ""

    @property
    def has_p_value(self) -> bool:
        """Whether the test reports a p-value (``<id>_p_value``)."""
        return self.measure == "p_value"

    def level(self, value: float, thresholds: tuple[float, float] | None = None) -> Severity:
        """Severity of a thresholded value: ``none``, ``warn`` or ``alert``."""
        warn, alert = thresholds or (self.warn, self.alert)
        if value is None or math.isnan(value):
            return Severity.NONE
        if self.direction is DriftDirection.SMALLER_IS_MORE_DRIFT:
            value, warn, alert = -value, -warn, -alert
        if value >= alert:
            return Severity.ALERT
        return Severity.WARN if value >= warn else Severity.NONE


_BOTH = frozenset({NUMERIC, CATEGORICAL})
_NUM = frozenset({NUMERIC})

_REGISTRY: tuple[DriftTest, ...] = (
    DriftTest(
        id="psi",
        name="Population stability index",
        kinds=_BOTH,
        warn=0.1,
        alert=0.25,
        direction=DriftDirection.LARGER_IS_MORE_DRIFT,
        measure="effect_size",
        decides=True,
        symmetric=True,
        compute=_psi,
        description="Sum over bins of (p - b) ln(p / b), smoothed shares.",
    ),
    DriftTest(
        id="js",
        name="Jensen-Shannon distance",
        kinds=_BOTH,
        warn=0.13,
        alert=0.2,
        direction=DriftDirection.LARGER_IS_MORE_DRIFT,
        measure="effect_size",
        decides=True,
        symmetric=True,
        compute=_js,
        description="Square root of the JS divergence, base 2: 0 same, 1 disjoint.",
    ),
    DriftTest(
        id="kl",
        name="Kullback-Leibler divergence",
        kinds=_BOTH,
        warn=0.05,
        alert=0.125,
        direction=DriftDirection.LARGER_IS_MORE_DRIFT,
        measure="effect_size",
        decides=False,
        symmetric=False,
        compute=_kl,
        description="KL(production || baseline) in nats, smoothed shares (~ PSI / 2).",
    ),
    DriftTest(
        id="ks",
        name="Kolmogorov-Smirnov",
        kinds=_NUM,
        warn=0.05,
        alert=0.01,
        direction=DriftDirection.SMALLER_IS_MORE_DRIFT,
        measure="p_value",
        decides=False,
        symmetric=True,
        compute=_ks,
        description="Largest gap between the two CDFs, with its two-sided p-value.",
    ),
    DriftTest(
        id="chi2",
        name="Chi-square",
        kinds=_BOTH,
        warn=0.05,
        alert=0.01,
        direction=DriftDirection.SMALLER_IS_MORE_DRIFT,
        measure="p_value",
        decides=False,
        symmetric=True,
        compute=_chi2,
        description=(
            "Chi-square test of homogeneity on the bin counts (numeric: the quantile bins), "
            "with its p-value."
        ),
    ),
    DriftTest(
        id="wasserstein",
        name="Wasserstein (normalised)",
        kinds=_NUM,
        warn=0.3,
        alert=0.5,
        direction=DriftDirection.LARGER_IS_MORE_DRIFT,
        measure="effect_size",
        decides=True,
        symmetric=False,
        compute=_wasserstein,
        description=(
            "Earth mover's distance divided by the baseline's standard deviation (population "
            "std; NaN for a constant baseline)."
        ),
    ),
)

DRIFT_TESTS: dict[str, DriftTest] = {t.id: t for t in _REGISTRY}


def thresholds_text() -> str:
    """Say the default thresholds of the deciding tests, from `DRIFT_TESTS` (for captions).

    Examples
    --------
    >>> for part in thresholds_text().split(", "):
    ...     print(part)
    PSI from 0.1 (warn) or 0.25 (alert)
    Jensen-Shannon distance from 0.13/0.20
    Wasserstein in baseline standard deviations from 0.3/0.5
    """
    psi, js, wasserstein = (DRIFT_TESTS[t] for t in ("psi", "js", "wasserstein"))
    return (
        f"PSI from {psi.warn:g} (warn) or {psi.alert:g} (alert), Jensen-Shannon distance from "
        f"{js.warn:.2f}/{js.alert:.2f}, Wasserstein in baseline standard deviations from "
        f"{wasserstein.warn:g}/{wasserstein.alert:g}"
    )


# ---------------------------------------------------------------------------------------------
# One column


def drift_between(
    baseline: pd.Series,
    production: pd.Series,
    *,
    bins: int = DriftOptions.bins,
    min_share: float = DriftOptions.min_share,
    alpha: float | None = DriftOptions.alpha,
    thresholds: Mapping[str, tuple[float, float]] | None = None,
    verdict: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every drift statistic of one column, baseline vs production, and the verdict.

    Parameters
    ----------
    baseline, production : Series
        The column's values on each side (their name is the ``feature``).
    bins : int, default 10
        Quantile bins for numeric columns (see `tracing.binning.fit_bins`).
    min_share : float, default 0.01
        Categorical values rarer than this share of the smaller side are pooled into
        ``"(other)"``.
    alpha : float or None, default 0.05
        A verdict also needs the chi-square (or KS) p-value below ``alpha``; None disables.
    thresholds : mapping, optional
        Test id -> (warn, alert), overriding `DRIFT_TESTS` defaults.
    verdict : sequence of str, optional
        Test ids that decide the severity (default: the effect sizes psi, js, wasserstein).

    Returns
    -------
    dict
        ``feature``, ``kind``, ``n_baseline``, ``n_production``, ``missing_baseline``,
        ``missing_production`` (shares), one value per test id and ``<id>_p_value`` for tests
        with p-values (NaN when a test does not apply), ``severity``, ``drifted``, ``reason``.

    Raises
    ------
    DataError
        If a side is empty or a threshold/verdict names an unknown test.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> row = drift_between(pd.Series(rng.normal(size=5000), name="x"),
    ...                     pd.Series(rng.normal(1.0, 1, size=5000), name="x"))
    >>> row["severity"], row["drifted"]
    ('alert', True)
    """
    return drift_row(
        _pair(baseline, production, bins=bins, min_share=min_share),
        str(baseline.name),
        alpha=alpha,
        thresholds=thresholds,
        verdict=verdict,
    )


def _pair(
    baseline: pd.Series,
    production: pd.Series,
    *,
    bins: int,
    min_share: float,
    shared: Analysis | None = None,
) -> _Pair:
    """Check both sides have rows and read them (value counts from ``shared``'s cache)."""
    for series, side in ((baseline, "baseline"), (production, "production")):
        if len(series) == 0:
            raise DataError(
                f"column {baseline.name!r}: the {side} has no rows (an empty slice?); "
                "drift needs rows on both sides."
            )
    sides = []
    for series, side in ((baseline, "baseline"), (production, "production")):
        count = None
        if shared is not None:
            name = str(series.name)
            count = functools.partial(value_counts, shared, side=side, column=name)
        sides.append(ColumnValues(series, count=count))
    return _Pair(sides[0], sides[1], bins=bins, min_share=min_share)


def value_counts(analysis: Analysis, *, side: str, column: str) -> pd.Series:
    """Rows per distinct non-missing value of one column of one side, counted once.

    Drift's bins and the quality checks' category checks read the same counts.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    side : {"baseline", "production"}
        Which dataset.
    column : str
        A column of that dataset.

    Returns
    -------
    Series
        `pandas.Series.value_counts` of the column (missing values left out); shared, so
        callers must not modify it.

    Examples
    --------
    >>> from tracing import prepare_analysis, read_table
    >>> a = prepare_analysis(read_table("demo_data/fraud_training.parquet"),
    ...                      read_table("demo_data/fraud_production.parquet"))
    >>> value_counts(a, side="production", column="state").head(2).to_dict()
    {'CA': 5727, 'TX': 2035}
    >>> value_counts(a, side="production", column="state") is value_counts(
    ...     a, side="production", column="state")
    True
    """
    frame = analysis.baseline_frame if side == "baseline" else analysis.production_frame
    return column_counts(frame, column)


def drift_row(
    pair: ColumnPair,
    feature: str,
    *,
    alpha: float | None,
    thresholds: Mapping[str, tuple[float, float]] | None,
    verdict: Sequence[str] | None,
) -> dict[str, Any]:
    """Every test of `DRIFT_TESTS` on one column pair, and the verdict (`drift_between`'s row)."""
    thresholds = dict(thresholds or {})
    deciding = _deciding(verdict, thresholds)
    row: dict[str, Any] = {
        "feature": feature,
        "kind": pair.kind,
        "n_baseline": pair.n[0],
        "n_production": pair.n[1],
        "missing_baseline": pair.counts[0][-1] / pair.n[0],
        "missing_production": pair.counts[1][-1] / pair.n[1],
    }
    for test in _REGISTRY:
        stat, p = test.compute(pair) if pair.kind in test.kinds else (math.nan, math.nan)
        row[test.id] = stat
        if test.has_p_value:
            row[f"{test.id}_p_value"] = math.nan if p is None else p
    row["severity"], row["reason"] = _verdict(row, deciding, thresholds, alpha)
    row["drifted"] = row["severity"] is not Severity.NONE
    return row


def _deciding(
    verdict: Sequence[str] | None, thresholds: Mapping[str, tuple[float, float]]
) -> list[DriftTest]:
    ids = list(verdict) if verdict is not None else [t.id for t in _REGISTRY if t.decides]
    unknown = [i for i in [*ids, *thresholds] if i not in DRIFT_TESTS]
    if unknown:
        raise DataError(
            f"unknown drift test {', '.join(map(repr, unknown))}; "
            f"choose from: {', '.join(DRIFT_TESTS)}."
        )
    return [DRIFT_TESTS[i] for i in ids]


def _verdict(
    row: Mapping[str, Any],
    deciding: Sequence[DriftTest],
    thresholds: Mapping[str, tuple[float, float]],
    alpha: float | None,
) -> tuple[Severity, str]:
    best, reason = Severity.NONE, ""
    for test in deciding:
        value = row[f"{test.id}_p_value"] if test.has_p_value else row[test.id]
        level = test.level(value, thresholds.get(test.id))
        if level > best:
            warn, alert = thresholds.get(test.id, (test.warn, test.alert))
            cut = alert if level is Severity.ALERT else warn
            sign = "<=" if test.direction is DriftDirection.SMALLER_IS_MORE_DRIFT else ">="
            best, reason = level, f"{test.id} {value:.3g} {sign} {cut:g} ({level})"
    if best is Severity.NONE or alpha is None:
        return best, reason
    p_values = [row.get("chi2_p_value", math.nan), row.get("ks_p_value", math.nan)]
    p = min((v for v in p_values if not math.isnan(v)), default=math.nan)
    if not p < alpha:
        return Severity.NONE, f"{reason} but not significant (p = {p:.2g} >= {alpha:g})"
    return best, reason


# ---------------------------------------------------------------------------------------------
# Every column of an analysis


@dataclass(frozen=True)
class DriftResult:
    """Drift of every column of an analysis.

    Attributes
    ----------
    table : DataFrame
        One row per column, ranked by severity (alert first) then PSI. Columns: ``feature``,
        ``role`` (feature / tag / prediction / score / actual), ``kind`` (numeric /
        categorical), ``n_baseline``, ``n_production``, ``missing_baseline``,
        ``missing_production`` (shares), ``psi``, ``js``, ``kl``, ``ks``, ``ks_p_value``,
        ``chi2``, ``chi2_p_value``, ``wasserstein`` (NaN where a test does not apply),
        ``severity`` (none / warn / alert), ``drifted`` (severity at least warn) and
        ``reason`` (which threshold decided).
    bins : dict of str to ColumnBins
        The bins each column was compared on.
    notes : tuple of str
        What the user should know about how it was computed (e.g. a SQL engine's columns
        compared on its sample); empty in memory.
    """

    table: pd.DataFrame
    bins: Mapping[str, ColumnBins]
    notes: tuple[str, ...] = ()

    @property
    def drifted(self) -> list[str]:
        """Columns whose severity is at least ``warn``, most drifted first."""
        return [str(f) for f in self.table.loc[self.table["drifted"], "feature"]]


_ROLE_ORDER = ("feature", "tag", "prediction", "score", "actual")


def drift_columns(analysis: Analysis) -> dict[str, str]:
    """Columns drift is computed on, with their role, in display order.

    Features, tags, the predicted label/value, the score column(s) and the actual (label
    drift). The prediction id and the timestamp are left out: they always "drift".
    """
    roles = analysis.schema.roles
    out: dict[str, str] = {}
    for name, role in (
        *((f, "feature") for f in roles.features),
        *((t, "tag") for t in roles.tags),
        *(((roles.prediction_label, "prediction"),) if roles.prediction_label else ()),
        *((s, "score") for s in roles.prediction_score),
        # Without production actuals (not joined yet) there is no label drift to measure.
        *(
            ((roles.actual_label, "actual"),)
            if roles.actual_label and analysis.has_actuals
            else ()
        ),
    ):
        out.setdefault(name, role)
    return out


@per_analysis
def feature_drift(
    analysis: Analysis,
    *,
    columns: Sequence[str] | None = None,
    bins: int = DriftOptions.bins,
    min_share: float = DriftOptions.min_share,
    mask_baseline: Any = None,
    mask_production: Any = None,
    alpha: float | None = DriftOptions.alpha,
    thresholds: Mapping[str, tuple[float, float]] | None = None,
    verdict: Sequence[str] | None = None,
) -> DriftResult:
    """Drift of every feature, tag, prediction, score and actual, ranked.

    Within a slice, pass boolean row masks: the slice's production rows are compared with the
    same slice's baseline rows (bins fitted on the baseline slice).

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    columns : sequence of str, optional
        Columns to compare (default: `drift_columns`); any column of both datasets.
    bins, min_share, alpha, thresholds, verdict
        As in `drift_between`.
    mask_baseline, mask_production : array-like of bool, optional
        Rows to keep on each side (default: all), e.g. ``tracing.slices.slice_mask(...)``.

    Returns
    -------
    DriftResult

    Raises
    ------
    DataError
        Unknown column, a mask of the wrong length, or an empty side.

    Examples
    --------
    >>> from tracing import prepare_analysis, read_table
    >>> a = prepare_analysis(read_table("demo_data/fraud_training.parquet"),
    ...                      read_table("demo_data/fraud_production.parquet"))
    >>> feature_drift(a).table.iloc[0][["feature", "severity"]].tolist()
    ['merchant_id', 'alert']
    """
    roles = _columns(analysis, columns)
    # Only the compared columns are masked: a slice's rows of every column would be a copy.
    cols = list(roles)
    base = _masked(analysis.baseline_frame, mask_baseline, analysis.names[0], cols)
    prod = _masked(analysis.production_frame, mask_production, analysis.names[1], cols)
    rows, fitted = [], {}
    # Whole datasets share their value counts with the quality checks; a slice counts its own.
    shared = analysis if mask_baseline is None and mask_production is None else None
    for name, role in roles.items():
        pair = _pair(base[name], prod[name], bins=bins, min_share=min_share, shared=shared)
        fitted[name] = pair.bins
        row = drift_row(pair, name, alpha=alpha, thresholds=thresholds, verdict=verdict)
        rows.append({"feature": name, "role": role, **row})
    return ranked(rows, fitted)


def ranked(
    rows: Sequence[Mapping[str, Any]],
    bins: Mapping[str, ColumnBins],
    notes: Sequence[str] = (),
) -> DriftResult:
    """Rank drift rows (`drift_row` plus ``role``) into a `DriftResult`: alert first, then PSI."""
    table = pd.DataFrame(list(rows))
    rank = table["severity"].map(lambda s: Severity(s).rank)
    table = (
        table.assign(_rank=-rank, _psi=-table["psi"].fillna(-np.inf))
        .sort_values(["_rank", "_psi"], kind="mergesort")
        .drop(columns=["_rank", "_psi"])
        .reset_index(drop=True)
    )
    return DriftResult(table=table, bins=dict(bins), notes=tuple(notes))


def _columns(analysis: Analysis, columns: Sequence[str] | None) -> dict[str, str]:
    known = drift_columns(analysis)
    if columns is None:
        return known
    shared = set(analysis.baseline_frame.columns) & set(analysis.production_frame.columns)
    missing = [c for c in columns if c not in shared]
    if missing:
        raise DataError(
            f"column {missing[0]!r} is not in both datasets; choose from: {', '.join(known)}."
        )
    return {c: known.get(c, "other") for c in columns}


def _masked(
    frame: pd.DataFrame, mask: Any, name: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    if mask is None:
        return frame
    frame = frame if columns is None else frame[list(columns)]
    keep = np.asarray(mask, dtype=bool)
    if keep.shape != (len(frame),):
        raise DataError(
            f"{name}: the row mask has {keep.size} entries but the data has {len(frame)} rows; "
            "build the mask from the same dataset."
        )
    if not keep.any():
        raise DataError(
            f"{name}: the slice has no rows here, so drift inside it is undefined "
            "(a slice absent from the baseline is new in production)."
        )
    return frame.loc[keep]


# ---------------------------------------------------------------------------------------------
# Histograms for charts


def histogram(
    data: Analysis | tuple[pd.Series, pd.Series],
    column: str | None = None,
    *,
    bins: int = DriftOptions.bins,
    min_share: float = DriftOptions.min_share,
    mask_baseline: Any = None,
    mask_production: Any = None,
) -> pd.DataFrame:
    """Count one column per shared bin, baseline vs production, for charts.

    Parameters
    ----------
    data : Analysis or (Series, Series)
        An analysis (then ``column`` is required) or a (baseline, production) pair.
    column : str, optional
        Column name (for a pair, defaults to the baseline series' name).
    bins, min_share
        As in `drift_between` (the bins are the ones drift is computed on).
    mask_baseline, mask_production : array-like of bool, optional
        Analysis only: restrict to a slice's rows.

    Returns
    -------
    DataFrame
        One row per bin in display order: ``bin`` (label), ``order`` (0, 1, ...), ``type``
        (``value``, ``other`` for pooled rare categories, ``missing``), ``low``/``high``
        (numeric bin edges, open outer bins as -inf/inf; NaN otherwise), ``count_baseline``,
        ``count_production``, ``share_baseline``, ``share_production`` (of all rows of the
        side, missing included), ``new`` (a category absent from the baseline). The
        ``(missing)`` bar is always present (count 0 when nothing is missing).

    Examples
    --------
    >>> h = histogram((pd.Series(["a", "a", "b"], name="c"), pd.Series(["a", "z", None])))
    >>> h[["bin", "count_baseline", "count_production", "new"]].values.tolist()
    [['a', 2, 1, False], ['b', 1, 0, False], ['z', 0, 1, True], ['(missing)', 0, 1, False]]
    """
    if isinstance(data, Analysis):
        if column is None:
            raise DataError("histogram of an analysis needs a column name.")
        _columns(data, [column])
        base = _masked(data.baseline_frame, mask_baseline, data.names[0], [column])[column]
        prod = _masked(data.production_frame, mask_production, data.names[1], [column])[column]
    else:
        base, prod = data
        column = str(base.name) if column is None else column
    pair = _pair(base.rename(column), prod.rename(column), bins=bins, min_share=min_share)
    return _histogram_frame(pair)


def _histogram_frame(pair: _Pair) -> pd.DataFrame:
    b, p = pair.counts
    k = len(pair.bins.labels)
    kinds = ["value"] * k
    kinds[-1] = "missing"
    if pair.bins.other_code is not None:
        kinds[pair.bins.other_code] = "other"
    low = np.full(k, np.nan)
    high = np.full(k, np.nan)
    if pair.bins.kind == NUMERIC:
        edges = np.asarray(pair.bins.edges, dtype=float)
        low[:-1] = np.r_[-np.inf, edges]
        high[:-1] = np.r_[edges, np.inf]
    new = (b == 0) & (p > 0) & (np.asarray(kinds) == "value") & (pair.bins.kind != NUMERIC)
    return pd.DataFrame(
        {
            "bin": list(pair.bins.labels),
            "order": np.arange(k),
            "type": kinds,
            "low": low,
            "high": high,
            "count_baseline": b,
            "count_production": p,
            "share_baseline": b / pair.n[0],
            "share_production": p / pair.n[1],
            "new": new,
        }
    )


# ---------------------------------------------------------------------------------------------
# Report section
