"""In a real browser: a file's names and values never render as links or images."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.app.test_app_injection import _frames

from .harness import SHOTS, no_traceback, settle

pytestmark = pytest.mark.browser


def test_injected_names_and_values_render_as_text(page: Page, server: str, data_root: Path):
    base, prod = _frames()
    base.to_parquet(data_root / "inj_base.parquet")
    prod.to_parquet(data_root / "inj_prod.parquet")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    query = urlencode(
        {
            "baseline": str(data_root / "inj_base.parquet"),
            "production": str(data_root / "inj_prod.parquet"),
            "prediction": "prediction",
            "actual": "actual",
        }
    )
    for path in ("slices", "share", ""):
        page.goto(f"{server}{path}?{query}")
        settle(page)
        no_traceback(page)
        main = page.locator('[data-testid="stMain"]')
        if path == "slices":  # the headline names the top slice: shown as the text it is...
            expect(main).to_contain_text("[click me](http://127.0.0.1:9/) = ![px]")
        # ...and nothing from the file became a link, an image or a request.
        # (autolinking stops at the port, so look for the host in any link's text or href)
        assert main.locator("a", has_text="127.0.0.1").count() == 0
        assert main.locator('a[href*="127.0.0.1:9"]').count() == 0
        assert main.locator('img[src*="127.0.0.1:9"]').count() == 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"injection_{path or 'overview'}.png"))
    assert not [u for u in requests if "127.0.0.1:9/" in u]
