"""Step 2: the slices ranked by performance impact, and a drilldown into the selected one."""

from dataclasses import replace

import streamlit as st

from tracing.errors import DataError
from tracing.options import SliceSearch
from tracing.slices import ChangeCause, slice_id
from tracing.textfmt import csv_safe
from ui import cache, charts, controls, fmt, state, tables
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
slice_columns = list(analysis.schema.roles.slice_columns())

# --- controls (page-local, bound to the URL) ---------------------------------------------------

c_metric, c_depth, c_size = st.columns([2, 1, 1])
with c_metric:
    controls.metric_picker(analysis, key="w_metric_slices")
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
    default=slice_columns,
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
search = state.slice_settings(tuple(slice_columns))
if not metric.additive:
    st.caption(f"{metric.name} is not additive: the search is exact but slower on big data.")

# --- the ranked slices -------------------------------------------------------------------------

with st.spinner("Searching every slice…"), guard("searching the slices"):
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
st.markdown(
    f"Overall {metric.name} in production is **{overall}** (baseline {baseline_overall}). "
    f"The slice that costs most is **{fmt.md_conditions(top['conditions'])}**: "
    f"{fmt.pct(top['share'])} of the rows, {metric.name} "
    f":red[{fmt.metric_value(top['metric'], metric)}], costing "
    f"{fmt.metric_delta(top['impact'], metric).lstrip('+')} of {metric.name}."
)
shown, config = tables.slice_table(visible, metric)
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
)
folded = len(table) - len(listed)
st.caption(
    f"Slices of at least {fmt.count(result.min_size)} rows that do worse than average, most "
    f"costly first. Impact = how much worse than the overall {metric.name} × the slice's share "
    f"of its volume"
    + (
        f"; {folded} broader or narrower versions of a listed slice are hidden (open a "
        "slice to see them)."
        if folded
        else "."
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
with st.spinner("Opening the slice…"), guard("opening the slice"):
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
    f"{metric.name} here in the baseline",
    fmt.metric_value(stats["baseline_metric"], metric) if stats["baseline_size"] else "absent",
    border=True,
    help="The same slice in the baseline data.",
)
cards[3].metric(
    "Impact",
    fmt.metric_delta(stats["impact"], metric).lstrip("+"),
    border=True,
    help=f"How much of the overall {metric.name} this slice costs.",
)
cause = drill.cause
if cause is not None:
    why = {
        ChangeCause.NEW: "it is new in production",
        ChangeCause.WORSE: "it got worse",
        ChangeCause.GREW: "it grew",
    }[cause]
    st.caption(
        f"Since the baseline, this slice moved the overall {metric.name} by "
        f"{fmt.metric_delta(stats['performance_effect'], metric)} through its own performance "
        f"and {fmt.metric_delta(stats['mix_effect'], metric)} through its change in volume: "
        f"mostly because {why}."
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
    children = drill.children.head(50).reset_index(drop=True)
    if children.empty:
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
        )
        st.caption(
            "Each row adds one condition to the slice, ranked by impact within the slice; "
            "select one to drill further."
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
        left, right = st.columns(2)
        with left:
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
                f"{metric.name} per value of {fmt.md(feature)} inside the slice, baseline vs "
                "production; the dashed line is the slice's production value."
            )
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
    st.dataframe(rows.head(1000), hide_index=True, key="slice_rows")
    st.caption(
        f"The first {fmt.count(min(len(rows), 1000))} of {fmt.count(len(rows))} production rows "
        "of the slice."
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
