"""Silently wrong results are refused or made right: thresholds, label sets, exact big ids."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tracing.analysis import prepare_analysis
from tracing.errors import DataError
from tracing.io import read_table
from tracing.schema import ModelType, check_threshold


def _pair(base_labels: list, prod_labels: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(base_labels)
    base = pd.DataFrame(
        {"x": range(n), "score": [0.9 if i % 2 else 0.1 for i in range(n)], "label": base_labels}
    )
    m = len(prod_labels)
    prod = pd.DataFrame(
        {"x": range(m), "score": [0.9 if i % 2 else 0.1 for i in range(m)], "label": prod_labels}
    )
    return base, prod


@pytest.mark.parametrize("bad", [math.nan, 7, -0.1, 1.5, math.inf, "high"])
def test_threshold_outside_zero_one_or_nan_is_refused(bad: object) -> None:
    base, prod = _pair([0, 1] * 5, [0, 1] * 5)
    with pytest.raises(DataError, match="threshold .* between 0 and 1"):
        prepare_analysis(base, prod, threshold=bad)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="--threshold"):
        check_threshold(bad, option="--threshold")


@pytest.mark.parametrize("ok", [0, 0.0, 0.5, 1])
def test_thresholds_in_range_are_accepted(ok: float) -> None:
    base, prod = _pair([0, 1] * 5, [0, 1] * 5)
    assert prepare_analysis(base, prod, threshold=ok).schema.threshold == ok


@pytest.mark.parametrize(
    "prod_labels",
    [["0", "1"] * 5, [False, True] * 5, [0.0, 1.0] * 5],
)
def test_label_sets_that_mean_the_same_are_reconciled(prod_labels: list) -> None:
    base, prod = _pair([0, 1] * 5, prod_labels)
    analysis = prepare_analysis(base, prod)
    assert analysis.schema.model_type is ModelType.BINARY
    assert len(analysis.schema.classes) == 2


def test_bool_baseline_and_text_production_are_reconciled() -> None:
    base, prod = _pair([False, True] * 5, ["0", "1"] * 5)
    analysis = prepare_analysis(base, prod)
    assert analysis.schema.model_type is ModelType.BINARY
    assert len(analysis.schema.classes) == 2


def test_yes_no_against_one_zero_is_refused_listing_both_sets() -> None:
    base, prod = _pair([0, 1] * 5, ["no", "yes"] * 5)
    with pytest.raises(DataError) as info:
        prepare_analysis(base, prod)
    message = str(info.value)
    assert "'label'" in message and "'0', '1'" in message and "'no', 'yes'" in message


def test_big_integer_ids_stay_distinct_through_the_analysis() -> None:
    rows = "".join(f"{2**64 + i},{0.9 if i % 2 else 0.1},{i % 2}\n" for i in range(20))
    data = ("prediction_id,score,label\n" + rows).encode()
    base = read_table(data, name="b.csv")
    analysis = prepare_analysis(base, base.copy())
    assert analysis.schema.roles.prediction_id == "prediction_id"
    assert base["prediction_id"].nunique() == 20
    assert not any("repeated" in note for note in analysis.notes)


@pytest.mark.parametrize("bad", ["nan", "7", "-1"])
def test_cli_refuses_a_bad_threshold(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import DEMO
    from tracing.cli import main

    code = main(
        [
            "report",
            "--baseline",
            str(DEMO / "fraud_training.parquet"),
            "--production",
            str(DEMO / "fraud_production.parquet"),
            "--threshold",
            bad,
        ]
    )
    assert code == 2
    assert "threshold" in capsys.readouterr().err
