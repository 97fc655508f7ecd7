"""Which rows are compared (`tracing.rows`): every mode against boolean masks on the raw frames.

The oracle is plain pandas: a window is ``start <= timestamp < end + 1 day`` (dates inclusive),
a model version is ``model_version == v``, and actuals are joined before anything is cut.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_binary
from tracing.actuals import join_actuals_file
from tracing.errors import DataError
from tracing.rows import ComparedRows, RowsSpec, compared_rows

DAY = pd.Timedelta(days=1)


def _log(seed: int, days: int = 30, per_day: int = 24, start: str = "2026-10-01") -> pd.DataFrame:
    """Hourly predictions over ``days`` days, two model versions interleaved, one id per row."""
    frame = make_binary(n=days * per_day, seed=seed)
    frame.insert(1, "timestamp", pd.date_range(start, periods=len(frame), freq="h", tz="UTC"))
    rng = np.random.default_rng(seed)
    frame["model_version"] = rng.choice(["v1", "v2"], len(frame), p=[0.6, 0.4])
    return frame


@pytest.fixture(scope="module")
def prod() -> pd.DataFrame:
    return _log(2)


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return _log(1, start="2026-08-01")


def _days(frame: pd.DataFrame, first: str | None, last: str | None) -> np.ndarray:
    """The oracle of a date window: whole days ``first`` to ``last``, either side open."""
    ts = frame["timestamp"]
    mask = pd.Series(True, index=frame.index)
    if first:
        mask &= ts >= pd.Timestamp(first, tz="UTC")
    if last:
        mask &= ts < pd.Timestamp(last, tz="UTC") + DAY
    return mask.to_numpy()


def _same(got: pd.DataFrame | None, want: pd.DataFrame) -> None:
    assert got is not None
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True))


def test_two_files_are_compared_whole(prod, base) -> None:
    found = compared_rows(prod, base, names=("b.csv", "p.csv"))
    assert isinstance(found, ComparedRows)
    assert found.baseline is base and found.production is prod
    assert found.names == ("b.csv", "p.csv") and found.notes == () and found.join is None
    assert found.timeline_production is prod and found.timeline_baseline is base


def test_two_files_each_cut_by_its_own_window(prod, base) -> None:
    spec = RowsSpec(production_window="2026-10-20,2026-10-26", baseline_window="2026-08-03,")
    found = compared_rows(prod, base, spec=spec, names=("b.csv", "p.csv"))
    _same(found.production, prod[_days(prod, "2026-10-20", "2026-10-26")])
    _same(found.baseline, base[_days(base, "2026-08-03", None)])
    assert len(found.production) == 7 * 24
    assert found.names == ("b.csv [2026-08-03,]", "p.csv [2026-10-20,2026-10-26]")
    # The time series shows all of production, against the cut baseline file.
    assert found.timeline_production is prod
    _same(found.timeline_baseline, base[_days(base, "2026-08-03", None)])


def test_two_files_with_only_a_production_window_keep_the_baseline_whole(prod, base) -> None:
    found = compared_rows(prod, base, spec=RowsSpec(production_window="2026-10-20,"))
    assert found.baseline is base
    _same(found.production, prod[_days(prod, "2026-10-20", None)])


def test_one_file_cut_into_two_windows(prod) -> None:
    week = "2026-10-24,2026-10-30"
    with pytest.raises(DataError, match="--baseline-window '2026-10-01,soon'"):
        RowsSpec(production_window=week, baseline_window="2026-10-01,soon")  # names the option
    spec = RowsSpec(production_window=week, baseline_window="2026-10-01,2026-10-10")
    found = compared_rows(prod, spec=spec, names=("baseline", "p.csv"))
    _same(found.production, prod[_days(prod, "2026-10-24", "2026-10-30")])
    _same(found.baseline, prod[_days(prod, "2026-10-01", "2026-10-10")])
    assert found.names == ("p.csv [2026-10-01,2026-10-10]", "p.csv [2026-10-24,2026-10-30]")
    left_out = len(prod) - (10 + 7) * 24
    assert found.notes == (
        f"p.csv: {left_out:,} rows fall outside both the baseline and production",
    )
    # The band is a rolling one over all of production: no timeline baseline.
    assert found.timeline_production is prod and found.timeline_baseline is None


def test_one_file_production_window_only_takes_every_row_before_it(prod) -> None:
    found = compared_rows(prod, spec=RowsSpec(production_window="2026-10-24,"), names=("", "p"))
    _same(found.production, prod[_days(prod, "2026-10-24", None)])
    _same(found.baseline, prod[_days(prod, None, "2026-10-23")])
    assert found.names == ("p [before 2026-10-24]", "p [2026-10-24,]") and found.notes == ()


def test_one_file_baseline_window_only_makes_every_later_row_production(prod) -> None:
    spec = RowsSpec(baseline_window="2026-10-05,2026-10-14")
    found = compared_rows(prod, spec=spec, names=("", "p"))
    _same(found.baseline, prod[_days(prod, "2026-10-05", "2026-10-14")])
    _same(found.production, prod[_days(prod, "2026-10-15", None)])
    assert found.names == ("p [2026-10-05,2026-10-14]", "p [2026-10-15T00:00:00,]")
    assert found.notes == (f"p: {4 * 24:,} rows fall outside both the baseline and production",)


def test_one_file_without_windows_has_no_baseline(prod) -> None:
    found = compared_rows(prod)
    assert found.baseline is None and found.production is prod
    assert found.timeline_baseline is None and not RowsSpec().one_file


def test_two_model_versions_of_the_production_file(prod) -> None:
    spec = RowsSpec(version_baseline="v1", version_production="v2")
    found = compared_rows(prod, spec=spec, names=("baseline", "p.csv"))
    version = prod["model_version"]
    _same(found.baseline, prod[version == "v1"].drop(columns="model_version"))
    _same(found.production, prod[version == "v2"].drop(columns="model_version"))
    assert found.names == ("p.csv [model_version=v1]", "p.csv [model_version=v2]")
    # The time series: the production version against the baseline version, all days.
    _same(found.timeline_production, prod[version == "v2"].drop(columns="model_version"))
    _same(found.timeline_baseline, prod[version == "v1"].drop(columns="model_version"))


def test_two_model_versions_on_the_same_days(prod) -> None:
    spec = RowsSpec(
        production_window="2026-10-20,2026-10-26", version_baseline="v2", version_production="v1"
    )
    found = compared_rows(prod, spec=spec, names=("baseline", "p.csv"))
    days = _days(prod, "2026-10-20", "2026-10-26")
    version = prod["model_version"]
    _same(found.baseline, prod[days & (version == "v2")].drop(columns="model_version"))
    _same(found.production, prod[days & (version == "v1")].drop(columns="model_version"))
    assert found.names == (
        "p.csv [model_version=v2] [2026-10-20,2026-10-26]",
        "p.csv [model_version=v1] [2026-10-20,2026-10-26]",
    )
    # The time series keeps every day of each version.
    assert len(found.timeline_production) == int((version == "v1").sum())
    assert found.timeline_baseline is not None
    assert len(found.timeline_baseline) == int((version == "v2").sum())


def test_delayed_actuals_are_joined_before_the_windows(prod) -> None:
    # Actuals for the first 20 days only, one of them corrected later.
    first = prod[_days(prod, None, "2026-10-20")]
    actuals = pd.DataFrame(
        {"prediction_id": first["prediction_id"], "actual_label": 1 - first["actual_label"]}
    )
    actuals = pd.concat([actuals, actuals.head(1).assign(actual_label=7)], ignore_index=True)
    unlabelled = prod.drop(columns="actual_label")
    spec = RowsSpec(production_window="2026-10-15,")
    found = compared_rows(
        unlabelled,
        spec=spec,
        names=("", "p.csv"),
        actuals=actuals,
        actuals_name="late.csv",
        roles={"timestamp": "timestamp"},
    )
    joined, report = join_actuals_file(unlabelled, actuals, names=("p.csv", "late.csv"))
    assert found.join == report and report.with_actuals == len(first)
    assert found.notes[: len(report.notes("late.csv"))] == tuple(report.notes("late.csv"))
    _same(found.production, joined[_days(prod, "2026-10-15", None)])
    _same(found.baseline, joined[_days(prod, None, "2026-10-14")])
    assert found.production["actual_label"].isna().sum() == 10 * 24  # no actuals after day 20
    assert found.baseline["actual_label"].iloc[0] == 7  # the later actual won
    pd.testing.assert_frame_equal(found.timeline_production, joined)


def test_delayed_actuals_then_model_versions(prod) -> None:
    actuals = prod[["prediction_id", "actual_label"]].sample(frac=0.5, random_state=0)
    spec = RowsSpec(version_baseline="v1", version_production="v2")
    found = compared_rows(prod.drop(columns="actual_label"), spec=spec, actuals=actuals)
    assert found.join is not None and found.join.with_actuals == len(actuals)
    version = prod["model_version"]
    has = prod["prediction_id"].isin(actuals["prediction_id"])
    assert found.production["actual_label"].notna().sum() == int((has & (version == "v2")).sum())


def test_the_spec_is_frozen_hashable_and_normalised() -> None:
    spec = RowsSpec(production_window="2026-10-20,", baseline_window="")
    assert spec == RowsSpec(production_window="2026-10-20,") and spec.baseline_window is None
    assert hash(spec) == hash(RowsSpec(production_window="2026-10-20,"))
    assert len({spec, RowsSpec(production_window="2026-10-20,"), RowsSpec()}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.production_window = None  # type: ignore[misc]
    assert spec.one_file and not spec.by_version
    assert RowsSpec(version_baseline="a", version_production="b").one_file


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"production_window": "2026-10-20"}, "--production-window '2026-10-20': expected START"),
        ({"baseline_window": "x,"}, "--baseline-window 'x,': 'x' is not a date"),
        ({"production_window": "2026-10-20,2026-10-01"}, "END must be after START"),
        ({"version_baseline": "v1"}, "--baseline-version and --production-version go together"),
        ({"version_production": "v2"}, "give both"),
        (
            {
                "version_baseline": "v1",
                "version_production": "v2",
                "baseline_window": "2026-10-01,",
            },
            "--baseline-window '2026-10-01,' does not apply to two model versions",
        ),
    ],
)
def test_a_bad_spec_fails_at_construction_naming_the_option(kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        RowsSpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"production_window": "2027-01-01,"}, "production window '2027-01-01,' holds no rows"),
        ({"baseline_window": "2026-10-01,"}, "--baseline-window '2026-10-01,' has no END"),
        ({"production_window": ",2026-10-10"}, "has no START"),
        (
            {"production_window": "2026-10-10,", "baseline_window": "2026-10-05,2026-10-12"},
            "overlap",
        ),
        ({"version_baseline": "v1", "version_production": "v1"}, "same version 'v1'"),
        ({"version_baseline": "v1", "version_production": "v9"}, "'v9' is not in 'model_version'"),
        (
            {
                "version_baseline": "v1",
                "version_production": "v2",
                "production_window": "2027-01-01,",
            },
            "p.csv [model_version=v2]: --production-window '2027-01-01,' holds no rows",
        ),
    ],
)
def test_bad_rows_for_the_data_say_why(prod, kwargs, message) -> None:
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compared_rows(prod, spec=RowsSpec(**kwargs), names=("baseline", "p.csv"))


def test_a_window_of_a_file_that_holds_no_rows_names_the_file_and_option(prod, base) -> None:
    spec = RowsSpec(baseline_window="2027-01-01,")
    with pytest.raises(DataError, match="b.csv: --baseline-window '2027-01-01,' holds no rows"):
        compared_rows(prod, base, spec=spec, names=("b.csv", "p.csv"))


def test_versions_and_a_baseline_file_do_not_mix(prod, base) -> None:
    spec = RowsSpec(version_baseline="v1", version_production="v2")
    with pytest.raises(DataError, match="drop the baseline file"):
        compared_rows(prod, base, spec=spec)
