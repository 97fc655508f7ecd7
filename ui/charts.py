"""Altair chart builders: engine results (tidy frames) in, charts out; no streamlit calls.

Charts compare the baseline (grey) with production (blue), and colour changes red (worse) or
green (better) in the metric's own direction, using the palette in `ui.fmt`.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from tracing.vocab import Basis
from ui import fmt

__all__ = [
    "SIDE_SCALE",
    "breakdown_frames",
    "class_balance",
    "drift_histogram",
    "grouped_bars",
    "importance_bars",
    "side_histogram",
    "timeline_chart",
    "timeline_frame",
    "period_key",
    "volume_chart",
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
        y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=0)),
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
            x=alt.X(
                f"{value_col}:N",
                sort=order,
                title=x_title,
                axis=alt.Axis(labelAngle=-40, labelLimit=0),
            ),
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
        y=alt.Y(f"{category}:N", sort=cats, title=None, axis=alt.Axis(labelLimit=0)),
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


# -- monitoring over time -------------------------------------------------------------------

ALERT_PARAM = "period"  # the Altair selection on alerting periods: {"period": [{"period": ...}]}
_AXIS_FORMAT = {"hour": "%b %d %H:%M", "day": "%b %d", "week": "%b %d"}
_Y_AXIS_WIDTH = 44  # the same on the metric and the volume charts, so their time axes align


def period_key(start: pd.Timestamp) -> str:
    """Return the text that identifies a period in chart selections (its start, ISO 8601)."""
    return pd.Timestamp(start).isoformat()


def timeline_frame(
    table: pd.DataFrame, *, min_rows: int, freq: str, bounds: tuple[float, float] | None = None
) -> pd.DataFrame:
    """One row per period of `tracing.timeline.Timeline.table`, ready to chart.

    Adds ``period`` (`period_key`), ``label`` (for tooltips), ``realized`` (the metric where
    enough rows have actuals, else NaN: a handful of rows is noise, not a value), ``judged_value``
    (the value the period was judged on) and ``status`` ("alert", "normal" or "too few rows").
    With ``bounds`` (a rate's 0 to 1), the expected range is clipped to the values the metric
    can take: "42% to 122%" would only confuse.
    """
    out = table.copy()
    if bounds is not None:
        for col in ("expected_low", "expected_high"):
            out[col] = out[col].clip(*bounds)
    out["period"] = [period_key(s) for s in out["start"]]
    out["label"] = [fmt.window_label(s, freq) for s in out["start"]]
    enough = out["rows_with_actuals"] >= min_rows
    out["realized"] = out["metric"].where(enough)
    out["estimated_shown"] = out["estimated"].where(~out["sparse"])
    out["judged_value"] = out["metric"].where(out["basis"] == Basis.ACTUAL, out["estimated"])
    out.loc[out["basis"] == Basis.NONE, "judged_value"] = float("nan")
    out["status"] = "normal"
    out.loc[out["alert"].astype(bool), "status"] = "alert"
    out.loc[out["sparse"].astype(bool), "status"] = "too few rows"
    out["without_actuals"] = out["rows"] - out["rows_with_actuals"]
    out["mid"] = out["start"] + (out["end"] - out["start"]) / 2
    return out


def _time_axis(frame: pd.DataFrame, freq: str, field: str = "start") -> alt.X:
    """Return the shared time axis: one domain for every chart, about ten labelled ticks.

    Periods span ``[start, end)``; values are drawn at their middle (``mid``).
    """
    steps = max(1, round(len(frame) / 10))
    interval = {"hour": "hour", "day": "day", "week": "week"}.get(freq, "day")
    domain = [frame["start"].iloc[0].isoformat(), frame["end"].iloc[-1].isoformat()]
    return alt.X(
        f"{field}:T",
        title=None,
        scale=alt.Scale(domain=domain),
        axis=alt.Axis(
            format=_AXIS_FORMAT.get(freq, "%b %d"),
            tickCount={"interval": interval, "step": steps},
            labelOverlap=True,
        ),
    )


def timeline_chart(
    frame: pd.DataFrame,
    *,
    metric_name: str,
    percent: bool,
    freq: str,
    neutral: bool = False,
    traced: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> alt.LayerChart:
    """Chart the metric per period with its expected band and alerts.

    Parameters
    ----------
    frame : DataFrame
        `timeline_frame` output.
    metric_name : str
        The metric's display name (axis title).
    percent : bool
        Format values as percentages.
    freq : {"hour", "day", "week"}
        The period length (axis labels).
    neutral : bool, default False
        The metric has no better direction: alerts are "changed" (blue), never red.
    traced : (Timestamp, Timestamp), optional
        The production window being traced, shaded.

    Returns
    -------
    alt.LayerChart
        Clicking an alert point selects it (selection parameter `ALERT_PARAM`, field
        ``period``).
    """
    value_fmt = ".1%" if percent else ".3~g"
    x = _time_axis(frame, freq, "mid")
    domain = [frame["start"].iloc[0].isoformat(), frame["end"].iloc[-1].isoformat()]
    tooltip = [
        alt.Tooltip("label:N", title="Period"),
        alt.Tooltip("rows:Q", title="Rows", format=","),
        alt.Tooltip("rows_with_actuals:Q", title="Rows with actuals", format=","),
        alt.Tooltip("realized:Q", title=f"{metric_name} (measured)", format=value_fmt),
        alt.Tooltip("estimated_shown:Q", title=f"{metric_name} (estimated)", format=value_fmt),
        alt.Tooltip("expected_low:Q", title="Expected from", format=value_fmt),
        alt.Tooltip("expected_high:Q", title="Expected to", format=value_fmt),
        alt.Tooltip("status:N", title="Status"),
    ]
    y_axis = alt.Axis(format=".0%" if percent else "~g", minExtent=_Y_AXIS_WIDTH)
    layers: list[alt.Chart] = []
    if traced is not None:
        span = pd.DataFrame({"start": [traced[0]], "end": [traced[1]]})
        layers.append(
            alt.Chart(span)
            .mark_rect(color=fmt.PRODUCTION, opacity=0.12)
            .encode(x=alt.X("start:T", scale=alt.Scale(domain=domain)), x2="end:T")
        )
    # The band as steps over each period [start, end): one more point closes the last one.
    band = frame[["start", "expected_low", "expected_high"]]
    closing = band.tail(1).assign(start=frame["end"].iloc[-1])
    layers.append(
        alt.Chart(pd.concat([band, closing], ignore_index=True))
        .mark_area(color=fmt.BASELINE, opacity=0.30, interpolate="step-after")
        .encode(
            x=_time_axis(frame, freq),
            y=alt.Y("expected_low:Q", title=metric_name, axis=y_axis, scale=alt.Scale(zero=False)),
            y2="expected_high:Q",
        )
    )
    series = frame.melt(
        id_vars=["mid"],
        value_vars=["realized", "estimated_shown"],
        var_name="series",
        value_name="value",
    )
    names = {"realized": "Measured (with actuals)", "estimated_shown": "Estimated from scores"}
    series["series"] = series["series"].map(names)
    shown = [n for n in names.values() if series.loc[series["series"] == n, "value"].notna().any()]
    colors = {names["realized"]: fmt.PRODUCTION, names["estimated_shown"]: fmt.ESTIMATED}
    dashes = {names["realized"]: [1, 0], names["estimated_shown"]: [5, 3]}
    layers.append(
        alt.Chart(series[series["series"].isin(shown)])
        .mark_line(strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y("value:Q"),
            color=alt.Color(
                "series:N",
                scale=alt.Scale(domain=shown, range=[colors[n] for n in shown]),
                title=None,
                legend=alt.Legend(orient="top"),
            ),
            strokeDash=alt.StrokeDash(
                "series:N",
                scale=alt.Scale(domain=shown, range=[dashes[n] for n in shown]),
                legend=None,
            ),
        )
    )
    judged = frame[frame["status"] != "too few rows"]
    layers.append(
        alt.Chart(judged[judged["status"] == "normal"])
        .mark_circle(size=28, color=fmt.PRODUCTION, opacity=0.8)
        .encode(x=x, y="judged_value:Q", tooltip=tooltip)
    )
    pick = alt.selection_point(name=ALERT_PARAM, fields=["period"], on="click", empty=False)
    alert_color = fmt.CHANGED if neutral else fmt.WORSE
    layers.append(
        alt.Chart(judged[judged["status"] == "alert"])
        .mark_point(size=140, filled=True, color=alert_color, cursor="pointer")
        .encode(
            x=x,
            y="judged_value:Q",
            tooltip=tooltip,
            stroke=alt.condition(pick, alt.value("#111"), alt.value(alert_color)),
            strokeWidth=alt.condition(pick, alt.value(3), alt.value(1)),
        )
        .add_params(pick)
    )
    sparse = frame[frame["status"] == "too few rows"]
    if len(sparse):
        layers.append(
            alt.Chart(sparse)
            .mark_point(shape="cross", size=60, color=fmt.NEUTRAL, filled=True)
            .encode(x=x, y=alt.value(232), tooltip=tooltip)
        )
    return alt.layer(*layers).properties(height=240)


def volume_chart(frame: pd.DataFrame, *, freq: str) -> alt.Chart:
    """Rows per period (`timeline_frame`), with and without actuals, on the same time axis."""
    x = _time_axis(frame, freq)
    # Stacked by hand (bottom and top of each part): bars span their period exactly.
    parts = {
        "with actuals": (0, frame["rows_with_actuals"]),
        "without actuals": (frame["rows_with_actuals"], frame["rows"]),
    }
    volume = pd.concat(
        [
            pd.DataFrame({"start": frame["start"], "end": frame["end"], "kind": kind,
                          "bottom": bottom, "top": top, "rows": top - bottom,
                          "label": frame["label"]})
            for kind, (bottom, top) in parts.items()
        ],
        ignore_index=True,
    )  # fmt: skip
    return (
        alt.Chart(volume)
        .mark_rect(opacity=0.9, stroke="white", strokeWidth=0.5)
        .encode(
            x=x,
            x2="end:T",
            y=alt.Y(
                "bottom:Q",
                title="Rows",
                axis=alt.Axis(format="~s", tickCount=3, minExtent=_Y_AXIS_WIDTH),
            ),
            y2="top:Q",
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(
                    domain=["with actuals", "without actuals"],
                    range=[fmt.BASELINE, "#dde3e8"],
                ),
                title=None,
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("label:N", title="Period"),
                alt.Tooltip("kind:N", title="Rows"),
                alt.Tooltip("rows:Q", title="Count", format=","),
            ],
        )
        .properties(height=90)
    )
