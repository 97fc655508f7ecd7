"""Seeded generator of big inference logs: a baseline and a production Parquet dataset.

Run by hand (not part of the tests); reused by the full-report benchmark (``bench/full_report.py``)
and the scale benchmark of issue 16 (``bench/scale.py``)::

    python bench/bigdata.py --out /tmp/big --rows 10000000            # two files
    python bench/bigdata.py --out /tmp/big --rows 100000000 --partitions 20

Writes ``baseline.parquet`` and ``production.parquet`` (or, with ``--partitions K``, the folders
``baseline/`` and ``production/`` of hive partitions ``part=0`` ... ``part=K-1``, each a
contiguous block of rows, so a reader's ``part`` column is uniform on both sides and carries no
signal). Rows are generated and written one row group at a time (``CHUNK`` rows), so memory stays
flat whatever ``--rows`` is: 100M rows are fine. The data depend only on the seed and the row
counts (not on ``--partitions``): every chunk draws from its own ``SeedSequence`` child.

Columns, like a binary model's logs:

- ``prediction_id`` (int64, unique across both sides), ``timestamp`` (UTC, sorted: the 30 days
  before 2026-11-01 for the baseline, the 30 days from it for production);
- 20 features: 8 string categoricals, Parquet dictionary-encoded, cardinality 3 to 5,000 with
  Zipf-like frequencies (``CATEGORICALS``); 10 floats with ~2% missing (``FLOATS``); an integer
  ``num_items``; a bool ``is_returning``;
- ``prediction_score`` (a calibrated-looking probability), ``prediction_label`` (score >= 0.5)
  and ``actual_label`` (0/1, drawn from the true probability).

Planted in production only:

- a slice (``PLANTED``: ``state=state_7 & device=device_1 & channel=channel_2``) on ~2% of the
  rows, all from day 10 on (3% of those days' rows), where the prediction is wrong 60% of the
  time; the baseline has no such rows beyond the slice's natural frequency;
- drift (``DRIFTED``): ``amount`` shifts up (lognormal mean 3.0 -> 3.3), ``channel`` is
  reweighted, ``browser`` gets a new value (``browser_new``, 3% of rows), ``latency_ms``'s
  missing rate rises from 2% to 8%.

By default the files do not store the Arrow schema, as Spark, DuckDB and most log writers do:
a reader sees plain strings (physically dictionary-encoded). ``--arrow-schema`` stores it, so
pyarrow reads the categoricals back as dictionary columns.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 1_000_000
"""Rows per generated chunk and per Parquet row group."""

CATEGORICALS: dict[str, int] = {
    "state": 50,
    "merchant_category": 20,
    "merchant_id": 5_000,
    "device": 3,
    "channel": 5,
    "country": 200,
    "browser": 12,
    "plan": 4,
}
FLOATS = (
    "amount",
    "account_age_days",
    "credit_score",
    "latency_ms",
    "distance_km",
    "session_seconds",
    "ratio",
    "temperature",
    "velocity_1h",
    "balance",
)
PLANTED = {"state": "state_7", "device": "device_1", "channel": "channel_2"}
DRIFTED = ("amount", "channel", "browser", "latency_ms")
FEATURES = (*CATEGORICALS, *FLOATS, "num_items", "is_returning")
DAY_NS = 86_400 * 10**9
PRODUCTION_START = np.datetime64("2026-11-01T00:00:00", "ns")
DAYS = 30
MISSING = 0.02
ERROR_RATE = 0.6
_SIDES = {"baseline": 0, "production": 1}
_ID_OFFSET = 10**12  # production ids start here, so ids are unique across both sides


@dataclass(frozen=True)
class Side:
    """One dataset to generate: its name, row count and whether drift and the slice apply."""

    name: str
    rows: int

    @property
    def production(self) -> bool:
        """Whether this is the production side (planted slice and drift)."""
        return self.name == "production"


def _dictionary(name: str, card: int, production: bool) -> list[str]:
    values = [f"{name}_{i}" for i in range(card)]
    if production and name == "browser":
        values.append("browser_new")
    return values


def _zipf_codes(rng: np.random.Generator, n: int, card: int, weights: np.ndarray | None = None):  # noqa: ANN202
    p = 1.0 / np.arange(1, card + 1) ** 1.1 if weights is None else weights
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n)), card - 1).astype(np.int32)


def _categorical_codes(
    rng: np.random.Generator, n: int, production: bool
) -> dict[str, np.ndarray]:
    codes = {}
    for name, card in CATEGORICALS.items():
        weights = None
        if production and name == "channel":
            weights = 1.0 / np.arange(card, 0, -1) ** 1.1  # reversed: the rarest is now commonest
        codes[name] = _zipf_codes(rng, n, card, weights)
    if production:
        new = rng.random(n) < 0.03
        codes["browser"][new] = CATEGORICALS["browser"]  # "browser_new", last in the dictionary
    return codes


def _floats(rng: np.random.Generator, n: int, production: bool) -> dict[str, np.ndarray]:
    return {
        "amount": rng.lognormal(3.3 if production else 3.0, 1.0, n).round(2),
        "account_age_days": rng.exponential(400.0, n).round(1),
        "credit_score": rng.normal(650.0, 80.0, n).round(0),
        "latency_ms": rng.gamma(2.0, 40.0, n),
        "distance_km": rng.lognormal(1.5, 1.2, n),
        "session_seconds": rng.exponential(120.0, n),
        "ratio": rng.random(n),
        "temperature": rng.normal(15.0, 8.0, n),
        "velocity_1h": rng.poisson(2.0, n).astype(np.float64),
        "balance": rng.lognormal(7.0, 1.5, n).round(2),
    }


def _missing_masks(rng: np.random.Generator, n: int, production: bool) -> dict[str, np.ndarray]:
    rates = dict.fromkeys(FLOATS, MISSING)
    if production:
        rates["latency_ms"] = 0.08
    return {name: rng.random(n) < rate for name, rate in rates.items()}


def _true_logit(codes: dict[str, np.ndarray], x: dict[str, np.ndarray]) -> np.ndarray:
    # The fraud-like signal: big amounts, new accounts, low credit scores, a few states.
    amount = np.log1p(np.nan_to_num(x["amount"], nan=20.0))
    age = np.nan_to_num(x["account_age_days"], nan=400.0)
    credit = np.nan_to_num(x["credit_score"], nan=650.0)
    state_effect = np.where(codes["state"] % 7 == 0, 0.6, 0.0)
    # Strong enough that most rows are far from the decision boundary (~10% errors).
    return 3.0 * (
        0.9 * (amount - 3.0)
        - 0.002 * (age - 400.0)
        - 0.01 * (credit - 650.0)
        + state_effect
        + 0.3 * (codes["device"] == 2)
        - 1.5
    )


def _chunk(side: Side, start: int, n: int, seed: int) -> pa.Table:
    """Rows ``start`` to ``start + n`` of one side, from that chunk's own random stream."""
    key = [seed, _SIDES[side.name], start // CHUNK]
    rng = np.random.default_rng(np.random.SeedSequence(key))
    prod = side.production
    codes = _categorical_codes(rng, n, prod)
    floats = _floats(rng, n, prod)
    masks = _missing_masks(rng, n, prod)
    num_items = rng.integers(1, 21, n)
    is_returning = rng.random(n) < 0.6
    # Sorted timestamps spread evenly over the side's 30 days.
    position = (np.arange(start, start + n) + rng.random(n)) / side.rows
    first = PRODUCTION_START if prod else PRODUCTION_START - np.timedelta64(DAYS, "D")
    offsets = (position * DAYS * DAY_NS).astype(np.int64)
    timestamp = first.astype(np.int64) + offsets
    if prod:
        # The planted slice: 3% of the rows from day 10 on (~2% of all production rows).
        planted = (position * DAYS >= 10) & (rng.random(n) < 0.03)
        for name, value in PLANTED.items():
            codes[name][planted] = int(value.rsplit("_", 1)[1])
    logit = _true_logit(codes, floats)
    actual = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    score = 1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 0.5, n))))
    label = (score >= 0.5).astype(np.int64)
    if prod:
        wrong = planted & (rng.random(n) < ERROR_RATE)
        actual = np.where(planted, np.where(wrong, 1 - label, label), actual)
    ids = np.arange(start, start + n, dtype=np.int64) + (_ID_OFFSET if prod else 0)
    columns: dict[str, pa.Array] = {
        "prediction_id": pa.array(ids),
        "timestamp": pa.array(timestamp // 1000, pa.timestamp("us", tz="UTC")),
    }
    for name, card in CATEGORICALS.items():
        dictionary = pa.array(_dictionary(name, card, prod), pa.string())
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes[name]), dictionary)
    for name in FLOATS:
        columns[name] = pa.array(floats[name], mask=masks[name])
    columns["num_items"] = pa.array(num_items)
    columns["is_returning"] = pa.array(is_returning)
    columns["prediction_score"] = pa.array(score.round(6))
    columns["prediction_label"] = pa.array(label)
    columns["actual_label"] = pa.array(actual)
    return pa.table(columns)


def chunks(side: Side, seed: int) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(first row, table)`` for each chunk of a side, in row order."""
    for start in range(0, side.rows, CHUNK):
        yield start, _chunk(side, start, min(CHUNK, side.rows - start), seed)


def _schema(side: Side, seed: int) -> pa.Schema:
    return _chunk(side, 0, min(side.rows, 10), seed).schema


def write_side(
    side: Side, out: Path, *, seed: int, partitions: int | None, arrow_schema: bool
) -> Path:
    """Write one side as ``<out>/<name>.parquet`` or hive partitions; return the path."""
    schema = _schema(side, seed)
    options = {"compression": "snappy", "store_schema": arrow_schema}
    if partitions is None:
        path = out / f"{side.name}.parquet"
        with pq.ParquetWriter(path, schema, **options) as writer:
            for _, table in chunks(side, seed):
                writer.write_table(table, row_group_size=CHUNK)
        return path
    folder = out / side.name
    bounds = [side.rows * k // partitions for k in range(partitions + 1)]
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for start, table in chunks(side, seed):
            for k in range(partitions):
                lo, hi = max(bounds[k], start), min(bounds[k + 1], start + table.num_rows)
                if lo >= hi:
                    continue
                if k not in writers:
                    (folder / f"part={k}").mkdir(parents=True, exist_ok=True)
                    writers[k] = pq.ParquetWriter(
                        folder / f"part={k}" / "data.parquet", schema, **options
                    )
                writers[k].write_table(table.slice(lo - start, hi - lo), row_group_size=CHUNK)
                if hi == bounds[k + 1]:
                    writers.pop(k).close()  # done: at most two files open at once
    finally:
        for writer in writers.values():
            writer.close()
    return folder


def generate(
    out: Path,
    rows: int,
    *,
    baseline_rows: int | None = None,
    seed: int = 0,
    partitions: int | None = None,
    arrow_schema: bool = False,
) -> tuple[Path, Path]:
    """Write the baseline and production datasets into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    baseline = Side("baseline", rows if baseline_rows is None else baseline_rows)
    production = Side("production", rows)
    kwargs = {"seed": seed, "partitions": partitions, "arrow_schema": arrow_schema}
    return write_side(baseline, out, **kwargs), write_side(production, out, **kwargs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--rows", type=int, default=10_000_000, help="production rows (10M)")
    ap.add_argument("--baseline-rows", type=int, help="baseline rows (default: --rows)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--partitions", type=int, help="write K hive partitions per side")
    ap.add_argument("--arrow-schema", action="store_true", help="store the Arrow schema")
    args = ap.parse_args()
    start = time.perf_counter()
    paths = generate(
        args.out,
        args.rows,
        baseline_rows=args.baseline_rows,
        seed=args.seed,
        partitions=args.partitions,
        arrow_schema=args.arrow_schema,
    )
    took = time.perf_counter() - start
    print(f"wrote {paths[0]} and {paths[1]} in {took:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
