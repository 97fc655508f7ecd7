"""Normal quantiles and the p-values of the report's fast paths, without scipy.

Importing ``scipy.stats`` costs about a second (most of a quick report's start-up), and even
``scipy.special`` alone a few tenths, yet the overall comparison only needs one normal
quantile and the slice search a normal tail and Welch's t-test. This module gives those from
the standard library and numpy:

- the normal quantile and tail (`statistics.NormalDist`, `math.erfc`), within 1e-13 relative
  of ``scipy.stats.norm`` (tested over a grid and the tails);
- Student's t two-sided tail (`t_two_sided_p`), the regularized incomplete beta function
  ``I_x(df/2, 1/2)`` at ``x = df / (df + t**2)`` evaluated by the methods Boost.Math (which
  ``scipy.special.stdtr`` calls) picks for these arguments: a power series where ``x <=
  0.7``, else DiDonato and Morris' asymptotic expansion in ``df`` (BGRAT, with ``Q(1/2, u) =
  erfc(sqrt(u))``), after a finite sum of 20 terms when ``df < 30``. Against 30-digit mpmath
  it is as accurate as scipy (tests/test_pvalues.py): a few units of ``eps * (1 + |ln p|)``
  relative, the error any double computation of ``p`` carries from the rounding of ``t``;
  more accurate where scipy is not (df = 1 near t = 0, t**2 past the doubles, df > 1/eps);
- Welch's t-test from summary statistics (`welch_ttest_from_stats`), scipy's arithmetic with
  that tail.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "WelchResult",
    "normal_quantile",
    "normal_two_sided_p",
    "t_two_sided_p",
    "welch_ttest_from_stats",
]

_STANDARD_NORMAL = NormalDist()
_SQRT1_2 = math.sqrt(0.5)  # as scipy's ndtr scales its argument (exactly like it, in the tails)
_EPS = sys.float_info.epsilon
_SQRT_PI = math.sqrt(math.pi)


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

    ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``: the same arithmetic
    (Welch-Satterthwaite degrees of freedom, 1 where undefined), so the same statistic bit for
    bit, and the two-sided p-value from `t_two_sided_p` (scipy's within a few units of
    ``eps * (1 + |ln p|)`` relative), without importing scipy.

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
    m1, s1, n1 = (np.asarray(a, dtype=np.float64) for a in (mean1, std1, nobs1))
    m2, s2, n2 = (np.asarray(a, dtype=np.float64) for a in (mean2, std2, nobs2))
    vn1, vn2 = s1**2 / n1, s2**2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        # Undefined only when both variances are 0: any df gives the same (degenerate) answer.
        df = np.where(np.isnan(df), 1.0, df)
        t = np.divide(m1 - m2, np.sqrt(vn1 + vn2))
    pvalue = t_two_sided_p(t, df)
    return WelchResult(np.asarray(t, dtype=np.float64), np.asarray(pvalue, dtype=np.float64))


def t_two_sided_p(t: ArrayLike, df: ArrayLike) -> NDArray[np.float64]:
    """Two-sided tail of Student's t: ``2 * scipy.special.stdtr(df, -abs(t))``, without scipy.

    Parameters
    ----------
    t : array_like
        t statistics (NaN gives NaN, infinite 0).
    df : array_like
        Degrees of freedom, broadcast against ``t``: positive, possibly non-integer or
        infinite (the normal); NaN or <= 0 gives NaN.

    Returns
    -------
    ndarray
        ``P(|T| >= |t|)`` for ``T`` with ``df`` degrees of freedom, as accurate as scipy's
        (module docstring): relative precision is kept in the far tail, down to about 1e-300.

    Examples
    --------
    >>> [round(float(p), 6) for p in t_two_sided_p([1.0, 2.0, 3.0], 10)]
    [0.340893, 0.073388, 0.013344]
    >>> float(t_two_sided_p(1.959963984540054, np.inf))  # the normal
    0.05000000000000003
    """
    tt, dd = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(df, dtype=np.float64))
    out = np.fromiter(
        (_t_tail(abs(float(a)), float(d)) for a, d in zip(tt.flat, dd.flat, strict=True)),
        dtype=np.float64,
        count=tt.size,
    )
    return out.reshape(tt.shape)


def _t_tail(t: float, df: float) -> float:
    """``I_x(df/2, 1/2)`` with ``x = df / (df + t**2)``, for ``t >= 0`` (Boost's choice of method).

    ``ln x = -log1p(t**2 / df)`` and ``1 - x`` are formed without cancellation, so every
    method sees the arguments to full precision.
    """
    if math.isnan(t) or math.isnan(df) or df <= 0:
        return math.nan
    if t == 0:
        return 1.0
    if math.isinf(t):
        return 0.0
    # The normal only at df = inf: Boost switches to it past df = 1/eps, which is off by about
    # t**4 / (4 df) relative in the tail (1e-10 at t = 37); the expansion below is not.
    if math.isinf(df):
        return math.erfc(t * _SQRT1_2)
    a = 0.5 * df
    r = t / df * t
    if r < 1e300:
        lx = -math.log1p(r)
        x, y = 1.0 / (1.0 + r), r / (1.0 + r)
    else:  # t**2 past the doubles (a Cauchy tail of 1e-158 still is one): by logarithms
        lx = math.log(df) - 2.0 * math.log(t) - math.log1p(df / t / t)
        x, y = math.exp(lx), 1.0
    if lx == 0.0:  # t**2 / df underflowed: p is 1 to double precision
        return 1.0
    if y >= 0.3:
        return _beta_series(a, x, lx)
    if a >= 15:
        return _bgrat(a, lx)
    # Small df: the first 20 terms of the recurrence in a, then the expansion at a + 20.
    return _beta_steps(a, x, y, lx, _A_STEPS) + _bgrat(a + _A_STEPS, lx)


_A_STEPS = 20


def _half_gamma_ratio(a: float) -> float:
    """``Gamma(a + 1/2) / Gamma(a)`` for ``a > 0`` to a few ulps.

    `math.gamma` is accurate to about 1e-15 below 8 but loses digits for large arguments
    (7e-14 near 170), so above 8 the ratio comes from the asymptotic series of its logarithm,
    ``ln a / 2 + sum_k (2**(1-k) - 2) B_k / (k (k-1) a**(k-1))`` (Bernoulli numbers ``B_k``,
    k even; from Stirling's series of ``ln Gamma(a + h)``), whose terms past ``k = 30`` are
    below 1e-20 for ``a >= 8``.
    """
    if a < 8.0:
        return math.gamma(a + 0.5) / math.gamma(a)
    inv = 1.0 / a
    inv2 = inv * inv
    total = 0.0
    for c in reversed(_LOG_HALF_RATIO):  # Horner in 1/a**2, times 1/a
        total = total * inv2 + c
    return math.sqrt(a) * math.exp(total * inv)


def _bernoulli(n: int) -> list[Fraction]:
    """Bernoulli numbers ``B_0 .. B_n`` (exact; Akiyama-Tanigawa, ``B_1 = +1/2``)."""
    out, row = [], [Fraction(0)] * (n + 1)
    for m in range(n + 1):
        row[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            row[j - 1] = j * (row[j - 1] - row[j])
        out.append(row[0])
    return out


_B = _bernoulli(30)
_LOG_HALF_RATIO = tuple(
    float((Fraction(2) ** (1 - k) - 2) * _B[k] / (k * (k - 1))) for k in range(2, 31, 2)
)


def _bgrat_coefficients(n: int) -> tuple[float, ...]:
    """DiDonato and Morris' ``p_n`` (their eq. 9.4) for ``b = 1/2``, the series' constants."""
    b = 0.5
    fact = [math.factorial(i) for i in range(2 * n + 2)]
    p = [1.0]
    for k in range(1, n):
        s = sum((m * b - k) * p[k - m] / fact[2 * m + 1] for m in range(1, k))
        p.append(s / k + (b - 1) / fact[2 * k + 1])
    return tuple(p)


_BGRAT_P = _bgrat_coefficients(30)


def _bgrat(a: float, lx: float) -> float:
    """``I_x(a, 1/2)`` for ``a >= 15`` and ``lx = ln x``: DiDonato and Morris' BGRAT.

    Their 1992 paper's eqs. 9 to 9.6 (Boost's ``beta_small_b_large_a_series``). With ``T = a -
    1/4`` and ``u = -T ln x``: a series in ``J_n`` (from ``Q(1/2, u) = erfc(sqrt(u))`` up)
    that converges in a few terms; 0 once ``p`` underflows.
    """
    big_t = a - 0.25
    u = -big_t * lx
    h = math.sqrt(u) * math.exp(-u) / _SQRT_PI  # u**b e**-u / Gamma(b)
    if h == 0.0:
        return 0.0
    prefix = h * _half_gamma_ratio(a) / math.sqrt(big_t)
    j = math.erfc(math.sqrt(u)) / h
    total = prefix * j
    lx2 = (0.5 * lx) ** 2
    lxp = 1.0
    t4 = 4.0 * big_t * big_t
    b2n = 0.5
    for p in _BGRAT_P[1:]:
        j = (b2n * (b2n + 1.0) * j + (u + b2n + 1.0) * lxp) / t4
        lxp *= lx2
        b2n += 2.0
        term = prefix * p * j
        total += term
        if abs(term) <= _EPS * abs(total):
            break
    return total


def _beta_series(a: float, x: float, lx: float) -> float:
    """``I_x(a, 1/2)`` by its power series (Boost's ``ibeta_series``), for ``x <= 0.7``.

    ``x**a / B(a, 1/2) * sum_n (1/2)_n / n! * x**n / (a + n)``: positive terms falling at
    least as ``0.7**n``, so about 100 terms at most.
    """
    term, total, n = 1.0, 1.0 / a, 0
    while True:
        n += 1
        term *= (n - 0.5) / n * x
        add = term / (a + n)
        total += add
        if add <= 0.5 * _EPS * total or n >= 10_000:
            break
    return math.exp(a * lx) * _half_gamma_ratio(a) / _SQRT_PI * total


def _beta_steps(a: float, x: float, y: float, lx: float, k: int) -> float:
    """``I_x(a, 1/2) - I_x(a + k, 1/2)`` (Boost's ``ibeta_a_step``): k positive terms.

    ``x**a y**(1/2) / (a B(a, 1/2)) * (1 + sum_i prod_(j<=i) (a + 1/2 + j) / (a + 1 + j) x)``.
    """
    term, total = 1.0, 1.0
    for i in range(k - 1):
        term *= (a + 0.5 + i) / (a + 1.0 + i) * x
        total += term
    return math.exp(a * lx) * math.sqrt(y) * _half_gamma_ratio(a) / (_SQRT_PI * a) * total
