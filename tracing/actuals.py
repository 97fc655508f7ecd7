"""Delayed actuals: join a separate actuals file to the predictions by prediction id.

Actuals often arrive days after the prediction, in their own feed (prediction id, actual,
optionally the time the actual became known), and sometimes more than once for the same id
(a chargeback reversed, a churn label corrected). `join_actuals` attaches them to the
predictions and says exactly what happened in a `JoinReport`:

- **Later actuals replace earlier ones** for the same id: ordered by the actuals' timestamp
  when there is one (rows without a timestamp count as the oldest), else by file order.
- Actual rows whose actual value is missing are ignored (a later empty row does not erase an
  earlier value); rows without an id cannot be joined. Both are counted.
- **The actuals file is the source of truth**: the predictions' own actual column, if any, is
  replaced, and predictions with no actual in the file end up without one (counted).
- Ids are compared as they are, or as text when one side is numeric and the other text.
- **No prediction row is ever dropped**: the result has the predictions' rows, in order, with
  their index. Actuals whose id matches no prediction are counted, not added.

Metrics then use only rows with actuals and say how many (`tracing.analysis` notes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tracing.errors import DataError
from tracing.schema import detect_roles
from tracing.windows import parse_timestamps

__all__ = ["JoinReport", "join_actuals", "join_actuals_file", "join_columns"]

# Names of the time an actual became known, besides the usual timestamp names.
_ACTUAL_TIME_NAMES = ("actual_timestamp", "actual_time", "label_timestamp", "labeled_at")


@dataclass(frozen=True)
class JoinReport:
    """What joining an actuals file did.

    Attributes
    ----------
    id_column, actual_column : str
        The join key and the actual column (same names on both sides of the result).
    timestamp_column : str or None
        The actuals' timestamp used to order repeated ids (None: file order).
    predictions : int
        Prediction rows (all kept).
    with_actuals, without_actuals : int
        Prediction rows that did / did not get an actual.
    duplicate_prediction_ids : int
        Ids that occur on more than one prediction row (each such row gets the actual).
    predictions_without_id : int
        Prediction rows with a missing id (they cannot get an actual).
    actual_rows : int
        Rows in the actuals file.
    actuals_without_id, empty_actuals : int
        Actual rows with a missing id, or a missing actual value: ignored.
    duplicate_actual_ids : int
        Ids with more than one usable actual row; the latest wins.
    superseded_actuals : int
        Actual rows replaced by a later one for the same id.
    unmatched_actuals : int
        Ids in the actuals file (after de-duplication) that match no prediction.
    replaced_existing : int
        Prediction rows whose own actual value was replaced (or cleared) by the join.
    """

    id_column: str
    actual_column: str
    timestamp_column: str | None
    predictions: int
    with_actuals: int
    without_actuals: int
    duplicate_prediction_ids: int
    predictions_without_id: int
    actual_rows: int
    actuals_without_id: int
    empty_actuals: int
    duplicate_actual_ids: int
    superseded_actuals: int
    unmatched_actuals: int
    replaced_existing: int

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (the field names above)."""
        return asdict(self)

    def notes(self, name: str = "actuals") -> tuple[str, ...]:
        """One-line notes for the user, for every count that is not zero."""
        out = [
            f"{name}: {self.with_actuals:,} of {self.predictions:,} predictions have an actual "
            f"({self.without_actuals:,} without)"
        ]
        parts = [
            (
                self.superseded_actuals,
                f"rows replaced by a later actual for the same id "
                f"({self.duplicate_actual_ids:,} ids had several)",
            ),
            (self.unmatched_actuals, "ids match no prediction"),
            (self.actuals_without_id, f"rows have no {self.id_column!r} and were ignored"),
            (self.empty_actuals, f"rows have an empty {self.actual_column!r} and were ignored"),
        ]
        out += [f"{name}: {count:,} actual {what}" for count, what in parts if count]
        if self.duplicate_prediction_ids:
            out.append(
                f"{name}: {self.duplicate_prediction_ids:,} prediction ids occur on several "
                "prediction rows; each of those rows got the actual"
            )
        if self.predictions_without_id:
            out.append(
                f"{name}: {self.predictions_without_id:,} predictions have no "
                f"{self.id_column!r} and cannot get an actual"
            )
        if self.replaced_existing:
            out.append(
                f"{name}: the predictions' own {self.actual_column!r} was replaced on "
                f"{self.replaced_existing:,} rows (the actuals file wins)"
            )
        return tuple(out)


def join_actuals(
    predictions: pd.DataFrame,
    actuals: pd.DataFrame,
    *,
    id_column: str,
    actual_column: str,
    timestamp_column: str | None = None,
    names: tuple[str, str] = ("predictions", "actuals"),
) -> tuple[pd.DataFrame, JoinReport]:
    """Attach delayed actuals to predictions by prediction id.

    Parameters
    ----------
    predictions : DataFrame
        The prediction log; must have ``id_column``.
    actuals : DataFrame
        The actuals feed; must have ``id_column`` and ``actual_column``.
    id_column : str
        The prediction id, same name in both frames.
    actual_column : str
        The actual in the actuals frame; the result carries it under the same name.
    timestamp_column : str, optional
        When the actual became known (in the actuals frame); orders repeated ids. If the
        predictions lack a column of that name, the result gets it too.
    names : (str, str)
        File names for messages.

    Returns
    -------
    frame : DataFrame
        The predictions (every row, same order and index) with the joined actual column.
    report : JoinReport

    Raises
    ------
    DataError
        If a named column is missing.

    Examples
    --------
    >>> preds = pd.DataFrame({"prediction_id": ["a", "b", "c"], "prediction_label": [1, 0, 1]})
    >>> acts = pd.DataFrame({"prediction_id": ["a", "b", "a", "z"], "actual_label": [0, 0, 1, 1]})
    >>> out, rep = join_actuals(preds, acts, id_column="prediction_id",
    ...                         actual_column="actual_label")
    >>> out["actual_label"].tolist(), rep.with_actuals, rep.unmatched_actuals
    ([1, 0, <NA>], 2, 1)
    """
    _require(predictions, [id_column], names[0])
    needed = [id_column, actual_column] + ([timestamp_column] if timestamp_column else [])
    _require(actuals, needed, names[1])
    usable, counts = _usable_actuals(actuals, id_column, actual_column, timestamp_column, names)
    pred_ids, act_ids = _comparable(predictions[id_column], usable[id_column])
    # One factorisation of both id columns; everything else is integer arithmetic.
    codes, uniques = pd.factorize(pd.concat([act_ids, pred_ids], ignore_index=True))
    act_codes, pred_codes = codes[: len(act_ids)], codes[len(act_ids) :]
    latest = np.full(len(uniques), -1, dtype=np.int64)
    # Rows are in time order, so the largest row number per id is its latest actual.
    np.maximum.at(latest, act_codes, np.arange(len(act_codes)))
    position = np.where(pred_codes >= 0, latest[np.maximum(pred_codes, 0)], -1)
    matched = position >= 0
    joined = _nullable(_take(usable[actual_column], position), actuals[actual_column])
    out = predictions.copy()
    replaced = 0
    if actual_column in predictions.columns:
        old = predictions[actual_column]
        replaced = int((old.notna().to_numpy() & ~_same(old, joined)).sum())
    out[actual_column] = joined.to_numpy() if matched.all() else joined.array
    if timestamp_column and timestamp_column not in predictions.columns:
        out[timestamp_column] = _take(usable[timestamp_column], position).array
    per_act = np.bincount(act_codes, minlength=len(uniques))
    per_pred = np.bincount(pred_codes[pred_codes >= 0], minlength=len(uniques))
    report = JoinReport(
        id_column=id_column,
        actual_column=actual_column,
        timestamp_column=timestamp_column,
        predictions=len(predictions),
        with_actuals=int(matched.sum()),
        without_actuals=int((~matched).sum()),
        duplicate_prediction_ids=int((per_pred > 1).sum()),
        predictions_without_id=int((pred_codes < 0).sum()),
        actual_rows=len(actuals),
        actuals_without_id=counts["actuals_without_id"],
        empty_actuals=counts["empty_actuals"],
        duplicate_actual_ids=int((per_act > 1).sum()),
        superseded_actuals=int(len(act_codes) - (per_act > 0).sum()),
        unmatched_actuals=int(((per_act > 0) & (per_pred == 0)).sum()),
        replaced_existing=replaced,
    )
    return out, report


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    for col in columns:
        if col not in frame.columns:
            raise DataError(
                f"{name}: column {col!r} is missing; available columns: "
                f"{', '.join(map(str, frame.columns))}."
            )


def _usable_actuals(
    actuals: pd.DataFrame,
    id_column: str,
    actual_column: str,
    timestamp_column: str | None,
    names: tuple[str, str],
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Actual rows with an id and a value, oldest first (index reset)."""
    no_id = actuals[id_column].isna().to_numpy()
    empty = actuals[actual_column].isna().to_numpy() & ~no_id
    keep = [c for c in (id_column, actual_column, timestamp_column) if c]
    usable = actuals.loc[~no_id & ~empty, keep]
    if timestamp_column:
        stamps = parse_timestamps(usable[timestamp_column], name=names[1])
        # Stable sort: equal (or missing, sorted first) timestamps keep their file order.
        usable = usable.assign(**{timestamp_column: stamps}).sort_values(
            timestamp_column, kind="stable", na_position="first"
        )
    counts = {"actuals_without_id": int(no_id.sum()), "empty_actuals": int(empty.sum())}
    return usable.reset_index(drop=True), counts


def _comparable(pred_ids: pd.Series, act_ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Make the two id columns comparable: as they are, or as text when the kinds differ."""
    numeric = [pd.api.types.is_numeric_dtype(s.dtype) for s in (pred_ids, act_ids)]
    if numeric[0] == numeric[1]:
        return pred_ids, act_ids
    return _id_text(pred_ids), _id_text(act_ids)


def _id_text(ids: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(ids.dtype):
        # 12.0 (an integer id read as float because of gaps) must match "12".
        whole = ids.dropna() % 1 == 0
        if whole.all():
            ids = ids.astype("Int64")
    return ids.astype("string").str.strip()


def _same(old: pd.Series, new: pd.Series) -> Any:
    """Element-wise equality that tolerates 1 vs 1.0 vs "1" (value, then text)."""
    a, b = old.reset_index(drop=True), new.reset_index(drop=True)
    equal = (a.astype("string") == b.astype("string")).fillna(False).to_numpy(dtype=bool)
    with contextlib.suppress(TypeError, ValueError):  # incomparable kinds: text decides
        equal |= (a == b).fillna(False).to_numpy(dtype=bool)
    return equal


def _take(column: pd.Series, position: Any) -> pd.Series:
    """Values at ``position`` (-1 gives a missing value), with a fresh index."""
    if len(column) == 0:
        empty: pd.Series = pd.Series([None] * len(position), dtype=object)
        return empty.astype(column.dtype)
    taken = column.iloc[np.maximum(position, 0)].reset_index(drop=True)
    out: pd.Series = taken.where(pd.Series(position >= 0))
    return out


def _nullable(values: pd.Series, like: pd.Series) -> pd.Series:
    """Keep the actual column's kind; integers and booleans become nullable when rows miss."""
    if not values.isna().any():
        return values.astype(like.dtype) if len(values) else values
    if pd.api.types.is_bool_dtype(like.dtype):
        return values.astype("boolean")
    if pd.api.types.is_integer_dtype(like.dtype):
        # Integers stay integers: the positive-class rule matches 1, not 1.0.
        out: pd.Series = values.astype("Int64")
        return out
    return values


def join_actuals_file(
    predictions: pd.DataFrame,
    actuals: pd.DataFrame,
    *,
    roles: Mapping[str, Any] | None = None,
    names: tuple[str, str] = ("predictions", "actuals"),
) -> tuple[pd.DataFrame, JoinReport]:
    """`join_actuals` with the columns found by name (for ``--actuals PATH``).

    The id column is the ``prediction_id`` role (given in ``roles`` or detected by name) if the
    actuals have it. The actual column is the predictions' ``actual_label`` role if the actuals
    have a column of that name, else the actuals' detected actual column. The timestamp is a
    column named like ``actual_timestamp``/``labeled_at``, else the actuals' detected timestamp
    when that name is not also the predictions' timestamp.

    Parameters
    ----------
    predictions, actuals : DataFrame
        The prediction log and the actuals feed.
    roles : mapping, optional
        Explicit column roles of the predictions (``prediction_id``, ``actual_label``...).
    names : (str, str)
        File names for messages.

    Returns
    -------
    frame : DataFrame
    report : JoinReport
    """
    pred_cols = [str(c) for c in predictions.columns]
    act_cols = [str(c) for c in actuals.columns]
    id_col, actual, stamp = join_columns(pred_cols, act_cols, roles=roles, names=names)
    return join_actuals(
        predictions,
        actuals,
        id_column=id_col,
        actual_column=actual,
        timestamp_column=stamp,
        names=names,
    )


def join_columns(
    pred_cols: Sequence[str],
    act_cols: Sequence[str],
    *,
    roles: Mapping[str, Any] | None = None,
    names: tuple[str, str] = ("predictions", "actuals"),
) -> tuple[str, str, str | None]:
    """Return the id, actual and timestamp columns `join_actuals_file` joins on (by name).

    The one decision for both engines (see `join_actuals_file`; the SQL engines join in
    `tracing.engine_rows`).

    Raises
    ------
    DataError
        If the files share no id column or the actuals have no actual column.
    """
    roles = dict(roles or {})
    pred_cols, act_cols = [str(c) for c in pred_cols], [str(c) for c in act_cols]
    pred_roles = detect_roles(pred_cols, overrides=_present(roles, pred_cols))
    act_roles = detect_roles(act_cols)
    id_col = roles.get("prediction_id") or pred_roles.prediction_id or act_roles.prediction_id
    if not id_col or id_col not in act_cols or id_col not in pred_cols:
        raise DataError(
            f"{names[1]}: no prediction id column shared with {names[0]}; both files need the "
            f"same id column (name it with --id). Columns: {', '.join(act_cols)}."
        )
    actual = roles.get("actual_label") or pred_roles.actual_label
    if not actual or actual not in act_cols:
        actual = act_roles.actual_label
    if not actual or actual == id_col:
        raise DataError(
            f"{names[1]}: no actual column found; name it like the predictions' actual column "
            f"(--actual) or 'actual_label'. Columns: {', '.join(act_cols)}."
        )
    stamp = next((c for c in act_cols if c.lower() in _ACTUAL_TIME_NAMES), None)
    if stamp is None and act_roles.timestamp and act_roles.timestamp != pred_roles.timestamp:
        stamp = act_roles.timestamp
    return id_col, actual, stamp


def _present(roles: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    """Only the role overrides that name columns of this frame (the others are for later)."""
    keep = {}
    for role, value in roles.items():
        usable = isinstance(value, str) and value in columns
        if usable and role in ("prediction_id", "timestamp", "actual_label", "prediction_label"):
            keep[role] = value
    return keep
