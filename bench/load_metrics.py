"""Benchmark: load + overall metrics for 1M rows (CSV and Parquet) vs pandas + scikit-learn.

Run by hand (not part of the tests), from the repository root:

    python bench/load_metrics.py [--rows 1000000] [--repeat 3] [--before /tmp/old-checkout]

Ours: `tracing.io.read_table` on both files, `prepare_analysis`, then `compare` (all 13 binary
metrics with 95% CIs of the deltas). Peer, in the same run: `pandas.read_csv` / `read_parquet`
plus the same 13 metrics from scikit-learn (no confidence intervals). ``--before`` also times
another checkout's code (the "before" figure) in the same run.

Each method runs in its own process, after its imports (not timed), ``--repeat`` times in a
row; the best wall and the best CPU time (user + system of the process, its threads included)
are printed, with the ratios peer / ours.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


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
    from sklearn import metrics as skm

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


def worker(method: str, repo: str, folder: Path, fmt: str, repeat: int) -> None:
    """Time one method ``repeat`` times in this process; print JSON on stdout."""
    paths = [folder / f"{side}.{fmt}" for side in ("baseline", "production")]
    if method == "peer":
        from sklearn import metrics as _  # noqa: F401  imports are not timed

        def run() -> dict[str, float]:
            read = pd.read_csv if fmt == "csv" else pd.read_parquet
            b, p = read(paths[0]), read(paths[1])
            sklearn_metrics(b)
            return sklearn_metrics(p)
    else:
        sys.path.insert(0, repo)
        from tracing.analysis import prepare_analysis
        from tracing.compare import compare
        from tracing.io import read_table

        def run() -> dict[str, float]:
            b, p = read_table(paths[0]), read_table(paths[1])
            a = prepare_analysis(b, p, names=("b", "p"))
            table = compare(a.baseline, a.production).table
            return {str(k): float(v) for k, v in table.set_index("metric")["production"].items()}

    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        values = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(json.dumps({"wall": walls, "cpu": cpus, "values": values}))


def timed(method: str, repo: Path, folder: Path, fmt: str, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(repo), str(folder), fmt, str(repeat)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", type=Path, help="another checkout, timed as 'before'")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        method, repo, folder, fmt, repeat = args.worker
        worker(method, repo, Path(folder), fmt, int(repeat))
        return
    methods = [("ours", ROOT)] + ([("before", args.before)] if args.before else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for side, seed in (("baseline", 1), ("production", 2)):
            df = make(args.rows, seed)
            df.to_csv(folder / f"{side}.csv", index=False)
            df.to_parquet(folder / f"{side}.parquet")
        print(f"rows per side: {args.rows:,}; best of {args.repeat}; times in s (wall / CPU)")
        head = f"{'format':8} {'method':8} {'wall':>7} {'CPU':>7}"
        print(f"{head} {'peer/ours wall':>15} {'CPU':>6}")
        for fmt in ("csv", "parquet"):
            peer = timed("peer", ROOT, folder, fmt, args.repeat)
            for name, repo in methods:
                got = timed(name, repo, folder, fmt, args.repeat)
                worst = max(abs(got["values"][k] - v) for k, v in peer["values"].items())
                w, c = min(got["wall"]), min(got["cpu"])
                print(
                    f"{fmt:8} {name:8} {w:7.2f} {c:7.2f} {min(peer['wall']) / w:14.2f}x "
                    f"{min(peer['cpu']) / c:5.2f}x   (max |{name} - sklearn| = {worst:.1e})"
                )
            print(f"{fmt:8} {'peer':8} {min(peer['wall']):7.2f} {min(peer['cpu']):7.2f}")


if __name__ == "__main__":
    main()
