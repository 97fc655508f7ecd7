"""Biased actuals: whether the production rows with actuals stand for all production rows.

The white paper's "causal influence on actuals": a lending model only learns the outcome of the
applications it approved, a fraud team only labels the transactions it reviewed. Metrics are
computed on the rows with actuals, so when those rows are a selected subset the metrics describe
that subset, not production. This module owns that test; the ``biased_actuals`` quality check
(`tracing.quality`) reports it and the Overview shows it beside the metrics it qualifies.

The test runs when some, but not all, production rows have an actual (at least
``MIN_GROUP`` rows each way):

- **By predicted class** (classification): the share of rows with an actual per predicted
  class. A class whose coverage is below ``1 - CLASS_GAP`` times the best-covered class's is
  under-covered; a class with no actual at all while another has them is the lending case
  ("actuals exist only for rows predicted approved").
- **By column**: every drift column but the actual (features, tags, prediction, score) compared
  between the rows without and with actuals by `tracing.drift.drift_between`, with its default
  tests, thresholds and significance gate (``alpha``): a column that "drifts" between the two
  groups is one along which the actuals were selected.

A random subsample of rows with actuals passes both (tested): its coverage is the same in every
class, up to chance, and its columns do not drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracing.analysis import Analysis
from tracing.drift import drift_between, drift_columns
from tracing.memo import per_analysis
from tracing.schema import ModelType
from tracing.textfmt import percent, quoted
from tracing.vocab import Severity

__all__ = ["CLASS_GAP", "MIN_GROUP", "ActualsCoverage", "actuals_coverage"]

MIN_GROUP = 30
CLASS_GAP = 0.5  # coverage below half the best-covered class's: under-covered
_MAX_NAMED = 3


@dataclass(frozen=True)
class ActualsCoverage:
    """How production's actuals cover its rows, and along what they were selected.

    Attributes
    ----------
    rows, with_actuals : int
        Production rows, and those with an actual.
    by_class : DataFrame
        Classification: ``predicted`` (the predicted class), ``rows``, ``with_actuals``,
        ``share`` (of the class's rows with an actual); empty for regression.
    uncovered : tuple of str
        Predicted classes with no actual while others have some.
    undercovered : tuple of str
        Predicted classes covered at below ``1 - CLASS_GAP`` times the best class (not
        ``uncovered``).
    drifted : DataFrame
        The columns that differ between rows without and with actuals: ``feature``,
        ``severity``, ``reason`` (the drift verdict), most severe first.
    """

    rows: int
    with_actuals: int
    by_class: pd.DataFrame
    uncovered: tuple[str, ...]
    undercovered: tuple[str, ...]
    drifted: pd.DataFrame

    @property
    def share(self) -> float:
        """Share of production rows with an actual."""
        return self.with_actuals / self.rows if self.rows else float("nan")

    @property
    def biased(self) -> bool:
        """Whether the rows with actuals look selected (by class or by a column)."""
        return bool(self.uncovered or self.undercovered or len(self.drifted))

    @property
    def severity(self) -> Severity:
        """``alert`` for a class without actuals or a column that alerts, ``warn`` otherwise."""
        if not self.biased:
            return Severity.NONE
        if self.uncovered or (self.drifted["severity"] == Severity.ALERT).any():
            return Severity.ALERT
        return Severity.WARN

    def sentence(self) -> str:
        """Say in plain words what the metrics describe."""
        covered = f"Actuals cover {percent(self.share)} of production rows"
        if not self.biased:
            return f"{covered}, spread like the rest: the metrics stand for all of production."
        if self.uncovered:
            kept = [c for c in self.by_class["predicted"] if c not in self.uncovered]
            return (
                f"{covered}, and only rows predicted {_names(kept)}: the metrics describe "
                f"those rows only, not the rows predicted {_names(self.uncovered)}."
            )
        parts = []
        if self.undercovered:
            parts.append(f"rows predicted {_names(self.undercovered)} are rarely covered")
        if len(self.drifted):
            cols = list(self.drifted["feature"])
            more = f" and {len(cols) - _MAX_NAMED} more" if len(cols) > _MAX_NAMED else ""
            parts.append(
                f"the rows with actuals differ from the rest in {_names(cols[:_MAX_NAMED])}{more}"
            )
        return (
            f"{covered}, but {' and '.join(parts)}: the metrics describe a selected subset "
            "of production."
        )


def _names(values: list[str] | tuple[str, ...]) -> str:
    items = [quoted(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@per_analysis
def actuals_coverage(analysis: Analysis) -> ActualsCoverage | None:
    """Test whether production's rows with actuals stand for all its rows (module docstring).

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.

    Returns
    -------
    ActualsCoverage or None
        None when every production row has an actual, none does, or either group has fewer
        than ``MIN_GROUP`` rows.
    """
    roles = analysis.schema.roles
    frame = analysis.production_frame
    if not roles.actual_label or roles.actual_label not in frame.columns:
        return None
    has = frame[roles.actual_label].notna().to_numpy()
    n, k = len(frame), int(has.sum())
    if min(k, n - k) < MIN_GROUP:
        return None
    by_class = _by_class(analysis, has)
    best = float(by_class["share"].max()) if len(by_class) else 0.0
    uncovered = tuple(str(c) for c in by_class.loc[by_class["with_actuals"] == 0, "predicted"])
    under = by_class[(by_class["with_actuals"] > 0) & (by_class["share"] < (1 - CLASS_GAP) * best)]
    return ActualsCoverage(
        rows=n,
        with_actuals=k,
        by_class=by_class,
        uncovered=uncovered if k else (),
        undercovered=tuple(str(c) for c in under["predicted"]),
        drifted=_drifted(analysis, has),
    )


def _by_class(analysis: Analysis, has: np.ndarray) -> pd.DataFrame:
    columns = ["predicted", "rows", "with_actuals", "share"]
    schema = analysis.schema
    if schema.model_type is ModelType.REGRESSION or not schema.roles.prediction_label:
        return pd.DataFrame(columns=columns)
    predicted = analysis.production_frame[schema.roles.prediction_label]
    table = (
        pd.DataFrame({"predicted": predicted.astype("string"), "has": has})
        .dropna(subset=["predicted"])
        .groupby("predicted", sort=True)["has"]
        .agg(rows="size", with_actuals="sum")
        .reset_index()
    )
    table = table[table["rows"] >= MIN_GROUP]
    table["share"] = table["with_actuals"] / table["rows"]
    return table[columns].reset_index(drop=True)


def _drifted(analysis: Analysis, has: np.ndarray) -> pd.DataFrame:
    frame = analysis.production_frame
    rows = []
    for column, role in drift_columns(analysis).items():
        if role == "actual":
            continue
        series = frame[column]
        row = drift_between(series[~has], series[has])
        if row["drifted"]:
            rows.append({"feature": column, "severity": row["severity"], "reason": row["reason"]})
    out = pd.DataFrame(rows, columns=["feature", "severity", "reason"])
    order = out["severity"].map({Severity.ALERT: 0, Severity.WARN: 1}).fillna(2)
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
