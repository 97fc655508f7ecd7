"""The analysis as one JSON-ready report, and its Markdown rendering.

`build_report` runs the requested sections over an `Analysis` and returns a plain dict (the
CLI's JSON; key reference in the README). Sections are a registry: each name maps to the module
that owns the step, which exposes ``report_section(analysis, options) -> JSON-ready value`` and
``markdown_section(value) -> list of lines``. Modules are imported only when their section is
asked for, so a quick ``--sections overall`` never pays for SHAP's import. `to_markdown` renders
the same dict for humans (CI logs, tickets).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from tracing.analysis import Analysis
from tracing.compare import compare
from tracing.errors import DataError
from tracing.metrics import DIRECTION_WORDS, Direction
from tracing.textfmt import jsonable, number

# jsonable lives in tracing.textfmt; it stays importable from here (the app and tests use it).
__all__ = ["SECTIONS", "build_report", "jsonable", "to_markdown"]


def report_section(analysis: Analysis, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Report section ``overall``: every applicable metric, production vs baseline."""
    comp = compare(
        analysis.baseline,
        analysis.production,
        random_state=int(options.get("random_state", 0)),
        production_frame=analysis.production_frame,  # estimated beside realized, when possible
    )
    keep = [
        "metric",
        "name",
        "baseline",
        "production",
        "estimated",
        "delta",
        "higher_is_better",
        "direction",
        "status",
        "ci_low",
        "ci_high",
        "significant",
        "baseline_reason",
        "production_reason",
    ]
    return [{str(k): v for k, v in r.items()} for r in comp.table[keep].to_dict(orient="records")]


# Section name -> the module that computes and renders it (see the module docstring).
SECTIONS: dict[str, str] = {
    "overall": "tracing.report",
    "slices": "tracing.slices",
    "drift": "tracing.drift",
    "quality": "tracing.quality",
    "root_cause": "tracing.rootcause",
    "importance": "tracing.explain",
}
# Extra top-level keys that come with a section: section -> (key, builder, markdown renderer).
_COMPANIONS: dict[str, tuple[str, str, str]] = {
    "importance": ("explain", "explain_summary", "markdown_summary"),
}


def _section(name: str, attr: str) -> Any:
    return getattr(importlib.import_module(SECTIONS[name]), attr)


def build_report(
    analysis: Analysis,
    *,
    sections: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the report dict for an analysis.

    Parameters
    ----------
    analysis : Analysis
        The validated baseline/production pair.
    sections : sequence of str, optional
        Section names (default: every registered section; a section that cannot run on this
        data, e.g. importance without usable features, is then left out with a note).
    options : mapping, optional
        Section options (e.g. ``random_state``, ``max_depth``, ``min_size``, ``top``).

    Returns
    -------
    dict
        JSON-ready: plain str/int/float/bool/None, lists and dicts; NaN becomes None.
    """
    options = dict(options or {})
    wanted = list(SECTIONS) if not sections else list(sections)
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        raise DataError(
            f"unknown report section {', '.join(unknown)}; choose from: {', '.join(SECTIONS)}."
        )
    if {"slices", "root_cause"} & set(wanted):
        # Bad search limits (--top 0) are the user's mistake, not something this data cannot
        # do: fail now rather than leave the sections out with a note.
        _section("slices", "search_options")(options)
    schema = analysis.schema
    roles = schema.roles
    prep_b, prep_p = analysis.baseline, analysis.production
    report: dict[str, Any] = {
        "model_type": schema.model_type.value,
        "metric": {
            "id": analysis.metric.id,
            "name": analysis.metric.id,
            "display_name": analysis.metric.name,
            "higher_is_better": analysis.metric.higher_is_better,
            "direction": analysis.metric.direction.value,
        },
        "rows": {"baseline": prep_b.n_rows, "production": prep_p.n_rows},
        "rows_with_actuals": {
            "baseline": int(prep_b.valid.sum()),
            "production": int(prep_p.valid.sum()),
        },
        "datasets": {"baseline": analysis.names[0], "production": analysis.names[1]},
        "positive_class": schema.positive_class,
        "classes": list(schema.classes),
        "columns": {
            "prediction_id": roles.prediction_id,
            "timestamp": roles.timestamp,
            "prediction_label": roles.prediction_label,
            "prediction_score": list(roles.prediction_score),
            "actual_label": roles.actual_label,
            "actual_score": roles.actual_score,
            "features": list(roles.features),
            "tags": list(roles.tags),
        },
        "notes": list(analysis.notes),
    }
    for name in wanted:
        try:
            report[name] = _section(name, "report_section")(analysis, options)
            if name in _COMPANIONS:
                key, builder, _ = _COMPANIONS[name]
                report[key] = _section(name, builder)(analysis, options)
        except DataError as exc:
            if sections:  # asked for by name: the user must hear why it failed
                raise
            # The default "everything" report keeps the sections that can run on this data.
            report["notes"].append(f"section {name} left out: {exc}")
    out: dict[str, Any] = jsonable(report)
    return out


def to_markdown(report: Mapping[str, Any]) -> str:
    """Render a report dict (from `build_report`) as Markdown."""
    m = report["metric"]
    lines = [
        "# Model performance report",
        "",
        f"- Model type: **{report['model_type']}**; lead metric: **{m['display_name']}** "
        f"(`{m['name']}`, {_direction_words(m['direction'])})",
        f"- Baseline: `{report['datasets']['baseline']}`, {report['rows']['baseline']:,} rows; "
        f"production: `{report['datasets']['production']}`, "
        f"{report['rows']['production']:,} rows",
    ]
    lines += [f"- Note: {n}" for n in report.get("notes", [])]
    for name in SECTIONS:
        if name not in report:
            continue
        lines += ["", *_section(name, "markdown_section")(report[name])]
        if name in _COMPANIONS and _COMPANIONS[name][0] in report:
            key, _, renderer = _COMPANIONS[name]
            lines += ["", *_section(name, renderer)(report[key])]
    return "\n".join(lines) + "\n"


def markdown_section(value: Sequence[Mapping[str, Any]]) -> list[str]:
    """Render the ``overall`` section as a Markdown table (estimates shown when present)."""
    estimated = any(r.get("estimated") is not None for r in value)
    est_head, est_rule = (" estimated from scores |", "---:|") if estimated else ("", "")
    lines = [
        "## Overall: production vs baseline",
        "",
        f"| metric | baseline | production |{est_head} delta | 95% CI of delta | verdict |",
        f"|---|---:|---:|{est_rule}---:|---:|---|",
    ]
    for r in value:
        ci = (
            f"[{number(r['ci_low'])}, {number(r['ci_high'])}]"
            if r["ci_low"] is not None
            else "n/a"
        )
        verdict = r["status"] + (" (significant)" if r["significant"] else "")
        est = f" {number(r.get('estimated'))} |" if estimated else ""
        lines.append(
            f"| {r['name']} (`{r['metric']}`) | {number(r['baseline'])} | "
            f"{number(r['production'])} |{est} {number(r['delta'])} | {ci} | {verdict} |"
        )
    return lines


def _direction_words(direction: str) -> str:
    return DIRECTION_WORDS[Direction(direction)]
