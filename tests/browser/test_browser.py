"""What only a browser shows: uploads, clicks on the slice table, share links in a new context.

Screenshots go to ``artifacts/screenshots/`` (git-ignored). Timings are printed (``-s``).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import server_env
from .harness import SHOTS, no_traceback, settle, streamlit_server, wait_for_app

pytestmark = pytest.mark.browser

ROW_H = 35  # st.dataframe header and row height (px)
TOP_SLICE = "merchant_id = scammeds.com"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def click_row(page: Page, row: int, grid: int = 0) -> None:
    """st.dataframe draws on a canvas: click the row's selection box by coordinates."""
    box = page.locator('[data-testid="stDataFrame"]').nth(grid).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + ROW_H + ROW_H * row + ROW_H / 2)


def upload(page: Page, baseline: Path, production: Path) -> None:
    page.get_by_role("tab", name="Upload files").click()
    inputs = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    inputs.nth(0).set_input_files(str(baseline))
    expect(page.get_by_text("upload the production file too")).to_be_visible(timeout=30_000)
    inputs.nth(1).set_input_files(str(production))


def drilldown_visible(page: Page) -> None:
    expect(page.get_by_role("heading", name="Inside the slice")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name=TOP_SLICE)).to_be_visible()
    settle(page)


def test_upload_find_the_slice_drill_down_and_share(
    page: Page, browser: Browser, server: str, data_root: Path
) -> None:
    page.goto(server + "data")
    settle(page)
    upload(page, data_root / "train.csv", data_root / "week.csv")
    expect(page.get_by_text("Ready: 4,000 baseline rows")).to_be_visible(timeout=60_000)
    settle(page)

    page.get_by_role("link", name="2 · Slices").click()
    t0 = time.monotonic()
    expect(page.get_by_text("The slice that costs most is")).to_contain_text(TOP_SLICE)
    settle(page)
    print(f"\n[timing] slice table after navigation: {time.monotonic() - t0:.2f} s")
    no_traceback(page)

    t0 = time.monotonic()
    click_row(page, 0)
    drilldown_visible(page)
    print(f"[timing] drilldown after click: {time.monotonic() - t0:.2f} s")
    shot(page, "browser_drilldown")
    link = page.url
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/slices"
    assert query["baseline"][0].startswith("ds-") and query["production"][0].startswith("ds-")
    assert "merchant_id=scammeds.com" in query["slice"][0]

    # The address bar is the share link: a new browser context (no cookies, no session) opens
    # the same data, settings, page and slice.
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.goto(link)
        drilldown_visible(fresh)
        expect(fresh.get_by_text("The slice that costs most is")).to_contain_text(TOP_SLICE)
        assert parse_qs(urlsplit(fresh.url).query) == query
        no_traceback(fresh)
        shot(fresh, "browser_shared_link")
    finally:
        other.close()


def test_share_page_link_opens_the_same_view(page: Page, browser: Browser, server: str) -> None:
    page.goto(server + "slices")
    settle(page)
    click_row(page, 0)
    drilldown_visible(page)
    page.get_by_role("link", name="Share").click()
    code = page.locator('[data-testid="stCode"]')
    expect(code).to_contain_text("/slices?")
    link = code.inner_text().strip()
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = other.new_page()
        fresh.goto(link)
        drilldown_visible(fresh)
    finally:
        other.close()


def test_bad_file_shows_an_error_not_a_traceback(page: Page, server: str, data_root: Path) -> None:
    page.goto(server + "data")
    settle(page)
    upload(page, data_root / "bad.parquet", data_root / "week.csv")
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="bad.parquet")
    expect(alert).to_be_visible(timeout=60_000)
    expect(alert).to_contain_text("Parquet")
    wait_for_app(page)
    no_traceback(page)
    shot(page, "browser_bad_file")


def test_link_to_files_opens_on_a_fresh_server(
    browser: Browser, data_root: Path, tmp_path: Path
) -> None:
    """A shared link may be the first request a (re)started server sees."""
    params = (
        f"baseline={data_root / 'train.csv'}&production={data_root / 'week.csv'}"
        "&prediction=prediction_label&actual=actual_label"
        "&slice=merchant_id%3Dscammeds.com"
    )
    with streamlit_server(server_env(data_root, tmp_path), log_dir=tmp_path) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.goto(f"{url}slices?{params}")
            expect(page.get_by_role("heading", name="Inside the slice")).to_be_visible(
                timeout=60_000
            )
            settle(page)
            expect(page.locator('[data-testid="stDialog"]')).to_have_count(0)  # no "not found"
            expect(page.get_by_role("link", name="2 · Slices")).to_be_visible()  # the app's nav
            expect(page.get_by_text("The slice that costs most is")).to_contain_text(TOP_SLICE)
            no_traceback(page)
        finally:
            context.close()


MONITORING = (
    "baseline=demo_data/monitoring_training.parquet"
    "&production=demo_data/monitoring_production.parquet"
)


def test_pick_an_alerting_day_on_the_overview_and_trace_it(page: Page, server: str) -> None:
    page.goto(f"{server}?{MONITORING}")
    settle(page)
    expect(page.get_by_text("10 alerting days")).to_be_visible()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    point = chart.locator(
        "path[role='graphics-symbol'][aria-label*='Period: Mon 2026-11-02']"
        "[aria-label*='Status: alert']"
    )
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    assert box is not None
    # The <svg> takes the pointer events: click the point by its position.
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    banner = page.get_by_text("Tracing 2026-11-02")  # the traced day, against the baseline
    expect(banner).to_be_visible(timeout=60_000)
    expect(banner).to_contain_text("against the baseline monitoring_training.parquet")
    settle(page)
    assert parse_qs(urlsplit(page.url).query)["production_window"] == ["2026-11-02,2026-11-02"]
    no_traceback(page)
    shot(page, "browser_alert_traced")

    page.get_by_role("link", name="2 · Slices").click()
    expect(page.get_by_text("The slice that costs most is")).to_be_visible(timeout=60_000)
    settle(page)
    expect(page.get_by_text("Tracing 2026-11-02")).to_contain_text("against the baseline")
    query = parse_qs(urlsplit(page.url).query)
    assert urlsplit(page.url).path == "/slices"
    assert query["production_window"] == ["2026-11-02,2026-11-02"]
    assert query["baseline"] == ["demo_data/monitoring_training.parquet"]
    no_traceback(page)
    shot(page, "browser_alert_slices")
