"""Generate the demo prediction files, each with a known, planted fault.

Run ``python demo_data/generate.py``: it writes four Parquet files next to this script, then
reads them back, checks that a second generation gives identical frames, and prints the planted
numbers. Everything is drawn from ``numpy.random.default_rng`` generators spawned from one seed
(no global random state), so the files are reproducible.

Story 1: fraud (binary classification), after the white paper "ML performance tracing".
    A card-fraud model is scored on ``fraud_training.parquet`` (60 days ending 2026-10-31) and
    ``fraud_production.parquet`` (the week 2026-11-16 .. 2026-11-22). In both files fraud
    follows the same mechanism: large amounts (for the merchant's category), night hours, young
    cards and risky categories (electronics, travel), and the model's score tracks that
    mechanism well (accuracy ~97%, recall ~0.8, fraud rate ~3%). In production a new merchant,
    ``scammeds.com`` (category "online pharmacy", state "CA" only), takes ~15% of the volume,
    rising through the week. It never appears in training, almost all of its transactions are
    fraud, and they look ordinary (daytime, normal amounts, established cards), so the model
    scores them low and is right on only ~5% of them. Legitimate online pharmacies trade in
    every state in both files, so ``state == "CA"`` and ``merchant_category == "online
    pharmacy"`` are worse than average but dilute the fault; the slice CA / online pharmacy /
    scammeds.com is the precise explanation. A data-quality fault rides along: in production,
    ``customer_age`` is missing on ~4% of rows, all of them ``device == "mobile"``.

Story 2: ride ETA (regression).
    An ETA model is scored on ``eta_training.parquet`` (2026-10-02 .. 2026-10-31) and
    ``eta_production.parquet`` (2026-11-16 .. 2026-11-22). The model is unbiased (mean error
    ~0, MAE ~3 min) everywhere except rides in Seattle in snow, which it under-predicts (it
    barely saw them). In training that segment is ~1% of rides (light October snow, a small
    bias); in the production week a storm makes it ~12% of rides and heavy snow slows them by
    ~9 minutes more than predicted. Snow elsewhere (Denver, Chicago, New York) is predicted
    correctly, so ``weather == "snow"`` and ``city == "Seattle"`` are diluted versions of the
    fault. Prediction error is ``predicted_eta_min - actual_eta_min`` (negative = too
    optimistic); ``actual_eta_min`` is always >= 1 minute, so MAPE is defined.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd

SEED = 20261122
OUT_DIR = Path(__file__).resolve().parent
COMPRESSION: Final[Literal["zstd"]] = "zstd"

FRAUD_TRAIN_ROWS = 20_000
FRAUD_PROD_ROWS = 20_000
SCAM_SHARE = 0.15
SCAM_FRAUD_RATE = 0.95
MISSING_AGE_SHARE = 0.04
SCAM_MERCHANT = "scammeds.com"

ETA_TRAIN_ROWS = 20_000
ETA_PROD_ROWS = 15_000

# ---------------------------------------------------------------------------------------------
# Fraud: vocabularies
# ---------------------------------------------------------------------------------------------

STATES: dict[str, float] = {
    "CA": 0.16, "TX": 0.12, "FL": 0.10, "NY": 0.10, "IL": 0.07, "PA": 0.07,
    "WA": 0.07, "NC": 0.07, "OH": 0.06, "GA": 0.06, "AZ": 0.06, "MI": 0.06,
}  # fmt: skip

# category -> (share of transactions, median amount in dollars, fraud log-odds shift)
CATEGORIES: dict[str, tuple[float, float, float]] = {
    "grocery": (0.19, 45.0, -1.0),
    "restaurants": (0.17, 35.0, -0.8),
    "apparel": (0.12, 70.0, 0.0),
    "gas": (0.11, 40.0, -0.3),
    "electronics": (0.09, 180.0, 1.2),
    "entertainment": (0.08, 30.0, 0.0),
    "home goods": (0.08, 90.0, -0.2),
    "travel": (0.07, 350.0, 1.0),
    "fitness": (0.05, 40.0, -0.5),
    "online pharmacy": (0.04, 60.0, 0.6),
}

# Merchants that always exist (names from the white paper plus a few anchors); they take the
# top Zipf ranks of their category. The rest are prefix + stem + TLD, drawn from the seed.
_FIXED_MERCHANTS: dict[str, list[str]] = {
    "grocery": ["freshcart.com"],
    "restaurants": ["cheddar.com"],
    "apparel": ["shopfast.com"],
    "gas": ["fuelstop.com"],
    "electronics": ["gadgetzone.com"],
    "entertainment": ["ticketrush.com"],
    "home goods": ["nestly.com", "flowers2u.com"],
    "travel": ["flyaway.com"],
    "fitness": ["24hourgym.com"],
    "online pharmacy": ["rxdirect.com", "pillpal.com", "medsnow.net", "carepharm.com"],
}
_STEMS: dict[str, list[str]] = {
    "grocery": ["market", "foods", "pantry", "grocer", "harvest", "basket", "farm"],
    "restaurants": ["eats", "bistro", "grill", "kitchen", "diner", "tacos", "pizza"],
    "apparel": ["wear", "threads", "style", "outfit", "denim", "closet", "shoes"],
    "gas": ["fuel", "gas", "petro", "pump"],
    "electronics": ["tech", "gadgets", "electro", "bytes", "circuit", "pixel"],
    "entertainment": ["tix", "games", "stream", "arcade", "cinema"],
    "home goods": ["home", "decor", "living", "furnish", "lamps"],
    "travel": ["trips", "fly", "stays", "voyage", "fares", "hotels"],
    "fitness": ["fit", "gym", "yoga", "active"],
    "online pharmacy": [],
}
_PREFIXES = [
    "quick", "best", "urban", "daily", "prime", "smart", "blue", "sun", "metro", "happy",
    "green", "star", "red", "city", "true", "go", "my", "top", "easy", "bright",
]  # fmt: skip
_TLDS = np.array([".com", ".com", ".com", ".com", ".net", ".co", ".shop", ".store"])
# merchants per category (150 in all); online pharmacy has only its four legitimate fixed names
_MERCHANT_COUNTS: dict[str, int] = {
    "grocery": 22, "restaurants": 25, "apparel": 20, "gas": 12, "electronics": 15,
    "entertainment": 14, "home goods": 15, "travel": 12, "fitness": 11, "online pharmacy": 4,
}  # fmt: skip

DEVICES = np.array(["mobile", "desktop", "tablet"])
DEVICE_P = np.array([0.55, 0.35, 0.10])

# Relative transaction volume by hour of day (0-23): quiet nights, busy afternoons.
HOUR_WEIGHTS = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.8, 4.5, 5.0, 5.5,
     6.0, 5.8, 5.5, 5.4, 5.6, 6.0, 6.2, 5.8, 5.0, 4.0, 2.8, 1.8]
)  # fmt: skip
NIGHT_HOURS = 6  # hours 0-5 count as "night" for the fraud mechanism

# Fraud mechanism (true log-odds) and the model's approximation of it.
# A steep link makes fraud close to deterministic given the features: that is what lets a
# model reach recall ~0.8 at a 3% base rate. The model sees the same log-odds, blurred by noise
# and shifted up (it flags a little too eagerly, trading precision for recall).
_AMOUNT_SIGMA = 0.8
_FRAUD_INTERCEPT = -4.5
_FRAUD_STEEPNESS = 2.5
_MODEL_NOISE = 1.5
_MODEL_SHIFT = 1.3


def merchant_table(rng: np.random.Generator) -> pd.DataFrame:
    """Return the ~150 legitimate merchants with their category and within-category weight.

    Weights follow a Zipf law (1 / rank**1.1) inside each category, so a few merchants carry
    most of the volume.
    """
    rows: list[tuple[str, str, float]] = []
    used: set[str] = {SCAM_MERCHANT}
    for category, count in _MERCHANT_COUNTS.items():
        names = list(_FIXED_MERCHANTS[category])
        used.update(names)
        while len(names) < count:
            name = (
                str(rng.choice(_PREFIXES))
                + str(rng.choice(_STEMS[category]))
                + str(rng.choice(_TLDS))
            )
            if name not in used:
                used.add(name)
                names.append(name)
        # the fixed names take the top ranks; the generated names share the rest at random
        n_fixed = len(_FIXED_MERCHANTS[category])
        ranks = np.concatenate(
            [np.arange(1, n_fixed + 1), n_fixed + 1 + rng.permutation(count - n_fixed)]
        )
        weights = 1.0 / ranks**1.1
        weights /= weights.sum()
        rows.extend(zip(names, [category] * count, weights, strict=True))
    return pd.DataFrame(rows, columns=["merchant_id", "merchant_category", "weight"])


def _timestamps(
    rng: np.random.Generator, n: int, start: str, days: int, day_weights: np.ndarray | None = None
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Draw ``n`` UTC timestamps over ``days`` days from ``start``; return them and their hour."""
    p = None if day_weights is None else day_weights / day_weights.sum()
    day = rng.choice(days, size=n, p=p)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    second = rng.integers(0, 3600, size=n)
    offset = pd.to_timedelta(day * 86_400 + hour * 3600 + second, unit="s")
    ts = pd.DatetimeIndex(pd.Timestamp(start, tz="UTC") + offset).as_unit("us")
    return ts, hour


def _fraud_features(
    rng: np.random.Generator, n: int, merchants: pd.DataFrame, start: str, days: int
) -> pd.DataFrame:
    """Draw ``n`` ordinary (non-scam) transactions: features only, no labels yet."""
    cats = list(CATEGORIES)
    cat_p = np.array([CATEGORIES[c][0] for c in cats])
    category = np.array(cats)[rng.choice(len(cats), size=n, p=cat_p)]
    merchant = np.empty(n, dtype=object)
    for cat in cats:
        idx = np.flatnonzero(category == cat)
        pool = merchants[merchants["merchant_category"] == cat]
        merchant[idx] = pool["merchant_id"].to_numpy()[
            rng.choice(len(pool), size=len(idx), p=pool["weight"].to_numpy())
        ]
    median = np.array([CATEGORIES[c][1] for c in category])
    ts, hour = _timestamps(rng, n, start, days)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "state": rng.choice(list(STATES), size=n, p=list(STATES.values())),
            "merchant_category": category,
            "merchant_id": merchant,
            "amount": np.round(np.maximum(median * rng.lognormal(0, _AMOUNT_SIGMA, n), 1.0), 2),
            "card_age_months": np.minimum(rng.gamma(1.6, 22.0, n).astype(np.int64), 300),
            "customer_age": np.clip(rng.normal(43, 15, n), 18, 90).astype(np.int64),
            "device": rng.choice(DEVICES, size=n, p=DEVICE_P),
            "hour_of_day": hour,
        }
    )


def _scam_features(rng: np.random.Generator, n: int, start: str, days: int) -> pd.DataFrame:
    """Draw ``n`` scammeds.com transactions: CA only, daytime, ordinary amounts, rising daily."""
    ts, hour = _timestamps(rng, n, start, days, day_weights=np.arange(1.0, days + 1))
    # the scam runs in business hours; move night draws into the day so nothing looks odd
    hour = np.where(hour < NIGHT_HOURS, hour + 12, hour)
    ts = ts.floor("D") + pd.to_timedelta(hour * 3600 + ts.minute * 60 + ts.second, unit="s")
    return pd.DataFrame(
        {
            "timestamp": ts,
            "state": "CA",
            "merchant_category": "online pharmacy",
            "merchant_id": SCAM_MERCHANT,
            "amount": np.round(rng.lognormal(np.log(55.0), 0.35, n), 2),
            "card_age_months": 12 + rng.gamma(2.0, 20.0, n).astype(np.int64),
            "customer_age": np.clip(rng.normal(45, 14, n), 18, 90).astype(np.int64),
            "device": rng.choice(DEVICES, size=n, p=[0.6, 0.35, 0.05]),
            "hour_of_day": hour,
        }
    )


def fraud_log_odds(frame: pd.DataFrame) -> np.ndarray:
    """Return the true log-odds of fraud for ordinary transactions (the planted mechanism)."""
    median = frame["merchant_category"].map({c: v[1] for c, v in CATEGORIES.items()})
    shift = frame["merchant_category"].map({c: v[2] for c, v in CATEGORIES.items()})
    z_amount = (np.log(frame["amount"]) - np.log(median)) / _AMOUNT_SIGMA
    night = (frame["hour_of_day"] < NIGHT_HOURS).to_numpy()
    young = (frame["card_age_months"] < 6).to_numpy()
    logit = _FRAUD_STEEPNESS * (
        _FRAUD_INTERCEPT
        + shift.to_numpy()
        + 1.6 * z_amount.to_numpy()
        + 3.0 * night
        + 2.6 * young
        + 1.5 * night * (z_amount.to_numpy() > 1.0)
        + 0.3 * (frame["device"] == "mobile").to_numpy()
    )
    return np.asarray(logit, dtype=float)


def _score(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    """Return the model's fraud probability: the true log-odds, blurred and shifted a little."""
    noisy = logit + _MODEL_SHIFT + rng.normal(0, _MODEL_NOISE, logit.size)
    return np.round(1.0 / (1.0 + np.exp(-noisy)), 6)


def _finish_fraud(frame: pd.DataFrame, rng: np.random.Generator, prefix: str) -> pd.DataFrame:
    """Sort by time, add noise features and ids, fix dtypes and the column order."""
    n = len(frame)
    frame = frame.sort_values("timestamp", kind="stable", ignore_index=True)
    frame.insert(0, "prediction_id", [f"{prefix}-{i:06d}" for i in range(1, n + 1)])
    frame["noise_a"] = np.round(rng.normal(0, 1, n), 4)
    frame["noise_b"] = np.round(rng.uniform(0, 100, n), 4)
    frame["prediction_label"] = (frame["prediction_score"] >= 0.5).astype(np.int64)
    frame["customer_age"] = frame["customer_age"].astype("Int64")
    for col in ("card_age_months", "hour_of_day", "actual_label"):
        frame[col] = frame[col].astype(np.int64)
    for col in ("prediction_id", "state", "merchant_category", "merchant_id", "device"):
        frame[col] = frame[col].astype("str")
    order = [
        "prediction_id", "timestamp", "state", "merchant_category", "merchant_id", "amount",
        "card_age_months", "customer_age", "device", "hour_of_day", "noise_a", "noise_b",
        "prediction_score", "prediction_label", "actual_label",
    ]  # fmt: skip
    return frame[order]


def make_fraud(seed_seq: np.random.SeedSequence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the fraud training and production frames."""
    rng_merchants, rng_train, rng_prod = (np.random.default_rng(s) for s in seed_seq.spawn(3))
    merchants = merchant_table(rng_merchants)

    train = _fraud_features(rng_train, FRAUD_TRAIN_ROWS, merchants, "2026-09-02", 60)
    logit = fraud_log_odds(train)
    train["actual_label"] = rng_train.random(len(train)) < 1.0 / (1.0 + np.exp(-logit))
    train["prediction_score"] = _score(rng_train, logit)
    train = _finish_fraud(train, rng_train, "tr")

    n_scam = round(SCAM_SHARE * FRAUD_PROD_ROWS)
    normal = _fraud_features(rng_prod, FRAUD_PROD_ROWS - n_scam, merchants, "2026-11-16", 7)
    logit = fraud_log_odds(normal)
    normal["actual_label"] = rng_prod.random(len(normal)) < 1.0 / (1.0 + np.exp(-logit))
    scam = _scam_features(rng_prod, n_scam, "2026-11-16", 7)
    scam["actual_label"] = rng_prod.random(n_scam) < SCAM_FRAUD_RATE
    # the model knows nothing about scammeds.com: it scores it like any other transaction
    scam_logit = fraud_log_odds(scam)
    prod = pd.concat([normal, scam], ignore_index=True)
    prod["prediction_score"] = _score(rng_prod, np.concatenate([logit, scam_logit]))
    prod = _finish_fraud(prod, rng_prod, "pr")

    mobile = np.flatnonzero(prod["device"].to_numpy() == "mobile")
    missing = rng_prod.choice(mobile, size=round(MISSING_AGE_SHARE * len(prod)), replace=False)
    prod.loc[np.sort(missing), "customer_age"] = pd.NA
    return train, prod


# ---------------------------------------------------------------------------------------------
# Ride ETA
# ---------------------------------------------------------------------------------------------

# city -> (share of rides, free-flow speed km/h, zones)
CITIES: dict[str, tuple[float, float, list[str]]] = {
    "New York": (0.24, 22.0, ["Midtown", "SoHo", "Harlem", "Astoria", "Williamsburg"]),
    "San Francisco": (0.20, 26.0, ["Mission", "SoMa", "Marina", "Sunset", "Nob Hill"]),
    "Chicago": (0.18, 30.0, ["Loop", "Wicker Park", "Hyde Park", "Lakeview", "Pilsen"]),
    "Seattle": (0.16, 28.0, ["Capitol Hill", "Ballard", "Fremont", "Queen Anne", "SoDo"]),
    "Denver": (0.12, 34.0, ["LoDo", "Highlands", "Cherry Creek", "Five Points", "RiNo"]),
    "Austin": (0.10, 36.0, ["Downtown", "East Austin", "Zilker", "Hyde Park", "Mueller"]),
}
# zone ids carry a city code so the same neighbourhood name cannot collide across cities
_CITY_CODES = {
    "New York": "NYC",
    "San Francisco": "SF",
    "Chicago": "CHI",
    "Seattle": "SEA",
    "Denver": "DEN",
    "Austin": "AUS",
}
WEATHERS = np.array(["clear", "rain", "snow"])
# (rain, snow) probability per city: October (training) and the production week
WEATHER_TRAIN = {
    "New York": (0.15, 0.0), "San Francisco": (0.10, 0.0), "Chicago": (0.15, 0.02),
    "Seattle": (0.35, 0.06), "Denver": (0.08, 0.08), "Austin": (0.08, 0.0),
}  # fmt: skip
WEATHER_PROD = {
    "New York": (0.20, 0.03), "San Francisco": (0.15, 0.0), "Chicago": (0.15, 0.10),
    "Seattle": (0.15, 0.75), "Denver": (0.10, 0.20), "Austin": (0.10, 0.0),
}  # fmt: skip
_WEATHER_SLOWDOWN = {"clear": 1.0, "rain": 0.85, "snow": 0.7}
VEHICLES = np.array(["economy", "comfort", "xl"])
_VEHICLE_P = np.array([0.60, 0.28, 0.12])
_PICKUP_MIN = {"economy": 3.0, "comfort": 4.0, "xl": 5.5}
# rush hours add traffic
_RUSH = np.isin(np.arange(24), [7, 8, 9, 16, 17, 18, 19])


def _rides(
    rng: np.random.Generator,
    n: int,
    start: str,
    days: int,
    weather_p: dict[str, tuple[float, float]],
) -> pd.DataFrame:
    """Draw ``n`` rides with their features and the model's (unbiased) expected ETA."""
    names = list(CITIES)
    city = np.array(names)[rng.choice(len(names), size=n, p=[CITIES[c][0] for c in names])]
    zone = np.empty(n, dtype=object)
    weather = np.empty(n, dtype=object)
    for name in names:
        idx = np.flatnonzero(city == name)
        zones = [f"{_CITY_CODES[name]}-{z}" for z in CITIES[name][2]]
        zone[idx] = rng.choice(zones, size=idx.size, p=[0.3, 0.25, 0.2, 0.15, 0.1])
        rain, snow = weather_p[name]
        weather[idx] = rng.choice(WEATHERS, size=idx.size, p=[1 - rain - snow, rain, snow])
    ts, hour = _timestamps(rng, n, start, days)
    vehicle = rng.choice(VEHICLES, size=n, p=_VEHICLE_P)
    distance = np.round(np.clip(rng.lognormal(np.log(6.0), 0.6, n), 0.5, 60.0), 2)
    traffic = np.round(np.clip(rng.beta(2, 5, n) + 0.25 * _RUSH[hour], 0.0, 1.0), 3)
    speed = (
        np.array([CITIES[c][1] for c in city])
        * (1 - 0.55 * traffic)
        * np.array([_WEATHER_SLOWDOWN[w] for w in weather])
    )
    expected = np.array([_PICKUP_MIN[v] for v in vehicle]) + distance / speed * 60
    return pd.DataFrame(
        {
            "requested_at": ts,
            "city": city,
            "pickup_zone": zone,
            "vehicle_type": vehicle,
            "distance_km": distance,
            "traffic_index": traffic,
            "weather": weather,
            "driver_rating": np.round(np.clip(5 - rng.gamma(1.5, 0.15, n), 3.5, 5.0), 2),
            "expected": expected,
        }
    )


def _finish_eta(
    frame: pd.DataFrame, rng: np.random.Generator, prefix: str, seattle_snow_slowdown: float
) -> pd.DataFrame:
    """Add the model's prediction and the actual ETA (with the planted slowdown); tidy up."""
    n = len(frame)
    expected = frame.pop("expected").to_numpy()
    seg = ((frame["city"] == "Seattle") & (frame["weather"] == "snow")).to_numpy()
    # skewed, zero-mean ride noise: most rides are a bit quick, a few run long
    noise = (rng.gamma(2.0, 1.0, n) - 2.0) * (1.3 + 0.058 * expected)
    actual = expected * np.where(seg, seattle_snow_slowdown, 1.0) + noise
    frame["predicted_eta_min"] = np.round(expected + rng.normal(0, 0.8, n), 2)
    frame["actual_eta_min"] = np.round(np.maximum(actual, 1.0), 2)
    frame = frame.sort_values("requested_at", kind="stable", ignore_index=True)
    frame.insert(0, "ride_id", [f"{prefix}-{i:06d}" for i in range(1, n + 1)])
    for col in ("ride_id", "city", "pickup_zone", "vehicle_type", "weather"):
        frame[col] = frame[col].astype("str")
    return frame


def make_eta(seed_seq: np.random.SeedSequence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the ETA training and production frames."""
    rng_train, rng_prod = (np.random.default_rng(s) for s in seed_seq.spawn(2))
    train = _rides(rng_train, ETA_TRAIN_ROWS, "2026-10-02", 30, WEATHER_TRAIN)
    train = _finish_eta(train, rng_train, "rt", seattle_snow_slowdown=1.1)
    prod = _rides(rng_prod, ETA_PROD_ROWS, "2026-11-16", 7, WEATHER_PROD)
    prod = _finish_eta(prod, rng_prod, "rp", seattle_snow_slowdown=1.28)
    return train, prod


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Return every demo frame, keyed by file name."""
    fraud_seq, eta_seq = np.random.SeedSequence(seed).spawn(2)
    fraud_train, fraud_prod = make_fraud(fraud_seq)
    eta_train, eta_prod = make_eta(eta_seq)
    return {
        "fraud_training.parquet": fraud_train,
        "fraud_production.parquet": fraud_prod,
        "eta_training.parquet": eta_train,
        "eta_production.parquet": eta_prod,
    }


def _binary_summary(frame: pd.DataFrame) -> str:
    y, p = frame["actual_label"], frame["prediction_label"]
    recall = ((y == 1) & (p == 1)).sum() / max((y == 1).sum(), 1)
    return (
        f"n={len(frame):>6}  fraud rate={y.mean():.2%}  accuracy={(y == p).mean():.2%}  "
        f"recall={recall:.3f}"
    )


def _regression_summary(frame: pd.DataFrame) -> str:
    err = frame["predicted_eta_min"] - frame["actual_eta_min"]
    return f"n={len(frame):>6}  mean error={err.mean():+.2f}  MAE={err.abs().mean():.2f}"


def report(frames: dict[str, pd.DataFrame]) -> None:
    """Print the planted numbers."""
    train, prod = frames["fraud_training.parquet"], frames["fraud_production.parquet"]
    scam = prod["merchant_id"] == SCAM_MERCHANT
    ca = prod["state"] == "CA"
    pharmacy = prod["merchant_category"] == "online pharmacy"
    print("fraud training          ", _binary_summary(train))
    print("fraud production        ", _binary_summary(prod))
    print("  scammeds.com          ", _binary_summary(prod[scam]), f"share={scam.mean():.2%}")
    print("  everything else       ", _binary_summary(prod[~scam]))
    print("  state=CA              ", _binary_summary(prod[ca]))
    print("  CA without scammeds   ", _binary_summary(prod[ca & ~scam]))
    print("  online pharmacy       ", _binary_summary(prod[pharmacy]))
    print("  pharmacy w/o scammeds ", _binary_summary(prod[pharmacy & ~scam]))
    missing = prod["customer_age"].isna()
    print(
        f"  customer_age missing: {missing.sum()} rows ({missing.mean():.2%}), devices: "
        f"{sorted(prod.loc[missing, 'device'].unique())}; training missing: "
        f"{int(train.isna().sum().sum())}"
    )
    daily = prod.groupby(prod["timestamp"].dt.date)["merchant_id"].apply(
        lambda s: f"{(s == SCAM_MERCHANT).mean():.1%}"
    )
    print("  scammeds.com daily share:", ", ".join(daily.tolist()))
    for name in ("eta_training.parquet", "eta_production.parquet"):
        eta = frames[name]
        seg = (eta["city"] == "Seattle") & (eta["weather"] == "snow")
        print(f"{name:<24}", _regression_summary(eta))
        print("  Seattle & snow        ", _regression_summary(eta[seg]), f"share={seg.mean():.2%}")
        print("  everything else       ", _regression_summary(eta[~seg]))
        print("  weather=snow          ", _regression_summary(eta[eta["weather"] == "snow"]))
        print("  city=Seattle          ", _regression_summary(eta[eta["city"] == "Seattle"]))
        print(f"  min actual_eta_min={eta['actual_eta_min'].min():.2f}")


def main() -> int:
    """Write the files, check them (round trip, determinism, sizes) and print the numbers."""
    frames = generate()
    for name, frame in frames.items():
        frame.to_parquet(OUT_DIR / name, compression=COMPRESSION, index=False)
    again = generate()
    for name, frame in frames.items():
        path = OUT_DIR / name
        assert frame.equals(again[name]), f"{name}: a second generation differs"
        assert pd.read_parquet(path).equals(frame), f"{name}: Parquet round trip differs"
        size = path.stat().st_size
        assert size < 2_000_000, f"{name}: {size} bytes, over the 2 MB budget"
        print(f"wrote {path.name}: {len(frame)} rows, {size / 1e6:.2f} MB")
    fraud_ids = pd.concat([frames[n]["prediction_id"] for n in list(frames)[:2]])
    assert fraud_ids.is_unique, "prediction_id repeats across the fraud files"
    assert not frames["fraud_training.parquet"]["merchant_id"].eq(SCAM_MERCHANT).any()
    report(frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
