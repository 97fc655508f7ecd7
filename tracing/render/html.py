"""A standalone HTML page of a report, for people who will not open the app.

`to_html` renders the dict of `tracing.report.build_report` as one self-contained HTML file:
inline CSS, no scripts, no external resources, so it can be attached to a ticket or an email and
opened anywhere. Every value from the data (file names, column names, category values) is
escaped. The ``overall`` section is a metric table with worse/better colours in each metric's
own direction (blue "changed", never red or green, for metrics where neither way is better,
such as the predicted positive rate), with an "Estimated" column when its rows carry estimates
from the scores; the ``timeline`` section lists the alerting periods. Other sections (slices,
drift, quality, ...) are rendered as tables from their JSON form (the known ones, such as
slices, drift and quality, with their main columns and a caption), so sections added to the
report later appear without changes here.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tracing import findings
from tracing.drift import thresholds_text
from tracing.metrics import DIRECTION_WORDS, Direction, metric_of
from tracing.render.markdown import lead_change
from tracing.report import SECTIONS
from tracing.slices import distinct_mask
from tracing.textfmt import condition_text

__all__ = ["SECTION_TITLES", "to_html"]

SECTION_TITLES: dict[str, str] = {  # in the order the report shows them
    **{str(name): spec.title for name, spec in SECTIONS.items()},
    "explain": "How the feature importance was computed",  # comes with importance
}
_MAX_ROWS = 200
_HEADER_KEYS = {
    "schema_version", "model_type", "metric", "rows", "rows_with_actuals", "datasets",
    "positive_class", "classes", "columns", "options", "notes",
}  # fmt: skip
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:1100px;margin:2rem auto;padding:0 1rem;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#555;font-size:.95rem}.note{background:#f3f6fa;padding:.4rem .7rem;
border-left:3px solid #1f5fa8;margin:.3rem 0}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.6rem 0}
th,td{border:1px solid #e0e0e0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.worse{color:#c62828;font-weight:600}.better{color:#2e7d32;font-weight:600}
.changed{color:#1565c0;font-weight:600}.est{color:#8e24aa;font-style:italic}
.muted{color:#757575}.cap{color:#666;font-size:.85rem}.warn{color:#e65100;font-weight:600}
"""


def to_html(
    report: Mapping[str, Any],
    *,
    title: str = "Model performance report",
    link: str | None = None,
) -> str:
    """Render a report dict as a standalone HTML page.

    Parameters
    ----------
    report : mapping
        The output of `tracing.report.build_report` (JSON-ready values).
    title : str, default "Model performance report"
        The page title.
    link : str, optional
        A link back to the same view in the app, shown at the top.

    Returns
    -------
    str
        A complete HTML document (UTF-8, inline CSS, no scripts or external resources).

    Examples
    --------
    >>> page = to_html({"model_type": "binary", "notes": ["<b>3</b> rows left out"]})
    >>> page.startswith("<!DOCTYPE html>"), "&lt;b&gt;3&lt;/b&gt;" in page
    (True, True)
    """
    parts = [f"<h1>{_e(title)}</h1>", _summary(report, link)]
    percent = _lead_percent(report)
    keys = [k for k in report if k not in _HEADER_KEYS]
    # The white paper's order first (compare, slices, root cause, evidence), then the rest.
    keys.sort(key=lambda k: list(SECTION_TITLES).index(k) if k in SECTION_TITLES else 99)
    for key in keys:
        value = report[key]
        heading = SECTION_TITLES.get(key, key.replace("_", " ").capitalize())
        render = _RENDERERS.get(key)
        if key == "timeline":
            body = _timeline(value, percent)
        elif key == "slices" and _records_like(value):
            body = _slices(value, percent, context=_lead(report))
        else:
            body = render(value, percent) if render and _records_like(value) else _generic(value)
        parts.append(f'<section id="{_e(key)}"><h2>{_e(heading)}</h2>{body}</section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _summary(report: Mapping[str, Any], link: str | None) -> str:
    lines = []
    datasets = report.get("datasets") or {}
    rows = report.get("rows") or {}
    with_actuals = report.get("rows_with_actuals") or {}
    for side in ("baseline", "production"):
        if side in datasets:
            extra = f", {_count(with_actuals[side])} with actuals" if side in with_actuals else ""
            lines.append(
                f"{side.capitalize()}: <b>{_e(datasets[side])}</b> "
                f"({_count(rows.get(side))} rows{extra})"
            )
    metric = report.get("metric") or {}
    if "model_type" in report:
        lead = (
            f"; lead metric <b>{_e(metric.get('display_name', metric.get('name')))}</b> "
            f"({_e(_direction(metric.get('direction')))})"
            if metric
            else ""
        )
        lines.append(f"Model: {_e(report['model_type'])}{lead}")
    if report.get("positive_class") is not None:
        lines.append(f"Positive class: {_e(report['positive_class'])}")
    out = '<p class="meta">' + "<br>".join(lines) + "</p>"
    if link:
        out += (
            f'<p class="meta">Open this view in the app: <a href="{_e(link)}">{_e(link)}</a></p>'
        )
    for note in report.get("notes") or ():
        out += f'<p class="note">{_e(note)}</p>'
    return out


def _direction(direction: Any) -> str:
    try:
        return DIRECTION_WORDS[Direction(str(direction))]
    except ValueError:
        return str(direction)


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) and not _nan(value) else "n/a"


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any, percent: bool = False, signed: bool = False) -> str:
    if _nan(value):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    if percent:
        return f"{value * 100:+.1f} pts" if signed else f"{value:.1%}"
    text = f"{value:.4g}"
    return f"+{text}" if signed and value > 0 else text


def _records_like(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
    )


def _lead_percent(report: Mapping[str, Any]) -> bool:
    block = report.get("metric") or {}
    lead = block.get("id", block.get("name"))  # "name": the id's alias in older reports
    metric = metric_of(str(lead)) if lead is not None else None
    return bool(metric.percent) if metric else False


def _overall(rows: Sequence[Mapping[str, Any]], percent: bool = False) -> str:
    estimated = any(not _nan(r.get("estimated")) for r in rows)
    head = (
        "<tr><th>Metric</th><th>Baseline</th><th>Production</th>"
        + ("<th>Estimated</th>" if estimated else "")
        + "<th>Change</th><th>95% interval of the change</th><th>Verdict</th></tr>"
    )
    body = []
    for r in rows:
        metric = metric_of(str(r.get("metric")))
        percent = bool(metric.percent) if metric else False
        status = str(r.get("status"))
        css = status if status in ("worse", "better", "changed") else "muted"
        verdict = (
            "n/a (" + str(r.get("production_reason") or r.get("baseline_reason")) + ")"
            if status == "undefined"
            else "no change"
            if status == "same"
            else f"{status}, {'significant' if r.get('significant') else 'within noise'}"
        )
        ci = f"{_num(r.get('ci_low'), percent, True)} to {_num(r.get('ci_high'), percent, True)}"
        est = f'<td class="num est">{_num(r.get("estimated"), percent)}</td>' if estimated else ""
        body.append(
            f"<tr><td>{_e(r.get('name', r.get('metric')))}</td>"
            f'<td class="num">{_num(r.get("baseline"), percent)}</td>'
            f'<td class="num">{_num(r.get("production"), percent)}</td>{est}'
            f'<td class="num {css}">{_num(r.get("delta"), percent, True)}</td>'
            f'<td class="num">{ci}</td><td class="{css}">{_e(verdict)}</td></tr>'
        )
    caption = (
        '<p class="cap">Change = production minus baseline (percentage points for rates); red is '
        "worse and green better in each metric's own direction, blue a change in a metric "
        "where neither way is better. A change is significant when its 95% interval excludes "
        "zero."
        + (
            " Estimated: production's value estimated from its scores (calibrated on the "
            "baseline), shown beside the measured one."
            if estimated
            else ""
        )
        + "</p>"
    )
    return f"<table>{head}{''.join(body)}</table>{caption}"


def _timeline(section: Any, percent: bool = False) -> str:
    """Render `tracing.timeline.timeline_json`: a summary and the alerting periods."""
    if not isinstance(section, Mapping) or "periods" not in section:
        return _generic(section)
    metric = metric_of(str(section.get("metric")))
    pct = bool(metric.percent) if metric else percent
    neutral = str(section.get("direction")) == "neutral"
    periods = [p for p in section.get("periods") or () if isinstance(p, Mapping)]
    alerts = [p for p in periods if p.get("alert")]
    css = "changed" if neutral else "worse"
    word = "changed" if neutral else "alerting"
    out = (
        f"<p>{_e(section.get('metric_name', section.get('metric')))} per "
        f"{_e(section.get('freq'))}: {len(periods):,} periods, "
        f'<span class="{css if alerts else "muted"}">{len(alerts):,} {word}</span>.</p>'
    )
    out += "".join(f'<p class="note">{_e(n)}</p>' for n in section.get("notes") or ())
    if not alerts:
        return out
    rows = []
    for p in alerts[:_MAX_ROWS]:
        value = p.get("metric") if p.get("basis") == "actual" else p.get("estimated")
        basis = "measured" if p.get("basis") == "actual" else "estimated"
        rows.append(
            f"<tr><td>{_e(p.get('start'))}</td>"
            f'<td class="num {css}">{_num(value, pct)}</td><td>{_e(basis)}</td>'
            f'<td class="num">{_num(p.get("expected_low"), pct)} to '
            f"{_num(p.get('expected_high'), pct)}</td>"
            f'<td class="num">{_count(p.get("rows"))}</td>'
            f'<td class="num">{_count(p.get("rows_with_actuals"))}</td></tr>'
        )
    head = (
        "<tr><th>Period start</th><th>Value</th><th>Judged on</th><th>Expected range</th>"
        "<th>Rows</th><th>Rows with actuals</th></tr>"
    )
    caption = (
        '<p class="cap">Periods outside the expected range'
        + ("" if neutral else " on the worse side")
        + "; periods without enough actuals are judged on the estimate from the scores.</p>"
    )
    return f"{out}<table>{head}{''.join(rows)}</table>{caption}"


Column = tuple[str, str, Callable[[Any], str]]


def _table(records: Sequence[Mapping[str, Any]], columns: Sequence[Column], caption: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for _, h, _ in columns)
    body = "".join(
        "<tr>" + "".join(_cell_td(r.get(k), fn) for k, _, fn in columns) + "</tr>"
        for r in records[:_MAX_ROWS]
    )
    more = f" The first {_MAX_ROWS} of {len(records):,} rows." if len(records) > _MAX_ROWS else ""
    return f'<table><tr>{head}</tr>{body}</table><p class="cap">{_e(caption)}{more}</p>'


def _cell_td(value: Any, render: Callable[[Any], str]) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f'<td class="num">{render(value)}</td>' if numeric else f"<td>{render(value)}</td>"


def _slice_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return _e(" · ".join(condition_text(f, v) for f, v in value.items()) or "All data")
    return _cell(value)


def _severity(value: Any) -> str:
    css = {"alert": "worse", "warn": "warn"}.get(str(value), "muted")
    return f'<span class="{css}">{_e(value)}</span>'


def _share(value: Any) -> str:
    return _num(value, percent=True) if isinstance(value, int | float) else _cell(value)


def _lead(report: Mapping[str, Any]) -> dict[str, Any]:
    block = report.get("metric") or {}
    try:
        direction = Direction(str(block.get("direction")))
    except ValueError:
        direction = Direction.HIGHER_IS_BETTER
    return {
        "overall_change": lead_change(report),
        "name": str(block.get("display_name", block.get("name", "the metric"))),
        "direction": direction,
    }


def _slices(
    rows: Sequence[Mapping[str, Any]], percent: bool, context: Mapping[str, Any] | None = None
) -> str:
    # The engine's one rule of distinct slices (the report lists only those already; a
    # hand-made or older report may list every ranked slice).
    specs = [r.get("slice") for r in rows]
    keep = distinct_mask(
        [s.items() if isinstance(s, Mapping) else () for s in specs],
        [r.get("explained_by") for r in rows],
    )
    kept = [r for r, k in zip(rows, keep, strict=True) if k]
    hidden = len(rows) - len(kept)
    ctx = context or {}
    change = ctx.get("overall_change")
    name = str(ctx.get("name", "the metric"))
    direction = ctx.get("direction", Direction.HIGHER_IS_BETTER)
    shares = [
        findings.slice_share(
            r, overall_change=float("nan") if change is None else change, percent=percent
        )
        for r in kept
    ]
    kept = [
        {
            **r,
            "_part": None if s is None else s.change,
            "_chance": findings.chance_words(r.get("p_value")),
        }
        for r, s in zip(kept, shares, strict=True)
    ]

    def metric(v: Any) -> str:
        return _num(v, percent)

    def amount(v: Any) -> str:
        return _num(v, percent, signed=True)

    columns: list[Column] = [
        ("slice", "Slice", _slice_text),
        ("impact", "Impact", lambda v: _num(v, percent, True).lstrip("+")),
        ("_part", "Part of the change", amount),
        ("size", "Rows", _cell),
        ("share", "Share of rows", _share),
        ("metric", "Metric", metric),
        ("delta", "vs overall", amount),
        ("baseline_metric", "Metric in baseline", metric),
        ("performance_effect", "From its performance", amount),
        ("mix_effect", "From its weight", amount),
        ("_chance", "vs the rest", _cell),
        ("p_value", "p-value", lambda v: _num(v)),
    ]
    lead = ""
    if shares and shares[0] is not None:
        top = shares[0]
        lead = (
            f"<p>The slice that costs most, <b>{_slice_text(kept[0].get('slice'))}</b>, "
            f"{_e(findings.share_text(top, name))}, {_e(findings.split_text(top))}.</p>"
        )
    specs_kept = [r.get("slice") for r in kept]
    overlap = findings.may_overlap(s.items() for s in specs_kept if isinstance(s, Mapping))
    caption = (
        "Slices that do worse than average, most costly first. Impact (the ranking) = "
        f"{findings.impact_label(name, direction, percent)}: how much worse than the overall "
        "metric x the slice's share of its volume. Part of the change = the slice's part of "
        "the change since the baseline, through its own performance and its weight. vs the "
        "rest: whether the slice differs from the other rows by more than chance explains."
        + (f" {findings.OVERLAP_NOTE}" if overlap else "")
        + (
            f" {hidden} broader or narrower versions of a listed slice are left out."
            if hidden
            else ""
        )
    )
    return lead + _table(kept, columns, caption)


def _root_cause(rows: Sequence[Mapping[str, Any]], percent: bool) -> str:
    def suspect(r: Mapping[str, Any]) -> str:
        return _e(
            r["feature"] if r.get("value") is None else condition_text(r["feature"], r["value"])
        )

    records = [{**r, "_suspect": suspect(r)} for r in rows]
    columns: list[Column] = [
        ("rank", "#", _cell),
        ("_suspect", "Suspect", str),
        ("kind", "Kind", _cell),
        ("score", "Evidence", _share),
        ("explanation", "Why", _cell),
    ]
    caption = (
        "Suspects behind the slices that cost most, strongest evidence first: values new in "
        "production, drift, data quality, label conflicts."
    )
    return _table(records, columns, caption)


def _drift(rows: Sequence[Mapping[str, Any]], percent: bool) -> str:
    columns: list[Column] = [
        ("feature", "Column", _cell),
        ("role", "Role", _cell),
        ("severity", "Drift", _severity),
        ("_reading", "Reading", _cell),
        ("psi", "PSI", _stat),
        ("js", "JS distance", _stat),
        ("wasserstein", "Wasserstein (std)", _stat),
        ("missing_baseline", "Missing, baseline", _share),
        ("missing_production", "Missing, production", _share),
    ]
    caption = (
        f"Every column, most drifted first: {thresholds_text()}. Reading: the verdict in plain "
        "words. PSI: how much the share of rows per bin moved (0 = identical); JS distance: "
        "0 identical, 1 no overlap; Wasserstein: how far the values moved, in baseline standard "
        "deviations (numeric columns only; a dash for categories)."
    )
    read = [{**r, "_reading": findings.severity_words(r.get("severity"))} for r in rows]
    return _table(read, columns, caption)


def _stat(value: Any) -> str:
    """Write a drift statistic to 3 significant digits; a dash where it does not apply."""
    if _nan(value):
        return '<span class="muted">—</span>'
    return _e(f"{value:.3g}") if isinstance(value, int | float) else _e(value)


def _quality(rows: Sequence[Mapping[str, Any]], percent: bool) -> str:
    columns: list[Column] = [
        ("check", "Check", lambda v: _e(str(v).replace("_", " "))),
        ("feature", "Column", _cell),
        ("dataset", "Data", _cell),
        ("severity", "Severity", _severity),
        ("detail", "Finding", _cell),
    ]
    return _table(rows, columns, "Data-quality findings, production against the baseline.")


_RENDERERS: dict[str, Callable[[Sequence[Mapping[str, Any]], bool], str]] = {
    "overall": _overall,
    "slices": _slices,
    "root_cause": _root_cause,
    "drift": _drift,
    "quality": _quality,
}


def _generic(value: Any) -> str:
    """Render any JSON-ready value: records as a table, mappings as key/value rows."""
    if isinstance(value, Mapping):
        if not value:
            return '<p class="muted">Nothing to report.</p>'
        rows = "".join(
            f"<tr><th>{_e(k)}</th><td>{_generic(v) if _nested(v) else _cell(v)}</td></tr>"
            for k, v in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return '<p class="muted">Nothing to report.</p>'
        if all(isinstance(v, Mapping) for v in value):
            return _records(value)
        return f"<p>{_e(', '.join(str(v) for v in value))}</p>"
    return f"<p>{_cell(value)}</p>"


def _nested(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and any(isinstance(v, Mapping) for v in value)
    )


def _records(records: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for r in records:
        columns.extend(k for k in r if k not in columns)
    shown = records[:_MAX_ROWS]
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_td(r.get(c)) for c in columns) + "</tr>" for r in shown)
    more = (
        f'<p class="cap">The first {_MAX_ROWS} of {len(records):,} rows.</p>'
        if len(records) > _MAX_ROWS
        else ""
    )
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _td(value: Any) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f'<td class="num">{_cell(value)}</td>' if numeric else f"<td>{_cell(value)}</td>"


def _cell(value: Any) -> str:
    if _nan(value):
        return '<span class="muted">n/a</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping | list | tuple):
        return _e(json.dumps(value, default=str))
    return _e(value)
