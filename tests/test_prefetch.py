"""`PrefetchedTable` answers exactly what its table answers, from one grouping-sets call."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracing.engine import Filter, GroupSums, MemoryTable, Side
from tracing.prefetch import MemoTable, PrefetchedTable


class _Counting:
    """A table that counts the grouping calls reaching it."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.table, name)

    def grouping_sets(self, *args, **kw):
        self.calls += 1
        return self.table.grouping_sets(*args, **kw)

    def group_sums(self, *args, **kw):
        self.calls += 1
        return self.table.group_sums(*args, **kw)


def _table(seed: int, n: int = 300) -> MemoryTable:
    rng = np.random.default_rng(seed)
    keys = {"a": rng.integers(0, 3, n), "b": rng.integers(0, 4, n), "c": rng.integers(0, 2, n)}
    stats = {"x": rng.normal(size=n), "y": rng.random(n)}
    return MemoryTable.from_arrays(
        {Side.PRODUCTION: (keys, stats), Side.BASELINE: (keys, stats)},
        cards={"a": 3, "b": 4, "c": 2},
    )


def _same(got: GroupSums, want: GroupSums) -> None:
    assert got.keys == want.keys and got.cards == want.cards
    np.testing.assert_array_equal(got.codes(), want.codes())
    np.testing.assert_array_equal(got.count, want.count)
    assert got.sums.keys() == want.sums.keys()
    for name in want.sums:
        np.testing.assert_allclose(got.sums[name], want.sums[name], rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    outer=st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 2)), max_size=1),
    cell=st.integers(0, 3),
)
def test_prefetched_sums_equal_the_tables_own(seed, outer, cell):
    table = _table(seed)
    where = Filter.of(outer) if outer else None
    free = [k for k in "abc" if k not in {k for k, _ in outer}]
    groupings = [((), where), *(((k,), where) for k in free)]
    counting = _Counting(table)
    pre = PrefetchedTable(counting, Side.PRODUCTION, groupings, ["x", "y"])
    assert counting.calls == 1
    for keys, w in groupings:
        _same(
            pre.group_sums(keys, ["y"], side=Side.PRODUCTION, where=w),
            table.group_sums(keys, ["y"], side=Side.PRODUCTION, where=w),
        )
    for k in free:  # one cell of a grouping, asked as a filter (a child's moments)
        code = min(cell, table.cardinality(k) - 1)
        child = (where or Filter()).also(Filter.of([(k, code)]))
        _same(
            pre.group_sums((), ["x", "y"], side=Side.PRODUCTION, where=child),
            table.group_sums((), ["x", "y"], side=Side.PRODUCTION, where=child),
        )
        assert pre.count(Side.PRODUCTION, child) == table.count(Side.PRODUCTION, child)
    assert counting.calls == 1  # every answer above came from the one call


def test_other_questions_reach_the_table():
    table = _table(1)
    counting = _Counting(table)
    pre = PrefetchedTable(counting, Side.PRODUCTION, [(("a",), None)], ["x"])
    asks = [
        ((("b",), ["x"]), {"side": Side.PRODUCTION}),  # another grouping
        ((("a",), ["y"]), {"side": Side.PRODUCTION}),  # another statistic
        ((("a",), ["x"]), {"side": Side.BASELINE}),  # the other side
        ((("a",), ["x"]), {"side": Side.PRODUCTION, "maxes": ["x"]}),  # maxima
        (((), ["x"]), {"side": Side.PRODUCTION, "where": Filter.of([("a", 1), ("b", 0)])}),
    ]
    for (keys, stats), kw in asks:
        before = counting.calls
        _same(pre.group_sums(keys, stats, **kw), table.group_sums(keys, stats, **kw))
        assert counting.calls == before + 1
    assert pre.cardinality("b") == 4  # everything else is the table's


def test_an_empty_cell_has_no_rows():
    table = _table(2, n=5)
    pre = PrefetchedTable(table, Side.PRODUCTION, [(("a", "b"), None)], ["x"])
    sums = table.group_sums(("a", "b"), ["x"], side=Side.PRODUCTION)
    empty = next(i for i in range(12) if i not in set(sums.codes()[sums.count > 0].tolist()))
    got = pre.group_sums(
        (), ["x"], side=Side.PRODUCTION, where=Filter.of([("a", empty // 4), ("b", empty % 4)])
    )
    assert int(got.count[0]) == 0 and got.sums["x"][0] == pytest.approx(0.0)


# --- MemoTable: each filter's whole sums asked once ---------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rules=st.lists(
        st.lists(
            st.tuples(st.sampled_from("abc"), st.integers(0, 2)),
            max_size=2,
            unique_by=lambda t: t[0],
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_remembered_sums_equal_the_tables_own_and_are_asked_once(seed, rules):
    table = _table(seed)
    counting = _Counting(table)
    memo = MemoTable(counting, Side.PRODUCTION)
    wheres = [Filter.of(r) if r else None for r in rules]
    for where in [*wheres, *wheres]:  # every question twice
        for stats in (["y", "x"], ["x"], []):  # the first has the others' statistics
            _same(
                memo.group_sums((), stats, side=Side.PRODUCTION, where=where),
                table.group_sums((), stats, side=Side.PRODUCTION, where=where),
            )
        assert memo.count(Side.PRODUCTION, where) == table.count(Side.PRODUCTION, where)
    assert counting.calls == len(set(wheres))


def test_a_question_is_asked_with_its_own_statistics_only():
    table = _table(4)
    asked = []

    class Spy(_Counting):
        def group_sums(self, keys, stats, **kw):
            asked.append(list(stats))
            return super().group_sums(keys, stats, **kw)

    memo = MemoTable(Spy(table), Side.PRODUCTION)
    where = Filter.of([("a", 1)])
    memo.count(Side.PRODUCTION, where)
    memo.group_sums((), ["x"], side=Side.PRODUCTION, where=where)
    memo.group_sums((), ["y"], side=Side.PRODUCTION, where=where)
    memo.group_sums((), ["x"], side=Side.PRODUCTION, where=where)
    assert asked == [[], ["x"], ["y"]]


def test_other_questions_go_to_the_table_each_time():
    table = _table(3)
    counting = _Counting(table)
    memo = MemoTable(counting, Side.PRODUCTION)
    where = Filter.of([("a", 1)])
    asked = [
        (("b",), ["x"], Side.PRODUCTION, ()),  # keys
        ((), ["x"], Side.BASELINE, ()),  # the other side
        ((), ["x"], Side.PRODUCTION, ("y",)),  # maxima
    ]
    for keys, stats, side, maxes in asked:
        for _ in range(2):
            _same(
                memo.group_sums(keys, stats, side=side, where=where, maxes=maxes),
                table.group_sums(keys, stats, side=side, where=where, maxes=maxes),
            )
    assert counting.calls == 2 * len(asked)
