"""The report as Markdown, for CI logs and tickets.

`to_markdown` renders the dict of `tracing.report.build_report`; one function per section
renders that section's JSON form (``overall``, ``slices``...), so a renderer never calls the
engine and a report saved as JSON renders the same later. Every value from the data (file,
column and category names, explanations, notes) goes through `tracing.textfmt.table_cell`,
which escapes every Markdown/HTML markup character (`tracing.textfmt.escape_markdown`), so a
name cannot break a table or make a link, an image or HTML render. (Data names are not put in
code spans: an escape does not work inside backticks.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tracing import findings
from tracing.drift import DRIFT_TESTS
from tracing.metrics import DIRECTION_WORDS, Direction, metric_of
from tracing.quality import QUALITY_CHECKS
from tracing.textfmt import number, table_cell
from tracing.textfmt import percent as percent_text

__all__ = [
    "drift_section",
    "explain_summary",
    "importance_section",
    "lead_change",
    "overall_section",
    "quality_section",
    "root_cause_section",
    "slices_section",
    "timeline_section",
    "to_markdown",
]

Records = Sequence[Mapping[str, Any]]


def overall_section(value: Records) -> list[str]:
    """Render ``overall`` as a table (an estimate column when rows carry estimates)."""
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
        metric_id = r.get("id", r.get("metric"))
        lines.append(
            f"| {table_cell(r['name'])} (`{metric_id}`) | {number(r['baseline'])} | "
            f"{number(r['production'])} |{est} {number(r['delta'])} | {ci} | {verdict} |"
        )
    return lines


def _slice_name(item: Mapping[str, Any]) -> str:
    return " & ".join(f"{k} = {v}" for k, v in item["slice"].items()) or "All data"


def lead_change(report: Mapping[str, Any]) -> float | None:
    """Return the lead metric's overall change (production minus baseline) from ``overall``."""
    block = report.get("metric") or {}
    lead = block.get("id", block.get("name"))
    for row in report.get("overall") or ():
        if row.get("id", row.get("metric")) == lead:
            base, prod = row.get("baseline"), row.get("production")
            if isinstance(base, int | float) and isinstance(prod, int | float):
                return float(prod) - float(base)
    return None


def slices_section(
    value: Records,
    *,
    overall_change: float | None = None,
    metric_name: str = "the metric",
    percent: bool = False,
    direction: Direction = Direction.HIGHER_IS_BETTER,
) -> list[str]:
    """Render ``slices`` as a ranked table, led by the top slice's share of the change.

    With ``overall_change`` (the lead metric's production minus baseline, see `lead_change`),
    the first line says how much of it the top slice accounts for (`tracing.findings`), and a
    column gives every slice's part; the parts of overlapping slices are not added up.
    """
    lines = ["## Slices", ""]
    if not value:
        return [*lines, "No slice pulls the metric down (none with a positive impact)."]
    change = float("nan") if overall_change is None else overall_change
    shares = [findings.slice_share(item, overall_change=change, percent=percent) for item in value]
    top = shares[0]
    if top is not None:
        lines += [
            f"The slice that costs most, **{table_cell(_slice_name(value[0]))}**, "
            f"{findings.share_text(top, metric_name)}, {findings.split_text(top)}.",
            "",
        ]
    unit = " (pts)" if percent else ""
    overlap = findings.may_overlap([item["slice"].items() for item in value])
    lines += [
        "Ranked by impact: "
        f"{findings.impact_label(metric_name, direction, percent)} (worse-by x volume). "
        "Part of change: the slice's part of the change since the baseline (mix: through its "
        "change in weight; performance: through its own performance)."
        + (f" {findings.OVERLAP_NOTE}" if overlap else ""),
        "",
        f"| # | slice | rows | share | metric | delta | impact | part of change{unit} | "
        "baseline metric | mix | performance | vs the rest (p-value) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rank = {item.get("slice_id"): i for i, item in enumerate(value, start=1)}
    for i, (item, share) in enumerate(zip(value, shares, strict=True), start=1):
        name = table_cell(_slice_name(item))
        folded = item.get("explained_by")
        if folded is not None:
            name += f" (explained by #{rank.get(folded, '?')})"
        part = (
            "—"
            if share is None
            else findings.amount_text(share.change, percent, signed=True, unit=False)
        )
        chance = f"{findings.chance_words(item['p_value'])} ({number(item['p_value'], digits=2)})"
        lines.append(
            f"| {i} | {name} | {item['size']:,} | {percent_text(item['share'])} | "
            f"{number(item['metric'])} | {number(item['delta'])} | {number(item['impact'])} | "
            f"{part} | {number(item['baseline_metric'])} | {number(item['mix_effect'])} | "
            f"{number(item['performance_effect'])} | {chance} |"
        )
    return lines


def _drift_rule() -> str:
    """Write the default drift verdict in words, from the drift registry's thresholds."""
    deciding = [t for t in DRIFT_TESTS.values() if t.decides]
    return ", ".join(
        f"{t.id.upper() if len(t.id) <= 3 else t.name} >= {t.warn:g}" for t in deciding
    )


def drift_section(value: Records) -> list[str]:
    """Render ``drift`` as a table, most drifted first."""
    lines = ["## Drift: which columns changed?", ""]
    drifted = [r for r in value if r["drifted"]]
    lines.append(
        f"{len(drifted)} of {len(value)} columns drifted ({_drift_rule()}, in baseline "
        "standard deviations for Wasserstein)."
        if value
        else "No columns to compare."
    )
    if not value:
        return lines
    lines += [
        "",
        "| column | role | severity | PSI | JS | Wasserstein | KS p | chi² p |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in value:
        lines.append(
            f"| {table_cell(r['feature'])} | {r['role']} | {r['severity']} | "
            f"{number(r['psi'], digits=3)} | {number(r['js'], digits=3)} | "
            f"{number(r['wasserstein'], digits=3)} | {number(r['ks_p_value'], digits=3)} | "
            f"{number(r['chi2_p_value'], digits=3)} |"
        )
    return lines


def quality_section(value: Records) -> list[str]:
    """Render ``quality`` as a table, most severe first."""
    lines = ["## Data quality: what broke in the data?", ""]
    if not value:
        return [*lines, "No data-quality findings."]
    lines += ["| severity | check | column | finding |", "|---|---|---|---|"]
    for r in value:
        name = QUALITY_CHECKS[r["check"]].name if r["check"] in QUALITY_CHECKS else r["check"]
        lines.append(
            f"| {r['severity']} | {name} | {table_cell(r['feature'])} | "
            f"{table_cell(r['detail'])} |"
        )
    return lines


def root_cause_section(value: Records) -> list[str]:
    """Render ``root_cause`` as a numbered list of suspects."""
    lines = ["## Root cause: why did it get worse?", ""]
    if not value:
        return [
            *lines,
            "No suspects: no slice pulls the metric down beyond chance, and nothing drifted.",
        ]
    for r in value:
        lines.append(
            f"{r['rank']}. **{r['kind']}** ({r['score']:.2f}): {table_cell(r['explanation'])}"
        )
    return lines


def importance_section(value: Records, *, limit: int = 20) -> list[str]:
    """Render ``importance`` as a table of the first ``limit`` features."""
    if not value:
        return ["## Which features matter most?", "", "No feature to rank."]
    source = value[0]["source"]
    lines = [
        "## Which features matter most?",
        "",
        f"Mean |SHAP| per feature (source: {source}); the error model shows which features "
        "drive production errors.",
        "",
        "| rank | feature | production | baseline | error model |",
        "|---:|---|---:|---:|---:|",
    ]
    for i, r in enumerate(value[:limit], start=1):
        lines.append(
            f"| {i} | {table_cell(r['feature'])} | {number(r['mean_abs_shap'])} | "
            f"{number(r['baseline_mean_abs_shap'])} | {number(r['error_mean_abs_shap'])} |"
        )
    if len(value) > limit:
        lines += ["", f"... and {len(value) - limit} more features."]
    return lines


def explain_summary(value: Mapping[str, Any]) -> list[str]:
    """Render the top-level ``explain`` key: where importance comes from, how far to trust it."""
    fid = value.get("fidelity")
    trust = f"; fidelity {value.get('fidelity_metric')} {number(fid)}" if fid is not None else ""
    lines = [
        f"- Importance source: **{value['source']}**{trust}; "
        f"{value['sample_rows']:,} production rows explained"
    ]
    if value.get("fidelity_warning"):
        lines.append(f"- Warning: {table_cell(value['fidelity_warning'])}")
    lines += [f"- Note: {table_cell(n)}" for n in value.get("notes", [])]
    return lines


def timeline_section(section: Mapping[str, Any]) -> list[str]:
    """Render ``timeline``: the period count and the alerting periods."""
    if "skipped" in section:
        return ["## Over time", "", f"Skipped: {table_cell(section['skipped'])}"]
    alerts = [p for p in section["periods"] if p["alert"]]
    lines = [
        "## Over time",
        "",
        f"`{section['metric']}` per {section['freq']}, {len(section['periods'])} periods; "
        f"{len(alerts)} alerting.",
        "",
    ]
    lines += [f"- {table_cell(n)}" for n in section["notes"]]
    if alerts:
        lines += [
            "",
            "| period start | rows | rows with actuals | value | basis | expected range |",
            "|---|---:|---:|---:|---|---|",
        ]
        for p in alerts:
            value = p["metric"] if p["basis"] == "actual" else p["estimated"]
            lines.append(
                f"| {p['start']} | {p['rows']:,} | {p['rows_with_actuals']:,} | "
                f"{number(value)} | {p['basis']} | "
                f"[{number(p['expected_low'])}, {number(p['expected_high'])}] |"
            )
    return lines


# Section name -> renderer, in the report's order; ``explain`` comes with ``importance``.
RENDERERS: dict[str, Callable[[Any], list[str]]] = {
    "overall": overall_section,
    "slices": slices_section,
    "root_cause": root_cause_section,
    "drift": drift_section,
    "quality": quality_section,
    "importance": importance_section,
    "explain": explain_summary,
    "timeline": timeline_section,
}


def _direction_words(direction: str) -> str:
    return DIRECTION_WORDS[Direction(direction)]


def to_markdown(report: Mapping[str, Any]) -> str:
    """Render a report dict (from `tracing.report.build_report`) as Markdown."""
    m = report["metric"]
    lines = [
        "# Model performance report",
        "",
        f"- Model type: **{report['model_type']}**; lead metric: "
        f"**{table_cell(m['display_name'])}** (`{m.get('id', m.get('name'))}`, "
        f"{_direction_words(m['direction'])})",
        f"- Baseline: {table_cell(report['datasets']['baseline'])}, "
        f"{report['rows']['baseline']:,} rows; production: "
        f"{table_cell(report['datasets']['production'])}, "
        f"{report['rows']['production']:,} rows",
    ]
    lines += [f"- Note: {table_cell(n)}" for n in report.get("notes", [])]
    lead = metric_of(str(m.get("id", m.get("name"))))
    for name, render in RENDERERS.items():
        if name == "slices" and name in report:
            lines += [
                "",
                *slices_section(
                    report[name],
                    overall_change=lead_change(report),
                    metric_name=str(m.get("display_name", m.get("name"))),
                    percent=bool(lead and lead.percent),
                    direction=Direction(m["direction"]),
                ),
            ]
        elif name in report:
            lines += ["", *render(report[name])]
    return "\n".join(lines) + "\n"
