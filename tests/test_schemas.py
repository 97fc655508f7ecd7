"""Every JSON output validates against its schema in tracing/schemas/, which names every key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import DEMO
from tracing.cli import main

SCHEMAS = Path(__file__).resolve().parents[1] / "tracing" / "schemas"


def _schema(name: str) -> dict:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _run(capsys, args: list[str]) -> dict:
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _check(output: dict, schema: dict) -> None:
    jsonschema.validate(output, schema)
    assert set(output) <= set(schema["properties"]), "add new keys to the schema file"
    for key, value in output.items():  # records name every key they carry
        items = schema["properties"][key].get("items", {})
        if isinstance(value, list) and value and isinstance(value[0], dict) and items:
            assert set(value[0]) <= set(items["properties"]), key


@pytest.mark.parametrize(
    "files",
    [
        ("fraud_training.parquet", "fraud_production.parquet"),
        ("eta_training.parquet", "eta_production.parquet"),
    ],
)
def test_full_report_matches_its_schema(capsys, files) -> None:
    base, prod = (str(DEMO / f) for f in files)
    report = _run(
        capsys,
        ["report", "--baseline", base, "--production", prod,
         "--explain-sample-size", "2000", "--shap-sample-size", "100"],
    )  # fmt: skip
    assert {"overall", "slices", "root_cause", "drift", "quality", "importance"} <= set(report)
    _check(report, _schema("report"))


def test_report_without_actuals_matches_its_schema() -> None:
    import pandas as pd

    from tracing import prepare_analysis
    from tracing.report import build_report

    base = pd.read_parquet(DEMO / "fraud_training.parquet")
    prod = pd.read_parquet(DEMO / "fraud_production.parquet").drop(columns="actual_label")
    analysis = prepare_analysis(base, prod, require_actuals=False)
    report = build_report(analysis, sections=["overall", "drift", "quality", "root_cause"])
    assert report["rows_with_actuals"]["production"] == 0
    _check(report, _schema("report"))


def test_timeline_matches_its_schema(capsys) -> None:
    out = _run(
        capsys,
        ["timeline", "--baseline", str(DEMO / "monitoring_training.parquet"),
         "--production", str(DEMO / "monitoring_production.parquet")],
    )  # fmt: skip
    assert out["schema_version"].startswith("1.") and out["alerts"]
    _check(out, _schema("timeline"))
