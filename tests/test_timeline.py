"""Metric time series: per-period values against brute force, bands, alerts on planted drops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from tests.conftest import make_multiclass, make_regression
from tracing.errors import DataError
from tracing.metrics import Direction, applicable_metrics, get_metric, prepare
from tracing.render.markdown import timeline_section as timeline_markdown
from tracing.report import build_section
from tracing.schema import detect_roles, resolve_schema
from tracing.timeline import (
    DEFAULT_K,
    MIN_BAND_PERIODS,
    TABLE_COLUMNS,
    auto_freq,
    metric_timeline,
    monitoring_schema,
    period_codes,
    period_window,
    timeline_json,
)

START = pd.Timestamp("2026-09-01", tz="UTC")


def binary_log(
    days: int,
    per_day: int,
    seed: int,
    *,
    start: pd.Timestamp = START,
    flip: dict[int, float] | None = None,
) -> pd.DataFrame:
    """Calibrated binary predictions over ``days`` days; ``flip``: day -> share flipped."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    day = np.repeat(np.arange(days), per_day)
    score = rng.beta(0.8, 0.8, n).clip(0.01, 0.99).round(3)
    y = (rng.random(n) < score).astype(int)
    for d, share in (flip or {}).items():
        hit = (day == d) & (rng.random(n) < share)
        y[hit] = 1 - y[hit]
    offset = pd.to_timedelta(day * 86_400 + rng.integers(0, 86_400, n), "s")
    return pd.DataFrame(
        {
            "prediction_id": [f"{seed}-{i}" for i in range(n)],
            "timestamp": start + offset,
            "segment": rng.choice(["a", "b"], n),
            "prediction_score": score,
            "prediction_label": (score >= 0.5).astype(int),
            "actual_label": y,
        }
    )


def regression_log(days: int, per_day: int, seed: int, *, bias: dict[int, float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * per_day
    day = np.repeat(np.arange(days), per_day)
    y = rng.gamma(3, 5, n) + 1
    err = rng.normal(0, 2, n) + np.vectorize(lambda d: bias.get(d, 0.0))(day)
    return pd.DataFrame(
        {
            "timestamp": START + pd.to_timedelta(day * 86_400 + rng.integers(0, 86_400, n), "s"),
            "y_pred": y + err,
            "y_true": y,
        }
    )


def _schema(prod: pd.DataFrame, base: pd.DataFrame | None = None, **kw):
    return monitoring_schema(prod, base, **kw)


# ---------------------------------------------------------------------------------------------
# Planted drops: the alerting periods are exactly the planted ones


# A drop in the second half of the range. With k = 3 a stable period alerts by chance with
# probability ~0.2% (t distribution of a band from 60 baseline periods), so over 25 stable
# periods another seed can add a chance alert: over seeds 1..39 the baseline-band test is exact
# for 19 of 20, the rolling one (band from 14 periods) for 15 of 20. The seed is fixed.
PLANTED = dict.fromkeys(range(18, 23), 0.3)
BASE_DAYS, PROD_DAYS = 60, 30


def _pair(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = binary_log(BASE_DAYS, 1_000, seed=seed)
    later = START + pd.Timedelta(days=BASE_DAYS)
    return base, binary_log(PROD_DAYS, 1_000, seed=seed + 1, start=later, flip=PLANTED)


def test_baseline_band_alerts_exactly_on_the_planted_drop():
    base, prod = _pair(7)
    tl = metric_timeline(prod, base, schema=_schema(prod, base), metric="accuracy")
    assert tl.band == "baseline" and tl.freq == "day"
    assert sorted(tl.alerts.index) == sorted(PLANTED)
    # The drop is real: every planted day sits well under the band.
    assert (tl.table.loc[list(PLANTED), "metric"] < tl.table["expected_low"].iloc[0] - 0.05).all()


def test_rolling_band_alerts_exactly_on_the_planted_drop():
    _, prod = _pair(7)
    tl = metric_timeline(prod, schema=_schema(prod), metric="accuracy", window=14)
    assert tl.band == "rolling" and tl.window == 14
    assert sorted(tl.alerts.index) == sorted(PLANTED)
    # The first MIN_BAND_PERIODS periods have no band yet.
    assert tl.table["expected_low"].iloc[:MIN_BAND_PERIODS].isna().all()
    assert tl.table["expected_low"].iloc[MIN_BAND_PERIODS:].notna().all()


@pytest.mark.parametrize("metric", ["fnr", "log_loss", "brier"])
def test_lower_is_better_metrics_alert_on_increases(metric):
    base, prod = _pair(7)
    schema = _schema(prod, base)
    tl = metric_timeline(prod, base, schema=schema, metric=metric)
    assert get_metric(metric, schema).direction is Direction.LOWER_IS_BETTER
    assert sorted(tl.alerts.index) == sorted(PLANTED)


def test_two_sided_metric_alerts_on_either_side_and_one_sided_only_on_the_worse():
    bias = {18: 3.0, 19: 3.0, 22: -3.0, 23: -3.0}
    base = regression_log(BASE_DAYS, 400, seed=6, bias={})
    prod = regression_log(PROD_DAYS, 400, seed=7, bias=bias)
    schema = _schema(prod, base)
    me = metric_timeline(prod, base, schema=schema, metric="me")
    assert sorted(me.alerts.index) == sorted(bias)
    # MAE (lower is better) rises on all four days; a day that is *better* never alerts.
    mae = metric_timeline(prod, base, schema=schema, metric="mae")
    assert sorted(mae.alerts.index) == sorted(bias)
    better = regression_log(PROD_DAYS, 400, seed=8, bias={})
    better.loc[better.index[:400], "y_pred"] = better["y_true"].iloc[:400]  # day 0: perfect
    tl = metric_timeline(better, base, schema=schema, metric="mae")
    assert tl.table["metric"].iloc[0] == 0 and not tl.table["alert"].iloc[0]
    assert tl.table["metric"].iloc[0] < tl.table["expected_low"].iloc[0]


def test_higher_is_better_metric_does_not_alert_when_it_improves():
    base = binary_log(30, 1_000, seed=9)
    prod = binary_log(20, 1_000, seed=10, start=START + pd.Timedelta(days=30))
    prod.loc[prod.index[:1_000], "actual_label"] = prod["prediction_label"].iloc[:1_000]
    tl = metric_timeline(prod, base, schema=_schema(prod, base), metric="accuracy")
    assert tl.table["metric"].iloc[0] == 1.0 > tl.table["expected_high"].iloc[0]
    assert not tl.table["alert"].any()


def test_sparse_periods_are_marked_not_judged():
    base = binary_log(30, 1_000, seed=11)
    prod = binary_log(10, 1_000, seed=12, start=START + pd.Timedelta(days=30))
    # Day 3 keeps 20 rows, all wrong: terrible but too small to judge.
    day3 = prod.index[prod["timestamp"].dt.day == prod["timestamp"].dt.day.unique()[3]]
    prod = prod.drop(day3[20:])
    prod.loc[day3[:20], "actual_label"] = 1 - prod.loc[day3[:20], "prediction_label"]
    tl = metric_timeline(prod, base, schema=_schema(prod, base), estimate=False)
    row = tl.table.iloc[3]
    assert row["rows"] == 20 and row["metric"] == 0.0
    assert row["sparse"] and not row["alert"] and row["basis"] == "none"
    assert tl.table["sparse"].sum() == 1


# ---------------------------------------------------------------------------------------------
# Per-period values against brute force


def _brute(frame, schema, metric, freq_floor):
    out = {}
    for start, part in frame.groupby(frame["timestamp"].dt.floor(freq_floor)):
        out[start] = get_metric(metric.id, schema).compute(prepare(part, schema))
    return pd.Series(out)


@pytest.mark.parametrize(
    "metric", [m.id for m in applicable_metrics(_schema(binary_log(1, 10, 0)))]
)
def test_binary_metric_per_period_equals_recomputing_each_period(metric):
    prod = binary_log(12, 150, seed=13)
    schema = _schema(prod)
    tl = metric_timeline(prod, schema=schema, metric=metric, freq="day", estimate=False)
    expected = _brute(prod, schema, tl.metric, "D")
    np.testing.assert_allclose(tl.table["metric"], expected.to_numpy(), rtol=1e-9)


def test_rank_metrics_per_period_equal_scikit_learn():
    prod = binary_log(8, 200, seed=14)
    schema = _schema(prod)
    tl = metric_timeline(prod, schema=schema, metric="roc_auc", freq="day", estimate=False)
    for i, (_, part) in enumerate(prod.groupby(prod["timestamp"].dt.floor("D"))):
        want = skm.roc_auc_score(part["actual_label"], part["prediction_score"])
        assert tl.table["metric"].iloc[i] == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("metric", ["mae", "rmse", "r2", "mape", "me"])
def test_regression_metric_per_period(metric):
    frame = make_regression(n=600, seed=3)
    frame["timestamp"] = START + pd.to_timedelta(np.arange(600) * 997, "s")
    schema = _schema(frame)
    tl = metric_timeline(frame, schema=schema, metric=metric, freq="hour")
    expected = _brute(frame, schema, tl.metric, "h")
    np.testing.assert_allclose(tl.table["metric"], expected.to_numpy(), rtol=1e-9)
    assert tl.table["estimated"].isna().all()  # no estimate for regression


def test_multiclass_per_period_accuracy_and_counts():
    frame = make_multiclass(n=500, seed=4)
    frame["timestamp"] = START + pd.to_timedelta(np.arange(500) * 1_800, "s")
    frame.loc[frame.index[::7], "actual"] = None
    schema = _schema(frame)
    tl = metric_timeline(frame, schema=schema, metric="macro_f1", freq="day")
    groups = frame.groupby(frame["timestamp"].dt.floor("D"))
    assert tl.table["rows"].tolist() == groups.size().tolist()
    assert tl.table["rows_with_actuals"].tolist() == groups["actual"].count().tolist()
    for i, (_, part) in enumerate(groups):
        part = part.dropna(subset=["actual"])
        want = skm.f1_score(part["actual"], part["predicted"], average="macro", zero_division=0)
        assert tl.table["metric"].iloc[i] == pytest.approx(want, abs=1e-12)


def test_table_columns_and_empty_periods_are_listed():
    prod = binary_log(10, 100, seed=15)
    prod = prod[prod["timestamp"].dt.day != prod["timestamp"].dt.day.unique()[4]]  # a gap
    tl = metric_timeline(prod, schema=_schema(prod), freq="day")
    assert tuple(tl.table.columns) == TABLE_COLUMNS
    assert len(tl.table) == 10
    gap = tl.table.iloc[4]
    assert gap["rows"] == 0 and gap["sparse"] and np.isnan(gap["metric"])
    assert (tl.table["end"] - tl.table["start"] == pd.Timedelta(days=1)).all()
    assert tl.table["rows"].sum() == len(prod)


# ---------------------------------------------------------------------------------------------
# Bands


def test_baseline_band_is_mean_plus_minus_k_std_of_baseline_periods():
    base = binary_log(20, 300, seed=16)
    prod = binary_log(5, 300, seed=17, start=START + pd.Timedelta(days=20))
    schema = _schema(prod, base)
    tl = metric_timeline(prod, base, schema=schema, metric="recall", k=2.0)
    per_day = _brute(base, schema, tl.metric, "D")
    mean, std = per_day.mean(), per_day.std(ddof=1)
    assert tl.table["expected_low"].iloc[0] == pytest.approx(mean - 2 * std)
    assert tl.table["expected_high"].iloc[0] == pytest.approx(mean + 2 * std)
    assert tl.baseline_table is not None and len(tl.baseline_table) == 20


def test_rolling_band_uses_the_previous_window_periods_that_did_not_alert():
    prod = binary_log(40, 300, seed=18)
    tl = metric_timeline(prod, schema=_schema(prod), metric="accuracy", window=6, k=1.0)
    values = tl.table["metric"].to_numpy()
    alerts = tl.table["alert"].to_numpy()
    assert 3 <= alerts.sum() <= 20  # k = 1 alerts often, so exclusions are exercised
    for t in range(6, 40):
        prev = values[t - 6 : t][~alerts[t - 6 : t]]
        low = tl.table["expected_low"].iloc[t]
        if len(prev) < MIN_BAND_PERIODS:
            assert np.isnan(low)
        else:
            assert low == pytest.approx(prev.mean() - prev.std(ddof=1))
            assert alerts[t] == (values[t] < low)


def test_a_lasting_drop_alerts_for_about_a_window_then_becomes_normal():
    flip = dict.fromkeys(range(20, 60), 0.3)
    prod = binary_log(60, 1_000, seed=33, flip=flip)
    tl = metric_timeline(prod, schema=_schema(prod), metric="accuracy", window=10)
    alerts = np.flatnonzero(tl.table["alert"].to_numpy())
    # It alerts while at least MIN_BAND_PERIODS normal periods remain in the window...
    assert alerts[alerts < 40].tolist() == list(range(20, 20 + 10 - MIN_BAND_PERIODS + 1))
    # ...then the new level becomes the band (a chance alert later is possible at k = 3).
    assert tl.table["expected_high"].iloc[40] < 0.7 < tl.table["metric"].iloc[:20].min()


def test_default_band_without_baseline_is_rolling_with_the_default_window():
    prod = binary_log(10, 100, seed=19)
    tl = metric_timeline(prod, schema=_schema(prod))
    assert tl.band == "rolling" and tl.window == 30 and tl.k == DEFAULT_K


def test_too_few_baseline_periods_gives_no_band_and_says_why():
    base = binary_log(3, 300, seed=20)
    prod = binary_log(5, 300, seed=21, start=START + pd.Timedelta(days=3))
    tl = metric_timeline(prod, base, schema=_schema(prod, base), freq="day")
    assert tl.band == "none" and not tl.table["alert"].any()
    assert any("no band" in n for n in tl.notes)


# ---------------------------------------------------------------------------------------------
# Periods and granularity


@pytest.mark.parametrize(
    ("span", "freq"),
    [
        (pd.Timedelta(hours=10), "hour"),
        (pd.Timedelta(days=2, hours=23), "hour"),
        (pd.Timedelta(days=3), "day"),
        (pd.Timedelta(days=179), "day"),
        (pd.Timedelta(days=180), "week"),
    ],
)
def test_auto_freq_rule(span, freq):
    assert auto_freq(pd.Series([START, START + span])) == freq


def test_weeks_start_on_monday_and_days_follow_the_local_clock():
    times = pd.Series(pd.date_range("2026-11-04 13:00", periods=20, freq="17h", tz="UTC"))
    codes, starts = period_codes(times, "week")
    assert (starts.day_of_week == 0).all() and (starts.hour == 0).all()
    assert str(starts[0].date()) == "2026-11-02"
    berlin = pd.Series(pd.date_range("2026-10-24", periods=72, freq="2h", tz="Europe/Berlin"))
    codes, starts = period_codes(berlin, "day")  # spans the end of summer time (Oct 25)
    assert (starts.hour == 0).all() and len(starts) == 6
    assert np.array_equal(codes, (berlin.dt.day - 24).to_numpy())


@given(
    offsets=st.lists(st.integers(0, 40 * 86_400), min_size=1, max_size=60),
    freq=st.sampled_from(["hour", "day", "week"]),
)
@settings(max_examples=60, deadline=None)
def test_period_codes_match_pandas_floor(offsets, freq):
    times = pd.Series(START + pd.to_timedelta(offsets, "s"))
    codes, starts = period_codes(times, freq)
    floor = times.dt.floor("h" if freq == "hour" else "D")
    if freq == "week":
        floor = floor - pd.to_timedelta(floor.dt.day_of_week, "D")
    assert (starts[codes] == pd.DatetimeIndex(floor)).all()
    assert codes.min() == 0 and len(starts) == codes.max() + 1


def test_rows_without_timestamp_are_counted():
    prod = binary_log(5, 100, seed=22)
    prod["timestamp"] = prod["timestamp"].astype(object)
    prod.loc[prod.index[:7], "timestamp"] = None
    tl = metric_timeline(prod, schema=_schema(prod))
    assert tl.table["rows"].sum() == len(prod) - 7
    assert any("7 rows have no readable 'timestamp'" in n for n in tl.notes)


def test_string_timestamps_are_cut_at_local_midnight():
    prod = binary_log(4, 100, seed=23)
    local = prod["timestamp"].dt.tz_convert("America/New_York")
    prod["timestamp"] = local.astype(str)  # "2026-09-01 02:13:20-04:00"
    tl = metric_timeline(prod, schema=_schema(prod), freq="day")
    per_local_day = local.dt.date.value_counts().sort_index()
    assert tl.table["rows"].tolist() == per_local_day.tolist()
    assert (tl.table["start"].dt.hour == 0).all()
    assert tl.table["start"].dt.date.tolist() == per_local_day.index.tolist()


# ---------------------------------------------------------------------------------------------
# Estimates, inputs, errors


def test_production_without_actuals_is_judged_on_the_estimate():
    base = binary_log(30, 1_000, seed=24)
    prod = binary_log(10, 1_000, seed=25, start=START + pd.Timedelta(days=30))
    schema = _schema(prod.drop(columns="actual_label"), base)
    tl = metric_timeline(prod.drop(columns="actual_label"), base, schema=schema)
    assert tl.table["metric"].isna().all() and (tl.table["rows_with_actuals"] == 0).all()
    assert (tl.table["basis"] == "estimated").all() and not tl.table["sparse"].any()
    realized = metric_timeline(prod, base, schema=schema).table["metric"]
    assert np.abs(tl.table["estimated"] - realized).max() < 0.03


def test_partly_labeled_periods_prefer_the_estimate():
    base = binary_log(30, 1_000, seed=26)
    prod = binary_log(4, 1_000, seed=27, start=START + pd.Timedelta(days=30))
    day = (prod["timestamp"] - prod["timestamp"].min()).dt.days
    prod.loc[(day == 3) & (prod.index % 10 != 0), "actual_label"] = None  # 10% labeled
    prod["actual_label"] = prod["actual_label"].astype("Int64")
    tl = metric_timeline(prod, base, schema=_schema(prod, base))
    assert tl.table["basis"].tolist() == ["actual", "actual", "actual", "estimated"]


def test_timestamp_errors_name_the_column_and_the_fix():
    prod = binary_log(3, 50, seed=28).drop(columns="timestamp")
    with pytest.raises(DataError, match="no timestamp column found; name it with --timestamp"):
        metric_timeline(prod, schema=_schema(prod))
    base = binary_log(3, 50, seed=29).drop(columns="timestamp")
    prod = binary_log(3, 50, seed=30)
    with pytest.raises(DataError, match="--window N"):
        metric_timeline(prod, base, schema=_schema(prod, base))
    with pytest.raises(DataError, match="unknown period 'month'"):
        metric_timeline(prod, schema=_schema(prod), freq="month")
    with pytest.raises(DataError, match="does not fit"):
        metric_timeline(prod, schema=_schema(prod), metric="mae")


def test_monitoring_schema_accepts_production_without_actuals():
    base = binary_log(2, 50, seed=31)
    prod = base.drop(columns="actual_label")
    schema = monitoring_schema(prod, base)
    assert schema.roles.actual_label == "actual_label" and schema.positive_class == 1
    assert "actual_label" not in schema.roles.features
    explicit = resolve_schema([base], detect_roles(base.columns))
    assert schema.model_type is explicit.model_type


def test_json_and_markdown():
    base, prod = _pair(7)
    tl = metric_timeline(prod, base, schema=_schema(prod, base), metric="accuracy")
    out = timeline_json(tl)
    assert {"metric", "freq", "periods"} <= set(out)
    keys = {"start", "end", "rows", "rows_with_actuals", "metric", "estimated"}
    assert all(keys | {"expected_low", "expected_high", "alert"} <= set(p) for p in out["periods"])
    assert out["periods"][0]["start"] == "2026-10-31T00:00:00+00:00"
    assert len(out["alerts"]) == len(PLANTED)
    lines = timeline_markdown(out)
    assert sum(line.startswith("| 2026-") for line in lines) == len(PLANTED)


def test_report_section_skips_data_without_timestamps(binary_pair):
    from tracing.analysis import prepare_analysis

    analysis = prepare_analysis(*binary_pair)
    section = build_section("timeline", analysis)
    assert "skipped" in section and "timestamp" in section["skipped"]
    assert timeline_markdown(section)[-1].startswith("Skipped:")


def test_an_alerting_period_can_be_traced_as_a_production_window():
    from tracing.windows import split_by_windows

    base, prod = _pair(7)
    tl = metric_timeline(prod, base, schema=_schema(prod, base), metric="accuracy")
    first = int(tl.alerts.index[0])
    split = split_by_windows(prod, production=period_window(tl, first))
    assert len(split.production) == tl.table["rows"].iloc[first]
    assert split.production["timestamp"].dt.floor("D").nunique() == 1
