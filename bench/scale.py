"""Scale benchmark (issue 16): big partitioned logs, the full report per engine, level profiles.

Run by hand (not part of the tests), from the repository root::

    python bench/scale.py generate --sizes 10M,30M           # /tmp/scale-<rows>/, once
    python bench/scale.py run --sizes 10M --engines memory   # the full report per engine
    python bench/scale.py run --sizes 10M,30M --engines memory,duckdb --repeat 3
    python bench/scale.py --profile-levels --sizes 10M,30M   # DuckDB alone, no tracing engine

``generate`` writes, with `bench/bigdata.py` (seeded, planted slice, drift), a 10M-row
baseline and a production side of 10M, 30M or 100M rows, 20 features each, as hive-partitioned
Parquet folders (``baseline/part=k/``, ``production/part=k/``) in ``/tmp/scale-<rows>/``, plus a
``manifest.json`` (seed, rows, partitions) written last: a folder whose manifest matches is
reused as it is. The free disk is checked first (``shutil.disk_usage``). The in-memory engine
reads files only (`tracing.io.read_table`), so ``run`` gives it single-file copies of the same
rows (``files/``, written on demand; the rows depend only on the seed and the row counts, not on
the partitioning, see `bench/bigdata.py`). Every engine is told the same roles and the same 20
features, so the hive ``part`` column is never one.

``run`` times ``python -m tracing report --engine E`` in a subprocess per size and engine: wall
time, the child's CPU time (user + system) and peak RSS, from its rusage (`os.wait4`), the
planted slice's rank in the report (`full_report.check_planted`); a run that fails (no
``--engine`` flag yet, an engine that is missing) is recorded with its error's last line. The
memory engine is skipped when its estimate (Parquet metadata: rows x columns x
``MEMORY_BYTES_PER_CELL``) exceeds the memory available.

``--profile-levels`` times DuckDB alone (2 threads, ``memory_limit`` 3GB, a spill folder) on the
queries one pushed-down slice search would make: baseline quantiles (the bins' cut points), all
20 single-feature groupings in one ``GROUP BY GROUPING SETS``, all 190 pairs in one query and in
chunks of 19 and 38, the pairs restricted to the rows of "live" parents (pruning that keeps 5%
and 1% of the rows), and one drilldown. Each query (or chunk series) runs in a fresh subprocess,
which reports its own wall time, CPU time and peak RSS (``RUSAGE_SELF``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bigdata  # noqa: E402
import full_report  # noqa: E402

from tracing.io import available_memory  # noqa: E402

SIZES = {"10M": 10_000_000, "30M": 30_000_000, "100M": 100_000_000}
BASELINE_ROWS = 10_000_000
PARTITIONS = 10
DISK_BYTES_PER_ROW = 100
"""Parquet bytes per generated row, rounded up (measured: 78.5 with snappy, 1M-row groups)."""
DISK_SPARE = 4 * 2**30
"""Disk left free beyond the data (DuckDB's spill files, the reports, other users of /tmp)."""
MEMORY_BYTES_PER_CELL = 28
"""Peak resident bytes per (row x column) of both sides for the in-memory full report: the
10M + 10M report (27 columns) peaked at 10.9-13.5 GB (bench/README.md, issue 15), ~25 per cell."""
ROLES = [
    "--id",
    "prediction_id",
    "--timestamp",
    "timestamp",
    "--score",
    "prediction_score",
    "--prediction",
    "prediction_label",
    "--actual",
    "actual_label",
    "--features",
    ",".join(bigdata.FEATURES),
]
NUMERIC = (*bigdata.FLOATS, "num_items")
CUTS = 10
"""Baseline quantile cut points per numeric feature (11 bins, plus missing)."""
LEAD = 0.93
"""The constant of the positive-part bound statistic (about the overall accuracy)."""


def parse_sizes(text: str) -> list[int]:
    """``"10M,30M"`` (or plain integers) as row counts."""
    out = []
    for item in text.split(","):
        item = item.strip().upper()
        out.append(SIZES[item] if item in SIZES else int(float(item.rstrip("M")) * 10**6))
    return out


def label(rows: int) -> str:
    """``10000000`` as ``"10M"``."""
    return f"{rows / 10**6:g}M"


# ---------------------------------------------------------------------------------------------
# Datasets


@dataclass(frozen=True)
class Dataset:
    """One generated pair of sides: where it lives and what it holds."""

    folder: Path
    rows: int
    baseline_rows: int = BASELINE_ROWS
    seed: int = 0
    partitions: int = PARTITIONS

    @property
    def baseline(self) -> Path:
        """The baseline's hive folder."""
        return self.folder / "baseline"

    @property
    def production(self) -> Path:
        """The production side's hive folder."""
        return self.folder / "production"

    @property
    def files(self) -> tuple[Path, Path]:
        """Single-file copies of both sides (for the in-memory engine)."""
        return (
            self.folder / "files" / "baseline.parquet",
            self.folder / "files" / "production.parquet",
        )

    @property
    def manifest_path(self) -> Path:
        """The manifest, written last."""
        return self.folder / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        """What a matching folder must have been generated with."""
        return {
            "seed": self.seed,
            "rows": self.rows,
            "baseline_rows": self.baseline_rows,
            "partitions": self.partitions,
            "chunk": bigdata.CHUNK,
        }

    def stored(self) -> dict[str, Any] | None:
        """The manifest on disk, or None."""
        try:
            found: dict[str, Any] = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        return found

    def exists(self) -> bool:
        """Whether the folders exist and were generated with this manifest."""
        stored = self.stored()
        if stored is None or self.baseline.is_dir() is False or self.production.is_dir() is False:
            return False
        return {k: stored.get(k) for k in self.manifest()} == self.manifest()

    def has_files(self) -> bool:
        """Whether the single-file copies exist (recorded in the manifest)."""
        stored = self.stored() or {}
        return self.exists() and bool(stored.get("files")) and all(p.is_file() for p in self.files)


def dataset_for(rows: int, args: argparse.Namespace) -> Dataset:
    """The dataset of ``rows`` production rows under ``--data`` (default ``/tmp``)."""
    return Dataset(
        Path(args.data) / f"scale-{rows}",
        rows,
        baseline_rows=args.baseline_rows,
        seed=args.seed,
        partitions=args.partitions,
    )


def check_disk(folder: Path, rows: int) -> None:
    """Refuse (SystemExit) when ``rows`` generated rows would not fit on ``folder``'s disk."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    need = rows * DISK_BYTES_PER_ROW + DISK_SPARE
    if need > free:
        raise SystemExit(
            f"{folder}: {rows:,} rows need ~{need / 2**30:.1f} GB of disk (data plus "
            f"{DISK_SPARE / 2**30:.0f} GB spare) but {free / 2**30:.1f} GB are free on {probe}; "
            "free some space, pass --data on a larger disk, or drop that size from --sizes."
        )


def _write_manifest(ds: Dataset, **extra: Any) -> None:
    ds.manifest_path.write_text(json.dumps({**ds.manifest(), **extra}, indent=2) + "\n")


def generate(ds: Dataset) -> float | None:
    """Generate ``ds`` unless a matching copy exists; return the seconds taken (None: reused)."""
    if ds.exists():
        print(f"{ds.folder}: exists and matches its manifest; reused")
        return None
    check_disk(ds.folder, ds.rows + ds.baseline_rows)
    for stale in (ds.manifest_path, ds.baseline, ds.production, ds.folder / "files"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    ds.folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for side in (bigdata.Side("baseline", ds.baseline_rows), bigdata.Side("production", ds.rows)):
        bigdata.write_side(
            side, ds.folder, seed=ds.seed, partitions=ds.partitions, arrow_schema=False
        )
    took = time.perf_counter() - start
    _write_manifest(ds, generate_s=round(took, 1))
    print(
        f"{ds.folder}: generated {ds.baseline_rows:,} + {ds.rows:,} rows "
        f"({ds.partitions} partitions per side) in {took:.0f} s"
    )
    return took


def ensure_files(ds: Dataset) -> None:
    """Write the single-file copies of both sides unless present."""
    if ds.has_files():
        return
    check_disk(ds.folder, ds.rows + ds.baseline_rows)
    out = ds.folder / "files"
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for side in (bigdata.Side("baseline", ds.baseline_rows), bigdata.Side("production", ds.rows)):
        bigdata.write_side(side, out, seed=ds.seed, partitions=None, arrow_schema=False)
    took = time.perf_counter() - start
    _write_manifest(ds, **{**(ds.stored() or {}), "files": True, "files_s": round(took, 1)})
    print(f"{out}: wrote single-file copies in {took:.0f} s")


def parquet_files(path: Path) -> list[Path]:
    """A Parquet file, or every Parquet file under a folder."""
    return [path] if path.is_file() else sorted(path.rglob("*.parquet"))


def parquet_cells(path: Path) -> tuple[int, int]:
    """``(rows, columns)`` of a Parquet file or folder, from the metadata alone."""
    rows, columns = 0, 0
    for file in parquet_files(path):
        meta = pq.read_metadata(file)
        rows += meta.num_rows
        columns = max(columns, meta.num_columns)
    return rows, columns


def memory_estimate(ds: Dataset) -> int:
    """Conservative peak bytes of the in-memory full report on ``ds``."""
    total = 0
    for side in (ds.baseline, ds.production):
        rows, columns = parquet_cells(side)
        total += rows * columns * MEMORY_BYTES_PER_CELL
    return total


# ---------------------------------------------------------------------------------------------
# Running children, measured


@dataclass
class Measure:
    """One child process: wall, CPU (user + system) and peak RSS, or why it failed."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    error: str | None = None
    stdout: str = ""


def run_measured(
    cmd: Sequence[str], *, timeout: float, cwd: Path = ROOT, stdin: str | None = None
) -> Measure:
    """Run ``cmd``; its rusage from `os.wait4`; killed (its process group) after ``timeout``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own group: a timeout also ends its children (Java)
        )
        if stdin is not None:
            assert child.stdin is not None
            child.stdin.write(stdin.encode())
            child.stdin.close()
        timed_out = False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout and not timed_out:
                timed_out = True
                os.killpg(child.pid, signal.SIGKILL)
            time.sleep(0.1)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    error = None
    if timed_out:
        error = f"timed out after {timeout:.0f} s"
    elif child.returncode != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "(no error output)"
        error = f"exit {child.returncode}: {last[:300]}"
    return Measure(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        error=error,
        stdout=stdout,
    )


# ---------------------------------------------------------------------------------------------
# run: the full report per engine


@dataclass
class EngineResult:
    """The runs of one engine on one size."""

    rows: int
    engine: str
    runs: list[Measure] = field(default_factory=list)
    rank: str = ""
    skipped: str | None = None

    def ok(self) -> list[Measure]:
        """The successful runs."""
        return [r for r in self.runs if r.error is None]

    def best(self, key: str) -> float | None:
        """The smallest of ``key`` over the successful runs."""
        values = [getattr(r, key) for r in self.ok()]
        return min(values) if values else None

    def median(self, key: str) -> float | None:
        """The median of ``key`` over the successful runs."""
        values = [getattr(r, key) for r in self.ok()]
        return statistics.median(values) if values else None


def cli_has_engine_flag() -> bool:
    """Whether ``python -m tracing report`` accepts ``--engine`` yet."""
    done = subprocess.run(
        [sys.executable, "-m", "tracing", "report", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return "--engine" in done.stdout


def report_command(
    ds: Dataset, engine: str, out: Path, *, sections: str | None, engine_flag: bool
) -> list[str]:
    """``python -m tracing report ...`` for ``engine`` on ``ds``."""
    base, prod = ds.files if engine == "memory" else (ds.baseline, ds.production)
    args = [*full_report.report_args(base, prod, out), *ROLES]
    if engine != "memory" or engine_flag:
        args += ["--engine", engine]
    if sections:
        args += ["--sections", sections]
    return [sys.executable, "-m", "tracing", *args]


def planted_rank(out: Path) -> str:
    """The planted slice's rank in the report, or why there is none."""
    if not out.is_file():
        return "-"
    try:
        return str(full_report.check_planted(out))
    except SystemExit:
        return "absent"
    except (KeyError, ValueError) as exc:
        return f"unreadable ({type(exc).__name__})"


def run_engine(
    ds: Dataset, engine: str, args: argparse.Namespace, engine_flag: bool
) -> EngineResult:
    """Time the full report of ``engine`` on ``ds``, ``--repeat`` times."""
    result = EngineResult(ds.rows, engine)
    if engine == "memory":
        need, room = memory_estimate(ds), available_memory()
        if room is not None and need > room:
            result.skipped = (
                f"skipped: would need ~{need / 2**30:.0f} GB (available {room / 2**30:.0f} GB)"
            )
            print(f"{label(ds.rows)} memory: {result.skipped}")
            return result
        room_text = "unknown" if room is None else f"{room / 2**30:.0f} GB"
        print(f"{label(ds.rows)} memory: estimate ~{need / 2**30:.0f} GB, available {room_text}")
        ensure_files(ds)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = report_command(ds, engine, out, sections=args.sections, engine_flag=engine_flag)
        print(f"{label(ds.rows)} {engine}: {' '.join(cmd[1:])}", flush=True)
        for _ in range(args.repeat):
            out.unlink(missing_ok=True)
            measure = run_measured(cmd, timeout=args.timeout)
            result.runs.append(measure)
            state = measure.error or "ok"
            print(
                f"  {measure.wall_s:.1f} s wall, {measure.cpu_s:.1f} s CPU, "
                f"peak RSS {measure.peak_rss_mb:,.0f} MB: {state}",
                flush=True,
            )
            if measure.error is not None:
                break  # a failure repeats; the first one's text is the result
        has_slices = args.sections is None or "slices" in args.sections.split(",")
        result.rank = planted_rank(out) if has_slices and result.ok() else "-"
    return result


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "" if value is None else fmt.format(value)


def _pair(result: EngineResult, key: str, fmt: str = "{:.1f}") -> str:
    best, median = result.best(key), result.median(key)
    if best is None:
        return ""
    if len(result.ok()) == 1:
        return _num(best, fmt)
    return f"{_num(best, fmt)} ({_num(median, fmt)})"


def _ratio(result: EngineResult, memory: EngineResult | None, key: str) -> str:
    if memory is None or result.engine == "memory":
        return ""
    ours, theirs = result.best(key), memory.best(key)
    if ours is None or theirs is None or theirs == 0:
        return ""
    return f"{ours / theirs:.2f}x"


def engine_table(results: Iterable[EngineResult]) -> str:
    """The runs as a Markdown table (best, median in brackets when repeated)."""
    results = list(results)
    memory = {r.rows: r for r in results if r.engine == "memory"}
    lines = [
        "| rows | engine | wall s | CPU s | peak RSS MB | planted slice rank "
        "| wall / memory | CPU / memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        head = f"| {label(r.rows)} | {r.engine} |"
        failure = r.skipped or next((m.error for m in r.runs if m.error), None)
        if not r.ok():
            lines.append(f"{head} {_cell(failure or 'not run')} | | | | | |")
            continue
        mem = memory.get(r.rows)
        lines.append(
            f"{head} {_pair(r, 'wall_s')} | {_pair(r, 'cpu_s')} | "
            f"{_pair(r, 'peak_rss_mb', '{:,.0f}')} | {r.rank} | "
            f"{_ratio(r, mem, 'wall_s')} | {_ratio(r, mem, 'cpu_s')} |"
        )
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> None:
    """``run``: the full report per size and engine."""
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    engine_flag = cli_has_engine_flag()
    if not engine_flag:
        print("note: `python -m tracing report` has no --engine flag yet (memory runs without it)")
    results = []
    for rows in parse_sizes(args.sizes):
        ds = dataset_for(rows, args)
        generate(ds)
        for engine in engines:
            results.append(run_engine(ds, engine, args, engine_flag))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    print(engine_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))


# ---------------------------------------------------------------------------------------------
# --profile-levels: DuckDB alone, one grouping-sets query per level


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def scan(folder: Path) -> str:
    """DuckDB's read of a hive-partitioned Parquet folder."""
    return f"read_parquet({_lit(str(folder) + '/**/*.parquet')}, hive_partitioning = true)"


def quantile_sql(baseline: Path) -> str:
    """The baseline's cut points: ``CUTS`` interior quantiles of every numeric feature."""
    probs = ", ".join(f"{k / (CUTS + 1)!r}" for k in range(1, CUTS + 1))
    items = ", ".join(f"quantile_cont({_ident(c)}, [{probs}]) AS {_ident(c)}" for c in NUMERIC)
    return f"SELECT {items} FROM {scan(baseline)}"


def binned(column: str, cuts: Sequence[float]) -> str:
    """``CASE`` mapping a numeric column to its bin (-1: missing)."""
    whens = " ".join(f"WHEN {_ident(column)} <= {c!r} THEN {i}" for i, c in enumerate(cuts))
    return f"CASE WHEN {_ident(column)} IS NULL THEN -1 {whens} ELSE {len(cuts)} END"


def rows_cte(production: Path, cuts: dict[str, list[float]], where: str | None) -> str:
    """The per-row keys and sufficient statistics (a CTE named ``t``)."""
    keys = [
        binned(c, cuts[c]) + f" AS {_ident(c)}" if c in cuts else _ident(c)
        for c in bigdata.FEATURES
    ]
    stats = [
        "CAST(prediction_label = actual_label AS INTEGER) AS correct",
        "CAST(actual_label AS INTEGER) AS pos",
        "CAST(prediction_label = 1 AND actual_label = 1 AS INTEGER) AS tp",
        "prediction_score AS score",
    ]
    filt = f" WHERE {where}" if where else ""
    return f"WITH t AS (SELECT {', '.join(keys + stats)} FROM {scan(production)}{filt})"


def grouping_sql(
    production: Path,
    cuts: dict[str, list[float]],
    sets: Sequence[Sequence[str]],
    *,
    where: str | None = None,
) -> str:
    """One ``GROUP BY GROUPING SETS`` over ``sets`` plus the overall ``()`` set."""
    used = sorted({c for s in sets for c in s}, key=bigdata.FEATURES.index)
    grouping = ", ".join("(" + ", ".join(_ident(c) for c in s) + ")" for s in sets)
    aggs = [
        f"GROUPING({', '.join(_ident(c) for c in used)}) AS gid",
        "count(*) AS n",
        "sum(correct) AS correct",
        "sum(pos) AS pos",
        "sum(tp) AS tp",
        f"sum(greatest({LEAD!r} - correct, 0)) AS excess",
        f"max(CASE WHEN {LEAD!r} - correct <= 0 THEN score END) AS top_correct_score",
    ]
    columns = ", ".join([*(_ident(c) for c in used), *aggs])
    return (
        f"{rows_cte(production, cuts, where)} SELECT {columns} FROM t "
        f"GROUP BY GROUPING SETS ({grouping}, ())"
    )


def counts_sql(production: Path, columns: Sequence[str]) -> str:
    """Row counts per value of each of ``columns`` (to pick the "live" parents)."""
    sets = ", ".join(f"({_ident(c)})" for c in columns)
    cols = ", ".join(_ident(c) for c in columns)
    return (
        f"SELECT {cols}, GROUPING({cols}) AS gid, count(*) AS n FROM {scan(production)} "
        f"GROUP BY GROUPING SETS ({sets})"
    )


def pick_values(counts: dict[Any, int], target: int) -> list[Any]:
    """Values, rarest first, whose counts add up to at most ``target`` rows."""
    chosen, total = [], 0
    for value, n in sorted(counts.items(), key=lambda kv: (kv[1], str(kv[0]))):
        if total + n > target:
            continue
        chosen.append(value)
        total += n
    return chosen


def live_filter(state: dict[str, int], merchant: dict[str, int], rows: int, share: float) -> str:
    """``state IN (...) OR merchant_id IN (...)`` keeping about ``share`` of the rows."""
    states = pick_values(state, int(rows * share / 2))
    target = int(rows * share) - sum(state[s] for s in states)
    merchants = pick_values(merchant, target)
    parts = []
    if states:
        parts.append(f"state IN ({', '.join(_lit(s) for s in states)})")
    if merchants:
        parts.append(f"merchant_id IN ({', '.join(_lit(m) for m in merchants)})")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def duckdb_config(args: argparse.Namespace) -> dict[str, Any]:
    """The settings every profiling child opens DuckDB with."""
    return {
        "threads": args.threads,
        "memory_limit": args.memory_limit,
        "temp_directory": str(args.temp_dir),
    }


def child_main() -> None:
    """A profiling child: run the JSON job from stdin, print its measures as JSON."""
    import duckdb

    job = json.loads(sys.stdin.read())
    con = duckdb.connect(config=job["config"])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    rows_out, aggregated, results = 0, None, []
    for sql in job["sql"]:
        table = con.execute(sql).to_arrow_table()
        rows_out += table.num_rows
        if "gid" in table.column_names and "n" in table.column_names and aggregated is None:
            gids = table.column("gid").to_pylist()
            top = max(gids)
            aggregated = sum(
                n for g, n in zip(gids, table.column("n").to_pylist(), strict=True) if g == top
            )
        if job.get("return_rows"):
            results.append(table.to_pylist())
    out = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before,
        "rows_out": rows_out,
        "rows_aggregated": aggregated,
        "results": results,
    }
    print(json.dumps(out, default=str))


@dataclass
class QueryResult:
    """One profiled query (or series of chunk queries) in its own process."""

    rows: int
    name: str
    queries: int
    scanned: int
    child: dict[str, Any] | None = None
    error: str | None = None


def profile_query(
    name: str, sql: list[str], scanned: int, rows: int, args: argparse.Namespace, *, keep=False
) -> QueryResult:
    """Run ``sql`` in a fresh child; record its own measures."""
    job = {"config": duckdb_config(args), "sql": sql, "return_rows": keep}
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child"]
    measure = run_measured(cmd, timeout=args.timeout, stdin=json.dumps(job))
    result = QueryResult(rows, name, len(sql), scanned)
    if measure.error is not None:
        result.error = measure.error
    else:
        result.child = json.loads(measure.stdout)
    child = result.child or {}
    print(
        f"  {label(rows)} {name}: "
        + (
            result.error
            or f"{child['wall_s']:.1f} s wall, {child['cpu_s']:.1f} s CPU, "
            f"peak RSS {child['peak_rss_mb']:,.0f} MB, {child['rows_out']:,} rows out"
        ),
        flush=True,
    )
    return result


QUERIES = ("quantiles", "level1", "pairs", "pairs/19", "pairs/38", "live5", "live1", "drilldown")


def profile_size(ds: Dataset, args: argparse.Namespace, wanted: set[str]) -> list[QueryResult]:
    """Every profiling query on one dataset."""
    base_rows, _ = parquet_cells(ds.baseline)
    prod_rows, _ = parquet_cells(ds.production)
    out: list[QueryResult] = []
    quant = profile_query(
        "quantiles", [quantile_sql(ds.baseline)], base_rows, ds.rows, args, keep=True
    )
    out.append(quant)
    if quant.child is None:
        return out
    row = quant.child["results"][0][0]
    cuts = {c: sorted(set(row[c])) for c in NUMERIC}
    singles = [[c] for c in bigdata.FEATURES]
    pairs = [list(p) for p in combinations(bigdata.FEATURES, 2)]
    prod = ds.production

    def add(name: str, sql: list[str], keep: bool = False) -> QueryResult | None:
        if name not in wanted:
            return None
        result = profile_query(name, sql, prod_rows, ds.rows, args, keep=keep)
        out.append(result)
        return result

    add("level1", [grouping_sql(prod, cuts, singles)])
    add("pairs", [grouping_sql(prod, cuts, pairs)])
    for size in (19, 38):
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        add(f"pairs/{size}", [grouping_sql(prod, cuts, c) for c in chunks])
    if wanted & {"live5", "live1"}:
        counts = profile_query(
            "value counts",
            [counts_sql(prod, ["state", "merchant_id"])],
            prod_rows,
            ds.rows,
            args,
            keep=True,
        )
        if counts.child is not None:
            state = {r["state"]: r["n"] for r in counts.child["results"][0] if r["state"]}
            merchant = {
                r["merchant_id"]: r["n"] for r in counts.child["results"][0] if r["merchant_id"]
            }
            for share, name in ((0.05, "live5"), (0.01, "live1")):
                where = live_filter(state, merchant, prod_rows, share)
                add(name, [grouping_sql(prod, cuts, pairs, where=where)])
    planted = " AND ".join(f"{_ident(k)} = {_lit(v)}" for k, v in bigdata.PLANTED.items())
    add("drilldown", [grouping_sql(prod, cuts, singles, where=planted)])
    return out


DESCRIPTIONS = {
    "quantiles": f"baseline quantiles ({CUTS} cut points x {len(NUMERIC)} numeric features)",
    "level1": "20 single-feature groupings, one GROUPING SETS query",
    "pairs": "190 feature pairs, one GROUPING SETS query",
    "pairs/19": "190 pairs in 10 queries of 19 pairs",
    "pairs/38": "190 pairs in 5 queries of 38 pairs",
    "value counts": "value counts of state and merchant_id (picks the live parents)",
    "live5": "190 pairs on the rows of live parents (5% of rows)",
    "live1": "190 pairs on the rows of live parents (1% of rows)",
    "drilldown": "drilldown: planted slice filter, 20 features grouped",
}


def profile_table(results: Iterable[QueryResult]) -> str:
    """The profiled queries as a Markdown table."""
    lines = [
        "| rows | query | rows scanned | rows aggregated | wall s | CPU s | peak RSS MB "
        "| result rows |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        head = f"| {label(r.rows)} | {DESCRIPTIONS.get(r.name, r.name)} | {r.scanned:,} |"
        if r.child is None:
            lines.append(f"{head} | {_cell(r.error or '')} | | | |")
            continue
        c = r.child
        agg = "" if c["rows_aggregated"] is None else f"{c['rows_aggregated']:,}"
        lines.append(
            f"{head} {agg} | {c['wall_s']:.1f} | {c['cpu_s']:.1f} | "
            f"{c['peak_rss_mb']:,.0f} | {c['rows_out']:,} |"
        )
    return "\n".join(lines)


def cmd_profile(args: argparse.Namespace) -> None:
    """``--profile-levels``: DuckDB alone on each size."""
    wanted = set(args.queries.split(",")) if args.queries else set(QUERIES)
    unknown = wanted - set(QUERIES)
    if unknown:
        raise SystemExit(f"--queries: unknown {sorted(unknown)}; choose from {', '.join(QUERIES)}")
    args.temp_dir.mkdir(parents=True, exist_ok=True)
    results: list[QueryResult] = []
    for rows in parse_sizes(args.sizes):
        ds = dataset_for(rows, args)
        generate(ds)
        print(f"{label(rows)}: DuckDB, {args.threads} threads, memory_limit {args.memory_limit}")
        results += profile_size(ds, args, wanted)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    print(profile_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))


def cmd_generate(args: argparse.Namespace) -> None:
    """``generate``: the datasets (and, with ``--files``, the single-file copies)."""
    for rows in parse_sizes(args.sizes):
        ds = dataset_for(rows, args)
        generate(ds)
        if args.files:
            ensure_files(ds)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--sizes", default="10M,30M", help="production rows (10M,30M,100M)")
    common.add_argument("--data", default="/tmp", help="where scale-<rows>/ folders live")
    common.add_argument("--baseline-rows", type=int, default=BASELINE_ROWS)
    common.add_argument("--partitions", type=int, default=PARTITIONS, help="hive partitions")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--timeout", type=float, default=900, help="seconds per child")
    common.add_argument("--json", help="also write the results here")
    sub = ap.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", parents=[common], help="generate the datasets")
    gen.add_argument("--files", action="store_true", help="also single-file copies (memory)")
    run = sub.add_parser("run", parents=[common], help="time the full report per engine")
    run.add_argument("--engines", default="memory,duckdb", help="memory,duckdb,spark")
    run.add_argument("--repeat", type=int, default=1)
    run.add_argument("--sections", help="passed to `report --sections`")
    prof = sub.add_parser(
        "profile-levels", parents=[common], help="DuckDB alone: one grouping-sets query per level"
    )
    prof.add_argument("--threads", type=int, default=2)
    prof.add_argument("--memory-limit", default="3GB")
    prof.add_argument("--temp-dir", type=Path, default=Path("/tmp/scale-spill"))
    prof.add_argument("--queries", help=f"a subset of {','.join(QUERIES)}")
    return ap


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        child_main()
        return
    # ``--profile-levels`` (the name for the mode) is the subcommand too.
    if "--profile-levels" in argv:
        argv = ["profile-levels", *(a for a in argv if a != "--profile-levels")]
    args = _parser().parse_args(argv)
    {"generate": cmd_generate, "run": cmd_run, "profile-levels": cmd_profile}[args.command](args)


if __name__ == "__main__":
    main()
