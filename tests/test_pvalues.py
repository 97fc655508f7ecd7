"""`tracing.pvalues` against scipy.stats, the functions it stands in for on the fast paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tracing.pvalues import normal_quantile, normal_two_sided_p, welch_ttest_from_stats

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


def test_welch_equals_scipy_bit_for_bit():
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
    np.testing.assert_array_equal(ours.statistic, want.statistic)
    np.testing.assert_array_equal(ours.pvalue, want.pvalue)
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
    np.testing.assert_array_equal(ours.pvalue, want.pvalue)
