"""Spark as a SQL backend: the analysis' aggregate queries run on a cluster, or a local JVM.

`SparkBackend` implements `tracing.sqlbackend.SqlBackend`: it registers each side's rows as a
temporary view and runs the (Spark-dialect) queries `tracing.sqltable.SqlTable` builds, bringing
back only their small results, as Arrow tables (`DataFrame.toArrow`, PySpark 4).

Where the session comes from
    With ``SPARK_REMOTE`` set (``sc://host:15002``), Spark Connect: a thin gRPC client of a
    cluster (needs ``pip install "pyspark[connect]==4.3.0"``, no Java). Otherwise a local
    session, ``local[2]`` by default (needs Java: ``apt-get install default-jre-headless``).
    Starting a JVM takes ~10-25 s, so nothing starts until the first `register`, `query` or
    `schema`.

One session per process
    The module keeps one root session for the process. Each backend works in its own
    ``root.newSession()``: it shares the JVM (or the Connect server) but has its own SQL
    settings and temporary views, so two backends' ``baseline`` views never collide and the
    settings below never change a session somebody else made. `SparkBackend.close` drops the
    backend's views and gives back its reference; the root session is stopped only when the
    last open backend closes *and* this module started it. A session that already existed in
    the process (a notebook's ``spark``) is reused and never stopped here. The first backend's
    ``master``/``remote`` decide the root session; later backends share it whatever they ask.

SQL semantics chosen to match DuckDB's (set on every backend session)
    - ``spark.sql.ansi.enabled=true`` (Spark 4's default, set explicitly because a cluster may
      turn it off): a malformed cast (``CAST('x' AS INT)``) and integer overflow raise, as in
      DuckDB, instead of turning into NULL or wrapping around silently. Division by zero then
      raises too, where DuckDB returns ``inf``: the query builder divides through ``NULLIF``.
      ``/`` is floating-point division and ``DIV`` integer division truncating toward zero, as
      DuckDB's ``/`` and ``//``.
    - ``spark.sql.session.timeZone=UTC``: timestamps with a time zone are shown and truncated
      in UTC, as the in-memory engine does.
    - ``spark.sql.shuffle.partitions`` small (4 by default): the results are a few thousand
      groups; Spark's default of 200 tasks per shuffle only adds scheduling time.
    - Any other session setting from ``TRACING_SPARK_CONF`` (``conf=``), such as more shuffle
      partitions for a cluster; the first two stay as they are.

Sources
    Parquet files are read by Spark itself (``spark.read.parquet``; with ``hive_root``, the
    ``basePath`` option, so the partition keys become columns, typed by Spark's partition type
    inference). Local paths are made absolute for a local session; with Spark Connect they are
    paths on the cluster. Object storage is read with the cluster's own configuration and
    credentials (``s3a://``, ``gs://``, ``abfss://``...): paths with a scheme are passed as
    given, and a source listed through pyarrow's S3 or GCS filesystem becomes ``s3a://bucket/key``
    or ``gs://bucket/key``. No Hadoop connector jars are added here: a local session reads local
    files only unless its Spark installation has them. A catalog table becomes a view over
    ``spark.table(name)``; an Arrow table is copied in with ``createDataFrame`` (tests, small
    uploads).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracing.errors import DataError

if TYPE_CHECKING:  # pyspark and pyarrow load with the first session, not with this module
    import pyarrow as pa
    from pyspark.errors import PySparkException
    from pyspark.sql import DataFrame, SparkSession

    from tracing.sqlbackend import TableSource

__all__ = ["SparkBackend", "SparkQueryError", "spark_available", "spark_missing"]

REMOTE_ENV = "SPARK_REMOTE"
"""The environment variable that points at a Spark Connect server (``sc://host:15002``)."""

INSTALL_HINT = (
    "install Java (apt-get install default-jre-headless) and PySpark (pip install pyspark==4.3.0)"
)
CONNECT_HINT = 'install the Spark Connect client (pip install "pyspark[connect]==4.3.0")'

_VIEW = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMES = {"s3": "s3a://", "gcs": "gs://"}
"""pyarrow filesystem type -> the URI scheme Spark's Hadoop connectors read it with."""
_CONNECT_MODULES = ("grpc", "grpc_status", "google.rpc", "zstandard")
_LISTED_COLUMNS = 20
"""At most this many column names in a missing-column message."""


class SparkQueryError(RuntimeError):
    """Spark could not run a query for a reason that is not the user's data.

    The message carries Spark's error condition (``WRONG_NUM_ARGS``, ``DIVIDE_BY_ZERO``...)
    and the first line of its message; ``condition`` holds the condition alone.
    """

    def __init__(self, message: str, *, condition: str | None = None) -> None:
        super().__init__(message)
        self.condition = condition


def spark_missing() -> str | None:
    """Say what is missing to run Spark here, or None when nothing is.

    With ``SPARK_REMOTE`` set, the Spark Connect client libraries are needed; otherwise Java.

    Examples
    --------
    >>> spark_missing() is None or "install" in spark_missing()
    True
    """
    return _missing(remote=bool(os.environ.get(REMOTE_ENV)))


def _missing(*, remote: bool) -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return f"Spark is not available: PySpark is not installed; {INSTALL_HINT}."
    if remote:
        if not all(_importable(name) for name in _CONNECT_MODULES):
            return f"Spark Connect ({REMOTE_ENV}) needs its client libraries; {CONNECT_HINT}."
        return None
    if shutil.which("java") is None:
        return f"Spark is not available: no `java` on PATH for a local session; {INSTALL_HINT}."
    return None


def spark_available() -> bool:
    """Tell whether a Spark session can start here (PySpark, and Java or ``SPARK_REMOTE``)."""
    return spark_missing() is None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a missing parent package (``google`` for ``google.rpc``)
        return False


# --- the process' one root session -----------------------------------------------------------


@dataclass
class _Root:
    """The root session, whether this module started it, and how many backends use it."""

    session: SparkSession
    owned: bool
    users: int = 0
    scratch: str | None = None


_root: _Root | None = None
_lock = threading.Lock()


def _acquire(*, master: str, remote: str | None) -> SparkSession:
    """Return the root session (starting it on first use) and count one more user."""
    global _root
    with _lock:
        if _root is None:
            _root = _start(master=master, remote=remote)
        _root.users += 1
        return _root.session


def _release() -> None:
    """Count one user less; stop the root session when nobody uses it and it is ours."""
    global _root
    with _lock:
        if _root is None:
            return
        _root.users -= 1
        if _root.users <= 0 and _root.owned:
            _root.session.stop()
            if _root.scratch is not None:
                shutil.rmtree(_root.scratch, ignore_errors=True)
            _root = None


def _start(*, master: str, remote: str | None) -> _Root:
    missing = _missing(remote=remote is not None)
    if missing is not None:
        raise DataError(missing, option="engine")
    from pyspark.logger import PySparkLogger
    from pyspark.sql import SparkSession

    # `query` re-raises Spark's errors with their message; PySpark would also log each one as
    # a JSON record on stderr, which only repeats it.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    active = None if remote is not None else SparkSession.getActiveSession()
    if active is not None:  # somebody else's session (a notebook's): share it, never stop it
        return _Root(active, owned=False)
    with warnings.catch_warnings():
        # PySpark 4.3 warns on start-up that it does not fully support pandas 3; this backend
        # exchanges only Arrow tables with Spark (createDataFrame, toArrow), never pandas.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        return _start_remote(remote) if remote is not None else _start_local(master)


def _start_remote(remote: str) -> _Root:
    from pyspark.errors import PySparkImportError
    from pyspark.sql import SparkSession

    try:
        return _Root(SparkSession.builder.remote(remote).getOrCreate(), owned=True)
    except PySparkImportError as exc:
        raise DataError(f"Spark Connect ({remote}) cannot start: {exc}; {CONNECT_HINT}.") from exc


def _start_local(master: str) -> _Root:
    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession

    scratch = tempfile.mkdtemp(prefix="tracing-spark-")
    builder = (
        SparkSession.builder.master(master)
        .appName("tracing")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Spark makes its warehouse folder at start-up: not in the user's working directory.
        .config("spark.sql.warehouse.dir", scratch)
    )
    try:
        session = builder.getOrCreate()
    except PySparkRuntimeError as exc:  # the JVM did not come up (JAVA_GATEWAY_EXITED)
        shutil.rmtree(scratch, ignore_errors=True)
        raise DataError(f"Spark could not start a local session: {exc}; {INSTALL_HINT}.") from exc
    # A failed task logs its Java stack trace; the error reaches the caller as an exception
    # anyway (and the CLI prints one line), so only fatal records are worth stderr.
    session.sparkContext.setLogLevel("FATAL")
    return _Root(session, owned=True, scratch=scratch)


# --- the backend ------------------------------------------------------------------------------


class SparkBackend:
    """Run the analysis' SQL on Spark (Spark Connect with ``SPARK_REMOTE``, else local).

    Parameters
    ----------
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions`` of this backend's session: small, the results are small.
    master : str
        The master of a local session, when this backend is the one that starts it.
    remote : str, optional
        A Spark Connect URL (default: ``$SPARK_REMOTE``; empty or unset: a local session).
    conf : sequence of (str, str)
        More Spark SQL settings of this backend's session (``TRACING_SPARK_CONF``), applied
        after ``shuffle_partitions``; ANSI mode and the UTC session time zone stay (the
        queries rely on them).

    Attributes
    ----------
    dialect : str
        ``"spark"``: the SQLGlot dialect of the queries it runs.
    name : str
        ``"spark"``.

    Examples
    --------
    >>> backend = SparkBackend(shuffle_partitions=2)  # no JVM starts yet
    >>> backend.dialect, backend.name
    ('spark', 'spark')
    >>> backend.close()
    """

    dialect = "spark"
    name = "spark"

    def __init__(
        self,
        *,
        shuffle_partitions: int = 4,
        master: str = "local[2]",
        remote: str | None = None,
        conf: Sequence[tuple[str, str]] = (),
    ) -> None:
        from tracing.settings import SPARK_FIXED

        if shuffle_partitions < 1:
            raise ValueError("shuffle_partitions must be at least 1")
        fixed = [k for k, _ in conf if k in SPARK_FIXED]
        if fixed:
            raise ValueError(f"{fixed[0]} is set by the engine (its answers depend on it)")
        self._shuffle_partitions = shuffle_partitions
        self._conf = tuple(conf)
        self._master = master
        self._remote = (remote if remote is not None else os.environ.get(REMOTE_ENV)) or None
        self._session: SparkSession | None = None
        self._views: dict[str, str] = {}
        self._closed = False
        self._lock = threading.Lock()

    # The session ------------------------------------------------------------------------------

    @property
    def session(self) -> SparkSession:
        """Return this backend's own Spark session, started on first use."""
        with self._lock:  # two threads' first queries start one session, not two
            if self._closed:
                raise RuntimeError("this SparkBackend is closed")
            if self._session is None:
                self._session = self._open()
            return self._session

    def _open(self) -> SparkSession:
        root = _acquire(master=self._master, remote=self._remote)
        try:
            session = root.newSession()
            for key, value in self._settings().items():
                session.conf.set(key, value)
        except BaseException:
            _release()
            raise
        return session

    def _settings(self) -> dict[str, str]:
        return {
            "spark.sql.shuffle.partitions": str(self._shuffle_partitions),
            **dict(self._conf),
            "spark.sql.ansi.enabled": "true",
            "spark.sql.session.timeZone": "UTC",
        }

    # SqlBackend ------------------------------------------------------------------------------

    def register(self, view: str, source: TableSource) -> None:
        """Make ``source`` queryable as the temporary view ``view``.

        Raises
        ------
        DataError
            When Spark cannot find the files or the catalog table (the message names
            ``source.label``).
        """
        if not _VIEW.fullmatch(view):
            raise ValueError(f"a view name is a plain identifier, not {view!r}")
        from pyspark.errors import PySparkException

        try:
            frame = self._frame(source)
            frame.createOrReplaceTempView(view)
        except PySparkException as exc:
            raise self._translate(exc, label=source.label) from exc
        self._views[view] = source.label

    def define_view(self, view: str, sql: str) -> None:
        """Make the rows of ``sql`` queryable as the temporary view ``view`` (not cached)."""
        if not _VIEW.fullmatch(view):
            raise ValueError(f"a view name is a plain identifier, not {view!r}")
        self.query(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {sql}")
        self._views[view] = view

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` (Spark SQL) and return its result as an Arrow table.

        Raises
        ------
        DataError
            When the query names a column or view the data does not have, or a value cannot
            be cast (the message names the view and its source).
        SparkQueryError
            When Spark fails for another reason (an unsupported function, division by zero).
        """
        from pyspark.errors import PySparkException

        try:
            return self.session.sql(sql).toArrow()
        except PySparkException as exc:
            raise self._translate(exc, sql=sql) from exc

    def materialize(self, name: str, sql: str) -> None:
        """Hold the rows of ``sql`` as the cached temporary view ``name``.

        ``CACHE TABLE ... AS`` computes it once, in the executors' memory and disk (Spark's
        default storage level spills), and later queries read the cache.
        """
        if not _VIEW.fullmatch(name):
            raise ValueError(f"a table name is a plain identifier, not {name!r}")
        self.query(f"CACHE TABLE {name} AS {sql}")
        self._views[name] = "the coded rows"

    def drop(self, name: str) -> None:
        """Uncache and drop a view `materialize` wrote (idempotent)."""
        if name not in self._views or self._session is None:
            return
        self._session.sql(f"UNCACHE TABLE IF EXISTS {name}")
        self._session.catalog.dropTempView(name)
        del self._views[name]

    def schema(self, view: str) -> pa.Schema:
        """Return the Arrow schema of ``view``'s columns, as `query` returns them."""
        from pyspark.errors import PySparkException
        from pyspark.sql.pandas.types import to_arrow_schema

        try:
            spark_schema = self.session.table(view).schema
        except PySparkException as exc:
            raise self._translate(exc, label=view) from exc
        # The conversion `DataFrame.toArrow` applies, so the two agree.
        return to_arrow_schema(
            spark_schema, error_on_duplicated_field_names_in_struct=True, timezone="UTC"
        )

    def close(self) -> None:
        """Drop this backend's views and release its share of the session; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            session, self._session = self._session, None
        if session is None:
            return
        try:
            for view in self._views:
                session.catalog.dropTempView(view)
        finally:
            self._views.clear()
            _release()

    # Helpers ---------------------------------------------------------------------------------

    def _frame(self, source: TableSource) -> DataFrame:
        session = self.session
        if source.arrow is not None:
            return session.createDataFrame(source.arrow)
        if source.table is not None:
            return session.table(source.table)
        reader = session.read
        if source.hive_root is not None:
            reader = reader.option("basePath", self._path(source.hive_root, source))
        return reader.parquet(*(self._path(path, source) for path in source.paths))

    def _path(self, path: str, source: TableSource) -> str:
        """Return ``path`` as Spark reads it: with its URI scheme, absolute when local."""
        kind = "local" if source.filesystem is None else str(source.filesystem.type_name)
        if "://" in path or path.startswith("file:"):
            return path
        if kind in _SCHEMES:
            return _SCHEMES[kind] + path.lstrip("/")
        if kind != "local":
            raise DataError(
                f"{source.label}: Spark cannot read files of a {kind!r} filesystem; "
                "give it a URI its cluster can read (s3a://, gs://, hdfs://...)."
            )
        # A local session resolves relative paths against the JVM's directory; on a cluster
        # (Spark Connect) a path is the cluster's, so it is passed as given.
        return path if self._remote else os.path.abspath(path)

    def _translate(
        self, exc: PySparkException, *, sql: str | None = None, label: str | None = None
    ) -> Exception:
        """Turn Spark's exception into a `DataError` (the user's input) or `SparkQueryError`."""
        condition = exc.getCondition() or ""
        params: dict[str, Any] = dict(exc.getMessageParameters() or {})
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        family = condition.split(".")[0]
        if family == "UNRESOLVED_COLUMN":
            return DataError(self._missing_column(str(params.get("objectName", "?")), sql))
        if family == "TABLE_OR_VIEW_NOT_FOUND":
            name = str(params.get("relationName", label or "?"))
            where = f"{label}: " if label else ""
            return DataError(
                f"{where}Spark has no table or view {name}; check the table name "
                "(table:db.name) and that the session's catalog holds it."
            )
        if family == "PATH_NOT_FOUND":
            path = str(params.get("path", "?"))
            return DataError(f"{label}: Spark cannot find {path}; check the path or URI.")
        if family == "CAST_INVALID_INPUT":
            value = params.get("expression", "?")
            target = params.get("targetType", "?")
            return DataError(
                f"Spark cannot read the value {value} as {target} ({self._where(sql)}); "
                "check that column's type."
            )
        return SparkQueryError(f"Spark could not run the query: {first}", condition=condition)

    def _missing_column(self, column: str, sql: str | None) -> str:
        views = self._views_in(sql)
        if not views:
            return f"no column {column} in the data; check the column names."
        parts = []
        for view in views:
            names = [field.name for field in self.session.table(view).schema.fields]
            more = ", ..." if len(names) > _LISTED_COLUMNS else ""
            shown = ", ".join(names[:_LISTED_COLUMNS]) + more
            parts.append(f"{view} ({self._views[view]}) has {shown}")
        return f"no column {column} in the data: {'; '.join(parts)}. Check the column name."

    def _views_in(self, sql: str | None) -> list[str]:
        """Return the registered views ``sql`` names (all of them when there is no SQL)."""
        if sql is None:
            return list(self._views)
        return [v for v in self._views if re.search(rf"\b{re.escape(v)}\b", sql, re.IGNORECASE)]

    def _where(self, sql: str | None) -> str:
        views = self._views_in(sql)
        return ", ".join(f"view {v} from {self._views[v]}" for v in views) or "the query"
