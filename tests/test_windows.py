"""Baselines from one file: date windows, last N days vs the M before, model versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO, make_binary, make_scored_log
from tracing.analysis import prepare_analysis
from tracing.errors import DataError
from tracing.io import read_table
from tracing.timeline import metric_timeline, monitoring_schema, period_codes, period_window
from tracing.windows import (
    last_days,
    last_days_windows,
    model_versions,
    parse_timestamps,
    parse_window,
    period_text,
    split_by_version,
    split_by_windows,
    trace_windows,
    window_mask,
)


def _log(days: int = 30, per_day: int = 20, seed: int = 0, tz: str | None = "UTC") -> pd.DataFrame:
    frame = make_binary(n=days * per_day, seed=seed)
    start = pd.Timestamp("2026-10-01", tz=tz)
    rng = np.random.default_rng(seed)
    offsets = np.repeat(np.arange(days), per_day) * 86_400 + rng.integers(0, 86_400, len(frame))
    frame.insert(1, "timestamp", start + pd.to_timedelta(offsets, "s"))
    return frame


# ---------------------------------------------------------------------------------------------
# Window syntax


def test_date_windows_include_the_end_day():
    w = parse_window("2026-11-16,2026-11-22")
    assert w.start == pd.Timestamp("2026-11-16") and w.end == pd.Timestamp("2026-11-23")


def test_time_bounds_are_exact_and_end_is_exclusive():
    w = parse_window("2026-11-16T06:00,2026-11-16T18:00")
    assert w.end - w.start == pd.Timedelta(hours=12)
    times = pd.Series(pd.to_datetime(["2026-11-16 06:00", "2026-11-16 17:59", "2026-11-16 18:00"]))
    assert window_mask(times, w).tolist() == [True, True, False]


def test_open_sides():
    assert parse_window(",2026-10-31").start is None
    assert parse_window("2026-10-31,").end is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-16", "expected START,END"),
        (",", "expected START,END"),
        ("2026-11-16,yesterday", "'yesterday' is not a date"),
        ("2026-11-22,2026-11-16", "END must be after START"),
        ("2026-11-16T10:00,2026-11-16T10:00", "END must be after START"),
    ],
)
def test_bad_windows_say_how_to_write_them(text, message):
    with pytest.raises(DataError, match=message):
        parse_window(text)


def test_a_single_day_window_is_that_whole_day():
    w = parse_window("2026-11-16,2026-11-16")
    assert w.end - w.start == pd.Timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# Splitting a file


def test_split_matches_a_brute_force_date_filter():
    frame = _log()
    split = split_by_windows(
        frame, production="2026-10-24,2026-10-30", baseline="2026-10-01,2026-10-20"
    )
    day = frame["timestamp"].dt.strftime("%Y-%m-%d")
    want_prod = frame[(day >= "2026-10-24") & (day <= "2026-10-30")].reset_index(drop=True)
    want_base = frame[(day >= "2026-10-01") & (day <= "2026-10-20")].reset_index(drop=True)
    pd.testing.assert_frame_equal(split.production, want_prod)
    pd.testing.assert_frame_equal(split.baseline, want_base)
    outside = len(frame) - len(want_prod) - len(want_base)
    assert split.notes == (
        f"data: {outside:,} rows fall outside both the baseline and production",
    )
    assert split.names == ("data [2026-10-01,2026-10-20]", "data [2026-10-24,2026-10-30]")


def test_default_baseline_is_everything_before_production():
    frame = _log()
    split = split_by_windows(frame, production="2026-10-24,", name="log.parquet")
    assert len(split.baseline) + len(split.production) == len(frame)
    assert split.baseline["timestamp"].max() < pd.Timestamp("2026-10-24", tz="UTC")
    assert split.production["timestamp"].min() >= pd.Timestamp("2026-10-24", tz="UTC")
    assert split.names == ("log.parquet [before 2026-10-24]", "log.parquet [2026-10-24,]")
    assert split.notes == ()


def test_split_frames_feed_prepare_analysis():
    frame = _log()
    split = split_by_windows(frame, production="2026-10-24,")
    analysis = prepare_analysis(split.baseline, split.production, names=split.names)
    assert analysis.production.n_rows == len(split.production)
    assert analysis.names == split.names


def test_naive_bounds_are_read_in_the_column_zone():
    frame = _log(days=3, tz="America/New_York")
    split = split_by_windows(frame, production="2026-10-03,2026-10-03")
    local_day = frame["timestamp"].dt.day
    assert len(split.production) == int((local_day == 3).sum())
    aware = split_by_windows(frame, production="2026-10-03T04:00Z,")  # 00:00 in New York
    assert len(aware.production) == len(split.production)


def test_rows_without_timestamp_are_counted_not_dropped_silently():
    frame = _log()
    frame["timestamp"] = frame["timestamp"].astype(object)
    frame.loc[frame.index[:5], "timestamp"] = None
    split = split_by_windows(frame, production="2026-10-24,")
    assert len(split.baseline) + len(split.production) == len(frame) - 5
    assert "5 rows have no readable 'timestamp'" in split.notes[0]


@pytest.mark.parametrize(
    ("production", "baseline", "message"),
    [
        ("2027-01-01,2027-01-31", None, "production window '2027-01-01,2027-01-31' holds no rows"),
        ("2026-10-20,", "2026-10-15,2026-10-25", "overlap"),
        (",2026-10-20", None, "has no START"),
        ("2026-10-20,", "2025-01-01,2025-01-31", "baseline window '2025-01-01,2025-01-31'"),
    ],
)
def test_window_errors(production, baseline, message):
    with pytest.raises(DataError, match=message):
        split_by_windows(_log(), production=production, baseline=baseline)


def test_empty_window_message_shows_the_data_span():
    with pytest.raises(DataError, match=r"spans 2026-10-01 .* 2026-10-30"):
        split_by_windows(_log(), production="2027-01-01,")


def test_missing_timestamp_column():
    frame = make_binary(n=50)
    with pytest.raises(DataError, match="no timestamp column found; name it with --timestamp"):
        split_by_windows(frame, production="2026-10-01,")
    with pytest.raises(DataError, match="timestamp column 'when' is not in the file"):
        split_by_windows(frame, production="2026-10-01,", timestamp="when")


@given(
    offsets=st.lists(st.integers(0, 20 * 86_400), min_size=1, max_size=40),
    a=st.integers(0, 20 * 24),
    b=st.integers(1, 20 * 24),
)
@settings(max_examples=80, deadline=None)
def test_window_mask_is_start_inclusive_end_exclusive(offsets, a, b):
    start = pd.Timestamp("2026-10-01")
    times = pd.Series(start + pd.to_timedelta(offsets, "s"))
    lo, hi = start + pd.Timedelta(hours=a), start + pd.Timedelta(hours=a + b)
    w = parse_window(f"{lo.isoformat()},{hi.isoformat()}")
    want = [(lo <= t) and (t < hi) for t in times]
    assert window_mask(times, w).tolist() == want


# ---------------------------------------------------------------------------------------------
# Last N days vs the M days before


def test_last_days_counts_whole_calendar_days():
    frame = _log(days=61)
    split = last_days(frame, days=7, before=30)
    day = frame["timestamp"].dt.floor("D")
    last = day.max()
    assert split.production["timestamp"].dt.floor("D").nunique() == 7
    assert split.baseline["timestamp"].dt.floor("D").nunique() == 30
    assert len(split.production) == int((day > last - pd.Timedelta(days=7)).sum())
    gap = split.production["timestamp"].min().floor("D") - split.baseline["timestamp"].max()
    assert pd.Timedelta(0) < gap <= pd.Timedelta(days=1)
    assert split.names == ("data [2026-10-25,2026-11-23]", "data [2026-11-24,2026-11-30]")


def test_last_days_on_the_monitoring_demo():
    frame = read_table(DEMO / "monitoring_production.parquet")
    split = last_days(frame, days=7, before=30, name="monitoring_production.parquet")
    assert len(split.production) == 7 * 2_500 and len(split.baseline) == 30 * 2_500
    assert split.names == (
        "monitoring_production.parquet [2026-10-17,2026-11-15]",
        "monitoring_production.parquet [2026-11-16,2026-11-22]",
    )


def test_last_days_needs_positive_lengths():
    with pytest.raises(DataError, match="days >= 1"):
        last_days(_log(), days=0)


# ---------------------------------------------------------------------------------------------
# Model versions


def _versions() -> pd.DataFrame:
    frame = _log(days=4)
    frame["model_version"] = np.where(np.arange(len(frame)) % 3 == 0, "v2", "v1")
    return frame


def test_two_versions_default_to_first_seen_as_baseline():
    frame = _versions()
    assert model_versions(frame) == ["v2", "v1"]
    split = split_by_version(frame)
    assert (
        split.baseline["prediction_id"]
        == frame.loc[frame.model_version == "v2"].reset_index(drop=True)["prediction_id"]
    ).all()
    assert "model_version" not in split.production.columns
    assert split.names == ("data [model_version=v2]", "data [model_version=v1]")
    assert "model_version identifies the two parts" in split.notes[0]


def test_explicit_versions_match_as_text():
    frame = _versions()
    frame["model_version"] = np.where(frame["model_version"] == "v2", 2, 1)
    split = split_by_version(frame, baseline="1", production=2)
    assert len(split.baseline) == int((frame.model_version == 1).sum())
    assert len(split.production) == int((frame.model_version == 2).sum())


def test_version_errors_list_the_versions():
    frame = _versions()
    with pytest.raises(DataError, match="'v3' is not in 'model_version'; choose from: v2, v1"):
        split_by_version(frame, baseline="v1", production="v3")
    frame.loc[frame.index[:3], "model_version"] = "v3"
    with pytest.raises(DataError, match=r"choose the baseline and production versions .*v3"):
        split_by_version(frame)
    with pytest.raises(DataError, match="no model version column 'release'"):
        split_by_version(frame, column="release")


def test_versions_on_the_monitoring_demo_compare_on_the_same_days():
    frame = read_table(DEMO / "monitoring_production.parquet")
    split = split_by_version(frame, baseline="v1", production="v2")
    analysis = prepare_analysis(split.baseline, split.production, names=split.names)
    acc_v1 = analysis.metric.compute(analysis.baseline)
    acc_v2 = analysis.metric.compute(analysis.production)
    assert analysis.metric.id == "accuracy" and acc_v2 > acc_v1 + 0.01  # v2 is the better model
    assert split.baseline["timestamp"].dt.floor("D").nunique() == 60
    assert split.production["timestamp"].dt.floor("D").nunique() == 60


# ---------------------------------------------------------------------------------------------
# Timestamps


def test_parse_timestamps_forms():
    secs = pd.Series([1_790_000_000, None], dtype="Int64")
    assert str(parse_timestamps(secs).iloc[0]) == "2026-09-21 14:13:20+00:00"
    millis = pd.Series([1_790_000_000_000.0])
    assert parse_timestamps(millis).iloc[0] == parse_timestamps(secs).iloc[0]
    mixed = pd.Series(["2026-11-16T08:00:00+01:00", "2026-11-16T08:00:00-05:00"])
    parsed = parse_timestamps(mixed)
    assert parsed.iloc[1] - parsed.iloc[0] == pd.Timedelta(hours=6)
    partly = parse_timestamps(pd.Series(["2026-11-16", "not a date"]))
    assert partly.isna().tolist() == [False, True]
    with pytest.raises(DataError, match="column 'when' has no date/time values"):
        parse_timestamps(pd.Series(["soon", "later"], name="when"))


# ---------------------------------------------------------------------------------------------
# Windows as text: a traced period, the last days (the app writes them into links).
# The engine is the oracle: such a window must select exactly the rows the engine's own cut
# selects (the timeline's periods, `last_days`).


def _selects(frame: pd.DataFrame, window: str) -> np.ndarray:
    return window_mask(parse_timestamps(frame["timestamp"]), parse_window(window))


@pytest.mark.parametrize(
    ("tz", "freq", "step"),
    [
        ("UTC", "day", "37min"),
        (None, "day", "37min"),
        ("Europe/Berlin", "day", "23min"),  # spans the end of daylight saving time
        ("Europe/Berlin", "hour", "7min"),
        ("UTC", "week", "3h"),
    ],
)
def test_a_traced_period_selects_exactly_the_period(tz, freq, step) -> None:
    start = pd.Timestamp("2026-10-20", tz=tz)
    span = {"day": "12D", "hour": "30h", "week": "60D"}[freq]
    frame = make_scored_log(pd.date_range(start, start + pd.Timedelta(span), freq=step))
    tl = metric_timeline(frame, schema=monitoring_schema(frame), freq=freq, estimate=False)
    codes, _ = period_codes(parse_timestamps(frame["timestamp"]), freq)
    for i in range(len(tl.table)):
        row = tl.table.iloc[i]
        text = period_text(row["start"], row["end"], freq)
        mine = _selects(frame, text)
        np.testing.assert_array_equal(mine, codes == i)  # the rows the timeline counted
        assert mine.sum() == row["rows"]
        # period_window ends at the next wall-clock midnight, across DST changes too.
        np.testing.assert_array_equal(mine, _selects(frame, period_window(tl, i)))
        if freq != "hour":
            assert "T" not in text  # whole days read as dates in a link


@pytest.mark.parametrize("tz", ["UTC", None])
def test_last_days_windows_cut_like_the_engine(tz) -> None:
    frame = make_scored_log(
        pd.date_range(pd.Timestamp("2026-09-01 05:00", tz=tz), periods=2000, freq="41min")
    )
    split = last_days(frame, days=7, before=30)
    last = parse_timestamps(frame["timestamp"]).max().date()
    prod, base = last_days_windows(last)
    assert _selects(frame, prod).sum() == len(split.production)
    assert _selects(frame, base).sum() == len(split.baseline)
    assert split.names == (f"data [{base}]", f"data [{prod}]")


def test_trace_windows_take_the_period_and_the_periods_just_before() -> None:
    start, end = pd.Timestamp("2026-11-02", tz="UTC"), pd.Timestamp("2026-11-03", tz="UTC")
    assert trace_windows(start, end, "day", before=30) == (
        "2026-11-02,2026-11-02",
        "2026-10-03,2026-11-01",
    )
    assert trace_windows(start, start + pd.Timedelta(hours=1), "hour", before=24) == (
        "2026-11-02T00:00:00+00:00,2026-11-02T01:00:00+00:00",
        "2026-11-01T00:00:00+00:00,2026-11-02T00:00:00+00:00",
    )
    week = trace_windows("2026-11-02", "2026-11-09", "week", before=2)
    assert week == ("2026-11-02,2026-11-08", "2026-10-19,2026-11-01")
    for text in week:
        parse_window(text)  # valid windows


def test_last_days_windows_reject_empty_ranges() -> None:
    with pytest.raises(DataError, match="days >= 1 and before >= 1"):
        last_days_windows(pd.Timestamp("2026-11-30").date(), days=0)
