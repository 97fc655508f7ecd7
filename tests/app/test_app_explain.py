"""Explain page: SHAP rankings with their source, the error model, and slice vs rest."""

from __future__ import annotations

from .conftest import frame_with
from .test_app_slices import PLANTED


def test_rankings_for_the_selected_slice(app, no_errors) -> None:
    at = app("explain", slice=PLANTED)
    no_errors(at)
    assert at.title[0].value == "What drives the model's predictions and its errors?"
    assert at.markdown[0].value.startswith("SHAP values come from a surrogate model")
    headers = [h.value for h in at.subheader]
    assert headers[:2] == ["What the model leans on", "What drives the errors now"]
    assert headers[2].startswith("Inside the selected slice: state = CA")
    importance = frame_with(at, "error_mean_abs_shap")
    # The error model points at the new merchant, the planted cause of the mistakes.
    top_error = importance.sort_values("error_mean_abs_shap", ascending=False).iloc[0]
    assert top_error["feature"] == "merchant_id"
    assert {"slice_mean_abs_shap", "rest_mean_abs_shap"} <= set(importance.columns)
