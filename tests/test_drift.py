"""Drift statistics against scipy, registry-wide invariants, verdicts, slices and histograms."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from tests.conftest import DEMO
from tracing import prepare_analysis, read_table
from tracing.binning import fit_bins
from tracing.drift import (
    DRIFT_TESTS,
    SEVERITIES,
    DriftDirection,
    drift_between,
    feature_drift,
    histogram,
)
from tracing.errors import DataError
from tracing.render.markdown import drift_section as markdown_section
from tracing.report import build_section, jsonable

RESULT_COLUMNS = [
    "feature", "role", "kind", "n_baseline", "n_production", "missing_baseline",
    "missing_production", "psi", "js", "kl", "ks", "ks_p_value", "chi2", "chi2_p_value",
    "wasserstein", "severity", "reason", "drifted",
]  # fmt: skip


def numeric_pair(n: int = 4000, shift: float = 0.0, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(0, 1, n), name="x"), pd.Series(rng.normal(shift, 1, n), name="x")


def categorical_pair(
    n: int = 4000, p_base=(0.5, 0.3, 0.2), p_prod=(0.5, 0.3, 0.2), seed: int = 0
) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    values = np.array(["a", "b", "c"])
    return (
        pd.Series(rng.choice(values, n, p=p_base), name="c"),
        pd.Series(rng.choice(values, n, p=p_prod), name="c"),
    )


def oracle_counts(base: pd.Series, prod: pd.Series, min_count: int = 1):
    """Bin counts from `fit_bins` codes and np.bincount (independent of drift's counting)."""
    bins = fit_bins(base, prod, bins=10, min_count=min_count)
    k = len(bins.labels)
    cb = np.bincount(bins.codes(base), minlength=k)
    cp = np.bincount(bins.codes(prod), minlength=k)
    used = (cb + cp) > 0
    return cb[used], cp[used]


def smoothed(cb, cp):
    k = len(cb)
    return (cb + 0.5) / (cb.sum() + 0.5 * k), (cp + 0.5) / (cp.sum() + 0.5 * k)


@pytest.fixture(scope="module")
def fraud():
    return prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )


@pytest.fixture(scope="module")
def eta():
    return prepare_analysis(
        read_table(DEMO / "eta_training.parquet"), read_table(DEMO / "eta_production.parquet")
    )


# ---------------------------------------------------------------------------------------------
# Each statistic against an independent oracle


@pytest.mark.parametrize(
    "pair",
    [
        numeric_pair(shift=0.2),
        (pd.Series(np.r_[np.arange(500.0), [np.nan] * 30]), pd.Series(np.arange(40.0, 560.0))),
        categorical_pair(p_prod=(0.3, 0.3, 0.4)),
        (pd.Series(list("aaabbbccd") * 20), pd.Series(list("aabbbcccee") * 20)),
    ],
    ids=["normal", "numeric-missing", "categorical", "new-and-vanished"],
)
def test_binned_statistics_match_scipy_and_the_psi_formula(pair):
    base, prod = pair
    row = drift_between(base, prod, min_share=0)
    cb, cp = oracle_counts(base, prod)
    sb, sp = smoothed(cb, cp)
    assert row["psi"] == pytest.approx(np.sum((sp - sb) * np.log(sp / sb)), rel=1e-12)
    assert row["kl"] == pytest.approx(stats.entropy(sp, sb), rel=1e-12)
    assert row["js"] == pytest.approx(jensenshannon(cb / cb.sum(), cp / cp.sum(), base=2))
    chi2 = stats.chi2_contingency(np.vstack([cb, cp]), correction=False)
    assert row["chi2"] == pytest.approx(chi2.statistic, rel=1e-12)
    assert row["chi2_p_value"] == pytest.approx(chi2.pvalue, rel=1e-9, abs=1e-300)
    assert math.isfinite(row["psi"]) and math.isfinite(row["kl"])


def test_psi_and_kl_stay_finite_with_empty_bins():
    base = pd.Series(["a"] * 100 + ["b"] * 100)
    prod = pd.Series(["c"] * 200)  # no overlap at all
    row = drift_between(base, prod)
    assert math.isfinite(row["psi"]) and math.isfinite(row["kl"])
    assert row["js"] == pytest.approx(1.0)
    assert row["severity"] == "alert"


@pytest.mark.parametrize("n", [300, 30_000])
@pytest.mark.parametrize("data", ["normal", "ties", "inf"])
def test_ks_and_wasserstein_match_scipy_exactly_up_to_100k_rows(n, data):
    rng = np.random.default_rng(n)
    if data == "normal":
        a, b = rng.normal(0, 1, n), rng.normal(0.05, 1.1, n + 17)
    elif data == "ties":
        a, b = rng.integers(0, 12, n).astype(float), rng.integers(1, 13, n + 17).astype(float)
    else:
        a, b = rng.normal(0, 1, n), rng.normal(0.1, 1, n + 17)
        a[:5], b[:3] = np.inf, -np.inf
    row = drift_between(pd.Series(a), pd.Series(b))
    fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
    ks = stats.ks_2samp(fa, fb, method="auto" if n <= 10_000 else "asymp")
    assert row["ks"] == pytest.approx(ks.statistic, abs=1e-12)
    # Exact p-value up to 10,000 rows; above, Kolmogorov's limit (scipy: kstwo): within 5%
    # wherever the p-value could matter.
    if n <= 10_000:
        assert row["ks_p_value"] == pytest.approx(ks.pvalue, rel=1e-6, abs=1e-300)
    elif ks.pvalue > 1e-6:
        assert row["ks_p_value"] == pytest.approx(ks.pvalue, rel=0.05)
    else:
        assert row["ks_p_value"] < 1e-5
    w = stats.wasserstein_distance(fa, fb) / np.std(fa)
    assert row["wasserstein"] == pytest.approx(w, rel=1e-9)


@pytest.mark.parametrize("kind", ["normal", "lognormal", "integers", "heavy-tailed"])
def test_ks_and_wasserstein_on_the_quantile_grid_stay_within_the_documented_error(kind):
    rng = np.random.default_rng(7)
    n = 150_000
    if kind == "normal":
        a, b = rng.normal(0, 1, n), rng.normal(0.03, 1, n)
    elif kind == "lognormal":
        a, b = rng.lognormal(3, 0.8, n).round(1), rng.lognormal(3.05, 0.8, n).round(1)
    elif kind == "integers":
        a, b = rng.integers(0, 50, n).astype(float), rng.integers(0, 52, n).astype(float)
    else:
        a, b = rng.pareto(1.5, n), rng.pareto(1.6, n)
    row = drift_between(pd.Series(a), pd.Series(b))
    ks = stats.ks_2samp(a, b, method="asymp")
    assert abs(row["ks"] - ks.statistic) <= 1 / 16384
    assert row["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(a, b) / np.std(a), abs=1e-3
    )


def test_counts_agree_with_the_shared_bins_codes():
    rng = np.random.default_rng(3)
    base = pd.Series(np.r_[rng.normal(size=2000), [np.nan] * 50, [np.inf]])
    prod = pd.Series(np.r_[rng.normal(0.5, 2, size=1500), [np.nan] * 10, [-np.inf]])
    h = histogram((base, prod))
    bins = fit_bins(base, prod)
    k = len(bins.labels)
    assert h["count_baseline"].tolist() == np.bincount(bins.codes(base), minlength=k).tolist()
    assert h["count_production"].tolist() == np.bincount(bins.codes(prod), minlength=k).tolist()


def test_constant_baseline_has_no_normalised_wasserstein():
    row = drift_between(pd.Series([1.0] * 50), pd.Series([1.0] * 25 + [2.0] * 25))
    assert math.isnan(row["wasserstein"])
    assert row["severity"] == "alert"  # PSI still sees it


def test_datetime_columns_are_numeric():
    base = pd.Series(pd.date_range("2026-01-01", periods=400, freq="h", tz="UTC"))
    prod = base + pd.Timedelta(days=30)
    row = drift_between(base, prod)
    assert row["kind"] == "numeric"
    assert row["ks"] == pytest.approx(1.0)
    assert row["drifted"]


# ---------------------------------------------------------------------------------------------
# Registry-wide invariants


def _applicable(kind: str):
    return [t for t in DRIFT_TESTS.values() if kind in t.kinds]


def _thresholded(test, row):
    return row[f"{test.id}_p_value"] if test.has_p_value else row[test.id]


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_every_test_sees_no_drift_between_identical_samples(kind):
    base, _ = numeric_pair() if kind == "numeric" else categorical_pair()
    row = drift_between(base, base.copy())
    for test in _applicable(kind):
        assert test.level(_thresholded(test, row)) == "none", test.id
    assert row["severity"] == "none" and not row["drifted"]


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_every_test_flags_a_planted_shift(kind):
    if kind == "numeric":
        base, prod = numeric_pair(shift=1.0)
    else:
        base, prod = categorical_pair(p_prod=(0.1, 0.3, 0.6))
    row = drift_between(base, prod)
    for test in _applicable(kind):
        assert test.level(_thresholded(test, row)) == "alert", test.id
    assert row["severity"] == "alert" and row["drifted"]


def test_registry_entries_are_consistent():
    assert set(DRIFT_TESTS) == {"psi", "js", "kl", "ks", "chi2", "wasserstein"}
    for test in DRIFT_TESTS.values():
        assert test.kinds <= {"numeric", "categorical"} and test.kinds
        assert test.measure in ("effect_size", "p_value")
        # p-values mean drift when small; distances when large.
        expected = (
            DriftDirection.SMALLER_IS_MORE_DRIFT
            if test.has_p_value
            else DriftDirection.LARGER_IS_MORE_DRIFT
        )
        assert test.direction is expected
        worse, better = (
            (test.alert, test.warn)
            if expected is DriftDirection.LARGER_IS_MORE_DRIFT
            else (test.warn, test.alert)
        )
        assert worse >= better  # alert is the stronger level
    deciding = {t.id for t in DRIFT_TESTS.values() if t.decides}
    assert deciding == {"psi", "js", "wasserstein"}
    assert (DRIFT_TESTS["psi"].warn, DRIFT_TESTS["psi"].alert) == (0.1, 0.25)
    assert DRIFT_TESTS["ks"].kinds == {"numeric"}
    assert DRIFT_TESTS["wasserstein"].kinds == {"numeric"}


def test_thresholds_agree_on_a_normal_mean_shift():
    """The documented calibration: PSI, JS and Wasserstein reach warn at about the same shift."""
    base, prod = numeric_pair(n=200_000, shift=0.4, seed=5)
    row = drift_between(base, prod)
    levels = {t: DRIFT_TESTS[t].level(row[t]) for t in ("psi", "js", "wasserstein")}
    assert set(levels.values()) == {"warn"}, (levels, row)


def _categorical_series(draw, name):
    values = draw(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=2, max_size=60))
    return pd.Series(values, name=name, dtype="object")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_symmetric_tests_are_symmetric_on_shared_bins(data):
    base = _categorical_series(data.draw, "c")
    prod = _categorical_series(data.draw, "c")
    forward, backward = drift_between(base, prod), drift_between(prod, base)
    for test in DRIFT_TESTS.values():
        if test.symmetric and "categorical" in test.kinds:
            assert forward[test.id] == pytest.approx(backward[test.id], abs=1e-12), test.id


finite_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(finite_floats, min_size=2, max_size=80),
    b=st.lists(finite_floats, min_size=2, max_size=80),
)
def test_effect_sizes_are_non_negative_and_bounded(a, b):
    row = drift_between(pd.Series(a, name="x"), pd.Series(b, name="x"))
    for test in DRIFT_TESTS.values():
        value = row[test.id]
        if not math.isnan(value):
            assert value >= -1e-12, test.id
        if test.has_p_value and not math.isnan(row[f"{test.id}_p_value"]):
            assert 0.0 <= row[f"{test.id}_p_value"] <= 1.0
    assert row["js"] <= 1.0 + 1e-12
    assert 0.0 <= row["ks"] <= 1.0
    assert row["ks"] == pytest.approx(drift_between(pd.Series(b), pd.Series(a))["ks"])


# ---------------------------------------------------------------------------------------------
# Verdicts


def test_severity_levels_and_reason():
    base, prod = numeric_pair(n=20_000, shift=0.4, seed=1)
    row = drift_between(base, prod)
    assert row["severity"] == "warn" and row["drifted"]
    assert ">=" in row["reason"]
    strict = drift_between(base, prod, thresholds={"psi": (0.01, 0.05)})
    assert strict["severity"] == "alert" and strict["reason"].startswith("psi")


def test_verdict_can_rest_on_p_values():
    base, prod = numeric_pair(n=20_000, shift=0.05, seed=2)
    assert drift_between(base, prod)["severity"] == "none"  # a tiny shift: no effect
    by_p = drift_between(base, prod, verdict=["ks"])
    assert by_p["severity"] == "alert" and "ks" in by_p["reason"]


def test_small_samples_need_a_significant_difference():
    rng = np.random.default_rng(11)
    base = pd.Series(rng.normal(size=25), name="x")
    prod = pd.Series(rng.normal(size=25), name="x")
    ungated = drift_between(base, prod, alpha=None)
    assert ungated["psi"] >= 0.1 and ungated["drifted"]  # sampling noise inflates PSI
    assert min(ungated["chi2_p_value"], ungated["ks_p_value"]) >= 0.05
    gated = drift_between(base, prod)
    assert gated["severity"] == "none" and "not significant" in gated["reason"]


def test_bad_options_name_the_valid_choices():
    base, prod = numeric_pair(n=100)
    with pytest.raises(DataError, match="psi"):
        drift_between(base, prod, verdict=["nope"])
    with pytest.raises(DataError, match="no rows"):
        drift_between(base, prod.iloc[:0])


# ---------------------------------------------------------------------------------------------
# Every column of an analysis, and inside a slice


def test_feature_drift_on_the_fraud_demo(fraud):
    result = feature_drift(fraud)
    table = result.table
    assert list(table.columns) == RESULT_COLUMNS
    assert table.iloc[0]["feature"] == "merchant_id" and table.iloc[0]["severity"] == "alert"
    by = table.set_index("feature")
    assert by.loc["noise_a", "severity"] == "none" and by.loc["noise_b", "severity"] == "none"
    assert by.loc["customer_age", "missing_production"] == pytest.approx(0.04)
    assert by.loc["customer_age", "drifted"]
    roles = dict(zip(table["feature"], table["role"], strict=True))
    assert roles["actual_label"] == "actual" and roles["prediction_score"] == "score"
    assert roles["prediction_label"] == "prediction" and roles["state"] == "feature"
    assert "prediction_id" not in roles and "timestamp" not in roles
    ranks = table["severity"].map(SEVERITIES.index).to_numpy()
    assert (np.diff(ranks) <= 0).all()
    assert "merchant_id" in result.drifted and "noise_a" not in result.drifted
    assert set(result.bins) == set(table["feature"])


def test_feature_drift_on_the_eta_demo(eta):
    by = feature_drift(eta).table.set_index("feature")
    assert by.loc["weather", "severity"] == "alert"
    assert by.loc["distance_km", "severity"] == "none"
    assert by.loc["actual_eta_min", "role"] == "actual"


def test_drift_inside_a_slice_compares_the_same_slice(eta):
    base, prod = eta.baseline_frame, eta.production_frame
    inside = feature_drift(
        eta,
        columns=["weather"],
        mask_baseline=(base["city"] == "Seattle").to_numpy(),
        mask_production=(prod["city"] == "Seattle").to_numpy(),
    ).table.iloc[0]
    expected = drift_between(
        base.loc[base["city"] == "Seattle", "weather"],
        prod.loc[prod["city"] == "Seattle", "weather"],
    )
    assert inside["psi"] == pytest.approx(expected["psi"])
    assert inside["n_baseline"] == (base["city"] == "Seattle").sum()
    overall = feature_drift(eta, columns=["weather"]).table.iloc[0]
    assert inside["psi"] > overall["psi"]  # snow is concentrated in Seattle


def test_slice_masks_are_validated(fraud):
    n_b = len(fraud.baseline_frame)
    with pytest.raises(DataError, match="mask has 3 entries"):
        feature_drift(fraud, mask_baseline=[True, False, True])
    with pytest.raises(DataError, match="new in production"):
        feature_drift(fraud, columns=["state"], mask_baseline=np.zeros(n_b, dtype=bool))
    with pytest.raises(DataError, match="not in both datasets"):
        feature_drift(fraud, columns=["nope"])


# ---------------------------------------------------------------------------------------------
# Histograms


def test_histogram_of_a_categorical_column():
    base = pd.Series(["a"] * 60 + ["b"] * 39 + ["rare"], name="c")
    prod = pd.Series(["a"] * 50 + ["new"] * 40 + [None] * 10, name="c")
    h = histogram((base, prod), min_share=0.05)
    assert h["bin"].tolist() == ["a", "new", "b", "(other)", "(missing)"]
    assert h["order"].tolist() == [0, 1, 2, 3, 4]
    assert h["type"].tolist() == ["value", "value", "value", "other", "missing"]
    assert h["new"].tolist() == [False, True, False, False, False]
    assert h["count_baseline"].tolist() == [60, 0, 39, 1, 0]
    assert h["count_production"].tolist() == [50, 40, 0, 0, 10]
    assert h["share_baseline"].sum() == pytest.approx(1)
    assert h["share_production"].sum() == pytest.approx(1)


def test_histogram_of_a_numeric_column_uses_baseline_quantiles(fraud):
    h = histogram(fraud, "amount")
    bins = fit_bins(fraud.baseline_frame["amount"], fraud.production_frame["amount"])
    assert h["bin"].tolist() == list(bins.labels)
    values = h[h["type"] == "value"]
    assert values["low"].iloc[0] == -np.inf and values["high"].iloc[-1] == np.inf
    assert (values["low"].iloc[1:].to_numpy() == np.asarray(bins.edges)).all()
    assert values["count_baseline"].sum() == len(fraud.baseline_frame)
    assert not h["new"].any()
    missing = h[h["type"] == "missing"].iloc[0]
    assert missing["count_baseline"] == 0 and missing["count_production"] == 0


def test_histogram_inside_a_slice_and_errors(fraud):
    prod = fraud.production_frame
    mask_p = (prod["state"] == "CA").to_numpy()
    mask_b = (fraud.baseline_frame["state"] == "CA").to_numpy()
    h = histogram(fraud, "merchant_id", mask_baseline=mask_b, mask_production=mask_p, min_share=0)
    new = h[h["new"]]
    assert new["bin"].tolist() == ["scammeds.com"]
    assert int(new["count_production"].iloc[0]) == 3000
    with pytest.raises(DataError, match="column"):
        histogram(fraud)


# ---------------------------------------------------------------------------------------------
# Report section


def test_report_section_is_json_ready_and_renders(fraud):
    section = build_section("drift", fraud, {"bins": 10})
    keys = {
        "feature",
        "kind",
        "psi",
        "js",
        "kl",
        "ks",
        "ks_p_value",
        "chi2",
        "chi2_p_value",
        "wasserstein",
        "severity",
        "drifted",
    }
    assert keys <= set(section[0])
    assert section[0]["feature"] == "merchant_id"
    json.dumps(jsonable(section), allow_nan=False)
    lines = markdown_section(jsonable(section))
    assert lines[0].startswith("## Drift")
    assert any("merchant_id" in line and "alert" in line for line in lines)
    assert "n/a" in "\n".join(lines)  # KS does not apply to categorical columns


@pytest.mark.parametrize("demo", ["fraud", "eta"])
def test_shared_value_counts_equal_a_fresh_count(demo, request):
    # The whole datasets read their value counts from the per-analysis cache (shared with the
    # quality checks); an all-true slice counts afresh: the same table and bins.
    analysis = request.getfixturevalue(demo)
    every = [
        np.ones(len(f), dtype=bool) for f in (analysis.baseline_frame, analysis.production_frame)
    ]
    shared = feature_drift(analysis)
    fresh = feature_drift(analysis, mask_baseline=every[0], mask_production=every[1])
    pd.testing.assert_frame_equal(shared.table, fresh.table)
    assert shared.bins == fresh.bins
