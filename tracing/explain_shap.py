"""Exact TreeSHAP for LightGBM boosters, computed from lookup tables instead of per row.

`tracing.explain` explains its surrogate and error models on thousands of rows. LightGBM's own
``predict(pred_contrib=True)`` runs the recursive TreeSHAP algorithm (Lundberg et al., 2018)
for every row and tree, O(leaves x depth²) each. This module computes the same values
(path-dependent TreeSHAP, equal to LightGBM's to rounding) by another route:

- For one leaf, the SHAP contribution to each feature on its path depends on the row only
  through one bit per *unique* path feature: does the row satisfy every split on that feature
  along the path (the "one fraction" of TreeSHAP)? With ``d`` unique features, that is one of
  ``2**d`` patterns; the contributions of every pattern are tabulated once per model (the
  closed form of GPUTreeShap, Mitchell et al., 2022: the Shapley weights of the polynomial
  ``prod_j (z_j + o_j t)``, ``z_j`` the cover fractions).
- For a row, each bit is an interval test on a numeric feature (the splits on one feature along
  a path intersect to ``lo < x <= hi``) or a table lookup for a categorical code, vectorised over
  rows; then each leaf's pattern indexes its table and the values are summed per feature.

The surrogate's leaves have three unique features on average, so the tables are small and the
work per row is a few array passes instead of a recursion. Decisions follow LightGBM's own
rules (``Tree::NumericalDecision`` / ``CategoricalDecision``: missing-value types, default
directions, NaN and negative categories to the right, values within 1e-35 of zero read as 0).
Every call also checks the leaf each row reaches against ``predict(pred_leaf=True)``; a model
the tables do not cover (linear trees, a leaf with more than `MAX_UNIQUE` unique features) or
any disagreement falls back to ``pred_contrib``, so the values are always LightGBM's.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["MAX_UNIQUE", "BoosterShap", "TreeShap", "tree_shap"]

log = logging.getLogger(__name__)

Array = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

MAX_UNIQUE = 12  # unique features on one path: a table of 2**12 x 12 values at most
_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float literal)
_MISSING_ZERO, _MISSING_NAN = 1, 2
_CHUNK = 32  # rows per pass: keeps the (slots x rows) work arrays in cache
_MIN_ROWS = 256
_TABLE_BLOCK = 1 << 21  # values per quadrature block while tabulating


def tree_shap(booster: lgb.Booster, x: Array) -> Array:
    """SHAP values of ``booster`` for the rows of ``x``, as ``predict(pred_contrib=True)``.

    Parameters
    ----------
    booster : lightgbm.Booster
        A trained model.
    x : ndarray of shape (n_rows, n_features)
        Feature values, as the booster was trained on.

    Returns
    -------
    ndarray of shape (n_rows, n_classes * (n_features + 1))
        Per class, one value per feature and the expected value last: the layout of
        LightGBM's ``pred_contrib``, whose values these equal to rounding.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 3))
    >>> data = lgb.Dataset(x, x[:, 0] + x[:, 1] ** 2)
    >>> booster = lgb.train({"verbosity": -1, "num_threads": 1}, data, 10)
    >>> phi = tree_shap(booster, x[:5])
    >>> bool(np.allclose(phi, booster.predict(x[:5], pred_contrib=True), rtol=0, atol=1e-12))
    True
    """
    return BoosterShap(booster, min_rows=0)(x)


class BoosterShap:
    """SHAP values of one booster, from its tables once enough rows are asked for.

    The tables take about as long to build as ``pred_contrib`` takes for a few hundred rows,
    so calls with fewer than ``min_rows`` rows use ``pred_contrib``; the first larger call
    builds them, and later calls reuse them.

    Parameters
    ----------
    booster : lightgbm.Booster
        A trained model.
    min_rows : int, default 256
        The smallest call that builds (or uses) the tables.
    """

    def __init__(self, booster: lgb.Booster, *, min_rows: int = _MIN_ROWS) -> None:
        self.booster = booster
        self.min_rows = min_rows
        self._tables: TreeShap | None = None
        self._built = False

    def __call__(self, x: Array) -> Array:
        """SHAP values in ``pred_contrib`` layout (see `tree_shap`)."""
        x = np.ascontiguousarray(x, dtype=float)
        if not len(x):  # LightGBM cannot predict on no rows
            width = self.booster.num_model_per_iteration() * (self.booster.num_feature() + 1)
            return np.zeros((0, width))
        if len(x) >= self.min_rows:
            if not self._built:
                self._tables, self._built = TreeShap.build(self.booster), True
            if self._tables is not None:
                leaves = np.asarray(self.booster.predict(x, pred_leaf=True), dtype=np.int64)
                phi, agrees = self._tables.values(x, leaves.reshape(len(x), -1))
                if agrees:
                    return phi
                log.warning("TreeSHAP tables disagree with LightGBM's leaves; using pred_contrib")
        return np.asarray(self.booster.predict(x, pred_contrib=True), dtype=float)


@dataclass(frozen=True)
class _Tree:
    """One tree of the model string: internal nodes ``0..``, leaves ``~0..``."""

    feature: Ints
    threshold: Array
    decision: Ints
    left: Ints
    right: Ints
    count: Ints  # rows through each internal node
    leaf_value: Array
    leaf_count: Ints
    cat_boundaries: Ints
    cat_threshold: Ints

    def missing_goes_left(self, value: float) -> Bools:
        """Each node's decision for a NaN or a zero (tree.h ``NumericalDecision``)."""
        kind = self.decision
        missing = (kind >> 2) & 3
        default = (kind & 2) > 0
        if np.isnan(value):
            # NaN is the missing value of type NaN; other types read it as 0.
            numeric = np.where(missing == _MISSING_NAN, default, self._zero(missing, default))
            return np.where(kind & 1 > 0, False, numeric)  # categorical: NaN goes right
        return self._zero(missing, default)

    def _zero(self, missing: Ints, default: Bools) -> Bools:
        return np.where(missing == _MISSING_ZERO, default, self.threshold >= 0.0)

    def category_mask(self, node: int, size: int) -> Bools:
        """Which codes ``0..size-1`` go left at a categorical node (its bitset, 32 per word)."""
        cat = int(self.threshold[node])
        words = self.cat_threshold[self.cat_boundaries[cat] : self.cat_boundaries[cat + 1]]
        codes = np.arange(size)
        word = words[np.minimum(codes // 32, len(words) - 1)]
        inside: Bools = (codes < 32 * len(words)) & ((word >> (codes % 32)) & 1 == 1)
        return inside

    def category_size(self, node: int) -> int:
        cat = int(self.threshold[node])
        return 32 * int(self.cat_boundaries[cat + 1] - self.cat_boundaries[cat])


@dataclass(frozen=True)
class _Slot:
    """One unique feature on one leaf's path: the splits on it there, intersected."""

    feature: int
    z: float  # the product of the path's cover fractions at those splits
    lo: float  # numeric: a regular value's bit is lo < x <= hi
    hi: float
    o_nan: bool  # the bit of a missing value
    o_zero: bool  # the bit of a zero (numeric)
    cat_mask: Bools | None  # categorical: the bit of codes 0.., then of any other code


@dataclass(frozen=True)
class _Leaf:
    tree: int
    leaf: int
    klass: int
    value: float
    slots: list[_Slot]


_Step = tuple[int, bool, float]  # (node, the path goes left, child rows / node rows)


@dataclass(frozen=True)
class TreeShap:
    """Lookup tables for the exact TreeSHAP values of one LightGBM booster.

    Build with `TreeShap.build`. Leaves are sorted by their number of slots (unique path
    features), most first; per-slot arrays hold every leaf's first slot, then every second
    slot, and so on, so that a leaf's pattern is built from contiguous blocks.

    Attributes
    ----------
    n_features, n_classes : int
        The booster's input width and outputs per iteration.
    """

    n_features: int
    n_classes: int
    expected: Array  # per class: the trees' expected values summed (pred_contrib's last column)
    slot_feature: Ints
    lo: Array
    hi: Array
    o_nan: Bools
    o_zero: Bools
    num_slots: tuple[Ints, ...]  # numeric slots per feature
    cat_slots: Ints
    cat_feature: Ints
    cat_offset: Ints  # categorical slots: bit = cat_table[offset + min(code, size)]
    cat_size: Ints
    cat_table: Bools
    blocks: tuple[tuple[int, int], ...]  # k: (first slot of the k-th slots, leaves with one)
    leaf_full: Ints  # per leaf: the pattern of the rows that reach it (every bit set)
    leaf_index: Ints  # (tree, leaf) -> leaf position, -1 for single-leaf trees
    order_leaf: NDArray[np.int32]  # slots sorted by output column: their leaf,
    order_base: NDArray[np.int32]  # and where their values for pattern 0 are in ``table``
    out_starts: Ints  # first sorted slot of each output column
    out_columns: Ints
    table: Array  # per leaf and slot: its contributions for patterns 0 .. 2**d - 1

    @classmethod
    def build(cls, booster: lgb.Booster) -> TreeShap | None:
        """Read the booster's trees and tabulate them; None for a model they do not cover."""
        header, _, body = booster.model_to_string().partition("\nTree=")
        if "\nis_linear=1" in body:
            return None
        n_features = int(_header(header, "max_feature_idx")) + 1
        n_classes = int(_header(header, "num_tree_per_iteration"))
        trees = [_parse_tree(part) for part in body.split("\nend of trees")[0].split("\nTree=")]
        leaves: list[_Leaf] = []
        expected = np.zeros(n_classes)
        for t, tree in enumerate(trees):
            expected[t % n_classes] += _expected_value(tree)
            if len(tree.leaf_value) > 1:
                leaves.extend(_read_tree(tree, t, t % n_classes))
        if not leaves or max(len(leaf.slots) for leaf in leaves) > MAX_UNIQUE:
            return None  # single-leaf trees only (nothing to tabulate), or too wide a leaf
        return _assemble(leaves, len(trees), n_features, n_classes, expected)

    def values(self, x: Array, leaves: Ints) -> tuple[Array, bool]:
        """SHAP values of the rows of ``x`` in ``pred_contrib`` layout.

        Also returns whether every row reaches, in every tree, the leaf in ``leaves``
        (LightGBM's ``pred_leaf``): the check that the tables decide as LightGBM does.
        """
        out = np.zeros((len(x), self.n_classes * (self.n_features + 1)))
        out[:, self.n_features :: self.n_features + 1] = self.expected
        work: _Work | None = None
        agrees = True
        for start in range(0, len(x), _CHUNK):
            stop = min(start + _CHUNK, len(x))
            if work is None or work.rows != stop - start:
                work = _Work(len(self.slot_feature), len(self.leaf_full), stop - start)
            part = x[start:stop]
            # LightGBM reads values within 1e-35 of zero as 0 (sparse rows keep no zeros).
            rows = np.ascontiguousarray(np.where(np.abs(part) <= _ZERO, 0.0, part).T)
            patterns = self._patterns(rows, work)
            agrees = agrees and self._reaches(patterns, leaves[start:stop])
            np.take(patterns, self.order_leaf, axis=0, out=work.index)
            work.index += self.order_base[:, None]
            np.take(self.table, work.index, out=work.values)
            phi = np.add.reduceat(work.values, self.out_starts, axis=0)
            out[start:stop, self.out_columns] = phi.T
        return out, agrees

    def _patterns(self, rows: Array, work: _Work) -> NDArray[np.int32]:
        """Each leaf's pattern for each row (leaves x rows): bit ``k`` for its ``k``-th slot."""
        xs = np.take(rows, self.slot_feature, axis=0, out=work.x)
        bits = np.greater(xs, self.lo[:, None], out=work.bits)
        bits &= np.less_equal(xs, self.hi[:, None], out=work.bits2)
        if len(self.cat_slots):
            # NaN, negative codes and codes beyond the bitsets go right: the last table entry.
            outside = np.isnan(rows) | (rows <= -1)
            codes = np.trunc(np.where(outside, 2.0**31, np.minimum(rows, 2.0**31))).astype(
                np.int64
            )
            keys = np.minimum(codes[self.cat_feature], self.cat_size[:, None])
            keys += self.cat_offset[:, None]
            bits[self.cat_slots] = self.cat_table[keys]
        for f, num in enumerate(self.num_slots):
            if len(num):
                for special, fixed in (
                    (np.isnan(rows[f]), self.o_nan),
                    (rows[f] == 0, self.o_zero),
                ):
                    if special.any():
                        bits[np.ix_(num, np.flatnonzero(special))] = fixed[num, None]
        patterns = work.patterns
        patterns[...] = bits[: len(patterns)]
        for k, (first, count) in enumerate(self.blocks[1:], start=1):
            patterns[:count] += bits[first : first + count].astype(np.int32) << k
        return patterns

    def _reaches(self, patterns: NDArray[np.int32], leaves: Ints) -> bool:
        at = self.leaf_index[np.arange(leaves.shape[1]), leaves]  # rows x trees
        row, tree = np.nonzero(at >= 0)
        leaf = at[row, tree]
        return bool(np.all(patterns[leaf, row] == self.leaf_full[leaf]))


class _Work:
    """Work arrays for one chunk of rows, reused: fresh large arrays cost page faults."""

    def __init__(self, n_slots: int, n_leaves: int, rows: int) -> None:
        self.rows = rows
        self.x = np.empty((n_slots, rows))
        self.bits = np.empty((n_slots, rows), dtype=bool)
        self.bits2 = np.empty((n_slots, rows), dtype=bool)
        self.patterns = np.empty((n_leaves, rows), dtype=np.int32)
        self.index = np.empty((n_slots, rows), dtype=np.int32)
        self.values = np.empty((n_slots, rows))


def _header(header: str, key: str) -> str:
    for line in header.splitlines():
        if line.startswith(key + "="):
            return line.split("=", 1)[1]
    raise ValueError(f"the LightGBM model string has no {key!r} line")


def _parse_tree(part: str) -> _Tree:
    fields = dict(line.split("=", 1) for line in part.splitlines()[1:] if "=" in line)

    def ints(key: str) -> Ints:
        return np.array(fields.get(key, "").split(), dtype=np.int64)

    return _Tree(
        feature=ints("split_feature"),
        threshold=np.array(fields.get("threshold", "").split(), dtype=float),
        decision=ints("decision_type"),
        left=ints("left_child"),
        right=ints("right_child"),
        count=ints("internal_count"),
        leaf_value=np.array(fields["leaf_value"].split(), dtype=float),
        leaf_count=ints("leaf_count"),
        cat_boundaries=ints("cat_boundaries"),
        cat_threshold=ints("cat_threshold"),
    )


def _expected_value(tree: _Tree) -> float:
    """Return the tree's mean output over its training rows, summed as LightGBM's does."""
    if len(tree.leaf_value) == 1:
        return float(tree.leaf_value[0])
    total = float(tree.count[0])
    value = 0.0
    for count, leaf in zip(tree.leaf_count, tree.leaf_value, strict=True):
        value += (float(count) / total) * float(leaf)
    return value


def _read_tree(tree: _Tree, t: int, klass: int) -> list[_Leaf]:
    """Every leaf of the tree with its slots, depth first."""
    nodes = _Nodes(tree)
    out: list[_Leaf] = []
    stack: list[tuple[int, list[_Step]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if node < 0:
            leaf = ~node
            out.append(_Leaf(t, leaf, klass, float(tree.leaf_value[leaf]), nodes.slots(path)))
            continue
        count = nodes.count(node)
        for child, left in ((nodes.right[node], False), (nodes.left[node], True)):
            stack.append((child, [*path, (node, left, nodes.count(child) / count)]))
    return out


class _Nodes:
    """A tree's node arrays as Python lists, and the per-node facts its slots need."""

    def __init__(self, tree: _Tree) -> None:
        self.tree = tree
        self.feature: list[int] = tree.feature.tolist()
        self.threshold: list[float] = tree.threshold.tolist()
        self.left: list[int] = tree.left.tolist()
        self.right: list[int] = tree.right.tolist()
        self.internal: list[int] = tree.count.tolist()
        self.leaves: list[int] = tree.leaf_count.tolist()
        self.categorical: list[bool] = ((tree.decision & 1) > 0).tolist()
        self.nan_left: list[bool] = tree.missing_goes_left(math.nan).tolist()
        self.zero_left: list[bool] = tree.missing_goes_left(0.0).tolist()
        self._masks: dict[int, Bools] = {}
        self._single: dict[tuple[int, bool], Bools] = {}

    def count(self, node: int) -> int:
        return self.internal[node] if node >= 0 else self.leaves[~node]

    def mask(self, node: int) -> Bools:
        """Return the codes that go left at a categorical node (as many as its bitset holds)."""
        if node not in self._masks:
            size = self.tree.category_size(node)
            self._masks[node] = self.tree.category_mask(node, size)
        return self._masks[node]

    def slots(self, path: list[_Step]) -> list[_Slot]:
        by_feature: dict[int, list[_Step]] = {}
        for step in path:
            by_feature.setdefault(self.feature[step[0]], []).append(step)
        return [self._slot(f, steps) for f, steps in by_feature.items()]

    def _slot(self, feature: int, steps: list[_Step]) -> _Slot:
        z = 1.0
        for _, _, fraction in steps:
            z *= fraction  # a repeated feature: TreeSHAP multiplies its fractions
        o_nan = all(self.nan_left[n] == left for n, left, _ in steps)
        o_zero = all(self.zero_left[n] == left for n, left, _ in steps)
        if self.categorical[steps[0][0]]:
            return _Slot(feature, z, -math.inf, math.inf, o_nan, o_zero, self._cat_mask(steps))
        lo = max((self.threshold[n] for n, left, _ in steps if not left), default=-math.inf)
        hi = min((self.threshold[n] for n, left, _ in steps if left), default=math.inf)
        return _Slot(feature, z, lo, hi, o_nan, o_zero, None)

    def _cat_mask(self, steps: list[_Step]) -> Bools:
        # Codes 0..size-1, then one entry for any code beyond every bitset, NaN or negative:
        # those go right at every categorical split.
        if len(steps) == 1:  # the common case, shared by the leaves below the node
            node, left, _ = steps[0]
            key = (node, left)
            if key not in self._single:
                goes = np.append(self.mask(node), False)
                self._single[key] = goes if left else ~goes
            return self._single[key]
        size = max(len(self.mask(n)) for n, _, _ in steps)
        out = np.ones(size + 1, dtype=bool)
        for n, left, _ in steps:
            goes = np.zeros(size + 1, dtype=bool)
            goes[: len(self.mask(n))] = self.mask(n)
            out &= goes == left
        return out


def _assemble(
    leaves: list[_Leaf], n_trees: int, n_features: int, n_classes: int, expected: Array
) -> TreeShap:
    leaves = sorted(leaves, key=lambda leaf: -len(leaf.slots))  # stable: widest first
    widths = np.array([len(leaf.slots) for leaf in leaves], dtype=np.int64)
    by_leaf, offsets = _tables([[s.z for s in leaf.slots] for leaf in leaves], leaves)
    slots: list[_Slot] = []
    slot_leaf: list[int] = []
    klass: list[int] = []
    blocks: list[tuple[int, int]] = []
    for k in range(int(widths[0])):
        count = int(np.sum(widths > k))
        blocks.append((len(slots), count))
        for p in range(count):
            slots.append(leaves[p].slots[k])
            slot_leaf.append(p)
            klass.append(leaves[p].klass)
    position = np.repeat(np.arange(len(blocks)), [c for _, c in blocks])  # k of each slot
    at = np.array(slot_leaf, dtype=np.int64)
    feature = np.array([s.feature for s in slots], dtype=np.int64)
    column = np.array(klass) * (n_features + 1) + feature  # the slot's pred_contrib column
    order = np.argsort(column, kind="stable")
    starts = np.flatnonzero(np.r_[True, column[order][1:] != column[order][:-1]])
    table, base = _in_slot_order(
        by_leaf, offsets[at] + (position << widths[at]), widths[at], order
    )
    cats = [i for i, s in enumerate(slots) if s.cat_mask is not None]
    masks = [m for s in slots if (m := s.cat_mask) is not None]
    cat_table, cat_offset = _shared(masks)
    categorical = np.zeros(len(slots), dtype=bool)
    categorical[cats] = True
    leaf_index = np.full((n_trees, max(leaf.leaf for leaf in leaves) + 1), -1, dtype=np.int64)
    for p, leaf in enumerate(leaves):
        leaf_index[leaf.tree, leaf.leaf] = p
    return TreeShap(
        n_features=n_features,
        n_classes=n_classes,
        expected=expected,
        slot_feature=feature,
        lo=np.array([s.lo for s in slots]),
        hi=np.array([s.hi for s in slots]),
        o_nan=np.array([s.o_nan for s in slots], dtype=bool),
        o_zero=np.array([s.o_zero for s in slots], dtype=bool),
        num_slots=tuple(np.flatnonzero((feature == f) & ~categorical) for f in range(n_features)),
        cat_slots=np.array(cats, dtype=np.int64),
        cat_feature=feature[cats],
        cat_offset=cat_offset,
        cat_size=np.array([len(m) - 1 for m in masks], dtype=np.int64),
        cat_table=cat_table,
        blocks=tuple(blocks),
        leaf_full=(1 << widths) - 1,
        leaf_index=leaf_index,
        order_leaf=at[order].astype(np.int32),
        order_base=base.astype(np.int32),
        out_starts=starts,
        out_columns=column[order][starts],
        table=table,
    )


def _shared(masks: list[Bools]) -> tuple[Bools, Ints]:
    """Concatenate the slots' category masks, each distinct one once; return their offsets.

    The slots below one categorical split share its mask (`_Nodes._cat_mask`); storing it once
    per slot would cost (slots x categories) for a column of thousands of categories.
    """
    first: dict[int, int] = {}
    kept: list[Bools] = []
    offsets = np.zeros(len(masks), dtype=np.int64)
    size = 0
    for i, mask in enumerate(masks):
        if id(mask) not in first:
            first[id(mask)] = size
            kept.append(mask)
            size += len(mask)
        offsets[i] = first[id(mask)]
    return (np.concatenate(kept) if kept else np.zeros(0, dtype=bool)), offsets


def _in_slot_order(table: Array, start: Ints, width: Ints, order: Ints) -> tuple[Array, Ints]:
    """Lay the table out in the order the slots are read, so reads stream through memory.

    ``start`` and ``width`` are each slot's first value in ``table`` and its leaf's number of
    slots; returns the new table and each sorted slot's first value in it.
    """
    sizes = (1 << width)[order]
    base = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    within = np.arange(int(sizes.sum())) - np.repeat(base, sizes)
    return table[np.repeat(start[order], sizes) + within], base


def _tables(leaf_z: list[list[float]], leaves: list[_Leaf]) -> tuple[Array, Ints]:
    """Every leaf's contributions for every pattern, flat: leaf offset + slot x 2**d + pattern."""
    widths = np.array([len(z) for z in leaf_z], dtype=np.int64)
    sizes = (1 << widths) * widths
    offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    table = np.zeros(int(sizes.sum()))
    values = np.array([leaf.value for leaf in leaves])
    for d in np.unique(widths):
        group = np.flatnonzero(widths == d)
        block = _pattern_contributions(np.array([leaf_z[g] for g in group]), values[group])
        slot_major = block.transpose(0, 2, 1).reshape(len(group), -1)
        table[offsets[group][:, None] + np.arange(slot_major.shape[1])] = slot_major
    return table, offsets


def _pattern_contributions(z: Array, v: Array) -> Array:
    """TreeSHAP contributions of leaves with ``d`` unique path features, for every pattern.

    For the pattern ``o`` (one bit per feature) and cover fractions ``z``, feature ``i`` gets
    ``v (o_i - z_i) sum_k w_k [t^k] prod_{j != i} (z_j + o_j t)`` with the Shapley weights
    ``w_k = k! (d-1-k)! / d!``: what LightGBM's ``UnwoundPathSum`` sums along the path. As
    ``w_k`` is the Beta integral of ``u^k (1-u)^(d-1-k)``, that sum is the integral over
    ``0..1`` of ``prod_{j != i} (z_j + (o_j - z_j) u)``, a polynomial of degree ``d - 1``:
    Gauss-Legendre quadrature on ``ceil(d / 2)`` nodes integrates it exactly, in a few array
    operations instead of a loop over the path. Returns an array of shape (leaves, 2**d, d).
    """
    n_leaves, d = z.shape
    bits = ((np.arange(1 << d)[:, None] >> np.arange(d)) & 1).astype(float)  # (patterns, d)
    nodes, weights = np.polynomial.legendre.leggauss((d + 1) // 2)
    u, w = (nodes + 1) / 2, weights / 2  # on 0..1
    out = np.empty((n_leaves, 1 << d, d))
    step = max(1, _TABLE_BLOCK // ((1 << d) * len(u) * d))  # leaves at a time: bounded memory
    for first in range(0, n_leaves, step):
        zs = z[first : first + step, None, :, None]  # (leaves, 1, d, 1)
        # factors[l, p, j, q] = z_j + (o_j - z_j) u_q, never 0: z_j > 0 and 0 < u_q < 1.
        factors = zs + (bits[None, :, :, None] - zs) * u
        others = np.prod(factors, axis=2, keepdims=True) / factors  # prod over j != i
        values = v[first : first + step, None, None]
        out[first : first + step] = values * (bits[None] - zs[..., 0]) * (others @ w)
    return out
