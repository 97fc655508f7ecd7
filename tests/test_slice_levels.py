"""Slice search level by level over the engine seam: equal to the in-memory ones, brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tracing import _slice_levels as levels
from tracing import _slice_search as search
from tracing import rowexpr
from tracing.engine import GroupSums, MemoryTable, Side
from tracing.metrics import Direction, Metric, metric_of, worse_by
from tracing.slices import needed_stats

P = Side.PRODUCTION
RATIO = ["accuracy", "recall", "precision", "mae", "me", "mape"]
OTHER = ["f1", "rmse"]
BINARY = {"accuracy", "recall", "precision", "f1"}


# ---------------------------------------------------------------------------------------------
# Problems: codes, per-row statistics, and the two scorers of the same impact


def _stats(
    kind: str, rng: np.random.Generator, n: int, bad: np.ndarray, dyadic: bool, noise: float = 0.15
) -> dict:
    """Per-row statistics of a binary or regression model; ``bad`` rows err more."""
    if kind == "binary":
        y = rng.random(n) < 0.4
        wrong = rng.random(n) < np.where(bad, 0.9, noise)
        p = y ^ wrong
        out = {
            "n": np.ones(n),
            "tp": (y & p) * 1.0,
            "fp": (~y & p) * 1.0,
            "fn": (y & ~p) * 1.0,
            "pos": y * 1.0,
            "pred_pos": p * 1.0,
            "correct": (y == p) * 1.0,
        }
        return out
    if dyadic:  # sums are exact, so pandas (compensated sums) agrees to the bit
        err = rng.integers(-8, 9, n) / 4.0 + np.where(bad, 3.0, 0.0)
        y = rng.integers(0, 4, n) / 2.0
    else:
        err = rng.normal(size=n) + np.where(bad, 2.5, 0.0)
        y = rng.normal(size=n)
    yhat = y + err
    ape = np.where(y != 0, np.abs(err) / np.where(y != 0, np.abs(y), 1.0), 0.0)
    return {
        "n": np.ones(n),
        "err": err,
        "abs_err": np.abs(err),
        "sq_err": err * err,
        "ape": ape,
        "zero_actual": (y == 0) * 1.0,
        "y": y,
        "y2": y * y,
        "yhat": yhat,
    }


class Problem:
    """One search problem, with both scorers and the excess of ratio metrics."""

    def __init__(self, codes, cards, stats, metric: Metric, min_size: int) -> None:
        self.codes = [np.asarray(c, dtype=np.int32) for c in codes]
        self.cards = list(cards)
        self.metric, self.min_size = metric, min_size
        self.names = needed_stats(metric, list(stats))
        self.stats = {k: stats[k] for k in self.names}
        self.n = len(self.codes[0])
        self.keys = [f"f{j}" for j in range(len(codes))]
        m = metric
        self.overall = float(m.from_stats({k: v.sum() for k, v in self.stats.items()}))
        self.volume_total = float(self.stats[m.volume_stat].sum()) if m.decomposable else self.n
        self.table = MemoryTable.from_arrays(
            {P: (dict(zip(self.keys, self.codes, strict=True)), self.stats)},
            cards=dict(zip(self.keys, self.cards, strict=True)),
        )

    def impact(self, count, sums) -> np.ndarray:
        m = self.metric
        value = np.asarray(m.from_stats(sums), dtype=float).reshape(len(count))
        volume = sums[m.volume_stat] if m.decomposable else count
        impact = worse_by(value, self.overall, m.direction) * volume / self.volume_total
        ok = (count >= self.min_size) & np.isfinite(impact)
        return np.where(ok, impact, -np.inf)

    def scorer(self, rows, group, n_groups):
        """`tracing.slices._scorer` over row arrays."""
        count = np.bincount(group, minlength=n_groups)
        sums = {
            k: count
            if k == "n"
            else np.bincount(group, weights=v if rows is None else v[rows], minlength=n_groups)
            for k, v in self.stats.items()
        }
        return count, self.impact(count, sums)

    def score_cells(self, cells: GroupSums):
        """The same from an engine's sums."""
        count = cells.count
        sums = {k: count if k == "n" else cells.sums[k] for k in self.names}
        return count, self.impact(count, sums)

    def excess_rows(self) -> np.ndarray:
        """`tracing.slices._excess`."""
        m = self.metric
        u, v = self.stats[m.numerator], self.stats[m.denominator]
        total, overall = float(v.sum()), self.overall
        if m.direction is Direction.HIGHER_IS_BETTER:
            return ((overall * v - u) / total)[None, :]
        if m.direction is Direction.LOWER_IS_BETTER:
            return ((u - overall * v) / total)[None, :]
        a = abs(overall)
        return np.stack([(u - a * v) / total, (-u - a * v) / total])

    def excess(self):
        m = self.metric
        total = float(self.stats[m.denominator].sum())
        return levels.ratio_excess(
            m.numerator, m.denominator, overall=self.overall, total=total, direction=m.direction
        )

    @property
    def floor(self) -> float:
        return 1e-12 * max(1.0, abs(self.overall))

    def in_memory(self, max_depth: int, top: int):
        limits = {"max_depth": max_depth, "top": top, "min_size": self.min_size}
        limits["floor"] = self.floor
        if self.metric.decomposable:
            return search.branch_and_bound(
                self.codes, self.cards, self.scorer, self.excess_rows(), **limits
            )
        return search.exhaustive(self.codes, self.cards, self.scorer, **limits)

    def pushed_down(
        self,
        max_depth: int,
        top: int,
        *,
        bound: bool = True,
        max_sets: int = 64,
        probe: int = 8,
        kinds: bool = False,
    ):
        excess = self.excess() if self.metric.decomposable and bound else None
        m = self.metric
        ratio = (m.numerator, m.denominator) if kinds and excess else None
        return levels.search_levels(
            self.table,
            P,
            self.keys,
            [k for k in self.names if k != "n"],
            self.score_cells,
            excess=excess,
            max_depth=max_depth,
            top=top,
            min_size=self.min_size,
            floor=self.floor,
            max_sets=max_sets,
            probe=probe,
            ratio=ratio,
        )

    def brute_force(self, max_depth: int, top: int) -> list[tuple]:
        """Every combination's cells with pandas groupby; the ranking rule of `TopK`."""
        df = pd.DataFrame(dict(zip(self.keys, self.codes, strict=True)) | self.stats)
        counts: dict[tuple, dict] = {(): {(): self.n}}
        ranked = []
        for depth in range(1, max_depth + 1):
            for combo in itertools.combinations(range(len(self.keys)), depth):
                cols = [self.keys[j] for j in combo]
                g = df.groupby(cols, sort=True)
                size = g.size()
                sums = g[[k for k in self.names if k != "n"]].sum()
                cells = [
                    tuple(int(v) for v in (i if isinstance(i, tuple) else (i,)))
                    for i in size.index
                ]
                counts[combo] = dict(zip(cells, size.to_numpy().tolist(), strict=True))
                count = size.to_numpy()
                s = {k: count if k == "n" else sums[k].to_numpy() for k in self.names}
                impact = self.impact(count, s)
                for cell, c, imp in zip(cells, count, impact, strict=True):
                    if not imp > self.floor:
                        continue
                    parents = [
                        counts[combo[:i] + combo[i + 1 :]][cell[:i] + cell[i + 1 :]]
                        for i in range(depth)
                    ]
                    if c in parents:
                        continue
                    ranked.append((-float(imp), -depth, combo, cell))
        ranked.sort()
        return [(-imp, combo, cell) for imp, _, combo, cell in ranked[:top]]


def _found(found) -> list[tuple]:
    return [(f.impact, f.combo, f.values) for f in found]


@st.composite
def problems(draw, metrics=RATIO + OTHER):
    metric_id = draw(st.sampled_from(metrics))
    kind = "binary" if metric_id in BINARY else "regression"
    n = draw(st.integers(1, 150))
    d = draw(st.integers(1, 5))
    cards = [draw(st.integers(1, 6)) for _ in range(d)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    codes = [rng.integers(0, c, n) for c in cards]
    bad = np.zeros(n, dtype=bool)
    if draw(st.booleans()):  # a planted slice of one to three conditions
        combo = rng.choice(d, size=min(d, draw(st.integers(1, 3))), replace=False)
        bad = np.ones(n, dtype=bool)
        for j in combo:
            bad &= codes[j] == rng.integers(0, cards[j])
    dyadic = draw(st.booleans())
    stats = _stats(kind, rng, n, bad, dyadic)
    min_size = draw(st.integers(1, 20))
    problem = Problem(codes, cards, stats, metric_of(metric_id), min_size)
    max_depth = draw(st.integers(1, 3))
    top = draw(st.integers(1, 10))
    max_sets = draw(st.sampled_from([1, 2, 3, 64]))
    probe = draw(st.sampled_from([0, 1, 8]))
    return problem, max_depth, top, (max_sets, probe), dyadic or kind == "binary"


# ---------------------------------------------------------------------------------------------
# Exactness


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_levels_equal_the_in_memory_search_and_brute_force(case):
    problem, max_depth, top, (max_sets, probe), exact_sums = case
    assume(math.isfinite(problem.overall))
    got, stats = problem.pushed_down(max_depth, top, max_sets=max_sets, probe=probe)
    want, _ = problem.in_memory(max_depth, top)
    # the same sums in the same order: the same cells, impacts (to the bit) and order
    assert _found(got) == _found(want)
    brute = problem.brute_force(max_depth, top)
    assert [(c, v) for _, c, v in _found(got)] == [(c, v) for _, c, v in brute] or not exact_sums
    np.testing.assert_allclose(
        sorted(f.impact for f in got), sorted(i for i, _, _ in brute), rtol=1e-9
    )
    assert stats.queries >= 1 and len(stats.per_level) <= max_depth
    # bounds from the rows' kinds (binary rates) or, for other ratios, the summed terms
    kinds, _ = problem.pushed_down(max_depth, top, max_sets=max_sets, probe=probe, kinds=True)
    assert _found(kinds) == _found(want)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(metrics=RATIO))
def test_ratio_metrics_without_bounds_give_the_same_top_k(case):
    """The bounds only prune: the unbounded level search (every cell of min_size) agrees."""
    problem, max_depth, top, (max_sets, probe), _ = case
    assume(math.isfinite(problem.overall))
    bounded, _ = problem.pushed_down(max_depth, top, max_sets=max_sets, probe=probe)
    plain, _ = problem.pushed_down(max_depth, top, bound=False, max_sets=max_sets, probe=probe)
    assert _found(bounded) == _found(plain)


def test_ties_keep_the_top_k_order_deeper_first_then_codes():
    """Equal impacts: deeper first, then feature order, then codes (the TopK rule)."""
    # two features, every cell of (f0, f1) the same: many exact ties
    f0 = np.repeat([0, 1], 40)
    f1 = np.tile([0, 1], 40)
    correct = np.where((f0 == 1) & (f1 == 1), 0.0, 1.0)
    stats = {"n": np.ones(80), "correct": correct}
    problem = Problem([f0, f1, f1.copy()], [2, 2, 2], stats, metric_of("accuracy"), 1)
    for top in range(1, 8):
        got, _ = problem.pushed_down(3, top)
        want, _ = problem.in_memory(3, top)
        assert _found(got) == _found(want)
        assert [(c, v) for _, c, v in _found(got)] == [
            (c, v) for _, c, v in problem.brute_force(3, top)
        ]


# ---------------------------------------------------------------------------------------------
# Pruning happens


def _planted(
    n: int = 20_000, d: int = 6, card: int = 5, seed: int = 1, noise: float = 0.15
) -> Problem:
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, card, n) for _ in range(d)]
    bad = (codes[1] == 2) & (codes[3] == 4)
    stats = _stats("binary", rng, n, bad, True, noise)
    return Problem(codes, [card] * d, stats, metric_of("accuracy"), 30)


def test_a_planted_slice_prunes_most_of_the_rows_and_sets():
    problem = _planted(d=10, noise=0.02)
    got, bounded = problem.pushed_down(3, 3)
    _, one_query = problem.pushed_down(3, 3, probe=0)
    _, plain = problem.pushed_down(3, 3, bound=False)
    want, _ = problem.in_memory(3, 3)
    assert _found(got) == _found(want)
    assert got[0].combo == (1, 3) and got[0].values == (2, 4)
    # without bounds every pair and triple is counted on all of its parents' big rows
    assert plain.combos_counted == plain.combos_total == 10 + 45 + 120
    assert plain.rows_counted == 175 * problem.n
    assert one_query.combos_counted < plain.combos_counted / 2
    assert one_query.queries <= len(one_query.per_level) == 3  # at most one query per level
    # the probe fills the top-k on the most promising pairs first: the rest is pruned
    assert bounded.combos_counted < plain.combos_counted / 5
    assert bounded.rows_counted < plain.rows_counted / 5
    assert bounded.cells_counted < plain.cells_counted / 100


def _kinds_of(problem: Problem):
    m = problem.metric
    return levels._row_kinds(problem.table, P, problem.excess(), m.numerator, m.denominator)


@settings(max_examples=100, deadline=None)
@given(problems(metrics=["accuracy", "recall", "precision"]), st.integers(1, 3))
def test_row_kinds_give_the_bounds_terms_the_engine_would_sum(case, key):
    """P_b, p_b, m_b and sum |x| from two sums equal the sums of `excess_definitions`."""
    problem = case[0]
    assume(math.isfinite(problem.overall))
    kinds = _kinds_of(problem)
    assert kinds is not None
    definitions = levels.excess_definitions(problem.excess())
    table = problem.table.with_derived(P, definitions)
    keys = problem.keys[: min(key, len(problem.keys))]
    names = [k for k in problem.names if k != "n"]
    summed = [k for k in definitions if not k.startswith("levels:neg")]
    maxed = [k for k in definitions if k.startswith("levels:neg")]
    want = table.group_sums(keys, [*names, *summed], side=P, maxes=maxed)
    got = problem.table.group_sums(keys, names, side=P)
    cells = got.count > 0
    branches = len(problem.excess())
    for name in ("levels:pos", "levels:npos"):
        for b in range(branches):
            np.testing.assert_allclose(
                kinds.total(name, got)[b][cells],
                want.sums[f"{name}:{b}"][cells],
                rtol=1e-12,
                atol=1e-15,
            )
    for b in range(branches):
        assert_equal = np.testing.assert_array_equal
        assert_equal(
            kinds.largest("levels:neg", got)[b][cells], want.maxes[f"levels:neg:{b}"][cells]
        )
    np.testing.assert_allclose(
        kinds.total("levels:abs", got)[0][cells], want.sums["levels:abs"][cells], rtol=1e-12
    )


@pytest.mark.parametrize(
    ("metric_id", "odd"),
    [
        ("accuracy", {"correct": 0.5}),  # a fractional count (an estimate)
        ("recall", {"tp": 1.0, "pos": 0.0}),  # the numerator without the denominator
        ("precision", {"pred_pos": 2.0}),
        ("accuracy", {"correct": np.nan}),
    ],
)
def test_one_odd_row_keeps_the_summed_bounds(metric_id, odd):
    rng = np.random.default_rng(0)
    stats = _stats("binary", rng, 500, np.zeros(500, dtype=bool), True)
    problem = Problem([rng.integers(0, 3, 500)], [3], stats, metric_of(metric_id), 5)
    assert _kinds_of(problem) is not None
    for name, value in odd.items():
        problem.stats[name][17] = value
    problem.table = Problem([problem.codes[0]], [3], problem.stats, problem.metric, 5).table
    assert _kinds_of(problem) is None


def test_regression_ratios_are_not_row_kinds():
    rng = np.random.default_rng(0)
    stats = _stats("regression", rng, 300, np.zeros(300, dtype=bool), False)
    problem = Problem([rng.integers(0, 3, 300)], [3], stats, metric_of("mae"), 5)
    assert _kinds_of(problem) is None


def test_row_kinds_sum_only_the_metrics_statistics(monkeypatch):
    problem = _planted(n=5_000)
    asked = []
    real = MemoryTable.grouping_sets

    def spy(self, key_sets, stats, **kw):
        asked.append((list(stats), list(kw.get("maxes", ()))))
        return real(self, key_sets, stats, **kw)

    monkeypatch.setattr(MemoryTable, "grouping_sets", spy)
    got, with_kinds = problem.pushed_down(3, 5, kinds=True)
    assert asked and all(a == (["correct"], []) for a in asked)
    want, summed = problem.pushed_down(3, 5)
    assert _found(got) == _found(want)
    assert with_kinds.rows_counted == summed.rows_counted  # the same bounds, the same pruning


def test_large_levels_are_chunked_into_queries_of_at_most_max_sets():
    problem = _planted(n=3_000, d=8, card=3)
    got, stats = problem.pushed_down(2, 5, bound=False, max_sets=5, probe=0)
    want, _ = problem.in_memory(2, 5)
    assert _found(got) == _found(want)
    assert stats.per_level == [8, 28]
    assert stats.queries == math.ceil(8 / 5) + math.ceil(28 / 5)


def test_one_query_per_level_and_the_sets_each_filter_sees(monkeypatch):
    """Each set of a level is restricted to the live cells of one parent (a CellSet)."""
    problem = _planted(n=5_000)
    calls = []
    real = MemoryTable.grouping_sets

    def spy(self, key_sets, stats, **kw):
        calls.append((list(map(tuple, key_sets)), kw.get("each")))
        return real(self, key_sets, stats, **kw)

    monkeypatch.setattr(MemoryTable, "grouping_sets", spy)
    problem.pushed_down(3, 5, probe=0)
    assert len(calls) <= 3
    first_sets, first_each = calls[0]
    assert first_sets == [(k,) for k in problem.keys] and all(f is None for f in first_each)
    for sets, each in calls[1:]:
        for keys, where in zip(sets, each, strict=True):
            if not where.cell_sets:  # only when every row is in a live cell of the parent
                assert all(_big_cells_only(problem, keys, drop) for drop in keys)
                continue
            (cell_set,) = where.cell_sets
            assert len(cell_set.keys) == len(keys) - 1 and set(cell_set.keys) < set(keys)
            assert cell_set.cells  # never an empty IN list


def _big_cells_only(problem: Problem, keys, drop) -> bool:
    """Whether every occupied cell of ``keys`` without ``drop`` has min_size rows."""
    parent = [problem.codes[problem.keys.index(k)] for k in keys if k != drop]
    _, count = np.unique(np.stack(parent), axis=1, return_counts=True)
    return bool((count >= problem.min_size).all())


def test_sets_whose_parents_are_all_live_share_one_unfiltered_scan(monkeypatch):
    problem = _planted(n=4_000, d=4, card=3)
    calls = []
    real = MemoryTable.grouping_sets

    def spy(self, key_sets, stats, **kw):
        calls.append(kw.get("each"))
        return real(self, key_sets, stats, **kw)

    monkeypatch.setattr(MemoryTable, "grouping_sets", spy)
    # a top-k larger than the cells keeps the threshold at the floor: every big cell is live
    got, stats = problem.pushed_down(2, 500, probe=0)
    want, _ = problem.in_memory(2, 500)
    assert _found(got) == _found(want)
    assert len(calls) == 2 and all(not w.cell_sets for w in calls[1])
    assert stats.rows_counted == (4 + 6) * problem.n


# ---------------------------------------------------------------------------------------------
# The excess expressions


@pytest.mark.parametrize("metric_id", RATIO)
def test_the_excess_expressions_evaluate_to_the_search_excess_bit_for_bit(metric_id):
    rng = np.random.default_rng(3)
    kind = "binary" if metric_id in BINARY else "regression"
    stats = _stats(kind, rng, 300, rng.random(300) < 0.2, False)
    problem = Problem([rng.integers(0, 3, 300)], [3], stats, metric_of(metric_id), 5)
    want = problem.excess_rows()
    got = np.stack([rowexpr.evaluate(x, problem.stats) for x in problem.excess()])
    assert got.tobytes() == want.tobytes()
    defs = rowexpr.evaluate_all(
        levels.excess_definitions(problem.excess()), problem.stats, length=300
    )
    for b, x in enumerate(want):
        assert defs[f"levels:pos:{b}"].tolist() == np.maximum(x, 0).tolist()
        assert defs[f"levels:npos:{b}"].tolist() == (x > 0).astype(float).tolist()
        assert defs[f"levels:neg:{b}"].tolist() == np.where(x <= 0, x, -np.inf).tolist()
    assert defs["levels:abs"].tolist() == np.abs(want).max(axis=0).tolist()


def test_the_excess_definitions_run_in_duckdb_with_the_same_values():
    duckdb = pytest.importorskip("duckdb")
    rng = np.random.default_rng(4)
    stats = _stats("regression", rng, 200, rng.random(200) < 0.2, False)
    problem = Problem([rng.integers(0, 3, 200)], [3], stats, metric_of("me"), 5)
    defs = levels.excess_definitions(problem.excess())
    frame = pd.DataFrame(problem.stats)
    con = duckdb.connect()
    con.register("t", frame)
    select = ", ".join(f'{rowexpr.to_sql(e, "duckdb")} AS "{k}"' for k, e in defs.items())
    got = con.execute(f"SELECT {select} FROM t").df()
    want = rowexpr.evaluate_all(defs, problem.stats, length=200)
    for name, values in want.items():
        np.testing.assert_allclose(got[name].to_numpy(), values, rtol=1e-15, atol=0)


def test_no_features_finds_nothing():
    problem = _planted(n=100, d=4)
    found, stats = levels.search_levels(
        problem.table, P, [], ["correct"], problem.score_cells, max_depth=2, top=3,
        min_size=1, floor=0.0,
    )  # fmt: skip
    assert found == [] and stats.queries == 0


# ---------------------------------------------------------------------------------------------
# Wired into find_slices


@pytest.fixture(scope="module")
def fraud():
    from pathlib import Path

    from tracing.analysis import prepare_analysis
    from tracing.io import read_table

    demo = Path(__file__).resolve().parents[1] / "demo_data"
    return prepare_analysis(
        read_table(demo / "fraud_training.parquet"),
        read_table(demo / "fraud_production.parquet"),
        names=("fraud_training.parquet", "fraud_production.parquet"),
    )


@pytest.mark.parametrize("metric", ["accuracy", "recall", "f1"])
def test_find_slices_pushed_down_gives_the_same_table_on_the_demo(fraud, metric, monkeypatch):
    from tracing import slices

    search_once = slices.find_slices.__wrapped__  # not the memo: the same call twice
    default = search_once(fraud, metric=metric, top=10)
    assert not default.search["method"].startswith("levels")
    monkeypatch.setattr(slices, "_FORCE_LEVELS", True)
    pushed = search_once(fraud, metric=metric, top=10)
    assert pushed.search["method"].startswith("levels:")
    assert len(default.table) > 0
    pd.testing.assert_frame_equal(pushed.table, default.table, check_exact=True)
    pd.testing.assert_frame_equal(pushed.stand_ins, default.stand_ins, check_exact=True)
