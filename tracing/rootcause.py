"""Root cause: a ranked list of suspects for the slices that pull performance down.

This module owns `root_cause` and the ``root_cause`` report section. It does not compute
anything new about the data: it combines the slice search (`tracing.slices`), drift
(`tracing.drift`), data quality (`tracing.quality`) and label conflicts (`tracing.labels`) into
suspects a product manager can read, each with one sentence and its numbers.

Suspects and scores
    Each top slice (by impact, folded slices left out: see ``explained_by`` in
    `tracing.slices`) has a weight ``w = impact / largest impact``. Every suspect gets
    ``score = weight * evidence`` in [0, 1]:

    ===============  ======================================================  ===============
    kind             what                                                    evidence
    ===============  ======================================================  ===============
    new category     a slice value absent from the baseline                  1.0
    label conflict   a broken dependency on a slice column                   0.9
    quality          missing values defining the slice; a quality finding    0.8 alert,
                     on a slice column                                        0.6 warn
    drift            a slice value whose share moved (1.5x or more)          0.5 to 0.9 by
                                                                              its PSI term
    drift            another column that shifted inside the slice            0.75 alert,
                                                                              0.55 warn
    slice            a slice value whose share did not move, in a slice      0.3 if worse
                     that got worse than in the baseline (concept drift)     than in the
                                                                              baseline, else
                                                                              0.1
    ===============  ======================================================  ===============

    Findings on columns outside the top slices (overall drift, quality, label conflicts) are
    listed too, with weight 0.25. Feature importance, when given, scales drift suspects by
    ``0.5 + 0.5 * importance / largest importance`` (a shift matters more in a feature the
    model leans on). A (feature, value) pair keeps its best-scoring suspect.

Noise
    The slice search looks at many slices, and a slice of 50 rows differs from the rest by
    chance; drift inside it too (PSI's bias is about ``(k - 1)(1/n_b + 1/n_p)`` for ``k``
    bins: 0.36 with 10 bins and 50 rows a side). So every claim is tested, and each family of
    tests gets a Benjamini-Hochberg correction at ``alpha`` (default 0.05,
    `scipy.stats.false_discovery_control`):

    - a top slice is explained only when its ``p_value`` (slice vs rest, from the slice
      search) passes, corrected over every slice of the table (a table without p-values, or a
      rank metric's NaN, is not gated);
    - a slice value's share change (new, missing, drift) is a two-proportion chi-square test
      (`tracing.quality.share_change_p_value`), and drift inside a slice is the chi-square
      (numeric columns: also KS, Bonferroni-combined) test of the slice vs the same slice in
      the baseline; one family holds all these drift tests. Inside a slice, numeric columns
      get one bin per 10 rows of the smaller side (at most 10) and rarer categories are
      pooled, and the effect size must still reach the drift ``warn`` level;
    - "worse than in the baseline" is a z-test of the slice's metric in production vs the
      baseline with delta-method variances (`tracing.compare.metric_variance`), one test per
      top slice in its own family.

    A value whose share change does not pass is a "slice" suspect. On data without a planted
    effect the summary is then empty or holds only weak suspects (tested on random data).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.analysis import Analysis, analysis_row_stats
from tracing.binning import MISSING
from tracing.codes import column_bins, column_codes
from tracing.drift import DriftResult, feature_drift, histogram
from tracing.errors import DataError
from tracing.labels import LabelConflicts, label_conflicts
from tracing.metrics import Metric, Prepared, get_metric, worse_by
from tracing.options import DriftOptions, RootCauseOptions
from tracing.quality import QUALITY_CHECKS, quality_checks, share_change_p_value
from tracing.slices import distinct_mask, needed_stats

# condition_text lives in tracing.textfmt; it stays importable from here (the app uses it).
from tracing.textfmt import condition_text, number, percent
from tracing.vocab import Severity, SuspectKind

__all__ = [
    "SUSPECT_COLUMNS",
    "condition_text",
    "headline_suspects",
    "root_cause",
]

logger = logging.getLogger(__name__)

SUSPECT_COLUMNS = ("rank", "feature", "value", "kind", "score", "explanation", "slice_id")
Mask = NDArray[np.bool_]

_UNLINKED = 0.25
_MIN_SLICE_ROWS = 30
_ROWS_PER_BIN = 10  # drift inside a slice: average rows per bin of the smaller side
_MAX_BINS = 10
_STABLE_WEAK = 0.1  # evidence of a stable value in a slice no worse than in the baseline
_SHARE_RATIO = 1.5
_LABEL_CHECKS = ("label_conflict", "broken_dependency")
_MAX_CANDIDATES = 50
_NESTED = 0.8
_EVIDENCE = {Severity.ALERT: 0.8, Severity.WARN: 0.6}
_INSIDE = {Severity.ALERT: 0.75, Severity.WARN: 0.55}
_OVERALL = {Severity.ALERT: 0.7, Severity.WARN: 0.5}


@dataclass(frozen=True)
class _Slice:
    """A top slice with the numbers every explanation quotes."""

    slice_id: str | None
    conditions: tuple[tuple[str, str], ...]
    weight: float
    mask_b: Mask
    mask_p: Mask
    metric: float
    rest: float
    baseline: float
    worse: bool = True  # significantly worse than the same slice in the baseline

    @property
    def text(self) -> str:
        return " & ".join(condition_text(f, v) for f, v in self.conditions)


class _Evidence:
    """Everything `root_cause` reads, computed once."""

    def __init__(
        self,
        analysis: Analysis,
        metric: Metric,
        drift: DriftResult,
        quality: pd.DataFrame,
        conflicts: LabelConflicts,
        importance: Mapping[str, float],
        bins: Mapping[str, Any] | None,
        alpha: float,
    ) -> None:
        self.analysis = analysis
        self.alpha = alpha
        self.bins = bins  # the slice engine's bins, when known: condition labels refer to them
        self.metric = metric
        self.drift = drift
        self.quality = quality
        self.conflicts = conflicts
        self.importance = importance

    def perf(self, s: _Slice, scope: bool = False) -> str:
        """``recall 0% [in <slice>] vs 80% elsewhere (94% in the baseline)``."""
        name = self.metric.name[0].lower() + self.metric.name[1:]
        where = f" in {s.text}" if scope else ""
        text = f"{name} {self.fmt(s.metric)}{where} vs {self.fmt(s.rest)} elsewhere"
        if not math.isnan(s.baseline):
            text += f" ({self.fmt(s.baseline)} in the baseline)"
        return text

    def fmt(self, value: float) -> str:
        return percent(value, digits=0) if self.metric.percent else number(value, digits=3)

    @cached_property
    def row_stats(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per-row sufficient statistics of (baseline, production), for variances."""
        return analysis_row_stats(self.analysis)

    def boost(self, feature: str) -> float:
        if not self.importance:
            return 1.0
        top = max(self.importance.values()) or 1.0
        return 0.5 + 0.5 * self.importance.get(feature, 0.0) / top


def root_cause(
    analysis: Analysis,
    *,
    slices: Any = None,
    drift: DriftResult | None = None,
    quality: pd.DataFrame | None = None,
    conflicts: LabelConflicts | None = None,
    importance: pd.DataFrame | Mapping[str, float] | None = None,
    top_slices: int = RootCauseOptions.top_slices,
    alpha: float = RootCauseOptions.alpha,
) -> pd.DataFrame:
    """Rank the suspects behind the slices that pull the metric down.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    slices : SliceResult, optional
        `tracing.slices.find_slices` output (anything with a ``table`` in its format; a
        ``bins`` mapping and a ``metric_id`` are used when present). Computed when omitted.
    drift : DriftResult, optional
        `tracing.drift.feature_drift` output; computed when omitted.
    quality : DataFrame, optional
        `tracing.quality.quality_checks` output; computed when omitted. Label checks in it are
        ignored (``conflicts`` covers them).
    conflicts : LabelConflicts, optional
        `tracing.labels.label_conflicts` output; computed when omitted.
    importance : DataFrame or mapping, optional
        Feature importance: a frame with ``feature`` and ``mean_abs_shap`` columns (or a
        mapping feature -> importance). Scales drift suspects (see the module docstring).
    top_slices : int, default 5
        How many top slices to explain.
    alpha : float, default 0.05
        False discovery rate of each family of tests (see "Noise" in the module docstring).

    Returns
    -------
    DataFrame
        One row per suspect, best first: ``rank`` (1, 2, ...), ``feature``, ``value`` (a
        slice value label, a bin or category, or None), ``kind`` (new category / drift /
        quality / label conflict / slice), ``score`` (0 to 1), ``explanation`` (one sentence
        with numbers) and ``slice_id`` (the slice it explains, or None).

    Examples
    --------
    >>> from tracing import prepare_analysis, read_table
    >>> a = prepare_analysis(read_table("demo_data/fraud_training.parquet"),
    ...                      read_table("demo_data/fraud_production.parquet"))
    >>> root_cause(a).iloc[0][["feature", "value", "kind"]].tolist()
    ['merchant_id', 'scammeds.com', 'new category']
    """
    if int(top_slices) < 0:
        raise DataError(f"top_slices must be 0 or more, got {top_slices}.")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be between 0 and 1 (a false discovery rate), got {alpha}.")
    if slices is None and analysis.has_actuals:  # slices rank performance: they need actuals
        slices = _find_slices(analysis)
    metric_id = getattr(slices, "metric_id", None) or analysis.metric.id
    ev = _Evidence(
        analysis,
        get_metric(str(metric_id), analysis.schema),
        feature_drift(analysis) if drift is None else drift,
        _without_labels(quality, analysis),
        label_conflicts(analysis) if conflicts is None else conflicts,
        _importance(importance),
        getattr(slices, "bins", None),
        float(alpha),
    )
    tops = _top_slices(ev, slices, int(top_slices))
    return _rank(_slice_suspects(ev, tops) + _findings(ev, tops))


def _find_slices(analysis: Analysis) -> Any:
    try:
        from tracing.slices import find_slices
    except ImportError:  # the slice engine is optional for this module
        logger.warning("tracing.slices is unavailable; root cause without slices")
        return None
    return find_slices(analysis)


def _without_labels(quality: pd.DataFrame | None, analysis: Analysis) -> pd.DataFrame:
    if quality is None:
        checks = [c for c in QUALITY_CHECKS if c not in _LABEL_CHECKS]
        return quality_checks(analysis, checks=checks)
    return quality[~quality["check"].isin(_LABEL_CHECKS)]


def _importance(importance: pd.DataFrame | Mapping[str, float] | None) -> dict[str, float]:
    if importance is None:
        return {}
    if isinstance(importance, pd.DataFrame):
        if not {"feature", "mean_abs_shap"} <= set(importance.columns):
            raise DataError(
                "importance needs the columns 'feature' and 'mean_abs_shap'; got "
                f"{', '.join(map(str, importance.columns))}."
            )
        pairs = zip(importance["feature"], importance["mean_abs_shap"], strict=True)
        return {str(f): float(v) for f, v in pairs}
    return {str(f): float(v) for f, v in importance.items()}


# ---------------------------------------------------------------------------------------------
# Top slices, their rows and metrics


def _top_slices(ev: _Evidence, slices: Any, top: int) -> list[_Slice]:
    """Pick the top slices by impact: significant, not folded, not near-copies of chosen ones."""
    table = getattr(slices, "table", None)
    if table is None or table.empty or top == 0:
        return []
    tried = getattr(slices, "search", {}).get("single_slices", 0)
    # q-values over every ranked slice (the family tested), then only the distinct findings:
    # the same slices the Slices page and the reports list.
    table = table.assign(_q=_slice_q_values(table, int(tried)))
    if "explained_by" in table.columns:
        table = table[distinct_mask(table["conditions"], table["explained_by"])]
    ranked = table[(table["impact"] > 0) & ~(table["_q"] > ev.alpha)]
    ranked = ranked.sort_values("impact", ascending=False, kind="mergesort")
    if ranked.empty:
        return []
    largest = float(ranked["impact"].iloc[0])
    a = ev.analysis
    chosen: list[_Slice] = []
    for _, row in ranked.head(_MAX_CANDIDATES).iterrows():
        conditions = tuple((str(f), str(v)) for f, v in row["conditions"])
        mask_p = _mask(ev, a.production_frame, conditions)
        if any((mask_p & s.mask_p).sum() >= _NESTED * mask_p.sum() for s in chosen):
            continue  # mostly the rows of a slice already explained
        mask_b = _mask(ev, a.baseline_frame, conditions)
        chosen.append(
            _Slice(
                slice_id=None if row.get("slice_id") is None else str(row["slice_id"]),
                conditions=conditions,
                weight=float(row["impact"]) / largest,
                mask_b=mask_b,
                mask_p=mask_p,
                metric=_metric(ev, 1, mask_p),
                rest=_metric(ev, 1, ~mask_p),
                baseline=_metric(ev, 0, mask_b),
            )
        )
        if len(chosen) == top:
            break
    # not judged (NaN) counts as worse: the evidence the summary had before the test
    worse = ~(_bh([_worse_p_value(ev, s) for s in chosen]) > ev.alpha)
    return [replace(s, worse=bool(w)) for s, w in zip(chosen, worse, strict=True)]


def _slice_q_values(table: pd.DataFrame, tried: int) -> NDArray[np.float64]:
    """Corrected slice-vs-rest p-values of the table's slices (NaN: untested).

    The search picked them among many: the family holds the table's slices and at least
    ``tried`` (the one-condition slices it could rank), the slices not listed counting as
    p = 1.
    """
    if "p_value" not in table.columns:
        return np.full(len(table), np.nan)
    p = table["p_value"].to_numpy(dtype=float)
    padding = np.ones(max(0, tried - int(np.isfinite(p).sum())))
    return _bh(np.r_[p, padding])[: len(p)]


def _bh(p_values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values of the finite entries; NaN stays NaN."""
    from scipy import stats  # scipy loads only when root cause runs

    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    tested = np.isfinite(p)
    if tested.any():
        out[tested] = stats.false_discovery_control(np.clip(p[tested], 0.0, 1.0), method="bh")
    return out


def _worse_p_value(ev: _Evidence, s: _Slice) -> float:
    """Two-sided p-value that the slice got worse than in the baseline (1.0 if it got better).

    A z-test on the metric of the slice's rows on each side, with delta-method variances;
    NaN when it cannot be computed (rank metrics, too few rows), so the slice is not judged.
    """
    from scipy import stats

    from tracing.compare import metric_variance

    m, a = ev.metric, ev.analysis
    if not m.additive or np.isnan(s.baseline) or np.isnan(s.metric):
        return math.nan
    value_p, var_p = metric_variance(m, _subset(a.production, s.mask_p), ev.row_stats[1])
    value_b, var_b = metric_variance(m, _subset(a.baseline, s.mask_b), ev.row_stats[0])
    if worse_by(value_p, value_b, m.direction) <= 0:
        return 1.0
    se = math.sqrt(var_p + var_b)
    if not math.isfinite(se):
        return math.nan
    return 0.0 if se == 0 else float(2 * stats.norm.sf(abs(value_p - value_b) / se))


def _mask(ev: _Evidence, frame: pd.DataFrame, conditions: Sequence[tuple[str, str]]) -> Mask:
    """Rows of ``frame`` meeting every condition, with the slice engine's bins if known."""
    if ev.bins is not None and all(f in ev.bins for f, _ in conditions):
        from tracing.slices import slice_mask

        return np.asarray(slice_mask(frame, conditions, ev.bins), dtype=bool)
    mask = np.ones(len(frame), dtype=bool)
    for feature, label in conditions:
        mask &= _value_mask(ev.analysis, frame, feature, label)
    return mask


def _value_mask(analysis: Analysis, frame: pd.DataFrame, feature: str, label: str) -> Mask:
    """Rows whose bin (default `fit_bins`, fitted once) or raw text equals a value label."""
    fitted = column_bins(analysis.baseline_frame, analysis.production_frame, feature)
    if label in fitted.labels:
        return np.asarray(
            column_codes(frame, feature, fitted) == fitted.labels.index(label), dtype=bool
        )
    return (frame[feature].astype(str) == label).to_numpy(dtype=bool)


def _metric(ev: _Evidence, side: int, mask: Mask) -> float:
    """Return the metric on the rows of ``mask`` of one side (0 baseline, 1 production).

    Additive metrics sum the side's per-row statistics (computed once) over the mask: the same
    values `Metric.compute` sums on the subset, where rows outside it count zero.
    """
    metric = ev.metric
    prepared = (ev.analysis.baseline, ev.analysis.production)[side]
    if not (prepared.valid & mask).any():
        return math.nan
    if metric.exact is not None:
        return float(metric.compute(_subset(prepared, mask)))
    stats = ev.row_stats[side]
    used = needed_stats(metric, [str(c) for c in stats.columns])
    sums = {c: np.where(mask, stats[c].to_numpy(), 0.0).sum() for c in used}
    return float(metric.from_stats(sums))


def _subset(prepared: Prepared, mask: Mask) -> Prepared:
    return replace(prepared, valid=prepared.valid & mask)


# ---------------------------------------------------------------------------------------------
# Suspects


def _suspect(
    feature: str, value: Any, kind: SuspectKind, score: float, explanation: str, s: _Slice | None
) -> dict[str, Any]:
    return {
        "feature": feature,
        "value": value,
        "kind": kind,
        "score": float(score),
        "explanation": explanation,
        "slice_id": None if s is None else s.slice_id,
    }


def _slice_suspects(ev: _Evidence, tops: Sequence[_Slice]) -> list[dict[str, Any]]:
    """Suspects of the top slices: their values, and columns that moved inside them.

    Every drift claim (a value's share, a column inside a slice) is one test of one family,
    corrected together (see "Noise" in the module docstring).
    """
    values = [_Share.of(ev, s, f, v) for s in tops for f, v in s.conditions]
    inside = [t for s in tops for t in _inside_tests(ev, s)]
    q = _bh([v.p_value for v in values] + [t.p_value for t in inside])
    k = len(values)
    found = [v.suspect(ev, bool(qv <= ev.alpha)) for v, qv in zip(values, q[:k], strict=True)]
    for test, qv in zip(inside, q[k:], strict=True):
        suspect = test.suspect(ev) if qv <= ev.alpha else None
        if suspect is not None:
            found.append(suspect)
    return found


@dataclass(frozen=True)
class _Share:
    """A value that defines a slice, with its share on each side and the test of the change."""

    slice: _Slice
    feature: str
    value: str
    counts: tuple[int, int]  # rows with the value: baseline, production
    n: tuple[int, int]
    p_value: float
    alone: bool  # the value alone selects the slice's production rows

    @classmethod
    def of(cls, ev: _Evidence, s: _Slice, feature: str, value: str) -> _Share:
        a = ev.analysis
        in_b = _mask(ev, a.baseline_frame, [(feature, value)])
        in_p = _mask(ev, a.production_frame, [(feature, value)])
        kb, kp, nb, np_ = int(in_b.sum()), int(in_p.sum()), len(in_b), len(in_p)
        p_value = share_change_p_value(kb, nb, kp, np_)
        alone = bool(np.array_equal(in_p, s.mask_p))
        return cls(s, feature, value, (kb, kp), (nb, np_), p_value, alone)

    def suspect(self, ev: _Evidence, moved: bool) -> dict[str, Any]:
        """Explain the value: new, missing, shifted (when ``moved`` passed), or just worse."""
        s, feature, value = self.slice, self.feature, self.value
        (kb, kp), (nb, np_) = self.counts, self.n
        b, p = kb / nb, kp / np_
        perf = ev.perf(s, scope=not self.alone)
        head = condition_text(feature, value)
        share = f"{percent(p, digits=0)} of production rows vs {percent(b, digits=0)}"
        if moved and value == MISSING and p > b:
            text = f"{feature} is missing in {share} in the baseline; {perf}."
            return _suspect(
                feature, value, SuspectKind.QUALITY, s.weight * _EVIDENCE[Severity.ALERT], text, s
            )
        if moved and kb == 0 and kp > 0:
            text = (
                f"{head}: {percent(p, digits=0)} of production volume, absent from the "
                f"baseline; {perf}."
            )
            return _suspect(feature, value, SuspectKind.NEW_CATEGORY, s.weight, text, s)
        term = _psi_term(kb, nb, kp, np_)
        ratio = (p / b) if b > 0 else math.inf
        if moved and (ratio >= _SHARE_RATIO or ratio <= 1 / _SHARE_RATIO) and term >= 0.01:
            evidence = 0.5 + 0.4 * min(1.0, term / 0.25)
            text = f"{head}: {share} in the baseline; {perf}."
            return _suspect(feature, value, SuspectKind.DRIFT, s.weight * evidence, text, s)
        text = (
            f"{head}: a stable share ({percent(b, digits=0)} of baseline rows, "
            f"{percent(p, digits=0)} of production) but {perf}."
        )
        evidence = 0.3 if s.worse else _STABLE_WEAK
        return _suspect(feature, value, SuspectKind.SLICE, s.weight * evidence, text, s)


def _psi_term(kb: int, nb: int, kp: int, np_: int) -> float:
    """One bin's PSI contribution, with the smoothing of `tracing.drift`."""
    b, p = (kb + 0.5) / (nb + 1.0), (kp + 0.5) / (np_ + 1.0)
    return float((p - b) * np.log(p / b))


@dataclass(frozen=True)
class _Inside:
    """Drift of one column inside a slice (the slice vs the same slice in the baseline)."""

    slice: _Slice
    row: Any  # the `feature_drift` row
    bins: int
    min_share: float
    p_value: float

    def suspect(self, ev: _Evidence) -> dict[str, Any] | None:
        """Return the suspect (its test passed) if the shift is large enough to matter."""
        s, row = self.slice, self.row
        if not row.drifted:
            return None
        feature = str(row.feature)
        value, b, p = _moved_bin(ev, feature, s.mask_b, s.mask_p, self.bins, self.min_share)
        score = s.weight * _INSIDE[Severity(str(row.severity))] * ev.boost(feature)
        text = (
            f"Inside {s.text}, {feature} shifted (PSI {row.psi:.2f}): "
            f"{condition_text(feature, value)} went from {percent(b, digits=0)} to "
            f"{percent(p, digits=0)} of the slice's rows; {ev.perf(s)}."
        )
        return _suspect(feature, value, SuspectKind.DRIFT, score, text, s)


def _inside_tests(ev: _Evidence, s: _Slice) -> list[_Inside]:
    """Test every other column inside the slice, with bins its row counts support."""
    n = min(int(s.mask_b.sum()), int(s.mask_p.sum()))
    if n < _MIN_SLICE_ROWS:
        return []
    own = {f for f, _ in s.conditions}
    columns = [c for c in ev.analysis.schema.roles.slice_columns() if c not in own]
    if not columns:
        return []
    bins = max(2, min(_MAX_BINS, n // _ROWS_PER_BIN))
    min_share = max(0.01, _ROWS_PER_BIN / n)  # rarer categories pooled into "(other)"
    table = feature_drift(
        ev.analysis,
        columns=columns,
        mask_baseline=s.mask_b,
        mask_production=s.mask_p,
        bins=bins,
        min_share=min_share,
        alpha=None,  # significance is judged here, over the whole family
    ).table
    return [
        _Inside(s, row, bins, min_share, _column_p_value(row))
        for row in table.itertuples(index=False)
    ]


def _column_p_value(row: Any) -> float:
    """Combine the chi-square p-value (and KS for numeric columns) by Bonferroni."""
    tested = [v for v in (row.chi2_p_value, row.ks_p_value) if not math.isnan(v)]
    return min(1.0, len(tested) * min(tested)) if tested else math.nan


def _moved_bin(
    ev: _Evidence,
    feature: str,
    mask_b: Mask | None = None,
    mask_p: Mask | None = None,
    bins: int = DriftOptions.bins,
    min_share: float = DriftOptions.min_share,
) -> tuple[str, float, float]:
    """Find the bin whose share changed most: (label, baseline share, production share)."""
    h = histogram(
        ev.analysis,
        feature,
        mask_baseline=mask_b,
        mask_production=mask_p,
        bins=bins,
        min_share=min_share,
    )
    moved = (h["share_production"] - h["share_baseline"]).abs().to_numpy()
    row = h.iloc[int(np.argmax(moved))]
    return str(row["bin"]), float(row["share_baseline"]), float(row["share_production"])


def _findings(ev: _Evidence, tops: Sequence[_Slice]) -> list[dict[str, Any]]:
    """Overall drift, quality and label findings, weighted by the slices they touch."""

    def link(*features: str) -> tuple[float, _Slice | None]:
        touching = [s for s in tops if any(f in features for f, _ in s.conditions)]
        best = max(touching, key=lambda s: s.weight, default=None)
        return (best.weight, best) if best else (_UNLINKED, None)

    out = []
    features = set(ev.analysis.schema.roles.slice_columns())
    drifted = ev.drift.table[ev.drift.table["drifted"] & ev.drift.table["feature"].isin(features)]
    missing_rate = set(ev.quality.loc[ev.quality["check"] == "missing_rate", "feature"])
    for row in drifted.itertuples(index=False):
        feature = str(row.feature)
        weight, s = link(feature)
        value, b, p = _moved_bin(ev, feature)
        if value == MISSING and feature in missing_rate:
            continue  # the missing-rate finding says it better
        text = (
            f"{feature} drifted (PSI {row.psi:.2f}): {condition_text(feature, value)} went "
            f"from {b:.0%} of baseline rows to {p:.0%} of production rows."
        )
        score = weight * _OVERALL[Severity(str(row.severity))] * ev.boost(feature)
        out.append(_suspect(feature, value, SuspectKind.DRIFT, score, text, s))
    serious = ev.quality[ev.quality["severity"].isin(list(_EVIDENCE))]
    for q in map(_str_keys, serious.to_dict(orient="records")):
        weight, s = link(str(q["feature"]))
        score = weight * _EVIDENCE[Severity(str(q["severity"]))]
        kind = SuspectKind.NEW_CATEGORY if q["check"] == "new_category" else SuspectKind.QUALITY
        out.append(_suspect(str(q["feature"]), _finding_value(q), kind, score, q["detail"], s))
    return out + _label_suspects(ev, link)


def _str_keys(record: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in record.items()}


def _finding_value(finding: Mapping[str, Any]) -> Any:
    """Return the value a quality finding is about: a category, ``(missing)``, or None."""
    values = finding["values"]
    if finding["check"] in ("new_category", "vanished_category") and len(values):
        return values[0]
    return MISSING if finding["check"] == "missing_rate" else None


def _label_suspects(ev: _Evidence, link: Any) -> list[dict[str, Any]]:
    out = []
    actual = ev.analysis.schema.roles.actual_label
    for row in ev.conflicts.summary.to_dict(orient="records"):
        if row["dataset"] != "production" or not row["groups"] or not actual:
            continue
        text = (
            f"{row['rows']:,} production rows ({row['share']:.1%}) share identical "
            f"features but have different {actual} values, in {row['groups']:,} groups."
        )
        evidence = 0.7 if row["share"] >= 0.005 else 0.4
        out.append(
            _suspect(actual, None, SuspectKind.LABEL_CONFLICT, _UNLINKED * evidence, text, None)
        )
    for dep in ev.conflicts.dependencies.to_dict(orient="records"):
        weight, s = link(str(dep["key"]), str(dep["dependent"]))
        pairs = zip(dep["values"], dep["counts"], strict=True)
        carried = ", ".join(f"{v} {c:,} rows" for v, c in pairs)
        before = (
            ""
            if pd.isna(dep["baseline_value"])
            else f"; the baseline always had {dep['baseline_value']}"
        )
        text = (
            f"{dep['key']} = {dep['key_value']} carries {len(dep['values'])} "
            f"{dep['dependent']} values in production ({carried}){before}."
        )
        out.append(
            _suspect(
                str(dep["dependent"]),
                dep["key_value"],
                SuspectKind.LABEL_CONFLICT,
                weight * 0.9,
                text,
                s,
            )
        )
    return out


_KIND_ORDER = tuple(SuspectKind)  # display order of equal scores


def _rank(suspects: list[dict[str, Any]]) -> pd.DataFrame:
    if not suspects:
        return pd.DataFrame(columns=list(SUSPECT_COLUMNS))
    # Object columns keep None as None (a str column would turn it into NaN).
    table = pd.DataFrame({
        c: pd.Series([s[c] for s in suspects], dtype=float if c == "score" else object)
        for c in SUSPECT_COLUMNS if c != "rank"
    })  # fmt: skip
    table["_kind"] = table["kind"].map(_KIND_ORDER.index)
    table["_value"] = table["value"].map(lambda v: None if v is None else str(v))
    table = table.sort_values(["score", "_kind"], ascending=[False, True], kind="mergesort")
    table = table.drop_duplicates(["feature", "_value"], keep="first")
    table = table.drop(columns=["_kind", "_value"]).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def headline_suspects(suspects: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Return the ``n`` strongest suspects that are distinct findings, for a summary.

    One suspect per feature and kind: ``temp >= 73.04`` and ``temp >= 75.02`` drifting are one
    finding about ``temp`` (shown at its strongest), as neighbouring cut points are one slice
    finding (`tracing.slices`). The full ranking keeps every suspect.
    """
    first = ~suspects.duplicated(subset=["feature", "kind"], keep="first")
    return suspects[first].head(n)
