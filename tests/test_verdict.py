"""The one verdict and the vocabularies: status, the verdicts the engine carries, the enums.

Engine logic the Overview page used to hold is tested here now: the estimated verdict, when the
estimate disagrees with the measured values, and which metrics lead the cards.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_binary, make_multiclass, make_regression
from tests.test_timeline import START, binary_log
from tracing.analysis import prepare_analysis
from tracing.compare import compare
from tracing.drift import DRIFT_TESTS, SEVERITIES, DriftDirection, drift_between
from tracing.metrics import (
    HEADLINE_METRICS,
    METRICS,
    Direction,
    applicable_metrics,
    headline_metrics,
    metric_of,
    prepare,
    worse_by,
)
from tracing.quality import QUALITY_SEVERITIES
from tracing.report import build_report
from tracing.schema import ModelType, detect_roles, resolve_schema
from tracing.timeline import (
    TABLE_COLUMNS,
    Timeline,
    estimate_disagrees,
    metric_timeline,
    monitoring_schema,
    timeline_json,
)
from tracing.verdict import SAME_TOLERANCE, Status, status
from tracing.vocab import Basis, ExplainSource, Freq, Severity, SuspectKind

# ---------------------------------------------------------------------------------------------
# status


@pytest.mark.parametrize(
    ("value", "reference", "direction", "expected"),
    [
        (0.85, 0.90, Direction.HIGHER_IS_BETTER, Status.WORSE),  # accuracy fell
        (0.95, 0.90, Direction.HIGHER_IS_BETTER, Status.BETTER),
        (0.04, 0.05, Direction.LOWER_IS_BETTER, Status.BETTER),  # false positive rate fell
        (0.06, 0.05, Direction.LOWER_IS_BETTER, Status.WORSE),
        (0.35, 0.30, Direction.NEUTRAL, Status.CHANGED),  # predicted positive rate moved
        (0.25, 0.30, Direction.NEUTRAL, Status.CHANGED),
        (-3.0, 1.0, Direction.TWO_SIDED, Status.WORSE),  # bias grew from 1 to 3
        (0.5, -1.0, Direction.TWO_SIDED, Status.BETTER),
        (1.0, -1.0, Direction.TWO_SIDED, Status.SAME),  # as far from zero
        (0.3, 0.3, Direction.NEUTRAL, Status.SAME),
        (np.nan, 0.9, Direction.HIGHER_IS_BETTER, Status.UNDEFINED),
        (0.9, np.nan, Direction.LOWER_IS_BETTER, Status.UNDEFINED),
        (None, 0.9, Direction.NEUTRAL, Status.UNDEFINED),
    ],
)
def test_status_in_each_direction(value, reference, direction, expected):
    assert status(value, reference, direction) is expected
    assert status(value, reference, direction.value) is expected  # the serialized direction


def test_status_agrees_with_worse_by_in_every_metric_direction():
    for metric in METRICS.values():
        for value, reference in ((0.4, 0.5), (0.6, 0.5), (0.5, 0.5)):
            got = status(value, reference, metric.direction)
            worse = worse_by(value, reference, metric.direction)
            if worse == 0:
                assert got is Status.SAME
            elif metric.direction is Direction.NEUTRAL:
                assert got is Status.CHANGED  # never worse or better
            else:
                assert got is (Status.WORSE if worse > 0 else Status.BETTER)


def test_one_tolerance_rule_relative_above_one_absolute_below():
    tiny = SAME_TOLERANCE / 2
    assert status(0.5 + tiny, 0.5, Direction.HIGHER_IS_BETTER) is Status.SAME
    assert status(0.5 - 4 * SAME_TOLERANCE, 0.5, Direction.HIGHER_IS_BETTER) is Status.WORSE
    big = 1e6
    assert status(big * (1 + tiny), big, Direction.LOWER_IS_BETTER) is Status.SAME
    assert status(big * (1 + 4 * SAME_TOLERANCE), big, "lower") is Status.WORSE


def _prep(base: pd.DataFrame, prod: pd.DataFrame):
    schema = resolve_schema([base, prod], detect_roles(base.columns))
    return prepare(base, schema), prepare(prod, schema)


@pytest.mark.parametrize(
    "frames",
    [
        (make_binary(seed=1), make_binary(seed=2, shift=0.1)),
        (make_multiclass(seed=1), make_multiclass(seed=2)),
        (make_regression(seed=1), make_regression(seed=2)),
    ],
    ids=["binary", "multiclass", "regression"],
)
def test_the_comparison_carries_the_one_verdict(frames):
    table = compare(*_prep(*frames), production_frame=frames[1]).table
    for row in table.itertuples():
        assert row.status == status(row.production, row.baseline, row.direction)
        assert row.estimated_status == status(row.estimated, row.baseline, row.direction)
    assert set(table["status"]) <= set(Status)
    # Serialized as before: the plain strings.
    assert json.loads(json.dumps(list(table["status"]))) == [str(s) for s in table["status"]]


def test_the_estimate_carries_its_verdict_without_actuals():
    base, prod = make_binary(n=3000, seed=1), make_binary(n=1500, seed=2, shift=0.15)
    blind = prod.assign(actual_label=None)
    table = compare(*_prep(base, blind), production_frame=blind).table.set_index("metric")
    assert table["estimated"].notna().any() and (table["status"] == Status.UNDEFINED).all()
    for row in table.itertuples():
        assert row.estimated_status == status(row.estimated, row.baseline, row.direction)
    # More positives predicted in production: a change, never worse or better.
    assert table.loc["positive_rate", "estimated_status"] in (Status.CHANGED, Status.SAME)


# ---------------------------------------------------------------------------------------------
# The timeline: judged periods, and when the estimate disagrees with the measured values


def test_timeline_says_which_periods_were_judged():
    frame = binary_log(40, 200, seed=5, flip={30: 0.4})
    frame.loc[frame.index[:190], "actual_label"] = None  # a first day without actuals
    tl = metric_timeline(frame, schema=monitoring_schema(frame), freq="day", estimate=False)
    t = tl.table
    assert list(t.columns) == list(TABLE_COLUMNS) and t["judged"].dtype == bool
    band = t["expected_low"].notna() & t["expected_high"].notna()
    np.testing.assert_array_equal(t["judged"], band & (t["basis"] != Basis.NONE))
    assert not t["judged"].iloc[:6].any()  # the first day is sparse; then no band yet
    assert t["judged"].iloc[10:].all()
    assert (t["alert"] <= t["judged"]).all()  # only judged periods alert
    assert t["alert"].iloc[30]
    periods = timeline_json(tl)["periods"]
    assert [p["judged"] for p in periods] == t["judged"].tolist()
    assert {p["basis"] for p in periods} == {"actual", "none"}  # serialized as before
    assert tl.freq is Freq.DAY and json.dumps(timeline_json(tl)["freq"]) == '"day"'


def _table(realized, estimated, low, high, *, rows=100, sparse=False) -> pd.DataFrame:
    n = len(realized)
    return pd.DataFrame(
        {
            "metric": realized,
            "estimated": estimated,
            "rows_with_actuals": [rows] * n,
            "sparse": [sparse] * n,
            "expected_low": low,
            "expected_high": high,
        }
    )


def _timeline(table: pd.DataFrame) -> Timeline:
    return Timeline(
        table=table, metric=METRICS["accuracy"], freq=Freq.DAY, band="baseline", k=3.0,
        window=None, min_rows=30,
    )  # fmt: skip


def test_estimate_disagrees_when_the_median_gap_exceeds_the_half_width():
    agree = _table([0.90, 0.91, 0.89], [0.905, 0.90, 0.90], [0.85] * 3, [0.95] * 3)
    assert not estimate_disagrees(_timeline(agree))
    apart = _table([0.70, 0.72, 0.69], [0.90, 0.91, 0.90], [0.85] * 3, [0.95] * 3)
    assert estimate_disagrees(_timeline(apart))
    # Only periods with a measured value (enough rows with actuals) and an estimate count.
    few = _table([0.7] * 3, [0.9] * 3, [0.85] * 3, [0.95] * 3, rows=10)
    assert not estimate_disagrees(_timeline(few))
    sparse = _table([0.7] * 3, [0.9] * 3, [0.85] * 3, [0.95] * 3, sparse=True)
    assert not estimate_disagrees(_timeline(sparse))
    assert not estimate_disagrees(_timeline(_table([0.7], [0.9], [np.nan], [np.nan])))
    # Clipping the band to the metric's range narrows it: then the gap can exceed it.
    wide = _table([0.80] * 3, [0.95] * 3, [0.80] * 3, [1.20] * 3)
    assert not estimate_disagrees(_timeline(wide))
    assert estimate_disagrees(_timeline(wide), bounds=(0.0, 1.0))


def test_estimate_disagrees_on_concept_shift_only():
    base = binary_log(30, 400, seed=1)
    later = START + pd.Timedelta(days=30)
    calm = binary_log(20, 400, seed=2, start=later)
    shifted = binary_log(20, 400, seed=2, start=later, flip=dict.fromkeys(range(20), 0.3))
    for prod, expected in ((calm, False), (shifted, True)):
        schema = monitoring_schema(prod, base)
        tl = metric_timeline(prod, base, schema=schema, metric="accuracy", freq="day")
        assert estimate_disagrees(tl, bounds=(0.0, 1.0)) is expected


# ---------------------------------------------------------------------------------------------
# Headline metrics (the Overview's cards) and metric identity


@pytest.mark.parametrize(
    "frame",
    [
        make_binary(),
        make_binary().drop(columns="prediction_score"),
        make_multiclass(),
        make_regression(),
    ],
    ids=["binary", "binary-no-score", "multiclass", "regression"],
)
def test_headline_metrics_lead_then_the_model_types_applicable_ones(frame):
    schema = resolve_schema([frame], detect_roles(frame.columns))
    available = {m.id for m in applicable_metrics(schema)}
    for lead in applicable_metrics(schema):
        ids = [m.id for m in headline_metrics(schema, lead)]
        assert ids[0] == lead.id and len(ids) == len(set(ids))
        rest = [i for i in HEADLINE_METRICS[schema.model_type] if i in available and i != lead.id]
        assert ids[1:] == rest
    assert "roc_auc" not in available or schema.model_type is ModelType.BINARY


def test_every_headline_id_is_in_the_registry_for_its_model_type():
    for model_type, ids in HEADLINE_METRICS.items():
        for metric_id in ids:
            assert model_type in METRICS[metric_id].model_types


def test_metric_of_resolves_registered_and_per_class_ids():
    assert metric_of("recall") is METRICS["recall"]
    per_class = metric_of("recall:dog")
    assert per_class is not None and per_class.percent and per_class.name == "Recall of class dog"
    assert per_class.direction is Direction.HIGHER_IS_BETTER
    assert metric_of("no_such_metric") is None


def test_registry_fields_replace_id_branches():
    assert METRICS["mape"].undefined_if == "zero_actual"
    assert METRICS["mape"].ratio_stats == ("ape", "n", "zero_actual")
    assert METRICS["mae"].ratio_stats == ("abs_err", "n")
    assert METRICS["f1"].ratio_stats == ()


# ---------------------------------------------------------------------------------------------
# Vocabularies


def test_vocabularies_serialize_to_todays_strings():
    assert [str(s) for s in Status] == ["worse", "better", "same", "changed", "undefined"]
    assert [str(d) for d in Direction] == ["higher", "lower", "two_sided", "neutral"]
    assert [str(d) for d in DriftDirection] == ["higher", "lower"]
    assert [str(b) for b in Basis] == ["actual", "estimated", "none"]
    assert [str(f) for f in Freq] == ["hour", "day", "week"]
    assert [str(s) for s in ExplainSource] == ["auto", "model", "logged", "surrogate"]
    assert list(SuspectKind) == ["new category", "label conflict", "quality", "drift", "slice"]
    for word in (Status.WORSE, Severity.WARN, Direction.HIGHER_IS_BETTER, Freq.DAY):
        assert json.dumps(word) == f'"{word.value}"' and repr(word) == repr(word.value)


def test_direction_names_say_which_way_is_better_or_more_drift():
    # The older names are aliases of the same members, for one release.
    assert Direction.HIGHER is Direction.HIGHER_IS_BETTER
    assert Direction.LOWER is Direction.LOWER_IS_BETTER
    assert DriftDirection.HIGHER is DriftDirection.LARGER_IS_MORE_DRIFT
    assert DriftDirection.LOWER is DriftDirection.SMALLER_IS_MORE_DRIFT
    assert DRIFT_TESTS["psi"].direction is DriftDirection.LARGER_IS_MORE_DRIFT
    assert DRIFT_TESTS["ks"].direction is DriftDirection.SMALLER_IS_MORE_DRIFT


def test_one_severity_scale_across_drift_and_quality():
    assert Severity.NONE < Severity.INFO < Severity.WARN < Severity.ALERT
    assert Severity.INFO < "warn" and Severity.ALERT >= "alert" and not Severity.WARN > "alert"
    assert sorted(["alert", "none", "warn", "info"], key=lambda s: Severity(s).rank) == [
        "none", "info", "warn", "alert",
    ]  # fmt: skip
    assert list(SEVERITIES) == ["none", "warn", "alert"]  # drift's part of the scale
    assert list(QUALITY_SEVERITIES) == ["info", "warn", "alert"]  # quality's part
    assert all(isinstance(s, Severity) for s in (*SEVERITIES, *QUALITY_SEVERITIES))
    rng = np.random.default_rng(0)
    row = drift_between(pd.Series(rng.normal(size=3000)), pd.Series(rng.normal(1, 1, 3000)))
    assert row["severity"] is Severity.ALERT and row["severity"] == "alert"


def test_the_report_names_the_lead_metric_by_id_with_name_as_its_alias():
    analysis = prepare_analysis(make_binary(seed=1), make_binary(seed=2, shift=0.1))
    block = build_report(analysis, sections=["overall"])["metric"]
    assert block["id"] == analysis.metric.id == block["name"]
    assert block["direction"] == "higher" and block["display_name"] == analysis.metric.name
