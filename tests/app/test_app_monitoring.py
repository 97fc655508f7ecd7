"""Monitoring in the app: the time series and its alerts, tracing an alert, windows, versions,
delayed actuals, production without actuals, and metrics where neither way is better."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.proto.Metric_pb2 import Metric

from tracing import read_table
from tracing.actuals import join_actuals_file
from tracing.analysis import prepare_analysis
from tracing.compare import compare
from tracing.rows import RowsSpec, compared_rows
from tracing.timeline import metric_timeline
from ui import fmt

from .conftest import DEMO, frame_with

TRAIN = "demo_data/monitoring_training.parquet"
PROD = "demo_data/monitoring_production.parquet"
ACTUALS = "demo_data/monitoring_actuals.parquet"
PLANTED_DAYS = [f"2026-10-{d}" for d in (30, 31)] + [f"2026-11-0{d}" for d in range(1, 9)]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {
        "train": read_table(DEMO / "monitoring_training.parquet"),
        "prod": read_table(DEMO / "monitoring_production.parquet"),
        "actuals": read_table(DEMO / "monitoring_actuals.parquet"),
    }


def _alert_days(at) -> list[str]:
    return [p.split()[-1] for p in frame_with(at, "rows_with_actuals")["period"]]


def test_overview_lists_exactly_the_planted_alerts(app, no_errors, frames) -> None:
    at = app(baseline=TRAIN, production=PROD)
    no_errors(at)
    assert "When did it change?" in [h.value for h in at.subheader]
    assert _alert_days(at) == PLANTED_DAYS
    a = prepare_analysis(frames["train"], frames["prod"])
    engine = metric_timeline(frames["prod"], frames["train"], schema=a.schema, metric=a.metric)
    table = frame_with(at, "rows_with_actuals")
    assert table["value"].tolist() == pytest.approx(100 * engine.alerts["metric"].to_numpy())
    assert len(at.get("vega_lite_chart")) >= 2  # the series and the volume
    caption = next(c.value for c in at.caption if "grey band" in c.value)
    assert "baseline's normal range" in caption and "86.0% to 90.4%" in caption


def test_picking_an_alert_traces_that_day(app, no_errors, frames) -> None:
    at = app(baseline=TRAIN, production=PROD)
    at.session_state["alerts_table"] = {"selection": {"rows": [3], "columns": []}}
    at.run()
    no_errors(at)
    assert at.query_params["production_window"] == "2026-11-02,2026-11-02"
    assert at.query_params["baseline"] == TRAIN  # the baseline file stays the baseline
    assert "Tracing **2026-11-02** against the baseline" in at.markdown[0].value
    spec = RowsSpec(production_window="2026-11-02,")
    cut = compared_rows(frames["prod"], frames["train"], spec=spec)
    day = cut.production[cut.production["timestamp"] < "2026-11-03"]
    a = prepare_analysis(frames["train"], day)
    want = compare(a.baseline, a.production).row("accuracy")["production"]
    assert at.metric[0].value == fmt.metric_value(want, a.metric)
    at.switch_page("pages/slices.py").run()
    no_errors(at)
    assert "Tracing **2026-11-02**" in at.markdown[0].value
    assert not at.info or "needs actuals" not in at.info[0].value
    assert "contract = month-to-month" in at.dataframe[0].value["slice"].iloc[0]
    at.switch_page("pages/overview.py").run()
    at.button(key="w_untrace").click().run()
    no_errors(at)
    assert "production_window" not in at.query_params


def test_band_settings_come_from_the_url(app, no_errors, frames) -> None:
    at = app(baseline=TRAIN, production=PROD, band="rolling", window="10", k="2")
    no_errors(at)
    assert at.number_input(key="window").value == 10 and at.number_input(key="k").value == 2
    a = prepare_analysis(frames["train"], frames["prod"])
    engine = metric_timeline(
        frames["prod"], frames["train"], schema=a.schema, metric=a.metric, window=10, k=2
    )
    days = [f"{s:%Y-%m-%d}" for s in engine.alerts["start"]]
    assert _alert_days(at) == days and "2026-10-30" in days
    at.selectbox(key="freq").set_value("week").run()
    no_errors(at)
    assert any("per week" in c.value for c in at.caption)


@pytest.fixture
def no_actuals(data_dir: Path, frames) -> str:
    """The last 10 days of the churn log, without its actual column."""
    prod = frames["prod"]
    last = prod[prod["timestamp"] >= "2026-11-13"].drop(columns=["actual_label"])
    path = data_dir / "last_days.parquet"
    last.reset_index(drop=True).to_parquet(path)
    return str(path)


def test_production_without_actuals(app, no_errors, no_actuals, frames) -> None:
    at = app(baseline=TRAIN, production=no_actuals)
    no_errors(at)
    assert "no actuals yet" in at.markdown[0].value and "estimated" in at.markdown[0].value
    a = prepare_analysis(frames["train"], read_table(no_actuals), require_actuals=False)
    comp = compare(a.baseline, a.production, production_frame=a.production_frame)
    card = at.metric[0]
    assert card.label == "Accuracy (lead)"
    assert card.value == "≈ " + fmt.metric_value(comp.row("accuracy")["estimated"], a.metric)
    table = frame_with(at, "Estimated in production")
    assert table["Verdict"].str.endswith("(estimated)").sum() >= 10
    assert "Predictions" in [h.value for h in at.subheader]  # prediction drift
    at.switch_page("pages/slices.py").run()
    no_errors(at)
    assert "needs actuals" in at.info[0].value and not at.dataframe
    at.switch_page("pages/root_cause.py").run()
    no_errors(at)
    assert "needs actuals" in at.info[0].value
    drift = frame_with(at, "Drift")
    assert "actual" not in set(drift["Role"])  # no actuals is not drift
    assert {"prediction_score", "contract"} <= set(drift["Column"])
    at.switch_page("pages/share.py").run()
    assert at.multiselect(key="w_share_sections").value == ["overall", "drift", "quality"]
    at.button(key="w_build_report").click().run()
    no_errors(at)
    assert [b.label for b in at.get("download_button")][0] == "Download HTML"


def test_data_page_one_file_windows_and_versions(app, no_errors) -> None:
    at = app("data", production=PROD)
    no_errors(at)
    # One file and nothing chosen: the last 7 days against the 30 days before.
    params = at.query_params
    assert (params["production_window"], params["baseline_window"]) == (
        "2026-11-16,2026-11-22",
        "2026-10-17,2026-11-15",
    )
    assert "baseline" not in params
    assert at.radio(key="w_rows_mode").value == "windows"
    at.radio(key="w_baseline_kind").set_value("before").run()
    no_errors(at)
    assert "baseline_window" not in at.query_params
    at.date_input(key="w_production_dates").set_value(
        (pd.Timestamp("2026-11-02").date(), pd.Timestamp("2026-11-08").date())
    ).run()
    no_errors(at)
    assert at.query_params["production_window"] == "2026-11-02,2026-11-08"
    assert "17,500 production rows" in at.success[0].value
    at.radio(key="w_rows_mode").set_value("versions").run()
    no_errors(at)
    assert (at.query_params["version_baseline"], at.query_params["version_production"]) == (
        "v1",
        "v2",
    )
    assert "production_window" not in at.query_params
    assert "model v2 vs v1" in " ".join(c.value for c in at.caption)
    at.selectbox(key="w_version_production").set_value("v1").run()
    assert not at.exception
    assert any("same version" in e.value for e in at.error)  # the engine's message


def test_data_page_joins_delayed_actuals(app, no_errors, frames, fraud_csvs) -> None:
    at = app("data")
    at.selectbox(key="w_demo").set_value("delayed").run()
    no_errors(at)
    assert at.query_params["actuals"] == ACTUALS
    _, report = join_actuals_file(frames["prod"], frames["actuals"])
    cards = {m.label: m.value for m in at.metric}
    assert cards["Predictions with an actual"] == fmt.count(report.with_actuals)
    assert cards["Predictions without"] == fmt.count(report.without_actuals)
    assert cards["Actuals with no prediction"] == fmt.count(report.unmatched_actuals)
    assert cards["Ids with several actuals"] == fmt.count(report.duplicate_actual_ids)
    at.button(key="w_drop_actuals").click().run()
    no_errors(at)
    assert "actuals" not in at.query_params
    upload = frames["actuals"].head(5000).to_csv(index=False).encode()
    at.file_uploader(key="w_upload_actuals").set_value(("late.csv", upload, "text/csv")).run()
    no_errors(at)
    assert at.query_params["actuals"].startswith("ds-")
    assert {m.label: m.value for m in at.metric}["Predictions with an actual"] != cards[
        "Predictions with an actual"
    ]


def test_proxy_actual_and_a_metric_where_neither_way_is_better(app, no_errors) -> None:
    at = app("data")
    at.selectbox(key="w_role_actual").set_value("prediction_label").run()  # the one actual picker
    assert not at.exception
    assert at.query_params["actual"] == "prediction_label"
    at = app(metric="positive_rate")  # the fraud demo, lead metric: predicted positive rate
    no_errors(at)
    assert ":blue[changed]" in at.markdown[0].value and "neither way" in at.markdown[0].value
    lead = at.metric[0]
    assert Metric.MetricColor.Name(lead.proto.color) == "BLUE"
    assert "neither way is better" in at.sidebar.caption[0].value
