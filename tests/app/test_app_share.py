"""Share page: the link holds exactly the view; the report downloads build on request."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from tracing.slices import parse_slice_id
from ui.state import GLOBAL_PARAMS, PAGE_PARAMS

from .conftest import DEMO
from .test_app_slices import PLANTED

PUBLIC = "TRACING_PUBLIC_URL"


@pytest.fixture(autouse=True)
def _no_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PUBLIC, raising=False)


def test_link_reproduces_the_view_and_nothing_else(app, no_errors) -> None:
    at = app("slices", slice=PLANTED, metric="accuracy")
    at.switch_page("pages/share.py").run()
    no_errors(at)
    link = at.code[0].value
    parts = urlsplit(link)
    assert parts.path.endswith("/slices")  # where the selected slice is shown
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    assert set(params) <= set(GLOBAL_PARAMS)  # page settings left at their defaults
    # The slice is written once-encoded ("online pharmacy", not "online%2520pharmacy").
    assert params["slice"] == "state=CA&merchant_category=online pharmacy&merchant_id=scammeds.com"
    assert parse_slice_id(params["slice"]) == parse_slice_id(PLANTED)
    assert "%25" not in parts.query and params["metric"] == "accuracy"
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


def test_link_opens_on_the_finding_not_the_last_page(app, no_errors) -> None:
    at = app("slices", slice=PLANTED)
    at.switch_page("pages/root_cause.py").run()  # looked at last
    at.switch_page("pages/share.py").run()
    no_errors(at)
    assert urlsplit(at.code[0].value).path == "/slices"
    assert at.selectbox(key="w_share_page").value == "slices"


def test_page_shows_the_slice_in_words(app, no_errors) -> None:
    at = app("share", slice=PLANTED)
    no_errors(at)
    text = "\n".join(m.value for m in at.markdown)
    words = "state = CA · merchant_category = online pharmacy · merchant_id = scammeds.com"
    assert f"**selected slice**: {words}" in text
    assert "%20" not in text and "merchant_category=online" not in text


def test_positive_class_reads_as_the_label(app, no_errors, data_dir) -> None:
    # Labels stored as floats (0.0/1.0, as after a CSV with missing values): "1", not "1.0".
    for name in ("training", "production"):
        frame = pd.read_parquet(DEMO / f"fraud_{name}.parquet").sample(3000, random_state=0)
        for col in ("prediction_label", "actual_label"):
            frame[col] = frame[col].astype(float)
        frame.to_parquet(data_dir / f"{name}.parquet")
    at = app(
        "share",
        baseline=str(data_dir / "training.parquet"),
        production=str(data_dir / "production.parquet"),
    )
    no_errors(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "positive class 1" in text and "positive class 1.0" not in text


def test_link_starts_with_the_public_url(app, no_errors, monkeypatch) -> None:
    monkeypatch.setenv(PUBLIC, "https://tracing.example.org/apps/tracing")
    at = app()
    at.context["url"] = "http://localhost:8501/share"
    at.switch_page("pages/share.py").run()
    no_errors(at)
    link = at.code[0].value
    assert link.startswith("https://tracing.example.org/apps/tracing/?")
    assert not at.warning


def test_without_a_public_url_the_browsers_address_is_used(app, no_errors) -> None:
    at = app()
    at.context["url"] = "http://10.1.2.3:8501/apps/share"
    at.switch_page("pages/share.py").run()
    no_errors(at)
    assert at.code[0].value.startswith("http://10.1.2.3:8501/apps/?")
    assert not at.warning
    at.context["url"] = "http://localhost:8501/share"
    at.run()
    assert at.code[0].value.startswith("http://localhost:8501/?")
    assert "only this computer" in at.warning[0].value and PUBLIC in at.warning[0].value


@pytest.mark.parametrize("bad", ["tracing.example.org", "ftp://t.org/", "https://t.org/?a=1"])
def test_a_bad_public_url_is_refused_at_start_up(app, monkeypatch, bad) -> None:
    monkeypatch.setenv(PUBLIC, bad)
    at = app()
    assert any(PUBLIC in e.value for e in at.error)
    assert not at.code
