"""What a slice's numbers mean to a reader: one figure per finding, and its plain words.

Every page and report that states a slice's share of the change (the Overview headline, the
Slices drilldown, the Markdown and HTML reports) takes the figure and its sentence from here,
so the numbers agree everywhere.

Share of the change
    The overall change against the baseline is ``M_p - M_b`` (production minus baseline, in the
    metric's units). A slice's part of it is ``mix_effect + performance_effect`` of the slice
    table (`tracing.slices`): over any partition these add up to ``M_p - M_b`` exactly, so a
    slice "accounts for 69.1 of the 69.4-pt drop in recall". The split says how: through the
    slice's own performance, or through its change in weight. Slices that overlap (a slice and
    its narrower versions, or two slices on different features) share rows, so their shares
    never add up; `may_overlap` says when a list needs that warning.
Impact
    The ranking key stays the impact score (`tracing.slices`): the metric lost in production
    to the slice doing worse than the average. It is not a share of the change against the
    baseline and is labelled as what it is (`impact_label`).
Resolution
    Amounts read in display units: percentage points with one decimal for percent metrics,
    3 significant digits otherwise. A narrower slice whose impact within its parent rounds to
    zero at that resolution (below `resolution`) is not a finding (`notable_children`).
Score histograms
    A score in [0, 1] is shown on ten equal bins from 0 to 1 (`score_histogram`), not on the
    baseline's quantiles: a score piled up near 0 otherwise reads ``[1e-06, 6e-06)``.
Plain words
    `chance_words` reads a p-value, `drift_words` a drift statistic, and
    `blank_chart_reason` says why a bar chart would be empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from tracing.drift import DRIFT_TESTS
from tracing.vocab import Direction, DriftDirection, Severity

__all__ = [
    "OVERLAP_NOTE",
    "Relation",
    "SliceShare",
    "amount_text",
    "blank_chart_reason",
    "PLAIN_METRICS",
    "SCORE_BINS",
    "chance_sentence",
    "chance_words",
    "impact_label",
    "impact_text",
    "may_overlap",
    "notable_children",
    "drift_words",
    "severity_words",
    "resolution",
    "score_histogram",
    "share_text",
    "slice_share",
    "split_text",
]

SCORE_BINS = 10  # tenths of a score: 0-0.1, ..., 0.9-1

OVERLAP_NOTE = (
    "Slices can share rows (a slice and its narrower versions, or slices on different "
    "features), so their shares of the change do not add up."
)


class Relation(StrEnum):
    """How a slice's part of the change relates to the overall change (`SliceShare.relation`)."""

    PART = "part"  # same way as the overall change, at most all of it
    MORE_THAN_ALL = "more than all"  # same way, more than all of it: other rows offset it
    OPPOSITE = "opposite"  # the other way: the slice offsets the overall change
    NONE = "none"  # the slice's part rounds to zero
    NO_OVERALL = "no overall change"  # the overall metric did not move (at display resolution)


@dataclass(frozen=True)
class SliceShare:
    """A slice's part of the overall change against the baseline.

    Attributes
    ----------
    change : float
        ``mix_effect + performance_effect``: the slice's part of ``overall_change``, in the
        metric's units (production minus baseline).
    mix_effect, performance_effect : float
        The two parts: through the slice's change in weight, and through its own performance.
    overall_change : float
        ``M_p - M_b`` over all rows.
    new : bool
        Whether the slice has no baseline rows (then its whole part is performance).
    percent : bool
        Whether the metric reads in percent (amounts then read in points).
    """

    change: float
    mix_effect: float
    performance_effect: float
    overall_change: float
    new: bool
    percent: bool

    @property
    def fraction(self) -> float:
        """``change / overall_change`` (NaN when the overall metric did not move)."""
        if abs(self.overall_change) < resolution(self.percent):
            return math.nan
        return self.change / self.overall_change

    @property
    def relation(self) -> Relation:
        """How ``change`` relates to ``overall_change``, judged at display resolution."""
        step = resolution(self.percent)
        if abs(self.overall_change) < step:
            return Relation.NO_OVERALL
        if abs(self.change) < step:
            return Relation.NONE
        if (self.change > 0) != (self.overall_change > 0):
            return Relation.OPPOSITE
        shown = amount_text(abs(self.change), self.percent, unit=False)
        total = amount_text(abs(self.overall_change), self.percent, unit=False)
        if abs(self.change) > abs(self.overall_change) and shown != total:
            return Relation.MORE_THAN_ALL
        return Relation.PART


def resolution(percent: bool) -> float:
    """Return the smallest amount that does not read as zero (0.05 pts, or 1e-9).

    Examples
    --------
    >>> resolution(True), resolution(False)
    (0.0005, 1e-09)
    """
    return 0.0005 if percent else 1e-9


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def slice_share(
    stats: Mapping[str, Any], *, overall_change: float, percent: bool
) -> SliceShare | None:
    """Return a slice's part of the overall change, or None when the metric does not decompose.

    Parameters
    ----------
    stats : mapping
        A row of `tracing.slices.SliceResult.table`, `tracing.slices.Drilldown.stats` or a
        report's slice record: ``mix_effect``, ``performance_effect`` and ``baseline_size``.
    overall_change : float
        Production minus baseline metric over all rows.
    percent : bool
        Whether the metric reads in percent.

    Returns
    -------
    SliceShare or None
        None when either effect is missing (metrics that are not ratios, or a missing
        overall change).

    Examples
    --------
    >>> s = slice_share({"mix_effect": 0.0, "performance_effect": -0.6914, "baseline_size": 0},
    ...                 overall_change=-0.6938, percent=True)
    >>> s.change, s.new, round(s.fraction, 3)
    (-0.6914, True, 0.997)
    """
    mix, perf = stats.get("mix_effect"), stats.get("performance_effect")
    if not (_finite(mix) and _finite(perf) and _finite(overall_change)):
        return None
    base = stats.get("baseline_size")
    try:  # numpy and pandas integers are not ``int``
        new = base is not None and math.isfinite(float(base)) and float(base) == 0.0
    except (TypeError, ValueError):
        new = False
    return SliceShare(
        change=float(mix) + float(perf),  # type: ignore[arg-type]
        mix_effect=float(mix),  # type: ignore[arg-type]
        performance_effect=float(perf),  # type: ignore[arg-type]
        overall_change=float(overall_change),
        new=new,
        percent=percent,
    )


def amount_text(value: float, percent: bool, *, signed: bool = False, unit: bool = True) -> str:
    """Write an amount in the metric's units: ``69.1 pts`` (percent metrics) or ``0.812``.

    Examples
    --------
    >>> amount_text(-0.6914, True), amount_text(-0.6914, True, signed=True, unit=False)
    ('-69.1 pts', '-69.1')
    >>> amount_text(0.81234, False), amount_text(1234.5, False, signed=True)
    ('0.812', '+1.23e+03')
    """
    if not math.isfinite(value):
        return "—"
    sign = "+" if signed else ""
    if percent:
        text = f"{value * 100:{sign}.1f}"
        return f"{text} pts" if unit else text
    return f"{value:{sign}.3g}"


def _change_noun(overall: float, percent: bool) -> str:
    size = amount_text(abs(overall), percent, unit=False)
    word = "drop" if overall < 0 else "rise"
    return f"{size}-pt {word}" if percent else f"{word} of {size}"


def share_text(share: SliceShare, metric_name: str) -> str:
    """Say how much of the overall change a slice accounts for, in one clause.

    Examples
    --------
    >>> s = SliceShare(-0.6914, 0.0, -0.6914, -0.6938, new=True, percent=True)
    >>> share_text(s, "recall")
    'accounts for 69.1 of the 69.4-pt drop in recall'
    >>> share_text(SliceShare(0.02, 0.0, 0.02, -0.1, new=False, percent=True), "recall")
    'moved recall the other way (+2.0 pts), against the 10.0-pt drop'
    """
    percent = share.percent
    part = amount_text(abs(share.change), percent, unit=False)
    total = _change_noun(share.overall_change, percent)
    relation = share.relation
    if relation is Relation.NO_OVERALL:
        return (
            f"moved {metric_name} by {amount_text(share.change, percent, signed=True)} while "
            f"the overall {metric_name} did not change"
        )
    if relation is Relation.NONE:
        return f"accounts for none of the {total} in {metric_name}"
    if relation is Relation.OPPOSITE:
        moved = amount_text(share.change, percent, signed=True)
        return f"moved {metric_name} the other way ({moved}), against the {total}"
    if relation is Relation.MORE_THAN_ALL:
        return (
            f"accounts for {part}{' pts' if percent else ''}, more than the whole {total} in "
            f"{metric_name} (other rows moved it the other way)"
        )
    return f"accounts for {part} of the {total} in {metric_name}"


def split_text(share: SliceShare) -> str:
    """Say how the slice moved the metric: its own performance, its change in weight.

    Examples
    --------
    >>> split_text(SliceShare(-0.6914, 0.0, -0.6914, -0.6938, new=True, percent=True))
    'all through its own performance (the slice is new in production)'
    >>> split_text(SliceShare(-0.05, -0.01, -0.04, -0.1, new=False, percent=True))
    '-4.0 pts through its own performance, -1.0 pts through its change in weight'
    """
    step = resolution(share.percent)
    if share.new:
        return "all through its own performance (the slice is new in production)"
    if abs(share.mix_effect) < step and abs(share.performance_effect) >= step:
        return "all through its own performance"
    if abs(share.performance_effect) < step and abs(share.mix_effect) >= step:
        return "all through its change in weight (its performance did not change)"
    perf = amount_text(share.performance_effect, share.percent, signed=True)
    mix = amount_text(share.mix_effect, share.percent, signed=True)
    return f"{perf} through its own performance, {mix} through its change in weight"


def impact_label(metric_name: str, direction: Direction, percent: bool) -> str:
    """Say what the impact score is, in the metric's words (a column's help, a caption).

    Examples
    --------
    >>> impact_label("recall", Direction.HIGHER_IS_BETTER, True)
    'pts of production recall lost to this slice vs the average'
    >>> impact_label("MAE", Direction.LOWER_IS_BETTER, False)
    'production MAE added by this slice vs the average'
    """
    unit = "pts of " if percent else ""
    verb = {
        Direction.HIGHER_IS_BETTER: "lost to",
        Direction.LOWER_IS_BETTER: "added by",
    }.get(Direction(direction), "moved by")
    return f"{unit}production {metric_name} {verb} this slice vs the average"


def impact_text(impact: float, metric_name: str, direction: Direction, percent: bool) -> str:
    """Write an impact score with its meaning: ``10.5 pts of production recall lost to ...``.

    Examples
    --------
    >>> impact_text(0.1048, "recall", Direction.HIGHER_IS_BETTER, True)
    '10.5 pts of production recall lost to this slice vs the average'
    """
    value = amount_text(impact, percent, unit=False)
    return f"{value} {impact_label(metric_name, direction, percent)}"


def may_overlap(conditions: Iterable[Iterable[Sequence[Any]]]) -> bool:
    """Return whether some two of these slices can share rows.

    Two slices are disjoint only when they fix one feature to different values; otherwise
    (nested slices, slices on different features) they can share rows, and their shares of
    the change must not be read as adding up.

    Examples
    --------
    >>> may_overlap([[("state", "CA")], [("state", "NY")]])
    False
    >>> may_overlap([[("state", "CA")], [("state", "CA"), ("device", "mobile")]])
    True
    >>> may_overlap([[("state", "CA")], [("device", "mobile")]])
    True
    """
    slices = [{str(f): str(v) for f, v in conds} for conds in conditions]
    for i, a in enumerate(slices):
        for b in slices[i + 1 :]:
            if not any(f in b and b[f] != v for f, v in a.items()):
                return True
    return False


def notable_children(
    children: pd.DataFrame, *, percent: bool, parent_metric: float, metric_text: str
) -> tuple[pd.DataFrame, str | None]:
    """Return the narrower slices worth listing, and a sentence when none is.

    A narrower slice is listed when its impact within the parent is at least the display
    resolution (`resolution`): one whose impact rounds to zero does not stand out from the
    parent. When no child stands out the parent is uniformly bad (or good), and the sentence
    says so instead of a table of zeros.

    Parameters
    ----------
    children : DataFrame
        `tracing.slices.Drilldown.children` (sorted by impact within the parent).
    percent : bool
        Whether the metric reads in percent.
    parent_metric : float
        The parent slice's metric.
    metric_text : str
        The parent's metric in words, e.g. ``"recall 0.0%"``.

    Returns
    -------
    (DataFrame, str or None)
        The listed children (same columns and order), and the sentence (None when some are
        listed or there were none to begin with).
    """
    if children.empty:
        return children, None
    keep = children["impact"].to_numpy(dtype=float) >= resolution(percent)
    if keep.any():
        return children[keep], None
    spread = children["metric"].astype(float)
    same = bool((spread - parent_metric).abs().max() < resolution(percent)) and math.isfinite(
        parent_metric
    )
    if same:
        return children[keep], (
            f"The slice is uniformly bad: {metric_text} in every narrower slice of it "
            f"({len(children):,} checked), so no part of it stands out; look at what the "
            "slice's rows share instead."
        )
    return children[keep], (
        f"No narrower slice does clearly worse than the slice itself ({len(children):,} "
        "checked): the slice is bad throughout."
    )


def blank_chart_reason(
    values: pd.DataFrame, *, value: str, metric_text: str, feature: str
) -> str | None:
    """Say why a bar chart of ``value`` per category would be empty (None: it would not).

    A chart is empty when every bar is zero or missing (a slice with 0% recall everywhere,
    absent from the baseline): one sentence then replaces it.

    Examples
    --------
    >>> frame = pd.DataFrame({"metric": [0.0, 0.0, float("nan")]})
    >>> blank_chart_reason(frame, value="metric", metric_text="recall is 0.0%", feature="amount")
    'recall is 0.0% for every value of amount in this slice: there is no bar to draw.'
    >>> blank_chart_reason(pd.DataFrame({"metric": [0.0, 0.4]}), value="metric",
    ...                    metric_text="recall", feature="amount") is None
    True
    """
    bars = pd.to_numeric(values[value], errors="coerce").fillna(0.0)
    if len(bars) and bool((bars.abs() > 0).any()):
        return None
    return f"{metric_text} for every value of {feature} in this slice: there is no bar to draw."


def chance_words(p_value: Any) -> str:
    """Read a p-value (the slice against the rest) in plain words.

    Examples
    --------
    >>> chance_words(2.1e-297), chance_words(0.003), chance_words(0.03), chance_words(0.4)
    ('far beyond chance', 'beyond chance', 'probably beyond chance', 'could be chance')
    >>> chance_words(None)
    '—'
    """
    if not _finite(p_value):
        return "—"
    p = float(p_value)
    if p < 1e-6:
        return "far beyond chance"
    if p < 0.01:
        return "beyond chance"
    if p < 0.05:
        return "probably beyond chance"
    return "could be chance"


def chance_sentence(p_value: Any, metric_name: str, delta: Any) -> str | None:
    """Say in words what a slice's p-value (against the rest of the rows) means.

    Examples
    --------
    >>> chance_sentence(2.1e-297, "recall", -0.12)
    "the slice's recall is lower than the rest's by far more than chance explains"
    >>> chance_sentence(0.3, "recall", -0.01)
    "the slice's recall is lower than the rest's, but chance alone could explain a gap this size"
    >>> chance_sentence(None, "ROC AUC", -0.1) is None
    True
    """
    if not (_finite(p_value) and _finite(delta)):
        return None
    way = "lower" if float(delta) < 0 else "higher"
    gap = f"the slice's {metric_name} is {way} than the rest's"
    p = float(p_value)
    if p >= 0.05:
        return f"{gap}, but chance alone could explain a gap this size"
    strength = {
        "far beyond chance": "far more than chance explains",
        "beyond chance": "more than chance explains",
        "probably beyond chance": "probably more than chance explains",
    }[chance_words(p)]
    return f"{gap} by {strength}"


# Plain readings of the metrics whose names are jargon (beside `tracing.metrics.Metric`'s own
# description, which says how each is computed).
PLAIN_METRICS: dict[str, str] = {
    "f1": "one number balancing precision and recall: high only when both are",
    "roc_auc": "how well the scores rank positives above negatives: 1 perfect, 0.5 a coin toss",
    "pr_auc": "how well the scores find positives without false alarms, over every cut-off; "
    "compare it with the actual positive rate, what a random score gets",
    "log_loss": "how surprised the scores are by the actuals: lower is better, 0 perfect",
    "brier": "how far the scores are from the actual 0/1 outcome: lower is better, 0 perfect",
    "r2": "how much better than always predicting the average: 1 perfect, 0 no better, "
    "below 0 worse",
    "mape": "the typical error as a share of the actual value",
    "smape": "the typical error as a share of the actual and predicted values",
    "rmse": "the typical error in the target's own units, large errors weighing more",
    "me": "whether the model predicts too high (above 0) or too low (below 0) on average",
}


def drift_words(test: str, value: Any) -> str:
    """Read a drift statistic against its test's thresholds (`tracing.drift.DRIFT_TESTS`).

    Below the warning threshold reads "little change", between the two "moderate shift",
    beyond the alert threshold "large shift" (the other way round for p-values).

    Examples
    --------
    >>> drift_words("psi", 0.02), drift_words("psi", 0.18), drift_words("psi", 1.4)
    ('little change', 'moderate shift', 'large shift')
    >>> drift_words("ks", 1e-9), drift_words("psi", None)
    ('large shift', '—')
    """
    if not _finite(value):
        return "—"
    spec = DRIFT_TESTS[test]
    v = float(value)
    larger = spec.direction is DriftDirection.LARGER_IS_MORE_DRIFT
    beyond_warn = v >= spec.warn if larger else v <= spec.warn
    beyond_alert = v >= spec.alert if larger else v <= spec.alert
    if beyond_alert:
        return "large shift"
    return "moderate shift" if beyond_warn else "little change"


def score_histogram(
    baseline: pd.Series, production: pd.Series, *, bins: int = SCORE_BINS
) -> pd.DataFrame | None:
    """Share of rows per equal-width bin of [0, 1], baseline vs production.

    Parameters
    ----------
    baseline, production : Series
        A score column of each side.
    bins : int, default `SCORE_BINS` (10)
        Number of equal-width bins over [0, 1] (the last one closed).

    Returns
    -------
    DataFrame or None
        The columns of `tracing.drift.histogram` (``bin``, ``order``, ``count_baseline``,
        ``count_production``, ``share_baseline``, ``share_production``, ``new``), with labels
        such as ``0.1-0.2``; None when a value lies outside [0, 1] (not a probability).

    Examples
    --------
    >>> h = score_histogram(pd.Series([0.0, 0.05, 0.95]), pd.Series([1.0, 0.5]), bins=2)
    >>> h[["bin", "count_baseline", "count_production"]].to_dict("list")
    {'bin': ['0-0.5', '0.5-1'], 'count_baseline': [2, 1], 'count_production': [0, 2]}
    """
    sides = [pd.to_numeric(x, errors="coerce").dropna() for x in (baseline, production)]
    if any(((x < 0) | (x > 1)).any() for x in sides):
        return None
    edges = [i / bins for i in range(bins + 1)]
    counts = [
        pd.cut(x, edges, right=False, include_lowest=True)
        .value_counts(sort=False)
        .to_numpy()
        .copy()
        for x in sides
    ]
    for x, c in zip(sides, counts, strict=True):
        c[-1] += int((x == 1.0).sum())  # the last bin is closed: a score of exactly 1
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(bins)]
    out = pd.DataFrame({"bin": labels, "order": range(bins)})
    for side, c, x in zip(("baseline", "production"), counts, sides, strict=True):
        out[f"count_{side}"] = c.astype(int)
        out[f"share_{side}"] = c / max(len(x), 1)
    out["new"] = False
    return out


def severity_words(severity: Any) -> str:
    """Read a drift verdict (`tracing.vocab.Severity`) in plain words.

    Examples
    --------
    >>> severity_words("alert"), severity_words("warn"), severity_words("none")
    ('large shift', 'moderate shift', 'little change')
    """
    words: dict[str, str] = {
        str(Severity.ALERT): "large shift",
        str(Severity.WARN): "moderate shift",
    }
    return words.get(str(severity), "little change")
