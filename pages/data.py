"""Choose the data: files, which rows are compared, delayed actuals, and the column roles."""

from dataclasses import replace

import streamlit as st

from tracing import settings, sources, store
from tracing.app_engine import engine_sentence, validate_ref
from tracing.errors import DataError
from tracing.schema import ColumnRoles, RoleDetection, detect_roles, shared_columns, suggest_roles
from tracing.windows import last_days_windows
from ui import auth, cache, controls, fmt, rows
from ui.engine import opening
from ui.layout import PAGE_FILES, guard, header
from ui.state import DEMOS, current_view, demo_of, demo_view, set_view

header(
    "Which data are we comparing?",
    "Production is the data where the model seems worse; the baseline is data you trust "
    "(training, validation, or an earlier period). Both need the same columns.",
)
view = current_view()
current = demo_of(view)
kind = "demo" if current else "upload" if sources.is_dataset_id(view.production) else "path"
TABS = {"demo": "Demo data", "upload": "Upload files", "path": "Path or URL"}
tab_demo, tab_upload, tab_path = st.tabs(list(TABS.values()), default=TABS[kind])

# --- demo --------------------------------------------------------------------------------------

UPLOADERS = ("w_upload_baseline", "w_upload_production")


def uploader_pair() -> tuple[str | None, ...]:
    """The file ids in the two uploaders now (None: empty)."""
    return tuple(getattr(st.session_state.get(k), "file_id", None) for k in UPLOADERS)


def uploads_settled() -> None:
    """Other data was chosen: a file left in one uploader is no longer waiting for its pair."""
    st.session_state["_applied_uploads"] = uploader_pair()


with tab_demo:
    st.session_state["w_demo"] = current

    def demo_changed() -> None:
        chosen = st.session_state["w_demo"]
        if chosen:
            uploads_settled()
            set_view(demo_view(chosen))

    st.selectbox(
        "Demo",
        list(DEMOS),
        format_func=lambda k: DEMOS[k].label,
        key="w_demo",
        index=None,
        placeholder="Choose a demo",
        on_change=demo_changed,
    )
    for demo in DEMOS.values():
        st.caption(f"**{demo.label}**: {demo.story}")

# --- upload ------------------------------------------------------------------------------------

UPLOAD_TYPES = ["csv", "parquet", "pq", "tsv", "txt", "gz"]


def stored_id(upload) -> str:
    """Keep an upload in the dataset store once per uploaded file."""
    ids = st.session_state.setdefault("_stored_uploads", {})
    if upload.file_id not in ids:
        uploader = auth.current_visitor().uploader
        ids[upload.file_id] = sources.store_upload(
            upload.getvalue(), upload.name, uploader=uploader
        )
    return ids[upload.file_id]


with tab_upload:
    left, right = st.columns(2)
    with left:
        up_b = st.file_uploader(
            "Baseline file (CSV or Parquet)",
            type=UPLOAD_TYPES,
            key="w_upload_baseline",
            help="Training data, validation data or an earlier period, with actuals.",
        )
    with right:
        up_p = st.file_uploader(
            "Production file (CSV or Parquet)",
            type=UPLOAD_TYPES,
            key="w_upload_production",
            help="The predictions where the model seems worse, with their actuals.",
        )
    st.caption(
        "Uploads are kept on this server under an unguessable id, so a shared link can open "
        "them; anyone with the link can see the analysis."
    )
    ids = {}
    for side, upload in (("baseline", up_b), ("production", up_p)):
        if upload is not None:
            with guard(f"storing {upload.name}", stop=False):
                ids[side] = stored_id(upload)
    pair = tuple(u.file_id if u else None for u in (up_b, up_p))
    waiting = len(ids) == 1 and st.session_state.get("_applied_uploads") != pair
    if len(ids) == 2 and st.session_state.get("_applied_uploads") != pair:
        st.session_state["_applied_uploads"] = pair
        set_view(view.with_data(ids["baseline"], ids["production"]))
        st.rerun()
    elif waiting:
        side = next(iter(ids))
        other = "production" if side == "baseline" else "baseline"
        keep = view.production if other == "production" else view.baseline
        st.info(f"Now upload the {other} file too, or keep the current {other} data.")
        if keep and st.button(
            f"Use the uploaded {side} file with the current {other} data", key="w_use_one_upload"
        ):
            new = (ids[side], keep) if side == "baseline" else (keep, ids[side])
            st.session_state["_applied_uploads"] = pair
            set_view(view.with_data(*new))
            st.rerun()
        if side == "production" and st.button(
            "Compare date ranges or model versions of this file alone", key="w_use_one_file"
        ):
            st.session_state["_applied_uploads"] = pair
            set_view(view.with_data("", ids[side]))
            st.rerun()

# --- path or URL -------------------------------------------------------------------------------

with tab_path:
    if st.session_state.get("_path_mirror") != (view.baseline, view.production):
        st.session_state["_path_mirror"] = (view.baseline, view.production)
        st.session_state["w_path_baseline"] = view.baseline
        st.session_state["w_path_production"] = view.production
    with st.form("path_form", border=False):
        left, right = st.columns(2)
        left.text_input(
            "Baseline path or URL",
            key="w_path_baseline",
            help="Leave empty to cut the baseline from the production file (date ranges or "
            "model versions, below).",
        )
        right.text_input("Production path or URL", key="w_path_production")
        submitted = st.form_submit_button("Open these files")
    urls = "allowed" if settings.get(sources.ENV_ALLOW_URLS) else "disabled"
    # The folders themselves are the operator's business: visitors are not shown them.
    st.caption(
        "The server reads files only inside the folders its operator allows (e.g. "
        f"`demo_data/…`; `{sources.ENV_DATA_ROOTS}`); http(s) URLs are {urls} "
        f"(`{sources.ENV_ALLOW_URLS}=1` allows them). Big data: a folder or pattern of Parquet "
        "files (`logs/day=*/*.parquet`) is read where it lies, by DuckDB or Spark."
    )
    if submitted:
        refs = st.session_state["w_path_baseline"], st.session_state["w_path_production"]
        try:
            with st.spinner("Checking the files…"):  # a folder or pattern is listed
                if refs[0].strip():  # an empty baseline: cut from the production file
                    validate_ref(refs[0])
                validate_ref(refs[1])
        except DataError as exc:
            st.error(fmt.md(str(exc)), icon=":material/error:")
        else:
            if refs != (view.baseline, view.production):
                uploads_settled()
                set_view(view.with_data(*refs))
                st.rerun()

if waiting:
    # Half an upload: the page says nothing about the data still loaded, which would read as if
    # it were the new file ("Ready: 20,000 rows" of the demo after uploading a baseline).
    st.stop()

# --- what is loaded ----------------------------------------------------------------------------


def pinned_text(ref: str) -> str:
    """Say which share links use an upload (deleting it makes them say so)."""
    n = sum(1 for reason in store.pins(ref) if reason.startswith("share:"))
    if not n:
        return "no snapshot link uses it."
    links = "1 snapshot link uses it" if n == 1 else f"{n} snapshot links use it"
    return f"{links} (deleting it ends them)."


st.subheader("What is loaded")
view = current_view()
try:
    with st.spinner("Finding the files and choosing the engine…"):
        plan = cache.plan(view)
except DataError as exc:  # e.g. a folder where only memory can run: say what to change
    st.error(fmt.md(str(exc)), icon=":material/error:")
    st.stop()


def engine_caption() -> None:
    """Say which engine runs the analysis, and why (the engine's own sentence)."""
    st.caption(f":material/memory: {engine_sentence(plan)}")


def engine_loaded() -> dict[str, cache.Loaded]:
    """Open the data on a SQL engine; show every side's rows and files; the sample's frames.

    The roles are detected on the engine's uniform sample; when the view's roles do not fit,
    the sample of the same data with detected roles is shown, so the pickers can fix them.
    """
    with guard(f"opening {view.production}"):  # any other failure: a message, not a traceback
        try:
            with opening(view):
                found = cache.analysis(view)
        except DataError:  # shown under the pickers below; the data itself must open
            bare = view.with_data(view.baseline, view.production)
            with opening(bare):
                found = cache.analysis(bare)
    sample, _, key = found
    session = cache.engine(key)
    assert session is not None and plan.sources is not None
    frames = (sample.baseline_frame, sample.production_frame)
    out = {}
    for col, side, i in zip(st.columns(2), ("baseline", "production"), (0, 1), strict=True):
        n_files = len(plan.sources[i].paths)
        files = f", {fmt.count(n_files)} Parquet files" if n_files > 1 else ""
        col.markdown(
            f"**{side.capitalize()}**: {fmt.md(sample.names[i])}  \n"
            f"{fmt.count(session.analysis.rows[i])} rows × {frames[i].shape[1]} columns{files}"
        )
        out[side] = cache.Loaded(sample.names[i], frames[i])
    engine_caption()
    return out


loaded = {}
refs = {"baseline": view.baseline, "production": view.production, "actuals": view.actuals}
if not plan.in_memory:
    loaded = engine_loaded()
    refs = {}
for col, (side, ref) in zip(st.columns(3) if refs else [], refs.items(), strict=True):
    with col:
        if not ref:
            st.markdown(
                f"**{side.capitalize()}**: "
                + (
                    "cut from the production file (below)"
                    if side == "baseline"
                    else "in the production file, or none yet (below)"
                )
            )
            continue
        try:
            with st.spinner(f"Loading the {side} data…"):
                table = cache.load_table(ref)
        except DataError as exc:
            st.error(f"{side.capitalize()}: {fmt.md(str(exc))}", icon=":material/error:")
            continue
        except Exception as exc:  # the user never sees a traceback
            st.error(f"{side.capitalize()}: could not be loaded ({type(exc).__name__}).")
            continue
        loaded[side] = table
        n_rows, n_columns = table.frame.shape
        st.markdown(
            f"**{side.capitalize()}**: {fmt.md(table.name)}  \n"
            f"{fmt.count(n_rows)} rows × {n_columns} columns"
        )
        uploader = auth.current_visitor().uploader
        if sources.is_dataset_id(ref) and store.uploaded_by(ref, uploader):
            st.caption(
                f"Uploaded by {'you' if uploader == store.ANONYMOUS else fmt.md(uploader)}; "
                f"{pinned_text(ref)}"
            )
            if st.button("Delete this upload", key=f"w_delete_{side}", type="tertiary"):
                with guard(f"deleting {table.name}", stop=False):
                    store.delete_dataset(ref, force=True)  # its links then say it was deleted
                    st.toast(f"Deleted {fmt.md(table.name)} from this server.")
                    set_view(demo_view("fraud"))
                    st.rerun()
if plan.in_memory:
    engine_caption()
if "production" not in loaded or (view.baseline and "baseline" not in loaded):
    st.stop()

# --- columns and model -------------------------------------------------------------------------

st.subheader("Columns and model")
st.caption(
    "Detected from the column names and values; change any of them. Every change updates the "
    "analysis and the link."
)
frame_p = loaded["production"].frame
frame_b = loaded["baseline"].frame if "baseline" in loaded else frame_p
shared = shared_columns(frame_p.columns, frame_b.columns)
# The values roles are detected from: each file once (one file twice would hide its ids).
data = (frame_b, frame_p) if "baseline" in loaded else (frame_p,)
if view.one_file and not (view.production_window or view.baseline_window or view.by_version):
    # One file and nothing chosen yet: start from "the last 7 days vs the 30 days before".
    with guard("reading the timestamps", stop=False):
        stamp = detect_roles(shared, overrides=view.overrides(), data=data).timestamp
        span = cache.time_span(view.production, stamp)
        if span:
            prod_window, base_window = last_days_windows(span[1])
            view = view.with_rows(production_window=prod_window, baseline_window=base_window)
            set_view(view)


def role_guesses(detection: RoleDetection, roles: ColumnRoles) -> dict[str, str]:
    """Say, next to each picker, which of its columns the detection guessed and why."""
    if st.session_state.get("_confirmed_for") != (view.baseline, view.production):
        st.session_state["_confirmed_for"] = (view.baseline, view.production)
        st.session_state[controls.CONFIRMED] = set()
    confirmed = st.session_state[controls.CONFIRMED]
    out: dict[str, list[str]] = {}
    for guess in detection.guesses:
        param = controls.ROLE_OF_FIELD.get(guess.role)
        if param is None or param in confirmed:
            continue
        now = getattr(roles, guess.role)
        now = (now,) if isinstance(now, str) or now is None else tuple(now)
        if guess.column and guess.column in now:
            out.setdefault(param, []).append(f"Guessed: {guess.reason}.")
        elif guess.column is None and not any(now):
            out.setdefault(param, []).append(f"Not filled in: {guess.reason}.")
    return {param: " ".join(texts) for param, texts in out.items()}


analysis = None
problems: tuple[DataError, ...] = ()
try:
    with st.spinner("Checking the columns…"):
        analysis, pinned, _ = cache.analysis(view)
    if pinned != view:
        set_view(pinned)
        view = pinned
    roles = analysis.schema.roles
except DataError as exc:
    problems = exc.each()
    try:
        # A metric that does not fit (from an edited link) must stay fixable here.
        analysis = cache.analysis(replace(view, metric=None))[0] if view.metric else None
    except DataError:
        analysis = None
    try:
        roles = (
            analysis.schema.roles
            if analysis
            else detect_roles(shared, overrides=view.overrides(), data=data)
        )
    except DataError:
        roles = detect_roles(shared, data=data)
except Exception as exc:  # the user never sees a traceback
    message = f"The data could not be analysed ({type(exc).__name__}); check the columns."
    problems = (DataError(message),)
    roles = detect_roles(shared, data=data)

# Messages about a role go next to its picker, all at once; the rest below the pickers.
by_picker: dict[str, list[str]] = {}
for problem in problems:
    param = controls.ROLE_OF_FIELD.get(problem.role or "")
    if param:
        by_picker.setdefault(param, []).append(problem.app_message)
others = [p.app_message for p in problems if not controls.ROLE_OF_FIELD.get(p.role or "")]
guesses = role_guesses(suggest_roles(shared, data=data), roles)
controls.role_pickers(shared, roles, problems=by_picker, guesses=guesses)
if guesses:
    left, right = st.columns([2, 1], vertical_alignment="center")
    left.info(
        "Some columns were guessed from their names and values (marked above): check them, "
        "or pick others.",
        icon=":material/help:",
    )
    if right.button("Confirm the guesses", key="w_confirm_roles", icon=":material/check:"):
        st.session_state[controls.CONFIRMED].update(guesses)
        st.rerun()
if analysis is not None:
    controls.model_pickers(analysis)
    controls.metric_picker(analysis, key="w_metric_data", label="Lead metric", plan=plan)

# --- rows and actuals --------------------------------------------------------------------------

if plan.in_memory:
    with guard("reading the timestamps", stop=False):
        rows.rows_section(view, frame_p, roles.timestamp)
    rows.actuals_section(view)
else:
    st.subheader("Which rows are compared?")
    st.caption(
        f"The whole baseline against the whole production data, on {plan.title}. Date ranges, "
        "model versions and delayed actuals cut or join rows in memory only for now: on data "
        "this size, write the rows you want to compare (and their actuals) into their own "
        "folders, and open those."
    )

if problems:
    for text in others:
        st.error(fmt.md(text), icon=":material/error:")
    if by_picker:
        st.error(
            "Some columns need a choice: see the messages under their pickers above.",
            icon=":material/error:",
        )
    st.stop()

# --- ready -------------------------------------------------------------------------------------

if analysis.notes:
    st.info("\n".join(f"- {n}" for n in analysis.notes), icon=":material/info:")
with guard("counting the rows"):
    n_baseline, n_production, with_actuals = cache.counts(cache.analysis(view)[2])
st.success(
    f"Ready: {fmt.count(n_baseline)} baseline rows and "
    f"{fmt.count(n_production)} production rows"
    + ("" if with_actuals else " (no actuals yet)")
    + f", {analysis.schema.model_type.value} model, {len(roles.features)} features, lead metric "
    f"{analysis.metric.name}.",
    icon=":material/check_circle:",
)
st.page_link(PAGE_FILES["overview"], label="Next: did the model get worse?", icon="➡️")
with st.expander("Preview the first rows"):
    st.dataframe(analysis.production_frame.head(50), hide_index=True)
    of = "" if plan.in_memory else "the uniform sample of "
    st.caption(f"The first 50 rows of {of}{fmt.md(analysis.names[1])}.")
