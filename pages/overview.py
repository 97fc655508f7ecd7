"""Step 1: did the model get worse? Production against the baseline, and the metric over time."""

import math

import pandas as pd
import streamlit as st

from tracing import findings
from tracing.errors import DataError
from tracing.metrics import Direction, Metric, headline_metrics, metric_of
from tracing.report import Section
from tracing.schema import ModelType
from tracing.timeline import DEFAULT_K, DEFAULT_WINDOW, MIN_BAND_PERIODS, estimate_disagrees
from tracing.verdict import Status
from tracing.vocab import Basis, Freq
from tracing.windows import parse_window
from ui import cache, charts, fmt, state, tables
from ui.engine import progress, sampled
from ui.layout import PAGE_FILES, guard, header, require_analysis, tracing_text
from ui.state import current_view, set_view, trace_period

header(
    "Did the model get worse, and by how much?",
    "Step 1 of tracing: production compared with the baseline on every metric, with 95% "
    "confidence intervals, and the lead metric over time.",
    page="overview",
)
analysis, view, key = require_analysis()
with progress(key, "Comparing every metric", side="both"), guard("comparing the metrics"):
    comp = cache.comparison(key)

lead = analysis.metric
table = comp.table
row = comp.row(lead.id)
measured = analysis.has_actuals
estimated = comp.has_estimates


def _nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- what is being traced ----------------------------------------------------------------------

REMEMBERED = "_rows_before_trace"  # the rows compared before an alert was traced


def back_to_all() -> None:
    st.session_state["alerts_table"] = {"selection": {"rows": [], "columns": []}}
    before = st.session_state.pop(REMEMBERED, None)
    now = current_view()
    set_view(now.with_rows(**before) if before else now.with_rows(production_window=None))


traced = tracing_text(view, analysis)
if traced:
    with st.container(border=True):
        st.markdown(
            f":material/target: {traced} The Slices, Root cause and Explain pages analyse "
            "these rows, and the address bar is a link to them."
        )
        if view.production_window and (not view.one_file or REMEMBERED in st.session_state):
            st.button("Back to the whole production data", on_click=back_to_all, key="w_untrace")

# --- the headline ------------------------------------------------------------------------------

VERBS = {
    Status.WORSE: "got worse",
    Status.BETTER: "improved",
    Status.SAME: "did not change",
    Status.CHANGED: "changed",
}
COLOURS = {Status.WORSE: "red", Status.BETTER: "green", Status.CHANGED: "blue"}


def headline(metric: Metric, r: dict) -> str:
    b, p = fmt.metric_value(r["baseline"], metric), fmt.metric_value(r["production"], metric)
    if r["status"] == Status.UNDEFINED:
        reason = r["production_reason"] or r["baseline_reason"]
        return f"**{metric.name}** cannot be computed here ({reason})."
    colour = COLOURS.get(r["status"], "gray")
    change = fmt.metric_delta(r["delta"], metric)
    ci = f"{fmt.metric_delta(r['ci_low'], metric)} to {fmt.metric_delta(r['ci_high'], metric)}"
    sure = (
        "The change is larger than chance would explain."
        if r["significant"]
        else "The change is within what chance alone could produce."
    )
    neither = " (neither way is better)" if metric.direction is Direction.NEUTRAL else ""
    return (
        f"**{metric.name}** :{colour}[{VERBS[r['status']]}]{neither}: {b} on the baseline, "
        f"**{p}** in production (:{colour}[{change}]; 95% interval {ci}). {sure}"
    )


def estimated_headline(metric: Metric, r: dict) -> str:
    est, base = r["estimated"], r["baseline"]
    status = r["estimated_status"]  # the engine's verdict on the estimate
    colour = COLOURS.get(status, "gray")
    return (
        f"Production has **no actuals yet**, so its performance is **estimated** from the "
        f"model's scores: **{metric.name}** :{colour}[probably {VERBS[status]}], "
        f"{fmt.metric_value(base, metric)} on the baseline, about "
        f"**{fmt.metric_value(est, metric)}** in production "
        f"(:{colour}[{fmt.metric_delta(est - base, metric)}])."
    )


def top_slice_sentence() -> str | None:
    """Name the slice that costs most and its part of the change (the Slices page's figure)."""
    search = state.slice_settings(cache.slice_features(key)[0])
    result = cache.slices(key, lead.id, search)
    listed = result.listed(distinct=search.distinct)
    if listed.empty:
        return None
    top = listed.iloc[0]
    change = result.overall_metric - result.baseline_overall_metric
    share = findings.slice_share(top, overall_change=change, percent=lead.percent)
    where = f"**{fmt.md_conditions(top['conditions'])}** ({fmt.pct(top['share'])} of the rows)"
    if share is None:
        return None
    return (
        f"The slice that costs most, {where}, **{findings.share_text(share, lead.name)}**, "
        f"{findings.split_text(share)}. The Slices page shows it and what else pulls "
        f"{lead.name} down."
    )


if measured:
    st.markdown(headline(lead, row))
    # Only ratio metrics split their change over slices, and their search is the fast one.
    if row["status"] in (Status.WORSE, Status.CHANGED) and lead.decomposable:
        searching = progress(key, "Finding the slice that costs most")
        with searching, guard("searching the slices", stop=False):
            sentence = top_slice_sentence()
            if sentence:
                st.markdown(sentence)
elif not _nan(row["estimated"]):
    st.markdown(estimated_headline(lead, row))
    st.caption(
        "The estimate calibrates the scores on the baseline's actuals and assumes the link "
        "between score and outcome has not changed; it cannot see a new kind of error the model "
        "is confident about. Join the actuals on the Data page when they arrive."
    )
else:
    st.warning(
        "Production has no actuals yet, so its performance is unknown (estimates need a binary "
        "model with a score column). What can be compared now: the predictions below and the "
        "features on the Root cause page. Join the actuals on the Data page when they arrive.",
        icon=":material/hourglass_empty:",
    )

# --- metric cards ------------------------------------------------------------------------------

card_metrics = headline_metrics(analysis.schema, lead)


def card(metric: Metric, r: dict, *, is_lead: bool) -> None:
    use_estimate = not measured
    value = r["estimated"] if use_estimate else r["production"]
    if use_estimate and _nan(value):
        return
    label = fmt.card_label(metric, " (lead)" if is_lead else "")
    delta = None if _nan(value) else float(value) - float(r["baseline"])
    words = fmt.direction_words(metric.direction)
    extra = (
        f" Estimated from the scores: {fmt.metric_value(r['estimated'], metric)}."
        if measured and not _nan(r["estimated"])
        else ""
    )
    st.metric(
        label,
        ("≈ " if use_estimate else "") + fmt.metric_value(value, metric),
        delta=f"{fmt.metric_delta(delta, metric)} vs baseline",
        delta_color=fmt.delta_color(value, r["baseline"], metric.direction),
        help=(
            f"**{metric.name}**: {metric.description} {words[0].upper()}{words[1:]}. Baseline "
            f"{fmt.metric_value(r['baseline'], metric)}"
            + (
                ""
                if use_estimate
                else f"; 95% interval of the change {fmt.metric_delta(r['ci_low'], metric)} "
                f"to {fmt.metric_delta(r['ci_high'], metric)}"
            )
            + f".{extra}"
        ),
        border=True,
    )


if measured or estimated:
    cards = st.columns(4)
    for col, metric in zip(cards, card_metrics[:4], strict=False):
        with col:
            card(metric, comp.row(metric.id), is_lead=metric.id == lead.id)
    st.caption(
        ("≈ Estimated production value (no actuals yet)" if not measured else "Production value")
        + ", and its change from the baseline: red is worse and green is better in each "
        "metric's own direction (blue: a change where neither way is better). Hover a card "
        "for the baseline" + (" and the confidence interval." if measured else ".")
    )

rows = comp.rows
st.markdown(
    f"Baseline **{fmt.md(analysis.names[0])}**: {fmt.count(rows.loc['baseline', 'rows'])} rows, "
    f"{fmt.count(rows.loc['baseline', 'rows_with_actuals'])} with actuals. "
    f"Production **{fmt.md(analysis.names[1])}**: "
    f"{fmt.count(rows.loc['production', 'rows'])} rows, "
    f"{fmt.count(rows.loc['production', 'rows_with_actuals'])} with actuals."
)
# Partial actuals: do the rows with actuals stand for production? (tracing.selection)
with guard("checking which rows have actuals", stop=False):
    coverage = cache.actuals_coverage(key)
    if coverage is not None and coverage.biased:
        st.warning(
            f"**Biased actuals.** {fmt.md(coverage.sentence())} Every measured number on this "
            "page describes the rows with actuals.",
            icon=":material/filter_alt:",
        )
    elif coverage is not None:
        st.caption(fmt.md(coverage.sentence()))
    if coverage is not None:
        sampled(key, "Which rows have actuals")
if len(analysis.notes) > 2:
    with st.expander(f"Notes on the data ({len(analysis.notes)}): joins, rows left out"):
        st.markdown("\n".join(f"- {fmt.md(n)}" for n in analysis.notes))
elif analysis.notes:
    st.info("\n".join(f"- {fmt.md(n)}" for n in analysis.notes), icon=":material/info:")

# --- over time ---------------------------------------------------------------------------------

FREQS = ["auto", *(str(f) for f in Freq)]
ALERTS_KEY, CHART_KEY = "alerts_table", "timeline_chart"
ADVERB = {Freq.HOUR: "hourly", Freq.DAY: "daily", Freq.WEEK: "weekly"}
BAND_DEFAULT = "_band_default"


def timeline_section() -> None:
    st.subheader("When did it change?")
    if not analysis.schema.roles.timestamp:
        st.caption(
            "No timestamp column, so no time series: pick the timestamp on the Data page to see "
            f"{lead.name} per hour, day or week."
        )
        return
    # a SQL engine's rows stay there: its time series runs on the sample (said below)
    in_memory = cache.plan_of(key).in_memory
    base = cache.rows(view).timeline_baseline if in_memory else analysis.baseline_frame
    stamp = analysis.schema.roles.timestamp
    bands = ["baseline", "rolling"] if base is not None and stamp in base.columns else ["rolling"]
    if view.by_version:  # the other version served the same days, anomalies included
        bands.reverse()
    st.session_state[BAND_DEFAULT] = bands[0]  # a share link leaves the default out
    c_freq, c_band, c_window, c_k = st.columns(4)
    with c_freq:
        # No format_func: bound selectboxes put the displayed label in the URL.
        freq = st.selectbox(
            "Period",
            FREQS,
            key="freq",
            bind="query-params",
            persist_state="session",
            help="auto: hours below 3 days of data, days below 180 days, weeks beyond.",
        )
    with c_band:
        band = st.selectbox(
            "Expected range from",
            bands,
            key="band",
            bind="query-params",
            persist_state="session",
            help="baseline: the baseline's own periods give one fixed range (its normal ups "
            "and downs). rolling: the previous periods of production give a range that "
            "follows slow change.",
        )
    with c_window:
        window = st.number_input(
            "Rolling window (periods)",
            min_value=MIN_BAND_PERIODS,
            max_value=1000,
            value=DEFAULT_WINDOW,
            step=1,
            key="window",
            bind="query-params",
            persist_state="session",
            disabled=band != "rolling",
            help="How many earlier periods define the expected range (the paper suggests 30 "
            "days). Periods that alerted are left out.",
        )
    with c_k:
        k = st.number_input(
            "Width (standard deviations)",
            min_value=0.5,
            max_value=10.0,
            value=DEFAULT_K,
            step=0.5,
            key="k",
            bind="query-params",
            persist_state="session",
            help="Expected range = mean ± k standard deviations. 3 (the default) alerts on about "
            "1 normal period in 750, roughly once in two years of days; the paper's 1 alerts on "
            "1 in 6, which teaches people to ignore alerts.",
        )
    with (
        progress(key, "Computing the time series"),
        guard("computing the time series", stop=False),
    ):
        tl = cache.timeline(
            key, lead.id, None if freq == "auto" else freq, band, int(window), float(k)
        )
        sampled(key, "The time series", section=Section.TIMELINE)
        if not cache.plan_of(key).in_memory:  # e.g. what the engine ran on its sample
            for note in tl.notes:
                st.caption(fmt.md(note[0].upper() + note[1:]))
        show_timeline(tl, band, int(window))


def _traced_span(tl) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if not view.production_window:
        return None
    try:
        w = parse_window(view.production_window)
    except DataError:
        return None
    tz = getattr(tl.table["start"].dtype, "tz", None)
    first, last = tl.table["start"].iloc[0], tl.table["end"].iloc[-1]

    def align(bound, default):
        if bound is None:
            return default
        if tz is not None:
            return bound.tz_localize(tz) if bound.tzinfo is None else bound.tz_convert(tz)
        return bound.tz_localize(None) if bound.tzinfo is not None else bound

    return align(w.start, first), align(w.end, last)


def show_timeline(tl, band: str, window: int) -> None:
    # a period is traced by a date range, which a SQL engine's view cannot take yet
    traceable = cache.plan_of(key).in_memory
    metric = tl.metric
    neutral = metric.direction is Direction.NEUTRAL
    bounds = (0.0, 1.0) if metric.percent else None
    frame = charts.timeline_frame(tl.table, min_rows=tl.min_rows, freq=tl.freq, bounds=bounds)
    chart = charts.timeline_chart(
        frame,
        metric_name=metric.name,
        percent=metric.percent,
        freq=tl.freq,
        neutral=neutral,
        traced=_traced_span(tl),
    )
    # Heights in pixels: with "content" heights Streamlit takes the legend and the axes out of
    # the chart's own height, which leaves small charts no room.
    st.altair_chart(
        chart,
        key=CHART_KEY,
        on_select=(lambda: chart_picked(frame, tl, window)) if traceable else "ignore",
        selection_mode=[charts.ALERT_PARAM],
        height=340,
    )
    st.altair_chart(charts.volume_chart(frame, freq=tl.freq), height=190)
    alerts = frame[frame["status"] == "alert"].reset_index(drop=True)
    sparse = int((frame["status"] == "too few rows").sum())
    if tl.band == "none":
        band_text = (
            f"No expected range yet: fewer than {MIN_BAND_PERIODS} periods with enough rows "
            "to learn one from; choose shorter periods or the previous periods."
        )
    elif tl.band == "baseline":
        low, high = frame["expected_low"].iloc[0], frame["expected_high"].iloc[0]
        band_text = (
            f"The grey band is the baseline's normal range, mean ± {tl.k:g} standard deviations "
            f"of its {ADVERB[tl.freq]} values: {fmt.metric_value(low, metric)} to "
            f"{fmt.metric_value(high, metric)}."
        )
    else:
        band_text = (
            f"The grey band is the expected range from the previous {tl.window} {tl.freq}s "
            f"that did not alert (mean ± {tl.k:g} standard deviations)."
        )
    outside = "outside the band" if neutral else "outside the band on the worse side"
    mark = "Blue" if neutral else "Red"
    st.caption(
        f"{metric.name} per {tl.freq} of production. {band_text} {mark} points are alerts "
        f"({outside})"
        + (f"; click one to trace that {tl.freq}." if traceable else ".")
        + (
            " The dashed purple line is estimated from the scores, measured or not: where "
            "actuals are missing, periods are judged on it."
            if frame["estimated_shown"].notna().any()
            else ""
        )
        + (
            f" Crosses at the bottom: {sparse} {tl.freq if sparse == 1 else tl.freq + 's'} "
            f"with fewer than {tl.min_rows} rows, "
            "too few to judge."
            if sparse
            else ""
        )
        + " Below: rows per period, with and without actuals."
    )
    if estimate_disagrees(tl, bounds=bounds):
        st.warning(DISAGREE, icon=":material/warning:")
    if alerts.empty:
        st.success(
            f"No alert: every {tl.freq} with enough rows is inside its expected range.",
            icon=":material/check_circle:",
        )
        return
    word = "changed" if neutral else "alerting"
    periods_word = tl.freq if len(alerts) == 1 else f"{tl.freq}s"
    if not traceable:
        st.markdown(f"**{len(alerts)} {word} {periods_word}**.")
        st.caption(
            f"Tracing one {tl.freq} cuts production by date, which runs in memory only for "
            f"now: write that {tl.freq}'s rows into their own folder and open it on the Data "
            "page."
        )
    else:
        st.markdown(f"**{len(alerts)} {word} {periods_word}**: select one to trace it.")
    shown = pd.DataFrame(
        {
            "period": alerts["label"],
            "value": [fmt.points(v, metric) for v in alerts["judged_value"]],
            "basis": alerts["basis"].map({Basis.ACTUAL: "measured", Basis.ESTIMATED: "estimated"}),
            "expected": [
                f"{fmt.metric_value(lo, metric)} to {fmt.metric_value(hi, metric)}"
                for lo, hi in zip(alerts["expected_low"], alerts["expected_high"], strict=True)
            ],
            "rows": alerts["rows"],
            "rows_with_actuals": alerts["rows_with_actuals"],
        }
    )
    periods = list(zip(alerts["start"], alerts["end"], strict=True))
    if traceable:
        table_selection(periods, tl, window)
    st.dataframe(
        shown,
        key=ALERTS_KEY,
        placeholder=fmt.DASH,
        on_select="rerun" if traceable else "ignore",
        selection_mode="single-row",
        hide_index=True,
        column_config={
            "period": st.column_config.TextColumn(tl.freq.capitalize(), pinned=True),
            "value": st.column_config.NumberColumn(
                metric.name, format="%.1f%%" if metric.percent else "%.3g"
            ),
            "basis": st.column_config.TextColumn(
                "Judged on", help="Measured with actuals, or estimated from the scores."
            ),
            "expected": st.column_config.TextColumn("Expected range"),
            "rows": st.column_config.NumberColumn("Rows", format="%,d"),
            "rows_with_actuals": st.column_config.NumberColumn("With actuals", format="%,d"),
        },
    )


DISAGREE = (
    "Here the estimate from the scores and the measured values disagree by more than the "
    "normal range: the model is confidently wrong on some rows (e.g. a new kind of case), "
    "which only actuals can show. Do not trust the estimate where actuals are missing."
)


HANDLED = "_alerts_handled"  # the alerts-table selection already acted on


def _rows_of(state) -> list[int]:
    return list(((state or {}).get("selection") or {}).get("rows") or [])


def table_selection(periods, tl, window: int) -> None:
    """Trace the alert selected in the table (a new selection), or show the traced one.

    The selection is read at the start of the run, not in a callback, so that it works the
    same in a browser and in tests that set the table's state.
    """
    if ALERTS_KEY not in st.session_state:  # page (re)opened: select the traced alert
        windows = [trace_period(view, s, e, tl.freq, before=window) for s, e in periods]
        traced = [i for i, v in enumerate(windows) if view.production_window and v == view]
        st.session_state[ALERTS_KEY] = {"selection": {"rows": traced[:1], "columns": []}}
        st.session_state[HANDLED] = traced[:1]
        return
    picked = _rows_of(st.session_state[ALERTS_KEY])
    if picked == st.session_state.get(HANDLED):
        return
    st.session_state[HANDLED] = picked
    if picked and picked[0] < len(periods):
        trace(*periods[picked[0]], tl, window)
        st.rerun()


def trace(start, end, tl, window: int) -> None:
    now = current_view()
    if REMEMBERED not in st.session_state:
        st.session_state[REMEMBERED] = {
            "production_window": now.production_window,
            "baseline_window": now.baseline_window,
        }
    set_view(trace_period(now, start, end, tl.freq, before=window))


def chart_picked(frame: pd.DataFrame, tl, window: int) -> None:
    state = st.session_state[CHART_KEY]
    picked = (state.get("selection") or {}).get(charts.ALERT_PARAM) or []
    keys = {p.get("period") for p in picked if isinstance(p, dict)}
    hit = frame[frame["period"].isin(keys)]
    if len(hit):
        trace(hit["start"].iloc[0], hit["end"].iloc[0], tl, window)


timeline_section()

# --- every metric ------------------------------------------------------------------------------

st.subheader("All metrics")
ESTIMATE_HELP = (
    "Production's value estimated from the model's scores alone, as if the actuals were "
    "unknown (calibrated on the baseline). Beside the measured value it shows how far the "
    "scores can be trusted while actuals are late: close to the measured value, they can."
)
st.dataframe(
    tables.metric_table(table, estimated=not measured and estimated),
    hide_index=True,
    key="metric_table",
    height="content",  # every metric, no inner scrolling
    placeholder=fmt.DASH,
    column_config={
        "Metric": st.column_config.Column(width=200, pinned=True),  # "PR AUC (average precision)"
        "Estimated": st.column_config.Column(help=ESTIMATE_HELP),
        "Estimated in production": st.column_config.Column(help=ESTIMATE_HELP),
        "Change": st.column_config.Column(
            help="Production minus baseline; ▼ worse, ▲ better, ◆ changed (neither way is "
            "better), in the metric's own direction."
        ),
        "Verdict": st.column_config.Column(
            help="Significant when the 95% interval of the change excludes zero."
        ),
    },
)
st.caption(
    "Change = production minus baseline (percentage points for rates). A change is "
    "significant when its 95% interval (CI low to CI high) excludes zero; blue marks a change "
    "in a metric where neither way is better."
    + (
        " Estimated: production's value guessed from its scores alone (calibrated on the "
        "baseline), beside the measured one: when the two agree, the scores can be trusted "
        "while actuals are late."
        if estimated and measured
        else " Estimated: from the production scores, calibrated on the baseline."
        if estimated
        else ""
    )
)
for note in comp.notes:
    st.caption(note[0].upper() + note[1:] + ".")


def meaning(m: Metric) -> str:
    plain = findings.PLAIN_METRICS.get(m.id)
    words = fmt.direction_words(m.direction)
    return (
        f"- **{m.name}**: {m.description}"
        + (f" In plain words: {plain}." if plain else "")
        + f" {words[0].upper()}{words[1:]}."
    )


with st.expander("What these metrics mean"):
    known = [metric_of(str(m)) for m in table["metric"]]
    st.markdown("\n".join(meaning(m) for m in known if m is not None))

# --- distributions -----------------------------------------------------------------------------

classifier = analysis.schema.model_type is not ModelType.REGRESSION
if classifier and measured and not comp.class_balance.empty:
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
    # Without actuals, the predicted classes (not the class balance above) show the drift.
    "prediction": roles.prediction_label if not classifier or not measured else None,
    "score": roles.prediction_score[0] if len(roles.prediction_score) == 1 else None,
    "actual": roles.actual_label if not classifier and measured else None,
}
shown = {k: c for k, c in columns.items() if c}
if shown:
    st.subheader("Predictions and actuals" if "actual" in shown else "Predictions")
    sampled(key, "These distributions", section=Section.DRIFT)
    for col, (kind, column) in zip(st.columns(len(shown)), shown.items(), strict=True):
        with col, guard(f"comparing {column}", stop=False):
            scores = (
                findings.score_histogram(
                    analysis.baseline_frame[column], analysis.production_frame[column]
                )
                if kind == "score"
                else None
            )
            hist = scores if scores is not None else cache.histogram(key, column)
            st.altair_chart(charts.drift_histogram(hist, column))
            st.caption(
                f"Share of rows per predicted class ({fmt.md(column)}), baseline vs production: "
                "prediction drift, visible before any actual arrives."
                if classifier and kind == "prediction"
                else f"Share of rows per tenth of the score ({fmt.md(column)}), from 0 to 1, "
                "baseline vs production: bars that differ show where the scores moved."
                if scores is not None
                else f"Share of rows per range of the {kind} ({fmt.md(column)}). The ranges "
                "hold equal shares of the baseline; production bars above or below them show "
                f"where the {kind} moved."
            )

st.divider()
st.page_link(PAGE_FILES["slices"], label="Next: which slices pull performance down?", icon="➡️")
