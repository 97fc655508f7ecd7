"""Model chains: validation, share of change, counterfactual, culprit, CLI and JSON schema.

Oracles: planted faults (an upstream-only and a downstream-only degradation), pandas
recomputations of the share of change from the raw columns, scikit-learn's own predictions for
the counterfactual, and the JSON Schema on real output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import mean_absolute_error, mean_squared_error
from sklearn.tree import DecisionTreeRegressor

from tests.conftest import DEMO
from tracing import sources
from tracing.chain import (
    CULPRIT_SHARE,
    ERROR_QUANTILE,
    LinkTrace,
    ModelTrace,
    _culprit,
    chain_dot,
    chain_json,
    chain_markdown,
    load_chain,
    share_of_change,
    trace_chain,
    upstream_erred,
    vet_chain_ref,
)
from tracing.cli import main
from tracing.errors import DataError
from tracing.metrics import METRICS
from tracing.vocab import Status

SCHEMA = Path(__file__).resolve().parents[1] / "tracing" / "schemas" / "chain.schema.json"
N = 1500


def _side(rng: np.random.Generator, prefix: str, *, up_fault: bool, down_fault: bool):
    """Trips: ``up`` predicts a speed; ``down`` predicts a time from ``up``'s prediction."""
    road = rng.choice(["a", "b", "c"], N)
    usual = np.select([road == "a", road == "b"], [90.0, 50.0], 30.0)
    speed = usual * rng.lognormal(0, 0.1, N)
    if up_fault:  # the upstream's world changed on road b; its predictions did not
        speed = np.where(road == "b", speed * 0.6, speed)
    ids = [f"{prefix}{i}" for i in range(N)]
    up = pd.DataFrame(
        {"trip": ids, "road": road, "speed_pred": usual + rng.normal(0, 2, N), "speed": speed}
    )
    dist = rng.gamma(3.0, 2.0, N) + 0.5
    down = pd.DataFrame(
        {
            "trip": ids,
            "dist": dist,
            "speed_in": up["speed_pred"],
            "minutes": dist / speed * 60 + rng.normal(0, 0.5, N),
        }
    )
    down["minutes_pred"] = down["dist"] / down["speed_in"] * 60
    if down_fault:  # the downstream alone got worse: it adds 4 minutes on 40% of trips
        down["minutes_pred"] += np.where(rng.random(N) < 0.4, 4.0, 0.0)
    return up, down


def _chain(
    folder: Path, *, up_fault: bool = False, down_fault: bool = False, model: bool = False
) -> Path:
    rng = np.random.default_rng(7)
    up_b, down_b = _side(rng, "b", up_fault=False, down_fault=False)
    up_p, down_p = _side(rng, "p", up_fault=up_fault, down_fault=down_fault)
    extra = ""
    if model:
        fitted = _trip_time_model()
        for d in (down_b, down_p):  # the downstream's logged predictions are the model's own
            d["minutes_pred"] = fitted.predict(d[["dist", "speed_in"]])
        sio.dump(fitted, folder / "down.skops")
        extra = 'model_file = "down.skops"\n'
    for name, frame in (("up_b", up_b), ("up_p", up_p), ("down_b", down_b), ("down_p", down_p)):
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    text = f"""
[[model]]
name = "down"
baseline = "down_b.parquet"
production = "down_p.parquet"
id = "trip"
prediction = "minutes_pred"
actual = "minutes"
features = ["dist", "speed_in"]
model_type = "regression"
inputs = {{ speed_in = "up" }}
{extra}
[[model]]
name = "up"
baseline = "up_b.parquet"
production = "up_p.parquet"
id = "trip"
prediction = "speed_pred"
actual = "speed"
features = ["road"]
model_type = "regression"
"""
    path = folder / "chain.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _trip_time_model() -> DecisionTreeRegressor:
    """A scikit-learn model of minutes from (dist, speed_in): a deep tree on the formula."""
    rng = np.random.default_rng(3)
    grid = pd.DataFrame(
        {"dist": rng.uniform(0.5, 30, 20000), "speed_in": rng.uniform(15, 110, 20000)}
    )
    target = grid["dist"] / grid["speed_in"] * 60
    return DecisionTreeRegressor(max_depth=12, random_state=0).fit(grid, target)


# --- culprit ---------------------------------------------------------------------------------


def test_planted_upstream_degradation_is_named_the_culprit(tmp_path):
    trace = trace_chain(load_chain(_chain(tmp_path, up_fault=True)))
    assert trace.culprit == "up"
    assert trace.model("up").status == "worse" and trace.model("down").status == "worse"
    (link,) = trace.links
    assert (link.upstream, link.downstream, link.feature) == ("up", "down", "speed_in")
    assert link.share_of_change >= CULPRIT_SHARE
    assert link.counterfactual is None  # no model file
    assert "up is the culprit" in trace.explanation


def test_planted_downstream_only_degradation_is_not_blamed_upstream(tmp_path):
    trace = trace_chain(load_chain(_chain(tmp_path, down_fault=True)))
    assert trace.model("down").status == "worse"
    assert trace.culprit == "down"
    assert "down itself is the culprit" in trace.explanation
    # The upstream's errors are where they were: about a tenth of the rows on each side.
    (link,) = trace.links
    assert link.erred_baseline == pytest.approx(1 - ERROR_QUANTILE, abs=0.01)
    assert link.erred_production == pytest.approx(1 - ERROR_QUANTILE, abs=0.03)


def test_no_degradation_means_no_culprit(tmp_path):
    path = _chain(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("_p.parquet", "_b.parquet"))
    trace = trace_chain(load_chain(path))
    assert [m.status for m in trace.models] == ["same", "same"]
    assert trace.culprit is None and "no degradation" in trace.explanation
    assert np.isnan(trace.links[0].share_of_change)


def test_demo_chain_blames_the_traffic_model():
    trace = trace_chain(load_chain(DEMO / "chain.toml"))
    assert trace.culprit == "traffic"
    (link,) = trace.links
    assert link.counterfactual_delta is not None
    eta = trace.model("eta")
    # With the actual speeds, the ETA model's change nearly vanishes.
    assert abs(link.counterfactual_delta) < 0.1 * eta.delta


# --- share of change against pandas ------------------------------------------------------------


def _brute_force(folder: Path, metric: str) -> float:
    """Recompute the share from the raw columns with pandas merges and sklearn metrics."""
    up_b, up_p = (pd.read_parquet(folder / f"up_{s}.parquet") for s in "bp")
    down_b, down_p = (pd.read_parquet(folder / f"down_{s}.parquet") for s in "bp")
    cut = np.quantile((up_b["speed"] - up_b["speed_pred"]).abs(), ERROR_QUANTILE)
    sides = []
    for up, down in ((up_b, down_b), (up_p, down_p)):
        up = up.assign(erred=(up["speed"] - up["speed_pred"]).abs() > cut)
        sides.append(down.merge(up[["trip", "erred"]], on="trip", how="left"))
    b, p = sides
    if metric == "mae":
        err = {k: (d["minutes"] - d["minutes_pred"]).abs() for k, d in (("b", b), ("p", p))}
        big_b, big_p = err["b"].mean(), err["p"].mean()
        wb, wp = b["erred"].mean(), p["erred"].mean()
        mb, mp = err["b"][b["erred"]].mean(), err["p"][p["erred"]].mean()
        return ((wp - wb) * (mb - big_b) + wp * (mp - mb)) / (big_p - big_b)

    def rmse(d: pd.DataFrame) -> float:
        return float(np.sqrt(mean_squared_error(d["minutes"], d["minutes_pred"])))

    rest = rmse(p[~p["erred"]]) - rmse(b[~b["erred"]])
    return 1 - rest / (rmse(p) - rmse(b))


@pytest.mark.parametrize("metric", ["mae", "rmse"])
@pytest.mark.parametrize("fault", ["up_fault", "down_fault"])
def test_share_of_change_matches_a_pandas_recomputation(tmp_path, metric, fault):
    path = _chain(tmp_path, **{fault: True})
    text = path.read_text(encoding="utf-8").replace(
        'inputs = { speed_in = "up" }', f'inputs = {{ speed_in = "up" }}\nmetric = "{metric}"'
    )
    path.write_text(text, encoding="utf-8")
    (link,) = trace_chain(load_chain(path)).links
    assert link.share_of_change == pytest.approx(_brute_force(tmp_path, metric), rel=1e-9)


def test_shares_of_a_ratio_metric_over_the_partition_add_up_to_one(tmp_path):
    from tracing.analysis import prepare_analysis

    rng = np.random.default_rng(0)
    b = pd.DataFrame({"y": rng.normal(0, 1, 500), "p": rng.normal(0, 1, 500)})
    p = pd.DataFrame({"y": rng.normal(0, 1, 400), "p": rng.normal(0.5, 1, 400)})
    a = prepare_analysis(b, p, roles={"actual_label": "y", "prediction_label": "p"})
    eb, ep = rng.random(500) < 0.2, rng.random(400) < 0.5
    for metric in ("mae", "me", "mse", "smape"):
        m = METRICS[metric]
        total = share_of_change(m, a.baseline, a.production, eb, ep) + share_of_change(
            m, a.baseline, a.production, ~eb, ~ep
        )
        assert total == pytest.approx(1.0, rel=1e-12), metric


def test_a_classification_upstream_errs_where_it_is_wrong():
    from tracing.analysis import prepare_analysis

    b = pd.DataFrame({"id": [1, 2, 3, 4], "pred": [1, 0, 1, 0], "label": [1, 1, 1, 0]})
    p = pd.DataFrame({"id": [5, 6, 7, 8], "pred": [1, 1, 0, 0], "label": [0, 1, 1, 0]})
    roles = {"prediction_id": "id", "prediction_label": "pred", "actual_label": "label"}
    a = prepare_analysis(b, p, roles=roles)
    assert upstream_erred(a, "baseline").to_dict() == {1: False, 2: True, 3: False, 4: False}
    assert upstream_erred(a, "production").to_dict() == {5: True, 6: False, 7: True, 8: False}


# --- counterfactual against the model itself ------------------------------------------------


def test_counterfactual_matches_a_direct_recomputation_with_the_model(tmp_path):
    trace = trace_chain(load_chain(_chain(tmp_path, up_fault=True, model=True)))
    (link,) = trace.links
    model = sio.load(
        tmp_path / "down.skops", trusted=sio.get_untrusted_types(file=tmp_path / "down.skops")
    )
    up_p = pd.read_parquet(tmp_path / "up_p.parquet")
    down_p = pd.read_parquet(tmp_path / "down_p.parquet")
    x = down_p[["dist"]].assign(speed_in=down_p["trip"].map(up_p.set_index("trip")["speed"]))
    expected = mean_absolute_error(down_p["minutes"], model.predict(x))
    assert link.counterfactual == pytest.approx(expected, rel=1e-12)
    down_b = pd.read_parquet(tmp_path / "down_b.parquet")
    baseline = mean_absolute_error(down_b["minutes"], down_b["minutes_pred"])
    assert link.counterfactual_delta == pytest.approx(expected - baseline, rel=1e-9)
    assert trace.culprit == "up"


def test_a_pickle_as_model_file_is_refused(tmp_path):
    path = _chain(tmp_path, up_fault=True, model=True)
    (tmp_path / "down.skops").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(DataError, match="pickle"):
        trace_chain(load_chain(path))


# --- bad chain files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "model", "key"),
    [
        (('features = ["road"]', 'features = "road"'), "up", "features"),
        (('name = "up"', 'name = "up"\ncolour = "red"'), "up", "colour"),
        (('"up_b.parquet"', '"nowhere.parquet"'), "up", "baseline"),
        (('speed_in = "up"', 'speed_in = "upp"'), "down", "inputs.speed_in"),
        (('name = "up"', 'name = "down"'), "down", "name"),
        (('model_type = "regression"\n', 'model_type = "forest"\n'), "down", "model_type"),
        (
            ('features = ["road"]', 'features = ["road"]\ninputs = { road = "down" }'),
            None,
            "inputs",
        ),
        (("inputs = {", "threshold = 2\ninputs = {"), "down", "threshold"),
    ],
)
def test_bad_chain_files_name_the_file_model_and_key(tmp_path, edit, model, key):
    path = _chain(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_chain(path)
    message = str(err.value)
    assert message.startswith("chain.toml") and f"key {key!r}" in message
    if model:
        assert f"model {model!r}" in message
    if key == "inputs":
        assert "cycle" in message and "down -> up -> down" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("[[model]\nname=", "not a TOML file"), ('title = "x"', "key 'title'"), ("", "[[model]]")],
)
def test_chain_files_that_are_not_chains(tmp_path, text, fragment):
    path = tmp_path / "chain.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=fragment.replace("[", r"\[")):
        load_chain(path)


def test_a_link_feature_missing_from_the_downstream_files(tmp_path):
    path = _chain(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8").replace("speed_in = ", "speed_out = "), encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"model 'down', key 'inputs.speed_out'.*speed_out"):
        trace_chain(load_chain(path))


def test_visitor_chain_references_stay_inside_the_data_folders(tmp_path, monkeypatch):
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    monkeypatch.setenv(sources.ENV_DATA_ROOTS, str(inside))
    good = _chain(inside)
    assert vet_chain_ref(str(good)) == good.resolve()
    assert load_chain(good, allowed_only=True).final.name == "down"
    bad = _chain(outside)
    with pytest.raises(DataError, match="not inside an allowed data folder"):
        vet_chain_ref(str(bad))
    with pytest.raises(DataError, match=r"\.toml"):
        vet_chain_ref(str(inside / "up_b.parquet"))
    # A chain inside the folders whose data points outside them is refused too.
    good.write_text(
        good.read_text(encoding="utf-8").replace(
            '"up_b.parquet"', f'"{outside / "up_b.parquet"}"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="key 'baseline'.*not inside"):
        load_chain(good, allowed_only=True)


# --- command line and JSON -------------------------------------------------------------------


def test_cli_json_matches_its_schema(capsys):
    assert main(["chain", "--config", str(DEMO / "chain.toml")]) == 0
    out = json.loads(capsys.readouterr().out)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(out, schema)
    chain = out["chain"]
    assert chain["culprit"] == "traffic" and chain["final"] == "eta"
    assert [m["name"] for m in chain["models"]] == ["traffic", "eta"]
    assert chain["links"][0]["counterfactual_delta"] is not None


def test_cli_markdown_to_a_file(tmp_path, capsys):
    out = tmp_path / "chain.md"
    path = _chain(tmp_path, up_fault=True)
    assert (
        main(["chain", "--config", str(path), "--format", "markdown", "--output", str(out)]) == 0
    )
    text = out.read_text(encoding="utf-8")
    assert "| up | down | speed_in |" in text and "up is the culprit" in text
    assert text == chain_markdown(trace_chain(load_chain(path)))
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kind", ["missing", "bad key", "no config"])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, kind):
    path = _chain(tmp_path)
    if kind == "bad key":
        path.write_text(path.read_text(encoding="utf-8") + "\nbogus = 1\n", encoding="utf-8")
    args = {
        "missing": ["chain", "--config", str(tmp_path / "none.toml")],
        "bad key": ["chain", "--config", str(path)],
        "no config": ["chain"],
    }[kind]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1, err


def test_chain_json_has_null_for_missing_numbers(tmp_path):
    out = chain_json(trace_chain(load_chain(_chain(tmp_path, up_fault=True))))
    assert out["chain"]["links"][0]["counterfactual"] is None
    jsonschema.validate(out, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_share_of_change_equals_the_slice_engine_decomposition(tmp_path):
    """The erred/not-erred partition as a column: drilldown's mix + performance of "yes"."""
    from tracing.analysis import prepare_analysis
    from tracing.slices import drilldown

    path = _chain(tmp_path, up_fault=True)
    chain = load_chain(path)
    (link,) = trace_chain(chain).links
    up = chain.model("up")
    up_a = prepare_analysis(
        pd.read_parquet(up.baseline), pd.read_parquet(up.production), roles=dict(up.roles)
    )
    frames = []
    for side in ("baseline", "production"):
        down = pd.read_parquet(tmp_path / f"down_{side[0]}.parquet")
        erred = down["trip"].map(upstream_erred(up_a, side))
        frames.append(down.assign(erred=np.where(erred, "yes", "no")))
    roles = {"prediction_id": "trip", "prediction_label": "minutes_pred"}
    roles |= {"actual_label": "minutes", "features": ("erred",)}
    a = prepare_analysis(*frames, roles=roles, model_type="regression")
    parts = drilldown(a, "", metric="mae").breakdown.set_index(["feature", "value"])
    yes = parts.loc[("erred", "yes")]
    delta = a.metric.compute(a.production) - a.metric.compute(a.baseline)
    expected = (yes["mix_effect"] + yes["performance_effect"]) / delta
    assert link.share_of_change == pytest.approx(expected, rel=1e-9)


def _model_trace(name: str, status: str, delta: float) -> ModelTrace:
    return ModelTrace(name, "mae", "MAE", "lower", False, 1.0, 1.0 + delta, delta, Status(status))


@pytest.mark.parametrize(
    ("statuses", "shares", "culprit"),
    [
        # a -> b -> c: c's change is b's doing, and b's is a's: blame walks up to a.
        (("worse", "worse", "worse"), (0.9, 0.8), "a"),
        # b explains c's change, but a explains too little of b's: b.
        (("worse", "worse", "worse"), (0.3, 0.8), "b"),
        # under the threshold at the last link: c itself.
        (("worse", "worse", "worse"), (0.9, CULPRIT_SHARE - 0.01), "c"),
        # exactly at the threshold counts.
        (("worse", "worse", "worse"), (0.0, CULPRIT_SHARE), "b"),
        # an upstream that did not get worse is never blamed, whatever its share.
        (("worse", "same", "worse"), (0.9, 0.9), "c"),
        # the final model did not get worse: no culprit.
        (("worse", "worse", "better"), (0.9, 0.9), None),
    ],
)
def test_culprit_rule(statuses, shares, culprit):
    traces = {
        n: _model_trace(n, s, 1.0 if s == "worse" else -1.0)
        for n, s in zip("abc", statuses, strict=True)
    }
    links = [
        LinkTrace("a", "b", "fa", shares[0], 0.1, 0.3),
        LinkTrace("b", "c", "fb", shares[1], 0.1, 0.3),
    ]
    assert _culprit("c", traces, links)[0] == culprit


def test_a_counterfactual_takes_precedence_over_the_share(tmp_path):
    traces = {"a": _model_trace("a", "worse", 1.0), "b": _model_trace("b", "worse", 2.0)}
    # The share says a explains little, but a's actuals undo 75% of b's change.
    links = [
        LinkTrace("a", "b", "fa", 0.1, 0.1, 0.3, counterfactual=1.5, counterfactual_delta=0.5)
    ]
    assert _culprit("b", traces, links)[:2] == ("a", pytest.approx(0.75))


def test_names_from_the_files_cannot_break_the_drawing_or_the_markdown(tmp_path):
    path = _chain(tmp_path, up_fault=True)
    evil = 'up"] ; x [label="**[x](http://e)**'
    path.write_text(path.read_text(encoding="utf-8").replace('"up"', json.dumps(evil)))
    trace = trace_chain(load_chain(path))
    dot = chain_dot(trace, {"worse": "#c62828"})
    # Take out every well-formed DOT string: what is left is the graph's own syntax only.
    bare = re.sub(r'"(?:[^"\\\n]|\\.)*"', "S", dot)
    assert '"' not in bare and "http" not in bare and bare.count("label=S") == 3
    assert bare.count("->") == 1
    md = chain_markdown(trace)
    assert not re.search(r"(?<!\\)\]\(", md) and not re.search(r"(?<!\\)\*\*", md)
    assert "\\*\\*" in md  # the name is there, escaped
