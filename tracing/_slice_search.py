"""Exact top-k search for the slices with the largest impact, on integer-coded features.

This module owns the search only; `tracing.slices` owns the definitions (metric, impact,
baseline) and turns what is found here into tables. It sees nothing but

- ``codes``: one integer array per feature (bin codes ``0..cards[j]-1``), all of the same length
  (the search rows: production rows with an actual and a prediction);
- a **scorer** ``(rows, group, n_groups) -> (count, impact)`` that measures every cell of one
  feature combination: ``rows`` are the selected search rows (``None`` = all of them, in order),
  ``group`` the cell of each selected row. It returns the row count and the impact of every
  cell, ``-inf`` for cells that must not be ranked (too small, metric undefined). A cell's
  numbers are only used when every row of that cell was selected.

A cell whose rows are exactly the rows of one of its parents (the cell without one of its
conditions) is never ranked: that condition removes no row, so it adds nothing, and the parent
(or its own smallest such ancestor) has the same rows and impact. `TopK` checks this only for
the cells about to enter the top-k, counting a parent's rows from the row index of its rarest
condition.

A cell of the combination ``(j1, j2, ...)`` (features in increasing order) is identified by its
mixed-radix code ``((v1 * cards[j2]) + v2) * cards[j3] + ...``. Code spaces above
`DENSE_LIMIT` cells are compacted with `numpy.unique`, so depth 4 and high-cardinality features
work without dense arrays of billions of cells.

Two searches return the same top-k (tested against each other and against brute force):

- `exhaustive`: every combination up to ``max_depth``, depth first so a child's code is its
  parent's code times a cardinality plus a column; rows of cells below ``min_size`` are dropped
  before going deeper (their children are smaller still). Works for any scorer.
- `branch_and_bound`: for impacts that are a maximum of row sums, ``impact(S) = max_b sum_{i in
  S} x[b, i]`` (every ratio metric: see `tracing.slices`). A child slice keeps a subset of its
  parent's rows, so with ``P_b`` the positive excess of a cell and ``p_b`` its rows with a
  positive excess, a descendant of at least ``min_size`` rows has an impact of at most
  ``max_b P_b + max(min_size - p_b, 0) * m_b``, where ``m_b <= 0`` is the largest excess that
  is not positive (the other rows it must keep cost at least that much each). A cell of ``n``
  rows has an impact of at most ``max_b P_b + (n - p_b) * m_b``, which is exact for 0/1 losses.
  Both need only counts: the search counts each level (combinations of ``L`` features) on the
  rows of a parent's live cells (the cells whose bound reaches the k-th best impact, with at
  least ``min_size`` rows), from the parent with the fewest such rows. A child's cell number is
  its parent cell's number times the new feature's cardinality plus its bin, computed on the
  parent's rows only (one ``bincount`` per combination, plus a few over the positive-excess
  rows, which first rule out a combination whose every cell falls short); the rows of a parent
  come from its prefix's, kept along the path of prefixes. Only the cells whose bound reaches
  the k-th best are handed to the scorer. So when nothing prunes (errors at random) the search
  costs about one pass per combination over the rows that matter, and when a strong slice
  raises the k-th best early almost nothing is counted. On wide files (thousands of features)
  the combinations of a level are first bounded on the positive-excess rows alone
  (`_level_bounds`: for each prefix, the cells of all the next features at once, one
  ``bincount``), so 10,000 columns cost seconds, not a Python loop over pairs. Nothing that
  could enter the top-k is skipped, so the result is exact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DENSE_LIMIT",
    "Found",
    "Parents",
    "Scorer",
    "SearchStats",
    "TopK",
    "branch_and_bound",
    "combined_code",
    "exhaustive",
    "group_cells",
]

logger = logging.getLogger(__name__)

IntArray = NDArray[np.intp]
FloatArray = NDArray[np.float64]
Scorer = Callable[[IntArray | None, IntArray, int], tuple[IntArray, FloatArray]]
# (min_size, per-branch largest excess that is not positive): see `_Counter.child_bound`
_Slack = tuple[int, FloatArray]

# Above this many cells a combination's codes are compacted with np.unique (sort-based) instead
# of indexing dense arrays: 4M cells of float64 is 32 MB per bincount.
DENSE_LIMIT = 1 << 22
# Use a feature's row index to gather the rows of candidate cells when they are at most this
# share of all rows; beyond it, one pass over every row is cheaper than gathering.
_GATHER_SHARE = 0.25
# Above this many (parent, feature) pairs a level's combinations are not listed one by one but
# found by `_level_bounds` (wide files: thousands of features).
_LIST_LIMIT = 20_000
# Cells (rows x features) bounded in one go by `_level_bounds`: 1M int64 is 8 MB per array.
_CHUNK_CELLS = 1 << 20


@dataclass(frozen=True)
class Found:
    """One ranked slice: its impact, features (indices, increasing) and bin codes."""

    impact: float
    combo: tuple[int, ...]
    values: tuple[int, ...]


@dataclass
class SearchStats:
    """What a search did, for logs and the benchmark."""

    method: str
    combos_total: int = 0
    combos_scored: int = 0
    rows_scored: int = 0
    combos_counted: int = 0
    rows_counted: int = 0


class TopK:
    """The k best slices so far, in final order: impact desc, then deeper first, then codes.

    Only impacts above ``floor`` qualify, and only cells that ``redundant`` (when given) does
    not reject. Ties with the k-th best are kept until the tie-break decides, so the result
    does not depend on the visiting order.
    """

    def __init__(
        self,
        k: int,
        cards: Sequence[int],
        floor: float,
        redundant: Callable[[tuple[int, ...], tuple[int, ...], int], bool] | None = None,
    ) -> None:
        self.k = k
        self.cards = [int(c) for c in cards]
        self.floor = floor
        self.redundant = redundant
        self._items: list[tuple[float, int, tuple[int, ...], tuple[int, ...]]] = []

    @property
    def threshold(self) -> float:
        """Impact a slice needs to enter (the k-th best, or the floor while not full)."""
        if len(self._items) < self.k:
            return self.floor
        return -self._items[-1][0]

    def offer(
        self,
        combo: tuple[int, ...],
        impact: FloatArray,
        keys: IntArray | None,
        count: IntArray | None = None,
    ) -> None:
        """Offer every cell of one combination (``keys``: cell codes when compacted).

        ``count`` (rows per cell) is needed when a ``redundant`` check was given.
        """
        sel = np.flatnonzero((impact > self.floor) & (impact >= self.threshold))
        if sel.size == 0:
            return
        sel = sel[np.argsort(-impact[sel], kind="stable")]
        taken, last = 0, np.inf
        for cell in sel:
            if taken >= self.k and impact[cell] < last:
                break  # k taken from this combination, and no tie with the last one
            values = decode(combo, self.cards, int(cell if keys is None else keys[cell]))
            if self.redundant is not None:
                assert count is not None
                if self.redundant(combo, values, int(count[cell])):
                    continue
            self._items.append((-float(impact[cell]), -len(combo), combo, values))
            taken, last = taken + 1, impact[cell]
        self._items.sort()
        del self._items[self.k :]

    def result(self) -> list[Found]:
        """Return the ranked slices, best first."""
        return [Found(-imp, combo, values) for imp, _, combo, values in self._items]


def decode(combo: Sequence[int], cards: Sequence[int], code: int) -> tuple[int, ...]:
    """Split a mixed-radix cell code into one bin code per feature of ``combo``."""
    values = []
    for j in reversed(combo):
        values.append(code % cards[j])
        code //= cards[j]
    return tuple(reversed(values))


def combined_code(
    cols: Sequence[NDArray], combo: Sequence[int], cards: Sequence[int], rows: IntArray | None
) -> tuple[NDArray[np.int64], int]:
    """Mixed-radix cell code of each (selected) row for a feature combination, and its space."""
    code: NDArray[np.int64] | None = None
    space = 1
    for j in combo:
        col = cols[j] if rows is None else cols[j][rows]
        code = col.astype(np.int64) if code is None else code * cards[j] + col
        space *= int(cards[j])
    assert code is not None
    return code, space


def group_cells(code: NDArray[np.int64], space: int) -> tuple[IntArray, int, IntArray | None]:
    """Cell ids ``0..n_groups-1`` for codes: the codes themselves, or compacted ones.

    Returns ``(group, n_groups, keys)`` where ``keys`` (None when dense) maps a compacted id back
    to its code.
    """
    if space <= DENSE_LIMIT:
        return code.astype(np.intp, copy=False), space, None
    keys, inverse = np.unique(code, return_inverse=True)
    return inverse.astype(np.intp, copy=False), len(keys), keys.astype(np.intp)


def _n_combos(d: int, max_depth: int) -> int:
    from math import comb

    return sum(comb(d, k) for k in range(1, max_depth + 1))


def exhaustive(
    codes: Sequence[NDArray],
    cards: Sequence[int],
    scorer: Scorer,
    *,
    max_depth: int,
    top: int,
    min_size: int,
    floor: float,
) -> tuple[list[Found], SearchStats]:
    """Score every combination of up to ``max_depth`` features; keep the ``top`` best cells."""
    d = len(codes)
    topk = TopK(top, cards, floor, Parents(codes, cards).redundant)
    stats = SearchStats("exhaustive", combos_total=_n_combos(d, max_depth))

    def visit(
        combo: tuple[int, ...], rows: IntArray | None, code: NDArray[np.int64], space: int
    ) -> None:
        group, n_groups, keys = group_cells(code, space)
        count, impact = scorer(rows, group, n_groups)
        stats.combos_scored += 1
        stats.rows_scored += len(code)
        topk.offer(combo, impact, keys, count)
        if len(combo) == max_depth or combo[-1] == d - 1:
            return
        big = count[group] >= min_size
        if not big.all():
            rows = np.flatnonzero(big) if rows is None else rows[big]
            code = code[big]
            if len(code) == 0:
                return
        for j in range(combo[-1] + 1, d):
            col = codes[j] if rows is None else codes[j][rows]
            visit((*combo, j), rows, code * cards[j] + col, space * int(cards[j]))

    for j in range(d):
        code, space = combined_code(codes, (j,), cards, None)
        visit((j,), None, code, space)
    return topk.result(), stats


def _bound(
    group: IntArray, n_groups: int, weights: FloatArray, slack: _Slack | None = None
) -> FloatArray:
    """Per cell: max over branches of the summed positive excess (``weights``: branches x rows).

    With ``slack = (min_size, neg_max)``, less what the other rows of a slice of ``min_size``
    rows cost at least (see `_Counter.child_bound`); ``group`` holds positive-excess rows only.
    """
    out: FloatArray | None = None
    for b, w in enumerate(weights):
        total = np.bincount(group, weights=w, minlength=n_groups).astype(float, copy=False)
        if slack is not None and slack[1][b] < 0:
            ones = None if len(weights) == 1 else (w > 0) * 1.0  # one branch: every row counts
            npos = np.bincount(group, weights=ones, minlength=n_groups)
            total = total + np.maximum(slack[0] - npos, 0.0) * slack[1][b]
        out = total if out is None else np.maximum(out, total)
    assert out is not None
    return out


class _RowIndex:
    """Rows of each bin of a feature (built lazily), to gather candidate cells' rows fast."""

    def __init__(self, codes: Sequence[NDArray], cards: Sequence[int]) -> None:
        self.codes = codes
        self.cards = cards
        self._counts: dict[int, IntArray] = {}
        self._order: dict[int, tuple[NDArray[Any], IntArray]] = {}

    def counts(self, j: int) -> IntArray:
        if j not in self._counts:
            self._counts[j] = np.bincount(self.codes[j], minlength=self.cards[j])
        return self._counts[j]

    def rows(self, j: int, values: IntArray) -> NDArray[Any]:
        if j not in self._order:
            col = self.codes[j]
            # numpy's stable sort is a radix sort for 8- and 16-bit integers
            card = self.cards[j]
            small = col.astype(np.uint8 if card <= 256 else np.uint16) if card <= 1 << 16 else col
            order = np.argsort(small, kind="stable")
            if len(col) < 2**31:  # half the memory of intp
                order = order.astype(np.int32)
            starts = np.zeros(self.cards[j] + 1, dtype=np.intp)
            np.cumsum(self.counts(j), out=starts[1:])
            self._order[j] = (order, starts)
        order, starts = self._order[j]
        parts = [order[starts[v] : starts[v + 1]] for v in values]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.intp)


class Parents:
    """Row counts of cells' parents, to reject cells with a condition that removes no row."""

    def __init__(
        self, codes: Sequence[NDArray], cards: Sequence[int], index: _RowIndex | None = None
    ) -> None:
        self.codes = codes
        self.n = len(codes[0]) if codes else 0
        self.index = _RowIndex(codes, cards) if index is None else index
        self._cache: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}

    def count(self, combo: tuple[int, ...], values: tuple[int, ...]) -> int:
        """Rows of one cell (no combination: every row)."""
        if not combo:
            return self.n
        if len(combo) == 1:
            return int(self.index.counts(combo[0])[values[0]])
        key = (combo, values)
        if key not in self._cache:
            sizes = [self.index.counts(j)[v] for j, v in zip(combo, values, strict=True)]
            rarest = int(np.argmin(sizes))
            rows = self.index.rows(combo[rarest], np.array([values[rarest]]))
            keep = np.ones(len(rows), dtype=bool)
            for i, (j, v) in enumerate(zip(combo, values, strict=True)):
                if i != rarest:
                    keep &= self.codes[j][rows] == v
            self._cache[key] = int(keep.sum())
        return self._cache[key]

    def redundant(self, combo: tuple[int, ...], values: tuple[int, ...], count: int) -> bool:
        """Whether some condition of the cell removes no row (a parent has ``count`` rows).

        A parent holds every row of its child, so equal counts mean equal rows.
        """
        return any(
            self.count(combo[:i] + combo[i + 1 :], values[:i] + values[i + 1 :]) == count
            for i in range(len(combo))
        )


def branch_and_bound(
    codes: Sequence[NDArray],
    cards: Sequence[int],
    scorer: Scorer,
    excess: FloatArray,
    *,
    max_depth: int,
    top: int,
    min_size: int,
    floor: float,
) -> tuple[list[Found], SearchStats]:
    """Exact top-k for impacts of the form ``max_b sum_{i in S} excess[b, i]``.

    Parameters
    ----------
    codes, cards : per-feature bin codes and cardinalities.
    scorer : measures cells exactly (see the module docstring).
    excess : array of shape (branches, rows)
        Per-row excess; the scorer's impact must equal ``max_b`` of its sums over a cell
        (up to rounding).
    max_depth, top, min_size, floor : search limits; impacts must exceed ``floor``.
    """
    d, n = len(codes), len(codes[0]) if codes else 0
    index = _RowIndex(codes, cards)
    topk = TopK(top, cards, floor, Parents(codes, cards, index).redundant)
    stats = SearchStats("branch_and_bound", combos_total=_n_combos(d, max_depth))
    counter = _Counter(codes, cards, excess, min_size, index)
    for j in range(d):
        count, impact = scorer(None, codes[j].astype(np.intp), int(cards[j]))
        topk.offer((j,), impact, None, count)
        stats.combos_scored += 1
        stats.rows_scored += n
    # bins with fewer than min_size rows: no cell with one of them is ever ranked
    alive = [index.counts(j) >= min_size for j in range(d)]
    for level in range(2, max_depth + 1):
        threshold = topk.threshold - counter.eps
        combos = counter.combos(level, threshold)
        best: dict[tuple[int, ...], float] = {}
        if combos is None:  # too many to list: bound them on the positive-excess rows first
            slack = (min_size, counter.neg_max[:, 0])
            best = _level_bounds(
                counter.pos_codes, cards, counter.weights, level, threshold, alive, slack
            )
            combos = list(best)
        plan = counter.plan(combos, threshold)
        # parents in path order; with bounds, the most promising first (the k-th best rises
        # sooner, and a combination whose bound falls below it is skipped)
        order = sorted(plan, key=lambda p: -max(best.get(_with(p, k), 0.0) for k in plan[p]))
        for parent in order if best else sorted(plan):
            counter.count_children(
                parent, plan[parent], topk, scorer, stats, level < max_depth, best
            )
    logger.debug("branch and bound: %s", stats)
    return topk.result(), stats


@dataclass(frozen=True)
class _Alive:
    """The cells of one counted combination that may still hold a ranked slice or descendant.

    ``keys`` are their cell codes (increasing); ``bound`` the largest impact that a slice of at
    least ``min_size`` of a cell's rows can have (`_Counter.child_bound`).
    """

    keys: NDArray[np.int64]
    count: IntArray
    bound: FloatArray


@dataclass(frozen=True)
class _Rows:
    """The search rows in the alive cells of one combination, with the cell of each row.

    ``local`` numbers the cells ``0..len(keys)-1`` (``keys``: their codes, increasing); the
    ``pos*`` arrays are the same for the positive-excess rows (``pos``: indices into those).
    """

    rows: IntArray
    local: IntArray
    pos: IntArray
    pos_local: IntArray
    keys: NDArray[np.int64]


class _Counter:
    """Counts a level's combinations on the rows of a parent's alive cells (branch and bound).

    A child cell lies in one cell of each of its parents (the combination without one of its
    features), so only the rows of a parent's cells that can still hold a ranked descendant
    (`_Alive`) are counted, with the child's code computed from the parent's: the parent's
    cell number times the new feature's cardinality plus its code. Each child is counted from
    the parent with the fewest such rows, with one ``bincount`` for its rows and a few over its
    positive-excess rows; the rows of a parent come from its prefix's (kept along the path of
    prefixes, parents visited in order). Only the cells whose impact can reach the k-th best
    (`own_bound`) are handed to the scorer.
    """

    def __init__(
        self,
        codes: Sequence[NDArray],
        cards: Sequence[int],
        excess: FloatArray,
        min_size: int,
        index: _RowIndex,
    ) -> None:
        self.codes = codes
        self.cards = [int(c) for c in cards]
        self.min_size = min_size
        positive = np.maximum(excess, 0.0)
        pos_rows = np.flatnonzero(positive.max(axis=0, initial=0.0) > 0)
        self.weights: FloatArray = positive[:, pos_rows]
        self.pos_codes = [c[pos_rows] for c in codes]
        # every excess that is not positive is at most this (per branch): a cell's other rows
        # lower its impact by at least this much each
        nonpos = np.where(excess <= 0, excess, -np.inf).max(axis=1, initial=-np.inf)
        self.neg_max: FloatArray = np.where(np.isfinite(nonpos), nonpos, 0.0)[:, None]
        # bounds and impacts are sums of the same numbers in other orders: allow for rounding
        self.eps = 1e-9 * float(np.abs(excess).max(axis=0, initial=0.0).sum()) + 1e-300
        self.known: dict[tuple[int, ...], _Alive] = {}
        self._live: dict[tuple[tuple[int, ...], float], int] = {}
        self._path: list[tuple[tuple[int, ...], _Rows]] = []
        for j, card in enumerate(self.cards):
            total, npos = self._sums(self.pos_codes[j].astype(np.intp), None, card)
            cells = np.arange(card, dtype=np.int64)
            self._keep((j,), cells, index.counts(j), total, npos, -np.inf)

    def _sums(
        self, group: IntArray, pos: IntArray | None, n_groups: int
    ) -> tuple[FloatArray, FloatArray]:
        """Per branch and cell: the summed positive excess, and the rows with a positive one."""
        w = self.weights if pos is None else self.weights[:, pos]
        total: FloatArray = np.stack(
            [np.bincount(group, weights=wb, minlength=n_groups) for wb in w]
        ).astype(float, copy=False)
        if len(w) == 1:  # every positive-excess row is positive in the only branch
            return total, np.bincount(group, minlength=n_groups)[None, :].astype(float)
        npos = [np.bincount(group, weights=(wb > 0) * 1.0, minlength=n_groups) for wb in w]
        return total, np.stack(npos).astype(float, copy=False)

    def own_bound(self, count: IntArray, total: FloatArray, npos: FloatArray) -> FloatArray:
        """Largest impact of each cell: its positive excess, its other rows at ``neg_max``.

        Exact when every excess that is not positive is the same (0/1 losses).
        """
        out: FloatArray = (total + (count - npos) * self.neg_max).max(axis=0)
        return out

    def child_bound(self, total: FloatArray, npos: FloatArray) -> FloatArray:
        """Largest impact of a slice of at least ``min_size`` of each cell's rows.

        At best it keeps every positive-excess row and as few others as ``min_size`` allows.
        """
        short = np.maximum(self.min_size - npos, 0.0)
        out: FloatArray = (total + short * self.neg_max).max(axis=0)
        return out

    def _keep(
        self,
        combo: tuple[int, ...],
        cells: NDArray[np.int64],
        count: IntArray,
        total: FloatArray,
        npos: FloatArray,
        threshold: float,
    ) -> None:
        """Remember the cells of ``combo`` (codes ``cells``) that may hold a ranked slice."""
        big = count >= self.min_size
        bound = self.child_bound(total[:, big], npos[:, big])
        keep = bound >= threshold
        keys = cells[big][keep]
        order = np.argsort(keys, kind="stable")
        self.known[combo] = _Alive(keys[order], count[big][keep][order], bound[keep][order])

    def live_rows(self, combo: tuple[int, ...], threshold: float) -> int:
        """Rows in the cells of ``combo`` that may still hold a ranked slice (0: unknown)."""
        key = (combo, threshold)
        if key not in self._live:
            a = self.known.get(combo)
            self._live[key] = 0 if a is None else int(a.count[a.bound >= threshold].sum())
        return self._live[key]

    def combos(self, level: int, threshold: float) -> list[tuple[int, ...]] | None:
        """List the combinations of ``level`` features whose parents all have live rows.

        None when listing them would take more than `_LIST_LIMIT` checks (wide files).
        """
        d = len(self.codes)
        parents = [c for c in self.known if len(c) == level - 1]
        if len(parents) * d > _LIST_LIMIT:
            return None
        out = []
        for p in parents:
            if not self.live_rows(p, threshold):
                continue
            for k in range(p[-1] + 1, d):
                c = (*p, k)
                if all(self.live_rows(c[:i] + c[i + 1 :], threshold) for i in range(level - 1)):
                    out.append(c)
        return out

    def plan(
        self, combos: Sequence[tuple[int, ...]], threshold: float
    ) -> dict[tuple[int, ...], list[int]]:
        """Assign each combination that may qualify to its parent with the fewest live rows.

        Returns ``{parent: [added feature, ...]}``; a combination with a parent without live
        cells is left out (every one of its cells lies in a dead cell).
        """
        plan: dict[tuple[int, ...], list[int]] = {}
        for combo in combos:
            parents = [(combo[:i] + combo[i + 1 :], combo[i]) for i in range(len(combo))]
            size, parent, k = min((self.live_rows(p, threshold), p, k) for p, k in parents)
            if size:
                plan.setdefault(parent, []).append(k)
        return plan

    def count_children(
        self,
        parent: tuple[int, ...],
        added: Sequence[int],
        topk: TopK,
        scorer: Scorer,
        stats: SearchStats,
        deeper: bool,
        best: dict[tuple[int, ...], float],
    ) -> None:
        """Count the combinations ``parent + (k,)`` for ``k`` in ``added``; offer what may rank.

        ``deeper``: remember their alive cells for the next level. ``best``: bounds of the
        combinations (when known), to skip those that can no longer qualify.
        """
        if best:
            added = [k for k in added if best[_with(parent, k)] >= topk.threshold - self.eps]
        if not added:
            return
        rows = self._rows(parent, topk.threshold - self.eps)
        if len(rows.rows) == 0:
            return
        for k in sorted(added):
            if best and best[_with(parent, k)] < topk.threshold - self.eps:
                continue
            self._count(parent, k, rows, topk, scorer, stats, deeper)

    def _rows(self, combo: tuple[int, ...], threshold: float) -> _Rows:
        """Rows of the alive cells of ``combo``, from those of its prefixes (kept on a path)."""
        shared = 0
        while (
            shared < min(len(self._path), len(combo))
            and self._path[shared][0] == combo[: shared + 1]
        ):
            shared += 1
        del self._path[shared:]
        for t in range(shared, len(combo)):
            prev = self._path[-1][1] if t else None
            self._path.append((combo[: t + 1], self._extend(prev, combo[: t + 1], threshold)))
        return self._path[-1][1]

    def _extend(self, prev: _Rows | None, combo: tuple[int, ...], threshold: float) -> _Rows:
        """Keep the rows of ``prev`` (None: all) that lie in an alive cell of ``combo``.

        ``combo`` is ``prev``'s combination plus one last feature, so a row's cell follows from
        its cell in ``prev`` and its bin: a small table, no per-row cell codes.
        """
        j, card = combo[-1], self.cards[combo[-1]]
        alive = self.known[combo]
        keys = alive.keys[alive.bound >= threshold]
        if prev is None:
            local = _lookup(keys, card, self.codes[j])
            pos_local = _lookup(keys, card, self.pos_codes[j])
        else:
            # a cell's code is its prefix cell's code times card plus its bin
            at = _lookup(prev.keys, -1, keys // card)
            keys = keys[at >= 0]  # (always found: a prefix of an alive cell is alive)
            table = at[at >= 0] * card + keys % card
            space = len(prev.keys) * card
            local = _lookup(table, space, prev.local * card + self.codes[j][prev.rows])
            pos_local = _lookup(table, space, prev.pos_local * card + self.pos_codes[j][prev.pos])
        inside, pos_inside = np.flatnonzero(local >= 0), np.flatnonzero(pos_local >= 0)
        return _Rows(
            rows=inside if prev is None else prev.rows[inside],
            local=local[inside],
            pos=pos_inside if prev is None else prev.pos[pos_inside],
            pos_local=pos_local[pos_inside],
            keys=keys,
        )

    def _count(
        self,
        parent: tuple[int, ...],
        k: int,
        rows: _Rows,
        topk: TopK,
        scorer: Scorer,
        stats: SearchStats,
        deeper: bool,
    ) -> None:
        """Count the cells of ``parent + (k,)`` on the parent's alive rows."""
        card, combo = self.cards[k], _with(parent, k)
        threshold = topk.threshold - self.eps
        pos_group = rows.pos_local * card + self.pos_codes[k][rows.pos]
        cells: IntArray = np.arange(len(rows.keys) * card, dtype=np.intp)  # group -> local cell
        sparse = len(cells) > DENSE_LIMIT
        if sparse:  # a cell without a positive-excess row never qualifies (impact <= 0)
            cells = np.unique(pos_group)
            pos_group = np.searchsorted(cells, pos_group)
        # the positive-excess rows alone bound every cell (of min_size rows) and its children
        total, npos = self._sums(pos_group, rows.pos, len(cells))
        if not (self.child_bound(total, npos) >= threshold).any():
            if deeper:
                self._keep(
                    combo, cells.astype(np.int64), np.zeros(len(cells), np.intp), total, npos, 0
                )
            return
        group = rows.local * card + self.codes[k][rows.rows]
        if sparse:  # the rows of cells without a positive-excess row go to one trash cell
            at = _lookup(cells, -1, group)
            group = np.where(at >= 0, at, len(cells))
        count = np.bincount(group, minlength=len(cells) + 1)[: len(cells)]
        stats.combos_counted += 1
        stats.rows_counted += len(group)
        cand = (count >= self.min_size) & (self.own_bound(count, total, npos) >= threshold)
        if cand.any():
            picked, where, ids = self._picked(rows, group, cand)
            cell_count, impact = scorer(picked, where, len(ids))
            keys = self._codes(parent, k, rows.keys, cells[ids])
            topk.offer(combo, impact, keys.astype(np.intp), cell_count)
            stats.combos_scored += 1
            stats.rows_scored += len(picked)
        if deeper:
            keys = self._codes(parent, k, rows.keys, cells)
            self._keep(combo, keys, count, total, npos, topk.threshold - self.eps)

    @staticmethod
    def _picked(rows: _Rows, group: IntArray, cand: NDArray[np.bool_]) -> tuple[IntArray, ...]:
        """Return the rows of the candidate cells, their cell among those, and the candidates."""
        ids = np.flatnonzero(cand)
        relabel = np.full(len(cand) + 1, -1, dtype=np.intp)  # the last: the trash cell
        relabel[ids] = np.arange(len(ids))
        where = relabel[group]
        inside = where >= 0
        return rows.rows[inside], where[inside], ids

    def _codes(
        self, parent: tuple[int, ...], k: int, parent_keys: NDArray[np.int64], cells: IntArray
    ) -> NDArray[np.int64]:
        """Cell codes of ``parent + (k,)`` (features in increasing order) for local cells."""
        card = self.cards[k]
        split = _split(parent, self.cards, parent_keys[cells // card])
        values = dict(zip(parent, split, strict=True))
        values[k] = (cells % card).astype(np.int64)
        code = np.zeros(len(cells), dtype=np.int64)
        for j in sorted(values):
            code = code * self.cards[j] + values[j]
        return code


def _with(combo: tuple[int, ...], k: int) -> tuple[int, ...]:
    """Return the combination ``combo`` plus feature ``k`` (features in increasing order)."""
    return tuple(sorted((*combo, k)))


def _split(
    combo: Sequence[int], cards: Sequence[int], code: NDArray[np.int64]
) -> list[NDArray[np.int64]]:
    """`decode` for many codes at once: one array of bin codes per feature of ``combo``."""
    values = []
    for j in reversed(combo):
        values.append(code % cards[j])
        code = code // cards[j]
    return values[::-1]


def _lookup(keys: NDArray[Any], space: int, code: NDArray[Any]) -> IntArray:
    """Position of each code in the increasing ``keys``, -1 when absent.

    ``space``: the codes are below it (a table lookup when small; -1: unknown).
    """
    if 0 <= space <= DENSE_LIMIT:
        table = np.full(space, -1, dtype=np.intp)
        table[keys] = np.arange(len(keys))
        out: IntArray = table[code]
        return out
    if len(keys) == 0:
        return np.full(len(code), -1, dtype=np.intp)
    at = np.minimum(np.searchsorted(keys, code), len(keys) - 1)
    return np.where(keys[at] == code, at, -1).astype(np.intp)


def _level_bounds(
    pos_codes: Sequence[NDArray],
    cards: Sequence[int],
    weights: FloatArray,
    level: int,
    threshold: float,
    alive: Sequence[NDArray[np.bool_]] | None = None,
    slack: _Slack | None = None,
) -> dict[tuple[int, ...], float]:
    """Best bound of every combination of ``level`` features that can still qualify.

    Depth first over prefixes; at each prefix only the positive-excess rows of cells whose
    bound reaches ``threshold`` are kept (the other cells' descendants cannot qualify), and
    the cells of every next feature are bounded at once (one ``bincount`` over the prefix's
    rows times the remaining features). ``alive`` (per feature, per bin code) marks the bins
    with at least ``min_size`` rows: a cell with a dead bin is smaller still and never
    ranked, so its rows are left out and a feature without a live bin is never combined.
    Only combinations whose best bound reaches ``threshold`` are returned (the others can
    never be scored: the threshold only rises). ``slack`` tightens the bounds by the rows a
    slice of ``min_size`` rows must hold besides the positive ones (`_bound`).
    """
    d = len(pos_codes)
    best: dict[tuple[int, ...], float] = {}
    if d < level or weights.shape[1] == 0:
        return best
    card = np.asarray(cards, dtype=np.int64)
    live = np.ones(d, dtype=bool) if alive is None else np.array([a.any() for a in alive])
    coff = np.r_[0, np.cumsum(card)[:-1]]
    alive_flat = (
        np.ones(int(card.sum()), dtype=bool) if alive is None else np.concatenate(list(alive))
    )
    matrix = np.stack([np.asarray(c, dtype=np.int32) for c in pos_codes], axis=1)

    def children(
        combo: tuple[int, ...], sub: IntArray, code: NDArray[np.int64], space: int
    ) -> None:
        first = combo[-1] + 1 if combo else 0
        # leave room for the features still to add after each child
        last = d - (level - len(combo) - 1)
        feats = np.flatnonzero(live[first:last]) + first
        if len(feats) == 0 or len(sub) == 0:
            return
        if combo:  # the prefix's surviving cells, renumbered: a small local code space
            _, inverse = np.unique(code, return_inverse=True)
            code, space = inverse.astype(np.int64).reshape(-1), int(inverse.max()) + 1
        step = max(1, _CHUNK_CELLS // len(sub))  # bounded memory: rows x features per chunk
        for lo in range(0, len(feats), step):
            chunk(combo, sub, code, space, feats[lo : lo + step])

    def chunk(
        combo: tuple[int, ...],
        sub: IntArray,
        code: NDArray[np.int64],
        space: int,
        feats: NDArray[np.intp],
    ) -> None:
        codes_j = matrix[np.ix_(sub, feats)]  # rows x candidate features
        spaces = space * card[feats]
        off = np.r_[0, np.cumsum(spaces)[:-1]]
        total = int(off[-1] + spaces[-1])
        gid = code[:, None] * card[feats][None, :] + codes_j
        gid += off[None, :]
        ok = alive_flat[coff[feats][None, :] + codes_j]
        gid[~ok] = total  # one trash cell for the rows of dead bins
        if total + 1 <= DENSE_LIMIT:
            n_groups, cell_feature = total, np.repeat(np.arange(len(feats)), spaces)
        else:
            keys, inv = np.unique(gid, return_inverse=True)
            gid = inv.reshape(gid.shape)
            n_groups = len(keys) - int(keys[-1] == total)
            cell_feature = np.searchsorted(off, keys[:n_groups], side="right") - 1
        w = np.broadcast_to(weights[:, sub, None], (len(weights), len(sub), len(feats)))
        flat = w.reshape(len(weights), -1)
        ub = _bound(gid.reshape(-1), n_groups + 1, flat, slack)[:n_groups]
        # best bound per feature: cells are grouped by feature, in order
        starts = np.searchsorted(cell_feature, np.arange(len(feats)))
        has = starts < np.r_[starts[1:], len(ub)]
        top = np.full(len(feats), -np.inf)
        if len(ub):
            top[has] = np.maximum.reduceat(ub, starts[has])
        ub = np.r_[ub, -np.inf]  # the trash cell never qualifies
        deeper = len(combo) + 1 < level
        for k in np.flatnonzero(top >= threshold):
            j = int(feats[k])
            if not deeper:
                best[(*combo, j)] = float(top[k])
                continue
            rows_k = np.flatnonzero(ub[gid[:, k]] >= threshold)
            child = code[rows_k] * card[j] + codes_j[rows_k, k]
            children((*combo, j), sub[rows_k], child, space * int(card[j]))

    n_pos = weights.shape[1]
    children((), np.arange(n_pos, dtype=np.intp), np.zeros(n_pos, dtype=np.int64), 1)
    return best
