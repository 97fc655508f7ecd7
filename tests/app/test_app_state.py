"""The view <-> URL mapping: round trips, share links, pinning (pure functions of ui.state)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from tracing.schema import ColumnRoles
from tracing.slices import parse_slice_id, slice_id
from ui.state import (
    DEMOS,
    ROLE_PARAMS,
    ROW_PARAMS,
    View,
    app_base_url,
    finding_page,
    is_loopback,
    link_base,
    nav_params,
    share_url,
    slice_from_param,
    slice_param,
    url_moved,
)

text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
column = text.filter(lambda s: "," not in s and s.strip() == s)
# Slice ids as the engine writes them (tracing.slices.slice_id): any names and values.
conditions = st.lists(st.tuples(text, st.text(max_size=12)), min_size=1, max_size=3)
slice_ids = conditions.map(slice_id)


@given(
    baseline=st.just("") | text.map(str.strip).filter(bool),
    production=text.map(str.strip).filter(bool),
    rows=st.dictionaries(st.sampled_from(ROW_PARAMS), column, max_size=5),
    roles=st.dictionaries(st.sampled_from(sorted(ROLE_PARAMS)), column, max_size=6),
    metric=st.none() | column,
    slice_=st.none() | slice_ids,
)
def test_share_link_round_trips_the_view(
    baseline, production, rows, roles, metric, slice_
) -> None:
    order = list(ROLE_PARAMS)
    view = View(
        baseline=baseline,
        production=production,
        **rows,
        roles=tuple(sorted(roles.items(), key=lambda kv: order.index(kv[0]))),
        metric=metric,
        slice=slice_,
    )
    link = share_url(view, "slices", base="http://host:8501/")
    parts = urlsplit(link)
    assert parts.path == "/slices"
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    assert View.from_params(params) == view


def test_no_data_in_the_url_means_the_fraud_demo() -> None:
    view = View.from_params({})
    assert (view.baseline, view.production) == (DEMOS["fraud"].baseline, DEMOS["fraud"].production)
    one = View.from_params({"production": "p.csv", "production_window": " 2026-11-02, "})
    assert one.one_file and one.production_window == "2026-11-02,"
    assert "baseline" not in one.to_params()


def test_empty_role_means_none_and_absent_means_detect() -> None:
    view = View.from_params({"baseline": "a.csv", "production": "b.csv", "timestamp": ""})
    assert view.overrides() == {"timestamp": None}
    assert View.from_params({"baseline": "a.csv", "production": "b.csv"}).overrides() == {}
    listed = View.from_params({"baseline": "a", "production": "b", "features": " x, y ,,z"})
    assert listed.overrides() == {"features": ("x", "y", "z")}


def test_changing_a_role_clears_the_slice_and_none_restores_detection() -> None:
    view = View("a", "b", roles=(("actual", "y"),), slice="state=CA")
    changed = view.with_role("prediction", "p")
    assert changed.slice is None and changed.roles == (("prediction", "p"), ("actual", "y"))
    assert changed.with_role("actual", None).roles == (("prediction", "p"),)


def test_pinning_makes_detected_roles_explicit_but_keeps_choices() -> None:
    detected = ColumnRoles(
        prediction_id="id", prediction_label="pred", actual_label="label",
        prediction_score=("score",), features=("f1", "f2"),
    )  # fmt: skip
    view = View("a", "b", roles=(("actual", "truth"),), metric="f1")
    pinned = view.pinned(detected, "binary", 1, "recall")
    assert dict(pinned.roles) == {"id": "id", "prediction": "pred", "score": "score",
                                  "actual": "truth"}  # fmt: skip
    assert (pinned.model_type, pinned.positive_class, pinned.metric) == ("binary", "1", "f1")
    assert pinned.pinned(detected, "binary", 1, "recall") == pinned  # idempotent


def test_app_base_url() -> None:
    assert app_base_url("http://h:1/share", "share") == "http://h:1/"
    assert app_base_url("https://x.org/apps/tracing/share?a=1", "share") == (
        "https://x.org/apps/tracing/"
    )
    assert app_base_url("http://h:1", "") == "http://h:1/"


@given(conditions)
def test_slice_parameter_round_trips_and_reads_the_engine_form(conds) -> None:
    key = slice_id(conds)
    assert slice_from_param(slice_param(key)) == key
    assert slice_from_param(key) == key  # links written before: the fully quoted id
    assert parse_slice_id(slice_from_param(slice_param(key))) == tuple(conds)


def test_slice_in_the_url_is_encoded_once() -> None:
    key = slice_id([("tailnum", "(other)"), ("temp", "[75.02, inf)"), ("note", "50% off")])
    link = share_url(View("a", "b", slice=key), "slices", base="http://h/")
    query = urlsplit(link).query
    # One layer of URL encoding: decoding it once gives the words back.
    (shown,) = parse_qs(query)["slice"]
    assert shown == "tailnum=(other)&temp=[75.02, inf)&note=50%25 off"
    assert "%2528" not in query and "%255B" not in query  # "(" and "[" not encoded twice
    assert View.from_params({"production": "b", "slice": shown}).slice == key


def test_a_url_showing_another_view_is_the_browser_moving_through_history() -> None:
    view = View("a", "b", metric="recall", slice="state=CA")
    assert not url_moved(view, view.to_params())
    assert not url_moved(view, {"depth": "2"})  # a link that dropped the view: keep it
    back = View("a", "b", metric="recall")  # before the drilldown
    assert url_moved(view, back.to_params())
    assert View.from_params(back.to_params()) == back
    assert url_moved(view, {**view.to_params(), "baseline": "c"})
    assert nav_params(view) == view.to_params()


def test_share_links_start_with_the_public_url_then_the_browsers() -> None:
    public = "https://tracing.example.org/apps/t/"
    assert link_base(public, "http://localhost:8501/share", {}, "share") == public
    assert link_base(None, "http://10.1.2.3:8501/share", {"Host": "x"}, "share") == (
        "http://10.1.2.3:8501/"
    )
    proxied = {"host": "10.0.0.2:8501", "X-Forwarded-Host": "t.org", "X-Forwarded-Proto": "https"}
    assert link_base(None, None, proxied, "share") == "https://t.org/"
    assert link_base(None, None, {}, "share") == "/"
    assert is_loopback("http://127.0.0.2:8501/") and is_loopback("http://LOCALHOST/")
    assert not is_loopback("http://10.1.2.3:8501/") and not is_loopback(public)


def test_the_finding_page() -> None:
    assert finding_page(View("a", "b", slice="state=CA")) == "slices"
    assert finding_page(View("a", "b", metric="recall")) == "overview"
