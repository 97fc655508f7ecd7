"""Big files: each read once, its size in memory estimated, a clear error when it is too big.

The estimates are checked against the frames actually read (the oracle); the out-of-memory
paths with a monkeypatched available-memory figure, never a real out-of-memory.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracing.io as tio
from tests.conftest import make_binary
from tracing.cli import main
from tracing.errors import DataError
from tracing.io import available_memory, parquet_memory, read_table

_PROC_IO = Path("/proc/self/io")


def _bytes_read() -> int:
    for line in _PROC_IO.read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def _incompressible(n: int, seed: int) -> pd.DataFrame:
    frame = make_binary(n=n, seed=seed)
    rng = np.random.default_rng(seed)
    for j in range(8):  # random floats: the file's size is its data, whatever the codec
        frame[f"noise_{j}"] = rng.random(n)
    return frame


@pytest.fixture
def big_pair(tmp_path: Path) -> tuple[Path, Path]:
    paths = tmp_path / "baseline.parquet", tmp_path / "production.parquet"
    for seed, path in enumerate(paths):
        _incompressible(60_000, seed).to_parquet(path, compression=None)
    return paths


@pytest.mark.skipif(not _PROC_IO.exists(), reason="needs Linux's per-process I/O counters")
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_cli_reads_each_file_once(big_pair, tmp_path, capsys, fmt):
    paths = big_pair
    if fmt == "csv":
        paths = tuple(p.with_suffix(".csv") for p in big_pair)
        for src, dst in zip(big_pair, paths, strict=True):
            pd.read_parquet(src).to_csv(dst, index=False)
    args = ["report", "--baseline", str(paths[0]), "--production", str(paths[1])]
    args += ["--sections", "overall,drift", "--output", str(tmp_path / "r.json")]
    assert main(args) == 0  # a first run imports every module the report needs
    capsys.readouterr()
    before = _bytes_read()
    assert main(args) == 0, capsys.readouterr().err
    read = _bytes_read() - before
    size = sum(p.stat().st_size for p in paths)
    assert size > 8 << 20
    # Every byte once, plus the heads sniffed (64 KiB a file) and small change; a second read
    # of either file would add at least 4 MB.
    assert size <= read < size + (1 << 20), (read, size)


def test_a_path_is_parsed_once_and_never_copied_into_python_bytes(big_pair, monkeypatch):
    opened: list[str] = []
    real = tio._Source.stream

    def stream(self: tio._Source) -> pa.NativeFile:
        opened.append(self.label)
        return real(self)

    monkeypatch.setattr(tio._Source, "stream", stream)
    monkeypatch.setattr(tio._Source, "read_all", lambda self: pytest.fail("bytes copied"))
    for path in big_pair:
        read_table(path)
    assert opened == [str(p) for p in big_pair]


def test_a_csv_path_is_parsed_once(tmp_path, monkeypatch):
    path = tmp_path / "p.csv"
    make_binary(n=500, seed=3).to_csv(path, index=False)
    gz = tmp_path / "p.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    parses: list[str] = []
    real = tio._CsvFile.parse

    def parse(self: tio._CsvFile, *args: object, **kwargs: object) -> pa.Table:
        parses.append(self.src.label)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tio._CsvFile, "parse", parse)
    monkeypatch.setattr(tio._Source, "read_all", lambda self: pytest.fail("bytes copied"))
    plain, zipped = read_table(path), read_table(gz)
    assert parses == [str(path), str(gz)]
    pd.testing.assert_frame_equal(plain, zipped)
    pd.testing.assert_frame_equal(plain, read_table(path.read_bytes(), name="p.csv"))


def test_a_path_and_its_bytes_read_the_same(big_pair):
    for path in big_pair:
        pd.testing.assert_frame_equal(read_table(path), read_table(path.read_bytes(), name="x.pq"))


def _mixed(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = np.array([f"merchant_{i}" for i in range(300)])
    amount = rng.lognormal(3, 1, n)
    return pa.table(
        {
            "id": pa.array([f"id-{seed}-{i:09d}" for i in range(n)]),  # plain (unique) text
            "merchant": pa.array(names[rng.zipf(1.5, n) % 300]),  # dictionary-encoded text
            "state": pa.array(names[rng.integers(0, 5, n)]).dictionary_encode(),
            "amount": pa.array(amount, mask=rng.random(n) < 0.1),
            "count": pa.array(rng.integers(0, 9, n), mask=rng.random(n) < 0.1),
            "age": pa.array(rng.integers(18, 90, n).astype(np.int32)),
            "flag": pa.array(rng.random(n) < 0.5),
            "when": pa.array(rng.integers(0, 10**15, n), pa.timestamp("us", tz="UTC")),
        }
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1_000, 40_000), seed=st.integers(0, 10), groups=st.integers(1, 4))
def test_the_parquet_estimate_is_within_2x_of_the_frame_read(tmp_path_factory, n, seed, groups):
    path = tmp_path_factory.mktemp("pq") / "f.parquet"
    pq.write_table(_mixed(n, seed), path, row_group_size=-(-n // groups))
    frame = read_table(path)
    actual = int(frame.memory_usage(deep=True, index=False).sum())
    estimate = parquet_memory(pq.ParquetFile(path).metadata)
    assert actual / 2 <= estimate <= actual * 2, (estimate, actual)


def test_the_csv_estimate_is_within_2x_of_the_frame_read(tmp_path):
    path = tmp_path / "f.csv"
    _mixed(30_000, 1).to_pandas().to_csv(path, index=False)
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    actual = int(read_table(path).memory_usage(deep=True, index=False).sum())
    for f, zipped in ((path, False), (gz, True)):
        estimate = tio._csv_memory(tio._Source(str(f), path=f), zipped)
        assert actual / 2 <= estimate <= actual * 2, (f, estimate, actual)


def test_available_memory_is_a_positive_figure_below_the_machine_total():
    total = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    available = available_memory()
    assert available is not None and 0 < available <= total


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_a_file_too_large_for_memory_is_a_clear_data_error(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"prod{suffix}"
    frame = make_binary(n=20_000, seed=1)
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, compression=None)
    if suffix == ".csv.gz":
        path.write_bytes(gzip.compress(path.read_bytes()))
    monkeypatch.setattr(tio, "available_memory", lambda: 300 << 10)  # 300 KB free
    with pytest.raises(DataError) as err:
        read_table(path)
    text = str(err.value)
    assert text.startswith(f"{path}: too large to read into memory (about ")
    assert "MB in memory once read) with 0.293 MB of memory available" in text
    assert "fewer rows" in text
    monkeypatch.setattr(tio, "available_memory", lambda: 1 << 40)
    assert len(read_table(path)) == 20_000
    monkeypatch.setattr(tio, "available_memory", lambda: None)  # unknown: no check
    assert len(read_table(path)) == 20_000


def test_memory_running_out_during_the_read_is_a_data_error(tmp_path, monkeypatch):
    path = tmp_path / "prod.parquet"
    make_binary(n=1_000, seed=1).to_parquet(path)

    def boom(*args: object, **kwargs: object) -> None:
        raise pa.ArrowMemoryError("malloc of size 8589934592 failed")

    monkeypatch.setattr(pq.ParquetFile, "read", boom)
    monkeypatch.setattr(tio, "available_memory", lambda: 5 << 30)
    expected = r"prod\.parquet: too large to read into memory with 5\.0 GB of memory available"
    with pytest.raises(DataError, match=expected):
        read_table(path)


def test_the_cli_says_out_of_memory_in_one_line_with_exit_code_2(tmp_path, monkeypatch, capsys):
    b, p = tmp_path / "base.parquet", tmp_path / "prod.parquet"
    make_binary(n=2_000, seed=1).to_parquet(b)
    make_binary(n=2_000, seed=2).to_parquet(p)
    args = ["report", "--baseline", str(b), "--production", str(p), "--sections", "overall"]
    monkeypatch.setattr(tio, "available_memory", lambda: 10 << 10)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {p}: too large to read into memory")

    def exhausted(*a: object, **k: object) -> None:
        raise MemoryError

    monkeypatch.setattr(tio, "available_memory", lambda: None)
    monkeypatch.setattr("tracing.cli.build_report", exhausted)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: base.parquet and prod.parquet: out of memory while analysing")
