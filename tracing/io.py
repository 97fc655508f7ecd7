"""Reading prediction files: CSV (plain or gzip) and Parquet, from a path or from bytes.

Parsing is pyarrow's (multi-threaded, typed); this module only chooses options: it sniffs the
CSV delimiter, falls back from UTF-8 to Latin-1 when the bytes are not UTF-8, and converts to
pandas so that column types survive: integers stay integers (nullable ``Int64`` only when a
value is missing), booleans stay booleans, timestamps stay timestamps.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tracing.errors import DataError

__all__ = ["SUPPORTED_SUFFIXES", "read_table", "table_format"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".parquet", ".pq")
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


def table_format(name: str) -> str:
    """Return ``"parquet"`` or ``"csv"`` for a file name, by its suffix.

    Parameters
    ----------
    name : str
        File name or path.

    Returns
    -------
    str
        ``"parquet"`` for ``.parquet``/``.pq``, ``"csv"`` for ``.csv``, ``.csv.gz``, ``.tsv``
        and ``.txt``.

    Raises
    ------
    DataError
        For any other suffix.
    """
    lower = name.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".csv", ".csv.gz", ".tsv", ".txt", ".tsv.gz", ".txt.gz")):
        return "csv"
    raise DataError(
        f"{name}: unsupported file type; use CSV (.csv, .csv.gz, .tsv) or Parquet (.parquet)."
    )


def read_table(source: str | Path | bytes, *, name: str | None = None) -> pd.DataFrame:
    r"""Read a CSV or Parquet table into a pandas DataFrame.

    Parameters
    ----------
    source : str, Path or bytes
        A local file path, or the file's bytes (an upload).
    name : str, optional
        The file name, used to pick the format for bytes and in error messages. Defaults to
        the path. For bytes without a name the format is taken from the content.

    Returns
    -------
    pandas.DataFrame
        One column per file column, types preserved (see the module docstring).

    Raises
    ------
    DataError
        If the file is missing, unreadable, of an unknown type, or has no columns.

    Examples
    --------
    >>> df = read_table(b"id,pred,label\n1,1,0\n2,0,0\n", name="preds.csv")
    >>> df.dtypes.astype(str).tolist()
    ['int64', 'int64', 'int64']
    """
    if isinstance(source, bytes):
        data = source
        label = name or "uploaded file"
    else:
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise DataError(f"{label}: file not found; check the path.")
        data = path.read_bytes()
    fmt = _sniff_format(data, label)
    try:
        table = _read_parquet(data) if fmt == "parquet" else _read_csv(data, label)
    except DataError:
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{label}: could not be read as {fmt.upper()} ({reason}); "
            "check that the file is a valid, complete CSV or Parquet file."
        ) from exc
    if table.num_columns == 0:
        raise DataError(f"{label}: the file has no columns; it needs a header row and data.")
    seen: set[str] = set()
    for column in table.column_names:
        if column in seen:
            raise DataError(
                f"{label}: column {column!r} appears twice in the header; "
                "rename one of them so every column name is unique."
            )
        seen.add(column)
    return _to_pandas(table)


def _sniff_format(data: bytes, label: str) -> str:
    """Choose CSV or Parquet: trust the content first, then the suffix."""
    if data[:4] == _PARQUET_MAGIC:
        return "parquet"
    if label.lower().endswith((".parquet", ".pq")):
        raise DataError(f"{label}: not a Parquet file (no PAR1 header); upload the file again.")
    if label in ("uploaded file",) or "." not in Path(label).name:
        return "csv"
    return table_format(label)


def _read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def _read_csv(data: bytes, label: str) -> pa.Table:
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    if not data.strip():
        raise DataError(f"{label}: the file is empty; it needs a header row and data.")
    sample = data[:_SNIFF_BYTES]
    encoding = "utf8" if _is_utf8(sample) else "latin1"
    delimiter = _sniff_delimiter(sample.decode(encoding, errors="replace"))
    table = _parse_csv(data, delimiter, encoding)
    if encoding == "utf8" and any(pa.types.is_binary(f.type) for f in table.schema):
        # Invalid UTF-8 beyond the sniffed sample: pyarrow leaves such columns as raw bytes.
        log.info("%s: not UTF-8, re-reading as Latin-1", label)
        table = _parse_csv(data, delimiter, "latin1")
    return table


def _parse_csv(data: bytes, delimiter: str, encoding: str) -> pa.Table:
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )


def _is_utf8(sample: bytes) -> bool:
    # A multi-byte character may be cut at the sample's end: ignore up to 3 trailing bytes.
    for cut in range(4):
        try:
            sample[: len(sample) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()
    # Sniff complete lines only; the last one of the sample may be cut.
    head = "\n".join(lines[:-1] if len(lines) > 2 else lines)
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] > 0 else ","


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # Integers and booleans with missing values would become float/object in plain pandas;
    # map those (and only those) to pandas' nullable dtypes so the values are kept exactly.
    mapping: dict[pa.DataType, object] = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        if column.null_count == 0:
            continue
        if pa.types.is_integer(field.type):
            mapping[field.type] = pd.api.types.pandas_dtype(f"Int{field.type.bit_width}")
        elif pa.types.is_boolean(field.type):
            mapping[field.type] = pd.BooleanDtype()
    # Dates (date32/date64, as CSV dates parse) become timestamps, not Python date objects.
    dates = [i for i, f in enumerate(table.schema) if pa.types.is_date(f.type)]
    for i in dates:
        table = table.set_column(i, table.schema[i].name, table.column(i).cast(pa.timestamp("s")))
    frame: pd.DataFrame = table.to_pandas(types_mapper=mapping.get if mapping else None)
    return frame
