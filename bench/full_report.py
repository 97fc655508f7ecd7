"""Benchmark: the whole ``python -m tracing report`` (every default section) on big logs.

Run by hand (not part of the tests), from the repository root::

    python bench/full_report.py --rows 10000000            # generates /tmp/bigdata-10000000
    python bench/full_report.py --rows 2000000 --profile   # plus the per-step profile
    python bench/full_report.py --rows 2000000 --repo /tmp/before  # another checkout's code

The data come from `bench/bigdata.py` (seeded; generated once into ``--data``, reused when
present). The report runs as a subprocess, so its time includes Python start-up and imports;
its wall time, CPU time (user + system, from the child's own rusage) and peak RSS
(``ru_maxrss``) are printed. It must find the planted slice first, or the script fails.

``--profile`` then runs the same report in this process, step by step, printing each step's
wall and CPU time, the RSS after it, and its own peak RSS above the RSS before it (the kernel's
high-water mark is reset before each step through ``/proc/self/clear_refs``):

- ``read <file>`` (each `tracing.io.read_table` call, as the CLI makes them), ``rows`` (the
  windows/versions cut of `tracing.rows.compared_rows`), ``prepare_analysis``;
- the shared engine results of `tracing.report.ReportRun` (``slices``, ``drift``,
  ``quality``, ``conflicts``, ``explanation``), then each section's builder on them (so a
  section's line is only what it adds), then the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bigdata  # noqa: E402


def data_paths(folder: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """Return the two files, generating them first unless they exist."""
    base, prod = folder / "baseline.parquet", folder / "production.parquet"
    if not (base.is_file() and prod.is_file()):
        start = time.perf_counter()
        bigdata.generate(folder, rows, seed=seed)
        print(f"generated {rows:,} + {rows:,} rows in {time.perf_counter() - start:.0f} s")
    return base, prod


def report_args(base: Path, prod: Path, out: Path) -> list[str]:
    """The command line's arguments after ``python -m tracing``."""
    return ["report", "--baseline", str(base), "--production", str(prod), "--output", str(out)]


def run_subprocess(repo: Path, args: list[str]) -> dict[str, float]:
    """Run ``python -m tracing ARGS`` in ``repo``; wall, CPU and peak RSS of that child."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "tracing", *args], cwd=repo)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"report failed with exit code {child.returncode}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def check_planted(report_path: Path) -> int:
    """Return the planted slice's rank (1-based) in the report's slices; fail if absent."""
    report = json.loads(report_path.read_text())
    for rank, item in enumerate(report.get("slices", []), start=1):
        if item["slice"] == bigdata.PLANTED:
            return rank
    raise SystemExit(f"the planted slice {bigdata.PLANTED} is not among the listed slices")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Profile:
    """Times steps: wall, CPU, RSS after, and each step's own peak above its start."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` as one step named ``name``; return its result."""
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status_kb("VmRSS")
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.rows.append(
            {
                "step": name,
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
                "rss_after_mb": _status_kb("VmRSS") / 1024,
                "peak_growth_mb": (_status_kb("VmHWM") - before) / 1024,
            }
        )
        return out

    def table(self) -> str:
        """The steps as a Markdown table, with a total line."""
        lines = [
            "| step | wall (s) | CPU (s) | RSS after (MB) | step's peak above its start (MB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r['step']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                f"{r['rss_after_mb']:,.0f} | {r['peak_growth_mb']:,.0f} |"
            )
        wall = sum(r["wall_s"] for r in self.rows)
        cpu = sum(r["cpu_s"] for r in self.rows)
        lines.append(f"| **total** | **{wall:.2f}** | **{cpu:.2f}** | | |")
        return "\n".join(lines)


def profile(repo: Path, args: list[str]) -> Profile:
    """Run the report in this process, one step at a time (the code of ``repo``)."""
    sys.path.insert(0, str(repo))
    prof = Profile()
    prof.step("import tracing.cli", lambda: __import__("tracing.cli"))
    from tracing import cli, report, rows
    from tracing.textfmt import jsonable

    parsed = cli._parser().parse_args(args)
    real_read, real_rows = cli.read_table, cli.compared_rows

    def read(path: Any, **kwargs: Any) -> Any:
        return prof.step(f"read {Path(path).name}", lambda: real_read(path, **kwargs))

    def cut(*a: Any, **k: Any) -> rows.ComparedRows:
        return prof.step("rows (windows, versions)", lambda: real_rows(*a, **k))

    cli.read_table, cli.compared_rows = read, cut  # type: ignore[assignment]
    try:
        inputs = cli.load_inputs(parsed, require_baseline=True)
    finally:
        cli.read_table, cli.compared_rows = real_read, real_rows  # type: ignore[assignment]
    analysis = prof.step(
        "prepare_analysis", lambda: cli._analysis(parsed, inputs, metric=parsed.metric)
    )
    options = {
        "random_state": parsed.seed,
        "max_depth": parsed.max_depth,
        "min_size": parsed.min_size,
        "top": parsed.top,
        "metric": analysis.metric.id,
        "explain_source": parsed.explain_source,
        "model_path": parsed.model,
        "explain_sample_size": parsed.explain_sample_size,
        "shap_sample_size": parsed.shap_sample_size,
        "estimate": True,
    }
    run = report.ReportRun(analysis, report.ReportOptions.from_mapping(options))
    out = prof.step("header", lambda: report._header(run))
    for shared in ("slices", "drift", "quality", "conflicts", "explanation"):
        prof.step(f"shared: {shared}", lambda shared=shared: getattr(run, shared))
    for name, spec in report.SECTIONS.items():
        prof.step(f"section: {name}", lambda spec=spec: out.update(spec.build(run)))
    prof.step("JSON", lambda: json.dumps(jsonable(out)))
    return prof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows per side (10M)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, help="data folder (default /tmp/bigdata-<rows>)")
    ap.add_argument("--repo", type=Path, default=ROOT, help="checkout whose code runs")
    ap.add_argument("--repeat", type=int, default=1, help="subprocess runs (best is shown)")
    ap.add_argument("--profile", action="store_true", help="also profile in-process")
    ap.add_argument("--skip-subprocess", action="store_true", help="profile only")
    args = ap.parse_args()
    folder = args.data or Path(f"/tmp/bigdata-{args.rows}")
    base, prod = data_paths(folder, args.rows, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = report_args(base, prod, out)
        print(f"code: {args.repo.resolve()}; python -m tracing {' '.join(cmd[:-2])}")
        if not args.skip_subprocess:
            runs = [run_subprocess(args.repo, cmd) for _ in range(args.repeat)]
            for r in runs:
                print(
                    f"whole process: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                    f"peak RSS {r['peak_rss_mb']:,.0f} MB"
                )
            print(f"planted slice rank: {check_planted(out)}")
        if args.profile:
            print(profile(args.repo.resolve(), cmd).table())


if __name__ == "__main__":
    main()
