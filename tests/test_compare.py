"""Overall comparison: deltas, directions, confidence intervals, row counts, class balance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from tests.conftest import make_binary, make_regression
from tracing.compare import compare, metric_variance
from tracing.metrics import get_metric, prepare
from tracing.schema import detect_roles, resolve_schema


def _prep(*frames, **kw):
    schema = resolve_schema(list(frames), detect_roles(frames[0].columns), **kw)
    return [prepare(f, schema) for f in frames]


def test_delta_and_status_follow_each_metrics_direction():
    base = make_binary(n=2000, seed=1)
    prod = base.copy()
    # Flip 300 correct predictions of positives into misses: recall falls, FNR rises.
    hits = prod.index[(prod.actual_label == 1) & (prod.prediction_label == 1)][:300]
    prod.loc[hits, "prediction_label"] = 0
    pb, pp = _prep(base, prod)
    table = compare(pb, pp).table.set_index("metric")
    assert table.loc["recall", "delta"] < 0 and table.loc["recall", "status"] == "worse"
    assert table.loc["fnr", "delta"] > 0 and table.loc["fnr", "status"] == "worse"
    assert table.loc["fpr", "status"] == "same"
    assert table.loc["recall", "significant"]
    assert table.loc["recall", "delta"] == pytest.approx(
        table.loc["recall", "production"] - table.loc["recall", "baseline"]
    )
    assert table.loc["recall", "higher_is_better"] is True
    assert table.loc["fnr", "higher_is_better"] is False


def test_two_sided_metric_is_worse_when_bias_grows_in_either_direction():
    base = make_regression(n=1000, seed=1)
    prod = base.copy()
    prod["y_pred"] = prod["y_true"] - 3.0  # strong under-prediction
    pb, pp = _prep(base, prod)
    row = compare(pb, pp).row("me")
    assert row["production"] == pytest.approx(-3.0)
    assert row["status"] == "worse" and row["higher_is_better"] is None


@pytest.mark.parametrize("metric_id", ["accuracy", "recall", "f1", "log_loss", "roc_auc"])
def test_standard_error_matches_a_brute_force_bootstrap(metric_id):
    df = make_binary(n=1500, seed=7)
    (prep,) = _prep(df)
    metric = get_metric(metric_id, prep.schema)
    value, var = metric_variance(metric, prep, random_state=1)
    rng = np.random.default_rng(123)
    reps = []
    for _ in range(400):
        sample = df.iloc[rng.integers(0, len(df), len(df))].reset_index(drop=True)
        reps.append(metric.compute(prepare(sample, prep.schema)))
    boot_se = float(np.std(reps, ddof=1))
    assert np.sqrt(var) == pytest.approx(boot_se, rel=0.2)


def test_interval_covers_the_truth_at_about_the_nominal_rate():
    """Coverage over repeated samples from one population (independent oracle: simulation)."""
    rng = np.random.default_rng(0)
    covered = 0
    trials = 200
    for t in range(trials):
        b = make_binary(n=400, seed=1000 + t)
        p = make_binary(n=400, seed=5000 + t)
        pb, pp = _prep(b, p)
        row = compare(pb, pp, metrics=[get_metric("accuracy", pb.schema)]).row("accuracy")
        covered += row["ci_low"] <= 0.0 <= row["ci_high"]  # same population: true delta is 0
    assert 0.90 <= covered / trials <= 0.99
    del rng


def test_confidence_intervals_are_deterministic_for_a_seed():
    b, p = make_binary(n=500, seed=1), make_binary(n=500, seed=2)
    pb, pp = _prep(b, p)
    one = compare(pb, pp, random_state=3).table
    two = compare(pb, pp, random_state=3).table
    pd.testing.assert_frame_equal(one, two)


def test_rows_and_class_balance():
    b, p = make_binary(n=300, seed=1), make_binary(n=200, seed=2)
    p["actual_label"] = p["actual_label"].astype("Int64")
    p.loc[:19, "actual_label"] = pd.NA
    pb, pp = _prep(b, p)
    comp = compare(pb, pp)
    assert comp.rows.loc["production", "rows"] == 200
    assert comp.rows.loc["production", "rows_with_actuals"] == 180
    assert comp.rows.loc["production", "missing_actual"] == 20
    bal = comp.class_balance.set_index("class")
    want = b["actual_label"].value_counts(normalize=True)
    assert bal.loc[1, "baseline_actual"] == pytest.approx(want[1])
    assert bal.loc[0, "baseline_actual"] == pytest.approx(want[0])
    assert bal["production_predicted"].sum() == pytest.approx(1.0)


def test_undefined_metric_has_undefined_status_and_reason():
    b = make_binary(n=200, seed=1)
    p = b.copy()
    p["actual_label"] = 0
    pb, pp = _prep(b, p, positive_class=1)
    row = compare(pb, pp).row("recall")
    assert row["status"] == "undefined" and "no actual positives" in row["production_reason"]
    assert np.isnan(row["ci_low"])


@pytest.mark.parametrize("shift", [100.0, -100.0])
@pytest.mark.parametrize("metric_id", ["me", "mae", "rmse", "r2", "mape"])
def test_regression_standard_error_matches_a_bootstrap_whatever_the_sign(metric_id, shift):
    rng = np.random.default_rng(11)
    y = rng.normal(0, 1, 1200) + shift
    df = pd.DataFrame({"y_true": y, "y_pred": y + rng.normal(0.1, 0.3, 1200)})
    (prep,) = _prep(df, model_type="regression")
    metric = get_metric(metric_id, prep.schema)
    _, var = metric_variance(metric, prep)
    boot = np.random.default_rng(5)
    reps = []
    for _ in range(300):
        sample = df.iloc[boot.integers(0, len(df), len(df))].reset_index(drop=True)
        reps.append(metric.compute(prepare(sample, prep.schema)))
    assert np.sqrt(var) == pytest.approx(float(np.std(reps, ddof=1)), rel=0.25)


def _miscalibrated(n: int, seed: int) -> pd.DataFrame:
    """Scores with P(y=1 | s) = s**1.6: calibration on the baseline matters."""
    rng = np.random.default_rng(seed)
    score = rng.random(n).round(3)
    return pd.DataFrame(
        {
            "state": rng.choice(["CA", "NY"], n),
            "prediction_score": score,
            "prediction_label": (score >= 0.5).astype(int),
            "actual_label": (rng.random(n) < score**1.6).astype(int),
        }
    )


def _weighted(metric_id: str, p, yhat, s) -> float:
    """The expected metric as scikit-learn's weighted metric on doubled rows (a positive with
    weight p and a negative with weight 1 - p per row)."""
    y2 = np.r_[np.ones(len(p)), np.zeros(len(p))].astype(int)
    h2, s2, w2 = np.r_[yhat, yhat], np.r_[s, s], np.r_[p, 1 - p]
    return {
        "accuracy": lambda: skm.accuracy_score(y2, h2, sample_weight=w2),
        "precision": lambda: skm.precision_score(y2, h2, sample_weight=w2),
        "recall": lambda: skm.recall_score(y2, h2, sample_weight=w2),
        "roc_auc": lambda: skm.roc_auc_score(y2, s2, sample_weight=w2),
        "brier": lambda: skm.brier_score_loss(y2, s2, sample_weight=w2),
    }[metric_id]()


@pytest.mark.parametrize("with_actuals", [True, False])
def test_estimated_column_is_the_weighted_scikit_learn_metric(with_actuals):
    base, prod = _miscalibrated(4000, 1), _miscalibrated(1500, 2)
    seen = prod if with_actuals else prod.assign(actual_label=None)
    pb, pp = _prep(base, seen)
    comp = compare(pb, pp, production_frame=seen)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    p = iso.fit(base["prediction_score"], base["actual_label"]).predict(prod["prediction_score"])
    yhat, s = prod["prediction_label"].to_numpy(), prod["prediction_score"].to_numpy()
    table = comp.table.set_index("metric")
    for metric_id in ("accuracy", "precision", "recall", "roc_auc", "brier"):
        want = _weighted(metric_id, p, yhat, s)
        assert table.loc[metric_id, "estimated"] == pytest.approx(want, rel=1e-9)
    assert comp.has_estimates and "4,000 baseline rows" in comp.notes[0]
    # Realized values are untouched by the estimate: NaN without actuals.
    assert table["production"].isna().all() != with_actuals
    # Calibrated scores on a population like the baseline: the estimate is close to the truth.
    truth = compare(*_prep(base, prod)).table.set_index("metric")["production"]
    assert abs(table.loc["accuracy", "estimated"] - truth["accuracy"]) < 0.03


def test_estimated_column_is_nan_where_no_estimate_applies():
    base, prod = _miscalibrated(2000, 1), _miscalibrated(500, 2)
    assert compare(*_prep(base, prod)).table["estimated"].isna().all()  # no frame given
    labels_only = [f.drop(columns="prediction_score") for f in (base, prod)]
    comp = compare(*_prep(*labels_only), production_frame=labels_only[1])
    assert comp.table["estimated"].isna().all() and not comp.has_estimates
    reg = make_regression(n=300, seed=1), make_regression(n=300, seed=2)
    assert compare(*_prep(*reg), production_frame=reg[1]).table["estimated"].isna().all()
    few = base.head(50)  # too few baseline rows to calibrate: a note says why
    comp = compare(*_prep(few, prod), production_frame=prod)
    assert comp.table["estimated"].isna().all()
    assert comp.notes[0].startswith("no estimate:") and "100 scored rows" in comp.notes[0]


# ---------------------------------------------------------------------------------------------
# Fast paths against the obvious ones (issue 15): the same values, the same variances


def _ragged_binary(n: int, seed: int) -> pd.DataFrame:
    """Binary rows with missing actuals, predictions and scores, and tied (rounded) scores."""
    rng = np.random.default_rng(seed)
    df = make_binary(n=n, seed=seed)
    df["prediction_score"] = df["prediction_score"].round(int(rng.integers(1, 5)))
    df["actual_label"] = df["actual_label"].astype("Int64")
    df.loc[rng.random(n) < 0.05, "actual_label"] = pd.NA
    df["prediction_label"] = df["prediction_label"].astype(float)
    df.loc[rng.random(n) < 0.03, "prediction_label"] = np.nan
    df.loc[rng.random(n) < 0.04, "prediction_score"] = np.nan
    return df


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 3000), seed=st.integers(0, 10_000))
def test_binary_moments_give_the_column_delta_method(n, seed):
    from tracing.compare import _delta_method, _StatMatrix
    from tracing.metrics import applicable_metrics, row_stat_columns

    (prep,) = _prep(_ragged_binary(n, seed))
    side = _StatMatrix(prep)
    cols = {k: v[prep.valid] for k, v in row_stat_columns(prep).items()}
    for metric in applicable_metrics(prep.schema):
        if not metric.additive:
            continue
        used = cols if metric.numerator is None else {c: cols[c] for c in metric.ratio_stats}
        want_value, want_var = _delta_method(metric, used)
        got_value, got_var = side.variance(metric)
        # The value from the very same sums: bit for bit.
        assert got_value == want_value or (np.isnan(got_value) and np.isnan(want_value))
        if np.isnan(want_var):
            assert np.isnan(got_var)
        else:
            assert got_var == pytest.approx(want_var, rel=1e-9, abs=1e-15), metric.id


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 2000),
    decimals=st.integers(0, 4),
    seed=st.integers(0, 10_000),
    zeros=st.booleans(),
)
def test_unweighted_score_groups_equal_the_stable_sort(n, decimals, seed, zeros):
    from tracing.metrics import score_groups

    rng = np.random.default_rng(seed)
    score = rng.random(n).round(decimals)
    if zeros:
        score[rng.random(n) < 0.3] = -0.0  # -0.0 and 0.0 are one score
    y = rng.random(n) < rng.random()
    fast, slow = score_groups(y, score), score_groups(y, score, np.ones(n))
    for got, want in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(got, want)


def _rank_case(n: int, seed: int, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    score = np.clip(np.where(y, rng.normal(0.6, 0.2, n), rng.normal(0.4, 0.2, n)), 0, 1)
    return y, score.round(decimals)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 300), seed=st.integers(0, 10_000), decimals=st.integers(1, 3))
def test_rank_gradients_equal_finite_differences(n, seed, decimals):
    from tracing.metrics import METRICS, score_groups

    pos, neg = score_groups(*_rank_case(n, seed, decimals))
    for metric_id in ("roc_auc", "pr_auc"):
        m = METRICS[metric_id]
        assert m.from_groups is not None and m.groups_gradient is not None
        if np.isnan(m.from_groups(pos, neg)):
            continue
        d_pos, d_neg = m.groups_gradient(pos, neg)
        h = 1e-6
        for counts, grad, other in ((pos, d_pos, "neg"), (neg, d_neg, "pos")):
            for g in range(len(counts)):
                up, down = counts.copy(), counts.copy()
                up[g] += h
                down[g] -= h
                pair = (up, neg) if other == "neg" else (pos, up)
                low = (down, neg) if other == "neg" else (pos, down)
                numeric = (m.from_groups(*pair) - m.from_groups(*low)) / (2 * h)
                assert grad[g] == pytest.approx(numeric, abs=1e-6), (metric_id, g)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_variance_is_delongs_from_the_placements(seed):
    """Oracle: DeLong's variance from every positive-negative pair (brute force)."""
    y, score = _rank_case(600, seed, 2)
    df = pd.DataFrame(
        {"prediction_score": score, "prediction_label": (score >= 0.5).astype(int),
         "actual_label": y.astype(int)}
    )  # fmt: skip
    (prep,) = _prep(df)
    value, var = metric_variance(get_metric("roc_auc", prep.schema), prep)
    p, q = score[y], score[~y]
    wins = (p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :])
    v10, v01 = wins.mean(axis=1), wins.mean(axis=0)
    n = len(score)
    delong = v10.var() / len(p) + v01.var() / len(q)  # ddof 0, times n / (n - 1) below
    assert value == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert var == pytest.approx(delong * n / (n - 1), rel=1e-9)


@pytest.mark.parametrize("metric_id", ["roc_auc", "pr_auc"])
def test_rank_standard_error_matches_a_brute_force_bootstrap_on_ties(metric_id):
    y, score = _rank_case(3000, 11, 2)  # 2 decimals: heavy ties
    df = pd.DataFrame(
        {"prediction_score": score, "prediction_label": (score >= 0.5).astype(int),
         "actual_label": y.astype(int)}
    )  # fmt: skip
    (prep,) = _prep(df)
    metric = get_metric(metric_id, prep.schema)
    _, var = metric_variance(metric, prep)
    rng = np.random.default_rng(5)
    oracle = skm.roc_auc_score if metric_id == "roc_auc" else skm.average_precision_score
    reps = []
    for _ in range(400):
        pick = rng.integers(0, len(y), len(y))
        reps.append(oracle(y[pick], score[pick]))
    assert np.sqrt(var) == pytest.approx(np.std(reps, ddof=1), rel=0.15)
