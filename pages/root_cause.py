"""Step 3: the suspects behind the top slices: new values, drift, data quality, labels."""

import contextlib

import pandas as pd
import streamlit as st

from tracing import findings
from tracing.drift import thresholds_text
from tracing.errors import DataError
from tracing.report import Section
from tracing.rootcause import headline_suspects
from tracing.slices import parse_slice_id
from tracing.textfmt import condition_text
from ui import cache, charts, fmt, state
from ui.engine import progress, sampled
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
search = state.slice_settings(cache.slice_features(key)[0])

measured = analysis.has_actuals
with progress(key, "Weighing the evidence"), guard("ranking the suspects"):
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
sampled(key, "Drift, data quality and label checks", section=Section.ROOT_CAUSE)
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
    headline = headline_suspects(suspects)
    for _, s in headline.iterrows():
        with st.container(border=True):
            # "temp >= 75.02", not "temp = >= 75.02": the bin's own words (escaped: data).
            what = fmt.md(
                s["feature"] if s["value"] is None else condition_text(s["feature"], s["value"])
            )
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
        "data-quality findings follow. One card per column and kind of evidence (the strongest "
        "threshold); the full ranking lists every one."
    )
    if len(suspects) > len(headline):
        with st.expander(f"All {len(suspects)} suspects"):
            # A static table: the "Why" sentences wrap instead of being cut.
            st.table(
                pd.DataFrame(
                    {
                        "#": suspects["rank"].astype(int),
                        "Suspect": [
                            f if v is None else condition_text(f, v)
                            for f, v in zip(suspects["feature"], suspects["value"], strict=True)
                        ],
                        "Kind": suspects["kind"],
                        "Evidence": [f"{x:.0%}" for x in suspects["score"]],
                        "Why": suspects["explanation"],
                    }
                ).set_index("#")
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
        scores = (
            findings.score_histogram(
                analysis.baseline_frame[column], analysis.production_frame[column]
            )
            if column in roles.prediction_score
            else None
        )  # a score reads on tenths of 0-1, not on quantiles such as [1e-06, 6e-06)
        hist = scores if scores is not None else cache.histogram(key, column)
        st.altair_chart(charts.drift_histogram(hist, column))
        row = table[table["feature"] == column].iloc[0]
        st.caption(
            f"Share of rows per value of {fmt.md(column)} on the baseline's bins, baseline "
            f"(grey) vs production (blue). {findings.drift_words('psi', row['psi']).capitalize()}"
            f" (PSI {fmt.sig(row['psi'])}): "
            + ("drifted (" + fmt.md(row["reason"]) + ")." if row["drifted"] else "no drift.")
        )

shown = pd.DataFrame(
    {
        "Column": table["feature"],
        "Drift": [f"{fmt.severity_mark(v)} {v}".strip() for v in table["severity"]],
        "Reading": [findings.severity_words(v) for v in table["severity"]],
        "Why": table["reason"].fillna(""),
        # Numbers, so that sorting works; a statistic that does not apply shows a dash.
        "PSI": pd.to_numeric(table["psi"], errors="coerce"),
        "JS distance": pd.to_numeric(table["js"], errors="coerce"),
        "Wasserstein (std)": pd.to_numeric(table["wasserstein"], errors="coerce"),
        "Missing, baseline": table["missing_baseline"],
        "Missing, production": table["missing_production"],
        "Role": table["role"],
    }
)
styled = shown.style.hide(axis="index").map(
    lambda v: f"color: {fmt.severity_colour(str(v).split()[-1])}; font-weight: 600",
    subset=["Drift"],
)
st.dataframe(
    styled,
    hide_index=True,
    key="drift_table",
    height="content" if len(shown) <= 30 else "auto",
    placeholder=fmt.DASH,
    column_config={
        "Column": st.column_config.TextColumn(pinned=True),
        "Drift": st.column_config.TextColumn(
            help="The verdict from the thresholds below: ▲ alert, △ warn, none."
        ),
        "Reading": st.column_config.TextColumn(
            help="The verdict in plain words: how much the spread of the column's values moved "
            "between the baseline and production."
        ),
        "PSI": st.column_config.NumberColumn(
            format="%.3g",
            help="Population stability index: how much the share of rows per bin moved "
            "(0 = identical; 0.25 and more is a large shift).",
        ),
        "JS distance": st.column_config.NumberColumn(
            format="%.3g",
            help="Jensen-Shannon distance between the two distributions: 0 identical, 1 no "
            "overlap at all.",
        ),
        "Wasserstein (std)": st.column_config.NumberColumn(
            format="%.3g",
            help="How far the values moved, in baseline standard deviations (numeric columns "
            "only; a dash for categories): 0.5 = the typical value moved by half a standard "
            "deviation.",
        ),
        "Missing, baseline": st.column_config.NumberColumn(format="percent"),
        "Missing, production": st.column_config.NumberColumn(format="percent"),
        "Why": st.column_config.TextColumn(width="medium", help="Which test decided the verdict."),
    },
)
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
    q["Severity"] = [f"{fmt.severity_mark(v)} {v}".strip() for v in q["Severity"]]
    # A static table: every finding is a sentence, which wraps here instead of being cut.
    st.table(
        q.set_index("Check").style.map(
            lambda v: f"color: {fmt.severity_colour(str(v).split()[-1])}; font-weight: 600",
            subset=["Severity"],
        )
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
        st.dataframe(deps, hide_index=True, key="dependency_table", placeholder=fmt.DASH)
        st.caption(
            "Columns that determine another in the baseline (like zip code → city) but not in "
            "production: the same key now carries other values."
        )

st.divider()
st.page_link(PAGE_FILES["explain"], label="Next: what drives the predictions?", icon="➡️")
