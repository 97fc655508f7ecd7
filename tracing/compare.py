"""Step 1, "compare to something you know": every metric, production vs baseline, with a CI.

`compare` returns one `Comparison`: a tidy table with, per applicable metric, the baseline and
production values, the delta, whether that is worse or better in the metric's own direction, and
a 95% confidence interval of the delta, plus row counts and class balance.

Confidence intervals (seeded, deterministic):

- additive metrics (all but ``roc_auc``/``pr_auc``): the delta method on the summed sufficient
  statistics. A metric is a smooth function f of the stat sums S; Var f(S) ~= n Var(g . x_i) with
  g the gradient of f at S (central differences) and x_i a row's stats. Baseline and production
  are independent, so the delta's variance is the sum. For ratio metrics this is the usual
  linearised variance of a ratio estimator.
- rank metrics: the bootstrap standard error of each side (200 resamples from
  ``random_state``; above 20,000 rows an m-out-of-n bootstrap with m = 20,000, rescaled by
  sqrt(m / n), which keeps the cost flat at a million rows).

The interval is ``delta +/- z * sqrt(var_baseline + var_production)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from tracing.metrics import Direction, Metric, Prepared, applicable_metrics, row_stats, worse_by
from tracing.schema import ModelType

__all__ = ["Comparison", "compare", "metric_variance"]

_BOOT_REPS = 200
_BOOT_MAX_ROWS = 20_000

TABLE_COLUMNS = (
    "metric",
    "name",
    "direction",
    "higher_is_better",
    "percent",
    "baseline",
    "production",
    "delta",
    "worse_by",
    "status",
    "ci_low",
    "ci_high",
    "significant",
    "baseline_reason",
    "production_reason",
)


@dataclass(frozen=True)
class Comparison:
    """Production vs baseline for every applicable metric.

    Attributes
    ----------
    table : DataFrame
        One row per metric with columns ``metric`` (id), ``name``, ``direction``,
        ``higher_is_better`` (True/False/None), ``percent``, ``baseline``, ``production``,
        ``delta`` (production - baseline), ``worse_by`` (positive = production is worse),
        ``status`` ("worse", "better", "same" or "undefined"), ``ci_low``/``ci_high`` (CI of
        the delta), ``significant`` (the CI excludes 0), and the reasons for NaN values.
    rows : DataFrame
        Index ``baseline``/``production``; columns ``rows``, ``rows_with_actuals``,
        ``missing_actual``, ``missing_prediction``.
    class_balance : DataFrame
        Classification: share of each class among actuals and predictions per side
        (columns ``class``, ``baseline_actual``, ``production_actual``,
        ``baseline_predicted``, ``production_predicted``). Empty for regression.
    confidence : float
        Confidence level of the intervals.
    """

    table: pd.DataFrame
    rows: pd.DataFrame
    class_balance: pd.DataFrame
    confidence: float

    def row(self, metric_id: str) -> dict[str, Any]:
        """Return the table row of one metric as a dict."""
        hit = self.table[self.table["metric"] == metric_id]
        if hit.empty:
            raise KeyError(metric_id)
        return {str(k): v for k, v in hit.iloc[0].items()}


def compare(
    baseline: Prepared,
    production: Prepared,
    *,
    metrics: list[Metric] | None = None,
    confidence: float = 0.95,
    random_state: int = 0,
) -> Comparison:
    """Compare production with the baseline on every applicable metric.

    Parameters
    ----------
    baseline, production : Prepared
        Prepared outputs of both datasets (same schema).
    metrics : list of Metric, optional
        Defaults to every metric applicable to the schema.
    confidence : float, default 0.95
        Confidence level of the delta's interval.
    random_state : int, default 0
        Seed of the bootstrap (rank metrics only).

    Returns
    -------
    Comparison
    """
    schema = production.schema
    metrics = applicable_metrics(schema) if metrics is None else metrics
    stats_b, stats_p = row_stats(baseline), row_stats(production)
    z = float(norm.ppf(0.5 + confidence / 2))
    records = []
    for i, m in enumerate(metrics):
        vb, varb = metric_variance(m, baseline, stats_b, random_state=random_state + 2 * i)
        vp, varp = metric_variance(m, production, stats_p, random_state=random_state + 2 * i + 1)
        records.append(_record(m, vb, vp, varb, varp, z))
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    return Comparison(
        table=table,
        rows=_row_counts(baseline, production),
        class_balance=_class_balance(baseline, production),
        confidence=confidence,
    )


def _record(m: Metric, vb: float, vp: float, varb: float, varp: float, z: float) -> dict:
    delta = vp - vb
    worse = float(worse_by(vp, vb, m.direction))
    half = z * float(np.sqrt(varb + varp))
    if np.isnan(delta):
        status = "undefined"
    elif abs(worse) <= 1e-12 * max(1.0, abs(vb)):
        status = "same"
    else:
        status = "worse" if worse > 0 else "better"
    low, high = delta - half, delta + half
    return {
        "metric": m.id,
        "name": m.name,
        "direction": m.direction.value,
        "higher_is_better": m.higher_is_better,
        "percent": m.percent,
        "baseline": vb,
        "production": vp,
        "delta": delta,
        "worse_by": worse,
        "status": status,
        "ci_low": low,
        "ci_high": high,
        "significant": bool(not np.isnan(delta) and (low > 0 or high < 0)),
        "baseline_reason": m.reason(vb),
        "production_reason": m.reason(vp),
    }


def metric_variance(
    metric: Metric,
    data: Prepared,
    stats: pd.DataFrame | None = None,
    *,
    random_state: int = 0,
) -> tuple[float, float]:
    """Return a metric's value on a dataset and the estimated variance of that value.

    Parameters
    ----------
    metric : Metric
        The metric.
    data : Prepared
        The dataset.
    stats : DataFrame, optional
        Its `row_stats`, if already computed.
    random_state : int, default 0
        Bootstrap seed (rank metrics).

    Returns
    -------
    (value, variance) : tuple of float
        NaN value (and variance) when the metric is undefined.
    """
    if not metric.additive:
        return _bootstrap_variance(metric, data, random_state)
    stats = row_stats(data) if stats is None else stats
    used = [
        c
        for c in stats.columns
        if metric.numerator is None or c in (metric.numerator, metric.denominator, "zero_actual")
    ]
    x = stats[used].to_numpy()
    sums = dict(zip(used, x.sum(axis=0), strict=True))
    value = float(metric.from_stats(sums))
    n = int(data.valid.sum())
    if np.isnan(value) or n < 2:
        return value, float("nan") if np.isnan(value) else 0.0
    grad = _gradient(metric, sums)
    proj = x[data.valid] @ grad
    return value, float(n * proj.var(ddof=1))


def _gradient(metric: Metric, sums: dict[str, float]) -> np.ndarray:
    keys = list(sums)
    grad = np.zeros(len(keys))
    for j, key in enumerate(keys):
        h = 1e-6 * max(abs(sums[key]), 1.0)
        up, down = dict(sums), dict(sums)
        up[key] += h
        down[key] = max(down[key] - h, 0.0)
        step = up[key] - down[key]
        diff = float(metric.from_stats(up)) - float(metric.from_stats(down))
        grad[j] = diff / step if np.isfinite(diff) else 0.0
    return grad


def _bootstrap_variance(metric: Metric, data: Prepared, seed: int) -> tuple[float, float]:
    value = metric.compute(data)
    if np.isnan(value):
        return value, float("nan")
    idx = np.flatnonzero(data.valid)
    n = len(idx)
    m = min(n, _BOOT_MAX_ROWS)
    rng = np.random.default_rng(seed)
    reps = np.empty(_BOOT_REPS)
    for b in range(_BOOT_REPS):
        take = rng.choice(idx, size=m, replace=True)
        reps[b] = metric.compute(_subset(data, take))
    reps = reps[~np.isnan(reps)]
    if len(reps) < 2:
        return value, float("nan")
    # m-out-of-n bootstrap: the spread of size-m resamples, rescaled to size n.
    return value, float(reps.var(ddof=1) * m / n)


def _subset(data: Prepared, take: np.ndarray) -> Prepared:
    return replace(
        data,
        valid=data.valid[take],
        y_true=data.y_true[take],
        y_pred=data.y_pred[take],
        score=None if data.score is None else data.score[take],
        n_rows=len(take),
    )


def _row_counts(baseline: Prepared, production: Prepared) -> pd.DataFrame:
    def counts(p: Prepared) -> dict[str, int]:
        return {
            "rows": p.n_rows,
            "rows_with_actuals": int(p.valid.sum()),
            "missing_actual": p.n_missing_actual,
            "missing_prediction": p.n_missing_prediction,
        }

    return pd.DataFrame([counts(baseline), counts(production)], index=["baseline", "production"])


def _class_balance(baseline: Prepared, production: Prepared) -> pd.DataFrame:
    schema = production.schema
    if schema.model_type is ModelType.REGRESSION:
        return pd.DataFrame()
    out: dict[str, Any] = {"class": list(schema.classes)}
    for side, p in (("baseline", baseline), ("production", production)):
        for kind, arr in (("actual", p.y_true), ("predicted", p.y_pred)):
            v = p.valid
            if schema.model_type is ModelType.BINARY:
                pos = float(arr[v].mean()) if v.any() else float("nan")
                shares = [1 - pos, pos] if len(schema.classes) == 2 else [pos]
                if len(schema.classes) == 2 and schema.classes[0] == schema.positive_class:
                    shares = shares[::-1]
            else:
                counts = np.bincount(arr[v], minlength=len(schema.classes)).astype(float)
                shares = list(counts / counts.sum()) if counts.sum() else [np.nan] * len(counts)
            out[f"{side}_{kind}"] = shares
    return pd.DataFrame(out)


def direction_of(metric_id: str) -> Direction:
    """Return the direction of a registered metric id (helper for renderers)."""
    from tracing.metrics import METRICS

    return METRICS[metric_id].direction
