"""Exact top-k slice search that talks only to a `tracing.engine.CodedTable`, level by level.

`tracing._slice_search` searches row arrays in memory; an out-of-core or distributed engine
(DuckDB, Spark) can only answer aggregate queries. This module runs the same search through
the engine seam alone, so every engine runs it unchanged, and returns the same
`tracing._slice_search.Found` list (same cells, impacts and order) as
`tracing._slice_search.branch_and_bound` (ratio metrics) and `tracing._slice_search.exhaustive`
(other additive metrics) on the same problem (tested against both and brute force).

The search
----------
A **level** is the set of feature combinations of ``L`` features; each level is one
`tracing.engine.CodedTable.grouping_sets` call (or a few: see `MAX_SETS`).

1. Level 1 groups by every single feature. Every cell of at least ``min_size`` rows is scored
   from its sums (``score_cells``, built by the caller from the metric) and offered to a
   `tracing._slice_search.TopK`, with the redundancy rule of the in-memory search: a cell whose
   count equals one of its parents' counts has that parent's rows and is not ranked.
2. Ratio metrics (``excess`` given): ``impact(S) = max_b sum_{i in S} x[b, i]``. Per cell the
   engine also sums, per branch ``b``, the positive excess ``P_b`` (``greatest(x_b, 0)``) and
   the positive rows ``p_b``, and takes the largest non-positive excess ``m_b`` (``maxes=``).
   Then (the bounds of `tracing._slice_search._Counter`, with the cell's own ``m_b`` instead
   of the global one: the rows of a descendant are the cell's rows, so it is tighter and still
   valid) a cell of ``n`` rows has an impact of at most ``max_b P_b + (n - p_b) m_b`` (its
   *own bound*) and any descendant of at least ``min_size`` rows at most ``max_b P_b +
   max(min_size - p_b, 0) m_b`` (its *child bound*). A cell is **live** when it has at least
   ``min_size`` rows and its child bound reaches the current k-th best impact (less a rounding
   allowance). Other additive metrics have no bound: every cell of ``min_size`` rows is live.
3. Level ``L + 1``: the candidate combinations are those all of whose ``L``-feature parents
   have live cells (apriori). Each is counted only on the rows of the live cells of one parent,
   the one with the fewest live rows: ``each[i]`` of the level's query is a
   `tracing.engine.CellSet` over that parent's keys, so the engine scans only rows that can
   matter. A child cell lies inside exactly one cell of each parent, so a cell that comes back
   has all its rows counted; cells with a dead parent cell (over another parent) are dropped
   after the query: neither they nor their descendants can rank.
4. The threshold only rises: liveness is re-checked before each query, and a candidate whose
   best possible cell (the smallest, over its parents, of their best live child bound) falls
   below it is not counted at all. Candidates are queried best bound first, so the threshold
   rises early. The search stops when no candidate is left or at ``max_depth``.

Nothing that could enter the top-k is skipped (a dead cell's every descendant has an impact
below the final k-th best), and the top-k order does not depend on the visiting order
(`tracing._slice_search.TopK`), so the result is exact.

Cost
----
An engine's ``GROUPING SETS`` cost grows with the number of sets (each set is one more
aggregation of the scanned rows), so a level with many candidates is split into queries of at
most `MAX_SETS` sets (64); between them the threshold is re-read, so later chunks benefit from
what earlier ones found. While the top-k is not full after level 1 (few single cells pull the
metric down) nothing is pruned yet, so by default each level first counts only its `PROBE` (8)
most promising combinations in a small query: the k-th best they raise prunes the rest (on a
planted slice over 10 features, 4x fewer rows counted for one more scan per level).
`LevelStats` counts the queries, grouping sets and rows aggregated (the sum, over sets, of the
rows their filters let through) for logs and benchmarks.

Candidate listing is a loop over (live parent, next feature) pairs: fine for the tens to
hundreds of features an engine-backed analysis slices by (the in-memory search keeps its own
vectorised listing for thousands of columns).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sqlglot import exp

from tracing import rowexpr
from tracing._slice_search import Found, SearchStats, TopK
from tracing.engine import CodedTable, Filter, GroupSums, Side
from tracing.metrics import Direction

__all__ = [
    "MAX_SETS",
    "PROBE",
    "CellScorer",
    "LevelStats",
    "excess_definitions",
    "ratio_excess",
    "search_levels",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Codes = NDArray[np.int64]
Expr = exp.Expression
CellScorer = Callable[[GroupSums], tuple[NDArray[np.integer], FloatArray]]
"""``score_cells(sums) -> (count, impact)`` per entry of a `GroupSums` (``-inf``: not ranked)."""

MAX_SETS = 64
"""Most grouping sets per query: an engine aggregates the scanned rows once per set."""

PROBE = 8
"""Combinations counted first at each level from the second (see `search_levels`)."""

# Names of the derived statistics the search adds to the table (one per excess branch).
_POS, _NPOS, _NEG, _ABS = "levels:pos", "levels:npos", "levels:neg", "levels:abs"


@dataclass
class LevelStats(SearchStats):
    """What a level-by-level search did: `SearchStats` plus the queries it sent.

    ``combos_counted`` counts grouping sets, ``rows_counted`` the rows they aggregated (each
    set's filtered rows: a planted slice that raises the k-th best early keeps it small),
    ``combos_scored`` and ``rows_scored`` the sets with a cell offered and those cells' rows.
    """

    queries: int = 0
    cells_counted: int = 0
    cells_scored: int = 0
    per_level: list[int] = field(default_factory=list)  # grouping sets per level


# ---------------------------------------------------------------------------------------------
# The excess of ratio metrics, as expressions


def _paren(e: Expr) -> Expr:
    return exp.Paren(this=e.copy())


def ratio_excess(
    numerator: str, denominator: str, *, overall: float, total: float, direction: Direction
) -> tuple[Expr, ...]:
    r"""Per-row excess ``x_b`` of a ratio metric, as expressions over its statistics.

    The same formulas as `tracing.slices._excess` (one branch per direction, two for neutral
    and two-sided metrics), in the same operation order, so numpy evaluates the same bits.

    Examples
    --------
    >>> (x,) = ratio_excess("correct", "n", overall=0.5, total=4.0,
    ...                     direction=Direction.HIGHER_IS_BETTER)
    >>> rowexpr.to_sql(x, "duckdb")
    '(CAST(\'0.5\' AS DOUBLE) * "n" - "correct") / 4'
    """
    u, v = rowexpr.col(numerator), rowexpr.col(denominator)

    def over_total(e: Expr) -> Expr:
        return exp.Div(this=_paren(e), expression=rowexpr.literal(total))

    def times_v(a: float) -> Expr:
        return exp.Mul(this=rowexpr.literal(a), expression=v.copy())

    if direction is Direction.HIGHER_IS_BETTER:
        return (over_total(exp.Sub(this=times_v(overall), expression=u.copy())),)
    up = over_total(exp.Sub(this=u.copy(), expression=_paren(times_v(overall))))
    if direction is Direction.LOWER_IS_BETTER:
        return (up,)
    if direction is Direction.NEUTRAL:
        return up, over_total(exp.Sub(this=times_v(overall), expression=u.copy()))
    a = abs(overall)
    return (
        over_total(exp.Sub(this=u.copy(), expression=_paren(times_v(a)))),
        over_total(exp.Sub(this=exp.Neg(this=u.copy()), expression=_paren(times_v(a)))),
    )


def excess_definitions(excess: Sequence[Expr]) -> dict[str, Expr]:
    """Return the derived statistics the bounds need, per branch ``b`` of the excess ``x_b``.

    ``levels:pos:b`` = ``greatest(x_b, 0)`` (summed: ``P_b``), ``levels:npos:b`` = ``x_b > 0``
    as 1.0/0.0 (summed: ``p_b``), ``levels:neg:b`` = ``x_b`` where ``x_b <= 0``, else
    ``-inf`` (its maximum per cell: ``m_b``), and ``levels:abs`` = ``max_b |x_b|`` (summed:
    the scale of the rounding allowance).
    """
    out: dict[str, Expr] = {}
    zero, minus_inf = rowexpr.literal(0), rowexpr.literal(-math.inf)
    absolute: list[Expr] = []
    for b, x in enumerate(excess):
        xb = _paren(x)
        out[f"{_POS}:{b}"] = exp.Greatest(this=xb.copy(), expressions=[zero.copy()])
        out[f"{_NPOS}:{b}"] = exp.Cast(
            this=exp.GT(this=xb.copy(), expression=zero.copy()),
            to=exp.DataType.build("double"),
        )
        out[f"{_NEG}:{b}"] = exp.Case(
            ifs=[exp.If(this=exp.LTE(this=xb.copy(), expression=zero.copy()), true=xb.copy())],
            default=minus_inf.copy(),
        )
        absolute.append(exp.Abs(this=xb.copy()))
    out[_ABS] = (
        absolute[0]
        if len(absolute) == 1
        else exp.Greatest(this=absolute[0], expressions=absolute[1:])
    )
    return out


# The per-row statistics of a ratio metric whose rows are of three kinds only.
_ODD = "levels:odd"
_KINDS = ((1.0, 1.0), (0.0, 1.0), (0.0, 0.0))  # (numerator, denominator) of a row


@dataclass(frozen=True)
class _RowKinds:
    """The bounds' terms of a ratio metric whose per-row numerator and denominator are 0/1.

    Accuracy, precision, recall and the other confusion-matrix rates count rows: every row's
    ``(u, v)`` is ``(1, 1)``, ``(0, 1)`` or ``(0, 0)`` (the numerator implies the denominator),
    so its excess ``x_b`` is one of three numbers per branch. A cell's ``P_b``, ``p_b``, ``m_b``
    and ``sum |x|`` then follow from how many rows of each kind it has, which its own sums of
    ``u`` and ``v`` tell: the engine sums two statistics per cell instead of ``3 B + 2``
    (each aggregate costs DuckDB about as much per row as the grouping itself).

    ``terms[name]`` holds the definition ``name`` of `excess_definitions` per kind (a
    ``(B, 3)`` array; ``levels:abs`` a ``(1, 3)`` one), evaluated with `tracing.rowexpr`: the
    same expressions the engine would sum.
    """

    numerator: str
    denominator: str
    terms: dict[str, FloatArray]

    @classmethod
    def of(cls, excess: Sequence[Expr], numerator: str, denominator: str) -> _RowKinds:
        columns = {
            numerator: np.array([k[0] for k in _KINDS]),
            denominator: np.array([k[1] for k in _KINDS]),
        }
        found = rowexpr.evaluate_all(excess_definitions(excess), columns, length=len(_KINDS))
        terms = {
            name: np.stack([found[f"{name}:{b}"] for b in range(len(excess))])
            for name in (_POS, _NPOS, _NEG)
        }
        terms[_ABS] = found[_ABS][None, :]
        return cls(numerator, denominator, terms)

    def counts(self, sums: GroupSums) -> FloatArray:
        """Rows of each kind per cell: a ``(3, cells)`` array."""
        n = sums.count.astype(np.float64)
        u = sums.sums[self.numerator] if self.numerator != "n" else n
        v = sums.sums[self.denominator] if self.denominator != "n" else n
        return np.stack([u, v - u, n - v])

    def total(self, name: str, sums: GroupSums) -> FloatArray:
        """Return the cells' sums of a definition: ``(B, cells)``."""
        out: FloatArray = self.terms[name] @ self.counts(sums)
        return out

    def largest(self, name: str, sums: GroupSums) -> FloatArray:
        """Return the cells' maxima of a definition over the kinds they have rows of."""
        has = self.counts(sums) > 0
        term = self.terms[name][:, :, None]
        out: FloatArray = np.where(has[None, :, :], term, -np.inf).max(axis=1)
        return out


def odd_rows(numerator: str, denominator: str) -> Expr:
    """1.0 for a row whose ``(u, v)`` is not one of `_RowKinds`' three kinds, else 0.0."""
    u, v = rowexpr.col(numerator), rowexpr.col(denominator)
    zero, one = rowexpr.literal(0), rowexpr.literal(1)

    def binary(e: Expr) -> Expr:
        return exp.Or(
            this=exp.EQ(this=e.copy(), expression=zero.copy()),
            expression=exp.EQ(this=e.copy(), expression=one.copy()),
        )

    fine = exp.And(
        this=exp.And(this=_paren(binary(u)), expression=_paren(binary(v))),
        expression=exp.LTE(this=u.copy(), expression=v.copy()),
    )
    return exp.Case(ifs=[exp.If(this=fine, true=zero.copy())], default=one.copy())


# ---------------------------------------------------------------------------------------------
# Cells of one counted combination


@dataclass(frozen=True)
class _Live:
    """Cells of one counted combination that may hold a ranked descendant (codes increasing).

    ``bound``: the child bound (``+inf`` without bounds). Only cells of ``min_size`` rows are
    kept; which are live depends on the threshold (`codes_at`).
    """

    codes: Codes
    count: NDArray[np.int64]
    bound: FloatArray

    def live(self, threshold: float) -> NDArray[np.bool_]:
        out: NDArray[np.bool_] = self.bound >= threshold
        return out

    def rows(self, threshold: float) -> int:
        return int(self.count[self.live(threshold)].sum())

    def best(self, threshold: float) -> float:
        bound = self.bound[self.live(threshold)]
        return float(bound.max()) if len(bound) else -math.inf


def _split(combo: Sequence[int], cards: Sequence[int], code: Codes) -> list[Codes]:
    """One array of bin codes per feature of ``combo`` from mixed-radix cell codes."""
    values = []
    for j in reversed(combo):
        values.append(code % cards[j])
        code = code // cards[j]
    return values[::-1]


def _join(combo: Sequence[int], cards: Sequence[int], values: Sequence[Codes]) -> Codes:
    """Mixed-radix cell codes of ``combo`` from one array of bin codes per feature."""
    code = np.zeros(len(values[0]) if values else 0, dtype=np.int64)
    for j, v in zip(combo, values, strict=True):
        code = code * cards[j] + v
    return code


def _member(codes: Codes, sorted_codes: Codes) -> tuple[NDArray[np.bool_], IntArray]:
    """Which ``codes`` are in the increasing ``sorted_codes``, and where."""
    if len(sorted_codes) == 0:
        return np.zeros(len(codes), dtype=bool), np.zeros(len(codes), dtype=np.intp)
    at = np.minimum(np.searchsorted(sorted_codes, codes), len(sorted_codes) - 1)
    return sorted_codes[at] == codes, at.astype(np.intp)


def _subset(sums: GroupSums, keep: NDArray[np.bool_], codes: Codes) -> GroupSums:
    """Return the entries ``keep`` of a grouping, compacted (``cells`` = their codes)."""
    return GroupSums(
        sums.keys,
        sums.cards,
        codes[keep],
        sums.count[keep],
        {k: v[keep] for k, v in sums.sums.items()},
        {k: v[keep] for k, v in sums.maxes.items()},
    )


# ---------------------------------------------------------------------------------------------
# The search


class _Search:
    """State of one level-by-level search (see the module docstring)."""

    def __init__(
        self,
        table: CodedTable,
        side: Side,
        keys: Sequence[str],
        stats: Sequence[str],
        score_cells: CellScorer,
        *,
        branches: int,
        max_depth: int,
        top: int,
        min_size: int,
        floor: float,
        max_sets: int,
        probe: int = 0,
        kinds: _RowKinds | None = None,
    ) -> None:
        self.table, self.side, self.keys = table, side, tuple(keys)
        self.cards = [int(table.cardinality(k)) for k in self.keys]
        self.score_cells = score_cells
        self.branches, self.max_depth, self.min_size = branches, max_depth, min_size
        self.max_sets = max(1, int(max_sets))
        self.probe = max(0, int(probe))
        self.kinds = kinds
        if kinds is not None:  # the bounds follow from the statistics' own sums
            used = [k for k in (kinds.numerator, kinds.denominator) if k != "n"]
            self.sum_names = list(dict.fromkeys([*stats, *used]))
            self.max_names: list[str] = []
        else:
            bounded = [f"{n}:{b}" for n in (_POS, _NPOS) for b in range(branches)]
            self.sum_names = [*stats, *bounded, *([_ABS] if branches else [])]
            self.max_names = [f"{_NEG}:{b}" for b in range(branches)]
        self.topk = TopK(top, self.cards, floor, self.redundant)
        self.known: dict[tuple[int, ...], _Live] = {}
        self.n_rows = 0
        self.eps = 0.0
        self.stats = LevelStats("levels:" + ("branch_and_bound" if branches else "exhaustive"))
        d = len(self.keys)
        self.stats.combos_total = sum(math.comb(d, k) for k in range(1, max_depth + 1))

    @property
    def threshold(self) -> float:
        """Child bounds below this can hold no ranked descendant (rounding allowed for)."""
        return self.topk.threshold - self.eps

    # -- bounds ---------------------------------------------------------------------------

    def _parts(self, sums: GroupSums) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per branch and cell: ``P_b``, ``p_b`` and ``m_b`` (``-inf``: no such row)."""
        if self.kinds is not None:
            k = self.kinds
            return k.total(_POS, sums), k.total(_NPOS, sums), k.largest(_NEG, sums)
        total = np.stack([sums.sums[f"{_POS}:{b}"] for b in range(self.branches)])
        npos = np.stack([sums.sums[f"{_NPOS}:{b}"] for b in range(self.branches)])
        neg = np.stack([sums.maxes[f"{_NEG}:{b}"] for b in range(self.branches)])
        return total, npos, neg

    @staticmethod
    def _times(rows: FloatArray, neg: FloatArray) -> FloatArray:
        """``rows * neg`` with no rows costing nothing (``neg`` may be ``-inf``)."""
        out: FloatArray = np.where(rows > 0, rows * np.where(np.isfinite(neg), neg, 0.0), 0.0)
        # rows the cell must keep but does not have: no such slice
        return np.where((rows > 0) & ~np.isfinite(neg), -np.inf, out)

    def own_bound(self, sums: GroupSums) -> FloatArray:
        """Largest impact of each cell: its positive excess, its other rows at ``m_b`` each."""
        if not self.branches:
            return np.full(len(sums.count), np.inf)
        total, npos, neg = self._parts(sums)
        other = np.maximum(sums.count[None, :] - npos, 0.0)
        out: FloatArray = (total + self._times(other, neg)).max(axis=0)
        return out

    def child_bound(self, sums: GroupSums) -> FloatArray:
        """Largest impact of a slice of at least ``min_size`` of each cell's rows."""
        if not self.branches:
            return np.full(len(sums.count), np.inf)
        total, npos, neg = self._parts(sums)
        short = np.maximum(self.min_size - npos, 0.0)
        out: FloatArray = (total + self._times(short, neg)).max(axis=0)
        return out

    # -- the top-k's redundancy rule --------------------------------------------------------

    def redundant(self, combo: tuple[int, ...], values: tuple[int, ...], count: int) -> bool:
        """Whether a parent of the cell has its ``count`` rows (`tracing._slice_search.Parents`).

        Every parent of an offered cell is live, so its count is known.
        """
        if len(combo) == 1:
            return count == self.n_rows
        for i in range(len(combo)):
            parent = combo[:i] + combo[i + 1 :]
            rest = values[:i] + values[i + 1 :]
            code = _join(parent, self.cards, [np.array([v], dtype=np.int64) for v in rest])
            known = self.known[parent]
            found, at = _member(code, known.codes)
            assert bool(found[0]), "a parent of an offered cell was not counted"
            if int(known.count[at[0]]) == count:
                return True
        return False

    # -- one counted combination ------------------------------------------------------------

    def take(self, combo: tuple[int, ...], sums: GroupSums, *, deeper: bool) -> None:
        """Score the cells of one counted combination, offer them, remember the live ones."""
        codes = sums.codes()
        keep = sums.count > 0
        if len(combo) > 1:  # a cell in a dead cell of any parent can hold nothing ranked
            values = _split(combo, self.cards, codes)
            for i in range(len(combo)):
                parent = combo[:i] + combo[i + 1 :]
                known = self.known.get(parent)
                if known is None:
                    keep[:] = False
                    break
                code = _join(parent, self.cards, values[:i] + values[i + 1 :])
                inside, at = _member(code, known.codes)
                keep &= inside & known.live(self.threshold)[at]
        cells = _subset(sums, keep, codes)
        assert cells.cells is not None
        self.stats.cells_counted += len(cells.count)
        if len(cells.count) == 0:
            return
        big = cells.count >= self.min_size
        count, impact = self.score_cells(cells)
        cand = big & (self.own_bound(cells) >= self.threshold)
        if cand.any():
            self.stats.combos_scored += 1
            self.stats.cells_scored += int(cand.sum())
            self.stats.rows_scored += int(cells.count[cand].sum())
            impact = np.where(cand, np.asarray(impact, dtype=np.float64), -np.inf)
            self.topk.offer(combo, impact, cells.cells.astype(np.intp), np.asarray(count))
        if deeper:
            bound = self.child_bound(cells)
            alive = big & (bound >= self.threshold)
            self.known[combo] = _Live(
                cells.cells[alive], cells.count[alive].astype(np.int64), bound[alive]
            )

    # -- levels ----------------------------------------------------------------------------

    def query(self, combos: Sequence[tuple[int, ...]], each: Sequence[Filter | None]) -> None:
        """Count a chunk of combinations in one grouping-sets call and take each."""
        sets = [[self.keys[j] for j in c] for c in combos]
        results = self.table.grouping_sets(
            sets, self.sum_names, side=self.side, each=each, maxes=self.max_names
        )
        self.stats.queries += 1
        self.stats.combos_counted += len(combos)
        if not self.n_rows and results:  # the first query: every single feature, every row
            self.n_rows = int(results[0].count.sum())
            if self.branches:  # bounds and impacts are sums of the same numbers in other orders
                first = results[0]
                scale = (
                    self.kinds.total(_ABS, first) if self.kinds is not None else first.sums[_ABS]
                )
                self.eps = 1e-9 * float(np.sum(scale)) + 1e-300
        for combo, sums in zip(combos, results, strict=True):
            self.take(combo, sums, deeper=len(combo) < self.max_depth)

    def first_level(self) -> None:
        """Every single feature, on every row (in chunks of `max_sets`)."""
        singles = [(j,) for j in range(len(self.keys))]
        for lo in range(0, len(singles), self.max_sets):
            chunk = singles[lo : lo + self.max_sets]
            self.query(chunk, [None] * len(chunk))
        self.stats.rows_counted += self.n_rows * len(singles)
        self.stats.per_level.append(len(singles))

    def candidates(self, level: int) -> list[tuple[float, tuple[int, ...]]]:
        """List the combinations of ``level`` features whose parents all have live cells.

        The bound is the smallest, over the parents, of their best live child bound.
        """
        threshold, d = self.threshold, len(self.keys)
        best = {c: a.best(threshold) for c, a in self.known.items() if len(c) == level - 1}
        live = {c for c, b in best.items() if b >= threshold}
        out = []
        for p in sorted(live):
            for k in range(p[-1] + 1, d):
                combo = (*p, k)
                parents = [combo[:i] + combo[i + 1 :] for i in range(level)]
                if all(q in live for q in parents):
                    out.append((min(best[q] for q in parents), combo))
        out.sort(key=lambda t: (-t[0], t[1]))
        return out

    def level(self, level: int) -> bool:
        """Count one level (in chunks of `max_sets`); False when nothing was left to count."""
        todo = self.candidates(level)
        counted, at = 0, 0
        while at < len(todo):
            threshold = self.threshold
            chunk: list[tuple[int, ...]] = []
            each: list[Filter | None] = []
            size = self.probe if self.probe and not counted else self.max_sets
            while at < len(todo) and len(chunk) < size:
                bound, combo = todo[at]
                at += 1
                if bound < threshold:
                    continue
                plan = self.plan(combo, threshold)
                if plan is None:
                    continue
                chunk.append(combo)
                each.append(plan)
            if chunk:
                self.query(chunk, each)
                counted += len(chunk)
        self.stats.per_level.append(counted)
        # the parents are done with: only this level's cells are read next
        for combo in [c for c in self.known if len(c) < level - 1]:
            del self.known[combo]
        return counted > 0

    def plan(self, combo: tuple[int, ...], threshold: float) -> Filter | None:
        """Return the rows to count ``combo`` on: the live cells of its parent with fewest rows.

        None when a parent has no live cell any more; no condition when those cells hold every
        row (the sets without a condition share one scan).
        """
        options = []
        for i in range(len(combo)):
            parent = combo[:i] + combo[i + 1 :]
            known = self.known[parent]
            rows = known.rows(threshold)
            if rows == 0:
                return None
            options.append((rows, parent))
        rows, parent = min(options)
        self.stats.rows_counted += rows
        if rows == self.n_rows:  # every row is in a live cell: no filter (one shared scan)
            return Filter()
        known = self.known[parent]
        cells = known.codes[known.live(threshold)]
        return Filter().inside([self.keys[j] for j in parent], cells.tolist())


def search_levels(
    table: CodedTable,
    side: Side,
    keys: Sequence[str],
    stats: Sequence[str],
    score_cells: CellScorer,
    *,
    excess: Sequence[Expr] | None = None,
    max_depth: int,
    top: int,
    min_size: int,
    floor: float,
    max_sets: int = MAX_SETS,
    probe: int = PROBE,
    ratio: tuple[str, str] | None = None,
) -> tuple[list[Found], LevelStats]:
    """Exact top-k slices through an engine's grouping-sets queries, level by level.

    Parameters
    ----------
    table : CodedTable
        Any engine; ``keys`` are key columns of it and ``stats`` statistics of ``side``.
    side : Side
        The side searched (production).
    keys : sequence of str
        The slice features, in order: ``Found.combo`` holds indices into it.
    stats : sequence of str
        The statistics ``score_cells`` reads (summed per cell).
    score_cells : callable
        ``score_cells(sums) -> (count, impact)`` per entry of a `tracing.engine.GroupSums`
        (compacted: ``sums.cells`` holds the codes), ``-inf`` for cells that must not rank.
    excess : sequence of sqlglot Expression, optional
        Ratio metrics: the per-row excess ``x_b`` per branch (`ratio_excess`), over the
        side's statistics, with ``impact = max_b`` of its sums over a cell. Enables the
        bounds; without it every cell of ``min_size`` rows is extended (other additive metrics).
    ratio : (str, str), optional
        With ``excess``: the statistics it is a ratio of (numerator, denominator). When one
        query finds every row's pair 0/1 with the numerator implying the denominator, the
        bounds come from those two sums (`_RowKinds`) instead of ``3 B + 2`` more aggregates.
    max_depth, top, min_size, floor : int, int, int, float
        Most conditions, how many slices, fewest rows of a ranked slice, impacts must exceed.
    max_sets : int, default `MAX_SETS`
        Most grouping sets per query.
    probe : int, default `PROBE`
        When positive, each level from the second first counts only its ``probe`` most
        promising combinations (one small query), then the rest (pruned by the k-th best
        that query raised) in chunks of ``max_sets``: one more query per level, often far
        fewer rows counted (see the module docstring's "Cost"). 0: one query per level
        (of at most ``max_sets`` sets).

    Returns
    -------
    (list of Found, LevelStats)
        The same list as `tracing._slice_search.branch_and_bound` / ``exhaustive``.
    """
    kinds = None
    if excess and ratio is not None and keys:
        kinds = _row_kinds(table, side, excess, *ratio)
    if excess and kinds is None:
        table = table.with_derived(side, excess_definitions(excess))
    run = _Search(
        table,
        side,
        keys,
        stats,
        score_cells,
        branches=len(excess or ()),
        max_depth=int(max_depth),
        top=int(top),
        min_size=int(min_size),
        floor=float(floor),
        max_sets=max_sets,
        probe=probe,
        kinds=kinds,
    )
    if not keys:
        return run.topk.result(), run.stats
    run.first_level()
    for level in range(2, int(max_depth) + 1):
        if not run.level(level):
            break
    logger.debug("level search: %s", run.stats)
    return run.topk.result(), run.stats


def _row_kinds(
    table: CodedTable, side: Side, excess: Sequence[Expr], numerator: str, denominator: str
) -> _RowKinds | None:
    """`_RowKinds` when no row of ``side`` is odd (one aggregate over the side), else None."""
    checked = table.with_derived(side, {_ODD: odd_rows(numerator, denominator)})
    odd = checked.group_sums((), [_ODD], side=side).sums[_ODD]
    if len(odd) and float(odd[0]) != 0.0:
        return None
    return _RowKinds.of(excess, numerator, denominator)
