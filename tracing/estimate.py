"""Performance without actuals: confidence-based estimates (CBPE) for binary models with scores.

When production actuals are late or never come, a binary model's own scores still say how
often it should be right, *if* the scores are calibrated. The estimate follows NannyML's CBPE:

1. **Calibrate** the scores on data with actuals (the baseline): an isotonic regression of the
   actual on the score (scikit-learn ``IsotonicRegression(out_of_bounds="clip")``), so
   ``p = calibrated(score)`` is the probability that the row is positive.
2. **Expected per-row statistics**: with the predicted label ``yhat`` fixed, a row is a true
   positive with probability ``p * yhat``, a false positive with ``(1 - p) * yhat``, a false
   negative with ``p * (1 - yhat)``, a true negative with ``(1 - p) * (1 - yhat)``; its expected
   log loss is ``-(p log s + (1 - p) log(1 - s))`` and its expected Brier term
   ``p (1 - s)^2 + (1 - p) s^2`` (``s`` the raw score). These are the expected values of the
   *same* additive statistics as `tracing.metrics.row_stats`, so every confusion-matrix metric
   (accuracy, precision, recall, f1, fpr, fnr, specificity, rates) and log loss / Brier come from
   the same `Metric.from_stats`, for the whole data, a period or a slice. Ratio metrics are
   estimated as ratios of expected sums, which is accurate for periods of more than a few
   hundred rows.
3. Rank metrics (ROC AUC, PR AUC) use the calibrated probabilities as fractional positive and
   negative counts per distinct score (as NannyML does).

**Limits.** The estimate assumes the relation between score and outcome is the one seen on the
calibration data (no *concept shift*). It tracks covariate shift (more borderline cases), but it
cannot see a new kind of positive the model scores low: in the fraud demo the scammeds.com
fraud gets low scores, so the estimate says "fine" while the realized accuracy falls. Show it
beside realized performance wherever actuals exist, so users learn when to trust it.

**One definition, two engines.** The expected statistics are `tracing.rowexpr` expressions
(`estimated_stat_expressions`) over the calibrated probability, the predicted label and the
score: numpy evaluates them in memory, and a SQL engine evaluates them on every row with the
calibration itself as SQL (`calibration_expression`, a ``CASE`` over the fitted thresholds), the
fit made on the engine's sample (`tracing.engine_analysis.estimated_table`).

A **proxy actual** is just another column given the actual role (``--actual COL``, or the Data
page): the estimate and the realized metric then both refer to that column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlglot import exp

from tracing import rowexpr
from tracing.errors import DataError
from tracing.metrics import Metric, Prepared, applicable_metrics, prepare, score_groups
from tracing.rowexpr import col, literal
from tracing.schema import ModelType, Schema

Expression = exp.Expression

__all__ = [
    "MIN_CALIBRATION_ROWS",
    "EstimateInput",
    "ScoreEstimator",
    "calibration_expression",
    "can_estimate",
    "estimate_metrics",
    "estimated_row_stats",
    "estimated_stat_expressions",
    "fit_estimator",
    "estimate_rank_metric",
    "prediction_rows",
]

Array = NDArray[np.float64]

MIN_CALIBRATION_ROWS = 100
"""Fewest scored rows with actuals to calibrate on (and at least 10 of each class)."""
_MIN_PER_CLASS = 10


@dataclass(frozen=True)
class ScoreEstimator:
    """A score calibration fitted on data with actuals, for estimating performance.

    Attributes
    ----------
    schema : Schema
        The binary schema whose score column is calibrated.
    calibrator : IsotonicRegression
        Fitted isotonic regression from score to probability of the positive class.
    n_rows : int
        Rows it was fitted on.
    positive_rate : float
        Share of positives among them.
    """

    schema: Schema
    calibrator: Any
    n_rows: int
    positive_rate: float

    def calibrated(self, score: Array) -> Array:
        """Probability that each row is positive (NaN where the score is missing)."""
        out = np.full(len(score), np.nan)
        ok = ~np.isnan(score)
        if ok.any():
            out[ok] = self.calibrator.predict(score[ok])
        return out


class EstimateInput(StrEnum):
    """The per-row inputs the expected statistics are defined over (`estimated_stat_expressions`).

    ``covered``: the row has a prediction and a score (the rows an estimate covers); ``p``: the
    calibrated probability that it is positive, 0 where not covered; ``yhat``: 1.0 where it is
    predicted positive (0 where not covered); ``s``: its raw score (0.5 where not covered).
    """

    COVERED = "covered"
    P = "p"
    YHAT = "yhat"
    S = "s"


def estimated_stat_expressions() -> dict[str, Expression]:
    """Return the expected per-row statistics (module docstring, step 2) as expressions.

    One definition over the `EstimateInput` columns, evaluated by numpy in memory
    (`estimated_row_stats`) and as SQL by the engines (`tracing.engine_analysis`), as
    `tracing.rowexpr` does for the realized statistics. Rows not covered contribute zeros.

    Returns
    -------
    dict of str -> sqlglot Expression
        ``n, tp, fp, fn, tn, pos, neg, pred_pos, correct, n_scored, logloss, sq_err``.
    """

    def mul(*parts: Expression) -> Expression:
        out: Expression = exp.Paren(this=parts[0].copy())
        for part in parts[1:]:
            out = exp.Mul(this=out, expression=exp.Paren(this=part.copy()))
        return out

    def add(a: Expression, b: Expression) -> Expression:
        return exp.Add(this=exp.Paren(this=a.copy()), expression=exp.Paren(this=b.copy()))

    def one_minus(e: Expression) -> Expression:
        return exp.Sub(this=literal(1), expression=exp.Paren(this=e.copy()))

    p, yhat, s = col(EstimateInput.P), col(EstimateInput.YHAT), col(EstimateInput.S)
    m = rowexpr.flag(col(EstimateInput.COVERED))
    q = one_minus(p)
    eps = float(np.finfo(np.float64).eps)  # the same clipping as the realized log loss
    sc = exp.Greatest(
        this=exp.Least(this=s.copy(), expressions=[literal(1 - eps)]), expressions=[literal(eps)]
    )
    out: dict[str, Expression] = {"n": m, "tp": mul(p, yhat), "fp": mul(q, yhat, m)}
    out["fn"] = mul(p, one_minus(yhat))
    out["tn"] = mul(q, one_minus(yhat), m)
    out["pos"] = add(out["tp"], out["fn"])
    out["neg"] = add(out["fp"], out["tn"])
    out["pred_pos"] = yhat.copy()
    out["correct"] = add(out["tp"], out["tn"])
    out["n_scored"] = m.copy()
    loss = add(mul(p, exp.Ln(this=sc.copy())), mul(q, exp.Ln(this=one_minus(sc))))
    out["logloss"] = mul(exp.Neg(this=exp.Paren(this=loss)), m)
    squares = add(mul(p, one_minus(s), one_minus(s)), mul(q, s, s))
    out["sq_err"] = mul(squares, m)
    return out


def calibration_expression(estimator: ScoreEstimator, score: Expression) -> Expression:
    """Return the fitted calibration as an expression over a score (SQL, or numpy via rowexpr).

    The isotonic fit is piecewise linear between its thresholds and constant beyond them
    (``out_of_bounds="clip"``); the expression finds a score's piece by a balanced ``CASE``
    on the thresholds (a binary search: about log2(thresholds) comparisons a row, however
    many pieces) and interpolates as scikit-learn does, ``y_i + slope_i * (score - x_i)``,
    so it gives `ScoreEstimator.calibrated` to rounding. ``score`` must not be NULL or NaN.
    """
    xs = np.asarray(estimator.calibrator.X_thresholds_, dtype=np.float64)
    ys = np.asarray(estimator.calibrator.y_thresholds_, dtype=np.float64)
    if len(ys) == 1:
        return literal(float(ys[0]))
    slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])

    def piece(i: int) -> Expression:
        if ys[i + 1] == ys[i]:
            return literal(float(ys[i]))
        step = exp.Sub(this=score.copy(), expression=literal(float(xs[i])))
        rise = exp.Mul(this=literal(float(slopes[i])), expression=exp.Paren(this=step))
        return exp.Add(this=literal(float(ys[i])), expression=rise)

    def search(lo: int, hi: int) -> Expression:  # pieces lo..hi-1
        if hi - lo == 1:
            return piece(lo)
        mid = (lo + hi) // 2
        below = exp.LT(this=score.copy(), expression=literal(float(xs[mid])))
        return exp.Case(ifs=[exp.If(this=below, true=search(lo, mid))], default=search(mid, hi))

    low = exp.LTE(this=score.copy(), expression=literal(float(xs[0])))
    high = exp.GTE(this=score.copy(), expression=literal(float(xs[-1])))
    return exp.Case(
        ifs=[
            exp.If(this=low, true=literal(float(ys[0]))),
            exp.If(this=high, true=literal(float(ys[-1]))),
        ],
        default=search(0, len(xs) - 1),
    )


def can_estimate(schema: Schema, metric: Metric | None = None) -> bool:
    """Whether performance can be estimated without actuals (binary model with one score)."""
    ok = schema.model_type is ModelType.BINARY and len(schema.roles.prediction_score) == 1
    if metric is None or not ok:
        return ok
    return metric.id in {m.id for m in applicable_metrics(schema)}


def fit_estimator(calibration: Prepared) -> ScoreEstimator:
    """Calibrate the scores on prepared data that has actuals (usually the baseline).

    Parameters
    ----------
    calibration : Prepared
        Rows with actuals and scores (`tracing.metrics.prepare` of the baseline).

    Returns
    -------
    ScoreEstimator

    Raises
    ------
    DataError
        If the model is not binary with a score, or there are fewer than
        `MIN_CALIBRATION_ROWS` scored rows with actuals or fewer than 10 of a class.

    Examples
    --------
    >>> from tracing.schema import detect_roles, resolve_schema
    >>> rng = np.random.default_rng(0)
    >>> s = rng.random(2000)
    >>> df = pd.DataFrame({"score": s, "label": (rng.random(2000) < s).astype(int)})
    >>> schema = resolve_schema([df], detect_roles(df.columns))
    >>> est = fit_estimator(prepare(df, schema))
    >>> bool(abs(est.calibrated(np.array([0.8]))[0] - 0.8) < 0.1)
    True
    """
    schema = calibration.schema
    if not can_estimate(schema):
        raise DataError(
            "estimated performance needs a binary model with one score column (probability "
            "of the positive class); name it with --score."
        )
    assert calibration.score is not None
    keep = calibration.valid & ~np.isnan(calibration.score)
    y = calibration.y_true[keep].astype(float)
    n_pos = int(y.sum())
    if len(y) < MIN_CALIBRATION_ROWS or min(n_pos, len(y) - n_pos) < _MIN_PER_CLASS:
        raise DataError(
            f"estimated performance needs at least {MIN_CALIBRATION_ROWS} scored rows with "
            f"actuals, {_MIN_PER_CLASS} of each class, to calibrate the scores (found "
            f"{len(y)} rows, {n_pos} positive); use a baseline with actuals."
        )
    from sklearn.isotonic import IsotonicRegression  # scikit-learn loads only to calibrate

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(calibration.score[keep], y)
    return ScoreEstimator(
        schema=schema, calibrator=iso, n_rows=len(y), positive_rate=n_pos / len(y)
    )


def prediction_rows(frame: pd.DataFrame, schema: Schema, *, name: str = "data") -> Prepared:
    """Prepare a frame's predictions whether or not it has actuals.

    Rows without actuals are kept (``valid`` is then False); a missing actual column is
    treated as all missing instead of an error.
    """
    actual = schema.roles.actual_label
    if actual and actual not in frame.columns:
        schema = replace(schema, roles=replace(schema.roles, actual_label=None))
    return prepare(frame, schema, name=name)


def _predicted(frame: pd.DataFrame, data: Prepared) -> NDArray[np.bool_]:
    """Rows with a usable prediction and score (the rows an estimate covers)."""
    assert data.score is not None
    ok = ~np.isnan(data.score)
    label = data.schema.roles.prediction_label
    if label and label in frame.columns:
        ok &= frame[label].notna().to_numpy(dtype=bool)
    return ok


def estimated_row_stats(
    estimator: ScoreEstimator, frame: pd.DataFrame, *, name: str = "data"
) -> dict[str, Array]:
    """Compute expected per-row stats (the keys of `tracing.metrics.row_stats`, binary).

    Rows without a prediction or score contribute zeros, like invalid rows in `row_stats`.
    Actuals, if present, are ignored. The extra key ``"p"`` holds the calibrated probability
    (NaN where not covered), for rank metrics.

    Parameters
    ----------
    estimator : ScoreEstimator
        From `fit_estimator`.
    frame : DataFrame
        Rows to estimate (with or without actuals).
    name : str
        Dataset name for messages.

    Returns
    -------
    dict of str to ndarray
        ``n, tp, fp, fn, tn, pos, neg, pred_pos, correct, n_scored, logloss, sq_err, p``.
    """
    data = prediction_rows(frame, estimator.schema, name=name)
    assert data.score is not None
    covered = _predicted(frame, data)
    p = np.where(covered, estimator.calibrated(data.score), 0.0)
    inputs: dict[str, NDArray[Any]] = {
        EstimateInput.COVERED: covered,
        EstimateInput.P: p,
        EstimateInput.YHAT: np.where(covered, data.y_pred, False).astype(float),
        EstimateInput.S: np.where(covered, data.score, 0.5),
    }
    cols = rowexpr.evaluate_all(estimated_stat_expressions(), inputs, length=len(p))
    cols["p"] = np.where(covered, p, np.nan)
    return cols


def estimate_rank_metric(metric: Metric, score: Array, p: Array) -> float:
    """Estimate a rank metric with calibrated probabilities as fractional positives/negatives.

    Rows where ``p`` is NaN are ignored.
    """
    assert metric.from_groups is not None
    keep = ~np.isnan(p) & ~np.isnan(score)
    if not keep.any():
        return float("nan")
    ones = np.ones(int(keep.sum()), dtype=bool)
    pos, _ = score_groups(ones, score[keep], p[keep])
    neg, _ = score_groups(ones, score[keep], 1 - p[keep])
    return float(metric.from_groups(pos, neg))


def estimate_metrics(
    estimator: ScoreEstimator,
    frame: pd.DataFrame,
    *,
    metrics: list[Metric] | None = None,
    name: str = "data",
) -> pd.DataFrame:
    """Estimated (and, where actuals exist, realized) value of each metric on a frame.

    Parameters
    ----------
    estimator : ScoreEstimator
        From `fit_estimator`.
    frame : DataFrame
        Production rows, with or without actuals.
    metrics : list of Metric, optional
        Default: every metric applicable to the schema.
    name : str
        Dataset name for messages.

    Returns
    -------
    DataFrame
        One row per metric: ``metric`` (id), ``name``, ``estimated``, ``realized`` (NaN
        without actuals), ``rows`` (rows the estimate covers), ``rows_with_actuals``.
    """
    schema = estimator.schema
    metrics = metrics if metrics is not None else applicable_metrics(schema)
    stats = estimated_row_stats(estimator, frame, name=name)
    sums = {k: float(v.sum()) for k, v in stats.items() if k != "p"}
    data = prediction_rows(frame, schema, name=name)
    assert data.score is not None
    rows = []
    for m in metrics:
        if m.exact is not None:
            est = estimate_rank_metric(m, data.score, stats["p"])
        else:
            est = float(m.from_stats(sums))
        real = m.compute(data) if data.valid.any() else float("nan")
        rows.append((m.id, m.name, est, real, int(sums["n"]), int(data.valid.sum())))
    columns = ["metric", "name", "estimated", "realized", "rows", "rows_with_actuals"]
    return pd.DataFrame(rows, columns=columns)
