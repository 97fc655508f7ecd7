"""Label conflicts: inconsistent actuals and broken column dependencies.

This module owns two labelling checks (the white paper's "one zip code labelled with two city
names"):

- `identical_feature_conflicts`: groups of rows with identical features but different actuals
  (classification only: regression actuals are continuous, so they always differ). Rows are
  grouped by a 64-bit hash of their feature values (`pandas.util.hash_pandas_object`). Rows
  with a missing feature are left out: missing is not a value, so two rows missing the same
  feature are not known to be identical.
  `label_conflicts` runs this check only when the features tell rows apart: at least half as
  many distinct feature rows as checked rows (on average at most two rows per feature row).
  In a coarser feature space (a few categorical features, say) identical rows are expected,
  and their different actuals are the noise any model faces, not a labelling issue.
- `functional_dependencies` / `broken_dependencies`: a column A *determines* B in the baseline
  when every A value maps to exactly one B value (zip -> city); production breaks it when an A
  value carries a B value other than the baseline's, or several B values. Keys must repeat
  (at least half the baseline rows share their A value with another row) and have at least
  ``min_keys`` distinct values, else every near-unique column would "determine" everything.

Dependencies are searched over every ordered pair of candidate columns (text, boolean and
integer-valued columns), on integer codes: a pair is first tested on an evenly spaced sample
of the baseline (a counterexample there is a counterexample everywhere), then confirmed on all
rows with one ``np.bincount`` of the combined codes. Before that, a few pairs of sample rows
sharing a key value refute most dependents of that key in one vectorised step (`_survivors`),
so a file with thousands of columns is not tested pair by pair.

The decisions are made from counts (`ConflictCounts` per dataset, `KeyFacts` per column,
`broken_row` per key value): `tracing.engine_quality` computes the same counts on every row of
a SQL engine and hands them to the same `summarize_conflicts` / `confirmed_dependencies`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.analysis import Analysis
from tracing.errors import DataError
from tracing.memo import per_analysis
from tracing.schema import ModelType, Schema, shared_columns
from tracing.textfmt import plain, quoted

__all__ = [
    "ConflictCounts",
    "KeyFacts",
    "LabelConflicts",
    "broken_dependencies",
    "broken_row",
    "candidate_columns",
    "candidate_pairs",
    "confirmed_dependencies",
    "conflict_group",
    "conflicts_apply",
    "functional_dependencies",
    "identical_feature_conflicts",
    "label_conflicts",
    "summarize_conflicts",
]

Codes = NDArray[np.int64]
_SAMPLE = 20_000
_MAX_DENSE = 1 << 24  # combined code space counted with bincount; np.unique above it
_MAX_KEYS_PER_PAIR = 20
_WITNESSES = 32  # row pairs that refute most candidate dependencies at once (`_survivors`)
# Identical-row conflicts need a feature space that tells rows apart (module docstring).
_MIN_DISTINCT_SHARE = 0.5
GROUP_COLUMNS = ("group", "rows", "labels", "counts", "example")
DEPENDENCY_COLUMNS = (
    "key",
    "dependent",
    "key_value",
    "baseline_value",
    "values",
    "counts",
    "rows",
    "conflict_rows",
)


# ---------------------------------------------------------------------------------------------
# Identical features, different actuals


def identical_feature_conflicts(
    frame: pd.DataFrame, *, features: Sequence[str], actual: str, top: int | None = 20
) -> pd.DataFrame:
    """Find groups of rows with identical feature values but more than one actual.

    Parameters
    ----------
    frame : DataFrame
        One dataset.
    features : sequence of str
        The model's input columns (rows with a missing feature are left out).
    actual : str
        The actual label column (rows without an actual are left out).
    top : int or None, default 20
        Return only the largest ``top`` groups (None: all).

    Returns
    -------
    DataFrame
        One row per conflicting group, largest first: ``group`` (0, 1, ...), ``rows``,
        ``labels`` and ``counts`` (the actuals in the group, most frequent first) and
        ``example`` (the shared feature values, as a dict).

    Examples
    --------
    >>> f = pd.DataFrame({"a": [1, 1, 2, 2], "b": ["x", "x", "y", "y"], "y": [0, 1, 1, 1]})
    >>> identical_feature_conflicts(f, features=["a", "b"], actual="y")[["rows", "labels"]]
       rows  labels
    0     2  [0, 1]
    """
    return _conflicts(frame, features, actual, top).groups


@dataclass(frozen=True)
class ConflictCounts:
    """What `label_conflicts` decides from, for one dataset (in memory or from an engine).

    Attributes
    ----------
    groups : DataFrame
        The largest conflicting groups (`identical_feature_conflicts` columns).
    n_groups : int
        Conflicting groups in all.
    rows : int
        Rows in conflicting groups.
    checked : int
        Rows with an actual and every feature.
    distinct : int
        Distinct feature rows among them.
    """

    groups: pd.DataFrame
    n_groups: int = 0
    rows: int = 0
    checked: int = 0
    distinct: int = 0


def _conflicts(
    frame: pd.DataFrame, features: Sequence[str], actual: str, top: int | None
) -> ConflictCounts:
    """Find the conflicting groups of one dataset (see `identical_feature_conflicts`)."""
    empty = pd.DataFrame(columns=list(GROUP_COLUMNS))
    if not features:
        return ConflictCounts(empty)
    rows, key, checked = _repeated_rows(frame, features, actual)
    # rows dropped along the way were unique; the repeated ones share len(unique(key)) rows
    distinct = checked - len(rows) + len(np.unique(key))
    if not len(rows):
        return ConflictCounts(empty, checked=checked, distinct=distinct)
    found = pd.DataFrame({"key": key, "label": frame[actual].iloc[rows].to_numpy(), "row": rows})
    per_label = found.groupby(["key", "label"], sort=False).size()
    by_key = per_label.groupby(level="key", sort=False)
    bad = by_key.size() > 1
    sizes = by_key.sum()[bad.to_numpy()].sort_values(ascending=False, kind="mergesort")
    first = found.drop_duplicates("key").set_index("key")["row"]
    shown = sizes if top is None else sizes.head(top)
    out = pd.DataFrame(
        [_group(frame, features, per_label.loc[k], int(first.loc[k])) for k in shown.index],
        columns=[c for c in GROUP_COLUMNS if c != "group"],
    )
    out.insert(0, "group", np.arange(len(out)))
    return ConflictCounts(out, len(sizes), int(sizes.sum()), checked, distinct)


def _group(
    frame: pd.DataFrame, features: Sequence[str], labels: pd.Series, row: int
) -> dict[str, Any]:
    return conflict_group(labels, frame.iloc[row][list(features)].to_dict())


def conflict_group(labels: pd.Series, example: Mapping[Any, Any]) -> dict[str, Any]:
    """Return one conflicting group's row: its actuals' counts (most first) and its features.

    ``labels`` holds the rows per actual (index: the actual); ``example`` the shared feature
    values.
    """
    counts = labels.sort_values(ascending=False, kind="mergesort")
    return {
        "rows": int(counts.sum()),
        "labels": [plain(v) for v in counts.index],
        "counts": [int(c) for c in counts],
        "example": {f: plain(v) for f, v in example.items()},
    }


def _repeated_rows(
    frame: pd.DataFrame, features: Sequence[str], actual: str
) -> tuple[NDArray[np.intp], NDArray[np.uint64], int]:
    """Find the checked rows whose feature values all repeat elsewhere.

    Returns those rows, a hash of their feature values, and the number of checked rows (rows
    with an actual and no missing feature).

    Columns are hashed one at a time, most selective kinds first (floats, then integers, then
    the rest), keeping only rows whose combined hash so far is duplicated: with a continuous
    feature almost nothing survives the first column, so the other columns cost nothing.
    """
    complete = frame[[actual, *features]].notna().all(axis=1).to_numpy()
    rows = np.flatnonzero(complete)
    checked = len(rows)
    key = np.zeros(len(rows), dtype=np.uint64)
    for col in sorted(features, key=lambda c: _selectivity_rank(frame[str(c)])):
        values = frame[col] if len(rows) == len(frame) else frame[col].iloc[rows]
        hashed = pd.util.hash_pandas_object(values, index=False).to_numpy(dtype=np.uint64)
        # FNV-style mixing of the column hashes; uint64 arithmetic wraps on overflow.
        key = np.asarray(key * np.uint64(0x100000001B3) ^ hashed, dtype=np.uint64)
        keep = _duplicated(key)
        rows, key = rows[keep], key[keep]
        if not len(rows):
            break
    return rows, key, checked


def _duplicated(key: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """Entries whose value occurs more than once (a sort: faster than hashing 64-bit ints)."""
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return np.zeros(len(key), dtype=bool)
    return np.isin(key, repeated)


def _selectivity_rank(series: pd.Series) -> int:
    if pd.api.types.is_float_dtype(series.dtype):
        return 0
    return 1 if pd.api.types.is_integer_dtype(series.dtype) else 2


# ---------------------------------------------------------------------------------------------
# Functional dependencies


class _Coded:
    """Candidate columns as integer codes shared by both datasets (-1 = missing)."""

    def __init__(self, baseline: pd.DataFrame, production: pd.DataFrame, columns: Sequence[str]):
        self.nb = len(baseline)
        self.codes: dict[str, tuple[Codes, Codes]] = {}
        self.uniques: dict[str, Any] = {}
        for col in columns:
            both = pd.concat([baseline[col], production[col]], ignore_index=True)
            codes, uniques = pd.factorize(both, use_na_sentinel=True)
            codes = codes.astype(np.int64)
            self.codes[col] = (codes[: self.nb], codes[self.nb :])
            self.uniques[col] = uniques

    def k(self, col: str) -> int:
        return len(self.uniques[col])


def candidate_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Columns that can be a key or a dependent: text, boolean, category or whole numbers."""
    stride = max(1, len(frame) // _SAMPLE)
    return [
        c for c in columns
        if not pd.api.types.is_datetime64_any_dtype(frame[c].dtype)
        and (not pd.api.types.is_float_dtype(frame[c].dtype)
             or (_whole(frame[c].iloc[::stride]) and _whole(frame[c])))
    ]  # fmt: skip


def _whole(series: pd.Series) -> bool:
    values = series.to_numpy(dtype=float, na_value=np.nan)
    values = values[np.isfinite(values)]
    return bool(np.array_equal(values, np.round(values)))


def _distinct_pairs(a: Codes, b: Codes, kb: int, ka: int) -> int:
    keep = (a >= 0) & (b >= 0)
    combined = a[keep] * kb + b[keep]
    if ka * kb <= _MAX_DENSE:
        return int(np.count_nonzero(np.bincount(combined, minlength=ka * kb)))
    return int(np.unique(combined).size)


def _distinct(a: Codes, mask: NDArray[np.bool_] | None = None) -> int:
    values = a if mask is None else a[mask]
    return int(np.count_nonzero(np.bincount(values[values >= 0])))


def _holds(coded: _Coded, key: str, dep: str) -> bool:
    a, b = coded.codes[key][0], coded.codes[dep][0]
    n_keys = _distinct(a, (a >= 0) & (b >= 0))
    return _distinct_pairs(a, b, coded.k(dep), coded.k(key)) == n_keys


def _survivors(matrix: Codes, key: int) -> NDArray[np.bool_]:
    """Columns not yet refuted as dependents of column ``key`` by a few witness row pairs.

    A witness is two rows with the same key value; a column whose values differ on any
    witness (both present) cannot depend on the key. Checking ``_WITNESSES`` pairs for every
    column at once is a necessary condition only (survivors are confirmed by `_holds`), but it
    refutes almost every pair in one vectorised step: wide files have millions of pairs.
    """
    a = matrix[:, key]
    order = np.argsort(a, kind="stable")
    sa = a[order]
    same = np.flatnonzero((sa[1:] == sa[:-1]) & (sa[1:] >= 0))
    if not same.size:
        return np.ones(matrix.shape[1], dtype=bool)
    pick = same[np.linspace(0, same.size - 1, min(_WITNESSES, same.size)).astype(np.intp)]
    left, right = matrix[order[pick]], matrix[order[pick + 1]]
    broken = (left != right) & (left >= 0) & (right >= 0)
    alive: NDArray[np.bool_] = ~broken.any(axis=0)
    return alive


@dataclass(frozen=True)
class KeyFacts:
    """What decides whether a column may be a dependency's key, or how many values it holds.

    Attributes
    ----------
    n_values : int
        Distinct non-missing values.
    rows : int
        Rows with a value.
    repeated : int
        Rows whose value occurs in at least one other row.
    """

    n_values: int
    rows: int
    repeated: int


def _key_facts(a: Codes) -> KeyFacts:
    counts = np.bincount(a[a >= 0])
    counts = counts[counts > 0]
    return KeyFacts(len(counts), int(counts.sum()), int(counts[counts >= 2].sum()))


def confirmed_dependencies(
    pairs: Sequence[tuple[str, str]],
    facts: Mapping[str, KeyFacts],
    holds: Callable[[str, str], bool],
    *,
    min_keys: int,
) -> pd.DataFrame:
    """Keep the candidate pairs that are dependencies of the whole baseline.

    A key needs ``min_keys`` values or more, repeated (half its rows share their value with
    another row); a dependent 2 values or more, no more than its key; and ``holds(key, dep)``
    (every key value has one dependent value) must be true. ``facts`` are per column of the
    whole baseline; ``holds`` is asked last, for the pairs left.

    Returns
    -------
    DataFrame
        ``key``, ``dependent``, ``n_keys``, ``n_values`` (`functional_dependencies`).
    """
    keys = {c for c, f in facts.items() if f.n_values >= min_keys and f.repeated >= 0.5 * f.rows}
    rows = [
        {"key": key, "dependent": dep, "n_keys": facts[key].n_values,
         "n_values": facts[dep].n_values}
        for key, dep in pairs
        if key in keys and 2 <= facts[dep].n_values <= facts[key].n_values and holds(key, dep)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["key", "dependent", "n_keys", "n_values"])


def functional_dependencies(
    frame: pd.DataFrame, *, columns: Sequence[str] | None = None, min_keys: int = 5
) -> pd.DataFrame:
    """Column pairs A -> B that hold exactly in a dataset (each A value has one B value).

    Parameters
    ----------
    frame : DataFrame
        Usually the baseline.
    columns : sequence of str, optional
        Columns to consider (default: all); only `candidate_columns` are used.
    min_keys : int, default 5
        A key needs at least this many distinct values, repeated (see the module docstring).

    Returns
    -------
    DataFrame
        ``key``, ``dependent``, ``n_keys`` (distinct key values), ``n_values`` (distinct
        dependent values); rows with a missing key or dependent are ignored.

    Examples
    --------
    >>> f = pd.DataFrame({"zip": list("aabbccddee") * 2, "city": list("XXXXYYYYZZ") * 2})
    >>> functional_dependencies(f)[["key", "dependent"]].values.tolist()
    [['zip', 'city']]
    """
    cols = candidate_columns(frame, list(frame.columns) if columns is None else columns)
    deps, _ = _dependencies(frame, frame.iloc[:0], cols, min_keys)
    return deps


def candidate_pairs(baseline: pd.DataFrame, cols: Sequence[str]) -> list[tuple[str, str]]:
    """Return the pairs (key, dependent) that hold on an evenly spaced sample of the baseline.

    A dependency of the whole baseline holds on any sample of it, so the pairs dropped here
    are not dependencies; those kept still need `confirmed_dependencies`.
    """
    sample = baseline.iloc[:: max(1, len(baseline) // _SAMPLE)]
    small = _Coded(sample, sample.iloc[:0], cols)
    n_small = {c: _distinct(small.codes[c][0]) for c in cols}
    matrix = np.column_stack([small.codes[c][0] for c in cols]) if cols else None
    pairs = []
    for i, key in enumerate(cols):
        if matrix is None or n_small[key] < 2:
            continue
        alive = _survivors(matrix, i)
        pairs += [
            (key, dep) for j, dep in enumerate(cols)
            if alive[j] and j != i and 2 <= n_small[dep] <= n_small[key]
            and _holds(small, key, dep)
        ]  # fmt: skip
    return pairs


def _dependencies(
    baseline: pd.DataFrame, production: pd.DataFrame, cols: Sequence[str], min_keys: int
) -> tuple[pd.DataFrame, _Coded]:
    """Dependencies of the baseline, and the codes (both sides) of the columns involved."""
    pairs = candidate_pairs(baseline, cols)
    involved = list(dict.fromkeys(c for pair in pairs for c in pair))
    coded = _Coded(baseline, production, involved)
    facts = {c: _key_facts(coded.codes[c][0]) for c in involved}
    deps = confirmed_dependencies(
        pairs, facts, lambda key, dep: _holds(coded, key, dep), min_keys=min_keys
    )
    return deps, coded


def broken_dependencies(
    baseline: pd.DataFrame,
    production: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    min_keys: int = 5,
) -> pd.DataFrame:
    """Key values whose baseline dependency (zip -> city) production breaks.

    Parameters
    ----------
    baseline, production : DataFrame
        The dependency is learned on the baseline and checked on production.
    columns : sequence of str, optional
        Columns to consider (default: those in both); see `functional_dependencies`.
    min_keys : int, default 5
        See `functional_dependencies`.

    Returns
    -------
    DataFrame
        One row per broken key value (at most 20 per dependency, most conflicting rows
        first): ``key`` and ``dependent`` (columns), ``key_value``, ``baseline_value`` (the
        dependent value in the baseline; missing for a key new in production), ``values`` and
        ``counts`` (the dependent values carried in production, most frequent first),
        ``rows`` (production rows with that key value) and ``conflict_rows`` (those whose
        value differs from the baseline's, or from the most frequent one for a new key).

    Examples
    --------
    >>> base = pd.DataFrame({"zip": list("aabbccddee") * 2, "city": list("XXXXYYYYZZ") * 2})
    >>> prod = pd.DataFrame({"zip": list("aaab"), "city": list("XXWX")})
    >>> broken_dependencies(base, prod)[["key_value", "values", "counts"]].values.tolist()
    [['a', ['X', 'W'], [2, 1]]]
    """
    shared = shared_columns(baseline.columns, production.columns)
    cols = candidate_columns(baseline, shared if columns is None else columns)
    deps, coded = _dependencies(baseline, production, cols, min_keys)
    rows = []
    for key, dep in deps[["key", "dependent"]].itertuples(index=False):
        rows += _broken(coded, str(key), str(dep))
    return pd.DataFrame(rows, columns=list(DEPENDENCY_COLUMNS))


def _broken(coded: _Coded, key: str, dep: str) -> list[dict[str, Any]]:
    (ba, pa), (bb, pb) = coded.codes[key], coded.codes[dep]
    ka, kb = coded.k(key), coded.k(dep)
    mapping = np.full(ka, -1, dtype=np.int64)
    known = (ba >= 0) & (bb >= 0)
    mapping[ba[known]] = bb[known]  # exact in the baseline, so any row gives the value
    keep = (pa >= 0) & (pb >= 0)
    pairs, counts = np.unique(pa[keep] * kb + pb[keep], return_counts=True)
    ua, ub = pairs // kb, pairs % kb
    per_key = np.bincount(ua, minlength=ka)
    bad = (per_key[ua] >= 2) | ((mapping[ua] >= 0) & (ub != mapping[ua]))
    bad_keys = np.unique(ua[bad])
    rows = [
        _broken_row(coded, key, dep, a, mapping[a], ub[ua == a], counts[ua == a]) for a in bad_keys
    ]
    rows.sort(key=lambda r: -r["conflict_rows"])
    return rows[:_MAX_KEYS_PER_PAIR]


def _broken_row(
    coded: _Coded, key: str, dep: str, a: int, base_b: int, bs: Codes, counts: Codes
) -> dict[str, Any]:
    values = coded.uniques[dep]
    return broken_row(
        key,
        dep,
        coded.uniques[key][a],
        values[base_b] if base_b >= 0 else None,
        [values[b] for b in bs],
        counts,
    )


def broken_row(
    key: str,
    dep: str,
    key_value: Any,
    baseline_value: Any,
    values: Sequence[Any],
    counts: Sequence[int] | NDArray[np.int64],
) -> dict[str, Any]:
    """Return one broken key value's row of `broken_dependencies`.

    ``values`` and ``counts`` are the dependent values production carries with that key
    value and their rows (ties keep this order); ``baseline_value`` is the baseline's
    (None: a key new in production, compared with its most frequent value).
    """
    held = np.asarray(counts, dtype=np.int64)
    order = np.argsort(-held, kind="mergesort")
    ordered, held = [values[i] for i in order], held[order]
    reference = baseline_value if baseline_value is not None else ordered[0]
    other = np.array([v != reference for v in ordered], dtype=bool)
    return {
        "key": key,
        "dependent": dep,
        "key_value": plain(key_value),
        "baseline_value": plain(baseline_value) if baseline_value is not None else None,
        "values": [plain(v) for v in ordered],
        "counts": [int(c) for c in held],
        "rows": int(held.sum()),
        "conflict_rows": int(held[other].sum()),
    }


# ---------------------------------------------------------------------------------------------
# Both checks over an analysis


@dataclass(frozen=True)
class LabelConflicts:
    """Labelling issues of an analysis.

    Attributes
    ----------
    summary : DataFrame
        Identical features with different actuals, one row per dataset (baseline,
        production): ``dataset``, ``groups``, ``rows`` (rows in those groups), ``share`` (of
        the dataset's rows), ``checked`` (whether the check ran: not for regression, nor when
        the features cannot tell rows apart; see the module docstring) and ``note`` (why it
        did not run, else empty).
    groups : DataFrame
        The conflicting groups (`identical_feature_conflicts`) with a ``dataset`` column.
    dependencies : DataFrame
        `broken_dependencies` of baseline vs production.
    """

    summary: pd.DataFrame
    groups: pd.DataFrame
    dependencies: pd.DataFrame


@per_analysis
def label_conflicts(
    analysis: Analysis, *, columns: Sequence[str] | None = None, min_keys: int = 5
) -> LabelConflicts:
    """Find conflicting labels and broken dependencies in an analysis.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    columns : sequence of str, optional
        Columns searched for dependencies (default: features and tags). Identical-feature
        groups always use every feature.
    min_keys : int, default 5
        See `functional_dependencies`.

    Returns
    -------
    LabelConflicts
    """
    roles = analysis.schema.roles
    cols = list(roles.slice_columns()) if columns is None else list(columns)
    frames = (analysis.baseline_frame, analysis.production_frame)
    unknown = [c for c in cols if any(c not in f.columns for f in frames)]
    if unknown:
        raise DataError(
            f"column {quoted(unknown[0])} is not in both datasets; choose from: "
            f"{', '.join(roles.slice_columns())}."
        )
    applies = conflicts_apply(analysis.schema, has_actuals=analysis.has_actuals)
    found = [
        _conflicts(frame, roles.features, str(roles.actual_label), 20)
        if applies
        else ConflictCounts(pd.DataFrame(columns=list(GROUP_COLUMNS)))
        for frame in frames
    ]
    return summarize_conflicts(
        found,
        (len(frames[0]), len(frames[1])),
        applies=applies,
        has_actuals=analysis.has_actuals,
        dependencies=broken_dependencies(*frames, columns=cols, min_keys=min_keys),
    )


def conflicts_apply(schema: Schema, *, has_actuals: bool) -> bool:
    """Whether identical-feature conflicts are looked for (classification, with actuals)."""
    return (
        schema.model_type is not ModelType.REGRESSION
        and bool(schema.roles.actual_label)
        and has_actuals
    )


def summarize_conflicts(
    found: Sequence[ConflictCounts],
    rows: tuple[int, int],
    *,
    applies: bool,
    has_actuals: bool,
    dependencies: pd.DataFrame,
) -> LabelConflicts:
    """Decide what the counts of each dataset mean and return the `LabelConflicts`.

    ``found`` holds the baseline's and production's counts (in memory or from an engine),
    ``rows`` their rows; a feature space too coarse to tell rows apart is not checked (see
    the module docstring).
    """
    summary, groups = [], []
    for counts, n, dataset in zip(found, rows, ("baseline", "production"), strict=True):
        note = (
            ""
            if applies
            else "production has no actuals yet"
            if not has_actuals
            else "regression actuals are continuous: they always differ"
        )
        if applies and counts.distinct < _MIN_DISTINCT_SHARE * counts.checked:
            note = (
                f"{counts.distinct:,} distinct feature rows for {counts.checked:,} rows: "
                "identical rows are expected, so different actuals are noise, not a labelling "
                "issue"
            )
            counts = ConflictCounts(
                counts.groups.iloc[:0], checked=counts.checked, distinct=counts.distinct
            )
        summary.append(
            {
                "dataset": dataset,
                "groups": counts.n_groups,
                "rows": counts.rows,
                "share": counts.rows / n,
                "checked": not note,
                "note": note,
            }
        )
        groups.append(counts.groups.assign(dataset=dataset))
    return LabelConflicts(
        summary=pd.DataFrame(summary),
        groups=pd.concat(groups, ignore_index=True),
        dependencies=dependencies,
    )
