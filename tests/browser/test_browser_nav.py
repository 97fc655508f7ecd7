"""Browser history: one entry per user action, and Back undoes a drilldown (real Chromium).

Only a browser keeps a history: AppTest neither pushes entries nor goes Back. The oracle is
the browser's own ``history.length`` and address bar.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from .harness import no_traceback, settle
from .test_browser import TOP_SLICE, click_row, drilldown_visible

pytestmark = pytest.mark.browser

SLICE_TABLE = "The slice that costs most is"


def history_length(page: Page) -> int:
    return int(page.evaluate("history.length"))


def address(page: Page) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(page.url)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


def open_slices(page: Page, server: str) -> None:
    page.goto(server)
    settle(page)
    page.get_by_role("link", name="2 · Slices").click()
    expect(page.get_by_text(SLICE_TABLE)).to_contain_text(TOP_SLICE, timeout=60_000)
    settle(page)


def test_back_undoes_a_drilldown_and_forward_redoes_it(page: Page, server: str) -> None:
    open_slices(page, server)
    before, entries = address(page), history_length(page)
    assert before[0] == "/slices" and "slice" not in before[1]

    click_row(page, 0)
    drilldown_visible(page)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Selected slice")
    path, query = address(page)
    assert path == "/slices" and "merchant_id=scammeds.com" in query["slice"][0]
    assert history_length(page) == entries + 1  # the drilldown is one entry

    page.go_back()
    heading = page.get_by_role("heading", name="Inside the slice")
    expect(heading).to_have_count(0, timeout=60_000)
    settle(page)
    expect(heading).to_have_count(0)  # and the app did not put it back
    assert address(page) == before
    expect(page.get_by_text(SLICE_TABLE)).to_contain_text(TOP_SLICE)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text("Comparing")
    expect(sidebar).not_to_contain_text("Selected slice")
    no_traceback(page)

    page.go_forward()
    drilldown_visible(page)
    assert address(page) == (path, query)
    assert history_length(page) == entries + 1  # going Back and Forward added nothing


def test_each_page_visit_is_one_history_entry_and_back_retraces_them(
    page: Page, server: str
) -> None:
    assert history_length(page) == 1  # a new tab: about:blank
    page.goto(server)
    settle(page)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Comparing")
    start, entries = address(page), history_length(page)
    assert "production" in start[1]  # the address bar is a link to the view
    # The bare address, then the view written once (it was written twice: as read, then
    # pinned). Streamlit cannot replace an entry, so a URL that lacks the view costs one.
    assert entries == 3

    visits = [("2 · Slices", "/slices"), ("3 · Root cause", "/root_cause"), ("Share", "/share")]
    seen = [start]
    for i, (link, path) in enumerate(visits, start=1):
        page.get_by_role("link", name=link).click()
        expect(page).to_have_url(re.compile(rf"{path}\?"), timeout=60_000)
        settle(page)
        here = address(page)
        assert here[0] == path
        assert {k: here[1][k] for k in start[1]} == start[1]  # the link carried the view
        assert history_length(page) == entries + i, f"after visiting {path}"
        seen.append(here)
        no_traceback(page)

    for i in range(len(visits), 0, -1):
        page.go_back()
        expect(page).to_have_url(re.compile(rf"{seen[i - 1][0]}\?"), timeout=60_000)
        settle(page)
        assert address(page)[0] == seen[i - 1][0]
        assert {k: address(page)[1][k] for k in start[1]} == start[1]
    assert history_length(page) == entries + len(visits)  # Back added no entry


def test_a_shared_link_opens_without_adding_history(page: Page, server: str) -> None:
    open_slices(page, server)
    click_row(page, 0)
    drilldown_visible(page)
    link = page.url
    fresh = page.context.new_page()
    fresh.goto(link)
    drilldown_visible(fresh)
    assert fresh.url == link  # the link already holds the whole view: nothing rewritten
    assert history_length(fresh) == 2  # about:blank and the link
    no_traceback(fresh)
