"""ML performance tracing: where and why a production model got worse.

The engine behind the app and the CLI. Pure Python, no UI imports:

- `tracing.settings`: every environment variable, its default and parser.
- `tracing.options`: the options of each step, validated once; the home of every default.
- `tracing.sources`, `tracing.fetch`, `tracing.store`: where data may come from (allowed
  folders, guarded URLs, the dataset store).
- `tracing.io`: read CSV/Parquet files or uploaded bytes, under optional caps.
- `tracing.schema`: column roles (Arize-compatible names) and model type.
- `tracing.vocab`: the shared vocabularies as enums (directions, statuses, severities, bases,
  period lengths, explanation sources, suspect kinds).
- `tracing.metrics`: the metric registry, with additive per-row sufficient statistics.
- `tracing.verdict`: the one worse/better/same verdict (`status`) and its tolerance rule.
- `tracing.compare`: production vs baseline for every metric, with confidence intervals.
- `tracing.pvalues`: the normal quantile and the p-values of the quick paths, without
  ``scipy.stats`` (about a second to import).
- `tracing.rows`: which rows are compared (a baseline file, windows of one file, two model
  versions; delayed actuals joined first), for the CLI and the app alike.
- `tracing.analysis`: a validated baseline/production pair.
- `tracing.engine`: the seam every engine implements: group sums over a coded table.
- `tracing.slices`: exact impact-ranked slice search, drilldown, baseline decomposition and
  which slices are distinct.
- `tracing.drift`, `tracing.quality`, `tracing.labels`, `tracing.rootcause`: drift tests and
  histograms, data-quality checks, label conflicts, and the ranked root-cause summary.
- `tracing.explain`: SHAP importance (logged, surrogate, error model, skops model).
- `tracing.timeline`, `tracing.windows`, `tracing.actuals`, `tracing.estimate`: monitoring over
  time, production windows as baselines, delayed actuals, estimated performance without actuals.
- `tracing.report`: the report's sections and its JSON (schemas in ``tracing/schemas/``);
  `tracing.render` its Markdown and HTML; `tracing.cli` the command line.

The names below are loaded on first use (PEP 562), so ``import tracing`` or importing a light
submodule such as `tracing.settings` does not pay for pandas; scipy, scikit-learn, LightGBM
and SHAP load only inside the steps that need them (``tests/test_imports.py`` pins this).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracing.analysis import Analysis, prepare_analysis
    from tracing.compare import Comparison, compare
    from tracing.errors import DataError
    from tracing.io import read_table
    from tracing.metrics import METRICS, Direction, Metric, applicable_metrics, worse_by
    from tracing.schema import ColumnRoles, ModelType, Schema, detect_roles
    from tracing.verdict import status
    from tracing.vocab import Severity, Status

__all__ = [
    "METRICS",
    "Analysis",
    "ColumnRoles",
    "Comparison",
    "DataError",
    "Direction",
    "Metric",
    "ModelType",
    "Schema",
    "Severity",
    "Status",
    "applicable_metrics",
    "compare",
    "detect_roles",
    "prepare_analysis",
    "read_table",
    "status",
    "worse_by",
]

__version__ = "0.1.0"


_HOME = {
    "Analysis": "tracing.analysis",
    "prepare_analysis": "tracing.analysis",
    "Comparison": "tracing.compare",
    "compare": "tracing.compare",
    "DataError": "tracing.errors",
    "read_table": "tracing.io",
    "METRICS": "tracing.metrics",
    "Direction": "tracing.metrics",
    "Metric": "tracing.metrics",
    "applicable_metrics": "tracing.metrics",
    "worse_by": "tracing.metrics",
    "ColumnRoles": "tracing.schema",
    "ModelType": "tracing.schema",
    "Schema": "tracing.schema",
    "detect_roles": "tracing.schema",
    "status": "tracing.verdict",
    "Severity": "tracing.vocab",
    "Status": "tracing.vocab",
}
"""The module each re-exported name lives in."""


def __getattr__(name: str) -> Any:
    """Load a re-exported name from its module on first use, then keep it here."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'tracing' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module, keeping ``tracing.compare`` the function, as the eager import did."""

    def __setattr__(self, name: str, value: object) -> None:
        # Importing the submodule binds it here under its name; the function of the same name
        # is what ``from tracing import compare`` has always given.
        if name == "compare" and isinstance(value, types.ModuleType):
            value = value.compare
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
