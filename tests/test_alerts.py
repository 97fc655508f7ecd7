"""Alerts that page: complete periods, new alerts sent once, delivery, exit codes, deep links.

A planted fault (region ``north`` mispredicted on the last production day) must page once,
name ``north`` as the top suspect and link to the app tracing that day; a healthy series must
not page. Messages go to a webhook receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from tracing import alerts
from tracing.cli import main
from tracing.errors import DataError
from tracing.timeline import metric_timeline, monitoring_schema
from tracing.vocab import NotifyFormat

DAY = pd.Timedelta(days=1)


def _days(start: str, days: int, *, seed: int, bad_last: bool, per_day: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for d in range(days):
        n = per_day
        region = rng.choice(["north", "south", "east"], size=n, p=[0.3, 0.4, 0.3])
        actual = rng.integers(0, 2, n)
        right = rng.random(n) < 0.9
        if bad_last and d == days - 1:
            right = np.where(region == "north", rng.random(n) < 0.2, right)
        stamps = (
            pd.Timestamp(start, tz="UTC")
            + d * DAY
            + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s")
        )
        frames.append(
            pd.DataFrame(
                {
                    "prediction_id": [f"{start}-{d}-{i}" for i in range(n)],
                    "timestamp": stamps,
                    "region": region,
                    "prediction_label": np.where(right, actual, 1 - actual),
                    "actual_label": actual,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("alerts")
    out = {
        "baseline": folder / "baseline.parquet",
        "bad": folder / "bad.parquet",
        "healthy": folder / "healthy.parquet",
    }
    _days("2026-09-01", 30, seed=1, bad_last=False).to_parquet(out["baseline"])
    _days("2026-11-01", 10, seed=2, bad_last=True).to_parquet(out["bad"])
    _days("2026-11-01", 10, seed=3, bad_last=False).to_parquet(out["healthy"])
    return out


class _Receiver:
    """A webhook receiver on 127.0.0.1 that records bodies and answers with planned codes."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.codes: list[int] = []  # answers to the next requests (then 200)
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                time.sleep(receiver.delay)
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.server.shutdown()


def _timeline(path: Path, baseline: Path):
    production, base = pd.read_parquet(path), pd.read_parquet(baseline)
    schema = monitoring_schema(production, base)
    return metric_timeline(production, base, schema=schema, metric="accuracy", freq="day")


def _run(files, name: str, tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "timeline",
            "--production", str(files[name]),
            "--baseline", str(files["baseline"]),
            "--metric", "accuracy",
            "--freq", "day",
            "--state", str(tmp_path / "state.json"),
            "--output", str(tmp_path / "out.json"),
            *extra,
        ]
    )  # fmt: skip


# -- which periods count ------------------------------------------------------------------------


def test_the_period_still_filling_is_not_complete(files) -> None:
    tl = _timeline(files["bad"], files["baseline"])
    last_start = tl.table["start"].iloc[-1]
    # The clock inside the last day: it is still filling (no later rows either).
    assert not alerts.complete(tl, now=last_start + pd.Timedelta(hours=5)).iloc[-1]
    assert alerts.latest_complete(tl, now=last_start + pd.Timedelta(hours=5)) == len(tl.table) - 2
    # Earlier periods are complete because later rows exist, whatever the clock says.
    assert alerts.complete(tl, now=pd.Timestamp("2000-01-01")).iloc[:-1].all()
    assert alerts.latest_complete(tl, now=last_start + DAY) == len(tl.table) - 1


def test_new_alerts_are_sent_once_and_a_first_run_skips_history(files, tmp_path) -> None:
    tl = _timeline(files["bad"], files["baseline"])
    assert bool(tl.table["alert"].iloc[-1]) and tl.table["alert"].sum() == 1
    state = alerts.AlertState.load(tmp_path / "s.json")
    assert alerts.new_alerts(tl, state) == [len(tl.table) - 1]
    state.record(tl, [len(tl.table) - 1], now=None)
    assert alerts.new_alerts(tl, alerts.AlertState.load(tmp_path / "s.json")) == []


def test_a_missed_run_sends_the_alerts_after_the_last_period_seen(files, tmp_path) -> None:
    tl = _timeline(files["bad"], files["baseline"])
    state = alerts.AlertState(tmp_path / "s.json", last_end=tl.table["end"].iloc[-4].isoformat())
    assert alerts.new_alerts(tl, state) == [len(tl.table) - 1]


def test_a_state_file_from_elsewhere_is_refused_by_name(tmp_path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"version": 99}')
    with pytest.raises(DataError, match="s.json"):
        alerts.AlertState.load(bad)


# -- the CLI: exit codes and messages -------------------------------------------------------------


def test_fail_on_alert_exits_3_on_an_alert_and_0_when_healthy(files, tmp_path) -> None:
    assert _run(files, "bad", tmp_path, "--fail-on-alert") == 3
    assert _run(files, "healthy", tmp_path, "--fail-on-alert") == 0
    assert _run(files, "bad", tmp_path) == 0  # without the flag an alert is only printed


def test_one_message_per_new_alert_with_the_suspect_and_a_deep_link(
    files, tmp_path, receiver
) -> None:
    args = ("--notify", receiver.url, "--app-url", "https://tracing.example.com/")
    assert _run(files, "bad", tmp_path, *args) == 0
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert "north" in body["alert"]["top_suspect"]
    assert "accuracy" in body["text"].lower() and "2026-11-10" in body["text"]
    link = urlsplit(body["alert"]["link"])
    assert (link.scheme, link.netloc, link.path) == ("https", "tracing.example.com", "/")
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["production"] == str(files["bad"].resolve())
    assert query["production_window"].startswith("2026-11-10T00:00:00")
    assert query["metric"] == "accuracy"
    # The same alert is never sent twice.
    assert _run(files, "bad", tmp_path, *args) == 0
    assert len(receiver.bodies) == 1


def test_a_healthy_series_sends_nothing(files, tmp_path, receiver) -> None:
    args = ("--notify", receiver.url, "--app-url", "http://127.0.0.1:8501")
    assert _run(files, "healthy", tmp_path, *args) == 0
    assert receiver.bodies == []


def test_undelivered_exits_4_and_keeps_the_state(files, tmp_path, receiver, capsys) -> None:
    receiver.codes = [404]  # permanent: not retried
    args = ("--notify", receiver.url, "--app-url", "http://127.0.0.1:8501")
    assert _run(files, "bad", tmp_path, *args) == 4
    assert not (tmp_path / "state.json").exists()
    assert "next run sends it again" in capsys.readouterr().err
    assert _run(files, "bad", tmp_path, *args) == 0  # the next run delivers it
    assert len(receiver.bodies) == 2


def test_notify_without_an_app_address_exits_2(files, tmp_path, capsys) -> None:
    assert _run(files, "bad", tmp_path, "--notify", "http://127.0.0.1:9/") == 2
    assert "--app-url" in capsys.readouterr().err


def test_pagerduty_needs_its_routing_key(files, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("TRACING_PAGERDUTY_KEY", raising=False)
    args = ("--notify", "http://127.0.0.1:9/", "--app-url", "http://x", "--notify-format")
    assert _run(files, "bad", tmp_path, *args, "pagerduty") == 2
    assert "TRACING_PAGERDUTY_KEY" in capsys.readouterr().err


def test_pagerduty_body_is_an_events_v2_trigger(files, tmp_path, receiver, monkeypatch) -> None:
    monkeypatch.setenv("TRACING_PAGERDUTY_KEY", "R0UTING")
    args = ("--notify", receiver.url, "--app-url", "http://x", "--notify-format", "pagerduty")
    assert _run(files, "bad", tmp_path, *args) == 0
    (body,) = receiver.bodies
    assert (body["routing_key"], body["event_action"]) == ("R0UTING", "trigger")
    assert body["dedup_key"].startswith("accuracy|2026-11-10")
    assert body["payload"]["severity"] == "error" and body["payload"]["summary"]
    assert body["links"][0]["href"].startswith("http://x/?")


# -- delivery -------------------------------------------------------------------------------------


def _alert() -> alerts.Alert:
    start = pd.Timestamp("2026-11-10", tz="UTC")
    return alerts.Alert(
        "fraud.parquet", "recall", "Recall", start, start + DAY, 0.41, 0.7, 0.9, "actual", 500,
        "Top suspect: state = CA.", "http://x/overview",
    )  # fmt: skip


def test_transient_failures_are_retried_with_backoff(receiver) -> None:
    receiver.codes = [503, 429]
    waits: list[float] = []
    alerts.deliver(receiver.url, {"a": 1}, retries=3, sleep=waits.append)
    assert len(receiver.bodies) == 3 and waits == [0.5, 1.0]


def test_retries_run_out(receiver) -> None:
    receiver.codes = [500] * 5
    with pytest.raises(alerts.DeliveryError, match="HTTP 500"):
        alerts.deliver(receiver.url, {"a": 1}, retries=2, sleep=lambda s: None)
    assert len(receiver.bodies) == 3


def test_a_slow_receiver_times_out_instead_of_hanging(receiver) -> None:
    receiver.delay = 2.0
    with pytest.raises(alerts.DeliveryError):
        alerts.deliver(receiver.url, {"a": 1}, retries=0, timeout=0.2)


@pytest.mark.parametrize("fmt", list(NotifyFormat))
def test_every_format_carries_the_link_and_the_period(fmt: NotifyFormat) -> None:
    text = json.dumps(alerts.body(_alert(), fmt, routing_key="k"))
    assert "http://x/overview" in text and "2026-11-10" in text


def test_slack_text_reads_as_a_sentence() -> None:
    body = alerts.body(_alert(), NotifyFormat.SLACK)
    assert body["text"].startswith(
        "fraud.parquet: Recall declined to 41.0% on 2026-11-10, outside its expected 70.0%–90.0%"
    )
    assert "<http://x/overview|Open the trace>" in body["text"]


def test_default_state_path_is_per_source_and_metric(tmp_path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    a = alerts.default_state_path("a.parquet", "recall", env)
    assert a.parent == tmp_path / "tracing" / "alerts"
    assert a != alerts.default_state_path("a.parquet", "accuracy", env)
    assert a != alerts.default_state_path("b.parquet", "recall", env)
