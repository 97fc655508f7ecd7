"""What the user names -> TableSource: local files, folders, globs, object storage, tables.

Object storage runs against moto in server mode on 127.0.0.1 (an S3-compatible server), read
through pyarrow's own S3 filesystem configured from the standard AWS environment variables;
every read is checked against the tables written.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from tracing import storage
from tracing.errors import DataError
from tracing.io import parquet_memory
from tracing.storage import SourceFormat, estimate, resolve_table_source


def _table(seed: int, n: int = 50) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": [f"r{seed}-{i}" for i in range(n)],
            "score": rng.random(n),
            "state": rng.choice(["CA", "NY", "TX"], n).tolist(),
        }
    )


# Hive layout: day=<d>/part-<k>.parquet, two days, plus files every listing must skip.
PARTS = {(1, 0): 11, (1, 1): 12, (2, 0): 21}


def _expected(parts: dict[tuple[int, int], int] = PARTS, *, hive: bool = True) -> pd.DataFrame:
    frames = []
    for (day, _), seed in parts.items():
        frame = _table(seed).to_pandas()
        if hive:
            frame["day"] = day
        frames.append(frame)
    return _sorted(pd.concat(frames))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("id").reset_index(drop=True)[sorted(frame.columns)]


def _read(source) -> pd.DataFrame:
    return _sorted(source.dataset().to_table().to_pandas())


def _same(source, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(_read(source), expected, check_dtype=False)


# --- local -------------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    logs = root / "logs"
    for (day, k), seed in PARTS.items():
        (logs / f"day={day}").mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(seed), logs / f"day={day}" / f"part-{k}.parquet")
    (logs / "_SUCCESS").write_text("")
    (logs / "day=1" / ".part-0.parquet.crc").write_text("crc")
    (logs / "notes.txt").write_text("not data")
    outside.mkdir()
    pq.write_table(_table(99), outside / "secret.parquet")
    (root / "preds.csv").write_text("a,b\n1,2\n")
    monkeypatch.setenv("TRACING_DATA_ROOTS", str(root))
    monkeypatch.chdir(root)
    return {"root": root.resolve(), "logs": logs.resolve(), "outside": outside}


def test_one_file_inside_a_root(local):
    path = local["logs"] / "day=1" / "part-0.parquet"
    source = resolve_table_source(str(path))
    assert source.paths == (str(path),) and source.hive_root is None
    _same(source, _sorted(_table(11).to_pandas()))
    assert resolve_table_source("logs/day=1/part-0.parquet").paths == source.paths  # cwd


def test_a_folder_is_every_parquet_file_below_it_with_hive_partitions(local):
    source = resolve_table_source("logs/")
    assert source.hive_root == str(local["logs"])
    assert [Path(p).relative_to(local["logs"]).as_posix() for p in source.paths] == [
        "day=1/part-0.parquet",
        "day=1/part-1.parquet",
        "day=2/part-0.parquet",
    ]  # _SUCCESS, the hidden .crc and notes.txt are left out
    _same(source, _expected())


def test_a_folder_without_partition_folders_has_no_hive_root(local):
    flat = local["root"] / "flat"
    flat.mkdir()
    pq.write_table(_table(5), flat / "a.parquet")
    pq.write_table(_table(6), flat / "b.pq")
    source = resolve_table_source(str(flat))
    assert source.hive_root is None and len(source.paths) == 2
    _same(source, _sorted(pd.concat([_table(5).to_pandas(), _table(6).to_pandas()])))


@pytest.mark.parametrize(
    ("pattern", "parts", "hive"),
    [
        ("logs/day=*/part-*.parquet", PARTS, True),
        # The literal folder is day=1: no partition folder below it.
        ("logs/day=1/part-*.parquet", {k: v for k, v in PARTS.items() if k[0] == 1}, False),
        ("logs/day=[2]/*.parquet", {(2, 0): 21}, True),
        ("logs/**/part-1.parquet", {(1, 1): 12}, True),
        ("logs/**/*.parquet", PARTS, True),
    ],
)
def test_a_glob_matches_like_the_shell(local, pattern, parts, hive):
    source = resolve_table_source(pattern)
    assert len(source.paths) == len(parts)
    assert source.hive_root == (str(local["logs"]) if hive else None)
    _same(source, _expected(parts, hive=hive))


def test_a_glob_star_stays_within_one_folder(local):
    with pytest.raises(DataError, match="no file matches"):
        resolve_table_source("logs/*.parquet")  # the files are one folder further down


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("logs/day=9*/*.parquet", "no file matches this pattern"),
        ("logs/*.txt", "notes.txt is not a Parquet file"),
        ("preds.csv", "preds.csv is not a Parquet file.*--engine memory"),
        ("missing.parquet", "file not found, or not inside an allowed data folder"),
        ("nowhere/*.parquet", "folder not found"),
        ("../outside/secret.parquet", "not inside an allowed data folder"),
        ("../outside", "not inside an allowed data folder"),
        ("../outside/*.parquet", "not inside an allowed data folder"),
        ("/etc/*", "not inside an allowed data folder"),
        ("http://example.org/x.parquet", "only local paths, s3://, gs://"),
        ("file:///etc/passwd", "only local paths, s3://, gs://"),
        ("", "no data given"),
    ],
)
def test_refusals_name_the_problem(local, ref, message):
    with pytest.raises(DataError, match=message):
        resolve_table_source(ref)


def test_a_folder_without_parquet_files_is_refused(local):
    (local["root"] / "empty").mkdir()
    (local["root"] / "empty" / "a.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match="no Parquet files"):
        resolve_table_source("empty")


def test_symlinks_out_of_the_roots_are_refused(local):
    logs = local["logs"]
    (logs / "day=2" / "part-9.parquet").symlink_to(local["outside"] / "secret.parquet")
    for ref in ("logs", "logs/day=2/*.parquet", "logs/day=2/part-9.parquet"):
        with pytest.raises(DataError, match="not inside an allowed data folder"):
            resolve_table_source(ref)
    (local["root"] / "alias").symlink_to(local["outside"], target_is_directory=True)
    with pytest.raises(DataError, match="not inside an allowed data folder"):
        resolve_table_source("alias")


def test_a_symlinked_folder_below_a_listed_folder_is_not_entered(local):
    (local["logs"] / "day=3").symlink_to(local["outside"], target_is_directory=True)
    source = resolve_table_source("logs")
    assert not any("secret" in p for p in source.paths)
    _same(source, _expected())


def test_symlinks_within_the_roots_are_followed(local):
    (local["root"] / "latest.parquet").symlink_to(local["logs"] / "day=2" / "part-0.parquet")
    _same(resolve_table_source("latest.parquet"), _sorted(_table(21).to_pandas()))


def test_explicit_roots_replace_the_setting(local):
    with pytest.raises(DataError, match="not inside an allowed data folder"):
        resolve_table_source(str(local["outside"] / "secret.parquet"))
    source = resolve_table_source(
        str(local["outside"] / "secret.parquet"), allowed_roots=[local["outside"]]
    )
    _same(source, _sorted(_table(99).to_pandas()))


def test_an_uploads_dataset_id_names_its_stored_file(local, tmp_path, monkeypatch):
    from tracing import sources

    monkeypatch.setenv("TRACING_STORE_DIR", str(tmp_path / "store"))  # outside the data roots
    monkeypatch.delenv("TRACING_STORE_SECRET", raising=False)
    buffer = pa.BufferOutputStream()
    pq.write_table(_table(4), buffer)
    ref = sources.store_upload(buffer.getvalue().to_pybytes(), "prod.parquet")
    _same(resolve_table_source(ref), _sorted(_table(4).to_pandas()))
    csv_ref = sources.store_upload(b"a,b\n1,2\n", "prod.csv")
    with pytest.raises(DataError, match="is not a Parquet file"):
        resolve_table_source(csv_ref)
    with pytest.raises(DataError, match="not in this server's dataset store"):
        resolve_table_source("ds-" + "0" * 32 + ".parquet")


@pytest.mark.parametrize("name", ["db.preds", "main.db.preds", "Sales_2026.t_1"])
def test_catalog_tables(name):
    source = resolve_table_source(f"table:{name}")
    assert source.table == name and source.paths == ()
    assert estimate(source).format == SourceFormat.CATALOG and estimate(source).rows is None


@pytest.mark.parametrize("name", ["preds", "db.preds; DROP TABLE x", "db..t", "1db.t", "a.b.c.d"])
def test_bad_table_names_are_refused(name):
    with pytest.raises(DataError, match="not a table name"):
        resolve_table_source(f"table:{name}")


# --- estimate: footers only --------------------------------------------------------------------


def test_estimate_from_footers_equals_the_data(local):
    source = resolve_table_source("logs")
    size = estimate(source)
    written = sum(_table(seed).num_rows for seed in PARTS.values())
    assert size.format == SourceFormat.PARQUET and size.files == 3
    assert size.rows == written == source.dataset().count_rows()
    assert size.disk_bytes == sum(os.path.getsize(p) for p in source.paths)
    footers = sum(parquet_memory(pq.read_metadata(p)) for p in source.paths)
    # One partition key (day), whose column the footers do not hold.
    assert size.memory_bytes == footers + written * storage._HIVE_KEY_BYTES
    assert size.memory_bytes >= source.dataset().to_table().nbytes * 0.5  # same order


def test_estimate_never_reads_the_data(local):
    # Data pages overwritten, footer intact: reading fails, the estimate does not.
    path = local["root"] / "damaged.parquet"
    table = pa.table({"x": np.arange(100_000, dtype="int64")})
    pq.write_table(table, path, compression="none")
    raw = bytearray(path.read_bytes())
    raw[4:50_000] = b"\xff" * 49_996  # from the first page header on
    path.write_bytes(bytes(raw))
    source = resolve_table_source("damaged.parquet")
    with pytest.raises((OSError, pa.ArrowException)):
        source.dataset().to_table()
    assert estimate(source).rows == 100_000


def test_estimate_of_a_file_that_is_not_parquet(local):
    (local["root"] / "fake.parquet").write_text("id,score\n1,2\n")
    with pytest.raises(DataError, match="fake.parquet: not a Parquet file"):
        estimate(resolve_table_source("fake.parquet"))


def test_estimate_of_rows_in_memory():
    table = _table(3)
    size = estimate(storage.TableSource(label="upload", arrow=table))
    assert (size.format, size.rows, size.memory_bytes) == ("arrow", 50, table.nbytes)


# --- object storage (moto on 127.0.0.1) --------------------------------------------------------

BUCKET = "tracing-logs"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = pafs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        endpoint_override=endpoint,
        allow_bucket_creation=True,
    )
    fs.create_dir(BUCKET)
    for (day, k), seed in PARTS.items():
        pq.write_table(_table(seed), f"{BUCKET}/logs/day={day}/part-{k}.parquet", filesystem=fs)
    with fs.open_output_stream(f"{BUCKET}/logs/_SUCCESS") as out:
        out.write(b"")
    with fs.open_output_stream(f"{BUCKET}/logs/readme.txt") as out:
        out.write(b"not data")
    pq.write_table(_table(7), f"{BUCKET}/other/t.parquet", filesystem=fs)
    pq.write_table(_table(8), f"{BUCKET}/logs2/t.parquet", filesystem=fs)
    yield endpoint
    server.stop()


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The standard AWS variables pointing at the local server; only logs/ allowed."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("TRACING_DATA_URIS", f"s3://{BUCKET}/logs/")
    return s3_server


def test_s3_file_is_read_through_the_environments_endpoint(s3):
    source = resolve_table_source(f"s3://{BUCKET}/logs/day=2/part-0.parquet")
    assert source.paths == (f"{BUCKET}/logs/day=2/part-0.parquet",)
    assert isinstance(source.filesystem, pafs.S3FileSystem)
    _same(source, _sorted(_table(21).to_pandas()))


@pytest.mark.parametrize("ref", [f"s3://{BUCKET}/logs", f"s3://{BUCKET}/logs/"])
def test_s3_folder_with_hive_partitions(s3, ref):
    source = resolve_table_source(ref)
    assert source.hive_root == f"{BUCKET}/logs" and len(source.paths) == 3
    _same(source, _expected())


def test_s3_glob(s3):
    source = resolve_table_source(f"s3://{BUCKET}/logs/day=*/part-0.parquet")
    assert source.hive_root == f"{BUCKET}/logs"
    _same(source, _expected({k: v for k, v in PARTS.items() if k[1] == 0}))


def test_s3_estimate_equals_the_footers(s3):
    source = resolve_table_source(f"s3://{BUCKET}/logs/")
    size = estimate(source)
    fs = source.filesystem
    metas = [pq.read_metadata(p, filesystem=fs) for p in source.paths]
    assert size.rows == sum(m.num_rows for m in metas) == 150
    assert size.disk_bytes == sum(fs.get_file_info(p).size for p in source.paths)
    assert size.files == 3


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (f"s3://{BUCKET}/other/t.parquet", "not under an allowed object-storage prefix"),
        (f"s3://{BUCKET}/logs2/t.parquet", "not under an allowed object-storage prefix"),
        (f"s3://{BUCKET}/", "not under an allowed object-storage prefix"),
        (f"s3://{BUCKET}/lo*/t.parquet", "not under an allowed object-storage prefix"),
        (f"s3://{BUCKET}/logs/../other/t.parquet", r"no '\.', '\.\.' or empty folder"),
        (f"s3://{BUCKET}/logs/x.parquet?endpoint_override=evil:1", "leave out the query"),
        (f"s3://key:secret@{BUCKET}/logs/", "leave out credentials"),
        ("s3://Upper/logs/", "bucket name"),
        (f"s3://{BUCKET}/logs/day=9/*.parquet", "no file matches"),
        (f"s3://{BUCKET}/logs/day=1/part-7.parquet", "no file there"),
        (f"s3://{BUCKET}/logs/readme.txt", "readme.txt is not a Parquet file"),
        (f"s3://{BUCKET}/logs/*.txt", "readme.txt is not a Parquet file"),
    ],
)
def test_s3_refusals(s3, ref, message):
    with pytest.raises(DataError, match=message):
        resolve_table_source(ref)


def test_s3_is_off_without_allowed_prefixes(s3, monkeypatch):
    monkeypatch.delenv("TRACING_DATA_URIS")
    with pytest.raises(DataError, match="object storage is off.*TRACING_DATA_URIS"):
        resolve_table_source(f"s3://{BUCKET}/logs/")
    # Explicit prefixes replace the setting.
    source = resolve_table_source(f"s3://{BUCKET}/other/", allowed_uris=[f"s3://{BUCKET}/"])
    _same(source, _sorted(_table(7).to_pandas()))


def test_s3_missing_bucket(s3, monkeypatch):
    monkeypatch.setenv("TRACING_DATA_URIS", "s3://no-such-bucket/")
    with pytest.raises(DataError, match="bucket no-such-bucket does not exist"):
        resolve_table_source("s3://no-such-bucket/logs/a.parquet")
    with pytest.raises(DataError, match="bucket no-such-bucket does not exist"):
        resolve_table_source("s3://no-such-bucket/logs/*.parquet")
    with pytest.raises(DataError, match="bucket no-such-bucket does not exist"):
        resolve_table_source("s3://no-such-bucket/logs/")


def test_s3_unreachable_endpoint_is_a_clear_error(s3, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(DataError, match=f"could not read bucket {BUCKET}.*AWS_ENDPOINT_URL"):
        resolve_table_source(f"s3://{BUCKET}/logs/")
    assert time.monotonic() - start < 60


def test_gs_uris_share_the_checks_without_a_network(monkeypatch):
    monkeypatch.setenv("TRACING_DATA_URIS", "gs://ml-logs/preds/")
    with pytest.raises(DataError, match="not under an allowed object-storage prefix"):
        resolve_table_source("gs://ml-logs/other/a.parquet")
    with pytest.raises(DataError, match="not under an allowed object-storage prefix"):
        resolve_table_source("s3://ml-logs/preds/a.parquet")  # same bucket name, other scheme
