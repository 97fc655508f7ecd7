"""Pure helpers of the UI: traced views, window pickers, colours, tables, charts.

The windows a traced period or "the last 7 days" write are the engine's
(`tracing.windows.trace_windows`, `tracing.windows.last_days_windows`), tested in
tests/test_windows.py.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_scored_log
from tracing.metrics import METRICS, Direction, worse_by
from tracing.timeline import metric_timeline, monitoring_schema
from ui import charts, fmt, tables
from ui.rows import dates_window, window_dates
from ui.state import PAGE_DEFAULTS, View, page_params, trace_period


def test_tracing_keeps_the_baseline_file_or_takes_the_periods_before() -> None:
    start, end = pd.Timestamp("2026-11-02", tz="UTC"), pd.Timestamp("2026-11-03", tz="UTC")
    two_files = View("train.parquet", "prod.parquet", baseline_window="2026-08-01,2026-08-30")
    traced = trace_period(two_files, start, end, "day", before=30)
    assert traced.production_window == "2026-11-02,2026-11-02"
    assert (traced.baseline, traced.baseline_window) == ("train.parquet", "2026-08-01,2026-08-30")
    one_file = View("", "prod.parquet", production_window="2026-11-16,2026-11-22")
    traced = trace_period(one_file, start, end, "day", before=30)
    assert traced.baseline_window == "2026-10-03,2026-11-01"  # the 30 days before
    versions = View("", "prod.parquet", version_baseline="v1", version_production="v2")
    traced = trace_period(versions, start, end, "day", before=30)
    assert traced.by_version and traced.baseline_window is None
    assert traced.production_window == "2026-11-02,2026-11-02"
    hours = trace_period(one_file, start, start + pd.Timedelta(hours=1), "hour", before=24)
    assert hours.production_window == "2026-11-02T00:00:00+00:00,2026-11-02T01:00:00+00:00"
    assert hours.baseline_window == "2026-11-01T00:00:00+00:00,2026-11-02T00:00:00+00:00"
    assert View("a", "b", slice="x=1").with_rows(production_window="2026-11-02,").slice is None


def test_window_dates_for_the_date_pickers() -> None:
    span = (date(2026, 9, 24), date(2026, 11, 22))
    assert window_dates(None, span) == span
    assert window_dates("2026-11-02,2026-11-08", span) == (date(2026, 11, 2), date(2026, 11, 8))
    assert dates_window(*window_dates("2026-11-02,2026-11-08", span)) == "2026-11-02,2026-11-08"
    # An exact window ending at midnight ends the day before; open sides take the span.
    exact = "2026-11-02T00:00:00+00:00,2026-11-03T00:00:00+00:00"
    assert window_dates(exact, span) == (date(2026, 11, 2), date(2026, 11, 2))
    assert window_dates(",2026-10-01", span) == (date(2026, 9, 24), date(2026, 10, 1))
    assert window_dates("2026-01-01,2026-01-05", span) == (span[0], span[0])  # clipped
    assert window_dates("not a window", span) == span


def test_page_params_keep_only_changed_settings_in_url_form() -> None:
    values = {**PAGE_DEFAULTS, "k": 2.5, "window": 14.0, "fold": False, "freq": "day",
              "slice_by": ["b", "a"], "band": "rolling", "other": 1}  # fmt: skip
    assert page_params(values) == {
        "k": "2.5",
        "window": "14",
        "fold": "false",
        "freq": "day",
        "slice_by": ["b", "a"],
        "band": "rolling",
    }
    same = page_params(values, defaults={"slice_by": ["a", "b"], "band": "rolling"})
    assert "slice_by" not in same and "band" not in same
    assert page_params(PAGE_DEFAULTS) == {}


@pytest.mark.parametrize("metric", list(METRICS.values()), ids=list(METRICS))
def test_every_metric_direction_has_words_and_safe_colours(metric) -> None:
    assert fmt.direction_words(metric.direction)
    for value, reference in ((0.4, 0.5), (0.6, 0.5)):
        mode = fmt.delta_color(value, reference, metric.direction)
        if metric.direction is Direction.NEUTRAL:
            assert mode == "blue"  # never red or green
        else:
            worse = worse_by(value, reference, metric.direction) > 0
            shown_red = (mode == "normal") != (value > reference)
            assert mode in ("normal", "inverse") and shown_red == worse
    assert fmt.status_colour_of("changed") == fmt.CHANGED
    assert fmt.CHANGED not in (fmt.WORSE, fmt.BETTER)


def _comparison_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "metric": ["accuracy", "fpr", "positive_rate", "me"],
            "name": ["Accuracy", "False positive rate", "Predicted positive rate", "Mean error"],
            "direction": ["higher", "lower", "neutral", "two_sided"],
            "percent": [True, True, True, False],
            "baseline": [0.9, 0.05, 0.3, 1.0],
            "production": [np.nan] * 4,
            "estimated": [0.85, 0.04, 0.35, np.nan],
            "delta": [np.nan] * 4,
            "worse_by": [np.nan] * 4,
            "status": ["undefined"] * 4,
            "ci_low": [np.nan] * 4,
            "ci_high": [np.nan] * 4,
            "significant": [False] * 4,
            "baseline_reason": [None] * 4,
            "production_reason": ["no actuals"] * 4,
        }
    )


def test_estimated_view_judges_the_estimate_in_each_direction() -> None:
    out = tables.estimated_view(_comparison_rows()).set_index("metric")
    assert list(out["status"]) == ["worse", "better", "changed", "undefined"]
    assert out.loc["accuracy", "delta"] == pytest.approx(-0.05)
    assert out.loc["accuracy", "worse_by"] == pytest.approx(0.05)
    assert out.loc["me", "production_reason"] == "no actuals"
    assert out.loc["accuracy", "production_reason"] is None
    styled = tables.metric_table(_comparison_rows(), estimated=True)
    shown = styled.data
    assert "Estimated in production" in shown and "CI low" not in shown
    assert list(shown["Verdict"][:3]) == [
        "worse (estimated)",
        "better (estimated)",
        "changed (estimated)",
    ]
    css = styled._compute().ctx  # (row, column) -> [(property, value)]
    change = list(shown.columns).index("Change")
    assert ("color", fmt.CHANGED) in css[(2, change)]
    assert ("color", fmt.WORSE) in css[(0, change)]


def test_timeline_frame_and_charts() -> None:
    times = pd.date_range(pd.Timestamp("2026-10-01", tz="UTC"), periods=40 * 24, freq="h")
    frame = make_scored_log(times)
    frame.loc[frame.index[:20], "actual_label"] = None  # a sparse first day
    frame = frame.drop(frame.index[24 : 24 * 2 - 10])  # and a second day with 10 rows
    tl = metric_timeline(frame, schema=monitoring_schema(frame), freq="day", min_rows=12)
    shown = charts.timeline_frame(tl.table, min_rows=tl.min_rows, freq=tl.freq)
    assert shown.loc[1, "status"] == "too few rows" and np.isnan(shown.loc[1, "judged_value"])
    assert np.isnan(shown.loc[1, "realized"])  # ten rows are noise, not a value
    assert (shown["status"] == "alert").sum() == tl.table["alert"].sum()
    assert shown.loc[0, "label"] == "Thu 2026-10-01"
    assert shown["period"].tolist() == [charts.period_key(s) for s in tl.table["start"]]
    for neutral in (False, True):
        spec = charts.timeline_chart(
            shown, metric_name="Accuracy", percent=True, freq="day", neutral=neutral,
            traced=(tl.table["start"][3], tl.table["end"][3]),
        ).to_dict()  # fmt: skip
        names = [p["name"] for p in spec.get("params", [])]  # Altair lifts layer params
        names += [p["name"] for layer in spec["layer"] for p in layer.get("params", [])]
        assert names == [charts.ALERT_PARAM]
    charts.volume_chart(shown, freq="day").to_dict()
