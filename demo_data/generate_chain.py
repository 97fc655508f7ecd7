"""Generate the model-chain demo: a traffic-speed model feeding an ETA model.

Run ``python demo_data/generate_chain.py``: it writes four Parquet files, the ETA model
(``chain_eta.skops``) and ``chain.toml`` next to this script, checks that a second generation
gives identical frames and predictions and that everything stays under 1 MB, and prints the
planted numbers. Every draw comes from ``numpy.random.default_rng`` generators spawned from one
seed (no global random state).

Story (``python -m tracing chain --config demo_data/chain.toml``):

- ``traffic`` predicts a trip's average speed (km/h, ``speed_pred``) from its road type, hour
  and rain; the actual is ``speed``. Its baseline is October 2026, production one November week.
- ``eta`` predicts the trip's duration (minutes, ``eta_pred``) from the distance, the hour, rain
  and ``traffic_speed``, which is ``traffic``'s prediction for the same ``trip_id``. It is a
  scikit-learn gradient-boosting model trained on the baseline trips and saved with skops.
- **Planted fault, upstream only.** In production, road works slow every arterial road by 40%;
  the traffic model still predicts the old speeds, so it overestimates them there and its MAE
  rises. The ETA model is unchanged, but fed too-high speeds it promises too-short trips on
  arterial roads: its MAE rises too. With the actual speeds in place of ``traffic``'s
  predictions (the counterfactual), the ETA model is as good as in the baseline, so
  ``traffic`` is the culprit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import GradientBoostingRegressor

HERE = Path(__file__).resolve().parent
SEED = 20261202
N_ROWS = 3000
BUDGET = 1_000_000  # bytes, all chain files together
ROAD_SPEED = {"highway": 95.0, "arterial": 50.0, "residential": 30.0}
ROAD_SHARE = (0.35, 0.4, 0.25)
WORKS_SLOWDOWN = 0.6  # production: arterial roads at 60% of their usual speed
ETA_FEATURES = ["distance_km", "hour", "rain", "traffic_speed"]

CHAIN_TOML = """\
# A traffic-speed model feeding an ETA model (python demo_data/generate_chain.py).
[[model]]
name = "traffic"
baseline = "chain_traffic_baseline.parquet"
production = "chain_traffic_production.parquet"
id = "trip_id"
timestamp = "timestamp"
prediction = "speed_pred"
actual = "speed"
features = ["road_type", "hour", "rain"]
model_type = "regression"

[[model]]
name = "eta"
baseline = "chain_eta_baseline.parquet"
production = "chain_eta_production.parquet"
id = "trip_id"
timestamp = "timestamp"
prediction = "eta_pred"
actual = "eta"
features = ["distance_km", "hour", "rain", "traffic_speed"]
model_type = "regression"
inputs = { traffic_speed = "traffic" }   # eta's feature traffic_speed is traffic's prediction
model_file = "chain_eta.skops"
"""


def _trips(rng: np.random.Generator, start: str, days: int, prefix: str) -> pd.DataFrame:
    seconds = np.sort(rng.integers(0, days * 86400, N_ROWS))
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "trip_id": [f"{prefix}{i:05d}" for i in range(N_ROWS)],
            "timestamp": ts,
            "road_type": rng.choice(list(ROAD_SPEED), N_ROWS, p=ROAD_SHARE),
            "hour": ts.hour.astype("int64"),
            "rain": rng.random(N_ROWS) < 0.2,
            "distance_km": np.round(rng.gamma(3.0, 2.5, N_ROWS) + 0.5, 2),
        }
    )


def _expected_speed(trips: pd.DataFrame) -> np.ndarray:
    """What the traffic model learnt: the usual speed for the road, hour and weather."""
    rush = trips["hour"].isin([7, 8, 9, 16, 17, 18]).to_numpy()
    base = trips["road_type"].map(ROAD_SPEED).to_numpy(dtype=float)
    return base * np.where(rush, 0.65, 1.0) * np.where(trips["rain"], 0.85, 1.0)


def _side(rng: np.random.Generator, trips: pd.DataFrame, works: bool) -> pd.DataFrame:
    expected = _expected_speed(trips)
    actual = expected * rng.lognormal(0.0, 0.12, len(trips))
    if works:
        actual = np.where(trips["road_type"] == "arterial", actual * WORKS_SLOWDOWN, actual)
    out = trips.copy()
    out["speed_pred"] = np.round(expected + rng.normal(0.0, 2.0, len(trips)), 2)
    out["speed"] = np.round(actual, 2)
    stops = np.clip(rng.normal(3.0, 1.5, len(trips)), 0.0, None)
    out["eta"] = np.round(out["distance_km"] / out["speed"] * 60.0 + stops, 2)
    return out


def generate() -> tuple[dict[str, pd.DataFrame], GradientBoostingRegressor]:
    """Return the four tables (by file name) and the ETA model."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(SEED).spawn(4)]
    base = _side(rngs[0], _trips(rngs[1], "2026-10-01", 31, "b"), works=False)
    prod = _side(rngs[2], _trips(rngs[3], "2026-11-16", 7, "p"), works=True)
    for side in (base, prod):
        side["traffic_speed"] = side["speed_pred"]
    model = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)
    model.fit(base[ETA_FEATURES].astype(float), base["eta"])
    tables = {}
    for name, side in (("baseline", base), ("production", prod)):
        side["eta_pred"] = np.round(model.predict(side[ETA_FEATURES].astype(float)), 2)
        traffic = ["trip_id", "timestamp", "road_type", "hour", "rain", "speed_pred", "speed"]
        eta = ["trip_id", "timestamp", *ETA_FEATURES, "eta_pred", "eta"]
        tables[f"chain_traffic_{name}.parquet"] = side[traffic].reset_index(drop=True)
        tables[f"chain_eta_{name}.parquet"] = side[eta].reset_index(drop=True)
    for t in tables.values():
        if "rain" in t:
            t["rain"] = t["rain"].astype("int64")  # 0/1, so the model reads it as a number
    return tables, model


def main() -> None:
    """Write the files, check them and print the planted numbers."""
    tables, model = generate()
    again, model2 = generate()
    for name, frame in tables.items():
        assert frame.equals(again[name]), name
        frame.to_parquet(HERE / name, index=False, compression="zstd")
        assert pd.read_parquet(HERE / name).equals(frame), name
    prod = tables["chain_eta_production.parquet"]
    assert np.array_equal(model.predict(prod[ETA_FEATURES]), model2.predict(prod[ETA_FEATURES]))
    sio.dump(model, HERE / "chain_eta.skops", compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    (HERE / "chain.toml").write_text(CHAIN_TOML, encoding="utf-8")
    names = [*tables, "chain_eta.skops", "chain.toml"]
    size = sum((HERE / n).stat().st_size for n in names)
    assert size < BUDGET, f"chain demo files take {size:,} bytes, over {BUDGET:,}"
    for model_name, pred, actual in (
        ("traffic", "speed_pred", "speed"),
        ("eta", "eta_pred", "eta"),
    ):
        for side in ("baseline", "production"):
            t = tables[f"chain_{model_name}_{side}.parquet"]
            print(f"{model_name} {side}: MAE {np.mean(np.abs(t[pred] - t[actual])):.3f}")
    print(f"chain demo: {len(names)} files, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
