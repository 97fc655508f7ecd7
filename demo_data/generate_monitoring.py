"""Generate the monitoring demo: a churn model over 60 days, two versions, delayed actuals.

Run ``python demo_data/generate_monitoring.py``: it writes three Parquet files next to this
script, reads them back, checks that a second generation gives identical frames and the size
budget, and prints the planted numbers. Every draw comes from ``numpy.random.default_rng``
generators spawned from one seed (no global random state).

Story: a subscription-churn model (positive class ``1`` = the customer churns).

- ``monitoring_training.parquet``: the model's hold-out month (30 days of August 2026), scored by
  version ``v1``, with actuals. It is the baseline: daily accuracy is stable around 0.88.
- ``monitoring_production.parquet``: 60 days of production (2026-09-24 .. 2026-11-22), every
  request routed at random to ``v1`` (70%) or the retrained ``v2`` (30%, which also uses
  ``usage_change``); ``model_version`` says which. ``actual_label`` holds the final truth.
- **Planted drop, covariate shift only.** From 2026-10-30 to 2026-11-08 (10 days) a promotion
  brings price-sensitive month-to-month customers with one to three years of tenure and low
  charges: half of those days' customers. Their churn is close to a coin flip, so the model is
  less sure and less often right: daily accuracy falls by about 5 points. How churn depends on
  the features does not change (no concept shift) and both versions are calibrated, so the
  confidence-based estimate (`tracing.estimate`) follows the realized accuracy day by day.
- ``monitoring_actuals.parquet``: the actuals feed as known on 2026-11-23 (``prediction_id``,
  ``actual_label``, ``actual_timestamp``). A churn is known 10 to ~30 days after the prediction,
  so the last two weeks are mostly unlabeled; 2% of customers are never labeled; 1.5% of labels
  were corrected later (a first, wrong row and a later, right one); and 50 rows belong to
  predictions outside the production file.

Truth: churn log-odds ``g(x) + b * usage_change + h`` with ``h ~ N(0, 0.5^2)`` hidden from both
models. ``v2`` scores ``E_h[sigmoid(g + b * usage_change + h)]``; ``v1`` does not use
``usage_change`` and scores ``E[sigmoid(g + b * u + h)]`` over the unknown usage change and
``h``. Both expectations are exact (Gauss-Hermite quadrature), so both versions are calibrated.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

SEED = 20261123
OUT_DIR = Path(__file__).resolve().parent
COMPRESSION: Final[Literal["zstd"]] = "zstd"

TRAIN_START, TRAIN_DAYS, TRAIN_PER_DAY = "2026-08-01", 30, 2_000
PROD_START, PROD_DAYS, PROD_PER_DAY = "2026-09-24", 60, 2_500
PROMO_START, PROMO_DAYS, PROMO_SHARE = "2026-10-30", 10, 0.5
V2_SHARE = 0.3
AS_OF = pd.Timestamp("2026-11-23", tz="UTC")  # when the actuals feed was exported
NEVER_LABELED, CORRECTED, ORPHANS = 0.02, 0.015, 50

SCALE = 3.5  # steepness of the churn log-odds: sets how sure (and right) the model is
USAGE_EFFECT, USAGE_SD, HIDDEN_SD = -4.0, 0.25, 0.5
CONTRACTS = {"month-to-month": 0.45, "one year": 0.30, "two year": 0.25}
PAYMENTS = {"card": 0.40, "bank transfer": 0.30, "paypal": 0.15, "invoice": 0.15}
REGIONS = ("north", "south", "east", "west")  # unrelated to churn
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def expected_sigmoid(mu: np.ndarray, sd: float) -> np.ndarray:
    """E[sigmoid(mu + sd * Z)], Z standard normal, by Gauss-Hermite quadrature."""
    return np.asarray((expit(mu[:, None] + sd * _NODES[None, :]) * _WEIGHTS).sum(axis=1))


def _timestamps(rng: np.random.Generator, start: str, days: int, per_day: int) -> pd.Series:
    n = days * per_day
    # Traffic peaks in the evening: a mix of uniform and evening-centred seconds of the day.
    day = np.repeat(np.arange(days), per_day)
    evening = rng.random(n) < 0.5
    sec = np.where(evening, rng.normal(19, 2.5, n) % 24, rng.random(n) * 24) * 3600
    stamps = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(day * 86_400 + sec.astype(int), "s")
    return pd.Series(np.sort(stamps.to_numpy()), name="timestamp").dt.as_unit("us")


def _customers(rng: np.random.Generator, promo: np.ndarray) -> pd.DataFrame:
    n = len(promo)
    k = int(promo.sum())
    contract = rng.choice(list(CONTRACTS), n, p=list(CONTRACTS.values())).astype(object)
    tenure = np.clip(rng.gamma(2.0, 14.0, n).round(), 1, 72)
    charges = np.clip(rng.normal(65, 20, n), 18, 120)
    calls = rng.poisson(1.2, n)
    # The promotion's customers: month-to-month, 16-32 months of tenure, low charges.
    contract[promo] = "month-to-month"
    tenure[promo] = rng.integers(16, 33, k)
    charges[promo] = np.clip(rng.normal(45, 6, k), 18, 120)
    calls[promo] = rng.poisson(1.5, k)
    return pd.DataFrame(
        {
            "region": rng.choice(REGIONS, n),
            "contract": contract.astype(str),
            "payment_method": rng.choice(list(PAYMENTS), n, p=list(PAYMENTS.values())),
            "tenure_months": tenure.astype(np.int64),
            "monthly_charges": charges.round(2),
            "support_calls": calls.astype(np.int64),
            "usage_change": rng.normal(0, USAGE_SD, n).round(3),
        }
    )


def churn_log_odds(frame: pd.DataFrame) -> np.ndarray:
    """The known part g(x) of the churn log-odds (without usage_change)."""
    return np.asarray(
        SCALE
        * (
            -0.9
            + 1.3 * (frame["contract"] == "month-to-month")
            - 0.9 * (frame["contract"] == "two year")
            - 0.035 * (frame["tenure_months"] - 24)
            + 0.02 * (frame["monthly_charges"] - 65)
            + 0.45 * (frame["support_calls"] - 1.5)
            + 0.35 * (frame["payment_method"] == "invoice")
        ),
        dtype=float,
    )


def _score(frame: pd.DataFrame, rng: np.random.Generator, versions: np.ndarray) -> pd.DataFrame:
    g = churn_log_odds(frame)
    usage = USAGE_EFFECT * frame["usage_change"].to_numpy()
    truth = expit(g + usage + rng.normal(0, HIDDEN_SD, len(frame)))
    v1 = expected_sigmoid(g, float(np.hypot(USAGE_EFFECT * USAGE_SD, HIDDEN_SD)))
    v2 = expected_sigmoid(g + usage, HIDDEN_SD)
    score = np.where(versions == "v2", v2, v1).round(4)
    return frame.assign(
        model_version=versions,
        prediction_score=score,
        prediction_label=(score >= 0.5).astype(np.int64),
        actual_label=(rng.random(len(frame)) < truth).astype(np.int64),
    )


def _log(
    rng: np.random.Generator, start: str, days: int, per_day: int, prefix: str, v2_share: float
) -> pd.DataFrame:
    stamps = _timestamps(rng, start, days, per_day)
    promo_start = pd.Timestamp(PROMO_START, tz="UTC")
    in_promo = (stamps >= promo_start) & (stamps < promo_start + pd.Timedelta(days=PROMO_DAYS))
    promo = in_promo.to_numpy() & (rng.random(len(stamps)) < PROMO_SHARE)
    frame = _customers(rng, promo)
    versions = np.where(rng.random(len(frame)) < v2_share, "v2", "v1")
    frame = _score(frame, rng, versions)
    ids = pd.Series([f"{prefix}-{i:07d}" for i in range(1, len(frame) + 1)])
    return pd.concat([ids.rename("prediction_id"), stamps, frame], axis=1)


def make_actuals(production: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The actuals feed as exported on `AS_OF`: delays, gaps, corrections and orphans."""
    n = len(production)
    delay = pd.to_timedelta((10 + rng.exponential(5.0, n)) * 86_400, "s").round("s")
    known_at = (production["timestamp"] + delay).dt.as_unit("us")
    keep = (known_at < AS_OF).to_numpy() & (rng.random(n) >= NEVER_LABELED)
    feed = pd.DataFrame(
        {
            "prediction_id": production["prediction_id"],
            "actual_label": production["actual_label"],
            "actual_timestamp": known_at,
        }
    ).loc[keep]
    # Corrections: a first, wrong label, later replaced by the right one (both before AS_OF).
    fix_delay = pd.to_timedelta(rng.exponential(3.0, len(feed)) * 86_400 + 3_600, "s").round("s")
    fixed_at = (feed["actual_timestamp"] + fix_delay).dt.as_unit("us")
    corrected = (rng.random(len(feed)) < CORRECTED) & (fixed_at < AS_OF).to_numpy()
    wrong = feed.loc[corrected].assign(actual_label=lambda f: 1 - f["actual_label"])
    right = feed.loc[corrected].assign(actual_timestamp=fixed_at[corrected])
    orphans = pd.DataFrame(
        {
            "prediction_id": [f"mp-9{i:06d}" for i in range(ORPHANS)],
            "actual_label": rng.integers(0, 2, ORPHANS).astype(np.int64),
            "actual_timestamp": AS_OF - pd.to_timedelta(rng.random(ORPHANS) * 20 * 86_400, "s"),
        }
    )
    orphans["actual_timestamp"] = orphans["actual_timestamp"].dt.round("s").dt.as_unit("us")
    out = pd.concat([feed.loc[~corrected], wrong, right, orphans], ignore_index=True)
    return out.sort_values("actual_timestamp", kind="stable").reset_index(drop=True)


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """All three frames, from one seed."""
    train_rng, prod_rng, act_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    training = _log(train_rng, TRAIN_START, TRAIN_DAYS, TRAIN_PER_DAY, "mt", v2_share=0.0)
    training = training.drop(columns="model_version")
    production = _log(prod_rng, PROD_START, PROD_DAYS, PROD_PER_DAY, "mp", v2_share=V2_SHARE)
    return {
        "monitoring_training.parquet": training,
        "monitoring_production.parquet": production,
        "monitoring_actuals.parquet": make_actuals(production, act_rng),
    }


def _accuracy(frame: pd.DataFrame) -> float:
    return float((frame["prediction_label"] == frame["actual_label"]).mean())


def report(frames: dict[str, pd.DataFrame]) -> None:
    """Print the numbers quoted in README.md."""
    train = frames["monitoring_training.parquet"]
    prod = frames["monitoring_production.parquet"]
    acts = frames["monitoring_actuals.parquet"]
    promo_start = pd.Timestamp(PROMO_START, tz="UTC")
    promo = (prod["timestamp"] >= promo_start) & (
        prod["timestamp"] < promo_start + pd.Timedelta(days=PROMO_DAYS)
    )
    print(f"training   accuracy {_accuracy(train):.4f} churn rate {train.actual_label.mean():.4f}")
    daily = train.groupby(train["timestamp"].dt.floor("D")).apply(_accuracy)
    print(f"  daily accuracy {daily.min():.4f} .. {daily.max():.4f} (std {daily.std():.4f})")
    for label, part in (
        ("production", prod),
        ("  promo days", prod[promo]),
        ("  other days", prod[~promo]),
    ):
        by_version = ", ".join(
            f"{v} {_accuracy(part[part.model_version == v]):.4f}" for v in ("v1", "v2")
        )
        print(f"{label:<12} accuracy {_accuracy(part):.4f} ({by_version}), rows {len(part)}")
    daily = prod.groupby(prod["timestamp"].dt.floor("D")).apply(_accuracy)
    in_promo = (daily.index >= promo_start) & (
        daily.index < promo_start + pd.Timedelta(days=PROMO_DAYS)
    )
    print(
        f"  daily accuracy: promo days {daily[in_promo].min():.4f} .. "
        f"{daily[in_promo].max():.4f}, other days {daily[~in_promo].min():.4f} .. "
        f"{daily[~in_promo].max():.4f}"
    )
    dup = acts["prediction_id"].duplicated(keep=False)
    labeled = prod["prediction_id"].isin(acts["prediction_id"])
    several = acts.loc[dup, "prediction_id"].nunique()
    orphans = int((~acts["prediction_id"].isin(prod["prediction_id"])).sum())
    print(
        f"actuals rows {len(acts)}, ids with several rows {several}, orphans {orphans}, "
        f"predictions with an actual {int(labeled.sum())} of {len(prod)}"
    )
    share = labeled.groupby(prod["timestamp"].dt.floor("D")).mean()
    print("  labeled share by day (last 21):", " ".join(f"{s:.2f}" for s in share.iloc[-21:]))


def write(frame: pd.DataFrame, path: Path) -> None:
    """Parquet with delta encodings for the sorted timestamps and the prefixed ids (-35%)."""
    delta = {
        c: "DELTA_BINARY_PACKED"
        if pd.api.types.is_datetime64_any_dtype(frame[c])
        else "DELTA_BYTE_ARRAY"
        for c in frame.columns
        if c.endswith("timestamp") or c == "prediction_id"
    }
    frame.to_parquet(
        path,
        compression=COMPRESSION,
        index=False,
        column_encoding=delta,
        use_dictionary=[c for c in frame.columns if c not in delta],
    )


def main() -> int:
    """Write the files, check them (round trip, determinism, sizes) and print the numbers."""
    frames = generate()
    for name, frame in frames.items():
        write(frame, OUT_DIR / name)
    again = generate()
    for name, frame in frames.items():
        path = OUT_DIR / name
        assert frame.equals(again[name]), f"{name}: a second generation differs"
        assert pd.read_parquet(path).equals(frame), f"{name}: Parquet round trip differs"
        size = path.stat().st_size
        assert size < 2_000_000, f"{name}: {size} bytes, over the 2 MB budget"
        print(f"wrote {path.name}: {len(frame)} rows, {size / 1e6:.2f} MB")
    ids = pd.concat([frames[n]["prediction_id"] for n in list(frames)[:2]])
    assert ids.is_unique, "prediction_id repeats across training and production"
    report(frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
