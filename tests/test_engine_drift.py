"""Drift on a SQL engine equals drift in memory: `engine_drift` against `feature_drift`.

Each fixture is written to Parquet and compared twice: `feature_drift` on the in-memory
analysis of the frames (the oracle) and `engine_drift` on the engine's analysis of the files.
The tables must agree: features, roles, kinds and counts exactly, every statistic to 1e-9,
severities, verdicts and reasons exactly. The Spark engine runs in one local session shared by
the module (as in tests/test_engine_parity.py); the grid path (more than 100,000 rows on a
side) runs on DuckDB only, to keep the file fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tracing.engine_drift as engine_drift_module
from tracing.analysis import prepare_analysis
from tracing.drift import grid_ranks
from tracing.engine_analysis import prepare_engine_analysis
from tracing.engine_drift import engine_drift, rank_condition
from tracing.report import SAMPLED_ON_ENGINE, Section, build_report
from tracing.sqlbackend import TableSource

RTOL = 1e-9
ROLES = {"actual_label": "actual_label", "prediction_score": "prediction_score"}


def _frame(seed: int, n: int, *, production: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    regions = ["north", "south", "east", "west"]
    p_region = [0.4, 0.3, 0.2, 0.1]
    region = rng.choice(regions, n, p=p_region).astype(object)
    if production:  # a new category, 5% of the rows
        region[rng.random(n) < 0.05] = "moon"
    region[rng.random(n) < (0.04 if production else 0.01)] = None  # missing text
    amount = rng.lognormal(3.4 if production else 3.0, 1.0, n)  # planted drift
    amount[rng.random(n) < (0.08 if production else 0.03)] = np.nan  # missing values
    amount[:2] = [np.inf, -np.inf] if production else [np.inf, np.inf]
    score = rng.random(n)
    channel = rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2]).astype(object)
    if not production:  # kept (27 rows >= 1% of the smaller side), and pooled (5 rows)
        channel[10:37], channel[40:45] = "fax", "mail"
    return pd.DataFrame(
        {
            "region": region,
            "channel": channel,
            "amount": amount,
            "stable": rng.normal(0.0, 1.0, n),  # no drift
            "items": rng.integers(0, 6, n),  # few distinct values: categorical bins
            "returning": rng.random(n) < 0.4,
            "prediction_score": score,
            "actual_label": (rng.random(n) < score).astype(int),
        }
    )


def _analyses(folder, base: pd.DataFrame, prod: pd.DataFrame, backend):
    paths = []
    for name, frame in (("baseline", base), ("production", prod)):
        path = folder / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        paths.append(path)
    memory = prepare_analysis(
        base, prod, names=("baseline.parquet", "production.parquet"), roles=ROLES
    )
    sources = [TableSource(p.name, paths=(str(p),)) for p in paths]
    engine = prepare_engine_analysis(
        sources[0],
        sources[1],
        backend=backend,
        names=("baseline.parquet", "production.parquet"),
        roles=ROLES,
    )
    return memory, engine


@pytest.fixture(scope="module")
def small(engine_backend, tmp_path_factory):
    base = _frame(1, 3000, production=False)
    prod = _frame(2, 2500, production=True)
    return _analyses(tmp_path_factory.mktemp("small"), base, prod, engine_backend)


def _tables_agree(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert list(got["feature"]) == list(want["feature"])  # the same ranking
    for column in want.columns:
        if pd.api.types.is_float_dtype(want[column]):
            np.testing.assert_allclose(
                got[column].to_numpy(dtype=float),
                want[column].to_numpy(dtype=float),
                rtol=RTOL,
                atol=1e-12,
                err_msg=column,
            )
        else:
            assert list(got[column]) == list(want[column]), column


def test_drift_table_equals_memory(small, monkeypatch):
    from tracing.drift import feature_drift

    memory, engine = small
    want = feature_drift(memory)
    written: list[str] = []  # no coded table of every row for one query per side
    monkeypatch.setattr(engine.backend, "materialize", lambda name, sql: written.append(name))
    got = engine_drift(engine)
    assert written == []
    assert set(want.table["feature"]) == {
        "region", "channel", "amount", "stable", "items", "returning",
        "prediction_score", "actual_label",
    }  # fmt: skip
    _tables_agree(got.table, want.table)
    for name, fitted in want.bins.items():
        assert got.bins[name].labels == fitted.labels, name
    assert got.notes == ()


def test_planted_drift_and_new_category_are_flagged(small):
    _, engine = small
    table = engine_drift(engine).table.set_index("feature")
    assert table.loc["amount", "severity"] == "alert"
    assert table.loc["region", "drifted"]
    assert not table.loc["stable", "drifted"]
    assert table.loc["amount", "missing_production"] > table.loc["amount", "missing_baseline"]


def test_report_drift_runs_on_every_row(small):
    memory, engine = small
    assert Section.DRIFT not in SAMPLED_ON_ENGINE
    got = build_report(engine, sections=["drift"])
    want = build_report(memory, sections=["drift"])
    assert got["engine"]["sampled_sections"] == []
    assert not any("drift" in note and "sample" in note for note in got["notes"])
    assert [r["feature"] for r in got["drift"]] == [r["feature"] for r in want["drift"]]
    for g, w in zip(got["drift"], want["drift"], strict=True):
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=RTOL, abs=1e-12), key
            else:
                assert g[key] == value, key


# ---------------------------------------------------------------------------------------------
# DuckDB only: options, root cause, more than 100,000 rows on a side (memory's grid), the
# grid's ranks, the sample fallback


@pytest.fixture(scope="module")
def small_duck(duck, tmp_path_factory):
    base = _frame(1, 3000, production=False)
    prod = _frame(2, 2500, production=True)
    return _analyses(tmp_path_factory.mktemp("small_duck"), base, prod, duck)


@pytest.fixture(scope="module")
def large(duck, tmp_path_factory):
    rng = np.random.default_rng(7)

    def side(n: int, shift: float) -> pd.DataFrame:
        score = rng.random(n)
        x = rng.gamma(2.0, 3.0 + 5 * shift, n)
        x[rng.random(n) < 0.02] = np.nan
        return pd.DataFrame(
            {
                "x": x,  # every value distinct: the window grid (or runs, under MAX_RUNS)
                "rounded": rng.normal(shift, 1.0, n).round(2),  # few distinct: runs
                "prediction_score": score,
                "actual_label": (rng.random(n) < score).astype(int),
            }
        )

    base, prod = side(120_000, 0.0), side(40_000, 0.3)
    return _analyses(tmp_path_factory.mktemp("large"), base, prod, duck)


@pytest.mark.parametrize("plan", ["runs", "grid"])
def test_grid_above_100k_rows_equals_memory(large, plan, monkeypatch):
    from tracing.drift import feature_drift

    memory, engine = large
    queries: list[str] = []
    original = engine.backend.query
    monkeypatch.setattr(engine.backend, "query", lambda sql: queries.append(sql) or original(sql))
    if plan == "grid":  # every column with more than 100,000 rows by the window query
        monkeypatch.setattr(engine_drift_module, "MAX_RUNS", 0)
    got = engine_drift(engine)
    histograms = [q for q in queries if "histogram(" in q]  # one per grid column and side
    # x, rounded, prediction_score and actual_label (numbers, 120,000 rows in the baseline)
    assert len(histograms) == (8 if plan == "grid" else 0)
    want = feature_drift(memory)
    _tables_agree(got.table, want.table)
    assert got.table.set_index("feature").loc["x", "drifted"]


@pytest.mark.parametrize("n", [1, 7, 16_383, 16_384, 16_385, 100_001, 250_007])
def test_rank_condition_selects_the_grid_ranks(duck, n):
    sql = f"SELECT r FROM range({n}) AS t(r) WHERE {rank_condition('r', n, 'duckdb')} ORDER BY r"
    got = np.asarray(duck.query(sql).column("r").to_numpy())
    np.testing.assert_array_equal(got, grid_ranks(n))


def test_a_time_column_is_compared_on_the_sample_and_said(duck, tmp_path):
    from tracing.drift import feature_drift

    base = _frame(3, 800, production=False)
    prod = _frame(4, 800, production=True)
    for frame, start in ((base, "2026-01-01"), (prod, "2026-03-01")):
        frame["seen_at"] = pd.date_range(start, periods=len(frame), freq="h")
    memory, engine = _analyses(tmp_path, base, prod, duck)
    columns = ["amount", "seen_at"]
    got = engine_drift(engine, columns=columns)
    _tables_agree(got.table, feature_drift(memory, columns=columns).table)
    (note,) = got.notes
    assert "seen_at" in note and "sample" in note and "amount" not in note


def test_options_reach_the_engine(small_duck):
    from tracing.drift import feature_drift

    memory, engine = small_duck
    kw = {"bins": 4, "min_share": 0.15, "alpha": None, "thresholds": {"psi": (0.01, 0.02)}}
    _tables_agree(engine_drift(engine, **kw).table, feature_drift(memory, **kw).table)


def test_root_cause_reads_the_engine_drift(small_duck):
    _, engine = small_duck
    report = build_report(engine, sections=["root_cause"])
    assert report["engine"]["sampled_sections"] == ["root_cause"]
    kinds = {(r["feature"], r["kind"]) for r in report["root_cause"]}
    assert ("amount", "drift") in kinds


def test_a_smaller_grid_equals_memory(small, monkeypatch):
    """Memory's grid on both engines, on small data: its constants made small (both modules)."""
    import tracing.drift as drift_module
    from tracing.drift import feature_drift

    memory, engine = small
    for module in (drift_module, engine_drift_module):
        monkeypatch.setattr(module, "EXACT_CDF_MAX_N", 1_000)
        monkeypatch.setattr(module, "CDF_GRID", 256)
    monkeypatch.setattr(drift_module, "_EXACT_KS_MAX_N", 500)  # as ever, below the grid
    monkeypatch.setattr(engine_drift_module, "MAX_RUNS", 0)
    kw = {"bins": 7}  # not the memoised default call
    _tables_agree(engine_drift(engine, **kw).table, feature_drift(memory, **kw).table)
