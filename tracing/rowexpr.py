"""One definition of every per-row sufficient statistic, evaluated by numpy and by SQL alike.

Every metric of `tracing.metrics` is computed from sums of per-row statistics (``tp``, ``fp``,
``abs_err``...). This module defines each statistic once, as an expression over five *prepared
inputs* (`Input`: is the row valid, its actual, its prediction, its score, is it scored), and
evaluates that same expression either

- with numpy, on the prepared arrays of `tracing.metrics.prepare` (`evaluate`,
  `evaluate_all`): this is how `tracing.metrics.row_stat_columns` computes the in-memory
  statistics; or
- as SQL, in any SQLGlot dialect (`to_sql`): the SQL engines (`tracing.sqltable`) substitute
  each input by an expression over the raw columns (`substitute`) and sum the result in a
  ``GROUP BY``.

So no metric, binning or test has a per-engine copy: a change to a statistic is one edit here.

Why SQLGlot rather than Ibis
----------------------------
The statistics are small scalar expressions (arithmetic, comparisons, ``CASE``, ``LN``,
``GREATEST``), and the queries around them need ``GROUPING SETS`` and ``GROUPING_ID``, which Ibis
has no API for (ibis-project/ibis #550). SQLGlot's expression trees are plain Python objects that
render to every dialect we target (DuckDB, Spark, and BigQuery/Snowflake/Trino unchanged), and
their small vocabulary is easy to evaluate with numpy, which Ibis' deferred expressions are not.

The vocabulary the numpy evaluator accepts is deliberately small (`SUPPORTED`): a definition
that uses anything else fails loudly in the registry-wide tests, never silently.

Numbers
-------
Float literals are written as ``CAST('<repr>' AS DOUBLE)``: the shortest round-trip text of the
float, parsed by the engine's correctly rounded string-to-double conversion, so SQL sees the
same bits numpy does (a bare ``0.1`` would be a DECIMAL in DuckDB).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlglot import exp

from tracing.schema import ModelType

__all__ = [
    "SUPPORTED",
    "Input",
    "evaluate",
    "col",
    "evaluate_all",
    "flag",
    "literal",
    "row_stat_expressions",
    "substitute",
    "to_sql",
]

Array = NDArray[Any]
Expr = exp.Expression

_DOUBLE = exp.DataType.build("double")


class Input(StrEnum):
    """The prepared per-row inputs every statistic is defined over.

    ``valid``: the row has an actual and a prediction the analysis can use. Binary models:
    ``actual`` and ``predicted`` are booleans (is the positive class). Multiclass: class indices
    (0..k-1). Regression: floats. ``score`` (binary) is the predicted probability of the
    positive class and ``scored`` says the row has one (a real number).
    """

    VALID = "valid"
    ACTUAL = "actual"
    PREDICTED = "predicted"
    SCORE = "score"
    SCORED = "scored"


# ---------------------------------------------------------------------------------------------
# Building expressions


def col(name: str) -> Expr:
    """Return a column (an input, a statistic or a raw column, by context)."""
    return exp.column(name, quoted=True)


def literal(value: float) -> Expr:
    """Return a number as SQL: integers bare, other floats as an exactly parsed double."""
    number = float(value)
    if number.is_integer() and abs(number) < 2**53:
        return exp.Literal.number(int(number))
    return exp.Cast(this=exp.Literal.string(repr(number)), to=_DOUBLE.copy())


def _double(e: Expr) -> Expr:
    return exp.Cast(this=e, to=_DOUBLE.copy())


def _and(*parts: Expr) -> Expr:
    out: Expr = exp.and_(*parts, copy=True)  # type: ignore[assignment]  # Condition is an Expression
    return out


def _not(e: Expr) -> Expr:
    return exp.not_(e, copy=True)


def _eq(a: Expr, b: Expr) -> Expr:
    return exp.EQ(this=a.copy(), expression=b.copy())


def _case(cond: Expr, then: Expr, other: Expr) -> Expr:
    return exp.Case(ifs=[exp.If(this=cond.copy(), true=then.copy())], default=other.copy())


def _abs(e: Expr) -> Expr:
    return exp.Abs(this=e.copy())


def _paren(e: Expr) -> Expr:
    return exp.Paren(this=e.copy())


def _add(a: Expr, b: Expr) -> Expr:
    return exp.Add(this=_paren(a), expression=_paren(b))


def _sub(a: Expr, b: Expr) -> Expr:
    return exp.Sub(this=_paren(a), expression=_paren(b))


def _mul(a: Expr, b: Expr) -> Expr:
    return exp.Mul(this=_paren(a), expression=_paren(b))


def _div(a: Expr, b: Expr) -> Expr:
    return exp.Div(this=_paren(a), expression=_paren(b))


def flag(cond: Expr) -> Expr:
    """Return 1.0 where ``cond`` holds, else 0.0."""
    return _double(cond.copy())


_flag = flag


# ---------------------------------------------------------------------------------------------
# The definitions


def _binary(scored: bool) -> dict[str, Expr]:
    v, t, p = col(Input.VALID), col(Input.ACTUAL), col(Input.PREDICTED)
    t_, p_ = _and(v, t), _and(v, p)
    out = {
        "n": _flag(v),
        "tp": _flag(_and(t_, p_)),
        "fp": _flag(_and(v, _not(t), p_)),
        "fn": _flag(_and(t_, _not(p))),
        "tn": _flag(_and(v, _not(t), _not(p))),
    }
    out["pos"] = _add(out["tp"], out["fn"])
    out["neg"] = _add(out["fp"], out["tn"])
    out["pred_pos"] = _add(out["tp"], out["fp"])
    out["correct"] = _add(out["tp"], out["tn"])
    if scored:
        out.update(score_stat_expressions())
    return out


def score_stat_expressions() -> dict[str, Expr]:
    """Return a binary model's score statistics: ``n_scored``, ``logloss``, ``sq_err``.

    Rows without a valid score contribute 0. The log loss clips the score to ``[eps, 1 - eps]``
    (scikit-learn's ``log_loss``) and takes ``ln(1 - p)`` for negatives, as scikit-learn does.
    """
    v, t, s = col(Input.VALID), col(Input.ACTUAL), col(Input.SCORE)
    scored = _and(v, col(Input.SCORED))
    eps = float(np.finfo(np.float64).eps)
    sc = exp.Greatest(
        this=exp.Least(this=s.copy(), expressions=[literal(1 - eps)]), expressions=[literal(eps)]
    )
    log_p, log_q = exp.Ln(this=sc.copy()), exp.Ln(this=_sub(literal(1), sc))
    loss = exp.Neg(this=_paren(_case(t, log_p, log_q)))
    return {
        "n_scored": _flag(scored),
        "logloss": _case(scored, loss, literal(0)),
        "sq_err": _case(scored, _mul(_sub(s, _flag(t)), _sub(s, _flag(t))), literal(0)),
    }


def _multiclass(n_classes: int) -> dict[str, Expr]:
    v, t, p = col(Input.VALID), col(Input.ACTUAL), col(Input.PREDICTED)
    out = {"n": _flag(v), "correct": _flag(_and(v, _eq(t, p)))}
    for k in range(n_classes):
        tk, pk = _and(v, _eq(t, literal(k))), _and(v, _eq(p, literal(k)))
        out[f"tp:{k}"] = _flag(_and(tk, pk))
        out[f"fp:{k}"] = _flag(_and(_not(_paren(tk)), pk))
        out[f"fn:{k}"] = _flag(_and(tk, _not(_paren(pk))))
        out[f"pos:{k}"] = _flag(tk)
    return out


def _regression() -> dict[str, Expr]:
    v, y, yhat = col(Input.VALID), col(Input.ACTUAL), col(Input.PREDICTED)
    zero = literal(0)
    y0 = _case(v, y, zero)
    e = _case(v, _sub(yhat, y), zero)
    ae = _abs(e)
    denom = _add(_abs(y), _abs(yhat))
    return {
        "n": _flag(v),
        "err": e,
        "abs_err": ae,
        "sq_err": _mul(e, e),
        # absolute percentage error: rows with a zero actual contribute 0 (counted apart)
        "ape": _case(
            _and(v, exp.NEQ(this=y0.copy(), expression=zero.copy())), _div(ae, _abs(y0)), zero
        ),
        "zero_actual": _flag(_and(v, _eq(y0, zero))),
        # sMAPE term 2|e| / (|y| + |yhat|); 0/0 (both zero) counts as a perfect 0
        "smape": _case(
            _and(v, exp.GT(this=_paren(denom), expression=zero.copy())),
            _div(_mul(literal(2), ae), denom),
            zero,
        ),
        "y": y0,
        "y2": _mul(y0, y0),
    }


def row_stat_expressions(
    model_type: ModelType, *, n_classes: int = 0, scored: bool = False
) -> dict[str, Expr]:
    """Return every per-row statistic of a model type as an expression over the `Input` columns.

    Parameters
    ----------
    model_type : ModelType
        Binary, multiclass or regression.
    n_classes : int, default 0
        Multiclass: the number of classes (statistics per class index).
    scored : bool, default False
        Binary: the model has a score column (adds ``n_scored``, ``logloss``, ``sq_err``).

    Returns
    -------
    dict of str -> sqlglot Expression
        Statistic name to its definition; invalid rows contribute 0 to every statistic.

    Examples
    --------
    >>> to_sql(row_stat_expressions(ModelType.BINARY)["tp"], "duckdb")
    'CAST(("valid" AND "actual") AND ("valid" AND "predicted") AS DOUBLE)'
    """
    if model_type is ModelType.BINARY:
        return _binary(scored)
    if model_type is ModelType.MULTICLASS:
        return _multiclass(n_classes)
    return _regression()


# ---------------------------------------------------------------------------------------------
# SQL


def to_sql(expression: Expr, dialect: str) -> str:
    """Render an expression in a SQLGlot dialect (``"duckdb"``, ``"spark"``...)."""
    return expression.sql(dialect=dialect)


def substitute(expression: Expr, columns: Mapping[str, Expr]) -> Expr:
    """Replace each named column by an expression (a copy; ``expression`` is unchanged).

    The SQL engines replace the `Input` columns by expressions over the raw columns, and a
    derived statistic's references to other statistics by their definitions.
    """

    def swap(node: Expr) -> Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in columns:
            return _paren(columns[node.name])
        return node

    return expression.copy().transform(swap)


# ---------------------------------------------------------------------------------------------
# numpy


def _fold(fn: Callable[[Array, Array], Array], first: Array, rest: list[Array]) -> Array:
    out = first
    for other in rest:
        out = fn(out, other)
    return out


_BINARY: dict[type[Expr], Callable[[Array, Array], Array]] = {
    exp.Add: np.add,
    exp.Sub: np.subtract,
    exp.Mul: np.multiply,
    exp.Div: np.true_divide,
    exp.EQ: np.equal,
    exp.NEQ: np.not_equal,
    exp.GT: np.greater,
    exp.GTE: np.greater_equal,
    exp.LT: np.less,
    exp.LTE: np.less_equal,
    exp.And: np.logical_and,
    exp.Or: np.logical_or,
}
_UNARY: dict[type[Expr], Callable[[Array], Array]] = {
    exp.Neg: np.negative,
    exp.Not: np.logical_not,
    exp.Abs: np.abs,
    exp.Ln: np.log,
    exp.Paren: lambda a: a,
}
SUPPORTED: tuple[type[Expr], ...] = (
    *_BINARY,
    *_UNARY,
    exp.Column,
    exp.Literal,
    exp.Boolean,
    exp.Cast,
    exp.Case,
    exp.Greatest,
    exp.Least,
)
"""The expression types `evaluate` knows; every definition uses only these (tested)."""


def evaluate(
    expression: Expr, columns: Mapping[str, Array], *, memo: dict[str, Array] | None = None
) -> Array:
    """Evaluate an expression with numpy over named column arrays (all of one length).

    ``memo`` (keyed by each sub-expression's SQL text) shares common sub-expressions between
    several evaluations, as `evaluate_all` does.
    """
    memo = {} if memo is None else memo
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _eval(expression, columns, memo)


def _eval(e: Expr, columns: Mapping[str, Array], memo: dict[str, Array]) -> Array:
    if isinstance(e, exp.Column):
        return np.asarray(columns[e.name])
    if isinstance(e, exp.Literal):
        if e.is_string:
            raise TypeError(f"a text literal has no numeric value: {e.sql()}")
        return np.asarray(float(e.this))
    if isinstance(e, exp.Boolean):
        return np.asarray(bool(e.this))
    key = e.sql()
    if key in memo:
        return memo[key]
    out = _eval_node(e, columns, memo)
    memo[key] = out
    return out


def _eval_node(e: Expr, columns: Mapping[str, Array], memo: dict[str, Array]) -> Array:
    kind = type(e)
    if kind in _BINARY:
        return _BINARY[kind](_eval(e.this, columns, memo), _eval(e.expression, columns, memo))
    if kind in _UNARY:
        return _UNARY[kind](_eval(e.this, columns, memo))
    if isinstance(e, exp.Cast):
        if not e.to.is_type(exp.DataType.Type.DOUBLE):
            raise TypeError(f"tracing.rowexpr casts only to DOUBLE: {e.sql()}")
        inner = e.this
        if isinstance(inner, exp.Literal) and inner.is_string:
            return np.asarray(float(inner.this))
        return np.asarray(_eval(inner, columns, memo), dtype=np.float64)
    if isinstance(e, exp.Case):
        out = _eval(e.args["default"], columns, memo)
        for branch in reversed(e.args["ifs"]):
            cond = _eval(branch.this, columns, memo)
            out = np.where(cond, _eval(branch.args["true"], columns, memo), out)
        return out
    if isinstance(e, exp.Greatest | exp.Least):
        fn = np.maximum if isinstance(e, exp.Greatest) else np.minimum
        rest = [_eval(x, columns, memo) for x in e.expressions]
        return _fold(fn, _eval(e.this, columns, memo), rest)
    raise TypeError(f"tracing.rowexpr cannot evaluate {kind.__name__}: {e.sql()}")


def evaluate_all(
    definitions: Mapping[str, Expr], columns: Mapping[str, Array], *, length: int
) -> dict[str, NDArray[np.float64]]:
    """Evaluate several definitions over the same columns, sharing common sub-expressions.

    Every result is a float64 array of ``length`` values (a constant is broadcast).
    """
    memo: dict[str, Array] = {}
    out = {}
    for name, definition in definitions.items():
        value = np.asarray(evaluate(definition, columns, memo=memo), dtype=np.float64)
        out[name] = np.broadcast_to(value, (length,)).copy() if value.ndim == 0 else value
    return out
