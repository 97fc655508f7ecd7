"""The DuckDB backend: an embedded, out-of-core SQL engine for the analysis' aggregate queries.

`DuckBackend` implements `tracing.sqlbackend.SqlBackend` over one in-process DuckDB connection:

- **Out of core.** ``memory_limit`` (``TRACING_DUCKDB_MEMORY_LIMIT``) caps what DuckDB holds;
  grouping beyond it spills to ``temp_directory`` (``TRACING_DUCKDB_TEMP_DIR``, apart from the
  dataset store). ``preserve_insertion_order`` is off: no query here depends on row order, and
  keeping it costs memory on large scans.
- **Sources.** Local Parquet files, folders and globs are read by DuckDB's own
  ``read_parquet`` (with hive partition columns when the source has them). Object storage
  (``s3://``, ``gs://``) is read through the source's pyarrow filesystem: the pyarrow dataset is
  registered and DuckDB scans it in record batches with projection pushdown, so DuckDB's
  ``httpfs`` extension (downloaded from the internet) is never needed. Rows already in memory
  (an Arrow table) are registered the same way.
- **Results** come back as Arrow tables; they are aggregates, a few thousand rows at most.
- **Coded tables** (`DuckBackend.materialize`) are temporary tables of the in-memory
  database, spilled to ``temp_directory`` beyond ``memory_limit``.

``duckdb`` is imported when a backend is created, never when `tracing` is imported.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracing.errors import DataError
from tracing.sqlbackend import TableSource

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DuckBackend"]

_VIEW = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckBackend:
    """`tracing.sqlbackend.SqlBackend` over an in-process DuckDB connection.

    Parameters
    ----------
    threads : int, optional
        Worker threads (default: every core).
    memory_limit : str, optional
        DuckDB's ``memory_limit`` (``"3GB"``, ``"70%"``); default DuckDB's own (80% of RAM).
    temp_directory : str or Path, optional
        Where larger-than-memory work spills (created if missing).

    Examples
    --------
    >>> import pyarrow as pa
    >>> b = DuckBackend(threads=1)
    >>> b.register("t", TableSource("t", arrow=pa.table({"x": [1.0, 2.0]})))
    >>> b.query("SELECT SUM(x) AS s FROM t")["s"].to_pylist()
    [3.0]
    >>> b.close()
    """

    dialect = "duckdb"
    name = "duckdb"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
    ) -> None:
        import duckdb

        self._con: Any = duckdb.connect(":memory:")
        self._keep: dict[str, Any] = {}  # registered Arrow objects must outlive their views
        config = {
            "threads": str(threads or os.cpu_count() or 1),
            "preserve_insertion_order": "false",
        }
        if memory_limit:
            config["memory_limit"] = str(memory_limit)
        if temp_directory:
            Path(temp_directory).mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(temp_directory)
        for key, value in config.items():
            self._con.execute(f"SET {key} = {_quote(value)}")

    def register(self, view: str, source: TableSource) -> None:
        """Make ``source`` queryable as ``view`` (see the module docstring)."""
        if not _VIEW.fullmatch(view):
            raise ValueError(f"not a plain view name: {view!r}")
        if source.table is not None:
            raise DataError(
                f"{source.label}: a catalog table is read by Spark only; use --engine spark."
            )
        if source.paths and source.filesystem is None:
            files = ", ".join(_quote(p) for p in source.paths)
            hive = "true" if source.hive_root is not None else "false"
            self._con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{files}], "
                f"hive_partitioning = {hive}, union_by_name = true)"
            )
            return
        dataset = source.dataset()
        self._keep[view] = dataset
        self._con.register(view, dataset)

    def define_view(self, view: str, sql: str) -> None:
        """Make the rows of ``sql`` queryable as ``view`` (a view: nothing is copied)."""
        if not _VIEW.fullmatch(view):
            raise ValueError(f"not a plain view name: {view!r}")
        self._keep.pop(view, None)
        with self._errors():
            self._con.execute(f"CREATE OR REPLACE VIEW {view} AS {sql}")

    def query(self, sql: str) -> pa.Table:
        """Run one query and return its result as an Arrow table."""
        with self._errors():
            return self._con.sql(sql).to_arrow_table()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn DuckDB's errors about the data or its size into a `DataError` that says why."""
        import duckdb

        try:
            yield
        except duckdb.BinderException as exc:
            raise DataError(f"the query does not fit the data: {exc}") from None
        except duckdb.OutOfMemoryException as exc:
            raise DataError(
                f"DuckDB ran out of memory ({exc}); raise TRACING_DUCKDB_MEMORY_LIMIT or give "
                "TRACING_DUCKDB_TEMP_DIR a disk with more room."
            ) from None
        except duckdb.IOException as exc:
            raise DataError(f"could not read the data: {exc}") from None

    def materialize(self, name: str, sql: str) -> None:
        """Hold the rows of ``sql`` as the temporary table ``name`` (in memory, spilling).

        A temporary table of the in-memory database: DuckDB compresses it and, beyond
        ``memory_limit``, evicts its blocks to ``temp_directory``. A table written to a
        database file instead costs ten times as long to write (measured at 10M rows).
        """
        if not _VIEW.fullmatch(name):
            raise ValueError(f"not a plain table name: {name!r}")
        with self._errors():
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def drop(self, name: str) -> None:
        """Drop a table `materialize` wrote (idempotent)."""
        if self._con is not None and _VIEW.fullmatch(name):
            self._con.execute(f"DROP TABLE IF EXISTS {name}")

    def schema(self, view: str) -> pa.Schema:
        """Return the Arrow schema of a registered view."""
        return self.query(f"SELECT * FROM {view} LIMIT 0").schema

    def setting(self, name: str) -> str:
        """Return a DuckDB setting's current value (e.g. ``memory_limit``)."""
        row = self._con.execute(f"SELECT current_setting({_quote(name)})").fetchone()
        return str(row[0]) if row else ""

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._con is not None:
            self._con.close()
            self._con = None
            self._keep.clear()
