"""Baselines cut from one file: date windows, "last N days vs the M days before", model versions.

A baseline does not have to be the training set. This module owns every way of cutting one
prediction log into a baseline and a production part, and the parsing of its timestamps:

- `split_by_windows`: two date ranges of one file (``--production-window START,END`` and
  ``--baseline-window START,END``). Without a baseline window the baseline is every row
  *before* the production window.
- `last_days`: the last ``days`` whole days against the ``before`` whole days just before them
  (`last_days_windows`: the same two windows as text, for a link or ``--production-window``).
- `period_text` and `trace_windows`: the window of one period of a time series
  (`tracing.timeline`), and the periods just before it, to trace that period.
- `split_by_version`: rows of model version A against rows of version B (a ``model_version``
  column), e.g. a champion and a challenger that served the same traffic.

**Window syntax.** ``START,END``, each an ISO date or date-time; either side may be empty (open).
Dates are *inclusive whole days*: ``2026-11-16,2026-11-22`` is the seven days 16 to 22. A bound
with a time of day is exact, and END is then exclusive: ``2026-11-16T06:00,2026-11-16T18:00``
is twelve hours. Bounds without a time zone are read in the timestamp column's own zone.

**Timestamps** (`parse_timestamps`): datetime columns are used as they are; text is parsed by
pandas (ISO 8601 recommended; mixed UTC offsets are converted to UTC); numbers are Unix epoch
seconds (milliseconds when above 1e11). Rows whose timestamp is missing or unreadable belong to
no window; they are counted in the notes, never dropped silently.

Every function returns a `WindowSplit` whose frames go straight into
`tracing.analysis.prepare_analysis` (with ``names=split.names``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.errors import DataError
from tracing.schema import detect_roles

__all__ = [
    "VERSION_COLUMN",
    "Window",
    "WindowSplit",
    "last_days",
    "last_days_windows",
    "check_versions",
    "check_window_counts",
    "model_versions",
    "one_file_windows",
    "parse_timestamps",
    "parse_window",
    "period_text",
    "split_by_version",
    "split_by_windows",
    "split_notes",
    "timestamp_column",
    "trace_windows",
    "window_bounds",
    "window_mask",
]

VERSION_COLUMN = "model_version"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH_MS = 1e11  # Unix seconds stay below this until the year 5138
_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """A time range ``[start, end)``; ``None`` on a side means open.

    Attributes
    ----------
    start, end : Timestamp or None
        Inclusive start and exclusive end (a date-only END has already been moved to the next
        midnight, so the day itself is included).
    text : str
        The window as the user wrote it, for names and messages.
    """

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    text: str


@dataclass(frozen=True)
class WindowSplit:
    """One file cut into a baseline and a production part.

    Attributes
    ----------
    baseline, production : DataFrame
        The two parts, rows in file order, index reset; ready for `prepare_analysis`.
    names : (str, str)
        Display names of the two parts (file name plus the window or version).
    notes : tuple of str
        Rows left out (outside both parts, or without a timestamp), columns dropped.
    """

    baseline: pd.DataFrame
    production: pd.DataFrame
    names: tuple[str, str]
    notes: tuple[str, ...]


def timestamp_column(frame: pd.DataFrame, column: str | None = None, *, name: str = "data") -> str:
    """Return the timestamp column: ``column`` if given, else the detected timestamp role.

    Raises
    ------
    DataError
        If ``column`` is not in the frame or no timestamp column can be detected.
    """
    if column:
        if column not in frame.columns:
            raise DataError(
                f"{name}: timestamp column {column!r} is not in the file; available columns: "
                f"{', '.join(map(str, frame.columns))}."
            )
        return column
    found = detect_roles([str(c) for c in frame.columns], data=frame).timestamp
    if not found:
        raise DataError(
            f"{name}: no timestamp column found; name it with --timestamp (or pick it on the "
            "Data page)."
        )
    return found


def parse_timestamps(series: pd.Series, *, name: str = "data") -> pd.Series:
    """Read a column as timestamps (see the module docstring for the accepted forms).

    Parameters
    ----------
    series : Series
        The timestamp column.
    name : str, default "data"
        Dataset name for messages.

    Returns
    -------
    Series
        ``datetime64`` (time-zone aware when the values are), NaT where missing or unreadable.

    Raises
    ------
    DataError
        If values exist but none of them is a date/time.

    Examples
    --------
    >>> parse_timestamps(pd.Series(["2026-11-16 08:00", None])).dt.hour.tolist()
    [8.0, nan]
    """
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    if pd.api.types.is_bool_dtype(series.dtype):
        out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    elif pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        unit: Literal["s", "ms"] = (
            "ms" if np.nanmax(np.abs(values), initial=0.0) >= _EPOCH_MS else "s"
        )
        out = pd.to_datetime(series, unit=unit, errors="coerce", utc=True)
    else:
        out = _parse_text(series)
    if out.isna().all() and series.notna().any():
        example = series.dropna().iloc[0]
        raise DataError(
            f"{name}: column {series.name!r} has no date/time values (e.g. {example!r}); "
            "name the timestamp column with --timestamp, in ISO 8601 (2026-11-16T08:00:00)."
        )
    return out


def _parse_text(series: pd.Series) -> pd.Series:
    text = series.astype("string")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we coerce
        try:
            return pd.to_datetime(text, errors="coerce")
        except (ValueError, TypeError):
            # Mixed UTC offsets cannot share one zone: compare them in UTC.
            return pd.to_datetime(text, errors="coerce", utc=True, format="mixed")


def parse_window(text: str, *, option: str = "--production-window") -> Window:
    """Parse ``START,END`` (see the module docstring for the rules).

    Parameters
    ----------
    text : str
        E.g. ``"2026-11-16,2026-11-22"``, ``"2026-11-16T06:00,"`` or ``",2026-10-31"``.
    option : str
        The option or control the text came from, for messages.

    Returns
    -------
    Window

    Raises
    ------
    DataError
        If the text is not two comma-separated bounds, a bound is not a date, or END is not
        after START.

    Examples
    --------
    >>> w = parse_window("2026-11-16,2026-11-22")
    >>> str(w.start), str(w.end)
    ('2026-11-16 00:00:00', '2026-11-23 00:00:00')
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not any(parts):
        raise DataError(
            f"{option} {text!r}: expected START,END (ISO dates, either may be empty), "
            "e.g. 2026-11-16,2026-11-22."
        )
    start = _bound(parts[0], option, text)
    end = _bound(parts[1], option, text)
    if end is not None and _DATE_ONLY.match(parts[1]):
        end = end + _DAY  # a date-only END includes that whole day
    if start is not None and end is not None and _naive(end) <= _naive(start):
        raise DataError(f"{option} {text!r}: END must be after START.")
    return Window(start=start, end=end, text=str(text).strip())


def _bound(part: str, option: str, text: str) -> pd.Timestamp | None:
    if not part:
        return None
    try:
        stamp = pd.Timestamp(part)
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise DataError(
            f"{option} {text!r}: {part!r} is not a date; use ISO dates such as 2026-11-16 or "
            "2026-11-16T08:00."
        )
    return stamp


def _naive(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _align(bound: pd.Timestamp | None, tz: Any) -> pd.Timestamp | None:
    """Express a bound in the column's zone (naive bounds are the column's local time)."""
    if bound is None:
        return None
    if tz is not None:
        return bound.tz_localize(tz) if bound.tzinfo is None else bound.tz_convert(tz)
    return _naive(bound)


def window_bounds(window: Window, tz: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Return a window's ``[start, end)`` in the zone of a timestamp column (None: naive).

    The one rule for both engines: a bound without a zone is the column's own local time; a
    zoned bound is converted to the column's zone, or, for a naive column, to UTC wall time.
    `window_mask` compares pandas timestamps with these bounds, a SQL engine the instants (or
    the wall times, for a naive column) of its rows.

    Examples
    --------
    >>> w = parse_window("2026-11-16,2026-11-16")
    >>> [str(b) for b in window_bounds(w, "Europe/Paris")]
    ['2026-11-16 00:00:00+01:00', '2026-11-17 00:00:00+01:00']
    """
    return _align(window.start, tz), _align(window.end, tz)


def window_mask(times: pd.Series, window: Window) -> NDArray[np.bool_]:
    """Rows of a parsed timestamp column inside ``window`` (missing timestamps are outside)."""
    inside = times.notna().to_numpy(dtype=bool)
    start, end = window_bounds(window, getattr(times.dtype, "tz", None))
    if start is not None:
        inside = inside & (times >= start).fillna(False).to_numpy(dtype=bool)
    if end is not None:
        inside = inside & (times < end).fillna(False).to_numpy(dtype=bool)
    return inside


def split_by_windows(
    frame: pd.DataFrame,
    *,
    production: str | Window,
    baseline: str | Window | None = None,
    timestamp: str | None = None,
    name: str = "data",
) -> WindowSplit:
    """Cut one file into a baseline window and a production window.

    Parameters
    ----------
    frame : DataFrame
        The prediction log.
    production : str or Window
        The production window, ``START,END`` (module docstring).
    baseline : str or Window, optional
        The baseline window. Default: every row before the production window's start.
    timestamp : str, optional
        Timestamp column (detected by name when omitted).
    name : str, default "data"
        File name, used in the parts' names and in messages.

    Returns
    -------
    WindowSplit

    Raises
    ------
    DataError
        If a window is malformed or empty, or the two windows overlap.

    Examples
    --------
    >>> df = pd.DataFrame({"timestamp": pd.date_range("2026-11-01", periods=30, freq="D")})
    >>> s = split_by_windows(df, production="2026-11-24,2026-11-30")
    >>> len(s.baseline), len(s.production)
    (23, 7)
    """
    col = timestamp_column(frame, timestamp, name=name)
    times = parse_timestamps(frame[col], name=name)
    prod, base, base_label = one_file_windows(production, baseline)
    in_prod, in_base = window_mask(times, prod), window_mask(times, base)
    _check_windows(in_base, in_prod, times, col, name, base.text, prod.text)
    names = (f"{name} [{base_label}]", f"{name} [{prod.text}]")
    return _split(frame, in_base, in_prod, names, times, col, name)


def one_file_windows(
    production: str | Window, baseline: str | Window | None = None
) -> tuple[Window, Window, str]:
    """Return the production and baseline windows of one file, and the baseline's label.

    Without a baseline window the baseline is every row before the production window (which
    then needs a START).

    Raises
    ------
    DataError
        If a window is malformed, or there is no baseline window and no production START.
    """
    prod = production if isinstance(production, Window) else parse_window(production)
    if baseline is None:
        if prod.start is None:
            raise DataError(
                f"--production-window {prod.text!r} has no START, so nothing comes before it; "
                "give a START or a --baseline-window."
            )
        base = Window(start=None, end=prod.start, text=f",{prod.text.split(',')[0]}")
        return prod, base, f"before {prod.text.split(',')[0].strip()}"
    base = (
        baseline
        if isinstance(baseline, Window)
        else parse_window(baseline, option="--baseline-window")
    )
    return prod, base, base.text


def _check_windows(
    in_base: NDArray[np.bool_],
    in_prod: NDArray[np.bool_],
    times: pd.Series,
    col: str,
    name: str,
    base_text: str,
    prod_text: str,
) -> None:
    known = times.dropna()
    span = f"{known.min()} .. {known.max()}" if len(known) else "no timestamps"
    counts = (int(in_base.sum()), int(in_prod.sum()), int((in_prod & in_base).sum()))
    check_window_counts(counts, span=span, col=col, name=name, texts=(base_text, prod_text))


def check_window_counts(
    counts: tuple[int, int, int], *, span: str, col: str, name: str, texts: tuple[str, str]
) -> None:
    """Refuse a cut of one file whose window holds no rows, or whose two windows share rows.

    Parameters
    ----------
    counts : (int, int, int)
        Rows in the baseline window, in the production window, and in both.
    span : str
        The timestamps' range, for the message.
    col, name : str
        The timestamp column and the file, for the message.
    texts : (str, str)
        The baseline and production windows as written.

    Raises
    ------
    DataError
        If a window is empty or the windows overlap.
    """
    base_text, prod_text = texts
    for rows, label, text in (
        (counts[1], "production", prod_text),
        (counts[0], "baseline", base_text),
    ):
        if not rows:
            raise DataError(
                f"{name}: the {label} window {text!r} holds no rows; column {col!r} spans {span}."
            )
    if counts[2]:
        raise DataError(
            f"{name}: the baseline window {base_text!r} and the production window "
            f"{prod_text!r} overlap; choose ranges that do not share rows."
        )


def _split(
    frame: pd.DataFrame,
    in_base: NDArray[np.bool_],
    in_prod: NDArray[np.bool_],
    names: tuple[str, str],
    times: pd.Series | None,
    col: str | None,
    name: str,
    drop: tuple[str, ...] = (),
) -> WindowSplit:
    outside = int((~in_base & ~in_prod).sum())
    no_time = int(times.isna().sum()) if times is not None and col is not None else 0
    notes = split_notes(outside, no_time, col=col, name=name, drop=drop)
    base = frame.loc[in_base].drop(columns=list(drop)).reset_index(drop=True)
    prod = frame.loc[in_prod].drop(columns=list(drop)).reset_index(drop=True)
    return WindowSplit(baseline=base, production=prod, names=names, notes=notes)


def split_notes(
    outside: int, no_time: int, *, col: str | None, name: str, drop: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """Return the notes of a cut of one file (`WindowSplit.notes`).

    Parameters
    ----------
    outside : int
        Rows in neither part (those without a timestamp included).
    no_time : int
        Rows without a readable timestamp (``col``; 0 for a cut by model version).
    col : str or None
        The timestamp column (None: a cut by model version).
    name : str
        The file, for the notes.
    drop : tuple of str
        Columns dropped because they identify the parts.
    """
    notes = []
    if col is not None and no_time:
        notes.append(f"{name}: {no_time:,} rows have no readable {col!r} and are left out")
        outside -= no_time
    if outside:
        notes.append(f"{name}: {outside:,} rows fall outside both the baseline and production")
    if drop:
        notes.append(f"{name}: column {', '.join(drop)} identifies the two parts and is dropped")
    return tuple(notes)


def last_days(
    frame: pd.DataFrame,
    *,
    days: int = 7,
    before: int = 30,
    timestamp: str | None = None,
    name: str = "data",
) -> WindowSplit:
    """Compare the last ``days`` whole days of a file with the ``before`` days just before.

    Days are calendar days in the timestamp column's zone; the last day is the day of the
    latest timestamp (it counts whole, even if the log stops mid-day).

    Parameters
    ----------
    frame : DataFrame
        The prediction log.
    days, before : int, default 7 and 30
        Lengths of the production and baseline windows, in days.
    timestamp : str, optional
        Timestamp column (detected by name when omitted).
    name : str, default "data"
        File name for the parts' names and messages.

    Returns
    -------
    WindowSplit

    Examples
    --------
    >>> df = pd.DataFrame({"timestamp": pd.date_range("2026-10-01", periods=61, freq="D")})
    >>> s = last_days(df, days=7, before=30)
    >>> s.names
    ('data [2026-10-25,2026-11-23]', 'data [2026-11-24,2026-11-30]')
    """
    _check_days(days, before)
    col = timestamp_column(frame, timestamp, name=name)
    times = parse_timestamps(frame[col], name=name)
    if times.isna().all():
        raise DataError(f"{name}: column {col!r} has no timestamps.")
    prod, base = _last_days(times.max().floor("D"), days, before)
    in_prod, in_base = window_mask(times, prod), window_mask(times, base)
    _check_windows(in_base, in_prod, times, col, name, base.text, prod.text)
    names = (f"{name} [{base.text}]", f"{name} [{prod.text}]")
    return _split(frame, in_base, in_prod, names, times, col, name)


def last_days_windows(last: date, *, days: int = 7, before: int = 30) -> tuple[str, str]:
    """Return the (production, baseline) windows of `last_days` as ``START,END`` text.

    The same cut as `last_days` on a file whose latest timestamp falls on day ``last``, as two
    windows a link (or ``--production-window``/``--baseline-window``) can carry.

    Parameters
    ----------
    last : date
        The day of the latest timestamp.
    days, before : int, default 7 and 30
        Lengths of the production and baseline windows, in days.

    Returns
    -------
    (str, str)
        The production window and the baseline window (inclusive dates).

    Raises
    ------
    DataError
        If ``days`` or ``before`` is below 1.

    Examples
    --------
    >>> last_days_windows(date(2026, 11, 30))
    ('2026-11-24,2026-11-30', '2026-10-25,2026-11-23')
    """
    _check_days(days, before)
    prod, base = _last_days(pd.Timestamp(last).floor("D"), days, before)
    return prod.text, base.text


def _check_days(days: int, before: int) -> None:
    if days < 1 or before < 1:
        raise DataError(f"last_days needs days >= 1 and before >= 1 (got {days}, {before}).")


def _last_days(last: pd.Timestamp, days: int, before: int) -> tuple[Window, Window]:
    """Return the production and baseline windows ending on day ``last`` (a midnight)."""
    prod_start = last - pd.Timedelta(days=days - 1)
    base_start = prod_start - pd.Timedelta(days=before)
    prod = Window(prod_start, last + _DAY, f"{prod_start:%Y-%m-%d},{last:%Y-%m-%d}")
    base_end = prod_start - _DAY
    base = Window(base_start, prod_start, f"{base_start:%Y-%m-%d},{base_end:%Y-%m-%d}")
    return prod, base


def period_text(start: Any, end: Any, freq: str | None = None) -> str:
    """Return the ``START,END`` window of one time-series period ``[start, end)``.

    Parameters
    ----------
    start, end : Timestamp or str
        The period's bounds (`tracing.timeline.Timeline.table`'s ``start`` and ``end``).
    freq : {"day", "week", "hour"}, optional
        Days and weeks are written as inclusive dates (``2026-11-02,2026-11-02``), which read
        well in a link and select the same rows as the exact bounds (dates are read in the
        timestamp column's own zone, where periods start at midnight). Hours, and no ``freq``,
        keep the exact bounds (END exclusive).

    Returns
    -------
    str

    Examples
    --------
    >>> period_text("2026-11-02T00:00+01:00", "2026-11-03T00:00+01:00", "day")
    '2026-11-02,2026-11-02'
    >>> period_text("2026-11-02T00:00+01:00", "2026-11-03T00:00+01:00")
    '2026-11-02T00:00:00+01:00,2026-11-03T00:00:00+01:00'
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if freq in (None, "hour"):
        return f"{start.isoformat()},{end.isoformat()}"
    last = (end - pd.Timedelta(hours=12)).normalize()  # the period's last day, DST-proof
    return f"{start:%Y-%m-%d},{last:%Y-%m-%d}"


def trace_windows(start: Any, end: Any, freq: str, *, before: int) -> tuple[str, str]:
    """Return the (production, baseline) windows that trace one period of a time series.

    Production is the period (`period_text`); the baseline is the ``before`` periods of the
    same length just before it (a rolling band's window), for a baseline cut from the same
    file. A baseline file or a baseline model version stays as it is instead.

    Parameters
    ----------
    start, end : Timestamp or str
        The period ``[start, end)``.
    freq : {"day", "week", "hour"}
        The period length (see `period_text` for how each is written).
    before : int
        How many periods of the same length the baseline spans.

    Returns
    -------
    (str, str)
        The production window and the baseline window.

    Examples
    --------
    >>> trace_windows("2026-11-02", "2026-11-03", "day", before=30)
    ('2026-11-02,2026-11-02', '2026-10-03,2026-11-01')
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    earlier = start - before * (end - start)
    return period_text(start, end, freq), period_text(earlier, start, freq)


def model_versions(frame: pd.DataFrame, *, column: str = VERSION_COLUMN) -> list[Any]:
    """Distinct model versions, in order of first appearance (empty if there is no column)."""
    if column not in frame.columns:
        return []
    return list(pd.unique(frame[column].dropna()))


def check_versions(
    versions: tuple[Any, Any], rows: tuple[int, int], *, column: str, name: str, listed: str
) -> None:
    """Refuse a version with no rows (matched as text), or the same version on both sides.

    Parameters
    ----------
    versions : (object, object)
        The baseline and production versions.
    rows : (int, int)
        Rows whose ``column``, as text, is each version.
    column, name : str
        The version column and the file, for messages.
    listed : str
        The versions the file holds, for messages.

    Raises
    ------
    DataError
        If a version has no rows, or both are the same.
    """
    for version, count in zip(versions, rows, strict=True):
        if not count:
            raise DataError(
                f"{name}: model version {version!r} is not in {column!r}; choose from: {listed}."
            )
    if str(versions[0]) == str(versions[1]):
        raise DataError(f"{name}: baseline and production are the same version {versions[0]!r}.")


def split_by_version(
    frame: pd.DataFrame,
    *,
    baseline: Any = None,
    production: Any = None,
    column: str = VERSION_COLUMN,
    name: str = "data",
) -> WindowSplit:
    """Rows of one model version (baseline) against another (production), same file.

    Parameters
    ----------
    frame : DataFrame
        Predictions of several model versions.
    baseline, production : object, optional
        The two versions. With exactly two versions in the file they may be omitted: the one
        that appears first in the file is the baseline (the champion), the other production.
        Values are matched as text, so ``"2"`` selects the integer version 2.
    column : str, default "model_version"
        The version column. It is constant within each part, so it is dropped.
    name : str, default "data"
        File name for the parts' names and messages.

    Returns
    -------
    WindowSplit

    Raises
    ------
    DataError
        If the column is missing, a version is unknown, or the versions are ambiguous.
    """
    if column not in frame.columns:
        raise DataError(
            f"{name}: no model version column {column!r}; available columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    versions = model_versions(frame, column=column)
    if baseline is None and production is None and len(versions) == 2:
        baseline, production = versions
    listed = ", ".join(map(str, versions))
    if baseline is None or production is None:
        raise DataError(
            f"{name}: choose the baseline and production versions of {column!r} (found: {listed})."
        )
    text = frame[column].astype("string")
    masks = [(text == str(v)).fillna(False).to_numpy(dtype=bool) for v in (baseline, production)]
    check_versions(
        (baseline, production),
        (int(masks[0].sum()), int(masks[1].sum())),
        column=column,
        name=name,
        listed=listed,
    )
    names = (f"{name} [{column}={baseline}]", f"{name} [{column}={production}]")
    return _split(frame, masks[0], masks[1], names, None, None, name, drop=(column,))
