"""Every speed figure of issue 15 in one run, each beside its peer: the scripts run in turn.

Run by hand, from the repository root (about an hour on the 2-core machine; ``--quick`` runs
every workload at a tenth of its size in a few minutes, to check that they all work)::

    python bench/all.py                  # every workload at full size
    python bench/all.py --only drift,explain
    python bench/all.py --before /tmp/old-checkout   # the older tree beside ours, where supported

Each workload is one script of this folder, run as its own process (so peak memory and CPU are
its own) with its peer in the same run; its full output is printed, then a final summary lists
the wall time of each script and whether it passed its own checks (each script fails unless
its results are correct: planted slices found, drift columns flagged, same top-k...).

Peers need their bench-only virtualenvs (see each script's docstring and bench/README.md):
``/tmp/benchenv`` (sliceline) and ``/tmp/evenv`` (Evidently); a workload whose peer is missing
says so in its own output.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Workload:
    """One script with its full-size and quick arguments (``{before}`` is the older tree)."""

    name: str
    script: str
    args: tuple[str, ...]
    quick: tuple[str, ...]
    before: tuple[str, ...] = ()


WORKLOADS = (
    Workload("startup", "startup.py", (), ("--repeat", "3")),
    Workload(
        "slices", "slices.py", (), ("--rows", "100000", "--skip-pandas"), ("--before", "{before}")
    ),
    Workload(
        "rank",
        "rank_slices.py",
        ("--skip-before",),
        ("--rows", "100000", "--skip-before", "--repeat", "1"),
    ),
    Workload("full_report", "full_report.py", (), ("--rows", "1000000"), ("--before", "{before}")),
    Workload("drift", "drift.py", (), ("--rows", "100000"), ("--before", "{before}")),
    Workload("explain", "explain.py", (), ("--rows", "100000"), ("--before", "{before}")),
    Workload(
        "load_metrics", "load_metrics.py", (), ("--rows", "100000"), ("--before", "{before}")
    ),
)


def _command(w: Workload, quick: bool, before: str | None) -> list[str]:
    args = list(w.quick if quick else w.args)
    if before:
        args += [a.format(before=before) for a in w.before]
    return [sys.executable, str(ROOT / "bench" / w.script), *args]


def main() -> int:
    """Run the chosen workloads in turn and summarise."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every workload at a small size")
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--before", help="an older checkout, for the scripts that time one")
    args = ap.parse_args()
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only.split(",")]
    summary = []
    for w in chosen:
        cmd = _command(w, args.quick, args.before)
        print(f"\n=== {w.name}: {' '.join(cmd)}", flush=True)
        start = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        summary.append((w.name, time.perf_counter() - start, rc))
    print("\n=== summary (each script's own output above has the figures and its peer's)")
    for name, seconds, rc in summary:
        print(f"{name:14s} {seconds:8.1f} s  {'ok' if rc == 0 else f'FAILED (exit {rc})'}")
    return 0 if all(rc == 0 for _, _, rc in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
