"""The view <-> URL mapping: round trips, share links, pinning (pure functions of ui.state)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from tracing.schema import ColumnRoles
from ui.state import DEMOS, ROLE_PARAMS, ROW_PARAMS, View, app_base_url, share_url

text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
column = text.filter(lambda s: "," not in s and s.strip() == s)


@given(
    baseline=st.just("") | text.map(str.strip).filter(bool),
    production=text.map(str.strip).filter(bool),
    rows=st.dictionaries(st.sampled_from(ROW_PARAMS), column, max_size=5),
    roles=st.dictionaries(st.sampled_from(sorted(ROLE_PARAMS)), column, max_size=6),
    metric=st.none() | column,
    slice_=st.none() | text,
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
