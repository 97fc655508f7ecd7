"""Pipeline: which model of a chain of models made the final model worse."""

import pandas as pd
import streamlit as st

from ui import chain_cache, fmt, state
from ui.layout import PAGE_FILES, guard, header

header(
    "Which model of the pipeline made the final model worse?",
    "Each model compared with its baseline; for each link, how much of the downstream model's "
    "change happens where the upstream model erred beyond its baseline error.",
)
ref = st.query_params.get("chain") or chain_cache.DEFAULT_CHAIN
st.caption(f"Chain file: {fmt.md(ref)} (set the `chain=` URL parameter to trace another).")
with st.spinner("Tracing the chain…"), guard("tracing the chain"):
    trace = chain_cache.trace(ref)

if trace.culprit is None:
    st.success(fmt.md(trace.explanation), icon=":material/check_circle:")
else:
    st.warning(
        f"**Culprit: {fmt.md(trace.culprit)}.** {fmt.md(trace.explanation)}",
        icon=":material/troubleshoot:",
    )
st.graphviz_chart(chain_cache.dot(trace), width="stretch")

st.subheader("Models")
st.dataframe(
    pd.DataFrame(
        {
            "model": [m.name for m in trace.models],
            "metric": [m.metric_name for m in trace.models],
            "baseline": [m.baseline for m in trace.models],
            "production": [m.production for m in trace.models],
            "delta": [m.delta for m in trace.models],
            "change": [m.marker for m in trace.models],
        }
    ),
    hide_index=True,
)
if trace.links:
    st.subheader("Links")
    st.dataframe(
        pd.DataFrame(
            {
                "upstream": [k.upstream for k in trace.links],
                "downstream": [k.downstream for k in trace.links],
                "feature": [k.feature for k in trace.links],
                "share of change": [k.share_of_change for k in trace.links],
                "rows erred (baseline)": [k.erred_baseline for k in trace.links],
                "rows erred (production)": [k.erred_production for k in trace.links],
                "counterfactual delta": [k.counterfactual_delta for k in trace.links],
            }
        ),
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="percent")
            for c in ("share of change", "rows erred (baseline)", "rows erred (production)")
        },
    )

st.subheader("Trace one model")
names = [m.name for m in trace.chain.models]
default = names.index(trace.culprit) if trace.culprit in names else len(names) - 1
chosen = st.selectbox("Model", names, index=default, key="w_chain_model")
if st.button("Open its trace", key="w_chain_open", icon=":material/monitoring:"):
    state.set_view(chain_cache.model_view(trace.chain.model(chosen)))
    st.switch_page(PAGE_FILES["overview"])
