"""Realistic odd inputs through the whole report: exit 0 with a report, or 2 with one line.

Never a traceback (exit 1). Each case is a kind of file users really export: text labels,
booleans, missing labels, nullable ints, categoricals, dates, empty columns, one-row files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracing.cli import main


def _base(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    actual = r.choice(["yes", "no"], n, p=[0.3, 0.7])
    return pd.DataFrame(
        {
            "state": r.choice(["CA", "NY", "TX"], n),
            "amount": r.gamma(2, 50, n).round(2),
            "age": r.integers(18, 80, n),
            "actual": actual,
            "prediction": np.where(r.random(n) < 0.8, actual, r.choice(["yes", "no"], n)),
            "score": r.random(n).round(4),
        }
    )


def _yes_no(d: pd.DataFrame, side: str) -> pd.DataFrame:
    return d


def _booleans(d: pd.DataFrame, side: str) -> pd.DataFrame:
    return d.assign(actual=d.actual == "yes", prediction=d.prediction == "yes")


def _missing_labels(d: pd.DataFrame, side: str) -> pd.DataFrame:
    d = _booleans(d, side)
    d["actual"] = d["actual"].astype("boolean")
    d.loc[d.index[:40], "actual"] = pd.NA
    return d


def _odd_types(d: pd.DataFrame, side: str) -> pd.DataFrame:
    r = np.random.default_rng(7)
    n = len(d)
    d = d.assign(
        actual=(d.actual == "yes").astype(int), prediction=(d.prediction == "yes").astype(int)
    )
    d["count"] = pd.array(np.where(r.random(n) < 0.1, None, r.integers(0, 5, n)), dtype="Int64")
    d["cat"] = pd.Categorical(r.choice(["a", "b", "c"], n))
    d["signup"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(r.integers(0, 300, n), unit="D")
    d["empty"] = np.nan
    d["flagna"] = pd.array(np.where(r.random(n) < 0.1, None, r.random(n) < 0.5), dtype="boolean")
    return d


def _empty_in_production(d: pd.DataFrame, side: str) -> pd.DataFrame:
    return d.assign(amount=np.nan) if side == "p" else d


def _one_row_production(d: pd.DataFrame, side: str) -> pd.DataFrame:
    return d.head(1) if side == "p" else d


def _text_vs_number_labels(d: pd.DataFrame, side: str) -> pd.DataFrame:
    d = d.assign(
        actual=(d.actual == "yes").astype(int), prediction=(d.prediction == "yes").astype(int)
    )
    return d.astype({"actual": str, "prediction": str}) if side == "p" else d


def _multiclass_new_class(d: pd.DataFrame, side: str) -> pd.DataFrame:
    r = np.random.default_rng(3)
    y = r.integers(0, 4, len(d))
    d = d.drop(columns="score").assign(actual=y, prediction=np.where(r.random(len(d)) < 0.7, y, 0))
    if side == "p":
        d.loc[d.index[:30], "actual"] = 7
        d.loc[d.index[:20], "prediction"] = 7
    return d


def _regression_negative(d: pd.DataFrame, side: str) -> pd.DataFrame:
    r = np.random.default_rng(5)
    y = r.normal(-100, 20, len(d))
    return d.drop(columns="score").assign(actual=y, prediction=y + r.normal(0, 5, len(d)))


def _no_usable_features(d: pd.DataFrame, side: str) -> pd.DataFrame:
    return d[["actual", "prediction"]].assign(state="a")


CASES: dict[str, Callable[[pd.DataFrame, str], pd.DataFrame]] = {
    "yes_no": _yes_no,
    "booleans": _booleans,
    "missing_labels": _missing_labels,
    "odd_types": _odd_types,
    "empty_in_production": _empty_in_production,
    "one_row_production": _one_row_production,
    "text_vs_number_labels": _text_vs_number_labels,
    "multiclass_new_class": _multiclass_new_class,
    "regression_negative": _regression_negative,
    "no_usable_features": _no_usable_features,
}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("case", list(CASES))
def test_full_report_on_odd_but_valid_input(case, fmt, tmp_path: Path, capsys):
    paths = []
    for side, seed in (("b", 1), ("p", 2)):
        frame = CASES[case](_base(300, seed), side)
        path = tmp_path / f"{case}_{side}.{fmt}"
        frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
        paths.append(path)
    code = main(
        [
            "report",
            "--baseline",
            str(paths[0]),
            "--production",
            str(paths[1]),
            "--explain-sample-size",
            "300",
            "--shap-sample-size",
            "100",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert {"overall", "slices", "drift", "quality", "root_cause"} <= set(report)
    if case == "text_vs_number_labels":
        assert report["model_type"] == "binary" and len(report["classes"]) == 2
    if case == "missing_labels":
        assert any("40 without an actual" in n for n in report["notes"])
    if case == "no_usable_features":
        assert any("section importance left out" in n for n in report["notes"])
    if case == "one_row_production":
        acc = next(r for r in report["overall"] if r["metric"] == "accuracy")
        assert acc["ci_low"] is None and acc["significant"] is False


def test_duplicate_header_is_refused_with_the_column_name(tmp_path: Path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("state,state,actual,prediction\nCA,NY,1,1\nTX,CA,0,1\n")
    code = main(["report", "--baseline", str(path), "--production", str(path)])
    _, err = capsys.readouterr()
    assert code == 2 and "'state' appears twice" in err and len(err.strip().splitlines()) == 1


def test_csv_dates_are_timestamps_and_binned_as_ranges(tmp_path: Path):
    from tracing.binning import fit_bins
    from tracing.io import read_table

    path = tmp_path / "d.csv"
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    pd.DataFrame({"signup": days.strftime("%Y-%m-%d"), "x": range(200)}).to_csv(path, index=False)
    df = read_table(path)
    assert pd.api.types.is_datetime64_any_dtype(df["signup"].dtype)
    bins = fit_bins(df["signup"], df["signup"])
    assert bins.kind == "numeric" and bins.labels[0].startswith("< 2024-01-2")
