"""The SQL engines' coded table: the same groups as memory, however the keys are coded.

`tracing.sqltable.SqlTable` writes one coded table per side on the first keyed query (small
integer key codes and the prepared inputs of every row) and reads it from then on. These
tests pin what that must not change: every group sum equals the in-memory engine's (the
oracle) for keys coded by a ``CASE`` and by a lookup join (a categorical of many categories,
with missing values and production-only categories), under filters and per-set filters; a
table asked for a new key writes one coded table holding both and drops the old one; a new
source for a view is never answered from the old source's coded table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracing.analysis import analysis_row_stats, prepare_analysis
from tracing.engine import Filter, MemoryTable, Side
from tracing.engine_analysis import prepare_engine_analysis
from tracing.sqlbackend import TableSource
from tracing.sqltable import _JOIN_CATEGORIES, _cover, _joined

RTOL = 1e-9


def _frame(seed: int, n: int, *, new_merchants: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    merchants = [f"m{i:03d}" for i in range(3 * _JOIN_CATEGORIES)]
    merchants += [f"new{i}" for i in range(new_merchants)]
    merchant = rng.choice(np.array(merchants, dtype=object), n)
    merchant[rng.random(n) < 0.04] = None
    region = rng.choice(["north", "south", "east"], n)
    amount = rng.lognormal(3, 1, n)
    score = rng.random(n)
    actual = rng.random(n) < np.where(region == "south", 0.8, 0.3)
    return pd.DataFrame(
        {
            "merchant": merchant,
            "region": region,
            "amount": amount,
            "prediction_score": score,
            "actual_label": np.where(actual, "yes", "no"),
        }
    )


def _write(frame: pd.DataFrame, path) -> TableSource:
    frame.to_parquet(path, index=False)
    return TableSource(path.name, paths=(str(path),))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = _frame(1, 4000)
    prod = _frame(2, 4000, new_merchants=5)
    folder = tmp_path_factory.mktemp("coded")
    sources = (_write(base, folder / "b.parquet"), _write(prod, folder / "p.parquet"))
    return _Memory(base, prod), sources, folder


class _Memory:
    """The oracle: the in-memory tables of every row and of the valid rows."""

    def __init__(self, base: pd.DataFrame, prod: pd.DataFrame) -> None:
        self.analysis = prepare_analysis(base, prod, roles={"actual_label": "actual_label"})
        a = self.analysis
        frames = {Side.BASELINE: a.baseline_frame, Side.PRODUCTION: a.production_frame}
        prepared = {Side.BASELINE: a.baseline, Side.PRODUCTION: a.production}
        stats = dict(zip(Side, analysis_row_stats(a), strict=True))
        rows = {s: np.flatnonzero(p.valid) for s, p in prepared.items()}
        self.table = MemoryTable.from_frames(frames, stats={})
        self.valid = MemoryTable.from_frames(
            frames,
            rows=rows,
            stats={s: {c: stats[s][c].to_numpy()[rows[s]] for c in stats[s]} for s in Side},
        )


def _engine(backend, sources):
    return prepare_engine_analysis(
        sources[0], sources[1], backend=backend, roles={"actual_label": "actual_label"}
    )


def _assert_same(got, want) -> None:
    assert got.keys == want.keys and got.cards == want.cards
    np.testing.assert_array_equal(got.count, want.count)
    if want.cells is not None or got.cells is not None:
        np.testing.assert_array_equal(got.cells, want.cells)
    assert got.sums.keys() == want.sums.keys()
    for name in want.sums:
        np.testing.assert_allclose(got.sums[name], want.sums[name], rtol=RTOL, atol=1e-12)


def _coded_tables(backend) -> list[str]:
    if backend.name == "duckdb":
        rows = backend.query("SELECT table_name FROM duckdb_tables() WHERE temporary")
        return sorted(rows["table_name"].to_pylist())
    rows = backend.query("SHOW VIEWS")
    return sorted(n for n in rows["viewName"].to_pylist() if n.startswith("coded_"))


def test_many_categories_are_join_coded_and_group_like_memory(pair, engine_backend):
    memory, sources, _ = pair
    engine = _engine(engine_backend, sources)
    bins = memory.table.fit_bins(["merchant", "region", "amount"], bins=6)
    assert _joined(bins["merchant"]) and not _joined(bins["region"])
    assert "new0" in bins["merchant"].labels  # production-only categories have codes too
    stats = engine.valid.stat_names()
    assert set(stats) <= set(memory.valid.stat_names(Side.PRODUCTION))
    mine, theirs = memory.valid.with_keys(bins), engine.valid.with_keys(bins)
    south = bins["region"].labels.index("south")
    where = Filter.of([("region", south)])
    big = bins["merchant"].missing_code
    each = [None, Filter().inside(["merchant"], [0, 3, big]), where]
    key_sets = [["merchant"], ["merchant", "region"], ["amount", "merchant"]]
    for side in Side:
        for got, want in zip(
            theirs.grouping_sets(key_sets, stats, side=side, each=each),
            mine.grouping_sets(key_sets, stats, side=side, each=each),
            strict=True,
        ):
            _assert_same(got, want)
        _assert_same(
            theirs.group_sums(["merchant"], stats, side=side, where=where),
            mine.group_sums(["merchant"], stats, side=side, where=where),
        )
        # The full table (all rows) reads the same coded table as the valid rows.
        assert theirs.count(side) == mine.count(side)
        everything = engine.table.with_keys(bins), memory.table.with_keys(bins)
        assert everything[0].count(side, where) == everything[1].count(side, where)


def test_sets_summed_from_a_shared_block_equal_memory(pair, engine_backend):
    """Many sets of one filter group by a few wider blocks (`_cover`) and are summed back:
    sets in any key order, asked twice, under two filters, the empty set (also of no rows), with
    maxima."""
    memory, sources, _ = pair
    engine = _engine(engine_backend, sources)
    columns = ["merchant", "region", "amount", "prediction_score"]
    bins = memory.table.fit_bins(columns, bins=6)
    stats = engine.valid.stat_names()
    mine, theirs = memory.valid.with_keys(bins), engine.valid.with_keys(bins)
    south = Filter.of([("region", bins["region"].labels.index("south"))])
    key_sets = [
        ["region", "amount"],
        ["amount", "prediction_score"],
        ["prediction_score", "region"],
        ["region", "amount"],  # asked twice
        ["amount", "region"],  # the same cells in another order: other codes
        ["merchant", "amount"],
        ["merchant", "region", "amount"],
        [],
        ["region", "amount"],  # the same set under another filter
        ["amount", "prediction_score"],
        [],  # alone under a filter no baseline row passes: a plain aggregate of no rows
    ]
    new0 = Filter.of([("merchant", bins["merchant"].labels.index("new0"))])
    each = [None] * 8 + [south, south, new0]
    cards = {c: theirs.cardinality(c) for c in columns}
    held = _cover([frozenset(k) for k in key_sets[:8]], cards)
    assert any(len(b) > len(s) for s, b in held.items())  # some set is summed from a block
    for side in Side:
        got = theirs.grouping_sets(key_sets, stats, side=side, each=each, maxes=stats[:2])
        want = mine.grouping_sets(key_sets, stats, side=side, each=each, maxes=stats[:2])
        for g, w in zip(got, want, strict=True):
            _assert_same(g, w)
            for name in stats[:2]:
                np.testing.assert_allclose(g.maxes[name], w.maxes[name], rtol=RTOL)


def test_a_new_key_rewrites_one_coded_table_and_drops_the_old(pair, engine_backend):
    memory, sources, _ = pair
    engine = _engine(engine_backend, sources)
    stats = engine.valid.stat_names()
    first = memory.table.fit_bins(["region"], bins=6)
    engine.valid.with_keys(first).group_sums(["region"], stats, side=Side.PRODUCTION)
    before = _coded_tables(engine_backend)
    more = memory.table.fit_bins(["amount"], bins=3)
    grown = engine.valid.with_keys({**first, **more})
    _assert_same(
        grown.group_sums(["amount", "region"], stats, side=Side.PRODUCTION),
        memory.valid.with_keys({**first, **more}).group_sums(
            ["amount", "region"], stats, side=Side.PRODUCTION
        ),
    )
    after = _coded_tables(engine_backend)
    assert len(after) == len(before) and after != before  # rewritten, the old one dropped
    # The old keys are still held: asking for them again writes nothing.
    engine.valid.with_keys(first).group_sums(["region"], stats, side=Side.PRODUCTION)
    assert _coded_tables(engine_backend) == after


def test_a_new_source_is_never_answered_from_the_old_coded_table(pair, engine_backend):
    memory, sources, folder = pair
    engine = _engine(engine_backend, sources)
    bins = memory.table.fit_bins(["region"], bins=6)
    stats = engine.valid.stat_names()
    engine.valid.with_keys(bins).group_sums(["region"], stats, side=Side.PRODUCTION)
    changed = _frame(3, 1500)
    other = _write(changed, folder / "p2.parquet")
    fresh = _engine(engine_backend, (sources[0], other))
    want = _Memory(memory.analysis.baseline_frame, changed)
    _assert_same(
        fresh.valid.with_keys(bins).group_sums(["region"], stats, side=Side.PRODUCTION),
        want.valid.with_keys(bins).group_sums(["region"], stats, side=Side.PRODUCTION),
    )


def test_score_groups_are_the_in_memory_counts_per_distinct_score(pair, engine_backend, tmp_path):
    from tracing.metrics import score_groups

    memory, _, _ = pair
    # scores with ties (rounded) and missing values: counted per distinct value, NaN left out
    frames = [memory.analysis.baseline_frame.copy(), memory.analysis.production_frame.copy()]
    for i, frame in enumerate(frames):
        frame["prediction_score"] = frame["prediction_score"].round(2)
        frame.loc[frame.index[::37], "prediction_score"] = np.nan
        frames[i] = frame
    sources = (_write(frames[0], tmp_path / "b.parquet"), _write(frames[1], tmp_path / "p.pq"))
    engine = _engine(engine_backend, sources)
    oracle = prepare_analysis(frames[0], frames[1], roles={"actual_label": "actual_label"})
    for side, prepared in zip(Side, (oracle.baseline, oracle.production), strict=True):
        keep = prepared.valid & ~np.isnan(prepared.score)
        want = score_groups(prepared.y_true[keep], prepared.score[keep])
        got = engine.valid.score_groups(side)
        assert got is not None
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        # beyond the limit the counts are refused, never cut short
        assert engine.valid.score_groups(side, limit=len(want[0]) - 1) is None
        assert engine.valid.score_groups(side, limit=len(want[0])) is not None


def test_rank_metrics_without_counts_are_nan_with_the_reason(pair, engine_backend, monkeypatch):
    from tracing.engine_analysis import engine_compare
    from tracing.sqltable import SqlTable

    _, sources, _ = pair
    engine = _engine(engine_backend, sources)
    # too many distinct scores for the counts: the rank metrics say why, the rest are there
    monkeypatch.setattr(SqlTable, "score_groups", lambda self, side, limit=0: None)
    got = engine_compare(engine).table.set_index("metric")
    assert np.isnan(got.loc["roc_auc", "production"])
    assert "distinct scores" in got.loc["roc_auc", "production_reason"]
    assert np.isfinite(got.loc["accuracy", "production"])


def test_range_counts_are_the_bincount_of_the_codes(engine_backend, tmp_path):
    """Range bins counted by edge sums: memory's codes, infinities and every gap included."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracing.binning import ColumnValues, fit_column_bins
    from tracing.sqltable import SqlTable

    rng = np.random.default_rng(5)
    frames = []
    for seed in (1, 2):
        x = np.random.default_rng(seed).normal(size=3000) * (1 + seed)
        x[:20], x[20:25], x[25:30] = np.nan, np.inf, -np.inf
        k = pd.array(rng.integers(0, 40, 3000), dtype="Int64")
        k[30:45] = pd.NA
        c = np.full(3000, 2.5)
        c[-10:] = 3 + np.arange(10) / 10  # a few rarer values above: quantiles all 2.5
        frames.append(pd.DataFrame({"x": x, "k": k, "c": c}))
    sources = {}
    for side, frame in zip((Side.BASELINE, Side.PRODUCTION), frames, strict=True):
        path = tmp_path / f"{side}.parquet"
        # NaN stays NaN (pandas would write it as null) beside a few real nulls
        gaps = np.zeros(3000, dtype=bool)
        gaps[30:35] = True
        x = pa.array(frame["x"].to_numpy(), mask=gaps)
        frame.loc[gaps, "x"] = np.nan
        columns = {"x": x, "k": pa.array(frame["k"]), "c": pa.array(frame["c"])}
        pq.write_table(pa.table(columns), path)
        sources[side] = TableSource(path.name, paths=(str(path),))
    table = SqlTable.from_sources(engine_backend, sources)
    bins = {
        c: fit_column_bins(ColumnValues(frames[0][c]), ColumnValues(frames[1][c]), bins=6)
        for c in ("x", "k", "c")
    }
    assert all(b.kind == "numeric" for b in bins.values())
    assert bins["c"].edges == ()  # one present bin and the missing one
    for side, frame in zip((Side.BASELINE, Side.PRODUCTION), frames, strict=True):
        got = table.range_counts(side, bins)
        for column, fitted in bins.items():
            codes = fitted.codes(frame[column])
            want = np.bincount(codes, minlength=len(fitted.labels))
            np.testing.assert_array_equal(got[column], want, err_msg=column)


@given(
    sets=st.lists(st.frozensets(st.sampled_from("abcdefgh"), max_size=4), min_size=1, max_size=30),
    sizes=st.lists(st.integers(1, 300), min_size=8, max_size=8),
)
@settings(max_examples=200, deadline=None)
def test_cover_puts_every_set_in_one_block_that_holds_it(sets, sizes):
    from tracing.sqltable import _BLOCK_CELLS, _BLOCK_KEYS

    cards = dict(zip("abcdefgh", sizes, strict=True))
    held = _cover(sets, cards)
    assert held.keys() == set(sets)
    for s, block in held.items():
        assert s <= block
        if block not in held:  # grown from an asked set: within the limits, holding two
            assert len(block) <= _BLOCK_KEYS
            assert np.prod([cards[k] for k in block]) <= _BLOCK_CELLS
            assert sum(1 for t in held if held[t] == block) >= 2
