"""Benchmark of the slice search: exact top-10 at depth 3, 1M rows x 20 categorical features.

Workload (after shared/reference/slice_bench.py): 20 categorical features with cardinalities 5
to 50 and Zipf-like value frequencies (p ~ 1 / rank^0.8); 0/1 errors with rate 5%, except a
planted slice ``state=7 & merchant_category=3 & merchant_id=11`` (2% of the rows) with 60%
errors. The baseline has the same features and no planted slice. Task: the exact top-10 slices
by accuracy impact over every 1-, 2- and 3-condition slice with ``min_size = 0.1%`` of rows
(1,350 feature combinations, ~28M cells).

Two scenarios in one run: the planted slice above, and no planted slice (``plant share 0``:
errors at random, so nothing stands out and the k-th best impact stays at noise level, the
worst case for pruning). Methods, each in its own process so its peak RSS (``ru_maxrss``) is
its own; ratios are on CPU time (the machine is shared, and CPU time is the steadier figure):

- ``ours: search``: `tracing.slices._search` on the coded data (the same input as the peers
  get), and `tracing.slices.find_slices` end to end (binning and coding both datasets, the
  search, baseline decomposition, p-values); best and median of ``--repeat`` runs each;
- ``before``: the same on an older checkout (``--before PATH``, e.g. a ``git worktree`` of the
  commit before the change), in the same run;
- ``numpy exhaustive loop``: the plain loop of shared/reference/slice_bench.py (one
  ``bincount`` per combination, parent codes reused depth first, no pruning);
- ``pandas``: one ``DataFrame.groupby`` per feature combination (the naive loop), on integer
  columns; run on ``--pandas-rows`` rows and extrapolated linearly when fewer than ``--rows``
  (planted scenario only);
- ``CLI whole process``: ``python -m tracing report --sections slices`` on Parquet files of the
  same data (dictionary-encoded features, ``actual`` and ``prediction`` columns), as a
  subprocess: wall, CPU and peak RSS of the child, ``--repeat`` runs;
- ``sliceline``: the ``sliceline`` package (``Slicefinder(alpha=0.95, k=10, max_l=3,
  min_sup=0.1% of rows)``; its default ``alpha=0.6`` returns no slice on this data), run from
  the virtualenv given by ``--sliceline-python`` under a ``--mem-limit-gb`` address-space cap,
  as shipped and with its score bound fixed (shared/reference/slicing.md, section 3.3)
  (planted scenario only).

Setup once (sliceline is not a project dependency)::

    python -m venv /tmp/benchenv --system-site-packages
    /tmp/benchenv/bin/pip install sliceline

Run (about 10 minutes on 2 idle cores; ``--skip-sliceline``, ``--skip-pandas``, ``--skip-cli``,
``--skip-search``, ``--skip-numpy``, ``--skip-shipped``, ``--planted-only``, ``--rows N`` to
shorten)::

    git worktree add /tmp/before <older commit>   # optional, for the "before" rows
    python bench/slices.py --before /tmp/before
    # the whole process against sliceline (bound fixed) only, in the planted scenario:
    python bench/slices.py --planted-only --skip-search --skip-numpy --skip-pandas --skip-shipped
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_FEATURES = 20
NAMES = ["state", "merchant_category", "merchant_id"] + [f"f{j:02d}" for j in range(3, 20)]
PLANT = {"state": 7, "merchant_category": 3, "merchant_id": 11}


def make_data(n: int, seed: int, plant_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer-coded features (n x 20, uint8) and 0/1 errors, with one planted bad slice."""
    rng = np.random.default_rng(seed)
    cards = np.random.default_rng(0).integers(5, 51, size=N_FEATURES)  # same columns every run
    cards[:3] = 50, 20, 40
    x = np.empty((n, N_FEATURES), dtype=np.uint8)
    for j, c in enumerate(cards):
        p = 1.0 / np.arange(1, c + 1) ** 0.8
        x[:, j] = rng.choice(int(c), size=n, p=p / p.sum())
    idx = rng.choice(n, size=int(plant_frac * n), replace=False)
    inside = np.ones(n, dtype=bool)
    for name, value in PLANT.items():
        j = NAMES.index(name)
        x[idx, j] = value
        inside &= x[:, j] == value
    err = (rng.random(n) < np.where(inside, 0.60, 0.05)).astype(np.float64)
    return x, err


def frame(x: np.ndarray, err: np.ndarray, seed: int) -> Any:
    """A prediction log: categorical features, a 0/1 label and the model's label."""
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    actual = (rng.random(len(err)) < 0.5).astype(np.int8)
    cols = {
        name: pd.Categorical.from_codes(
            x[:, j].astype(np.int16), [f"v{k}" for k in range(int(x[:, j].max()) + 1)]
        )
        for j, name in enumerate(NAMES)
    }
    cols["actual"] = actual
    cols["prediction"] = np.where(err > 0, 1 - actual, actual).astype(np.int8)
    return pd.DataFrame(cols)


def planted_ids() -> set[str]:
    return {"&".join(f"{k}=v{v}" for k, v in PLANT.items())}


# ---------------------------------------------------------------------------------------------
# Workers (one process each)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    """`find_slices` end to end and `_search` alone, ``--repeat`` times each."""
    from tracing import prepare_analysis
    from tracing import slices as sl

    x, err = make_data(args.rows, args.seed, args.plant_frac)
    xb, eb = make_data(args.rows, args.seed + 100, 0.0)
    roles = {"actual_label": "actual", "prediction_label": "prediction", "features": NAMES}
    a = prepare_analysis(
        frame(xb, eb, 100),
        frame(x, err, 0),
        roles=roles,
        model_type="binary",
        positive_class=1,
        metric="accuracy",
    )
    del x, err, xb, eb
    min_size = int(args.min_share * args.rows)
    e2e, search = [], []
    import scipy.stats  # noqa: F401  (imported once, outside the clock)

    # find_slices remembers its last results per analysis; time the undecorated function.
    search_fn = sl.find_slices.__wrapped__
    for _ in range(args.repeat):
        t0 = _clock()
        res = search_fn(a, max_depth=3, top=10, min_size=min_size)
        e2e.append(_since(t0))
        ctx = sl._context(a, metric=None, features=None, bins=res.bins, min_size=min_size)
        t0 = _clock()
        found, stats = sl._search(ctx, 3, 10)
        search.append(_since(t0))
        del ctx
    ids = list(res.table["slice_id"])
    rank = next((i + 1 for i, s in enumerate(ids) if s in planted_ids()), None)
    return {
        **_summary(search),
        "e2e": _summary(e2e),
        "planted_rank": rank,
        "top": [[round(float(v), 7), s] for v, s in zip(res.table["impact"], ids, strict=True)],
        "combos_scored": stats["combos_scored"],
        "combos_total": stats["combos_total"],
    }


def _summary(runs: list[tuple[float, float]]) -> dict[str, Any]:
    """Best and median wall and CPU seconds of repeated runs."""
    wall, cpu = [w for w, _ in runs], [c for _, c in runs]
    return {
        "seconds": min(wall),
        "median": float(np.median(wall)),
        "cpu": min(cpu),
        "cpu_median": float(np.median(cpu)),
        "runs": len(runs),
    }


def run_numpy(args: argparse.Namespace) -> dict[str, Any]:
    """The plain numpy exhaustive loop of shared/reference/slice_bench.py (``run_numpy``).

    Depth-first over combinations so a child's codes are its parent's times a cardinality
    plus a column, one ``bincount`` for the rows and one for the error rows per combination.
    """
    x, err = make_data(args.rows, args.seed, args.plant_frac)
    n, d = x.shape
    cards = [int(c) for c in x.max(axis=0).astype(int) + 1]
    ebar, min_size = err.mean(), int(args.min_share * n)
    cols = [x[:, j].astype(np.intp) for j in range(d)]
    err_rows = np.flatnonzero(err)
    cols_e = [c[err_rows] for c in cols]
    best: list[tuple[float, str]] = []

    def score(combo: tuple[int, ...], code: Any, code_e: Any, m: int) -> None:
        count = np.bincount(code, minlength=m)
        impact = (np.bincount(code_e, minlength=m) - ebar * count) / n
        impact[count < min_size] = -np.inf
        for cell in np.argpartition(impact, -10)[-10:] if m > 10 else range(m):
            if not np.isfinite(impact[cell]):
                continue
            values, c = [], int(cell)
            for j in reversed(combo):
                values.append(c % cards[j])
                c //= cards[j]
            sid = "&".join(f"{NAMES[j]}=v{v}" for j, v in zip(combo, values[::-1], strict=True))
            item = (float(impact[cell]), sid)
            if len(best) < 10:
                heapq.heappush(best, item)
            elif item > best[0]:
                heapq.heappushpop(best, item)

    def visit(combo: tuple[int, ...], code: Any, code_e: Any, m: int) -> None:
        score(combo, code, code_e, m)
        if len(combo) < 3:
            for j in range(combo[-1] + 1, d):
                c = cards[j]
                visit((*combo, j), code * c + cols[j], code_e * c + cols_e[j], m * c)

    t0 = _clock()
    for j in range(d):
        visit((j,), cols[j], cols_e[j], cards[j])
    wall, cpu = _since(t0)
    top = sorted(best, reverse=True)
    rank = next((i + 1 for i, (_, s) in enumerate(top) if s in planted_ids()), None)
    return {
        "seconds": wall,
        "cpu": cpu,
        "planted_rank": rank,
        "top": [[round(v, 7), s] for v, s in top],
    }


def run_pandas(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    rows = min(args.pandas_rows, args.rows)
    x, err = make_data(args.rows, args.seed, args.plant_frac)
    x, err = x[:rows], err[:rows]
    df = pd.DataFrame(x, columns=NAMES)
    df["err"] = err
    n, ebar, min_size = len(df), err.mean(), int(args.min_share * rows)
    best: list[tuple[float, str]] = []
    t0 = _clock()
    for depth in (1, 2, 3):
        for combo in itertools.combinations(NAMES, depth):
            g = df.groupby(list(combo), sort=False, observed=True)["err"].agg(["sum", "count"])
            g = g[g["count"] >= min_size]
            impact = (g["sum"] - ebar * g["count"]) / n
            for key, value in impact.nlargest(10).items():
                keys = key if isinstance(key, tuple) else (key,)
                sid = "&".join(f"{c}=v{k}" for c, k in zip(combo, keys, strict=True))
                item = (float(value), sid)
                if len(best) < 10:
                    heapq.heappush(best, item)
                else:
                    heapq.heappushpop(best, item)
    seconds, cpu = _since(t0)
    top = sorted(best, reverse=True)
    rank = next((i + 1 for i, (_, s) in enumerate(top) if s in planted_ids()), None)
    return {
        "seconds": seconds * args.rows / rows,
        "cpu": cpu * args.rows / rows,
        "measured_seconds": seconds,
        "rows": rows,
        "planted_rank": rank,
        "top": [[round(v, 7), s] for v, s in top],
    }


def run_sliceline(args: argparse.Namespace, tight: bool = False) -> dict[str, Any]:
    from sliceline import Slicefinder

    class TightBound(Slicefinder):  # type: ignore[misc]
        """sliceline 0.3.0 passes the number of one-hot columns where its score upper bound
        needs the number of rows; the row count keeps the bound valid and makes it tight
        (shared/reference/slicing.md, section 3.3). Same results, far fewer candidates."""

        def _score_ub(self, ss: Any, se: Any, sm: Any, n_col_x_encoded: int) -> Any:
            return super()._score_ub(ss, se, sm, self._n_rows)

        def fit(self, X: Any, errors: Any) -> Any:
            self._n_rows = len(X)
            return super().fit(X, errors)

    limit = int(args.mem_limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    x, err = make_data(args.rows, args.seed, args.plant_frac)
    min_sup = int(args.min_share * args.rows)
    cls = TightBound if tight else Slicefinder
    sf = cls(alpha=0.95, k=10, max_l=3, min_sup=min_sup, verbose=False)
    t0 = _clock()
    try:
        sf.fit(x, err)
    except MemoryError as exc:
        return {"failed": f"MemoryError after {time.perf_counter() - t0[0]:.0f} s: {exc}"}
    seconds, cpu = _since(t0)
    top = []
    for sl, st in zip(sf.top_slices_, sf.top_slices_statistics_, strict=True):
        sid = "&".join(f"{NAMES[j]}=v{int(v)}" for j, v in enumerate(sl) if v is not None)
        top.append([round(float(st["slice_score"]), 5), sid])
    rank = next((i + 1 for i, (_, s) in enumerate(top) if s in planted_ids()), None)
    return {"seconds": seconds, "cpu": cpu, "planted_rank": rank, "top": top}


def write_parquet(args: argparse.Namespace, folder: Path) -> tuple[Path, Path]:
    """The same data as Parquet files: dictionary-encoded features, actual and prediction."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(x: np.ndarray, err: np.ndarray, seed: int) -> Any:
        rng = np.random.default_rng(seed + 1)
        actual = (rng.random(len(err)) < 0.5).astype(np.int8)
        cols = {
            name: pa.DictionaryArray.from_arrays(
                pa.array(x[:, j].astype(np.int8)),
                pa.array([f"v{k}" for k in range(int(x[:, j].max()) + 1)]),
            )
            for j, name in enumerate(NAMES)
        }
        cols["actual"] = pa.array(actual)
        cols["prediction"] = pa.array(np.where(err > 0, 1 - actual, actual).astype(np.int8))
        return pa.table(cols)

    paths = folder / "baseline.parquet", folder / "production.parquet"
    for path, (plant, seed) in zip(paths, ((0.0, 100), (args.plant_frac, 0)), strict=True):
        x, err = make_data(args.rows, args.seed + seed, plant)
        pq.write_table(table(x, err, seed), path)
    return paths


def cli_command(
    args: argparse.Namespace, baseline: Path, production: Path, out: Path
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tracing",
        "report",
        "--baseline",
        str(baseline),
        "--production",
        str(production),
        "--sections",
        "slices",
        "--actual",
        "actual",
        "--prediction",
        "prediction",
        "--features",
        ",".join(NAMES),
        "--model-type",
        "binary",
        "--positive-class",
        "1",
        "--metric",
        "accuracy",
        "--max-depth",
        "3",
        "--min-size",
        str(int(args.min_share * args.rows)),
        "--top",
        "10",
        "--format",
        "json",
        "--output",
        str(out),
    ]


def run_cli(args: argparse.Namespace) -> dict[str, Any]:
    """``python -m tracing report --sections slices`` on Parquet files, as a subprocess.

    CPU time and peak RSS are the child's (``RUSAGE_CHILDREN``: this worker runs nothing else).
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-slices-") as tmp:
        folder = Path(tmp)
        baseline, production = write_parquet(args, folder)
        out = folder / "report.json"
        env = {**os.environ, "PYTHONPATH": args.code}
        runs = []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            # from the checkout's folder: ``python -m`` imports `tracing` from the working folder
            cmd = cli_command(args, baseline, production, out)
            subprocess.run(cmd, check=True, env=env, cwd=args.code)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            runs.append((wall, cpu))
        listed = [s["slice"] for s in json.loads(out.read_text())["slices"]]
    # the report lists distinct slices: the planted one may be folded into a parent of it
    planted = {k: f"v{v}" for k, v in PLANT.items()}
    rank = next((i + 1 for i, s in enumerate(listed) if s.items() <= planted.items()), None)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {**_summary(runs), "planted_rank": rank, "child_peak_rss_mb": rss}


WORKERS = {
    "ours": run_ours,
    "numpy": run_numpy,
    "pandas": run_pandas,
    "cli": run_cli,
    "sliceline": run_sliceline,
    "sliceline_tight": lambda args: run_sliceline(args, tight=True),
}


def worker(args: argparse.Namespace) -> None:
    out = WORKERS[args.worker](args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Driver


def spawn(
    method: str,
    args: argparse.Namespace,
    rows: int,
    plant: float,
    python: str = sys.executable,
    code: Path = ROOT,
) -> dict[str, Any]:
    """Run one worker in its own process (``code``: the checkout whose `tracing` it uses)."""
    cmd = [python, __file__, "--worker", method, "--rows", str(rows), "--plant-frac", str(plant)]
    for flag in ("seed", "pandas_rows", "mem_limit_gb", "min_share", "repeat"):
        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    cmd += ["--code", str(code)]
    env = {**os.environ, "PYTHONPATH": str(code)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"timeout after {args.timeout} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": f"exit {proc.returncode}: {tail[:200]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--pandas-rows",
        type=int,
        default=1_000_000,
        help="rows for the pandas loop (extrapolated linearly to --rows)",
    )
    ap.add_argument("--sliceline-python", default="/tmp/benchenv/bin/python")
    ap.add_argument("--mem-limit-gb", type=float, default=16.0)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plant-frac", type=float, default=0.02)
    ap.add_argument(
        "--min-share", type=float, default=0.001, help="min_size / min_sup as a share of the rows"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of ours and of the CLI (best, median)"
    )
    ap.add_argument(
        "--before", type=Path, help="an older checkout, timed beside this one (ours and the CLI)"
    )
    ap.add_argument("--skip-sliceline", action="store_true")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--skip-search", action="store_true", help="no in-process search runs")
    ap.add_argument("--skip-numpy", action="store_true")
    ap.add_argument(
        "--skip-shipped", action="store_true", help="sliceline with its bound fixed only"
    )
    ap.add_argument("--planted-only", action="store_true", help="skip the no-planted scenario")
    ap.add_argument("--code", default=str(ROOT), help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    print(f"$ python bench/slices.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    scenarios = (("planted slice", args.plant_frac), ("no planted slice", 0.0))
    for title, plant in scenarios[:1] if args.planted_only else scenarios:
        report(title, plant, scenario(title, plant, args), args)


def scenario(title: str, plant: float, args: argparse.Namespace) -> list[tuple[str, Any]]:
    """Run every method on one data set (``plant``: share of the planted slice)."""
    runs: list[tuple[str, dict[str, Any]]] = []

    def run(name: str, method: str, **kw: Any) -> None:
        res = spawn(method, args, args.rows, plant, **kw)
        runs.append((name, res))
        print(f"  {title}: {name}: {res.get('seconds', res.get('failed'))}", flush=True)

    if not args.skip_search:
        run("ours: search", "ours")
        if args.before:
            run("before: search", "ours", code=args.before)
    if not args.skip_numpy:
        run("numpy exhaustive loop", "numpy")
    if plant and not args.skip_pandas:
        run("pandas group-by loop", "pandas")
    if not args.skip_cli:
        run("ours: CLI whole process", "cli")
        if args.before:
            run("before: CLI whole process", "cli", code=args.before)
    if plant and not args.skip_sliceline:
        if not args.skip_shipped:
            run("sliceline 0.3.0", "sliceline", python=args.sliceline_python)
        run("sliceline 0.3.0, bound fixed", "sliceline_tight", python=args.sliceline_python)
    return runs


def _fmt(res: dict[str, Any], key: str) -> str:
    if key not in res:
        return ""
    median = res.get(key.replace("seconds", "median") if key == "seconds" else f"{key}_median")
    return f"{res[key]:.2f}" + (f" ({median:.2f})" if median is not None else "")


def report(
    title: str, plant: float, runs: list[tuple[str, dict[str, Any]]], args: argparse.Namespace
) -> None:
    """One markdown table per scenario, ratios on CPU time (the machine is shared)."""
    found = dict(runs)
    search = found.get("ours: search", {})
    cli = found.get("ours: CLI whole process", {})
    print(f"\n### {title} ({args.rows:,} rows, plant share {plant})\n")
    print(
        "| method | wall s, best (median) | CPU s, best (median) | ours search faster by "
        "(CPU) | ours CLI faster by (CPU / wall) | peak RSS (MB) | planted slice rank |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, res in runs:
        if "failed" in res:
            print(f"| {name} | failed: {res['failed']} | | | | | |")
            continue
        by_search = by_cli = ""
        if "CLI" not in name and not name.startswith("ours") and "cpu" in search:
            by_search = f"{res['cpu'] / search['cpu']:.1f}x"
        if (name.startswith("sliceline") or name.startswith("before: CLI")) and "cpu" in cli:
            by_cli = f"{res['cpu'] / cli['cpu']:.1f}x / {res['seconds'] / cli['seconds']:.1f}x"
        rss = res.get("child_peak_rss_mb", res.get("peak_rss_mb", 0))
        wall = _fmt(res, "seconds")
        if "measured_seconds" in res and res.get("rows", args.rows) != args.rows:
            wall += f" (extrapolated from {res['rows']:,} rows)"
        print(
            f"| {name} | {wall} | {_fmt(res, 'cpu')} | {by_search} | {by_cli} | {rss:.0f} | "
            f"{res.get('planted_rank')} |"
        )
        if name.endswith(": search") and "e2e" in res:
            e2e = res["e2e"]
            print(
                f"| {name.split(':')[0]}: find_slices end to end | {_fmt(e2e, 'seconds')} | "
                f"{_fmt(e2e, 'cpu')} | | | {rss:.0f} | {res.get('planted_rank')} |"
            )
    print("\nsliceline ranks by its own score (alpha=0.95), the others by impact; the CLI")
    print("figure is the whole process (start, read both Parquet files, code, search, write);")
    print("its rank is that of the first listed slice made of planted conditions only.")
    if "top" in search:
        print(
            f"ours scored {search['combos_scored']} of {search['combos_total']} feature "
            "combinations exactly; top-10 (impact, slice):"
        )
        for v, s in search["top"]:
            print(f"  {v:.6f}  {s}")


if __name__ == "__main__":
    main()
