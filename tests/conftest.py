"""Shared fixtures: seeded synthetic predictions for each model type, and the demo files."""

from __future__ import annotations

import os
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


# ---------------------------------------------------------------------------------------------
# SQL engines: the backends the engine tests run on


# Spark session settings for the suite's tiny tables: compiling each query's generated code
# and re-planning it adaptively cost more than running it (~20% of the Spark cases' time).
# Set in the environment so that backends the CLI and the app open get them too.
SPARK_TEST_CONF = (
    "spark.sql.codegen.wholeStage=false,spark.sql.adaptive.enabled=false,"
    "spark.sql.shuffle.partitions=1"
)
os.environ.setdefault("TRACING_SPARK_CONF", SPARK_TEST_CONF)


def _spark_backend():
    from tracing import settings
    from tracing.engine_spark import SparkBackend

    return SparkBackend(conf=settings.get("TRACING_SPARK_CONF"))


@pytest.fixture(scope="session")
def spark_session_user():
    """One share of the Spark session held for the whole run, so modules do not restart it.

    Each module's `SparkBackend` opens a session of its own on the shared root session (its
    own views); the root stops when its last user closes, which this share delays to the end.
    """
    from tracing.engine_spark import spark_available

    if not spark_available():
        pytest.skip("Spark needs Java (apt-get install default-jre-headless) and pyspark")
    user = _spark_backend()
    # A JVM started here compiles quickly (tiny queries spend their time in the JIT).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        user.query("SELECT 1 AS one")
    yield user
    user.close()


@pytest.fixture(scope="module", params=["duckdb", "spark"])
def engine_backend(request):
    """A fresh backend of each SQL engine for the module: DuckDB, then Spark (skipped without
    Java and pyspark); every module's Spark backend shares the one session of the run."""
    if request.param == "duckdb":
        from tracing.engine_duckdb import DuckBackend

        engine = DuckBackend(threads=2)
    else:
        request.getfixturevalue("spark_session_user")
        engine = _spark_backend()
    engine.query("SELECT 1 AS one")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def duck():
    """A DuckDB backend for the module's DuckDB-only cases."""
    from tracing.engine_duckdb import DuckBackend

    backend = DuckBackend(threads=2)
    yield backend
    backend.close()
