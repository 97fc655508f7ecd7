"""Step 1: compare production with a baseline you trust, on every metric."""

import streamlit as st

from tracing.metrics import Metric, applicable_metrics
from tracing.schema import ModelType
from ui import cache, charts, fmt, tables
from ui.layout import PAGE_FILES, guard, header, require_analysis

header(
    "Did the model get worse, and by how much?",
    "Step 1 of tracing: production compared with the baseline on every metric, with 95% "
    "confidence intervals.",
    page="overview",
)
analysis, view, key = require_analysis()
with guard("comparing the metrics"):
    comp = cache.comparison(key)

lead = analysis.metric
table = comp.table
row = comp.row(lead.id)

# --- the headline ------------------------------------------------------------------------------


def headline(metric: Metric, r: dict) -> str:
    b, p = fmt.metric_value(r["baseline"], metric), fmt.metric_value(r["production"], metric)
    if r["status"] == "undefined":
        reason = r["production_reason"] or r["baseline_reason"]
        return f"**{metric.name}** cannot be computed here ({reason})."
    verb = {"worse": "got worse", "better": "improved", "same": "did not change"}[r["status"]]
    color = "red" if r["status"] == "worse" else "green" if r["status"] == "better" else "gray"
    change = fmt.metric_delta(r["delta"], metric)
    ci = f"{fmt.metric_delta(r['ci_low'], metric)} to {fmt.metric_delta(r['ci_high'], metric)}"
    sure = (
        "The change is larger than chance would explain."
        if r["significant"]
        else "The change is within what chance alone could produce."
    )
    return (
        f"**{metric.name}** :{color}[{verb}]: {b} on the baseline, **{p}** in production "
        f"(:{color}[{change}]; 95% interval {ci}). {sure}"
    )


st.markdown(headline(lead, row))

# --- metric cards ------------------------------------------------------------------------------

PREFERRED = {
    ModelType.BINARY: ["accuracy", "precision", "fpr", "roc_auc", "f1"],
    ModelType.MULTICLASS: ["macro_f1", "macro_recall", "weighted_f1", "macro_precision"],
    ModelType.REGRESSION: ["me", "rmse", "mape", "r2"],
}
available = {m.id: m for m in applicable_metrics(analysis.schema)}
card_ids = [lead.id] + [
    m for m in PREFERRED[analysis.schema.model_type] if m in available and m != lead.id
]
cards = st.columns(4)
for col, metric_id in zip(cards, card_ids[:4], strict=False):
    metric = available[metric_id]
    r = comp.row(metric_id)
    with col:
        st.metric(
            metric.name + (" (lead)" if metric_id == lead.id else ""),
            fmt.metric_value(r["production"], metric),
            delta=f"{fmt.metric_delta(r['delta'], metric)} vs baseline",
            delta_color=fmt.delta_color(r["production"], r["baseline"], metric.direction),
            help=(
                f"{metric.description} {fmt.direction_words(metric.direction).capitalize()}. "
                f"Baseline {fmt.metric_value(r['baseline'], metric)}; 95% interval of the "
                f"change {fmt.metric_delta(r['ci_low'], metric)} to "
                f"{fmt.metric_delta(r['ci_high'], metric)}."
            ),
            border=True,
        )
st.caption(
    "Production value, and its change from the baseline: red is worse and green is better in "
    "each metric's own direction. Hover a card for the baseline and the confidence interval."
)

rows = comp.rows
st.markdown(
    f"Baseline **{analysis.names[0]}**: {fmt.count(rows.loc['baseline', 'rows'])} rows, "
    f"{fmt.count(rows.loc['baseline', 'rows_with_actuals'])} with actuals. "
    f"Production **{analysis.names[1]}**: {fmt.count(rows.loc['production', 'rows'])} rows, "
    f"{fmt.count(rows.loc['production', 'rows_with_actuals'])} with actuals."
)
for note in analysis.notes:
    st.info(note, icon=":material/info:")

# --- every metric ------------------------------------------------------------------------------

st.subheader("All metrics")
st.dataframe(tables.metric_table(table), hide_index=True, key="metric_table")
st.caption(
    "Change = production minus baseline (percentage points for rates). A change is "
    "significant when its 95% interval (CI low to CI high) excludes zero."
)

# --- distributions -----------------------------------------------------------------------------

if analysis.schema.model_type is not ModelType.REGRESSION and not comp.class_balance.empty:
    st.subheader("Actual and predicted classes")
    positive = (
        analysis.schema.positive_class if analysis.schema.model_type is ModelType.BINARY else None
    )
    st.altair_chart(charts.class_balance(comp.class_balance, positive=positive))
    st.caption(
        "Share of rows per class among the actuals and the predictions. When the actual rate "
        "moves but the predicted rate does not, the model is missing a change in the world."
    )

roles = analysis.schema.roles
columns = {
    "prediction": roles.prediction_label
    if analysis.schema.model_type is ModelType.REGRESSION
    else None,
    "score": roles.prediction_score[0] if len(roles.prediction_score) == 1 else None,
    "actual": roles.actual_label if analysis.schema.model_type is ModelType.REGRESSION else None,
}
shown = {k: c for k, c in columns.items() if c}
if shown:
    st.subheader("Predictions and actuals")
    for col, (kind, column) in zip(st.columns(len(shown)), shown.items(), strict=True):
        with col, guard(f"comparing {column}", stop=False):
            st.altair_chart(charts.drift_histogram(cache.histogram(key, column), column))
            st.caption(
                f"Share of rows per range of the {kind} ({column}). The ranges hold equal "
                "shares of the baseline; production bars above or below them show where the "
                f"{kind} moved."
            )

# Room for issue 7 (monitoring over time): the metric time series with its baseline band and
# alerts goes here, between the distributions and the next-step link.

st.divider()
st.page_link(PAGE_FILES["slices"], label="Next: which slices pull performance down?", icon="➡️")
