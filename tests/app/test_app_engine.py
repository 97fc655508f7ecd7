"""The app on a SQL engine: folders of Parquet files, read by DuckDB (TRACING_ENGINE=duckdb).

The oracle is the app itself in memory on the same rows (single-file copies, which the memory
engine reads): every number the Overview and Slices pages show must be the same. The engine's
sample is cut to a few thousand rows, so the pages that run on it must say so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tracing import app_engine, prepare_analysis
from tracing.slices import default_features, drilldown, find_slices, slice_id
from ui import fmt

from .conftest import DEMO, frame_with

PLANTED = "state=CA&merchant_category=online%20pharmacy&merchant_id=scammeds.com"
SAMPLE = 5_000  # rows per side of the engine's sample: the 20,000-row demo files are cut


@pytest.fixture
def folders(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The fraud demo as two Parquet files per side (folders), plus single-file copies."""
    monkeypatch.setenv("TRACING_ENGINE", "duckdb")
    monkeypatch.setattr(app_engine, "SAMPLE_SIZE", SAMPLE)
    refs = {}
    for side, name in (("baseline", "fraud_training"), ("production", "fraud_production")):
        frame = pd.read_parquet(DEMO / f"{name}.parquet")
        folder = data_dir / side
        folder.mkdir()
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(folder / "part-0.parquet", index=False)
        frame.iloc[half:].to_parquet(folder / "part-1.parquet", index=False)
        frame.to_parquet(data_dir / f"{side}.parquet", index=False)
        refs[side], refs[f"{side}_file"] = str(folder), str(data_dir / f"{side}.parquet")
    return refs


@pytest.fixture
def open_app(app, folders):
    """``open_app(page, **params)``: the app on the DuckDB folders (memory: the files)."""

    def make(page: str, *, memory: bool = False, **params: str) -> AppTest:
        suffix = "_file" if memory else ""
        data = {side: folders[side + suffix] for side in ("baseline", "production")}
        return app(page, **data, **params)

    return make


def memory_oracle(folders: dict[str, str]):
    frames = [pd.read_parquet(folders[f"{s}_file"]) for s in ("baseline", "production")]
    return prepare_analysis(*frames, names=("baseline", "production"))


def test_data_page_says_which_engine_runs_and_why(open_app, no_errors, folders) -> None:
    at = open_app("data")
    no_errors(at)
    captions = [c.value for c in at.main.caption]
    engine = [c for c in captions if "Engine: **DuckDB**" in c]
    assert len(engine) == 1 and engine[0].endswith(
        "Why DuckDB: the server's setting asks for it (TRACING_ENGINE=duckdb)."
    ), captions
    assert "every number is computed on every row inside DuckDB" in engine[0]
    # Row counts from the engine (every row), not from its 5,000-row sample.
    assert "Ready: 20,000 baseline rows and 20,000 production rows" in at.success[0].value
    assert "binary model" in at.success[0].value and "lead metric Recall" in at.success[0].value
    loaded = [m.value for m in at.markdown if m.value.startswith("**Production**")]
    assert loaded == [
        "**Production**: data/production  \n20,000 rows × 15 columns, 2 Parquet files"
    ]
    # The roles are the sample's detection: the same as on every row in memory.
    roles = memory_oracle(folders).schema.roles
    assert at.multiselect(key="w_role_score").value == list(roles.prediction_score)
    assert at.multiselect(key="w_role_features").value == list(roles.features)
    assert "sample of 5,000 + 5,000 rows" in at.info[0].value
    # The sidebar names the engine, with every row's counts.
    summary = at.sidebar.caption[0].value
    assert "(20,000 rows, all with actuals)" in summary and "Engine: **DuckDB**" in summary


def test_overview_numbers_equal_the_memory_engines(open_app, no_errors, monkeypatch) -> None:
    at = open_app("overview")
    no_errors(at)
    shown = frame_with(at, "CI low").set_index("Metric")
    monkeypatch.setenv("TRACING_ENGINE", "memory")
    mem = open_app("overview", memory=True)
    no_errors(mem)
    oracle = frame_with(mem, "CI low").set_index("Metric")
    columns = ["Baseline", "Production", "Change", "CI low", "CI high", "Verdict"]
    assert list(shown.index) == list(oracle.index)
    # every metric (rank metrics too) and its interval; the estimate from the scores is the
    # engine's own (calibrated as its notes say), so it is only required to be there
    pd.testing.assert_frame_equal(shown[columns], oracle[columns], rtol=1e-9)
    assert shown.loc["Accuracy", "Estimated"] == pytest.approx(
        oracle.loc["Accuracy", "Estimated"], abs=0.01
    )
    assert [(m.label, m.value, m.delta) for m in at.metric] == [
        (m.label, m.value, m.delta) for m in mem.metric
    ]
    rows = [m.value for m in at.markdown if m.value.startswith("Baseline **")]
    want = [m.value for m in mem.markdown if m.value.startswith("Baseline **")]
    # the same counts; the sides named by their folders, not their files
    assert rows == [w.replace("**baseline.parquet**", "**data/baseline**").replace(
        "**production.parquet**", "**data/production**") for w in want]  # fmt: skip
    assert "20,000 rows, 20,000 with actuals" in rows[0]
    # The time series runs on every row too: the same alerts, and no word of a sample.
    assert_frame_equal_alerts(at, mem)
    captions = [c.value for c in at.main.caption]
    assert not any(c.startswith(":material/science: The time series") for c in captions)
    assert any("every period's rows and metric are computed on all 20,000" in c for c in captions)


def assert_frame_equal_alerts(at: AppTest, mem: AppTest) -> None:
    alerts = frame_with(at, "expected")
    pd.testing.assert_frame_equal(alerts, frame_with(mem, "expected"))
    assert len(alerts) > 0


def test_slices_table_equals_the_memory_paths(open_app, no_errors, monkeypatch, folders) -> None:
    at = open_app("slices")
    no_errors(at)
    engine_features = at.multiselect(key="slice_by").value
    assert "timestamp" not in at.multiselect(key="slice_by").options  # no calendar parts yet
    shown = at.dataframe[0].value
    monkeypatch.setenv("TRACING_ENGINE", "memory")
    mem = open_app("slices", memory=True)
    mem.multiselect(key="slice_by").set_value(engine_features).run()
    no_errors(mem)
    oracle = mem.dataframe[0].value
    assert list(shown["slice"]) == list(oracle["slice"])
    pd.testing.assert_frame_equal(
        shown[["rows", "impact", "change"]], oracle[["rows", "impact", "change"]], rtol=1e-9
    )
    # and the very slice ids of the engine's search in memory
    a = memory_oracle(folders)
    result = find_slices(a, features=engine_features, top=40)
    texts = [fmt.conditions_text(c) for c in result.listed()["conditions"]]
    assert list(shown["slice"]) == texts[: len(shown)]
    assert "merchant_id = scammeds.com" in shown.iloc[0]["slice"]


def test_a_drilldown_opens_and_moves_up_on_the_engine(open_app, no_errors, folders) -> None:
    at = open_app("slices", slice=PLANTED)
    no_errors(at)
    assert "Inside the slice" in [h.value for h in at.subheader]
    a = memory_oracle(folders)
    features = at.multiselect(key="slice_by").value
    result = find_slices(a, features=features, top=40)
    want = drilldown(a, PLANTED, result=result).stats
    cards = {m.label: m.value for m in at.metric}
    assert cards["Rows"] == fmt.count(want["size"]) == "3,000"
    assert cards["Recall here"] == "0.0%"
    # A breadcrumb opens the broader slice: a new drilldown, from every row.
    at.button(key="crumb_1").click().run()
    no_errors(at)
    assert at.query_params["slice"] == "state=CA"
    state_ca = drilldown(a, slice_id([("state", "CA")]), result=result).stats
    assert {m.label: m.value for m in at.metric}["Rows"] == fmt.count(state_ca["size"])
    # The Rows tab lists the engine's sample of the slice, and says so.
    at.session_state["drill_tab"] = "Rows"
    at.run()
    no_errors(at)
    assert any("in the engine's sample (the slice has" in c.value for c in at.caption)


def test_root_cause_says_it_runs_on_the_sample(open_app, no_errors) -> None:
    at = open_app("root_cause")
    no_errors(at)
    assert any(
        c.value.startswith(":material/science: Drift, data quality and label checks: computed "
                           "on a uniform sample of 5,000 baseline and 5,000 production rows")
        for c in at.caption
    )  # fmt: skip


def test_a_folder_with_date_ranges_is_an_error_that_says_what_to_do(open_app) -> None:
    at = open_app("data", production_window="2026-11-16,2026-11-22")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "baseline" in errors[0] and "date ranges" in errors[0]
    assert "name single files, or compare two folders whole" in errors[0]


def test_a_file_that_is_not_parquet_is_named_with_what_to_do(open_app, folders) -> None:
    bad = Path(folders["production"]) / "part-2.parquet"
    bad.write_text("prediction_id,score\n1,0.5\n")
    at = open_app("data")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "part-2.parquet: not a Parquet file" in errors[0], errors
    assert "remove it or narrow the folder or pattern" in errors[0]


def test_a_hive_partition_column_is_offered_but_not_sliced_by_default(
    app, data_dir, no_errors, monkeypatch
) -> None:
    monkeypatch.setenv("TRACING_ENGINE", "duckdb")
    monkeypatch.setattr(app_engine, "SAMPLE_SIZE", SAMPLE)
    refs = {}
    for side, name in (("baseline", "fraud_training"), ("production", "fraud_production")):
        frame = pd.read_parquet(DEMO / f"{name}.parquet")
        for k in range(2):  # data/<side>/part=k/data.parquet
            folder = data_dir / side / f"part={k}"
            folder.mkdir(parents=True)
            frame.iloc[k::2].to_parquet(folder / "data.parquet", index=False)
        refs[side] = str(data_dir / side)
    at = app("slices", **refs)
    no_errors(at)
    picker = at.multiselect(key="slice_by")
    assert "part" not in picker.value and "part" in picker.options  # offered, not chosen
    captions = [c.value for c in at.main.caption if c.value.startswith("Not sliced by default")]
    assert len(captions) == 1
    assert "part (a hive partition column, named by the folders)" in captions[0]
    # the defaults are the memory engine's on the files' own columns
    frames = [
        pd.read_parquet(DEMO / f"{n}.parquet") for n in ("fraud_training", "fraud_production")
    ]
    assert picker.value == list(default_features(prepare_analysis(*frames))[0])
