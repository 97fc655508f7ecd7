# ruff: noqa: B023, E501  (closures are called within their loop iteration; long result lines)
"""Timeline + estimate + actuals join at 1M rows vs pandas + scikit-learn in the same run.

Run by hand: ``python bench/timeline.py [ROWS]`` (default 1,000,000 production rows).
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from tracing.actuals import join_actuals
from tracing.timeline import metric_timeline, monitoring_schema


def make(n, days, seed, start):
    rng = np.random.default_rng(seed)
    s = rng.beta(0.8, 0.8, n).round(4)
    y = (rng.random(n) < s).astype(np.int64)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, days * 86400, n)), "s"
    )
    return pd.DataFrame(
        {
            "prediction_id": np.char.add(
                "p", np.arange(seed * n, seed * n + n).astype(str)
            ).astype(object),
            "timestamp": ts,
            "state": rng.choice(list("ABCDEFGH"), n),
            "prediction_score": s,
            "prediction_label": (s >= 0.5).astype(np.int64),
            "actual_label": y,
        }
    )


def best(f, reps=3):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        r = f()
        out.append(time.perf_counter() - t)
    return min(out), r


N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
base = make(200_000, 30, 1, "2026-01-01")
prod = make(N, 90, 2, "2026-02-01")
schema = monitoring_schema(prod, base)
for metric in ("accuracy", "roc_auc"):
    t_ours, tl = best(lambda: metric_timeline(prod, base, schema=schema, metric=metric))

    def peer():
        day = prod["timestamp"].dt.floor("D")
        f = skm.accuracy_score if metric == "accuracy" else skm.roc_auc_score
        col = "prediction_label" if metric == "accuracy" else "prediction_score"
        real = prod.groupby(day).apply(lambda g: f(g["actual_label"], g[col]))
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
            base["prediction_score"], base["actual_label"]
        )
        p = iso.predict(prod["prediction_score"])
        yhat = prod["prediction_label"].to_numpy()
        if metric == "accuracy":
            est = pd.Series(p * yhat + (1 - p) * (1 - yhat)).groupby(day.to_numpy()).mean()
        else:
            d = pd.DataFrame({"s": prod["prediction_score"], "p": p, "day": day})
            est = d.groupby("day").apply(
                lambda g: skm.roc_auc_score(
                    np.r_[np.ones(len(g)), np.zeros(len(g))],
                    np.r_[g.s, g.s],
                    sample_weight=np.r_[g.p, 1 - g.p],
                )
            )
        bday = base["timestamp"].dt.floor("D")
        band = base.groupby(bday).apply(lambda g: f(g["actual_label"], g[col]))
        return real, est, band

    t_peer, (real, est, band) = best(peer, reps=1 if metric == "roc_auc" else 3)
    assert np.allclose(tl.table["metric"].to_numpy(), real.to_numpy())
    assert np.allclose(tl.table["estimated"].to_numpy(), est.to_numpy(), atol=1e-9)
    print(
        f"timeline {metric:<8} {N:,} rows, 90 days + 200k baseline (realized, estimated, band): ours {t_ours:.2f} s, pandas+sklearn {t_peer:.2f} s"
    )

rng = np.random.default_rng(3)
acts = prod[["prediction_id", "actual_label"]].sample(frac=0.9, random_state=4)
extra = acts.sample(frac=0.2, random_state=5).assign(actual_label=lambda f: 1 - f.actual_label)
acts = pd.concat([extra, acts], ignore_index=True)
acts["actual_timestamp"] = pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(
    np.r_[np.zeros(len(extra)), np.ones(len(acts) - len(extra))], "D"
)
preds = prod.drop(columns="actual_label")
t_ours, (out, rep) = best(
    lambda: join_actuals(
        preds,
        acts,
        id_column="prediction_id",
        actual_column="actual_label",
        timestamp_column="actual_timestamp",
    )
)


def peer_join():
    latest = acts.sort_values("actual_timestamp", kind="stable").drop_duplicates(
        "prediction_id", keep="last"
    )
    return preds.merge(latest, on="prediction_id", how="left")


t_peer, merged = best(peer_join)
assert (
    out["actual_label"].fillna(-1).to_numpy() == merged["actual_label"].fillna(-1).to_numpy()
).all()
print(
    f"join_actuals {len(preds):,} predictions x {len(acts):,} actual rows (with report): ours {t_ours:.2f} s, pandas sort+drop_duplicates+merge {t_peer:.2f} s"
)
