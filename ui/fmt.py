"""Number formatting and the app's colours: one place decides how values and deltas read.

Percent metrics show as percentages and their changes as percentage points ("pts"); other
metrics show 3-4 significant digits in the target's own units. Worse is red and better is
green, decided by `tracing.verdict.status` in each metric's own direction. Metrics where
neither way is better (`Direction.NEUTRAL`, e.g. the predicted positive rate) never get red or
green: their changes are blue and read "changed".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tracing.metrics import DIRECTION_WORDS, Direction, Metric
from tracing.rootcause import condition_text
from tracing.textfmt import escape_markdown
from tracing.verdict import status
from tracing.vocab import Severity, Status

__all__ = [
    "BASELINE",
    "BETTER",
    "CHANGED",
    "DASH",
    "ESTIMATED",
    "NEUTRAL",
    "PRODUCTION",
    "SEVERITY_COLOURS",
    "STATUS_COLOURS",
    "WORSE",
    "card_label",
    "conditions_text",
    "count",
    "delta_color",
    "direction_words",
    "metric_delta",
    "metric_value",
    "pct",
    "points",
    "severity_colour",
    "severity_mark",
    "sig",
    "verdict_mark",
    "status_colour_of",
    "window_label",
]

WORSE = "#c62828"
BETTER = "#2e7d32"
NEUTRAL = "#757575"
CHANGED = "#1565c0"  # a change where neither way is better: worth a look, not a verdict
ESTIMATED = "#8e24aa"  # values estimated from the scores, not measured
BASELINE = "#9aa7b4"
PRODUCTION = "#1f5fa8"
DASH = "—"  # not applicable, or not known


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _sig(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def metric_value(value: Any, metric: Metric) -> str:
    """Format a metric value: ``81.8%`` for percent metrics, ``3.82`` otherwise."""
    if _missing(value):
        return DASH
    return f"{float(value):.1%}" if metric.percent else _sig(float(value))


def metric_delta(delta: Any, metric: Metric) -> str:
    """Format a change: ``-69.4 pts`` for percent metrics, ``+0.81`` otherwise."""
    if _missing(delta):
        return DASH
    if metric.percent:
        return f"{float(delta) * 100:+.1f} pts"
    text = _sig(float(delta))
    return text if text.startswith("-") else f"+{text}"


VERDICT_MARKS: dict[str, str] = {  # beside the colour, for readers who do not see red and green
    Status.WORSE: "▼",
    Status.BETTER: "▲",
    Status.CHANGED: "◆",
}


def verdict_mark(status: str) -> str:
    """Return the mark shown beside a verdict's colour: ▼ worse, ▲ better, ◆ changed, or ''."""
    return VERDICT_MARKS.get(status, "")


SEVERITY_MARKS: dict[str, str] = {Severity.ALERT: "▲", Severity.WARN: "△"}


def severity_mark(severity: str) -> str:
    """Return the mark shown beside a severity's colour: ▲ alert, △ warn, or ''."""
    return SEVERITY_MARKS.get(severity, "")


CARD_LABEL = 20  # characters a metric card's label shows at 1,280 px before it is cut


def card_label(metric: Metric, suffix: str = "") -> str:
    """Label a metric card so it is not cut: ``MAE (lead)`` for "Mean absolute error (lead)".

    Long names fall back on the metric id when it is an abbreviation (``mae``, ``rmse``);
    the card's tooltip then gives the full name.
    """
    label = metric.name + suffix
    if len(label) > CARD_LABEL and len(metric.id) <= 5 and metric.id.isalnum():
        return metric.id.upper() + suffix
    return label


def sig(value: Any, digits: int = 3) -> str:
    """Format a statistic (PSI, a distance) to ``digits`` significant digits; ``—`` if missing."""
    if _missing(value):
        return DASH
    return f"{float(value):.{digits}g}"


def pct(value: Any, digits: int = 1) -> str:
    """Format a share as a percentage (``15.0%``)."""
    return DASH if _missing(value) else f"{float(value):.{digits}%}"


def count(value: Any) -> str:
    """Format a row count with thousands separators."""
    return DASH if _missing(value) else f"{int(value):,}"


def delta_color(value: Any, reference: Any, direction: Direction) -> str:
    """Return ``st.metric``'s ``delta_color`` so that worse shows red and better green.

    ``st.metric`` colours a positive delta green ("normal") or red ("inverse"); which one is
    right depends on the verdict (`tracing.verdict.status`) in the metric's own direction.
    """
    verdict = status(value, reference, direction)
    if verdict in (Status.SAME, Status.UNDEFINED):
        return "off"
    if verdict is Status.CHANGED:
        return "blue"  # neither way is better: never red or green
    rising = float(value) > float(reference)
    return "inverse" if (verdict is Status.WORSE) == rising else "normal"


STATUS_COLOURS: dict[str, str] = {  # a Status is its string: plain keys match too
    Status.WORSE: WORSE,
    Status.BETTER: BETTER,
    Status.CHANGED: CHANGED,
    Status.SAME: NEUTRAL,
    Status.UNDEFINED: NEUTRAL,
}
SEVERITY_COLOURS: dict[str, str] = {
    Severity.ALERT: WORSE,
    Severity.WARN: "#e65100",
    Severity.INFO: NEUTRAL,
    Severity.NONE: NEUTRAL,
}


def status_colour_of(status: str) -> str:
    """Return the colour of a `tracing.verdict.Status` (worse, better, changed, same...)."""
    return STATUS_COLOURS.get(status, NEUTRAL)


def severity_colour(severity: str) -> str:
    """Return the colour of a drift or data-quality `tracing.vocab.Severity`."""
    return SEVERITY_COLOURS.get(severity, NEUTRAL)


def direction_words(direction: Direction) -> str:
    """Say which way is better."""
    return DIRECTION_WORDS[direction]


def window_label(start: Any, freq: str) -> str:
    """Name a period by its start: ``Mon 2026-11-02``, ``week of 2026-11-02``, ``... 14:00``."""
    if freq == "hour":
        return f"{start:%Y-%m-%d %H:%M}"
    if freq == "week":
        return f"week of {start:%Y-%m-%d}"
    return f"{start:%a %Y-%m-%d}"


def md(value: Any) -> str:
    """Escape a value from the data (a name, a category, a file name) for Streamlit Markdown.

    Every data value that goes into ``st.markdown``, a caption, an alert or a button label goes
    through here, so a file's contents can never render a link or fetch an image.
    """
    return escape_markdown(value)


def md_conditions(conditions: Sequence[tuple[str, str]]) -> str:
    """Write a slice's conditions for people, escaped for Markdown (see `md`)."""
    return md(conditions_text(conditions))


def conditions_text(conditions: Sequence[tuple[str, str]]) -> str:
    """Write a slice for people: ``state = CA · amount >= 120`` (``All data`` if empty)."""
    if not conditions:
        return "All data"
    return " · ".join(condition_text(feature, value) for feature, value in conditions)


def points(value: Any, metric: Metric) -> Any:
    """Scale a metric-unit amount for display: percentage points for percent metrics."""
    if _missing(value):
        return value
    return float(value) * 100 if metric.percent else float(value)
