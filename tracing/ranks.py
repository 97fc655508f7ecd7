"""Rank metrics (ROC AUC, average precision) of many groups at once, exact, from one score sort.

A rank metric of one group depends on the order of its rows by score. Sorting every group's
rows (or every feature combination's, in the slice search) is what made rank-metric slices
slow: a float ``lexsort`` per combination. Here the rows are sorted by score **once**
(`ScoreOrder`); a grouping then needs only a *stable* sort by group label, which keeps the
score order inside each group. numpy's stable sort of 8- and 16-bit integers is a radix sort,
so with the labels renumbered over the groups that are asked for (at most a few thousand
slices are ever large enough to rank) that is one or two linear passes. The per-group sums
then come from cumulative counts over that order, touching the positives only, plus a
correction for the rows whose score is shared with another row (the tie runs).

Both metrics equal scikit-learn's (`sklearn.metrics.roc_auc_score`,
`sklearn.metrics.average_precision_score`) and `tracing.metrics`' own definitions: ties count
1/2 in ROC AUC, and average precision has one operating point per distinct score. ROC AUC is
the Mann-Whitney U statistic over ``n_pos * n_neg``, with U counted exactly in integers; average
precision adds its terms in decreasing score order, as `tracing.metrics.pr_auc_from_groups`
does. A group without both classes (ROC AUC) or without positives (average precision) is NaN;
rows without a score (NaN) are left out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "GROUPED",
    "ScoreOrder",
    "grouped_average_precision",
    "grouped_roc_auc",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]
Int64Array = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class ScoreOrder:
    """Rows sorted once by score: what every grouped rank metric of these rows starts from.

    Positions ``0..n_scored-1`` are the scored rows by increasing score; the rows without a
    score come last. Groupings are passed in these positions (`roc_auc`, `average_precision`)
    or in row numbers through `positions`.

    Attributes
    ----------
    order : ndarray of intp
        Row number at each position (every row; rows without a score last).
    n_scored : int
        Rows with a score.
    y : ndarray of bool
        Whether the actual is positive, per position.
    run : ndarray of int32 (int64 above 2**31 rows)
        Per scored position, the id of its tie run (rows of equal score share one), increasing.
    any_tied : bool
        Whether any two scores are equal.
    """

    order: IntArray
    n_scored: int
    y: BoolArray
    run: NDArray[np.integer]
    any_tied: bool

    @classmethod
    def from_scores(cls, y_true: ArrayLike, score: ArrayLike) -> ScoreOrder:
        """Sort rows by score (NaN scores last) and find the tie runs.

        Parameters
        ----------
        y_true : array-like of shape (n,)
            Actuals; nonzero (or True) is the positive class.
        score : array-like of shape (n,)
            Scores; NaN marks a row without one.
        """
        s = np.asarray(score, dtype=np.float64)
        order = np.argsort(s, kind="stable").astype(np.intp, copy=False)  # NaN sorts last
        n_scored = int(np.count_nonzero(~np.isnan(s)))
        ss = s[order[:n_scored]]
        start = np.ones(n_scored, dtype=bool)
        np.not_equal(ss[1:], ss[:-1], out=start[1:])  # -0.0 == 0.0: one run, as in sklearn
        n_runs = int(np.count_nonzero(start))
        # the run ids are read once per grouping: 32 bits halve that traffic
        wide = np.int32 if n_scored < 2**31 else np.int64
        run: NDArray[np.integer] = np.cumsum(start, dtype=wide)
        run -= 1
        y = np.asarray(y_true).astype(bool)[order]
        return cls(order, n_scored, y, run, any_tied=n_runs < n_scored)

    @property
    def n_rows(self) -> int:
        """Rows, with and without a score."""
        return len(self.order)

    @functools.cached_property
    def position_of(self) -> IntArray:
        """Position of each row (the inverse of `order`)."""
        where = np.empty(self.n_rows, dtype=np.intp)
        where[self.order] = np.arange(self.n_rows, dtype=np.intp)
        return where

    def positions(
        self, rows: IntArray | None, group: IntArray
    ) -> tuple[IntArray | None, IntArray]:
        """Turn a grouping of rows (row numbers, any order) into increasing positions.

        Parameters
        ----------
        rows : ndarray of intp or None
            Row numbers (distinct); None means every row, ``group`` then being per row.
        group : ndarray of intp
            Group of each row of ``rows``.

        Returns
        -------
        positions, group : ndarray of intp
            The same rows as increasing positions (see the class; None: every position), with
            their groups.
        """
        if rows is None:
            return None, group[self.order]
        # scatter into position space and read it back in order: linear, no sort
        at = self.position_of[rows]
        marked = np.zeros(self.n_rows, dtype=bool)
        marked[at] = True
        by_position = np.empty(self.n_rows, dtype=np.intp)
        by_position[at] = group
        kept = np.flatnonzero(marked)
        return kept, by_position[kept]

    def roc_auc(
        self,
        group: IntArray,
        n_groups: int,
        *,
        positions: IntArray | None = None,
        wanted: BoolArray | None = None,
        count: NDArray[np.integer] | None = None,
    ) -> FloatArray:
        """ROC AUC of every group (NaN without both classes, and outside ``wanted``).

        Parameters
        ----------
        group : ndarray of int
            Group ``0..n_groups-1`` of each row of ``positions``.
        n_groups : int
            Number of groups.
        positions : ndarray of intp, optional
            Increasing positions (see the class); default every position, in order.
        wanted : ndarray of bool, optional
            The groups to compute (default all): the others cost nothing and are NaN.
        count : ndarray of int, optional
            Rows of each group in this grouping, when the caller has counted them already.
        """
        cells = _Grouped.of(self, positions, group, n_groups, wanted, count)
        return _spread(cells.roc_auc(), n_groups, cells.wanted)

    def average_precision(
        self,
        group: IntArray,
        n_groups: int,
        *,
        positions: IntArray | None = None,
        wanted: BoolArray | None = None,
        count: NDArray[np.integer] | None = None,
    ) -> FloatArray:
        """Average precision of every group (NaN without positives, and outside ``wanted``).

        Parameters are those of `roc_auc`.
        """
        cells = _Grouped.of(self, positions, group, n_groups, wanted, count)
        return _spread(cells.average_precision(), n_groups, cells.wanted)


def grouped_roc_auc(
    y_true: ArrayLike, score: ArrayLike, group: ArrayLike, n_groups: int
) -> FloatArray:
    """ROC AUC of every group, exactly as `sklearn.metrics.roc_auc_score` on its rows.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Actuals; nonzero (or True) is the positive class.
    score : array-like of shape (n,)
        Scores; rows with a NaN score are left out.
    group : array-like of int, shape (n,)
        Group of each row, ``0..n_groups-1``.
    n_groups : int
        Number of groups.

    Returns
    -------
    ndarray of float64, shape (n_groups,)
        Per group; NaN when a group lacks positives or negatives. Best value 1.0.

    Examples
    --------
    >>> y, s = [0, 1, 0, 1, 1, 0], [0.1, 0.9, 0.4, 0.8, 0.3, 0.3]  # a tie in group 1
    >>> grouped_roc_auc(y, s, [0, 0, 0, 1, 1, 1], 3)
    array([1.  , 0.75,  nan])
    """
    order = ScoreOrder.from_scores(y_true, score)
    return order.roc_auc(_by_position(order, group), n_groups)


def grouped_average_precision(
    y_true: ArrayLike, score: ArrayLike, group: ArrayLike, n_groups: int
) -> FloatArray:
    """Average precision of every group, as `sklearn.metrics.average_precision_score`.

    Parameters are those of `grouped_roc_auc`.

    Returns
    -------
    ndarray of float64, shape (n_groups,)
        Per group; NaN when a group has no positive. Best value 1.0.

    Examples
    --------
    >>> y, s = [0, 1, 1, 1, 0], [0.2, 0.9, 0.1, 0.5, 0.5]
    >>> grouped_average_precision(y, s, [0, 0, 1, 1, 1], 2)
    array([1.        , 0.58333333])
    """
    order = ScoreOrder.from_scores(y_true, score)
    return order.average_precision(_by_position(order, group), n_groups)


def _by_position(order: ScoreOrder, group: ArrayLike) -> IntArray:
    return np.asarray(group).astype(np.intp, copy=False)[order.order]


# ---------------------------------------------------------------------------------------------
# One grouping, sorted by group label with the score order kept inside each group


def _label_type(n_labels: int) -> type[np.integer]:
    # numpy's stable sort is a radix sort for 8- and 16-bit integers
    if n_labels <= 1 << 8:
        return np.uint8
    return np.uint16 if n_labels <= 1 << 16 else np.intp


def _spread(values: FloatArray, n_groups: int, wanted: IntArray) -> FloatArray:
    out = np.full(n_groups, np.nan)
    out[wanted] = values
    return out


@dataclass(frozen=True, eq=False)
class _Ties:
    """Runs of two rows or more with equal scores inside one group, in grouped order."""

    start: IntArray  # index (in grouped order) of each run's first row
    size: IntArray
    label: IntArray  # of each run (nondecreasing)
    first_pos: IntArray  # the run's positives are positives first_pos..end_pos-1
    end_pos: IntArray


@dataclass(frozen=True, eq=False)
class _Grouped:
    """The rows of the wanted groups, sorted by (label, score); only positives are listed."""

    wanted: IntArray  # group of each label 0..n_labels-1
    starts: IntArray  # n_labels + 1 boundaries, in grouped order
    pos_at: IntArray  # index (in grouped order) of each positive, increasing
    pos_starts: IntArray  # n_labels + 1 boundaries of the positives
    ties: _Ties | None

    @classmethod
    def of(
        cls,
        order: ScoreOrder,
        positions: IntArray | None,
        group: IntArray,
        n_groups: int,
        wanted: BoolArray | None,
        count: NDArray[np.integer] | None = None,
    ) -> _Grouped:
        """Group the scored rows (arguments: see `ScoreOrder.roc_auc`)."""
        positions, group = _scored(order, positions, group)
        chosen = np.arange(n_groups) if wanted is None else np.flatnonzero(wanted)
        n_labels = len(chosen)
        lab = np.full(n_groups, n_labels, dtype=_label_type(n_labels + 1))
        lab[chosen] = np.arange(n_labels)
        labels = lab[group]
        if n_labels < n_groups:  # most rows of a search's grouping lie in cells too small
            kept = np.flatnonzero(labels != n_labels)
            labels = labels[kept]
            positions = kept if positions is None else positions[kept]
        sizes: NDArray[np.integer]
        if count is None or order.n_scored < order.n_rows:  # rows without a score drop out
            sizes = np.bincount(labels, minlength=n_labels)
        else:
            sizes = count[chosen]
        starts = np.zeros(n_labels + 1, dtype=np.intp)
        np.cumsum(sizes, out=starts[1:])
        by = np.argsort(labels, kind="stable")
        at = by if positions is None else positions[by]
        is_pos = order.y[at]
        pos_at = np.flatnonzero(is_pos)
        pos_starts = np.searchsorted(pos_at, starts).astype(np.intp)
        ties = _ties(order, at, starts, is_pos) if order.any_tied else None
        return cls(chosen.astype(np.intp), starts, pos_at, pos_starts, ties)

    def roc_auc(self) -> FloatArray:
        """Mann-Whitney U over ``n_pos * n_neg``, per label, U counted in integers."""
        n_pos = np.diff(self.pos_starts).astype(np.int64)
        n_neg = np.diff(self.starts) - n_pos
        summed = np.zeros(len(self.pos_at) + 1, dtype=np.int64)  # of the positives' indices
        np.cumsum(self.pos_at, out=summed[1:])
        # U if the sorted order broke ties: per positive, its group's rows before it (index -
        # group start) less the positives among them (its rank among the group's positives)
        at_sum = summed[self.pos_starts[1:]] - summed[self.pos_starts[:-1]]
        twice_u = 2 * (at_sum - n_pos * self.starts[:-1]) - n_pos * (n_pos - 1)
        if self.ties is not None:
            twice_u += self._tie_correction(summed)
        pos, neg = n_pos.astype(np.float64), n_neg.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (twice_u / 2) / (pos * neg)
        return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)

    def _tie_correction(self, summed: Int64Array) -> Int64Array:
        """2 x (U with ties counted 1/2) minus 2 x (U with ties in the sorted order), per label.

        Inside a run of ``p`` positives and ``q`` negatives the sorted order counted, for its
        ``i``-th positive at offset ``o`` from the run's start, the ``o - i`` negatives before
        it; ties count ``q / 2``. Over the run: ``p q / 2 + p (p - 1) / 2 - sum(o)``.
        """
        t = self.ties
        assert t is not None
        p = (t.end_pos - t.first_pos).astype(np.int64)
        offsets = summed[t.end_pos] - summed[t.first_pos] - p * t.start
        per_run = p * (t.size - p) + p * (p - 1) - 2 * offsets
        by_run = np.zeros(len(per_run) + 1, dtype=np.int64)
        np.cumsum(per_run, out=by_run[1:])
        bounds = np.searchsorted(t.label, np.arange(len(self.starts)))
        return by_run[bounds[1:]] - by_run[bounds[:-1]]

    def average_precision(self) -> FloatArray:
        """Sum over distinct scores, highest first, of (recall step) x precision, per label."""
        n_labels = len(self.starts) - 1
        n_pos = np.diff(self.pos_starts)
        label = np.repeat(np.arange(n_labels), n_pos)  # of each positive
        index = np.arange(len(self.pos_at))
        # positives and rows at or above each positive's score, in its group
        tp = (self.pos_starts[label + 1] - index).astype(np.float64)
        seen = (self.starts[label + 1] - self.pos_at).astype(np.float64)
        step = np.ones(len(index))  # positives at that score
        t = self.ties
        if t is not None:  # a run is one step: at its lowest positive, from the run's start
            lead = t.end_pos > t.first_pos
            first, end = t.first_pos[lead], t.end_pos[lead]
            later = np.zeros(len(index) + 1, dtype=np.int64)  # marks the run's other positives
            later[first + 1] += 1
            later[end] -= 1
            step[np.cumsum(later[:-1]) > 0] = 0.0
            step[first] = end - first
            seen[first] = self.starts[t.label[lead] + 1] - t.start[lead]
        pos = n_pos.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = step / pos[label] * tp / seen  # the expression of the sorted definition
        # highest score first inside each group, as the definition sums (same rounding)
        ap = np.bincount(label[::-1], weights=term[::-1], minlength=n_labels)
        return np.where(n_pos > 0, ap, np.nan)


def _scored(
    order: ScoreOrder, positions: IntArray | None, group: IntArray
) -> tuple[IntArray | None, IntArray]:
    """Drop the rows without a score (the last positions)."""
    if positions is None:
        if len(group) != order.n_rows:
            raise ValueError(f"group has {len(group)} rows; expected {order.n_rows}.")
        return None, group[: order.n_scored]
    if len(positions) != len(group):
        raise ValueError(f"positions has {len(positions)} rows but group {len(group)}.")
    if len(positions) > 1 and not bool((positions[1:] > positions[:-1]).all()):
        raise ValueError("positions must be increasing (rows in score order).")
    cut = int(np.searchsorted(positions, order.n_scored))
    return positions[:cut], group[:cut]


def _ties(order: ScoreOrder, at: IntArray, starts: IntArray, is_pos: BoolArray) -> _Ties | None:
    """Find the runs of equal score inside a group: grouped neighbours with one tie run id."""
    run = order.run[at]
    same = run[1:] == run[:-1]  # row i + 1 ties row i ...
    cut = starts[1:-1]
    cut = cut[(cut > 0) & (cut < len(at))]
    same[cut - 1] = False  # ... unless a group starts at row i + 1
    tie = np.flatnonzero(same)
    if len(tie) == 0:
        return None
    new = np.ones(len(tie), dtype=bool)
    np.not_equal(tie[1:], tie[:-1] + 1, out=new[1:])
    first = np.flatnonzero(new)
    start = tie[first]
    size = np.diff(np.r_[first, len(tie)]) + 1
    before = np.zeros(len(at) + 1, dtype=np.intp)  # positives before each row
    np.cumsum(is_pos, out=before[1:])
    n_labels = len(starts) - 1
    label = np.repeat(np.arange(n_labels, dtype=np.intp), np.diff(starts))
    return _Ties(start, size, label[start], before[start], before[start + size])


# The grouped form of each rank metric of `tracing.metrics`, by metric id.
GROUPED: dict[str, Callable[..., FloatArray]] = {
    "roc_auc": ScoreOrder.roc_auc,
    "pr_auc": ScoreOrder.average_precision,
}
