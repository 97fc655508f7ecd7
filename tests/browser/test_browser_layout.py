"""What fits at 1,280 px: the slice and its ranking without scrolling, every metric's row.

The grid is a canvas (no DOM cells): columns are found by their pixel widths
(`ui.tables.SLICE_WIDTH`, `ui.tables.IMPACT_WIDTH`) and identified by the help tooltip their
header shows on hover, which Streamlit puts in the DOM.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tracing import prepare_analysis, read_table
from tracing.compare import compare
from ui.tables import IMPACT_WIDTH, SLICE_WIDTH

from .conftest import DEMO
from .harness import SHOTS, no_traceback, settle

pytestmark = pytest.mark.browser

ROW_H = 35  # st.dataframe header and row height (px)
MARKERS = 30  # the row-selection column of a selectable grid (px, about)
WIDTH = 1280


@pytest.fixture
def narrow(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 1000})
    yield context.new_page()
    context.close()


def header_help(page: Page, grid: int, x: float) -> str:
    """Hover the header of grid ``grid`` at ``x`` px from its left edge; return the tooltip."""
    box = page.locator('[data-testid="stDataFrame"]').nth(grid).bounding_box()
    assert box is not None
    assert x < box["width"], f"column at {x} px is beyond the grid's {box['width']} px"
    page.mouse.move(0, 0)
    page.mouse.move(box["x"] + x, box["y"] + ROW_H / 2)
    tip = page.locator('[data-testid="stDataFrameTooltipContent"]')
    expect(tip).to_be_visible(timeout=10_000)
    return tip.inner_text()


def test_slice_and_ranking_columns_are_visible_at_1280_px(narrow: Page, server: str) -> None:
    narrow.goto(server + "slices")
    settle(narrow)
    no_traceback(narrow)
    expect(narrow.get_by_text("accounts for").first).to_be_visible()
    grid = narrow.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    assert box is not None
    # The grid fits the page (no horizontal page scroll) and holds both columns in full.
    assert box["x"] + box["width"] <= WIDTH
    assert box["width"] >= MARKERS + SLICE_WIDTH + IMPACT_WIDTH
    slice_tip = header_help(narrow, 0, MARKERS + SLICE_WIDTH / 2)
    assert "conditions" in slice_tip
    impact_tip = header_help(narrow, 0, MARKERS + SLICE_WIDTH + IMPACT_WIDTH / 2)
    assert "The ranking" in impact_tip and "lost to this slice vs the average" in impact_tip
    SHOTS.mkdir(parents=True, exist_ok=True)
    narrow.screenshot(path=str(SHOTS / "browser_layout_slices_1280.png"))


def test_all_metrics_table_shows_every_row(narrow: Page, server: str) -> None:
    narrow.goto(server)
    settle(narrow)
    no_traceback(narrow)
    heading = narrow.get_by_role("heading", name="All metrics")
    expect(heading).to_be_visible()
    table = narrow.locator('[data-testid="stDataFrame"]').last  # the last table of the page
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    metrics = len(compare(a.baseline, a.production).table)
    assert metrics > 10
    # Every row is drawn, no inner scrolling: the grid is as tall as its header and all rows
    # (the default height shows about ten rows and cut the table at a half row).
    assert box["height"] >= ROW_H * (metrics + 1) - 2, (box["height"], metrics)
