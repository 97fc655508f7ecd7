"""Many group sums from one engine query: a drilldown is one grouping-sets scan per side.

Opening a slice asks its table for the slice's own sums, every feature's cells inside it (the
children and the breakdown) and, for delta-method p-values, each child's statistics one by
one. On a SQL engine each question is a scan of every row. `PrefetchedTable` asks them all
at once with `tracing.engine.CodedTable.grouping_sets` (per-set filters: the scan reads only
the slice's rows) and then answers

- ``group_sums(keys, where)`` for a prefetched grouping, with any subset of its statistics;
- ``group_sums((), where & (k1 = c1) & ...)`` (one cell of a prefetched grouping of
  ``(k1, ...)`` within ``where``) from that grouping's cell;

and hands every other question to the table it wraps. The numbers are the wrapped table's own
sums, so answers are identical to asking one by one (tests/test_prefetch.py).

`MemoTable` is the lazy counterpart for questions not known ahead: the sums of one filter's
rows (no keys), kept once asked. The listing of `find_slices` asks a slice's sums several
times (its record, its p-value's moments, each "earns its place" comparison), each a scan
on a SQL engine and a job on Spark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracing.engine import CodedTable, Filter, GroupSums, Side

__all__ = ["MemoTable", "PrefetchedTable"]

Grouping = tuple[tuple[str, ...], Filter | None]


class _Answering:
    """A `CodedTable` that answers some whole-side questions itself (`_answer`).

    Everything else (bins, cardinality, other questions) is the wrapped table's.
    """

    def __init__(self, table: CodedTable, side: Side) -> None:
        self._table = table
        self._side = side

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def _answer(
        self, keys: tuple[str, ...], stats: Sequence[str], where: Filter | None
    ) -> GroupSums | None:
        raise NotImplementedError

    def group_sums(
        self,
        keys: Sequence[str],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        maxes: Sequence[str] = (),
    ) -> GroupSums:
        """Return this table's own answer, else ask the wrapped table."""
        found = None
        if side is self._side and not maxes:
            found = self._answer(tuple(keys), stats, where or None)
        if found is not None:
            return found
        return self._table.group_sums(keys, stats, side=side, where=where, maxes=maxes)

    def count(self, side: Side, where: Filter | None = None) -> int:
        """Rows of one side (meeting ``where``)."""
        return int(self.group_sums((), (), side=side, where=where).count[0])


class PrefetchedTable(_Answering):
    """A `CodedTable` with some groupings of one side counted ahead in one query.

    Parameters
    ----------
    table : CodedTable
        The table asked (its keys and statistics already defined).
    side : Side
        The side the groupings are of.
    groupings : sequence of (keys, filter)
        What to count ahead: each key tuple within its filter (None: every row).
    stats : sequence of str
        The statistics summed for every grouping.
    """

    def __init__(
        self,
        table: CodedTable,
        side: Side,
        groupings: Sequence[Grouping],
        stats: Sequence[str],
    ) -> None:
        super().__init__(table, side)
        self._stats = frozenset(stats)
        unique = list(dict.fromkeys((tuple(k), w or None) for k, w in groupings))
        found = table.grouping_sets(
            [list(k) for k, _ in unique], list(stats), side=side, each=[w for _, w in unique]
        )
        self._sums: dict[Grouping, GroupSums] = dict(zip(unique, found, strict=True))

    def _answer(
        self, keys: tuple[str, ...], stats: Sequence[str], where: Filter | None
    ) -> GroupSums | None:
        """Return a prefetched grouping, or one of its cells (None: not prefetched)."""
        return self._lookup(keys, where, stats) if set(stats) <= self._stats else None

    def _lookup(
        self, keys: tuple[str, ...], where: Filter | None, stats: Sequence[str]
    ) -> GroupSums | None:
        exact = self._sums.get((keys, where))
        if exact is not None:
            return _only(exact, stats)
        if keys or where is None:
            return None
        for (pk, pw), sums in self._sums.items():
            cell = _cell_of(where, pk, pw, sums)
            if cell is not None:
                return _one_cell(sums, cell, stats)
        return None


class MemoTable(_Answering):
    """A `CodedTable` that remembers each filter's whole sums (no keys) of one side.

    A question is answered from a remembered answer of the same filter that has its
    statistics (a count from any of them), else asked of the wrapped table as it is (no more
    statistics than asked: each costs the engine a sum over the filter's rows) and kept.

    Parameters
    ----------
    table : CodedTable
        The table asked.
    side : Side
        The side remembered.
    """

    def __init__(self, table: CodedTable, side: Side) -> None:
        super().__init__(table, side)
        self._known: dict[Filter | None, list[GroupSums]] = {}

    def _answer(
        self, keys: tuple[str, ...], stats: Sequence[str], where: Filter | None
    ) -> GroupSums | None:
        if keys:
            return None
        known = self._known.setdefault(where, [])
        for sums in known:
            if set(stats) <= sums.sums.keys():
                return _only(sums, stats)
        found = self._table.group_sums((), list(stats), side=self._side, where=where)
        known.append(found)
        return found


def _cell_of(
    where: Filter, keys: tuple[str, ...], outer: Filter | None, sums: GroupSums
) -> int | None:
    """Return the cell code of ``keys`` that ``where`` is (``outer`` and one code per key)."""
    base = outer or Filter()
    n = len(base.conditions)
    if not keys or where.cell_sets != base.cell_sets or where.conditions[:n] != base.conditions:
        return None
    rest = where.conditions[n:]
    if tuple(c.key for c in rest) != keys:
        return None
    code = 0
    for condition, card in zip(rest, sums.cards, strict=True):
        if not 0 <= condition.code < card:
            return None
        code = code * card + condition.code
    return code


def _only(sums: GroupSums, stats: Sequence[str]) -> GroupSums:
    return GroupSums(
        sums.keys, sums.cards, sums.cells, sums.count, {s: sums.sums[s] for s in stats}
    )


def _one_cell(sums: GroupSums, cell: int, stats: Sequence[str]) -> GroupSums:
    """Return one cell of a grouping as the sums of a grouping by no key."""
    if sums.cells is None:
        at: int | None = cell if cell < math.prod(sums.cards) else None
    else:
        i = int(np.searchsorted(sums.cells, cell))
        at = i if i < len(sums.cells) and sums.cells[i] == cell else None
    if at is None:  # an empty cell: no rows
        count = np.zeros(1, dtype=np.int64)
        values = {s: np.zeros(1) for s in stats}
    else:
        count = sums.count[at : at + 1].copy()
        values = {s: sums.sums[s][at : at + 1].copy() for s in stats}
    return GroupSums((), (), None, count, values)
