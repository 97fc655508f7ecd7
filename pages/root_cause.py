"""Step 3: the suspects behind the top slices: new values, drift, data quality, labels."""

import contextlib

import pandas as pd
import streamlit as st

from tracing.drift import thresholds_text
from tracing.errors import DataError
from tracing.slices import parse_slice_id
from ui import cache, charts, fmt, state
from ui.layout import PAGE_FILES, guard, header, require_analysis, tracing_banner

header(
    "Why did these slices get worse?",
    "Step 3 of tracing: the evidence behind the slices that cost most (values new in "
    "production, distributions that moved, broken data, conflicting labels), strongest first.",
    page="root_cause",
)
analysis, view, key = require_analysis()
tracing_banner(view, analysis)
metric = analysis.metric
roles = analysis.schema.roles
search = state.slice_settings(roles.slice_columns())

measured = analysis.has_actuals
with st.spinner("Weighing the evidence…"), guard("ranking the suspects"):
    drift = cache.drift(key)
    quality = cache.quality(key)
    if measured:
        suspects = cache.suspects(key, metric.id, search)
        conflicts = cache.labels(key)
    else:  # suspects explain slices, and slices need actuals
        suspects = pd.DataFrame(columns=["feature", "value", "kind", "score", "slice_id"])
        conflicts = None

# --- suspects ----------------------------------------------------------------------------------

KIND_ICONS = {
    "new category": ":material/fiber_new:",
    "drift": ":material/trending_up:",
    "quality": ":material/report:",
    "label conflict": ":material/label_off:",
    "slice": ":material/splitscreen:",
}
st.subheader("Suspects")
if not measured:
    st.info(
        "Suspects explain the slices that cost most, and finding slices needs actuals: "
        "production has none yet. Below is what can be checked without them: which columns "
        "moved between the baseline and production (the predictions too), and whether the "
        "data broke. Join the actuals on the Data page to rank suspects.",
        icon=":material/hourglass_empty:",
    )
elif suspects.empty:
    st.success(
        "Nothing stands out: no slice does clearly worse, and no column drifted or broke.",
        icon=":material/check_circle:",
    )
else:
    selected = view.slice
    for _, s in suspects.head(5).iterrows():
        with st.container(border=True):
            what = f"{s['feature']} = {s['value']}" if s["value"] is not None else s["feature"]
            mine = selected is not None and s["slice_id"] == selected
            st.markdown(
                f"**{int(s['rank'])}. {what}** · {s['kind']}"
                + (" · :blue-badge[selected slice]" if mine else "")
            )
            st.markdown(fmt.md(s["explanation"]))
            st.progress(float(s["score"]), text=f"Strength of evidence {s['score']:.0%}")
    st.caption(
        "Ranked by how strongly the evidence points at each suspect, weighted by the impact of "
        "the slice it explains. A value new in production is the strongest evidence; drift and "
        "data-quality findings follow."
    )
    if len(suspects) > 5:
        with st.expander(f"All {len(suspects)} suspects"):
            st.dataframe(
                suspects[["rank", "feature", "value", "kind", "score", "explanation"]],
                hide_index=True,
                column_config={
                    "rank": st.column_config.NumberColumn("#", width="small"),
                    "score": st.column_config.ProgressColumn(
                        "Evidence", min_value=0.0, max_value=1.0, format="percent"
                    ),
                    "explanation": st.column_config.TextColumn("Why", width="large"),
                },
            )

# --- distributions -----------------------------------------------------------------------------

st.subheader("What moved between the baseline and production?")
table = drift.table
drift_columns = list(table["feature"])
suspected = [f for f in dict.fromkeys(suspects["feature"]) if f in drift_columns][:3]
if view.slice:
    with contextlib.suppress(DataError):  # a malformed slice id only loses the preselection
        in_slice = [f for f, _ in parse_slice_id(view.slice)]
        suspected = list(dict.fromkeys(in_slice + suspected))[:3]
if not suspected:
    suspected = list(drift.drifted[:3]) or drift_columns[:1]
picked = st.multiselect(
    "Compare the distributions of",
    drift_columns,
    default=[c for c in suspected if c in drift_columns],
    key="w_hist_columns",
    help="Preselected: the suspected features.",
)
cols = st.columns(2)
for i, column in enumerate(picked):
    with cols[i % 2], guard(f"comparing {column}", stop=False):
        st.altair_chart(charts.drift_histogram(cache.histogram(key, column), column))
        row = table[table["feature"] == column].iloc[0]
        st.caption(
            f"Share of rows per value of {fmt.md(column)} on the baseline's bins, baseline "
            f"(grey) vs production (blue). PSI {row['psi']:.3f}: "
            + ("drifted (" + str(row["reason"]) + ")." if row["drifted"] else "no drift.")
        )

shown = pd.DataFrame(
    {
        "Column": table["feature"],
        "Role": table["role"],
        "Drift": table["severity"],
        # Numbers, so that sorting works and a missing value shows as a dash.
        "PSI": pd.to_numeric(table["psi"], errors="coerce"),
        "JS distance": pd.to_numeric(table["js"], errors="coerce"),
        "Wasserstein (std)": pd.to_numeric(table["wasserstein"], errors="coerce"),
        "Missing, baseline": table["missing_baseline"],
        "Missing, production": table["missing_production"],
        "Why": table["reason"],
    }
)
styled = (
    shown.style.hide(axis="index")
    .format({"PSI": "{:.3f}", "JS distance": "{:.3f}", "Wasserstein (std)": "{:.2f}"}, na_rep="–")
    .format({"Missing, baseline": "{:.1%}", "Missing, production": "{:.1%}"})
    .map(lambda v: f"color: {fmt.severity_colour(v)}; font-weight: 600", subset=["Drift"])
)
st.dataframe(styled, hide_index=True, key="drift_table")
st.caption(
    (
        "Every feature, the prediction, the score and the actual"
        if measured
        else "Every feature, the prediction and the score (production has no actuals yet)"
    )
    + f", most drifted first. {thresholds_text()}."
)

# --- data quality and labels -------------------------------------------------------------------

st.subheader("Is the data itself broken?")
if quality.empty:
    st.success("No data-quality finding.", icon=":material/check_circle:")
else:
    q = pd.DataFrame(
        {
            "Check": quality["check"].str.replace("_", " "),
            "Column": quality["feature"],
            "Data": quality["dataset"],
            "Severity": quality["severity"],
            "Finding": quality["detail"],
        }
    )
    st.dataframe(
        q.style.hide(axis="index").map(
            lambda v: f"color: {fmt.severity_colour(v)}; font-weight: 600",
            subset=["Severity"],
        ),
        hide_index=True,
        key="quality_table",
        column_config={"Finding": st.column_config.TextColumn(width="large")},
    )
    st.caption(
        "Missing values, values new or gone, values out of the baseline's range, wrong types, "
        "constant columns and repeated ids, production against the baseline."
    )

if conflicts is None:
    st.divider()
    st.page_link(PAGE_FILES["explain"], label="Next: what drives the predictions?", icon="➡️")
    st.stop()
summary = conflicts.summary
deps = conflicts.dependencies
checked = bool(summary["checked"].any()) if len(summary) else False
conflicting = summary[summary["groups"] > 0]
if conflicting.empty and deps.empty:
    st.success(
        "No label conflict: "
        + ("rows with identical features agree on the actual, and " if checked else "")
        + "columns that determine each other in the baseline still do in production.",
        icon=":material/check_circle:",
    )
else:
    st.markdown("**Conflicting labels**")
    for _, r in conflicting.iterrows():
        st.markdown(
            f"- {r['dataset']}: {fmt.count(r['rows'])} rows ({fmt.pct(r['share'])}) in "
            f"{fmt.count(r['groups'])} groups have identical features but different actuals."
        )
    if not deps.empty:
        st.dataframe(deps, hide_index=True, key="dependency_table")
        st.caption(
            "Columns that determine another in the baseline (like zip code → city) but not in "
            "production: the same key now carries other values."
        )

st.divider()
st.page_link(PAGE_FILES["explain"], label="Next: what drives the predictions?", icon="➡️")
