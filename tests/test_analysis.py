"""prepare_analysis: production without actuals is accepted only when asked for."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_binary, make_multiclass, make_regression
from tracing.analysis import prepare_analysis
from tracing.compare import compare
from tracing.errors import DataError


def _pair(make, **kw):
    return make(n=600, seed=1, **kw), make(n=500, seed=2, **kw)


@pytest.mark.parametrize(
    ("make", "actual"),
    [(make_binary, "actual_label"), (make_multiclass, "actual"), (make_regression, "y_true")],
)
def test_production_without_its_actual_column(make, actual) -> None:
    base, prod = _pair(make)
    with_actuals = prepare_analysis(base, prod)
    without = prepare_analysis(base, prod.drop(columns=actual), require_actuals=False)
    assert not without.has_actuals and with_actuals.has_actuals
    assert without.schema == with_actuals.schema  # the actual role comes from the baseline
    assert not without.production.valid.any()
    assert without.production.n_missing_actual == len(prod)
    np.testing.assert_array_equal(without.production.y_pred, with_actuals.production.y_pred)
    np.testing.assert_array_equal(without.baseline.y_true, with_actuals.baseline.y_true)
    assert without.production.schema == without.schema
    # Not "columns only in the baseline are ignored": the actual is used there.
    assert not any("only in" in n for n in without.notes)
    assert any("no row has an actual yet" in n for n in without.notes)
    table = compare(without.baseline, without.production).table
    assert table["production"].isna().all() and table["baseline"].notna().any()
    assert set(table["status"]) == {"undefined"}


def test_empty_actual_column_in_production() -> None:
    base, prod = _pair(make_binary)
    prod = prod.assign(actual_label=None)
    with pytest.raises(DataError, match="no values"):
        prepare_analysis(base, prod)  # the default keeps requiring actuals
    a = prepare_analysis(base, prod, require_actuals=False)
    assert not a.has_actuals and a.schema.roles.actual_label == "actual_label"


def test_missing_actual_column_is_an_error_by_default() -> None:
    base, prod = _pair(make_binary)
    with pytest.raises(DataError, match="no actual column found"):
        prepare_analysis(base, prod.drop(columns="actual_label"))
    with pytest.raises(DataError, match="is not in the file"):
        prepare_analysis(
            base, prod.drop(columns="actual_label"), roles={"actual_label": "actual_label"}
        )


def test_an_explicit_actual_only_in_the_baseline() -> None:
    base, prod = _pair(make_binary)
    base = base.rename(columns={"actual_label": "churned"})
    a = prepare_analysis(
        base,
        prod.drop(columns="actual_label"),
        roles={"actual_label": "churned"},
        require_actuals=False,
    )
    assert a.schema.roles.actual_label == "churned"
    assert a.baseline.valid.all() and not a.has_actuals
    assert "churned" not in a.schema.roles.features


def test_partial_actuals_are_the_same_analysis_either_way() -> None:
    base, prod = _pair(make_binary)
    prod.loc[prod.index[:200], "actual_label"] = None
    strict = prepare_analysis(base, prod)
    lenient = prepare_analysis(base, prod, require_actuals=False)
    assert lenient.has_actuals
    np.testing.assert_array_equal(strict.production.valid, lenient.production.valid)
    assert strict.notes == lenient.notes and strict.schema == lenient.schema


def test_the_baseline_always_needs_actuals() -> None:
    base, prod = _pair(make_binary)
    with pytest.raises(DataError, match="no values"):
        prepare_analysis(base.assign(actual_label=None), prod, require_actuals=False)
    with pytest.raises(DataError, match="no actual column found"):
        prepare_analysis(
            base.drop(columns="actual_label"),
            prod.drop(columns="actual_label"),
            require_actuals=False,
        )
