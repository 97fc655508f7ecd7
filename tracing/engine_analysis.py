"""An analysis whose rows stay in a SQL engine: schema from a sample, every number from the engine.

`tracing.analysis.prepare_analysis` loads both sides into pandas. For data larger than memory
(`tracing.engines` decides), `prepare_engine_analysis` instead registers each side's
`tracing.sqlbackend.TableSource` on a backend (DuckDB embedded, Spark) and

1. draws a uniform sample of each side *in the engine* (`EngineAnalysis.sample_size` rows,
   reproducible per engine) and runs the ordinary `prepare_analysis` on it: column roles,
   model type, classes, positive class and the default metric are decided by exactly the code
   the in-memory path runs. Classes are checked against every row: labels the sample missed are
   fetched from the engine and added to the sample first, so no class is lost;
2. turns the schema into SQL: each prepared input of `tracing.rowexpr` (is the row valid, its
   actual, prediction and score) becomes an expression over the raw columns. Labels are mapped
   through a ``CASE`` built by running the in-memory label code (`tracing.metrics.binary_labels`,
   `tracing.metrics.class_codes`) on the column's *distinct values*, so "is this the positive
   class" is decided by one definition for both engines;
3. builds a `tracing.sqltable.SqlTable` whose statistics are the `tracing.rowexpr`
   definitions: every metric, slice, bin and period is then a ``GROUP BY`` in the engine, and
   only aggregated tables come back.

The sample is kept (`EngineAnalysis.sample`): sections that need rows (SHAP importance, root
cause) run on it and say so. **Estimated performance** (`tracing.estimate`) is calibrated on the
sample's baseline and applied in the engine (`estimated_table`: the isotonic fit as a ``CASE``
over the score), so the expected sums come from every row.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlglot import exp

from tracing import rowexpr
from tracing.analysis import Analysis, prepare_analysis
from tracing.compare import Comparison, Moments, compare_moments
from tracing.engine import Side
from tracing.errors import DataError
from tracing.estimate import (
    EstimateInput,
    ScoreEstimator,
    calibration_expression,
    can_estimate,
    estimated_stat_expressions,
    fit_estimator,
)
from tracing.metrics import Metric, applicable_metrics, binary_labels, class_codes
from tracing.rowexpr import Input, col, literal
from tracing.schema import ModelType, Schema, score_column_class
from tracing.sqlbackend import SqlBackend, TableSource
from tracing.sqltable import DefinedView, SqlTable, calendar_columns
from tracing.verdict import status

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "ESTIMATED",
    "KNOWN_ACTUAL",
    "KNOWN_PREDICTION",
    "EngineAnalysis",
    "engine_compare",
    "estimated_sums",
    "estimated_table",
    "input_expressions",
    "prepare_engine_analysis",
]

DEFAULT_SAMPLE_SIZE = 200_000
"""Rows per side the schema is inferred on (and row-level sections run on)."""

# Labels are mapped through a CASE of the distinct values: more than this is not a label column.
_MAX_LABELS = 1_000

ESTIMATED = "estimated:"
"""Prefix of the expected statistics `estimated_table` adds (``estimated:tp``...)."""
KNOWN_ACTUAL = "known_actual"
KNOWN_PREDICTION = "known_prediction"
# Per-row counts of the row table (`Comparison.rows`), beside the metric statistics.
_ROW_COUNTS = {
    "rows:actual": rowexpr.flag(col(KNOWN_ACTUAL)),
    "rows:prediction": rowexpr.flag(col(KNOWN_PREDICTION)),
}


@dataclass(frozen=True, eq=False)
class EngineAnalysis:
    """A baseline/production pair held by a SQL engine.

    Attributes
    ----------
    sample : Analysis
        The in-memory analysis of a uniform sample of each side (schema, metric, notes).
    table : SqlTable
        Every row of both sides, with every per-row statistic of the model type.
    valid : SqlTable
        The same restricted to the rows with an actual and a prediction (what metrics use).
    backend : SqlBackend
        The engine.
    rows : (int, int)
        Rows of the baseline and of production.
    notes : tuple of str
        What the user should know (engine, sample size, ...).
    """

    sample: Analysis
    table: SqlTable
    valid: SqlTable
    backend: SqlBackend
    rows: tuple[int, int]
    notes: tuple[str, ...] = field(default=())

    @property
    def schema(self) -> Schema:
        """Column roles, model type and classes."""
        return self.sample.schema

    @property
    def metric(self) -> Metric:
        """The lead metric."""
        return self.sample.metric

    @property
    def names(self) -> tuple[str, str]:
        """Display names of the two sides."""
        return self.sample.names

    @property
    def sample_rows(self) -> tuple[int, int]:
        """Rows of each side's sample."""
        return len(self.sample.baseline_frame), len(self.sample.production_frame)


def prepare_engine_analysis(
    baseline: TableSource | DefinedView,
    production: TableSource | DefinedView,
    *,
    backend: SqlBackend,
    names: tuple[str, str] = ("baseline", "production"),
    roles: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    positive_class: Any = None,
    metric: str | None = None,
    threshold: float = 0.5,
    require_actuals: bool = True,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    random_state: int = 0,
) -> EngineAnalysis:
    """Register both sides on ``backend`` and prepare them as `prepare_analysis` would.

    Parameters are those of `tracing.analysis.prepare_analysis` (the frames replaced by
    sources, or by `tracing.sqltable.DefinedView` rows: windows, versions, joined actuals from
    `tracing.engine_rows`), plus ``backend``, ``sample_size`` (rows per side the schema is
    inferred on) and ``random_state`` (the engine's sample seed).

    Returns
    -------
    EngineAnalysis

    Raises
    ------
    DataError
        As `prepare_analysis`, naming the source and the column.
    """
    sources = {Side.BASELINE: baseline, Side.PRODUCTION: production}
    bare = SqlTable.from_sources(backend, sources)
    rows = (bare.count(Side.BASELINE), bare.count(Side.PRODUCTION))
    for n, name in zip(rows, names, strict=True):
        if n == 0:
            raise DataError(f"{name}: the data has no rows; export the predictions again.")
    frames = [bare.sample_frame(s, sample_size, random_state=random_state) for s in sources]
    on_sample = functools.partial(
        prepare_analysis,
        names=names,
        roles=roles,
        model_type=model_type,
        positive_class=positive_class,
        metric=metric,
        threshold=threshold,
        require_actuals=require_actuals,
    )
    first = on_sample(frames[0], frames[1])
    extra = _rows_of_unseen_labels(bare, first.schema)
    sample = first
    if any(len(f) for f in extra.values()):
        frames = [
            pd.concat([frames[i], extra[s]], ignore_index=True)
            for i, s in enumerate((Side.BASELINE, Side.PRODUCTION))
        ]
        sample = on_sample(frames[0], frames[1])
    inputs = {s: input_expressions(sample.schema, _distinct(bare, s)) for s in sources}
    definitions = rowexpr.row_stat_expressions(
        sample.schema.model_type,
        n_classes=len(sample.schema.classes),
        scored=_has_score(sample.schema),
    )
    table = SqlTable.from_sources(
        backend, sources, inputs=inputs, stats={**definitions, **_ROW_COUNTS}
    )
    valid = SqlTable.from_sources(
        backend,
        sources,
        inputs=inputs,
        stats=definitions,
        row_filter={s: col(Input.VALID) for s in sources},
    )
    calendar = {s: _calendar(sample.schema, source, bare, s) for s, source in sources.items()}
    if all(calendar.values()):  # as in memory: parts of a time column on both sides
        for s, parts in calendar.items():
            table, valid = table.with_columns(s, parts), valid.with_columns(s, parts)
    notes = (
        f"engine: {backend.name}; every metric, slice and count is computed on all "
        f"{rows[0]:,} + {rows[1]:,} rows in the engine; column roles were inferred on a uniform "
        f"sample of {len(frames[0]):,} + {len(frames[1]):,} rows",
    )
    return EngineAnalysis(sample, table, valid, backend, rows, notes)


def _calendar(
    schema: Schema, source: TableSource | DefinedView, bare: SqlTable, side: Side
) -> dict[str, tuple[exp.Expression, Any]]:
    """Return the calendar parts of the timestamp role of a side, as SQL (none: no time type).

    The time zone is the column's own as the files record it (the engine's view may show
    another: DuckDB reports its session's).
    """
    column = schema.roles.timestamp
    if not column or column not in bare.columns(side):
        return {}
    if isinstance(source, DefinedView):  # a window or version: the columns of its files
        source = source.base
    arrow_type = None
    if source.table is None:
        found = source.dataset().schema
        if column in found.names:
            arrow_type = found.field(column).type
    if arrow_type is None:
        arrow_type = bare.column_type(side, column)
    return calendar_columns(column, arrow_type, dialect=bare.dialect)


def engine_compare(
    analysis: EngineAnalysis,
    *,
    metrics: list[Metric] | None = None,
    confidence: float = 0.95,
    estimate: bool = False,
) -> Comparison:
    """Run `tracing.compare.compare` on every row, from sums the engine aggregates.

    Per side, one query sums every statistic and every product of two statistics over the
    valid rows (the Gram matrix of the delta method), so the values and intervals are those of
    the in-memory comparison on the same rows. The rank metrics (ROC AUC, PR AUC) come from one
    more query per side: the positive and negative counts per distinct score
    (`tracing.sqltable.SqlTable.score_groups`), from which `compare` computes them too. With
    ``estimate`` (as ``compare``'s ``production_frame``), the ``estimated`` column holds each
    additive metric estimated from every production row's score, calibrated on the sample's
    baseline (one more query); rank metrics stay NaN there.
    """
    names = list(
        rowexpr.row_stat_expressions(
            analysis.schema.model_type,
            n_classes=len(analysis.schema.classes),
            scored=_has_score(analysis.schema),
        )
    )
    moments = [_moments(analysis.valid, side, names) for side in Side]
    rows = pd.DataFrame(
        [_row_counts(analysis, side) for side in (Side.BASELINE, Side.PRODUCTION)],
        index=["baseline", "production"],
    )
    base, prod = moments[0], moments[1]
    chosen = applicable_metrics(analysis.schema) if metrics is None else metrics
    ranks = None
    if _has_score(analysis.schema) and any(not m.additive for m in chosen):
        ranks = [analysis.valid.score_groups(side) for side in Side]
    comparison = compare_moments(
        base,
        prod,
        schema=analysis.schema,
        rows=rows,
        metrics=chosen,
        confidence=confidence,
        rank_groups=ranks,
    )
    if not estimate or not can_estimate(analysis.schema):
        return comparison
    return _with_estimates(analysis, comparison, chosen)


def _with_estimates(
    analysis: EngineAnalysis, comparison: Comparison, metrics: Sequence[Metric]
) -> Comparison:
    """Fill the comparison's ``estimated`` column as `tracing.compare.compare` does."""
    table = comparison.table.copy()
    try:
        estimator = fit_estimator(analysis.sample.baseline)
    except DataError as exc:
        return dataclasses.replace(comparison, notes=(*comparison.notes, f"no estimate: {exc}"))
    sums = estimated_sums(analysis.table, estimator, Side.PRODUCTION)
    # compare_moments lists the metrics in the order given: one estimate per row
    table["estimated"] = [float(m.from_stats(sums)) if m.additive else np.nan for m in metrics]
    table["estimated_status"] = [
        status(e, b, d)
        for e, b, d in zip(table["estimated"], table["baseline"], table["direction"], strict=True)
    ]
    b, _ = analysis.sample_rows
    note = (
        f"estimated: scores calibrated (isotonic) on {estimator.n_rows:,} baseline rows with "
        f"actuals (of a sample of {b:,}), then the expected confusion matrix of all "
        f"{analysis.rows[1]:,} production rows in the engine; assumes the link between score and "
        "outcome did not change (no concept shift); rank metrics are not estimated by this "
        "engine"
    )
    return dataclasses.replace(comparison, table=table, notes=(*comparison.notes, note))


def estimated_table(table: SqlTable, estimator: ScoreEstimator, side: Side) -> SqlTable:
    """Return ``table`` with `tracing.estimate`'s expected statistics on ``side``.

    They are named `ESTIMATED` + the statistic (``estimated:tp``...), defined by
    `tracing.estimate.estimated_stat_expressions` over per-row columns computed once a row:
    covered (a score and a prediction), the calibrated probability (the fit as SQL,
    `tracing.estimate.calibration_expression`), the predicted label and the score.
    """
    covered = exp.And(this=col(Input.SCORED), expression=col(KNOWN_PREDICTION))

    def when_covered(then: exp.Expression, other: float) -> exp.Expression:
        return exp.Case(ifs=[exp.If(this=covered.copy(), true=then)], default=literal(other))

    columns: dict[EstimateInput, exp.Expression] = {
        EstimateInput.COVERED: covered,
        EstimateInput.P: when_covered(calibration_expression(estimator, col(Input.SCORE)), 0),
        EstimateInput.YHAT: when_covered(rowexpr.flag(col(Input.PREDICTED)), 0),
        EstimateInput.S: when_covered(col(Input.SCORE), 0.5),
    }
    named = {k: f"estimate:{k.value}" for k in columns}
    refs = {k.value: col(v) for k, v in named.items()}
    stats = {
        ESTIMATED + name: rowexpr.substitute(definition, refs)
        for name, definition in estimated_stat_expressions().items()
    }
    row_columns = {named[k]: v for k, v in columns.items()}
    return table.with_row_columns(side, row_columns).with_derived(side, stats)


def estimated_sums(table: SqlTable, estimator: ScoreEstimator, side: Side) -> dict[str, float]:
    """Return the sums of the expected statistics over every row of a side (one query)."""
    names = [ESTIMATED + n for n in estimated_stat_expressions()]
    found = estimated_table(table, estimator, side).group_sums((), names, side=side)
    return {n[len(ESTIMATED) :]: float(found.sums[n][0]) for n in names}


def _moments(table: SqlTable, side: Side, names: Sequence[str]) -> Moments:
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i:]]
    products = {f"x:{a}:{b}": exp.Mul(this=col(a), expression=col(b)) for a, b in pairs}
    sums = table.with_derived(side, products).group_sums((), [*names, *products], side=side)
    total = {k: float(v[0]) for k, v in sums.sums.items()}
    gram = np.zeros((len(names), len(names)))
    index = {name: i for i, name in enumerate(names)}
    for a, b in pairs:
        gram[index[a], index[b]] = gram[index[b], index[a]] = total[f"x:{a}:{b}"]
    vector = np.array([total[k] for k in names])
    return Moments(tuple(names), vector, gram, int(sums.count[0]))


def _row_counts(analysis: EngineAnalysis, side: Side) -> dict[str, int]:
    sums = analysis.table.group_sums((), list(_ROW_COUNTS), side=side)
    rows = int(sums.count[0])
    return {
        "rows": rows,
        "rows_with_actuals": analysis.valid.count(side),
        "missing_actual": rows - round(float(sums.sums["rows:actual"][0])),
        "missing_prediction": rows - round(float(sums.sums["rows:prediction"][0])),
    }


def _has_score(schema: Schema) -> bool:
    return schema.model_type is ModelType.BINARY and len(schema.roles.prediction_score) == 1


def _label_columns(schema: Schema) -> list[str]:
    if schema.model_type is ModelType.REGRESSION:
        return []
    roles = schema.roles
    return [c for c in (roles.actual_label, roles.prediction_label) if c]


def _rows_of_unseen_labels(table: SqlTable, schema: Schema) -> dict[Side, pd.DataFrame]:
    """Return a few rows of each label the sample missed (every class must be known)."""
    out = {s: pd.DataFrame() for s in (Side.BASELINE, Side.PRODUCTION)}
    if schema.model_type is not ModelType.MULTICLASS:
        return out
    known = {str(c) for c in schema.classes}
    for side in out:
        parts = []
        for column in _label_columns(schema):
            if column not in table.columns(side):
                continue
            values = table.distinct_values(side, column, limit=_MAX_LABELS + 1)
            unseen = [v for v in values if not _missing(v) and str(v) not in known]
            if unseen:
                parts.append(table.rows_where(side, column, unseen, limit=10))
        if parts:
            out[side] = pd.concat(parts, ignore_index=True)
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _distinct(table: SqlTable, side: Side) -> dict[str, list[Any]]:
    """Return the distinct values of a side's columns, fetched when first asked for."""

    class Lazy(dict[str, list[Any]]):
        def __missing__(self, column: str) -> list[Any]:
            if column not in table.columns(side):
                raise DataError(
                    f"{table.label(side)}: column {column!r} is missing; check the column roles."
                )
            values = table.distinct_values(side, column, limit=_MAX_LABELS + 1)
            if len(values) > _MAX_LABELS:
                raise DataError(
                    f"{table.label(side)}: label column {column!r} has more than "
                    f"{_MAX_LABELS:,} distinct values; check the column roles or the model type."
                )
            self[column] = values
            return values

    return Lazy()


def input_expressions(schema: Schema, distinct: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Return the `tracing.rowexpr.Input` columns of a side as SQL over its raw columns.

    Parameters
    ----------
    schema : Schema
        Column roles and model type (as `tracing.metrics.prepare` reads them).
    distinct : mapping of str -> sequence
        The distinct values of a label column (asked for label columns only).

    Returns
    -------
    dict of str -> sqlglot Expression
        ``valid``, ``actual``, ``predicted`` and, with one score column, ``score`` and
        ``scored``; also `KNOWN_ACTUAL` and `KNOWN_PREDICTION` (the row has one), for the
        row counts. Every expression is non-null on every row.
    """
    roles = schema.roles
    score = roles.prediction_score[0] if _has_score(schema) else None
    out: dict[str, Any] = {}
    if score is not None:
        out[Input.SCORE] = exp.func("COALESCE", _as_double(score), literal(0.5))
        out[Input.SCORED] = _number_known(score)
    if schema.model_type is ModelType.REGRESSION:
        known_t = _number_known(roles.actual_label) if roles.actual_label else exp.false()
        assert roles.prediction_label is not None
        out[Input.ACTUAL] = (
            exp.func("COALESCE", _as_double(roles.actual_label), literal(0))
            if roles.actual_label
            else literal(0)
        )
        out[Input.PREDICTED] = exp.func("COALESCE", _as_double(roles.prediction_label), literal(0))
        known_p = _number_known(roles.prediction_label)
    elif schema.model_type is ModelType.BINARY:
        known_t, out[Input.ACTUAL] = _binary_input(roles.actual_label, schema, distinct)
        if roles.prediction_label:
            known_p, out[Input.PREDICTED] = _binary_input(roles.prediction_label, schema, distinct)
        else:
            assert score is not None
            known_p = _number_known(score)
            cut = exp.GTE(this=_as_double(score), expression=literal(schema.threshold))
            out[Input.PREDICTED] = exp.func("COALESCE", cut, exp.false())
    else:
        out[Input.ACTUAL] = _class_input(roles.actual_label, schema, distinct)
        if roles.prediction_label:
            out[Input.PREDICTED] = _class_input(roles.prediction_label, schema, distinct)
        else:
            out[Input.PREDICTED] = _argmax_input(schema)
        known_t = exp.GTE(this=out[Input.ACTUAL].copy(), expression=literal(0))
        known_p = exp.GTE(this=out[Input.PREDICTED].copy(), expression=literal(0))
    out[Input.VALID] = exp.And(this=known_t.copy(), expression=known_p.copy())
    out[KNOWN_ACTUAL], out[KNOWN_PREDICTION] = known_t, known_p
    return out


def _as_double(column: str) -> exp.Expression:
    return exp.TryCast(this=col(column), to=exp.DataType.build("double"))


def _number_known(column: str) -> exp.Expression:
    value = _as_double(column)
    present = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
    not_nan = exp.Not(this=exp.func("ISNAN", exp.func("COALESCE", value, literal(0))))
    return cast(exp.Expression, exp.and_(present, not_nan, copy=True))


def _value(v: Any) -> exp.Expression:
    """Return a label value as a SQL literal of its own type."""
    if isinstance(v, bool | np.bool_):
        return exp.true() if v else exp.false()
    if isinstance(v, int | np.integer):
        return exp.Literal.number(int(v))
    if isinstance(v, float | np.floating):
        return literal(float(v))
    return exp.Literal.string(str(v))


def _values_frame(column: str, values: Sequence[Any]) -> pd.DataFrame:
    kept = [v for v in values if not _missing(v)]
    return pd.DataFrame({column: pd.Series(kept, dtype=object)})


def _binary_input(
    column: str | None, schema: Schema, distinct: Mapping[str, Sequence[Any]]
) -> tuple[exp.Expression, exp.Expression]:
    """Return (known, is positive) of a binary label column, via its distinct values."""
    if not column:
        return exp.false(), exp.false()
    values = _values_frame(column, distinct[column])
    _, positive = binary_labels(values, column, schema, name=column)
    chosen = [_value(v) for v, p in zip(values[column], positive, strict=True) if p]
    known = exp.Not(this=exp.Is(this=col(column), expression=exp.Null()))
    if not chosen:
        return known, exp.false()
    inside = exp.In(this=col(column), expressions=chosen)
    return known, cast(exp.Expression, exp.func("COALESCE", inside, exp.false()))


def _class_input(
    column: str | None, schema: Schema, distinct: Mapping[str, Sequence[Any]]
) -> exp.Expression:
    """Return a multiclass label column as class codes (-1: missing or not a class)."""
    if not column:
        return literal(-1)
    values = _values_frame(column, distinct[column])
    codes = class_codes(values, column, schema)
    case = exp.Case()
    for v, code in zip(values[column], codes, strict=True):
        if code >= 0:
            case = case.when(exp.EQ(this=col(column), expression=_value(v)), literal(int(code)))
    return case.else_(literal(-1)) if case.args.get("ifs") else literal(-1)


def _argmax_input(schema: Schema) -> exp.Expression:
    """Return the class of the highest score column (first on ties, -1 when none has a score)."""
    classes = [str(c) for c in schema.classes]
    cols = list(schema.roles.prediction_score)
    scores = [exp.func("COALESCE", _as_double(c), exp.Literal.number("-1e308")) for c in cols]
    case = exp.Case()
    for i, c in enumerate(cols):
        label = score_column_class(c)
        if label not in classes:
            raise DataError(
                f"score column {c!r} is for class {label!r}, which is not among the labels "
                f"({', '.join(classes)}); name score columns score_<class>."
            )
        beats = [
            (exp.GTE if j > i else exp.GT)(this=scores[i].copy(), expression=scores[j].copy())
            for j in range(len(cols))
            if j != i
        ]
        cond = exp.and_(*beats, copy=True) if beats else exp.true()
        case = case.when(cond, literal(classes.index(label)))
    any_score = exp.or_(*[_number_known(c) for c in cols], copy=True)
    return exp.Case(
        ifs=[exp.If(this=any_score, true=case.else_(literal(-1)))], default=literal(-1)
    )
