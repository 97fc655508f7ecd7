"""Headless entry point: ``python -m tracing report ...`` and ``python -m tracing timeline ...``.

``report`` compares production with a baseline (`tracing.report`); ``timeline``
(``--production PATH [--baseline PATH] [role flags] [--metric ID] [--freq hour|day|week]
[--window N] [--k K] [--min-rows N] [--format json|csv] [--output PATH]``) prints the metric per
period with its expected band and alerts (`tracing.timeline`).

Options shared by both (`add_input_options`, `load_inputs`) say which rows are compared; they
become a `tracing.rows.RowsSpec` and the files go through `tracing.rows.compared_rows`:

- ``--production-window START,END`` and ``--baseline-window START,END`` (`tracing.windows`):
  with ``--baseline PATH`` they cut each file; without it both windows cut the production file,
  and a missing baseline window means "every row before the production window".
- ``--baseline-version V --production-version V``: two model versions of the production file
  (its ``model_version`` column), on the same days when ``--production-window`` is given.
- ``--actuals PATH``: a delayed-actuals file joined to production by prediction id before
  anything else (`tracing.actuals.join_actuals_file`).

On a SQL engine (``--engine duckdb|spark``, or ``auto`` on large Parquet data) the same options
cut the rows in the engine (`tracing.engine_rows`) and ``timeline`` measures every period there
(`tracing.engine_timeline`); ``--notify`` and ``--model`` still run in memory.

Bad input exits with code 2 and one line on stderr that names the file/column and the fix;
never a traceback. The output goes to stdout or ``--output`` (report: JSON or Markdown;
timeline: JSON or CSV).

``chain`` (``--config chain.toml [--format json|markdown] [--output PATH]``) traces a pipeline
of models, each fed by others' predictions, to the model that made the final one worse
(`tracing.chain`).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracing import settings
from tracing.analysis import Analysis, prepare_analysis
from tracing.engines import EngineChoice, engine_for, open_backend
from tracing.errors import DataError
from tracing.io import available_memory, cli_limits, read_table
from tracing.options import (
    DEFAULT_K,
    DEFAULT_MIN_ROWS,
    DEFAULT_WINDOW,
    EXPLAIN_SOURCES,
    MAX_DEPTH,
    ExplainOptions,
    ReportOptions,
    SliceSearch,
)
from tracing.report import SECTIONS, build_report
from tracing.rows import ComparedRows, RowsSpec, compared_rows
from tracing.schema import ROLE_NAMES
from tracing.sqlbackend import TableSource
from tracing.store import add_store_parser, run_store
from tracing.vocab import EngineName, Freq, NotifyFormat
from tracing.windows import VERSION_COLUMN

if TYPE_CHECKING:
    from tracing.alerts import Alert
    from tracing.engine_analysis import EngineAnalysis
    from tracing.engine_rows import EngineRows
    from tracing.timeline import Timeline

# Only what every command needs loads with this module: `report` never imports the timeline,
# its alerts (urllib), model chains or the Markdown renderer unless it is asked for them.

__all__ = [
    "add_chain_parser",
    "add_engine_option",
    "add_input_options",
    "add_timeline_parser",
    "load_inputs",
    "main",
    "run_timeline",
    "rows_spec",
]

_SLICES, _EXPLAIN = SliceSearch(), ExplainOptions()  # the defaults, from one place
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_ALERT = 3  # --fail-on-alert: the latest complete period alerts
EXIT_UNDELIVERED = 4  # --notify: a message still failed after its retries
_DESCRIPTION = (
    "Compare production with a baseline (report) or follow a metric over time (timeline). "
    "Bad input exits with code 2 and one line on stderr that names the file/column and the fix; "
    "never a traceback."
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line with exit code 2."""

    def error(self, message: str) -> Any:  # noqa: D102
        sys.stderr.write(f"error: {message} (see python -m tracing {self.prog.split()[-1]} -h)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _role_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("column roles (auto-detected when omitted; explicit always wins)")
    g.add_argument("--id", dest="prediction_id", metavar="COL", help="prediction id column")
    g.add_argument("--timestamp", metavar="COL", help="timestamp column")
    g.add_argument(
        "--prediction",
        dest="prediction_label",
        metavar="COL",
        help="predicted label (classification) or value (regression)",
    )
    g.add_argument(
        "--score",
        dest="prediction_score",
        metavar="COL[,COL...]",
        help="score column: probability of the positive class, or one per class",
    )
    g.add_argument("--actual", dest="actual_label", metavar="COL", help="actual label/value")
    g.add_argument("--features", metavar="A,B,...", help="feature columns (default: the rest)")
    g.add_argument("--tags", metavar="A,B", help="tag columns (sliced like features)")
    p.add_argument("--model-type", choices=["binary", "multiclass", "regression"])
    p.add_argument("--positive-class", metavar="V", help="binary: the positive label")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="binary: score cut-off when there is no label column (default 0.5)",
    )
    p.add_argument("--metric", metavar="ID", help="lead metric id (default: see README)")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose the rows compared (windows, versions, actuals)."""
    g = parser.add_argument_group("windows, model versions and delayed actuals")
    g.add_argument(
        "--production-window",
        metavar="START,END",
        help="production rows in this date range (dates inclusive, e.g. 2026-11-16,2026-11-22)",
    )
    g.add_argument(
        "--baseline-window",
        metavar="START,END",
        help="baseline rows in this range; without --baseline both windows cut the production "
        "file (default: the rows before the production window)",
    )
    g.add_argument(
        "--baseline-version",
        metavar="V",
        help=f"compare two model versions of the production file ({VERSION_COLUMN!r} column): "
        "the baseline's version (with --production-version; --production-window then cuts "
        "both to the same days)",
    )
    g.add_argument("--production-version", metavar="V", help="the production rows' model version")
    g.add_argument(
        "--actuals",
        metavar="PATH",
        help="delayed actuals (prediction id, actual, optional actual_timestamp) joined to "
        "production by id; later actuals replace earlier ones",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tracing", description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rep = sub.add_parser("report", help="compare production with a baseline")
    rep.add_argument(
        "--baseline",
        metavar="PATH",
        help="baseline CSV/Parquet (or cut one file with --baseline-window/--production-window, "
        "or compare --baseline-version/--production-version)",
    )
    rep.add_argument("--production", required=True, metavar="PATH", help="production CSV/Parquet")
    _role_args(rep)
    rep.add_argument(
        "--sections", metavar="A,B", help=f"report sections (default: all of {','.join(SECTIONS)})"
    )
    g = rep.add_argument_group("slices")
    g.add_argument(
        "--max-depth",
        type=int,
        default=_SLICES.max_depth,
        help=f"conditions per slice, 1-{MAX_DEPTH} ({_SLICES.max_depth})",
    )
    g.add_argument("--min-size", type=int, help="smallest slice ranked (max(30, 0.1%% of rows))")
    g.add_argument("--top", type=int, default=_SLICES.top, help=f"slices ranked ({_SLICES.top})")
    g = rep.add_argument_group("importance (SHAP)")
    g.add_argument(
        "--explain-source",
        choices=EXPLAIN_SOURCES,
        default=_EXPLAIN.source,
        help="logged <feature>_shap columns, a surrogate tree, or a skops model file (auto)",
    )
    g.add_argument("--model", metavar="PATH", help="a model saved with skops (never a pickle)")
    g.add_argument("--explain-sample-size", type=int, default=_EXPLAIN.sample_size, metavar="N")
    g.add_argument("--shap-sample-size", type=int, default=_EXPLAIN.shap_sample_size, metavar="N")
    rep.add_argument("--format", choices=["json", "markdown"], default="json")
    rep.add_argument("--output", metavar="PATH", help="write here instead of stdout")
    rep.add_argument(
        "--seed",
        type=int,
        default=ReportOptions.random_state,
        help="random seed (bootstrap, sampling)",
    )
    add_input_options(rep)
    add_timeline_parser(sub)
    add_store_parser(sub)
    add_chain_parser(sub)
    for command in sub.choices.values():
        add_engine_option(command)
    return parser


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine`` (default ``TRACING_ENGINE``, read by `main` once parsing is done)."""
    parser.add_argument(
        "--engine",
        choices=[e.value for e in EngineName],
        default=None,
        help="where the analysis runs: memory, duckdb (out-of-core), spark, or auto (memory "
        "when the data fits comfortably, else duckdb); default TRACING_ENGINE, else auto",
    )


def add_chain_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``chain`` on the argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "chain",
        help="trace a chain of models to the one that made the final model worse",
        description="Compare every model of a chain file (TOML: [[model]] tables with the "
        'report\'s role and option names, and inputs = { feature = "upstream" }) with its '
        "baseline, measure how much of each downstream change happens where the upstream "
        "model erred, and name the culprit.",
    )
    p.add_argument("--config", required=True, metavar="PATH", help="the chain file (TOML)")
    p.add_argument("--format", choices=["json", "markdown"], default="json")
    p.add_argument("--output", metavar="PATH", help="write here instead of stdout")
    return p


def _chain(args: argparse.Namespace) -> str:
    from tracing import chain as chains

    engine_for(args.engine, [], needs_memory="model chains")
    trace = chains.trace_chain(chains.load_chain(args.config), limits=cli_limits())
    if args.format == "markdown":
        return chains.chain_markdown(trace)
    return json.dumps(chains.chain_json(trace), indent=2) + "\n"


def add_timeline_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``timeline`` on the argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "timeline",
        help="a metric per hour/day/week with its expected band and alerts",
        description="A metric per hour, day or week of production with its expected band (the "
        "baseline's periods, or a rolling window of production) and alerts on the worse side; "
        "for binary models with scores also the metric estimated from the scores.",
    )
    p.add_argument("--production", required=True, metavar="PATH", help="production CSV/Parquet")
    p.add_argument(
        "--baseline",
        metavar="PATH",
        help="baseline CSV/Parquet with actuals: its periods give the band and it calibrates "
        "the estimate",
    )
    _role_args(p)
    g = p.add_argument_group("periods and band")
    g.add_argument(
        "--freq", choices=tuple(Freq), help="period length (default: from the time span)"
    )
    g.add_argument(
        "--window",
        type=_int_at_least(2),
        metavar="N",
        help=f"rolling band over the previous N periods (default without --baseline: "
        f"{DEFAULT_WINDOW})",
    )
    g.add_argument(
        "--k",
        type=_positive_float,
        default=DEFAULT_K,
        metavar="K",
        help=f"band half-width in standard deviations (default {DEFAULT_K:g})",
    )
    g.add_argument(
        "--min-rows",
        type=_int_at_least(1),
        default=DEFAULT_MIN_ROWS,
        metavar="N",
        help=f"fewest rows to judge a period (default {DEFAULT_MIN_ROWS})",
    )
    g.add_argument(
        "--no-estimate", action="store_true", help="do not estimate the metric from the scores"
    )
    add_input_options(p)
    a = p.add_argument_group(
        "alerts (for cron or CI: exit 3 on an alert, 4 when a message cannot be delivered)"
    )
    a.add_argument(
        "--fail-on-alert",
        action="store_true",
        help="exit with status 3 when the latest complete period alerts",
    )
    a.add_argument(
        "--notify",
        metavar="URL",
        help="POST one JSON message per new alert to this webhook (Slack, PagerDuty, any)",
    )
    a.add_argument(
        "--notify-format",
        choices=[f.value for f in NotifyFormat],
        default=NotifyFormat.SLACK.value,
        help="message body: slack (text + fields, the default), json, or pagerduty (Events v2, "
        "routing key from TRACING_PAGERDUTY_KEY)",
    )
    a.add_argument(
        "--app-url",
        metavar="URL",
        help="the app's address for the message's deep link (default TRACING_PUBLIC_URL)",
    )
    a.add_argument(
        "--state",
        metavar="PATH",
        help="JSON file remembering what was sent (default: one per production file and "
        "metric in the user's cache folder)",
    )
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--output", metavar="PATH", help="write here instead of stdout")
    return p


def _roles(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for role in ("prediction_id", "timestamp", "prediction_label", "actual_label"):
        if getattr(args, role):
            out[role] = getattr(args, role)
    for role in ("prediction_score", "features", "tags"):
        value = getattr(args, role)
        if value:
            out[role] = tuple(v.strip() for v in value.split(",") if v.strip())
    return out


def rows_spec(args: argparse.Namespace) -> RowsSpec:
    """Return the windows and model versions of parsed options (validated; see `RowsSpec`)."""
    return RowsSpec(
        production_window=getattr(args, "production_window", None),
        baseline_window=getattr(args, "baseline_window", None),
        version_baseline=getattr(args, "baseline_version", None),
        version_production=getattr(args, "production_version", None),
    )


def load_inputs(
    args: argparse.Namespace, *, require_baseline: bool = False, spec: RowsSpec | None = None
) -> ComparedRows:
    """Read ``--production`` (and ``--baseline``, ``--actuals``) and cut the rows compared.

    Parameters
    ----------
    args : Namespace
        Parsed options: ``production`` and optionally ``baseline``, ``actuals``,
        ``production_window``, ``baseline_window``, ``baseline_version``,
        ``production_version`` and the role flags.
    require_baseline : bool, default False
        For ``report``: raise a `DataError` when neither ``--baseline``, a window nor two model
        versions give a baseline.
    spec : RowsSpec, optional
        ``rows_spec(args)``, when the caller already made it.

    Returns
    -------
    ComparedRows
        See `tracing.rows.compared_rows`.
    """
    limits = cli_limits()  # only the caps the operator set: big files are theirs to read
    production = read_table(args.production, limits=limits)
    baseline_path = getattr(args, "baseline", None)
    baseline = read_table(baseline_path, limits=limits) if baseline_path else None
    spec = spec or rows_spec(args)
    if require_baseline:
        _require_baseline(args, spec)
    actuals_path = getattr(args, "actuals", None)
    return compared_rows(
        production,
        baseline,
        spec=spec,
        names=(
            Path(baseline_path).name if baseline_path else "baseline",
            Path(args.production).name,
        ),
        actuals=read_table(actuals_path, limits=limits) if actuals_path else None,
        actuals_name=Path(actuals_path).name if actuals_path else "actuals",
        roles=_roles(args),
    )


def _require_baseline(args: argparse.Namespace, spec: RowsSpec) -> None:
    if not getattr(args, "baseline", None) and not spec.one_file:
        raise DataError(
            "no baseline: give --baseline PATH, or cut one file with --production-window "
            "START,END (the baseline is then the rows before it) or --baseline-window START,END, "
            "or compare two model versions with --baseline-version V --production-version V."
        )


def _inputs(args: argparse.Namespace) -> dict[str, str]:
    """Return the files of the command line by what they are (production, baseline, actuals)."""
    named = {k: getattr(args, k, None) for k in ("baseline", "production", "actuals")}
    return {k: str(v) for k, v in named.items() if v}


def _engine_rows(
    args: argparse.Namespace, backend: Any, sources: Sequence[TableSource], spec: RowsSpec
) -> EngineRows:
    """Cut the rows compared in the engine, as `load_inputs` does in memory."""
    from tracing.engine_rows import engine_rows

    files = _inputs(args)
    named = dict(zip(files, sources, strict=True))
    return engine_rows(
        backend,
        named["production"],
        named.get("baseline"),
        spec=spec,
        # the file names, as `load_inputs` names them
        names=(Path(files.get("baseline", "baseline")).name, Path(files["production"]).name),
        actuals=named.get("actuals"),
        actuals_name=Path(files.get("actuals", "actuals")).name,
        roles=_roles(args),
    )


def run_timeline(args: argparse.Namespace) -> str:
    """Run ``timeline`` and return the output text (JSON or CSV).

    Raises
    ------
    DataError
        On bad input (unreadable files, unknown columns, bad windows, a metric that does not
        fit...).
    """
    return _timeline(args)[0]


def _timeline(args: argparse.Namespace) -> tuple[str, int]:
    """Run ``timeline``: the output text and the exit code (alerts, delivery)."""
    from tracing.timeline import metric_timeline, monitoring_schema

    app_url = _alert_target(args)
    spec = rows_spec(args)
    choice, sources = engine_for(args.engine, list(_inputs(args).values()), cli=True)
    if sources is not None:
        return _engine_timeline(args, choice, sources, spec, app_url)
    inputs = load_inputs(args, spec=spec)
    roles = _roles(args)
    schema = monitoring_schema(
        inputs.production,
        inputs.baseline,
        roles=roles,
        model_type=args.model_type,
        positive_class=args.positive_class,
        threshold=args.threshold,
        names=inputs.names,
    )
    timeline = metric_timeline(
        inputs.production,
        inputs.baseline,
        schema=schema,
        metric=args.metric,
        freq=args.freq,
        window=args.window,
        k=args.k,
        min_rows=args.min_rows,
        # Two model versions: one model's calibration says nothing about the other's scores.
        estimate=not args.no_estimate and not spec.by_version,
        names=inputs.names,
    )
    code = _alerts(args, inputs, timeline, app_url) if args.notify or args.fail_on_alert else 0
    has_baseline = inputs.baseline is not None
    return _timeline_text(args, timeline, inputs.notes, inputs.names, has_baseline), code


def _timeline_text(
    args: argparse.Namespace,
    timeline: Timeline,
    notes: Sequence[str],
    names: tuple[str, str],
    has_baseline: bool,
) -> str:
    if args.format == "csv":
        buf = io.StringIO()
        timeline.table.to_csv(buf, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        return buf.getvalue()
    from tracing.timeline import timeline_json

    out = timeline_json(timeline)
    out["notes"] = [*notes, *out["notes"]]
    out["datasets"] = {"baseline": names[0] if has_baseline else None, "production": names[1]}
    return json.dumps(out, indent=2) + "\n"


def _engine_timeline(
    args: argparse.Namespace,
    choice: EngineChoice,
    sources: Sequence[TableSource],
    spec: RowsSpec,
    app_url: str | None,
) -> tuple[str, int]:
    """Run ``timeline`` in a SQL engine: every period measured on every row there."""
    from tracing import alerts
    from tracing.engine_analysis import prepare_engine_analysis
    from tracing.engine_timeline import engine_timeline

    if args.notify:
        # Each alert's suspect slice is traced on the period's rows in memory (`_alert`).
        raise DataError("--notify runs in memory only for now; use --engine memory.")
    del app_url
    backend = open_backend(choice.engine)
    try:
        rows = _engine_rows(args, backend, sources, spec)
        # No baseline: the rolling band of production alone (the sample analysis needs two
        # sides, so production stands in for the baseline, which is then never read).
        baseline = rows.baseline if rows.baseline is not None else rows.production
        window = args.window if rows.baseline is not None else args.window or DEFAULT_WINDOW
        analysis = prepare_engine_analysis(
            baseline,
            rows.production,
            backend=backend,
            names=rows.names,
            roles=_roles(args),
            model_type=args.model_type,
            positive_class=args.positive_class,
            threshold=args.threshold,
            require_actuals=False,
        )
        timeline = engine_timeline(
            analysis,
            metric=args.metric,
            freq=args.freq,
            window=window,
            k=args.k,
            min_rows=args.min_rows,
            estimate=not args.no_estimate and not spec.by_version,
        )
    finally:
        backend.close()
    notes = (choice.reason, *rows.notes)
    last = alerts.latest_complete(timeline)
    alerting = last is not None and bool(timeline.table["alert"].iloc[last])
    code = EXIT_ALERT if args.fail_on_alert and alerting else 0
    return _timeline_text(args, timeline, notes, rows.names, rows.baseline is not None), code


def _alert_target(args: argparse.Namespace) -> str | None:
    """Check the alert options before any work; return the deep links' base URL."""
    if not args.notify:
        return None
    if NotifyFormat(args.notify_format) is NotifyFormat.PAGERDUTY and not settings.get(
        "TRACING_PAGERDUTY_KEY"
    ):
        raise DataError(
            "--notify-format pagerduty needs the integration's routing key in "
            "TRACING_PAGERDUTY_KEY."
        )
    base = args.app_url or settings.get("TRACING_PUBLIC_URL")
    if not base:
        raise DataError(
            "--notify needs the app's address for the message's link: give --app-url URL or "
            "set TRACING_PUBLIC_URL."
        )
    return str(base)


def _alerts(
    args: argparse.Namespace, inputs: ComparedRows, timeline: Timeline, app_url: str | None
) -> int:
    """Send the new alerts (``--notify``) and judge the latest period (``--fail-on-alert``)."""
    from tracing import alerts

    last = alerts.latest_complete(timeline)
    alerting = last is not None and bool(timeline.table["alert"].iloc[last])
    if args.notify and app_url is not None:
        state_path = args.state or alerts.default_state_path(args.production, timeline.metric.id)
        state = alerts.AlertState.load(state_path)
        positions = alerts.new_alerts(timeline, state)
        fmt = NotifyFormat(args.notify_format)
        key = settings.get("TRACING_PAGERDUTY_KEY") or None
        try:
            for i in positions:
                alert = _alert(args, inputs, timeline, i, app_url)
                alerts.deliver(args.notify, alerts.body(alert, fmt, routing_key=key))
        except alerts.DeliveryError as exc:
            sys.stderr.write(
                f"error: alert not delivered to {exc}; the state file is unchanged, so the next "
                "run sends it again.\n"
            )
            return EXIT_UNDELIVERED
        state.record(timeline, positions, now=None)
    return EXIT_ALERT if args.fail_on_alert and alerting else 0


def _alert(
    args: argparse.Namespace, inputs: ComparedRows, timeline: Timeline, i: int, app_url: str
) -> Alert:
    """Build one alerting period's message: its top suspect slice and a link tracing it."""
    from tracing import alerts
    from tracing.timeline import period_window

    window = period_window(timeline, i)
    spec = dataclasses.replace(rows_spec(args), production_window=window)
    try:
        rows = compared_rows(
            inputs.production, inputs.baseline, spec=spec, names=inputs.names, roles=_roles(args)
        )
        analysis = _analysis(args, rows, metric=timeline.metric.id)
        suspect = alerts.suspect_text(analysis, metric=timeline.metric.id)
    except DataError as exc:
        suspect = f"No suspect slice: {exc}"
    link = alerts.app_link(app_url, _link_params(args, window, timeline.metric.id))
    return alerts.make_alert(
        timeline, i, model=Path(args.production).name, suspect=suspect, link=link
    )


def _link_params(args: argparse.Namespace, window: str, metric: str) -> dict[str, str | None]:
    """Return the app's URL parameters for tracing one period of these files."""

    def where(path: str | None) -> str | None:
        return str(Path(path).resolve()) if path else None

    # The app's URL parameters are the role names (its Data page does not pick tags).
    roles = {name: getattr(args, field) for name, field in ROLE_NAMES.items() if name != "tags"}
    return {
        "baseline": where(getattr(args, "baseline", None)),
        "production": where(args.production),
        "actuals": where(getattr(args, "actuals", None)),
        "production_window": window,
        **roles,
        "model_type": args.model_type,
        "positive_class": args.positive_class,
        "metric": metric,
    }


def _analysis(args: argparse.Namespace, rows: ComparedRows, *, metric: str | None) -> Analysis:
    """Prepare the analysis of compared rows with the command line's roles and options."""
    assert rows.baseline is not None  # a report needs one; a production window always leaves one
    return prepare_analysis(
        rows.baseline,
        rows.production,
        names=rows.names,
        roles=_roles(args),
        model_type=args.model_type,
        positive_class=args.positive_class,
        metric=metric,
        threshold=args.threshold,
    )


def _store(args: argparse.Namespace) -> str:
    """Run ``store``; a sweep first removes expired share links, which release their pins."""
    if args.store_command != "sweep":
        return run_store(args)
    from tracing.links import sweep_links

    removed = sweep_links()
    return f"removed {len(removed)} expired link(s); " + run_store(args)


def _memory_only(args: argparse.Namespace) -> str | None:
    """Why a report's options need the rows in memory (None: a SQL engine can run it)."""
    if getattr(args, "explain_source", None) == "model" or getattr(args, "model", None):
        return "explanations with a model file (--model)"
    return None


def _report(args: argparse.Namespace) -> str:
    refs = list(_inputs(args).values())
    choice, sources = engine_for(args.engine, refs, cli=True, needs_memory=_memory_only(args))
    if sources is not None:
        return _engine_report(args, choice, sources)
    return _memory_report(args)


def _report_options(args: argparse.Namespace, metric: str, *, estimate: bool) -> dict[str, Any]:
    return {
        "random_state": args.seed,
        "max_depth": args.max_depth,
        "min_size": args.min_size,
        "top": args.top,
        "metric": metric,
        "explain_source": args.explain_source,
        "model_path": args.model,
        "explain_sample_size": args.explain_sample_size,
        "shap_sample_size": args.shap_sample_size,
        "estimate": estimate,
    }


def _render(args: argparse.Namespace, report: dict[str, Any]) -> str:
    if args.format == "markdown":
        from tracing.render.markdown import to_markdown

        return to_markdown(report)
    return json.dumps(report, indent=2) + "\n"


def _engine_report(
    args: argparse.Namespace, choice: EngineChoice, sources: Sequence[TableSource]
) -> str:
    """Run ``report`` in a SQL engine: every row stays there, small aggregates come back."""
    from tracing.engine_analysis import prepare_engine_analysis

    spec = rows_spec(args)
    _require_baseline(args, spec)
    backend = open_backend(choice.engine)
    try:
        rows = _engine_rows(args, backend, sources, spec)
        assert rows.baseline is not None  # _require_baseline
        analysis = prepare_engine_analysis(
            rows.baseline,
            rows.production,
            backend=backend,
            names=rows.names,
            roles=_roles(args),
            model_type=args.model_type,
            positive_class=args.positive_class,
            metric=args.metric,
            threshold=args.threshold,
            random_state=args.seed,
        )
        notes = (choice.reason, *rows.notes, *analysis.notes)
        analysis = dataclasses.replace(analysis, notes=notes)
        sections = [s.strip() for s in args.sections.split(",")] if args.sections else None
        # as in memory: one model's calibration says nothing about another version's scores
        options = _report_options(args, analysis.metric.id, estimate=not spec.by_version)
        options["features"] = _slice_features(args, analysis)
        report = build_report(analysis, sections=sections, options=options)
    finally:
        backend.close()
    return _render(args, report)


def _slice_features(args: argparse.Namespace, analysis: EngineAnalysis) -> tuple[str, ...] | None:
    """Return the columns an engine's slice search slices by (None: its defaults).

    Hive partition columns are left out by default (`tracing.slices.HIVE_PARTITION`); one the
    user named with ``--features`` or ``--tags`` is sliced, beside the defaults.
    """
    from tracing.engine import Side
    from tracing.slices import default_features

    named = [c for role in ("features", "tags") for c in _roles(args).get(role, ())]
    partitions = {c for side in Side for c in analysis.table.partition_columns(side)}
    wanted = [c for c in named if c in partitions]
    if not wanted:
        return None
    defaults = default_features(analysis)[0]
    return (*defaults, *(c for c in dict.fromkeys(wanted) if c not in defaults))


def _memory_report(args: argparse.Namespace) -> str:
    inputs = load_inputs(args, require_baseline=True)
    analysis = _analysis(args, inputs, metric=args.metric)
    analysis = dataclasses.replace(analysis, notes=inputs.notes + analysis.notes)
    sections = [s.strip() for s in args.sections.split(",")] if args.sections else None
    # two model versions: one model's calibration says nothing about the other's scores
    options = _report_options(args, analysis.metric.id, estimate=not rows_spec(args).by_version)
    report = build_report(analysis, sections=sections, options=options)
    return _render(args, report)


def _out_of_memory(args: argparse.Namespace) -> str:
    paths = (getattr(args, name, None) for name in ("baseline", "production", "config"))
    files = " and ".join(Path(p).name for p in paths if p)
    available = available_memory()
    room = "" if available is None else f" ({available / 2**30:.1f} GB available now)"
    return (
        f"{files + ': ' if files else ''}out of memory while analysing{room}; use smaller files "
        "(fewer rows: a shorter time range or a sample) or a machine with more memory."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (code 2) and --help (code 0)
        return int(exc.code or 0)
    try:
        # After parsing, so --help works whatever the environment says.
        given = getattr(args, "engine", None)
        args.engine = EngineName(given) if given else settings.get("TRACING_ENGINE")
        commands = {"store": _store, "report": _report, "chain": _chain}
        text, code = (
            _timeline(args) if args.command == "timeline" else (commands[args.command](args), 0)
        )
        text = text if text.endswith("\n") else text + "\n"
        if getattr(args, "output", None):
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except DataError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:
        sys.stderr.write(f"error: {exc.filename or ''}: {exc.strerror or exc}; check the path.\n")
        return EXIT_BAD_INPUT
    except MemoryError:  # past the read's own check (tracing.io): the analysis needed more
        sys.stderr.write(f"error: {_out_of_memory(args)}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug, not bad input: one line, and the traceback in the log
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}; please report it with the command "
            "line (set TRACING_DEBUG=1 for the traceback).\n"
        )
        if settings.get("TRACING_DEBUG"):
            raise
        return EXIT_INTERNAL
    return code
