"""One analysis = a baseline, a production dataset, their column roles, and the chosen metric.

`prepare_analysis` validates the pair (empty data, no shared columns, missing or empty role
columns) with messages that name the file and column, resolves the schema on both datasets,
and prepares the model outputs for metrics. Every later step (overall comparison, slices,
drift, explanations, the report) starts from an `Analysis`.

**Production without actuals** (``require_actuals=False``): actuals arrive late or never, but
prediction drift, feature drift, data quality and, for binary models with scores, estimated
performance (`tracing.estimate`) still apply. Production may then lack the actual column or
have it empty; the baseline still needs actuals (it defines what "normal" is and calibrates the
estimate). Metrics on production are NaN and the steps that need actuals (slices, error model)
say so. `Analysis.has_actuals` tells which mode an analysis is in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tracing.errors import DataError
from tracing.memo import per_analysis
from tracing.metrics import Metric, Prepared, default_metric, get_metric, prepare, row_stats
from tracing.schema import (
    ColumnRoles,
    ModelType,
    Schema,
    check_roles,
    detect_roles,
    only_columns,
    resolve_schema,
    shared_columns,
)

__all__ = ["Analysis", "analysis_row_stats", "prepare_analysis"]


@dataclass(frozen=True)
class Analysis:
    """A validated baseline/production pair ready for every tracing step.

    Attributes
    ----------
    baseline_frame, production_frame : DataFrame
        The data as loaded (never modified).
    baseline, production : Prepared
        Model outputs as arrays.
    schema : Schema
        Column roles, model type, classes, positive class.
    metric : Metric
        The metric the analysis leads with (chosen or the documented default).
    names : tuple of str
        Display names of the baseline and production datasets (file names).
    notes : tuple of str
        Things the user should know (rows left out, columns only on one side...).
    """

    baseline_frame: pd.DataFrame
    production_frame: pd.DataFrame
    baseline: Prepared
    production: Prepared
    schema: Schema
    metric: Metric
    names: tuple[str, str]
    notes: tuple[str, ...]

    @property
    def has_actuals(self) -> bool:
        """Whether some production row has both an actual and a prediction."""
        return bool(self.production.valid.any())


def prepare_analysis(
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    *,
    names: tuple[str, str] = ("baseline", "production"),
    roles: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    positive_class: Any = None,
    metric: str | None = None,
    threshold: float = 0.5,
    require_actuals: bool = True,
) -> Analysis:
    """Validate a baseline/production pair and resolve roles, model type and metric.

    Parameters
    ----------
    baseline, production : DataFrame
        The two datasets.
    names : (str, str), default ("baseline", "production")
        Their file names, used in messages.
    roles : mapping, optional
        Explicit column roles (see `tracing.schema.detect_roles`); detected otherwise.
    model_type : {"binary", "multiclass", "regression"}, optional
        Overrides the inferred model type.
    positive_class : object, optional
        Binary only; default documented in `tracing.schema`.
    metric : str, optional
        Metric id; default from `tracing.metrics.default_metric`.
    threshold : float, default 0.5
        Binary only: score cut-off when there is no prediction label column.
    require_actuals : bool, default True
        Require production rows with actuals. With False, production may lack the actual
        column or leave it empty (the module docstring says what still works); the baseline
        always needs actuals.

    Returns
    -------
    Analysis

    Raises
    ------
    DataError
        With a message naming the file/column and the fix.

    Examples
    --------
    >>> base = pd.DataFrame({"score": [0.9, 0.2, 0.7, 0.1], "label": [1, 0, 0, 0]})
    >>> prod = base[["score"]]
    >>> a = prepare_analysis(base, prod, require_actuals=False)
    >>> a.has_actuals, a.schema.roles.actual_label
    (False, 'label')
    """
    # The analysis owns its frames: shallow copies (copy-on-write, no data copied), so a
    # caller changing its own frame later can never reach the codes, counts and bins that
    # `tracing.codes` remembers for the analysis' frame objects.
    baseline, production = baseline.copy(deep=False), production.copy(deep=False)
    for frame, name in ((baseline, names[0]), (production, names[1])):
        if len(frame) == 0:
            raise DataError(f"{name}: the file has no data rows; export the predictions again.")
    shared = shared_columns(production.columns, baseline.columns)
    if not shared:
        raise DataError(
            f"{names[0]} and {names[1]} share no column names; both files need the same "
            "prediction, actual and feature columns."
        )
    overrides = _only_known(roles, baseline, production, names, require_actuals)
    if "prediction_id" not in overrides:
        unique_id = _unique_id_column(shared, baseline, production)
        if unique_id:
            overrides["prediction_id"] = unique_id
    col_roles = _roles(shared, (baseline, production), overrides, require_actuals)
    actual_only_in_baseline = {col_roles.actual_label} - set(shared) - {None}
    notes = _one_sided_columns(baseline, production, names, skip=actual_only_in_baseline)
    _check_roles(col_roles, baseline, production, names, require_actuals)
    schema = resolve_schema(
        [baseline, production],
        col_roles,
        model_type=model_type,
        positive_class=positive_class,
        threshold=threshold,
    )
    prep_b = prepare(baseline, schema, name=names[0])
    prep_p = _prepare_production(production, schema, names[1])
    for p, name in ((prep_b, names[0]), (prep_p, names[1])):
        if not p.valid.any() and (require_actuals or p is prep_b):
            raise DataError(
                f"{name}: no row has both an actual ({col_roles.actual_label!r}) and a "
                "prediction; check the column roles or join the actuals first."
            )
        notes += _dropped_note(p, name) if p.valid.any() else _no_actuals_note(p, name)
    rate = _positive_rate(prep_b, schema)
    chosen = get_metric(metric, schema) if metric else default_metric(schema, rate)
    return Analysis(
        baseline_frame=baseline,
        production_frame=production,
        baseline=prep_b,
        production=prep_p,
        schema=schema,
        metric=chosen,
        names=names,
        notes=notes,
    )


@per_analysis
def analysis_row_stats(
    analysis: Analysis, names: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the per-row statistics (`tracing.metrics.row_stats`) of (baseline, production).

    Computed once per analysis (and ``names``: only those statistics, default every one) and
    shared by the sections that sum them (slices, root cause): on 10M rows each side's full
    table is about a gigabyte.
    """
    return row_stats(analysis.baseline, names), row_stats(analysis.production, names)


def _only_known(
    roles: Mapping[str, Any] | None,
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    names: tuple[str, str],
    require_actuals: bool = True,
) -> dict[str, Any]:
    out = dict(roles or {})
    for role, value in out.items():
        cols = [value] if isinstance(value, str) else list(value or ())
        if role in ("features", "tags", "prediction_score") and isinstance(value, str):
            cols = [c.strip() for c in value.split(",") if c.strip()]
        if role == "shap":
            cols = [s for _, s in value]
        sides = [(baseline, names[0]), (production, names[1])]
        if role == "actual_label" and not require_actuals:
            sides = sides[:1]  # production may come without its actuals
        for col in cols:
            for frame, name in sides:
                if col not in frame.columns:
                    raise DataError(
                        f"{name}: column {col!r} (given as {role}) is not in the file; "
                        f"available columns: {', '.join(map(str, frame.columns))}."
                    )
    return out


def _unique_id_column(
    shared: list[str], baseline: pd.DataFrame, production: pd.DataFrame
) -> str | None:
    """Find an id column by shape when no name matched: ``*_id``/``*id``, unique everywhere."""
    if detect_roles(shared).prediction_id:
        return None
    for col in shared:
        if not col.lower().endswith("id"):
            continue
        both = pd.concat([baseline[col], production[col]], ignore_index=True)
        if both.notna().all() and both.is_unique:
            return col
    return None


def _roles(
    shared: list[str],
    data: tuple[pd.DataFrame, pd.DataFrame],
    overrides: dict[str, Any],
    require_actuals: bool,
) -> ColumnRoles:
    """Detect roles on the shared columns.

    Without required actuals, the actual column may be one only the baseline has: production
    came without it.
    """
    named = "actual_label" in overrides
    given = overrides.get("actual_label")
    # Names and values together (`tracing.schema.suggest_roles`).
    if require_actuals or (named and (given is None or given in shared)):
        return detect_roles(shared, overrides=overrides, data=data)
    if named:  # a column only the baseline has
        found = detect_roles(shared, overrides={**overrides, "actual_label": None}, data=data)
        return replace(found, actual_label=given)
    own = only_columns(map(str, data[0].columns), shared)
    found = detect_roles(shared, overrides=overrides, data=data)
    if found.actual_label:
        return found
    candidate = detect_roles([*shared, *own], overrides=overrides, data=data).actual_label
    return replace(found, actual_label=candidate) if candidate in own else found


def _prepare_production(production: pd.DataFrame, schema: Schema, name: str) -> Prepared:
    """Prepare production; a missing actual column means every actual is missing."""
    actual = schema.roles.actual_label
    if not actual or actual in production.columns:
        return prepare(production, schema, name=name)
    without = replace(schema, roles=replace(schema.roles, actual_label=None))
    return replace(prepare(production, without, name=name), schema=schema)


def _one_sided_columns(
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    names: tuple[str, str],
    *,
    skip: set[Any] | None = None,
) -> tuple[str, ...]:
    notes = []
    skip = skip or set()
    only_b = [c for c in only_columns(baseline.columns, production.columns) if c not in skip]
    only_p = only_columns(production.columns, baseline.columns)
    if only_b:
        notes.append(f"columns only in {names[0]} are ignored: {', '.join(only_b)}")
    if only_p:
        notes.append(f"columns only in {names[1]} are ignored: {', '.join(only_p)}")
    return tuple(notes)


def _check_roles(
    roles: ColumnRoles,
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    names: tuple[str, str],
    require_actuals: bool = True,
) -> None:
    # Every missing or empty role at once, each carrying its role for the Data page's pickers.
    check_roles(roles, (baseline, production), names=names, require_actuals=require_actuals)


def _dropped_note(p: Prepared, name: str) -> tuple[str, ...]:
    left_out = p.n_rows - int(p.valid.sum())
    if not left_out:
        return ()
    return (
        f"{name}: {left_out:,} of {p.n_rows:,} rows left out of metrics "
        f"({p.n_missing_actual:,} without an actual, {p.n_missing_prediction:,} without a "
        "prediction)",
    )


def _no_actuals_note(p: Prepared, name: str) -> tuple[str, ...]:
    return (
        f"{name}: no row has an actual yet, so its metrics are estimated or unknown; join "
        "the actuals when they arrive",
    )


def _positive_rate(p: Prepared, schema: Schema) -> float | None:
    if schema.model_type is not ModelType.BINARY or not p.valid.any():
        return None
    return float(np.mean(p.y_true[p.valid]))
