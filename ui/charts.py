"""Altair chart builders: engine results (tidy frames) in, charts out; no streamlit calls.

Charts compare the baseline (grey) with production (blue), and colour changes red (worse) or
green (better) in the metric's own direction, using the palette in `ui.fmt`.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from ui import fmt

__all__ = [
    "SIDE_SCALE",
    "breakdown_frames",
    "class_balance",
    "drift_histogram",
    "grouped_bars",
    "importance_bars",
    "side_histogram",
]

SIDE_SCALE = alt.Scale(domain=["baseline", "production"], range=[fmt.BASELINE, fmt.PRODUCTION])


def _side_color(title: str | None = None) -> alt.Color:
    return alt.Color("side:N", scale=SIDE_SCALE, title=title, legend=alt.Legend(orient="top"))


def class_balance(balance: pd.DataFrame, *, positive: object | None = None) -> alt.Chart:
    """Bar chart of class shares among actuals and predictions, baseline vs production.

    Parameters
    ----------
    balance : DataFrame
        `tracing.compare.Comparison.class_balance`.
    positive : object, optional
        Binary: show only this class (the positive rate).
    """
    long = balance.melt(id_vars="class", var_name="column", value_name="share")
    long[["side", "kind"]] = long["column"].str.split("_", n=1, expand=True)
    long["kind"] = long["kind"].map({"actual": "actual", "predicted": "predicted"})
    long["class"] = long["class"].astype(str)
    if positive is not None:
        long = long[long["class"] == str(positive)]
        long["label"] = long["kind"].map(
            {"actual": "Actual positive rate", "predicted": "Predicted positive rate"}
        )
    else:
        long["label"] = long["kind"] + " · class " + long["class"]
    base = alt.Chart(long).encode(
        y=alt.Y("label:N", title=None, sort=None),
        yOffset=alt.YOffset("side:N", sort=["baseline", "production"]),
        x=alt.X("share:Q", title="Share of rows", axis=alt.Axis(format="%")),
        color=_side_color(),
        tooltip=[
            alt.Tooltip("label:N", title="What"),
            alt.Tooltip("side:N", title="Data"),
            alt.Tooltip("share:Q", title="Share", format=".1%"),
        ],
    )
    text = base.mark_text(align="left", dx=3, fontSize=11).encode(
        text=alt.Text("share:Q", format=".1%"), color=alt.value("#333")
    )
    return (base.mark_bar() + text).properties(height=alt.Step(18))


def side_histogram(
    hist: pd.DataFrame, *, x_title: str, value_col: str = "bin", share_col: str = "share"
) -> alt.Chart:
    """Baseline vs production share per bin (shared bins), as side-by-side bars.

    Parameters
    ----------
    hist : DataFrame
        One row per (bin, side) with columns ``side`` ("baseline"/"production"), ``value_col``
        (the bin label, in display order) and ``share_col`` (share of that side's rows).
    x_title : str
        Axis title (the column name).
    """
    order = list(dict.fromkeys(hist[value_col].astype(str)))
    data = hist.assign(**{value_col: hist[value_col].astype(str)})
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(f"{value_col}:N", sort=order, title=x_title, axis=alt.Axis(labelAngle=-40)),
            xOffset=alt.XOffset("side:N", sort=["baseline", "production"]),
            y=alt.Y(f"{share_col}:Q", title="Share of rows", axis=alt.Axis(format="%")),
            color=_side_color(),
            tooltip=[
                alt.Tooltip(f"{value_col}:N", title=x_title),
                alt.Tooltip("side:N", title="Data"),
                alt.Tooltip(f"{share_col}:Q", title="Share", format=".1%"),
            ],
        )
        .properties(height=260)
    )


def grouped_bars(
    data: pd.DataFrame,
    *,
    category: str,
    value: str,
    title: str,
    percent: bool,
    order: Sequence[str] | None = None,
    reference: float | None = None,
) -> alt.Chart:
    """Horizontal bars of ``value`` per ``category``, baseline vs production.

    Parameters
    ----------
    data : DataFrame
        Columns ``category``, ``side`` and ``value``.
    category, value : str
        Column names.
    title : str
        The value axis title.
    percent : bool
        Format the values as percentages.
    order : sequence of str, optional
        Category order (default: as given).
    reference : float, optional
        A vertical rule (e.g. the overall production metric).
    """
    fmt_str = ".1%" if percent else ".3~g"
    cats = list(order) if order is not None else list(dict.fromkeys(data[category].astype(str)))
    frame = data.assign(**{category: data[category].astype(str)})
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{category}:N", sort=cats, title=None),
        yOffset=alt.YOffset("side:N", sort=["baseline", "production"]),
        x=alt.X(f"{value}:Q", title=title, axis=alt.Axis(format=fmt_str)),
        color=_side_color(),
        tooltip=[
            alt.Tooltip(f"{category}:N", title="Value"),
            alt.Tooltip("side:N", title="Data"),
            alt.Tooltip(f"{value}:Q", title=title, format=fmt_str),
        ],
    )
    chart: alt.Chart | alt.LayerChart = base.mark_bar()
    if reference is not None:
        rule = (
            alt.Chart(pd.DataFrame({"ref": [reference]}))
            .mark_rule(strokeDash=[4, 3], color="#444")
            .encode(x="ref:Q")
        )
        chart = chart + rule
    return chart.properties(height=alt.Step(14))


def breakdown_frames(
    breakdown: pd.DataFrame, feature: str, *, max_values: int = 25
) -> tuple[pd.DataFrame, list[str]]:
    """Long frame (value, side, metric, share) of one feature's breakdown, for `grouped_bars`.

    Keeps the ``max_values`` values with the most production rows (then baseline rows), in the
    bins' order; returns the frame and the value order.
    """
    part = breakdown[breakdown["feature"] == feature]
    if len(part) > max_values:
        part = part.nlargest(max_values, ["size", "baseline_size"]).sort_index()
    order = [str(v) for v in part["value"]]
    prod = pd.DataFrame(
        {
            "value": order,
            "side": "production",
            "metric": part["metric"].to_numpy(),
            "share": part["share"].to_numpy(),
            "rows": part["size"].to_numpy(),
        }
    )
    base = pd.DataFrame(
        {"value": order, "side": "baseline", "metric": part["baseline_metric"].to_numpy(),
         "share": part["baseline_share"].to_numpy(), "rows": part["baseline_size"].to_numpy()}
    )  # fmt: skip
    return pd.concat([base, prod], ignore_index=True), order


def drift_histogram(hist: pd.DataFrame, column: str, *, max_bins: int = 15) -> alt.Chart:
    """Chart of `tracing.drift.histogram`: share per shared bin, baseline vs production.

    Empty bins are left out; with more than ``max_bins`` bins, the ones with the largest share
    on either side are kept (in bin order). New categories are marked "(new)".
    """
    part = hist[(hist["count_baseline"] > 0) | (hist["count_production"] > 0)]
    title = column
    if len(part) > max_bins:
        title = f"{column}: the {max_bins} largest of {len(part)} values"
        biggest = part[["share_baseline", "share_production"]].max(axis=1)
        part = part.loc[biggest.nlargest(max_bins).index].sort_values("order")
    labels = [
        f"{b} (new)" if new else str(b) for b, new in zip(part["bin"], part["new"], strict=True)
    ]
    sides = [
        pd.DataFrame({"bin": labels, "side": side, "share": part[f"share_{side}"].to_numpy()})
        for side in ("baseline", "production")
    ]
    long = pd.concat(sides, ignore_index=True)
    if len(labels) > 12:  # many categories: horizontal bars keep every label readable
        return grouped_bars(
            long, category="bin", value="share", title="Share of rows", percent=True,
            order=labels,
        ).properties(title=title)  # fmt: skip
    return side_histogram(long, x_title=title)


def importance_bars(
    importance: pd.DataFrame,
    columns: dict[str, str],
    *,
    title: str,
    top: int = 12,
    colors: Sequence[str] = (fmt.BASELINE, fmt.PRODUCTION),
) -> alt.Chart:
    """Horizontal bars of mean |SHAP| per feature for one or more groups.

    Parameters
    ----------
    importance : DataFrame
        `tracing.explain.Explanation.importance`.
    columns : dict of column -> group label
        The importance columns to show, e.g. ``{"baseline_mean_abs_shap": "baseline"}``; the
        first column's largest values pick the ``top`` features.
    title : str
        The value axis title.
    """
    first = next(iter(columns))
    ranked = importance.dropna(subset=[first]).nlargest(top, first)
    order = list(ranked["feature"])
    long = pd.concat(
        [
            pd.DataFrame({"feature": order, "group": label, "value": ranked[col].to_numpy()})
            for col, label in columns.items()
        ],
        ignore_index=True,
    )
    groups = list(columns.values())
    scale = alt.Scale(domain=groups, range=list(colors)[: len(groups)])
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("feature:N", sort=order, title=None),
            yOffset=alt.YOffset("group:N", sort=groups),
            x=alt.X("value:Q", title=title),
            color=alt.Color("group:N", scale=scale, title=None, legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("group:N", title="Rows"),
                alt.Tooltip("value:Q", title=title, format=".3~g"),
            ],
        )
        .properties(height=alt.Step(12 if len(groups) > 1 else 18))
    )
