"""Alerts that page: which periods alert, the message, its delivery and what was already sent.

A scheduled ``python -m tracing timeline ... --fail-on-alert --notify URL`` is the white paper's
"automated setup based on a baseline dataset so that you can be alerted proactively". This
module owns the decisions; `tracing.cli` wires them to options and exit codes.

Rules
-----
Latest complete period
    A period ``[start, end)`` is complete when the clock has passed its end (``end <= now``) or
    a later period already has rows: the data then covers it to its end. A period still filling
    is listed by the timeline but never judged here, so a job that runs every hour does not page
    on a half-full day. `latest_complete` is the last complete period.
New alerts
    Complete, alerting periods after the last period a previous run saw (`AlertState`), each
    sent once (keyed by metric and period start). Without a state (a first run) only the latest
    complete period counts: a new job does not page for months of history.
Delivery
    One POST of a JSON body per new alert, to the operator's URL (a destination the operator
    configures, so the visitor-facing SSRF guard of `tracing.fetch` does not apply). Each
    attempt has a timeout; transient failures (network errors, HTTP 429 and 5xx) are retried
    with exponential backoff; anything else fails at once. When any message still fails,
    `DeliveryError` is raised and the state file is left unchanged, so the next run tries
    again.
Formats (`NotifyFormat`)
    ``slack``: ``text`` (what Slack shows, with the link) plus the structured ``alert`` fields
    that other receivers read; ``json``: the structured fields only; ``pagerduty``: an Events
    API v2 ``trigger`` with a ``dedup_key``, the routing key from ``TRACING_PAGERDUTY_KEY``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from tracing.analysis import Analysis
from tracing.errors import DataError
from tracing.textfmt import condition_text, jsonable, number, percent
from tracing.timeline import Timeline
from tracing.vocab import NotifyFormat

__all__ = [
    "Alert",
    "AlertState",
    "DeliveryError",
    "app_link",
    "body",
    "complete",
    "default_state_path",
    "deliver",
    "latest_complete",
    "make_alert",
    "new_alerts",
    "suspect_text",
]

STATE_VERSION = 1
_KEEP_SENT = 1_000  # alert keys remembered: years of daily periods
_RETRIES = 3
_TIMEOUT_S = 10.0
_BACKOFF_S = 0.5


class DeliveryError(RuntimeError):
    """A message that still failed after its retries (the CLI exits 4)."""


# ---------------------------------------------------------------------------------------------
# Which periods count


def _now(timeline: Timeline, now: pd.Timestamp | None) -> pd.Timestamp:
    tz = getattr(timeline.table["end"].dtype, "tz", None)
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(tz) if tz is not None else stamp.tz_convert("UTC").tz_localize(None)


def complete(timeline: Timeline, *, now: pd.Timestamp | None = None) -> pd.Series:
    """Whether each period is complete (the module docstring's rule), aligned with its table.

    Parameters
    ----------
    timeline : Timeline
        The metric over time.
    now : Timestamp, optional
        The clock (default: now, UTC); naive values are UTC.
    """
    t = timeline.table
    rows = t["rows"].to_numpy()
    # A later period with rows: reversed running maximum, shifted by one.
    later = pd.Series(rows[::-1]).cummax().shift(1, fill_value=0).to_numpy()[::-1] > 0
    return pd.Series((t["end"] <= _now(timeline, now)).to_numpy() | later, index=t.index)


def latest_complete(timeline: Timeline, *, now: pd.Timestamp | None = None) -> int | None:
    """Position of the latest complete period in ``timeline.table`` (None: none yet)."""
    done = complete(timeline, now=now).to_numpy()
    positions = [i for i, flag in enumerate(done) if flag]
    return positions[-1] if positions else None


def _key(timeline: Timeline, position: int) -> str:
    start = pd.Timestamp(timeline.table["start"].iloc[position]).isoformat()
    return f"{timeline.metric.id}|{start}"


def new_alerts(
    timeline: Timeline, state: AlertState, *, now: pd.Timestamp | None = None
) -> list[int]:
    """Positions of the complete, alerting periods not yet sent (see the module docstring)."""
    last = latest_complete(timeline, now=now)
    if last is None:
        return []
    t = timeline.table
    alert = t["alert"].to_numpy(dtype=bool)
    if state.last_end is None:
        candidates = [last]
    else:
        seen = pd.Timestamp(state.last_end)
        ends = t["end"]
        if getattr(ends.dtype, "tz", None) is None and seen.tzinfo is not None:
            seen = seen.tz_convert("UTC").tz_localize(None)
        candidates = [i for i in range(last + 1) if t["end"].iloc[i] > seen]
    return [i for i in candidates if alert[i] and _key(timeline, i) not in state.sent]


# ---------------------------------------------------------------------------------------------
# What was sent


@dataclass
class AlertState:
    """What earlier runs saw and sent, kept in a small JSON file.

    Attributes
    ----------
    path : Path
        The file (written atomically).
    last_end : str or None
        End (ISO 8601) of the latest complete period an earlier run judged.
    sent : list of str
        Keys of the alerts already delivered (metric and period start), newest last.
    """

    path: Path
    last_end: str | None = None
    sent: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> AlertState:
        """Read the state file (a missing file is an empty state)."""
        p = Path(path)
        if not p.exists():
            return cls(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            return cls(p, data.get("last_end"), [str(k) for k in data.get("sent", [])])
        except (ValueError, AttributeError) as exc:
            raise DataError(
                f"alert state {p}: not a state file this version wrote ({exc}); delete it to "
                "start over (the latest alert may then be sent again)."
            ) from exc

    def record(self, timeline: Timeline, sent: list[int], *, now: pd.Timestamp | None) -> None:
        """Remember the delivered alerts and the latest complete period, and save."""
        last = latest_complete(timeline, now=now)
        if last is not None:
            self.last_end = pd.Timestamp(timeline.table["end"].iloc[last]).isoformat()
        self.sent = [*self.sent, *(_key(timeline, i) for i in sent)][-_KEEP_SENT:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        payload = {"version": STATE_VERSION, "last_end": self.last_end, "sent": self.sent}
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)  # readers never see half a file


def default_state_path(
    production: str, metric: str, environ: Mapping[str, str] | None = None
) -> Path:
    """Return the state file of one production source and metric, in the user's cache folder."""
    env = os.environ if environ is None else environ
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(f"{Path(production).resolve()}|{metric}".encode()).hexdigest()[:16]
    return cache / "tracing" / "alerts" / f"{digest}.json"


# ---------------------------------------------------------------------------------------------
# The message


@dataclass(frozen=True)
class Alert:
    """One alerting period, ready to be sent.

    Attributes
    ----------
    model : str
        What is monitored (the production source's name).
    metric_id, metric_name : str
        The metric.
    start, end : Timestamp
        The period ``[start, end)``.
    value : float
        The period's value (measured, or estimated when ``basis`` is ``"estimated"``).
    low, high : float
        The expected band.
    basis : str
        What the period was judged on (`tracing.vocab.Basis`).
    rows : int
        Production rows in the period.
    suspect : str
        The top suspect slice in one sentence (or why there is none).
    link : str
        Deep link to the app, tracing this period.
    """

    model: str
    metric_id: str
    metric_name: str
    start: pd.Timestamp
    end: pd.Timestamp
    value: float
    low: float
    high: float
    basis: str
    rows: int
    suspect: str
    link: str

    @property
    def key(self) -> str:
        """The alert's identity (metric and period start): sent once."""
        return f"{self.metric_id}|{self.start.isoformat()}"

    def summary(self) -> str:
        """One line: what happened, the value against its band, and the period."""
        how = "estimated " if self.basis == "estimated" else ""
        return (
            f"{self.model}: {self.metric_name} declined to {how}{_value(self.value)} on "
            f"{_period(self.start, self.end)}, outside its expected "
            f"{_value(self.low)}–{_value(self.high)}"
        )


def _value(x: float) -> str:
    return percent(x) if math.isfinite(x) and 0 <= x <= 1 else number(x)


def _period(start: pd.Timestamp, end: pd.Timestamp) -> str:
    if end - start == pd.Timedelta(days=1) and start == start.normalize():
        return start.strftime("%Y-%m-%d")
    return f"{start.isoformat()} to {end.isoformat()}"


def make_alert(timeline: Timeline, position: int, *, model: str, suspect: str, link: str) -> Alert:
    """Build the `Alert` of one period of ``timeline``."""
    row = timeline.table.iloc[position]
    estimated = row["basis"] == "estimated"
    value = row["estimated"] if estimated else row["metric"]
    return Alert(
        model=model,
        metric_id=timeline.metric.id,
        metric_name=timeline.metric.name,
        start=pd.Timestamp(row["start"]),
        end=pd.Timestamp(row["end"]),
        value=float(value),
        low=float(row["expected_low"]),
        high=float(row["expected_high"]),
        basis=str(row["basis"]),
        rows=int(row["rows"]),
        suspect=suspect,
        link=link,
    )


def fields(alert: Alert) -> dict[str, Any]:
    """Return the structured fields of an alert (JSON-ready)."""
    return {
        "key": alert.key,
        "model": alert.model,
        "metric": alert.metric_id,
        "metric_name": alert.metric_name,
        "period_start": alert.start.isoformat(),
        "period_end": alert.end.isoformat(),
        "value": jsonable(alert.value),
        "expected_low": jsonable(alert.low),
        "expected_high": jsonable(alert.high),
        "basis": alert.basis,
        "rows": alert.rows,
        "top_suspect": alert.suspect,
        "link": alert.link,
    }


def body(alert: Alert, fmt: NotifyFormat, *, routing_key: str | None = None) -> dict[str, Any]:
    """Return the JSON body of one alert in ``fmt`` (see the module docstring).

    Raises
    ------
    DataError
        ``pagerduty`` without a routing key.
    """
    if fmt is NotifyFormat.PAGERDUTY:
        if not routing_key:
            raise DataError(
                "--notify-format pagerduty needs the integration's routing key in "
                "TRACING_PAGERDUTY_KEY."
            )
        return {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": alert.key,
            "payload": {
                "summary": alert.summary()[:1024],  # PagerDuty's limit
                "source": alert.model,
                "severity": "error",
                "timestamp": alert.end.isoformat(),
                "custom_details": fields(alert),
            },
            "links": [{"href": alert.link, "text": "Open the trace"}],
        }
    structured = fields(alert)
    if fmt is NotifyFormat.JSON:
        return structured
    text = f"{alert.summary()}. {alert.suspect} <{alert.link}|Open the trace>"
    return {"text": text, "alert": structured}


def suspect_text(analysis: Analysis, *, metric: str) -> str:
    """Describe the top suspect slice of a traced period in one sentence (or why there is none).

    ``analysis`` compares the alerting period with the baseline; the slice is the first
    distinct finding of `tracing.slices.find_slices` (the Slices page's first row).
    """
    from tracing.slices import find_slices  # the search runs only when an alert is sent

    try:
        result = find_slices(analysis, metric=metric, top=5)
    except DataError as exc:
        return f"No suspect slice: {exc}"
    listed = result.distinct()
    if listed.empty:
        return "No slice stands out: the period is worse across the board."
    top = listed.iloc[0]
    where = " and ".join(condition_text(f, v) for f, v in top["conditions"])
    name = analysis.metric.name
    overall = result.overall_metric
    return (
        f"Top suspect: {where} ({percent(top['share'])} of the period's rows): {name} "
        f"{_value(float(top['metric']))} there vs {_value(overall)} on all its rows."
    )


# ---------------------------------------------------------------------------------------------
# Deep links


def app_link(base_url: str, params: Mapping[str, str | None], *, page: str = "") -> str:
    """Return a URL of the app: ``base_url/page?params`` (parameters that are None are left out).

    The default page is the Overview, which the app serves at its root (``page=""``).

    The parameter names are the app's (``production``, ``baseline``, ``actuals``,
    ``production_window``, the role names ``id``, ``timestamp``, ``prediction``, ``score``,
    ``actual``, ``features``, then ``model_type``, ``positive_class``, ``metric``).
    """
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base_url.rstrip('/')}/{page}" + (f"?{query}" if query else "")


# ---------------------------------------------------------------------------------------------
# Delivery


def _transient(exc: Exception) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError, OSError))


def deliver(
    url: str,
    payload: Mapping[str, Any],
    *,
    retries: int = _RETRIES,
    timeout: float = _TIMEOUT_S,
    backoff: float = _BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST ``payload`` as JSON; retry transient failures with exponential backoff.

    Raises
    ------
    DeliveryError
        When the last attempt failed, or at once on a permanent failure (HTTP 4xx but 429).
    """
    data = json.dumps(payload).encode()
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
            return
        except Exception as exc:  # noqa: BLE001  # classified just below
            if not _transient(exc) or attempt == retries:
                raise DeliveryError(f"{url}: {_reason(exc)}") from exc
            sleep(backoff * 2**attempt)


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}"
