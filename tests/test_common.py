"""Checks every metric of the registry must pass, in the style of scikit-learn's test_common.

The cases are built from the registry itself (`tracing.metrics.METRICS`, one case per metric and
model type it applies to, plus the per-class recalls of multiclass models), never from a
hand-picked list, so a metric added to the registry is checked without touching this file:

- **oracle**: it equals scikit-learn (or the textbook formula where scikit-learn has none),
  through the oracles of `tests/test_metrics.py`: a new metric fails here until it has one;
- **row order**: shuffling the rows leaves it unchanged;
- **label encoding**: the same labels written as ``1``, ``"1"`` or ``True`` (binary), ``0`` or
  ``"0"`` (multiclass), in both columns or mixed across them (numbers beside text or booleans),
  give the same value;
- **partition sums** (every additive metric): for any partition of the rows (drawn by
  Hypothesis), the parts' sufficient statistics sum to the whole's, the metric of the summed
  stats is the whole's metric, and each part's stats give the metric of that part's rows; for
  ratio (decomposable) metrics the whole is the parts' mean weighted by their denominators.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_metrics import _binary_oracle, _multiclass_oracle, _regression_oracle
from tracing.metrics import METRICS, Metric, applicable_metrics, get_metric, prepare, row_stats
from tracing.schema import ModelType, Schema, detect_roles, resolve_schema

N_ROWS = 120
CLASS_RECALL = "recall:<class>"  # stands for every per-class recall of a multiclass schema

CASES = [(m.id, t) for m in METRICS.values() for t in sorted(m.model_types)]
CASES.append((CLASS_RECALL, ModelType.MULTICLASS))
CASE_IDS = [f"{metric_id}-{t.value}" for metric_id, t in CASES]


def _labels(model_type: ModelType, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded actuals, predictions and (binary) scores in their plain integer/float form."""
    rng = np.random.default_rng(seed)
    if model_type is ModelType.BINARY:
        y = (rng.random(N_ROWS) < 0.35).astype(int)
        mean = np.where(y == 1, 0.6, 0.4)
        score = np.clip(rng.normal(mean, 0.2), 0, 1)
        return {"actual": y, "prediction": (score >= 0.5).astype(int), "score": score}
    if model_type is ModelType.MULTICLASS:
        y = rng.integers(0, 3, N_ROWS)
        pred = np.where(rng.random(N_ROWS) < 0.6, y, rng.integers(0, 3, N_ROWS))
        return {"actual": y, "prediction": pred}
    y = rng.gamma(3.0, 5.0, N_ROWS) + 1.0
    return {"actual": y, "prediction": y + rng.normal(0.5, 3.0, N_ROWS)}


def _frame(labels: dict[str, np.ndarray], actual: Callable = np.asarray, prediction=None):
    prediction = actual if prediction is None else prediction
    out = {
        "actual_label": actual(labels["actual"]),
        "prediction_label": prediction(labels["prediction"]),
    }
    if "score" in labels:
        out["prediction_score"] = labels["score"]
    return pd.DataFrame(out)


def _schema(frame: pd.DataFrame, model_type: ModelType) -> Schema:
    schema = resolve_schema([frame], detect_roles(frame.columns))  # detected, as users load data
    assert schema.model_type is model_type
    return schema


def _metrics(metric_id: str, schema: Schema) -> list[Metric]:
    """The case's metrics on a schema: the one metric, or every per-class recall."""
    if metric_id == CLASS_RECALL:
        found = [m for m in applicable_metrics(schema) if m.id.startswith("recall:")]
        assert len(found) == len(schema.classes)
        return found
    return [get_metric(metric_id, schema)]


def _values(metric_id: str, frame: pd.DataFrame, model_type: ModelType) -> dict[str, float]:
    schema = _schema(frame, model_type)
    data = prepare(frame, schema)
    return {m.id: m.compute(data) for m in _metrics(metric_id, schema)}


def _same(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), key


# Label encodings the same labels arrive in: the plain form, as text, as booleans (binary).
def _text(a: np.ndarray) -> np.ndarray:
    return a.astype(str)


def _bool(a: np.ndarray) -> np.ndarray:
    return a.astype(bool)


# Mixed across the two columns too (numbers in one, text or booleans in the other...).
ENCODINGS: dict[ModelType, dict[str, Callable[[np.ndarray], np.ndarray]]] = {
    ModelType.BINARY: {"int": np.asarray, "str": _text, "bool": _bool},
    ModelType.MULTICLASS: {"int": np.asarray, "str": _text},
    ModelType.REGRESSION: {"float": np.asarray},
}


def _oracle(metric_id: str, model_type: ModelType, labels: dict[str, np.ndarray]) -> float:
    y, p = labels["actual"], labels["prediction"]
    if model_type is ModelType.BINARY:
        return _binary_oracle(metric_id, y, p, labels["score"])
    if model_type is ModelType.MULTICLASS:
        return _multiclass_oracle(metric_id, y.astype(str), p.astype(str))
    return _regression_oracle(metric_id, y, p)


@pytest.mark.parametrize(("metric_id", "model_type"), CASES, ids=CASE_IDS)
def test_metric_equals_its_oracle(metric_id, model_type):
    labels = _labels(model_type)
    text = model_type is ModelType.MULTICLASS  # per-class ids name the classes as text
    got = _values(metric_id, _frame(labels, lambda a: a.astype(str) if text else a), model_type)
    for key, value in got.items():
        assert value == pytest.approx(_oracle(key, model_type, labels), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("metric_id", "model_type"), CASES, ids=CASE_IDS)
def test_metric_is_invariant_to_row_order(metric_id, model_type, seed):
    frame = _frame(_labels(model_type))
    order = np.random.default_rng(seed).permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    _same(_values(metric_id, shuffled, model_type), _values(metric_id, frame, model_type))


@pytest.mark.parametrize(("metric_id", "model_type"), CASES, ids=CASE_IDS)
def test_metric_is_invariant_to_label_encoding(metric_id, model_type):
    labels = _labels(model_type)
    encodings = ENCODINGS[model_type]
    want = _values(metric_id, _frame(labels), model_type)
    for name, encode in encodings.items():
        for other_name, other in encodings.items():
            got = _values(metric_id, _frame(labels, encode, other), model_type)
            # Per-class ids name the class as written; compare them in registry order.
            assert list(got.values()) == pytest.approx(
                list(want.values()), rel=1e-9, abs=1e-12, nan_ok=True
            ), (name, other_name)


ADDITIVE = [(i, t) for i, t in CASES if i == CLASS_RECALL or METRICS[i].additive]
ADDITIVE_IDS = [f"{metric_id}-{t.value}" for metric_id, t in ADDITIVE]


def test_the_additive_cases_cover_every_additive_metric():
    covered = {i for i, _ in ADDITIVE}
    assert covered - {CLASS_RECALL} == {m.id for m in METRICS.values() if m.additive}
    assert all(m.additive for m in METRICS.values() if m.decomposable)


@pytest.mark.parametrize(("metric_id", "model_type"), ADDITIVE, ids=ADDITIVE_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_partition_sums_give_the_whole(metric_id, model_type, data):
    frame = _frame(_labels(model_type, seed=3))
    schema = _schema(frame, model_type)
    prep = prepare(frame, schema)
    stats = row_stats(prep)
    k = data.draw(st.integers(1, 6), label="parts")
    groups = st.lists(st.integers(0, k - 1), min_size=N_ROWS, max_size=N_ROWS)
    part = np.asarray(data.draw(groups, label="part of each row"))
    sums = stats.groupby(part).sum()
    whole = stats.sum()
    np.testing.assert_allclose(sums.sum().to_numpy(), whole.to_numpy(), rtol=1e-12, atol=1e-9)
    for metric in _metrics(metric_id, schema):
        expected = metric.compute(prep)
        from_parts = metric.from_stats({str(c): float(v) for c, v in sums.sum().items()})
        assert from_parts == pytest.approx(expected, rel=1e-9, abs=1e-12, nan_ok=True)
        per_part = metric.from_stats({str(c): sums[c].to_numpy() for c in sums.columns})
        for g, value in zip(sums.index, np.atleast_1d(per_part), strict=True):
            rows = prepare(frame[part == g].reset_index(drop=True), schema)
            assert value == pytest.approx(metric.compute(rows), rel=1e-9, abs=1e-12, nan_ok=True)
        if metric.decomposable:  # a ratio: the parts' values weighted by their denominators
            den = sums[metric.volume_stat].to_numpy()
            use = den > 0
            values = np.atleast_1d(per_part)[use]
            weighted = float(np.sum(values * den[use]) / den[use].sum()) if use.any() else np.nan
            assert weighted == pytest.approx(expected, rel=1e-9, abs=1e-12, nan_ok=True)
