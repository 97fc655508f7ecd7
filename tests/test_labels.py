"""Label conflicts against brute-force pandas oracles, and the planted zip -> city conflict."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_regression
from tracing import prepare_analysis
from tracing.labels import (
    broken_dependencies,
    functional_dependencies,
    identical_feature_conflicts,
    label_conflicts,
)

ZIPS = {
    f"98{i:03d}": city for i, city in enumerate(["Seattle"] * 6 + ["Tacoma"] * 4 + ["Everett"] * 3)
}


def addresses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zips = rng.choice(list(ZIPS), n)
    return pd.DataFrame({
        "zip": zips,
        "city": [ZIPS[z] for z in zips],
        "state": "WA",
        "plan": rng.choice(["basic", "pro", "team"], n),
        "spend": rng.lognormal(3, 1, n),
        "seats": rng.integers(1, 4, n),
    })  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Identical features, different actuals


def brute_force_conflicts(frame: pd.DataFrame, features: list[str], actual: str) -> list[tuple]:
    """Group sizes with several actuals; rows missing the actual or any feature left out."""
    labelled = frame.dropna(subset=[actual, *features])
    groups = labelled.groupby(features)[actual]
    sizes = groups.size()[groups.nunique() > 1]
    return sorted(sizes.tolist(), reverse=True)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 300))
def test_identical_feature_conflicts_match_a_groupby(seed, n):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "a": rng.integers(0, 3, n),
        "b": rng.choice(["x", "y", None], n),
        "c": rng.choice([0.5, 1.5, np.nan], n),
        "y": rng.choice([0, 1, None], n),
    })  # fmt: skip
    found = identical_feature_conflicts(frame, features=["a", "b", "c"], actual="y", top=None)
    expected = brute_force_conflicts(frame, ["a", "b", "c"], "y")
    assert found["rows"].tolist() == expected
    assert (
        identical_feature_conflicts(frame, features=["a", "b", "c"], actual="y", top=3)[
            "rows"
        ].tolist()
        == expected[:3]
    )
    assert found["group"].tolist() == list(range(len(found)))
    for row in found.itertuples():
        assert len(row.labels) >= 2 and sum(row.counts) == row.rows


def test_identical_feature_conflicts_report_labels_and_an_example():
    frame = pd.DataFrame({
        "amount": [10.0, 10.0, 10.0, 20.0, 30.0, 30.0],
        "state": ["CA", "CA", "CA", "NY", "TX", "TX"],
        "label": [1, 0, 0, 1, 1, 1],
    })  # fmt: skip
    found = identical_feature_conflicts(frame, features=["amount", "state"], actual="label")
    assert len(found) == 1
    row = found.iloc[0]
    assert row["rows"] == 3 and row["labels"] == [0, 1] and row["counts"] == [2, 1]
    assert row["example"] == {"amount": 10.0, "state": "CA"}


def test_continuous_features_give_no_conflicts_quickly():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=50_000),
            "s": rng.choice(list("ab"), 50_000),
            "y": rng.integers(0, 2, 50_000),
        }
    )
    assert identical_feature_conflicts(frame, features=["s", "x"], actual="y").empty


# ---------------------------------------------------------------------------------------------
# Functional dependencies


def brute_force_dependencies(frame: pd.DataFrame, min_keys: int = 5) -> set[tuple[str, str]]:
    out = set()
    for key, dep in itertools.permutations(frame.columns, 2):
        both = frame[[key, dep]].dropna()
        counts = both[key].value_counts()
        if len(counts) < min_keys or counts[counts >= 2].sum() < 0.5 * counts.sum():
            continue
        n_dep = both[dep].nunique()
        if 2 <= n_dep <= len(counts) and (both.groupby(key)[dep].nunique() == 1).all():
            out.add((key, dep))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(10, 400))
def test_functional_dependencies_match_brute_force(seed, n):
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 8, n)
    frame = pd.DataFrame({
        "key": key.astype(str),
        "dep": np.array(["u", "v", "w", "u", "v", "w", "u", "v"])[key],
        "coarse": (key // 4).astype(str),
        "noise": rng.choice(list("pqr"), n),
        "maybe": np.where(rng.random(n) < 0.02, "z", (key % 2).astype(str)),
    })  # fmt: skip
    found = functional_dependencies(frame)
    assert set(zip(found["key"], found["dependent"], strict=True)) == brute_force_dependencies(
        frame
    )


def test_dependencies_skip_near_unique_keys_and_continuous_columns():
    frame = addresses(2000, seed=1)
    frame["row_id"] = np.arange(len(frame)).astype(str)
    found = functional_dependencies(frame)
    pairs = set(zip(found["key"], found["dependent"], strict=True))
    assert ("zip", "city") in pairs
    assert not any(k == "row_id" for k, _ in pairs)  # unique: determines everything, means nothing
    assert not any("spend" in p for p in pairs)  # continuous: never a key or a dependent
    assert ("zip", "state") not in pairs  # constant dependent: nothing to break


def test_planted_zip_city_conflict_is_reported():
    base = addresses(5000, seed=1)
    prod = addresses(3000, seed=2)
    moved = prod.index[prod["zip"] == "98000"][:40]
    prod.loc[moved, "city"] = "Bellevue"  # the same zip now labelled with two cities
    new = pd.DataFrame(
        {
            "zip": ["99999"] * 7,
            "city": ["Spokane"] * 5 + ["Cheney"] * 2,
            "state": "WA",
            "plan": "pro",
            "spend": 1.0,
            "seats": 1,
        }
    )
    prod = pd.concat([prod, new], ignore_index=True)
    found = broken_dependencies(base, prod)
    zip_city = found[(found["key"] == "zip") & (found["dependent"] == "city")]
    assert zip_city["key_value"].tolist() == ["98000", "99999"]
    first = zip_city.iloc[0]
    seattle = int((prod["zip"] == "98000").sum()) - 40
    assert first["baseline_value"] == "Seattle"
    assert first["values"] == ["Seattle", "Bellevue"] and first["counts"] == [seattle, 40]
    assert first["rows"] == seattle + 40 and first["conflict_rows"] == 40
    second = zip_city.iloc[1]
    assert pd.isna(second["baseline_value"]) and second["conflict_rows"] == 2
    assert second["values"] == ["Spokane", "Cheney"]


def test_dependencies_hold_beyond_the_sample():
    """The cheap sample filter never drops a dependency that holds on every row."""
    base = addresses(120_000, seed=3)
    prod = addresses(1000, seed=4)
    prod.loc[prod.index[:3], "city"] = "Nowhere"
    found = broken_dependencies(base, prod, columns=["zip", "city", "plan", "seats"])
    assert set(found["key"]) == {"zip"} and set(found["dependent"]) == {"city"}
    assert found["conflict_rows"].sum() == 3


def test_no_dependency_no_finding():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.choice(list("abcdef"), 3000) for c in "pqrs"})
    assert broken_dependencies(frame, frame.sample(frac=1, random_state=1)).empty


# ---------------------------------------------------------------------------------------------
# Over an analysis


def test_label_conflicts_over_an_analysis():
    base = addresses(3000, seed=5)
    prod = addresses(3000, seed=6)
    for frame in (base, prod):
        frame["label"] = (frame["plan"] == "pro").astype(int)
        frame["pred"] = frame["label"]
    prod.loc[prod.index[:4], "spend"] = 1.0
    prod.loc[prod.index[:4], ["zip", "city", "plan", "seats"]] = ["98001", "Seattle", "pro", 2]
    prod.loc[prod.index[:2], "label"] = 0  # identical rows, two different labels
    prod.loc[prod.index[10:15], "city"] = "Tacoma"
    analysis = prepare_analysis(
        base, prod, roles={"actual_label": "label", "prediction_label": "pred"}
    )
    found = label_conflicts(analysis)
    summary = found.summary.set_index("dataset")
    assert summary.loc["production", "groups"] == 1 and summary.loc["production", "rows"] == 4
    assert summary.loc["baseline", "groups"] == 0 and summary.loc["production", "checked"]
    assert found.groups.iloc[0]["dataset"] == "production"
    assert set(found.dependencies["key"]) == {"zip"}


def test_regression_skips_identical_feature_conflicts():
    frame = make_regression()
    analysis = prepare_analysis(frame, frame.copy())
    found = label_conflicts(analysis)
    assert not found.summary["checked"].any() and found.groups.empty


def test_unknown_columns_are_named():
    frame = make_regression()
    analysis = prepare_analysis(frame, frame.copy())
    with pytest.raises(ValueError, match="'nope' is not in both datasets"):
        label_conflicts(analysis, columns=["nope"])


def test_rows_with_a_missing_feature_are_not_identical():
    frame = pd.DataFrame({
        "a": [1.0, 1.0, np.nan, np.nan, 2.0, 2.0],
        "b": ["x", "x", "y", "y", None, None],
        "y": [0, 1, 0, 1, 0, 1],
    })  # fmt: skip
    found = identical_feature_conflicts(frame, features=["a", "b"], actual="y")
    assert found["rows"].tolist() == [2]
    assert found.iloc[0]["example"] == {"a": 1.0, "b": "x"}


def _labelled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return frame.assign(label=rng.integers(0, 2, len(frame)), pred=rng.integers(0, 2, len(frame)))


def test_an_all_missing_feature_raises_no_label_conflict():
    """The reviewer's case: a feature missing in every production row, coarse other features."""
    rng = np.random.default_rng(0)
    base = _labelled(
        pd.DataFrame(
            {
                "state": rng.choice(["CA", "NY", "TX"], 500),
                "amount": rng.gamma(2, 50, 500).round(2),
                "age": rng.integers(18, 80, 500),
            }
        ),  # fmt: skip
        seed=1,
    )
    prod = _labelled(base.sample(frac=1, random_state=2).reset_index(drop=True), seed=3)
    prod["amount"] = np.nan
    a = prepare_analysis(base, prod, roles={"actual_label": "label", "prediction_label": "pred"})
    summary = label_conflicts(a).summary.set_index("dataset")
    assert summary["groups"].tolist() == [0, 0]
    # with the missing column dropped the rows would collide: 186 cells for 500 rows
    assert len(prod[["state", "age"]].drop_duplicates()) < 250


def test_a_coarse_feature_space_is_not_checked():
    rng = np.random.default_rng(4)
    n = 2000
    coarse = pd.DataFrame({c: rng.choice(["u", "v"], n) for c in "pqr"})
    frame = _labelled(coarse, seed=5)
    a = prepare_analysis(
        frame, frame.copy(), roles={"actual_label": "label", "prediction_label": "pred"}
    )
    found = label_conflicts(a)
    assert not found.summary["checked"].any() and found.groups.empty
    assert found.summary["rows"].tolist() == [0, 0]
    assert "8 distinct feature rows for 2,000 rows" in found.summary["note"].iloc[0]
    # the finder itself still sees the groups: the verdict is label_conflicts'
    assert len(identical_feature_conflicts(frame, features=list("pqr"), actual="label")) == 8
    # a fine feature space with a few duplicated records is checked and reported
    fine = frame.assign(x=rng.normal(size=n))
    fine.loc[1, ["p", "q", "r", "x"]] = fine.loc[0, ["p", "q", "r", "x"]]
    fine.loc[[0, 1], "label"] = [0, 1]
    b = prepare_analysis(
        fine, fine.copy(), roles={"actual_label": "label", "prediction_label": "pred"}
    )
    summary = label_conflicts(b).summary
    assert summary["checked"].all() and summary["rows"].tolist() == [2, 2]
    assert (summary["note"] == "").all()
