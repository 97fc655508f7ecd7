"""What the user names as a side's data, turned into a `tracing.sqlbackend.TableSource`.

The duckdb and spark engines read Parquet where it lies instead of loading it. A user names:

- **a local Parquet file, folder or glob**: ``logs/day=2026-11-30/part-0.parquet``,
  ``logs/`` (every ``*.parquet``/``*.pq`` file below it) or ``logs/day=*/part-*.parquet``
  (``*``, ``?`` and ``[...]`` match within one folder name, ``**`` any number of folders).
  The path, the folder, and every file listed must lie inside the allowed data folders
  (``TRACING_DATA_ROOTS``), with symlinks resolved first: the very vetting of
  `tracing.sources.allowed_path`. Names starting with ``.`` or ``_`` (hidden files, Spark's
  ``_SUCCESS``) are skipped, as ``pyarrow.dataset`` does; symlinked folders are not entered.
- **an object-storage URI**: ``s3://bucket/logs/...`` or ``gs://bucket/...``, a file, a folder
  prefix or a glob, read through pyarrow's built-in filesystems (DuckDB's httpfs extension is
  downloaded from the internet, which servers often cannot reach). Allowed only under a prefix
  of ``TRACING_DATA_URIS``; credentials and the endpoint come from the standard environment:
  ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``~/.aws``, instance
  roles; ``AWS_REGION``/``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``
  for S3-compatible servers (MinIO, Ceph: pyarrow's ``S3FileSystem()`` itself ignores these
  two, so this module passes them on as ``endpoint_override``); Google's default credentials
  (``GOOGLE_APPLICATION_CREDENTIALS``) for GCS. A URI never carries credentials or options.
- **an upload's dataset id** (``ds-<32 hex>.parquet``, `tracing.store`): its stored file.
- **a catalog table**: ``table:db.name`` (or ``table:catalog.db.name``), for Spark.

A folder or glob whose files sit in ``key=value`` folders is hive-partitioned: the keys become
columns (`TableSource.hive_root`). `estimate` sizes a source from its Parquet footers alone
(rows, bytes, the in-memory size `tracing.engines.choose_engine` compares with the memory
available), never reading its data.

Examples
--------
>>> from tracing.sources import DEMO_DIR
>>> source = resolve_table_source(str(DEMO_DIR / "fraud_training.parquet"))
>>> size = estimate(source)
>>> size.files, size.rows == source.dataset().count_rows()
(1, True)
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracing import settings
from tracing.errors import DataError
from tracing.io import parquet_memory
from tracing.sources import allowed_path, data_roots, describe_source, is_dataset_id
from tracing.sqlbackend import TableSource
from tracing.vocab import SourceFormat

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

__all__ = [
    "PARQUET_SUFFIXES",
    "TABLE_PREFIX",
    "SourceFormat",
    "SourceSize",
    "estimate",
    "object_filesystem",
    "resolve_table_source",
]

ENV_DATA_URIS = "TRACING_DATA_URIS"
TABLE_PREFIX = "table:"
PARQUET_SUFFIXES = (".parquet", ".pq")
_SKIPPED = (".", "_")  # hidden files, Spark's and Hive's markers: pyarrow.dataset's default
_MAGIC = re.compile(r"[*?\[]")
_PARTITION = re.compile(r"[^=]+=[^=]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){1,2}")
_HIVE_KEY_BYTES = 16  # per row and partition key in memory: a dictionary code and its share
_FOOTER_THREADS = 8  # footers are small reads; on object storage each is a round trip
_CONNECT_TIMEOUT_S = 10.0
_REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SourceSize:
    """How large one side's data is, known without reading it.

    Attributes
    ----------
    label : str
        What the user named, for messages.
    format : SourceFormat
        Parquet, CSV, catalog table or in-memory rows.
    files : int
        Parquet files (0 for a catalog table or in-memory rows; 1 for a CSV file).
    rows : int or None
        Rows, from the footers (None: unknown, e.g. a catalog table).
    disk_bytes : int or None
        Bytes of the files as stored (compressed).
    memory_bytes : int or None
        Estimated bytes once read into memory (`tracing.io.parquet_memory` per file, plus the
        hive partition columns); None: unknown.

    Examples
    --------
    A CSV file's size, as a caller states it (CSV is always read in memory):

    >>> SourceSize("prod.csv", SourceFormat.CSV, files=1, rows=None, disk_bytes=2_000,
    ...            memory_bytes=2_000).format
    'csv'
    """

    label: str
    format: SourceFormat
    files: int
    rows: int | None
    disk_bytes: int | None
    memory_bytes: int | None


# ---------------------------------------------------------------------------------------------
# Resolving a reference


def resolve_table_source(
    ref: str,
    *,
    allowed_roots: Sequence[Path] | None = None,
    allowed_uris: Sequence[str] | None = None,
    filesystem: pafs.FileSystem | None = None,
    environ: Mapping[str, str] | None = None,
) -> TableSource:
    """Turn a path, folder, glob, object-storage URI or ``table:db.name`` into a source.

    Parameters
    ----------
    ref : str
        What the user named (see the module docstring).
    allowed_roots : sequence of Path, optional
        Folders local paths must lie in (default `tracing.sources.data_roots`, i.e.
        ``TRACING_DATA_ROOTS``).
    allowed_uris : sequence of str, optional
        Object-storage prefixes URIs must lie under, normalised like ``TRACING_DATA_URIS``
        (the default): ``s3://bucket/prefix/``.
    filesystem : pyarrow.fs.FileSystem, optional
        The object store to list (default `object_filesystem`, from the environment).
    environ : mapping, optional
        Where ``TRACING_DATA_URIS`` and the S3 endpoint and region are read (default
        ``os.environ``); the data roots and the credentials always come from the process's
        environment.

    Returns
    -------
    TableSource
        Parquet files (sorted) with their filesystem and hive root, or a catalog table.

    Raises
    ------
    DataError
        Not allowed (which setting to change), nothing found or matched, not Parquet, or the
        bucket unreachable.
    """
    ref = ref.strip()
    if not ref:
        raise DataError("no data given; name a Parquet file, folder, glob, URI or table:db.name.")
    if ref.lower().startswith(TABLE_PREFIX):
        return _catalog(ref)
    head, sep, _ = ref.partition("://")
    if sep and head.lower() in settings.OBJECT_SCHEMES:
        prefixes = allowed_uris
        if prefixes is None:
            prefixes = settings.get(ENV_DATA_URIS, environ=environ)
        return _object_source(ref, tuple(prefixes), filesystem, environ)
    if sep or re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", ref):  # "C:\..." is a drive, not a scheme
        raise DataError(
            f"{_short(ref)}: only local paths, s3://, gs:// and table:db.name are read by the "
            "duckdb and spark engines; use one of those."
        )
    if is_dataset_id(ref):  # an upload: allowed by its id, wherever the store is
        location = describe_source(ref).location
        if not _is_parquet(location):
            raise _not_parquet(ref, ref)
        return TableSource(label=ref, paths=(location,))
    roots = data_roots() if allowed_roots is None else tuple(r.resolve() for r in allowed_roots)
    return _local_source(ref, roots)


def _catalog(ref: str) -> TableSource:
    name = ref[len(TABLE_PREFIX) :].strip()
    if not _IDENTIFIER.fullmatch(name):
        raise DataError(
            f"{_short(ref)}: not a table name; use table:db.name (or table:catalog.db.name) "
            "with letters, digits and '_'."
        )
    return TableSource(label=ref, table=name)


def _short(ref: str, limit: int = 120) -> str:
    return ref if len(ref) <= limit else ref[:limit] + "…"


def _split_glob(parts: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split path segments at the first one holding a wildcard: (literal folder, pattern)."""
    first = next((i for i, part in enumerate(parts) if _MAGIC.search(part)), len(parts))
    return list(parts[:first]), list(parts[first:])


def _match(parts: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether path segments match glob segments (``*`` within a segment, ``**`` across)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    if not parts or not fnmatch.fnmatchcase(parts[0], pattern[0]):
        return False
    return _match(parts[1:], pattern[1:])


def _skipped(parts: Sequence[str]) -> bool:
    return any(part.startswith(_SKIPPED) for part in parts)


def _is_parquet(name: str) -> bool:
    return name.lower().endswith(PARQUET_SUFFIXES)


def _hive(relative: Sequence[Sequence[str]]) -> bool:
    """Whether files (paths relative to the listed folder) sit in ``key=value`` folders."""
    return any(_PARTITION.fullmatch(part) for parts in relative for part in parts[:-1])


def _not_parquet(ref: str, name: str) -> DataError:
    return DataError(
        f"{_short(ref)}: {name} is not a Parquet file (.parquet); the duckdb and spark engines "
        "read Parquet: convert it, or read a CSV file with --engine memory."
    )


def _pick(ref: str, relative: list[list[str]], pattern: list[str] | None) -> list[list[str]]:
    """Keep the listed files a folder (every Parquet file) or a glob (its matches) names."""
    listed = [parts for parts in relative if not _skipped(parts)]
    if pattern is None:
        found = sorted(parts for parts in listed if _is_parquet(parts[-1]))
        if not found:
            raise DataError(
                f"{_short(ref)}: no Parquet files (*.parquet) in this folder; check the folder."
            )
        return found
    found = sorted(parts for parts in listed if _match(parts, pattern))
    if not found:
        raise DataError(f"{_short(ref)}: no file matches this pattern; check the pattern.")
    bad = next((parts for parts in found if not _is_parquet(parts[-1])), None)
    if bad is not None:
        raise _not_parquet(ref, "/".join(bad))
    return found


def _local_source(ref: str, roots: Sequence[Path]) -> TableSource:
    parts = Path(ref).expanduser().parts
    literal, pattern = _split_glob(parts)
    folder = str(Path(*literal)) if literal else "."
    try:
        base = allowed_path(folder, roots=roots)
    except DataError as exc:  # quote what the user named, not its folder
        message = str(exc)
        if not pattern or not message.startswith(folder + ":"):
            raise
        raise DataError(_short(ref) + message[len(folder) :]) from None
    if not pattern and not base.is_dir():
        if not base.is_file():
            raise DataError(
                f"{_short(ref)}: file not found, or not inside an allowed data folder; ask the "
                "operator to add its folder to TRACING_DATA_ROOTS."
            )
        if not _is_parquet(base.name):
            raise _not_parquet(ref, base.name)
        return TableSource(label=ref, paths=(str(base),))
    if not base.is_dir():
        raise DataError(f"{_short(ref)}: folder not found; check the path.")
    relative = _pick(ref, list(_walk(base)), pattern or None)
    paths = []
    for rel in relative:
        path = base.joinpath(*rel)
        allowed_path(str(path), roots=roots)  # a symlinked file must not lead out of the roots
        paths.append(str(path))
    return TableSource(
        label=ref, paths=tuple(paths), hive_root=str(base) if _hive(relative) else None
    )


def _walk(base: Path) -> Iterator[list[str]]:
    """Yield every file below ``base`` as segments relative to it (symlinked folders: no)."""
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith(_SKIPPED))
        rel = Path(folder).relative_to(base).parts
        for name in files:
            yield [*rel, name]


# ---------------------------------------------------------------------------------------------
# Object storage


def object_filesystem(
    scheme: str, *, bucket: str = "", environ: Mapping[str, str] | None = None
) -> pafs.FileSystem:
    """Return pyarrow's filesystem for ``s3`` or ``gs``, configured from the environment.

    Parameters
    ----------
    scheme : {"s3", "gs"}
        The URI scheme.
    bucket : str, optional
        S3 without a region or endpoint set: the bucket whose region is looked up.
    environ : mapping, optional
        Where the endpoint and region are read (default ``os.environ``); credentials are
        found by the AWS and Google SDKs themselves.
    """
    import pyarrow.fs as pafs

    env = os.environ if environ is None else environ
    if scheme == "gs":
        return pafs.GcsFileSystem()
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    if region is None and endpoint is None and bucket:
        region = pafs.resolve_s3_region(bucket)
    return pafs.S3FileSystem(
        region=region,
        endpoint_override=endpoint,
        connect_timeout=_CONNECT_TIMEOUT_S,
        request_timeout=_REQUEST_TIMEOUT_S,
    )


def _allowed(uri: str, prefixes: Sequence[str]) -> bool:
    # As a folder ("s3://b/logs" names "s3://b/logs/"), and never "s3://b/logs2" for "logs/".
    folder = uri if uri.endswith("/") else uri + "/"
    return any(folder.startswith(prefix) for prefix in prefixes)


def _object_source(
    ref: str,
    prefixes: Sequence[str],
    filesystem: pafs.FileSystem | None,
    environ: Mapping[str, str] | None,
) -> TableSource:
    try:
        scheme, bucket, key = settings.split_object_uri(ref)
    except ValueError as exc:
        raise DataError(f"{_short(ref)}: {exc}.") from None
    literal, pattern = _split_glob(key.rstrip("/").split("/") if key.strip("/") else [])
    folder = "/".join(literal)
    if not prefixes:
        raise DataError(
            f"{_short(ref)}: reading object storage is off on this server; ask the operator to "
            f"list its prefix in {ENV_DATA_URIS} (e.g. {scheme}://{bucket}/{folder})."
        )
    if not _allowed(f"{scheme}://{bucket}/{folder}", prefixes):
        raise DataError(
            f"{_short(ref)}: not under an allowed object-storage prefix; ask the operator to "
            f"add its prefix to {ENV_DATA_URIS} (comma-separated, e.g. {scheme}://{bucket}/)."
        )
    try:
        fs = filesystem or object_filesystem(scheme, bucket=bucket, environ=environ)
        return _list_objects(ref, fs, bucket, folder, pattern or None)
    except OSError as exc:
        reason = str(exc).split(";")[0].strip()
        raise DataError(
            f"{_short(ref)}: could not read bucket {bucket} ({reason}); check the credentials "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or GOOGLE_APPLICATION_CREDENTIALS) and, "
            "for an S3-compatible server, AWS_ENDPOINT_URL."
        ) from exc


def _list_objects(
    ref: str, fs: pafs.FileSystem, bucket: str, folder: str, pattern: list[str] | None
) -> TableSource:
    import pyarrow.fs as pafs

    base = f"{bucket}/{folder}".rstrip("/")
    if pattern is None:
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.File:
            if not _is_parquet(base):
                raise _not_parquet(ref, base.rsplit("/", 1)[-1])
            return TableSource(label=ref, paths=(base,), filesystem=fs)
        if info.type != pafs.FileType.Directory:
            _check_bucket(ref, fs, bucket)
            raise DataError(f"{_short(ref)}: no file there; check the URI.")
    listing = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    if not listing:
        _check_bucket(ref, fs, bucket)
    relative = [
        info.path[len(base) + 1 :].split("/")
        for info in listing
        if info.type == pafs.FileType.File
    ]
    relative = _pick(ref, relative, pattern)
    return TableSource(
        label=ref,
        paths=tuple(f"{base}/{'/'.join(rel)}" for rel in relative),
        filesystem=fs,
        hive_root=base if _hive(relative) else None,
    )


def _check_bucket(ref: str, fs: pafs.FileSystem, bucket: str) -> None:
    import pyarrow.fs as pafs

    if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
        raise DataError(
            f"{_short(ref)}: bucket {bucket} does not exist or is not visible with these "
            "credentials; check the URI and AWS_ACCESS_KEY_ID (GCS: "
            "GOOGLE_APPLICATION_CREDENTIALS)."
        )


# ---------------------------------------------------------------------------------------------
# Size from the footers


def estimate(source: TableSource) -> SourceSize:
    """Size a source from its Parquet footers (and file sizes) alone, never reading its data.

    Parameters
    ----------
    source : TableSource
        From `resolve_table_source`, or in-memory rows.

    Returns
    -------
    SourceSize
        A catalog table's size is unknown (None): only its engine, Spark, can tell.

    Raises
    ------
    DataError
        A file is not Parquet or cannot be read.
    """
    if source.arrow is not None:
        table = source.arrow
        return SourceSize(
            source.label, SourceFormat.ARROW, 0, table.num_rows, None, int(table.nbytes)
        )
    if source.table is not None:
        return SourceSize(source.label, SourceFormat.CATALOG, 0, None, None, None)
    with ThreadPoolExecutor(max_workers=_FOOTER_THREADS) as pool:
        footers = list(pool.map(lambda path: _footer(source, path), source.paths))
    rows = sum(meta.num_rows for meta, _ in footers)
    memory = sum(parquet_memory(meta) for meta, _ in footers)
    if source.hive_root is not None:
        memory += rows * _HIVE_KEY_BYTES * _partition_keys(source)
    disk = sum(size for _, size in footers)
    return SourceSize(source.label, SourceFormat.PARQUET, len(source.paths), rows, disk, memory)


def _display(source: TableSource, path: str) -> str:
    kind = getattr(source.filesystem, "type_name", "local")
    return {"s3": f"s3://{path}", "gcs": f"gs://{path}"}.get(kind, path)


def _footer(source: TableSource, path: str) -> tuple[pq.FileMetaData, int]:
    """Read one file's footer and size: on object storage one open and two ranged reads."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs = source.filesystem or pafs.LocalFileSystem()
    try:
        with fs.open_input_file(path) as handle:
            return pq.read_metadata(handle), handle.size()
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"{_display(source, path)}: not a Parquet file ({exc}); remove it or narrow the "
            "folder or pattern."
        ) from exc
    except OSError as exc:
        raise DataError(
            f"{_display(source, path)}: could not be read ({exc}); check the file and access."
        ) from exc


def _partition_keys(source: TableSource) -> int:
    assert source.hive_root is not None
    keys = set()
    for path in source.paths:
        relative = path[len(source.hive_root) :].strip("/").split("/")[:-1]
        keys |= {part.split("=", 1)[0] for part in relative if _PARTITION.fullmatch(part)}
    return len(keys)
