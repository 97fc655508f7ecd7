"""Column roles and model type: which column is the prediction, the actual, the features...

Role names follow Arize's schema (``prediction_id``, ``timestamp``, ``prediction_label``,
``prediction_score``, ``actual_label``, ``actual_score``, ``features``, ``tags``, SHAP columns
``<feature>_shap``), so a user's Arize mapping carries over. `detect_roles` guesses every role
from common column names; anything passed explicitly wins. `resolve_schema` then infers the model
type from the labels and picks the positive class.

Positive class rule (binary): an explicit ``positive_class`` wins; otherwise the first of
``1``/``True``/``"1"``/``"true"``/``"yes"`` present among the labels; otherwise the minority class
of the actuals (ties: the larger value in sort order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from tracing.errors import DataError

__all__ = [
    "ColumnRoles",
    "ModelType",
    "Schema",
    "check_threshold",
    "only_columns",
    "shared_columns",
    "detect_roles",
    "infer_model_type",
    "resolve_schema",
]


def shared_columns(first: Iterable[Any], second: Iterable[Any]) -> list[Any]:
    """Return the columns of ``first`` that ``second`` also has, in ``first``'s order.

    Linear time: ``second`` is made a set once (10,000 columns take milliseconds, where a set
    rebuilt per column took minutes).

    Examples
    --------
    >>> shared_columns(["a", "b", "c"], ["c", "a"])
    ['a', 'c']
    """
    other = set(second)
    return [c for c in first if c in other]


def only_columns(first: Iterable[Any], second: Iterable[Any]) -> list[Any]:
    """Return the columns of ``first`` that ``second`` lacks, in ``first``'s order (linear).

    Examples
    --------
    >>> only_columns(["a", "b", "c"], ["c", "a"])
    ['b']
    """
    other = set(second)
    return [c for c in first if c not in other]


class ModelType(StrEnum):
    """The kind of model, which decides the applicable metrics."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


# Candidate names per role, most specific first; matched case-insensitively after dropping
# separators ("Prediction Label" == "prediction_label" == "predictionLabel").
_NAMES: dict[str, tuple[str, ...]] = {
    "prediction_id": ("predictionid", "id", "predid", "eventid", "transactionid", "rowid"),
    "timestamp": (
        "timestamp",
        "predictiontimestamp",
        "predictiontime",
        "time",
        "datetime",
        "date",
        "eventtime",
        "ts",
        "createdat",
        "requestedat",
    ),
    "prediction_label": (
        "predictionlabel",
        "prediction",
        "predictedlabel",
        "predicted",
        "pred",
        "ypred",
        "yhat",
        "predictedclass",
        "predictedvalue",
        "forecast",
    ),
    "prediction_score": (
        "predictionscore",
        "score",
        "proba",
        "probability",
        "ypredproba",
        "predproba",
        "predictedprobability",
        "predictionprobability",
        "yscore",
    ),
    "actual_label": (
        "actuallabel",
        "actual",
        "label",
        "target",
        "ytrue",
        "truth",
        "groundtruth",
        "y",
        "actualvalue",
        "outcome",
    ),
    "actual_score": ("actualscore",),
}
_PREFIXES: dict[str, tuple[str, ...]] = {
    "prediction_label": ("predicted", "prediction"),
    "actual_label": ("actual",),
}
_SHAP_SUFFIX = "_shap"
_TRUTHY_TEXT = ("1", "true", "yes")
_MAX_CLASSES = 200


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class ColumnRoles:
    """Which column plays which role. Every field may be empty (``None`` or ``()``).

    Attributes
    ----------
    prediction_id, timestamp : str or None
        Unique prediction id (joins delayed actuals) and event time.
    prediction_label : str or None
        The predicted class or, for regression, the predicted value.
    prediction_score : tuple of str
        One probability column (binary: of the positive class), or one per class (multiclass).
    actual_label, actual_score : str or None
        The ground truth (class or value) and an optional actual score.
    features, tags : tuple of str
        Model inputs, and extra columns to slice by that are not model inputs.
    shap : tuple of (str, str)
        Pairs ``(feature, shap_column)`` of logged per-row SHAP values.
    """

    prediction_id: str | None = None
    timestamp: str | None = None
    prediction_label: str | None = None
    prediction_score: tuple[str, ...] = ()
    actual_label: str | None = None
    actual_score: str | None = None
    features: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    shap: tuple[tuple[str, str], ...] = ()

    def assigned(self) -> set[str]:
        """Return every column with a non-feature role."""
        cols = {
            self.prediction_id,
            self.timestamp,
            self.prediction_label,
            self.actual_label,
            self.actual_score,
            *self.prediction_score,
            *self.tags,
            *(s for _, s in self.shap),
        }
        return {c for c in cols if c}

    def slice_columns(self) -> tuple[str, ...]:
        """Return the columns slices and drift are computed on: features, then tags."""
        return tuple(dict.fromkeys((*self.features, *self.tags)))


@dataclass(frozen=True)
class Schema:
    """Column roles plus everything needed to compute metrics.

    Attributes
    ----------
    roles : ColumnRoles
        The column roles.
    model_type : ModelType
        Binary, multiclass or regression.
    positive_class : object or None
        Binary only: the label counted as positive.
    classes : tuple
        Classification only: every class seen in actuals or predictions, sorted.
    threshold : float
        Binary only: predicted label = score >= threshold when no label column exists.
    """

    roles: ColumnRoles
    model_type: ModelType
    positive_class: Any = None
    classes: tuple[Any, ...] = ()
    threshold: float = 0.5


def detect_roles(
    columns: Iterable[str],
    *,
    overrides: Mapping[str, Any] | None = None,
) -> ColumnRoles:
    """Guess column roles from column names; explicit ``overrides`` always win.

    Parameters
    ----------
    columns : iterable of str
        Column names, in file order.
    overrides : mapping, optional
        Role name -> column (or tuple of columns for ``prediction_score``, ``features``,
        ``tags``). A role set to ``None`` or ``()`` explicitly means "no such column".

    Returns
    -------
    ColumnRoles
        Features default to every column without another role.

    Raises
    ------
    DataError
        If an override names a column that does not exist.

    Examples
    --------
    >>> r = detect_roles(["id", "state", "pred", "label", "score"])
    >>> (r.prediction_id, r.prediction_label, r.actual_label, r.prediction_score, r.features)
    ('id', 'pred', 'label', ('score',), ('state',))
    """
    cols = list(columns)
    overrides = dict(overrides or {})
    _check_overrides(cols, overrides)
    taken: set[str] = set()
    for value in overrides.values():
        taken.update(_as_tuple(value))
    found: dict[str, Any] = {}
    # Scores first, so that the prefix rules for labels ("prediction...", "actual...") cannot
    # take "prediction_score" or "actual_score".
    for role in (
        "prediction_id",
        "timestamp",
        "prediction_score",
        "actual_score",
        "prediction_label",
        "actual_label",
    ):
        if role in overrides:
            found[role] = overrides[role]
            continue
        hit: str | tuple[str, ...] | None = _match(cols, role, taken)
        if hit is None and role == "prediction_score":
            hit = _class_score_columns(cols, taken) or None
        taken.update(_as_tuple(hit))
        found[role] = hit
    found["prediction_score"] = _as_tuple(found.get("prediction_score"))
    shap = _shap_pairs(cols)
    found["shap"] = tuple(overrides.get("shap", shap))
    found["tags"] = _as_tuple(overrides.get("tags"))
    roles = ColumnRoles(**{k: v for k, v in found.items() if k != "features"})
    if "features" in overrides and overrides["features"]:
        features = _as_tuple(overrides["features"])
    else:
        used = roles.assigned()
        features = tuple(c for c in cols if c not in used)
    return replace(roles, features=features)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, Mapping):
        return tuple(value.values())
    return tuple(value)


def _check_overrides(cols: Sequence[str], overrides: Mapping[str, Any]) -> None:
    known = {*_NAMES, "features", "tags", "shap"}
    for role, value in overrides.items():
        if role not in known:
            raise DataError(
                f"unknown column role {role!r}; valid roles: {', '.join(sorted(known))}."
            )
        names = [s for _, s in value] if role == "shap" else list(_as_tuple(value))
        for name in names:
            if name not in cols:
                raise DataError(
                    f"column {name!r} (given as {role}) is not in the data; "
                    f"available columns: {', '.join(cols)}."
                )


def _match(cols: Sequence[str], role: str, taken: set[str]) -> str | None:
    free = [c for c in cols if c not in taken and not c.endswith(_SHAP_SUFFIX)]
    by_norm = {_norm(c): c for c in reversed(free)}
    for candidate in _NAMES[role]:
        if candidate in by_norm:
            return by_norm[candidate]
    for prefix in _PREFIXES.get(role, ()):
        for c in free:
            if _norm(c).startswith(prefix):
                return c
    return None


_CLASS_SCORE = re.compile(
    r"^(prediction_score|score|proba|probability|prob)[_:\[ -](.+?)\]?$", re.I
)


def _class_score_columns(cols: Sequence[str], taken: set[str]) -> tuple[str, ...]:
    """Multiclass scores, one column per class: ``score_<class>``, ``proba_<class>``..."""
    hits = [c for c in cols if c not in taken and _CLASS_SCORE.match(c)]
    return tuple(hits) if len(hits) >= 2 else ()


def score_column_class(column: str) -> str:
    """Return the class a per-class score column is for (``"proba_cat"`` -> ``"cat"``)."""
    hit = _CLASS_SCORE.match(column)
    return hit.group(2) if hit else column


def _shap_pairs(cols: Sequence[str]) -> tuple[tuple[str, str], ...]:
    present = set(cols)
    return tuple(
        (c[: -len(_SHAP_SUFFIX)], c)
        for c in cols
        if c.endswith(_SHAP_SUFFIX) and c[: -len(_SHAP_SUFFIX)] in present
    )


def infer_model_type(actual: pd.Series | None, prediction: pd.Series | None) -> ModelType:
    """Infer binary / multiclass / regression from the label columns.

    Two distinct values (or booleans) mean binary. Otherwise floats mean regression; integers
    with up to 20 distinct values, and text, mean multiclass; integers with more are regression.
    Pass ``model_type`` explicitly to override.

    Parameters
    ----------
    actual, prediction : pandas.Series or None
        The actual and predicted labels (either may be missing).

    Returns
    -------
    ModelType
    """
    values = unify_labels([s.dropna() for s in (actual, prediction) if s is not None])
    if not values:
        raise DataError(
            "no prediction or actual column found; name one with --prediction/--actual "
            "(or pick it on the Data page)."
        )
    both = pd.concat(values, ignore_index=True)
    if pd.api.types.is_bool_dtype(both.dtype):
        return ModelType.BINARY
    if pd.api.types.is_numeric_dtype(both.dtype):
        numbers = both.to_numpy(dtype=float, na_value=np.nan)
        if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
            return ModelType.REGRESSION
        n = len(np.unique(numbers))
        if n <= 2:
            return ModelType.BINARY
        if pd.api.types.is_float_dtype(both.dtype):
            return ModelType.REGRESSION  # whole-number floats are still measurements
        return ModelType.MULTICLASS if n <= 20 else ModelType.REGRESSION
    n = both.nunique()
    return ModelType.BINARY if n <= 2 else ModelType.MULTICLASS


def resolve_schema(
    frames: Sequence[pd.DataFrame],
    roles: ColumnRoles,
    *,
    model_type: ModelType | str | None = None,
    positive_class: Any = None,
    threshold: float = 0.5,
) -> Schema:
    """Combine roles with the model type, classes and positive class.

    Parameters
    ----------
    frames : sequence of DataFrame
        Baseline and production (actuals of both decide classes and the type).
    roles : ColumnRoles
        Column roles; must name a prediction label or a score.
    model_type : ModelType or str, optional
        Overrides the inferred type.
    positive_class : object, optional
        Binary only; see the module docstring for the default. A string is matched against
        the labels' text form, so ``"1"`` selects the integer label 1.
    threshold : float, default 0.5
        Binary only: score cut-off when there is no prediction label column.

    Returns
    -------
    Schema
    """
    if not roles.prediction_label and not roles.prediction_score:
        raise DataError(
            "no prediction column found; name it with --prediction (label/value) or --score "
            "(probability), or pick it on the Data page."
        )
    actual = _stack(frames, roles.actual_label)
    pred = _stack(frames, roles.prediction_label)
    if model_type is None:
        if pred is None and actual is None:
            mtype = ModelType.BINARY if len(roles.prediction_score) == 1 else ModelType.MULTICLASS
        else:
            mtype = infer_model_type(actual, pred)
    else:
        mtype = _parse_model_type(model_type)
    check_threshold(threshold)
    if mtype is ModelType.REGRESSION:
        return Schema(roles=roles, model_type=mtype)
    if len(frames) == 2:
        for column in (roles.actual_label, roles.prediction_label):
            _check_label_sets(frames[0], frames[1], column)
    classes = _classes(actual, pred, roles)
    if mtype is ModelType.BINARY and len(classes) > 2:
        raise DataError(
            f"model type is binary but the labels have {len(classes)} classes "
            f"({', '.join(map(str, classes[:6]))}...); use --model-type multiclass."
        )
    if mtype is ModelType.MULTICLASS and len(classes) > _MAX_CLASSES:
        raise DataError(
            f"{len(classes)} distinct labels is too many for a classifier; "
            "use --model-type regression if the target is a number."
        )
    pos = _positive_class(classes, actual, positive_class) if mtype is ModelType.BINARY else None
    return Schema(
        roles=roles, model_type=mtype, positive_class=pos, classes=classes, threshold=threshold
    )


def check_threshold(threshold: Any, *, option: str = "threshold") -> float:
    """Return ``threshold`` as a float, or refuse one outside [0, 1] or not a number.

    Parameters
    ----------
    threshold : object
        The score cut-off of a binary model.
    option : str, default "threshold"
        The option's name in the message (``--threshold`` in the CLI).

    Raises
    ------
    DataError
        NaN, infinite, below 0, above 1, or not a number.

    Examples
    --------
    >>> check_threshold(0.3)
    0.3
    """
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise DataError(
            f"{option} {threshold!r} is not valid: use a number between 0 and 1 (the score "
            "at or above which a prediction counts as positive)."
        )
    return value


def _label_kind(series: pd.Series) -> str:
    kinds = {"text" if isinstance(v, str) else "number" for v in _sample(series)}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _check_label_sets(
    baseline: pd.DataFrame, production: pd.DataFrame, column: str | None
) -> None:
    """Refuse labels of different types in the two files unless they mean the same values.

    ``1``, ``1.0``, ``"1"`` and ``True`` are one label (they share a text form, see
    `unify_labels`); ``"yes"``/``"no"`` against ``1``/``0`` are not, and comparing them would
    make a binary model look multiclass with every prediction wrong.
    """
    if not column or column not in baseline.columns or column not in production.columns:
        return
    b, p = baseline[column].dropna(), production[column].dropna()
    if b.empty or p.empty or _label_kind(b) == _label_kind(p):
        return
    keys_b = {_label_text(v) for v in b.unique()[:1000]}
    keys_p = {_label_text(v) for v in p.unique()[:1000]}
    if keys_p <= keys_b or keys_b <= keys_p:
        return

    def shown(keys: set[str]) -> str:
        items = sorted(keys)
        return ", ".join(map(repr, items[:10])) + (", ..." if len(items) > 10 else "")

    raise DataError(
        f"column {column!r} holds different labels in the baseline ({shown(keys_b)}) and in "
        f"production ({shown(keys_p)}); recode one file so both use the same labels (e.g. "
        "1/0 in both, or yes/no in both)."
    )


def _parse_model_type(value: ModelType | str) -> ModelType:
    try:
        return ModelType(str(value).lower())
    except ValueError:
        valid = ", ".join(m.value for m in ModelType)
        raise DataError(f"unknown model type {value!r}; choose one of: {valid}.") from None


def _stack(frames: Sequence[pd.DataFrame], column: str | None) -> pd.Series | None:
    if not column:
        return None
    parts = unify_labels([f[column] for f in frames if column in f.columns])
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True)


def unify_labels(parts: list[pd.Series]) -> list[pd.Series]:
    """Write labels as text everywhere when some files hold them as text and others as numbers.

    The same label saved as ``1`` in one file and ``"1"`` in another (or in the prediction vs
    the actual column) must be one class, not two.
    """
    kinds = {str if isinstance(v, str) else float for p in parts for v in _sample(p)}
    if len(kinds) < 2:
        return parts
    return [p.map(_label_text, na_action="ignore").astype(object) for p in parts]


def _sample(series: pd.Series) -> list[Any]:
    """Return a few distinct non-missing label values, enough to tell text from numbers."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return ["text"]
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return [0.0]
    return list(series.dropna().unique()[:1000])


def _label_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"  # True, 1 and "1" are the same label
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))  # 1.0 and 1 are the same label
    return str(value)


def _classes(actual: pd.Series | None, pred: pd.Series | None, roles: ColumnRoles) -> tuple:
    parts = unify_labels([s.dropna() for s in (actual, pred) if s is not None])
    if not parts:
        # Scores only: the class names come from the score columns.
        if len(roles.prediction_score) > 1:
            return tuple(score_column_class(c) for c in roles.prediction_score)
        return (False, True)
    values = pd.concat(parts, ignore_index=True).unique().tolist()
    try:
        return tuple(sorted(values))
    except TypeError:  # mixed types: sort by text, keep the original values
        return tuple(sorted(values, key=str))


def _positive_class(classes: tuple, actual: pd.Series | None, given: Any) -> Any:
    if given is not None:
        for c in classes:
            if c == given or str(c) == str(given) or str(c).lower() == str(given).lower():
                return c
        raise DataError(
            f"positive class {given!r} is not among the labels; "
            f"choose one of: {', '.join(map(str, classes))}."
        )
    for c in classes:  # 1, 1.0, True, numpy's 1
        if not isinstance(c, str) and c == 1:
            return c
    for c in classes:
        if isinstance(c, str) and c.strip().lower() in _TRUTHY_TEXT:
            return c
    if len(classes) == 1:
        return classes[0]
    counts = actual.value_counts() if actual is not None else pd.Series(dtype=float)
    if counts.empty:
        return classes[-1]
    least = counts.min()
    return max((c for c in classes if counts.get(c, 0) == least), key=str)
