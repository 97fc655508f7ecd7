"""Bounded reading: gzip bombs, cell and column caps stop while reading; exact ids and numbers."""

from __future__ import annotations

import decimal
import gzip
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracing import settings
from tracing.errors import DataError
from tracing.io import ReadLimits, cli_limits, read_table, visitor_limits

ROOT = Path(__file__).resolve().parents[1]


def _bomb(path: Path, megabytes: int) -> None:
    line = b"0,1,0.5\n" * (1 << 17)  # 1 MiB
    with gzip.open(path, "wb", compresslevel=6) as fh:
        fh.write(b"a,b,c\n")
        for _ in range(megabytes):
            fh.write(line)


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    _bomb(bomb, 768)  # ~2 MB on disk, 768 MiB expanded
    assert bomb.stat().st_size < 4 << 20
    script = textwrap.dedent(
        f"""
        import resource, sys
        from tracing.errors import DataError
        from tracing.io import ReadLimits, read_table
        data = open({str(bomb)!r}, "rb").read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_table(data, name="bomb.csv.gz",
                       limits=ReadLimits(max_decompressed_bytes=32 * 2**20))
        except DataError as exc:
            message = str(exc)
        else:
            sys.exit("no DataError")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024, message)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    grown_mb, message = done.stdout.split(" ", 1)
    assert "bomb.csv.gz" in message and "TRACING_MAX_DECOMPRESSED_MB" in message
    assert "33,554,432" in message
    assert int(grown_mb) < 150, f"peak memory grew by {grown_mb} MB"


def test_plain_csv_over_the_byte_cap(tmp_path: Path) -> None:
    data = b"a,b\n" + b"1,2\n" * 1000
    with pytest.raises(DataError, match="big.csv.*TRACING_MAX_DECOMPRESSED_MB"):
        read_table(data, name="big.csv", limits=ReadLimits(max_decompressed_bytes=100))
    assert read_table(data, name="big.csv", limits=ReadLimits(max_decompressed_bytes=10**6)).shape


def test_cell_and_column_caps_for_csv_and_parquet() -> None:
    data = b"a,b,c\n" + b"1,2,3\n" * 100
    with pytest.raises(DataError, match="100 rows x 3 columns.*TRACING_MAX_CELLS"):
        read_table(data, name="f.csv", limits=ReadLimits(max_cells=299))
    assert read_table(data, name="f.csv", limits=ReadLimits(max_cells=300)).shape == (100, 3)
    with pytest.raises(DataError, match="3 columns are over.*TRACING_MAX_COLUMNS"):
        read_table(data, name="f.csv", limits=ReadLimits(max_columns=2))
    buf = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(100)), "b": list(range(100))}), buf)
    pdata = buf.getvalue()
    with pytest.raises(DataError, match="f.parquet.*TRACING_MAX_CELLS"):
        read_table(pdata, name="f.parquet", limits=ReadLimits(max_cells=150))
    with pytest.raises(DataError, match="f.parquet.*TRACING_MAX_DECOMPRESSED_MB"):
        read_table(pdata, name="f.parquet", limits=ReadLimits(max_decompressed_bytes=100))
    ok = read_table(pdata, name="f.parquet", limits=ReadLimits(max_cells=200))
    assert ok.equals(read_table(pdata, name="f.parquet"))


def test_ten_thousand_columns_are_refused_above_the_column_cap() -> None:
    header = ",".join(f"c{i}" for i in range(10_000)).encode()
    data = header + b"\n" + b",".join([b"1"] * 10_000) + b"\n"
    with pytest.raises(DataError, match="10,000 columns.*5,000.*TRACING_MAX_COLUMNS"):
        read_table(data, name="wide.csv", limits=ReadLimits(max_columns=5000))
    assert read_table(data, name="wide.csv").shape == (1, 10_000)


def test_visitor_and_cli_limits_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRACING_MAX_DECOMPRESSED_MB", "TRACING_MAX_CELLS", "TRACING_MAX_COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    assert cli_limits() == ReadLimits()  # operators' big files: no cap unless set
    visitor = visitor_limits()
    assert visitor.max_decompressed_bytes == 2048 * 2**20
    assert visitor.max_cells == 200_000_000 and visitor.max_columns == 2000
    monkeypatch.setenv("TRACING_MAX_CELLS", "1000")
    monkeypatch.setenv("TRACING_MAX_COLUMNS", "0")
    assert cli_limits() == ReadLimits(max_cells=1000)
    assert visitor_limits().max_columns is None
    monkeypatch.setenv("TRACING_MAX_DECOMPRESSED_MB", "inf")
    with pytest.raises(DataError, match="TRACING_MAX_DECOMPRESSED_MB"):
        visitor_limits()
    for text in ("-1", "many", "1.5"):
        with pytest.raises(DataError, match="TRACING_MAX_CELLS"):
            settings.get("TRACING_MAX_CELLS", environ={"TRACING_MAX_CELLS": text})


# --- exact data ---------------------------------------------------------------------------------


def test_integers_beyond_int64_stay_exact_in_csv() -> None:
    big = [2**63 + 1, 2**63 + 2, 10**30 + 1, 10**30 + 2]
    data = ("id,score\n" + "".join(f"{v},0.5\n" for v in big)).encode()
    frame = read_table(data, name="ids.csv")
    assert frame["id"].tolist() == [str(v) for v in big]
    assert frame["id"].nunique() == 4  # no false "repeated prediction_id"
    gz = read_table(gzip.compress(data), name="ids.csv.gz")
    assert gz["id"].tolist() == [str(v) for v in big]
    # Real floats, and integers that fit, are untouched.
    floats = read_table(b"x,y\n1e30,5\n2.5e30,9223372036854775807\n", name="f.csv")
    assert floats["x"].dtype == "float64" and floats["y"].dtype == "int64"


def test_integers_beyond_int64_stay_exact_in_parquet() -> None:
    table = pa.table(
        {
            "u": pa.array([2**63 + 1, 2**63 + 2], pa.uint64()),
            "d": pa.array(
                [decimal.Decimal(10**30 + 1), decimal.Decimal(10**30 + 2)], pa.decimal128(38, 0)
            ),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    frame = read_table(buf.getvalue(), name="ids.parquet")
    assert frame["u"].tolist() == [2**63 + 1, 2**63 + 2]
    assert [int(v) for v in frame["d"]] == [10**30 + 1, 10**30 + 2]
    assert frame["d"].nunique() == 2


def test_decimal_comma_csv_is_read_as_numbers() -> None:
    text = "id;score;label;amount;city\n1;0,73;1;1.234,5;Bonn\n2;0,2;0;12;Köln\n3;1;1;3,0;Ulm\n"
    data = text.encode()
    frame = read_table(data, name="eu.csv")
    assert frame["score"].tolist() == [0.73, 0.2, 1.0]
    assert frame["amount"].tolist() == [1234.5, 12.0, 3.0]
    assert frame["label"].dtype == "int64"
    assert frame["city"].tolist() == ["Bonn", "Köln", "Ulm"]
    assert pd.api.types.is_float_dtype(frame["score"].dtype)


def test_ten_thousand_columns_prepare() -> None:
    # Its speed is measured by bench/wide.py, not timed here.
    import numpy as np

    from tracing import prepare_analysis
    from tracing.schema import only_columns, shared_columns

    rng = np.random.default_rng(0)
    n, k = 200, 10_000

    def frame() -> pd.DataFrame:
        data = {f"f{i}": rng.normal(size=n) for i in range(k)}
        data["score"] = rng.uniform(size=n)
        data["label"] = (data["score"] > 0.5).astype(int)
        return pd.DataFrame(data)

    base, prod = frame(), frame()
    analysis = prepare_analysis(base, prod.drop(columns=["f0"]))
    assert "f1" in analysis.schema.roles.features
    assert any("f0" in note for note in analysis.notes)
    assert shared_columns(["a", "b", "c"], ["c", "a"]) == ["a", "c"]
    assert only_columns(["a", "b", "c"], ["c", "a"]) == ["b"]


def test_quoted_decimal_commas_in_a_comma_csv() -> None:
    frame = read_table(b'id,score,total\n1,"0,73","1,234"\n2,"0,2","2,500"\n', name="q.csv")
    assert frame["score"].tolist() == [0.73, 0.2]
    assert frame["total"].tolist() == ["1,234", "2,500"]  # thousands or decimals: ambiguous
