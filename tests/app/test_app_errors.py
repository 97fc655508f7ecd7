"""Every page turns every failure into an ``st.error`` with a fix, never a traceback.

Hardening issue, item 7: sources fail with more than `DataError` (an unreadable disk is an
``OSError``, a broken Parquet footer a ``RuntimeError`` or ``ValueError`` from pyarrow, a huge
file a ``MemoryError``), and an engine step can fail after the data loaded. The failures are
planted by replacing the reader or one cached engine call; the data files are fresh copies so
no earlier test's cache serves them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ui.cache
from tests.app.conftest import DEMO

PAGES = ["data", "overview", "slices", "root_cause", "explain", "share"]
FAILURES = [
    OSError(5, "Input/output error"),
    RuntimeError("Parquet magic bytes not found in footer"),
    ValueError("could not convert string to float"),
    MemoryError(),
]


def _copies(data_dir: Path) -> dict[str, str]:
    for name in ("fraud_training.parquet", "fraud_production.parquet"):
        shutil.copy(DEMO / name, data_dir / name)
    return {
        "baseline": str(data_dir / "fraud_training.parquet"),
        "production": str(data_dir / "fraud_production.parquet"),
    }


def _no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("page", PAGES)
def test_a_source_that_fails_to_read_is_an_error_message(
    app, data_dir: Path, monkeypatch: pytest.MonkeyPatch, page: str, failure: Exception
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise failure

    monkeypatch.setattr(ui.cache, "read_table", broken)
    at = app(page, **_copies(data_dir))
    _no_traceback(at)
    assert at.error, f"{page}: no error shown"
    text = " ".join(e.value for e in at.error)
    # The message names what failed and where to go, without the server's folders.
    assert str(data_dir) not in text
    assert "Data page" in text or page == "data"


@pytest.mark.parametrize("page", ["slices", "explain"])
def test_a_drilldown_that_fails_is_an_error_message(
    app, no_errors, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    at = app("slices")
    no_errors(at)
    slice_key = "is_new_device=True"

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("worker died")

    monkeypatch.setattr(ui.cache, "slice_drilldown", broken)
    at = app(page, slice=slice_key)
    _no_traceback(at)
    assert at.error or at.warning, f"{page}: the failure was not shown"


@pytest.mark.parametrize(
    ("page", "call"),
    [
        ("overview", "comparison"),
        ("slices", "slices"),
        ("root_cause", "drift"),
        ("share", "report"),
    ],
)
def test_an_engine_step_that_fails_is_an_error_message(
    app, monkeypatch: pytest.MonkeyPatch, page: str, call: str
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("internal")

    monkeypatch.setattr(ui.cache, call, broken)
    at = app(page)
    if page == "share" and not at.error:  # the report is built on a click
        at.button(key="w_build_report").click().run()
    _no_traceback(at)
    assert at.error, f"{page}: no error shown"
    assert "server log" in " ".join(e.value for e in at.error)


def test_a_file_wider_than_the_column_cap_is_refused_by_name(app, fraud_csvs) -> None:
    header = ",".join(f"c{i}" for i in range(10_000)).encode()
    wide = header + b"\n" + b",".join([b"1"] * 10_000) + b"\n"
    at = app("data")
    at.file_uploader(key="w_upload_baseline").set_value(("wide.csv", wide, "text/csv"))
    at.file_uploader(key="w_upload_production").set_value(("week.csv", fraud_csvs[1], "text/csv"))
    at.run()
    _no_traceback(at)
    text = " ".join(e.value for e in at.error)
    assert "wide.csv" in text and "10,000 columns" in text and "TRACING_MAX_COLUMNS" in text
