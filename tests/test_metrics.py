"""Every metric in the registry against scikit-learn (or the textbook formula) to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from tests.conftest import make_binary, make_multiclass, make_regression
from tracing.errors import DataError
from tracing.metrics import (
    METRICS,
    Direction,
    Metric,
    applicable_metrics,
    default_metric,
    get_metric,
    prepare,
    row_stats,
    worse_by,
)
from tracing.schema import ModelType, detect_roles, resolve_schema


def _setup(df: pd.DataFrame, **kw):
    schema = resolve_schema([df], detect_roles(df.columns), **kw)
    return schema, prepare(df, schema)


def _smape(y, p):
    den = np.abs(y) + np.abs(p)
    return float(np.mean(np.where(den > 0, 2 * np.abs(p - y) / np.where(den > 0, den, 1), 0.0)))


def _binary_oracle(metric_id: str, y: np.ndarray, p: np.ndarray, s: np.ndarray) -> float:
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    return {
        "accuracy": lambda: skm.accuracy_score(y, p),
        "precision": lambda: skm.precision_score(y, p),
        "recall": lambda: skm.recall_score(y, p),
        "f1": lambda: skm.f1_score(y, p),
        "fpr": lambda: fp / (fp + tn),
        "fnr": lambda: fn / (fn + tp),
        "specificity": lambda: skm.recall_score(y, p, pos_label=0),
        "positive_rate": lambda: p.mean(),
        "actual_positive_rate": lambda: y.mean(),
        "roc_auc": lambda: skm.roc_auc_score(y, s),
        "pr_auc": lambda: skm.average_precision_score(y, s),
        "log_loss": lambda: skm.log_loss(y, s, labels=[0, 1]),
        "brier": lambda: skm.brier_score_loss(y, s),
    }[metric_id]()


def _multiclass_oracle(metric_id: str, y: np.ndarray, p: np.ndarray) -> float:
    if metric_id == "accuracy":
        return skm.accuracy_score(y, p)
    if metric_id.startswith("recall:"):
        label = metric_id.split(":", 1)[1]
        return skm.recall_score(y, p, labels=[label], average="macro", zero_division=0)
    avg, kind = metric_id.split("_")
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[kind]
    return fn(y, p, average=avg, zero_division=0)


def _regression_oracle(metric_id: str, y: np.ndarray, p: np.ndarray) -> float:
    return {
        "me": lambda: float(np.mean(p - y)),
        "mae": lambda: skm.mean_absolute_error(y, p),
        "mape": lambda: skm.mean_absolute_percentage_error(y, p),
        "smape": lambda: _smape(y, p),
        "mse": lambda: skm.mean_squared_error(y, p),
        "rmse": lambda: skm.root_mean_squared_error(y, p),
        "r2": lambda: skm.r2_score(y, p),
    }[metric_id]()


BINARY = [m.id for m in METRICS.values() if ModelType.BINARY in m.model_types]
MULTI = [m.id for m in METRICS.values() if ModelType.MULTICLASS in m.model_types]
REGRESSION = [m.id for m in METRICS.values() if ModelType.REGRESSION in m.model_types]


def test_registry_covers_every_metric_id_of_the_spec():
    assert set(BINARY) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "fpr",
        "fnr",
        "specificity",
        "positive_rate",
        "actual_positive_rate",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
    }
    assert set(MULTI) == {
        "accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "weighted_precision",
        "weighted_recall",
        "weighted_f1",
    }
    assert set(REGRESSION) == {"me", "mae", "mape", "smape", "mse", "rmse", "r2"}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("metric_id", BINARY)
def test_binary_metric_equals_sklearn(metric_id, seed):
    df = make_binary(n=300 + 50 * seed, seed=seed)
    schema, prep = _setup(df)
    got = get_metric(metric_id, schema).compute(prep)
    want = _binary_oracle(
        metric_id,
        df.actual_label.to_numpy(),
        df.prediction_label.to_numpy(),
        df.prediction_score.to_numpy(),
    )
    assert got == pytest.approx(want, abs=1e-9, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_metrics_equal_sklearn_including_per_class_recall(seed):
    df = make_multiclass(seed=seed)
    # A class that is only ever predicted exercises scikit-learn's zero_division rule.
    df.loc[:4, "predicted"] = "cow"
    schema, prep = _setup(df)
    ids = [m.id for m in applicable_metrics(schema)]
    assert {f"recall:{c}" for c in ("bird", "cat", "dog", "fish")} <= set(ids)
    stats = row_stats(prep)
    for m in applicable_metrics(schema):
        got = m.compute(prep, stats)
        if m.id == "recall:cow":  # no actual cows: undefined, with a reason
            assert np.isnan(got) and "cow" in m.reason(got)
            continue
        want = _multiclass_oracle(m.id, df.actual.to_numpy(), df.predicted.to_numpy())
        assert got == pytest.approx(want, abs=1e-9), m.id


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("metric_id", REGRESSION)
def test_regression_metric_equals_sklearn(metric_id, seed):
    df = make_regression(seed=seed)
    schema, prep = _setup(df)
    got = get_metric(metric_id, schema).compute(prep)
    want = _regression_oracle(metric_id, df.y_true.to_numpy(), df.y_pred.to_numpy())
    assert got == pytest.approx(want, abs=1e-9, rel=1e-9)


@pytest.mark.parametrize(
    "model_type", [ModelType.BINARY, ModelType.MULTICLASS, ModelType.REGRESSION]
)
def test_additive_metrics_from_group_sums_equal_per_group_compute(model_type):
    """The slice engine's contract: summing row stats by group gives each group's metric."""
    df = {
        ModelType.BINARY: make_binary,
        ModelType.MULTICLASS: make_multiclass,
        ModelType.REGRESSION: make_regression,
    }[model_type](n=600, seed=5)
    schema, prep = _setup(df)
    stats = row_stats(prep)
    group = np.random.default_rng(0).integers(0, 4, len(df))
    sums = stats.groupby(group).sum()
    for m in applicable_metrics(schema):
        if not m.additive:
            continue
        by_group = m.from_stats({c: sums[c].to_numpy() for c in sums.columns})
        for g in range(4):
            sub = df[group == g].reset_index(drop=True)
            want = m.compute(prepare(sub, schema))
            assert by_group[g] == pytest.approx(want, abs=1e-9, nan_ok=True), (m.id, g)


def test_undefined_cases_are_nan_with_a_reason():
    df = pd.DataFrame({"prediction": [0, 0, 1], "actual": [0, 0, 0], "score": [0.1, 0.2, 0.7]})
    schema, prep = _setup(df, positive_class=1)
    for metric_id in ("recall", "fnr", "roc_auc", "pr_auc"):
        m = get_metric(metric_id, schema)
        value = m.compute(prep)
        assert np.isnan(value)
        assert "positive" in m.reason(value)
    # MAPE with a zero actual: NaN, not scikit-learn's huge finite number, and never 0.
    reg = pd.DataFrame({"y_pred": [1.0, 2.0, 3.0], "y_true": [0.0, 2.0, 4.0]})
    schema, prep = _setup(reg)
    mape = get_metric("mape", schema)
    assert np.isnan(mape.compute(prep)) and "0" in mape.reason(np.nan)
    # R² of constant actuals is undefined (scikit-learn returns a forced 0 or 1).
    const = pd.DataFrame({"y_pred": [1.0, 2.0, 3.0], "y_true": [2.0, 2.0, 2.0]})
    schema, prep = _setup(const, model_type="regression")
    assert np.isnan(get_metric("r2", schema).compute(prep))


def test_rows_without_actual_or_prediction_are_left_out_and_counted():
    df = make_binary(n=200, seed=3)
    df["actual_label"] = df["actual_label"].astype("Int64")
    df.loc[:9, "actual_label"] = pd.NA
    schema, prep = _setup(df)
    assert prep.n_missing_actual == 10 and prep.valid.sum() == 190
    got = get_metric("accuracy", schema).compute(prep)
    kept = df.iloc[10:]
    assert got == pytest.approx(
        skm.accuracy_score(kept.actual_label.astype(int), kept.prediction_label), abs=1e-12
    )


def test_label_derived_from_score_threshold_when_no_label_column():
    df = make_binary(n=200, seed=4).drop(columns="prediction_label")
    schema, prep = _setup(df, threshold=0.3)
    got = get_metric("recall", schema).compute(prep)
    want = skm.recall_score(df.actual_label, df.prediction_score >= 0.3)
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("metric", list(METRICS.values()), ids=lambda m: m.id)
def test_every_metric_declares_what_the_engine_needs(metric: Metric):
    assert metric.name and metric.model_types and metric.undefined
    assert isinstance(metric.direction, Direction)
    assert metric.additive != (metric.exact is not None)
    if metric.decomposable:
        assert metric.denominator is not None and metric.volume_stat == metric.denominator
    one_way = metric.direction in (Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER)
    assert metric.higher_is_better is (
        metric.direction is Direction.HIGHER_IS_BETTER if one_way else None
    )


@given(
    value=st.floats(-1e6, 1e6),
    reference=st.floats(-1e6, 1e6),
)
@settings(max_examples=200, deadline=None)
def test_worse_by_orients_every_direction(value, reference):
    assert worse_by(value, reference, Direction.HIGHER_IS_BETTER) == -worse_by(
        value, reference, Direction.LOWER_IS_BETTER
    )
    assert worse_by(value, reference, Direction.TWO_SIDED) == abs(value) - abs(reference)
    assert worse_by(value, reference, Direction.NEUTRAL) == abs(value - reference)
    for d in Direction:
        assert worse_by(reference, reference, d) == 0


def test_metric_that_does_not_fit_the_model_type_names_the_valid_ones():
    schema, _ = _setup(make_regression(n=50))
    with pytest.raises(DataError, match=r"'recall' does not fit this regression model.*mae"):
        get_metric("recall", schema)
    with pytest.raises(DataError, match="unknown metric 'nope'"):
        get_metric("nope", schema)
    no_score = make_binary(n=50).drop(columns="prediction_score")
    schema, _ = _setup(no_score)
    with pytest.raises(DataError, match="needs a score column"):
        get_metric("roc_auc", schema)


def test_rates_are_neutral_so_a_model_that_stops_flagging_is_not_better():
    for metric_id in ("positive_rate", "actual_positive_rate"):
        metric = METRICS[metric_id]
        assert metric.direction is Direction.NEUTRAL and metric.higher_is_better is None
        assert worse_by(0.0, 0.36, metric.direction) == pytest.approx(0.36)  # a change, not a win


def test_default_metric_rule():
    schema, prep = _setup(make_binary(n=100))
    assert default_metric(schema, 0.03).id == "recall"  # rare positives (fraud)
    assert default_metric(schema, 0.97).id == "recall"
    assert default_metric(schema, 0.4).id == "accuracy"
    assert default_metric(_setup(make_regression(n=50))[0]).id == "mae"
    assert default_metric(_setup(make_multiclass(n=50))[0]).id == "accuracy"
