"""Share links as server-side snapshots: unguessable, pinned, expiring, stable across releases."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracing import links, store
from tracing.errors import DataError

GOLDEN = Path(__file__).parent / "data" / "link_format_1.json"
CSV = b"prediction_id,score,label\n1,0.9,1\n2,0.2,0\n"


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(store.ENV_STORE_DIR, str(tmp_path / "store"))
    monkeypatch.delenv("TRACING_LINK_DAYS", raising=False)
    return tmp_path / "store"


def _params(ref: str) -> dict[str, str]:
    return {
        "baseline": ref,
        "production": "https://bucket.example/prod.parquet?X-Amz-Signature=SECRET",
        "prediction": "label_pred",
        "actual": "label",
        "metric": "recall",
        "slice": "state=CA",
    }


def test_a_link_carries_only_its_id_and_reopens_the_same_view() -> None:
    ref = store.store_upload(CSV, "base.csv", uploader="pm@acme.example")
    made = links.create_link(_params(ref), page="slices", creator="pm@acme.example")
    assert links.is_link_id(made.id) and "SECRET" not in made.id
    opened = links.load_link(made.id)
    assert opened.params == _params(ref) and opened.page == "slices"
    assert (opened.creator, opened.datasets) == ("pm@acme.example", (ref,))
    assert opened.expires is None
    # Ids are random: two links to the same view differ.
    assert links.create_link(_params(ref), page="slices").id != made.id


def test_a_link_pins_its_datasets_until_it_is_deleted() -> None:
    ref = store.store_upload(CSV, "base.csv")
    made = links.create_link(_params(ref), page="overview")
    assert store.pins(ref) == (f"share:{made.id}",)
    with pytest.raises(DataError, match="pinned"):
        store.delete_dataset(ref)
    assert links.delete_link(made.id) and store.pins(ref) == ()
    with pytest.raises(DataError, match="does not open on this server"):
        links.load_link(made.id)


def test_links_expire_after_the_configured_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACING_LINK_DAYS", "7")
    ref = store.store_upload(CSV, "base.csv")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    made = links.create_link(_params(ref), page="overview", now=start)
    assert made.expires == start + timedelta(days=7)
    links.load_link(made.id, now=start + timedelta(days=6, hours=23))
    with pytest.raises(DataError, match="expired on 2026-12-08"):
        links.load_link(made.id, now=start + timedelta(days=7))
    assert links.sweep_links(now=start + timedelta(days=6)) == []
    assert links.sweep_links(now=start + timedelta(days=8)) == [made.id]
    assert store.pins(ref) == ()


def test_a_deleted_dataset_says_so() -> None:
    ref = store.store_upload(CSV, "base.csv")
    made = links.create_link(_params(ref), page="overview")
    store.delete_dataset(ref, force=True)  # the uploader deletes it
    with pytest.raises(DataError, match="deleted by the person who uploaded it"):
        links.load_link(made.id)


@pytest.mark.parametrize(
    "bad", ["", "lk-short", "../../etc/passwd", "lk-" + "a" * 21 + "/", "x" * 25]
)
def test_malformed_or_unknown_ids_read_alike(bad: str) -> None:
    with pytest.raises(DataError, match="does not open on this server"):
        links.load_link(bad)
    with pytest.raises(DataError, match="does not open on this server"):
        links.load_link("lk-" + "A" * 22)


def test_a_record_of_this_release_keeps_opening(_store: Path) -> None:
    """The golden file is a format-1 record as this release writes it: never break it."""
    folder = _store / ".links"
    folder.mkdir(parents=True)
    shutil.copy(GOLDEN, folder / GOLDEN.name.replace("link_format_1", "lk-" + "G" * 22))
    opened = links.load_link("lk-" + "G" * 22)
    assert opened.format == 1 and opened.page == "slices"
    assert (
        opened.params["metric"] == "recall"
        and opened.params["slice"] == "merchant_id=scammeds.com"
    )
    assert opened.creator == "pm@acme.example"
    # And this release still writes that shape.
    ref = store.store_upload(CSV, "base.csv")
    written = json.loads(
        (folder / f"{links.create_link(_params(ref), page='x').id}.json").read_text()
    )
    assert set(written) == set(json.loads(GOLDEN.read_text()))


def test_a_record_from_a_newer_release_is_refused(_store: Path) -> None:
    folder = _store / ".links"
    folder.mkdir(parents=True)
    record = json.loads(GOLDEN.read_text()) | {"format": 99}
    (folder / f"lk-{'N' * 22}.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match="newer release"):
        links.load_link(f"lk-{'N' * 22}")


def test_the_store_sweep_command_removes_expired_links(monkeypatch, capsys) -> None:
    from tracing.cli import main

    monkeypatch.setenv("TRACING_LINK_DAYS", "1")
    ref = store.store_upload(CSV, "base.csv")
    made = links.create_link(_params(ref), page="overview", now=datetime(2020, 1, 1, tzinfo=UTC))
    assert main(["store", "sweep"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 expired link(s); ")
    assert store.pins(ref) == ()
    with pytest.raises(DataError):
        links.load_link(made.id)
