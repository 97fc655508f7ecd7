"""The engine seam: MemoryTable group sums, counts and samples against pandas brute force."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_binary, make_multiclass, make_regression
from tracing.engine import (
    DENSE_LIMIT,
    CodedTable,
    Condition,
    Filter,
    GroupSums,
    MemoryTable,
    Side,
    fit_frame_bins,
)
from tracing.metrics import applicable_metrics, prepare, row_stat_columns
from tracing.schema import ModelType, detect_roles, resolve_schema

MAKERS = {
    ModelType.BINARY: make_binary,
    ModelType.MULTICLASS: make_multiclass,
    ModelType.REGRESSION: make_regression,
}


class _Recorder(dict):
    """Stats mapping that remembers which keys a metric reads."""

    def __init__(self, keys):
        super().__init__({k: np.ones(2) for k in keys})
        self.used: set[str] = set()

    def __getitem__(self, key):
        self.used.add(key)
        return super().__getitem__(key)


def _needed(metric, names) -> list[str]:
    probe = _Recorder(names)
    metric.from_stats(probe)
    return sorted(probe.used)


def _pair(model_type: ModelType, n: int = 500):
    """A baseline/production pair with two slice features, and a MemoryTable over it."""
    make = MAKERS[model_type]
    base, prod = make(n=n, seed=11), make(n=n, seed=12)
    rng = np.random.default_rng(3)
    for frame in (base, prod):
        frame["grade"] = rng.choice(["a", "b", "c", None], len(frame))
        frame["size"] = rng.normal(size=len(frame))
        frame.loc[rng.random(len(frame)) < 0.05, "size"] = np.nan
    schema = resolve_schema([base, prod], detect_roles(base.columns))
    frames = {Side.BASELINE: base, Side.PRODUCTION: prod}
    prepared = {s: prepare(f, schema) for s, f in frames.items()}
    stats = {s: row_stat_columns(p) for s, p in prepared.items()}
    table = MemoryTable.from_frames(frames, stats=stats)
    features = ["grade", "size"]
    if model_type is not ModelType.MULTICLASS:
        features.append({ModelType.BINARY: "state", ModelType.REGRESSION: "city"}[model_type])
    bins = table.fit_bins(features, bins=4)
    return schema, frames, stats, table.with_keys(bins), bins


def _oracle(frame, stats, bins, keys, names, where: Filter | None) -> pd.DataFrame:
    """pandas groupby sums over the rows meeting ``where``, indexed by key codes."""
    df = pd.DataFrame({k: bins[k].codes(frame[k]) for k in bins})
    for name in names:
        df["s:" + name] = stats[name]
    if where:
        for cond in where.conditions:
            df = df[df[cond.key] == cond.code]
    if not keys:
        out = pd.DataFrame({"count": [len(df)], **{n: [df["s:" + n].sum()] for n in names}})
        return out
    grouped = df.groupby(list(keys), sort=True)
    out = grouped.size().rename("count").to_frame()
    for name in names:
        out[name] = grouped["s:" + name].sum()
    return out.reset_index()


def test_memory_table_is_a_coded_table():
    _, _, _, table, _ = _pair(ModelType.BINARY, n=50)
    assert isinstance(table, CodedTable)


@pytest.mark.parametrize("model_type", list(MAKERS))
@pytest.mark.parametrize("filtered", [False, True])
def test_group_sums_equal_pandas_for_every_statistic_of_every_metric(model_type, filtered):
    """Registry-wide: every sufficient statistic any metric reads, grouped by every key set."""
    schema, frames, stats, table, bins = _pair(model_type)
    metrics = [m for m in applicable_metrics(schema) if m.additive]
    assert metrics
    keys_all = list(bins)
    where = Filter.of([(keys_all[0], 1)]) if filtered else None
    for side, frame in frames.items():
        names = list(stats[side])
        key_sets = [(), *[(k,) for k in keys_all], tuple(keys_all[:2]), tuple(keys_all[::-1])]
        for keys in key_sets:
            got = table.group_sums(keys, names, side=side, where=where)
            assert got.keys == tuple(keys)
            want = _oracle(frame, stats[side], bins, keys, names, where)
            frame_got = got.to_frame()
            assert frame_got["count"].tolist() == want["count"].tolist()
            for k in keys:
                assert frame_got[k].tolist() == want[k].tolist()
            for m in metrics:
                for name in _needed(m, names):
                    np.testing.assert_allclose(
                        frame_got[name], want[name], rtol=1e-12, atol=1e-12, err_msg=m.id
                    )
            assert got.count.sum() == table.count(side, where)
            if not keys:
                continue
            # the metric from grouped sums equals the metric computed on each group's rows
            cells = frame_got[list(keys)].to_numpy()
            codes = {k: bins[k].codes(frame[k]) for k in keys}
            for m in metrics:
                sums = {n: got.sums[n] for n in names}
                values = np.asarray(m.from_stats(sums), dtype=float)
                for i, cell in enumerate(cells[:6]):
                    mask = np.ones(len(frame), dtype=bool)
                    for k, c in zip(keys, cell, strict=True):
                        mask &= codes[k] == c
                    for cond in where.conditions if where else ():
                        mask &= bins[cond.key].codes(frame[cond.key]) == cond.code
                    want_value = m.compute(prepare(frame[mask].reset_index(drop=True), schema))
                    entry = np.flatnonzero(got.count > 0)[i]  # dense: entry = cell code
                    assert values[entry] == pytest.approx(want_value, abs=1e-9, nan_ok=True), m.id


def test_grouping_sets_equal_one_group_sums_each():
    _, _, stats, table, bins = _pair(ModelType.BINARY)
    sets = [(k,) for k in bins] + [tuple(bins)]
    names = list(stats[Side.PRODUCTION])
    many = table.grouping_sets(sets, names, side=Side.PRODUCTION)
    for keys, got in zip(sets, many, strict=True):
        one = table.group_sums(keys, names, side=Side.PRODUCTION)
        assert got.count.tolist() == one.count.tolist()
        for n in names:
            assert got.sums[n].tolist() == one.sums[n].tolist()


def test_sample_is_a_reproducible_subset_meeting_the_filter():
    _, _, _, table, _ = _pair(ModelType.BINARY)
    where = Filter.of([("grade", 0)])
    rows = table.sample(Side.PRODUCTION, 40, random_state=3, where=where)
    assert len(rows) == 40 and len(set(rows.tolist())) == 40
    assert (np.diff(rows) > 0).all()
    inside = set(table.rows(Side.PRODUCTION)[table.mask(Side.PRODUCTION, where)].tolist())
    assert set(rows.tolist()) <= inside
    again = table.sample(Side.PRODUCTION, 40, random_state=3, where=where)
    assert rows.tolist() == again.tolist()
    every = table.sample(Side.PRODUCTION, 10**6, where=where)
    assert sorted(inside) == every.tolist()


def test_filter_and_condition_are_frozen_and_hashable():
    f = Filter.of([("a", 1), ("b", np.int64(2))])
    assert f == Filter((Condition("a", 1), Condition("b", 2)))
    assert hash(f) == hash(Filter.of([("a", 1), ("b", 2)]))
    assert not Filter() and f and f.keys == ("a", "b")


def test_large_code_spaces_come_back_compacted():
    n = 1000
    rng = np.random.default_rng(0)
    big = 1 << 12
    a, b = rng.integers(0, big, n), rng.integers(0, big, n)
    x = rng.random(n)
    table = MemoryTable.from_arrays(
        {Side.PRODUCTION: ({"a": a, "b": b}, {"x": x})}, cards={"a": big, "b": big}
    )
    got = table.group_sums(("a", "b"), ("x",), side=Side.PRODUCTION)
    assert big * big > DENSE_LIMIT and got.cells is not None
    assert (np.diff(got.cells) > 0).all() and (got.count > 0).all()
    want = pd.Series(x).groupby(a.astype(np.int64) * big + b).sum()
    assert got.cells.tolist() == want.index.tolist()
    np.testing.assert_allclose(got.sums["x"], want.to_numpy(), rtol=1e-12)
    tidy = got.to_frame()
    assert (tidy["a"] * big + tidy["b"]).tolist() == want.index.tolist()


def test_fit_bins_is_fit_bins_per_column():
    base, prod = make_binary(n=300, seed=1), make_binary(n=300, seed=2)
    frames = {Side.BASELINE: base, Side.PRODUCTION: prod}
    table = MemoryTable.from_frames(frames, stats={})
    got = table.fit_bins(["state", "amount"], bins=5, min_count=2)
    assert got == fit_frame_bins(base, prod, ["state", "amount"], bins=5, min_count=2)
    coded = table.with_keys(got)
    assert coded.cardinality("amount") == len(got["amount"].labels)
    assert (
        coded.key_codes(Side.BASELINE, "state").tolist()
        == got["state"].codes(base["state"]).tolist()
    )


# ---------------------------------------------------------------------------------------------
# Property: random small tables, random key sets and filters, against pandas


@st.composite
def tables(draw):
    n = draw(st.integers(0, 60))
    n_keys = draw(st.integers(1, 3))
    cards = [draw(st.integers(1, 5)) for _ in range(n_keys)]
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    keys = {f"k{i}": rng.integers(0, c, n) for i, c in enumerate(cards)}
    stats = {
        "x": rng.normal(size=n),
        "y": rng.integers(0, 2, n) * 1.0,
        "z": np.round(rng.exponential(size=n), 3),
    }
    chosen = draw(st.lists(st.sampled_from(list(keys)), unique=True, max_size=n_keys))
    conds = draw(
        st.lists(
            st.tuples(st.sampled_from(list(keys)), st.integers(0, max(cards) - 1)), max_size=2
        )
    )
    return keys, {f"k{i}": c for i, c in enumerate(cards)}, stats, chosen, conds


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_group_sums_equal_pandas_groupby_on_random_tables(case):
    keys, cards, stats, chosen, conds = case
    table = MemoryTable.from_arrays({Side.PRODUCTION: (keys, stats)}, cards=cards)
    where = Filter.of(conds) or None
    got: GroupSums = table.group_sums(chosen, list(stats), side=Side.PRODUCTION, where=where)
    assert len(got.count) == math.prod(cards[k] for k in chosen)
    df = pd.DataFrame({**keys, **stats})
    for k, c in conds:
        df = df[df[k] == c]
    assert table.count(Side.PRODUCTION, where) == len(df) == int(got.count.sum())
    code = np.zeros(len(df), dtype=np.int64)
    for k in chosen:
        code = code * cards[k] + df[k].to_numpy()
    want_count = np.bincount(code, minlength=len(got.count))
    assert got.count.tolist() == want_count.tolist()
    for name in stats:
        want = df.groupby(code)[name].sum().reindex(range(len(got.count)), fill_value=0.0)
        np.testing.assert_allclose(got.sums[name], want.to_numpy(), rtol=1e-12, atol=1e-12)
    tidy = got.to_frame()
    assert tidy["count"].tolist() == want_count[want_count > 0].tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-3, 3).map(float)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.one_of(st.none(), st.sampled_from(list("abcde"))), min_size=1, max_size=40),
    st.integers(1, 5),
    st.integers(1, 3),
)
def test_histograms_without_codes_equal_a_bincount_of_the_codes(floats, texts, bins, min_count):
    """The drift histograms' count-only path (lazy keys) is a bincount of the bin codes."""
    num = pd.Series(floats, dtype=float, name="x")
    cat = pd.Series(texts, dtype=object, name="c")
    half = len(num) // 2
    for series in (num, cat):
        base, prod = series.iloc[:half].rename("v"), series.iloc[half:].rename("v")
        if len(base) == 0:
            base = prod
        frames = {Side.BASELINE: base.to_frame(), Side.PRODUCTION: prod.to_frame()}
        table = MemoryTable.from_frames(frames, stats={})
        fitted = table.fit_bins(["v"], bins=bins, min_count=min_count)
        lazy = table.with_keys(fitted, lazy=True)
        for side, frame in frames.items():
            got = lazy.group_sums(("v",), (), side=side).count
            want = np.bincount(fitted["v"].codes(frame["v"]), minlength=len(fitted["v"].labels))
            assert got.tolist() == want.tolist()
            # once coded (a filter needs the codes), the same counts come from the codes
            coded = lazy.group_sums(("v",), (), side=side, where=Filter.of([("v", 0)]))
            assert coded.count.sum() == want[0]


# ---------------------------------------------------------------------------------------------
# The seam additions the pushed-down slice search relies on: cell sets, per-set filters,
# per-cell maxima, derived statistics (against pandas)


@st.composite
def cell_set_cases(draw):
    keys, cards, stats, chosen, conds = draw(tables())
    inside = draw(st.lists(st.sampled_from(list(keys)), unique=True, min_size=1, max_size=2))
    space = math.prod(cards[k] for k in inside)
    cells = draw(st.lists(st.integers(0, space - 1), max_size=space))
    return keys, cards, stats, chosen, conds, inside, cells


def _cell_code(df, keys, cards):
    code = np.zeros(len(df), dtype=np.int64)
    for k in keys:
        code = code * cards[k] + df[k].to_numpy()
    return code


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell_set_cases())
def test_cell_sets_each_and_maxes_equal_pandas(case):
    keys, cards, stats, chosen, conds, inside, cells = case
    table = MemoryTable.from_arrays({Side.PRODUCTION: (keys, stats)}, cards=cards)
    where = Filter.of(conds).inside(inside, cells)
    df = pd.DataFrame({**keys, **stats})
    for k, c in conds:
        df = df[df[k] == c]
    df = df[np.isin(_cell_code(df, inside, cards), cells)]
    assert table.mask(Side.PRODUCTION, where).sum() == len(df)
    assert table.count(Side.PRODUCTION, where) == len(df)
    # the same filter as a per-set filter of grouping_sets, with maxima
    got = table.grouping_sets(
        [chosen, []],
        list(stats),
        side=Side.PRODUCTION,
        each=[Filter().inside(inside, cells), None],
        where=Filter.of(conds) or None,
        maxes=["x", "z"],
    )
    code = _cell_code(df, chosen, cards)
    space = math.prod(cards[k] for k in chosen)
    assert got[0].count.tolist() == np.bincount(code, minlength=space).tolist()
    for name in stats:
        want = df.groupby(code)[name].sum().reindex(range(space), fill_value=0.0)
        np.testing.assert_allclose(got[0].sums[name], want.to_numpy(), rtol=1e-12, atol=1e-12)
    for name in ("x", "z"):
        want = df.groupby(code)[name].max().reindex(range(space), fill_value=-np.inf)
        assert got[0].maxes[name].tolist() == want.to_numpy().tolist()
    # the second set has no per-set filter: only the conditions
    n_conds = int(table.count(Side.PRODUCTION, Filter.of(conds) or None))
    assert got[1].count.tolist() == [n_conds]


def test_cell_set_filter_keeps_its_cells_sorted_and_unique_and_conjoins():
    from tracing.engine import CellSet

    f = Filter.of([("a", 1)]).inside(["a", "b"], [5, 2, 5]).inside(["c"], [0])
    assert f.cell_sets == (CellSet(("a", "b"), (2, 5)), CellSet(("c",), (0,)))
    assert f.conditions == (Condition("a", 1),) and bool(f)
    assert Filter().also(f) == f and f.also(None) == f


def test_grouping_sets_needs_one_filter_per_set():
    table = MemoryTable.from_arrays(
        {Side.PRODUCTION: ({"g": np.array([0, 1])}, {"x": np.ones(2)})}, cards={"g": 2}
    )
    with pytest.raises(ValueError, match="one filter per key set"):
        table.grouping_sets([["g"], []], ["x"], side=Side.PRODUCTION, each=[None])


def test_with_derived_evaluates_expressions_once_like_numpy():
    from sqlglot import exp

    from tracing import rowexpr

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.integers(0, 2, 50) * 1.0
    table = MemoryTable.from_arrays(
        {Side.PRODUCTION: ({"g": rng.integers(0, 3, 50)}, {"x": x, "y": y})}, cards={"g": 3}
    )
    e = exp.Sub(this=exp.Mul(this=rowexpr.literal(0.3), expression=rowexpr.col("y")),
                expression=rowexpr.col("x"))  # fmt: skip
    derived = table.with_derived(
        Side.PRODUCTION,
        {
            "e": e,
            "pos": exp.Greatest(this=exp.Paren(this=e.copy()), expressions=[rowexpr.literal(0)]),
            "one": rowexpr.literal(1),
        },
    )
    assert derived.stat(Side.PRODUCTION, "e").tolist() == (0.3 * y - x).tolist()
    assert derived.stat(Side.PRODUCTION, "pos").tolist() == np.maximum(0.3 * y - x, 0).tolist()
    assert derived.stat(Side.PRODUCTION, "one").tolist() == [1.0] * 50
    assert "e" not in table.stat_names(Side.PRODUCTION)  # a new table; the old one unchanged
    got = derived.group_sums(["g"], ["pos"], side=Side.PRODUCTION, maxes=["e"])
    frame = pd.DataFrame({"g": table.key_codes(Side.PRODUCTION, "g"), "e": 0.3 * y - x})
    frame["pos"] = frame["e"].clip(lower=0)
    want = frame.groupby("g").agg(pos=("pos", "sum"), e=("e", "max")).reindex(range(3))
    np.testing.assert_allclose(got.sums["pos"], want["pos"].fillna(0.0), rtol=1e-12)
    np.testing.assert_allclose(got.maxes["e"], want["e"].fillna(-np.inf), rtol=0)
