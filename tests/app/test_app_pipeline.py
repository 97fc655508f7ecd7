"""Pipeline page: the demo chain is drawn, its culprit named, and a model's trace opens."""

from __future__ import annotations

from tests.conftest import DEMO
from ui.state import View


def _texts(at) -> str:
    return " ".join(e.value for e in [*at.warning, *at.success, *at.markdown, *at.caption])


def test_demo_chain_names_the_traffic_model(app, no_errors) -> None:
    at = app("pipeline")
    no_errors(at)
    assert "Culprit: traffic." in _texts(at)
    (drawing,) = at.get("graphviz_chart")
    dot = drawing.proto.spec
    assert "traffic" in dot and "▲ worse" in dot and "penwidth=4" in dot
    links = next(d.value for d in at.dataframe if "share of change" in d.value.columns)
    assert links[["upstream", "downstream", "feature"]].values.tolist() == [
        ["traffic", "eta", "traffic_speed"]
    ]
    assert links["share of change"].iloc[0] > 0.5


def test_choosing_a_model_opens_its_trace(app, no_errors) -> None:
    at = app("pipeline")
    assert at.selectbox(key="w_chain_model").value == "traffic"  # the culprit first
    at.selectbox(key="w_chain_model").set_value("eta").run()
    at.button(key="w_chain_open").click().run()
    no_errors(at)
    view = at.session_state["_view"]
    assert isinstance(view, View)
    assert view.production.endswith("chain_eta_production.parquet")
    assert dict(view.roles)["prediction"] == "eta_pred"
    assert view.model_type == "regression"
    # The Overview of the ETA model: its production MAE, as the chain trace measured it.
    assert at.title[0].value == "Did the model get worse, and by how much?"
    lead = next(m for m in at.metric if m.label.startswith("MAE"))
    assert lead.value == "4.15"


def test_chain_parameter_outside_the_data_folders_is_an_error(app, tmp_path) -> None:
    outside = tmp_path / "elsewhere.toml"
    outside.write_text((DEMO / "chain.toml").read_text(encoding="utf-8"), encoding="utf-8")
    at = app("pipeline", chain=str(outside))
    assert not at.exception
    assert "not inside an allowed data folder" in at.error[0].value


def test_a_bad_chain_file_is_an_error_naming_the_key(app, data_dir) -> None:
    text = (DEMO / "chain.toml").read_text(encoding="utf-8").replace("features", "featurez", 1)
    (data_dir / "bad.toml").write_text(text, encoding="utf-8")
    at = app("pipeline", chain=str(data_dir / "bad.toml"))
    assert not at.exception
    assert "key 'featurez'" in at.error[0].value
