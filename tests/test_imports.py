"""Which libraries each entry point loads: heavy ones (scipy.stats, scikit-learn, SHAP,
LightGBM, the UI) only inside the steps that need them.

Each case runs in a fresh interpreter that runs the command (``-c`` code, or a module as
``python -m`` does, through `runpy`) and then writes out ``sys.modules``: every module the
process holds, also those loaded through `importlib` (which ``-X importtime`` does not list).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_binary

ROOT = Path(__file__).resolve().parents[1]

UI = {"streamlit", "altair"}
HEAVY = {"scipy", "sklearn", "shap", "lightgbm", "skops", "joblib"}
"""Libraries no start-up may load (joblib comes with scikit-learn, skops loads models)."""


_PROBE = """
import json, runpy, sys
out, mode, *rest = sys.argv[1:]
try:
    if mode == "-c":
        exec(compile(rest[0], "<probe>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = list(rest)
        runpy.run_module(rest[0], run_name="__main__", alter_sys=True)
except SystemExit as stop:
    if stop.code not in (0, None):
        raise
with open(out, "w", encoding="utf-8") as f:
    json.dump(sorted(sys.modules), f)
"""


def _loaded(tmp_path: Path, *args: str) -> set[str]:
    """Every module held after ``python <args>`` (``-c CODE`` or ``-m MODULE ARG...``) ran."""
    out = tmp_path / f"modules-{len(list(tmp_path.iterdir()))}.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = set(json.loads(out.read_text(encoding="utf-8")))
    assert {"sys", "json"} <= names, "the probe saw no modules"
    return names


def _tops(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


@pytest.fixture(scope="module")
def csv_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("imports")
    paths = []
    for name, seed in (("baseline", 0), ("production", 1)):
        path = folder / f"{name}.csv"
        make_binary(600, seed, shift=0.1 * seed).to_csv(path, index=False)
        paths.append(str(path))
    return paths[0], paths[1]


def test_import_tracing_loads_no_library_at_all(tmp_path):
    # The package re-exports lazily: even pandas waits for the first name used.
    loaded = _tops(_loaded(tmp_path, "-c", "import tracing"))
    assert "tracing" in loaded
    assert loaded.isdisjoint(HEAVY | UI | {"pandas", "pyarrow", "numpy"}), sorted(loaded)


def test_a_name_from_the_package_loads_its_module_only(tmp_path):
    loaded = _loaded(tmp_path, "-c", "from tracing import DataError, Severity")
    assert {"tracing.errors", "tracing.vocab"} <= loaded
    assert "tracing.analysis" not in loaded and "pandas" not in _tops(loaded)


@pytest.mark.parametrize(
    "first",
    ["import tracing.compare", "import tracing.report", "from tracing import compare"],
)
def test_tracing_compare_stays_the_function_whatever_loads_first(tmp_path, first):
    # As when the package imported it eagerly: the re-exported function, not the submodule
    # that the import system binds under the same name.
    check = (
        "import types, tracing; from tracing import compare; "
        "from tracing.compare import compare as function; "
        "assert compare is function is tracing.compare, compare; "
        "assert not isinstance(compare, types.ModuleType)"
    )
    assert "tracing.compare" in _loaded(tmp_path, "-c", f"{first}; {check}")


@pytest.mark.parametrize(
    "args",
    [("-c", "import tracing.cli"), ("-m", "tracing", "--help")],
    ids=["import tracing.cli", "python -m tracing --help"],
)
def test_the_command_line_starts_without_heavy_libraries(tmp_path, args):
    loaded = _tops(_loaded(tmp_path, *args))
    assert {"tracing", "pandas", "pyarrow"} <= loaded  # the probe sees what is imported
    assert loaded.isdisjoint(HEAVY | UI), sorted(loaded & (HEAVY | UI))


def test_a_slices_report_may_load_only_scipy_special_and_no_other_section(tmp_path, csv_pair):
    # Welch's p-values need Student's t (scipy.special.stdtr): scipy.special and what it
    # imports itself may load, nothing else of scipy (not scipy.stats: about 1 s). The report
    # builds its other sections' modules only when asked, and the command line loads the
    # timeline, alerts, chains and Markdown only for those commands.
    base, prod = csv_pair
    loaded = _loaded(
        tmp_path,
        *("-m", "tracing", "report", "--sections", "slices"),
        *("--baseline", base, "--production", prod),
    )
    assert "tracing.slices" in loaded and "tracing.pvalues" in loaded  # the probe saw the run
    special = _loaded(tmp_path, "-c", "import scipy.special")
    scipy = {n for n in loaded if _tops({n}) == {"scipy"}}
    assert scipy <= special, sorted(scipy - special)
    assert "scipy.stats" not in loaded
    assert _tops(loaded).isdisjoint((HEAVY - {"scipy"}) | UI)
    others = {
        "tracing.alerts",
        "tracing.chain",
        "tracing.compare",
        "tracing.drift",
        "tracing.labels",
        "tracing.links",
        "tracing.quality",
        "tracing.render.markdown",
        "tracing.timeline",
    }
    assert loaded.isdisjoint(others), sorted(loaded & others)


def test_an_overall_report_without_a_score_loads_no_scipy(tmp_path):
    # With a score column the overall section also estimates performance without actuals,
    # which calibrates with scikit-learn's isotonic regression (a step that needs it).
    paths = []
    for name, seed in (("baseline", 0), ("production", 1)):
        path = tmp_path / f"{name}.csv"
        make_binary(300, seed).drop(columns="prediction_score").to_csv(path, index=False)
        paths.append(str(path))
    loaded = _loaded(
        tmp_path,
        *("-m", "tracing", "report", "--sections", "overall"),
        *("--baseline", paths[0], "--production", paths[1]),
    )
    assert "tracing.compare" in loaded
    assert _tops(loaded).isdisjoint(HEAVY | UI), sorted(_tops(loaded) & (HEAVY | UI))


def test_the_importance_step_does_load_lightgbm(tmp_path, csv_pair):
    # The other side of the pin: the surrogate model is LightGBM, loaded when it trains.
    base, prod = csv_pair
    loaded = _loaded(
        tmp_path,
        *("-m", "tracing", "report", "--sections", "importance"),
        *("--baseline", base, "--production", prod),
    )
    assert "lightgbm" in _tops(loaded)
    assert _tops(loaded).isdisjoint(UI)
