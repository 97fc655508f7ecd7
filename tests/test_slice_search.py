"""The exact top-k search of `tracing._slice_search` against a brute-force enumeration.

Excess values are small integers (exact in float64), so every sum is exact whatever the order:
impacts tie exactly, and the searches must agree with the oracle on the tie-break too.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracing import _slice_search as search


def _scorer(x: np.ndarray, min_size: int) -> search.Scorer:
    """Impact of a cell: the largest over branches of its summed excess (rows of x)."""

    def score(rows, group, n_groups):
        sel = x if rows is None else x[:, rows]
        count = np.bincount(group, minlength=n_groups)
        sums = [np.bincount(group, weights=w, minlength=n_groups) for w in sel]
        impact = np.max(sums, axis=0)
        return count, np.where(count >= min_size, impact, -np.inf)

    return score


def _brute_force(codes, x, max_depth, min_size, floor):
    """Every ranked cell, as (-impact, -depth, combo, values), best first (`TopK`'s order)."""
    d, n = len(codes), x.shape[1]
    table = np.stack(codes, axis=1) if d else np.zeros((n, 0), dtype=int)

    def size(combo, values):
        if not combo:
            return n
        return int((table[:, list(combo)] == np.array(values)).all(axis=1).sum())

    out = []
    for depth in range(1, max_depth + 1):
        for combo in itertools.combinations(range(d), depth):
            for values in {tuple(int(v) for v in r) for r in table[:, list(combo)]}:
                inside = (table[:, list(combo)] == values).all(axis=1)
                count = int(inside.sum())
                if count < min_size:
                    continue
                parents = [
                    (combo[:i] + combo[i + 1 :], values[:i] + values[i + 1 :])
                    for i in range(depth)
                ]
                if any(size(c, v) == count for c, v in parents):
                    continue  # a condition that removes no row
                impact = float(x[:, inside].sum(axis=1).max())
                if impact > floor:
                    out.append((-impact, -depth, combo, values))
    return sorted(out)


@st.composite
def _problems(draw):
    d = draw(st.integers(1, 5))
    n = draw(st.integers(1, 160))
    cards = [draw(st.integers(1, 6)) for _ in range(d)]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # skewed bins so that some are rare (dead), some cover almost every row
    codes = []
    for c in cards:
        p = rng.dirichlet(np.full(c, draw(st.sampled_from([0.3, 1.0, 5.0]))))
        codes.append(
            rng.choice(c, size=n, p=p).astype(draw(st.sampled_from([np.uint8, np.int32])))
        )
    kind = draw(st.sampled_from(["binary", "integer", "two-sided", "two-branch"]))
    if kind == "binary":  # 0/1 losses: every excess that is not positive is the same
        err = rng.random(n) < draw(st.sampled_from([0.05, 0.3, 0.7]))
        x = np.where(err, 3.0, -1.0)[None, :]
    elif kind == "integer":
        x = rng.integers(-3, 4, n).astype(float)[None, :]
    elif kind == "two-sided":  # |sum| as the impact: a deviation either way
        v = rng.integers(-3, 4, n).astype(float)
        x = np.stack([v, -v])
    else:
        x = rng.integers(-3, 4, (2, n)).astype(float)
    return {
        "codes": codes,
        "cards": cards,
        "x": x,
        "max_depth": draw(st.integers(1, 3)),
        "min_size": draw(st.integers(1, 15)),
        "top": draw(st.integers(1, 12)),
        "floor": draw(st.sampled_from([0.0, 0.5, 2.0])),
    }


def _as_tuples(found):
    return [(-f.impact, -len(f.combo), f.combo, f.values) for f in found]


# module attributes that switch code paths: dense tables vs compacted (sorted) codes, listed
# combinations vs `_level_bounds`, chunked level bounds
_PATHS = {
    "default": {},
    "compacted": {"DENSE_LIMIT": 3},
    "level-bounds": {"_LIST_LIMIT": 0, "_CHUNK_CELLS": 5},
    "all": {"DENSE_LIMIT": 2, "_LIST_LIMIT": 0, "_CHUNK_CELLS": 1},
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=_problems(), path=st.sampled_from(sorted(_PATHS)))
def test_both_searches_equal_brute_force(problem, path):
    p = problem
    kw = {k: p[k] for k in ("max_depth", "top", "min_size", "floor")}
    expected = _brute_force(p["codes"], p["x"], p["max_depth"], p["min_size"], p["floor"])
    expected = expected[: p["top"]]
    scorer = _scorer(p["x"], p["min_size"])
    with ExitStack() as stack:
        for name, value in _PATHS[path].items():
            stack.enter_context(mock.patch.object(search, name, value))
        bnb, stats = search.branch_and_bound(p["codes"], p["cards"], scorer, p["x"], **kw)
        if p["x"].shape[0] == 1:  # exhaustive takes any scorer; one branch is enough here
            full, _ = search.exhaustive(p["codes"], p["cards"], scorer, **kw)
            assert _as_tuples(full) == expected
    assert _as_tuples(bnb) == expected
    assert stats.combos_scored <= stats.combos_total


@settings(max_examples=200, deadline=None)
@given(
    x=st.lists(st.integers(-4, 4), min_size=1, max_size=9),
    min_size=st.integers(1, 9),
    two_valued=st.booleans(),
)
def test_cell_bounds_hold_for_every_subset(x, min_size, two_valued):
    """`own_bound` >= the cell's impact; `child_bound` >= any subset of min_size rows."""
    v = np.array(x, dtype=float)
    if two_valued:
        v = np.where(v > 0, 2.0, -1.0)
    excess = v[None, :]
    codes = [np.zeros(len(v), np.int8)]
    counter = search._Counter(codes, [1], excess, min_size, search._RowIndex(codes, [1]))
    total, npos = counter._sums(np.zeros(int((v > 0).sum()), np.intp), None, 1)
    own = counter.own_bound(np.array([len(v)]), total, npos)[0]
    assert own >= v.sum()
    if two_valued:  # every excess that is not positive is the same: the bound is exact
        assert own == v.sum()
    child = counter.child_bound(total, npos)[0]
    subsets = [
        v[list(s)].sum()
        for k in range(min_size, len(v) + 1)
        for s in itertools.combinations(range(len(v)), k)
    ]
    if subsets:
        assert child >= max(subsets)
        if two_valued and (v > 0).sum() >= min_size:
            assert child == max(subsets)  # the best subset keeps exactly the positive rows


@given(
    cards=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_inverts_the_mixed_radix_code(cards, seed):
    rng = np.random.default_rng(seed)
    combo = tuple(range(len(cards)))
    space = int(np.prod(cards))
    code = rng.integers(0, space, 20).astype(np.int64)
    values = search._split(combo, cards, code)
    for i, c in enumerate(code):
        assert tuple(int(v[i]) for v in values) == search.decode(combo, cards, int(c))


@given(
    keys=st.sets(st.integers(0, 40), max_size=12),
    code=st.lists(st.integers(0, 40), max_size=30),
)
def test_lookup_by_table_and_by_search_agree(keys, code):
    k = np.array(sorted(keys), dtype=np.int64)
    c = np.array(code, dtype=np.int64)
    expected = [sorted(keys).index(v) if v in keys else -1 for v in code]
    assert search._lookup(k, 41, c).tolist() == expected  # a dense table
    assert search._lookup(k, -1, c).tolist() == expected  # a sorted search


def test_children_are_counted_from_the_parent_with_the_fewest_live_rows():
    """The level plan: a child goes to its smallest live parent; a dead parent drops it."""
    rng = np.random.default_rng(3)
    n = 2000
    codes = [
        rng.integers(0, 2, n).astype(np.int8),  # two big bins
        rng.choice(8, n, p=[0.9] + [0.1 / 7] * 7).astype(np.int8),  # one big bin, rare others
        rng.choice(4, n, p=[0.4, 0.4, 0.19, 0.01]).astype(np.int8),  # one rare bin
    ]
    x = np.where(rng.random(n) < 0.2, 4.0, -1.0)[None, :]
    counter = search._Counter(codes, [2, 8, 4], x, 50, search._RowIndex(codes, [2, 8, 4]))
    rows = {c: counter.live_rows(c, 0.0) for c in [(0,), (1,), (2,)]}
    assert rows[(1,)] < rows[(2,)] < rows[(0,)] == n
    plan = counter.plan([(0, 1), (0, 2), (1, 2)], 0.0)
    assert plan == {(1,): [0, 2], (2,): [0]}
    # a threshold no cell can reach leaves nothing to count
    assert counter.plan([(0, 1), (0, 2), (1, 2)], 1e9) == {}


@pytest.mark.parametrize("path", sorted(_PATHS))
def test_no_planted_slice_counts_every_level_and_stays_exact(path):
    """Errors at random (nothing prunes): the level counts give the brute force's top-k."""
    rng = np.random.default_rng(5)
    n = 3000
    cards = [3, 4, 5, 6, 7, 8]
    codes = [rng.choice(c, n, p=np.arange(c, 0, -1) / (c * (c + 1) / 2)) for c in cards]
    x = np.where(rng.random(n) < 0.1, 9.0, -1.0)[None, :]
    kw = {"max_depth": 3, "top": 10, "min_size": 20, "floor": 0.0}
    with ExitStack() as stack:
        for name, value in _PATHS[path].items():
            stack.enter_context(mock.patch.object(search, name, value))
        bnb, stats = search.branch_and_bound(codes, cards, _scorer(x, 20), x, **kw)
    expected = _brute_force(codes, x, 3, 20, 0.0)[:10]
    assert _as_tuples(bnb) == expected
    assert stats.combos_counted > 0 and stats.rows_counted > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=_problems(), level=st.integers(2, 3), cut=st.floats(0.0, 1.0))
def test_level_bounds_never_drop_a_combination_that_may_qualify(problem, level, cut):
    """Every cell (of min_size rows) reaching the threshold, in a combination or a superset of
    it, keeps that combination in `_level_bounds` with a bound at least its impact.

    Only positive impacts count: a ranked slice's impact exceeds the floor (never negative).
    """
    p = problem
    codes, cards, x, min_size = p["codes"], p["cards"], p["x"], p["min_size"]
    d = len(codes)
    if d < level:
        return
    table = np.stack(codes, axis=1)
    impacts = {}  # (combo, values) -> impact, cells of min_size rows
    for depth in range(level, min(d, level + 1) + 1):
        for combo in itertools.combinations(range(d), depth):
            for values in {tuple(int(v) for v in r) for r in table[:, list(combo)]}:
                inside = (table[:, list(combo)] == values).all(axis=1)
                if inside.sum() >= min_size:
                    impacts[combo, values] = float(x[:, inside].sum(axis=1).max())
    if not impacts:
        return
    ranked = sorted(impacts.values())
    threshold = ranked[int(cut * (len(ranked) - 1))]
    counter = search._Counter(codes, cards, x, min_size, search._RowIndex(codes, cards))
    alive = [np.bincount(c, minlength=k) >= min_size for c, k in zip(codes, cards, strict=True)]
    slack = (min_size, counter.neg_max[:, 0])
    best = search._level_bounds(
        counter.pos_codes, cards, counter.weights, level, threshold, alive, slack
    )
    for (combo, _values), impact in impacts.items():
        if impact < threshold or impact <= 0:
            continue
        for sub in itertools.combinations(combo, level):
            assert sub in best and best[sub] >= impact - 1e-9
