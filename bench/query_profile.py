"""Per-query profile of an engine report: SQL time summed by the step that asked (issue 16).

Run by hand, from the repository root, with the arguments of ``python -m tracing``::

    python bench/query_profile.py report --baseline /tmp/scale-10000000/baseline \\
        --production /tmp/scale-10000000/production --output /tmp/r.json --engine duckdb \\
        --id prediction_id --timestamp timestamp --score prediction_score \\
        --prediction prediction_label --actual actual_label --features <the 20 features>

It wraps `tracing.engine_duckdb.DuckBackend.query` and ``materialize``, runs the CLI in this
process and, at exit, prints on stderr the wall and CPU seconds of every SQL call summed by its
caller (the two innermost `tracing` frames outside the SQL layer), largest first. With
``QLOG=<file>`` every call is also logged with its time and the first 600 characters of its
SQL, and ``<file>.full`` holds the whole SQL of each call. The CPU column is this process's
CPU time while the query ran (DuckDB's threads included).
"""

from __future__ import annotations

import atexit
import collections
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracing import engine_duckdb  # noqa: E402

_TOTALS: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
_LOG = os.environ.get("QLOG")
_SHORT = open(_LOG, "w", encoding="utf-8") if _LOG else None  # noqa: SIM115
_FULL = open(f"{_LOG}.full", "w", encoding="utf-8") if _LOG else None  # noqa: SIM115
_START = time.perf_counter()


def _caller() -> str:
    """The step that asked: the innermost two `tracing` frames outside the SQL layer."""
    frames = [f for f in traceback.extract_stack()[:-3] if "/tracing/" in f.filename]
    outer = [f for f in frames if not f.filename.endswith(("sqltable.py", "engine_duckdb.py"))]
    inner = outer[-1] if outer else frames[-1]
    step = outer[-2] if len(outer) > 1 else inner
    where = f"{Path(step.filename).name}:{step.name}"
    return f"{where} > {Path(inner.filename).name}:{inner.name}"


def _wrap(name: str) -> None:
    original = getattr(engine_duckdb.DuckBackend, name)

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            key = _caller()
            row = _TOTALS[key]
            row[0] += 1
            row[1] += wall
            row[2] += cpu
            if _SHORT is not None and _FULL is not None:
                sql = str(args[-1]) if args else ""
                _SHORT.write(f"{wall:7.2f} {key} | {' '.join(sql.split())[:600]}\n")
                _FULL.write(f"{wall:7.2f} {key}\n{sql}\n----\n")

    setattr(engine_duckdb.DuckBackend, name, timed)


def _report() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"\n== total wall {time.perf_counter() - _START:.1f} s, CPU "
        f"{usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss / 1024:,.0f} MB",
        file=sys.stderr,
    )
    print(f"{'wall s':>8} {'CPU s':>8} {'calls':>5}  step", file=sys.stderr)
    for key, (calls, wall, cpu) in sorted(_TOTALS.items(), key=lambda kv: -kv[1][1]):
        if wall > 0.3:
            print(f"{wall:8.1f} {cpu:8.1f} {int(calls):5d}  {key}", file=sys.stderr)
    wall = sum(v[1] for v in _TOTALS.values())
    cpu = sum(v[2] for v in _TOTALS.values())
    print(f"{wall:8.1f} {cpu:8.1f}        every query", file=sys.stderr)


def main() -> None:
    for name in ("query", "materialize"):
        _wrap(name)
    atexit.register(_report)
    from tracing.cli import main as cli

    raise SystemExit(cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
