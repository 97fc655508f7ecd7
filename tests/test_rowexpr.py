"""The one definition of every per-row statistic (`tracing.rowexpr`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from tracing import rowexpr
from tracing.schema import ModelType

ALL = [
    (ModelType.BINARY, {"scored": True}),
    (ModelType.BINARY, {"scored": False}),
    (ModelType.MULTICLASS, {"n_classes": 3}),
    (ModelType.REGRESSION, {}),
]


@pytest.mark.parametrize(("model_type", "kw"), ALL)
def test_every_definition_uses_only_what_numpy_evaluates(model_type, kw):
    for name, definition in rowexpr.row_stat_expressions(model_type, **kw).items():
        kinds = {type(node) for node in definition.walk()}
        structural = (exp.DataType, exp.Identifier, exp.If)  # parts of Cast, Column, Case
        allowed = (*rowexpr.SUPPORTED, *structural)
        unknown = {k.__name__ for k in kinds if not issubclass(k, allowed)}
        assert not unknown, (name, unknown)
        columns = {n.name for n in definition.find_all(exp.Column)}
        assert columns <= set(rowexpr.Input), (name, columns)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_literals_carry_the_exact_float(value):
    lit = rowexpr.literal(value)
    assert float(rowexpr.evaluate(lit, {})) == value
    if not float(value).is_integer():  # parsed from its shortest round-trip text
        assert float(lit.this.this) == value


def test_invalid_rows_contribute_nothing_to_any_statistic():
    rng = np.random.default_rng(0)
    n = 50
    for model_type, kw in ALL:
        if model_type is ModelType.REGRESSION:
            actual, predicted = rng.normal(size=n), rng.normal(size=n)
            actual[:5] = np.nan
        elif model_type is ModelType.MULTICLASS:
            actual, predicted = rng.integers(0, 3, n), rng.integers(0, 3, n)
        else:
            actual, predicted = rng.random(n) < 0.5, rng.random(n) < 0.5
        score = rng.random(n)
        inputs = {
            "valid": np.arange(n) >= 10,
            "actual": actual,
            "predicted": predicted,
            "score": score,
            "scored": np.ones(n, dtype=bool),
        }
        defs = rowexpr.row_stat_expressions(model_type, **kw)
        out = rowexpr.evaluate_all(defs, inputs, length=n)
        for name, values in out.items():
            assert values.dtype == np.float64 and values.shape == (n,), name
            assert np.all(values[:10] == 0), name
            assert np.all(np.isfinite(values)), name


def test_substitute_replaces_inputs_and_leaves_the_definition_alone():
    tp = rowexpr.row_stat_expressions(ModelType.BINARY)["tp"]
    before = tp.sql()
    swapped = rowexpr.substitute(tp, {"actual": exp.column("label").eq(exp.Literal.string("yes"))})
    assert tp.sql() == before
    assert "label = 'yes'" in rowexpr.to_sql(swapped, "duckdb")
    assert '"actual"' not in rowexpr.to_sql(swapped, "duckdb")


def test_unknown_expression_fails_loudly():
    with pytest.raises(TypeError, match="cannot evaluate"):
        rowexpr.evaluate(exp.func("SQRT", exp.column("x")), {"x": np.ones(2)})
    to_int = exp.Cast(this=exp.column("x"), to=exp.DataType.build("int"))
    with pytest.raises(TypeError, match="only to DOUBLE"):
        rowexpr.evaluate(to_int, {"x": np.ones(2)})
