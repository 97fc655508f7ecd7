"""Normal quantiles and the p-values of the report's fast paths, without ``scipy.stats``.

Importing ``scipy.stats`` costs about a second (most of a quick report's start-up), yet the
overall comparison only needs one normal quantile and the slice search a normal tail and
Welch's t-test. This module gives those from the standard library (the normal) and from
``scipy.special`` (Student's t, loaded on first use, several times lighter than
``scipy.stats``), with scipy's results: Welch's test bit for bit (the same operations on the
same special function), the normal functions within 1e-13 relative (tested over a grid and
the tails).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["WelchResult", "normal_quantile", "normal_two_sided_p", "welch_ttest_from_stats"]

_STANDARD_NORMAL = NormalDist()
_SQRT1_2 = math.sqrt(0.5)  # as scipy's ndtr scales its argument (exactly like it, in the tails)


def normal_quantile(q: float) -> float:
    """Quantile of the standard normal: ``scipy.stats.norm.ppf(q)`` for ``0 < q < 1``.

    Parameters
    ----------
    q : float
        Probability.

    Returns
    -------
    float
        The z with ``P(Z <= z) = q`` (within 1e-15 relative of scipy's); like scipy, -inf
        and inf at 0 and 1, NaN outside [0, 1].

    Examples
    --------
    >>> round(normal_quantile(0.975), 6)
    1.959964
    """
    if 0.0 < q < 1.0:
        return _STANDARD_NORMAL.inv_cdf(q)
    # NormalDist raises at the ends; scipy answers (compare's CI with confidence=1 is infinite).
    return {0.0: -math.inf, 1.0: math.inf}.get(q, math.nan)


def normal_two_sided_p(z: float) -> float:
    """Two-sided tail of the standard normal: ``2 * scipy.stats.norm.sf(abs(z))``.

    Parameters
    ----------
    z : float
        A z statistic (NaN gives NaN).

    Returns
    -------
    float
        ``P(|Z| >= |z|)``, through ``erfc`` so the far tail keeps its relative precision.

    Examples
    --------
    >>> round(normal_two_sided_p(1.959964), 4)
    0.05
    """
    return math.erfc(abs(z) * _SQRT1_2)


class WelchResult(NamedTuple):
    """Welch's t statistic and its two-sided p-value, one per comparison."""

    statistic: NDArray[np.float64]
    pvalue: NDArray[np.float64]


def welch_ttest_from_stats(
    mean1: ArrayLike,
    std1: ArrayLike,
    nobs1: ArrayLike,
    mean2: ArrayLike,
    std2: ArrayLike,
    nobs2: ArrayLike,
) -> WelchResult:
    """Welch's two-sided t-test from summary statistics, vectorised.

    ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)`` bit for bit: the same
    arithmetic (Welch-Satterthwaite degrees of freedom, 1 where undefined) and the same
    Student-t survival function (``scipy.special.stdtr``), without importing ``scipy.stats``.

    Parameters
    ----------
    mean1, std1, nobs1 : array_like
        Mean, sample standard deviation (ddof=1) and size of the first samples.
    mean2, std2, nobs2 : array_like
        The same for the second samples.

    Returns
    -------
    WelchResult
        ``statistic`` and ``pvalue`` arrays (NaN where a standard error is 0 and the means
        are equal).

    Examples
    --------
    >>> res = welch_ttest_from_stats(15.0, 87.5**0.5, 13, 12.0, 39.0**0.5, 11)
    >>> round(float(res.pvalue), 2)
    0.36
    """
    from scipy.special import stdtr  # far lighter than scipy.stats; loads on the first test

    m1, s1, n1 = (np.asarray(a, dtype=np.float64) for a in (mean1, std1, nobs1))
    m2, s2, n2 = (np.asarray(a, dtype=np.float64) for a in (mean2, std2, nobs2))
    vn1, vn2 = s1**2 / n1, s2**2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        # Undefined only when both variances are 0: any df gives the same (degenerate) answer.
        df = np.where(np.isnan(df), 1.0, df)
        t = np.divide(m1 - m2, np.sqrt(vn1 + vn2))
    pvalue = 2 * stdtr(df, -np.abs(t))
    return WelchResult(np.asarray(t, dtype=np.float64), np.asarray(pvalue, dtype=np.float64))
