"""Data quality: what broke in the data itself between the baseline and production.

This module owns the quality-check registry (`QUALITY_CHECKS`), `quality_checks` (every check
over an analysis, one tidy table of findings) and the ``quality`` report section.

Each `QualityCheck` measures one thing per column (a share of rows, mostly) and grades it with
its own thresholds: ``info`` (worth knowing), ``warn`` and ``alert``. A check reports nothing
below its lowest threshold. The checks:

- ``missing_rate``: the share of missing values rose (fell: ``info``);
- ``new_category``: production values never seen in the baseline, with their volume;
- ``vanished_category``: baseline values that production should have shown (expected count at
  least 10) but did not;
- ``out_of_range``: numeric production values outside the baseline's [min, max];
- ``type_mismatch``: text in a numeric column (numeric on one side, text on the other, or a
  mostly numeric text column with some words), or several Python types in one object column;
- ``constant``: one value (or none) in production;
- ``duplicate_id``: prediction ids repeated within a dataset, or present in both;
- ``label_conflict`` and ``broken_dependency``: labelling issues from `tracing.labels`;
- ``biased_actuals``: the production rows with actuals are a selected subset (by predicted
  class, or along a column), so the metrics describe that subset (`tracing.selection`).

Identifier-like text columns (more than half the baseline rows distinct) are skipped by the
category checks: every value of an id is new.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from tracing.analysis import Analysis
from tracing.binning import as_float, is_numeric_column, missing_count
from tracing.drift import drift_columns, value_counts
from tracing.errors import DataError
from tracing.labels import LabelConflicts, label_conflicts
from tracing.memo import per_analysis
from tracing.textfmt import percent, plain, quoted, value_text
from tracing.vocab import Severity

__all__ = [
    "FINDING_COLUMNS",
    "QUALITY_CHECKS",
    "QUALITY_SEVERITIES",
    "QualityCheck",
    "checked_columns",
    "quality_checks",
    "share_change_p_value",
]

QUALITY_SEVERITIES = (Severity.INFO, Severity.WARN, Severity.ALERT)  # the quality part
FINDING_COLUMNS = (
    "check",
    "feature",
    "dataset",
    "severity",
    "detail",
    "count",
    "share",
    "baseline_share",
    "values",
    "counts",
)
_ID_LIKE = 0.5
_MIN_EXPECTED = 10.0  # a baseline value "should" appear when 10+ production rows are expected
_MAX_VALUES = 10
_SIGNIFICANCE = 0.01
_SIDES = ("baseline", "production")


@dataclass(frozen=True)
class QualityCheck:
    """One data-quality check and its default grading.

    Attributes
    ----------
    id : str
        Stable id (``check`` column of findings, CLI).
    name : str
        Display name.
    measure : str
        What the thresholds apply to (e.g. "rise in the share of missing values").
    info, warn, alert : float or None
        Grades of the measure: a finding is reported from the lowest non-None threshold up
        and takes the highest grade reached. None: that grade is never given.
    run : callable
        ``(context, check) -> list of findings`` (dicts with the `quality_checks` columns).
    description : str
        One line for docs and tooltips.
    """

    id: str
    name: str
    measure: str
    info: float | None
    warn: float | None
    alert: float | None
    run: Callable[[_Context, QualityCheck], list[dict[str, Any]]]
    description: str = ""

    def grade(self, value: float) -> Severity | None:
        """Grade a measured value: its severity, or None below every threshold."""
        grades = (
            (Severity.ALERT, self.alert),
            (Severity.WARN, self.warn),
            (Severity.INFO, self.info),
        )
        for severity, cut in grades:
            if cut is not None and value >= cut:
                return severity
        return None


class _Column:
    """One column on both sides, profiled lazily (each check takes what it needs)."""

    def __init__(self, analysis: Analysis, name: str) -> None:
        self.analysis = analysis
        self.name = name
        baseline, production = analysis.baseline_frame[name], analysis.production_frame[name]
        self.sides = (baseline, production)
        self.n = (len(baseline), len(production))
        self.numeric = (is_numeric_column(baseline), is_numeric_column(production))
        self.datetime = any(pd.api.types.is_datetime64_any_dtype(s.dtype) for s in self.sides)

    @cached_property
    def missing(self) -> tuple[int, int]:
        b, p = (missing_count(s) for s in self.sides)
        return b, p

    @cached_property
    def counts(self) -> tuple[pd.Series, pd.Series]:
        """Value counts per side (missing left out), shared with drift's bins."""
        b, p = (value_counts(self.analysis, side=s, column=self.name) for s in _SIDES)
        return b, p

    @cached_property
    def floats(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Values as floats on each numeric side (None on a text side)."""
        b, p = (as_float(s) if n else None for s, n in zip(self.sides, self.numeric, strict=True))
        return b, p

    @cached_property
    def extremes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Smallest and largest value per numeric side, NaN skipped (NaN: none, or text)."""
        b, p = (_extremes(v) for v in self.floats)
        return b, p

    @property
    def categorical(self) -> bool:
        """Text/boolean/category on both sides (the category checks apply)."""
        return not any(self.numeric)

    @cached_property
    def id_like(self) -> bool:
        n = self.n[0] - self.missing[0]
        return n > 0 and len(self.counts[0]) > _ID_LIKE * n


class _Context:
    """What every check reads: the analysis, the columns to check, and shared profiles."""

    def __init__(self, analysis: Analysis, columns: Sequence[str]) -> None:
        self.analysis = analysis
        self.columns = [_Column(analysis, c) for c in columns]

    @cached_property
    def labels(self) -> LabelConflicts:
        return label_conflicts(self.analysis)


def _finding(
    check: QualityCheck,
    feature: str,
    severity: Severity,
    detail: str,
    *,
    dataset: str = "production",
    count: int = 0,
    share: float = math.nan,
    baseline_share: float = math.nan,
    values: Sequence[Any] = (),
    counts: Sequence[int] = (),
) -> dict[str, Any]:
    return {
        "check": check.id,
        "feature": feature,
        "dataset": dataset,
        "severity": severity,
        "detail": detail,
        "count": int(count),
        "share": float(share),
        "baseline_share": float(baseline_share),
        "values": [plain(v) for v in values],
        "counts": [int(c) for c in counts],
    }


# ---------------------------------------------------------------------------------------------
# The checks


def _missing_rate(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        (mb, mp), (nb, np_) = col.missing, col.n
        rb, rp = mb / nb, mp / np_
        change = rp - rb
        severity = check.grade(change) or (Severity.INFO if check.grade(-change) else None)
        if severity is None or not share_change_p_value(mb, nb, mp, np_) < _SIGNIFICANCE:
            continue
        word = "rose" if change > 0 else "fell"
        detail = (
            f"{col.name} is missing in {percent(rp)} of production rows vs {percent(rb)} in "
            f"the baseline (the missing rate {word} by {abs(change) * 100:.1f} points)."
        )
        out.append(
            _finding(check, col.name, severity, detail, count=mp, share=rp, baseline_share=rb)
        )
    return out


def share_change_p_value(kb: int, nb: int, kp: int, np_: int) -> float:
    """P-value of a change in a share: ``kb`` of ``nb`` baseline rows vs ``kp`` of ``np_``.

    Two-proportion chi-square test (no continuity correction); 1.0 when there is nothing to
    compare (no row, or every row on both sides, is counted).

    Examples
    --------
    >>> round(share_change_p_value(10, 100, 30, 100), 5)
    0.00041
    """
    from scipy import stats  # scipy loads only when a share change is tested

    table = np.array([[kb, nb - kb], [kp, np_ - kp]])
    if (table.sum(axis=0) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def _new_values(col: _Column) -> pd.Series:
    """Production values never seen in the baseline, with their production counts."""
    base, prod = col.counts
    return prod[~prod.index.isin(base.index)]


def _vanished_values(col: _Column) -> pd.Series:
    """Baseline values production should have shown but did not, with their baseline counts."""
    base, prod = col.counts
    expected = base / col.n[0] * col.n[1]
    return base[~base.index.isin(prod.index) & (expected >= _MIN_EXPECTED).to_numpy()]


def _new_category(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    return _category_change(ctx, check, _new_values, side=1, what="never seen in the baseline")


def _vanished_category(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    return _category_change(
        ctx, check, _vanished_values, side=0, what="of the baseline that never occur in production"
    )


def _category_change(
    ctx: _Context,
    check: QualityCheck,
    find: Callable[[_Column], pd.Series],
    *,
    side: int,
    what: str,
) -> list[dict[str, Any]]:
    """Report the values ``find`` picks per category column, graded by their share of ``side``.

    ``side`` is the dataset whose rows the values occupy (1: production, for new values; 0:
    the baseline, for vanished ones); the other side's share is 0 by definition.
    """
    dataset = ("baseline", "production")[side]
    out = []
    for col in ctx.columns:
        if not col.categorical or col.id_like:
            continue
        found = find(col).sort_values(ascending=False, kind="mergesort")
        share = found.sum() / col.n[side]
        severity = check.grade(share) if len(found) else None
        if severity is None:
            continue
        top = found.head(_MAX_VALUES)
        listed = ", ".join(
            f"{value_text(v)} ({c:,} rows, {percent(c / col.n[side])})" for v, c in top.items()
        )
        more = f" and {len(found) - len(top)} more" if len(found) > len(top) else ""
        noun = "value" if len(found) == 1 else "values"
        detail = (
            f"{col.name} has {len(found)} {noun} {what}, {percent(share)} of {dataset} rows: "
            f"{listed}{more}."
        )
        shares = (share, 0.0) if side == 0 else (0.0, share)
        out.append(
            _finding(
                check,
                col.name,
                severity,
                detail,
                count=int(found.sum()) if side == 1 else 0,
                share=shares[1],
                baseline_share=shares[0],
                values=top.index.tolist(),
                counts=top.tolist(),
            )
        )
    return out


def _out_of_range(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        base, prod = col.floats
        if base is None or prod is None or col.datetime:
            continue
        limits = _finite_range(base, col.extremes[0])
        if limits is None:
            continue
        lo, hi = limits
        with np.errstate(invalid="ignore"):
            # lo <= hi: the two sides never overlap, so the counts add up (no mask needed)
            count = int(np.count_nonzero(prod < lo)) + int(np.count_nonzero(prod > hi))
        share = count / col.n[1]
        severity = check.grade(share) if count else None
        if severity is None:
            continue
        with np.errstate(invalid="ignore"):
            seen = prod[(prod < lo) | (prod > hi)]
        low, high = float(seen.min()), float(seen.max())
        detail = (
            f"{col.name} has {count:,} production values ({percent(share)}) outside the "
            f"baseline range [{lo:.4g}, {hi:.4g}]; lowest {low:.4g}, highest {high:.4g}."
        )
        out.append(
            _finding(
                check,
                col.name,
                severity,
                detail,
                count=count,
                share=share,
                baseline_share=0.0,
                values=[low, high],
            )
        )
    return out


def _extremes(values: np.ndarray | None) -> tuple[float, float]:
    """``(np.nanmin, np.nanmax)`` of float values (NaN when there is no value)."""
    if values is None or not len(values):
        return math.nan, math.nan
    # np.nanmin and np.nanmax are these reductions on float arrays, without the warning.
    return float(np.fmin.reduce(values)), float(np.fmax.reduce(values))


def _finite_range(
    values: np.ndarray, extremes: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """Smallest and largest finite value (None: there is none).

    From the NaN-skipping `_extremes` when both are finite; the masked copy of the finite
    values is only made when an extreme is infinite (or zero, whose sign the original
    reduction over that copy decides).
    """
    lo, hi = _extremes(values) if extremes is None else extremes
    if math.isfinite(lo) and math.isfinite(hi) and lo != 0 and hi != 0:
        return lo, hi
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    return float(finite.min()), float(finite.max())


def _type_mismatch(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        if all(col.numeric):
            continue
        for side, dataset in enumerate(("baseline", "production")):
            found = _text_in_numbers(col, side) or _mixed_types(col, side)
            if found is None:
                continue
            count, detail, values = found
            share = count / col.n[side]
            severity = check.grade(share)
            if severity is not None:
                out.append(
                    _finding(
                        check,
                        col.name,
                        severity,
                        f"{dataset}: {detail}",
                        dataset=dataset,
                        count=count,
                        share=share,
                        values=values,
                    )
                )
    return out


def _text_in_numbers(col: _Column, side: int) -> tuple[int, str, list[Any]] | None:
    """Words in a column that is numeric on the other side or mostly numbers here."""
    if col.numeric[side]:
        return None
    counts = col.counts[side]
    if counts.empty:
        return None
    parsed = pd.to_numeric(pd.Series(counts.index.astype(str)), errors="coerce").isna()
    words = counts[parsed.to_numpy()]
    numbers_share = 1 - words.sum() / counts.sum()
    other_numeric = col.numeric[1 - side]
    if words.empty or not (other_numeric or numbers_share >= 0.9):
        return None
    examples = words.sort_values(ascending=False).head(_MAX_VALUES)
    why = (
        "is numeric in the other dataset"
        if other_numeric
        else (f"is {percent(numbers_share)} numbers")
    )
    detail = (
        f"{col.name} {why} but has {int(words.sum()):,} text values "
        f"(e.g. {', '.join(quoted(v) for v in examples.index[:3])})."
    )
    return int(words.sum()), detail, examples.index.tolist()


def _mixed_types(col: _Column, side: int) -> tuple[int, str, list[Any]] | None:
    """Several Python types in one object column (a number-only mix is fine)."""
    series = col.sides[side]
    if series.dtype != object:
        return None
    counts = col.counts[side]
    kinds = pd.Series(counts.to_numpy(), index=[_type_name(v) for v in counts.index])
    by_type = kinds.groupby(level=0).sum().sort_values(ascending=False)
    if len(by_type) < 2 or set(by_type.index) <= {"int", "float"}:
        return None
    minority = int(by_type.iloc[1:].sum())
    listed = ", ".join(f"{t} {c:,}" for t, c in by_type.items())
    return minority, f"{col.name} mixes value types ({listed} rows).", by_type.index.tolist()


def _type_name(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    return type(value).__name__


def _constant(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        distinct = (_n_distinct(col, 0), _n_distinct(col, 1))
        if distinct[1] > 1:
            continue
        was_varied = distinct[0] > 1
        severity = check.grade(1.0 if was_varied else 0.0)
        if severity is None:
            continue
        what = "has no values" if distinct[1] == 0 else "holds a single value"
        since = (
            f"the baseline had {distinct[0]:,}+ distinct values"
            if was_varied
            else "it is constant in the baseline too (it carries no signal)"
        )
        value = [] if distinct[1] == 0 else [col.sides[1].dropna().iloc[0]]
        detail = (
            f"{col.name} {what} in production"
            + (f" ({value_text(value[0])})" if value else "")
            + f"; {since}."
        )
        out.append(
            _finding(
                check,
                col.name,
                severity,
                detail,
                count=col.n[1] - col.missing[1],
                share=1.0,
                values=value,
            )
        )
    return out


def _n_distinct(col: _Column, side: int) -> int:
    """Distinct non-missing values, counted up to 2 (all this check needs)."""
    if col.floats[side] is not None:
        lo, hi = col.extremes[side]  # shared with out_of_range
        if math.isnan(lo):  # every value missing (or none)
            return 0
        return 1 if lo == hi else 2
    return min(len(col.counts[side]), 2)


def _duplicate_id(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    id_col = ctx.analysis.schema.roles.prediction_id
    if not id_col:
        return []
    sides = (ctx.analysis.baseline_frame[id_col], ctx.analysis.production_frame[id_col])
    ordered = [_sorted_ints(s) for s in sides]
    out = []
    for series, dataset, ids in zip(sides, _SIDES, ordered, strict=True):
        if ids is not None and not (ids[1:] == ids[:-1]).any():
            continue  # no id repeats: nothing to report, and no hashing to find out
        dup = series.duplicated(keep=False) & series.notna()
        count = int(dup.sum())
        share = count / len(series)
        severity = check.grade(share) if count else None
        if severity is None:
            continue
        repeated = series[dup].value_counts().head(_MAX_VALUES)
        detail = (
            f"{dataset}: {count:,} rows ({percent(share)}) share {series[dup].nunique():,} "
            f"repeated {id_col} values (e.g. {quoted(repeated.index[0])} x{repeated.iloc[0]})."
        )
        out.append(
            _finding(
                check,
                id_col,
                severity,
                detail,
                dataset=dataset,
                count=count,
                share=share,
                values=repeated.index.tolist(),
                counts=repeated.tolist(),
            )
        )
    if _disjoint(*ordered):
        return out
    both = sides[1][sides[1].isin(sides[0].dropna())]
    if len(both):
        share = len(both) / len(sides[1])
        severity = check.grade(share)
        if severity is not None:
            detail = (
                f"{len(both):,} production rows ({percent(share)}) reuse a {id_col} that is "
                "also in the baseline (the same predictions in both datasets?)."
            )
            out.append(
                _finding(
                    check,
                    id_col,
                    severity,
                    detail,
                    dataset="both",
                    count=len(both),
                    share=share,
                    values=both.head(_MAX_VALUES).tolist(),
                )
            )
    return out


def _sorted_ints(series: pd.Series) -> np.ndarray | None:
    """Sorted ids of an integer column (never missing), else None.

    A sort answers "any repeat?" and "any shared id?" several times faster than hashing, and
    ids mostly have neither.
    """
    if not pd.api.types.is_integer_dtype(series.dtype) or not isinstance(series.dtype, np.dtype):
        return None
    ids = series.to_numpy()
    if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()):
        return ids  # already increasing (a counter, mostly): no sort needed
    return np.sort(ids)


def _disjoint(baseline: np.ndarray | None, production: np.ndarray | None) -> bool:
    """Whether two sorted id arrays share no value (False when unknown or of two dtypes)."""
    if baseline is None or production is None or baseline.dtype != production.dtype:
        return False
    if not len(baseline) or not len(production):
        return True
    at = np.minimum(np.searchsorted(baseline, production), len(baseline) - 1)
    return not bool((baseline[at] == production).any())


def _label_conflict(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    actual = ctx.analysis.schema.roles.actual_label
    out = []
    for s in ctx.labels.summary.to_dict(orient="records"):
        severity = check.grade(float(s["share"])) if s["groups"] else None
        if severity is None or not actual:
            continue
        groups = ctx.labels.groups
        top = groups[groups["dataset"] == s["dataset"]].iloc[0]
        example = ", ".join(
            f"{c:,} x {quoted(v)}" for v, c in zip(top["labels"], top["counts"], strict=True)
        )
        detail = (
            f"{s['dataset']}: {s['rows']:,} rows ({percent(float(s['share']))}) in "
            f"{s['groups']:,} groups have identical features but different {actual} "
            f"(largest group: {example})."
        )
        out.append(
            _finding(
                check,
                actual,
                severity,
                detail,
                dataset=str(s["dataset"]),
                count=int(s["rows"]),
                share=float(s["share"]),
                values=top["labels"],
                counts=top["counts"],
            )
        )
    return out


def _broken_dependency(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    deps = ctx.labels.dependencies
    n = len(ctx.analysis.production_frame)
    out = []
    for (key, dep), rows in deps.groupby(["key", "dependent"], sort=False):
        count = int(rows["conflict_rows"].sum())
        severity = check.grade(count / n)
        if severity is None:
            continue
        first = rows.iloc[0]
        carried = ", ".join(
            f"{v} {c:,}" for v, c in zip(first["values"], first["counts"], strict=True)
        )
        keys = "1 value" if len(rows) == 1 else f"{len(rows)} values"
        detail = (
            f"{key} -> {dep}: in the baseline each {key} has one {dep}, but in "
            f"production {keys} of {key} carry another or several "
            f"({first['key_value']}: {carried}); {count:,} rows conflict."
        )
        out.append(
            _finding(
                check,
                str(dep),
                severity,
                detail,
                count=count,
                share=count / n,
                values=rows["key_value"].tolist(),
                counts=rows["conflict_rows"].tolist(),
            )
        )
    return out


def _biased_actuals(ctx: _Context, check: QualityCheck) -> list[dict[str, Any]]:
    from tracing.selection import actuals_coverage  # drift tests run only with partial actuals

    coverage = actuals_coverage(ctx.analysis)
    actual = ctx.analysis.schema.roles.actual_label
    if coverage is None or not coverage.biased or not actual:
        return []
    # The measure: 2 for a class without actuals or an alerting column, 1 for the rest.
    severity = check.grade(2.0 if coverage.severity is Severity.ALERT else 1.0)
    if severity is None:
        return []
    values = [*coverage.uncovered, *coverage.undercovered, *coverage.drifted["feature"]]
    return [
        _finding(
            check,
            actual,
            severity,
            coverage.sentence(),
            count=coverage.with_actuals,
            share=coverage.share,
            values=values[:_MAX_VALUES],
        )
    ]


_REGISTRY: tuple[QualityCheck, ...] = (
    QualityCheck(
        id="missing_rate",
        name="Missing values",
        measure="rise in the share of missing values (points)",
        info=None,
        warn=0.01,
        alert=0.1,
        run=_missing_rate,
        description="The share of missing values changed (significant at 1%).",
    ),
    QualityCheck(
        id="new_category",
        name="New categories",
        measure="share of production rows with values absent from the baseline",
        info=0.0,
        warn=0.01,
        alert=0.05,
        run=_new_category,
        description="Production has values the model never saw in the baseline.",
    ),
    QualityCheck(
        id="vanished_category",
        name="Vanished categories",
        measure="share of baseline rows whose value never occurs in production",
        info=0.0,
        warn=0.05,
        alert=0.2,
        run=_vanished_category,
        description="A frequent baseline value disappeared from production.",
    ),
    QualityCheck(
        id="out_of_range",
        name="Out of range",
        measure="share of production rows outside the baseline's [min, max]",
        info=0.001,
        warn=0.01,
        alert=0.05,
        run=_out_of_range,
        description="Numbers outside anything the model saw in the baseline.",
    ),
    QualityCheck(
        id="type_mismatch",
        name="Type mismatch",
        measure="share of rows of the odd type",
        info=0.0,
        warn=0.001,
        alert=0.05,
        run=_type_mismatch,
        description="Text in a numeric column, or mixed value types.",
    ),
    QualityCheck(
        id="constant",
        name="Constant column",
        measure="1 if the column varied in the baseline, else 0",
        info=0.0,
        warn=1.0,
        alert=None,
        run=_constant,
        description="A single value (or none) in production.",
    ),
    QualityCheck(
        id="duplicate_id",
        name="Duplicate prediction ids",
        measure="share of rows with a repeated id",
        info=None,
        warn=0.0,
        alert=0.01,
        run=_duplicate_id,
        description="Prediction ids repeated in a dataset or shared by both.",
    ),
    QualityCheck(
        id="label_conflict",
        name="Conflicting labels",
        measure="share of rows in groups of identical features with different actuals",
        info=0.0,
        warn=0.005,
        alert=0.02,
        run=_label_conflict,
        description="Identical feature rows with different actuals (classification).",
    ),
    QualityCheck(
        id="biased_actuals",
        name="Biased actuals",
        measure="1 when the rows with actuals differ from the rest, 2 when a predicted class "
        "has none or a column differs at the alert level",
        info=None,
        warn=1.0,
        alert=2.0,
        run=_biased_actuals,
        description=(
            "Only part of production has actuals, and those rows are a selected subset "
            "(by predicted class or along a column): the metrics describe that subset."
        ),
    ),
    QualityCheck(
        id="broken_dependency",
        name="Broken dependency",
        measure="share of production rows whose value breaks a baseline dependency",
        info=0.0,
        warn=0.0,
        alert=0.01,
        run=_broken_dependency,
        description=(
            "A column determined another in the baseline (zip -> city) but not in production."
        ),
    ),
)

QUALITY_CHECKS: dict[str, QualityCheck] = {c.id: c for c in _REGISTRY}


def checked_columns(analysis: Analysis) -> list[str]:
    """Columns checked by default: features, tags, prediction, score(s) and actual."""
    return list(drift_columns(analysis))


@per_analysis
def quality_checks(
    analysis: Analysis,
    *,
    columns: Sequence[str] | None = None,
    checks: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run the data-quality checks and return every finding, most severe first.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    columns : sequence of str, optional
        Columns to check (default: `checked_columns`). ``duplicate_id`` always looks at the
        prediction id column; the label checks at the features and the actual.
    checks : sequence of str, optional
        Check ids to run (default: all of `QUALITY_CHECKS`).

    Returns
    -------
    DataFrame
        One row per finding. Columns: ``check`` (id), ``feature`` (column; the id column for
        ``duplicate_id``), ``dataset`` (production / baseline / both), ``severity`` (info /
        warn / alert), ``detail`` (one sentence with the numbers), ``count`` (rows affected),
        ``share`` (of the dataset's rows), ``baseline_share`` (the same measure in the
        baseline, when it has one), ``values`` and ``counts`` (examples: new categories with
        their row counts, the out-of-range extremes, repeated ids...).

    Raises
    ------
    DataError
        Unknown check id or column.

    Examples
    --------
    >>> from tracing import prepare_analysis, read_table
    >>> a = prepare_analysis(read_table("demo_data/fraud_training.parquet"),
    ...                      read_table("demo_data/fraud_production.parquet"))
    >>> q = quality_checks(a)
    >>> q.iloc[0][["check", "feature", "values"]].tolist()
    ['new_category', 'merchant_id', ['scammeds.com']]
    """
    chosen = list(checks) if checks is not None else list(QUALITY_CHECKS)
    unknown = [c for c in chosen if c not in QUALITY_CHECKS]
    if unknown:
        raise DataError(
            f"unknown quality check {quoted(unknown[0])}; choose from: "
            f"{', '.join(QUALITY_CHECKS)}."
        )
    cols = checked_columns(analysis) if columns is None else list(columns)
    shared = set(analysis.baseline_frame.columns) & set(analysis.production_frame.columns)
    missing = [c for c in cols if c not in shared]
    if missing:
        raise DataError(
            f"column {quoted(missing[0])} is not in both datasets; choose from: "
            f"{', '.join(checked_columns(analysis))}."
        )
    ctx = _Context(analysis, cols)
    rows = [f for c in chosen for f in QUALITY_CHECKS[c].run(ctx, QUALITY_CHECKS[c])]
    table = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    if table.empty:
        return table.astype({"count": "int64", "share": float, "baseline_share": float})
    rank = -table["severity"].map(lambda s: Severity(s).rank)
    order = np.lexsort((-table["share"].fillna(0).to_numpy(), rank.to_numpy()))
    return table.iloc[order].reset_index(drop=True)
