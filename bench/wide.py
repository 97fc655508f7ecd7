"""Benchmark: a full report on wide files (200 rows, thousands of columns), section by section.

Run by hand (not a test):

    python bench/wide.py                          # 1,000 / 2,000 / 5,000 / 10,000 columns
    python bench/wide.py --columns 2000 --repeat 3

Each file pair holds ``--rows`` rows per side of half numeric, half small-integer columns, a
binary label and a prediction that is right 90% of the time in the baseline, 70% in production.
Each section runs on its own analysis (no cache shared between sections), after one warm-up
report on a narrow file (imports); then ``REPORT`` times one report of every section, which
shares the slices, drift and quality between sections as ``python -m tracing report``
does. Wall and CPU time are printed per section; the CPU time is
the process's, so a loaded machine shows as wall > CPU.

Hardening issue, item 3: "10,000 columns x 200 rows completes a full report in seconds, or is
refused above a documented column limit (``TRACING_MAX_COLUMNS``)". This is what the default
of that setting is chosen from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracing.analysis import prepare_analysis  # noqa: E402
from tracing.report import SECTIONS, build_report  # noqa: E402


def frames(columns: int, rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return a (baseline, production) pair of wide frames."""
    rng = np.random.default_rng(seed)
    out = []
    for right in (0.9, 0.7):
        data: dict[str, np.ndarray] = {
            f"f{i}": rng.integers(0, 5, rows) if i % 2 else rng.normal(size=rows)
            for i in range(columns)
        }
        y = rng.integers(0, 2, rows)
        data["prediction_id"] = np.arange(rows)
        data["actual"] = y
        data["prediction"] = np.where(rng.random(rows) < right, y, 1 - y)
        out.append(pd.DataFrame(data))
    return out[0], out[1]


def timed(fn, *args, **kwargs) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, nargs="*", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sections", default=",".join(s.value for s in SECTIONS))
    args = parser.parse_args()
    sections = args.sections.split(",")

    warm = frames(5, 200)
    build_report(prepare_analysis(*warm), sections=sections)
    print(f"{'columns':>8} {'section':<12} {'wall s':>8} {'cpu s':>8}")
    for k in args.columns:
        base, prod = frames(k, args.rows)
        for _ in range(args.repeat):
            w, c = timed(prepare_analysis, base, prod)
            print(f"{k:>8} {'prepare':<12} {w:>8.2f} {c:>8.2f}")
            total_w, total_c = w, c
            for section in sections:
                analysis = prepare_analysis(base, prod)
                w, c = timed(build_report, analysis, sections=[section])
                total_w, total_c = total_w + w, total_c + c
                print(f"{k:>8} {section:<12} {w:>8.2f} {c:>8.2f}", flush=True)
            print(f"{k:>8} {'sum':<12} {total_w:>8.2f} {total_c:>8.2f}", flush=True)
            # One report of every section shares its slices, drift and quality (as the CLI).
            w, c = timed(build_report, prepare_analysis(base, prod), sections=sections)
            print(f"{k:>8} {'REPORT':<12} {w:>8.2f} {c:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
