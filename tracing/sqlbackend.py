"""What a SQL engine offers the analysis: where a side's rows are, and how to ask about them.

The out-of-core and distributed engines (DuckDB embedded, Spark on a cluster) answer the
engine seam's questions (`tracing.engine.CodedTable`) with SQL: every slice, bin and period is
a ``GROUP BY`` of per-row sufficient statistics. `tracing.sqltable.SqlTable` builds those
queries once, with SQLGlot, for any dialect; a backend only runs them. This module owns the two
small types both sides of that split share:

- `TableSource`: one side's rows as the user named them: Parquet files (local paths or object
  storage URIs, already expanded and allowed by `tracing.storage`), optionally with hive
  partition columns, or a catalog table (Spark), or an in-memory Arrow table (tests, small
  uploads);
- `SqlBackend`: the protocol a backend implements (`tracing.engine_duckdb.DuckBackend`,
  `tracing.engine_spark.SparkBackend`): register a source as a view, run a query whose result
  is small, tell a view's schema, hold a derived table of every row (`SqlBackend.materialize`).

Results come back as Arrow tables: both engines produce them without a pandas round trip, and
only aggregated tables (a few thousand rows) ever cross the seam.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pyarrow is imported where a source is read, not when this module loads
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

__all__ = ["SqlBackend", "TableSource"]

_PARTITION_COLUMNS: weakref.WeakKeyDictionary[TableSource, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, eq=False)
class TableSource:
    """Where one side's rows are.

    Exactly one of ``paths``, ``table`` and ``arrow`` is set.

    Attributes
    ----------
    label : str
        What the user named (a path, folder, glob, URI or ``table:db.name``), for messages.
    paths : tuple of str
        Parquet files, expanded from a folder or glob: local paths, or paths inside
        ``filesystem`` (``bucket/key`` for S3 and GCS).
    filesystem : pyarrow.fs.FileSystem, optional
        The filesystem of ``paths`` (None: the local one). Object storage is read through
        pyarrow's built-in filesystems, with credentials from the standard environment.
    hive_root : str, optional
        With hive partitioning (``.../day=2026-11-30/part-0.parquet``), the folder the
        partition names start under; the partition keys become columns.
    table : str, optional
        A catalog table ``db.name`` (Spark).
    arrow : pyarrow.Table, optional
        Rows already in memory.
    """

    label: str
    paths: tuple[str, ...] = ()
    filesystem: pafs.FileSystem | None = None
    hive_root: str | None = None
    table: str | None = None
    arrow: pa.Table | None = None

    def __post_init__(self) -> None:
        given = sum((bool(self.paths), self.table is not None, self.arrow is not None))
        if given != 1:
            raise ValueError("a TableSource holds exactly one of paths, table and arrow")

    def partition_columns(self) -> tuple[str, ...]:
        """Return the hive partition keys: the columns the folder names add (none without).

        The names pyarrow's hive partitioning finds under ``hive_root`` (``day`` of
        ``day=2026-11-30/``), as the engines show them beside the files' own columns.
        """
        if self.hive_root is None or not self.paths:
            return ()
        # Asked per side by the default features and the CLI: open the dataset (a file's
        # footer, on object storage a request) once per source.
        known = _PARTITION_COLUMNS.get(self)
        if known is None:
            partitioning = self.dataset().partitioning
            known = () if partitioning is None else tuple(partitioning.schema.names)
            _PARTITION_COLUMNS[self] = known
        return known

    def dataset(self) -> pads.Dataset:
        """Return the Parquet files (or the in-memory table) as one pyarrow dataset.

        Scanning it streams record batches and reads only the columns asked for, so an engine
        that scans a dataset never holds the whole file in memory.
        """
        import pyarrow.dataset as pads

        if self.arrow is not None:
            return pads.dataset(self.arrow)
        if self.table is not None:
            raise ValueError(f"{self.label}: a catalog table is read by Spark only")
        partitioning = "hive" if self.hive_root is not None else None
        return pads.dataset(
            list(self.paths),
            format="parquet",
            filesystem=self.filesystem,
            partitioning=partitioning,
            partition_base_dir=self.hive_root,
        )


@runtime_checkable
class SqlBackend(Protocol):
    """A SQL engine the analysis can run its aggregate queries on.

    Attributes
    ----------
    dialect : str
        The SQLGlot dialect queries are generated in (``"duckdb"``, ``"spark"``).
    name : str
        The engine's name as the user sees it (``"duckdb"``, ``"spark"``).
    """

    dialect: str
    name: str

    def register(self, view: str, source: TableSource) -> None:
        """Make ``source`` queryable as the view ``view`` (a plain identifier, unquoted)."""
        ...

    def query(self, sql: str) -> pa.Table:
        """Run one query in the backend's dialect and return its (small) result."""
        ...

    def define_view(self, view: str, sql: str) -> None:
        """Make the rows of ``sql`` (over registered views) queryable as ``view``, uncopied."""
        ...

    def schema(self, view: str) -> pa.Schema:
        """Return the Arrow schema of a registered view's columns."""
        ...

    def materialize(self, name: str, sql: str) -> None:
        """Hold the rows of ``sql`` in the engine as the temporary table ``name``.

        The coded table of `tracing.sqltable` (key codes and prepared inputs of every row):
        later queries read it instead of the raw files. Large ones may spill to disk.
        """
        ...

    def drop(self, name: str) -> None:
        """Drop a table `materialize` wrote (no error when it is gone); idempotent."""
        ...

    def close(self) -> None:
        """Release the engine's resources (connection, session); idempotent."""
        ...
