"""Estimated performance without actuals (CBPE) against scikit-learn and the demos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from tests.conftest import DEMO, make_binary, make_regression
from tracing.errors import DataError
from tracing.estimate import (
    MIN_CALIBRATION_ROWS,
    can_estimate,
    estimate_metrics,
    estimated_row_stats,
    fit_estimator,
    prediction_rows,
)
from tracing.io import read_table
from tracing.metrics import applicable_metrics, get_metric, prepare
from tracing.schema import detect_roles, resolve_schema
from tracing.timeline import metric_timeline, monitoring_schema


def _calibrated(n: int, seed: int, *, bend: float = 1.0) -> pd.DataFrame:
    """Scores s with P(y=1 | s) = s ** bend (bend != 1: miscalibrated, so calibration matters)."""
    rng = np.random.default_rng(seed)
    score = rng.random(n).round(3)
    y = (rng.random(n) < score**bend).astype(int)
    return pd.DataFrame(
        {"prediction_score": score, "prediction_label": (score >= 0.5).astype(int), "label": y}
    )


def _fit(frame: pd.DataFrame):
    schema = resolve_schema([frame], detect_roles(frame.columns))
    return schema, fit_estimator(prepare(frame, schema))


BINARY_METRICS = [m.id for m in applicable_metrics(_fit(_calibrated(500, 0))[0])]


def _weighted_oracle(metric_id: str, p: np.ndarray, yhat: np.ndarray, s: np.ndarray) -> float:
    """The expected metric as scikit-learn's weighted metric on doubled rows.

    Each row appears twice, as a positive with weight p and as a negative with weight 1 - p,
    so weighted counts are expected counts.
    """
    y2 = np.r_[np.ones(len(p)), np.zeros(len(p))].astype(int)
    h2, s2, w2 = np.r_[yhat, yhat], np.r_[s, s], np.r_[p, 1 - p]
    cm = skm.confusion_matrix(y2, h2, labels=[0, 1], sample_weight=w2)
    (tn, fp), (fn, tp) = cm
    return {
        "accuracy": lambda: skm.accuracy_score(y2, h2, sample_weight=w2),
        "precision": lambda: skm.precision_score(y2, h2, sample_weight=w2),
        "recall": lambda: skm.recall_score(y2, h2, sample_weight=w2),
        "f1": lambda: skm.f1_score(y2, h2, sample_weight=w2),
        "fpr": lambda: fp / (fp + tn),
        "fnr": lambda: fn / (fn + tp),
        "specificity": lambda: skm.recall_score(y2, h2, pos_label=0, sample_weight=w2),
        "positive_rate": lambda: yhat.mean(),
        "actual_positive_rate": lambda: p.mean(),
        "roc_auc": lambda: skm.roc_auc_score(y2, s2, sample_weight=w2),
        "pr_auc": lambda: skm.average_precision_score(y2, s2, sample_weight=w2),
        "log_loss": lambda: skm.log_loss(y2, s2, sample_weight=w2, labels=[0, 1]),
        "brier": lambda: skm.brier_score_loss(y2, s2, sample_weight=w2),
    }[metric_id]()


@pytest.mark.parametrize("metric_id", BINARY_METRICS)
def test_every_binary_metric_estimate_equals_the_weighted_scikit_learn_metric(metric_id):
    schema, est = _fit(_calibrated(4_000, 1, bend=1.6))
    prod = _calibrated(1_500, 2, bend=1.6).drop(columns="label")
    table = estimate_metrics(est, prod, metrics=[get_metric(metric_id, schema)])
    p = est.calibrated(prod["prediction_score"].to_numpy())
    want = _weighted_oracle(
        metric_id, p, prod["prediction_label"].to_numpy(), prod["prediction_score"].to_numpy()
    )
    assert table["estimated"].iloc[0] == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert np.isnan(table["realized"].iloc[0]) and table["rows_with_actuals"].iloc[0] == 0


def test_calibration_is_scikit_learn_isotonic_with_clipping():
    frame = _calibrated(3_000, 3, bend=2.0)
    _, est = _fit(frame)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    iso.fit(frame["prediction_score"], frame["label"])
    grid = np.linspace(-0.5, 1.5, 41)
    np.testing.assert_allclose(est.calibrated(grid), iso.predict(grid))
    assert np.isnan(est.calibrated(np.array([np.nan]))[0])
    # The scores were too high (P(y | s) = s^2): calibration pulls them down.
    assert est.calibrated(np.array([0.5]))[0] == pytest.approx(0.25, abs=0.06)


def test_estimate_tracks_realized_accuracy_under_covariate_shift():
    _, est = _fit(_calibrated(5_000, 4, bend=1.6))
    rng = np.random.default_rng(5)
    shifted = _calibrated(20_000, 6, bend=1.6)
    borderline = (shifted["prediction_score"] - 0.6).abs() < 0.15  # P(y|s) = 0.5 near s = 0.65
    keep = borderline | (rng.random(len(shifted)) < 0.2)
    shifted = shifted[keep]
    table = estimate_metrics(est, shifted, metrics=[get_metric("accuracy", est.schema)])
    realized = (shifted["prediction_label"] == shifted["label"]).mean()
    assert table["realized"].iloc[0] == pytest.approx(realized)
    assert table["estimated"].iloc[0] == pytest.approx(realized, abs=0.015)
    assert realized < 0.65  # the shift did hurt


def test_rows_without_score_or_prediction_are_not_covered():
    schema, est = _fit(_calibrated(1_000, 7))
    prod = _calibrated(10, 8).drop(columns="label")
    prod["prediction_score"] = prod["prediction_score"].astype(float)
    prod.loc[[0, 1], "prediction_score"] = np.nan
    prod["prediction_label"] = prod["prediction_label"].astype("Int64")
    prod.loc[2, "prediction_label"] = None
    stats = estimated_row_stats(est, prod)
    assert stats["n"].tolist() == [0, 0, 0] + [1] * 7
    for key in ("tp", "fp", "fn", "tn", "logloss", "sq_err"):
        assert (stats[key][:3] == 0).all()
    total = stats["tp"] + stats["fp"] + stats["fn"] + stats["tn"]
    np.testing.assert_allclose(total, stats["n"])


def test_estimate_needs_a_binary_score_and_enough_calibration_rows():
    reg = make_regression(n=200)
    schema = resolve_schema([reg], detect_roles(reg.columns))
    assert not can_estimate(schema)
    with pytest.raises(DataError, match="binary model with one score column"):
        fit_estimator(prepare(reg, schema))
    small = _calibrated(MIN_CALIBRATION_ROWS - 1, 9)
    with pytest.raises(DataError, match=f"at least {MIN_CALIBRATION_ROWS} scored rows"):
        _fit(small)
    one_class = _calibrated(500, 10).assign(label=lambda f: (f.index < 5).astype(int))
    with pytest.raises(DataError, match="10 of each class"):
        _fit(one_class)


def test_prediction_rows_tolerates_a_missing_actual_column():
    frame = make_binary(n=50)
    schema = resolve_schema([frame], detect_roles(frame.columns))
    data = prediction_rows(frame.drop(columns="actual_label"), schema)
    assert not data.valid.any() and data.n_missing_actual == 50


# ---------------------------------------------------------------------------------------------
# The demos: where the estimate works (covariate shift) and where it cannot (concept shift)


@pytest.fixture(scope="module")
def monitoring() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        read_table(DEMO / "monitoring_training.parquet"),
        read_table(DEMO / "monitoring_production.parquet"),
    )


def test_estimated_daily_accuracy_without_actuals_is_within_2_points_of_realized(monitoring):
    training, production = monitoring
    blind = production.drop(columns="actual_label")
    schema = monitoring_schema(blind, training)
    estimated = metric_timeline(blind, training, schema=schema, metric="accuracy")
    realized = metric_timeline(production, training, schema=schema, metric="accuracy")
    assert len(estimated.table) == 60 and estimated.table["metric"].isna().all()
    gap = (estimated.table["estimated"] - realized.table["metric"]).abs()
    assert gap.max() < 0.02
    # It follows the planted drop: the promotion days alert on the estimate alone.
    promo = pd.date_range("2026-10-30", periods=10, freq="D", tz="UTC")
    assert estimated.alerts["start"].tolist() == promo.tolist()
    assert realized.alerts["start"].tolist() == promo.tolist()


def test_the_estimate_cannot_see_concept_shift_on_the_fraud_demo():
    training = read_table(DEMO / "fraud_training.parquet")
    production = read_table(DEMO / "fraud_production.parquet")
    schema, est = _fit_frames(training, production)
    scam = production[production["merchant_id"] == "scammeds.com"]
    table = estimate_metrics(est, scam, metrics=[get_metric("accuracy", schema)])
    # The model scores scammeds.com fraud low, so the estimate says ~97% while it is ~5%.
    assert table["realized"].iloc[0] < 0.1
    assert table["estimated"].iloc[0] > 0.9


def _fit_frames(training, production):
    schema = monitoring_schema(production, training)
    return schema, fit_estimator(prepare(training, schema))
