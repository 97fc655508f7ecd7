"""Data-quality checks: one planted fault per check, no findings on clean data, the demos."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO
from tracing import prepare_analysis, read_table
from tracing.errors import DataError
from tracing.quality import (
    FINDING_COLUMNS,
    QUALITY_CHECKS,
    QUALITY_SEVERITIES,
    _disjoint,
    _extremes,
    _finite_range,
    _sorted_ints,
    quality_checks,
)
from tracing.render.markdown import quality_section as markdown_section
from tracing.report import build_section, jsonable

N = 4000


def clean(n: int = N, seed: int = 0, id_prefix: str = "b") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({
        "prediction_id": [f"{id_prefix}{i}" for i in range(n)],
        "amount": rng.lognormal(3, 1, n),
        "age": rng.integers(18, 90, n).astype(float),
        "state": rng.choice(["CA", "NY", "TX", "WA"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "device": rng.choice(["mobile", "desktop"], n),
        "channel": "web",
        "prediction": np.where(rng.random(n) < 0.9, y, 1 - y),
        "actual": y,
    })  # fmt: skip


def analysis(base: pd.DataFrame, prod: pd.DataFrame):
    return prepare_analysis(
        base, prod,
        roles={"prediction_id": "prediction_id", "prediction_label": "prediction",
               "actual_label": "actual"},
    )  # fmt: skip


def findings(base, prod, check):
    return quality_checks(analysis(base, prod), checks=[check])


def only(table: pd.DataFrame, feature: str) -> pd.Series:
    rows = table[table["feature"] == feature]
    assert len(rows) == 1, table
    return rows.iloc[0]


# ---------------------------------------------------------------------------------------------
# One planted fault per check


def test_missing_rate_rise_and_fall():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod.loc[prod.index[:400], "age"] = np.nan  # 10% missing: alert from 10 points
    base.loc[base.index[:200], "amount"] = np.nan  # missing fell from 5% to 0%
    table = findings(base, prod, "missing_rate")
    age = only(table, "age")
    assert age["severity"] == "alert" and age["count"] == 400
    assert age["share"] == pytest.approx(0.1) and age["baseline_share"] == 0
    assert "10.0% of production rows vs 0.0%" in age["detail"]
    assert only(table, "amount")["severity"] == "info"


def test_missing_rate_ignores_noise():
    base, prod = clean(n=300, seed=1), clean(n=300, seed=2, id_prefix="p")
    base.loc[base.index[:30], "age"] = np.nan
    prod.loc[prod.index[:34], "age"] = np.nan  # 10.0% -> 11.3%: not significant
    assert findings(base, prod, "missing_rate").empty


def test_new_category_reports_values_and_volume():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod.loc[prod.index[:240], "state"] = "OR"
    prod.loc[prod.index[240:250], "state"] = "ID"
    row = only(findings(base, prod, "new_category"), "state")
    assert row["severity"] == "alert"  # 6.25% of rows, alert from 5%
    assert row["values"] == ["OR", "ID"] and row["counts"] == [240, 10]
    assert row["count"] == 250 and row["share"] == pytest.approx(250 / N)
    assert "OR (240 rows" in row["detail"]


def test_new_category_skips_identifiers():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    base["order_ref"] = [f"o{i}" for i in range(N)]
    prod["order_ref"] = [f"x{i}" for i in range(N)]
    table = quality_checks(analysis(base, prod), columns=["order_ref"], checks=["new_category"])
    assert table.empty


def test_vanished_category():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod["state"] = prod["state"].replace({"WA": "CA"})
    row = only(findings(base, prod, "vanished_category"), "state")
    assert row["values"] == ["WA"] and row["severity"] == "warn"
    assert row["baseline_share"] == pytest.approx((base["state"] == "WA").mean())


def test_vanished_category_needs_enough_expected_rows():
    base, prod = clean(seed=1), clean(n=40, seed=2, id_prefix="p")
    base.loc[base.index[:5], "state"] = "AK"  # expected 0.05 rows in production: not news
    assert findings(base, prod, "vanished_category").empty


def test_out_of_range():
    base, prod = clean(n=20_000, seed=1), clean(n=20_000, seed=2, id_prefix="p")
    prod.loc[prod.index[:300], "age"] = 150.0
    prod.loc[prod.index[300:302], "age"] = -1.0
    table = findings(base, prod, "out_of_range")
    row = only(table, "age")
    assert row["count"] == 302 and row["severity"] == "warn"
    assert row["values"] == [-1.0, 150.0]
    assert set(table["feature"]) == {"age"}  # identical distributions elsewhere: silent


def test_type_mismatch_text_in_a_numeric_column():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    ages = prod["age"].astype(object)
    ages[:30] = "N/A"
    prod["age"] = ages
    row = only(findings(base, prod, "type_mismatch"), "age")
    assert row["dataset"] == "production" and row["count"] == 30
    assert row["values"] == ["N/A"] and "numeric in the other dataset" in row["detail"]


def test_type_mismatch_mostly_numbers_and_mixed_types():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    zips = pd.Series([f"{98000 + i % 50}" for i in range(N)], dtype="str")
    base["zip"], prod["zip"] = zips, zips.where(np.arange(N) >= 12, "unknown")
    base["mixed"] = pd.Series(["a"] * N, dtype=object)
    mixed = pd.Series(["a"] * N, dtype=object)
    mixed[:50] = 7
    prod["mixed"] = mixed
    table = quality_checks(
        analysis(base, prod), columns=["zip", "mixed"], checks=["type_mismatch"]
    )
    assert only(table, "zip")["count"] == 12
    row = only(table, "mixed")
    assert row["count"] == 50 and set(row["values"]) == {"str", "int"}


def test_constant_column():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod["device"] = "mobile"
    table = findings(base, prod, "constant")
    assert only(table, "device")["severity"] == "warn"
    assert only(table, "channel")["severity"] == "info"  # constant on both sides
    assert only(table, "device")["values"] == ["mobile"]


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [
        ("amount", 150.39, "(150.39)"),
        ("age", 47, "(47)"),
        ("state", "CA", "(CA)"),
        ("device", True, "(True)"),
    ],
)
def test_constant_value_is_written_as_plain_python(column, value, text):
    """The reviewer's case: "amount holds a single value in production (np.float64(150.39))"."""
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod[column] = value
    row = only(findings(base, prod, "constant"), column)
    assert f"{column} holds a single value in production {text};" in row["detail"]
    assert type(row["values"][0]) is type(value)


def test_no_finding_shows_a_numpy_type():
    """Every check, with numpy-typed values everywhere: ids, labels, categories, extremes."""
    base, prod = clean(seed=1), clean(seed=2)
    for frame in (base, prod):
        frame["prediction_id"] = np.arange(len(frame)) // 2  # integer ids, repeated
        frame["code"] = frame["age"].astype(int) % 7
    prod["age"] = 47.0
    prod.loc[prod.index[:300], "amount"] = 1e6
    prod.loc[prod.index[:200], "state"] = "OR"
    prod["code"] = prod["code"].astype(object)
    prod.loc[prod.index[:100], "code"] = "n/a"
    dup = prod.loc[prod.index[:40]].assign(actual=lambda f: 1 - f["actual"])
    prod = pd.concat([prod, dup], ignore_index=True)
    table = quality_checks(analysis(base, prod))
    assert {"constant", "out_of_range", "new_category", "type_mismatch", "duplicate_id"} <= set(
        table["check"]
    )
    for detail in table["detail"]:
        assert "np." not in detail and "numpy" not in detail, detail
    assert "(e.g. 'n/a')" in only(table[table["check"] == "type_mismatch"], "code")["detail"]


def test_duplicate_ids_within_and_across_datasets():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod.loc[prod.index[1:4], "prediction_id"] = prod.loc[prod.index[0], "prediction_id"]
    prod.loc[prod.index[10:60], "prediction_id"] = base["prediction_id"].iloc[:50].to_numpy()
    table = findings(base, prod, "duplicate_id")
    assert set(table["feature"]) == {"prediction_id"}
    within = table[table["dataset"] == "production"].iloc[0]
    assert within["count"] == 4 and within["values"] == ["p0"] and within["counts"] == [4]
    across = table[table["dataset"] == "both"].iloc[0]
    assert across["count"] == 50
    assert table[table["dataset"] == "baseline"].empty


def test_label_conflicts_are_quality_findings():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    prod.loc[prod.index[:40], ["amount", "age", "state", "device"]] = [5.0, 30.0, "CA", "web"]
    prod.loc[prod.index[:40], "actual"] = [0, 1] * 20
    row = only(findings(base, prod, "label_conflict"), "actual")
    assert row["count"] == 40 and row["dataset"] == "production"
    assert row["severity"] == "warn" and sorted(row["values"]) == [0, 1]


def test_broken_dependency_is_a_quality_finding():
    rng = np.random.default_rng(0)
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    for frame in (base, prod):
        frame["zip"] = rng.choice([f"9{i:04d}" for i in range(20)], len(frame))
        frame["city"] = "C" + frame["zip"].str[-2:]
    prod.loc[prod.index[:25], "city"] = "Elsewhere"
    row = only(findings(base, prod, "broken_dependency"), "city")
    assert row["count"] == 25 and "zip -> city" in row["detail"]
    assert row["severity"] == "warn" and sum(row["counts"]) == 25


# ---------------------------------------------------------------------------------------------
# Registry-wide


def test_every_check_finds_its_planted_fault_and_nothing_else():
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    assert quality_checks(analysis(base, prod)).query("severity != 'info'").empty
    prod.loc[prod.index[:400], "age"] = np.nan
    prod.loc[prod.index[400:500], "state"] = "OR"
    prod["state"] = prod["state"].replace({"WA": "NY"})
    prod.loc[prod.index[500:560], "amount"] = 1e9
    prod["device"] = "mobile"
    prod.loc[prod.index[600:610], "prediction_id"] = "dup"
    prod.loc[prod.index[700:740], ["amount", "age", "state", "device"]] = [5.0, 30.0, "CA", "x"]
    prod.loc[prod.index[700:740], "actual"] = [0, 1] * 20
    ages = prod["age"].astype(object)
    ages[800:810] = "unknown"
    prod["age"] = ages
    rng = np.random.default_rng(0)
    for frame in (base, prod):
        frame["zip"] = rng.choice([f"9{i:04d}" for i in range(20)], len(frame))
        frame["city"] = "C" + frame["zip"].str[-2:]
    prod.loc[prod.index[:25], "city"] = "Elsewhere"
    # From row 1000 on, actuals only arrive for predicted positives: a selected subset.
    late = (np.arange(len(prod)) >= 1000) & (prod["prediction"] == 0).to_numpy()
    prod["actual"] = prod["actual"].astype("Int64").mask(late)
    table = quality_checks(analysis(base, prod))
    assert list(table.columns) == list(FINDING_COLUMNS)
    assert set(table["check"]) == set(QUALITY_CHECKS)
    ranks = table["severity"].map(QUALITY_SEVERITIES.index).to_numpy()
    assert (np.diff(ranks) <= 0).all()  # most severe first


def test_registry_thresholds_are_ordered():
    for check in QUALITY_CHECKS.values():
        cuts = [c for c in (check.info, check.warn, check.alert) if c is not None]
        assert cuts == sorted(cuts), check.id
        assert check.grade(float("inf")) in QUALITY_SEVERITIES


def test_unknown_check_and_column_are_named():
    a = analysis(clean(seed=1), clean(seed=2, id_prefix="p"))
    with pytest.raises(DataError, match="missing_rate"):
        quality_checks(a, checks=["nope"])
    with pytest.raises(DataError, match="'nope' is not in both"):
        quality_checks(a, columns=["nope"])


# ---------------------------------------------------------------------------------------------
# Demos and report section


@pytest.fixture(scope="module")
def fraud():
    return prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )


def test_fraud_demo_findings(fraud):
    table = quality_checks(fraud)
    first = table.iloc[0]
    assert (first["check"], first["feature"], first["values"]) == (
        "new_category",
        "merchant_id",
        ["scammeds.com"],
    )
    assert first["counts"] == [3000] and first["severity"] == "alert"
    missing = only(table[table["check"] == "missing_rate"], "customer_age")
    assert missing["count"] == 800 and missing["severity"] == "warn"
    assert set(table["check"]) == {"new_category", "missing_rate"}


def test_eta_demo_is_clean():
    a = prepare_analysis(
        read_table(DEMO / "eta_training.parquet"), read_table(DEMO / "eta_production.parquet")
    )
    assert quality_checks(a).empty


def test_report_section(fraud):
    section = build_section("quality", fraud, {})
    assert {"check", "feature", "severity", "detail"} <= set(section[0])
    json.dumps(jsonable(section), allow_nan=False)
    lines = markdown_section(jsonable(section))
    assert lines[0].startswith("## Data quality")
    assert any("New categories" in line and "merchant_id" in line for line in lines)
    assert markdown_section([])[-1] == "No data-quality findings."


# ---------------------------------------------------------------------------------------------
# Fast paths against the obvious computation (issue 15)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=True)
        | st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 5.0]),
        max_size=40,
    )
)
def test_finite_range_is_the_masked_min_and_max(values: list[float]) -> None:
    x = np.asarray(values, dtype=float)
    finite = x[np.isfinite(x)]  # the original: a masked copy, then min and max
    want = (float(finite.min()), float(finite.max())) if len(finite) else None
    got = _finite_range(x)
    assert got == want
    lo, hi = _extremes(x)  # the constant check's np.nanmin / np.nanmax
    if np.isnan(x).all():
        assert math.isnan(lo) and math.isnan(hi)
    else:
        assert (lo, hi) == (np.nanmin(x), np.nanmax(x))
    if got is not None and want is not None:  # the sign of a zero extreme too
        assert [math.copysign(1, v) for v in got] == [math.copysign(1, v) for v in want]


@settings(max_examples=200, deadline=None)
@given(
    base=st.lists(st.integers(-5, 40), max_size=30),
    prod=st.lists(st.integers(-5, 40), max_size=30),
    dtypes=st.sampled_from([("int64", "int64"), ("int32", "int32"), ("int64", "uint64")]),
)
def test_sorted_id_checks_match_hashing(base: list[int], prod: list[int], dtypes) -> None:
    b = pd.Series(np.abs(base), dtype=dtypes[0])
    p = pd.Series(np.abs(prod), dtype=dtypes[1])
    ordered = [_sorted_ints(s) for s in (b, p)]
    for series, ids in zip((b, p), ordered, strict=True):
        assert ids is not None
        assert bool((ids[1:] == ids[:-1]).any()) == bool(series.duplicated().any())
    shared = bool(p.isin(b.dropna()).any())
    assert _disjoint(*ordered) is (False if dtypes[0] != dtypes[1] else not shared)
    assert _sorted_ints(b.astype(float)) is None and _sorted_ints(b.astype("Int64")) is None
    counter = pd.Series(np.arange(5) * 3)  # increasing ids come back as they are
    assert _sorted_ints(counter).tolist() == [0, 3, 6, 9, 12]
    assert _sorted_ints(counter[::-1]).tolist() == [0, 3, 6, 9, 12]


@pytest.mark.parametrize("kind", ["int", "text"])
def test_duplicate_id_findings_equal_with_and_without_the_sort(kind: str) -> None:
    base, prod = clean(seed=1), clean(seed=2, id_prefix="p")
    for frame, offset in ((base, 0), (prod, 10_000)):
        frame["prediction_id"] = np.arange(len(frame)) + offset
    prod.loc[prod.index[1:4], "prediction_id"] = prod["prediction_id"].iloc[0]
    prod.loc[prod.index[10:60], "prediction_id"] = base["prediction_id"].iloc[:50].to_numpy()
    if kind == "text":  # the hashing path
        for frame in (base, prod):
            frame["prediction_id"] = frame["prediction_id"].astype(str)
    table = findings(base, prod, "duplicate_id")
    assert sorted(table["dataset"]) == ["both", "production"]
    dup = only(table[table["dataset"] == "production"], "prediction_id")
    assert dup["count"] == 4 and len(dup["values"]) == 1
    both = only(table[table["dataset"] == "both"], "prediction_id")
    assert both["count"] == 50
    clean_ids = findings(base.iloc[:100], base.iloc[200:300], "duplicate_id")
    assert clean_ids.empty


def test_shared_value_counts_change_nothing():
    # Quality after drift reads drift's value counts; a fresh analysis counts its own.
    from tracing.drift import feature_drift

    def demo():
        return prepare_analysis(
            read_table(DEMO / "fraud_training.parquet"),
            read_table(DEMO / "fraud_production.parquet"),
        )

    fresh = quality_checks(demo())
    shared = demo()
    feature_drift(shared)
    pd.testing.assert_frame_equal(quality_checks(shared), fresh)
    assert not fresh.empty
