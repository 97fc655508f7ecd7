"""Step 1, "compare to something you know": every metric, production vs baseline, with a CI.

`compare` returns one `Comparison`: a tidy table with, per applicable metric, the baseline and
production values, the delta, whether that is worse or better in the metric's own direction, and
a 95% confidence interval of the delta, plus row counts and class balance.

Confidence intervals (deterministic, closed form, on every row):

- additive metrics (all but ``roc_auc``/``pr_auc``): the delta method on the summed sufficient
  statistics. A metric is a smooth function f of the stat sums S; Var f(S) ~= n Var(g . x_i) with
  g the gradient of f at S (central differences) and x_i a row's stats. Baseline and production
  are independent, so the delta's variance is the sum. For ratio metrics this is the usual
  linearised variance of a ratio estimator.
- rank metrics: the delta method too, on the counts of positives and negatives per distinct
  score (a row's stats are then one count of one cell), with the metric's analytic partial
  derivatives in those counts (`tracing.metrics.Metric.groups_gradient`). For ROC AUC this is
  DeLong's variance. No resampling, so no subsample, at any size.

The interval is ``delta +/- z * sqrt(var_baseline + var_production)``.

**Estimated performance.** For a binary model with one score column, given the production rows
as loaded (``production_frame``), the table also carries each metric *estimated* from the
production scores (`tracing.estimate`: scores calibrated on the baseline's actuals, expected
confusion matrix on production), whether or not production has actuals: without actuals it
stands in for the realized value, with actuals it sits beside it so users learn when to trust
it. It is NaN when no estimate applies (other model types, no score, too few baseline rows to
calibrate on).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tracing.errors import DataError
from tracing.estimate import can_estimate, estimate_metrics, fit_estimator
from tracing.metrics import (
    Metric,
    Prepared,
    applicable_metrics,
    row_stat_columns,
    row_stats,
    score_groups,
    score_stat_columns,
    worse_by,
)
from tracing.pvalues import normal_quantile
from tracing.schema import ModelType, Schema
from tracing.verdict import Status, status

__all__ = ["Comparison", "Moments", "compare", "compare_moments", "metric_variance"]


TABLE_COLUMNS = (
    "metric",
    "name",
    "direction",
    "higher_is_better",
    "percent",
    "baseline",
    "production",
    "estimated",
    "estimated_status",
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
        ``estimated`` (production value estimated from the scores, NaN where no estimate
        applies; see the module docstring), ``estimated_status`` (the verdict on the
        estimate against the baseline, ``undefined`` without one), ``delta`` (production -
        baseline), ``worse_by`` (positive = production is worse), ``status`` (a
        `tracing.verdict.Status`: "worse", "better", "same", "undefined", or "changed" for
        neutral metrics such as the predicted positive rate, where neither way is better),
        ``ci_low``/``ci_high`` (CI of the delta), ``significant`` (the CI excludes 0), and
        the reasons for NaN values.
    rows : DataFrame
        Index ``baseline``/``production``; columns ``rows``, ``rows_with_actuals``,
        ``missing_actual``, ``missing_prediction``.
    class_balance : DataFrame
        Classification: share of each class among actuals and predictions per side
        (columns ``class``, ``baseline_actual``, ``production_actual``,
        ``baseline_predicted``, ``production_predicted``). Empty for regression.
    confidence : float
        Confidence level of the intervals.
    notes : tuple of str
        How the estimate was made, or why there is none.
    """

    table: pd.DataFrame
    rows: pd.DataFrame
    class_balance: pd.DataFrame
    confidence: float
    notes: tuple[str, ...] = ()

    @property
    def has_estimates(self) -> bool:
        """Whether some metric has an estimated value."""
        return bool(self.table["estimated"].notna().any())

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
    production_frame: pd.DataFrame | None = None,
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
        Unused: every interval is in closed form (it seeded the rank metrics' bootstrap).
    production_frame : DataFrame, optional
        The production rows as loaded (those ``production`` was prepared from). Enables the
        ``estimated`` column for binary models with a score; without it that column is NaN.

    Returns
    -------
    Comparison
    """
    schema = production.schema
    metrics = applicable_metrics(schema) if metrics is None else metrics
    sides = [_StatMatrix(baseline), _StatMatrix(production)]
    z = normal_quantile(0.5 + confidence / 2)
    records = []
    for m in metrics:
        (vb, varb), (vp, varp) = (side.variance(m) for side in sides)
        records.append(_record(m, vb, vp, varb, varp, z))
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    notes: tuple[str, ...] = ()
    if production_frame is not None and can_estimate(schema):
        table["estimated"], notes = _estimated(baseline, production_frame, metrics)
        table["estimated_status"] = [
            status(e, b, d)
            for e, b, d in zip(
                table["estimated"], table["baseline"], table["direction"], strict=True
            )
        ]
    return Comparison(
        table=table,
        rows=_row_counts(baseline, production),
        class_balance=_class_balance(baseline, production),
        confidence=confidence,
        notes=notes,
    )


def _estimated(
    baseline: Prepared, frame: pd.DataFrame, metrics: list[Metric]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each metric estimated on ``frame`` from scores calibrated on the baseline's actuals."""
    try:
        estimator = fit_estimator(baseline)
    except DataError as exc:
        return np.full(len(metrics), np.nan), (f"no estimate: {exc}",)
    found = estimate_metrics(estimator, frame, metrics=metrics)
    note = (
        f"estimated: scores calibrated (isotonic) on {estimator.n_rows:,} baseline rows with "
        "actuals, then the expected confusion matrix of production; assumes the link between "
        "score and outcome did not change (no concept shift)"
    )
    return found["estimated"].to_numpy(dtype=float), (note,)


@dataclass(frozen=True)
class _StatMatrix:
    """One dataset's valid-row stats and score order, extracted once for all metrics."""

    data: Prepared

    @functools.cached_property
    def cols(self) -> dict[str, np.ndarray]:
        """The per-row stats of the valid rows (multiclass and regression)."""
        cols = row_stat_columns(self.data)
        if not self.data.valid.all():
            cols = {k: v[self.data.valid] for k, v in cols.items()}
        return cols

    @functools.cached_property
    def moments(self) -> _Moments | None:
        """Binary models: the stats' sums and cross-products, without per-row stat columns."""
        if self.data.schema.model_type is not ModelType.BINARY:
            return None
        return _Moments.binary(self.data)

    @functools.cached_property
    def rank_sample(self) -> _RankSample | None:
        """Scores counted once per distinct score, shared by every rank metric."""
        return _RankSample.of(self.data)

    def variance(self, metric: Metric) -> tuple[float, float]:
        if not metric.additive:
            sample = self.rank_sample
            if sample is None or metric.from_groups is None:
                return metric.compute(self.data), float("nan")
            return sample.variance(metric)
        # A ratio reads its own stats; any other metric is a function of every stat.
        used = metric.ratio_stats if metric.numerator is not None else None
        if self.moments is not None:
            return self.moments.delta_method(metric, used)
        cols = self.cols if used is None else {c: self.cols[c] for c in used}
        return _delta_method(metric, cols)


# Binary stats that count rows, as sets of the four cells (tn, fp, fn, tp) a valid row is in.
_CELLS = {
    "n": (1, 1, 1, 1),
    "tp": (0, 0, 0, 1),
    "fp": (0, 1, 0, 0),
    "fn": (0, 0, 1, 0),
    "tn": (1, 0, 0, 0),
    "pos": (0, 0, 1, 1),
    "neg": (1, 1, 0, 0),
    "pred_pos": (0, 1, 0, 1),
    "correct": (1, 0, 0, 1),
}


@dataclass(frozen=True)
class _Moments:
    """Sums and cross-products (Gram matrix) of one dataset's per-row stats, valid rows only.

    The delta method needs, per metric, the variance of ``g . x_i`` over rows (``g`` the
    gradient, ``x_i`` a row's stats): that is ``(g' G g - (g' s)^2 / n) / (n - 1)`` with ``G``
    the Gram matrix and ``s`` the sums, so one pass over the rows serves every metric. For a
    binary model the count stats depend only on the row's cell of the confusion matrix, so
    their block of ``G`` comes from four counts; only the score stats need per-row values.
    """

    names: tuple[str, ...]
    sums: np.ndarray
    gram: np.ndarray
    n: int

    @classmethod
    def binary(cls, data: Prepared) -> _Moments:
        v = data.valid
        t, p = data.y_true[v], data.y_pred[v]
        cell = 2 * t.astype(np.intp) + p  # 0 tn, 1 fp, 2 fn, 3 tp
        member = np.array(list(_CELLS.values()), dtype=np.float64)
        counts = np.bincount(cell, minlength=4).astype(np.float64)
        names, sums = list(_CELLS), member @ counts
        gram = (member * counts) @ member.T
        if data.score is not None:
            extra = score_stat_columns(t, data.score[v])
            # The same arrays and reductions as `row_stat_columns` gives: identical sums.
            extra_sums = np.array([float(x.sum()) for x in extra.values()])
            per_cell = np.stack(
                [np.bincount(cell, weights=x, minlength=4) for x in extra.values()]
            )
            cross = member @ per_cell.T
            inner = np.array([[_dot(a, b) for b in extra.values()] for a in extra.values()])
            names += list(extra)
            sums = np.r_[sums, extra_sums]
            gram = np.block([[gram, cross], [cross.T, inner]])
        return cls(tuple(names), sums, gram, int(v.sum()))

    def delta_method(self, metric: Metric, used: Sequence[str] | None) -> tuple[float, float]:
        """Value and delta-method variance of a metric (like `_delta_method` on columns)."""
        index = (
            list(range(len(self.names))) if used is None else [self.names.index(c) for c in used]
        )
        sums = {self.names[i]: float(self.sums[i]) for i in index}
        value = float(metric.from_stats(sums))
        if np.isnan(value) or self.n < 2:
            return value, float("nan")
        g = _gradient(metric, sums)
        s, gram = self.sums[index], self.gram[np.ix_(index, index)]
        spread = (g @ gram @ g - (g @ s) ** 2 / self.n) / (self.n - 1)
        return value, float(self.n * max(spread, 0.0))


Moments = _Moments
"""Public name of the sums and Gram matrix a SQL engine aggregates (`compare_moments`)."""


def compare_moments(
    baseline: _Moments,
    production: _Moments,
    *,
    schema: Schema,
    rows: pd.DataFrame,
    metrics: list[Metric] | None = None,
    confidence: float = 0.95,
    rank_groups: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
) -> Comparison:
    """`compare` from aggregated statistics: what a SQL engine returns instead of rows.

    Each side's `Moments` hold the sums and cross-products of every per-row statistic over
    its valid rows, so the additive metrics and their delta-method intervals are exactly those
    of `compare` (the same formulas on the same sums). Rank metrics (ROC AUC, PR AUC) come from
    each side's counts per distinct score (``rank_groups``), as `compare` computes them; without
    those counts they are NaN, with the reason.

    Parameters
    ----------
    baseline, production : Moments
        Per side: statistic names, sums, Gram matrix and valid row count.
    schema : Schema
        Model type and classes.
    rows : DataFrame
        The row counts (`Comparison.rows`).
    metrics : list of Metric, optional
        Defaults to every metric applicable to the schema.
    confidence : float, default 0.95
        Confidence level of the delta's interval.
    rank_groups : (baseline, production) of (pos, neg) or None, optional
        Per side, the positive and negative counts per distinct score, highest first
        (`tracing.metrics.score_groups`); None for a side whose counts the engine did not give.

    Returns
    -------
    Comparison
        ``estimated`` is NaN (no estimate from aggregates yet).
    """
    metrics = applicable_metrics(schema) if metrics is None else metrics
    z = normal_quantile(0.5 + confidence / 2)
    records = []
    groups = list(rank_groups) if rank_groups is not None else [None, None]
    samples = [None if g is None else _RankSample(*g) for g in groups]
    for m in metrics:
        if not m.additive:
            records.append(_rank_record(m, samples, z))
            continue
        used = m.ratio_stats if m.numerator is not None else None
        (vb, varb), (vp, varp) = (side.delta_method(m, used) for side in (baseline, production))
        records.append(_record(m, vb, vp, varb, varp, z))
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    balance = (
        pd.DataFrame()
        if schema.model_type is ModelType.REGRESSION
        else _balance(schema, [_sum_shares(schema, side) for side in (baseline, production)])
    )
    return Comparison(table=table, rows=rows, class_balance=balance, confidence=confidence)


def _rank_record(m: Metric, samples: Sequence[_RankSample | None], z: float) -> dict[str, Any]:
    """Return a rank metric's record from each side's per-score counts (NaN, with why, without)."""
    nan = float("nan")
    found = [(nan, nan) if s is None else s.variance(m) for s in samples]
    (vb, varb), (vp, varp) = found
    record = _record(m, vb, vp, varb, varp, z)
    why = "more distinct scores than the engine returns per-score counts for"
    for side, sample in zip(("baseline", "production"), samples, strict=True):
        if sample is None:
            record[f"{side}_reason"] = why
    return record


def _sum_shares(schema: Schema, side: _Moments) -> dict[str, list[float]]:
    """Class shares among actuals and predictions from a side's summed statistics."""
    sums = dict(zip(side.names, map(float, side.sums), strict=True))
    n = sums.get("n", 0.0)
    if schema.model_type is ModelType.BINARY:
        return {
            "actual": [sums["pos"] / n if n else np.nan],
            "predicted": [sums["pred_pos"] / n if n else np.nan],
        }
    k = len(schema.classes)
    actual = [sums[f"pos:{c}"] for c in range(k)]
    predicted = [sums[f"tp:{c}"] + sums[f"fp:{c}"] for c in range(k)]
    return {
        "actual": [a / n for a in actual] if n else [np.nan] * k,
        "predicted": [p / n for p in predicted] if n else [np.nan] * k,
    }


def _record(m: Metric, vb: float, vp: float, varb: float, varp: float, z: float) -> dict:
    delta = vp - vb
    worse = float(worse_by(vp, vb, m.direction))
    half = z * float(np.sqrt(varb + varp))
    low, high = delta - half, delta + half
    return {
        "metric": m.id,
        "name": m.name,
        "direction": m.direction.value,
        "higher_is_better": m.higher_is_better,
        "percent": m.percent,
        "baseline": vb,
        "production": vp,
        "estimated": float("nan"),
        "estimated_status": Status.UNDEFINED,
        "delta": delta,
        "worse_by": worse,
        "status": status(vp, vb, m.direction),
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
        Unused: the variance is in closed form (it seeded the rank metrics' bootstrap).

    Returns
    -------
    (value, variance) : tuple of float
        NaN value (and variance) when the metric is undefined.
    """
    if not metric.additive:
        return _rank_variance(metric, data)
    stats = row_stats(data) if stats is None else stats
    used = list(stats.columns)
    if metric.numerator is not None:
        used = [c for c in used if c in metric.ratio_stats]
    return _delta_method(metric, {c: stats[c].to_numpy()[data.valid] for c in used})


def _delta_method(metric: Metric, cols: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """Value and delta-method variance from per-row stat columns (valid rows only)."""
    sums = {k: float(v.sum()) for k, v in cols.items()}
    value = float(metric.from_stats(sums))
    n = len(next(iter(cols.values()))) if cols else 0
    if np.isnan(value) or n < 2:
        return value, float("nan")  # one row says nothing about the spread
    grad = _gradient(metric, sums)
    proj = np.zeros(n)
    for g, column in zip(grad, cols.values(), strict=True):
        if g:  # most stats do not move a given metric
            proj += g * column
    return value, float(n * proj.var(ddof=1))


def _gradient(metric: Metric, sums: dict[str, float]) -> np.ndarray:
    keys = list(sums)
    grad = np.zeros(len(keys))
    for j, key in enumerate(keys):
        h = 1e-6 * max(abs(sums[key]), 1.0)
        up, down = dict(sums), dict(sums)
        up[key] += h
        # Central difference; one-sided at a zero count (a negative count is meaningless).
        down[key] = sums[key] if sums[key] == 0 else sums[key] - h
        step = up[key] - down[key]
        diff = float(metric.from_stats(up)) - float(metric.from_stats(down))
        grad[j] = diff / step if np.isfinite(diff) else 0.0
    return grad


def _rank_variance(metric: Metric, data: Prepared) -> tuple[float, float]:
    sample = _RankSample.of(data)
    if sample is None or metric.from_groups is None:
        return metric.compute(data), float("nan")
    return sample.variance(metric)


@dataclass(frozen=True)
class _RankSample:
    """Scored rows counted per distinct score (highest first), for the rank metrics.

    The counts give each rank metric's exact value and, through its partial derivatives in
    each count (`Metric.groups_gradient`), its delta-method variance: every scored row is one
    count of one (score, actual) cell, so ``Var f ~= n Var(d_cell(i))`` over rows, as for the
    additive metrics. For ROC AUC this is DeLong's variance.
    """

    pos: np.ndarray
    neg: np.ndarray

    @classmethod
    def of(cls, data: Prepared) -> _RankSample | None:
        if data.score is None:
            return None
        keep = data.valid & ~np.isnan(data.score)
        return cls(*score_groups(data.y_true[keep], data.score[keep]))

    def variance(self, metric: Metric) -> tuple[float, float]:
        assert metric.from_groups is not None
        value = float(metric.from_groups(self.pos, self.neg))
        n = float(self.pos.sum() + self.neg.sum())
        if np.isnan(value) or n < 2 or metric.groups_gradient is None:
            return value, float("nan")
        d_pos, d_neg = metric.groups_gradient(self.pos, self.neg)
        total = _dot(self.pos, d_pos) + _dot(self.neg, d_neg)  # ~0: f is scale-free
        spread = (_dot(self.pos, d_pos**2) + _dot(self.neg, d_neg**2) - total**2 / n) / (n - 1)
        return value, n * max(spread, 0.0)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Return the inner product of two long vectors, computed on this thread.

    ``a @ b`` goes to BLAS, whose threads spin while they wait: 10-25x the CPU time of
    numpy's own sum-of-products loop (`numpy.einsum`) on a million values on a loaded
    machine, and a sum whose last bits depend on the number of BLAS threads. Only variances
    read these sums (the metric values come from the stats' sums).
    """
    return float(np.einsum("i,i->", a, b))


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
    return _balance(schema, [_shares(schema, p) for p in (baseline, production)])


def _shares(schema: Schema, p: Prepared) -> dict[str, list[float]]:
    """Binary: the positive share; multiclass: each class's share (actuals, predictions)."""
    out = {}
    for kind, arr in (("actual", p.y_true), ("predicted", p.y_pred)):
        v = p.valid
        if schema.model_type is ModelType.BINARY:
            out[kind] = [float(arr[v].mean()) if v.any() else float("nan")]
        else:
            counts = np.bincount(arr[v], minlength=len(schema.classes)).astype(float)
            out[kind] = list(counts / counts.sum()) if counts.sum() else [np.nan] * len(counts)
    return out


def _balance(schema: Schema, sides: Sequence[Mapping[str, list[float]]]) -> pd.DataFrame:
    """Return the class balance table from each side's shares (`_shares`, `_sum_shares`)."""
    if schema.model_type is ModelType.REGRESSION:
        return pd.DataFrame()
    out: dict[str, Any] = {"class": list(schema.classes)}
    for side, shares_of in zip(("baseline", "production"), sides, strict=True):
        for kind in ("actual", "predicted"):
            shares = shares_of[kind]
            if schema.model_type is ModelType.BINARY:
                pos = shares[0]
                shares = [1 - pos, pos] if len(schema.classes) == 2 else [pos]
                if len(schema.classes) == 2 and schema.classes[0] == schema.positive_class:
                    shares = shares[::-1]
            out[f"{side}_{kind}"] = shares
    return pd.DataFrame(out)
