"""Tests for tracing.explain: planted dependencies in seeded synthetic data are the oracle.

The model outputs below depend on known features only (x1 and c), the errors on z only, so the
rankings have known answers; logged SHAP columns are checked against numpy; a loaded tree model
that only splits on one column must give exactly zero SHAP to every other column.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tracing.analysis import Analysis, prepare_analysis
from tracing.errors import DataError
from tracing.explain import (
    QUICK_SHAP_SAMPLE_SIZE,
    QUICK_TREES,
    Explanation,
    explain,
    explain_cached,
    load_model,
)
from tracing.io import read_table
from tracing.options import ExplainOptions
from tracing.render.markdown import explain_summary as markdown_summary
from tracing.render.markdown import importance_section as markdown_section
from tracing.report import build_report, build_section, jsonable

KINDS = ["regression", "binary_score", "binary_label", "multiclass"]
DEMO = Path(__file__).resolve().parents[1] / "demo_data"


def _features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "c": rng.choice([f"c{i}" for i in range(6)], size=n),
            "z": rng.choice(["ok", "bad"], size=n, p=[0.8, 0.2]),
            "noise1": rng.normal(size=n),
            "noise2": rng.uniform(0, 100, size=n),
            "noise_cat": rng.choice(list("vwxyz"), size=n),
        }
    )


def _synthetic(kind: str, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Output depends on x1 and c only; errors depend on z only."""
    rng = np.random.default_rng(seed)
    df = _features(rng, n)
    signal = 2 * df["x1"].to_numpy() + 2 * df["c"].isin(["c0", "c1", "c2"]).to_numpy() - 1
    bad = (df["z"] == "bad").to_numpy()
    if kind == "regression":
        df["prediction_label"] = signal
        df["actual_label"] = signal + rng.normal(0, 0.1, n) + bad * rng.normal(0, 5, n)
        return df
    if kind == "multiclass":
        names = np.array(["lo", "mid", "hi"])
        label = names[np.digitize(signal, [-1.0, 1.0])]
        wrong = rng.random(n) < np.where(bad, 0.6, 0.02)
        df["prediction_label"] = label
        df["actual_label"] = np.where(wrong, rng.choice(names, n), label)
        return df
    score = 1 / (1 + np.exp(-2 * signal))
    label = (score >= 0.5).astype(int)
    flip = rng.random(n) < np.where(bad, 0.5, 0.02)
    if kind == "binary_score":
        df["prediction_score"] = score
    df["prediction_label"] = label
    df["actual_label"] = np.where(flip, 1 - label, label)
    return df


def _analysis(kind: str, n: int = 3000, **kwargs: object) -> Analysis:
    return prepare_analysis(_synthetic(kind, n, seed=1), _synthetic(kind, n, seed=2), **kwargs)


@pytest.fixture(scope="module")
def synthetic_explanations() -> dict[str, Explanation]:
    return {kind: explain(_analysis(kind), shap_sample_size=1000) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_surrogate_ranks_the_two_driving_features_first(kind, synthetic_explanations):
    exp = synthetic_explanations[kind]
    assert exp.source == "surrogate"
    assert set(exp.importance["feature"].head(2)) == {"x1", "c"}
    assert exp.importance["rank"].tolist() == list(range(1, 7))
    assert exp.fidelity_metric == ("r2" if kind in ("regression", "binary_score") else "agreement")
    assert exp.fidelity > 0.9
    assert exp.fidelity_warning is None
    assert exp.train_rows == int(0.8 * 6000)


@pytest.mark.parametrize("kind", KINDS)
def test_error_model_ranks_the_error_driver_first(kind, synthetic_explanations):
    exp = synthetic_explanations[kind]
    by_error = exp.importance.sort_values("error_mean_abs_shap", ascending=False)
    assert by_error["feature"].iloc[0] == "z"
    expected = {"regression": "absolute error", "binary_score": "log loss"}
    assert exp.error_target == expected.get(kind, "error (1 - correct)")
    assert set(exp.error_values["feature"]) == set(exp.importance["feature"])


def test_fidelity_warning_when_the_output_is_noise():
    base, prod = _synthetic("regression", seed=1), _synthetic("regression", seed=2)
    for i, df in enumerate((base, prod)):
        df["prediction_label"] = np.random.default_rng(10 + i).normal(size=len(df))
    exp = explain(prepare_analysis(base, prod), shap_sample_size=200)
    assert exp.fidelity < 0.7
    assert "R²" in exp.fidelity_warning


def test_missing_values_are_kept_as_a_signal():
    frames = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        df = _features(rng, 2000)
        missing = rng.random(2000) < 0.3
        df["m"] = np.where(missing, np.nan, rng.normal(size=2000))
        df["prediction_label"] = 5.0 * missing + 0.01 * rng.normal(size=2000)
        df["actual_label"] = df["prediction_label"] + rng.normal(size=2000)
        frames.append(df)
    exp = explain(prepare_analysis(*frames), shap_sample_size=300)
    assert exp.importance["feature"].iloc[0] == "m"
    beeswarm = exp.values[exp.values["feature"] == "m"]
    assert (beeswarm["value"] == "(missing)").any()
    assert beeswarm.loc[beeswarm["value"] == "(missing)", "value_norm"].isna().all()


# ---------------------------------------------------------------------------------------------
# Logged SHAP values


def _with_logged_shap(seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = _synthetic("regression", n, seed)
    for col, scale in (("x1", 1.0), ("c", 3.0), ("noise1", 0.2)):
        df[f"{col}_shap"] = rng.normal(0, scale, n)
    df.loc[df.index[:50], "noise1_shap"] = np.nan
    return df


def test_logged_shap_ranking_equals_their_mean_absolute_value():
    base, prod = _with_logged_shap(1), _with_logged_shap(2)
    mask = (prod["z"] == "bad").to_numpy()
    exp = explain(prepare_analysis(base, prod), slice_mask=mask)
    assert exp.source == "logged"
    table = exp.importance.set_index("feature")
    for col in ("x1", "c", "noise1"):
        for frame, key, rows in (
            (prod, "mean_abs_shap", slice(None)),
            (base, "baseline_mean_abs_shap", slice(None)),
            (prod, "slice_mean_abs_shap", mask),
            (prod, "rest_mean_abs_shap", ~mask),
        ):
            values = frame[f"{col}_shap"].to_numpy()[rows]
            assert table.loc[col, key] == pytest.approx(np.nanmean(np.abs(values)), rel=1e-12)
    assert exp.importance["feature"].head(3).tolist() == ["c", "x1", "noise1"]
    assert exp.sample_rows == len(prod)
    assert exp.fidelity is None
    # The error model still runs on the features, beside the logged ranking.
    assert table["error_mean_abs_shap"].idxmax() == "z"


def test_logged_source_without_shap_columns_is_refused():
    with pytest.raises(DataError, match="_shap"):
        explain(_analysis("regression", 500), source="logged")


# ---------------------------------------------------------------------------------------------
# The fraud demo


def test_fraud_demo_error_model_ranks_merchant_and_state_above_noise():
    analysis = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    exp = explain(analysis, shap_sample_size=1000)
    error = exp.importance.set_index("feature")["error_mean_abs_shap"]
    noise = max(error["noise_a"], error["noise_b"])
    assert error["merchant_id"] > noise
    assert error["state"] > noise
    assert error.idxmax() == "merchant_id"
    assert exp.error_target == "log loss"


# ---------------------------------------------------------------------------------------------
# Slices, sampling, determinism, progress


def test_slice_vs_rest_finds_a_feature_that_matters_only_in_the_slice():
    frames = []
    for seed in (1, 2):
        df = _synthetic("regression", 3000, seed)
        in_slice = (df["noise_cat"] == "v").to_numpy()
        df["prediction_label"] = df["x1"] + in_slice * 4 * df["noise1"]
        frames.append(df)
    mask = (frames[1]["noise_cat"] == "v").to_numpy()
    exp = explain(prepare_analysis(*frames), slice_mask=mask, shap_sample_size=500)
    table = exp.importance.set_index("feature")
    assert (
        table.loc["noise1", "slice_mean_abs_shap"] > 5 * table.loc["noise1", "rest_mean_abs_shap"]
    )
    assert table.loc["x1", "rest_mean_abs_shap"] > table.loc["noise1", "rest_mean_abs_shap"]
    assert exp.values["in_slice"].to_numpy().tolist() == mask[exp.values["row"]].tolist()


def test_slice_mask_of_the_wrong_length_is_refused():
    with pytest.raises(DataError, match="one True/False per production row"):
        explain(_analysis("regression", 500), slice_mask=np.ones(10, dtype=bool))


def test_same_inputs_give_the_same_explanation():
    analysis = _analysis("binary_score", 4000)
    runs = [
        explain(analysis, sample_size=3000, shap_sample_size=300, random_state=7) for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0].importance, runs[1].importance)
    pd.testing.assert_frame_equal(runs[0].values, runs[1].values)
    pd.testing.assert_frame_equal(runs[0].error_values, runs[1].error_values)
    assert runs[0].fidelity == runs[1].fidelity
    other = explain(analysis, sample_size=3000, shap_sample_size=300, random_state=8)
    assert not other.values["row"].equals(runs[0].values["row"])


def test_samples_are_bounded_and_progress_is_reported():
    calls: list[tuple[float, str]] = []
    exp = explain(
        _analysis("regression", 3000),
        sample_size=1000,
        shap_sample_size=150,
        progress=lambda f, m: calls.append((f, m)),
    )
    assert exp.train_rows == 800  # 1000 rows, 20% held out
    assert exp.sample_rows == 150
    assert exp.values["row"].nunique() == 150
    assert exp.error_values["row"].nunique() == 150
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)


@pytest.mark.parametrize("kind", KINDS)
def test_quick_pass_finds_the_planted_features_on_smaller_samples(kind):
    exp = explain(_analysis(kind, 6000), quick=True)
    assert exp.quick
    assert set(exp.importance["feature"].head(2)) == {"x1", "c"}
    by_error = exp.importance.sort_values("error_mean_abs_shap", ascending=False)
    assert by_error["feature"].iloc[0] == "z"
    assert exp.train_rows == int(0.8 * 5000)  # QUICK_SAMPLE_SIZE, 20% held out
    assert exp.sample_rows == QUICK_SHAP_SAMPLE_SIZE
    assert exp.values["row"].nunique() == QUICK_SHAP_SAMPLE_SIZE
    assert not explain(_analysis(kind, 1000), shap_sample_size=100).quick


def test_quick_pass_shap_values_add_up_to_its_smaller_model():
    # Oracle: LightGBM's own prediction; SHAP values plus the bias term must reproduce it.
    from tracing import explain as engine

    analysis = _analysis("binary_score", 3000)
    rows = np.arange(400)
    encoder, _ = engine._fit_encoder(analysis, rows, rows)
    x = encoder.transform(analysis.production_frame, rows)
    booster = engine._fit_tree(
        x,
        analysis.production.score[rows],
        encoder.categorical,
        num_class=1,
        seed=0,
        trees=engine._QUICK,
    )
    assert booster.num_trees() == QUICK_TREES
    vals = engine._booster_values(booster, encoder)(analysis.production_frame, rows)
    bias = booster.predict(x, pred_contrib=True)[:, -1]
    np.testing.assert_allclose(vals.sum(axis=1) + bias, booster.predict(x), atol=1e-9)


@pytest.mark.parametrize("kind", ["regression", "multiclass"])
def test_tree_shap_values_equal_shap_tree_explainer(kind):
    # Oracle: shap.TreeExplainer on the same booster (ours calls LightGBM's TreeSHAP directly).
    import shap

    from tracing import explain as engine

    analysis = _analysis(kind, 2000)
    rows = np.arange(300)
    encoder, _ = engine._fit_encoder(analysis, rows, rows)
    x = encoder.transform(analysis.production_frame, rows)
    y = analysis.production.y_pred[rows].astype(float)
    classes = np.unique(y) if kind == "multiclass" else np.zeros(0)
    target = np.searchsorted(classes, y).astype(float) if len(classes) else y
    booster = engine._fit_tree(
        x, target, encoder.categorical, num_class=max(len(classes), 1), seed=0
    )
    ours = engine._booster_values(booster, encoder)(analysis.production_frame, rows)
    theirs = np.asarray(shap.TreeExplainer(booster).shap_values(x), dtype=float)
    if theirs.ndim == 3:
        picked = np.argmax(booster.predict(x), axis=1)
        theirs = theirs[np.arange(len(x)), :, picked]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_fraud_demo_quick_pass_agrees_with_the_full_pass_on_what_matters():
    analysis = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    quick, full = explain(analysis, quick=True), explain(analysis)
    assert quick.quick and not full.quick
    for exp in (quick, full):
        error = exp.importance.set_index("feature")["error_mean_abs_shap"]
        assert error.idxmax() == "merchant_id"
    assert quick.importance["feature"].iloc[0] == full.importance["feature"].iloc[0]


def test_beeswarm_frame_is_tidy_and_scaled():
    exp = explain(_analysis("regression", 1000), shap_sample_size=200)
    v = exp.values
    assert list(v.columns) == ["row", "feature", "shap", "value", "value_norm", "in_slice"]
    assert len(v) == 200 * 6
    numeric = v[v["feature"] == "x1"]["value_norm"]
    assert numeric.between(0, 1).all() and numeric.min() == 0 and numeric.max() == 1
    assert v[v["feature"] == "c"]["value_norm"].isna().all()
    assert set(v[v["feature"] == "c"]["value"]) <= {f"c{i}" for i in range(6)}
    # Mean |SHAP| in the ranking is the mean over the same rows the beeswarm shows.
    by_feature = v.groupby("feature")["shap"].apply(lambda s: s.abs().mean())
    table = exp.importance.set_index("feature")["mean_abs_shap"]
    pd.testing.assert_series_equal(by_feature.sort_index(), table.sort_index(), check_names=False)


# ---------------------------------------------------------------------------------------------
# Unusable features


def test_no_usable_features_names_every_column_and_why():
    frames = []
    for seed, start in ((1, 0), (2, 10_000)):
        df = _synthetic("regression", 500, seed)[["prediction_label", "actual_label"]]
        df["order_ref"] = [f"ref-{i}" for i in range(start, start + 500)]
        df["region"] = "north"
        df["comment"] = np.nan
        frames.append(df)
    analysis = prepare_analysis(*frames, roles={"features": ("order_ref", "region", "comment")})
    with pytest.raises(DataError) as info:
        explain(analysis)
    message = str(info.value)
    assert "order_ref (id-like" in message
    assert "region (constant" in message
    assert "comment (empty" in message
    assert "--features" in message


def test_unusable_columns_are_left_out_with_a_note():
    base, prod = _synthetic("regression", 800, 1), _synthetic("regression", 800, 2)
    for df, start in ((base, 0), (prod, 5000)):
        df["order_ref"] = [f"ref-{i}" for i in range(start, start + len(df))]
    exp = explain(prepare_analysis(base, prod), shap_sample_size=100)
    assert "order_ref" not in set(exp.importance["feature"])
    assert any("order_ref (id-like" in n for n in exp.notes)


def test_rare_categories_are_pooled_not_dropped():
    base, prod = _synthetic("regression", 3000, 1), _synthetic("regression", 3000, 2)
    for df, seed in ((base, 1), (prod, 2)):
        rng = np.random.default_rng(seed)
        # A few common merchants plus a long tail of one-off names.
        common = rng.choice(["m0", "m1", "m2"], len(df))
        tail = np.array([f"tail-{seed}-{i}" for i in range(len(df))])
        df["merchant"] = np.where(rng.random(len(df)) < 0.7, common, tail)
        df["prediction_label"] = df["x1"] + 3 * (df["merchant"] == "m0")
    exp = explain(prepare_analysis(base, prod), shap_sample_size=300)
    assert exp.importance["feature"].iloc[0] == "merchant"
    assert not exp.notes


# ---------------------------------------------------------------------------------------------
# Model files (skops)


def _model_analysis(n: int = 1500) -> tuple[Analysis, pd.DataFrame]:
    frames = [_synthetic("regression", n, seed) for seed in (1, 2)]
    return prepare_analysis(*frames), pd.concat(frames, ignore_index=True)


def test_skops_tree_regressor_is_explained_directly(tmp_path):
    frames = [_synthetic("regression", 1500, seed) for seed in (1, 2)]
    cols = ["x1", "noise1", "noise2"]
    model = DecisionTreeRegressor(max_depth=4, random_state=0)
    model.fit(frames[0][cols], frames[0]["x1"])  # only ever splits on x1
    for df in frames:
        df["prediction_label"] = model.predict(df[cols])
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    exp = explain(prepare_analysis(*frames), model_path=path, shap_sample_size=300)
    assert exp.source == "model"
    table = exp.importance.set_index("feature")
    assert table.loc[cols, "mean_abs_shap"].idxmax() == "x1"
    assert table.loc["noise1", "mean_abs_shap"] == 0.0
    assert table.loc["noise2", "baseline_mean_abs_shap"] == 0.0
    assert exp.fidelity == pytest.approx(1.0)  # it made the logged predictions
    assert exp.fidelity_warning is None
    # The error model uses every usable feature of the files, not only the model's inputs.
    assert table["error_mean_abs_shap"].idxmax() == "z"


def test_skops_classifier_explains_the_positive_class(tmp_path):
    frames = [_synthetic("binary_label", 1500, seed) for seed in (1, 2)]
    cols = ["x1", "noise1"]
    model = DecisionTreeClassifier(max_depth=3, random_state=0)
    model.fit(frames[0][cols].to_numpy(), frames[0]["x1"] > 0.3)  # no feature names
    path = tmp_path / "clf.skops"
    sio.dump(model, path)
    analysis = prepare_analysis(*frames, roles={"features": ("x1", "noise1")})
    exp = explain(analysis, source="model", model_path=path.read_bytes(), shap_sample_size=300)
    x1 = exp.values[exp.values["feature"] == "x1"]
    values = analysis.production_frame["x1"].to_numpy()[x1["row"]]
    # SHAP toward the positive class (True): positive exactly where x1 is above the split.
    assert ((x1["shap"].to_numpy() > 0) == (values > 0.3)).all()
    assert exp.importance.set_index("feature").loc["noise1", "mean_abs_shap"] == 0.0


def test_non_tree_model_uses_permutation_shap(tmp_path):
    frames = [_synthetic("regression", 600, seed) for seed in (1, 2)]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["c"]), ("passthrough", ["x1"])
        ),  # every other column is dropped
        LinearRegression(),
    )
    model.fit(frames[0][["c", "x1", "noise1"]], frames[0]["prediction_label"])
    path = tmp_path / "pipe.skops"
    sio.dump(model, path)
    exp = explain(prepare_analysis(*frames), model_path=path, shap_sample_size=40)
    table = exp.importance.set_index("feature")
    assert set(table.index[:2]) == {"c", "x1"}
    assert table.loc["noise1", "mean_abs_shap"] == 0.0
    assert exp.sample_rows == 40
    assert exp.fidelity == pytest.approx(1.0)


def _custom_step(x):
    return x


def test_untrusted_types_are_refused(tmp_path):
    model = make_pipeline(FunctionTransformer(_custom_step), LinearRegression())
    model.fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    path = tmp_path / "custom.skops"
    sio.dump(model, path)
    with pytest.raises(DataError, match="not known to be safe.*_custom_step"):
        load_model(path)


def test_pickles_and_other_files_are_refused(tmp_path):
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(DecisionTreeRegressor()))
    with pytest.raises(DataError, match="pickle"):
        load_model(pkl)
    with pytest.raises(DataError, match="not a skops model file"):
        load_model(b"just some text")


def test_model_source_needs_a_model():
    with pytest.raises(DataError, match="model_path"):
        explain(_analysis("regression", 300), source="model")
    with pytest.raises(DataError, match="choose one of: auto, model, logged, surrogate"):
        explain(_analysis("regression", 300), source="shapley")


# ---------------------------------------------------------------------------------------------
# Report wiring


def test_report_section_and_summary_share_one_computation():
    analysis = _analysis("binary_score", 1000)
    options = {"random_state": 3, "shap_sample_size": 100}
    section = build_section("importance", analysis, options)
    explain_options = ExplainOptions(shap_sample_size=100)
    first = explain_cached(analysis, explain_options, random_state=3)
    assert explain_cached(analysis, explain_options, random_state=3) is first
    assert explain_cached(analysis, explain_options, random_state=4) is not first
    assert [r["feature"] for r in section] == first.importance["feature"].tolist()
    assert set(section[0]) == {
        "feature",
        "mean_abs_shap",
        "baseline_mean_abs_shap",
        "error_mean_abs_shap",
        "source",
    }
    summary = build_report(analysis, sections=["importance"], options=options)["explain"]
    assert summary["source"] == "surrogate"
    assert summary["sample_rows"] == 100
    assert summary["fidelity"] == first.fidelity
    text = json.dumps(jsonable({"importance": section, "explain": summary}))
    assert "NaN" not in text
    lines = markdown_section(json.loads(text)["importance"])
    assert lines[0].startswith("## ") and any(
        "| x1 |" in line or "| c |" in line for line in lines
    )
    assert markdown_summary(summary)[0].startswith("- Importance source: **surrogate**")
