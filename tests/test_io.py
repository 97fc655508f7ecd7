"""Loading CSV (plain, gzip, sniffed delimiter, BOM, Latin-1) and Parquet, types preserved."""

from __future__ import annotations

import gzip

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracing.errors import DataError
from tracing.io import read_table

CSV = (
    "id,flag,score,city,when\n"
    "1,true,0.5,Zürich,2026-01-02T03:04:05\n"
    "2,false,0.25,Köln,2026-01-03T00:00:00\n"
)


def _check_types(df: pd.DataFrame) -> None:
    assert df["id"].dtype == "int64"
    assert df["flag"].dtype == "bool"
    assert df["score"].dtype == "float64"
    assert df["city"].tolist() == ["Zürich", "Köln"]
    assert pd.api.types.is_datetime64_any_dtype(df["when"].dtype)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_sniffed(tmp_path, delimiter):
    path = tmp_path / "preds.csv"
    path.write_text(CSV.replace(",", delimiter), encoding="utf-8")
    _check_types(read_table(path))


def test_utf8_bom_and_gzip_and_bytes(tmp_path):
    data = b"\xef\xbb\xbf" + CSV.encode("utf-8")
    df = read_table(data, name="upload.csv")
    assert list(df.columns)[0] == "id"  # the BOM is not part of the first column's name
    _check_types(df)
    gz = tmp_path / "preds.csv.gz"
    gz.write_bytes(gzip.compress(CSV.encode()))
    _check_types(read_table(gz))
    _check_types(read_table(gzip.compress(CSV.encode()), name="preds.csv.gz"))


def test_latin1_file_is_decoded_not_garbled(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(CSV.encode("latin-1"))
    _check_types(read_table(path))


def test_latin1_beyond_the_sniffed_sample_is_decoded(tmp_path):
    rows = "".join(f"{i},plain\n" for i in range(20000)) + "20000,caf\xe9\n"
    path = tmp_path / "late.csv"
    path.write_bytes(("n,word\n" + rows).encode("latin-1"))
    df = read_table(path)
    assert df["word"].iloc[-1] == "café"


def test_missing_values_keep_ints_and_booleans(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,c\n1,true,x\n,false,\n3,,z\n")
    df = read_table(path)
    assert str(df["a"].dtype) == "Int64" and df["a"].tolist()[0] == 1 and df["a"].isna().sum() == 1
    assert str(df["b"].dtype) == "boolean" and df["b"].isna().sum() == 1
    assert df["c"].isna().sum() == 1


def test_parquet_from_path_and_bytes_keeps_types(tmp_path):
    frame = pd.DataFrame(
        {
            "id": pd.array([1, 2, None], dtype="Int64"),
            "flag": [True, False, True],
            "x": [1.5, 2.5, None],
            "s": ["a", None, "c"],
        }
    )
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    for df in (read_table(path), read_table(path.read_bytes(), name="p.parquet")):
        assert str(df["id"].dtype) == "Int64"
        assert df["flag"].dtype == "bool"
        pd.testing.assert_series_equal(df["x"], frame["x"])


def test_parquet_written_by_arrow_with_nulls_in_ints(tmp_path):
    table = pa.table({"n": pa.array([1, None, 3], pa.int32()), "m": pa.array([4, 5, 6])})
    path = tmp_path / "arrow.parquet"
    pq.write_table(table, path)
    df = read_table(path)
    assert str(df["n"].dtype) == "Int32" and df["n"].isna().sum() == 1
    assert df["m"].tolist() == [4, 5, 6]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("notes.docx", b"hello", "unsupported file type"),
        ("bad.parquet", b"not parquet at all", "not a Parquet file"),
        ("cut.parquet", b"PAR1\x00\x00garbage", "could not be read as PARQUET"),
    ],
)
def test_bad_files_get_a_message_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert name in str(info.value)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")
