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

Checks decide from *facts*, never from rows: `Facts` (row counts, the checked columns'
`ColumnFacts`, repeated ids, label conflicts, actuals coverage) are counts, extremes and value
counts that the in-memory path computes from the frames (lazily, `_Column`) and a SQL engine
computes with a few aggregate queries (`tracing.engine_quality`). `run_checks` grades either
with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

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

if TYPE_CHECKING:
    from tracing.schema import Schema
    from tracing.selection import ActualsCoverage

__all__ = [
    "FINDING_COLUMNS",
    "QUALITY_CHECKS",
    "QUALITY_SEVERITIES",
    "ColumnFacts",
    "Facts",
    "IdFacts",
    "QualityCheck",
    "RepeatedIds",
    "ValueSet",
    "absent_values",
    "checked_columns",
    "findings_table",
    "quality_checks",
    "run_checks",
    "share_change_p_value",
    "validate",
    "value_set",
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
        ``(facts, check) -> list of findings`` (dicts with the `quality_checks` columns);
        it reads `Facts` only, so the in-memory and the SQL paths grade alike.
    description : str
        One line for docs and tooltips.
    """

    id: str
    name: str
    measure: str
    info: float | None
    warn: float | None
    alert: float | None
    run: Callable[[Facts, QualityCheck], list[dict[str, Any]]]
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


@dataclass(frozen=True)
class ValueSet:
    """Values a check picked from one column (new or vanished categories), most rows first.

    Attributes
    ----------
    values, counts : tuple
        The `_MAX_VALUES` values occupying the most rows, with their row counts.
    n_values : int
        How many values were picked in all.
    rows : int
        The rows all of them occupy.
    """

    values: tuple[Any, ...] = ()
    counts: tuple[int, ...] = ()
    n_values: int = 0
    rows: int = 0


@dataclass(frozen=True)
class RepeatedIds:
    """Ids repeated within one dataset.

    Attributes
    ----------
    rows : int
        Rows whose (non-missing) id occurs more than once.
    ids : int
        Distinct repeated ids.
    values, counts : tuple
        The `_MAX_VALUES` most repeated ids and their row counts.
    """

    rows: int = 0
    ids: int = 0
    values: tuple[Any, ...] = ()
    counts: tuple[int, ...] = ()


@dataclass(frozen=True)
class IdFacts:
    """What ``duplicate_id`` decides from: repeats per dataset, ids shared by both.

    Attributes
    ----------
    column : str
        The prediction id column.
    repeated : (RepeatedIds, RepeatedIds)
        Baseline and production.
    shared : int
        Production rows whose id is also a baseline id.
    shared_values : tuple
        Up to `_MAX_VALUES` of those ids, distinct, smallest first.
    """

    column: str
    repeated: tuple[RepeatedIds, RepeatedIds]
    shared: int = 0
    shared_values: tuple[Any, ...] = ()


class ColumnFacts(Protocol):
    """What the per-column checks decide from, for one column on both sides.

    The in-memory path (`_Column`) computes each fact from the frames, lazily; a SQL engine
    (`tracing.engine_quality`) from a few aggregate queries. Side 0 is the baseline, 1
    production. Every check reads these facts only, so both paths grade by the same code.
    """

    @property
    def name(self) -> str:
        """The column."""
        ...

    @property
    def n(self) -> tuple[int, int]:
        """Rows per side."""
        ...

    @property
    def numeric(self) -> tuple[bool, bool]:
        """Whether each side holds numbers or times (`tracing.binning.is_numeric_column`)."""
        ...

    @property
    def datetime(self) -> bool:
        """Whether either side holds times."""
        ...

    @property
    def missing(self) -> tuple[int, int]:
        """Missing values per side (None, NaN)."""
        ...

    @property
    def baseline_distinct(self) -> int:
        """Distinct non-missing baseline values (asked for category columns only)."""
        ...

    @property
    def few_distinct(self) -> tuple[int, int]:
        """Distinct non-missing values per side, counted up to 2."""
        ...

    @property
    def single_value(self) -> Any:
        """Production's value, when it holds exactly one."""
        ...

    @property
    def baseline_range(self) -> tuple[float, float] | None:
        """Smallest and largest finite baseline value (None: none; asked when both numeric)."""
        ...

    @property
    def outside(self) -> tuple[int, float, float]:
        """Production values outside `baseline_range` (NaN skipped): count, lowest, highest."""
        ...

    def counts(self, side: int) -> pd.Series | None:
        """Rows per distinct non-missing value (None: not counted, too many values)."""
        ...

    def absent(self, side: int, min_count: int) -> ValueSet:
        """Values of ``side`` the other side never shows, held by at least ``min_count`` rows."""
        ...

    def kinds(self, side: int) -> pd.Series | None:
        """Rows per Python type of an object column, most first (None: one typed column)."""
        ...


class Facts(Protocol):
    """Everything the checks read: the schema, row counts, columns, ids, labels, coverage."""

    @property
    def schema(self) -> Schema:
        """Column roles, model type."""
        ...

    @property
    def rows(self) -> tuple[int, int]:
        """Rows per side."""
        ...

    @property
    def columns(self) -> Sequence[ColumnFacts]:
        """The checked columns."""
        ...

    @property
    def ids(self) -> IdFacts | None:
        """Repeated and shared prediction ids (None: no id column)."""
        ...

    @property
    def labels(self) -> LabelConflicts:
        """Label conflicts and broken dependencies (`tracing.labels`)."""
        ...

    @property
    def coverage(self) -> ActualsCoverage | None:
        """How production's actuals cover its rows (`tracing.selection.actuals_coverage`)."""
        ...


class _Column:
    """One column on both sides, in memory: each fact computed on first use."""

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
    def _counts(self) -> tuple[pd.Series, pd.Series]:
        """Value counts per side (missing left out), shared with drift's bins."""
        b, p = (_held(value_counts(self.analysis, side=s, column=self.name)) for s in _SIDES)
        return b, p

    def counts(self, side: int) -> pd.Series:
        return self._counts[side]

    def absent(self, side: int, min_count: int) -> ValueSet:
        return absent_values(self._counts[side], self._counts[1 - side], min_count)

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
    def baseline_distinct(self) -> int:
        return len(self._counts[0])

    @cached_property
    def few_distinct(self) -> tuple[int, int]:
        return self._n_distinct(0), self._n_distinct(1)

    def _n_distinct(self, side: int) -> int:
        """Distinct non-missing values, counted up to 2 (all the constant check needs)."""
        if self.floats[side] is not None:
            lo, hi = self.extremes[side]  # shared with out_of_range
            if math.isnan(lo):  # every value missing (or none)
                return 0
            return 1 if lo == hi else 2
        return min(len(self._counts[side]), 2)

    @property
    def single_value(self) -> Any:
        return self.sides[1].dropna().iloc[0]

    @cached_property
    def baseline_range(self) -> tuple[float, float] | None:
        base = self.floats[0]
        return None if base is None else _finite_range(base, self.extremes[0])

    @cached_property
    def outside(self) -> tuple[int, float, float]:
        prod, limits = self.floats[1], self.baseline_range
        if prod is None or limits is None:
            return 0, math.nan, math.nan
        lo, hi = limits
        with np.errstate(invalid="ignore"):
            # lo <= hi: the two sides never overlap, so the counts add up (no mask needed)
            count = int(np.count_nonzero(prod < lo)) + int(np.count_nonzero(prod > hi))
        if not count:
            return 0, math.nan, math.nan
        with np.errstate(invalid="ignore"):
            seen = prod[(prod < lo) | (prod > hi)]
        return count, float(seen.min()), float(seen.max())

    def kinds(self, side: int) -> pd.Series | None:
        if self.sides[side].dtype != object:
            return None
        counts = self._counts[side]
        kinds = pd.Series(counts.to_numpy(), index=[_type_name(v) for v in counts.index])
        return kinds.groupby(level=0).sum().sort_values(ascending=False)


def _held(counts: pd.Series) -> pd.Series:
    """Keep the values some row holds (a categorical's counts list unused categories too)."""
    empty = counts.to_numpy() == 0
    return counts[~empty] if empty.any() else counts


def absent_values(mine: pd.Series, other: pd.Series, min_count: int) -> ValueSet:
    """Return the values counted in ``mine`` but not in ``other``, held by ``min_count``+ rows."""
    return value_set(mine[~mine.index.isin(other.index) & (mine >= min_count).to_numpy()])


def value_set(found: pd.Series) -> ValueSet:
    """Return picked values with their row counts as a `ValueSet` (most rows first, stable)."""
    ordered = found.sort_values(ascending=False, kind="mergesort")
    top = ordered.head(_MAX_VALUES)
    return ValueSet(
        tuple(top.index.tolist()), tuple(int(c) for c in top), len(found), int(found.sum())
    )


class _Context:
    """The facts of an analysis in memory (`Facts`), each computed on first use."""

    def __init__(self, analysis: Analysis, columns: Sequence[str]) -> None:
        self.analysis = analysis
        self.schema = analysis.schema
        self.rows = (len(analysis.baseline_frame), len(analysis.production_frame))
        self.columns = [_Column(analysis, c) for c in columns]

    @cached_property
    def ids(self) -> IdFacts | None:
        return _id_facts(self.analysis)

    @cached_property
    def labels(self) -> LabelConflicts:
        return label_conflicts(self.analysis)

    @cached_property
    def coverage(self) -> ActualsCoverage | None:
        from tracing.selection import actuals_coverage  # drift tests run only with partial actuals

        return actuals_coverage(self.analysis)


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


def _missing_rate(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
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


def _categorical(col: ColumnFacts) -> bool:
    """Text/boolean/category on both sides (the category checks apply)."""
    return not any(col.numeric)


def _id_like(col: ColumnFacts) -> bool:
    n = col.n[0] - col.missing[0]
    return n > 0 and col.baseline_distinct > _ID_LIKE * n


def min_expected_rows(n_baseline: int, n_production: int) -> int:
    """Baseline rows a value needs to "expect" `_MIN_EXPECTED` production rows.

    The smallest count ``c`` with ``c / n_baseline * n_production >= 10``, evaluated as that
    very float expression, so a filter ``count >= c`` (in pandas or in SQL) picks exactly
    the values whose expected production count reaches 10.

    Examples
    --------
    >>> min_expected_rows(4000, 40), min_expected_rows(100, 100)
    (1000, 10)
    """
    if n_baseline <= 0 or n_production <= 0:
        return n_baseline + 1  # nothing is expected: no value can vanish
    c = max(1, math.ceil(_MIN_EXPECTED * n_baseline / n_production))
    while c > 1 and (c - 1) / n_baseline * n_production >= _MIN_EXPECTED:
        c -= 1
    while c / n_baseline * n_production < _MIN_EXPECTED:
        c += 1
    return c


def _new_category(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    return _category_change(ctx, check, side=1, what="never seen in the baseline")


def _vanished_category(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    return _category_change(
        ctx, check, side=0, what="of the baseline that never occur in production"
    )


def _category_change(
    ctx: Facts, check: QualityCheck, *, side: int, what: str
) -> list[dict[str, Any]]:
    """Report the values of ``side`` the other side lacks, graded by their share of ``side``.

    ``side`` is the dataset whose rows the values occupy (1: production, for new values; 0:
    the baseline, for vanished ones, which must have been expected in production); the other
    side's share is 0 by definition.
    """
    dataset = _SIDES[side]
    out = []
    for col in ctx.columns:
        if not _categorical(col) or _id_like(col):
            continue
        least = 1 if side == 1 else min_expected_rows(*col.n)
        found = col.absent(side, least)
        share = found.rows / col.n[side]
        severity = check.grade(share) if found.n_values else None
        if severity is None:
            continue
        listed = ", ".join(
            f"{value_text(v)} ({c:,} rows, {percent(c / col.n[side])})"
            for v, c in zip(found.values, found.counts, strict=True)
        )
        hidden = found.n_values - len(found.values)
        more = f" and {hidden} more" if hidden > 0 else ""
        noun = "value" if found.n_values == 1 else "values"
        detail = (
            f"{col.name} has {found.n_values} {noun} {what}, {percent(share)} of {dataset} "
            f"rows: {listed}{more}."
        )
        shares = (share, 0.0) if side == 0 else (0.0, share)
        out.append(
            _finding(
                check,
                col.name,
                severity,
                detail,
                count=found.rows if side == 1 else 0,
                share=shares[1],
                baseline_share=shares[0],
                values=found.values,
                counts=found.counts,
            )
        )
    return out


def _out_of_range(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        if not all(col.numeric) or col.datetime:
            continue
        limits = col.baseline_range
        if limits is None:
            continue
        lo, hi = limits
        count, low, high = col.outside
        share = count / col.n[1]
        severity = check.grade(share) if count else None
        if severity is None:
            continue
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


def _type_mismatch(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        if all(col.numeric):
            continue
        for side, dataset in enumerate(_SIDES):
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


def _text_in_numbers(col: ColumnFacts, side: int) -> tuple[int, str, list[Any]] | None:
    """Words in a column that is numeric on the other side or mostly numbers here."""
    if col.numeric[side]:
        return None
    counts = col.counts(side)
    if counts is None or counts.empty:  # None: too many values to count (an engine's sample)
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


def _mixed_types(col: ColumnFacts, side: int) -> tuple[int, str, list[Any]] | None:
    """Several Python types in one object column (a number-only mix is fine)."""
    by_type = col.kinds(side)
    if by_type is None or len(by_type) < 2 or set(by_type.index) <= {"int", "float"}:
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


def _constant(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    out = []
    for col in ctx.columns:
        distinct = col.few_distinct
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
        value = [] if distinct[1] == 0 else [col.single_value]
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


def _duplicate_id(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    ids = ctx.ids
    if ids is None:
        return []
    id_col = ids.column
    out = []
    for found, dataset, n in zip(ids.repeated, _SIDES, ctx.rows, strict=True):
        share = found.rows / n
        severity = check.grade(share) if found.rows else None
        if severity is None:
            continue
        detail = (
            f"{dataset}: {found.rows:,} rows ({percent(share)}) share {found.ids:,} "
            f"repeated {id_col} values (e.g. {quoted(found.values[0])} x{found.counts[0]})."
        )
        out.append(
            _finding(
                check,
                id_col,
                severity,
                detail,
                dataset=dataset,
                count=found.rows,
                share=share,
                values=found.values,
                counts=found.counts,
            )
        )
    if ids.shared:
        share = ids.shared / ctx.rows[1]
        severity = check.grade(share)
        if severity is not None:
            detail = (
                f"{ids.shared:,} production rows ({percent(share)}) reuse a {id_col} that is "
                "also in the baseline (the same predictions in both datasets?)."
            )
            out.append(
                _finding(
                    check,
                    id_col,
                    severity,
                    detail,
                    dataset="both",
                    count=ids.shared,
                    share=share,
                    values=ids.shared_values,
                )
            )
    return out


def _id_facts(analysis: Analysis) -> IdFacts | None:
    """Repeated and shared ids of an analysis in memory (sorted integer ids: no hashing)."""
    id_col = analysis.schema.roles.prediction_id
    if not id_col:
        return None
    sides = (analysis.baseline_frame[id_col], analysis.production_frame[id_col])
    ordered = [_sorted_ints(s) for s in sides]
    repeated = []
    for series, ids in zip(sides, ordered, strict=True):
        if ids is not None and not (ids[1:] == ids[:-1]).any():
            repeated.append(RepeatedIds())  # no id repeats, and no hashing to find out
            continue
        dup = series.duplicated(keep=False) & series.notna()
        top = series[dup].value_counts().head(_MAX_VALUES)
        repeated.append(
            RepeatedIds(
                int(dup.sum()),
                int(series[dup].nunique()),
                tuple(top.index.tolist()),
                tuple(int(c) for c in top),
            )
        )
    if _disjoint(*ordered):
        return IdFacts(id_col, (repeated[0], repeated[1]))
    both = sides[1][sides[1].isin(sides[0].dropna())]
    return IdFacts(id_col, (repeated[0], repeated[1]), len(both), _smallest(both.unique()))


def _smallest(values: Any) -> tuple[Any, ...]:
    """Return the `_MAX_VALUES` smallest distinct values (as they come, if they do not sort).

    Linear in the values (``heapq.nsmallest``, a numpy sort for numbers): every id may be
    shared.
    """
    import heapq

    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return tuple(np.sort(values)[:_MAX_VALUES].tolist())
    try:
        return tuple(heapq.nsmallest(_MAX_VALUES, values))
    except TypeError:  # ids of several types in one object column
        return tuple(list(values)[:_MAX_VALUES])


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


def _label_conflict(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    actual = ctx.schema.roles.actual_label
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


def _broken_dependency(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    deps = ctx.labels.dependencies
    n = ctx.rows[1]
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


def _biased_actuals(ctx: Facts, check: QualityCheck) -> list[dict[str, Any]]:
    coverage = ctx.coverage
    actual = ctx.schema.roles.actual_label
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
    chosen, cols = validate(analysis, columns=columns, checks=checks)
    return run_checks(_Context(analysis, cols), chosen)


def validate(
    analysis: Analysis,
    *,
    columns: Sequence[str] | None = None,
    checks: Sequence[str] | None = None,
    available: set[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Return the check ids and columns to run, as `quality_checks` takes them.

    ``available`` are the columns both sides have (default: the frames' columns; an engine
    passes its views' columns).

    Raises
    ------
    DataError
        Unknown check id or column.
    """
    chosen = list(checks) if checks is not None else list(QUALITY_CHECKS)
    unknown = [c for c in chosen if c not in QUALITY_CHECKS]
    if unknown:
        raise DataError(
            f"unknown quality check {quoted(unknown[0])}; choose from: "
            f"{', '.join(QUALITY_CHECKS)}."
        )
    cols = checked_columns(analysis) if columns is None else list(columns)
    if available is None:
        available = set(analysis.baseline_frame.columns) & set(analysis.production_frame.columns)
    missing = [c for c in cols if c not in available]
    if missing:
        raise DataError(
            f"column {quoted(missing[0])} is not in both datasets; choose from: "
            f"{', '.join(checked_columns(analysis))}."
        )
    return chosen, cols


def run_checks(facts: Facts, checks: Sequence[str]) -> pd.DataFrame:
    """Run the checks ``checks`` (ids) on ``facts``; their findings as `findings_table`."""
    return findings_table(
        [f for c in checks for f in QUALITY_CHECKS[c].run(facts, QUALITY_CHECKS[c])]
    )


def findings_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Return findings as the `quality_checks` table, most severe first (then largest share)."""
    table = pd.DataFrame(list(rows), columns=list(FINDING_COLUMNS))
    if table.empty:
        return table.astype({"count": "int64", "share": float, "baseline_share": float})
    rank = -table["severity"].map(lambda s: Severity(s).rank)
    order = np.lexsort((-table["share"].fillna(0).to_numpy(), rank.to_numpy()))
    return table.iloc[order].reset_index(drop=True)
