"""Benchmark: `fit_bins` and `ColumnBins.codes` per column kind, 1M + 1M rows, now vs before.

Run by hand (not a test), from the repository root:

    python bench/binning.py                              # this checkout
    python bench/binning.py --before /tmp/drift-before   # and an older one, same run

The columns are those of ``bench/drift.py`` (normal, lognormal, integer-valued and uniform
floats with missing values; Arrow text with 5 to 50 categories), plus the same text as a pandas
categorical and as Python objects. Each figure is the best of ``--repeat`` CPU times
(``time.process_time``) for fitting on both sides and coding both sides. With ``--before``, the
same script runs in a subprocess on the older checkout's ``tracing`` (public API only) and the
codes of both are checked equal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve()


def columns(rows: int) -> dict[str, tuple[pd.Series, pd.Series]]:
    sys.path.insert(0, str(HERE.parent))
    from drift import make_frames  # the drift benchmark's generator

    base, prod = make_frames(rows, 0)
    out = {c: (base[c], prod[c]) for c in ("num_0", "num_1", "num_2", "num_3", "cat_1", "cat_4")}
    out["cat_4 (category)"] = (base["cat_4"].astype("category"), prod["cat_4"].astype("category"))
    out["cat_4 (object)"] = (base["cat_4"].astype(object), prod["cat_4"].astype(object))
    return out


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        times.append(time.process_time() - start)
    return min(times), result


def measure(rows: int, repeat: int) -> dict[str, dict[str, object]]:
    from tracing.binning import fit_bins

    out = {}
    for name, (base, prod) in columns(rows).items():
        fit_s, bins = best(lambda b=base, p=prod: fit_bins(b, p, min_count=10_000), repeat)
        codes_s, codes = best(lambda b=bins, s=(base, prod): [b.codes(x) for x in s], repeat)
        digest = hashlib.sha1(b"".join(np.ascontiguousarray(c).tobytes() for c in codes))
        out[name] = {
            "fit_s": fit_s,
            "codes_s": codes_s,
            "labels": list(bins.labels),
            "codes": digest.hexdigest(),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", help="an older checkout to time in the same run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # the checkout to import
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, args.worker)
        print(json.dumps(measure(args.rows, args.repeat)))
        return
    old = None
    if args.before:
        cmd = [sys.executable, str(HERE), "--worker", args.before]
        cmd += ["--rows", str(args.rows), "--repeat", str(args.repeat)]
        old = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    sys.path.insert(0, str(HERE.parents[1]))
    now = measure(args.rows, args.repeat)
    print(f"{args.rows:,} rows per side; CPU seconds, best of {args.repeat}, both sides")
    print(
        f"{'column':<18} {'fit now':>8} {'codes now':>10} {'fit before':>11} {'codes before':>13}"
    )
    totals = np.zeros(4)
    for name, r in now.items():
        row = [float(r["fit_s"]), float(r["codes_s"])]
        if old is not None:
            o = old[name]
            assert o["labels"] == r["labels"] and o["codes"] == r["codes"], name
            row += [float(o["fit_s"]), float(o["codes_s"])]
        totals[: len(row)] += row
        print(f"{name:<18} " + " ".join(f"{v:>10.4f}" for v in row))
    print(f"{'total':<18} " + " ".join(f"{v:>10.4f}" for v in totals[: 4 if old else 2]))
    if old is not None:
        print(
            f"faster by {totals[2] / totals[0]:.1f}x (fit), {totals[3] / totals[1]:.1f}x (codes); "
            "labels and codes identical"
        )


if __name__ == "__main__":
    main()
