"""Share page: the link holds exactly the view; the report downloads build on request."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ui.state import GLOBAL_PARAMS, PAGE_PARAMS

from .test_app_slices import PLANTED


def test_link_reproduces_the_view_and_nothing_else(app, no_errors) -> None:
    at = app("slices", slice=PLANTED, metric="accuracy")
    at.switch_page("pages/share.py").run()
    no_errors(at)
    link = at.code[0].value
    parts = urlsplit(link)
    assert parts.path.endswith("/slices")  # the last page looked at
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    assert set(params) <= set(GLOBAL_PARAMS)  # page settings left at their defaults
    assert params["slice"] == PLANTED and params["metric"] == "accuracy"
    assert params["baseline"].endswith("fraud_training.parquet")
    assert params["prediction"] == "prediction_label"


def test_link_follows_the_chosen_page(app, no_errors) -> None:
    at = app("share")
    assert urlsplit(at.code[0].value).path == "/"  # the Overview is the app's root page
    at.selectbox(key="w_share_page").set_value("root_cause").run()
    no_errors(at)
    assert urlsplit(at.code[0].value).path.endswith("/root_cause")


def test_report_downloads(app, no_errors) -> None:
    at = app("share")
    assert not at.get("download_button")
    at.button(key="w_build_report").click().run()
    no_errors(at)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download HTML", "Download Markdown", "Download JSON"]


def test_link_carries_the_windows_and_changed_page_settings(app, no_errors) -> None:
    at = app(
        baseline="demo_data/monitoring_training.parquet",
        production="demo_data/monitoring_production.parquet",
        production_window="2026-11-02,2026-11-02",
        k="2.5",
        freq="day",
    )
    no_errors(at)
    at.switch_page("pages/share.py").run()
    no_errors(at)
    params = {k: v[0] for k, v in parse_qs(urlsplit(at.code[0].value).query).items()}
    assert params["production_window"] == "2026-11-02,2026-11-02"
    assert params["k"] == "2.5" and params["freq"] == "day"
    assert set(params) <= set(GLOBAL_PARAMS) | set(PAGE_PARAMS)
    assert "window" not in params and "band" not in params  # defaults stay out


def test_report_ranks_the_slices_the_page_showed(app, no_errors) -> None:
    from tracing import prepare_analysis, read_table
    from tracing.options import SliceSearch
    from tracing.report import build_report
    from ui import fmt

    from .conftest import DEMO

    at = app("slices", depth="2", metric="accuracy")
    at.multiselect(key="slice_by").set_value(["state", "merchant_category", "amount"]).run()
    no_errors(at)
    shown = list(at.dataframe[0].value["slice"])
    at.switch_page("pages/share.py").run()
    at.button(key="w_build_report").click().run()
    no_errors(at)
    ((_, _, options),) = at.session_state["_built_reports"]
    assert options.slices == SliceSearch(
        max_depth=2, top=40, features=("state", "merchant_category", "amount")
    )
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    report = build_report(a, sections=["slices"], options=options)
    listed = [fmt.conditions_text(tuple(s["slice"].items())) for s in report["slices"]]
    assert listed[: len(shown)] == shown
