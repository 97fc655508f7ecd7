"""Headless entry point: ``python -m tracing report ...`` for scripts and CI.

Bad input exits with code 2 and one line on stderr that names the file/column and the fix;
never a traceback. The report goes to stdout or ``--output`` as JSON or Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracing import settings, timeline_cli
from tracing.analysis import prepare_analysis
from tracing.errors import DataError
from tracing.options import (
    EXPLAIN_SOURCES,
    MAX_DEPTH,
    ExplainOptions,
    ReportOptions,
    SliceSearch,
)
from tracing.render.markdown import to_markdown
from tracing.report import SECTIONS, build_report

__all__ = ["main"]

_SLICES, _EXPLAIN = SliceSearch(), ExplainOptions()  # the defaults, from one place
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tracing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rep = sub.add_parser("report", help="compare production with a baseline")
    rep.add_argument(
        "--baseline",
        metavar="PATH",
        help="baseline CSV/Parquet (or cut one file with --baseline-window/--production-window)",
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
    timeline_cli.add_input_options(rep)
    timeline_cli.add_parser(sub)
    return parser


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


def _report(args: argparse.Namespace) -> str:
    inputs = timeline_cli.load_inputs(args, require_baseline=True)
    assert inputs.baseline is not None  # require_baseline guarantees one
    analysis = prepare_analysis(
        inputs.baseline,
        inputs.production,
        names=inputs.names,
        roles=_roles(args),
        model_type=args.model_type,
        positive_class=args.positive_class,
        metric=args.metric,
        threshold=args.threshold,
    )
    analysis = dataclasses.replace(analysis, notes=inputs.notes + analysis.notes)
    sections = [s.strip() for s in args.sections.split(",")] if args.sections else None
    options = {
        "random_state": args.seed,
        "max_depth": args.max_depth,
        "min_size": args.min_size,
        "top": args.top,
        "metric": analysis.metric.id,
        "explain_source": args.explain_source,
        "model_path": args.model,
        "explain_sample_size": args.explain_sample_size,
        "shap_sample_size": args.shap_sample_size,
    }
    report = build_report(analysis, sections=sections, options=options)
    if args.format == "markdown":
        return to_markdown(report)
    return json.dumps(report, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (code 2) and --help (code 0)
        return int(exc.code or 0)
    try:
        text = timeline_cli.run(args) if args.command == "timeline" else _report(args)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except DataError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except OSError as exc:
        sys.stderr.write(f"error: {exc.filename or ''}: {exc.strerror or exc}; check the path.\n")
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
    return 0
