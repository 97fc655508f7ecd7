"""Same answers on every engine: memory (the oracle), DuckDB and Spark on fixed fixtures.

Each fixture is written to Parquet and analysed twice: in memory (`prepare_analysis` on the
frames) and through a SQL engine (`prepare_engine_analysis` on the files). Overall metrics with
their intervals, row counts, class balance and the slice tables (ids, sizes, metrics, impacts,
p-values, decomposition) must agree: counts exactly, numbers to 1e-9. The Spark engine runs
in local mode in one session shared by the module; its tests are skipped only where Java or
pyspark is missing (CI installs both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracing.analysis import prepare_analysis
from tracing.compare import compare
from tracing.engine import Side
from tracing.engine_analysis import engine_compare, prepare_engine_analysis
from tracing.slices import HIVE_PARTITION, default_features, drilldown, find_slices
from tracing.sqlbackend import TableSource

RTOL = 1e-9


def _binary(seed: int, n: int, *, planted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(["north", "south", "east", "west", "mid"], n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    b = rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2])
    x = rng.lognormal(3, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    k = rng.integers(0, 6, n)
    flag = rng.random(n) < 0.4
    p_true = 1 / (1 + np.exp(-(np.log(np.nan_to_num(x, nan=20.0)) - 3)))
    actual = rng.random(n) < p_true
    score = np.clip(p_true + rng.normal(0, 0.15, n), 0.001, 0.999)
    if planted:  # the model is wrong on south & app
        hit = (a == "south") & (b == "app")
        score[hit] = 1 - score[hit]
    frame = pd.DataFrame(
        {
            "region": a,
            "channel": b,
            "amount": x,
            "items": k,
            "returning": flag,
            "prediction_score": score,
            "prediction_label": np.where(score >= 0.5, "fraud", "ok"),
            "actual_label": np.where(actual, "fraud", "ok"),
        }
    )
    frame.loc[rng.random(n) < 0.03, "actual_label"] = None  # delayed actuals
    return frame


def _regression(seed: int, n: int, *, planted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(["a", "b", "c", "d"], n)
    x = rng.normal(0, 1, n)
    y = 3 * x + rng.normal(0, 1, n)
    yhat = 3 * x + rng.normal(0, 1, n)
    if planted:
        yhat[a == "c"] += 4
    y[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame({"segment": a, "x": x, "prediction": yhat, "actual": y})


def _multiclass(seed: int, n: int, *, planted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(["p", "q", "r"], n)
    actual = rng.choice(["cat", "dog", "fox"], n, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(n) < 0.8, actual, rng.choice(["cat", "dog", "fox"], n))
    if planted:
        wrong = (a == "q") & (rng.random(n) < 0.5)
        pred[wrong] = "dog"
    return pd.DataFrame({"group": a, "z": rng.normal(size=n), "predicted": pred, "label": actual})


FIXTURES = {
    "binary": (_binary, {"actual_label": "actual_label"}, ["accuracy", "f1", "log_loss"]),
    "regression": (
        _regression,
        {"prediction_label": "prediction", "actual_label": "actual"},
        ["mae", "rmse"],
    ),
    "multiclass": (
        _multiclass,
        {"prediction_label": "predicted", "actual_label": "label"},
        ["accuracy", "macro_f1"],
    ),
}


@pytest.fixture(scope="module", params=list(FIXTURES))
def pair(request, tmp_path_factory):
    make, roles, metrics = FIXTURES[request.param]
    base = make(1, 3000, planted=False)
    prod = make(2, 3000, planted=True)
    folder = tmp_path_factory.mktemp(request.param)
    paths = []
    for name, frame in (("baseline", base), ("production", prod)):
        path = folder / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    memory = prepare_analysis(
        base, prod, names=("baseline.parquet", "production.parquet"), roles=roles
    )
    return request.param, paths, roles, metrics, memory


@pytest.fixture(scope="module")
def engine_analysis(pair, engine_backend):
    _, paths, roles, _, _ = pair
    sources = [TableSource(p.name, paths=(str(p),)) for p in paths]
    return prepare_engine_analysis(
        sources[0],
        sources[1],
        backend=engine_backend,
        names=("baseline.parquet", "production.parquet"),
        roles=roles,
    )


def test_schema_and_lead_metric_agree(pair, engine_analysis):
    memory = pair[4]
    assert engine_analysis.schema == memory.schema
    assert engine_analysis.metric.id == memory.metric.id
    assert engine_analysis.rows == (len(memory.baseline_frame), len(memory.production_frame))


def test_overall_metrics_and_intervals_agree(pair, engine_analysis):
    memory = pair[4]
    want = compare(memory.baseline, memory.production)
    got = engine_compare(engine_analysis)
    pd.testing.assert_frame_equal(got.rows, want.rows)
    w = want.table.set_index("metric")
    g = got.table.set_index("metric")
    assert list(g.index) == list(w.index)
    # every metric, the rank metrics (ROC AUC, PR AUC) included, from the engine's sums
    for column in ("baseline", "production", "delta", "ci_low", "ci_high"):
        np.testing.assert_allclose(g[column], w[column], rtol=RTOL, atol=1e-12, err_msg=column)
    assert list(g["status"]) == list(w["status"])
    assert list(g["significant"]) == list(w["significant"])
    assert list(g["production_reason"]) == list(w["production_reason"])
    pd.testing.assert_frame_equal(got.class_balance, want.class_balance, rtol=RTOL)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_slices_agree(pair, engine_analysis, which):
    kind, _, _, metrics, memory = pair
    if which >= len(metrics):
        pytest.skip("fewer metrics for this model type")
    metric = metrics[which]
    features = list(memory.schema.roles.slice_columns())
    kw = {"metric": metric, "features": features, "max_depth": 2, "top": 10}
    want = find_slices(memory, **kw)
    got = find_slices(engine_analysis, **kw)
    assert got.bins.keys() == want.bins.keys()
    for f in want.bins:
        assert got.bins[f].labels == want.bins[f].labels, f
    assert list(got.table["slice_id"]) == list(want.table["slice_id"]), kind
    for column in ("size", "baseline_size", "depth"):
        assert list(got.table[column]) == list(want.table[column]), column
    numeric = want.table.select_dtypes("number").columns
    for column in numeric:
        np.testing.assert_allclose(
            got.table[column], want.table[column], rtol=RTOL, atol=1e-12, err_msg=column
        )
    assert list(got.table["explained_by"]) == list(want.table["explained_by"])
    assert got.overall_metric == pytest.approx(want.overall_metric, rel=RTOL)


def _frames_agree(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    assert list(got.columns) == list(want.columns), what
    for column in want.columns:
        if pd.api.types.is_numeric_dtype(want[column]):
            np.testing.assert_allclose(
                got[column], want[column], rtol=RTOL, atol=1e-12, err_msg=f"{what}: {column}"
            )
        else:
            assert list(got[column]) == list(want[column]), f"{what}: {column}"


@pytest.mark.parametrize("which", [0, 1])
def test_drilldown_agrees_and_is_one_query_per_side(pair, engine_analysis, which, monkeypatch):
    kind, _, _, metrics, memory = pair
    metric = metrics[which]
    features = list(memory.schema.roles.slice_columns())
    kw = {"metric": metric, "features": features, "max_depth": 2, "top": 5}
    want_result, got_result = find_slices(memory, **kw), find_slices(engine_analysis, **kw)
    target = want_result.table["slice_id"].iloc[0]
    want = drilldown(memory, target, result=want_result)
    got = drilldown(engine_analysis, target, result=got_result)
    assert got.slice_id == want.slice_id and got.conditions == want.conditions
    for key, value in want.stats.items():
        if isinstance(value, float):
            assert got.stats[key] == pytest.approx(value, rel=RTOL, abs=1e-12, nan_ok=True), key
        else:
            assert got.stats[key] == value, key
    _frames_agree(got.children, want.children, f"{kind} children")
    _frames_agree(got.breakdown, want.breakdown, f"{kind} breakdown")
    assert got.rows_sampled and not want.rows_sampled
    assert len(got.rows()) == int(got.production_mask.sum())  # rows of the engine's sample
    # Another slice: one grouping-sets query per side, however many children and p-values.
    queries: list[str] = []
    backend = engine_analysis.backend
    original = backend.query
    monkeypatch.setattr(backend, "query", lambda sql: queries.append(sql) or original(sql))
    other = got_result.table["slice_id"].iloc[-1]
    drilldown(engine_analysis, other, result=got_result)
    assert len(queries) == 2, queries


def test_default_features_agree_without_a_timestamp(pair, engine_analysis):
    memory = pair[4]
    got = find_slices(engine_analysis, max_depth=1, top=5)
    want = find_slices(memory, max_depth=1, top=5)
    assert got.features == want.features
    assert list(got.table["slice_id"]) == list(want.table["slice_id"])


def test_cli_report_on_duckdb_ranks_the_planted_slice_first(tmp_path):
    from tracing.cli import main

    paths = []
    for name, seed, planted in (("baseline", 1, False), ("production", 2, True)):
        path = tmp_path / f"{name}.parquet"
        _binary(seed, 6000, planted=planted).to_parquet(path, index=False)
        paths.append(str(path))
    out = tmp_path / "report.json"
    args = ["report", "--baseline", paths[0], "--production", paths[1], "--engine", "duckdb"]
    code = main([*args, "--sections", "overall,slices", "--output", str(out)])
    assert code == 0
    import json

    report = json.loads(out.read_text())
    assert report["engine"]["name"] == "duckdb"
    assert report["slices"][0]["slice"] == {"region": "south", "channel": "app"}
    assert report["rows"] == {"baseline": 6000, "production": 6000}
    # the metric estimated from the scores beside the realized one, as the memory report has
    overall = {r["id"]: r for r in report["overall"]}
    assert overall["accuracy"]["estimated"] is not None
    assert overall["roc_auc"]["production"] is not None  # rank metrics on every row too


def test_cli_refuses_a_sql_engine_for_steps_that_need_memory(tmp_path, capsys):
    from tracing.cli import main

    path = tmp_path / "p.parquet"
    _binary(2, 500, planted=True).to_parquet(path, index=False)
    base = ["report", "--production", str(path), "--baseline", str(path), "--engine", "duckdb"]
    code = main([*base, "--model", str(tmp_path / "model.skops")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "in memory only" in err
    # windows now run in the engine: the engine reaches the window and names what it lacks
    code = main([*base[:3], "--production-window", "2026-01-01,2026-01-02", *base[5:]])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no timestamp column found" in err


def _timed(seed: int, n: int, *, zone: str | None, days: int) -> pd.DataFrame:
    """A binary model's log with a timestamp (errors planted on Saturdays) and a logged hour."""
    frame = _binary(seed, n, planted=False)
    rng = np.random.default_rng(seed + 10)
    start = pd.Timestamp("2026-01-01", tz=zone)
    ts = start + pd.to_timedelta(rng.uniform(0, days * 86_400, n), unit="s")
    ts = pd.Series(ts)
    ts[rng.random(n) < 0.02] = pd.NaT
    frame["timestamp"] = ts
    frame["hour"] = ts.dt.hour.astype("float")  # a logged twin of timestamp.hour
    saturday = (ts.dt.day_of_week == 5).to_numpy()
    wrong = saturday & (rng.random(n) < 0.5)
    frame.loc[wrong, "actual_label"] = np.where(
        frame.loc[wrong, "actual_label"] == "yes", "no", "yes"
    )
    return frame


@pytest.mark.parametrize(
    ("zone", "days"), [("America/New_York", 90), (None, 20), ("UTC", 20), ("+05:30", 90)]
)
def test_calendar_parts_are_sliced_as_in_memory(engine_backend, tmp_path, zone, days):
    if engine_backend.name == "spark" and zone in ("UTC", "+05:30"):
        # Spark converts every zone as it does New York's (FROM_UTC_TIMESTAMP); only DuckDB
        # takes fixed offsets by epoch arithmetic (sqltable.fixed_offset_us)
        pytest.skip("fixed-offset zones take another path on DuckDB only")
    frames = [_timed(1, 3000, zone=zone, days=days), _timed(2, 3000, zone=zone, days=days)]
    paths = []
    for name, frame in zip(("b", "p"), frames, strict=True):
        paths.append(tmp_path / f"{name}.parquet")
        # microseconds: Spark reads no nanosecond timestamps
        frame.to_parquet(
            paths[-1], index=False, coerce_timestamps="us", allow_truncated_timestamps=True
        )
    roles = {"actual_label": "actual_label", "timestamp": "timestamp"}
    memory = prepare_analysis(frames[0], frames[1], roles=roles)
    sources = [TableSource(p.name, paths=(str(p),)) for p in paths]
    engine = prepare_engine_analysis(sources[0], sources[1], backend=engine_backend, roles=roles)
    want = find_slices(memory, max_depth=2, top=8)
    got = find_slices(engine, max_depth=2, top=8)
    assert "timestamp.weekday" in want.features  # the calendar parts are in play
    assert ("timestamp.day" in want.features) == (days >= 60)
    assert got.features == want.features
    assert got.excluded == want.excluded
    assert list(got.table["slice_id"]) == list(want.table["slice_id"])
    np.testing.assert_allclose(got.table["impact"], want.table["impact"], rtol=RTOL, atol=1e-12)
    assert "timestamp.weekday=Saturday" in list(want.table["slice_id"])


def test_default_features_of_an_engine_analysis_are_the_memory_ones(engine_backend, tmp_path):
    frames = [_timed(seed, 3000, zone=None, days=20) for seed in (1, 2)]
    for seed, frame in enumerate(frames):
        rng = np.random.default_rng(seed)
        frame["ref"] = [f"r{seed}-{i}" for i in range(len(frame))]  # id-like text
        frame["ticket"] = rng.integers(0, 10**9, len(frame))  # id-like integers
        frame["note"] = rng.choice([f"w{k}" for k in range(400)], len(frame))  # free text
    paths = [tmp_path / "b.parquet", tmp_path / "p.parquet"]
    for path, frame in zip(paths, frames, strict=True):
        frame.to_parquet(
            path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True
        )
    roles = {"actual_label": "actual_label", "timestamp": "timestamp"}
    memory = prepare_analysis(frames[0], frames[1], roles=roles)
    sources = [TableSource(p.name, paths=(str(p),)) for p in paths]
    engine = prepare_engine_analysis(sources[0], sources[1], backend=engine_backend, roles=roles)
    want = default_features(memory)
    got = default_features(engine)
    # every kind of exclusion is in play: id-like text and integers, free text, a calendar
    # part twin of a logged column, the day of the month over a short span
    assert {name for name, _ in want[1]} == {
        "ref",
        "ticket",
        "note",
        "timestamp.hour",
        "timestamp.day",
    }
    assert "timestamp.weekday" in want[0]
    assert got == want
    # and they are what the search slices by when no features are named
    searched = find_slices(engine, max_depth=1, top=3)
    assert (searched.features, searched.excluded) == got


def _hive(folder, frame: pd.DataFrame, parts: int) -> TableSource:
    """Write ``frame`` as ``folder/part=k/data.parquet``, row i in part i % parts."""
    paths = []
    for k in range(parts):
        (folder / f"part={k}").mkdir(parents=True)
        paths.append(str(folder / f"part={k}" / "data.parquet"))
        frame.iloc[k::parts].to_parquet(paths[-1], index=False)
    return TableSource(str(folder), paths=tuple(paths), hive_root=str(folder))


def test_hive_partition_columns_are_not_sliced_by_default(engine_backend, tmp_path):
    frames = [_binary(1, 3000, planted=False), _binary(2, 3000, planted=True)]
    sources = [_hive(tmp_path / side, f, 3) for side, f in zip("bp", frames, strict=True)]
    roles = {"actual_label": "actual_label"}
    engine = prepare_engine_analysis(sources[0], sources[1], backend=engine_backend, roles=roles)
    assert engine.table.partition_columns(Side.PRODUCTION) == ("part",)
    assert "part" in engine.schema.roles.slice_columns()  # offered as a feature column
    feats, excluded = default_features(engine)
    # the oracle: memory's defaults on the files' own columns, the partition column left out
    want = default_features(prepare_analysis(frames[0], frames[1], roles=roles))
    assert feats == want[0]
    assert excluded == (*want[1], ("part", HIVE_PARTITION))
    searched = find_slices(engine, max_depth=1, top=50)
    assert (searched.features, searched.excluded) == (feats, excluded)
    assert all("part=" not in s for s in searched.table["slice_id"])
    # named, it is sliced: the slices of a memory column holding the same part numbers
    parted = [f.assign(part=np.arange(len(f)) % 3) for f in frames]
    memory = find_slices(
        prepare_analysis(*parted, roles=roles), features=["part", "region"], max_depth=1
    )
    named = find_slices(engine, features=["part", "region"], max_depth=1)
    assert any(s.startswith("part=") for s in named.table["slice_id"])
    assert list(named.table["slice_id"]) == list(memory.table["slice_id"])
    np.testing.assert_allclose(named.table["impact"], memory.table["impact"], rtol=RTOL)


def test_cli_slices_a_hive_partition_column_only_when_named(tmp_path):
    import json

    from tracing.cli import main

    for side, seed in (("baseline", 1), ("production", 2)):
        _hive(tmp_path / side, _binary(seed, 3000, planted=seed == 2), 3)
    base = ["report", "--baseline", str(tmp_path / "baseline")]
    base += ["--production", str(tmp_path / "production"), "--engine", "duckdb"]
    base += ["--sections", "slices", "--max-depth", "1", "--top", "30"]
    reports = {}
    for case, extra in (("default", []), ("named", ["--features", "part,region"])):
        out = tmp_path / f"{case}.json"
        assert main([*base, *extra, "--output", str(out)]) == 0
        reports[case] = json.loads(out.read_text())
    default, named = reports["default"], reports["named"]
    assert "part" in default["columns"]["features"]  # a feature column, yet not sliced
    assert default["slices"] and all("part" not in s["slice"] for s in default["slices"])
    assert named["columns"]["features"] == ["part", "region"]
    assert any("part" in s["slice"] for s in named["slices"])
    assert any("region" in s["slice"] for s in named["slices"])
