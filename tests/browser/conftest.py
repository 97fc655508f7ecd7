"""Browser fixtures: the app served by `streamlit run`, driven by Playwright with Chromium.

Browser tests are marked ``browser`` and skip (with the reason) only when /usr/bin/chromium is
missing; CI installs it. Uploads go to a temporary dataset store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tracing import sources

from .harness import CHROMIUM, launch, streamlit_server

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo_data"


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV samples of the fraud demo (the planted slice stays 15% of production)."""
    root = tmp_path_factory.mktemp("data")
    base = pd.read_parquet(DEMO / "fraud_training.parquet").sample(4000, random_state=0)
    prod = pd.read_parquet(DEMO / "fraud_production.parquet").sample(4000, random_state=0)
    base.to_csv(root / "train.csv", index=False)
    prod.to_csv(root / "week.csv", index=False)
    (root / "bad.parquet").write_bytes(b"PAR1 this is not a parquet file")
    return root


def server_env(data_root: Path, store: Path) -> dict[str, str]:
    return {
        sources.ENV_STORE_DIR: str(store),
        sources.ENV_DATA_ROOTS: os.pathsep.join([str(DEMO), str(store), str(data_root)]),
    }


@pytest.fixture(scope="session")
def server(
    browser: Browser, data_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    store = tmp_path_factory.mktemp("store")
    logs = tmp_path_factory.mktemp("logs")
    with streamlit_server(server_env(data_root, store), log_dir=logs) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()
