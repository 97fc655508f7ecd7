"""Which engine the app runs a view on, and the analysis a SQL engine holds for it.

The command line chooses its engine once per run (`tracing.engines.engine_for`); the app
chooses it per view, from what the Data page points at, with the same rule and the same
``TRACING_ENGINE`` setting (`plan_engine`):

- **uploads** (dataset ids), **http(s) URLs** and **CSV files** are read in memory, as before:
  an upload or a download is bounded by the server's caps, and CSV is read by pandas only;
- **date ranges, model versions and delayed actuals** cut or join rows in memory only for now:
  such a view runs in memory, whatever was asked, and says so (`memory_only_reason`);
- a **Parquet file, folder, glob or object-storage URI** goes through `choose_engine`:
  ``auto`` keeps memory while both sides fit comfortably, DuckDB otherwise; an engine asked
  for by name is used. The memory engine reads single files: a folder, glob or URI it cannot
  read goes to DuckDB (or is refused when memory was asked for by name).

On DuckDB or Spark the app builds one `tracing.engine_analysis.EngineAnalysis` per data and
roles (`open_engine`): every metric, slice and drilldown is then a query over every row, and the
row-level sections (root cause, drift, quality, explanations, the time series) run on its
uniform sample (`sampled_text`). An `EngineSession` pairs it with a lock: one DuckDB
connection serves every visitor and the background prefetches, and a connection must not run
two queries at once.

`data_stamp` is the cheap identity of the data behind a reference (file sizes and modification
times, never the data): the app's caches are keyed by it, so a rewritten file or a new file in
a folder is a new analysis.
"""

from __future__ import annotations

import hashlib
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracing.engines import EngineChoice, engine_for, is_csv, open_backend
from tracing.errors import DataError
from tracing.sources import describe_source, is_dataset_id, source_stamp
from tracing.sqlbackend import TableSource
from tracing.storage import estimate
from tracing.vocab import EngineName

if TYPE_CHECKING:
    from tracing.engine_analysis import EngineAnalysis
    from tracing.metrics import Metric

__all__ = [
    "ENGINE_TITLES",
    "MAX_OPEN_ENGINES",
    "SAMPLE_SIZE",
    "EnginePlan",
    "EngineSession",
    "EngineStore",
    "open_sessions",
    "opening_text",
    "data_stamp",
    "display_name",
    "engine_metrics",
    "engine_sentence",
    "is_table_ref",
    "memory_only_reason",
    "open_engine",
    "plan_engine",
    "progress_text",
    "row_counts",
    "sample_notes",
    "sampled_text",
    "validate_ref",
]

SAMPLE_SIZE = 200_000
"""Rows per side of an engine analysis' sample (`tracing.engine_analysis.DEFAULT_SAMPLE_SIZE`):
roles are detected, and row-level sections run, on it."""

MAX_OPEN_ENGINES = 2
"""Engine analyses the app keeps open at once: each holds a connection and its coded tables
(at 100M rows, gigabytes, spilled to disk), so the least recently used one is closed first."""

ENGINE_TITLES = {
    EngineName.MEMORY: "in memory (pandas)",
    EngineName.DUCKDB: "DuckDB",
    EngineName.SPARK: "Spark",
}
"""How pages name an engine ("Searching slices on 10,000,000 rows with DuckDB")."""


@dataclass(frozen=True)
class EnginePlan:
    """The engine a view runs on, why, and (SQL engines) the sources it reads.

    Attributes
    ----------
    choice : EngineChoice
        The engine and the one sentence that says why.
    sources : (TableSource, TableSource) or None
        Baseline and production for a SQL engine; None in memory (files are loaded as before).
    """

    choice: EngineChoice
    sources: tuple[TableSource, TableSource] | None = field(default=None, compare=False)

    @property
    def engine(self) -> EngineName:
        """``memory``, ``duckdb`` or ``spark``."""
        return self.choice.engine

    @property
    def in_memory(self) -> bool:
        """Whether the rows are loaded into pandas (no SQL engine)."""
        return self.engine == EngineName.MEMORY

    @property
    def title(self) -> str:
        """The engine as pages name it (``DuckDB``)."""
        return ENGINE_TITLES[self.engine]


def memory_only_reason(
    *, one_file: bool, windows: bool, versions: bool, actuals: bool
) -> str | None:
    """Say why a view can only run in memory (None: a SQL engine can run it).

    Examples
    --------
    >>> memory_only_reason(one_file=False, windows=False, versions=False, actuals=True)
    'delayed actuals'
    >>> memory_only_reason(one_file=False, windows=False, versions=False, actuals=False) is None
    True
    """
    if versions:
        return "model versions"
    if one_file or windows:
        return "date ranges"
    if actuals:
        return "delayed actuals"
    return None


def is_table_ref(ref: str) -> bool:
    """Whether a reference names what only a SQL engine reads: a folder, glob or bucket URI.

    Examples
    --------
    >>> is_table_ref("logs/day=*/part-*.parquet"), is_table_ref("s3://bucket/logs/")
    (True, True)
    >>> is_table_ref("demo_data/fraud_training.parquet")
    False
    """
    ref = ref.strip()
    if not ref or is_dataset_id(ref):
        return False
    scheme = urllib.parse.urlsplit(ref).scheme.lower()
    if scheme in ("s3", "gs", "gcs"):
        return True
    if scheme in ("http", "https"):
        return False
    if any(c in ref for c in "*?["):
        return True
    try:
        return Path(ref).expanduser().is_dir()
    except (OSError, ValueError):
        return False


def _memory_read(ref: str) -> str | None:
    """Why a reference is read in memory whatever the setting (None: any engine may read it)."""
    if is_dataset_id(ref):
        return "uploads are read in memory"
    if urllib.parse.urlsplit(ref).scheme.lower() in ("http", "https"):
        return "URLs are read in memory"
    return None


def plan_engine(
    requested: EngineName | str,
    baseline: str,
    production: str,
    *,
    memory_only: str | None = None,
) -> EnginePlan:
    """Choose the engine of a view (module docstring) and resolve what a SQL engine reads.

    Parameters
    ----------
    requested : EngineName or str
        ``TRACING_ENGINE``: ``auto``, ``memory``, ``duckdb`` or ``spark``.
    baseline, production : str
        What the Data page points at ("" baseline: cut from the production file).
    memory_only : str, optional
        Why the view's rows can only be cut in memory (`memory_only_reason`).

    Returns
    -------
    EnginePlan

    Raises
    ------
    DataError
        A folder, glob or URI where only memory can run (the message says what to change), a
        reference a SQL engine cannot read, or Spark asked for but not installed.
    """
    requested = EngineName(requested)
    refs = [r.strip() for r in (baseline, production) if r.strip()]
    if not baseline.strip() and memory_only is None:
        memory_only = "date ranges"  # one file: its baseline is cut by dates or versions
    tables = [r for r in refs if is_table_ref(r)]
    forced = next((why for why in map(_memory_read, refs) if why), None) or memory_only
    if forced is not None:
        if tables:
            raise DataError(
                f"{tables[0]}: a folder, pattern or bucket is read only by the duckdb and spark "
                f"engines, and {forced} run in memory; name single files, or compare two "
                "folders whole."
            )
        how = f"{requested} asked, but " if requested in _SQL else f"{requested}: "
        return EnginePlan(EngineChoice(EngineName.MEMORY, f"{how}{forced} -> memory"))
    csv = next((r for r in refs if is_csv(r)), None)
    if tables and csv is not None:
        raise DataError(
            f"{csv} is CSV, which is read in memory, and {tables[0]} a folder, pattern or "
            "bucket, which only the duckdb and spark engines read; convert the CSV file to "
            "Parquet."
        )
    if requested == EngineName.MEMORY and tables:
        raise DataError(
            f"{tables[0]}: a folder, pattern or bucket is read only by the duckdb and spark "
            "engines, and this server runs in memory (TRACING_ENGINE=memory); name one file, "
            "or ask the operator to set TRACING_ENGINE=auto."
        )
    for ref in refs:
        if not is_table_ref(ref):
            describe_source(ref)  # a missing or refused file: the message the memory path gives
    try:
        choice, sources = engine_for(requested, refs)
    except DataError as exc:
        if requested != EngineName.AUTO or tables:
            raise
        # auto could not size a file from its footer: the memory reader says what is wrong
        return EnginePlan(EngineChoice(EngineName.MEMORY, f"auto: {exc} -> memory"))
    if sources is None and tables:
        # auto found them small, but the memory engine reads files, not folders
        choice = EngineChoice(
            EngineName.DUCKDB,
            f"{choice.reason.removesuffix(' -> memory')}, but {tables[0]} is a folder or "
            "pattern, which the memory engine does not read -> duckdb",
        )
        _, sources = engine_for(EngineName.DUCKDB, refs)
    if sources is None:
        return EnginePlan(choice)
    if len(sources) != 2:
        raise DataError("no baseline: name a baseline file or folder on the Data page.")
    for source in sources:
        # Every footer, before the engine scans a byte: a file that is not Parquet is named,
        # with what to do (DuckDB's own error names it, but says nothing of the fix).
        estimate(source)
    return EnginePlan(choice, (sources[0], sources[1]))


_SQL = (EngineName.DUCKDB, EngineName.SPARK)


def validate_ref(ref: str) -> None:
    """Check a reference the Data page was given, without reading its data.

    A file the memory engine reads (`tracing.sources.describe_source`), or a folder, glob or
    bucket URI a SQL engine reads (`tracing.storage.resolve_table_source`).

    Raises
    ------
    DataError
        Naming the reference and what to do.
    """
    if is_table_ref(ref):
        from tracing.storage import resolve_table_source

        resolve_table_source(ref)
        return
    describe_source(ref)


def data_stamp(ref: str) -> str:
    """Return a string that changes when the data behind ``ref`` changes (for cache keys).

    Files as `tracing.sources.source_stamp` (size and modification time); a local folder or glob
    by every file's name, size and modification time; a bucket URI by its files' names (its
    listing, without reading a file). Empty for ``""``.
    """
    if not ref:
        return ""
    if not is_table_ref(ref):
        return source_stamp(ref)
    from tracing.storage import resolve_table_source

    source = resolve_table_source(ref)
    digest = hashlib.sha256()
    for path in source.paths:
        digest.update(path.encode())
        if source.filesystem is None:
            stat = Path(path).stat()
            digest.update(f":{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"{len(source.paths)}:{digest.hexdigest()[:16]}"


def display_name(ref: str) -> str:
    """Name a side as pages show it: a file's or folder's name, a pattern as typed.

    Examples
    --------
    >>> display_name("/data/logs/production.parquet"), display_name("logs/day=*/*.parquet")
    ('production.parquet', 'logs/day=*/*.parquet')

    A folder is named with its parent (``scale-10M/production``).
    """
    ref = ref.strip()
    if any(c in ref for c in "*?[") or "://" in ref:
        return ref
    path = Path(ref.rstrip("/"))
    if is_table_ref(ref):  # a folder: "production" alone says little, its parent says which
        return "/".join(path.parts[-2:]).removeprefix("/") or ref
    return path.name or ref


@dataclass(eq=False)
class EngineSession:
    """An engine analysis and the lock its connection is used under.

    Attributes
    ----------
    plan : EnginePlan
        The engine and why.
    analysis : EngineAnalysis
        Every row in the engine; its sample in memory.
    """

    plan: EnginePlan
    analysis: EngineAnalysis
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _queue: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _waiting: int = 0  # foreground calls waiting for the connection or holding it
    _owner: int | None = None  # the thread holding the connection
    _closed: bool = False

    @contextmanager
    def using(self, *, background: bool = False) -> Iterator[EngineAnalysis]:
        """Hold the connection for one engine call (other callers wait).

        A ``background`` call (a prefetch) waits until no visitor's call is waiting: a
        click waits for at most the one prefetch already running, never for the queue of
        them (a released lock goes to whichever thread asks first, often the prefetcher
        again). A call made while its thread holds the connection never waits.
        """
        me = threading.get_ident()
        with self._queue:
            if not background:
                self._waiting += 1
            elif self._owner != me:
                self._queue.wait_for(lambda: self._waiting == 0)
        try:
            with self._lock:
                if self._closed:
                    raise DataError(
                        "this analysis was closed to make room for another one on the server; "
                        "reload the page to open it again."
                    )
                outer, self._owner = self._owner, me
                try:
                    yield self.analysis
                finally:
                    self._owner = outer
        finally:
            if not background:
                with self._queue:
                    self._waiting -= 1
                    self._queue.notify_all()

    def close(self) -> None:
        """Release the engine (after the call that holds it, if any); idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.analysis.backend.close()


class EngineStore:
    """The open engine sessions of a process, by key, the least recently used closed first.

    One session per key is opened at a time (a second caller of the same key waits for the
    first); sessions of different keys open in parallel. Several keys may name one session
    (`alias`: the view with its detected roles pinned is the same analysis); a session is
    closed once no key names it.

    Parameters
    ----------
    max_open : int, default `MAX_OPEN_ENGINES`
        Sessions kept open.
    """

    def __init__(self, max_open: int = MAX_OPEN_ENGINES) -> None:
        self.max_open = max_open
        self._items: OrderedDict[Hashable, EngineSession] = OrderedDict()
        self._lock = threading.Lock()
        self._opening: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> EngineSession | None:
        """Return the open session of a key (None: not open), as the most recently used."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._touch(found)
            return found

    def get_or_open(self, key: Hashable, open_: Callable[[], EngineSession]) -> EngineSession:
        """Return the session of ``key``, opening it with ``open_()`` on a miss."""
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            busy = self._opening.setdefault(key, threading.Lock())
        with busy:
            found = self.get(key)
            if found is not None:
                return found
            session = open_()
            self._put(key, session)
        with self._lock:
            if self._opening.get(key) is busy:
                del self._opening[key]
        return session

    def alias(self, key: Hashable, existing: Hashable) -> None:
        """Let ``key`` name the session of ``existing`` too (nothing when that is not open)."""
        with self._lock:
            found = self._items.get(existing)
        if found is not None and key != existing:
            self._put(key, found)

    def keys(self) -> list[Hashable]:
        """Return the keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def close_all(self) -> None:
        """Close every session (tests, shutdown)."""
        with self._lock:
            sessions = {id(s): s for s in self._items.values()}
            self._items.clear()
        for session in sessions.values():
            session.close()

    def _touch(self, session: EngineSession) -> None:
        for k in [k for k, s in self._items.items() if s is session]:
            self._items.move_to_end(k)

    def _put(self, key: Hashable, session: EngineSession) -> None:
        with self._lock:
            self._items[key] = session
            self._touch(session)
            gone: list[EngineSession] = []
            while len({id(s) for s in self._items.values()}) > self.max_open:
                oldest = next(iter(self._items.values()))  # with every key that names it
                for k in [k for k, s in self._items.items() if s is oldest]:
                    del self._items[k]
                gone.append(oldest)
        for session in gone:  # outside the lock: a close waits for the call using it
            session.close()


_SESSIONS = EngineStore()


def open_sessions() -> EngineStore:
    """Return the process-wide store of open engine sessions.

    A module-level store, not Streamlit's resource cache: background prefetch threads (no
    script run) look sessions up too, and `tracing` never imports Streamlit.
    """
    return _SESSIONS


def open_engine(
    plan: EnginePlan,
    *,
    names: tuple[str, str],
    roles: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    positive_class: Any = None,
    random_state: int = 0,
) -> EngineSession:
    """Open the plan's backend and prepare the analysis of every row on it.

    The schema, model type and lead metric come from the engine's uniform sample, by the code
    the memory engine runs (`tracing.engine_analysis.prepare_engine_analysis`). The plan's
    reason is not a note: the Data page says it (`engine_sentence`).

    Raises
    ------
    DataError
        Unreadable data, or roles that do not fit (naming the side and the column); the
        backend is closed first.
    """
    from tracing.engine_analysis import prepare_engine_analysis

    if plan.sources is None:
        raise ValueError("a memory plan has no engine to open")
    backend = open_backend(plan.engine)
    try:
        analysis = prepare_engine_analysis(
            plan.sources[0],
            plan.sources[1],
            backend=backend,
            names=names,
            roles=roles,
            model_type=model_type,
            positive_class=positive_class,
            require_actuals=False,  # production without actuals: drift still works
            sample_size=SAMPLE_SIZE,
            random_state=random_state,
        )
    except BaseException:
        backend.close()
        raise
    return EngineSession(plan, analysis)


def sample_notes(analysis: EngineAnalysis) -> tuple[str, ...]:
    """Return the notes of an engine analysis: the engine's, then its sample's.

    The sample's counts of rows left out of metrics are the sample's, not the data's (as in
    `tracing.report`): they are dropped unless the sample holds every row.
    """
    sample = analysis.sample.notes
    if analysis.sample_rows != analysis.rows:
        sample = tuple(n for n in sample if "rows left out of metrics" not in n)
    return (*analysis.notes, *sample)


def sampled_text(analysis: EngineAnalysis) -> str | None:
    """Say that a section runs on the engine's uniform sample (`tracing.report.ReportRun`).

    None when the sample holds every row (small data): nothing was left out.
    """
    from tracing.options import ReportOptions
    from tracing.report import ReportRun

    if analysis.sample_rows == analysis.rows:
        return None
    return ReportRun(analysis, ReportOptions()).sampled()


def progress_text(what: str, rows: int | None, plan: EnginePlan) -> str:
    """Say what a long engine call computes, on how many rows, with which engine.

    Examples
    --------
    >>> plan = EnginePlan(EngineChoice(EngineName.DUCKDB, "duckdb: as asked"))
    >>> progress_text("Searching slices", 30_000_000, plan)
    'Searching slices on 30,000,000 rows with DuckDB…'
    >>> progress_text("Searching slices", 30_000_000, EnginePlan(EngineChoice(
    ...     EngineName.MEMORY, "auto: small")))
    'Searching slices…'
    """
    if plan.engine == EngineName.MEMORY:
        return f"{what}…"
    on = f" on {rows:,} rows" if rows is not None else ""
    return f"{what}{on} with {plan.title}…"


def engine_sentence(plan: EnginePlan) -> str:
    """Say which engine runs the analysis, what that means, and why (Markdown).

    Examples
    --------
    >>> text = engine_sentence(EnginePlan(EngineChoice(EngineName.DUCKDB, "duckdb: as asked")))
    >>> text.startswith("Engine: **DuckDB**: every number is computed on every row"), text[-69:]
    (True, "Why DuckDB: the server's setting asks for it (TRACING_ENGINE=duckdb).")
    """
    reason = plan.choice.reason
    if reason == f"{plan.engine}: as asked":  # the operator's setting, in words
        reason = f"the server's setting asks for it (TRACING_ENGINE={plan.engine})"
    if plan.in_memory:
        return f"Engine: **{plan.title}**. Why: {reason}."
    return (
        f"Engine: **{plan.title}**: every number is computed on every row inside {plan.title}; "
        f"the columns are detected on a uniform sample. Why {plan.title}: {reason}."
    )


def engine_metrics(metrics: Sequence[Metric], plan: EnginePlan) -> list[Metric]:
    """Return the metrics an engine computes per slice and overall: on SQL, additive ones only.

    Rank metrics (ROC AUC, PR AUC) need every row's score order, which no engine query returns
    yet: a picker or a card offering them would show nothing.
    """
    return [m for m in metrics if plan.in_memory or m.additive]


def opening_text(plan: EnginePlan, *, sample_size: int | None = None) -> str:
    """Say what opening the data on a SQL engine does, while it runs.

    Examples
    --------
    >>> plan = EnginePlan(EngineChoice(EngineName.DUCKDB, "duckdb: as asked"))
    >>> opening_text(plan)  # doctest: +ELLIPSIS
    'Opening the data with DuckDB: counting every row and drawing a uniform sample of 200,000...'
    """
    n = SAMPLE_SIZE if sample_size is None else sample_size
    return (
        f"Opening the data with {plan.title}: counting every row and drawing a uniform sample "
        f"of {n:,} rows per side to detect the columns…"
    )


def row_counts(analysis: EngineAnalysis) -> tuple[int, int, int]:
    """Return every baseline row, every production row, and production rows with an actual."""
    from tracing.engine import Side

    return (*analysis.rows, analysis.valid.count(Side.PRODUCTION))
