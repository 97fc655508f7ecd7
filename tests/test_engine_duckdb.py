"""The DuckDB spike (bench/duckdb_spike.py) answers the seam's questions like MemoryTable.

Skipped when duckdb is not installed: it is not a dependency, only the proof that the engine
seam is wide enough for an out-of-core engine.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DEMO, ROOT
from tracing import prepare_analysis, read_table
from tracing import slices as sl
from tracing import timeline as tl
from tracing.engine import Filter, GroupSums, MemoryTable, Side
from tracing.estimate import prediction_rows
from tracing.metrics import row_stat_columns

pytest.importorskip("duckdb")


def _spike():
    name = "duckdb_spike"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "duckdb_spike.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _same(mem: GroupSums, duck: GroupSums) -> None:
    assert duck.keys == mem.keys and duck.cards == mem.cards
    assert duck.count.tolist() == mem.count.tolist()  # counts are exact
    assert set(duck.sums) == set(mem.sums)
    for name, values in mem.sums.items():
        np.testing.assert_allclose(duck.sums[name], values, rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.fixture(scope="module")
def fraud():
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    ctx = sl._context(a, metric="accuracy", features=None, bins=10, min_size=None)
    mem = ctx.prod.table
    frames = {Side.BASELINE: a.baseline_frame, Side.PRODUCTION: a.production_frame}
    stats = {s: {n: mem.stat(s, n) for n in mem.stat_names(s)} for s in frames}
    duck = (
        _spike()
        .DuckTable.from_frames(
            frames,
            stats=stats,
            rows={s: mem.rows(s) for s in frames},
            columns=list(ctx.features),
        )
        .with_keys(ctx.bins)
    )
    return a, ctx, mem, duck


def test_slice_search_levels_one_and_two_agree(fraud):
    _, ctx, mem, duck = fraud
    level1 = [(f,) for f in ctx.features]
    level2 = list(itertools.combinations(ctx.features, 2))
    for side in Side:
        names = list(mem.stat_names(side))  # production also holds the Welch sums
        for sets in (level1, level2):
            got = duck.grouping_sets(sets, names, side=side)
            want = mem.grouping_sets(sets, names, side=side)
            for g, w in zip(got, want, strict=True):
                _same(w, g)
        _same(
            mem.group_sums(level2[3], names, side=side),
            duck.group_sums(level2[3], names, side=side),
        )
    # the metric of every cell, as the slice code computes it
    m = ctx.metric
    names = list(mem.stat_names(Side.PRODUCTION))
    for keys in level1:
        values = [
            np.asarray(m.from_stats(t.group_sums(keys, names, side=Side.PRODUCTION).sums))
            for t in (mem, duck)
        ]
        np.testing.assert_allclose(values[1], values[0], rtol=1e-9, equal_nan=True)


def test_drilldown_groupings_counts_and_samples_agree(fraud):
    a, ctx, mem, duck = fraud
    found = sl.find_slices(a, metric="accuracy", top=3)
    first = found.table["conditions"].iloc[0]
    where = Filter.of((f, ctx.bins[f].labels.index(v)) for f, v in first)
    for side in Side:
        names = list(mem.stat_names(side))
        assert duck.count(side) == mem.count(side)
        assert duck.count(side, where) == mem.count(side, where)
        for f in ctx.features:
            _same(
                mem.group_sums((f,), names, side=side, where=where),
                duck.group_sums((f,), names, side=side, where=where),
            )
        _same(
            mem.group_sums((), names, side=side, where=where),
            duck.group_sums((), names, side=side, where=where),
        )
    rows = duck.sample(Side.PRODUCTION, 50, random_state=1, where=where)
    inside = mem.rows(Side.PRODUCTION)[mem.mask(Side.PRODUCTION, where)]
    assert len(rows) == min(50, len(inside)) and set(rows.tolist()) <= set(inside.tolist())


def test_duckdb_fit_bins_matches_fit_bins(fraud):
    a, ctx, mem, duck = fraud
    numeric = ["amount", "noise_a", "noise_b"]
    got = duck.fit_bins(numeric, bins=10)
    want = mem.fit_bins(numeric, bins=10)
    for f in numeric:
        assert got[f].labels == want[f].labels
        np.testing.assert_allclose(got[f].edges, want[f].edges, rtol=1e-12)
    cats = duck.fit_bins(["state", "device"], min_count=ctx.min_size)
    mine = mem.fit_bins(["state", "device"], min_count=ctx.min_size)
    for f in ("state", "device"):
        assert set(cats[f].labels) == set(mine[f].labels)
        assert cats[f].pooled == mine[f].pooled


def test_timeline_period_sums_agree():
    frame = read_table(DEMO / "monitoring_production.parquet")
    schema = tl.monitoring_schema(frame, None)
    _, times = tl._times(frame, schema, "production")
    codes, starts = tl.period_codes(times, "day")
    data = prediction_rows(frame, schema)
    stats = row_stat_columns(data)
    mem = tl._period_table(codes, len(starts), data.valid, stats, Side.PRODUCTION)
    ok = codes >= 0
    keys = {tl._PERIOD: codes[ok], tl._ACTUAL: data.valid[ok].astype(np.int8)}
    duck = _spike().DuckTable.from_arrays(
        {Side.PRODUCTION: (keys, {k: v[ok] for k, v in stats.items()})},
        cards={tl._PERIOD: len(starts), tl._ACTUAL: 2},
        rows={Side.PRODUCTION: np.flatnonzero(ok)},
    )
    names = list(stats)
    with_actual = Filter.of([(tl._ACTUAL, 1)])
    for where in (None, with_actual):
        _same(
            mem.group_sums((tl._PERIOD,), names, side=Side.PRODUCTION, where=where),
            duck.group_sums((tl._PERIOD,), names, side=Side.PRODUCTION, where=where),
        )
    # and the timeline's realized metric per period, from either engine's sums
    m = tl._metric("accuracy", schema, frame, None, ("b", "p"))
    want = tl.metric_timeline(frame, schema=schema, metric=m, freq="day", estimate=False)
    sums = duck.group_sums((tl._PERIOD,), names, side=Side.PRODUCTION).sums
    got = np.asarray(m.from_stats(sums), dtype=float)
    np.testing.assert_allclose(got, want.table["metric"].to_numpy(), rtol=1e-9, equal_nan=True)
    assert isinstance(mem, MemoryTable) and isinstance(want.table, pd.DataFrame)
