"""Which features drive the model's output and its errors (SHAP importance)."""

import streamlit as st

from tracing.errors import DataError
from tracing.explain import DEFAULT_SHAP_SAMPLE_SIZE, Explanation
from tracing.report import Section
from ui import cache, charts, fmt, state
from ui.engine import sampled
from ui.layout import PAGE_FILES, guard, header, require_analysis, tracing_banner

header(
    "What drives the model's predictions and its errors?",
    "SHAP importance: which features move the model's output (production vs baseline), which "
    "features drive its mistakes now, and what is different inside the selected slice.",
    page="explain",
)
analysis, view, key = require_analysis()
tracing_banner(view, analysis)
sampled(key, "SHAP importance", section=Section.IMPORTANCE)
metric = analysis.metric
search = state.slice_settings(cache.slice_features(key)[0])

mask, slice_text = None, None
if view.slice:
    with guard("opening the slice"):
        try:
            drill = cache.slice_drilldown(key, metric.id, search, view.slice)
        except DataError as exc:  # a slice id that does not fit this data: explain all rows
            st.warning(
                f"The selected slice cannot be opened here ({fmt.md(str(exc))}); "
                "explaining all rows."
            )
        else:
            mask, slice_text = drill.production_mask, fmt.md_conditions(drill.conditions)

store = cache.explanations()
ident = (key, view.slice if mask is not None else "")


def computed(*, quick: bool) -> Explanation:
    """Compute one pass with a progress bar (or fetch it)."""
    bar = st.progress(0.0, text="Explaining the model…")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=f"SHAP: {message}…")

    with guard("computing SHAP values"):
        found = store.compute(ident, analysis, mask, progress, quick=quick)
    bar.empty()
    return found


explanation = store.best(ident)
if explanation is None:
    explanation = computed(quick=True)  # seconds; the full pass follows in the background
if explanation.quick:
    store.prefetch_full(ident, analysis, mask)
    slot = st.empty()
    with slot.container():
        st.info(
            "**Quick first pass.** These rankings come from smaller models on "
            f"{fmt.count(explanation.sample_rows)} sampled rows per group, so they are "
            "approximate: features with close bars may swap places. The full pass, on up to "
            f"{fmt.count(DEFAULT_SHAP_SAMPLE_SIZE)} rows per group, is running in the "
            "background; press **Run the full pass** to show it (it replaces this one by "
            "itself on your next visit).",
            icon=":material/speed:",
        )
        full = st.button("Run the full pass", key="explain_full", icon=":material/refresh:")
    if full:
        slot.empty()
        explanation = computed(quick=False)

imp = explanation.importance
source = {
    "surrogate": "a surrogate model trained to reproduce the model's output from the features",
    "logged": "the SHAP values logged with the predictions",
    "model": "the uploaded model file",
}[explanation.source]
fidelity = ""
if explanation.fidelity is not None:
    what = "R²" if explanation.fidelity_metric == "r2" else "agreement"
    fidelity = f" ({what} with the model's output on held-out rows: {explanation.fidelity:.2f})"
st.markdown(
    f"SHAP values come from {source}{fidelity}"
    + (" (quick first pass)." if explanation.quick else " (full pass).")
)
if explanation.fidelity_warning:
    st.warning(explanation.fidelity_warning, icon=":material/warning:")

left, right = st.columns(2)
with left:
    st.subheader("What the model leans on")
    st.altair_chart(
        charts.importance_bars(
            imp,
            {"mean_abs_shap": "production", "baseline_mean_abs_shap": "baseline"},
            title="Mean |SHAP|: average move of the output",
            colors=(fmt.PRODUCTION, fmt.BASELINE),
        )
    )
    st.caption(
        "**Mean |SHAP value|** is how much this feature moves the model's output, on "
        "average, up or down (in the output's units), on "
        f"{fmt.count(explanation.sample_rows)} sampled production rows and "
        "as many baseline rows. A feature that matters more in production changed role."
    )
with right:
    st.subheader("What drives the errors now")
    if not analysis.has_actuals:
        st.info(
            "The error model needs actuals, and production has none yet: join a file of "
            "delayed actuals (or choose a proxy actual) on the Data page.",
            icon=":material/hourglass_empty:",
        )
    elif explanation.error_target is None or imp["error_mean_abs_shap"].isna().all():
        st.info("No error model: production has too few rows with actuals.")
    else:
        st.altair_chart(
            charts.importance_bars(
                imp,
                {"error_mean_abs_shap": "production errors"},
                title=f"Mean |SHAP value|: how much it moves the {explanation.error_target}",
                colors=(fmt.WORSE,),
            )
        )
        st.caption(
            f"A model trained to predict each production row's {explanation.error_target}. "
            "Its **mean |SHAP value|** is how much this feature moves the model's error, on "
            "average: the features it relies on are where the mistakes concentrate."
        )

if mask is not None and "slice_mean_abs_shap" in imp.columns:
    st.subheader(f"Inside the selected slice: {slice_text}")
    st.altair_chart(
        charts.importance_bars(
            imp,
            {"slice_mean_abs_shap": "in the slice", "rest_mean_abs_shap": "rest of production"},
            title="Mean |SHAP|: average move of the output",
            colors=(fmt.WORSE, fmt.BASELINE),
        )
    )
    st.caption(
        "Mean |SHAP| inside the slice against the rest of production: features that matter "
        "much more inside the slice are how the model sees it differently."
    )
elif not view.slice:
    st.caption("Select a slice on the Slices page to compare it with the rest of production.")

with st.expander("All features"):
    moves = "how much this feature moves the model's output, on average"
    number = st.column_config.NumberColumn
    st.dataframe(
        imp,
        hide_index=True,
        key="importance_table",
        column_config={
            "mean_abs_shap": number(
                "Production", help=f"Mean |SHAP value|: {moves}", format="%.4f"
            ),
            "baseline_mean_abs_shap": number(
                "Baseline", help=f"Mean |SHAP value| on baseline rows: {moves}", format="%.4f"
            ),
            "change": number(
                "Change",
                help="Production minus baseline: how much more it moves the output now",
                format="%+.4f",
            ),
            "error_mean_abs_shap": number(
                "Errors",
                help="Mean |SHAP value| of the error model: how much this feature moves the "
                "model's error, on average",
                format="%.4f",
            ),
            "slice_mean_abs_shap": number("In the slice", help=moves, format="%.4f"),
            "rest_mean_abs_shap": number("Rest of production", help=moves, format="%.4f"),
            "rank": st.column_config.NumberColumn("Rank", help="1 = moves production most"),
        },
    )
for note in explanation.notes:
    st.caption(fmt.md(note))  # notes name columns from the data

st.divider()
st.page_link(PAGE_FILES["share"], label="Next: share what you found", icon="➡️")
