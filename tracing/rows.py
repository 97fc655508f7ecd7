"""Which rows are compared: the one place that turns loaded tables into baseline and production.

The CLI (``report`` and ``timeline``) and the app both describe *which rows* they compare with a
`RowsSpec` (date windows, two model versions) and hand it, with the already-loaded tables, to
`compared_rows`. Nothing else decides it; this module owns:

- **Delayed actuals** are joined to production by prediction id before anything else
  (`tracing.actuals.join_actuals_file`), so a window or a version sees the joined actuals.
- **Three ways to get a baseline**:

  1. *A baseline file*: ``production_window`` cuts production and ``baseline_window`` cuts the
     baseline file, each on its own.
  2. *Windows of one file* (no baseline file): both windows cut production
     (`tracing.windows.split_by_windows`). Without a baseline window the baseline is every row
     before the production window; with only a baseline window, production is every row after
     it.
  3. *Two model versions of the production file* (``version_baseline`` and
     ``version_production``, the ``model_version`` column; `tracing.windows.split_by_version`):
     ``production_window`` cuts both versions to the same days. No baseline file and no
     baseline window apply.

  Without a baseline file, windows or versions there is no baseline (`ComparedRows.baseline`
  is None): the timeline works without one, a comparison does not (each front end says how to
  give one, in its own words).
- **The timeline's rows** (`ComparedRows.timeline_production`, `ComparedRows.timeline_baseline`):
  production before any window (the time series shows all of it) and the baseline that gives
  its band and calibrates its estimate.

Files are read by the callers (`tracing.io.read_table`); this module never reads a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tracing.actuals import JoinReport, join_actuals_file
from tracing.errors import DataError
from tracing.windows import (
    VERSION_COLUMN,
    Window,
    WindowSplit,
    parse_timestamps,
    parse_window,
    split_by_version,
    split_by_windows,
    timestamp_column,
    window_mask,
)

__all__ = ["ComparedRows", "RowsSpec", "compared_rows", "production_window"]

_PRODUCTION_WINDOW = "--production-window"
_BASELINE_WINDOW = "--baseline-window"


@dataclass(frozen=True)
class RowsSpec:
    """Which rows are compared, beyond the files: windows and model versions (hashable).

    Validated once, at construction; empty strings mean "not given".

    Attributes
    ----------
    production_window : str or None
        ``START,END`` (`tracing.windows`): production rows in this range. With two model
        versions it cuts both to the same days.
    baseline_window : str or None
        ``START,END``: baseline rows in this range; without a baseline file it cuts the
        production file (absent: every row before the production window).
    version_baseline, version_production : str or None
        Two values of the ``model_version`` column of the production file: their rows are the
        baseline and production. Give both or neither.

    Raises
    ------
    DataError
        If a window is malformed (the message names ``--production-window`` or
        ``--baseline-window``), only one model version is given, or a baseline window is
        combined with model versions.

    Examples
    --------
    >>> RowsSpec(production_window="2026-11-16,2026-11-22").one_file
    True
    >>> RowsSpec(version_baseline="v1", version_production="v2").by_version
    True
    """

    production_window: str | None = None
    baseline_window: str | None = None
    version_baseline: str | None = None
    version_production: str | None = None
    _production: Window | None = field(init=False, repr=False, compare=False, default=None)
    _baseline: Window | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        for name in (
            "production_window",
            "baseline_window",
            "version_baseline",
            "version_production",
        ):
            if not getattr(self, name):  # "" (an empty option or URL parameter): not given
                object.__setattr__(self, name, None)
        if self.production_window is not None:
            window = parse_window(self.production_window, option=_PRODUCTION_WINDOW)
            object.__setattr__(self, "_production", window)
        if self.baseline_window is not None:
            window = parse_window(self.baseline_window, option=_BASELINE_WINDOW)
            object.__setattr__(self, "_baseline", window)
        given = [v is not None for v in (self.version_baseline, self.version_production)]
        if any(given) and not all(given):
            raise DataError(
                "--baseline-version and --production-version go together: give both (two "
                f"values of the {VERSION_COLUMN!r} column of the production file)."
            )
        if self.by_version and self.baseline_window is not None:
            raise DataError(
                f"--baseline-window {self.baseline_window!r} does not apply to two model "
                "versions: --production-window cuts both versions to the same days."
            )

    @property
    def by_version(self) -> bool:
        """Whether two model versions of the production file are compared."""
        return self.version_baseline is not None and self.version_production is not None

    @property
    def one_file(self) -> bool:
        """Whether the spec alone cuts a baseline from the production file (windows, versions).

        Without a baseline file and with ``one_file`` False there is no baseline.
        """
        windows = self.production_window is not None or self.baseline_window is not None
        return self.by_version or windows


@dataclass(frozen=True)
class ComparedRows:
    """The rows compared: actuals joined, then model versions and windows cut.

    Attributes
    ----------
    baseline : DataFrame or None
        What production is compared with; None when neither a baseline file, a window nor
        two model versions gave one (see `RowsSpec.one_file`).
    production : DataFrame
        Production rows.
    names : (str, str)
        Display names for `tracing.analysis.prepare_analysis` (``names=``): file names with the
        window or version.
    notes : tuple of str
        What the join and the windows did (append them to the analysis notes).
    join : JoinReport or None
        The delayed-actuals join, when an actuals table was given.
    timeline_production : DataFrame
        Production before any window (the production version, with two versions): the time
        series shows all of it.
    timeline_baseline : DataFrame or None
        The baseline for the time series' band and the estimate's calibration: the baseline
        file (cut by its own window) or the baseline model version (uncut); None when the
        baseline is a window of production (the band is then a rolling one) or there is none.
    """

    baseline: pd.DataFrame | None
    production: pd.DataFrame
    names: tuple[str, str]
    notes: tuple[str, ...]
    join: JoinReport | None
    timeline_production: pd.DataFrame
    timeline_baseline: pd.DataFrame | None


def compared_rows(
    production: pd.DataFrame,
    baseline: pd.DataFrame | None = None,
    *,
    spec: RowsSpec | None = None,
    names: tuple[str, str] = ("baseline", "production"),
    actuals: pd.DataFrame | None = None,
    actuals_name: str = "actuals",
    roles: Mapping[str, Any] | None = None,
) -> ComparedRows:
    """Join delayed actuals to production, then cut model versions and windows.

    Parameters
    ----------
    production : DataFrame
        The production table (already loaded).
    baseline : DataFrame, optional
        The baseline table; None cuts the baseline from production by ``spec``.
    spec : RowsSpec, optional
        Windows and model versions (default: whole tables).
    names : (str, str)
        File names of baseline and production, for names and messages.
    actuals : DataFrame, optional
        Delayed actuals, joined to production by prediction id before anything else.
    actuals_name : str
        The actuals' file name for messages and notes.
    roles : mapping, optional
        Explicit column roles (``timestamp``, ``prediction_id``, ``actual_label``...).

    Returns
    -------
    ComparedRows

    Raises
    ------
    DataError
        On an actuals table that cannot be joined, an empty or overlapping window, an unknown
        model version, or a baseline table given together with model versions.

    Examples
    --------
    >>> times = pd.date_range("2026-11-01", periods=30, freq="D")
    >>> log = pd.DataFrame({"timestamp": times, "score": 0.5})
    >>> spec = RowsSpec(production_window="2026-11-24,")
    >>> found = compared_rows(log, spec=spec, names=("", "log"))
    >>> len(found.baseline), len(found.production), found.names
    (23, 7, ('log [before 2026-11-24]', 'log [2026-11-24,]'))
    """
    spec = spec or RowsSpec()
    roles = dict(roles or {})
    notes: tuple[str, ...] = ()
    join = None
    if actuals is not None:
        production, join = join_actuals_file(
            production, actuals, roles=roles, names=(names[1], actuals_name)
        )
        notes = tuple(join.notes(actuals_name))
    stamp = roles.get("timestamp")
    if spec.by_version:
        if baseline is not None:
            raise DataError(
                "--baseline-version and --production-version compare two model versions of "
                "the production file: drop the baseline file (--baseline), or the versions."
            )
        split = split_by_version(
            production,
            baseline=spec.version_baseline,
            production=spec.version_production,
            name=names[1],
        )
        base, prod, cut_names = _cut(split.baseline, split.production, split.names, spec, stamp)
        return ComparedRows(base, prod, cut_names, notes, join, split.production, split.baseline)
    if baseline is None and spec.one_file:
        split = _one_file(production, names[1], spec, stamp)
        return ComparedRows(
            split.baseline,
            split.production,
            split.names,
            (*notes, *split.notes),
            join,
            production,
            None,
        )
    base, prod, cut_names = _cut(baseline, production, names, spec, stamp)
    return ComparedRows(base, prod, cut_names, notes, join, production, base)


def _cut(
    baseline: pd.DataFrame | None,
    production: pd.DataFrame,
    names: tuple[str, str],
    spec: RowsSpec,
    stamp: str | None,
) -> tuple[pd.DataFrame | None, pd.DataFrame, tuple[str, str]]:
    """Cut each table by its own window; two model versions both by the production window."""
    prod_text, prod_window = spec.production_window, spec._production
    if spec.by_version:  # the same days for both versions
        base_text, base_window, base_option = prod_text, prod_window, _PRODUCTION_WINDOW
    else:
        base_text, base_window, base_option = (
            spec.baseline_window,
            spec._baseline,
            _BASELINE_WINDOW,
        )
    if prod_window is not None:
        production = _window(production, prod_window, stamp, names[1], _PRODUCTION_WINDOW)
        names = (names[0], f"{names[1]} [{prod_text}]")
    if baseline is not None and base_window is not None:
        baseline = _window(baseline, base_window, stamp, names[0], base_option)
        names = (f"{names[0]} [{base_text}]", names[1])
    return baseline, production, names


def _one_file(frame: pd.DataFrame, name: str, spec: RowsSpec, stamp: str | None) -> WindowSplit:
    return split_by_windows(
        frame,
        production=production_window(spec),
        baseline=spec._baseline,
        timestamp=stamp,
        name=name,
    )


def production_window(spec: RowsSpec) -> Window:
    """Return the production window of a cut of one file (`RowsSpec.one_file`, by windows).

    Only a baseline window: production is every row after it.

    Raises
    ------
    DataError
        If only a baseline window is given and it has no END.
    """
    production = spec._production
    if production is None:
        assert spec.baseline_window is not None
        # Only a baseline window: production is every row after it.
        end = spec.baseline_window.split(",")[-1].strip()
        if not end:
            raise DataError(
                f"--baseline-window {spec.baseline_window!r} has no END, so nothing comes after "
                "it; give an END or a --production-window."
            )
        production = parse_window(f"{_after(end)},")
    return production


def _after(end: str) -> str:
    """Return the START of the range right after a window's END (date ENDs are inclusive)."""
    window = parse_window(f",{end}", option=_BASELINE_WINDOW)
    assert window.end is not None
    return window.end.isoformat()


def _window(
    frame: pd.DataFrame, window: Window, stamp: str | None, name: str, option: str
) -> pd.DataFrame:
    col = timestamp_column(frame, stamp, name=name)
    inside = window_mask(parse_timestamps(frame[col], name=name), window)
    if not inside.any():
        raise DataError(f"{name}: {option} {window.text!r} holds no rows; check the dates.")
    return frame.loc[inside].reset_index(drop=True)
