"""Benchmark: `tracing.explain.explain` on 1M production + 1M baseline rows with 20 features.

Run by hand (not a test), from the repository root:

    python bench/explain.py                  # 1M + 1M rows, then the peer
    python bench/explain.py --rows 200000    # smaller
    python bench/explain.py --skip-peer

The data is a binary model with a score: 14 numeric features (one with 5% missing values) and
6 categorical ones (up to 5,000 values, Zipf-like). The score depends on ``n0`` and ``cat0``
only; production errors are planted on ``cat1 == "k2"``. The run checks that the surrogate
ranks n0/cat0 first and the error model ranks cat1 first, so the time is for real work.

Timed: ``explain`` with its defaults (surrogate on 20,000 sampled rows, error model on 20,000
production rows, SHAP on 2,000 rows per group), after a small warm-up run (imports, numba).
``prepare_analysis`` is timed separately. Peer: scikit-learn's
``HistGradientBoostingRegressor(categorical_features=...)`` + ``shap.TreeExplainer`` on the same
encoded sample (the alternative to LightGBM); the script prints its time and how far its SHAP
values are from adding up to its predictions.
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
from tracing.explain import explain  # noqa: E402

N_NUMERIC = 14
CATEGORIES = {"cat0": 12, "cat1": 50, "cat2": 5000, "cat3": 8, "cat4": 30, "cat5": 3}


def make_frame(rows: int, seed: int, *, production: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {f"n{i}": rng.normal(size=rows) for i in range(N_NUMERIC)}
    data["n3"] = np.where(rng.random(rows) < 0.05, np.nan, data["n3"])
    for name, k in CATEGORIES.items():
        weights = 1 / np.arange(1, k + 1)
        labels = np.array([f"{name[-1]}{i}" if name != "cat1" else f"k{i}" for i in range(k)])
        data[name] = pd.array(
            labels[rng.choice(k, size=rows, p=weights / weights.sum())], dtype="str"
        )
    frame = pd.DataFrame(data)
    risky = frame["cat0"].isin(["00", "01", "02"]).to_numpy()
    logit = 1.5 * frame["n0"].to_numpy() + 1.5 * risky - 1.0
    score = 1 / (1 + np.exp(-logit))
    label = (score >= 0.5).astype(np.int64)
    flip_rate = np.where(production & (frame["cat1"] == "k2").to_numpy(), 0.8, 0.03)
    flip = rng.random(rows) < flip_rate
    frame["prediction_score"] = score
    frame["prediction_label"] = label
    frame["actual_label"] = np.where(flip, 1 - label, label)
    return frame


def _top_codes(series: pd.Series, keep: int = 254) -> np.ndarray:
    top = series.value_counts().index[:keep]
    codes = pd.Index(top).get_indexer(series)
    return np.where(codes < 0, keep, codes).astype(float)


def peer(analysis, sample: int, shap_rows: int, seed: int) -> tuple[float, float]:
    """Same surrogate job with scikit-learn's HistGradientBoosting + shap.TreeExplainer."""
    import shap
    from sklearn.ensemble import HistGradientBoostingRegressor

    features = list(analysis.schema.roles.features)
    rng = np.random.default_rng(seed)
    parts = []
    for frame in (analysis.baseline_frame, analysis.production_frame):
        rows = np.sort(rng.choice(len(frame), size=sample // 2, replace=False))
        parts.append(frame.iloc[rows])
    data = pd.concat(parts, ignore_index=True)
    # HistGradientBoosting takes at most 255 categories: keep the 254 most frequent, pool the rest.
    x = pd.DataFrame({c: _top_codes(data[c]) if c in CATEGORIES else data[c] for c in features})
    start = time.perf_counter()
    model = HistGradientBoostingRegressor(
        max_iter=100,
        categorical_features=[c in CATEGORIES for c in features],
        max_leaf_nodes=31,
        random_state=seed,
    ).fit(x, data["prediction_score"])
    explainer = shap.TreeExplainer(model)
    values = explainer.shap_values(x.iloc[:shap_rows])
    seconds = time.perf_counter() - start
    gap = np.abs(values.sum(axis=1) + explainer.expected_value - model.predict(x.iloc[:shap_rows]))
    return seconds, float(gap.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()

    t = time.perf_counter()
    baseline = make_frame(args.rows, args.seed, production=False)
    production = make_frame(args.rows, args.seed + 1, production=True)
    print(
        f"generated {args.rows:,} + {args.rows:,} rows x {N_NUMERIC + len(CATEGORIES)} "
        f"features in {time.perf_counter() - t:.1f} s"
    )

    t = time.perf_counter()
    analysis = prepare_analysis(baseline, production, names=("baseline", "production"))
    print(f"prepare_analysis: {time.perf_counter() - t:.2f} s")

    small = prepare_analysis(baseline.head(5000), production.head(5000))
    explain(small, sample_size=2000, shap_sample_size=100)  # warm-up: imports, numba, caches

    stamps: list[tuple[float, str, float]] = []
    start = time.perf_counter()
    exp = explain(
        analysis,
        random_state=args.seed,
        progress=lambda f, m: stamps.append((f, m, time.perf_counter())),
    )
    total = time.perf_counter() - start
    prev = start
    for _, message, at in stamps:
        print(f"  {at - prev:6.2f} s  before '{message}'")
        prev = at
    table = exp.importance.set_index("feature")
    top2 = set(table.index[:2])
    err_top = table["error_mean_abs_shap"].idxmax()
    print(
        f"explain (surrogate + error model + SHAP): {total:.2f} s "
        f"(target 20 s); fidelity {exp.fidelity_metric} {exp.fidelity:.3f}; "
        f"train rows {exp.train_rows:,}; SHAP rows {exp.sample_rows:,}"
    )
    print(
        f"  surrogate top 2: {sorted(top2)} (planted: ['cat0', 'n0']); "
        f"error model top: {err_top} (planted: cat1)"
    )
    if top2 != {"n0", "cat0"} or err_top != "cat1":
        raise SystemExit("planted features were not found: the benchmark result is invalid")

    if not args.skip_peer:
        seconds, gap = peer(analysis, 20_000, 2_000, args.seed)
        print(
            f"peer: HistGradientBoostingRegressor(categorical) + shap.TreeExplainer, "
            f"surrogate only: {seconds:.2f} s; max |sum(SHAP) + base - prediction| = "
            f"{gap:.3g} (0 when SHAP values are exact)"
        )


if __name__ == "__main__":
    main()
