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


def test_first_visit_shows_the_quick_pass_in_plain_words_and_offers_the_full_pass(
    app, no_errors
) -> None:
    at = app("explain")
    no_errors(at)
    assert at.markdown[0].value.endswith("(quick first pass).")
    notice = at.info[0].value
    assert notice.startswith("**Quick first pass.**") and "approximate" in notice
    captions = " ".join(c.value for c in at.caption)
    assert "is how much this feature moves the model's output, on average" in captions
    assert "how much this feature moves the model's error, on average" in captions
    quick = frame_with(at, "error_mean_abs_shap")
    # Even the quick pass finds the planted cause of the mistakes.
    assert quick.sort_values("error_mean_abs_shap").iloc[-1]["feature"] == "merchant_id"

    at.button(key="explain_full").click().run()
    no_errors(at)
    assert at.markdown[0].value.endswith("(full pass).")
    assert not [i for i in at.info if "Quick first pass" in i.value]
    assert not [b for b in at.button if b.key == "explain_full"]
    full = frame_with(at, "error_mean_abs_shap")
    assert full.sort_values("error_mean_abs_shap").iloc[-1]["feature"] == "merchant_id"
    assert list(full.columns) == list(quick.columns)
    assert not full["mean_abs_shap"].equals(quick["mean_abs_shap"])  # another, larger sample


def test_a_tiny_cache_budget_still_serves_correct_pages(app, no_errors, monkeypatch) -> None:
    from ui import cache

    monkeypatch.setenv("TRACING_CACHE_MB", "0.01")  # 10 KB: no table or analysis fits
    at = app("slices")
    no_errors(at)
    assert "merchant_id = scammeds.com" in " ".join(m.value for m in at.markdown)
    at.switch_page("pages/explain.py").run()
    no_errors(at)
    quick = frame_with(at, "error_mean_abs_shap")
    assert quick.sort_values("error_mean_abs_shap").iloc[-1]["feature"] == "merchant_id"
    store = cache.memory()
    assert store.cap == int(0.01 * 2**20)
    assert store.total <= store.cap
    assert not [k for k in store if k[0] in ("load", "rows", "analysis")]


def test_the_cache_holds_its_byte_budget_across_pages(app, no_errors, monkeypatch) -> None:
    from ui import cache

    # 7 MB: the demo's two tables (about 3 MB each) and its analysis (1.3 MB) do not all fit.
    monkeypatch.setenv("TRACING_CACHE_MB", "7")
    at = app()
    for page in ("slices", "root_cause", "explain"):
        at.switch_page(f"pages/{page}.py").run()
        no_errors(at)
        store = cache.memory()
        assert 0 < store.total <= store.cap == 7 * 2**20
    executor, _ = cache._background()
    executor.submit(lambda: None).result()  # prefetches and the full pass have finished
    assert store.total <= store.cap
    big = [k for k in store if k[0] in ("load", "analysis")]
    assert len(big) < 3  # they do not all fit: something large had to go
    importance = frame_with(at, "error_mean_abs_shap")
    assert importance.sort_values("error_mean_abs_shap").iloc[-1]["feature"] == "merchant_id"
