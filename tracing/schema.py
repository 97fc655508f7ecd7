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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from tracing.errors import DataError

__all__ = [
    "ROLE_NAMES",
    "ColumnRoles",
    "ModelType",
    "RoleDetection",
    "RoleGuess",
    "Schema",
    "check_roles",
    "label_text",
    "role_problems",
    "suggest_roles",
    "unify_labels",
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
_SHAP_SUFFIX = "_shap"
_TRUTHY_TEXT = ("1", "true", "yes")
_MAX_CLASSES = 200


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Short role names (the command line's flags, the chain file's keys, the app's URL parameters)
# -> `ColumnRoles` field: one vocabulary wherever a person names a role.
ROLE_NAMES: dict[str, str] = {
    "id": "prediction_id",
    "timestamp": "timestamp",
    "prediction": "prediction_label",
    "score": "prediction_score",
    "actual": "actual_label",
    "features": "features",
    "tags": "tags",
}


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


@dataclass(frozen=True)
class RoleGuess:
    """A role the detection is not sure of: shown to the user to confirm, never silently final.

    Attributes
    ----------
    role : str
        The `ColumnRoles` field (``"actual_label"``, ``"timestamp"``...).
    column : str or None
        The column the detection filled in; ``None`` when it only offers ``alternatives``
        (e.g. a column that looks like an id by its values alone).
    reason : str
        Why, in plain words ("'delayed' is what 'delayed_pred' predicts").
    alternatives : tuple of str
        Other columns that could play the role.
    """

    role: str
    column: str | None
    reason: str
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleDetection:
    """Detected roles plus the guesses among them the user should confirm.

    Attributes
    ----------
    roles : ColumnRoles
        The roles, explicit ones as given.
    guesses : tuple of RoleGuess
        One per role that was detected without certainty (not an exact Arize name, several
        candidates, or found from the values), or offered without being filled in.
    """

    roles: ColumnRoles
    guesses: tuple[RoleGuess, ...] = ()

    def guess(self, role: str) -> RoleGuess | None:
        """Return the guess about ``role`` (a `ColumnRoles` field), if any."""
        return next((g for g in self.guesses if g.role == role), None)


@dataclass(frozen=True)
class _Candidate:
    column: str
    reason: str
    certain: bool = False  # the exact Arize name: no need to confirm
    offered: bool = False  # found by its values alone: offered, not filled in
    stem: str = ""  # normalised name of the target a prediction/score column is named after


# Roles in the order they are detected: scores before labels, so that the label rules
# ("...prediction", "actual...") cannot take "prediction_score" or "actual_score"; the actual
# last, since it may be named after the prediction ("delayed" for "delayed_pred").
_ORDER = (
    "prediction_id",
    "timestamp",
    "actual_score",
    "prediction_score",
    "prediction_label",
    "actual_label",
)
_EXACT = {
    "prediction_id": "predictionid",
    "timestamp": "timestamp",
    "prediction_label": "predictionlabel",
    "prediction_score": "predictionscore",
    "actual_label": "actuallabel",
    "actual_score": "actualscore",
}
_PRED_SUFFIXES = ("prediction", "predicted", "pred", "label")
_SCORE_SUFFIXES = ("probability", "proba", "prob", "score")
# "<stem>_label" names the actual when the stem says "truth" ("true_label", "target_label").
_ACTUAL_STEMS = frozenset({"actual", "true", "y", "truth", "groundtruth", "target", "observed"})
# Not "ref" or "key": a booking reference is unique too, but names the business record rather
# than the prediction; it is offered, not filled in (and left to slicing's id-like rule).
_ID_TOKENS = frozenset({"id", "uuid", "guid"})
_MIN_ID_ROWS = 20  # fewer rows are unique by accident too often to call a column an id
_MAX_CONTENT_COLUMNS = 200  # columns checked by value (ids, timestamps) in a very wide file
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def detect_roles(
    columns: Iterable[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    data: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
) -> ColumnRoles:
    """Guess column roles from column names (and values, with ``data``); explicit ones win.

    This is `suggest_roles` without the guesses; see there for the rules.

    Parameters
    ----------
    columns : iterable of str
        Column names, in file order.
    overrides : mapping, optional
        Role name -> column (or tuple of columns for ``prediction_score``, ``features``,
        ``tags``). A role set to ``None`` or ``()`` explicitly means "no such column".
    data : DataFrame or sequence of DataFrame, optional
        The data (baseline and production): checks candidates by their values and finds
        timestamps and ids by their values when no name matches.

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
    >>> r = detect_roles(["flight_id", "carrier", "delay_proba", "delayed_pred", "delayed"])
    >>> (r.prediction_label, r.prediction_score, r.actual_label)
    ('delayed_pred', ('delay_proba',), 'delayed')
    """
    return suggest_roles(columns, overrides=overrides, data=data).roles


def suggest_roles(
    columns: Iterable[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    data: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
) -> RoleDetection:
    """Detect column roles and say which of them are guesses, and why.

    Rules, per role, best first (names compare case-insensitively without separators):

    - **prediction** ``prediction_label``: a common name (``prediction``, ``pred``,
      ``y_pred``...), then ``<target>_pred``/``_prediction``/``_predicted``/``_label``, then
      ``predicted...``/``prediction...``;
    - **score**: a common name (``score``, ``proba``...), then ``<target>_proba``/``_prob``/
      ``_probability``/``_score``, then one ``score_<class>`` column per class; with ``data``
      only numbers within [0, 1] (a probability) qualify;
    - **actual**: ``actual_label``/``actual``, then the ``<target>`` a prediction or score
      column is named after (``delayed`` for ``delayed_pred``), then a common name (``label``,
      ``target``, ``y_true``...), then ``actual...``; with ``data``, for classification, only
      labels that overlap the prediction's qualify;
    - **timestamp**: a common name, then (``data``) a datetime column or ISO date text;
    - **id** ``prediction_id``: a common name, then (``data``) a column named ``..._id``
      (or ``_uuid``, ``_guid``) whose values are unique on every row; a unique integer or text
      column with another name (``booking_ref``) is only offered.

    A role is certain only when its column has the exact Arize name (``actual_label``...) and
    no other column could play it; every other detected role is returned as a `RoleGuess`
    with its reason and alternatives. Explicit ``overrides`` always win and are never guessed.

    Parameters
    ----------
    columns, overrides, data
        As in `detect_roles`.

    Returns
    -------
    RoleDetection

    Examples
    --------
    >>> found = suggest_roles(["pred", "label", "target", "x"])
    >>> found.roles.actual_label, found.guess("actual_label").alternatives
    ('label', ('target',))
    """
    cols = list(columns)
    given = dict(overrides or {})
    _check_overrides(cols, given)
    frames = _as_frames(data)
    taken: set[str] = {c for v in given.values() for c in _as_tuple(v)}
    found: dict[str, Any] = {}
    guesses: list[RoleGuess] = []
    for role in _ORDER:
        if role in given:
            found[role] = given[role]
            continue
        free = [c for c in cols if c not in taken and not c.endswith(_SHAP_SUFFIX)]
        ranked = _candidates(role, free, frames, found)
        checked, rejected = _content_checked(role, ranked, frames, found, cols)
        guesses.extend(rejected)
        if role == "prediction_score" and not checked:
            per_class = _class_score_columns(free, taken)
            if per_class:
                found[role] = per_class
                taken.update(per_class)
                reason = "one score column per class (named score_<class>, proba_<class>...)"
                guesses.append(RoleGuess(role, per_class[0], reason, per_class[1:]))
                continue
        hit, guess = _pick(role, checked)
        found[role] = hit
        if hit:
            taken.add(hit)
        if guess:
            guesses.append(guess)
    found["prediction_score"] = _as_tuple(found.get("prediction_score"))
    found["shap"] = tuple(given.get("shap", _shap_pairs(cols)))
    found["tags"] = _as_tuple(given.get("tags"))
    roles = ColumnRoles(**found)
    if given.get("features"):
        features = _as_tuple(given["features"])
    else:
        used = roles.assigned()
        features = tuple(c for c in cols if c not in used)
    return RoleDetection(replace(roles, features=features), tuple(guesses))


def _as_frames(data: pd.DataFrame | Sequence[pd.DataFrame] | None) -> tuple[pd.DataFrame, ...]:
    if data is None:
        return ()
    return (data,) if isinstance(data, pd.DataFrame) else tuple(data)


def _pick(role: str, ranked: list[_Candidate]) -> tuple[str | None, RoleGuess | None]:
    """Take the best candidate; anything short of one certain name is a guess to confirm."""
    if not ranked:
        return None, None
    best, others = ranked[0], tuple(c.column for c in ranked[1:])
    if best.certain and all(c.offered for c in ranked[1:]):  # a name beats values alone
        return best.column, None
    if best.offered:
        return None, RoleGuess(role, None, best.reason, tuple(c.column for c in ranked))
    reason = best.reason
    if others:
        reason += f"; {_quoted(others)} could also be it"
    return best.column, RoleGuess(role, best.column, reason, others)


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def _candidates(
    role: str, free: list[str], frames: tuple[pd.DataFrame, ...], found: Mapping[str, Any]
) -> list[_Candidate]:
    by_norm: dict[str, str] = {}
    for c in free:
        by_norm.setdefault(_norm(c), c)
    out = [
        _Candidate(
            by_norm[name],
            f"{by_norm[name]!r} is a usual name for the {_ROLE_WORDS[role]}",
            certain=name == _EXACT[role],
        )
        for name in _NAMES[role]
        if name in by_norm
    ]
    if role == "actual_label":
        out[1 if out and out[0].certain else 0 : 0] = _named_after_target(by_norm, found)
    out += _RULES[role](free, frames)
    seen: set[str] = set()
    return [c for c in out if not (c.column in seen or seen.add(c.column))]  # type: ignore[func-returns-value]


_ROLE_WORDS = {
    "prediction_id": "prediction id",
    "timestamp": "timestamp",
    "prediction_label": "prediction",
    "prediction_score": "score",
    "actual_label": "actual",
    "actual_score": "actual score",
}


_Rule = Callable[[list[str], tuple[pd.DataFrame, ...]], list[_Candidate]]


def _suffix_rule(suffixes: Sequence[str], what: str, *, actual_stems: bool) -> _Rule:
    def rule(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
        out = []
        for c in free:
            n = _norm(c)
            for suffix in suffixes:
                stem = n.removesuffix(suffix)
                if stem != n and stem and (stem in _ACTUAL_STEMS) is actual_stems:
                    out.append(_Candidate(c, f"{c!r} ends in {suffix!r}, like {what}", stem=stem))
                    break
        return out

    return rule


def _prediction_rules(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
    out = _suffix_rule(_PRED_SUFFIXES, "a prediction of its target", actual_stems=False)(
        free, frames
    )
    for c in free:
        n = _norm(c)
        for prefix in ("predicted", "prediction"):
            if n.startswith(prefix) and n != prefix:
                stem = n.removeprefix(prefix)
                out.append(_Candidate(c, f"{c!r} starts with {prefix!r}", stem=stem))
                break
    return out


def _score_rules(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
    rule = _suffix_rule(_SCORE_SUFFIXES, "a predicted probability", actual_stems=False)
    return [c for c in rule(free, frames) if c.stem not in ("prediction", "actual")]


def _actual_rules(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
    out = [
        _Candidate(c, f"{c!r} starts with 'actual'") for c in free if _norm(c).startswith("actual")
    ]
    rule = _suffix_rule(("label", "value", "class"), "a true label", actual_stems=True)
    return out + rule(free, frames)


def _named_after_target(by_norm: Mapping[str, str], found: Mapping[str, Any]) -> list[_Candidate]:
    """Find the column a prediction or score is named after: ``delayed`` for ``delayed_pred``."""
    out = []
    for role in ("prediction_label", "prediction_score"):
        for column in _as_tuple(found.get(role)):
            stem = _stem(column)
            if stem and stem in by_norm:
                target = by_norm[stem]
                out.append(_Candidate(target, f"{target!r} is what {column!r} predicts"))
    return out


def _stem(column: str) -> str:
    n = _norm(column)
    for suffix in (*_PRED_SUFFIXES, *_SCORE_SUFFIXES):
        if n.endswith(suffix) and n != suffix:
            return n.removesuffix(suffix)
    for prefix in ("predicted", "prediction"):
        if n.startswith(prefix) and n != prefix:
            return n.removeprefix(prefix)
    return ""


def _timestamp_rules(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
    out = []
    for c in free[:_MAX_CONTENT_COLUMNS]:
        parts = _parts(frames, c)
        if parts is not None and _is_datetime(parts):
            out.append(_Candidate(c, f"{c!r} holds dates and times"))
    return out


def _id_rules(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
    named, offered = [], []
    for c in free[:_MAX_CONTENT_COLUMNS]:
        parts = _parts(frames, c)
        if parts is None or not _is_unique_key(parts):
            continue
        if _tokens(c)[-1:] and _tokens(c)[-1] in _ID_TOKENS:
            named.append(_Candidate(c, f"{c!r} is named like an id and differs on every row"))
        else:
            reason = f"{c!r} differs on every row, as an id does"
            offered.append(_Candidate(c, reason, offered=True))
    return named + offered


def _no_rule(free: list[str], frames: tuple[pd.DataFrame, ...]) -> list[_Candidate]:
    return []


_RULES: dict[str, _Rule] = {
    "prediction_id": _id_rules,
    "timestamp": _timestamp_rules,
    "prediction_label": _prediction_rules,
    "prediction_score": _score_rules,
    "actual_label": _actual_rules,
    "actual_score": _no_rule,
}


def _tokens(name: str) -> list[str]:
    parts = re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", name)
    return [p.lower() for p in parts if p]


def _values(frames: tuple[pd.DataFrame, ...], column: str) -> pd.Series | None:
    parts = [f[column] for f in frames if column in f.columns]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _parts(frames: tuple[pd.DataFrame, ...], column: str) -> list[pd.Series] | None:
    """Return a column's parts (one per frame that has it) for the checks that need no copy.

    Parts of one dtype are checked part by part: concatenating every column of both files
    (`_values`) only to look at its dtype or first rows was most of role detection's time on
    large files. Parts of different dtypes are concatenated, so a check sees the same values
    (in the same common dtype) as on `_values`.
    """
    parts = [f[column] for f in frames if column in f.columns]
    if not parts:
        return None
    if any(part.dtype != parts[0].dtype for part in parts[1:]):
        return [pd.concat(parts, ignore_index=True)]
    return parts


def _head(parts: Sequence[pd.Series], size: int) -> pd.Series:
    """Return the first ``size`` values of the parts' concatenation, copying only those."""
    heads, left = [], size
    for part in parts:
        if left <= 0:
            break
        heads.append(part.iloc[:left])
        left -= len(heads[-1])
    return heads[0] if len(heads) == 1 else pd.concat(heads, ignore_index=True)


def _is_datetime(parts: Sequence[pd.Series]) -> bool:
    dtype = parts[0].dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return any(bool(part.notna().any()) for part in parts)
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return False
    # The first values decide (a column is one type): a full scan would cost seconds per
    # text column of a million rows, on every detection.
    sample = _head(parts, 1000).dropna().unique()[:200]
    return len(sample) > 0 and all(isinstance(v, str) and _ISO_DATE.match(v) for v in sample)


def _is_unique_key(parts: Sequence[pd.Series]) -> bool:
    if sum(len(part) for part in parts) < _MIN_ID_ROWS:
        return False
    dtype = parts[0].dtype
    integer = pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    text = pd.api.types.is_string_dtype(dtype) and all(
        isinstance(v, str) for v in _head(parts, 1000)
    )
    if not (integer or text) or not _head(parts, 10_000).is_unique:
        return False  # the cheap checks first: most columns repeat within their first rows
    if not all(bool(part.notna().all()) for part in parts):
        return False
    if len(parts) == 1:
        return bool(parts[0].is_unique)
    if integer and isinstance(dtype, np.dtype):
        return _distinct_integers([part.to_numpy() for part in parts])
    return bool(pd.concat(parts, ignore_index=True).is_unique)


def _distinct_integers(arrays: Sequence[np.ndarray]) -> bool:
    """Whether integer arrays hold no value twice, all together (``is_unique`` of their concat).

    Ids usually fill a range not much wider than their count: then one flag per value of the
    range answers in two linear passes, where hashing millions of values costs ~10x more.
    """
    n = sum(len(a) for a in arrays)
    lo = min(int(a.min()) for a in arrays)
    hi = max(int(a.max()) for a in arrays)
    if hi - lo + 1 < n:
        return False  # more values than the range holds
    if hi - lo >= 8 * n:
        return bool(pd.Series(np.concatenate(arrays)).is_unique)
    seen = np.zeros(hi - lo + 1, dtype=bool)
    # The offsets lie in [0, hi - lo]: small, so exact in 64 bits of the values' signedness.
    wide = np.dtype(np.uint64 if arrays[0].dtype.kind == "u" else np.int64)
    for a in arrays:
        seen[a.astype(wide, copy=False) - wide.type(lo)] = True
    return int(np.count_nonzero(seen)) == n


def _content_checked(
    role: str,
    ranked: list[_Candidate],
    frames: tuple[pd.DataFrame, ...],
    found: Mapping[str, Any],
    cols: Sequence[str],
) -> tuple[list[_Candidate], list[RoleGuess]]:
    """Drop candidates whose values cannot play the role; say why for each one dropped."""
    if not frames or role not in ("prediction_score", "actual_label"):
        return ranked, []
    kept, dropped = [], []
    for cand in ranked:
        values = _values(frames, cand.column)
        why = None if values is None else _misfit(role, values, frames, found)
        if why:
            reason = f"{cand.column!r} is named like the {_ROLE_WORDS[role]} but {why}"
            dropped.append(RoleGuess(role, None, reason, (cand.column,)))
        else:
            kept.append(cand)
    return kept, dropped


def _misfit(
    role: str, values: pd.Series, frames: tuple[pd.DataFrame, ...], found: Mapping[str, Any]
) -> str | None:
    present = values.dropna()
    if present.empty:
        return None  # production without actuals yet: nothing to judge by
    if role == "prediction_score":
        if pd.api.types.is_bool_dtype(present.dtype) or not pd.api.types.is_numeric_dtype(
            present.dtype
        ):
            return "holds text, not a probability"
        low, high = float(present.min()), float(present.max())
        if low < 0 or high > 1:
            return f"holds values from {low:g} to {high:g}, not a probability between 0 and 1"
        return None
    pred = found.get("prediction_label")
    predicted = _values(frames, pred) if pred else None
    if predicted is None or predicted.dropna().empty:
        return None
    if _continuous(present) or _continuous(predicted.dropna()):
        return None  # regression: values, not label sets
    keys, pred_keys = _label_keys(present), _label_keys(predicted.dropna())
    if keys & pred_keys:
        return None
    return f"shares no label with the prediction {pred!r} ({_shown(keys)} vs {_shown(pred_keys)})"


def _continuous(values: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(values.dtype):
        return False
    numbers = values.to_numpy(dtype=float)
    return bool(np.any(numbers != np.round(numbers)))


def _label_keys(values: pd.Series) -> set[str]:
    return {_label_key(v) for v in values.unique()[:1000]}


def _shown(keys: set[str]) -> str:
    items = sorted(keys)
    return ", ".join(map(repr, items[:10])) + (", ..." if len(items) > 10 else "")


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
                f"unknown column role {role!r}; valid roles: {', '.join(sorted(known))}.",
                role=role,
            )
        names = [s for _, s in value] if role == "shap" else list(_as_tuple(value))
        for name in names:
            if name not in cols:
                raise DataError(
                    f"column {name!r} (given as {role}) is not in the data; "
                    f"available columns: {', '.join(cols)}.",
                    role=role,
                )


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


def role_problems(
    roles: ColumnRoles,
    frames: Sequence[pd.DataFrame],
    *,
    names: Sequence[str] = ("baseline", "production"),
    require_actuals: bool = True,
) -> tuple[DataError, ...]:
    """Return every missing or empty role at once, each a `DataError` carrying its role.

    Checked: an actual column exists and has values (in the first frame, the baseline, always;
    in the others when ``require_actuals``); a prediction label or score exists and has values.
    Each message names the CLI flag; its ``app_message`` names the Data page's picker.

    Parameters
    ----------
    roles : ColumnRoles
        The roles to check.
    frames : sequence of DataFrame
        Baseline and production.
    names : sequence of str
        Their names in messages.
    require_actuals : bool, default True
        Whether production needs actuals too.

    Returns
    -------
    tuple of DataError
        Empty when the roles are usable.

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1, 2]})
    >>> [p.role for p in role_problems(detect_roles(df.columns), [df, df])]
    ['actual_label', 'prediction_label']
    """
    where = "/".join(names[: len(frames)])
    out: list[DataError] = []
    if not roles.actual_label:
        out.append(
            DataError(
                f"no actual column found in {where}; name it with --actual (or pick it on "
                "the Data page).",
                role="actual_label",
                app_message=f"No actual column found in {where}: pick the column that holds "
                "what really happened.",
            )
        )
    pred = roles.prediction_label or (
        roles.prediction_score[0] if roles.prediction_score else None
    )
    if not pred:
        out.append(
            DataError(
                "no prediction column found; name it with --prediction (label/value) or "
                "--score (probability), or pick it on the Data page.",
                role="prediction_label",
                app_message="No prediction column found: pick the predicted label or value, "
                "or a score (probability) below.",
            )
        )
    for i, frame in enumerate(frames):
        name = names[i] if i < len(names) else f"data {i + 1}"
        actual = roles.actual_label
        needs = actual and (require_actuals or i == 0) and actual in frame.columns
        if needs and frame[actual].notna().sum() == 0:
            out.append(
                DataError(
                    f"{name}: actual column {actual!r} has no values; choose the right "
                    "column with --actual or join the actuals first.",
                    role="actual_label",
                    app_message=f"{name}: the actual column {actual!r} has no values; "
                    "pick another column or join the actuals below.",
                )
            )
        if pred and pred in frame.columns and frame[pred].notna().sum() == 0:
            role = "prediction_label" if roles.prediction_label else "prediction_score"
            out.append(
                DataError(
                    f"{name}: prediction column {pred!r} has no values; choose the right "
                    "column with --prediction/--score.",
                    role=role,
                    app_message=f"{name}: the column {pred!r} has no values; pick another.",
                )
            )
    return tuple(out)


def check_roles(
    roles: ColumnRoles,
    frames: Sequence[pd.DataFrame],
    *,
    names: Sequence[str] = ("baseline", "production"),
    require_actuals: bool = True,
) -> None:
    """Raise one `DataError` reporting every problem of `role_problems` (none: return).

    Raises
    ------
    DataError
        With ``problems`` holding one error per missing or empty role.
    """
    problems = role_problems(roles, frames, names=names, require_actuals=require_actuals)
    if problems:
        raise DataError.combine(problems)


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
    values = _unified(actual, prediction)
    if not values:
        raise DataError(
            "no prediction or actual column found; name one with --prediction/--actual "
            "(or pick it on the Data page).",
            role="prediction_label",
            app_message="No prediction or actual column found: pick them above.",
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
        raise next(p for p in role_problems(roles, []) if p.role == "prediction_label")
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
            f"({', '.join(map(str, classes[:6]))}...); use --model-type multiclass.",
            option="model_type",
            app_message=f"The model type is binary but the labels have {len(classes)} classes: "
            "choose multiclass.",
        )
    if mtype is ModelType.MULTICLASS and len(classes) > _MAX_CLASSES:
        raise DataError(
            f"{len(classes)} distinct labels is too many for a classifier; "
            "use --model-type regression if the target is a number.",
            option="model_type",
            app_message=f"{len(classes)} distinct labels is too many for a classifier: choose "
            "regression if the target is a number.",
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
            "at or above which a prediction counts as positive).",
            option=option,
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
    keys_b, keys_p = _label_keys(b), _label_keys(p)
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
        raise DataError(
            f"unknown model type {value!r}; choose one of: {valid}.", option="model_type"
        ) from None


def _stack(frames: Sequence[pd.DataFrame], column: str | None) -> pd.Series | None:
    if not column:
        return None
    have = [i for i, f in enumerate(frames) if column in f.columns]
    sides = ("the baseline", "production") if len(frames) == 2 else ()
    parts = unify_labels(
        [frames[i][column] for i in have],
        names=[f"{column!r} in {sides[i]}" for i in have] if sides else (),
    )
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True)


def unify_labels(parts: list[pd.Series], *, names: Sequence[str] = ()) -> list[pd.Series]:
    """Write labels in one text form when some parts hold them as text and others not.

    The same label saved as ``1`` in one file and ``"1"`` or ``True`` in another (or in the
    prediction vs the actual column) must be one class, not two: ``1``, ``1.0``, ``True``,
    ``"1"`` and ``"true"`` all become ``"1"`` (and their zeros ``"0"``). Labels that share no
    value once so written ("yes"/"no" beside 1/0) are refused: compared, they would make every
    prediction wrong.

    Parameters
    ----------
    parts : list of Series
        The label columns (actual and prediction, of one or both files).
    names : sequence of str, optional
        A name per part for the refusal message ("actual 'delayed'").

    Returns
    -------
    list of Series
        The parts unchanged when all hold the same kind of value, else as text (object dtype).

    Raises
    ------
    DataError
        If text labels beside numbers or booleans share no label with them.

    Examples
    --------
    >>> a, b = unify_labels([pd.Series([1, 0]), pd.Series(["1", "0"])])
    >>> a.tolist(), b.tolist()
    (['1', '0'], ['1', '0'])
    """
    kinds = [{str if isinstance(v, str) else float for v in _sample(p)} for p in parts]
    if len(set().union(*kinds)) < 2:
        return parts
    out = [p.map(_label_key, na_action="ignore").astype(object) for p in parts]
    text = [i for i, k in enumerate(kinds) if k == {str}]
    other = [i for i, k in enumerate(kinds) if k and k != {str}]
    text_keys = set().union(*(_label_keys(out[i].dropna()) for i in text))
    other_keys = set().union(*(_label_keys(out[i].dropna()) for i in other))
    # Measurements (non-whole numbers) are a regression's values, not labels: not refused here.
    measured = any(_continuous(parts[i].dropna()) for i in other)
    if text and other and text_keys and other_keys and not measured and not text_keys & other_keys:
        which = [names[i] if i < len(names) else f"column {i + 1}" for i in range(len(parts))]
        raise DataError(
            f"the labels of {' and '.join(which[i] for i in text)} ({_shown(text_keys)}) share "
            f"no value with those of {' and '.join(which[i] for i in other)} "
            f"({_shown(other_keys)}); recode them so both use the same labels (e.g. 1/0 in "
            "both, or yes/no in both)."
        )
    return out


def _unified(actual: pd.Series | None, prediction: pd.Series | None) -> list[pd.Series]:
    pairs = [(s, n) for s, n in ((actual, "the actual"), (prediction, "the prediction"))]
    kept = [(s.dropna(), n) for s, n in pairs if s is not None]
    return unify_labels([s for s, _ in kept], names=[n for _, n in kept])


def label_text(value: Any) -> str:
    """Return the text form labels are compared in when files write them differently.

    Examples
    --------
    >>> [label_text(v) for v in (True, 1.0, 1, "1", "True", "yes")]
    ['1', '1', '1', '1', '1', 'yes']
    """
    return _label_key(value)


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


_BOOL_TEXT = {"true": "1", "false": "0"}


def _label_key(value: Any) -> str:
    """`_label_text`, and "True"/"false" as text are the booleans (so 1 and 0)."""
    text = _label_text(value)
    return _BOOL_TEXT.get(text.strip().lower(), text) if isinstance(value, str) else text


def _classes(actual: pd.Series | None, pred: pd.Series | None, roles: ColumnRoles) -> tuple:
    parts = _unified(actual, pred)
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
            f"choose one of: {', '.join(map(str, classes))}.",
            option="positive_class",
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
