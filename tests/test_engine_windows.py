"""Windows, model versions and delayed actuals in the SQL engines: the memory path is the oracle.

One binary log (a zoned timestamp, prediction ids, two model versions) and one actuals feed
(repeated ids, equal times decided by file order, empty values, ids without a prediction) are
written to Parquet. The report and the timeline run through `tracing.cli.main` with
``--engine memory`` and with a SQL engine on the same files: row counts, overall metrics and
slice ids must agree, and `tracing.engine_rows.engine_rows` must cut the rows, name them and
count the join exactly as `tracing.rows.compared_rows` does. Spark shares one local session
(see tests/test_engine_parity.py) and runs the fewest cases.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from tracing.cli import main
from tracing.engine import Side
from tracing.engine_rows import engine_rows
from tracing.errors import DataError
from tracing.rows import RowsSpec, compared_rows
from tracing.sqlbackend import TableSource
from tracing.sqltable import SqlTable

RANK_METRICS = ("roc_auc", "pr_auc")
PARQUET = {"index": False, "coerce_timestamps": "us", "allow_truncated_timestamps": True}


def _log(n: int = 1200, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    version = rng.choice(["v1", "v2"], n)
    p_true = rng.uniform(0.05, 0.95, n)
    actual = rng.random(n) < p_true
    score = np.clip(p_true + rng.normal(0, 0.2, n), 0.001, 0.999)
    late = np.arange(n) >= n // 2
    hit = late & (region == "south")  # the model goes wrong on south, late in the month
    score[hit] = 1 - score[hit]
    # Whole seconds, so the rows at midnight sit exactly on the window bounds.
    start = pd.Timestamp("2026-11-01", tz="Europe/Paris")
    offsets = np.sort(rng.integers(0, 30 * 86_400, n))
    offsets[:: n // 6] = (offsets[:: n // 6] // 86_400) * 86_400  # some rows at midnight
    times = pd.Series(start + pd.to_timedelta(offsets, unit="s"))
    times[rng.random(n) < 0.02] = pd.NaT
    return pd.DataFrame(
        {
            "prediction_id": [f"id{i}" for i in range(n)],
            "timestamp": times,
            "model_version": version,
            "region": region,
            "prediction_score": score,
            "prediction_label": np.where(score >= 0.5, "fraud", "ok"),
            "actual_label": np.where(actual, "fraud", "ok"),
        }
    )


def _actuals(log: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = log[["prediction_id", "actual_label"]].sample(frac=0.8, random_state=seed)
    first = first.assign(actual_timestamp=pd.Timestamp("2026-12-01"))
    again = first.sample(150, random_state=seed + 1).copy()
    # Half of the repeats come later (they win), half at the same time (the later row wins).
    again["actual_label"] = rng.choice(["fraud", "ok"], len(again))
    again["actual_timestamp"] = np.where(
        rng.random(len(again)) < 0.5, pd.Timestamp("2026-12-03"), pd.Timestamp("2026-12-01")
    )
    extra = pd.DataFrame(
        {
            "prediction_id": ["nobody1", "nobody2", None, "id3"],
            "actual_label": ["ok", "fraud", "ok", None],
            "actual_timestamp": pd.Timestamp("2026-12-02"),
        }
    )
    return pd.concat([first, again, extra], ignore_index=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("windows")
    log = _log()
    paths = {k: folder / f"{k}.parquet" for k in ("log", "actuals", "utc")}
    log.to_parquet(paths["log"], **PARQUET)
    # The engines' timelines follow the wall clock of the zone they show times in (UTC here),
    # memory the file's zone: the timeline cases use a log kept in UTC.
    log.assign(timestamp=log["timestamp"].dt.tz_convert("UTC")).to_parquet(paths["utc"], **PARQUET)
    _actuals(log).to_parquet(paths["actuals"], **PARQUET)
    return {k: str(v) for k, v in paths.items()}


def _run(*args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    assert code == 0
    return json.loads(out.getvalue())


def _close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _same_report(memory: dict, engine: dict) -> None:
    assert engine["rows"] == memory["rows"]
    assert engine["rows_with_actuals"] == memory["rows_with_actuals"]
    assert engine["metric"] == memory["metric"]
    assert len(engine["overall"]) == len(memory["overall"])
    for m, e in zip(memory["overall"], engine["overall"], strict=True):
        for key, value in m.items():
            if key == "estimated" and m["id"] in RANK_METRICS:
                continue  # the engines do not estimate rank metrics (their notes say so)
            assert _close(value, e[key]), (m["id"], key, value, e[key])
    slices = memory.get("slices", [])
    assert [s["slice_id"] for s in engine.get("slices", [])] == [s["slice_id"] for s in slices]
    for m, e in zip(slices, engine.get("slices", []), strict=True):
        assert (e["size"], e["baseline_size"]) == (m["size"], m["baseline_size"])
        assert _close(m["metric"], e["metric"])
    # what the cut and the join did, said in the same words (the engines add their own notes)
    assert set(memory["notes"]) <= set(engine["notes"])


FEATURES = ("--features", "region,model_version")
CASES = {
    "window": ["--production-window", "2026-11-16,2026-11-30"],
    "two_windows": [
        "--baseline-window",
        "2026-11-01T06:00,2026-11-12",
        "--production-window",
        "2026-11-20T00:00+00:00,",
    ],
    "versions": ["--baseline-version", "v1", "--production-version", "v2"],
    # The join adds the actuals' time, a time column the engines' slice search does not slice.
    "actuals": ["--actuals", "{actuals}", "--production-window", "2026-11-16,", *FEATURES],
}
# Spark: a report over cut views takes minutes even on these small files (the session plans
# every query afresh), so Spark runs the direct checks below and a timeline, not the reports.
SPARK_CASES: tuple[str, ...] = ()


def _engines(case: str) -> list:
    spark = "spark" if case in SPARK_CASES else None
    return ["duckdb", *([spark] if spark else [])]


def _spark_or_skip(engine: str) -> None:
    if engine == "spark":
        from tracing.engine_spark import spark_available

        if not spark_available():
            pytest.skip("Spark needs Java and pyspark")


@pytest.mark.parametrize(
    ("case", "engine"), [(c, e) for c in CASES for e in _engines(c)], ids=lambda v: str(v)
)
def test_report_equals_memory(files, case, engine):
    _spark_or_skip(engine)
    options = [o.format(**files) for o in CASES[case]]
    sections = "overall" if engine == "spark" else "overall,slices"
    base = ["report", "--production", files["log"], *options, "--sections", sections]
    memory = _run(*base, "--engine", "memory")
    found = _run(*base, "--engine", engine)
    assert found["engine"]["name"] == engine
    _same_report(memory, found)
    assert engine == "spark" or memory["slices"], "a fixture without slices proves nothing"


def test_versions_with_a_window_and_actuals_equal_memory(files):
    options = [
        *("--baseline-version", "v2", "--production-version", "v1"),
        *("--production-window", "2026-11-05,2026-11-25", "--actuals", files["actuals"]),
        *FEATURES[:1],
        "region",
    ]
    base = ["report", "--production", files["log"], *options, "--sections", "overall,slices"]
    _same_report(_run(*base, "--engine", "memory"), _run(*base, "--engine", "duckdb"))


# ---------------------------------------------------------------------------------------------
# The cut and the join, directly


def _counts(backend, rows) -> tuple[int | None, int]:
    sides = {Side.PRODUCTION: rows.production}
    if rows.baseline is not None:
        sides[Side.BASELINE] = rows.baseline
    table = SqlTable.from_sources(backend, sides)
    base = table.count(Side.BASELINE) if rows.baseline is not None else None
    return base, table.count(Side.PRODUCTION)


def _timestamps(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    times = frame["timestamp"]
    if kind == "naive":
        frame = frame.assign(timestamp=times.dt.tz_localize(None))
    elif kind == "utc":
        frame = frame.assign(timestamp=times.dt.tz_convert("UTC"))
    elif kind.startswith("epoch"):
        seconds = (times - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
        if kind == "epoch_s":  # whole seconds, as integers (a missing time: no row has one)
            frame = frame.assign(timestamp=seconds.fillna(0).astype("int64"))
        else:  # milliseconds, as floats with gaps
            frame = frame.assign(timestamp=seconds * 1000)
    return frame


SPECS = [
    RowsSpec(production_window="2026-11-16,2026-11-22"),
    RowsSpec(production_window="2026-11-16T12:00,2026-11-20T00:00+01:00"),
    RowsSpec(baseline_window=",2026-11-10"),
    RowsSpec(baseline_window="2026-11-02,2026-11-10", production_window="2026-11-11,"),
]


@pytest.mark.parametrize("kind", ["zoned", "naive", "utc", "epoch_s", "epoch_ms"])
def test_windows_cut_the_rows_memory_cuts(tmp_path, duck, kind):
    frame = _timestamps(kind, _log(600, seed=kind.__len__()))
    path = tmp_path / "log.parquet"
    frame.to_parquet(path, **PARQUET)
    memory_frame = pd.read_parquet(path)
    for spec in SPECS:
        memory = compared_rows(memory_frame, spec=spec, names=("", "log"))
        found = engine_rows(duck, TableSource("log", paths=(str(path),)), spec=spec)
        assert found.names == memory.names, spec
        assert found.notes == memory.notes, spec
        assert memory.baseline is not None
        assert _counts(duck, found) == (len(memory.baseline), len(memory.production)), spec


def test_windows_cut_the_rows_memory_cuts_on_every_engine(files, engine_backend):
    frame = pd.read_parquet(files["log"])
    source = TableSource("log", paths=(files["log"],))
    specs = [SPECS[1], RowsSpec(version_baseline="v1", version_production="v2")]
    for spec in specs[:1] if engine_backend.name == "spark" else specs:  # Spark: few queries
        memory = compared_rows(frame, spec=spec, names=("", "log"))
        found = engine_rows(engine_backend, source, spec=spec)
        assert (found.names, found.notes) == (memory.names, memory.notes), spec
        assert memory.baseline is not None
        assert _counts(engine_backend, found) == (len(memory.baseline), len(memory.production)), (
            spec
        )


def test_a_baseline_file_is_cut_by_its_own_window(tmp_path, duck):
    log = _log(600)
    paths = [tmp_path / "b.parquet", tmp_path / "p.parquet"]
    for path, part in zip(paths, (log.iloc[:300], log.iloc[300:]), strict=True):
        part.to_parquet(path, **PARQUET)
    spec = RowsSpec(baseline_window="2026-11-03,2026-11-10", production_window="2026-11-20,")
    base, prod = (pd.read_parquet(p) for p in paths)
    memory = compared_rows(prod, base, spec=spec, names=("b", "p"))
    sources = [TableSource(n, paths=(str(p),)) for n, p in zip("bp", paths, strict=True)]
    found = engine_rows(duck, sources[1], sources[0], spec=spec)
    assert found.names == memory.names
    assert memory.baseline is not None
    assert _counts(duck, found) == (len(memory.baseline), len(memory.production))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (RowsSpec(production_window="2027-01-01,"), "holds no rows"),
        (RowsSpec(production_window="2026-11-10,", baseline_window="2026-11-05,"), "overlap"),
        (RowsSpec(version_baseline="v1", version_production="v9"), "is not in"),
        (RowsSpec(version_baseline="v1", version_production="v1"), "same version"),
    ],
)
def test_bad_cuts_are_refused_as_in_memory(files, duck, spec, message):
    frame = pd.read_parquet(files["log"])
    with pytest.raises(DataError) as memory:
        compared_rows(frame, spec=spec, names=("", "log.parquet"))
    source = TableSource("log.parquet", paths=(files["log"],))
    with pytest.raises(DataError) as found:
        engine_rows(duck, source, spec=spec)
    assert message in str(memory.value)
    assert str(found.value).split(";")[0] == str(memory.value).split(";")[0]


def _joined(backend, frames: dict[str, pd.DataFrame], tmp_path, **spec):
    paths = {}
    for name, frame in frames.items():
        paths[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(paths[name], **PARQUET)
    read = {k: pd.read_parquet(v) for k, v in paths.items()}
    memory = compared_rows(
        read["log"], spec=RowsSpec(**spec), names=("", "log"), actuals=read["actuals"]
    )
    found = engine_rows(
        backend,
        TableSource("log", paths=(str(paths["log"]),)),
        spec=RowsSpec(**spec),
        names=("", "log"),
        actuals=TableSource("actuals", paths=(str(paths["actuals"]),)),
    )
    return memory, found


def test_the_join_counts_what_memory_counts(engine_backend, tmp_path):
    log = _log(800)
    memory, found = _joined(
        engine_backend,
        {"log": log, "actuals": _actuals(log)},
        tmp_path,
        production_window="2026-11-16,",
    )
    assert memory.join is not None and found.join is not None
    assert found.join == memory.join
    assert memory.join.superseded_actuals and memory.join.unmatched_actuals  # not vacuous
    assert found.notes == memory.notes[: len(found.notes)] or set(memory.notes) <= set(found.notes)
    assert memory.baseline is not None
    assert _counts(engine_backend, found) == (len(memory.baseline), len(memory.production))


def _actual_values(backend, side, ids: list[str]) -> dict[str, object]:
    table = SqlTable.from_sources(backend, {Side.PRODUCTION: side})
    frame = table.sample_frame(Side.PRODUCTION, 10**6)
    frame = frame[frame["prediction_id"].isin(ids)]
    return dict(zip(frame["prediction_id"], frame["actual_label"], strict=True))


def _memory_actuals(memory) -> dict[str, object]:
    frame = memory.production
    return dict(zip(frame["prediction_id"], frame["actual_label"], strict=True))


def test_file_order_decides_equal_times_and_no_time(duck, tmp_path):
    log = _log(50)
    ids = ["id1", "id2", "id3", "id4"]
    actuals = pd.DataFrame(
        {
            "prediction_id": ["id1", "id1", "id2", "id2", "id3", "id3", "id4", "id4"],
            "actual_label": ["ok", "fraud", "fraud", "ok", "ok", "fraud", "fraud", "ok"],
            # id1, id2: tie -> the later row; id3: a time beats none; id4: the later time wins
            "actual_timestamp": pd.to_datetime(
                ["2026-12-01", "2026-12-01"] * 2 + [None, "2026-11-01", "2026-12-05", "2026-12-04"]
            ),
        }
    )
    memory, found = _joined(duck, {"log": log, "actuals": actuals}, tmp_path)
    expected = _memory_actuals(memory)
    assert {i: expected[i] for i in ids} == {
        "id1": "fraud",
        "id2": "ok",
        "id3": "fraud",
        "id4": "fraud",
    }
    assert _actual_values(duck, found.production, ids) == {i: expected[i] for i in ids}
    # without a timestamp column, file order alone decides
    memory, found = _joined(
        duck, {"log": log, "actuals": actuals.drop(columns="actual_timestamp")}, tmp_path
    )
    expected = _memory_actuals(memory)
    assert _actual_values(duck, found.production, ids) == {i: expected[i] for i in ids}
    assert found.join == memory.join


def test_numeric_ids_meet_text_ids(duck, tmp_path):
    log = _log(200).assign(prediction_id=np.arange(200, dtype=float))
    log.loc[5, "prediction_id"] = np.nan
    actuals = pd.DataFrame(
        {"prediction_id": [" 1", "2", "3", "3", "999"], "actual_label": ["ok"] * 5}
    )
    memory, found = _joined(duck, {"log": log, "actuals": actuals}, tmp_path)
    assert memory.join is not None and memory.join.with_actuals == 3
    assert found.join == memory.join


# ---------------------------------------------------------------------------------------------
# The timeline command


TIMELINES = {
    "window": ["--production-window", "2026-11-16,", "--freq", "day"],
    "versions": ["--baseline-version", "v1", "--production-version", "v2", "--freq", "day"],
    "actuals": ["--actuals", "{actuals}", "--production-window", "2026-11-10,"],
}


@pytest.mark.parametrize(
    ("case", "engine"),
    [("window", "duckdb"), ("versions", "duckdb"), ("actuals", "duckdb"), ("actuals", "spark")],
)
def test_timeline_output_equals_memory(files, case, engine):
    _spark_or_skip(engine)
    options = [o.format(**files) for o in TIMELINES[case]]
    base = ["timeline", "--production", files["utc"], *options]
    memory = _run(*base, "--engine", "memory")
    found = _run(*base, "--engine", engine)
    for key in ("metric", "freq", "band", "window", "alerts", "datasets"):
        assert found[key] == memory[key], key
    assert len(found["periods"]) == len(memory["periods"]) > 5
    for m, e in zip(memory["periods"], found["periods"], strict=True):
        for key, value in m.items():
            assert _close(value, e[key]), (m["start"], key, value, e[key])
    assert any("every period" in n for n in found["notes"])


def test_timeline_csv_equals_memory(files):
    base = ["timeline", "--production", files["utc"], "--production-window", "2026-11-16,"]
    outs = []
    for engine in ("memory", "duckdb"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main([*base, "--format", "csv", "--engine", engine]) == 0
        outs.append(pd.read_csv(io.StringIO(buf.getvalue())))
    pd.testing.assert_frame_equal(outs[0], outs[1], rtol=1e-9)


def test_fail_on_alert_exits_as_in_memory(files):
    base = ["timeline", "--production", files["utc"], "--production-window", "2026-11-16,"]
    codes = []
    for engine in ("memory", "duckdb"):
        with contextlib.redirect_stdout(io.StringIO()):
            codes.append(main([*base, "--fail-on-alert", "--freq", "day", "--engine", engine]))
    assert codes[0] == codes[1]
    assert codes[0] in (0, 3)


def test_a_cut_keeps_its_rows_when_the_backend_cuts_another_file(duck, tmp_path):
    spec = RowsSpec(production_window="2026-11-16,")
    sources = []
    for name, frame in (("a", _log(300)), ("b", _log(500, seed=9))):
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, **PARQUET)
        sources.append(TableSource(name, paths=(str(path),)))
    first = engine_rows(duck, sources[0], spec=spec)
    before = _counts(duck, first)
    assert _counts(duck, engine_rows(duck, sources[1], spec=spec)) != before
    assert _counts(duck, first) == before  # its views read its own file again
