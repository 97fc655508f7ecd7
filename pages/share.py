"""Share the current view as a link, or as a standalone report file."""

import json
from urllib.parse import parse_qs, urlsplit

import streamlit as st

from tracing import links, settings, sources
from tracing.errors import DataError
from tracing.options import ReportOptions
from tracing.render.html import to_html
from tracing.render.markdown import to_markdown
from tracing.report import SECTIONS
from tracing.slices import parse_slice_id
from tracing.textfmt import value_text
from ui import auth, cache, fmt, state
from ui.engine import progress
from ui.layout import guard, header, require_analysis
from ui.links import snapshot_url
from ui.state import finding_page, is_loopback, link_base, page_params, share_url

header(
    "How do I show this to someone else?",
    "Send the link: it opens the same data, settings, page and selected slice in any browser "
    "that can reach this app. Or download the report as one file.",
)
analysis, view, key = require_analysis()

# --- the link ----------------------------------------------------------------------------------

# Page ids (ui.layout.PAGE_FILES) -> label; the Overview is the default page, served at the
# app's root URL. The link opens where the finding is (a selected slice: the Slices page,
# drilled into), not on the page looked at last.
PAGES = {
    "overview": "1 · Overview",
    "slices": "2 · Slices",
    "root_cause": "3 · Root cause",
    "explain": "Explain",
}
target = st.selectbox(
    "Open the link on",
    list(PAGES),
    index=list(PAGES).index(finding_page(view)),
    format_func=PAGES.get,
    key="w_share_page",
)
public = settings.get("TRACING_PUBLIC_URL")
base = link_base(public, st.context.url, dict(st.context.headers), "share")
page_settings = page_params(
    st.session_state,
    defaults={
        "slice_by": list(cache.slice_features(key)[0]),
        "band": st.session_state.get("_band_default"),
    },
)
link = share_url(view, "" if target == "overview" else target, base=base, extra=page_settings)
st.markdown("**Live link**: opens these settings on whatever the files and rules are then.")
st.code(link, language=None, wrap_lines=True)
st.caption("Copy the link with the button at the right of the box.")
if not public and (is_loopback(base) or base == "/"):
    where = "no host name" if base == "/" else "an address only this computer can open"
    st.warning(
        f"Others cannot open this link: it has {where}. The server's operator sets the "
        "address others reach the app at in TRACING_PUBLIC_URL (e.g. "
        "https://tracing.example.org/).",
        icon=":material/link_off:",
    )


def slice_words(key: str) -> str:
    """The selected slice for people (``state = CA · amount in [10, 25)``), escaped."""
    try:
        return fmt.md_conditions(parse_slice_id(key))
    except DataError:
        return fmt.md(key)


what = {
    "baseline / production": f"{fmt.md(analysis.names[0])} / {fmt.md(analysis.names[1])}",
    "columns": ", ".join(f"{p}={fmt.md(v or '(none)')}" for p, v in view.roles) or "detected",
    "model": f"{analysis.schema.model_type.value}"
    + (
        f", positive class {fmt.md(value_text(analysis.schema.positive_class))}"
        if analysis.schema.positive_class is not None
        else ""
    ),
    "metric": analysis.metric.name,
    "rows compared": view.rows_text() or "the whole files",
    "actuals joined from": fmt.md(sources.describe_source(view.actuals).name)
    if view.actuals
    else "none",
    "selected slice": slice_words(view.slice) if view.slice else "none",
}
st.markdown("\n".join(f"- **{k}**: {v}" for k, v in what.items()))
uploaded = [ref for ref in (view.baseline, view.production) if sources.is_dataset_id(ref)]
st.caption(
    "The link holds only these settings and the datasets' references"
    + (
        "; your uploaded files are kept on this server under unguessable ids, so anyone with "
        "the link who can reach this app can open them."
        if uploaded
        else " (paths on this server)."
    )
)

# --- the snapshot ------------------------------------------------------------------------------

st.markdown(
    "**Snapshot link**: keeps what you see now (every column role and option as resolved "
    "today) on this server, so it shows the same numbers tomorrow; the link itself holds only "
    "a random id, no file path or address."
)
snapshots = st.session_state.setdefault("_snapshots", {})
if any(
    ref.lower().startswith(("http://", "https://")) and "?" in ref
    for ref in (view.baseline, view.production)
):
    st.warning(
        "A data address carries a query (often a signed token): the live link above would "
        "pass it on. Share the snapshot link instead.",
        icon=":material/key:",
    )
if link not in snapshots and st.button("Create the snapshot link", key="w_make_link"):
    with guard("saving the link"):
        query = parse_qs(urlsplit(link).query, keep_blank_values=True)
        params = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
        visitor = auth.current_visitor()
        snapshots[link] = links.create_link(
            params, page=target, creator=visitor.email or "anonymous"
        ).id
if link in snapshots:
    st.code(snapshot_url(base, snapshots[link]), language=None, wrap_lines=True)
    days = settings.get("TRACING_LINK_DAYS")
    allow = settings.get("TRACING_ALLOWED_EMAILS")
    who = (
        "People signed in with an address this deployment admits ("
        + fmt.md(", ".join(sorted({*allow.addresses, *(f"@{d}" for d in allow.domains)})) or "*")
        + ") can open it"
        if auth.auth_configured()
        else "Anyone who can reach this app's address can open it (no sign-in is configured)"
    )
    st.caption(f"{who}; {f'it expires in {days:g} days' if days else 'it does not expire'}.")

# --- the report file ---------------------------------------------------------------------------

st.subheader("Report file")
st.caption(
    "The analysis as one standalone HTML page (no scripts, opens anywhere), or as Markdown "
    "and JSON for tickets and pipelines."
)
available = [
    str(s) for s, spec in SECTIONS.items() if analysis.has_actuals or not spec.needs_actuals
]
if not analysis.has_actuals:
    st.caption("Production has no actuals yet: the sections that rank slices are left out.")
chosen = st.multiselect(
    "Sections",
    available,
    default=[s for s in available if SECTIONS[s].share_default and not SECTIONS[s].slow],
    key="w_share_sections",
    help="Feature importance (SHAP) trains small models and takes longer.",
)
# The report ranks the slices of the Slices page: the same depth, size, features and folding.
options = ReportOptions(
    metric=analysis.metric.id,
    estimate=not view.by_version,  # as the Overview: no estimate across model versions
    slices=state.slice_settings(cache.slice_features(key)[0]),
)
built = st.session_state.setdefault("_built_reports", set())
ident = (key, tuple(chosen), options)
if ident not in built and st.button(
    "Build the report", type="primary", disabled=not chosen, key="w_build_report"
):
    with progress(key, "Building the report", side="both"), guard("building the report"):
        cache.report(key, tuple(chosen), options)
    built.add(ident)
if ident in built:
    with guard("building the report"):
        rep = cache.report(key, tuple(chosen), options)
    stem = f"tracing_{analysis.names[1].split('.')[0]}"
    left, mid, right = st.columns(3)
    left.download_button(
        "Download HTML",
        to_html(rep, link=link),
        file_name=f"{stem}.html",
        mime="text/html",
        icon=":material/download:",
        type="primary",
    )
    mid.download_button(
        "Download Markdown", to_markdown(rep), file_name=f"{stem}.md", mime="text/markdown"
    )
    right.download_button(
        "Download JSON",
        json.dumps(rep, indent=2),
        file_name=f"{stem}.json",
        mime="application/json",
    )
