"""Reading prediction files: CSV (plain or gzip) and Parquet, from a path or from bytes.

Parsing is pyarrow's (multi-threaded, typed); this module only chooses options: it sniffs the
CSV delimiter, falls back from UTF-8 to Latin-1 when the bytes are not UTF-8, and converts to
pandas so that column types survive: integers stay integers (nullable ``Int64`` only when a
value is missing), booleans stay booleans, timestamps stay timestamps.

Exactness:

- Integers too large for int64 (ids above 2**63, ``10**30 + k``), which pyarrow's CSV reader
  would turn into float64 and collapse, are kept exactly as text (Parquet keeps its own
  ``uint64``/decimal types, which pandas holds exactly).
- A CSV delimited by something other than ``,`` whose text columns hold decimal-comma numbers
  (``0,73``, ``1.234,5``) has those columns read as numbers, so numbers are never silently
  read as text.

Bounded reading (`ReadLimits`): a cap on the bytes a file expands to (counted while gunzipping,
so a gzip bomb stops at the cap instead of filling memory), on its cells (rows x columns,
estimated from the line count before parsing) and on its columns. The engine applies no cap by
default; the app passes `visitor_limits` for what a visitor can reach, the CLI `cli_limits`
(caps only where the operator set the setting).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tracing import settings
from tracing.errors import DataError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ReadLimits",
    "available_memory",
    "cli_limits",
    "parquet_memory",
    "read_table",
    "table_format",
    "visitor_limits",
]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".parquet", ".pq")
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_CHUNK = 1 << 20
_ENV_BYTES = "TRACING_MAX_DECOMPRESSED_MB"
_ENV_CELLS = "TRACING_MAX_CELLS"
_ENV_COLUMNS = "TRACING_MAX_COLUMNS"
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?(\d{1,3}(\.\d{3})+|\d+)?,\d+\s*$")


@dataclass(frozen=True)
class ReadLimits:
    """Caps on what one file may cost to read; ``None`` means no cap.

    Attributes
    ----------
    max_decompressed_bytes : int or None
        Bytes the file may expand to (after gzip; for Parquet, the uncompressed data).
    max_cells : int or None
        Rows x columns.
    max_columns : int or None
        Columns.
    """

    max_decompressed_bytes: int | None = None
    max_cells: int | None = None
    max_columns: int | None = None


def _limits(*, explicit_only: bool) -> ReadLimits:
    def value(name: str) -> float | int | None:
        if explicit_only and not settings.is_set(name):
            return None
        parsed: float | int | None = settings.get(name)
        return parsed

    mb = value(_ENV_BYTES)
    cells = value(_ENV_CELLS)
    columns = value(_ENV_COLUMNS)
    return ReadLimits(
        max_decompressed_bytes=None if mb is None else int(mb * 2**20),
        max_cells=None if cells is None else int(cells),
        max_columns=None if columns is None else int(columns),
    )


def visitor_limits() -> ReadLimits:
    """Return the caps for files a visitor can reach (uploads, URLs, link sources).

    From ``TRACING_MAX_DECOMPRESSED_MB``, ``TRACING_MAX_CELLS`` and ``TRACING_MAX_COLUMNS``,
    their defaults when unset (``0`` turns a cap off).

    Raises
    ------
    DataError
        A setting has a bad value; the message names it.
    """
    return _limits(explicit_only=False)


def cli_limits() -> ReadLimits:
    """Return the caps for the CLI: only the settings the operator set explicitly.

    Operators read 10M-100M-row files from their own disks, so no cap applies by default.
    """
    return _limits(explicit_only=True)


def _over(label: str, what: str, cap: float, setting: str) -> DataError:
    return DataError(
        f"{label}: {what} the limit of {cap:,.0f}; use a smaller file (fewer rows or columns) "
        f"or ask the operator to raise {setting}."
    )


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


def read_table(
    source: str | Path | bytes, *, name: str | None = None, limits: ReadLimits | None = None
) -> pd.DataFrame:
    r"""Read a CSV or Parquet table into a pandas DataFrame.

    A path is read once, by pyarrow straight from the file (never copied into Python bytes
    first). Before reading, the table's size in memory is estimated (Parquet metadata, CSV
    size) and compared with the memory available (`available_memory`).

    Parameters
    ----------
    source : str, Path or bytes
        A local file path, or the file's bytes (an upload).
    name : str, optional
        The file name, used to pick the format for bytes and in error messages. Defaults to
        the path. For bytes without a name the format is taken from the content.
    limits : ReadLimits, optional
        Caps on decompressed bytes, cells and columns (default: none). Pass `visitor_limits`
        for a visitor's file.

    Returns
    -------
    pandas.DataFrame
        One column per file column, types preserved (see the module docstring).

    Raises
    ------
    DataError
        If the file is missing, unreadable, of an unknown type, has no columns, is over one
        of ``limits`` (the message names the file, the cap and its setting), or is too large
        for the memory available (the message names the file, its estimated size in memory
        and the memory available).

    Examples
    --------
    >>> df = read_table(b"id,pred,label\n1,1,0\n2,0,0\n", name="preds.csv")
    >>> df.dtypes.astype(str).tolist()
    ['int64', 'int64', 'int64']
    """
    if isinstance(source, bytes):
        src = _Source(name or "uploaded file", data=source)
    else:
        path = Path(source)
        src = _Source(name or str(path), path=path)
        if not path.is_file():
            raise DataError(f"{src.label}: file not found; check the path.")
    label = src.label
    lim = limits or ReadLimits()
    fmt = _sniff_format(src.head(), label)
    try:
        table = _read_parquet(src, lim) if fmt == "parquet" else _read_csv(src, lim)
        _check_table(label, table, lim)
        return _to_pandas(table)
    except DataError:
        raise
    except MemoryError as exc:  # pyarrow's ArrowMemoryError is one too
        raise _too_large(label, None, available_memory()) from exc
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{label}: could not be read as {fmt.upper()} ({reason}); "
            "check that the file is a valid, complete CSV or Parquet file."
        ) from exc


def _check_table(label: str, table: pa.Table, lim: ReadLimits) -> None:
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
    _check_shape(label, table.num_rows, table.num_columns, lim)


@dataclass(frozen=True)
class _Source:
    """A file to read: its bytes (an upload) or its path, read by pyarrow directly."""

    label: str
    data: bytes | None = None
    path: Path | None = None

    def head(self, size: int = _SNIFF_BYTES) -> bytes:
        """Return the first ``size`` bytes (raw: still compressed for a gzip file)."""
        if self.data is not None:
            return self.data[:size]
        assert self.path is not None
        with self.path.open("rb") as fh:
            return fh.read(size)

    def size(self) -> int:
        """Return the file's size in bytes (compressed, for a gzip file)."""
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    def stream(self) -> pa.NativeFile:
        """Open a pyarrow file on the source (zero-copy on bytes, native reads on a path)."""
        if self.data is not None:
            return pa.BufferReader(self.data)
        return pa.OSFile(str(self.path))

    def read_all(self) -> bytes:
        """Return the whole file as bytes (only where a cap needs them counted)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


# ---------------------------------------------------------------------------------------------
# Memory: estimated before reading, so a file too large fails with a message, not a crash

_READ_PEAK = 2.0
"""Peak memory of a read per byte of the resulting frame: pyarrow's table and the frame it
becomes coexist while columns are converted (measured ~1.6-1.9 on Parquet and CSV)."""
_OFFSET_BYTES = 8  # per text value: its offset (int64 for large strings) in Arrow's layout


def available_memory() -> int | None:
    """Return the bytes of memory this process may still use, or None when unknown.

    The smaller of the kernel's estimate (``MemAvailable`` in ``/proc/meminfo``) and the room
    left under the cgroup's limit (a container's ``memory.max``), when there is one.
    """
    found = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(found) if found else None


def _meminfo_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _cgroup_room() -> int | None:
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        # "max", or v1's huge number, mean no limit.
        if limit.isdigit() and int(limit) < 1 << 60:
            return max(int(limit) - usage, 0)
    return None


def parquet_memory(meta: pq.FileMetaData) -> int:
    """Estimate the bytes a Parquet file takes in memory once read, from its metadata alone.

    Fixed-width columns take their width per row; text columns their uncompressed data, or
    (dictionary-encoded columns, whose pages hold only codes) an offset plus the average of
    the min and max value's lengths per row, whichever is larger.
    """
    total = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            column = group.column(j)
            rows = column.num_values
            width = _WIDTHS.get(column.physical_type)
            if width is not None:
                total += rows * width
                continue
            stats = column.statistics
            per_row = _OFFSET_BYTES
            if stats is not None and stats.has_min_max:
                per_row += (len(_text(stats.min)) + len(_text(stats.max))) // 2
            total += max(column.total_uncompressed_size, rows * per_row)
    return total


_WIDTHS = {"BOOLEAN": 1, "INT32": 8, "INT64": 8, "INT96": 8, "FLOAT": 8, "DOUBLE": 8}
# INT32 and FLOAT widen to 8 bytes in pandas more often than not (dates, nullable ints).


def _text(value: object) -> str | bytes:
    return value if isinstance(value, (str, bytes)) else str(value)


def _csv_memory(src: _Source, gzipped: bool) -> int:
    """Estimate the bytes a CSV file takes in memory once read: about its text's size.

    A number's text is about as long as its 8 bytes in memory, a text value's text is its
    data (plus an offset). For gzip the text's size comes from the trailer (the size modulo
    2**32), and is at least the compressed size.
    """
    if not gzipped:
        return src.size()
    assert src.path is not None
    with src.path.open("rb") as fh:
        fh.seek(-4, 2)
        trailer = int.from_bytes(fh.read(4), "little")
    return max(trailer, src.size())


def _check_memory(label: str, estimate: int) -> None:
    available = available_memory()
    if available is not None and estimate * _READ_PEAK > available:
        raise _too_large(label, estimate, available)


def _too_large(label: str, estimate: int | None, available: int | None) -> DataError:
    size = "" if estimate is None else f" (about {_gb(estimate)} in memory once read)"
    room = "" if available is None else f" with {_gb(available)} of memory available"
    return DataError(
        f"{label}: too large to read into memory{size}{room}; use a smaller file (fewer rows: "
        "a shorter time range or a sample) or a machine with more memory (an out-of-core "
        "engine for files larger than memory is planned)."
    )


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.3g} MB"


def _check_shape(label: str, rows: int, columns: int, lim: ReadLimits) -> None:
    if lim.max_columns is not None and columns > lim.max_columns:
        raise _over(label, f"{columns:,} columns are over", lim.max_columns, _ENV_COLUMNS)
    if lim.max_cells is not None and rows * columns > lim.max_cells:
        raise _over(
            label, f"{rows:,} rows x {columns:,} columns are over", lim.max_cells, _ENV_CELLS
        )


def _sniff_format(data: bytes, label: str) -> str:
    """Choose CSV or Parquet: trust the content first, then the suffix."""
    if data[:4] == _PARQUET_MAGIC:
        return "parquet"
    if label.lower().endswith((".parquet", ".pq")):
        raise DataError(f"{label}: not a Parquet file (no PAR1 header); upload the file again.")
    if label in ("uploaded file",) or "." not in Path(label).name:
        return "csv"
    return table_format(label)


def _read_parquet(src: _Source, lim: ReadLimits) -> pa.Table:
    label = src.label
    parquet = pq.ParquetFile(src.stream())
    meta = parquet.metadata
    _check_shape(label, meta.num_rows, meta.num_columns, lim)
    _check_memory(label, parquet_memory(meta))
    if lim == ReadLimits():
        return parquet.read(use_pandas_metadata=True)
    cap = lim.max_decompressed_bytes
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if cap is not None and declared > cap:
        raise _over(label, f"{declared:,} bytes uncompressed are over", cap, _ENV_BYTES)
    if meta.num_row_groups == 0:
        return parquet.read(use_pandas_metadata=True)
    # Batch by batch, so a file whose metadata understates its size stops at the cap.
    batches: list[pa.RecordBatch] = []
    total = 0
    for batch in parquet.iter_batches(batch_size=64 * 1024, use_pandas_metadata=True):
        total += batch.nbytes
        if cap is not None and total > cap:
            raise _over(label, "its data expands past", cap, _ENV_BYTES)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=parquet.schema_arrow)


def _gunzip(data: bytes, label: str, cap: int | None) -> bytes:
    """Decompress, stopping as soon as the output passes ``cap`` (a gzip bomb stops there)."""
    chunks: list[bytes] = []
    total = 0
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if cap is not None and total > cap:
                raise _over(
                    label, "it expands past the decompressed-size limit, over", cap, _ENV_BYTES
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _read_csv(src: _Source, lim: ReadLimits) -> pa.Table:
    label, cap = src.label, lim.max_decompressed_bytes
    gzipped = src.head(2) == _GZIP_MAGIC
    if gzipped and (cap is not None or src.data is not None):
        # Decompressed here, counting, so a gzip bomb stops at the cap.
        src = _Source(label, data=_gunzip(src.read_all(), label, cap))
        gzipped = False
    elif cap is not None and src.size() > cap:
        raise _over(label, f"{src.size():,} bytes are over", cap, _ENV_BYTES)
    sample = _text_head(src, gzipped)
    if _blank(sample):
        raise DataError(f"{label}: the file is empty; it needs a header row and data.")
    _check_memory(label, _csv_memory(src, gzipped))
    encoding = "utf8" if _is_utf8(sample) else "latin1"
    text = sample.decode(encoding, errors="replace")
    delimiter = _sniff_delimiter(text)
    if lim.max_cells is not None or lim.max_columns is not None:
        # Before parsing: the header's columns and the line count (an upper bound on rows).
        header = next(csv.reader([text.lstrip("\ufeff").splitlines()[0]], delimiter=delimiter))
        data = src.read_all()
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        _check_shape(label, max(lines - 1, 0), len(header), lim)
    csv_file = _CsvFile(src, gzipped, delimiter)
    table = csv_file.parse(encoding)
    if encoding == "utf8" and any(pa.types.is_binary(f.type) for f in table.schema):
        # Invalid UTF-8 beyond the sniffed sample: pyarrow leaves such columns as raw bytes.
        log.info("%s: not UTF-8, re-reading as Latin-1", label)
        encoding = "latin1"
        table = csv_file.parse(encoding)
    table = _exact_big_integers(table, csv_file, encoding)
    return _decimal_commas(table, label, comma_delimited=delimiter == ",")


def _blank(sample: bytes) -> bool:
    # Only a head shorter than the sniff size is the whole file; isspace stops at the first
    # non-space character, so it costs nothing on a real file.
    return not sample or (len(sample) < _SNIFF_BYTES and sample.isspace())


def _text_head(src: _Source, gzipped: bool) -> bytes:
    """Return the text's first bytes (decompressed), to sniff encoding and delimiter."""
    if not gzipped:
        return src.head()
    assert src.path is not None
    with gzip.open(src.path, "rb") as fh:
        return fh.read(_SNIFF_BYTES)


@dataclass(frozen=True)
class _CsvFile:
    """A CSV source and its dialect; each `parse` reads it from the start."""

    src: _Source
    gzipped: bool
    delimiter: str

    def parse(self, encoding: str, column_types: dict[str, pa.DataType] | None = None) -> pa.Table:
        stream = self.src.stream()
        if self.gzipped:
            stream = pa.CompressedInputStream(stream, "gzip")
        return pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=True, column_types=column_types or {}
            ),
        )


def _exact_big_integers(table: pa.Table, csv_file: _CsvFile, encoding: str) -> pa.Table:
    """Keep integer columns too large for int64 exact (as text) instead of float64."""
    candidates = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if not pa.types.is_floating(field.type) or column.null_count == len(column):
            continue
        biggest = pc.max(pc.abs(column)).as_py()
        # Only values past 2**63 make pyarrow choose float64 for an integer column; below 2**53
        # a float64 holds integers exactly anyway.
        if biggest is not None and biggest >= 2**63:
            candidates.append(field.name)
    if not candidates:
        return table
    # Rare (ids past 2**63): the file is parsed a second time, those columns as text.
    texts = csv_file.parse(encoding, {c: pa.string() for c in candidates})
    for name in candidates:
        values = [v for v in texts.column(name).to_pylist() if v is not None]
        if values and all(_INT_TEXT.match(v) for v in values):
            log.info(
                "%s: column %r holds integers beyond int64; kept exactly as text",
                csv_file.src.label,
                name,
            )
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pc.utf8_trim_whitespace(texts.column(name)))
    return table


def _decimal_commas(table: pa.Table, label: str, *, comma_delimited: bool) -> pa.Table:
    """Read text columns of decimal-comma numbers (``0,73``, ``1.234,5``) as numbers.

    In a comma-delimited file such values are quoted, and ``"1,234"`` may be a thousands
    separator: there a column is converted only when some value has other than three digits
    after its comma (``"0,73"``), which a thousands separator cannot.
    """
    for index, field in enumerate(table.schema):
        if not pa.types.is_string(field.type) and not pa.types.is_large_string(field.type):
            continue
        column = table.column(index)
        # The non-null values of the first rows first: dropping the nulls of a whole text
        # column copies it, which most columns (ordinary text) never need.
        head = pc.drop_null(column.slice(0, _PEEK))
        if len(head) and not _may_be_decimal_commas(head):
            continue
        values = pc.drop_null(column)
        if len(values) == 0 or not _may_be_decimal_commas(values.slice(0, _PEEK)):
            continue
        trimmed = pc.utf8_trim_whitespace(values)
        commas = pc.match_substring_regex(trimmed, _DECIMAL_COMMA.pattern)
        plain = pc.match_substring_regex(trimmed, r"^[+-]?\d+$")
        if not pc.all(pc.or_(commas, plain)).as_py() or not pc.any(commas).as_py():
            continue
        if (
            comma_delimited
            and not pc.any(pc.match_substring_regex(trimmed, r",(\d{1,2}|\d{4,})$")).as_py()
        ):
            continue
        log.info("%s: column %r uses decimal commas; read as numbers", label, field.name)
        text = pc.utf8_trim_whitespace(column)
        text = pc.replace_substring(text, ".", "")
        text = pc.replace_substring(text, ",", ".")
        table = table.set_column(index, field.name, pc.cast(text, pa.float64()))
    return table


_PEEK = 1_000


def _may_be_decimal_commas(head: pa.ChunkedArray) -> bool:
    """Whether the first values of a text column are all plain or decimal-comma numbers.

    A necessary condition checked on a few values: an ordinary text column (``"CA"``) fails
    at once, so the full-column regexes run only on columns that may be numbers.
    """
    trimmed = pc.utf8_trim_whitespace(head)
    ok = pc.or_(
        pc.match_substring_regex(trimmed, _DECIMAL_COMMA.pattern),
        pc.match_substring_regex(trimmed, r"^[+-]?\d+$"),
    )
    return bool(pc.all(ok).as_py())


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


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert an Arrow table to pandas exactly as `read_table` does (nullable ints, dates)."""
    return _to_pandas(table)


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
    # Column by column, each Arrow column freed once converted (self_destruct), without
    # consolidating same-typed columns into one 2-D block (a copy of them all): the read's peak
    # is then about the frame plus one column instead of two frames.
    frame: pd.DataFrame = table.to_pandas(
        types_mapper=mapping.get if mapping else None, self_destruct=True, split_blocks=True
    )
    del table
    # Hand the freed Arrow pages back to the system, for the steps after the read.
    pa.default_memory_pool().release_unused()
    return frame
