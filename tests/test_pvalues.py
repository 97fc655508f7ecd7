"""`tracing.pvalues` against scipy, the functions it stands in for on the fast paths, and against
40-digit mpmath (the Student-t tail: the truth both are measured against)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from tracing.pvalues import (
    normal_quantile,
    normal_two_sided_p,
    t_two_sided_p,
    welch_ttest_from_stats,
)

_EPS = np.finfo(float).eps

# Probabilities from deep in the lower tail to the last doubles below 1.
_QUANTILES = np.unique(
    np.concatenate(
        [
            np.logspace(-300, -1, 3001),
            np.linspace(0.001, 0.999, 4001),
            1 - np.logspace(-16, -1, 2001),
            [0.5 + c / 2 for c in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)],
        ]
    )
)


def test_normal_quantile_equals_scipy_over_the_whole_range():
    ours = np.array([normal_quantile(float(q)) for q in _QUANTILES])
    want = stats.norm.ppf(_QUANTILES)
    np.testing.assert_allclose(ours, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_normal_quantile_answers_like_scipy_at_and_beyond_the_ends(q):
    ours, want = normal_quantile(q), float(stats.norm.ppf(q))
    assert ours == want or (math.isnan(ours) and math.isnan(want))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-300, max_value=1.0, exclude_max=True))
def test_normal_quantile_property(q):
    assert normal_quantile(q) == pytest.approx(float(stats.norm.ppf(q)), rel=1e-14, abs=0)


def test_normal_two_sided_p_equals_scipy_including_the_far_tail():
    z = np.concatenate([np.linspace(-38, 38, 40_001), np.logspace(-12, 1.5, 2001)])
    ours = np.array([normal_two_sided_p(float(v)) for v in z])
    want = 2 * stats.norm.sf(np.abs(z))
    normal = want > 1e-300  # below, doubles are subnormal and carry fewer digits
    np.testing.assert_allclose(ours[normal], want[normal], rtol=1e-12, atol=0)
    # Beyond |z| ~ 37.5 scipy flushes to 0 where erfc still gives a subnormal (< 1e-300).
    np.testing.assert_allclose(ours[~normal], want[~normal], rtol=0, atol=1e-300)
    assert normal_two_sided_p(0.0) == 1.0 and normal_two_sided_p(math.inf) == 0.0
    assert math.isnan(normal_two_sided_p(math.nan))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-37.0, max_value=37.0))
def test_normal_two_sided_p_property(z):
    want = float(2 * stats.norm.sf(abs(z)))
    assert normal_two_sided_p(z) == pytest.approx(want, rel=1e-12, abs=0)


def _scipy_welch(*args):
    return stats.ttest_ind_from_stats(*args, equal_var=False)


def _welch_df(s1, n1, s2, n2):
    """Welch-Satterthwaite degrees of freedom, as scipy forms them (1 where undefined)."""
    vn1, vn2 = np.asarray(s1) ** 2 / n1, np.asarray(s2) ** 2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
    return np.where(np.isnan(df), 1.0, df)


def _assert_p_matches_scipy(ours, want, t, df, units=16):
    """Two-sided t tails as close as two double computations can be, or ours the true one.

    Within ``units * eps * (1 + |ln p|)`` relative: the rounding of t alone moves a tail p by
    about ``eps * |ln p|`` relative, in scipy as here (both measured against mpmath below);
    below 1e-300 both are zero or subnormal. Where they differ by more, ours must be the
    40-digit truth (`_mp_t_tail`): scipy's Cauchy formula at exactly 1 degree of freedom
    (0.5 + atan(t) / pi) loses digits near t = 0 (3e-9 relative at t = 1e-8), and its tail
    is 0 once t**2 overflows, where a heavy tail (df <= 2) still is a normal double.
    """
    ours, want, t, df = np.broadcast_arrays(*map(np.atleast_1d, (ours, want, t, df)))
    assert (np.isnan(ours) == np.isnan(want)).all()
    known = ~np.isnan(want)
    normal = known & (want >= 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(ours / np.where(normal, want, 1.0) - 1)
        close = np.where(normal, err <= units * _EPS * (1 - np.log(want)), ours <= 1e-300)
    for i in np.flatnonzero(known & ~close):
        _assert_true_tail(float(ours[i]), float(t[i]), float(df[i]))


def test_welch_equals_scipy():
    rng = np.random.default_rng(7)
    n = 5000
    m1, m2 = rng.normal(0, 2, n), rng.normal(0, 2, n)
    s1, s2 = rng.lognormal(0, 1, n), rng.lognormal(0, 1, n)
    n1 = rng.integers(2, 10**6, n).astype(float)
    n2 = rng.integers(2, 50, n).astype(float)
    # Degenerate rows as the slice search can pass them: one side without spread, both
    # without spread (Welch's df undefined), equal means, two rows per side.
    s1[:50] = 0.0
    s1[50:100] = s2[50:100] = 0.0
    m2[100:150] = m1[100:150]
    n1[150:200] = n2[150:200] = 2.0
    args = (m1, s1, n1, m2, s2, n2)
    ours, want = welch_ttest_from_stats(*args), _scipy_welch(*args)
    # The same statistic bit for bit (the same arithmetic); the p-value from the same tail.
    np.testing.assert_array_equal(ours.statistic, want.statistic)
    _assert_p_matches_scipy(ours.pvalue, want.pvalue, want.statistic, _welch_df(s1, n1, s2, n2))
    assert np.isfinite(ours.pvalue[200:]).all()


def test_welch_on_scalars_matches_scipy_on_the_rows():
    # The summary statistics of two samples give ttest_ind's answer on the samples.
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.0, 1.0, 40), rng.normal(0.4, 2.0, 25)
    res = welch_ttest_from_stats(a.mean(), a.std(ddof=1), len(a), b.mean(), b.std(ddof=1), len(b))
    want = stats.ttest_ind(a, b, equal_var=False)
    assert float(res.statistic) == pytest.approx(want.statistic, rel=1e-12)
    assert float(res.pvalue) == pytest.approx(want.pvalue, rel=1e-12)


_means = st.floats(min_value=-1e6, max_value=1e6)
_stds = st.floats(min_value=0.0, max_value=1e4)
_sizes = st.integers(min_value=2, max_value=10**7)


@settings(max_examples=300, deadline=None)
@given(_means, _stds, _sizes, _means, _stds, _sizes)
def test_welch_property(m1, s1, n1, m2, s2, n2):
    with np.errstate(divide="ignore", invalid="ignore"):
        ours = welch_ttest_from_stats(m1, s1, n1, m2, s2, n2)
        want = _scipy_welch(m1, s1, n1, m2, s2, n2)
    np.testing.assert_array_equal(ours.statistic, want.statistic)
    df = _welch_df(s1, n1, s2, n2)
    _assert_p_matches_scipy(ours.pvalue, want.pvalue, want.statistic, df)


# ---------------------------------------------------------------------------------------------
# Student's t tail: against mpmath (the truth) and scipy.special.stdtr (what it stands in for)


def _mp_t_tail(t, df):
    """``P(|T| >= |t|) = I_x(df/2, 1/2)``, ``x = df / (df + t**2)``, exact for the doubles given.

    At 30 digits, as a Laplace-type integral that is smooth for every ``df`` and ``t`` (no
    hypergeometric series, which stall for large ``df``): with ``a = df/2`` and ``w0 = -ln x
    = log1p(t**2/df)``, ``I_x(a, 1/2) = e**(-a w0) / (a B(a, 1/2)) * int_0^inf e**-v (1 -
    e**(-w0 - v/a))**(-1/2) dv`` (substitute ``s = e**(-w0 - v/a)`` in the beta integral).
    """
    import mpmath as mp

    # ln B(a, 1/2) is a difference of two log-gammas of about a ln a: digits for that too
    with mp.workdps(30 + max(0, int(math.log10(df)))):
        tt, nu = abs(mp.mpf(t)), mp.mpf(df)
        if tt == 0:
            return 1.0
        a, half = nu / 2, mp.mpf(1) / 2
        w0 = mp.log1p(tt * tt / nu)
        log_beta = mp.loggamma(a) + mp.loggamma(half) - mp.loggamma(a + half)
        front = mp.exp(-a * w0 - mp.log(a) - log_beta)
        body = mp.quad(
            lambda v: mp.exp(-v) / mp.sqrt(-mp.expm1(-w0 - v / a)), [0, 1, 4, 16, 64, mp.inf]
        )
        return float(front * body)


def _assert_true_tail(ours, t, df, units=8):
    want = _mp_t_tail(t, df)
    if want < 1e-300:
        assert ours <= 1e-300
        return
    assert abs(ours / want - 1) <= units * _EPS * (1 - math.log(want)), (ours, want)


_T_GRID = [0.0, 1e-9, 1e-4, 0.01, 0.3, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 37.0, 1e3]
_DF_GRID = [0.5, 1.0, 1.5, 2.0, 3.0, 7.5, 14.9, 15.0, 29.9, 30.0, 31.0, 100.0, 1e3, 1e5, 1e7, 1e12]


@pytest.mark.parametrize("df", _DF_GRID)
def test_t_tail_equals_mpmath_over_a_grid(df):
    # Every method's region: the power series (1 - x >= 0.3), the finite sum and expansion
    # (df < 30) and the expansion alone (df >= 30), their borders, huge df and tiny tails.
    for t in _T_GRID:
        _assert_true_tail(float(t_two_sided_p(t, df)), t, df)


_LOG_DF = st.floats(min_value=-0.3, max_value=20.0)
_LOG_T = st.floats(min_value=-10.0, max_value=3.0)


@settings(max_examples=200, deadline=None)
@given(_LOG_T, _LOG_DF)
def test_t_tail_property_against_mpmath(log_t, log_df):
    t, df = 10.0**log_t, 10.0**log_df
    _assert_true_tail(float(t_two_sided_p(t, df)), t, df)


@settings(max_examples=500, deadline=None)
@given(_LOG_T, st.floats(min_value=0.0, max_value=20.0), st.sampled_from([-1.0, 1.0]))
def test_t_tail_property_against_scipy(log_t, log_df, sign):
    # df from 1 to 1e20 (Welch's range, and past scipy's switch to the normal at 1/eps);
    # t from 1e-10 to 1e3, so p from 1 down through 1e-300 to underflow.
    t, df = sign * 10.0**log_t, 10.0**log_df
    want = 2 * special.stdtr(df, -abs(t))
    _assert_p_matches_scipy(t_two_sided_p(t, df), want, t, df)


def test_t_tail_equals_scipy_on_many_draws():
    rng = np.random.default_rng(11)
    n = 20_000
    t = 10 ** rng.uniform(-10, 3, n) * rng.choice([-1.0, 1.0], n)
    df = 10 ** rng.uniform(0, 20, n)
    df[:100] = rng.integers(1, 30, 100)  # whole degrees of freedom too
    _assert_p_matches_scipy(t_two_sided_p(t, df), 2 * special.stdtr(df, -np.abs(t)), t, df)


def test_t_tail_at_the_edges_answers_like_scipy():
    t = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 2.0, 2.0, 2.0, 2.0, 2.0])
    df = np.array([3.0, 1e6, 5.0, 1e9, 4.0, np.inf, np.nan, 0.0, -1.0, 1e300])
    ours = t_two_sided_p(t, df)
    want = 2 * special.stdtr(df, -np.abs(t))
    np.testing.assert_array_equal(ours[:4], [1.0, 1.0, 0.0, 0.0])
    _assert_p_matches_scipy(ours, want, t, df)  # NaN where scipy's is NaN
    assert t_two_sided_p([[1.0], [2.0]], [3.0, 4.0, 5.0]).shape == (2, 3)  # broadcasts


def test_t_tail_of_one_degree_of_freedom_is_cauchy():
    t = np.logspace(-12, 6, 400)
    want = 2 / np.pi * np.arctan2(1.0, t)
    np.testing.assert_allclose(t_two_sided_p(t, 1.0), want, rtol=8 * _EPS)
