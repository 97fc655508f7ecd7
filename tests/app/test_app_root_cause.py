"""Root cause page: the planted new merchant is the first suspect; drift and quality shown."""

from __future__ import annotations

from tracing.drift import DRIFT_TESTS

from .conftest import frame_with


def test_suspects_drift_and_quality(app, no_errors) -> None:
    at = app("root_cause")
    no_errors(at)
    assert at.title[0].value == "Why did these slices get worse?"
    texts = [m.value for m in at.markdown]
    assert texts[0].startswith("**1. merchant_id = scammeds.com** · new category")
    assert "absent from the baseline" in texts[1]
    # Histograms preselected to the suspected features.
    assert at.multiselect(key="w_hist_columns").value[0] == "merchant_id"
    drift = frame_with(at, "Drift")
    # The verdict has a mark beside its colour (was the bare word).
    assert drift.iloc[0]["Column"] == "merchant_id" and drift.iloc[0]["Drift"] == "▲ alert"
    assert drift.iloc[0]["Reading"] == "large shift"  # PSI 1.33, in words
    # Findings are sentences: a static table that wraps them (was a dataframe that cut them).
    quality = next(t.value for t in at.table if "Finding" in t.value.columns)
    assert "customer_age" in set(quality["Column"])  # the planted missing values
    assert any("missing" in str(f) for f in quality["Finding"])
    assert any("No label conflict" in s.value for s in at.success)
    # The thresholds the caption quotes are the drift registry's.
    psi, js = DRIFT_TESTS["psi"], DRIFT_TESTS["js"]
    quoted = f"PSI from {psi.warn:g} (warn) or {psi.alert:g} (alert), Jensen-Shannon distance"
    js_cuts = f"{js.warn:.2f}/{js.alert:.2f}"
    assert any(quoted in c.value and js_cuts in c.value for c in at.caption)


def test_selected_slice_is_marked(app, no_errors) -> None:
    at = app("root_cause", slice="merchant_id=scammeds.com")
    no_errors(at)
    assert "selected slice" in at.markdown[0].value
