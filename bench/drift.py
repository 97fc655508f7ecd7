"""Benchmark: drift + data quality on 15 columns x 1M rows per side, against Evidently.

Run by hand (not a test):

    python bench/drift.py                       # ours, then Evidently's DataDriftPreset
    python bench/drift.py --skip-evidently      # ours only
    python bench/drift.py --rows 100000         # smaller
    python bench/drift.py --before /tmp/drift-before   # also time an older checkout, same run

Evidently runs in a subprocess with a bench-only virtualenv (it is not a dependency of this
project and needs pandas < 3)::

    python -m venv /tmp/evenv && /tmp/evenv/bin/pip install evidently 'pandas<3' pyarrow

Both sides read the same Parquet files. Ours is timed after one small warm-up run (imports);
Evidently's clock covers ``Report.run`` only (not its import or the Parquet read). With
``--before DIR`` the same script of another checkout (e.g. ``git worktree add /tmp/drift-before
c26fbdb``) times that code on the same data in a subprocess first, so "before", "now" and
Evidently share one run (and one machine load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracing.analysis import prepare_analysis  # noqa: E402
from tracing.drift import feature_drift  # noqa: E402
from tracing.quality import quality_checks  # noqa: E402

N_NUMERIC, N_CATEGORICAL = 10, 5

EVIDENTLY = """
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1], columns=sys.argv[3].split(","))
cur = pd.read_parquet(sys.argv[2], columns=sys.argv[3].split(","))
start, cpu = time.perf_counter(), time.process_time()
snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
drifted = []
for m in snapshot.dict()["metrics"]:
    config = m.get("config", {})
    if not str(config.get("type", "")).endswith("ValueDrift"):
        continue
    method, value, cut = config["method"].lower(), m["value"], config["threshold"]
    distance = any(w in method for w in ("distance", "psi", "divergence", "stability"))
    if (value >= cut) if distance else (value < cut):
        drifted.append(config["column"])
print(json.dumps({"seconds": seconds, "cpu": cpu, "drifted": drifted}))
"""

# Planted faults the run must find (else the timing would not be for real work).
EXPECTED_DRIFT = {"num_0", "num_1", "num_2", "cat_1", "cat_4"}
EXPECTED_FINDINGS = {"new_category:cat_4", "out_of_range:num_2", "missing_rate:num_3"}


def make_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two synthetic prediction logs with planted drift in some columns."""
    rng = np.random.default_rng(seed)
    cats = np.array([f"value_{i:02d}" for i in range(50)])
    frames = []
    for side in (0, 1):
        shift = float(side)
        cols: dict[str, object] = {"prediction_id": np.arange(rows) + side * rows}
        for j in range(N_NUMERIC):
            kind = j % 4
            if kind == 0:
                values = rng.normal(0.5 * shift * (j == 0), 1.0, rows)
            elif kind == 1:
                values = rng.lognormal(3.0 + 0.4 * shift * (j == 1), 0.8, rows).round(2)
            elif kind == 2:
                values = rng.integers(0, 100 + 20 * int(shift) * (j == 2), rows).astype(float)
            else:
                values = rng.uniform(0, 1, rows)
                values[rng.random(rows) < 0.01 + 0.03 * shift * (j == 3)] = np.nan
            cols[f"num_{j}"] = values
        for j in range(N_CATEGORICAL):
            size = (5, 10, 20, 30, 50)[j]
            p = 0.15 + (0.1 * shift if j == 1 else 0.0)
            codes = np.minimum(rng.geometric(p, rows) - 1, size - 1)
            col = pd.Series(cats[codes])
            if j == 4 and side == 1:  # a new category in production
                col[rng.random(rows) < 0.05] = "brand_new"
            cols[f"cat_{j}"] = col.astype("str")
        y = rng.random(rows) < 0.2
        cols["prediction"] = np.where(rng.random(rows) < 0.9, y, ~y).astype(int)
        cols["actual"] = y.astype(int)
        frames.append(pd.DataFrame(cols))
    return frames[0], frames[1]


def features() -> list[str]:
    return [f"num_{j}" for j in range(N_NUMERIC)] + [f"cat_{j}" for j in range(N_CATEGORICAL)]


def ours(baseline: pd.DataFrame, production: pd.DataFrame) -> dict[str, float | list[str]]:
    roles = {
        "prediction_id": "prediction_id",
        "prediction_label": "prediction",
        "actual_label": "actual",
        "features": tuple(features()),
    }
    start = time.perf_counter()
    analysis = prepare_analysis(baseline, production, roles=roles)
    prepared, cpu = time.perf_counter(), time.process_time()
    drift = feature_drift(analysis, columns=features())
    drifted = time.perf_counter()
    quality = quality_checks(analysis, columns=features())
    done, cpu = time.perf_counter(), time.process_time() - cpu
    return {
        "prepare_s": prepared - start,
        "drift_s": drifted - prepared,
        "quality_s": done - drifted,
        "drift_quality_s": done - prepared,
        "cpu_s": cpu,
        "drifted": drift.drifted,
        "findings": [
            f"{c}:{f}" for c, f in zip(quality["check"], quality["feature"], strict=True)
        ],
    }


def evidently(python: str, base: Path, prod: Path) -> dict[str, object] | None:
    if not Path(python).exists():
        print(f"evidently: {python} not found; create the venv (see the module docstring)")
        return None
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    cmd = [python, "-c", EVIDENTLY, str(base), str(prod), ",".join(features())]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        print("evidently failed:", out.stderr[-2000:])
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--evidently-python", default="/tmp/evenv/bin/python")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--data", default="/tmp/drift_bench")
    parser.add_argument("--before", help="another checkout whose bench/drift.py to time too")
    args = parser.parse_args()

    baseline, production = make_frames(args.rows, args.seed)
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    base_path, prod_path = data / "baseline.parquet", data / "production.parquet"
    baseline.to_parquet(base_path)
    production.to_parquet(prod_path)
    baseline, production = pd.read_parquet(base_path), pd.read_parquet(prod_path)
    print(
        f"{args.rows:,} rows per side, {len(features())} columns "
        f"({N_NUMERIC} numeric, {N_CATEGORICAL} categorical); cores: {os.cpu_count()}"
    )

    before = _before(args) if args.before else None
    ours(baseline.head(10_000), production.head(10_000))  # warm-up: imports, first calls
    runs = [ours(baseline, production) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: float(r["drift_quality_s"]))
    for r in runs:
        print(
            f"ours: drift {r['drift_s']:.2f} s + quality {r['quality_s']:.2f} s = "
            f"{r['drift_quality_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU "
            f"(prepare_analysis {r['prepare_s']:.2f} s)"
        )
    print(f"ours drifted: {best['drifted']}")
    print(f"ours quality findings: {best['findings']}")
    assert set(best["drifted"]) == EXPECTED_DRIFT, best["drifted"]
    assert set(best["findings"]) >= EXPECTED_FINDINGS, best["findings"]
    fastest_cpu = min(float(r["cpu_s"]) for r in runs)
    wall = float(best["drift_quality_s"])
    if before is not None:
        print(
            f"before ({args.before}), best of {args.repeat}: {before[0]:.2f} s wall, "
            f"{before[1]:.2f} s CPU; now faster by {before[0] / wall:.1f}x wall, "
            f"{before[1] / fastest_cpu:.1f}x CPU"
        )
    if args.skip_evidently:
        return
    ev = evidently(args.evidently_python, base_path, prod_path)
    if ev is None:
        return
    seconds, cpu = float(ev["seconds"]), float(ev["cpu"])
    print(
        f"evidently DataDriftPreset: {seconds:.1f} s wall, {cpu:.1f} s CPU; "
        f"drifted: {sorted(ev['drifted'])}"
    )
    print(
        f"ratio evidently / ours, best of {args.repeat}: "
        f"{seconds / wall:.0f}x wall, {cpu / fastest_cpu:.0f}x CPU (target 100x)"
    )
    if before is not None:
        print(
            f"ratio evidently / before: {seconds / before[0]:.0f}x wall, "
            f"{cpu / before[1]:.0f}x CPU"
        )


def _before(args: argparse.Namespace) -> tuple[float, float]:
    """Best wall and CPU seconds of drift + quality of another checkout, same data and size."""
    script = Path(args.before) / "bench" / "drift.py"
    cmd = [sys.executable, str(script), "--skip-evidently", "--rows", str(args.rows)]
    cmd += ["--seed", str(args.seed), "--repeat", str(args.repeat)]
    cmd += ["--data", str(Path(args.data) / "before")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=args.before)
    walls, cpus = [], []
    for line in out.stdout.splitlines():
        if line.startswith("ours: drift"):
            print("before", line)
            walls.append(float(line.split(" = ")[1].split(" s wall")[0]))
            cpus.append(float(line.split("wall, ")[1].split(" s CPU")[0]))
    return min(walls), min(cpus)


if __name__ == "__main__":
    main()
