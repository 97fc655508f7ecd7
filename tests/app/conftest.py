"""AppTest fixtures: the app with a private dataset store and data folder, and test files."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tracing import sources

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
DEMO = ROOT / "demo_data"


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every AppTest run through app.py, as a real server does after its first session.

    AppTest resets Streamlit's legacy ``pages/`` flag before every run (a server sets it once
    per process, and app.py's ``st.navigation`` clears it for good); with the flag on, a page
    file would run alone and `ui.layout` would rerun it, losing widget clicks.
    """
    original = PagesManager.__init__

    def init(self: PagesManager, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def _private_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads go to a temporary store; paths may point into demo_data and a data folder."""
    store, data = tmp_path / "store", tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv(sources.ENV_STORE_DIR, str(store))
    monkeypatch.setenv(sources.ENV_DATA_ROOTS, os.pathsep.join([str(DEMO), str(store), str(data)]))
    monkeypatch.delenv(sources.ENV_ALLOW_URLS, raising=False)
    return data


@pytest.fixture
def data_dir(_private_store: Path) -> Path:
    return _private_store


@pytest.fixture
def app() -> Callable[..., AppTest]:
    """Return ``make(page=None, **query_params)``: a fresh session, run once (on ``page``)."""

    def make(page: str | None = None, **params: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        if page is not None:
            at.switch_page(f"pages/{page}.py").run()
        return at

    return make


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture(scope="session")
def fraud_csvs() -> tuple[bytes, bytes]:
    """Samples of the fraud demo as CSV bytes (the planted slice stays 15% of production)."""
    base = pd.read_parquet(DEMO / "fraud_training.parquet").sample(4000, random_state=0)
    prod = pd.read_parquet(DEMO / "fraud_production.parquet").sample(4000, random_state=0)
    return _csv(base), _csv(prod)


@pytest.fixture
def no_errors() -> Iterator[Callable[[AppTest], None]]:
    def check(at: AppTest) -> None:
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]

    yield check


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The displayed table that has ``column`` (AppTest tables carry no key)."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no table with a {column!r} column")
