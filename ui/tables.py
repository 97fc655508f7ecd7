"""Display versions of engine tables: column order, labels, per-row formats and colours.

Values stay numeric (so every column sorts correctly in the browser); formats and colours are
applied with a pandas ``Styler``, which ``st.dataframe`` renders.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from tracing import findings
from tracing.metrics import Direction, Metric, metric_of, worse_by
from tracing.verdict import Status, status
from ui import fmt

__all__ = ["children_table", "estimated_view", "metric_table", "slice_table"]


def _metric(row: pd.Series) -> Metric:
    found = metric_of(str(row["metric"]))
    if found is not None:
        return found
    # Not a metric id the engine knows: display it as the table describes it.
    return Metric(
        id=str(row["metric"]),
        name=str(row["name"]),
        model_types=frozenset(),
        direction=Direction(row["direction"]),
        percent=bool(row["percent"]),
    )


def estimated_view(table: pd.DataFrame) -> pd.DataFrame:
    """Return the comparison table with the estimate in place of the unknown production values.

    For production without actuals: ``production`` becomes the estimate, ``delta``,
    ``worse_by`` and ``status`` follow it (the engine's verdict on the estimate,
    ``estimated_status``, or `tracing.verdict.status` for a table without it), and the
    confidence interval is unknown (NaN).
    """
    out = table.copy()
    out["production"] = out["estimated"]
    out["delta"] = out["estimated"] - out["baseline"]
    directions = [Direction(d) for d in out["direction"]]
    out["worse_by"] = [
        float(worse_by(v, b, d))
        for v, b, d in zip(out["estimated"], out["baseline"], directions, strict=True)
    ]
    if "estimated_status" in out:
        out["status"] = out["estimated_status"]
    else:
        out["status"] = [
            status(v, b, d)
            for v, b, d in zip(out["estimated"], out["baseline"], directions, strict=True)
        ]
    out["ci_low"] = out["ci_high"] = float("nan")
    out["significant"] = False
    out["production_reason"] = pd.Series(
        [
            reason if pd.isna(est) else None
            for reason, est in zip(out["production_reason"], out["estimated"], strict=True)
        ],
        index=out.index,
        dtype=object,
    )
    return out


def metric_table(table: pd.DataFrame, *, estimated: bool = False) -> Styler:
    """Style `tracing.compare.Comparison.table` for display.

    Columns: Metric, Baseline, Production, Estimated (when some metric has an estimate from
    the scores), Change, 95% CI low/high, Verdict. Percent metrics read as percentages and
    their changes as points; the change and verdict are red when worse and green when better,
    in each metric's own direction, and blue ("changed") for metrics where neither way is
    better.

    With ``estimated`` (production without actuals, see `estimated_view`), the production
    column is the estimate and the verdicts say "estimated".
    """
    if estimated:
        table = estimated_view(table)
    columns = {
        "Metric": table["name"],
        "Baseline": table["baseline"],
        "Estimated in production" if estimated else "Production": table["production"],
    }
    values = ["Baseline", "Estimated in production" if estimated else "Production"]
    if not estimated and "estimated" in table and table["estimated"].notna().any():
        columns["Estimated"] = table["estimated"]
        values.append("Estimated")
    columns.update(
        {
            "Change": table["delta"],
            "CI low": table["ci_low"],
            "CI high": table["ci_high"],
            "Verdict": [_verdict(r, estimated=estimated) for _, r in table.iterrows()],
        }
    )
    if estimated:
        del columns["CI low"], columns["CI high"]
    shown = pd.DataFrame(columns)
    styler = shown.style.hide(axis="index")
    for i, (_, row) in enumerate(table.iterrows()):
        metric = _metric(row)
        value = _value_formatter(metric)
        delta = _delta_formatter(metric)
        styler = styler.format(value, subset=pd.IndexSlice[[i], values])
        amounts = [c for c in ("Change", "CI low", "CI high") if c in shown]
        styler = styler.format(delta, subset=pd.IndexSlice[[i], amounts])
        # ▼ worse, ▲ better beside the colour, for readers who do not see red and green
        mark = fmt.verdict_mark(str(row["status"]))
        if mark:
            styler = styler.format(
                lambda v, f=delta, m=mark: f"{m} {f(v)}", subset=pd.IndexSlice[[i], ["Change"]]
            )
    colors = [fmt.status_colour_of(str(s)) for s in table["status"]]
    css = pd.DataFrame("", index=shown.index, columns=shown.columns)
    css["Change"] = [f"color: {c}; font-weight: 600" for c in colors]
    css["Verdict"] = [f"color: {c}" for c in colors]
    if "Estimated" in css:
        css["Estimated"] = f"color: {fmt.ESTIMATED}; font-style: italic"
    return styler.apply(lambda _: css, axis=None)


def _value_formatter(metric: Metric) -> Any:
    return lambda v: fmt.metric_value(v, metric)


def _delta_formatter(metric: Metric) -> Any:
    return lambda v: fmt.metric_delta(v, metric)


def _verdict(row: pd.Series, *, estimated: bool = False) -> str:
    status = str(row["status"])
    if status == Status.UNDEFINED:
        reasons = (row["production_reason"], row["baseline_reason"])
        reason = next((r for r in reasons if not _missing(r) and r), "no estimate")
        return f"n/a ({reason})"
    if status == Status.SAME:
        return "no change"
    if estimated:
        return f"{status} (estimated)"
    return f"{status}, significant" if row["significant"] else f"{status}, within noise"


def _metric_column(label: str, metric: Metric, help_text: str) -> Any:
    if metric.percent:
        return st.column_config.ProgressColumn(
            label, min_value=0.0, max_value=1.0, format="percent", help=help_text
        )
    return st.column_config.NumberColumn(label, format="%.3g", help=help_text)


def _amount_column(label: str, metric: Metric, help_text: str, *, signed: bool = True) -> Any:
    sign = "+" if signed else ""
    fmt_str = f"%{sign}.1f pts" if metric.percent else f"%{sign}.3g"
    return st.column_config.NumberColumn(label, format=fmt_str, help=help_text)


# Pixel widths of the slice and ranking columns: together with the row markers (about 30 px)
# they fit the main column at 1,280 px, so both are read without scrolling (browser-tested).
SLICE_WIDTH = 400
IMPACT_WIDTH = 110


def _share_of_change(table: pd.DataFrame, overall_change: float, metric: Metric) -> list[Any]:
    out = []
    for row in table.to_dict("records"):
        share = findings.slice_share(row, overall_change=overall_change, percent=metric.percent)
        out.append(None if share is None else fmt.points(share.change, metric))
    return out


def slice_table(
    table: pd.DataFrame, metric: Metric, *, overall_change: float = float("nan")
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Display frame and column configuration of a slice table (`SliceResult.table`).

    Returns the frame to pass to ``st.dataframe`` (same row order as ``table``, so selected
    positions index ``table``) and its ``column_config``. Amounts in the metric's units read
    as percentage points for percent metrics. The slice and the ranking column (impact) come
    first and stay narrow enough to be seen without scrolling at 1,280 px; then the slice's
    part of the overall change (``overall_change``, production minus baseline, from
    `tracing.findings`), then the rest.
    """
    top_impact = float(table["impact"].max()) if len(table) else 1.0
    shown = pd.DataFrame(
        {
            "slice": [fmt.conditions_text(c) for c in table["conditions"]],
            "impact": [fmt.points(v, metric) for v in table["impact"]],
            "change": _share_of_change(table, overall_change, metric),
            "rows": table["size"],
            "share": table["share"],
            "metric": table["metric"],
            "delta": [fmt.points(v, metric) for v in table["delta"]],
            "baseline_metric": table["baseline_metric"],
            "performance_effect": [fmt.points(v, metric) for v in table["performance_effect"]],
            "mix_effect": [fmt.points(v, metric) for v in table["mix_effect"]],
            "chance": [findings.chance_words(p) for p in table["p_value"]],
            "baseline_share": table["baseline_share"],
            "p_value": table["p_value"],
        }
    )
    name = metric.name
    impact_words = findings.impact_label(name, metric.direction, metric.percent)
    total = findings.amount_text(overall_change, metric.percent, signed=True)
    config: dict[str, Any] = {
        "slice": st.column_config.TextColumn(
            "Slice", width=SLICE_WIDTH, pinned=True,
            help="The slice's conditions (hover a cell to read a long one in full).",
        ),
        "impact": st.column_config.ProgressColumn(
            "Impact",
            width=IMPACT_WIDTH,
            min_value=0.0,
            max_value=fmt.points(top_impact, metric) or 1.0,
            format="%.1f pts" if metric.percent else "%.3g",
            help=(
                f"The ranking: {impact_words} (how much worse than the overall {name} × the "
                "slice's share of its volume). Not a share of the change since the baseline."
            ),
        ),
        "change": _amount_column(
            "Part of the change", metric,
            f"How much of the overall change since the baseline ({total}) the slice accounts "
            "for: its own performance plus its change in weight. Slices can share rows, so "
            "these do not add up.",
        ),
        "rows": st.column_config.NumberColumn("Rows", format="%,d", help="Production rows."),
        "share": st.column_config.ProgressColumn(
            "Share of rows", min_value=0.0, max_value=1.0, format="percent",
            help="The slice's share of production rows.",
        ),
        "metric": _metric_column(name, metric, f"{name} inside the slice, in production."),
        "delta": _amount_column(
            "vs overall", metric, f"{name} in the slice minus {name} on all production rows."
        ),
        "baseline_metric": _metric_column(
            f"{name} in baseline", metric, "The same slice in the baseline (empty if absent)."
        ),
        "performance_effect": _amount_column(
            "From its performance", metric,
            "Part of the change since the baseline due to the slice's own performance.",
        ),
        "mix_effect": _amount_column(
            "From its weight", metric,
            "Part of the change since the baseline due to the slice's share of the volume "
            "changing.",
        ),
        "chance": st.column_config.TextColumn(
            "Chance?",
            help=f"Is the slice's {name} different from the rest's by more than chance explains? "
            "Read from the p-value (next columns): far beyond chance below 1e-6, beyond below "
            "0.01, probably below 0.05.",
        ),
        "baseline_share": st.column_config.NumberColumn(
            "Share in baseline", format="percent",
            help="The same slice's share of baseline rows (0% = new in production).",
        ),
        "p_value": st.column_config.NumberColumn(
            "p-value", format="%.1e",
            help="Slice vs the rest of production: the chance of a gap this large if the slice "
            "were like the rest. Small = not chance.",
        ),
    }  # fmt: skip
    return shown, config


def children_table(
    children: pd.DataFrame, metric: Metric, parent: Any
) -> tuple[pd.DataFrame, dict]:
    """Display frame and column configuration of a drilldown's children (one more condition)."""
    used = set(parent)
    added = [
        fmt.conditions_text([(f, v) for f, v in conds if (f, v) not in used])
        for conds in children["conditions"]
    ]
    shown = pd.DataFrame(
        {
            "added": added,
            "impact": [fmt.points(v, metric) for v in children["impact"]],
            "rows": children["size"],
            "share": children["share"],
            "metric": children["metric"],
            "delta": [fmt.points(v, metric) for v in children["delta"]],
        }
    )
    top = float(children["impact"].max()) if len(children) else 1.0
    name = metric.name
    config: dict[str, Any] = {
        "added": st.column_config.TextColumn(
            "Narrower slice (added condition)", width=SLICE_WIDTH, pinned=True
        ),
        "impact": st.column_config.ProgressColumn(
            "Impact here",
            width=IMPACT_WIDTH,
            min_value=0.0,
            max_value=max(fmt.points(top, metric) or 0.0, 1e-9),
            format="%.1f pts" if metric.percent else "%.3g",
            help=f"{findings.impact_label(name, metric.direction, metric.percent)}, within the "
            "slice: how much of the slice's own gap this narrower part makes.",
        ),
        "rows": st.column_config.NumberColumn("Rows", format="%,d"),
        "share": st.column_config.ProgressColumn(
            "Share of the slice", min_value=0.0, max_value=1.0, format="percent"
        ),
        "metric": _metric_column(name, metric, f"{name} in the narrower slice."),
        "delta": _amount_column("vs the slice", metric, f"{name} minus the slice's {name}."),
    }
    return shown, config


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
