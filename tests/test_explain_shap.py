"""Tests for tracing.explain_shap: LightGBM's own ``pred_contrib`` is the oracle.

The tables must give LightGBM's TreeSHAP values (to 1e-12) on any model and any rows: numeric
and categorical splits, missing values of every kind, zeros, unseen and negative categories,
one output or several. The leaf check must catch tables that decide differently.
"""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing.explain_shap import MAX_UNIQUE, BoosterShap, TreeShap, tree_shap


def _data(seed: int, n: int, *, missing: float, zeros: float, classes: int) -> tuple:
    """Two numeric columns (with NaN and exact zeros), two categorical, one rounded numeric."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(size=n),
            rng.uniform(-2, 2, size=n),
            rng.integers(0, 40, size=n).astype(float),
            rng.integers(0, 4, size=n).astype(float),
            np.round(rng.normal(size=n), 1),
        ]
    )
    x[rng.random(n) < missing, 0] = np.nan
    x[rng.random(n) < zeros, 1] = 0.0
    x[rng.random(n) < missing, 2] = np.nan
    signal = x[:, 1] + np.nan_to_num(x[:, 0], nan=1.5) + (x[:, 2] % 3) + x[:, 4] * (x[:, 3] == 1)
    if classes > 1:
        y = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))
        return x, y.astype(float)
    return x, signal + rng.normal(0, 0.1, n)


def _booster(x, y, *, classes: int, seed: int, **params) -> lgb.Booster:
    objective = {"objective": "multiclass", "num_class": classes} if classes > 1 else {}
    data = lgb.Dataset(x, y, categorical_feature=[2, 3])
    base = {"verbosity": -1, "num_threads": 1, "deterministic": True, "seed": seed}
    return lgb.train({**base, **objective, **params}, data, num_boost_round=params.pop("n", 20))


def _rows_to_explain(x: np.ndarray, seed: int) -> np.ndarray:
    """Rows like the training rows, plus values a model never saw."""
    rng = np.random.default_rng(seed + 1)
    rows = x[rng.choice(len(x), size=300)].copy()
    rows[::7, 2] = 75.0  # a category beyond every bitset
    rows[::11, 2] = -3.0  # negative: goes right, like NaN
    rows[::13, 3] = 2.6  # not an integer: LightGBM truncates it
    rows[::17, 1] = 1e-40  # within 1e-35 of zero: read as 0
    rows[::19, 4] = np.nan  # missing where training had none
    rows[::23, 0] = 0.0
    return rows


def _assert_equal_to_lightgbm(booster: lgb.Booster, rows: np.ndarray) -> None:
    tables = TreeShap.build(booster)
    assert tables is not None
    ours, agrees = tables.values(
        rows, booster.predict(rows, pred_leaf=True).reshape(len(rows), -1)
    )
    assert agrees
    theirs = booster.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    classes=st.sampled_from([1, 1, 3]),
    leaves=st.sampled_from([2, 5, 15, 31]),
    missing=st.sampled_from([0.0, 0.1, 0.4]),
    zeros=st.sampled_from([0.0, 0.2]),
    zero_as_missing=st.booleans(),
    use_missing=st.booleans(),
)
def test_tables_equal_lightgbm_pred_contrib(
    seed, classes, leaves, missing, zeros, zero_as_missing, use_missing
):
    x, y = _data(seed, 600, missing=missing, zeros=zeros, classes=classes)
    booster = _booster(
        x,
        y,
        classes=classes,
        seed=seed,
        num_leaves=leaves,
        min_data_in_leaf=5,
        min_data_per_group=5,
        cat_smooth=1.0,
        zero_as_missing=zero_as_missing,
        use_missing=use_missing,
    )
    _assert_equal_to_lightgbm(booster, _rows_to_explain(x, seed))


def test_deep_trees_with_repeated_features_equal_lightgbm():
    # Many leaves on few features: long paths that split on one feature several times.
    x, y = _data(3, 3000, missing=0.1, zeros=0.1, classes=1)
    booster = _booster(x, y, classes=1, seed=3, num_leaves=63, min_data_in_leaf=3, n=30)
    _assert_equal_to_lightgbm(booster, _rows_to_explain(x, 3))


def test_tree_shap_and_booster_shap_equal_lightgbm_on_small_and_large_calls():
    x, y = _data(1, 1000, missing=0.1, zeros=0.1, classes=3)
    booster = _booster(x, y, classes=3, seed=1, num_leaves=15)
    theirs = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(tree_shap(booster, x), theirs, rtol=0, atol=1e-12)
    shap = BoosterShap(booster, min_rows=500)
    np.testing.assert_allclose(shap(x[:10]), theirs[:10], rtol=0, atol=1e-12)  # pred_contrib
    np.testing.assert_allclose(shap(x), theirs, rtol=0, atol=1e-12)  # the tables
    assert shap(x[:0]).shape == (0, 3 * 6)


def test_tables_that_decide_otherwise_are_caught_and_lightgbm_is_used(caplog):
    x, y = _data(2, 800, missing=0.0, zeros=0.0, classes=1)
    booster = _booster(x, y, classes=1, seed=2, num_leaves=7)
    rows = x[:300]
    leaves = booster.predict(rows, pred_leaf=True)
    tables = TreeShap.build(booster)
    assert tables is not None
    assert tables.values(rows, leaves)[1]
    # Shift every numeric interval: rows near a threshold now land in another leaf.
    numeric = np.isfinite(tables.hi)
    tables.hi[numeric] -= 0.05
    assert not tables.values(rows, leaves)[1]
    shap = BoosterShap(booster, min_rows=0)
    shap._tables, shap._built = tables, True
    with caplog.at_level(logging.WARNING, logger="tracing.explain_shap"):
        values = shap(rows)
    assert "disagree" in caplog.text
    np.testing.assert_array_equal(values, booster.predict(rows, pred_contrib=True))


def test_models_the_tables_do_not_cover_use_pred_contrib():
    x, y = _data(4, 600, missing=0.0, zeros=0.0, classes=1)
    linear = _booster(x[:, [0, 1, 4]], y, classes=1, seed=4, linear_tree=True, n=5)
    assert TreeShap.build(linear) is None  # (LightGBM has no SHAP values for these either)
    stumps = _booster(x, y, classes=1, seed=4, min_data_in_leaf=1000, n=3)  # single leaves
    assert TreeShap.build(stumps) is None
    np.testing.assert_array_equal(
        tree_shap(stumps, x[:5]), stumps.predict(x[:5], pred_contrib=True)
    )


def test_a_leaf_wider_than_the_tables_allow_uses_pred_contrib():
    # MAX_UNIQUE + 2 features, each needed, on a chain of splits: one path uses them all.
    rng = np.random.default_rng(5)
    k = MAX_UNIQUE + 2
    x = rng.normal(size=(4000, k))
    y = np.prod(x > -1.0, axis=1) * 10.0 + rng.normal(0, 0.01, 4000)
    booster = lgb.train(
        {"verbosity": -1, "num_threads": 1, "num_leaves": 64, "min_data_in_leaf": 2},
        lgb.Dataset(x, y),
        num_boost_round=3,
    )
    if TreeShap.build(booster) is not None:
        pytest.skip("LightGBM grew no path with more than MAX_UNIQUE features")
    np.testing.assert_array_equal(
        tree_shap(booster, x[:20]), booster.predict(x[:20], pred_contrib=True)
    )


def test_tables_too_large_for_memory_use_pred_contrib(monkeypatch):
    from tracing import explain_shap

    x, y = _data(6, 600, missing=0.1, zeros=0.0, classes=1)
    booster = _booster(x, y, classes=1, seed=6, num_leaves=15)
    assert TreeShap.build(booster) is not None
    monkeypatch.setattr(explain_shap, "_MAX_TABLE", 100)
    assert TreeShap.build(booster) is None
    expected = booster.predict(x[:300], pred_contrib=True)
    np.testing.assert_array_equal(tree_shap(booster, x[:300]), expected)


def test_explain_gives_the_same_result_with_the_tables_as_with_pred_contrib(monkeypatch):
    # End to end: the rankings and beeswarm values of `explain` do not depend on the route.
    import pandas as pd

    from tracing import explain as engine
    from tracing.analysis import prepare_analysis

    rng = np.random.default_rng(7)

    def frame(n: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        c = rng.choice([f"c{i}" for i in range(8)], size=n)
        z = rng.choice(["ok", "bad"], size=n, p=[0.8, 0.2])
        score = 1 / (1 + np.exp(-(2 * x + np.isin(c, ["c0", "c1"]))))
        label = (score >= 0.5).astype(int)
        flip = rng.random(n) < np.where(z == "bad", 0.5, 0.02)
        noise = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 9, n))
        return pd.DataFrame(
            {
                "x": x,
                "c": c,
                "z": z,
                "noise": noise,
                "prediction_score": score,
                "prediction_label": label,
                "actual_label": np.where(flip, 1 - label, label),
            }
        )

    analysis = prepare_analysis(frame(4000), frame(4000))
    fast = engine.explain(analysis, sample_size=3000, shap_sample_size=600)
    monkeypatch.setattr(
        engine, "BoosterShap", lambda booster: BoosterShap(booster, min_rows=10**9)
    )
    slow = engine.explain(analysis, sample_size=3000, shap_sample_size=600)
    pd.testing.assert_frame_equal(fast.importance, slow.importance, rtol=0, atol=1e-12)
    for a, b in ((fast.values, slow.values), (fast.error_values, slow.error_values)):
        pd.testing.assert_frame_equal(a.drop(columns="shap"), b.drop(columns="shap"))
        np.testing.assert_allclose(a["shap"], b["shap"], rtol=0, atol=1e-12)
