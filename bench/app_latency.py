"""App latency in a real browser on the 1M-row slice benchmark data.

Data: `bench/slices.py`'s workload (20 categorical features, 5% errors, a planted slice
``state=v7 & merchant_category=v3 & merchant_id=v11`` with 60% errors), 1,000,000 production
rows with the planted slice (2%) and 1,000,000 baseline rows without it, written as Parquet.

The app runs with ``streamlit run`` and is driven by Playwright + Debian's Chromium, opened on a
share link that names the two files (a fresh session, nothing cached):

1. ``load``: the Data page until "Ready" (read both files, detect roles, prepare the analysis);
2. ``slices``: click "2 · Slices" until the slice table's summary names the top slice
   (binning, coding and the exact slice search; the issue's budget: 10 s);
3. ``drilldown``: after a 3 s pause (reading the table, while the app prefetches the top rows'
   drilldowns), click the top row until its drilldown shows (budget: 1 s); ``uncached``: then
   click the breadcrumb one level up, a drilldown nobody prefetched;
4. ``revisit``: back to the Slices page from another page (everything cached).

Run (about a minute on 2 cores)::

    python bench/app_latency.py [--rows 1000000]

``--scenario explain``: the first Explain visit on the bundled 20,000-row fraud demo (issue 12,
item 8), on a fresh server each round (nothing cached, shap and LightGBM not imported yet):
``overview`` opens the app (the demo) until the page settles, then ``explain`` clicks
"Explain" until the rankings show and the page settles; ``full`` then presses "Run the full
pass" (when the page offers it) until the full pass shows. Each step prints its wall time and
the CPU seconds the server spent (from ``/proc``, every thread of the server). ``--before
DIR`` runs the same rounds on another checkout first (e.g. the previous commit, extracted with
``git archive``), alternating with this one, so both see the same load::

    mkdir -p /tmp/before && git archive 504795a | tar -x -C /tmp/before
    python bench/app_latency.py --scenario explain --repeat 3 --before /tmp/before

Latest (2026-12-02, 3 rounds, load average ~10 on 2 cores): before, the first Explain visit
took 11.9-12.6 s wall (median CPU 4.1 s); after, the quick pass 2.2-3.2 s wall (median CPU
0.7 s), and the full pass 6.8-7.7 s more when asked for at once (it runs in the background).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "browser")]

from harness import SHOTS, free_port, launch, settle, streamlit_server  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from slices import frame, make_data  # noqa: E402

ROW_H = 35
READING_S = 3


def write_data(folder: Path, rows: int) -> tuple[Path, Path]:
    base_x, base_err = make_data(rows, seed=1, plant_frac=0.0)
    prod_x, prod_err = make_data(rows, seed=2, plant_frac=0.02)
    base, prod = folder / "bench_baseline.parquet", folder / "bench_production.parquet"
    frame(base_x, base_err, 1).to_parquet(base)
    frame(prod_x, prod_err, 2).to_parquet(prod)
    return base, prod


def timed(label: str, results: dict[str, float], t0: float) -> None:
    results[label] = time.monotonic() - t0
    print(f"{label:>10}: {results[label]:6.2f} s", flush=True)


def click_row(page, row: int) -> None:  # type: ignore[no-untyped-def]
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + ROW_H + ROW_H * row + ROW_H / 2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(root: Path, log_dir: Path) -> Iterator[tuple[str, int]]:
    """Start ``streamlit run app.py`` in ``root``; yield its URL and process id."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    env = {**os.environ, "TRACING_STORE_DIR": str(log_dir / f"store-{port}")}
    env.pop("TRACING_DATA_ROOTS", None)
    with open(log_dir / f"server-{port}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(300):
                try:
                    with urllib.request.urlopen(url + "_stcore/health", timeout=1) as r:
                        if r.read() == b"ok":
                            break
                except OSError:
                    time.sleep(0.2)
            yield url, proc.pid
        finally:
            proc.terminate()
            proc.wait(10)


def explain_round(browser, root: Path, log_dir: Path) -> dict[str, tuple[float, float]]:  # type: ignore[no-untyped-def]
    """One fresh server: open the demo, then Explain, then the full pass; (wall, CPU) each."""
    out: dict[str, tuple[float, float]] = {}
    with server(root, log_dir) as (url, pid):
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()

        def step(label: str, t0: float, c0: float) -> None:
            out[label] = (time.monotonic() - t0, cpu_seconds(pid) - c0)
            print(f"  {label:>9}: {out[label][0]:6.2f} s wall, {out[label][1]:6.2f} s CPU")

        t0, c0 = time.monotonic(), cpu_seconds(pid)
        page.goto(url)
        settle(page, timeout=300_000)
        step("overview", t0, c0)
        t0, c0 = time.monotonic(), cpu_seconds(pid)
        page.get_by_role("link", name="Explain", exact=True).first.click()
        expect(page.get_by_text("What the model leans on")).to_be_visible(timeout=300_000)
        settle(page, timeout=300_000)
        step("explain", t0, c0)
        full = page.get_by_role("button", name="Run the full pass")
        if full.count():
            t0, c0 = time.monotonic(), cpu_seconds(pid)
            full.click()
            expect(page.get_by_text("(full pass).")).to_be_visible(timeout=300_000)
            settle(page, timeout=300_000)
            step("full", t0, c0)
        page.context.close()
    return out


def explain_main(repeat: int, before: Path | None) -> None:
    roots = [("before", before), ("after", ROOT)] if before else [("after", ROOT)]
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {name: [] for name, _ in roots}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = launch(p)
        for i in range(repeat):
            for name, root in roots:
                print(f"round {i + 1}, {name} ({root}):", flush=True)
                runs[name].append(explain_round(browser, root, Path(tmp)))
        browser.close()
    for name, rounds in runs.items():
        for label in rounds[0]:
            walls = sorted(r[label][0] for r in rounds if label in r)
            cpus = sorted(r[label][1] for r in rounds if label in r)
            print(
                f"{name:>6} {label:>9}: wall median {walls[len(walls) // 2]:.2f} s "
                f"(range {walls[0]:.2f}-{walls[-1]:.2f}), CPU median {cpus[len(cpus) // 2]:.2f} s"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--scenario", choices=("slices", "explain"), default="slices")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the explain scenario")
    ap.add_argument("--before", type=Path, help="another checkout to time first (explain)")
    args = ap.parse_args()
    if args.scenario == "explain":
        explain_main(args.repeat, args.before)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(os.environ.get("BENCH_DIR") or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        base, prod = write_data(folder, args.rows)
        print(f"data: {args.rows:,} rows per file in {time.monotonic() - t0:.1f} s")
        env = {
            "TRACING_DATA_ROOTS": os.pathsep.join([str(folder), str(ROOT / "demo_data")]),
            "TRACING_STORE_DIR": str(folder / "store"),
        }
        query = f"baseline={base}&production={prod}&prediction=prediction&actual=actual"
        results: dict[str, float] = {}
        with streamlit_server(env, log_dir=folder) as url, sync_playwright() as p:
            browser = launch(p)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            t0 = time.monotonic()
            page.goto(f"{url}data?{query}")
            expect(page.get_by_text("Ready:")).to_be_visible(timeout=300_000)
            timed("load", results, t0)
            settle(page, timeout=300_000)

            t0 = time.monotonic()
            page.get_by_role("link", name="2 · Slices").click()
            summary = page.get_by_text("The slice that costs most is")
            expect(summary).to_be_visible(timeout=300_000)
            timed("slices", results, t0)
            print(f"            top slice: {summary.inner_text()[:160]}")
            settle(page, timeout=300_000)

            # People read the table before they click: the top rows are prefetched meanwhile.
            page.wait_for_timeout(READING_S * 1000)
            t0 = time.monotonic()
            click_row(page, 0)
            expect(page.get_by_text("Accuracy here", exact=True)).to_be_visible()
            timed("drilldown", results, t0)
            settle(page, timeout=120_000)
            timed("settled", results, t0)

            # Without a pause: the breadcrumb one level up, while its prefetch may still run.
            t0 = time.monotonic()
            page.get_by_role("button", name="state = v7").click()
            expect(page.get_by_role("button", name="merchant_id = v11")).to_have_count(
                0, timeout=60_000
            )
            expect(page.get_by_text("Accuracy here", exact=True)).to_be_visible()
            timed("no pause", results, t0)
            settle(page, timeout=120_000)
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "bench_1m_drilldown.png"))

            page.get_by_role("link", name="1 · Overview").click()
            settle(page, timeout=120_000)
            t0 = time.monotonic()
            page.get_by_role("link", name="2 · Slices").click()
            expect(page.get_by_role("heading", name="Inside the slice")).to_be_visible()
            settle(page)
            timed("revisit", results, t0)
            page.screenshot(path=str(SHOTS / "bench_1m_revisit.png"))
            browser.close()
        print("results:", {k: round(v, 2) for k, v in results.items()})


if __name__ == "__main__":
    main()
