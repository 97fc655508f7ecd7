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
    slice            a slice value whose share did not move (the model got   0.3
                     worse there: concept drift)
    ===============  ======================================================  ===============

    Findings on columns outside the top slices (overall drift, quality, label conflicts) are
    listed too, with weight 0.25. Feature importance, when given, scales drift suspects by
    ``0.5 + 0.5 * importance / largest importance`` (a shift matters more in a feature the
    model leans on). A (feature, value) pair keeps its best-scoring suspect.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.analysis import Analysis
from tracing.binning import MISSING, fit_bins
from tracing.drift import DriftResult, feature_drift, histogram
from tracing.errors import DataError
from tracing.labels import LabelConflicts, label_conflicts
from tracing.metrics import Metric, Prepared, get_metric
from tracing.quality import QUALITY_CHECKS, quality_checks

__all__ = [
    "SUSPECT_COLUMNS",
    "condition_text",
    "markdown_section",
    "report_section",
    "root_cause",
]

logger = logging.getLogger(__name__)

SUSPECT_COLUMNS = ("rank", "feature", "value", "kind", "score", "explanation", "slice_id")
Mask = NDArray[np.bool_]

_UNLINKED = 0.25
_MIN_SLICE_ROWS = 30
_SHARE_RATIO = 1.5
_LABEL_CHECKS = ("label_conflict", "broken_dependency")
_MAX_CANDIDATES = 50
_NESTED = 0.8
_EVIDENCE = {"alert": 0.8, "warn": 0.6}
_INSIDE = {"alert": 0.75, "warn": 0.55}
_OVERALL = {"alert": 0.7, "warn": 0.5}


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
    ) -> None:
        self.analysis = analysis
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
        if math.isnan(value):
            return "n/a"
        return f"{value:.0%}" if self.metric.percent else f"{value:.3g}"

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
    top_slices: int = 5,
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
        raise DataError(f"top_slices must be 0 or more, got {top_slices!r}.")
    slices = _find_slices(analysis) if slices is None else slices
    metric_id = getattr(slices, "metric_id", None) or analysis.metric.id
    ev = _Evidence(
        analysis,
        get_metric(str(metric_id), analysis.schema),
        feature_drift(analysis) if drift is None else drift,
        _without_labels(quality, analysis),
        label_conflicts(analysis) if conflicts is None else conflicts,
        _importance(importance),
        getattr(slices, "bins", None),
    )
    tops = _top_slices(ev, slices, int(top_slices))
    suspects: list[dict[str, Any]] = []
    for s in tops:
        suspects += [_condition(ev, s, f, v) for f, v in s.conditions]
        suspects += _inside(ev, s)
    suspects += _findings(ev, tops)
    return _rank(suspects)


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
    """Pick the top slices by impact, skipping folded ones and near-copies of chosen ones."""
    table = getattr(slices, "table", None)
    if table is None or table.empty or top == 0:
        return []
    ranked = table[table["impact"] > 0].sort_values("impact", ascending=False, kind="mergesort")
    if "explained_by" in ranked.columns:
        ranked = ranked[ranked["explained_by"].isna()]
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
                metric=_metric(ev.metric, a.production, mask_p),
                rest=_metric(ev.metric, a.production, ~mask_p),
                baseline=_metric(ev.metric, a.baseline, mask_b),
            )
        )
        if len(chosen) == top:
            break
    return chosen


def _mask(ev: _Evidence, frame: pd.DataFrame, conditions: Sequence[tuple[str, str]]) -> Mask:
    """Rows of ``frame`` meeting every condition, with the slice engine's bins if known."""
    if ev.bins is not None and all(f in ev.bins for f, _ in conditions):
        from tracing.slices import slice_mask

        return np.asarray(slice_mask(frame, conditions, ev.bins), dtype=bool)
    mask = np.ones(len(frame), dtype=bool)
    for feature, label in conditions:
        mask &= _value_mask(ev.analysis, frame[feature], feature, label)
    return mask


def _value_mask(analysis: Analysis, series: pd.Series, feature: str, label: str) -> Mask:
    """Rows whose bin (default `fit_bins`) or raw text equals a value label."""
    fitted = fit_bins(analysis.baseline_frame[feature], analysis.production_frame[feature])
    if label in fitted.labels:
        return np.asarray(fitted.codes(series) == fitted.labels.index(label), dtype=bool)
    return (series.astype(str) == label).to_numpy(dtype=bool)


def _metric(metric: Metric, prepared: Prepared, mask: Mask) -> float:
    if not (prepared.valid & mask).any():
        return math.nan
    return float(metric.compute(replace(prepared, valid=prepared.valid & mask)))


# ---------------------------------------------------------------------------------------------
# Suspects


def _suspect(
    feature: str, value: Any, kind: str, score: float, explanation: str, s: _Slice | None
) -> dict[str, Any]:
    return {
        "feature": feature,
        "value": value,
        "kind": kind,
        "score": float(score),
        "explanation": explanation,
        "slice_id": None if s is None else s.slice_id,
    }


def _condition(ev: _Evidence, s: _Slice, feature: str, value: str) -> dict[str, Any]:
    """Explain a value that defines the slice: new, missing, shifted, or just worse."""
    a = ev.analysis
    in_b = _mask(ev, a.baseline_frame, [(feature, value)])
    in_p = _mask(ev, a.production_frame, [(feature, value)])
    b, p = float(in_b.mean()), float(in_p.mean())
    perf = ev.perf(s, scope=not np.array_equal(in_p, s.mask_p))
    head = condition_text(feature, value)
    if value == MISSING and p > b:
        text = f"{feature} is missing in {p:.0%} of production rows vs {b:.0%} in the baseline; "
        return _suspect(
            feature, value, "quality", s.weight * _EVIDENCE["alert"], f"{text}{perf}.", s
        )
    if not in_b.any() and in_p.any():
        text = f"{head}: {p:.0%} of production volume, absent from the baseline; {perf}."
        return _suspect(feature, value, "new category", s.weight, text, s)
    term = _psi_term(int(in_b.sum()), len(in_b), int(in_p.sum()), len(in_p))
    ratio = (p / b) if b > 0 else math.inf
    if (ratio >= _SHARE_RATIO or ratio <= 1 / _SHARE_RATIO) and term >= 0.01:
        evidence = 0.5 + 0.4 * min(1.0, term / 0.25)
        text = f"{head}: {p:.0%} of production rows vs {b:.0%} in the baseline; {perf}."
        return _suspect(feature, value, "drift", s.weight * evidence, text, s)
    text = f"{head}: a stable share ({b:.0%} of baseline rows, {p:.0%} of production) but {perf}."
    return _suspect(feature, value, "slice", s.weight * 0.3, text, s)


def condition_text(feature: str, label: Any) -> str:
    """``state = CA``, ``amount >= 120``, ``amount in [10, 25)``: a condition for people."""
    label = str(label)
    if label.startswith(("<", ">=")):
        return f"{feature} {label}"
    if label.startswith("[") and label.endswith(")"):
        return f"{feature} in {label}"
    return f"{feature} = {label}"


def _psi_term(kb: int, nb: int, kp: int, np_: int) -> float:
    """One bin's PSI contribution, with the smoothing of `tracing.drift`."""
    b, p = (kb + 0.5) / (nb + 1.0), (kp + 0.5) / (np_ + 1.0)
    return float((p - b) * np.log(p / b))


def _inside(ev: _Evidence, s: _Slice) -> list[dict[str, Any]]:
    """Other columns whose distribution moved inside the slice (slice vs the same slice)."""
    if s.mask_b.sum() < _MIN_SLICE_ROWS or s.mask_p.sum() < _MIN_SLICE_ROWS:
        return []
    own = {f for f, _ in s.conditions}
    columns = [c for c in ev.analysis.schema.roles.slice_columns() if c not in own]
    if not columns:
        return []
    table = feature_drift(
        ev.analysis, columns=columns, mask_baseline=s.mask_b, mask_production=s.mask_p
    ).table
    out = []
    for row in table[table["drifted"]].itertuples(index=False):
        feature = str(row.feature)
        value, b, p = _moved_bin(ev, feature, s.mask_b, s.mask_p)
        score = s.weight * _INSIDE[str(row.severity)] * ev.boost(feature)
        text = (
            f"Inside {s.text}, {feature} shifted (PSI {row.psi:.2f}): "
            f"{condition_text(feature, value)} went from {b:.0%} to {p:.0%} of the slice's "
            f"rows; {ev.perf(s)}."
        )
        out.append(_suspect(feature, value, "drift", score, text, s))
    return out


def _moved_bin(
    ev: _Evidence, feature: str, mask_b: Mask | None = None, mask_p: Mask | None = None
) -> tuple[str, float, float]:
    """Find the bin whose share changed most: (label, baseline share, production share)."""
    h = histogram(ev.analysis, feature, mask_baseline=mask_b, mask_production=mask_p)
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
        score = weight * _OVERALL[str(row.severity)] * ev.boost(feature)
        out.append(_suspect(feature, value, "drift", score, text, s))
    serious = ev.quality[ev.quality["severity"].isin(list(_EVIDENCE))]
    for q in map(_str_keys, serious.to_dict(orient="records")):
        weight, s = link(str(q["feature"]))
        score = weight * _EVIDENCE[str(q["severity"])]
        kind = "new category" if q["check"] == "new_category" else "quality"
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
        out.append(_suspect(actual, None, "label conflict", _UNLINKED * evidence, text, None))
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
                str(dep["dependent"]), dep["key_value"], "label conflict", weight * 0.9, text, s
            )
        )
    return out


_KIND_ORDER = ("new category", "label conflict", "quality", "drift", "slice")


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


# ---------------------------------------------------------------------------------------------
# Report section


def report_section(analysis: Analysis, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Build the ``root_cause`` report section: ranked suspects with their explanation.

    Options: ``top_slices`` (int, default 5: slices explained), ``top_suspects`` (int,
    default 10: entries kept), and ``max_depth`` / ``min_size`` passed to the slice search.
    Each entry: ``rank``, ``feature``, ``value``, ``kind``, ``score``, ``explanation``,
    ``slice_id``.
    """
    slices = None
    try:
        from tracing.slices import find_slices
    except ImportError:
        logger.warning("tracing.slices is unavailable; root cause without slices")
    else:
        # The same call as the slices section's, so a full report computes it once.
        min_size = options.get("min_size")
        slices = find_slices(
            analysis,
            metric=options.get("metric") or None,
            max_depth=int(options.get("max_depth") or 3),
            min_size=None if min_size is None else int(min_size),
            top=int(options.get("top") or 20),
        )
    table = root_cause(analysis, slices=slices, top_slices=int(options.get("top_slices", 5)))
    table = table.head(int(options.get("top_suspects", 10)))
    return [{str(k): v for k, v in r.items()} for r in table.to_dict(orient="records")]


def markdown_section(value: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the ``root_cause`` section as Markdown lines."""
    lines = ["## Root cause: why did it get worse?", ""]
    if not value:
        return [*lines, "No suspects: no slice pulls the metric down and nothing drifted."]
    for r in value:
        lines.append(f"{r['rank']}. **{r['kind']}** ({r['score']:.2f}): {r['explanation']}")
    return lines
