"""The view: everything a shared link must reproduce, kept in the session and in the URL.

One frozen `View` holds the datasets, column roles, model type, positive class, metric and
selected slice. It is read from the URL once per session (a shared link starts a new session),
kept in ``st.session_state`` afterwards, and written back to the URL on every change, so the
address bar is always a link to the current view. The page is the URL path (``/slices``).

Browser history: every write of a changed view is one history entry (Streamlit pushes it), and
the app's own navigation links carry the view (`nav_params`), so a page visit is one entry too
(Streamlit's sidebar drops the query, and writing it back can add a second). A session's first
run writes nothing until the page pins the view (`restore_url`), so opening a bare address
costs one extra entry, not two, and a shared link none. When the URL shows another view than
the session's (Back or Forward), the URL wins (`current_view`): Back undoes a drilldown or any
other change of the view. A URL without any view parameter (a link that dropped them) keeps
the session's view.

Query parameters (all optional; the app opens on the fraud demo without them):

======================  ======================================================================
``baseline``            dataset id (``ds-...``), path under an allowed folder, or URL (if
                        enabled); absent: the baseline is cut from the production file (by
                        ``baseline_window``/``production_window`` or by model versions)
``production``          same, for the production data
``actuals``             delayed actuals (same kinds of reference): prediction id, actual and an
                        optional ``actual_timestamp``, joined to production by prediction id
                        (`tracing.actuals`); later actuals replace earlier ones
``production_window``   ``START,END``: only production rows in this range (ISO dates inclusive,
                        or exact date-times with END exclusive; `tracing.windows`)
``baseline_window``     ``START,END``: only baseline rows in this range; without a baseline file
                        it cuts the production file (absent: every row before the production
                        window)
``version_baseline``    model version (``model_version`` column of the production file) whose
``version_production``  rows are the baseline / production: two versions on the same traffic
``id``                  prediction id column
``timestamp``           timestamp column
``prediction``          predicted label / value column
``score``               score column(s), comma-separated (binary: probability of the positive
                        class)
``actual``              actual label / value column (any column can stand in as a proxy)
``features``            feature columns, comma-separated (default: every other column)
``model_type``          ``binary``, ``multiclass`` or ``regression``
``positive_class``      binary: the positive label
``metric``              lead metric id (``recall``, ``mae``, ...)
``slice``               selected slice: ``feature=value`` conditions joined by ``&``, with
                        only ``%`` and ``&`` (and ``=`` in feature names) escaped, so the URL
                        encodes it once (`slice_param`); the engine's fully quoted ids
                        (`tracing.slices.slice_id`) are read too
======================  ======================================================================

Page-local controls are widgets bound to their own query parameters (``bind="query-params"``):
the Slices page's ``depth``, ``min_size``, ``slice_by``, ``fold``, and the Overview's time
series ``freq`` (``hour``/``day``/``week``; absent: automatic), ``band`` (``baseline`` or
``rolling``), ``window`` (rolling band length in periods) and ``k`` (band half-width in
standard deviations). `share_url` carries them too.

A role parameter that is present but empty (``timestamp=``) means "no such column"; an absent
one means "detect it". Production without actuals is accepted: the pages that need actuals say
so, and binary models with scores get estimated performance instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from tracing.errors import DataError
from tracing.options import SliceSearch
from tracing.schema import ROLE_NAMES, ColumnRoles
from tracing.slices import parse_slice_id, slice_id
from tracing.sources import DEMO_DIR
from tracing.timeline import DEFAULT_K, DEFAULT_WINDOW
from tracing.windows import trace_windows

__all__ = [
    "DEMOS",
    "DEPTH_KEY",
    "FOLD_KEY",
    "GLOBAL_PARAMS",
    "MIN_SIZE_KEY",
    "PAGE_DEFAULTS",
    "PAGE_PARAMS",
    "ROW_PARAMS",
    "ROLE_PARAMS",
    "SLICE_BY_KEY",
    "SLICE_TOP",
    "Demo",
    "View",
    "current_view",
    "demo_of",
    "demo_view",
    "finding_page",
    "is_loopback",
    "link_base",
    "nav_params",
    "page_params",
    "restore_url",
    "set_view",
    "share_url",
    "slice_from_param",
    "slice_param",
    "slice_settings",
    "sync_url",
    "app_base_url",
    "trace_period",
    "url_moved",
    "view_listener",
    "window_text",
]

# URL parameter -> ColumnRoles field: the engine's role names, but tags (not picked in the app).
ROLE_PARAMS: dict[str, str] = {k: v for k, v in ROLE_NAMES.items() if k != "tags"}
_LIST_ROLES = {"score", "features"}
# The rows compared: view fields that cut or complete the files, in URL order.
ROW_PARAMS: tuple[str, ...] = (
    "actuals",
    "production_window",
    "baseline_window",
    "version_baseline",
    "version_production",
)
GLOBAL_PARAMS: tuple[str, ...] = (
    "baseline",
    "production",
    *ROW_PARAMS,
    *ROLE_PARAMS,
    "model_type",
    "positive_class",
    "metric",
    "slice",
)
# Page-local widgets bound to the URL (their keys are the parameter names) and their defaults;
# a share link carries the ones set to something else in the session.
PAGE_DEFAULTS: dict[str, Any] = {
    "depth": SliceSearch.max_depth,
    "min_size": SliceSearch.min_size,
    "slice_by": SliceSearch.features,
    "fold": SliceSearch.distinct,
    "freq": "auto",
    "band": None,
    "window": DEFAULT_WINDOW,
    "k": DEFAULT_K,
}
PAGE_PARAMS: tuple[str, ...] = tuple(PAGE_DEFAULTS)
_SESSION_KEY = "_view"


@dataclass(frozen=True)
class Demo:
    """A bundled demo: two files (and optionally delayed actuals) and a one-line story."""

    key: str
    label: str
    baseline: str
    production: str
    story: str
    actuals: str | None = None


def _demo_ref(name: str) -> str:
    """Return the demo file as a short path when the server runs from the project folder."""
    path = DEMO_DIR / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


DEMOS: dict[str, Demo] = {
    "fraud": Demo(
        "fraud",
        "Card fraud (binary classifier)",
        _demo_ref("fraud_training.parquet"),
        _demo_ref("fraud_production.parquet"),
        "A fraud model's recall collapsed in production week 2026-11-16: find out where.",
    ),
    "eta": Demo(
        "eta",
        "Ride ETA (regression)",
        _demo_ref("eta_training.parquet"),
        _demo_ref("eta_production.parquet"),
        "Arrival-time predictions became too optimistic in production: find out where.",
    ),
    "monitoring": Demo(
        "monitoring",
        "Customer churn over 60 days (monitoring)",
        _demo_ref("monitoring_training.parquet"),
        _demo_ref("monitoring_production.parquet"),
        "A churn model's daily accuracy dipped for ten days in the autumn: find the days on "
        "the Overview, then trace one of them.",
    ),
    "delayed": Demo(
        "delayed",
        "Customer churn with delayed actuals",
        _demo_ref("monitoring_training.parquet"),
        _demo_ref("monitoring_production.parquet"),
        "The same churn predictions, with actuals that arrive weeks late from a separate file: "
        "the last ten days have none yet, so their accuracy is estimated from the scores.",
        actuals=_demo_ref("monitoring_actuals.parquet"),
    ),
}


@dataclass(frozen=True)
class View:
    """Everything that defines what the app shows (the share link's content).

    Attributes
    ----------
    baseline, production : str
        Dataset references (see `tracing.sources`); an empty baseline means "cut the baseline
        from the production file" (by windows or model versions).
    actuals : str or None
        Delayed actuals joined to production by prediction id.
    production_window, baseline_window : str or None
        ``START,END`` windows (`tracing.windows`).
    version_baseline, version_production : str or None
        Model versions of the production file to compare.
    roles : tuple of (str, str)
        Explicit column roles as (URL parameter, value) pairs; value ``""`` means "none";
        roles not listed are detected.
    model_type, positive_class, metric, slice : str or None
        Explicit choices; None means "default".
    """

    baseline: str
    production: str
    actuals: str | None = None
    production_window: str | None = None
    baseline_window: str | None = None
    version_baseline: str | None = None
    version_production: str | None = None
    roles: tuple[tuple[str, str], ...] = ()
    model_type: str | None = None
    positive_class: str | None = None
    metric: str | None = None
    slice: str | None = None

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> View:
        """Build a view from URL parameters (missing data means the fraud demo)."""
        demo = DEMOS["fraud"]
        baseline = params.get("baseline") or ""
        production = params.get("production") or ""
        if not baseline and not production:
            baseline, production = demo.baseline, demo.production
        roles = tuple(
            (p, _clean_list(params[p]) if p in _LIST_ROLES else params[p].strip())
            for p in ROLE_PARAMS
            if p in params
        )
        return cls(
            baseline=baseline.strip(),
            production=production.strip(),
            **{p: _opt(params.get(p)) for p in ROW_PARAMS},
            roles=roles,
            model_type=_opt(params.get("model_type")),
            positive_class=_opt(params.get("positive_class"), strip=False),
            metric=_opt(params.get("metric")),
            slice=_opt(slice_from_param(params.get("slice") or ""), strip=False),
        )

    def overrides(self) -> dict[str, Any]:
        """Return the explicit roles in the form `tracing.analysis.prepare_analysis` takes."""
        out: dict[str, Any] = {}
        for param, value in self.roles:
            role = ROLE_PARAMS[param]
            if param in _LIST_ROLES:
                out[role] = tuple(v for v in value.split(",") if v)
            else:
                out[role] = value or None
        return out

    def data_key(self) -> View:
        """Return the view without what the analysis does not depend on (metric, slice).

        It is hashable, so it keys the caches, and it is a view, so a cache can rebuild the
        analysis from it.
        """
        return replace(self, metric=None, slice=None)

    @property
    def one_file(self) -> bool:
        """Whether baseline and production are both cut from the production file."""
        return not self.baseline

    @property
    def by_version(self) -> bool:
        """Whether two model versions of the production file are compared."""
        return bool(self.version_baseline and self.version_production)

    def rows_text(self) -> str | None:
        """Say which rows are compared beyond the files, for captions (None: whole files)."""
        parts = []
        if self.by_version:
            parts.append(f"model {self.version_production} vs {self.version_baseline}")
        if self.production_window:
            parts.append(f"production {window_text(self.production_window)}")
        if self.baseline_window:
            parts.append(f"baseline {window_text(self.baseline_window)}")
        elif self.one_file and self.production_window and not self.by_version:
            parts.append("baseline every row before it")
        return "; ".join(parts) or None

    # -- writing ----------------------------------------------------------------------------

    def to_params(self) -> dict[str, str]:
        """Return the URL parameters of this view (only what is set)."""
        out = {"baseline": self.baseline} if self.baseline else {}
        out["production"] = self.production
        for name in ROW_PARAMS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(dict(self.roles))
        for name in ("model_type", "positive_class", "metric"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.slice is not None:
            out["slice"] = slice_param(self.slice)
        return out

    def with_data(self, baseline: str, production: str, actuals: str | None = None) -> View:
        """Return a view on other data: windows, roles, settings and slice start over."""
        return View(baseline=baseline.strip(), production=production.strip(), actuals=actuals)

    def with_rows(self, **changes: str | None) -> View:
        """Return the view with other windows, versions or actuals (`ROW_PARAMS`).

        The slice starts over: it was found on other rows.
        """
        unknown = set(changes) - set(ROW_PARAMS)
        if unknown:
            raise ValueError(f"not a row parameter: {', '.join(sorted(unknown))}")
        cleaned = {
            k: (v.strip() or None) if isinstance(v, str) else None for k, v in changes.items()
        }
        return replace(self, **cleaned, slice=None)

    def with_role(self, param: str, value: str | None) -> View:
        """Return the view with one role set (None = detect, "" = none); clears the slice."""
        roles = tuple((p, v) for p, v in self.roles if p != param)
        if value is not None:
            roles = tuple(sorted((*roles, (param, value)), key=lambda pv: _ORDER[pv[0]]))
        return replace(self, roles=roles, slice=None)

    def pinned(
        self, roles: ColumnRoles, model_type: str, positive_class: Any, metric: str
    ) -> View:
        """Return the view with detected roles and defaults made explicit.

        Pinning makes a shared link independent of detection rules. Features stay implicit
        (the default "every other column" keeps links short) unless the user chose them.
        """
        explicit = dict(self.roles)
        for param, role in ROLE_PARAMS.items():
            if param in explicit or param == "features":
                continue
            value = getattr(roles, role)
            text = ",".join(value) if isinstance(value, tuple) else (value or "")
            if text:
                explicit[param] = text
        ordered = tuple(sorted(explicit.items(), key=lambda pv: _ORDER[pv[0]]))
        return replace(
            self,
            roles=ordered,
            model_type=self.model_type or model_type,
            positive_class=(
                self.positive_class
                if self.positive_class is not None or positive_class is None
                else str(positive_class)
            ),
            metric=self.metric or metric,
        )


_ORDER = {p: i for i, p in enumerate(ROLE_PARAMS)}


def _opt(value: str | None, *, strip: bool = True) -> str | None:
    if value is None:
        return None
    value = value.strip() if strip else value
    return value or None


def _clean_list(value: str) -> str:
    return ",".join(v.strip() for v in value.split(",") if v.strip())


def _escape(text: str, chars: str) -> str:
    for char in "%" + chars.replace("%", ""):  # "%" first: the escapes are not escaped again
        text = text.replace(char, f"%{ord(char):02X}")
    return text


def slice_param(slice_key: str) -> str:
    """Write a slice id for the URL's ``slice`` parameter, readable once URL-encoded.

    The engine's ids quote every special character (``%5B10%2C%2025%29``), which the URL then
    encodes a second time (``%255B``). Here only what the id's syntax needs is escaped:
    ``%`` and ``&`` everywhere, ``=`` in feature names. `slice_from_param` reads both forms.
    A text that is not an id as `tracing.slices.slice_id` writes it is returned unchanged.

    Examples
    --------
    >>> slice_param("state=CA&amount=%5B10%2C%2025%29")
    'state=CA&amount=[10, 25)'
    >>> slice_param(slice_id([("a=b", "50% & more")]))
    'a%3Db=50%25 %26 more'
    """
    try:
        conditions = parse_slice_id(slice_key)
    except DataError:
        return slice_key
    if slice_id(conditions) != slice_key:
        return slice_key
    return "&".join(f"{_escape(f, '&=')}={_escape(v, '&')}" for f, v in conditions)


def slice_from_param(text: str) -> str:
    """Return the slice id (`tracing.slices.slice_id`) of a URL's ``slice`` parameter.

    Both `slice_param`'s form and the engine's fully quoted ids are read (both are
    ``parse_slice_id`` input); a malformed text is kept as it is, for the page to refuse.

    Examples
    --------
    >>> slice_from_param("state=CA&amount=[10, 25)")
    'state=CA&amount=%5B10%2C%2025%29'
    >>> slice_from_param("state=CA&amount=%5B10%2C%2025%29")
    'state=CA&amount=%5B10%2C%2025%29'
    """
    try:
        return slice_id(parse_slice_id(text))
    except DataError:
        return text


def demo_view(key: str) -> View:
    """Return the view of a bundled demo."""
    demo = DEMOS[key]
    return View(baseline=demo.baseline, production=demo.production, actuals=demo.actuals)


def demo_of(view: View) -> str | None:
    """Return the key of the demo whose files the view shows (None: not a demo)."""
    for key, demo in DEMOS.items():
        if (demo.baseline, demo.production, demo.actuals) == (
            view.baseline,
            view.production,
            view.actuals,
        ):
            return key
    return None


def window_text(window: str) -> str:
    """Write a ``START,END`` window for people: ``2026-11-02 to 2026-11-08``.

    Date-only bounds are inclusive days; bounds with a time are shown to the minute (END is
    then exclusive).
    """
    start, _, end = window.partition(",")
    start, end = _bound_text(start), _bound_text(end)
    if start and end:
        return start if start == end else f"{start} to {end}"
    return f"from {start}" if start else f"until {end}"


def _bound_text(bound: str) -> str:
    bound = bound.strip()
    if "T" not in bound:
        return bound
    day, _, clock = bound.partition("T")
    return f"{day} {clock[:5]}"


def _url_params() -> dict[str, str]:
    return {k: st.query_params[k] for k in st.query_params}


def url_moved(view: View, params: Mapping[str, str]) -> bool:
    """Whether the URL shows another view than ``view``: the browser went Back or Forward.

    The app writes every change of the view to the URL, so a difference comes from outside
    the session. A URL with no view parameter at all is a link that dropped them (Streamlit's
    navigation does), not another view.
    """
    shown = {k: params[k] for k in GLOBAL_PARAMS if k in params}
    return bool(shown) and shown != view.to_params()


def current_view() -> View:
    """Return the session's view; read it from the URL on a session's first run and after Back.

    "After Back" is any run whose URL shows another view (`url_moved`): Back, Forward, or a
    link that carries another view.
    """
    view = st.session_state.get(_SESSION_KEY)
    params = _url_params()
    if view is None or url_moved(view, params):
        view = View.from_params(params)
        st.session_state[_SESSION_KEY] = view
    return view  # type: ignore[no-any-return]


def nav_params(view: View) -> dict[str, str]:
    """Return the query an in-app link to another page carries: the view's parameters.

    A link that carries them lands on a URL that already shows the view, so the visit is
    one history entry; without them, Streamlit pushes the bare page and the app's rewrite of
    the view can push a second. (Streamlit adds the widget-bound page parameters itself.)
    """
    return view.to_params()


# Called after each `set_view` of the current script run (the app frame redraws its menu, whose
# links carry the view). A context variable, so widget callbacks, which run before the frame
# exists, and other sessions' threads never see it.
_listener: ContextVar[Callable[[], None] | None] = ContextVar("view_listener", default=None)


@contextmanager
def view_listener(listener: Callable[[], None]) -> Iterator[None]:
    """Call ``listener`` after every `set_view` inside the block."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def set_view(view: View) -> None:
    """Make ``view`` the session's view and write it to the URL."""
    st.session_state[_SESSION_KEY] = view
    sync_url(view)
    listener = _listener.get()
    if listener is not None:
        listener()


def restore_url() -> None:
    """Write the session's view back to the URL, for links that dropped it (run by app.py).

    Not on a session's first run: the URL is the link just opened, and writing its
    normalised form would push a history entry before the page's pinning (`View.pinned`)
    pushes another; the pinning writes the whole view once.
    """
    first = _SESSION_KEY not in st.session_state
    view = current_view()
    if not first:
        sync_url(view)


def sync_url(view: View) -> None:
    """Write the view's parameters to the URL (leaving unrelated and widget-bound ones)."""
    wanted = view.to_params()
    current = _url_params()
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changes:
        st.query_params.update(changes)
    for key in GLOBAL_PARAMS:
        if key not in wanted and key in current:
            del st.query_params[key]


def page_params(
    values: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None
) -> dict[str, str | list[str]]:
    """Return the page-local settings of ``values`` (session state) that are not defaults.

    They are written as ``bind="query-params"`` writes them: true/false, 3 not 3.0, lists as
    repeated parameters. ``defaults`` overrides `PAGE_DEFAULTS` where the default depends on
    the data (``slice_by``: every slice column, in any order).
    """
    out: dict[str, str | list[str]] = {}
    for name, default in {**PAGE_DEFAULTS, **(defaults or {})}.items():
        value = values.get(name)
        if isinstance(value, list | tuple) and isinstance(default, list | tuple):
            value = None if set(value) == set(default) else value
        if value is None or value == default:
            continue
        if isinstance(value, bool):
            out[name] = str(value).lower()
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))
        elif isinstance(value, list | tuple):
            out[name] = [str(v) for v in value]
        else:
            out[name] = str(value)
    return out


def share_url(
    view: View,
    page_path: str,
    *,
    base: str,
    extra: Mapping[str, str | list[str]] | None = None,
) -> str:
    """Return an absolute link that opens ``page_path`` on ``view``.

    Parameters
    ----------
    view : View
        The view to share.
    page_path : str
        The page's URL path ("" for the default page).
    base : str
        The app's root URL (scheme, host, port and base path, ending with "/").
    extra : mapping, optional
        Page-local parameters to carry too (`PAGE_PARAMS`, e.g. the time series settings).
    """
    params: dict[str, str | list[str]] = dict(view.to_params())
    params.update({k: v for k, v in (extra or {}).items() if k not in params})
    query = urlencode(params, safe=",/:", doseq=True)
    return f"{base}{page_path}?{query}"


def app_base_url(current_url: str, page_path: str) -> str:
    """Return the app's root URL from the current page's URL (`st.context.url`)."""
    url = current_url.split("?", 1)[0]
    if page_path and url.rstrip("/").endswith("/" + page_path):
        url = url.rstrip("/")[: -len(page_path)]
    return url if url.endswith("/") else url + "/"


def link_base(
    public: str | None, browser_url: str | None, headers: Mapping[str, str], page_path: str
) -> str:
    """Return the root URL share links start with.

    Parameters
    ----------
    public : str or None
        ``TRACING_PUBLIC_URL`` (`tracing.settings`): the address others reach the app at.
    browser_url : str or None
        The current page's URL in the user's browser (``st.context.url``).
    headers : mapping
        The session's request headers (``st.context.headers``), when the browser's URL is not
        known: ``X-Forwarded-Host`` or ``Host``, with ``X-Forwarded-Proto`` (default http).
    page_path : str
        The current page's URL path, cut from ``browser_url``.

    Returns
    -------
    str
        Scheme, host and base path ending with ``/``; ``"/"`` (a link relative to this server)
        when nothing names the host.

    Examples
    --------
    >>> link_base("https://t.example.org/", "http://localhost:8501/share", {}, "share")
    'https://t.example.org/'
    >>> link_base(None, "http://10.0.0.5:8501/share", {}, "share")
    'http://10.0.0.5:8501/'
    >>> link_base(None, None, {"Host": "t.internal:8501"}, "share")
    'http://t.internal:8501/'
    """
    if public:
        return public
    if browser_url:
        return app_base_url(browser_url, page_path)
    lower = {k.lower(): v for k, v in headers.items()}
    host = (lower.get("x-forwarded-host") or lower.get("host") or "").split(",")[0].strip()
    if not host:
        return "/"
    scheme = (lower.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
    return f"{'https' if scheme == 'https' else 'http'}://{host}/"


def is_loopback(url: str) -> bool:
    """Whether a link's host is this computer only (``localhost``, ``127.0.0.1``, ``::1``).

    Examples
    --------
    >>> is_loopback("http://localhost:8501/"), is_loopback("http://[::1]/x")
    (True, True)
    >>> is_loopback("https://t.example.org/"), is_loopback("/")
    (False, False)
    """
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def finding_page(view: View) -> str:
    """Return the page (a `ui.layout.PAGE_FILES` id) that shows the view's finding.

    A selected slice is shown drilled into on the Slices page; otherwise the Overview's
    headline (the default page) is the finding. The Share page opens its link there unless
    the user picks another page.
    """
    return "slices" if view.slice else "overview"


# Slice-search settings: widgets of the Slices page bound to their own URL parameters; other
# pages (root cause, explain, share) reuse the same search through `slice_settings`.
DEPTH_KEY, MIN_SIZE_KEY, SLICE_BY_KEY, FOLD_KEY = "depth", "min_size", "slice_by", "fold"
# The page ranks more slices than the report's default, since folding leaves fewer to list.
SLICE_TOP = 40


def slice_settings(slice_columns: tuple[str, ...]) -> SliceSearch:
    """Return the slice search as last set on the Slices page (its defaults otherwise).

    The Slices, Root cause, Explain and Share pages all use this one object, so the report
    a PM downloads ranks the slices they saw.
    """
    ss = st.session_state
    min_size = ss.get(MIN_SIZE_KEY)
    chosen = ss.get(SLICE_BY_KEY)
    features = None if not chosen or set(chosen) == set(slice_columns) else tuple(chosen)
    fold = ss.get(FOLD_KEY)
    return SliceSearch(
        max_depth=int(ss.get(DEPTH_KEY) or SliceSearch.max_depth),
        min_size=int(min_size) if min_size else None,
        top=SLICE_TOP,
        features=features,
        distinct=SliceSearch.distinct if fold is None else bool(fold),
    )


def trace_period(view: View, start: Any, end: Any, freq: str, *, before: int) -> View:
    """Return the view that traces one period (an alert) of the time series.

    Production becomes that period. The baseline stays the baseline file, or the other model
    version (on the same period); when the baseline is cut from the production file, it becomes
    the ``before`` periods just before the traced one (the rolling band's window).
    """
    production, baseline = trace_windows(start, end, freq, before=before)
    if view.one_file and not view.by_version:
        return view.with_rows(production_window=production, baseline_window=baseline)
    return view.with_rows(production_window=production)
