"""Slices page: the planted slice ranks first; a slice in the URL opens its drilldown."""

from __future__ import annotations

from tracing import prepare_analysis, read_table
from tracing.slices import find_slices
from ui import fmt

from .conftest import DEMO

PLANTED = "state=CA&merchant_category=online%20pharmacy&merchant_id=scammeds.com"


def test_planted_slice_is_first_and_matches_the_engine(app, no_errors) -> None:
    at = app("slices")
    no_errors(at)
    assert at.title[0].value == "Which slices pull performance down?"
    shown = at.dataframe[0].value
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    top = find_slices(a, top=40).distinct().iloc[0]
    assert shown.iloc[0]["slice"] == fmt.conditions_text(top["conditions"])
    assert "merchant_id = scammeds.com" in shown.iloc[0]["slice"]  # the planted merchant
    assert shown.iloc[0]["rows"] == top["size"] == 3000
    assert abs(shown.iloc[0]["impact"] - 100 * top["impact"]) < 1e-9  # shown in points
    assert "Select a row" in at.info[0].value
    # The slice and the ranking lead the table (they were 1st and 6th: cut off at 1,280 px).
    assert list(shown.columns[:3]) == ["slice", "impact", "change"]
    # The one figure: the slice's part of the change since the baseline, in points.
    change = top["mix_effect"] + top["performance_effect"]
    assert abs(shown.iloc[0]["change"] - 100 * change) < 1e-9


def test_folding_can_be_turned_off(app, no_errors) -> None:
    at = app("slices")
    folded = len(at.dataframe[0].value)
    at.toggle(key="fold").set_value(False).run()
    no_errors(at)
    assert len(at.dataframe[0].value) > folded
    # Nested slices are listed now: their parts of the change must not read as a sum.
    assert any("do not add up" in c.value for c in at.caption)


def test_slice_in_the_url_opens_the_drilldown(app, no_errors) -> None:
    at = app("slices", slice=PLANTED)
    no_errors(at)
    assert "Inside the slice" in [h.value for h in at.subheader]
    cards = {m.label: m.value for m in at.metric}
    assert cards["Rows"] == "3,000"
    assert cards["Recall here"] == "0.0%"
    # was "Recall here in the baseline", cut at 1,280 px
    assert cards["In the baseline"] == "absent"
    # The p-value in words (it was only a number): the slice's recall is 0% against ~15%.
    assert any(
        "lower than the rest's by far more than chance explains" in c.value for c in at.caption
    )
    crumbs = [b.label for b in at.button if b.key and b.key.startswith("crumb_")]
    assert crumbs == [
        "All data",
        "state = CA",
        "merchant_category = online pharmacy",
        "merchant_id = scammeds.com",
    ]
    # The planted slice is 0% recall throughout: its narrower slices all read "+0.0 pts" within
    # it, so one sentence says so instead of a table of them (was: the slices and that table).
    assert len(at.dataframe) == 1
    assert any("uniformly bad" in i.value and "0.0%" in i.value for i in at.info)
    at.session_state["drill_tab"] = "By feature"
    at.run()
    no_errors(at)
    assert at.selectbox(key="w_breakdown_feature").value not in ("state", "merchant_id")
    # Recall is 0% in every part of the planted slice: one sentence instead of a blank chart
    # (was two charts, the first of them empty), and the share-of-rows chart.
    assert len(at.get("vega_lite_chart")) == 1
    assert any("no bar to draw" in i.value for i in at.info)
    at.session_state["drill_tab"] = "Rows"
    at.run()
    assert len(at.dataframe[1].value) == 1000  # the first rows of the slice
    assert [b.label for b in at.get("download_button")] == ["Download the slice's rows (CSV)"]


def test_breadcrumb_goes_up_one_level(app, no_errors) -> None:
    at = app("slices", slice=PLANTED)
    at.button(key="crumb_1").click().run()
    no_errors(at)
    assert at.query_params["slice"] == "state=CA"
    assert {m.label: m.value for m in at.metric}["Rows"] == "5,727"


def test_unknown_slice_in_the_url_is_a_warning(app) -> None:
    at = app("slices", slice="state=Atlantis")
    assert not at.exception
    assert "cannot be opened" in at.warning[0].value


def test_a_metric_that_does_not_split_shows_its_impact_instead(app, no_errors) -> None:
    at = app("slices", metric="f1", slice="merchant_id=scammeds.com")
    no_errors(at)
    cards = {m.label: m.value for m in at.metric}
    assert "Part of the change" not in cards and cards["Impact"].endswith("pts")
    assert any("not a ratio of sums" in c.value for c in at.caption)
    assert any("by far more than chance explains" in c.value for c in at.caption)


def test_id_like_columns_are_left_out_and_can_be_put_back(app, no_errors, data_dir) -> None:
    from tests.datasets.flights import load

    base, prod = load()
    base.to_parquet(data_dir / "flights_b.parquet")
    prod.to_parquet(data_dir / "flights_p.parquet")
    at = app(
        "slices",
        baseline=str(data_dir / "flights_b.parquet"),
        production=str(data_dir / "flights_p.parquet"),
    )
    no_errors(at)
    picker = at.multiselect(key="slice_by")
    assert "tailnum" not in picker.value and "flight_id" not in picker.value
    assert "tailnum" in picker.options  # offered, to put back
    note = next(c.value for c in at.caption if c.value.startswith("Not sliced by default"))
    assert "tailnum" in note
    picker.set_value([*picker.value, "tailnum"]).run()
    no_errors(at)
    assert not any(c.value.startswith("Not sliced by default") for c in at.caption)
