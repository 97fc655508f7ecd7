"""The headless CLI: exit codes, JSON keys, Markdown, and one clear line for each bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.conftest import DEMO, ROOT, make_binary, make_regression
from tracing.cli import main


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    b, p = tmp_path / "baseline.csv", tmp_path / "production.csv"
    make_binary(n=300, seed=1).to_csv(b, index=False)
    make_binary(n=300, seed=2, shift=0.1).to_csv(p, index=False)
    return b, p


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_json_has_the_documented_keys(files, capsys):
    b, p = files
    code, out, err = _run(capsys, "report", "--baseline", str(b), "--production", str(p))
    assert code == 0, err
    report = json.loads(out)
    assert report["model_type"] == "binary"
    assert set(report["metric"]) >= {"name", "higher_is_better"}
    assert report["rows"] == {"baseline": 300, "production": 300}
    keys = {"metric", "baseline", "production", "delta", "higher_is_better", "ci_low", "ci_high"}
    assert all(keys <= set(r) for r in report["overall"])
    acc = next(r for r in report["overall"] if r["metric"] == "accuracy")
    prod = pd.read_csv(p)
    assert acc["production"] == pytest.approx(
        skm.accuracy_score(prod.actual_label, prod.prediction_label)
    )


def test_report_options_and_markdown_to_a_file(files, capsys, tmp_path):
    b, p = files
    out_path = tmp_path / "r.md"
    code, out, err = _run(
        capsys,
        "report",
        "--baseline",
        str(b),
        "--production",
        str(p),
        "--metric",
        "fnr",
        "--prediction",
        "prediction_label",
        "--actual",
        "actual_label",
        "--score",
        "prediction_score",
        "--features",
        "state,amount",
        "--positive-class",
        "1",
        "--format",
        "markdown",
        "--output",
        str(out_path),
        "--sections",
        "overall",
    )
    assert code == 0, err
    assert out == ""
    text = out_path.read_text()
    assert "# Model performance report" in text and "False negative rate" in text
    assert "lower is better" in text


def test_python_dash_m_runs_on_the_bundled_demo():
    cmd = [
        sys.executable,
        "-m",
        "tracing",
        "report",
        "--baseline",
        str(DEMO / "fraud_training.parquet"),
        "--production",
        str(DEMO / "fraud_production.parquet"),
        "--sections",
        "overall",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["metric"]["name"] == "recall"  # rare positive class: not accuracy
    recall = next(r for r in report["overall"] if r["metric"] == "recall")
    assert recall["delta"] < -0.5 and recall["ci_high"] < 0


def _bad(capsys, *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_file(files, capsys, tmp_path):
    _, p = files
    msg = _bad(capsys, "report", "--baseline", str(tmp_path / "gone.csv"), "--production", str(p))
    assert "gone.csv" in msg and "not found" in msg


def test_unreadable_file(files, capsys, tmp_path):
    b, _ = files
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(bad))
    assert "broken.parquet" in msg and "could not be read" in msg


def test_unknown_column(files, capsys):
    b, p = files
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(p), "--actual", "truth")
    assert "'truth'" in msg and "actual_label" in msg and "available columns" in msg


def test_no_shared_columns(files, capsys, tmp_path):
    b, _ = files
    other = tmp_path / "other.csv"
    pd.DataFrame({"x": [1, 2], "y": [3, 4]}).to_csv(other, index=False)
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(other))
    assert "share no column" in msg and "other.csv" in msg


def test_empty_data(files, capsys, tmp_path):
    b, _ = files
    empty = tmp_path / "empty.csv"
    empty.write_text("prediction_label,actual_label\n")
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(empty))
    assert "empty.csv" in msg and "no data rows" in msg


def test_metric_that_does_not_fit(files, capsys):
    b, p = files
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(p), "--metric", "mae")
    assert "'mae'" in msg and "binary" in msg and "accuracy" in msg


def test_actual_column_without_values(files, capsys, tmp_path):
    b, _ = files
    blank = tmp_path / "blank.csv"
    frame = make_binary(n=50, seed=3)
    frame["actual_label"] = None
    frame.to_csv(blank, index=False)
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(blank))
    assert "blank.csv" in msg and "'actual_label'" in msg and "no values" in msg


def test_non_numeric_regression_values(capsys, tmp_path):
    b, p = tmp_path / "b.csv", tmp_path / "p.csv"
    make_regression(n=50, seed=1).to_csv(b, index=False)
    frame = make_regression(n=50, seed=2).astype({"y_pred": object})
    frame.loc[3, "y_pred"] = "n/a?"
    frame.to_csv(p, index=False)
    msg = _bad(
        capsys,
        "report",
        "--baseline",
        str(b),
        "--production",
        str(p),
        "--model-type",
        "regression",
    )
    assert "p.csv" in msg and "'y_pred'" in msg and "non-numeric" in msg


def test_usage_errors_are_one_line_with_exit_code_2(capsys):
    msg = _bad(capsys, "report", "--baseline", "x.csv")
    assert "--production" in msg
    msg = _bad(capsys, "report", "--baseline", "a", "--production", "b", "--format", "xml")
    assert "xml" in msg


def test_unknown_section(files, capsys):
    b, p = files
    msg = _bad(
        capsys,
        "report",
        "--baseline",
        str(b),
        "--production",
        str(p),
        "--sections",
        "overall,magic",
    )
    assert "magic" in msg and "overall" in msg


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--top", "0", "--top on the command line) must be a whole number of 1 or more, got 0"),
        (
            "--max-depth",
            "7",
            "--max-depth on the command line) must be a whole number from 1 to 4",
        ),
        ("--min-size", "0", "--min-size on the command line) must be a whole number of 1 or more"),
    ],
)
def test_bad_slice_limits_fail_instead_of_falling_back(files, capsys, flag, value, expected):
    """--top 0 used to become 20 silently (``or 20``)."""
    b, p = files
    msg = _bad(capsys, "report", "--baseline", str(b), "--production", str(p), flag, value)
    assert expected in msg


def test_overall_shows_the_estimate_beside_the_realized_value(capsys):
    code, out, err = _run(
        capsys,
        "report",
        "--baseline",
        str(DEMO / "monitoring_training.parquet"),
        "--production",
        str(DEMO / "monitoring_production.parquet"),
        "--sections",
        "overall",
    )
    assert code == 0, err
    acc = next(r for r in json.loads(out)["overall"] if r["metric"] == "accuracy")
    # Covariate shift only (the monitoring demo): the calibrated estimate tracks the truth.
    assert acc["estimated"] == pytest.approx(acc["production"], abs=0.02)
    assert acc["estimated"] != acc["production"]


# ---------------------------------------------------------------------------------------------
# Two model versions of one file (the app's "Two model versions, same days")

MONITORING = DEMO / "monitoring_production.parquet"
VERSIONS = ["--baseline-version", "v1", "--production-version", "v2"]


def _accuracy(frame: pd.DataFrame) -> float:
    return float((frame["prediction_label"] == frame["actual_label"]).mean())


@pytest.mark.parametrize("window", [None, "2026-11-01,2026-11-07"])
def test_report_compares_two_model_versions_on_the_same_days(capsys, window):
    argv = ["report", "--production", str(MONITORING), "--sections", "overall"]
    argv += ["--baseline-version", "v1", "--production-version", "v2"]
    if window:
        argv += ["--production-window", window]
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    report = json.loads(out)
    # Oracle: boolean masks on the raw file.
    raw = pd.read_parquet(MONITORING)
    days = pd.Series(True, index=raw.index)
    if window:
        first, end = pd.Timestamp("2026-11-01", tz="UTC"), pd.Timestamp("2026-11-08", tz="UTC")
        days = raw["timestamp"].between(first, end, inclusive="left")
    base = raw[days & (raw["model_version"] == "v1")]
    prod = raw[days & (raw["model_version"] == "v2")]
    assert report["rows"] == {"baseline": len(base), "production": len(prod)}
    acc = next(r for r in report["overall"] if r["metric"] == "accuracy")
    assert acc["baseline"] == pytest.approx(_accuracy(base))
    assert acc["production"] == pytest.approx(_accuracy(prod))
    suffix = f" [{window}]" if window else ""
    assert report["datasets"] == {
        "baseline": f"monitoring_production.parquet [model_version=v1]{suffix}",
        "production": f"monitoring_production.parquet [model_version=v2]{suffix}",
    }
    assert "model_version" not in report["columns"]["features"]  # constant in each part
    # as in the app: one model's calibration says nothing about the other's scores
    assert report["options"]["estimate"] is False
    assert all(r["estimated"] is None for r in report["overall"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baseline-version", "v1"], "--baseline-version and --production-version go together"),
        (
            ["--baseline-version", "v1", "--production-version", "v9"],
            "model version 'v9' is not in 'model_version'; choose from: v1, v2",
        ),
        (
            ["--baseline-version", "v1", "--production-version", "v1"],
            "baseline and production are the same version 'v1'",
        ),
        (
            ["--baseline-version", "v1", "--production-version", "v2", "--baseline-window", "a,"],
            "--baseline-window 'a,': 'a' is not a date",
        ),
        (
            [
                "--baseline-version",
                "v1",
                "--production-version",
                "v2",
                "--baseline-window",
                "2026-10-01,",
            ],
            "does not apply to two model versions",
        ),
        (
            [
                "--baseline-version",
                "v1",
                "--production-version",
                "v2",
                "--baseline",
                str(MONITORING),
            ],
            "drop the baseline file (--baseline), or the versions",
        ),
        ([], "or compare two model versions with --baseline-version V --production-version V"),
    ],
)
def test_bad_model_versions_exit_2_with_one_line(capsys, extra, message):
    msg = _bad(capsys, "report", "--production", str(MONITORING), *extra)
    assert message in msg


def test_store_commands_run_from_the_cli(capsys, tmp_path, monkeypatch):
    from tracing import sources

    monkeypatch.setenv("TRACING_STORE_DIR", str(tmp_path))
    ref = sources.store_upload(b"a,b\n1,2\n", "tiny.csv")
    code, out, err = _run(capsys, "store", "list")
    assert code == 0, err
    assert ref in out and out.endswith("\n")
    code, out, err = _run(capsys, "store", "delete", ref)
    assert code == 0, err
    code, out, _ = _run(capsys, "store", "list")
    assert ref not in out
    code, _, err = _run(capsys, "store", "delete", "ds-" + "0" * 32 + ".csv")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


# --- --engine (issue 16) -----------------------------------------------------------------------


def _commands() -> list[str]:
    import argparse

    from tracing.cli import _parser

    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_every_command_has_the_engine_option(capsys):
    commands = _commands()
    assert {"report", "timeline", "chain", "store"} <= set(commands)
    for command in commands:
        code, out, _ = _run(capsys, command, "-h")
        assert code == 0 and "--engine {auto,memory,duckdb,spark}" in out, command


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        (None, [], "auto"),
        ("duckdb", [], "duckdb"),
        ("Spark", [], "spark"),
        ("duckdb", ["--engine", "memory"], "memory"),  # the flag wins
        ("fast", ["--engine", "memory"], "memory"),
    ],
)
def test_engine_is_parsed_from_the_flag_or_the_setting(capsys, monkeypatch, env, argv, expected):
    from tracing import cli
    from tracing.vocab import EngineName

    if env is None:
        monkeypatch.delenv("TRACING_ENGINE", raising=False)
    else:
        monkeypatch.setenv("TRACING_ENGINE", env)
    seen = []
    monkeypatch.setattr(cli, "_store", lambda args: seen.append(args.engine) or "ok")
    code, _, err = _run(capsys, "store", *argv, "list")
    assert code == 0, err
    assert seen == [expected] and isinstance(seen[0], EngineName)


def test_bad_engine_setting_exits_2_with_one_line(capsys, monkeypatch):
    monkeypatch.setenv("TRACING_ENGINE", "fast")
    for argv in (["store", "list"], ["report", "--production", str(DEMO / "x.csv")]):
        code, out, err = _run(capsys, *argv)
        assert code == 2 and out == ""
        assert err == (
            "error: TRACING_ENGINE='fast' is not valid: use one of auto, memory, duckdb, spark; "
            "fix or unset it.\n"
        )
    code, out, _ = _run(capsys, "report", "-h")  # help still works
    assert code == 0 and "--engine" in out


def test_bad_engine_flag_is_a_usage_error(capsys):
    code, _, err = _run(capsys, "report", "--production", "x.csv", "--engine", "fast")
    assert code == 2 and "invalid choice: 'fast'" in err and err.count("\n") == 1
