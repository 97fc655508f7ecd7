"""An alert's deep link, opened in Chromium, lands on the Overview tracing the alerting day."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.test_alerts import _days, _Receiver
from tracing.cli import main

from .harness import SHOTS, no_traceback, settle

pytestmark = pytest.mark.browser


def test_the_alert_link_opens_the_trace_of_the_period(
    page: Page, server: str, data_root: Path
) -> None:
    _days("2026-09-01", 30, seed=1, bad_last=False).to_parquet(data_root / "alert_base.parquet")
    _days("2026-11-01", 10, seed=2, bad_last=True).to_parquet(data_root / "alert_prod.parquet")
    receiver = _Receiver()
    try:
        code = main([
            "timeline", "--production", str(data_root / "alert_prod.parquet"),
            "--baseline", str(data_root / "alert_base.parquet"), "--metric", "accuracy",
            "--notify", receiver.url, "--app-url", server,
            "--state", str(data_root / "alert_state.json"),
            "--output", str(data_root / "alert_out.json"),
        ])  # fmt: skip
    finally:
        receiver.server.shutdown()
    assert code == 0 and len(receiver.bodies) == 1
    link = receiver.bodies[0]["alert"]["link"]
    assert link.startswith(f"{server.rstrip('/')}/?")
    page.goto(link)
    settle(page)
    no_traceback(page)
    expect(page.get_by_text("2026-11-10 00:00 to 2026-11-11 00:00").first).to_be_visible()
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "alert_link.png"), full_page=True)
