"""Benchmark: load + overall metrics for 1M rows (CSV and Parquet) vs pandas + scikit-learn.

Run by hand (not part of the tests):

    python bench/load_metrics.py [--rows 1000000]

Ours: `tracing.io.read_table` on both files, `prepare_analysis`, then `compare` (all 13 binary
metrics with 95% CIs of the deltas). Peer, in the same run: `pandas.read_csv` / `read_parquet`
plus the same 13 metrics from scikit-learn (no confidence intervals).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from tracing.analysis import prepare_analysis
from tracing.compare import compare
from tracing.io import read_table


def make(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int64)
    score = np.clip(np.where(y == 1, rng.normal(0.7, 0.2, n), rng.normal(0.3, 0.2, n)), 0, 1)
    return pd.DataFrame(
        {
            "prediction_id": np.arange(n) + seed * n,
            "state": rng.choice([f"S{i}" for i in range(50)], n),
            "merchant": rng.choice([f"m{i}.com" for i in range(500)], n),
            "amount": rng.lognormal(3, 1, n).round(2),
            "age": rng.integers(18, 90, n),
            "prediction_score": score.round(6),
            "prediction_label": (score >= 0.5).astype(np.int64),
            "actual_label": y,
        }
    )


def sklearn_metrics(df: pd.DataFrame) -> dict[str, float]:
    y, p, s = df["actual_label"], df["prediction_label"], df["prediction_score"]
    tn, fp, fn, tp = skm.confusion_matrix(y, p).ravel()
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p),
        "recall": skm.recall_score(y, p),
        "f1": skm.f1_score(y, p),
        "fpr": fp / (fp + tn),
        "fnr": fn / (fn + tp),
        "specificity": tn / (tn + fp),
        "positive_rate": p.mean(),
        "actual_positive_rate": y.mean(),
        "roc_auc": skm.roc_auc_score(y, s),
        "pr_auc": skm.average_precision_score(y, s),
        "log_loss": skm.log_loss(y, s),
        "brier": skm.brier_score_loss(y, s),
    }


def timed(fn):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for side, seed in (("baseline", 1), ("production", 2)):
            df = make(args.rows, seed)
            paths[side, "csv"] = Path(tmp) / f"{side}.csv"
            paths[side, "parquet"] = Path(tmp) / f"{side}.parquet"
            df.to_csv(paths[side, "csv"], index=False)
            df.to_parquet(paths[side, "parquet"])
        print(f"rows per side: {args.rows:,}")
        print(f"{'format':8} {'tracing (s)':>12} {'pandas+sklearn (s)':>19} {'ratio':>6}")
        for fmt in ("csv", "parquet"):

            def ours(fmt: str = fmt) -> object:
                b = read_table(paths["baseline", fmt])
                p = read_table(paths["production", fmt])
                a = prepare_analysis(b, p, names=("b", "p"))
                return compare(a.baseline, a.production).table

            def peer(fmt: str = fmt) -> object:
                read = pd.read_csv if fmt == "csv" else pd.read_parquet
                b, p = read(paths["baseline", fmt]), read(paths["production", fmt])
                return sklearn_metrics(b), sklearn_metrics(p)

            t_ours, table = timed(ours)
            t_peer, (_, want) = timed(peer)
            got = table.set_index("metric")["production"]
            worst = max(abs(got[k] - v) for k, v in want.items())
            print(
                f"{fmt:8} {t_ours:12.2f} {t_peer:19.2f} {t_peer / t_ours:6.2f}x"
                f"   (max |ours - sklearn| = {worst:.1e})"
            )


if __name__ == "__main__":
    main()
