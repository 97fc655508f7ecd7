"""Delayed actuals: later replaces earlier, every count reported, no prediction row dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO
from tracing.actuals import join_actuals, join_actuals_file
from tracing.analysis import prepare_analysis
from tracing.errors import DataError
from tracing.io import read_table


def _preds(ids) -> pd.DataFrame:
    return pd.DataFrame({"prediction_id": ids, "prediction_label": [1] * len(ids)})


def _join(preds, acts, **kw):
    kw.setdefault("id_column", "prediction_id")
    kw.setdefault("actual_column", "actual_label")
    return join_actuals(preds, acts, **kw)


def test_later_timestamp_wins_whatever_the_file_order():
    preds = _preds(["a", "b"])
    acts = pd.DataFrame(
        {
            "prediction_id": ["a", "a", "b", "b"],
            "actual_label": [1, 0, 0, 1],
            "actual_timestamp": ["2026-11-20", "2026-11-10", "2026-11-10", "2026-11-20"],
        }
    )
    out, rep = _join(preds, acts, timestamp_column="actual_timestamp")
    assert out["actual_label"].tolist() == [1, 1]
    assert out["actual_timestamp"].dt.day.tolist() == [20, 20]
    assert (rep.duplicate_actual_ids, rep.superseded_actuals) == (2, 2)


def test_without_timestamp_the_last_row_in_the_file_wins():
    out, rep = _join(
        _preds(["a"]), pd.DataFrame({"prediction_id": ["a"] * 3, "actual_label": [0, 1, 0]})
    )
    assert out["actual_label"].tolist() == [0] and rep.superseded_actuals == 2


def test_equal_or_missing_timestamps_fall_back_to_file_order():
    acts = pd.DataFrame(
        {
            "prediction_id": ["a", "a", "b", "b"],
            "actual_label": [0, 1, 1, 0],
            "actual_timestamp": ["2026-11-10", "2026-11-10", "2026-11-10", None],
        }
    )
    out, _ = _join(_preds(["a", "b"]), acts, timestamp_column="actual_timestamp")
    # a: tie, the later row wins; b: a missing timestamp counts as the oldest.
    assert out["actual_label"].tolist() == [1, 1]


def test_every_count_is_reported_and_no_prediction_row_is_dropped():
    preds = pd.DataFrame(
        {
            "prediction_id": ["a", "b", "c", "c", None, "e"],
            "actual_label": [0, 0, 0, 0, 0, 1],  # the predictions' own (stale) actuals
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    acts = pd.DataFrame(
        {
            "prediction_id": ["a", "c", "z", None, "b", "a"],
            "actual_label": pd.array([1, 1, 0, 1, None, 0], dtype="Int64"),
        }
    )
    out, rep = _join(preds, acts)
    assert out.index.tolist() == preds.index.tolist()
    assert out["prediction_id"].tolist() == preds["prediction_id"].tolist()
    assert out["actual_label"].astype(object).tolist() == [0, pd.NA, 1, 1, pd.NA, pd.NA]
    assert rep.as_dict() == {
        "id_column": "prediction_id",
        "actual_column": "actual_label",
        "timestamp_column": None,
        "predictions": 6,
        "with_actuals": 3,
        "without_actuals": 3,
        "duplicate_prediction_ids": 1,
        "predictions_without_id": 1,
        "actual_rows": 6,
        "actuals_without_id": 1,
        "empty_actuals": 1,
        "duplicate_actual_ids": 1,
        "superseded_actuals": 1,
        "unmatched_actuals": 1,
        # c, c changed; b, the id-less row and e cleared; a's 0 is confirmed by its latest row
        "replaced_existing": 5,
    }
    notes = "\n".join(rep.notes("labels.csv"))
    for text in (
        "3 of 6 predictions have an actual (3 without)",
        "1 actual rows replaced by a later actual",
        "1 actual ids match no prediction",
        "1 actual rows have no 'prediction_id'",
        "1 actual rows have an empty 'actual_label'",
        "1 prediction ids occur on several prediction rows",
        "1 predictions have no 'prediction_id'",
        "replaced on 5 rows",
    ):
        assert text in notes, text


def test_numeric_and_text_ids_match():
    preds = _preds([101, 102, 103])
    acts = pd.DataFrame({"prediction_id": ["101", " 103", "999"], "actual_label": [1, 0, 1]})
    out, rep = _join(preds, acts)
    assert out["actual_label"].astype(object).tolist() == [1, pd.NA, 0]
    assert rep.unmatched_actuals == 1
    floats = _preds(["101", "102"])
    out, _ = _join(
        floats, pd.DataFrame({"prediction_id": [101.0, np.nan], "actual_label": [True, False]})
    )
    assert out["actual_label"].astype(object).tolist() == [True, pd.NA]
    assert str(out["actual_label"].dtype) == "boolean"


def test_integer_actuals_stay_integers_so_the_positive_class_is_kept():
    preds = _preds(["a", "b", "c"])
    out, _ = _join(preds, pd.DataFrame({"prediction_id": ["a", "b"], "actual_label": [1, 0]}))
    assert str(out["actual_label"].dtype) == "Int64"
    full, _ = _join(preds, pd.DataFrame({"prediction_id": list("abc"), "actual_label": [1, 0, 1]}))
    assert full["actual_label"].dtype == np.int64


def test_missing_columns_name_the_file():
    with pytest.raises(DataError, match="labels.csv: column 'actual_label' is missing"):
        join_actuals(
            _preds(["a"]),
            pd.DataFrame({"prediction_id": ["a"], "y": [1]}),
            id_column="prediction_id",
            actual_column="actual_label",
            names=("preds.csv", "labels.csv"),
        )


@given(
    pred_ids=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=15),
    rows=st.lists(
        st.tuples(
            st.sampled_from("abcdefghxyz"), st.sampled_from([0, 1, None]), st.integers(0, 5)
        ),
        max_size=25,
    ),
)
@settings(max_examples=150, deadline=None)
def test_join_matches_a_row_by_row_oracle(pred_ids, rows):
    acts = pd.DataFrame(rows, columns=["prediction_id", "actual_label", "day"])
    acts["actual_label"] = acts["actual_label"].astype("Int64")
    acts["when"] = pd.Timestamp("2026-11-01") + pd.to_timedelta(acts["day"], "D")
    out, rep = _join(_preds(pred_ids), acts, timestamp_column="when")
    latest: dict[str, tuple[int, int, int]] = {}  # id -> (day, file position, actual)
    for pos, (pid, actual, day) in enumerate(rows):
        if actual is None:
            continue
        if pid not in latest or (day, pos) >= latest[pid][:2]:
            latest[pid] = (day, pos, actual)
    want = [latest[p][2] if p in latest else None for p in pred_ids]
    got = [None if pd.isna(v) else int(v) for v in out["actual_label"]]
    assert got == want
    assert rep.with_actuals + rep.without_actuals == len(pred_ids) == len(out)
    assert rep.unmatched_actuals == len(set(latest) - set(pred_ids))
    usable = sum(a is not None for _, a, _ in rows)
    assert rep.superseded_actuals == usable - len(latest)
    assert rep.empty_actuals == len(rows) - usable


# ---------------------------------------------------------------------------------------------
# The monitoring demo's delayed actuals


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        read_table(DEMO / "monitoring_production.parquet"),
        read_table(DEMO / "monitoring_actuals.parquet"),
    )


def test_demo_join_recovers_the_corrected_truth(demo):
    production, actuals = demo
    out, rep = join_actuals_file(production.drop(columns="actual_label"), actuals)
    assert (rep.id_column, rep.actual_column, rep.timestamp_column) == (
        "prediction_id",
        "actual_label",
        "actual_timestamp",
    )
    has = out["actual_label"].notna().to_numpy()
    # Every joined actual is the final (corrected) truth, including the 1.5% corrected ids.
    assert (out.loc[has, "actual_label"].to_numpy() == production.loc[has, "actual_label"]).all()
    assert rep.duplicate_actual_ids > 1_000 and rep.superseded_actuals == rep.duplicate_actual_ids
    assert rep.unmatched_actuals == 50
    assert rep.with_actuals == int(has.sum()) and 0.6 < rep.with_actuals / len(out) < 0.85
    # Actuals arrive 10+ days late: the last days of production have none.
    last = out["timestamp"] >= pd.Timestamp("2026-11-13", tz="UTC")
    assert out.loc[last, "actual_label"].isna().all()
    # First-wrong-then-corrected ids: taking the first actual instead would be wrong.
    first = actuals.drop_duplicates("prediction_id", keep="first").set_index("prediction_id")
    corrected = actuals.loc[actuals["prediction_id"].duplicated(), "prediction_id"]
    truth = production.set_index("prediction_id").loc[corrected, "actual_label"]
    assert (first.loc[corrected, "actual_label"] != truth).all()


def test_demo_join_feeds_an_analysis_that_uses_only_rows_with_actuals(demo):
    production, actuals = demo
    training = read_table(DEMO / "monitoring_training.parquet")
    joined, rep = join_actuals_file(production, actuals)
    assert rep.replaced_existing == rep.without_actuals  # the file's own labels were cleared
    analysis = prepare_analysis(training, joined)
    assert int(analysis.production.valid.sum()) == rep.with_actuals
    assert analysis.schema.positive_class == 1
    assert any("without an actual" in n for n in analysis.notes)


def test_join_actuals_file_detection_and_errors():
    preds = pd.DataFrame({"txn": ["a", "b"], "pred": [1, 0], "target": [None, None]})
    acts = pd.DataFrame({"txn": ["b"], "target": [1], "labeled_at": ["2026-11-01"]})
    out, rep = join_actuals_file(preds, acts, roles={"prediction_id": "txn"})
    assert rep.actual_column == "target" and rep.timestamp_column == "labeled_at"
    assert out["target"].astype(object).tolist() == [pd.NA, 1]
    with pytest.raises(DataError, match="no prediction id column shared"):
        join_actuals_file(
            preds, acts.rename(columns={"txn": "other"}), roles={"prediction_id": "txn"}
        )
    with pytest.raises(DataError, match="no actual column found"):
        join_actuals_file(preds, acts[["txn"]], roles={"prediction_id": "txn"})
