"""The metric registry: every metric, its direction, and how to compute it from additive stats.

Each metric is a small named unit (`Metric`) that carries its id (used by the CLI, the URL and
the JSON), display name, the model types it applies to, its direction, and how to compute it.

Most metrics are functions of **additive per-row sufficient statistics** (`row_stats`): counts of
true/false positives, sums of errors, squared errors... Summing the stats over any group of rows
and calling `Metric.from_stats` gives the metric for that group, so one group-by computes a metric
for every slice, period or drilldown. Ratio metrics (``numerator / denominator``) are *mean
decomposable*: the slice engine uses the denominator as the slice's volume. Rank metrics
(``roc_auc``, ``pr_auc``) are not additive; they are computed from rows with `Metric.exact`.

Undefined values (recall with no actual positives, MAPE with a zero actual...) are NaN and
`Metric.reason` says why; a metric never silently returns 0 for "undefined".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing import rowexpr
from tracing.errors import DataError
from tracing.schema import ModelType, Schema, label_text, score_column_class
from tracing.vocab import Direction

__all__ = [
    "DIRECTION_WORDS",
    "HEADLINE_METRICS",
    "METRICS",
    "Direction",
    "Metric",
    "Prepared",
    "applicable_metrics",
    "default_metric",
    "get_metric",
    "headline_metrics",
    "metric_of",
    "prepare",
    "row_stats",
    "worse_by",
]

Array = NDArray[np.float64]
Sums = Mapping[str, Any]  # stat name -> float or array (one value per group)


DIRECTION_WORDS: dict[Direction, str] = {
    Direction.HIGHER_IS_BETTER: "higher is better",
    Direction.LOWER_IS_BETTER: "lower is better",
    Direction.TWO_SIDED: "closer to zero is better",
    Direction.NEUTRAL: "neither way is better; a change is what matters",
}


def worse_by(value: Any, reference: Any, direction: Direction) -> Any:
    """How much worse ``value`` is than ``reference`` (positive = worse), in the metric's units.

    This single helper orients deltas, impact scores, alerts and UI colours.

    Parameters
    ----------
    value, reference : float or array
        Metric values (e.g. a slice's and the overall metric).
    direction : Direction
        The metric's direction.

    Returns
    -------
    float or array
        ``reference - value`` if higher is better, ``value - reference`` if lower is better,
        ``|value| - |reference|`` for two-sided metrics, ``|value - reference|`` for neutral
        ones (a change either way is what matters).

    Examples
    --------
    >>> round(worse_by(0.90, 0.95, Direction.HIGHER_IS_BETTER), 6)  # accuracy fell by 5 points
    0.05
    >>> float(worse_by(-3.0, 1.0, Direction.TWO_SIDED))  # bias grew from 1 to 3
    2.0
    """
    if direction is Direction.HIGHER_IS_BETTER:
        return reference - value
    if direction is Direction.LOWER_IS_BETTER:
        return value - reference
    if direction is Direction.NEUTRAL:
        return np.abs(value - reference)
    return np.abs(value) - np.abs(reference)


@dataclass(frozen=True)
class Prepared:
    """Model outputs of one dataset as clean arrays, ready for metrics.

    Attributes
    ----------
    schema : Schema
        The schema used.
    valid : ndarray of bool
        Rows with both an actual and a prediction (metrics use only these).
    y_true, y_pred : ndarray
        Binary: bools (is positive class). Multiclass: class codes (index into
        ``schema.classes``, -1 when missing). Regression: floats (NaN when missing).
    score : ndarray of float or None
        Binary: probability of the positive class (NaN when missing).
    n_rows, n_missing_actual, n_missing_prediction : int
        Row counts, for reporting rows left out.
    """

    schema: Schema
    valid: NDArray[np.bool_]
    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    score: Array | None
    n_rows: int
    n_missing_actual: int
    n_missing_prediction: int


@dataclass(frozen=True)
class Metric:
    """One metric: identity, direction, and how to compute it.

    Attributes
    ----------
    id : str
        Stable id used by the CLI, URLs and JSON (e.g. ``"recall"``).
    name : str
        Display name.
    model_types : frozenset of ModelType
        Model types the metric applies to.
    direction : Direction
        Higher is better, lower is better, or two-sided (closer to 0 is better).
    needs : frozenset of str
        Inputs needed besides the actual: ``"label"`` (predicted label) and/or ``"score"``.
    numerator, denominator : str or None
        For ratio metrics, the stat names: value = sum(numerator) / sum(denominator). The
        denominator is the slice "volume" in impact scores (rows, actual positives...).
    combine : callable or None
        For other additive metrics: stat sums -> value.
    exact : callable or None
        For non-additive metrics (rank-based): prepared rows -> value.
    from_groups : callable or None
        Rank metrics: the value from per-distinct-score positive/negative counts
        (`score_groups`), which lets a bootstrap re-weight rows without re-sorting.
    groups_gradient : callable or None
        Rank metrics: the value's partial derivatives in each per-score positive and negative
        count, for the delta-method variance (`tracing.compare`).
    undefined_if : str or None
        A stat whose positive sum makes the value undefined (NaN) even with a positive
        denominator: MAPE with a zero actual (``"zero_actual"``).
    undefined : str
        Why the value is NaN when it is (shown to the user).
    best : float or None
        The best possible value, for docs and charts.
    percent : bool
        Whether to display as a percentage.
    """

    id: str
    name: str
    model_types: frozenset[ModelType]
    direction: Direction
    needs: frozenset[str] = frozenset({"label"})
    numerator: str | None = None
    denominator: str | None = None
    combine: Callable[[Sums], Any] | None = None
    exact: Callable[[Prepared], float] | None = None
    from_groups: Callable[[Array, Array], float] | None = None
    groups_gradient: Callable[[Array, Array], tuple[Array, Array]] | None = None
    undefined_if: str | None = None
    undefined: str = ""
    best: float | None = None
    percent: bool = False
    description: str = field(default="", compare=False)

    @property
    def higher_is_better(self) -> bool | None:
        """True/False for one-directional metrics, None for two-sided and neutral ones."""
        if self.direction in (Direction.TWO_SIDED, Direction.NEUTRAL):
            return None
        return self.direction is Direction.HIGHER_IS_BETTER

    @property
    def additive(self) -> bool:
        """Whether the metric is a function of summed per-row stats (one group-by)."""
        return self.exact is None

    @property
    def decomposable(self) -> bool:
        """Whether the metric is a ratio of sums (a weighted mean over any partition)."""
        return self.numerator is not None

    @property
    def ratio_stats(self) -> tuple[str, ...]:
        """The stats a ratio metric reads (numerator, denominator, `undefined_if`); () if none."""
        if self.numerator is None or self.denominator is None:
            return ()
        extra = () if self.undefined_if is None else (self.undefined_if,)
        return (self.numerator, self.denominator, *extra)

    @property
    def volume_stat(self) -> str:
        """The stat whose share is a slice's volume in impact scores."""
        return self.denominator or "n"

    def from_stats(self, sums: Sums) -> Any:
        """Compute the metric from summed stats (scalars, or arrays with one value per group).

        Undefined entries are NaN.
        """
        if self.exact is not None:
            raise TypeError(f"{self.id} is not additive; use Metric.compute on rows")
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.numerator is not None and self.denominator is not None:
                den = np.asarray(sums[self.denominator], dtype=float)
                out = np.asarray(sums[self.numerator], dtype=float) / den
                out = np.where(den > 0, out, np.nan)
                if self.undefined_if is not None:
                    out = np.where(np.asarray(sums[self.undefined_if]) > 0, np.nan, out)
            else:
                assert self.combine is not None
                out = np.asarray(self.combine(sums), dtype=float)
        return out if out.ndim else float(out)

    def compute(self, data: Prepared, stats: pd.DataFrame | None = None) -> float:
        """Compute the metric on a whole prepared dataset (NaN if undefined)."""
        if self.exact is not None:
            return self.exact(data)
        stats = row_stats(data) if stats is None else stats
        return float(self.from_stats({str(k): v for k, v in stats.sum().items()}))

    def reason(self, value: float) -> str | None:
        """Why ``value`` is undefined, or None when it is a number."""
        return (self.undefined or "undefined") if np.isnan(value) else None


# ---------------------------------------------------------------------------------------------
# Preparing model outputs


def prepare(frame: pd.DataFrame, schema: Schema, *, name: str = "data") -> Prepared:
    """Turn a frame's prediction/actual/score columns into clean arrays for metrics.

    Parameters
    ----------
    frame : DataFrame
        Baseline or production rows.
    schema : Schema
        Column roles and model type.
    name : str, default "data"
        Dataset label for error messages (file name).

    Returns
    -------
    Prepared
        Rows lacking an actual or a prediction are kept but marked invalid and counted.

    Raises
    ------
    DataError
        If a needed column is missing or not usable for the model type.
    """
    roles = schema.roles
    n = len(frame)
    score = None
    if schema.model_type is ModelType.BINARY and len(roles.prediction_score) == 1:
        score = _numeric(frame, roles.prediction_score[0], name)
        bad = (score < 0) | (score > 1)
        if np.any(bad):
            raise DataError(
                f"{name}: score column {roles.prediction_score[0]!r} has {int(bad.sum())} values "
                "outside [0, 1]; it must be the probability of the positive class."
            )
    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    if schema.model_type is ModelType.REGRESSION:
        y_true = (
            _numeric(frame, roles.actual_label, name) if roles.actual_label else np.full(n, np.nan)
        )
        y_pred = _numeric(frame, roles.prediction_label, name)
        miss_t, miss_p = np.isnan(y_true), np.isnan(y_pred)
    elif schema.model_type is ModelType.BINARY:
        t_known, t_pos = _binary(frame, roles.actual_label, schema, name)
        if roles.prediction_label:
            p_known, p_pos = _binary(frame, roles.prediction_label, schema, name)
        else:
            assert score is not None
            p_known, p_pos = ~np.isnan(score), score >= schema.threshold
        y_true, y_pred, miss_t, miss_p = t_pos, p_pos, ~t_known, ~p_known
    else:
        y_true = _codes(frame, roles.actual_label, schema)
        if roles.prediction_label:
            y_pred = _codes(frame, roles.prediction_label, schema)
        else:
            y_pred = _argmax_codes(frame, schema, name)
        miss_t, miss_p = y_true < 0, y_pred < 0
    valid = ~miss_t & ~miss_p
    return Prepared(
        schema=schema,
        valid=valid,
        y_true=y_true,
        y_pred=y_pred,
        score=score,
        n_rows=n,
        n_missing_actual=int(miss_t.sum()),
        n_missing_prediction=int(miss_p.sum()),
    )


def _numeric(frame: pd.DataFrame, column: str | None, name: str) -> Array:
    if not column or column not in frame.columns:
        raise DataError(f"{name}: column {column!r} is missing; check the column roles.")
    col = frame[column]
    if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
        converted = pd.to_numeric(col, errors="coerce")
        bad = int((converted.isna() & col.notna()).sum())
        if bad:
            example = col[converted.isna() & col.notna()].iloc[0]
            raise DataError(
                f"{name}: column {column!r} must be numeric but has {bad} non-numeric values "
                f"(e.g. {example!r}); fix the values or pick another column."
            )
        col = converted
    return np.asarray(col.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _binary(
    frame: pd.DataFrame, column: str | None, schema: Schema, name: str
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    n = len(frame)
    if not column:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if column not in frame.columns:
        raise DataError(f"{name}: column {column!r} is missing; check the column roles.")
    col = frame[column]
    known = col.notna().to_numpy()
    is_pos = (col == schema.positive_class).fillna(False).to_numpy(dtype=bool)
    if not is_pos.any() and known.any():
        # Same label written differently across files (1 vs "1" vs True).
        text = col.map(label_text, na_action="ignore")
        is_pos = (text == label_text(schema.positive_class)).to_numpy(dtype=bool) & known
    return known, is_pos


def binary_labels(
    frame: pd.DataFrame, column: str | None, schema: Schema, *, name: str = "data"
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Return (known, is the positive class) per row of a binary label column (as `prepare`).

    The SQL engines run it on a column's distinct values to build their label mapping.
    """
    return _binary(frame, column, schema, name)


def class_codes(frame: pd.DataFrame, column: str | None, schema: Schema) -> NDArray[np.int64]:
    """Return the class index per row of a multiclass label column (-1: missing, unknown)."""
    return _codes(frame, column, schema)


def _codes(frame: pd.DataFrame, column: str | None, schema: Schema) -> NDArray[np.int64]:
    if not column or column not in frame.columns:
        return np.full(len(frame), -1, dtype=np.int64)
    # get_indexer, not pd.Categorical: values outside the classes map to -1 without a warning.
    col = frame[column]
    if any(isinstance(c, str) for c in schema.classes) and not pd.api.types.is_string_dtype(
        col.dtype
    ):
        col = col.map(label_text, na_action="ignore")  # same text form as the classes
    index = pd.Index(list(schema.classes), dtype=object)
    return np.asarray(index.get_indexer(col.astype(object)), dtype=np.int64)


def _argmax_codes(frame: pd.DataFrame, schema: Schema, name: str) -> NDArray[np.int64]:
    cols = schema.roles.prediction_score
    scores = np.column_stack([_numeric(frame, c, name) for c in cols])
    classes = [str(c) for c in schema.classes]
    order = []
    for c in cols:
        label = score_column_class(c)
        if label not in classes:
            raise DataError(
                f"{name}: score column {c!r} is for class {label!r}, which is not among the "
                f"labels ({', '.join(classes)}); name score columns score_<class>."
            )
        order.append(classes.index(label))
    best = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)
    codes = np.asarray(order, dtype=np.int64)[best]
    return np.where(np.isnan(scores).all(axis=1), -1, codes)


# ---------------------------------------------------------------------------------------------
# Per-row sufficient statistics


def row_stats(data: Prepared, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-row additive statistics for every additive metric of the model type.

    Invalid rows (no actual or no prediction) contribute zeros everywhere, so sums over any
    group of rows give that group's metrics. Columns:

    - binary: ``n``, ``tp``, ``fp``, ``fn``, ``tn``, ``pos``, ``neg``, ``pred_pos``, ``correct``;
      with a score also ``n_scored``, ``logloss``, ``sq_err``.
    - multiclass: ``n``, ``correct``, and per class index ``k``: ``tp:k``, ``fp:k``, ``fn:k``.
    - regression: ``n``, ``err``, ``abs_err``, ``sq_err``, ``ape``, ``zero_actual``,
      ``smape``, ``y``, ``y2``.

    Parameters
    ----------
    data : Prepared
        Output of `prepare`.
    names : sequence of str, optional
        Only these statistics (in the order above); default every one.

    Returns
    -------
    DataFrame
        float64 columns, one row per input row.
    """
    columns, seen = row_stat_columns(data, names), set()
    for name, values in columns.items():
        if id(values) in seen:  # two stats of one definition: each column its own array
            columns[name] = values.copy()
        seen.add(id(values))
    # One block per column (``copy=False``): the frame takes the freshly computed arrays as
    # they are, where the default stacks them into one 2-D block, a copy of every stat (at 1M
    # rows a third of a second and ~100 MB per side). Same values, same dtypes.
    return pd.DataFrame(columns, copy=False)


def row_stat_columns(data: Prepared, names: Sequence[str] | None = None) -> dict[str, Array]:
    """Return the columns of `row_stats` as a dict of arrays (no DataFrame overhead).

    Each statistic is its one definition in `tracing.rowexpr`, evaluated with numpy on the
    prepared arrays (the SQL engines evaluate the same definitions in their queries); with
    ``names``, only those.
    """
    definitions = row_stat_definitions(data)
    if names is not None:
        wanted = set(names)
        definitions = {k: v for k, v in definitions.items() if k in wanted}
    return rowexpr.evaluate_all(definitions, prepared_inputs(data), length=len(data.valid))


def row_stat_definitions(data: Prepared) -> dict[str, rowexpr.Expr]:
    """Return the `tracing.rowexpr` definition of every statistic of `row_stats`, by name."""
    return rowexpr.row_stat_expressions(
        data.schema.model_type,
        n_classes=len(data.schema.classes),
        scored=data.score is not None,
    )


def prepared_inputs(data: Prepared) -> dict[str, NDArray[Any]]:
    """Return the `tracing.rowexpr.Input` columns of prepared data (what the statistics read)."""
    inputs: dict[str, NDArray[Any]] = {
        rowexpr.Input.VALID: data.valid,
        rowexpr.Input.ACTUAL: data.y_true,
        rowexpr.Input.PREDICTED: data.y_pred,
    }
    if data.score is not None:
        inputs[rowexpr.Input.SCORE] = data.score
        inputs[rowexpr.Input.SCORED] = ~np.isnan(data.score)
    return inputs


def score_stat_columns(
    y_true: NDArray[np.bool_], score: Array, valid: NDArray[np.bool_] | None = None
) -> dict[str, Array]:
    """Return a binary model's score stats per row: ``n_scored``, ``logloss``, ``sq_err``.

    Rows outside ``valid`` (default: none) or without a score contribute zeros. Part of
    `row_stat_columns`; `tracing.compare` calls it on the valid rows alone.
    """
    inputs: dict[str, NDArray[Any]] = {
        rowexpr.Input.VALID: np.ones(len(score), dtype=bool) if valid is None else valid,
        rowexpr.Input.ACTUAL: y_true,
        rowexpr.Input.SCORE: score,
        rowexpr.Input.SCORED: ~np.isnan(score),
    }
    return dict(rowexpr.evaluate_all(rowexpr.score_stat_expressions(), inputs, length=len(score)))


# ---------------------------------------------------------------------------------------------
# Non-ratio combinations of stats


def _safe_div(num: Any, den: Any) -> Any:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _f1(s: Sums) -> Any:
    return _safe_div(2 * np.asarray(s["tp"]), 2 * np.asarray(s["tp"]) + s["fp"] + s["fn"])


def _rmse(s: Sums) -> Any:
    return np.sqrt(_safe_div(s["sq_err"], s["n"]))


def _r2(s: Sums) -> Any:
    n = np.asarray(s["n"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sst = np.asarray(s["y2"]) - np.asarray(s["y"], dtype=float) ** 2 / np.where(n > 0, n, 1)
        # Relative guard: sst is a difference of large sums, so tiny values are round-off.
        const = sst <= 1e-12 * np.maximum(np.asarray(s["y2"], dtype=float), 1e-300)
        return np.where((n >= 2) & ~const, 1 - np.asarray(s["sq_err"]) / sst, np.nan)


def _class_stats(s: Sums) -> tuple[Array, Array, Array]:
    k = sum(1 for key in s if str(key).startswith("tp:"))
    tp = np.stack([np.asarray(s[f"tp:{i}"], dtype=float) for i in range(k)])
    fp = np.stack([np.asarray(s[f"fp:{i}"], dtype=float) for i in range(k)])
    fn = np.stack([np.asarray(s[f"fn:{i}"], dtype=float) for i in range(k)])
    return tp, fp, fn


def _per_class(kind: str, tp: Array, fp: Array, fn: Array) -> Array:
    # scikit-learn's zero_division: an ill-defined per-class value (0/0) counts as 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "precision":
            num, den = tp, tp + fp
        elif kind == "recall":
            num, den = tp, tp + fn
        else:
            num, den = 2 * tp, 2 * tp + fp + fn
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def _macro(kind: str) -> Callable[[Sums], Any]:
    def combine(s: Sums) -> Any:
        tp, fp, fn = _class_stats(s)
        present = (tp + fp + fn) > 0  # labels seen in y_true or y_pred, as scikit-learn does
        vals = _per_class(kind, tp, fp, fn)
        count = present.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, (vals * present).sum(axis=0) / count, np.nan)

    return combine


def _weighted(kind: str) -> Callable[[Sums], Any]:
    def combine(s: Sums) -> Any:
        tp, fp, fn = _class_stats(s)
        support = tp + fn
        vals = _per_class(kind, tp, fp, fn)
        total = support.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, (vals * support).sum(axis=0) / total, np.nan)

    return combine


# ---------------------------------------------------------------------------------------------
# Rank metrics (not additive)


def _scored(data: Prepared) -> tuple[NDArray[np.bool_], Array]:
    if data.score is None:
        raise DataError("this metric needs a score column (probability of the positive class).")
    keep = data.valid & ~np.isnan(data.score)
    return data.y_true[keep], data.score[keep]


def score_groups(
    y: NDArray[np.bool_], score: Array, weights: Array | None = None
) -> tuple[Array, Array]:
    """Positive and negative (weighted) counts per distinct score, highest score first.

    Rank metrics depend on the data only through these counts, so a bootstrap can re-weight
    rows without sorting again.
    """
    if weights is None and len(y) and not np.isnan(score).any():
        return _counted_groups(y, score)
    order = np.argsort(-score, kind="mergesort")
    s_sorted = score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    w = np.ones(len(y)) if weights is None else weights
    wy = np.where(y, w, 0.0)[order]
    pos = np.add.reduceat(wy, starts) if len(y) else np.zeros(0)
    tot = np.add.reduceat(w[order], starts) if len(y) else np.zeros(0)
    return pos, tot - pos


def _counted_groups(y: NDArray[np.bool_], score: Array) -> tuple[Array, Array]:
    """`score_groups` without weights: two value sorts (vectorised) instead of a stable argsort.

    The distinct scores come from sorting all scores; each one's positives are counted by
    locating it among the positives' sorted scores. Counts are exact integers either way.
    """
    ordered = np.sort(score)
    starts = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1]
    distinct = ordered[starts]
    total = np.diff(np.r_[starts, len(ordered)])
    positives = np.sort(score[y])
    pos = np.diff(np.r_[np.searchsorted(positives, distinct), len(positives)])
    # Highest score first, as float counts (what the weighted path returns).
    return pos[::-1].astype(np.float64), (total - pos)[::-1].astype(np.float64)


def roc_auc_from_groups(pos: Array, neg: Array) -> float:
    """ROC AUC from per-score counts (highest first); ties count 1/2 (the trapezoid rule)."""
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos <= 0 or n_neg <= 0:
        return float("nan")
    return _roc_auc_below(pos, neg, n_neg - np.cumsum(neg))


def _roc_auc_below(pos: Array, neg: Array, neg_below: Array) -> float:
    """`roc_auc_from_groups` given the negatives strictly below each score (shared sums)."""
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos <= 0 or n_neg <= 0:
        return float("nan")
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


def pr_auc_from_groups(pos: Array, neg: Array) -> float:
    """Average precision from per-score counts (highest first), as scikit-learn defines it.

    One operating point per distinct score: AP = sum over thresholds of
    (recall_k - recall_{k-1}) * precision_k.
    """
    n_pos = pos.sum()
    if n_pos <= 0:
        return float("nan")
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    return _average_precision(pos, tp, tp + fp)


def _average_precision(pos: Array, tp: Array, seen: Array) -> float:
    """`pr_auc_from_groups` given the cumulative positives and rows (shared with its gradient)."""
    n_pos = pos.sum()
    if n_pos <= 0:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(seen > 0, tp / seen, 0.0)
    return float(np.sum(pos / n_pos * precision))


def roc_auc_gradient(pos: Array, neg: Array) -> tuple[Array, Array]:
    """ROC AUC's partial derivatives in each per-score count (highest score first).

    With ``f = A / (P N)``: ``df/dpos_g = ((negatives below g + neg_g / 2) / N - f) / P`` and
    ``df/dneg_g = ((positives above g + pos_g / 2) / P - f) / N``; the delta method on these
    is DeLong's variance. NaN when the AUC is undefined.
    """
    n_pos, n_neg = pos.sum(), neg.sum()
    below = n_neg - np.cumsum(neg)
    f = _roc_auc_below(pos, neg, below)  # the same sums as `roc_auc_from_groups`, computed once
    above = np.cumsum(pos) - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((below + 0.5 * neg) / n_neg - f) / n_pos, ((above + 0.5 * pos) / n_pos - f) / n_neg


def pr_auc_gradient(pos: Array, neg: Array) -> tuple[Array, Array]:
    """Average precision's partial derivatives in each per-score count (highest score first).

    With ``f = sum_j pos_j r_j / P`` and ``r_j = TP_j / (TP_j + FP_j)`` (cumulative counts):
    ``df/dpos_g = (r_g - f + sum_{j >= g} pos_j FP_j / (TP_j + FP_j)^2) / P`` and
    ``df/dneg_g = -sum_{j >= g} pos_j TP_j / (TP_j + FP_j)^2 / P``. NaN when undefined.
    """
    n_pos = pos.sum()
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    seen = tp + fp
    f = _average_precision(pos, tp, seen)  # `pr_auc_from_groups` on the same sums
    with np.errstate(divide="ignore", invalid="ignore"):
        seen2 = seen**2  # every group holds a row, so never 0
        later_fp = np.cumsum((pos * fp / seen2)[::-1])[::-1]
        later_tp = np.cumsum((pos * tp / seen2)[::-1])[::-1]
        return (tp / seen - f + later_fp) / n_pos, -later_tp / n_pos


def _roc_auc(data: Prepared) -> float:
    return roc_auc_from_groups(*score_groups(*_scored(data)))


def _pr_auc(data: Prepared) -> float:
    return pr_auc_from_groups(*score_groups(*_scored(data)))


# ---------------------------------------------------------------------------------------------
# The registry

_B = frozenset({ModelType.BINARY})
_M = frozenset({ModelType.MULTICLASS})
_R = frozenset({ModelType.REGRESSION})
_BM = _B | _M
_SCORE = frozenset({"score"})

_REGISTRY: tuple[Metric, ...] = (
    Metric(
        id="accuracy",
        name="Accuracy",
        model_types=_BM,
        direction=Direction.HIGHER_IS_BETTER,
        numerator="correct",
        denominator="n",
        undefined="no rows with both an actual and a prediction",
        best=1.0,
        percent=True,
        description="Share of predictions equal to the actual.",
    ),
    Metric(
        id="precision",
        name="Precision",
        model_types=_B,
        direction=Direction.HIGHER_IS_BETTER,
        numerator="tp",
        denominator="pred_pos",
        undefined="no predicted positives",
        best=1.0,
        percent=True,
        description="Of the rows predicted positive, the share that are positive.",
    ),
    Metric(
        id="recall",
        name="Recall",
        model_types=_B,
        direction=Direction.HIGHER_IS_BETTER,
        numerator="tp",
        denominator="pos",
        undefined="no actual positives",
        best=1.0,
        percent=True,
        description="Of the actual positives, the share the model caught.",
    ),
    Metric(
        id="f1",
        name="F1",
        model_types=_B,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_f1,
        undefined="no positives predicted or actual",
        best=1.0,
        percent=True,
        description="Harmonic mean of precision and recall.",
    ),
    Metric(
        id="fpr",
        name="False positive rate",
        model_types=_B,
        direction=Direction.LOWER_IS_BETTER,
        numerator="fp",
        denominator="neg",
        undefined="no actual negatives",
        best=0.0,
        percent=True,
        description="Of the actual negatives, the share wrongly flagged positive.",
    ),
    Metric(
        id="fnr",
        name="False negative rate",
        model_types=_B,
        direction=Direction.LOWER_IS_BETTER,
        numerator="fn",
        denominator="pos",
        undefined="no actual positives",
        best=0.0,
        percent=True,
        description="Of the actual positives, the share the model missed.",
    ),
    Metric(
        id="specificity",
        name="Specificity",
        model_types=_B,
        direction=Direction.HIGHER_IS_BETTER,
        numerator="tn",
        denominator="neg",
        undefined="no actual negatives",
        best=1.0,
        percent=True,
        description="Of the actual negatives, the share correctly left negative.",
    ),
    Metric(
        id="positive_rate",
        name="Predicted positive rate",
        model_types=_B,
        direction=Direction.NEUTRAL,
        numerator="pred_pos",
        denominator="n",
        undefined="no rows",
        percent=True,
        description="Share of rows predicted positive (compare it with the actual rate).",
    ),
    Metric(
        id="actual_positive_rate",
        name="Actual positive rate",
        model_types=_B,
        direction=Direction.NEUTRAL,
        numerator="pos",
        denominator="n",
        undefined="no rows",
        percent=True,
        description="Share of rows whose actual is positive (label drift).",
    ),
    Metric(
        id="roc_auc",
        name="ROC AUC",
        model_types=_B,
        direction=Direction.HIGHER_IS_BETTER,
        needs=_SCORE,
        exact=_roc_auc,
        from_groups=roc_auc_from_groups,
        groups_gradient=roc_auc_gradient,
        undefined="needs both positive and negative actuals",
        best=1.0,
        description="Probability that a positive scores above a negative.",
    ),
    Metric(
        id="pr_auc",
        name="PR AUC (average precision)",
        model_types=_B,
        direction=Direction.HIGHER_IS_BETTER,
        needs=_SCORE,
        exact=_pr_auc,
        from_groups=pr_auc_from_groups,
        groups_gradient=pr_auc_gradient,
        undefined="no actual positives",
        best=1.0,
        description="Area under the precision-recall curve (average precision).",
    ),
    Metric(
        id="log_loss",
        name="Log loss",
        model_types=_B,
        direction=Direction.LOWER_IS_BETTER,
        needs=_SCORE,
        numerator="logloss",
        denominator="n_scored",
        undefined="no scored rows",
        best=0.0,
        description="Mean negative log-likelihood of the actual under the score.",
    ),
    Metric(
        id="brier",
        name="Brier score",
        model_types=_B,
        direction=Direction.LOWER_IS_BETTER,
        needs=_SCORE,
        numerator="sq_err",
        denominator="n_scored",
        undefined="no scored rows",
        best=0.0,
        description="Mean squared difference between score and actual (0/1).",
    ),
    Metric(
        id="macro_precision",
        name="Macro precision",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_macro("precision"),
        undefined="no rows",
        best=1.0,
        percent=True,
        description="Unweighted mean of per-class precision.",
    ),
    Metric(
        id="macro_recall",
        name="Macro recall",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_macro("recall"),
        undefined="no rows",
        best=1.0,
        percent=True,
        description="Unweighted mean of per-class recall (balanced accuracy).",
    ),
    Metric(
        id="macro_f1",
        name="Macro F1",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_macro("f1"),
        undefined="no rows",
        best=1.0,
        percent=True,
        description="Unweighted mean of per-class F1.",
    ),
    Metric(
        id="weighted_precision",
        name="Weighted precision",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_weighted("precision"),
        undefined="no actuals",
        best=1.0,
        percent=True,
        description="Per-class precision weighted by class support.",
    ),
    Metric(
        id="weighted_recall",
        name="Weighted recall",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_weighted("recall"),
        undefined="no actuals",
        best=1.0,
        percent=True,
        description="Per-class recall weighted by class support.",
    ),
    Metric(
        id="weighted_f1",
        name="Weighted F1",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_weighted("f1"),
        undefined="no actuals",
        best=1.0,
        percent=True,
        description="Per-class F1 weighted by class support.",
    ),
    Metric(
        id="me",
        name="Mean error (bias)",
        model_types=_R,
        direction=Direction.TWO_SIDED,
        numerator="err",
        denominator="n",
        undefined="no rows",
        best=0.0,
        description="Mean of prediction minus actual: > 0 over-predicts, < 0 under-predicts.",
    ),
    Metric(
        id="mae",
        name="Mean absolute error",
        model_types=_R,
        direction=Direction.LOWER_IS_BETTER,
        numerator="abs_err",
        denominator="n",
        undefined="no rows",
        best=0.0,
        description="Mean of |prediction - actual|.",
    ),
    Metric(
        id="mape",
        name="Mean absolute percentage error",
        model_types=_R,
        direction=Direction.LOWER_IS_BETTER,
        numerator="ape",
        denominator="n",
        undefined_if="zero_actual",
        undefined="an actual is 0 (percentage error undefined)",
        best=0.0,
        percent=True,
        description="Mean of |prediction - actual| / |actual|.",
    ),
    Metric(
        id="smape",
        name="Symmetric MAPE",
        model_types=_R,
        direction=Direction.LOWER_IS_BETTER,
        numerator="smape",
        denominator="n",
        undefined="no rows",
        best=0.0,
        percent=True,
        description="Mean of 2|prediction - actual| / (|actual| + |prediction|).",
    ),
    Metric(
        id="mse",
        name="Mean squared error",
        model_types=_R,
        direction=Direction.LOWER_IS_BETTER,
        numerator="sq_err",
        denominator="n",
        undefined="no rows",
        best=0.0,
        description="Mean of (prediction - actual)^2.",
    ),
    Metric(
        id="rmse",
        name="Root mean squared error",
        model_types=_R,
        direction=Direction.LOWER_IS_BETTER,
        combine=_rmse,
        undefined="no rows",
        best=0.0,
        description="Square root of the MSE, in the target's units.",
    ),
    Metric(
        id="r2",
        name="R²",
        model_types=_R,
        direction=Direction.HIGHER_IS_BETTER,
        combine=_r2,
        undefined="needs at least 2 rows with actuals that are not all equal",
        best=1.0,
        description="Share of the actuals' variance the model explains.",
    ),
)

METRICS: dict[str, Metric] = {m.id: m for m in _REGISTRY}
_CLASS_RECALL = "recall:"


def _class_recall(schema: Schema, k: int) -> Metric:
    label = schema.classes[k]
    return Metric(
        id=f"{_CLASS_RECALL}{label}",
        name=f"Recall of class {label}",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        numerator=f"tp:{k}",
        denominator=f"pos:{k}",
        combine=None,
        undefined=f"no actuals of class {label}",
        best=1.0,
        percent=True,
        description=f"Of the rows whose actual is {label}, the share predicted {label}.",
    )


def applicable_metrics(schema: Schema) -> list[Metric]:
    """Every metric that applies to the schema's model type and available columns.

    Multiclass schemas also get one ``recall:<class>`` metric per class.
    """
    has_score = schema.model_type is ModelType.BINARY and len(schema.roles.prediction_score) == 1
    out = [
        m
        for m in _REGISTRY
        if schema.model_type in m.model_types and ("score" not in m.needs or has_score)
    ]
    if schema.model_type is ModelType.MULTICLASS:
        out += [_class_recall(schema, k) for k in range(len(schema.classes))]
    return out


def get_metric(metric_id: str | Metric, schema: Schema) -> Metric:
    """Resolve a metric id for a schema, with a message listing the valid ids if it fails.

    This is where an id from the user (CLI, URL, JSON) becomes a `Metric`, once; pass the
    `Metric` on from there. A `Metric` given here is returned as is when it applies to the
    schema (no second lookup by id), so code that accepts either stays cheap.
    """
    applicable = applicable_metrics(schema)
    if isinstance(metric_id, Metric):
        if metric_id in applicable:
            return metric_id
        metric_id = metric_id.id
    for m in applicable:
        if m.id == metric_id:
            return m
    valid = ", ".join(m.id for m in applicable)
    if metric_id in METRICS:
        m = METRICS[metric_id]
        why = (
            "it needs a score column (--score)"
            if "score" in m.needs and schema.model_type in m.model_types
            else f"it applies to {', '.join(sorted(t.value for t in m.model_types))} models"
        )
        raise DataError(
            f"metric {metric_id!r} does not fit this {schema.model_type.value} model ({why}); "
            f"choose one of: {valid}."
        )
    raise DataError(f"unknown metric {metric_id!r}; choose one of: {valid}.")


# The metrics to show first for each model type (the app's metric cards), after the lead one.
HEADLINE_METRICS: Mapping[ModelType, tuple[str, ...]] = {
    ModelType.BINARY: ("accuracy", "precision", "fpr", "roc_auc", "f1"),
    ModelType.MULTICLASS: ("macro_f1", "macro_recall", "weighted_f1", "macro_precision"),
    ModelType.REGRESSION: ("me", "rmse", "mape", "r2"),
}


def headline_metrics(schema: Schema, lead: Metric | None = None) -> list[Metric]:
    """Return the metrics to show first: ``lead``, then the model type's `HEADLINE_METRICS`.

    Only metrics that apply to the schema (`applicable_metrics`: e.g. ``roc_auc`` needs a
    score column) are listed, each once.

    Examples
    --------
    >>> from tracing.schema import ColumnRoles
    >>> schema = Schema(ColumnRoles(prediction_label="p", actual_label="a"), ModelType.BINARY,
    ...                 classes=(0, 1), positive_class=1)
    >>> [m.id for m in headline_metrics(schema, METRICS["recall"])]
    ['recall', 'accuracy', 'precision', 'fpr', 'f1']
    """
    available = {m.id: m for m in applicable_metrics(schema)}
    ids = ([lead.id] if lead is not None else []) + list(HEADLINE_METRICS[schema.model_type])
    out: list[Metric] = []
    for metric_id in ids:
        if metric_id in available and available[metric_id] not in out:
            out.append(available[metric_id])
    return out


def metric_of(metric_id: str) -> Metric | None:
    """Return the metric an id names, for readers that hold only the id (tables, JSON).

    Registered ids resolve to their `METRICS` entry. A per-class id (``recall:<class>``)
    resolves to a display-only metric (name, direction, percent) without stats: computing it
    needs the schema's class index, so use `get_metric` for that. Unknown ids give None.

    Examples
    --------
    >>> metric_of("fpr").direction, metric_of("recall:cat").name, metric_of("nope")
    ('lower', 'Recall of class cat', None)
    """
    if metric_id in METRICS:
        return METRICS[metric_id]
    if not metric_id.startswith(_CLASS_RECALL):
        return None
    label = metric_id[len(_CLASS_RECALL) :]
    return Metric(
        id=metric_id,
        name=f"Recall of class {label}",
        model_types=_M,
        direction=Direction.HIGHER_IS_BETTER,
        undefined=f"no actuals of class {label}",
        best=1.0,
        percent=True,
        description=f"Of the rows whose actual is {label}, the share predicted {label}.",
    )


RARE_POSITIVE = 0.2


def default_metric(schema: Schema, actual_positive_rate: float | None = None) -> Metric:
    """Return the metric to lead with when the user has not chosen one.

    - binary: ``accuracy`` when the positive class is 20-80% of the baseline's actuals,
      otherwise ``recall``: with rare positives (fraud) accuracy stays high while the model
      misses most positives, so the paper recommends recall / false negative rate.
    - multiclass: ``accuracy``; regression: ``mae``.
    """
    if schema.model_type is ModelType.REGRESSION:
        return METRICS["mae"]
    if schema.model_type is ModelType.MULTICLASS:
        return METRICS["accuracy"]
    rate = actual_positive_rate
    if rate is not None and not np.isnan(rate) and not RARE_POSITIVE <= rate <= 1 - RARE_POSITIVE:
        return METRICS["recall"]
    return METRICS["accuracy"]
