"""Data page: demo by default, uploads into the dataset store, roles, refusals as st.error."""

from __future__ import annotations

from pathlib import Path

from tracing import sources


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
    assert "no actual column found" in at.error[0].value
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
