"""Benchmark: start-up of the engine and the CLI, whole process, this tree vs an older one.

Run by hand (not part of the tests):

    python bench/startup.py [--before c26fbdb] [--repeat 7] [--rows 2000]

Times four commands as separate processes, each ``--repeat`` times, alternating trees so load
from other jobs hits both alike: ``python -c "import tracing"``, ``python -m tracing --help``,
a slices-only and an overall-only report (``report --sections slices``, ``overall``) on a
small seeded CSV pair (binary model with a score). The old
tree is ``git archive <--before> tracing`` unpacked in a temporary folder (read-only for the
repository: no worktree is created). Each process is warmed once first and, unless
``--no-bytecode``, runs with ``PYTHONDONTWRITEBYTECODE`` unset so both trees start from compiled
bytecode as an installed package does (``--no-bytecode`` keeps it set, as the Dockerfile does:
then every start also compiles ``tracing/``). Wall time is ``time.perf_counter``; CPU time
is the children's user + system time from ``resource.getrusage(RUSAGE_CHILDREN)``, the
steadier figure on a shared machine. A floor is timed in the same run: ``python -c "import
pandas"`` (the engine needs pandas, so nothing here can start faster).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def make_fixture(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A baseline and a production CSV: two features, a binary model, worse on city 'a'."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, shift in (("baseline", 0.0), ("production", 0.3)):
        city = rng.choice(list("abcdef"), rows)
        score = np.clip(rng.normal(0.4, 0.2, rows) + shift * (city == "a"), 0, 1)
        frame = pd.DataFrame(
            {
                "age": rng.integers(18, 90, rows),
                "city": city,
                "prediction_score": score.round(4),
                "prediction_label": (score >= 0.5).astype(int),
                "actual_label": (rng.random(rows) < 0.4).astype(int),
            }
        )
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths[0], paths[1]


def old_tree(rev: str, folder: Path) -> Path:
    """``tracing/`` as of ``rev``, unpacked under ``folder`` (git archive: no worktree)."""
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "tracing"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_once(cmd: list[str], tree: Path, *, bytecode: bool) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the child's) of one process run in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {tree}:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="c26fbdb", help="the old revision (c26fbdb)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per command and tree (7)")
    parser.add_argument("--rows", type=int, default=2000, help="rows per fixture file (2000)")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="compile tracing/ at every start (Docker)"
    )
    args = parser.parse_args()
    bytecode = not args.no_bytecode

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "old").mkdir()
        trees = {"new": ROOT, "old": old_tree(args.before, folder / "old")}
        base, prod = make_fixture(folder, args.rows)
        py = sys.executable
        commands = {
            "floor: import pandas": [py, "-c", "import pandas"],
            "import tracing": [py, "-c", "import tracing"],
            "python -m tracing --help": [py, "-m", "tracing", "--help"],
            "report --sections slices": [
                *(py, "-m", "tracing", "report", "--sections", "slices"),
                *("--baseline", str(base), "--production", str(prod)),
            ],
            # With a score the overall section estimates performance without actuals, and
            # that calibration is scikit-learn's isotonic regression: it still loads sklearn.
            "report --sections overall": [
                *(py, "-m", "tracing", "report", "--sections", "overall"),
                *("--baseline", str(base), "--production", str(prod)),
            ],
        }
        mode = "from bytecode" if bytecode else "compiling tracing/ at each start"
        print(f"{args.repeat} runs each, {args.rows:,} rows per file, {mode}; old = {args.before}")
        heads = ("wall min", "wall med", "CPU min", "CPU med")
        print(f"{'command':28} {'tree':5} " + " ".join(f"{h:>9}" for h in heads))
        for label, cmd in commands.items():
            names = ["new"] if label.startswith("floor") else ["old", "new"]
            for name in names:
                run_once(cmd, trees[name], bytecode=bytecode)  # warm-up: bytecode, file cache
            times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
            for _ in range(args.repeat):
                for name in names:
                    times[name].append(run_once(cmd, trees[name], bytecode=bytecode))
            medians = {}
            for name in names:
                wall, cpu = zip(*times[name], strict=True)
                medians[name] = (statistics.median(wall), statistics.median(cpu))
                shown = "-" if label.startswith("floor") else name
                print(
                    f"{label:28} {shown:5} {min(wall):9.3f} {medians[name][0]:9.3f} "
                    f"{min(cpu):9.3f} {medians[name][1]:9.3f}"
                )
            if len(names) == 2:
                (ow, oc), (nw, nc) = medians["old"], medians["new"]
                ratio = f"old/new median: wall {ow / nw:.2f}x, CPU {oc / nc:.2f}x"
                print(f"{'':28} {'ratio':5} {ratio}")


if __name__ == "__main__":
    main()
