"""The timeline on a SQL engine equals the in-memory timeline on the same rows.

Each fixture is written to Parquet and read by DuckDB and Spark (`prepare_engine_analysis`); the
oracle is `timeline_for` on the engine's sample, which on these small fixtures holds every row
(same frames, same schema, same calibration). Periods, rows, metric, estimate, bands, alerts
and the judgement must agree: counts exactly, numbers to 1e-9. With a sample smaller than the
data, rows and metrics still equal the in-memory timeline of *all* rows: they come from every
row, not from the sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tracing import rowexpr
from tracing.analysis import prepare_analysis
from tracing.compare import compare
from tracing.engine_analysis import engine_compare, prepare_engine_analysis
from tracing.engine_timeline import engine_timeline
from tracing.estimate import calibration_expression, fit_estimator
from tracing.report import build_report
from tracing.sqlbackend import TableSource
from tracing.timeline import timeline_for

RTOL = 1e-9
BAD_DAY = pd.Timestamp("2026-03-12", tz="UTC")


def _binary(seed: int, start: str, periods: int, step: str, *, bad: bool) -> pd.DataFrame:
    """Scored binary predictions; with ``bad``, the model is wrong on `BAD_DAY`."""
    rng = np.random.default_rng(seed)
    times = pd.Series(pd.date_range(start, periods=periods, freq=step, tz="UTC"))
    score = rng.random(periods)
    actual = rng.random(periods) < score
    if bad:
        hit = ((times >= BAD_DAY) & (times < BAD_DAY + pd.Timedelta(days=1))).to_numpy()
        actual[hit] = ~actual[hit]
    frame = pd.DataFrame(
        {
            "timestamp": times,
            "region": rng.choice(["north", "south", "east"], periods),
            "prediction_score": score,
            "prediction_label": np.where(score >= 0.5, "yes", "no"),
            "actual_label": np.where(actual, "yes", "no"),
        }
    )
    frame.loc[rng.random(periods) < 0.05, "actual_label"] = None  # late actuals
    frame.loc[rng.random(periods) < 0.01, "timestamp"] = pd.NaT  # rows without a time
    return frame


def _regression(seed: int, start: str, periods: int, step: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=periods)
    return pd.DataFrame(
        {
            # naive times: the engines' TIMESTAMP / TIMESTAMP_NTZ path
            "timestamp": pd.date_range(start, periods=periods, freq=step),
            "segment": rng.choice(["a", "b"], periods),
            "prediction": 2 * x + rng.normal(0, 0.5, periods),
            "actual": 2 * x + rng.normal(0, 0.5, periods),
        }
    )


ROLES = {"actual_label": "actual_label", "timestamp": "timestamp"}
CASES = {
    # 24 days of 12-minute rows, production's BAD_DAY planted: daily periods
    "daily": (
        _binary(1, "2026-02-01", 2880, "12min", bad=False),
        _binary(2, "2026-03-01", 2880, "12min", bad=True),
        ROLES,
    ),
    # under 3 days of 1-minute rows: hourly periods
    "hourly": (
        _binary(3, "2026-03-09", 3000, "1min", bad=False),
        _binary(4, "2026-03-11", 3000, "1min", bad=True),
        ROLES,
    ),
    "regression": (
        _regression(5, "2026-01-01", 2000, "17min"),
        _regression(6, "2026-02-01", 2000, "17min"),
        {"prediction_label": "prediction", "actual_label": "actual", "timestamp": "timestamp"},
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    out = {}
    for case, (base, prod, _) in CASES.items():
        paths = []
        for name, frame in (("baseline", base), ("production", prod)):
            path = folder / f"{case}-{name}.parquet"
            frame.to_parquet(path, index=False)
            paths.append(path)
        out[case] = paths
    return out


# The last analysis prepared on each backend (its views show one pair at a time): tests of one
# case in a row share it instead of preparing it again. The entry holds its backend, so a later
# backend never takes a closed one's id and with it that one's analysis.
_PREPARED: dict = {}


def _engine(files, backend, case, **kw):
    key = (backend, case, tuple(sorted(kw.items())))
    last = _PREPARED.get(id(backend))
    if last is None or last[0] != key:
        paths = files[case]
        sources = [TableSource(p.name, paths=(str(p),)) for p in paths]
        analysis = prepare_engine_analysis(
            sources[0], sources[1], backend=backend, roles=CASES[case][2], **kw
        )
        _PREPARED[id(backend)] = last = (key, analysis)
    return last[1]


def _tables_agree(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    for column in want.columns:
        g, w = got[column], want[column]
        if pd.api.types.is_float_dtype(w.dtype):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-12, err_msg=column)
        else:
            assert g.tolist() == w.tolist(), column


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("daily", {}),  # baseline band
        ("daily", {"window": 5}),  # rolling band
        ("hourly", {}),
        ("hourly", {"metric": "log_loss", "window": 6}),
        ("regression", {"freq": "day", "window": 5}),
    ],
)
def test_timeline_equals_memory_on_the_same_rows(files, engine_backend, case, options):
    analysis = _engine(files, engine_backend, case)
    assert analysis.sample_rows == analysis.rows  # the sample is the data: same calibration
    options.setdefault("metric", analysis.metric)
    want = timeline_for(analysis.sample, **options)
    got = engine_timeline(analysis, **options)
    assert (got.freq, got.band, got.window) == (want.freq, want.band, want.window)
    _tables_agree(got.table, want.table)
    if want.baseline_table is not None:
        _tables_agree(got.baseline_table, want.baseline_table)
    assert got.notes[: len(want.notes) - 1] == want.notes[:-1]  # all but the band's note
    assert got.notes[-1] == want.notes[-1]
    assert any("computed on all" in n for n in got.notes)
    if case != "regression":
        assert got.table["estimated"].notna().all()


def test_frequency_follows_the_span(files, duck):
    assert engine_timeline(_engine(files, duck, "daily")).freq == "day"
    assert engine_timeline(_engine(files, duck, "hourly")).freq == "hour"


@pytest.mark.parametrize("case", ["daily", "hourly"])
def test_planted_bad_period_alerts(files, engine_backend, case):
    got = engine_timeline(_engine(files, engine_backend, case))
    alerts = got.alerts
    assert len(alerts) >= 1
    inside = (alerts["start"] >= BAD_DAY) & (alerts["start"] < BAD_DAY + pd.Timedelta(days=1))
    assert inside.all()
    if case == "daily":
        assert alerts["start"].tolist() == [BAD_DAY]
        assert alerts["basis"].tolist() == ["actual"]


def test_every_row_not_the_sample(files, engine_backend):
    """Rows and metrics per period come from every row, even when the sample is smaller."""
    base, prod, roles = CASES["daily"]
    analysis = _engine(files, engine_backend, "daily", sample_size=500)
    assert analysis.sample_rows[1] < len(prod)
    memory = prepare_analysis(base, prod, roles=roles)
    want = timeline_for(memory, metric=analysis.metric, window=5, estimate=False)
    got = engine_timeline(analysis, window=5, estimate=False)
    _tables_agree(got.table, want.table)


def test_overall_estimated_column_equals_memory(files, engine_backend):
    analysis = _engine(files, engine_backend, "daily")
    memory = analysis.sample
    want = compare(memory.baseline, memory.production, production_frame=memory.production_frame)
    got = engine_compare(analysis, estimate=True)
    additive = [m for m in want.table["metric"] if m not in ("roc_auc", "pr_auc")]
    w = want.table.set_index("metric").loc[additive]
    g = got.table.set_index("metric").loc[additive]
    assert w["estimated"].notna().all()
    np.testing.assert_allclose(g["estimated"], w["estimated"], rtol=RTOL, atol=1e-12)
    assert list(g["estimated_status"]) == list(w["estimated_status"])
    assert got.table.set_index("metric")[["estimated"]].loc[["roc_auc"]].isna().all().all()
    assert engine_compare(analysis).table["estimated"].isna().all()  # only when asked


def test_report_runs_the_timeline_on_every_row(files, duck):
    analysis = _engine(files, duck, "daily")
    report = build_report(analysis, sections=["overall", "timeline"])
    assert "timeline" not in report["engine"]["sampled_sections"]
    assert not any("timeline" in n and "sample" in n for n in report["notes"])
    assert report["timeline"]["alerts"] == [BAD_DAY.isoformat()]
    overall = {r["id"]: r for r in report["overall"]}
    want = compare(
        analysis.sample.baseline,
        analysis.sample.production,
        production_frame=analysis.sample.production_frame,
    ).table.set_index("metric")
    assert overall["accuracy"]["estimated"] == pytest.approx(
        want.loc["accuracy", "estimated"], rel=RTOL
    )


def test_rank_metric_runs_on_the_sample_and_says_so(files, duck):
    analysis = _engine(files, duck, "daily")
    got = engine_timeline(analysis, metric="roc_auc", window=5)
    want = timeline_for(analysis.sample, metric="roc_auc", window=5)
    _tables_agree(got.table, want.table)
    assert "not on every row" in got.notes[-1] and "roc_auc" in got.notes[-1]


def test_calibration_expression_is_the_fitted_calibration():
    """The SQL calibration (evaluated by numpy) equals scikit-learn's, knots and ends included."""
    base = CASES["daily"][0]
    memory = prepare_analysis(base, CASES["daily"][1], roles=ROLES)
    estimator = fit_estimator(memory.baseline)
    knots = np.asarray(estimator.calibrator.X_thresholds_)
    assert len(knots) > 10
    score = np.concatenate([np.linspace(-0.5, 1.5, 4001), knots, (knots[1:] + knots[:-1]) / 2])
    got = rowexpr.evaluate(calibration_expression(estimator, rowexpr.col("s")), {"s": score})
    np.testing.assert_allclose(got, estimator.calibrated(score), rtol=1e-12, atol=1e-15)


def test_epoch_seconds_and_text_timestamps(tmp_path):
    """Integer epochs run in the engine; text timestamps run on the sample, said in the notes."""
    from tracing.engine_duckdb import DuckBackend

    base, prod, _ = CASES["daily"]
    engine = DuckBackend(threads=1)
    try:
        for kind in ("epoch", "text"):
            frames = []
            for frame in (base, prod):
                f = frame.dropna(subset=["timestamp"]).copy()
                seconds = f["timestamp"].astype("int64") // 10**9
                f["timestamp"] = seconds if kind == "epoch" else f["timestamp"].astype(str)
                frames.append(f)
            paths = []
            for name, frame in zip(("b", "p"), frames, strict=True):
                paths.append(tmp_path / f"{kind}-{name}.parquet")
                frame.to_parquet(paths[-1], index=False)
            sources = [TableSource(p.name, paths=(str(p),)) for p in paths]
            analysis = prepare_engine_analysis(*sources, backend=engine, roles=ROLES)
            want = timeline_for(analysis.sample, metric=analysis.metric)
            got = engine_timeline(analysis)
            _tables_agree(got.table, want.table)
            on_sample = "not on every row" in got.notes[-1]
            assert on_sample == (kind == "text")
    finally:
        engine.close()


def test_wall_clock_of_a_zone_across_a_dst_change():
    """DuckDB shows zoned times in its session zone: periods follow that wall clock, as pandas.

    The repeated hour of the fall-back change is one period of two hours' rows, in both.
    """
    from tracing.engine_duckdb import DuckBackend

    def frame(seed: int, start: str) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        times = pd.date_range(start, periods=3000, freq="1min", tz="UTC")
        score = rng.random(len(times))
        return pd.DataFrame(
            {
                "timestamp": times,
                "prediction_score": score,
                "prediction_label": (score >= 0.5).astype(int),
                "actual_label": (rng.random(len(times)) < score).astype(int),
            }
        )

    engine = DuckBackend(threads=1)
    try:
        engine._con.execute("SET TimeZone = 'America/New_York'")  # a user's local zone
        sources = [
            TableSource(name, arrow=pa.Table.from_pandas(frame(seed, start)))
            for name, seed, start in (("b", 1, "2026-10-30 00:00"), ("p", 2, "2026-11-01 04:00"))
        ]
        analysis = prepare_engine_analysis(*sources, backend=engine)
        assert str(analysis.sample.production_frame["timestamp"].dt.tz) == "America/New_York"
        want = timeline_for(analysis.sample, window=5)
        got = engine_timeline(analysis, window=5)
        assert got.freq == "hour"
        _tables_agree(got.table, want.table)
        assert got.table["rows"].iloc[1] == 120  # 01:00-02:00 happened twice
    finally:
        engine.close()
