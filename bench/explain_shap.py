"""Benchmark: `tracing.explain_shap` tables vs LightGBM's ``pred_contrib`` on explain's models.

Run by hand (not a test), from the repository root:

    python bench/explain_shap.py                 # 200,000 + 200,000 rows, 3 repeats
    python bench/explain_shap.py --rows 50000 --repeat 5

Trains the surrogate and the error model exactly as `tracing.explain.explain` does on the data
of bench/explain.py, then times, on 2,000 rows each, LightGBM's ``pred_contrib`` (one thread)
against the tables (``TreeShap.build`` + ``values``, leaf check included), and prints the
largest difference between the two (0 up to rounding).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain import make_frame  # noqa: E402

import tracing.explain as engine  # noqa: E402
from tracing.analysis import prepare_analysis  # noqa: E402
from tracing.explain_shap import BoosterShap, TreeShap  # noqa: E402


def _cpu(f, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    f(*args, **kwargs)
    return time.process_time() - start


def _tables(booster, x):  # type: ignore[no-untyped-def]
    return BoosterShap(booster, min_rows=0)(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per side")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    analysis = prepare_analysis(
        make_frame(args.rows, 0, production=False), make_frame(args.rows, 1, production=True)
    )
    models: list[tuple[str, object, np.ndarray]] = []
    fit = engine._fit_tree

    def keep(x, *rest, **kwargs):  # type: ignore[no-untyped-def]
        booster = fit(x, *rest, **kwargs)
        models.append(("surrogate" if not models else "error model", booster, x[:2000]))
        return booster

    engine._fit_tree = keep  # type: ignore[assignment]
    engine.explain(analysis)
    engine._fit_tree = fit
    for name, booster, x in models:
        theirs, build, ours = [], [], []
        for _ in range(args.repeat):
            theirs.append(_cpu(booster.predict, x, pred_contrib=True, num_threads=1))
            build.append(_cpu(TreeShap.build, booster))
            ours.append(_cpu(_tables, booster, x))
        gap = np.abs(_tables(booster, x) - booster.predict(x, pred_contrib=True))
        print(
            f"{name}: pred_contrib {min(theirs):.3f} s CPU (median {np.median(theirs):.3f}); "
            f"tables {min(ours):.3f} s (median {np.median(ours):.3f}), of which building "
            f"{min(build):.3f} s; pred_contrib/tables {min(theirs) / min(ours):.2f}x; "
            f"max |difference| {gap.max():.2g}"
        )


if __name__ == "__main__":
    main()
