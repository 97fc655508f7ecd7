"""tracing.findings: a slice's part of the change, checked against pandas recomputations."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DEMO
from tracing import findings, prepare_analysis, read_table
from tracing.findings import Relation, SliceShare
from tracing.metrics import Direction
from tracing.slices import drilldown, find_slices, slice_mask


@pytest.fixture(scope="module")
def demo():
    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    return a, find_slices(a)


def _recall(frame: pd.DataFrame) -> float:
    pos = frame[frame["actual_label"] == 1]
    return float((pos["prediction_label"] == 1).mean()) if len(pos) else float("nan")


def _pandas_part(base: pd.DataFrame, prod: pd.DataFrame, in_b, in_p) -> tuple[float, float]:
    """The slice's part of the recall change and the overall change, from the rows."""
    big_b, big_p = _recall(base), _recall(prod)
    w_b = (base["actual_label"][in_b] == 1).sum() / (base["actual_label"] == 1).sum()
    w_p = (prod["actual_label"][in_p] == 1).sum() / (prod["actual_label"] == 1).sum()
    m_p = _recall(prod[in_p])
    m_b = _recall(base[in_b]) if in_b.any() else big_b  # absent: the baseline average
    return (w_p - w_b) * (m_b - big_b) + w_p * (m_p - m_b), big_p - big_b


def test_demo_top_slice_part_matches_pandas(demo) -> None:
    a, res = demo
    top = res.distinct().iloc[0]
    base, prod = a.baseline_frame, a.production_frame
    part, overall = _pandas_part(
        base,
        prod,
        slice_mask(base, top["conditions"], res.bins),
        slice_mask(prod, top["conditions"], res.bins),
    )
    change = res.overall_metric - res.baseline_overall_metric
    assert change == pytest.approx(overall, abs=1e-12)
    share = findings.slice_share(top, overall_change=change, percent=True)
    assert share is not None and share.new  # the planted merchant is new in production
    assert share.change == pytest.approx(part, abs=1e-12)
    text = findings.share_text(share, "recall")
    assert text == (
        f"accounts for {abs(part) * 100:.1f} of the {abs(overall) * 100:.1f}-pt drop in recall"
    )
    assert text == "accounts for 69.1 of the 69.4-pt drop in recall"  # the figures
    assert findings.split_text(share).startswith("all through its own performance")


def test_parts_of_a_partition_add_up_to_the_overall_change(demo) -> None:
    a, res = demo
    whole = drilldown(a, "", result=res)
    change = res.overall_metric - res.baseline_overall_metric
    for feature, part in whole.breakdown.groupby("feature"):
        shares = [
            findings.slice_share(r, overall_change=change, percent=True)
            for r in part.to_dict("records")
        ]
        total = sum(s.change for s in shares if s is not None)
        assert total == pytest.approx(change, abs=1e-9), feature


def test_planted_slice_new_in_production_accounts_for_its_known_part() -> None:
    # Baseline: 1,000 positives, recall 90% in both regions. Production: region A as before,
    # plus a new region B with 500 positives all missed. By hand: overall recall 60%, a drop
    # of 30 pts, all of it B's (w_p = 1/3, performance 1/3 * (0 - 0.9) = -30 pts), and A
    # grew from all of the weight to 2/3 of it while performing like the average: no part.
    def rows(region: str, n: int, hits: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "region": region,
                "noise": np.arange(n) % 7,
                "actual_label": 1,
                "prediction_label": [1] * hits + [0] * (n - hits),
                "prediction_score": [0.9] * hits + [0.1] * (n - hits),
            }
        )

    base = pd.concat([rows("A", 1000, 900), rows("A", 1000, 0).assign(actual_label=0)])
    prod = pd.concat(
        [rows("A", 1000, 900), rows("B", 500, 0), rows("A", 1000, 0).assign(actual_label=0)]
    )
    a = prepare_analysis(base, prod, metric="recall")
    res = find_slices(a, features=["region", "noise"], max_depth=1)
    change = res.overall_metric - res.baseline_overall_metric
    assert change == pytest.approx(-0.3)
    by_id = res.table.set_index("slice_id")
    b = findings.slice_share(by_id.loc["region=B"], overall_change=change, percent=True)
    assert b is not None and b.new and b.change == pytest.approx(-0.3)
    assert b.relation is Relation.PART
    assert findings.share_text(b, "recall") == "accounts for 30.0 of the 30.0-pt drop in recall"
    whole = drilldown(a, "", result=res).breakdown.set_index(["feature", "value"])
    a_part = findings.slice_share(whole.loc[("region", "A")], overall_change=change, percent=True)
    assert a_part is not None and a_part.change == pytest.approx(0.0, abs=1e-12)
    assert a_part.relation is Relation.NONE


@pytest.mark.parametrize(
    ("share", "relation", "wording"),
    [
        (SliceShare(-0.05, -0.01, -0.04, -0.1, False, True), Relation.PART, "5.0 of the 10.0-pt"),
        (
            SliceShare(-0.15, 0.0, -0.15, -0.1, False, True),
            Relation.MORE_THAN_ALL,
            "15.0 pts, more than the whole 10.0-pt drop",
        ),
        (SliceShare(0.02, 0.0, 0.02, -0.1, False, True), Relation.OPPOSITE, "other way (+2.0"),
        (SliceShare(0.0001, 0.0, 0.0001, -0.1, False, True), Relation.NONE, "none of the"),
        (SliceShare(-0.03, 0.0, -0.03, 0.0001, False, True), Relation.NO_OVERALL, "did not"),
        (SliceShare(-0.4, 0.0, -0.4, -0.8, False, False), Relation.PART, "0.4 of the drop of 0.8"),
        (SliceShare(0.4, 0.0, 0.4, 0.8, False, False), Relation.PART, "0.4 of the rise of 0.8"),
    ],
)
def test_wording_follows_the_relation(share, relation, wording) -> None:
    assert share.relation is relation
    assert wording in findings.share_text(share, "recall")


def test_a_part_that_rounds_to_the_whole_reads_as_part_of_it() -> None:
    # 69.41 of 69.40 pts: round-off, not "more than the whole".
    share = SliceShare(-0.69405, 0.0, -0.69405, -0.69401, False, True)
    assert share.relation is Relation.PART
    assert "69.4 of the 69.4-pt" in findings.share_text(share, "recall")


def test_metrics_that_do_not_decompose_have_no_share() -> None:
    nan = float("nan")
    row = {"mix_effect": nan, "performance_effect": nan, "baseline_size": 10}
    assert findings.slice_share(row, overall_change=-0.1, percent=False) is None


def test_impact_is_labelled_in_the_metrics_direction() -> None:
    assert findings.impact_label("recall", Direction.HIGHER_IS_BETTER, True).startswith(
        "pts of production recall lost"
    )
    assert "added by" in findings.impact_label("MAE", Direction.LOWER_IS_BETTER, False)
    assert "moved by" in findings.impact_label("mean error", Direction.TWO_SIDED, False)


def test_may_overlap_agrees_with_brute_force_on_every_combination() -> None:
    # Every combination of values present: two slices share a row exactly when no feature
    # is fixed to different values by both.
    grid = pd.DataFrame(list(itertools.product("ab", "xyz", "pq")), columns=["f", "g", "h"])
    conds = [
        tuple(zip(features, values, strict=True))
        for k in (1, 2)
        for features in itertools.combinations("fgh", k)
        for values in itertools.product(*(sorted(set(grid[c])) for c in features))
    ]

    def mask(c):
        m = np.ones(len(grid), dtype=bool)
        for f, v in c:
            m &= (grid[f] == v).to_numpy()
        return m

    for one, two in itertools.combinations(conds, 2):
        shared = bool((mask(one) & mask(two)).any())
        assert findings.may_overlap([one, two]) is shared, (one, two)


def test_uniformly_bad_slice_lists_no_narrower_slice(demo) -> None:
    a, res = demo
    top = res.distinct().iloc[0]  # recall 0% on every row
    drill = drilldown(a, top["slice_id"], result=res)
    assert len(drill.children) > 10 and (drill.children["impact"].abs() < 1e-12).all()
    kept, why = findings.notable_children(
        drill.children, percent=True, parent_metric=0.0, metric_text="recall is 0.0%"
    )
    assert kept.empty and why is not None and "uniformly bad" in why


def test_narrower_slices_that_stand_out_are_kept(demo) -> None:
    a, res = demo
    drill = drilldown(a, "state=CA", result=res)
    kept, why = findings.notable_children(
        drill.children,
        percent=True,
        parent_metric=drill.stats["metric"],
        metric_text="recall",
    )
    assert why is None and len(kept) >= 1
    assert (kept["impact"] >= findings.resolution(True)).all()
    left_out = drill.children.drop(kept.index)
    assert (left_out["impact"] < findings.resolution(True)).all()
    assert "merchant_id=scammeds.com" in " ".join(kept["slice_id"])  # the planted merchant


def test_score_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    base = pd.Series(rng.beta(0.3, 5, 2000))
    prod = pd.Series(np.r_[rng.beta(2, 2, 1500), [0.0, 1.0, 0.3]])
    hist = findings.score_histogram(base, prod)
    assert hist is not None
    for side, x in (("baseline", base), ("production", prod)):
        # numpy's bins are [a, b) but the last, closed, as ours; edges i / 10 as the labels say
        counts, _ = np.histogram(x, bins=np.array([i / 10 for i in range(11)]))
        assert list(hist[f"count_{side}"]) == list(counts)
        assert hist[f"share_{side}"].sum() == pytest.approx(1.0)
    assert list(hist["bin"])[:2] == ["0-0.1", "0.1-0.2"]
    assert findings.score_histogram(pd.Series([0.5, 1.5]), prod) is None  # not a probability


def test_blank_chart_reason_only_when_every_bar_is_zero(demo) -> None:
    a, res = demo
    drill = drilldown(a, res.distinct().iloc[0]["slice_id"], result=res)
    part = drill.breakdown[drill.breakdown["feature"] == "amount"]
    why = findings.blank_chart_reason(
        part, value="metric", metric_text="recall is 0.0%", feature="amount"
    )
    assert why is not None and re.search(r"every value of amount", why)
    shares = findings.blank_chart_reason(part, value="share", metric_text="x", feature="amount")
    assert shares is None


def test_chance_words_are_monotone_in_the_p_value() -> None:
    order = ["far beyond chance", "beyond chance", "probably beyond chance", "could be chance"]
    words = [findings.chance_words(p) for p in np.logspace(-300, 0, 200)]
    ranks = [order.index(w) for w in words]
    assert ranks == sorted(ranks) and set(words) == set(order)
