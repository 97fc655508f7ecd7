"""Shared fixtures: seeded synthetic predictions for each model type, and the demo files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo_data"


def make_binary(n: int = 400, seed: int = 0, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3 + shift).astype(int)
    score = np.clip(np.where(y == 1, rng.normal(0.65, 0.2, n), rng.normal(0.35, 0.2, n)), 0, 1)
    return pd.DataFrame(
        {
            "prediction_id": [f"p{seed}-{i}" for i in range(n)],
            "state": rng.choice(["CA", "NY", "TX"], n),
            "amount": rng.lognormal(3, 1, n),
            "prediction_score": score,
            "prediction_label": (score >= 0.5).astype(int),
            "actual_label": y,
        }
    )


def make_multiclass(n: int = 400, seed: int = 0, k: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    classes = np.array(["cat", "dog", "bird", "fish", "cow"][:k])
    y = rng.choice(classes, n, p=np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    noisy = rng.random(n) < 0.35
    pred = np.where(noisy, rng.choice(classes, n), y)
    return pd.DataFrame({"color": rng.choice(["red", "blue"], n), "predicted": pred, "actual": y})


def make_regression(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.gamma(3, 5, n) + 1
    return pd.DataFrame(
        {
            "city": rng.choice(["A", "B"], n),
            "y_pred": y + rng.normal(0.5, 3, n),
            "y_true": y,
        }
    )


def make_scored_log(times: pd.DatetimeIndex, seed: int = 0) -> pd.DataFrame:
    """A binary prediction log at ``times``: calibrated scores, labels and actuals."""
    rng = np.random.default_rng(seed)
    score = rng.random(len(times))
    return pd.DataFrame(
        {
            "timestamp": times,
            "prediction_score": score,
            "prediction_label": (score >= 0.5).astype(int),
            "actual_label": (rng.random(len(times)) < score).astype(int),
        }
    )


@pytest.fixture
def binary_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_binary(seed=1), make_binary(seed=2, shift=0.1)
