"""Quality checks and label conflicts on every row of a SQL engine equal the in-memory ones.

One pair of Parquet files with a planted fault per check is analysed in memory (the oracle:
`quality_checks`, `label_conflicts` on `read_table` of the files) and by DuckDB and Spark with
a sample of 500 rows of the 3,000 per side, so a finding computed on the sample would differ.
Tie orders (values with equal counts) differ by design between the paths (first appearance in
memory, value order in SQL), so the fixture has none in what the findings list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracing import prepare_analysis, read_table
from tracing.engine_analysis import prepare_engine_analysis
from tracing.engine_quality import engine_label_conflicts, engine_quality_checks
from tracing.labels import label_conflicts
from tracing.quality import QUALITY_CHECKS, quality_checks
from tracing.report import SAMPLED_ON_ENGINE, Section, build_report
from tracing.sqlbackend import TableSource

N = 3000
ROLES = {
    "prediction_id": "prediction_id",
    "prediction_label": "prediction",
    "actual_label": "actual",
}


def _side(seed: int, offset: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    zips = rng.choice([f"9{i:04d}" for i in range(20)], N)
    return pd.DataFrame(
        {
            "prediction_id": np.arange(N) + offset,
            "amount": rng.lognormal(3, 1, N),
            "age": rng.integers(18, 90, N).astype(float),
            "state": rng.choice(["CA", "NY", "TX", "WA"], N, p=[0.4, 0.3, 0.2, 0.1]),
            "device": rng.choice(["mobile", "desktop"], N),
            "items": rng.integers(1, 6, N),
            "tenure": rng.integers(0, 100, N),
            "ref": [str(1000 + i % 400) for i in range(N)],
            "zip": zips,
            "city": ["C" + z[-2:] for z in zips],
            "prediction": np.where(rng.random(N) < 0.9, y, 1 - y),
            "actual": y,
        }
    )


def _planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    base, prod = _side(1, 0), _side(2, 10_000)
    prod.loc[prod.index[:400], "age"] = np.nan  # missing rate 0% -> 13%
    prod.loc[prod.index[400:500], "state"] = "OR"  # new categories, 100 and 7 rows
    prod.loc[prod.index[500:507], "state"] = "ID"
    prod["state"] = prod["state"].replace({"WA": "NY"})  # a vanished category
    prod.loc[prod.index[510:570], "amount"] = 1e9  # out of range, both ways
    prod.loc[prod.index[570:573], "amount"] = -5.0
    prod["device"] = "mobile"  # constant
    prod.loc[prod.index[600:612], "ref"] = "n/a"  # text in a column of numbers
    ids = prod["prediction_id"].to_numpy().copy()
    ids[620:624], ids[624:627], ids[627:629] = 10_620, 10_624, 10_627  # repeated 4, 3, 2 times
    ids[630:680] = base["prediction_id"].iloc[:50].to_numpy()  # shared with the baseline
    prod["prediction_id"] = ids
    base.loc[base.index[5:7], "prediction_id"] = 5  # repeated in the baseline too
    same_row = ["state", "zip", "city", "ref", "items"]
    base.loc[6, same_row] = base.loc[5, same_row]  # so the id "determines" them (unrepeated)
    base.loc[base.index[7:12], "state"] = "AK"  # 5 rows: 10 are needed to be missed
    base.loc[base.index[12:14], "amount"] = np.inf  # not part of the baseline's finite range
    prod["items"] = 3  # a constant number
    prod.loc[prod.index[900:904], "tenure"] = -7  # below the baseline's range only
    # Identical features, different actuals: groups of 40 (25 / 15) and 12 (7 / 5) rows.
    same = {"amount": 5.0, "age": 30.0, "state": "CA", "device": "mobile", "items": 3, "tenure": 9}
    same["ref"] = "1001"
    for rows, (zip_, ones) in ((slice(700, 740), ("90007", 25)), (slice(740, 752), ("90008", 7))):
        for column, value in {**same, "zip": zip_, "city": "C" + zip_[-2:]}.items():
            prod.loc[prod.index[rows], column] = value
        n = rows.stop - rows.start
        prod.loc[prod.index[rows], "actual"] = [1] * ones + [0] * (n - ones)
        prod.loc[prod.index[rows], "prediction"] = 1
    prod.loc[prod.index[752:754], [*same, "zip", "city"]] = [*same.values(), "90009", "C09"]
    prod.loc[prod.index[752:754], "actual"] = [0, 1]  # the smallest group: 2 rows
    # zip -> city broken: 25 rows of one zip and 9 of another carry another city.
    for rows, zip_, city in (
        (slice(800, 825), "90001", "Elsewhere"),
        (slice(825, 834), "90002", "Far"),
    ):
        prod.loc[prod.index[rows], ["zip", "city"]] = [zip_, city]
    prod.loc[prod["zip"] == "90019", "city"] = "Moved"  # every row of a zip: one other city
    return base, prod


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quality")
    paths = []
    for name, frame in zip(("baseline", "production"), _planted(), strict=True):
        path = folder / f"{name}.parquet"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        # pandas writes NaN as null: keep some real NaNs, which SQL does not call NULL.
        age = frame["age"].to_numpy()
        mask = np.isnan(age) & (np.arange(len(age)) % 2 == 0)
        column = pa.array(age, mask=mask, from_pandas=False)
        table = table.set_column(table.schema.get_field_index("age"), "age", column)
        pq.write_table(table, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def memory(files):
    return prepare_analysis(*(read_table(p) for p in files), roles=ROLES)


@pytest.fixture(scope="module")
def engine(files, engine_backend):
    sources = [TableSource(p.name, paths=(str(p),)) for p in files]
    return prepare_engine_analysis(*sources, backend=engine_backend, roles=ROLES, sample_size=500)


def test_every_planted_fault_is_found(memory):
    """The oracle itself finds each fault (else the equality below proves little)."""
    table = quality_checks(memory)
    found = set(zip(table["check"], table["feature"], strict=True))
    assert {
        ("missing_rate", "age"),
        ("new_category", "state"),
        ("vanished_category", "state"),
        ("out_of_range", "amount"),
        ("out_of_range", "tenure"),
        ("constant", "device"),
        ("constant", "items"),
        ("type_mismatch", "ref"),
        ("duplicate_id", "prediction_id"),
        ("label_conflict", "actual"),
        ("broken_dependency", "city"),
    } <= found
    assert sorted(table.loc[table["check"] == "duplicate_id", "dataset"]) == [
        "baseline",
        "both",
        "production",
    ]


def test_findings_equal_the_in_memory_ones(memory, engine):
    got = engine_quality_checks(engine)
    want = quality_checks(memory)
    pd.testing.assert_frame_equal(got.findings, want)
    assert engine.sample_rows == (500, 500)  # the sample alone would count other numbers


def test_label_conflicts_equal_the_in_memory_ones(memory, engine):
    got, want = engine_label_conflicts(engine), label_conflicts(memory)
    pd.testing.assert_frame_equal(got.summary, want.summary)
    pd.testing.assert_frame_equal(got.groups, want.groups)
    pd.testing.assert_frame_equal(got.dependencies, want.dependencies)
    assert list(got.groups["rows"]) == [40, 12, 2]
    moved = int((got.dependencies["key_value"] == "90019").sum())
    assert moved == 1 and sorted(got.dependencies["conflict_rows"])[-3:-1] == [9, 25]


def test_many_values_are_found_in_the_engine_or_said(memory, engine, monkeypatch):
    """Above the counting limit: new/vanished values in SQL; text in numbers on the sample."""
    import tracing.engine_quality as eq

    monkeypatch.setattr(eq, "MAX_COUNTED", 3)
    checks = ["new_category", "vanished_category", "type_mismatch", "constant"]
    got = engine_quality_checks.__wrapped__(engine, checks=checks)  # not the remembered result
    want = quality_checks(memory, checks=checks)
    exact = ~want["check"].eq("type_mismatch")
    keep = ~got.findings["check"].eq("type_mismatch")
    pd.testing.assert_frame_equal(
        got.findings[keep].reset_index(drop=True), want[exact].reset_index(drop=True)
    )
    mismatch = got.findings[~keep]
    assert list(mismatch["feature"]) == ["ref"] and list(mismatch["dataset"]) == ["production"]
    assert any("'ref'" in n and "sample" in n for n in got.notes)


def test_report_runs_quality_on_every_row(memory, engine):
    assert Section.QUALITY not in SAMPLED_ON_ENGINE
    report = build_report(engine, sections=["quality"])
    assert report["engine"]["sampled_sections"] == []
    want = build_report(memory, sections=["quality"])["quality"]
    assert report["quality"] == want
    assert any("biased-actuals" in n for n in report["notes"])
    assert not any("sections quality" in n for n in report["notes"])
    assert set(QUALITY_CHECKS) - {"biased_actuals"} >= {r["check"] for r in report["quality"]}


def test_every_candidate_is_verified_on_every_row(memory, engine, monkeypatch):
    """Whatever the sample proposes, only dependencies of every baseline row are reported."""
    import tracing.engine_quality as eq

    def every_pair(frame, cols):
        return [(k, d) for k in cols for d in cols if k != d]

    monkeypatch.setattr(eq, "candidate_pairs", every_pair)
    columns = ["prediction_id", "state", "zip", "city", "ref"]
    got = engine_label_conflicts.__wrapped__(engine, columns=columns)
    want = label_conflicts(memory, columns=columns)
    pd.testing.assert_frame_equal(got.dependencies, want.dependencies)
    assert {"city"} <= set(want.dependencies["dependent"])
