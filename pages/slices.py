"""Step 2: the slices ranked by performance impact, and a drilldown into the selected one."""

from dataclasses import replace

import streamlit as st

from tracing import findings
from tracing.errors import DataError
from tracing.options import SliceSearch
from tracing.slices import slice_id
from tracing.textfmt import csv_safe
from ui import cache, charts, controls, fmt, state, tables
from ui.engine import progress, sampled_text_of
from ui.layout import (
    PAGE_FILES,
    guard,
    header,
    needs_actuals,
    require_analysis,
    tracing_banner,
)
from ui.state import current_view, set_view

SHOWN = 20  # listed, of the state.SLICE_TOP ranked (fewer once repeats are folded)
TABLE_KEY = "slice_table"
CHILDREN_KEY = "children_table"

header(
    "Which slices pull performance down?",
    "Step 2 of tracing: every group of rows defined by up to a few feature values, ranked by "
    "how much of the overall metric it costs. Select a row to look inside.",
    page="slices",
)
analysis, view, key = require_analysis()
tracing_banner(view, analysis)
needs_actuals(analysis, "Ranking slices by how much of the metric they cost")
metric = analysis.metric
# The engine's default features (id-like columns out, calendar parts in); the picker offers
# the columns left out too, so they can be put back.
with progress(key, "Counting every feature's values"), guard("choosing the slice columns"):
    default_features, left_out = cache.slice_features(key)
slice_columns = [*default_features, *(c for c, _ in left_out if c not in default_features)]

# --- controls (page-local, bound to the URL) ---------------------------------------------------

c_metric, c_depth, c_size = st.columns([2, 1, 1])
with c_metric:
    controls.metric_picker(analysis, key="w_metric_slices", plan=cache.plan_of(key))
with c_depth:
    st.selectbox(
        "Conditions per slice",
        [1, 2, 3, 4],
        index=SliceSearch.max_depth - 1,
        key=state.DEPTH_KEY,
        bind="query-params",
        persist_state="session",
        help="Most feature = value conditions combined in one slice.",
    )
with c_size:
    st.number_input(
        "Minimum rows",
        min_value=1,
        value=None,
        step=10,
        key=state.MIN_SIZE_KEY,
        bind="query-params",
        persist_state="session",
        placeholder="automatic",
        help="Smallest slice listed (default: 30 rows or 0.1% of production, whichever is more).",
    )
chosen = st.multiselect(
    "Slice by",
    slice_columns,
    default=list(default_features),
    key=state.SLICE_BY_KEY,
    bind="query-params",
    persist_state="session",
    help="Features (and tags) whose values define slices.",
)
st.toggle(
    "Hide slices that repeat one listed above (broader or narrower versions of it)",
    value=SliceSearch.distinct,
    key=state.FOLD_KEY,
    bind="query-params",
    persist_state="session",
)
if not chosen:
    st.warning("Choose at least one feature to slice by.")
    st.stop()
search = state.slice_settings(tuple(default_features))
if left_out and search.features is None:
    names = "; ".join(f"{fmt.md(c)} ({fmt.md(why)})" for c, why in left_out)
    st.caption(f"Not sliced by default: {names}. Add them under *Slice by* to slice by them.")
if not metric.additive:
    st.caption(f"{metric.name} is not additive: the search is exact but slower on big data.")

# --- the ranked slices -------------------------------------------------------------------------

with progress(key, "Searching every slice"), guard("searching the slices"):
    result = cache.slices(key, metric.id, search)
table = result.table
listed = result.listed(distinct=search.distinct)
visible = listed.head(SHOWN).reset_index(drop=True)
overall = fmt.metric_value(result.overall_metric, metric)
baseline_overall = fmt.metric_value(result.baseline_overall_metric, metric)

if visible.empty:
    st.success(
        f"No slice of at least {fmt.count(result.min_size)} rows does worse than the overall "
        f"{metric.name} ({overall}); the change is spread evenly.",
        icon=":material/check_circle:",
    )
    st.stop()

top = visible.iloc[0]
overall_change = result.overall_metric - result.baseline_overall_metric
top_share = findings.slice_share(top, overall_change=overall_change, percent=metric.percent)
top_impact = findings.impact_text(top["impact"], metric.name, metric.direction, metric.percent)
st.markdown(
    f"Overall {metric.name} in production is **{overall}** (baseline {baseline_overall}). "
    f"The slice that costs most is **{fmt.md_conditions(top['conditions'])}**: "
    f"{fmt.pct(top['share'])} of the rows, {metric.name} "
    f":red[{fmt.metric_value(top['metric'], metric)}]"
    + (
        f". It **{findings.share_text(top_share, metric.name)}**, "
        f"{findings.split_text(top_share)}."
        if top_share is not None
        else f", {top_impact}."
    )
)
shown, config = tables.slice_table(visible, metric, overall_change=overall_change)
ids = list(visible["slice_id"])
st.session_state[TABLE_KEY] = {
    "selection": {"rows": [ids.index(view.slice)] if view.slice in ids else [], "columns": []}
}


def table_picked() -> None:
    rows = st.session_state[TABLE_KEY]["selection"]["rows"]
    set_view(replace(current_view(), slice=ids[rows[0]] if rows else None))


st.dataframe(
    shown,
    key=TABLE_KEY,
    on_select=table_picked,
    selection_mode="single-row",
    hide_index=True,
    column_config=config,
    placeholder=fmt.DASH,
)
folded = len(table) - len(listed)
impact_words = findings.impact_label(metric.name, metric.direction, metric.percent)
st.caption(
    f"Slices of at least {fmt.count(result.min_size)} rows that do worse than average, ranked "
    f"by impact: {impact_words} (how much worse than the overall {metric.name} × the slice's "
    "share of its volume). Part of the change: how much of the change since the baseline the "
    "slice accounts for."
    + (f" {findings.OVERLAP_NOTE}" if findings.may_overlap(visible["conditions"]) else "")
    + (
        f" {folded} broader or narrower versions of a listed slice are hidden (open a "
        "slice to see them)."
        if folded
        else ""
    )
    + " Click a column header to sort."
)

# --- drilldown ---------------------------------------------------------------------------------

view = current_view()
cache.prefetch_drilldowns(key, metric.id, search, [i for i in ids[:3] if i != view.slice])
if not view.slice:
    st.info("Select a row to see what is inside the slice.", icon=":material/touch_app:")
    st.stop()

bad: DataError | None = None
with progress(key, "Opening the slice"), guard("opening the slice"):
    try:
        drill = cache.slice_drilldown(key, metric.id, search, view.slice)
    except DataError as exc:  # a slice id that does not fit this data: offer to clear it
        bad = exc
if bad is not None:
    st.warning(
        f"The selected slice cannot be opened here: {fmt.md(str(bad))}", icon=":material/warning:"
    )
    if st.button("Clear the selection"):
        set_view(replace(view, slice=None))
        st.rerun()
    st.stop()
stats = drill.stats
conditions = drill.conditions

st.subheader("Inside the slice")
crumbs = st.container(horizontal=True, gap="small", vertical_alignment="center")
with crumbs:
    if st.button("All data", type="tertiary", icon=":material/home:", key="crumb_0"):
        set_view(replace(view, slice=None))
        st.rerun()
    for i in range(1, len(conditions) + 1):
        feature, value = conditions[i - 1]
        st.markdown("›")
        last = i == len(conditions)
        label = fmt.md_conditions([(feature, value)])
        kind = "secondary" if last else "tertiary"
        if st.button(label, type=kind, key=f"crumb_{i}", disabled=last):
            set_view(replace(view, slice=slice_id(conditions[:i])))
            st.rerun()

cards = st.columns(4)
cards[0].metric(
    "Rows",
    fmt.count(stats["size"]),
    delta=f"{fmt.pct(stats['share'])} of production",
    delta_color="off",
    delta_arrow="off",
    border=True,
    help=f"{fmt.count(stats['baseline_size'])} rows ({fmt.pct(stats['baseline_share'])}) in the "
    "baseline.",
)
cards[1].metric(
    f"{metric.name} here",
    fmt.metric_value(stats["metric"], metric),
    delta=f"{fmt.metric_delta(stats['delta'], metric)} vs all rows",
    delta_color=fmt.delta_color(stats["metric"], result.overall_metric, metric.direction),
    border=True,
)
cards[2].metric(
    "In the baseline",
    fmt.metric_value(stats["baseline_metric"], metric) if stats["baseline_size"] else "absent",
    border=True,
    help=f"{metric.name} of the same slice in the baseline data (absent: the slice has no "
    "baseline rows, it is new in production).",
)
share = findings.slice_share(stats, overall_change=overall_change, percent=metric.percent)
impact_line = findings.impact_text(stats["impact"], metric.name, metric.direction, metric.percent)
if share is not None:
    cards[3].metric(
        "Part of the change",
        findings.amount_text(share.change, metric.percent, signed=True),
        delta=f"of {findings.amount_text(overall_change, metric.percent, signed=True)} overall",
        delta_color="off",
        delta_arrow="off",
        border=True,
        help=f"This slice {findings.share_text(share, metric.name)}: "
        f"{findings.split_text(share)}. Narrower or overlapping slices share rows, so their "
        "parts do not add up.",
    )
    st.markdown(
        f"This slice **{findings.share_text(share, metric.name)}**, "
        f"{findings.split_text(share)}. Its rank in the list comes from its impact: "
        f"{impact_line}."
    )
else:
    cards[3].metric(
        "Impact",
        findings.amount_text(stats["impact"], metric.percent),
        border=True,
        help=f"{impact_line[0].upper()}{impact_line[1:]}.",
    )
    st.caption(
        f"{metric.name} is not a ratio of sums, so its change since the baseline does not split "
        f"into slices; the slice is ranked by its impact: {impact_line}."
    )

chance = findings.chance_sentence(stats["p_value"], metric.name, stats["delta"])
if chance and conditions:
    st.caption(
        f"{chance[0].upper()}{chance[1:]} (p-value {stats['p_value']:.1e}: the chance of a gap "
        "this large if the slice were like the rest)."
    )

# The next clicks are the breadcrumbs and the narrower slices: open them in the background.
parents = [slice_id(conditions[:i]) for i in range(1, len(conditions))]
cache.prefetch_drilldowns(
    key, metric.id, search, parents[::-1] + list(drill.children["slice_id"].head(3))
)

# Only the open tab is drawn: a click on a slice then draws one table, not three plus charts.
tab_children, tab_features, tab_rows = st.tabs(
    ["Narrower slices", "By feature", "Rows"], key="drill_tab", on_change="rerun"
)


def show_children() -> None:
    here = f"{metric.name} is {fmt.metric_value(stats['metric'], metric)}"
    children, uniform = findings.notable_children(
        drill.children, percent=metric.percent, parent_metric=stats["metric"], metric_text=here
    )
    children = children.head(50).reset_index(drop=True)
    if uniform:
        st.info(uniform, icon=":material/horizontal_rule:")
    elif children.empty:
        st.caption(f"No narrower slice has at least {fmt.count(drill.min_size)} rows.")
    else:
        shown_c, config_c = tables.children_table(children, metric, conditions)
        child_ids = list(children["slice_id"])
        st.session_state[CHILDREN_KEY] = {"selection": {"rows": [], "columns": []}}

        def child_picked() -> None:
            rows = st.session_state[CHILDREN_KEY]["selection"]["rows"]
            if rows:
                set_view(replace(current_view(), slice=child_ids[rows[0]]))

        st.dataframe(
            shown_c,
            key=CHILDREN_KEY,
            on_select=child_picked,
            selection_mode="single-row",
            hide_index=True,
            column_config=config_c,
            placeholder=fmt.DASH,
        )
        hidden = len(drill.children) - len(children)
        st.caption(
            "Each row adds one condition to the slice, ranked by impact within the slice; "
            "select one to drill further. Narrower slices of different features share rows, "
            "so their figures do not add up."
            + (
                f" {hidden} narrower slices that do no worse than the slice itself are not listed."
                if hidden
                else ""
            )
        )


def metric_chart(data, values, feature: str) -> None:
    st.altair_chart(
        charts.grouped_bars(
            data,
            category="value",
            value="metric",
            title=metric.name,
            percent=metric.percent,
            order=values,
            reference=stats["metric"],
        )
    )
    st.caption(
        f"{metric.name} per value of {fmt.md(feature)} "
        "inside the slice, baseline vs production; the dashed line is the slice's production "
        "value."
    )


def show_features() -> None:
    bd = drill.breakdown
    order = drill.feature_order()
    if not order:
        st.caption("Every feature is fixed by the slice's conditions.")
    else:
        feature = st.selectbox(
            "Feature", order, key="w_breakdown_feature",
            help="Ordered by how much the feature's values differ inside the slice.",
        )  # fmt: skip
        data, values = charts.breakdown_frames(bd, feature)
        blank = findings.blank_chart_reason(
            data, value="metric", feature=feature,
            metric_text=f"{metric.name} is {fmt.metric_value(0.0, metric)}",
        )  # fmt: skip
        left, right = st.columns(2)
        with left:
            if blank:
                st.info(fmt.md(blank), icon=":material/bar_chart_off:")
            else:
                metric_chart(data, values, feature)
        with right:
            st.altair_chart(
                charts.grouped_bars(
                    data,
                    category="value",
                    value="share",
                    title="Share of the slice's rows",
                    percent=True,
                    order=values,
                )
            )
            st.caption(
                f"How the slice's rows spread over the values of {fmt.md(feature)}: a bar that "
                "grew in production is a change of mix."
            )


def show_rows() -> None:
    rows = drill.rows("production")
    st.dataframe(rows.head(1000), hide_index=True, key="slice_rows", placeholder=fmt.DASH)
    of_sample = sampled_text_of(key) if drill.rows_sampled else None
    st.caption(
        f"The first {fmt.count(min(len(rows), 1000))} of {fmt.count(len(rows))} production rows "
        "of the slice"
        + (
            f" in the engine's sample (the slice has {fmt.count(stats['size'])} rows in all): "
            f"{fmt.md(of_sample)}."
            if of_sample
            else "."
        )
    )
    st.download_button(
        "Download the slice's rows (CSV)",
        # cells like =HYPERLINK(...) must not run as formulas in a spreadsheet (OWASP)
        lambda: csv_safe(rows).to_csv(index=False).encode(),
        file_name="slice_rows.csv",
        mime="text/csv",
        icon=":material/download:",
    )


for tab, show in (
    (tab_children, show_children),
    (tab_features, show_features),
    (tab_rows, show_rows),
):
    if tab.open is not False:  # None when tabs do not track state (all are drawn)
        with tab:
            show()

st.divider()
st.page_link(PAGE_FILES["root_cause"], label="Next: why did these slices get worse?", icon="➡️")
