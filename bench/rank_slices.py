"""Benchmark of rank-metric slices: ROC AUC (or PR AUC) slices at depth 3, 1M rows x 20 features.

Workload (seeded, after bench/slices.py): 20 categorical features with cardinalities 5 to 50 and
Zipf-like value frequencies; a binary actual (30% positives); a score ``sigmoid(z + 1.5 y)``
with ``z`` standard normal, except in a planted slice ``state=v7 & merchant_category=v3 &
merchant_id=v11`` (2% of the production rows) where the score ignores the actual (AUC 0.5).
The baseline (same size) has no planted slice. ``--decimals D`` rounds the scores (ties).

Each tree (this one, and the code before issue 15 item 4 in ``--before``: a scratch worktree,
``git worktree add /tmp/rank-before c26fbdb``) is timed in its own processes, in one run:

- ``cli``: the whole process ``python -m tracing report --sections slices --metric roc_auc``
  on the Parquet files (the issue's target: 30 s at 1M rows); wall and CPU time (user + sys of
  the child, from ``os.wait4``) and its peak RSS;
- ``find_slices``: `tracing.slices.find_slices` alone in a worker process, after
  `tracing.prepare_analysis` on the same files (wall and CPU of the call).

This tree runs ``--repeat`` times (best and median reported), the old one once (minutes). The
script fails unless both trees list the same slices with the same numbers.

Run from the repository root (about 15 minutes with the old tree at 1M rows)::

    git worktree add /tmp/rank-before c26fbdb
    python bench/rank_slices.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 20
NAMES = ["state", "merchant_category", "merchant_id"] + [f"f{j:02d}" for j in range(3, 20)]
PLANT = {"state": 7, "merchant_category": 3, "merchant_id": 11}


def make_frame(n: int, seed: int, plant_frac: float, decimals: int | None) -> Any:
    """Categorical features, a 0/1 actual and a score whose AUC drops in the planted slice."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cards = np.random.default_rng(0).integers(5, 51, size=N_FEATURES)  # same columns every run
    cards[:3] = 50, 20, 40
    x = np.empty((n, N_FEATURES), dtype=np.int16)
    for j, c in enumerate(cards):
        p = 1.0 / np.arange(1, c + 1) ** 0.8
        x[:, j] = rng.choice(int(c), size=n, p=p / p.sum())
    inside = np.zeros(n, dtype=bool)
    inside[rng.choice(n, size=int(plant_frac * n), replace=False)] = True
    for name, value in PLANT.items():
        x[inside, NAMES.index(name)] = value
    y = rng.random(n) < 0.3
    score = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + np.where(inside, 0.0, 1.5) * y)))
    if decimals is not None:
        score = np.round(score, decimals)
    cols: dict[str, Any] = {
        name: pd.Categorical.from_codes(x[:, j], [f"v{k}" for k in range(int(cards[j]))])
        for j, name in enumerate(NAMES)
    }
    cols["actual"] = y.astype(np.int8)
    cols["score"] = score
    return pd.DataFrame(cols)


def write_data(args: argparse.Namespace, folder: Path) -> tuple[Path, Path]:
    base, prod = folder / "baseline.parquet", folder / "production.parquet"
    make_frame(args.rows, args.seed + 100, 0.0, args.decimals).to_parquet(base)
    make_frame(args.rows, args.seed, 0.02, args.decimals).to_parquet(prod)
    return base, prod


def cli_args(args: argparse.Namespace, base: Path, prod: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "tracing", "report", "--baseline", str(base),
        "--production", str(prod), "--actual", "actual", "--score", "score",
        "--features", ",".join(NAMES), "--model-type", "binary", "--positive-class", "1",
        "--metric", args.metric, "--sections", "slices", "--max-depth", "3",
        "--top", str(args.top), "--format", "json", "--output", str(out),
    ]  # fmt: skip


def timed_child(cmd: list[str], tree: Path) -> dict[str, Any]:
    """Run one child process in ``tree``; its wall time, CPU time and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE)
    stdout = child.stdout.read() if child.stdout else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{cmd[:4]} in {tree} failed with exit {child.returncode}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "stdout": stdout.decode(),
    }


def listed_slices(report: Any) -> list[dict[str, Any]]:
    """The "slices" list of a JSON report, wherever the section puts it."""
    if isinstance(report, dict):
        if isinstance(report.get("slices"), list):
            return list(report["slices"])
        for value in report.values():
            found = listed_slices(value)
            if found:
                return found
    if isinstance(report, list):
        for value in report:
            found = listed_slices(value)
            if found:
                return found
    return []


def run_cli(args: argparse.Namespace, tree: Path, base: Path, prod: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        timing = timed_child(cli_args(args, base, prod, out), tree)
        timing["slices"] = listed_slices(json.loads(out.read_text()))
    del timing["stdout"]
    return timing


def run_find(args: argparse.Namespace, tree: Path, base: Path, prod: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", str(base), str(prod), "--metric", args.metric]
    cmd += ["--top", str(args.top)]
    timing = timed_child(cmd, tree)
    timing.update(json.loads(timing.pop("stdout").strip().splitlines()[-1]))
    return timing


def worker(args: argparse.Namespace) -> None:
    """In the tree on PYTHONPATH: prepare the analysis, then time find_slices alone."""
    import pandas as pd

    from tracing import prepare_analysis
    from tracing import slices as sl

    base, prod = (pd.read_parquet(p) for p in args.worker)
    roles = {"actual_label": "actual", "prediction_score": "score", "features": NAMES}
    a = prepare_analysis(
        base, prod, roles=roles, model_type="binary", positive_class=1, metric=args.metric
    )
    t0, c0 = time.perf_counter(), time.process_time()
    # find_slices remembers its results per analysis: time the undecorated function
    res = sl.find_slices.__wrapped__(a, metric=args.metric, max_depth=3, top=args.top)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    table = res.table[["slice_id", "size", "metric", "impact"]]
    top = [[s, int(n), float(m), float(i)] for s, n, m, i in table.itertuples(index=False)]
    print(json.dumps({"find_wall": wall, "find_cpu": cpu, "top": top}))


def same_slices(a: list[Any], b: list[Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def summary(runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs]
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{min(values):.1f} (median {statistics.median(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decimals", type=int, default=None, help="round scores (ties)")
    parser.add_argument("--metric", default="roc_auc", choices=["roc_auc", "pr_auc"])
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="runs of this tree")
    parser.add_argument("--before", type=Path, default=Path("/tmp/rank-before"))
    parser.add_argument("--skip-before", action="store_true")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        base, prod = write_data(args, Path(tmp))
        trees = {"ours": ROOT} if args.skip_before else {"ours": ROOT, "before": args.before}
        results: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for name, tree in trees.items():
            repeat = args.repeat if name == "ours" else 1
            results[name] = {
                "cli": [run_cli(args, tree, base, prod) for _ in range(repeat)],
                "find": [run_find(args, tree, base, prod) for _ in range(repeat)],
            }
            for kind, runs in results[name].items():
                print(f"{name} {kind}: " + json.dumps([{k: v for k, v in r.items()
                      if k not in ("slices", "top")} for r in runs]), flush=True)  # fmt: skip
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    print(f"\n{args.rows:,} rows x {N_FEATURES} features, {args.metric}, depth 3, top {args.top}")
    print("| tree | whole process wall (s) | CPU (s) | peak RSS (MB) | find_slices wall | CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        cli, find = r["cli"], r["find"]
        print(
            f"| {name} | {summary(cli, 'wall')} | {summary(cli, 'cpu')} | "
            f"{max(x['rss_mb'] for x in cli):.0f} | {summary(find, 'find_wall')} | "
            f"{summary(find, 'find_cpu')} |"
        )
    ours = results["ours"]
    top = ours["find"][0]["top"]
    planted = "&".join(f"{k}=v{v}" for k, v in PLANT.items())
    print(f"planted slice in the top {args.top}: {planted in [t[0] for t in top]}")
    consistent = all(same_slices(r["slices"], ours["cli"][0]["slices"]) for r in ours["cli"])
    if "before" in results:
        old = results["before"]
        for kind, wall, cpu in (("cli", "wall", "cpu"), ("find", "find_wall", "find_cpu")):
            w = min(x[wall] for x in old[kind]) / min(x[wall] for x in ours[kind])
            c = min(x[cpu] for x in old[kind]) / min(x[cpu] for x in ours[kind])
            print(f"{kind}: ours faster by {w:.1f}x wall, {c:.1f}x CPU")
        consistent &= same_slices(old["cli"][0]["slices"], ours["cli"][0]["slices"])
        consistent &= same_slices(old["find"][0]["top"], top)
    print("same slices and numbers:", consistent)
    if not consistent:
        raise SystemExit("the trees disagree")


if __name__ == "__main__":
    main()
