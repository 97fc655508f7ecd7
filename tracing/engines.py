"""Which engine runs an analysis: ``--engine`` / ``TRACING_ENGINE``, and the rule of ``auto``.

`choose_engine` takes the engine asked for and the size of each side (`tracing.storage.
SourceSize`, from Parquet footers, never from the data) and returns the engine with one
sentence a user reads (the CLI's notes, the Data page). The rule:

- **auto** keeps today's in-memory engine when the estimated in-memory size of both sides
  together is at most `MEMORY_FRACTION` (a quarter) of the memory available
  (`tracing.io.available_memory`; when unknown, `ASSUMED_MEMORY` = 4 GB is assumed), and
  uses DuckDB otherwise. A quarter, because a full report peaks at about twice the tables'
  size on top of the tables themselves (`bench/full_report_profile.md`), and the server's
  other visitors need room too. Rows already in memory stay there.
- **CSV** is always read in memory (the duckdb and spark engines read Parquet), whatever was
  asked; the reason says so, and how to use DuckDB instead (convert to Parquet).
- **catalog tables** (``table:db.name``) are read by Spark only: ``auto`` chooses spark,
  ``memory`` and ``duckdb`` are refused, and so is a mix with CSV.
- **spark** needs PySpark, and Java unless ``SPARK_REMOTE`` names a Spark Connect server;
  without them, a `DataError` says what to install.
- **memory** and **duckdb** asked for explicitly are used as asked.

Examples
--------
>>> from tracing.storage import SourceFormat, SourceSize
>>> side = SourceSize("prod/", SourceFormat.PARQUET, files=30, rows=30_000_000,
...                   disk_bytes=2**30, memory_bytes=16 * 2**30)
>>> print(choose_engine(EngineName.AUTO, [side], available_memory=18 * 2**30).reason)
auto: about 16.0 GB in memory, more than a quarter of the 18.0 GB available -> duckdb
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracing.errors import DataError
from tracing.io import available_memory as measured_memory
from tracing.sqlbackend import TableSource
from tracing.storage import SourceFormat, SourceSize, estimate
from tracing.vocab import EngineName

__all__ = [
    "ASSUMED_MEMORY",
    "MEMORY_FRACTION",
    "EngineChoice",
    "EngineName",
    "choose_engine",
    "engine_for",
    "is_csv",
    "open_backend",
    "spark_missing",
]

MEMORY_FRACTION = 0.25
"""``auto`` keeps the memory engine while both sides' in-memory size is at most this share of
the memory available."""
_SHARE = {0.25: "a quarter", 0.5: "half"}.get(MEMORY_FRACTION, f"{MEMORY_FRACTION:.0%}")
ASSUMED_MEMORY = 4 * 2**30
"""The memory ``auto`` assumes available when the system does not say (no ``/proc``)."""


@dataclass(frozen=True)
class EngineChoice:
    """The engine an analysis runs on, and why.

    Attributes
    ----------
    engine : EngineName
        ``memory``, ``duckdb`` or ``spark`` (never ``auto``).
    reason : str
        One sentence for the user, e.g. ``"auto: about 2.1 GB in memory fits in a quarter of
        the 18.0 GB available -> memory"``.
    """

    engine: EngineName
    reason: str


def choose_engine(
    requested: EngineName | str,
    sources: Sequence[SourceSize | TableSource],
    *,
    available_memory: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> EngineChoice:
    """Choose the engine of an analysis from the one asked for and the sides' sizes.

    Parameters
    ----------
    requested : EngineName or str
        ``auto``, ``memory``, ``duckdb`` or ``spark``.
    sources : sequence of SourceSize or TableSource
        Each side (baseline, production). A `TableSource` is sized from its footers
        (`tracing.storage.estimate`) only when ``auto`` needs its size.
    available_memory : int, optional
        Bytes of memory available (default: measured, `tracing.io.available_memory`).
    environ : mapping, optional
        Where ``SPARK_REMOTE`` is read (default ``os.environ``).

    Returns
    -------
    EngineChoice

    Raises
    ------
    DataError
        A catalog table with ``memory`` or ``duckdb`` (or beside a CSV file), or Spark
        chosen but not installed.
    """
    requested = EngineName(requested)
    sizes = [_size(s, measure=requested == EngineName.AUTO) for s in sources]
    return _choose(requested, sizes, available_memory, environ)


def _size(source: SourceSize | TableSource, *, measure: bool) -> SourceSize:
    if isinstance(source, SourceSize):
        return source
    if measure or source.paths == ():
        return estimate(source)  # no file is read for a catalog table or rows in memory
    return SourceSize(source.label, SourceFormat.PARQUET, len(source.paths), None, None, None)


def _choose(
    requested: EngineName,
    sources: Sequence[SourceSize],
    available_memory: int | None,
    environ: Mapping[str, str] | None,
) -> EngineChoice:
    catalog = [s.label for s in sources if s.format == SourceFormat.CATALOG]
    csv = [s.label for s in sources if s.format == SourceFormat.CSV]
    if catalog and csv:
        raise DataError(
            f"{csv[0]} is CSV, which is read in memory, and {catalog[0]} a catalog table, "
            "which only Spark reads; convert the CSV file to Parquet."
        )
    if catalog:
        return _catalog(requested, catalog[0], environ)
    if csv:
        return _csv(requested, csv[0])
    if requested == EngineName.SPARK:
        _require_spark(environ)
        return EngineChoice(EngineName.SPARK, "spark: as asked")
    if requested != EngineName.AUTO:
        return EngineChoice(requested, f"{requested}: as asked")
    return _auto(sources, available_memory)


def _catalog(requested: EngineName, label: str, environ: Mapping[str, str] | None) -> EngineChoice:
    if requested in (EngineName.MEMORY, EngineName.DUCKDB):
        raise DataError(
            f"{label} is a catalog table, which only Spark reads; use --engine spark (or "
            "auto), or name its Parquet files instead."
        )
    _require_spark(environ)
    if requested == EngineName.SPARK:
        return EngineChoice(EngineName.SPARK, "spark: as asked")
    return EngineChoice(
        EngineName.SPARK, f"auto: {label} is a catalog table, which only Spark reads -> spark"
    )


def _csv(requested: EngineName, label: str) -> EngineChoice:
    if requested in (EngineName.AUTO, EngineName.MEMORY):
        return EngineChoice(
            EngineName.MEMORY, f"{requested}: {label} is CSV, which is read in memory -> memory"
        )
    return EngineChoice(
        EngineName.MEMORY,
        f"{requested} asked, but {label} is CSV, which only the memory engine reads (convert "
        f"it to Parquet for {requested}) -> memory",
    )


def _auto(sources: Sequence[SourceSize], available_memory: int | None) -> EngineChoice:
    if all(s.format == SourceFormat.ARROW for s in sources):
        return EngineChoice(EngineName.MEMORY, "auto: the rows are in memory already -> memory")
    unknown = next((s.label for s in sources if s.memory_bytes is None), None)
    if unknown is not None:
        return EngineChoice(EngineName.DUCKDB, f"auto: the size of {unknown} is unknown -> duckdb")
    need = sum(s.memory_bytes or 0 for s in sources)
    available = measured_memory() if available_memory is None else available_memory
    assumed = "" if available is not None else " (assumed: the system does not say)"
    room = ASSUMED_MEMORY if available is None else available
    if need <= MEMORY_FRACTION * room:
        return EngineChoice(
            EngineName.MEMORY,
            f"auto: about {_gb(need)} in memory fits in {_SHARE} of the {_gb(room)} "
            f"available{assumed} -> memory",
        )
    return EngineChoice(
        EngineName.DUCKDB,
        f"auto: about {_gb(need)} in memory, more than {_SHARE} of the {_gb(room)} "
        f"available{assumed} -> duckdb",
    )


def _gb(n: int | float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 0.1 * 2**30 else f"{n / 2**20:.0f} MB"


def spark_missing(*, environ: Mapping[str, str] | None = None) -> str | None:
    """Say what Spark still needs on this machine (None: nothing).

    PySpark always; Java for a local session, unless ``SPARK_REMOTE`` names a Spark Connect
    server (``sc://host:15002``), whose client needs no JVM.
    """
    env = os.environ if environ is None else environ
    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append("PySpark (pip install pyspark)")
    java_home = env.get("JAVA_HOME", "")
    has_java = shutil.which("java") is not None or (
        bool(java_home) and (Path(java_home) / "bin" / "java").is_file()
    )
    if not has_java and not env.get("SPARK_REMOTE"):
        missing.append(
            "Java 17 or later (e.g. apt-get install default-jre-headless), or SPARK_REMOTE "
            "naming a Spark Connect server"
        )
    return " and ".join(missing) or None


def _require_spark(environ: Mapping[str, str] | None) -> None:
    missing = spark_missing(environ=environ)
    if missing is not None:
        raise DataError(f"the spark engine needs {missing}; install it, or use --engine duckdb.")


def is_csv(ref: str) -> bool:
    """Whether a named file is CSV (read in memory only), by its suffix."""
    name = ref.lower()
    return name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz"))


def engine_for(
    requested: EngineName | str,
    refs: Sequence[str],
    *,
    cli: bool = False,
    needs_memory: str | None = None,
) -> tuple[EngineChoice, list[TableSource] | None]:
    """Choose the engine for named data, and resolve the sources a SQL engine reads.

    Parameters
    ----------
    requested : EngineName or str
        ``auto``, ``memory``, ``duckdb`` or ``spark``.
    refs : sequence of str
        What each side names (a path, folder, glob, URI or ``table:db.name``).
    cli : bool, default False
        The command line: local paths anywhere (the user's own machine); otherwise only
        inside the data roots (a visitor of the app).
    needs_memory : str, optional
        Why the step can only run in memory (e.g. "windows"), if it can only: then ``auto``
        keeps memory and an explicit SQL engine is refused with that reason.

    Returns
    -------
    (EngineChoice, list of TableSource or None)
        The sources are None for the memory engine (the files are read as today).
    """
    from tracing.storage import resolve_table_source

    requested = EngineName(requested)
    if needs_memory is not None:
        if requested in (EngineName.DUCKDB, EngineName.SPARK):
            raise DataError(
                f"{needs_memory} run in memory only for now; use --engine memory (or auto)."
            )
        return EngineChoice(EngineName.MEMORY, f"{requested}: {needs_memory} -> memory"), None
    if requested == EngineName.MEMORY or any(is_csv(r) for r in refs):
        csv = [r for r in refs if is_csv(r)]
        sizes = [SourceSize(Path(r).name, SourceFormat.CSV, 1, None, None, None) for r in csv]
        if not sizes:
            return EngineChoice(EngineName.MEMORY, "memory: as asked"), None
        return _choose(requested, sizes, None, None), None
    roots = (Path(Path.cwd().anchor),) if cli else None
    sources = [resolve_table_source(r, allowed_roots=roots) for r in refs]
    choice = choose_engine(requested, sources)
    return choice, (None if choice.engine == EngineName.MEMORY else sources)


def open_backend(engine: EngineName, *, environ: Mapping[str, str] | None = None) -> Any:
    """Open the backend of a SQL engine with the settings (`tracing.sqlbackend.SqlBackend`)."""
    from tracing import settings

    if engine == EngineName.DUCKDB:
        from tracing.engine_duckdb import DuckBackend

        return DuckBackend(
            memory_limit=settings.get("TRACING_DUCKDB_MEMORY_LIMIT", environ=environ),
            temp_directory=settings.get("TRACING_DUCKDB_TEMP_DIR", environ=environ),
        )
    if engine == EngineName.SPARK:
        from tracing.engine_spark import SparkBackend

        return SparkBackend(conf=settings.get("TRACING_SPARK_CONF", environ=environ))
    raise ValueError(f"{engine} is not a SQL engine")
