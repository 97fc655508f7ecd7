"""``python -m tracing timeline``: JSON/CSV output, options, and one clear line for bad input.

Runs through `tracing.cli.main` once the subcommand is registered there; until then through an
equivalent parser built with the same `tracing.cli._Parser` (same exit codes and messages).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import DEMO, ROOT
from tracing import cli
from tracing.cli import add_timeline_parser as add_parser
from tracing.cli import load_inputs
from tracing.cli import run_timeline as run
from tracing.errors import DataError
from tracing.io import read_table
from tracing.rows import compared_rows
from tracing.timeline import metric_timeline, monitoring_schema

TRAIN = str(DEMO / "monitoring_training.parquet")
PROD = str(DEMO / "monitoring_production.parquet")
ACTUALS = str(DEMO / "monitoring_actuals.parquet")
PROMO = [f"2026-{d}T00:00:00+00:00" for d in ("10-30", "10-31")] + [
    f"2026-11-{d:02d}T00:00:00+00:00" for d in range(1, 9)
]


def _wired() -> bool:
    parser = cli._parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return bool(subs) and "timeline" in subs[0].choices


def _main(argv: list[str]) -> int:
    if _wired():
        return cli.main(argv)
    parser = cli._Parser(prog="python -m tracing")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=cli._Parser)
    add_parser(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        text = run(args)
    except DataError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return cli.EXIT_BAD_INPUT
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = _main(["timeline", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_documented_keys_and_alerts_on_the_planted_days(capsys):
    code, out, err = _run(capsys, "--production", PROD, "--baseline", TRAIN)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["metric"] == "accuracy" and doc["freq"] == "day" and len(doc["periods"]) == 60
    keys = {
        "start",
        "end",
        "rows",
        "rows_with_actuals",
        "metric",
        "estimated",
        "expected_low",
        "expected_high",
        "alert",
    }
    assert all(keys <= set(p) for p in doc["periods"])
    assert [p["start"] for p in doc["periods"] if p["alert"]] == PROMO
    # Same numbers as the engine.
    training, production = read_table(TRAIN), read_table(PROD)
    tl = metric_timeline(production, training, schema=monitoring_schema(production, training))
    assert [p["metric"] for p in doc["periods"]] == pytest.approx(tl.table["metric"].tolist())
    assert [p["rows"] for p in doc["periods"]] == tl.table["rows"].tolist()


def test_delayed_actuals_give_nulls_and_estimates_where_actuals_are_missing(capsys):
    code, out, err = _run(capsys, "--production", PROD, "--baseline", TRAIN, "--actuals", ACTUALS)
    assert code == 0, err
    doc = json.loads(out)
    last = doc["periods"][-1]
    assert last["rows_with_actuals"] == 0 and last["metric"] is None
    assert last["estimated"] is not None and last["basis"] == "estimated"
    assert any("50 actual ids match no prediction" in n for n in doc["notes"])
    assert [p["start"] for p in doc["periods"] if p["alert"]] == PROMO


def test_rolling_window_k_freq_and_csv_to_a_file(capsys, tmp_path):
    out_path = tmp_path / "t.csv"
    code, out, err = _run(
        capsys,
        "--production",
        PROD,
        "--window",
        "7",
        "--k",
        "2",
        "--freq",
        "week",
        "--metric",
        "recall",
        "--format",
        "csv",
        "--output",
        str(out_path),
    )
    assert code == 0 and out == "", err
    table = pd.read_csv(out_path)
    assert list(table.columns[:9]) == [
        "start",
        "end",
        "rows",
        "rows_with_actuals",
        "metric",
        "estimated",
        "expected_low",
        "expected_high",
        "alert",
    ]
    assert len(table) == 9 and table["rows"].sum() == 150_000  # Thu 09-24 .. Sun 11-22
    assert pd.to_datetime(table["start"]).dt.day_of_week.eq(0).all()  # weeks start on Monday


def test_windows_on_one_file(capsys):
    code, out, err = _run(
        capsys,
        "--production",
        PROD,
        "--production-window",
        "2026-11-16,2026-11-22",
        "--baseline-window",
        "2026-09-24,2026-10-23",
        "--freq",
        "hour",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["periods"]) == 7 * 24 and doc["band"] == "baseline"
    assert doc["datasets"]["baseline"].endswith("[2026-09-24,2026-10-23]")
    assert any("fall outside both" in n for n in doc["notes"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--production", "missing.parquet"], "missing.parquet: file not found"),
        (["--production", PROD, "--metric", "mae"], "metric 'mae' does not fit"),
        (["--production", PROD, "--k", "0"], "argument --k: must be > 0"),
        (["--production", PROD, "--window", "1"], "argument --window: must be >= 2"),
        (["--production", PROD, "--freq", "month"], "argument --freq: invalid choice"),
        (["--production", PROD, "--production-window", "2030-01-01,"], "holds no rows"),
        (["--production", PROD, "--timestamp", "when"], "column 'when'"),
        (
            ["--production", PROD, "--baseline", str(DEMO / "eta_training.parquet")],
            "eta_training.parquet: prediction column 'prediction_label' is missing",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.skipif(not _wired(), reason="tracing.cli does not register timeline yet")
def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "tracing", "timeline", "--production", PROD, "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(io.StringIO(proc.stdout))["rows"].sum() == 150_000


# ---------------------------------------------------------------------------------------------
# The inputs helper the report command uses


def _args(**kw) -> argparse.Namespace:
    base = {
        "production": PROD,
        "baseline": None,
        "actuals": None,
        "production_window": None,
        "baseline_window": None,
    }
    base.update(kw)
    roles = dict.fromkeys(
        (
            "prediction_id",
            "timestamp",
            "prediction_label",
            "actual_label",
            "prediction_score",
            "features",
            "tags",
        ),
    )
    return argparse.Namespace(**roles, **base)


def test_load_inputs_for_report_windows_and_actuals():
    inputs = load_inputs(_args(production_window="2026-11-16,", actuals=ACTUALS))
    assert inputs.baseline is not None and inputs.join is not None
    assert len(inputs.production) == 7 * 2_500 and len(inputs.baseline) == 53 * 2_500
    assert inputs.names == (
        "monitoring_production.parquet [before 2026-11-16]",
        "monitoring_production.parquet [2026-11-16,]",
    )
    # Actuals were joined before cutting: the last week has none.
    assert inputs.production["actual_label"].isna().all()
    assert inputs.notes[0].startswith("monitoring_actuals.parquet: 110,012 of 150,000")


def test_load_inputs_baseline_window_only_makes_the_rest_production():
    inputs = load_inputs(_args(baseline_window="2026-09-24,2026-10-23"))
    assert inputs.baseline is not None
    assert len(inputs.baseline) == 30 * 2_500 and len(inputs.production) == 30 * 2_500
    assert inputs.production["timestamp"].min() >= pd.Timestamp("2026-10-24", tz="UTC")


def test_load_inputs_cuts_each_file_when_a_baseline_file_is_given():
    inputs = load_inputs(
        _args(
            baseline=TRAIN,
            baseline_window="2026-08-01,2026-08-10",
            production_window="2026-11-01,2026-11-07",
        )
    )
    assert inputs.baseline is not None
    assert len(inputs.baseline) == 10 * 2_000 and len(inputs.production) == 7 * 2_500
    assert inputs.names == (
        "monitoring_training.parquet [2026-08-01,2026-08-10]",
        "monitoring_production.parquet [2026-11-01,2026-11-07]",
    )


def test_load_inputs_requires_a_baseline_for_report():
    with pytest.raises(DataError, match="no baseline: give --baseline PATH"):
        load_inputs(_args(), require_baseline=True)
    assert load_inputs(_args()).baseline is None


def test_compared_rows_without_windows_keeps_the_frames():
    frame = read_table(TRAIN).head(10)
    inputs = compared_rows(frame, frame, names=("a", "b"))
    assert inputs.production is frame and inputs.baseline is frame and inputs.notes == ()


def test_two_model_versions_on_the_same_days(capsys):
    code, out, err = _run(
        capsys,
        "--production",
        PROD,
        "--baseline-version",
        "v1",
        "--production-version",
        "v2",
        "--production-window",
        "2026-11-01,2026-11-14",
        "--freq",
        "day",
    )
    assert code == 0, err
    doc = json.loads(out)
    # Oracle: the v2 rows of those days, per day, straight from the file.
    raw = read_table(PROD)
    days = raw["timestamp"].between(
        pd.Timestamp("2026-11-01", tz="UTC"),
        pd.Timestamp("2026-11-15", tz="UTC"),
        inclusive="left",
    )
    v2 = raw[days & (raw["model_version"] == "v2")]
    per_day = v2.groupby(v2["timestamp"].dt.floor("D"))
    assert [p["start"][:10] for p in doc["periods"]] == [f"2026-11-{d:02d}" for d in range(1, 15)]
    assert [p["rows"] for p in doc["periods"]] == per_day.size().tolist()
    accuracy = per_day.apply(lambda f: (f["prediction_label"] == f["actual_label"]).mean())
    assert [p["metric"] for p in doc["periods"]] == pytest.approx(accuracy.tolist())
    # The band comes from the baseline version's days; no estimate across two models.
    assert doc["band"] == "baseline"
    assert all(p["estimated"] is None for p in doc["periods"])
    assert doc["datasets"] == {
        "baseline": "monitoring_production.parquet [model_version=v1] [2026-11-01,2026-11-14]",
        "production": "monitoring_production.parquet [model_version=v2] [2026-11-01,2026-11-14]",
    }


def test_load_inputs_two_model_versions():
    inputs = load_inputs(_args(baseline_version="v1", production_version="v2"))
    raw = read_table(PROD)
    assert len(inputs.baseline) == int((raw["model_version"] == "v1").sum())
    assert len(inputs.production) == int((raw["model_version"] == "v2").sum())
    assert inputs.timeline_baseline is not None and inputs.timeline_production is not None
