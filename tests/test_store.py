"""Store integrity: secret, per-uploader records, verification and repair, sweeps, quota, pins."""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import pytest

from tracing import sources, store
from tracing.errors import DataError

CSV = b"id,pred,label\n1,1,1\n2,0,0\n"
OTHER = b"id,pred,label\n1,0,1\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "store"
    monkeypatch.setenv(store.ENV_STORE_DIR, str(where))
    monkeypatch.setenv(sources.ENV_DATA_ROOTS, str(where))
    for name in (store.ENV_STORE_SECRET, store.ENV_STORE_QUOTA_MB, store.ENV_STORE_RETENTION_DAYS):
        monkeypatch.delenv(name, raising=False)
    return where


def test_secret_is_created_whole_and_private(folder: Path) -> None:
    store.store_upload(CSV, "a.csv")
    secret = folder / ".secret"
    assert len(secret.read_bytes()) == 32
    assert secret.stat().st_mode & 0o077 == 0
    assert not list(folder.glob(".ds-*.tmp"))  # the temporary file is gone


def test_concurrent_first_uploads_agree_on_one_secret(folder: Path) -> None:
    refs: list[str] = []
    threads = [
        threading.Thread(target=lambda: refs.append(store.store_upload(CSV, "a.csv")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(refs)) == 1


@pytest.mark.parametrize("content", [b"", b"short"])
def test_empty_or_short_secret_is_refused(folder: Path, content: bytes) -> None:
    folder.mkdir()
    (folder / ".secret").write_bytes(content)
    with pytest.raises(DataError, match="secret.*at least 32 needed.*TRACING_STORE_SECRET"):
        store.store_upload(CSV, "a.csv")


def test_one_record_per_uploader_and_each_sees_their_name(folder: Path) -> None:
    ref = store.store_upload(CSV, "alice-q3.csv", uploader="alice")
    assert store.store_upload(CSV, "bob.csv", uploader="bob") == ref
    assert store.dataset_name(ref, uploader="alice") == "alice-q3.csv"
    assert store.dataset_name(ref, uploader="bob") == "bob.csv"
    # Nobody else learns either name, nor that the file was uploaded before.
    assert store.dataset_name(ref, uploader="mallory") == ref
    assert sources.describe_source(ref, uploader="mallory").name == ref
    assert sources.resolve_source(ref, uploader="bob") == ("bob.csv", CSV)
    records = list((folder / ".records" / ref).glob("*.json"))
    assert len(records) == 2
    assert all("alice" not in p.name and "bob" not in p.name for p in records)
    assert store.list_datasets()[0].uploads == 2


def test_damaged_copy_is_detected_and_a_reupload_repairs_it(folder: Path) -> None:
    ref = store.store_upload(CSV, "a.csv")
    (folder / ref).write_bytes(CSV.replace(b"1,1,1", b"1,0,1"))
    with pytest.raises(DataError, match="damaged.*upload the file again"):
        sources.resolve_source(ref)
    assert store.list_datasets(verify=True)[0].intact is False
    assert store.store_upload(CSV, "a.csv") == ref
    assert sources.resolve_source(ref) == ("a.csv", CSV)


def test_old_temp_files_are_swept(folder: Path) -> None:
    store.store_upload(CSV, "a.csv")
    old, new = folder / ".ds-old.tmp", folder / ".ds-new.tmp"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"y")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    result = store.sweep()
    assert result.temps == [".ds-old.tmp"] and not old.exists() and new.exists()
    old.write_bytes(b"x")
    os.utime(old, (hours_ago, hours_ago))
    store.store_upload(OTHER, "b.csv")  # uploads sweep stale temp files too
    assert not old.exists()


def test_retention_removes_only_unpinned_expired_files(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = store.store_upload(CSV, "a.csv")
    gone = store.store_upload(OTHER, "b.csv")
    store.pin(kept, "share:abc")
    later = time.time() + 100 * 86400
    result = store.sweep(now=later)  # default retention: 90 days
    assert result.expired == [gone]
    assert (folder / kept).is_file() and not (folder / gone).exists()
    assert not (folder / ".records" / gone).exists()
    assert store.pins(kept) == ("share:abc",)
    monkeypatch.setenv(store.ENV_STORE_RETENTION_DAYS, "0")  # keep forever
    store.unpin(kept, "share:abc")
    assert store.sweep(now=later).expired == []


def test_quota_refuses_when_full_and_never_evicts_pins(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store.ENV_STORE_QUOTA_MB, str(60 / 2**20))  # 60 bytes
    first = store.store_upload(CSV, "a.csv")
    store.pin(first, "share:1")
    with pytest.raises(DataError, match="store is full.*TRACING_STORE_QUOTA_MB"):
        store.store_upload(CSV + b"3,1,1\n" * 5, "big.csv")
    assert (folder / first).is_file()
    # Expired unpinned files make room; the pinned one stays.
    store.unpin(first, "share:1")
    second = store.store_upload(OTHER, "b.csv")
    store.pin(second, "share:2")
    monkeypatch.setenv(store.ENV_STORE_RETENTION_DAYS, str(1 / 86400))  # one second
    old = time.time() - 10
    for record in (folder / ".records" / first).glob("*.json"):
        record.write_text(record.read_text().replace('"time": ', '"time": 1.0, "x": '))
    os.utime(folder / first, (old, old))
    third = store.store_upload(b"id,pred,label\n9,9,9\n", "c.csv")
    assert not (folder / first).exists() and (folder / second).is_file()
    assert (folder / third).is_file()


def test_delete_and_pins(folder: Path) -> None:
    ref = store.store_upload(CSV, "a.csv")
    store.pin(ref, "share:x")
    with pytest.raises(DataError, match="pinned.*share:x"):
        store.delete_dataset(ref)
    assert store.delete_dataset(ref, force=True) == len(CSV)
    assert store.list_datasets() == []
    with pytest.raises(DataError, match="not in this server's dataset store"):
        store.delete_dataset(ref)
    with pytest.raises(DataError, match="cannot pin"):
        store.pin(ref, "share:y")


def test_store_cli(folder: Path) -> None:
    parser = argparse.ArgumentParser(prog="tracing")
    store.add_store_parser(parser.add_subparsers(dest="command"))
    ref = store.store_upload(CSV, "a.csv")
    listing = store.run_store(parser.parse_args(["store", "list", "--verify"]))
    assert ref in listing and "yes" in listing
    swept = store.run_store(parser.parse_args(["store", "sweep"]))
    assert "0 expired" in swept
    deleted = store.run_store(parser.parse_args(["store", "delete", ref]))
    assert "deleted 1" in deleted
    assert "empty" in store.run_store(parser.parse_args(["store", "list"]))


def test_legacy_metadata_still_names_the_file(folder: Path) -> None:
    ref = store.store_upload(CSV, "a.csv")
    (folder / ".records").rename(folder / "gone")
    (folder / f"{ref}.json").write_text('{"name": "legacy.csv"}')
    assert store.dataset_name(ref) == "legacy.csv"
    assert store.dataset_name(ref, uploader="someone") == ref


def test_records_pins_and_secret_are_not_served_as_paths(folder: Path) -> None:
    ref = store.store_upload(CSV, "a.csv", uploader="alice")
    store.pin(ref, "share:1")
    for hidden in [".secret", *(str(p.relative_to(folder)) for p in folder.rglob("*.json"))]:
        with pytest.raises(DataError, match="hidden|unsupported"):
            sources.resolve_source(str(folder / hidden))
