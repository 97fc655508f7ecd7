"""Overview page: metric cards coloured by direction, the metric table, links that open data."""

from __future__ import annotations

import re

import pytest
from streamlit.proto.Metric_pb2 import Metric

from tracing import prepare_analysis, read_table
from tracing.compare import compare
from tracing.metrics import Direction
from tracing.render.markdown import to_markdown
from tracing.report import build_report
from tracing.slices import find_slices
from ui import fmt, tables

from .conftest import DEMO, frame_with


def test_fraud_demo_cards_match_the_engine(app, no_errors) -> None:
    at = app()  # the default page
    no_errors(at)
    assert at.title[0].value == "Did the model get worse, and by how much?"
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    row = compare(a.baseline, a.production).row("recall")
    card = at.metric[0]
    assert card.label == "Recall (lead)"
    assert card.value == f"{row['production']:.1%}"
    assert card.delta.startswith(f"{row['delta'] * 100:+.1f} pts")
    colors = {m.label: Metric.MetricColor.Name(m.proto.color) for m in at.metric}
    # Recall and accuracy fell (worse: red); precision rose and the false positive rate fell
    # (both better: green), each in the metric's own direction.
    assert colors == {
        "Recall (lead)": "RED",
        "Accuracy": "RED",
        "Precision": "GREEN",
        "False positive rate": "GREEN",
    }
    table = frame_with(at, "Metric")
    assert "Recall" in set(table["Metric"])
    assert "got worse" in at.markdown[0].value


@pytest.mark.parametrize(
    ("value", "reference", "direction", "colour"),
    [
        (0.018, 0.020, Direction.LOWER_IS_BETTER, "green"),  # FPR fell: better
        (0.030, 0.020, Direction.LOWER_IS_BETTER, "red"),
        (0.9, 0.8, Direction.HIGHER_IS_BETTER, "green"),
        (0.7, 0.8, Direction.HIGHER_IS_BETTER, "red"),
        (-3.0, 1.0, Direction.TWO_SIDED, "red"),  # |bias| grew from 1 to 3
        (0.5, -2.0, Direction.TWO_SIDED, "green"),  # |bias| shrank, delta positive
        (0.5, 0.5, Direction.HIGHER_IS_BETTER, None),
    ],
)
def test_delta_colour_follows_the_metric_direction(value, reference, direction, colour) -> None:
    mode = fmt.delta_color(value, reference, direction)
    if colour is None:
        assert mode == "off"
        return
    # st.metric: "normal" shows a positive delta green, "inverse" shows it red.
    positive = value > reference
    shown = (
        ("green" if positive else "red") if mode == "normal" else ("red" if positive else "green")
    )
    assert shown == colour


def test_a_link_with_paths_opens_that_analysis(app, no_errors) -> None:
    at = app(
        baseline=str(DEMO / "eta_training.parquet"),
        production=str(DEMO / "eta_production.parquet"),
        prediction="predicted_eta_min",
        actual="actual_eta_min",
    )
    no_errors(at)
    # Was "Mean absolute error (lead)", cut at 1,280 px; the full name is in the tooltip.
    assert at.metric[0].label == "MAE (lead)"
    assert "**Mean absolute error**" in at.metric[0].help
    assert at.query_params["model_type"] == "regression"  # detected, then pinned


def test_a_refused_link_shows_the_reason(app) -> None:
    at = app(baseline="/etc/passwd", production=str(DEMO / "fraud_production.parquet"))
    assert not at.exception
    assert "not inside an allowed data folder" in at.error[0].value


SHARE = re.compile(r"accounts for (\d+\.\d) of the (\d+\.\d)-pt drop in Recall")


def test_headline_drilldown_and_report_give_one_figure_for_the_top_slice(app, no_errors) -> None:
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    report = to_markdown(build_report(a, sections=["overall", "slices"]))
    top = find_slices(a).distinct().iloc[0]
    # An independent figure: the top slice's mix + performance, and the overall change, in pts.
    res = find_slices(a)
    expected = (
        f"{abs(top['mix_effect'] + top['performance_effect']) * 100:.1f}",
        f"{abs(res.overall_metric - res.baseline_overall_metric) * 100:.1f}",
    )
    assert expected == ("69.1", "69.4")  # the figures for the demo

    overview = app()
    no_errors(overview)
    headline = " ".join(m.value for m in overview.markdown)
    drill = app("slices", slice=top["slice_id"])
    no_errors(drill)
    drilled = " ".join(m.value for m in drill.markdown)
    figures = {
        "overview": SHARE.findall(headline),
        "slices": SHARE.findall(drilled),
        "markdown": SHARE.findall(report),
    }
    assert all(found and set(found) == {expected} for found in figures.values()), figures
    assert "merchant\\_id = scammeds.com" in headline or "merchant_id = scammeds.com" in headline
    cards = {m.label: (m.value, m.delta) for m in drill.metric}
    assert cards["Part of the change"][0] == f"-{expected[0]} pts"
    assert cards["Part of the change"][1] == f"of -{expected[1]} pts overall"


def test_metric_table_shows_every_metric_with_marks_and_no_none(app, no_errors) -> None:
    at = app()
    no_errors(at)
    table = frame_with(at, "Verdict")
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    assert len(table) == len(compare(a.baseline, a.production).table)
    styled = tables.metric_table(compare(a.baseline, a.production).table).to_html()
    assert "▼ -69.4 pts" in styled and "▲ +2.7 pts" in styled  # recall worse, precision better
    assert not table["Verdict"].isna().any()


def test_regression_metrics_have_plain_readings_and_a_non_percent_share(app, no_errors) -> None:
    at = app(
        baseline=str(DEMO / "eta_training.parquet"),
        production=str(DEMO / "eta_production.parquet"),
        prediction="predicted_eta_min",
        actual="actual_eta_min",
    )
    no_errors(at)
    meanings = next(e for e in at.expander if e.label == "What these metrics mean")
    text = " ".join(m.value for m in meanings.markdown)
    assert "**R²**" in text and "1 perfect, 0 no better" in text
    assert "Lower is better." in text  # the MAE's direction, in words
    # MAE is a ratio of sums: the top slice's part of the rise in minutes, not in points.
    headline = " ".join(m.value for m in at.markdown)
    assert re.search(
        r"accounts for \d+(\.\d+)? of the rise of \d+(\.\d+)? in Mean absolute", headline
    )


def test_biased_actuals_are_shown_beside_the_metrics(app, no_errors, data_dir) -> None:
    from tests.test_selection import _loans

    base, prod = _loans(4000, 1), _loans(4000, 2)
    prod["actual_label"] = prod["actual_label"].where(prod["prediction_label"] == "approve")
    base.to_parquet(data_dir / "loans_b.parquet")
    prod.to_parquet(data_dir / "loans_p.parquet")
    at = app(
        None,
        baseline=str(data_dir / "loans_b.parquet"),
        production=str(data_dir / "loans_p.parquet"),
        positive_class="approve",
    )
    no_errors(at)
    (warning,) = [w.value for w in at.warning if "Biased actuals" in w.value]
    assert "only rows predicted 'approve'" in warning
    # A random subsample of actuals is only a caption, not a warning.
    prod = _loans(4000, 3)
    prod["actual_label"] = prod["actual_label"].where(prod.index % 2 == 0)
    prod.to_parquet(data_dir / "loans_r.parquet")
    at = app(
        None,
        baseline=str(data_dir / "loans_b.parquet"),
        production=str(data_dir / "loans_r.parquet"),
        positive_class="approve",
    )
    no_errors(at)
    assert not [w for w in at.warning if "Biased actuals" in w.value]
    assert any("spread like the rest" in c.value for c in at.caption)
