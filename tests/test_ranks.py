"""tracing.ranks: grouped ROC AUC and average precision from one score sort.

Oracles: scikit-learn per group, and the per-combination lexsort implementation that
tracing.slices used before (copied below), which the new one must equal exactly (same bits).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from tracing.ranks import (
    GROUPED,
    ScoreOrder,
    _label_type,
    grouped_average_precision,
    grouped_roc_auc,
)

# ---------------------------------------------------------------------------------------------
# The old implementation (tracing/slices.py at c26fbdb), kept verbatim as a second oracle


def _old_runs(g, s):
    return np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])] if len(g) else np.zeros(0, bool)


def old_roc_auc(y, s, g, n):
    if len(g) == 0:
        return np.full(n, np.nan)
    order = np.lexsort((s, g))
    g, s, y = g[order], s[order], y[order]
    count = np.bincount(g, minlength=n)
    first = np.r_[0, np.cumsum(count)[:-1]]
    rank = np.arange(len(g)) - first[g] + 1.0
    start = _old_runs(g, s)
    run = np.cumsum(start) - 1
    idx = np.flatnonzero(start)
    last = np.r_[idx[1:] - 1, len(g) - 1]
    mid = ((rank[idx] + rank[last]) / 2)[run]
    pos = np.bincount(g, weights=y * 1.0, minlength=n)
    neg = count - pos
    rank_sum = np.bincount(g, weights=mid * y, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def old_pr_auc(y, s, g, n):
    if len(g) == 0:
        return np.full(n, np.nan)
    order = np.lexsort((-s, g))
    g, s, y = g[order], s[order], y[order]
    count = np.bincount(g, minlength=n)
    first = np.r_[0, np.cumsum(count)[:-1]]
    seen = np.arange(len(g)) - first[g] + 1.0
    cum = np.cumsum(y * 1.0)
    before = np.r_[0.0, cum][first]
    start = _old_runs(g, s)
    idx = np.flatnonzero(start)
    last = np.r_[idx[1:] - 1, len(g) - 1]
    pos = np.bincount(g, weights=y * 1.0, minlength=n)
    run_pos = np.bincount(np.cumsum(start) - 1, weights=y * 1.0, minlength=len(idx))
    run_g = g[last]
    tp = cum[last] - before[run_g]
    with np.errstate(divide="ignore", invalid="ignore"):
        contrib = run_pos / pos[run_g] * tp / seen[last]
    ap = np.bincount(run_g, weights=contrib, minlength=n)
    return np.where(pos > 0, ap, np.nan)


# ---------------------------------------------------------------------------------------------
# Data


@st.composite
def grouped_data(draw, max_rows=300):
    n = draw(st.integers(0, max_rows))
    n_groups = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.sampled_from([2, 3, 10, 1000, None]))  # None: continuous scores
    y = rng.random(n) < draw(st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]))
    s = rng.random(n) if levels is None else rng.integers(0, levels, n) / levels
    s = s + 0.3 * y * draw(st.sampled_from([0.0, 1.0]))  # informative or not
    if draw(st.booleans()):
        s[rng.random(n) < 0.1] = np.nan
    if draw(st.booleans()):
        s[rng.random(n) < 0.1] = -0.0 if draw(st.booleans()) else 0.0
    g = rng.integers(0, n_groups, n)
    return y, s, g, n_groups


def sklearn_per_group(fn, y, s, g, n_groups, need_both):
    out = np.full(n_groups, np.nan)
    for k in range(n_groups):
        sel = (g == k) & ~np.isnan(s)
        yk = y[sel]
        ok = yk.any() and (not yk.all() or not need_both)
        if ok:
            out[k] = fn(yk, s[sel])
    return out


def scored(y, s, g):
    keep = ~np.isnan(s)
    return y[keep], s[keep], g[keep]


# ---------------------------------------------------------------------------------------------
# Equality with scikit-learn and with the old implementation


@settings(max_examples=300, deadline=None)
@given(grouped_data())
def test_grouped_roc_auc_equals_scikit_learn_and_the_old_lexsort(data):
    y, s, g, n_groups = data
    got = grouped_roc_auc(y, s, g, n_groups)
    want = sklearn_per_group(roc_auc_score, y, s, g, n_groups, need_both=True)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got, old_roc_auc(*scored(y, s, g), n_groups))


@settings(max_examples=300, deadline=None)
@given(grouped_data())
def test_grouped_average_precision_equals_scikit_learn_and_the_old_lexsort(data):
    y, s, g, n_groups = data
    got = grouped_average_precision(y, s, g, n_groups)
    want = sklearn_per_group(average_precision_score, y, s, g, n_groups, need_both=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got, old_pr_auc(*scored(y, s, g), n_groups))


@settings(max_examples=200, deadline=None)
@given(grouped_data(), st.integers(0, 2**32 - 1))
def test_subsets_and_wanted_groups_equal_the_metric_on_those_rows(data, seed):
    """The search's calls: a subset of rows (increasing positions) and only some groups."""
    y, s, g, n_groups = data
    rng = np.random.default_rng(seed)
    order = ScoreOrder.from_scores(y, s)
    rows = np.flatnonzero(rng.random(len(y)) < 0.6)
    wanted = rng.random(n_groups) < 0.7
    positions, group = order.positions(rows, g[rows])
    assert positions is not None
    assert np.all(np.diff(positions) > 0)
    assert sorted(order.order[positions]) == list(rows)
    count = np.bincount(g[rows], minlength=n_groups)  # as the search counts: unscored rows too
    for name, old in (("roc_auc", old_roc_auc), ("pr_auc", old_pr_auc)):
        want = np.where(wanted, old(*scored(y[rows], s[rows], g[rows]), n_groups), np.nan)
        for known in (None, count):
            got = GROUPED[name](
                order, group, n_groups, positions=positions, wanted=wanted, count=known
            )
            np.testing.assert_array_equal(got, want)


def test_every_row_by_position_equals_by_row():
    rng = np.random.default_rng(1)
    y, s, g = rng.random(500) < 0.4, np.round(rng.random(500), 1), rng.integers(0, 9, 500)
    order = ScoreOrder.from_scores(y, s)
    positions, group = order.positions(None, g)
    assert positions is None
    np.testing.assert_array_equal(order.roc_auc(group, 9), grouped_roc_auc(y, s, g, 9))
    np.testing.assert_array_equal(
        order.average_precision(group, 9), grouped_average_precision(y, s, g, 9)
    )


def test_many_groups_use_wide_labels():
    """Above 255 and 65,535 groups the labels widen (16 bits, then intp): same values."""
    rng = np.random.default_rng(2)
    n = 200_000
    y, s = rng.random(n) < 0.5, np.round(rng.random(n), 3)
    for n_groups in (300, 70_000):
        g = rng.integers(0, n_groups, n)
        np.testing.assert_array_equal(
            grouped_roc_auc(y, s, g, n_groups), old_roc_auc(y, s, g, n_groups)
        )
        np.testing.assert_array_equal(
            grouped_average_precision(y, s, g, n_groups), old_pr_auc(y, s, g, n_groups)
        )
    assert _label_type(256) is np.uint8 and _label_type(257) is np.uint16
    assert _label_type(1 << 16) is np.uint16 and _label_type((1 << 16) + 1) is np.intp


def test_one_class_and_empty_groups_are_nan():
    y = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    s = np.array([0.2, 0.4, 0.1, 0.3, 0.5, 0.5])
    g = np.array([0, 0, 1, 1, 2, 2])
    auc = grouped_roc_auc(y, s, g, 4)
    ap = grouped_average_precision(y, s, g, 4)
    assert np.isnan(auc[[0, 1, 3]]).all() and auc[2] == 0.5
    assert ap[0] == 1.0 and np.isnan(ap[[1, 3]]).all() and ap[2] == 0.5
    assert np.isnan(grouped_roc_auc([], [], [], 2)).all()
    assert np.isnan(grouped_roc_auc([1, 0], [np.nan, np.nan], [0, 0], 1)).all()


def test_positions_must_increase():
    order = ScoreOrder.from_scores([0, 1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="increasing"):
        order.roc_auc(np.array([0, 0]), 1, positions=np.array([2, 1]))
    with pytest.raises(ValueError, match="expected 3"):
        order.roc_auc(np.array([0, 0]), 1)


def test_ties_within_one_group_only_count_half():
    """A score shared with another group's row is no tie inside either group."""
    y = np.array([1, 0, 1, 0])
    s = np.array([0.5, 0.5, 0.5, 0.7])
    g = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(grouped_roc_auc(y, s, g, 2), [0.5, 0.0])
    np.testing.assert_array_equal(grouped_average_precision(y, s, g, 2), [0.5, 0.5])
    order = ScoreOrder.from_scores(y, s)
    assert order.any_tied and order.run.tolist() == [0, 0, 0, 1]


# ---------------------------------------------------------------------------------------------
# The slice search on rank metrics, end to end, against scikit-learn on every ranked slice


def _rank_analysis(seed: int, n: int):
    import pandas as pd

    from tracing import prepare_analysis

    rng = np.random.default_rng(seed)
    frames = []
    for m in (n, n):
        cols = {f"f{j}": rng.choice(["a", "b", "c"], size=m).astype(object) for j in range(3)}
        y = rng.random(m) < 0.4
        y[:2] = [True, False]
        score = 0.4 * y + 0.6 * rng.random(m) - 0.3 * (cols["f0"] == "a")
        score = np.clip(score, 0, 1).round(1)  # ties
        score[rng.random(m) < 0.1] = np.nan  # a prediction without a score
        cols["actual"], cols["score"] = y.astype(int), score
        cols["prediction"] = (np.nan_to_num(score) >= 0.5).astype(int)
        frames.append(pd.DataFrame(cols))
    roles = {
        "actual_label": "actual",
        "prediction_label": "prediction",
        "prediction_score": "score",
        "features": ("f0", "f1", "f2"),
    }
    return prepare_analysis(*frames, roles=roles, model_type="binary", positive_class=1)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(40, 400),
    metric=st.sampled_from(["roc_auc", "pr_auc"]),
    min_size=st.integers(1, 20),
)
def test_ranked_slices_have_scikit_learns_rank_metric(seed, n, metric, min_size):
    """Every ranked slice's metric is scikit-learn's on its rows (unscored rows left out), and
    the top impacts are the largest over every slice of one or two conditions."""
    import itertools

    import pandas as pd

    from tracing.errors import DataError
    from tracing.slices import find_slices

    a = _rank_analysis(seed, n)
    try:
        res = find_slices(a, metric=metric, max_depth=2, min_size=min_size, top=8)
    except DataError:
        return  # undefined on the whole production data
    frame = a.production_frame
    fn = roc_auc_score if metric == "roc_auc" else average_precision_score
    scored = frame["score"].notna().to_numpy()
    y, s = frame["actual"].to_numpy(), frame["score"].to_numpy()
    overall = fn(y[scored], s[scored])

    def value(mask):
        keep = mask & scored
        ok = y[keep].any() and (metric == "pr_auc" or not y[keep].all())
        return fn(y[keep], s[keep]) if ok else np.nan

    # Values as the slices' bins label them: values rarer than min_size on both sides are
    # pooled into one "(other)" value, a slice of its own.
    labels = pd.DataFrame({
        c: np.asarray(res.bins[c].labels, dtype=object)[res.bins[c].codes(frame[c])]
        for c in ("f0", "f1", "f2")
    })  # fmt: skip
    impacts = {}
    for depth in (1, 2):
        for combo in itertools.combinations(["f0", "f1", "f2"], depth):
            for found, idx in labels.groupby(list(combo)).indices.items():
                key = found if isinstance(found, tuple) else (found,)
                mask = np.zeros(len(frame), dtype=bool)
                mask[idx] = True
                parents = [labels[c].to_numpy() == k for c, k in zip(combo, key, strict=True)]
                if len(idx) < min_size or (
                    depth == 2 and min(p.sum() for p in parents) == len(idx)
                ):
                    continue  # too small, or a condition that removes no row
                impact = (overall - value(mask)) * len(idx) / len(frame)
                if np.isfinite(impact) and impact > 1e-12:
                    impacts[frozenset(zip(combo, key, strict=True))] = impact
    expected = sorted(impacts.values(), reverse=True)[:8]
    np.testing.assert_allclose(res.table["impact"], expected, rtol=1e-9, atol=1e-12)
    for conds, got in res.table[["conditions", "metric"]].itertuples(index=False):
        mask = np.ones(len(frame), dtype=bool)
        for c, k in conds:
            mask &= labels[c].to_numpy() == k
        assert got == pytest.approx(value(mask), rel=1e-12, abs=1e-12)
