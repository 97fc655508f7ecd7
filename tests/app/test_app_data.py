"""Data page: demo by default, uploads into the dataset store, roles, refusals as st.error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracing import sources
from tracing.errors import DataError


def test_opens_on_the_fraud_demo_with_roles_pinned_in_the_url(app, no_errors) -> None:
    at = app("data")
    no_errors(at)
    assert at.title[0].value == "Which data are we comparing?"
    assert at.selectbox(key="w_demo").value == "fraud"
    params = at.query_params
    assert params["baseline"].endswith("fraud_training.parquet")
    assert params["production"].endswith("fraud_production.parquet")
    assert (params["prediction"], params["actual"], params["score"]) == (
        "prediction_label",
        "actual_label",
        "prediction_score",
    )
    assert (params["model_type"], params["positive_class"], params["metric"]) == (
        "binary",
        "1",
        "recall",
    )
    assert "Ready: 20,000 baseline rows" in at.success[0].value


def test_upload_two_csvs(app, no_errors, fraud_csvs) -> None:
    base, prod = fraud_csvs
    at = app("data")
    at.file_uploader(key="w_upload_baseline").set_value(("train.csv", base, "text/csv")).run()
    # One file alone does not replace the analysis yet.
    assert at.query_params["production"].endswith("fraud_production.parquet")
    assert "upload the production file too" in at.info[0].value
    at.file_uploader(key="w_upload_production").set_value(("week.csv", prod, "text/csv")).run()
    no_errors(at)
    b, p = at.query_params["baseline"], at.query_params["production"]
    assert sources.is_dataset_id(b) and sources.is_dataset_id(p) and b != p
    assert sources.resolve_source(p) == ("week.csv", prod)  # kept in the store, name kept
    assert "Ready: 4,000 baseline rows and 4,000 production rows" in at.success[0].value
    assert at.selectbox(key="w_role_actual").value == "actual_label"


def test_bad_upload_shows_the_error_not_a_traceback(app, fraud_csvs) -> None:
    at = app("data")
    bad = b"PAR1 this is not a parquet file"
    at.file_uploader(key="w_upload_baseline").set_value(("bad.parquet", bad, "application/x"))
    at.file_uploader(key="w_upload_production").set_value(("week.csv", fraud_csvs[1], "text/csv"))
    at.run()
    assert not at.exception
    assert any("bad.parquet" in e.value and "Parquet" in e.value for e in at.error)


def test_changing_a_role_updates_the_link_and_explains_the_fix(app, no_errors) -> None:
    at = app("data")
    at.selectbox(key="w_role_actual").set_value("(none)").run()
    assert not at.exception
    assert at.query_params["actual"] == ""
    # Changed deliberately (issue 12): the message is in the app's words, under its picker.
    message = _right_after(at, "w_role_actual", "error")
    assert "No actual column found" in message and "pick the column" in message
    assert not any("--" in e.value for e in at.error)  # no CLI flags on the page
    at.selectbox(key="w_role_actual").set_value("actual_label").run()
    no_errors(at)
    assert at.query_params["actual"] == "actual_label"


def test_switching_to_the_eta_demo(app, no_errors) -> None:
    at = app("data")
    at.selectbox(key="w_demo").set_value("eta").run()
    no_errors(at)
    assert at.query_params["production"].endswith("eta_production.parquet")
    assert at.query_params["model_type"] == "regression"
    assert at.selectbox(key="w_metric_data").value == "mae"
    assert "positive_class" not in at.query_params


def test_path_outside_the_allowed_folders_is_refused(app) -> None:
    at = app("data")
    at.text_input(key="w_path_baseline").set_value("/etc/passwd")
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception
    assert any("not inside an allowed data folder" in e.value for e in at.error)
    assert at.query_params["baseline"].endswith("fraud_training.parquet")  # unchanged


def test_path_inside_an_allowed_folder_opens(app, no_errors, data_dir: Path, fraud_csvs) -> None:
    (data_dir / "b.csv").write_bytes(fraud_csvs[0])
    (data_dir / "p.csv").write_bytes(fraud_csvs[1])
    at = app("data")
    at.text_input(key="w_path_baseline").set_value(str(data_dir / "b.csv"))
    at.text_input(key="w_path_production").set_value(str(data_dir / "p.csv"))
    at.button[0].click()
    at.run()
    no_errors(at)
    assert at.query_params["production"] == str(data_dir / "p.csv")
    assert "4,000 production rows" in at.success[0].value


def test_replace_only_the_production_file(app, no_errors, fraud_csvs) -> None:
    at = app("data")
    baseline = at.query_params["baseline"]
    at.file_uploader(key="w_upload_production").set_value(("week.csv", fraud_csvs[1], "text/csv"))
    at.run()
    at.button(key="w_use_one_upload").click().run()
    no_errors(at)
    assert at.query_params["baseline"] == baseline
    assert sources.is_dataset_id(at.query_params["production"])
    assert "20,000 baseline rows and 4,000 production rows" in at.success[0].value


def test_a_metric_that_does_not_fit_can_be_fixed_here(app) -> None:
    at = app("data", metric="mae")  # a regression metric on the binary fraud demo
    assert not at.exception
    assert "does not fit this binary model" in at.error[0].value
    at.selectbox(key="w_metric_data").set_value("accuracy").run()
    assert not at.exception and not at.error
    assert at.query_params["metric"] == "accuracy"


# -- roles from realistic names (issue 12) ------------------------------------------------------


def _flights(n: int, seed: int) -> pd.DataFrame:
    """Flights with weather and a delay classifier's outputs, named as a real export is."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(60, 15, n).round(1)
    delayed = (rng.random(n) < 0.2 + 0.3 * (temp > 75)).astype(int)
    proba = np.clip(0.25 + 0.5 * delayed + rng.normal(0, 0.2, n), 0, 1).round(4)
    start = pd.Timestamp("2024-01-01") if seed == 0 else pd.Timestamp("2024-07-01")
    return pd.DataFrame(
        {
            "flight_id": np.arange(n) + seed * n,
            "sched_departure": start + pd.to_timedelta(rng.integers(0, 180 * 24, n), unit="h"),
            "carrier": rng.choice(["AA", "B6", "DL", "UA"], n),
            "origin": rng.choice(["JFK", "LGA", "EWR"], n),
            "dest": rng.choice(["ATL", "ORD", "LAX", "MIA"], n),
            "tailnum": rng.choice([f"N{i}" for i in range(50)], n),
            "hour": rng.integers(5, 23, n),
            "temp": temp,
            "visib": rng.choice([10.0, 5.0, 2.5], n),
            "delay_proba": proba,
            "delayed_pred": (proba >= 0.5).astype(int),
            "delayed": delayed,
        }
    )


def _bytes(frame: pd.DataFrame, kind: str) -> bytes:
    if kind == "csv":
        return frame.to_csv(index=False).encode()
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _flat(node) -> list:
    """Every element under ``node`` in page order (blocks before their children)."""
    out = []
    for child in getattr(node, "children", {}).values():
        out.append(child)
        out.extend(_flat(child))
    return out


def _right_after(at, key: str, kind: str) -> str:
    """Return the text of the ``kind`` elements between the widget ``key`` and the next input."""
    items = _flat(at.main)
    start = next(i for i, e in enumerate(items) if getattr(e, "key", None) == key)
    texts = []
    for e in items[start + 1 :]:
        if e.type in ("selectbox", "multiselect"):
            break
        if e.type == kind:
            texts.append(str(e.value))
    return " ".join(texts)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_realistic_names_prefill_every_role(app, no_errors, kind) -> None:
    at = app("data")
    for key, name, seed in (
        ("w_upload_baseline", "jan_jun", 0),
        ("w_upload_production", "jul_dec", 1),
    ):
        data = _bytes(_flights(600, seed), kind)
        at.file_uploader(key=key).set_value((f"{name}.{kind}", data, "application/x")).run()
    no_errors(at)
    assert at.selectbox(key="w_role_prediction").value == "delayed_pred"
    assert at.multiselect(key="w_role_score").value == ["delay_proba"]
    assert at.selectbox(key="w_role_actual").value == "delayed"
    assert at.selectbox(key="w_role_id").value == "flight_id"
    assert at.selectbox(key="w_role_timestamp").value == "sched_departure"
    params = at.query_params
    assert (params["prediction"], params["actual"], params["id"]) == (
        "delayed_pred",
        "delayed",
        "flight_id",
    )
    assert "Ready: 600 baseline rows and 600 production rows" in at.success[0].value
    assert "binary model, 7 features" in at.success[0].value
    # Each guess is shown under its picker with its reason, until confirmed.
    assert "is what" in _right_after(at, "w_role_actual", "caption")
    assert "dates and times" in _right_after(at, "w_role_timestamp", "caption")
    at.button(key="w_confirm_roles").click().run()
    no_errors(at)
    assert "Guessed" not in " ".join(c.value for c in at.caption)
    assert at.selectbox(key="w_role_actual").value == "delayed"


def test_missing_roles_are_shown_together_next_to_their_pickers(app) -> None:
    frame = _flights(300, 0).rename(
        columns={"delay_proba": "p", "delayed_pred": "guess", "delayed": "outcome_flag"}
    )
    at = app("data")
    for key, name in (("w_upload_baseline", "b.csv"), ("w_upload_production", "p.csv")):
        at.file_uploader(key=key).set_value((name, _bytes(frame, "csv"), "text/csv")).run()
    assert not at.exception
    assert "No actual column found" in _right_after(at, "w_role_actual", "error")
    assert "No prediction column found" in _right_after(at, "w_role_prediction", "error")
    assert not any("--" in e.value for e in at.error)
    assert not at.success  # nothing is "Ready"
    # Picking both fixes both.
    at.selectbox(key="w_role_actual").set_value("outcome_flag").run()
    assert "No prediction column found" in _right_after(at, "w_role_prediction", "error")
    at.selectbox(key="w_role_prediction").set_value("guess").run()
    assert not at.exception and not at.error
    assert "Ready: 300 baseline rows" in at.success[0].value


def test_after_uploading_only_a_baseline_nothing_speaks_of_the_demo(app, fraud_csvs) -> None:
    at = app("data")
    assert "Ready: 20,000" in at.success[0].value
    at.file_uploader(key="w_upload_baseline").set_value(("train.csv", fraud_csvs[0], "text/csv"))
    at.run()
    assert not at.exception
    assert not at.success
    assert "Now upload the production file too" in at.info[0].value
    assert not any("20,000" in m.value for m in at.markdown)
    # Choosing a demo again settles the half upload: the page speaks of the demo again.
    at.selectbox(key="w_demo").set_value("eta").run()
    assert not at.exception
    assert "Ready:" in at.success[0].value


def test_one_picker_for_the_actual_and_no_dates_between_two_files(app, no_errors) -> None:
    at = app("data")
    no_errors(at)
    labels = [s.label for s in at.selectbox]
    assert labels.count("Actual") == 1
    assert not any("actual" in label.lower() and label != "Actual" for label in labels)
    assert at.radio(key="w_rows_mode").value == "files"
    assert len(at.date_input) == 0


def test_one_realistic_file_is_cut_by_its_detected_timestamp(app, no_errors) -> None:
    at = app("data")
    data = _bytes(_flights(900, 1), "parquet")
    at.file_uploader(key="w_upload_production").set_value(("flights.parquet", data, "x")).run()
    at.button(key="w_use_one_file").click().run()
    no_errors(at)
    assert at.selectbox(key="w_role_timestamp").value == "sched_departure"
    assert at.selectbox(key="w_role_id").value == "flight_id"  # each row once: still unique
    assert at.radio(key="w_rows_mode").value == "windows"
    assert at.query_params["production_window"] and at.query_params["baseline_window"]
    assert "Ready:" in at.success[0].value


def test_an_uploader_deletes_their_upload_and_its_snapshot_link_says_so(
    app, no_errors, fraud_csvs
) -> None:
    from tracing import links, store

    at = app("data")
    at.file_uploader(key="w_upload_baseline").set_value(("train.csv", fraud_csvs[0], "text/csv"))
    at.file_uploader(key="w_upload_production").set_value(("week.csv", fraud_csvs[1], "text/csv"))
    at.run()
    no_errors(at)
    ref = at.query_params["production"]
    params = {"baseline": at.query_params["baseline"], "production": ref}
    record = links.create_link(params, page="")
    at.run()
    assert any("1 snapshot link uses it" in c.value for c in at.caption)
    at.button(key="w_delete_production").click().run()
    no_errors(at)
    assert not store.uploaded_by(ref, store.ANONYMOUS)
    assert at.query_params["production"].endswith("fraud_production.parquet")  # back to the demo
    with pytest.raises(DataError, match="deleted by the person who uploaded it"):
        links.load_link(record.id)
