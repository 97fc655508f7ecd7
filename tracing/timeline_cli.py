"""The ``timeline`` subcommand, and the window/actuals options shared with ``report``.

``python -m tracing timeline --production PATH [--baseline PATH] [role flags] [--metric ID]
[--freq hour|day|week] [--window N] [--k K] [--min-rows N] [--format json|csv] [--output PATH]``
prints the metric per period with its expected band and alerts (`tracing.timeline`).

Options shared with ``report`` (`add_input_options`, `load_inputs`):

- ``--production-window START,END`` and ``--baseline-window START,END``
  (`tracing.windows`): with ``--baseline PATH`` they cut each file; without it both windows cut
  the production file, and a missing baseline window means "every row before the production
  window".
- ``--actuals PATH``: a delayed-actuals file joined to production by prediction id before
  anything else (`tracing.actuals.join_actuals_file`).

`tracing.cli` registers the subcommand with `add_parser` and dispatches to `run`, which returns
the output text and raises `tracing.errors.DataError` on bad input (exit code 2).
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tracing.actuals import JoinReport, join_actuals_file
from tracing.errors import DataError
from tracing.io import read_table
from tracing.timeline import (
    DEFAULT_K,
    DEFAULT_MIN_ROWS,
    DEFAULT_WINDOW,
    FREQS,
    metric_timeline,
    monitoring_schema,
    timeline_json,
)
from tracing.windows import (
    parse_timestamps,
    parse_window,
    split_by_windows,
    timestamp_column,
    window_mask,
)

__all__ = ["Inputs", "add_input_options", "add_parser", "load_inputs", "resolve_inputs", "run"]


@dataclass(frozen=True)
class Inputs:
    """Baseline and production after actuals were joined and windows cut.

    Attributes
    ----------
    baseline : DataFrame or None
        None when neither a baseline file nor a window gave one.
    production : DataFrame
        Production rows.
    names : (str, str)
        Display names for `prepare_analysis` (``names=``).
    notes : tuple of str
        What the join and the windows did (append them to the analysis notes).
    join : JoinReport or None
        The actuals join, when ``--actuals`` was given.
    """

    baseline: pd.DataFrame | None
    production: pd.DataFrame
    names: tuple[str, str]
    notes: tuple[str, ...]
    join: JoinReport | None = None


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
    """Add ``--production-window``, ``--baseline-window`` and ``--actuals`` to a subcommand."""
    g = parser.add_argument_group("windows and delayed actuals")
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
        "--actuals",
        metavar="PATH",
        help="delayed actuals (prediction id, actual, optional actual_timestamp) joined to "
        "production by id; later actuals replace earlier ones",
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``timeline`` on the argparse subparsers object of `tracing.cli`."""
    from tracing.cli import _role_args  # late: tracing.cli imports this module

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
    g.add_argument("--freq", choices=FREQS, help="period length (default: from the time span)")
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
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--output", metavar="PATH", help="write here instead of stdout")
    return p


def _roles_of(args: argparse.Namespace) -> dict[str, Any]:
    from tracing.cli import _roles  # late: tracing.cli imports this module

    return _roles(args)


def resolve_inputs(
    production: pd.DataFrame,
    baseline: pd.DataFrame | None = None,
    *,
    names: tuple[str, str] = ("baseline", "production"),
    production_window: str | None = None,
    baseline_window: str | None = None,
    actuals: pd.DataFrame | None = None,
    actuals_name: str = "actuals",
    roles: dict[str, Any] | None = None,
) -> Inputs:
    """Join delayed actuals to production, then cut the windows (no file reading).

    Parameters
    ----------
    production : DataFrame
        The production file.
    baseline : DataFrame, optional
        The baseline file.
    names : (str, str)
        File names of baseline and production.
    production_window, baseline_window : str, optional
        ``START,END`` windows (`tracing.windows`). With a baseline frame each cuts its own
        frame. Without one, both cut production: the baseline is the baseline window, or every
        row before the production window; with only a baseline window, production is every row
        after it.
    actuals : DataFrame, optional
        Delayed actuals, joined to production by prediction id.
    actuals_name : str
        The actuals' file name for messages.
    roles : dict, optional
        Explicit column roles (``timestamp``, ``prediction_id``, ``actual_label``...).

    Returns
    -------
    Inputs

    Raises
    ------
    DataError
        On a bad window, an empty window, or an actuals file that cannot be joined.
    """
    roles = roles or {}
    notes: list[str] = []
    join = None
    if actuals is not None:
        production, join = join_actuals_file(
            production, actuals, roles=roles, names=(names[1], actuals_name)
        )
        notes += join.notes(actuals_name)
    stamp = roles.get("timestamp")
    if baseline is None and (production_window or baseline_window):
        return _one_file(
            production, names[1], production_window, baseline_window, stamp, notes, join
        )
    if production_window:
        production = _window(production, production_window, stamp, names[1], "--production-window")
        names = (names[0], f"{names[1]} [{production_window}]")
    if baseline is not None and baseline_window:
        baseline = _window(baseline, baseline_window, stamp, names[0], "--baseline-window")
        names = (f"{names[0]} [{baseline_window}]", names[1])
    return Inputs(baseline, production, names, tuple(notes), join)


def _one_file(
    frame: pd.DataFrame,
    name: str,
    production_window: str | None,
    baseline_window: str | None,
    stamp: str | None,
    notes: list[str],
    join: JoinReport | None,
) -> Inputs:
    if production_window is None:
        assert baseline_window is not None
        # Only a baseline window: production is every row after it.
        end = baseline_window.split(",")[-1].strip()
        if not end:
            raise DataError(
                f"--baseline-window {baseline_window!r} has no END, so nothing comes after it; "
                "give an END or a --production-window."
            )
        production_window = f"{_after(end)},"
    split = split_by_windows(
        frame, production=production_window, baseline=baseline_window, timestamp=stamp, name=name
    )
    return Inputs(split.baseline, split.production, split.names, (*notes, *split.notes), join)


def _after(end: str) -> str:
    """Return the START of the range right after a window's END (date ENDs are inclusive)."""
    window = parse_window(f",{end}", option="--baseline-window")
    assert window.end is not None
    return window.end.isoformat()


def _window(
    frame: pd.DataFrame, window: str, stamp: str | None, name: str, option: str
) -> pd.DataFrame:
    col = timestamp_column(frame, stamp, name=name)
    inside = window_mask(
        parse_timestamps(frame[col], name=name), parse_window(window, option=option)
    )
    if not inside.any():
        raise DataError(f"{name}: {option} {window!r} holds no rows; check the dates.")
    return frame.loc[inside].reset_index(drop=True)


def load_inputs(args: argparse.Namespace, *, require_baseline: bool = False) -> Inputs:
    """Read ``--production`` (and ``--baseline``, ``--actuals``) and apply the windows.

    Parameters
    ----------
    args : Namespace
        Parsed options: ``production`` and optionally ``baseline``, ``actuals``,
        ``production_window``, ``baseline_window`` and the role flags.
    require_baseline : bool, default False
        For ``report``: raise a `DataError` when neither ``--baseline`` nor a window gives a
        baseline.

    Returns
    -------
    Inputs
    """
    production = read_table(args.production)
    baseline_path = getattr(args, "baseline", None)
    baseline = read_table(baseline_path) if baseline_path else None
    actuals_path = getattr(args, "actuals", None)
    if (
        require_baseline
        and not baseline_path
        and not (
            getattr(args, "production_window", None) or getattr(args, "baseline_window", None)
        )
    ):
        raise DataError(
            "no baseline: give --baseline PATH, or cut one file with --production-window "
            "START,END (the baseline is then the rows before it) or --baseline-window START,END."
        )
    return resolve_inputs(
        production,
        baseline,
        names=(
            Path(baseline_path).name if baseline_path else "baseline",
            Path(args.production).name,
        ),
        production_window=getattr(args, "production_window", None),
        baseline_window=getattr(args, "baseline_window", None),
        actuals=read_table(actuals_path) if actuals_path else None,
        actuals_name=Path(actuals_path).name if actuals_path else "actuals",
        roles=_roles_of(args),
    )


def run(args: argparse.Namespace) -> str:
    """Run ``timeline`` and return the output text (JSON or CSV).

    Raises
    ------
    DataError
        On bad input (unreadable files, unknown columns, bad windows, a metric that does not
        fit...).
    """
    inputs = load_inputs(args)
    roles = _roles_of(args)
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
        estimate=not args.no_estimate,
        names=inputs.names,
    )
    if args.format == "csv":
        buf = io.StringIO()
        timeline.table.to_csv(buf, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        return buf.getvalue()
    out = timeline_json(timeline)
    out["notes"] = [*inputs.notes, *out["notes"]]
    out["datasets"] = {
        "baseline": inputs.names[0] if inputs.baseline is not None else None,
        "production": inputs.names[1],
    }
    return json.dumps(out, indent=2) + "\n"
