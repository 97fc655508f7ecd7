"""Data-quality checks and label conflicts on every row of a SQL engine.

`tracing.quality` grades its checks from facts (`tracing.quality.Facts`); in memory they come
from the frames. Here a SQL engine (`tracing.engine_analysis.EngineAnalysis`) computes the
same facts over every row, with few queries per side, and `tracing.quality.run_checks` grades
them with the very code the in-memory path runs:

- **One or two aggregate queries per side** (`_profile`): rows; per checked column the missing
  values (``NULL``, and ``NaN`` in floating columns); for numbers and times the smallest and
  largest value; for floats the finite range; for text and booleans the exact number of
  distinct values; in production, per numeric column, the values outside the baseline's
  finite range with the lowest and highest of them. The first query reads counts and plain
  extremes only; the second, only for the columns that hold NaN or infinities or reach
  beyond the baseline's range, reads those columns value by value.
- **Value counts** (one ``GROUP BY GROUPING SETS`` query per side) of the text and boolean
  columns with at most `MAX_COUNTED` distinct values on that side: new and vanished categories
  and text in numbers are then decided in pandas on the engine's exact counts. A category
  column with more values (and not identifier-like, which the category checks skip) has its
  new and vanished values found in the engine instead (``NOT IN`` the other side, the few
  largest with totals).
- **Duplicate ids**: ``GROUP BY id HAVING count(*) > 1`` per side, and the production ids found
  in the baseline, each returning its totals and a few examples (no query when the two sides'
  numeric id ranges do not overlap).
- **Label conflicts** (`engine_label_conflicts`): rows with identical features and different
  actuals are found by grouping on a 64-bit hash of the features first (one query; with a
  continuous feature no hash repeats and nothing else runs), then grouping the rows whose hash
  repeats by the features themselves, so hash collisions never merge two rows. Functional
  dependencies are *discovered* on the engine's sample (`tracing.labels.candidate_pairs`: a
  dependency of every row holds on any sample), then each candidate is confirmed on every
  baseline row (``GROUP BY key HAVING count(DISTINCT dependent) > 1``) and its broken key values
  counted on every production row: the reported counts are exact.

What still runs on the engine's sample, said in `EngineQuality.notes`: the biased-actuals
check (`tracing.selection`, drift tests on rows), and text in numbers for a text column with
more than `MAX_COUNTED` distinct values on a side (its values are needed to tell words from
numbers). Mixed Python types in one column cannot occur in a typed Arrow/Parquet column, so
that part of ``type_mismatch`` is decided from the schema: never.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from tracing import rowexpr
from tracing.engine import Side
from tracing.errors import DataError
from tracing.labels import (
    DEPENDENCY_COLUMNS,
    GROUP_COLUMNS,
    ConflictCounts,
    KeyFacts,
    LabelConflicts,
    broken_row,
    candidate_columns,
    candidate_pairs,
    confirmed_dependencies,
    conflict_group,
    conflicts_apply,
    summarize_conflicts,
)
from tracing.memo import per_analysis
from tracing.quality import (
    IdFacts,
    RepeatedIds,
    ValueSet,
    absent_values,
    findings_table,
    run_checks,
    validate,
)
from tracing.textfmt import quoted

if TYPE_CHECKING:
    import pyarrow as pa

    from tracing.engine_analysis import EngineAnalysis
    from tracing.schema import Schema
    from tracing.selection import ActualsCoverage

__all__ = [
    "MAX_COUNTED",
    "EngineQuality",
    "engine_label_conflicts",
    "engine_quality_checks",
]

MAX_COUNTED = 100_000
"""Distinct values of a text column up to which an engine returns its value counts."""

_SIDES = (Side.BASELINE, Side.PRODUCTION)
_TOP_GROUPS = 20  # conflicting groups listed per dataset (as `tracing.labels.label_conflicts`)
_MAX_KEYS = 20  # broken key values listed per dependency (as `tracing.labels`)
_MAX_VALUES = 10  # examples per finding (as `tracing.quality`)


@dataclass(frozen=True)
class EngineQuality:
    """The quality findings of every row in an engine, and what the user should know.

    Attributes
    ----------
    findings : DataFrame
        As `tracing.quality.quality_checks` returns them.
    notes : tuple of str
        What ran on the engine's sample instead of every row (empty: nothing).
    """

    findings: pd.DataFrame
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# SQL spelling


@dataclass(frozen=True)
class _Kind:
    """How a side's column is checked, from its Arrow type (as `tracing.io` converts it)."""

    numeric: bool  # numbers and times (`tracing.binning.is_numeric_column` after conversion)
    datetime: bool
    floating: bool  # may hold NaN
    text: bool  # strings (compared as strings across sides)


def _kind(t: pa.DataType) -> _Kind:
    import pyarrow as pa

    if pa.types.is_dictionary(t):  # a pandas category, whatever its values: categorical
        value = t.value_type
        return _Kind(False, False, False, bool(pa.types.is_string(value)))
    times = bool(pa.types.is_timestamp(t) or pa.types.is_date(t))
    numbers = bool(pa.types.is_integer(t) or pa.types.is_floating(t))
    text = bool(pa.types.is_string(t) or pa.types.is_large_string(t))
    return _Kind(numbers or times, times, bool(pa.types.is_floating(t)), text)


def _comparable(a: _Kind, b: _Kind) -> bool:
    """Whether values of the two kinds can be equal (as pandas compares them)."""
    if a.numeric or b.numeric:
        return a.numeric and b.numeric and a.datetime == b.datetime
    return a.text == b.text


class _Sql:
    """Queries over an engine's two views, spelled in its dialect."""

    def __init__(self, engine: EngineAnalysis) -> None:
        self.table = engine.table
        self.dialect = engine.backend.dialect
        self.schemas = {s: self.table.schema(s) for s in _SIDES}
        self.kinds = {
            s: {f.name: _kind(f.type) for f in schema} for s, schema in self.schemas.items()
        }

    def view(self, side: Side) -> str:
        return self.table.view(side)

    def col(self, name: str) -> str:
        return str(rowexpr.col(name).sql(dialect=self.dialect))

    def number(self, value: float) -> str:
        return rowexpr.to_sql(rowexpr.literal(value), self.dialect)

    def double(self, name: str) -> str:
        return f"CAST({self.col(name)} AS DOUBLE)"

    def missing(self, side: Side, name: str) -> str:
        x = self.col(name)
        if self.kinds[side][name].floating:
            return f"({x} IS NULL OR ISNAN({x}))"
        return f"({x} IS NULL)"

    def present(self, side: Side, name: str) -> str:
        return f"(NOT {self.missing(side, name)})"

    def clean(self, side: Side, name: str) -> str:
        """Return the column with NaN as NULL (missing is one thing)."""
        x = self.col(name)
        if self.kinds[side][name].floating:
            return f"(CASE WHEN ISNAN({x}) THEN NULL ELSE {x} END)"
        return x

    def finite(self, name: str) -> str:
        x = self.double(name)
        return f"({x} > CAST('-inf' AS DOUBLE) AND {x} < CAST('inf' AS DOUBLE))"

    def hash(self, names: Sequence[str]) -> str:
        args = ", ".join(self.col(n) for n in names)
        return f"XXHASH64({args})" if self.dialect == "spark" else f"HASH({args})"

    def rows(self, sql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.table.query(sql).to_pylist()
        return result


# ---------------------------------------------------------------------------------------------
# Column facts


def _python(value: Any) -> Any:
    """Return an Arrow result value as the in-memory path holds it (times: Timestamps)."""
    import datetime as dt

    if isinstance(value, dt.datetime | dt.date):
        return pd.Timestamp(value)
    return value


def _profile(
    sql: _Sql,
    side: Side,
    columns: Sequence[str],
    ranges: Mapping[str, tuple[float, float]],
    ids: str | None,
) -> dict[str, Any]:
    """One side's facts: rows, missing, extremes, distinct counts, values out of range.

    ``ranges`` are the baseline's finite ranges of the columns numeric on both sides
    (production only); ``ids`` the id column, whose range is fetched too. Keys: ``n``, and per
    column ``i``: ``m`` (missing), ``lo``/``hi`` (extremes, NaN skipped), ``flo``/``fhi``
    (finite extremes, floats), ``d`` (distinct values, text), ``o``/``ol``/``oh`` (outside
    the range: count, lowest, highest); ``id_lo``/``id_hi``.

    Two queries at most. The first reads what SQL gets almost for free: non-null counts,
    plain minima and maxima (Parquet statistics answer some), distinct counts of text. NaN
    sorts above every number in DuckDB and Spark, so a float column whose plain maximum is
    not NaN has none, and one whose extremes are finite holds no infinity: only the others
    (NaN or infinities present) and the production columns that reach beyond the baseline's
    range are read again, row by row, by the second.
    """
    kinds = sql.kinds[side]
    parts = ["COUNT(*) AS n"]
    for i, name in enumerate(columns):
        x = sql.col(name)
        parts.append(f"COUNT({x}) AS c{i}")
        if kinds[name].numeric:
            parts += [f"MIN({x}) AS lo{i}", f"MAX({x}) AS hi{i}"]
        else:
            parts.append(f"COUNT(DISTINCT {x}) AS d{i}")
    if ids is not None and kinds[ids].numeric and not kinds[ids].datetime:
        parts += [f"MIN({sql.double(ids)}) AS id_lo", f"MAX({sql.double(ids)}) AS id_hi"]
    (row,) = sql.rows(f"SELECT {', '.join(parts)} FROM {sql.view(side)}")
    out: dict[str, Any] = dict(row)
    again = []
    for i, name in enumerate(columns):
        out[f"m{i}"] = int(row["n"]) - int(row[f"c{i}"])
        lo, hi = row.get(f"lo{i}"), row.get(f"hi{i}")
        special = kinds[name].floating and lo is not None and not (_finite(lo) and _finite(hi))
        if kinds[name].floating and not special:
            out[f"flo{i}"], out[f"fhi{i}"] = lo, hi
        beyond = False
        if name in ranges and lo is not None and hi is not None and not special:
            beyond = float(lo) < ranges[name][0] or float(hi) > ranges[name][1]
        if special or beyond:
            again.append(i)
        elif name in ranges:
            out[f"o{i}"] = 0
    if again:
        out.update(_profile_rows(sql, side, columns, again, ranges, out))
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int) or math.isfinite(float(value))


def _profile_rows(
    sql: _Sql,
    side: Side,
    columns: Sequence[str],
    which: Sequence[int],
    ranges: Mapping[str, tuple[float, float]],
    first: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the facts of `_profile` that need every value (NaN, infinities, out of range)."""
    parts = []
    for i in which:
        name = columns[i]
        x = sql.col(name)
        if sql.kinds[side][name].floating:
            number, finite = f"(NOT ISNAN({x}))", sql.finite(name)
            parts += [
                f"SUM(CASE WHEN ISNAN({x}) THEN 1 ELSE 0 END) AS nan{i}",
                f"MIN(CASE WHEN {number} THEN {x} END) AS lo{i}",
                f"MAX(CASE WHEN {number} THEN {x} END) AS hi{i}",
                f"MIN(CASE WHEN {finite} THEN {x} END) AS flo{i}",
                f"MAX(CASE WHEN {finite} THEN {x} END) AS fhi{i}",
            ]
        if name in ranges:
            lo, hi = ranges[name]
            v = sql.double(name)
            out = f"(NOT ISNAN({v}) AND ({v} < {sql.number(lo)} OR {v} > {sql.number(hi)}))"
            parts += [
                f"SUM(CASE WHEN {out} THEN 1 ELSE 0 END) AS o{i}",
                f"MIN(CASE WHEN {out} THEN {v} END) AS ol{i}",
                f"MAX(CASE WHEN {out} THEN {v} END) AS oh{i}",
            ]
    (row,) = sql.rows(f"SELECT {', '.join(parts)} FROM {sql.view(side)}")
    found = dict(row)
    for i in which:
        if f"nan{i}" in found:
            found[f"m{i}"] = int(first[f"m{i}"]) + int(found.pop(f"nan{i}") or 0)
    return found


def _value_counts(sql: _Sql, side: Side, columns: Sequence[str]) -> dict[str, pd.Series]:
    """Rows per distinct non-missing value of each column (one GROUPING SETS query).

    Sorted as `tracing.sqltable.SqlTable.value_counts` (most rows first, ties by value).
    """
    if not columns:
        return {}
    xs = [sql.col(c) for c in columns]
    flags = ", ".join(f"GROUPING({x}) AS g{i}" for i, x in enumerate(xs))
    values = ", ".join(f"{x} AS v{i}" for i, x in enumerate(xs))
    sets = ", ".join(f"({x})" for x in xs)
    table = sql.table.query(
        f"SELECT {flags}, {values}, COUNT(*) AS n FROM {sql.view(side)} "
        f"GROUP BY GROUPING SETS ({sets})"
    ).to_pandas(types_mapper=None)
    out = {}
    for i, name in enumerate(columns):
        rows = table[(table[f"g{i}"] == 0) & table[f"v{i}"].notna()]
        out[name] = _counts_series(rows[f"v{i}"].tolist(), rows["n"].tolist(), name)
    return out


def _counts_series(values: list[Any], counts: list[int], name: str) -> pd.Series:
    frame = pd.DataFrame({"v": pd.Series(values, dtype=object), "n": counts})
    frame = frame.sort_values(["n", "v"], ascending=[False, True], kind="mergesort")
    index = pd.Index(frame["v"].tolist(), dtype=object, name=name)
    return pd.Series(frame["n"].to_numpy(dtype="int64"), index=index, name="count")


class _EngineColumn:
    """`tracing.quality.ColumnFacts` of one column, from the engine's aggregates."""

    def __init__(
        self,
        name: str,
        i: int,
        facts: _EngineFacts,
    ) -> None:
        self.name = name
        self._i = i
        self._facts = facts
        kinds = [facts.sql.kinds[s][name] for s in _SIDES]
        self._kinds = kinds
        self.n = facts.rows
        self.numeric = (kinds[0].numeric, kinds[1].numeric)
        self.datetime = any(k.datetime for k in kinds)

    def _get(self, side: int, key: str) -> Any:
        return self._facts.profile[side].get(f"{key}{self._i}")

    @property
    def missing(self) -> tuple[int, int]:
        return int(self._get(0, "m")), int(self._get(1, "m"))

    @property
    def baseline_distinct(self) -> int:
        return int(self._get(0, "d") or 0)

    def _few(self, side: int) -> int:
        if self.numeric[side]:
            lo, hi = self._get(side, "lo"), self._get(side, "hi")
            if lo is None:  # every value missing (or none)
                return 0
            return 1 if lo == hi else 2
        return min(int(self._get(side, "d")), 2)

    @property
    def few_distinct(self) -> tuple[int, int]:
        return self._few(0), self._few(1)

    @property
    def single_value(self) -> Any:
        if self.numeric[1]:
            return _python(self._get(1, "lo"))
        counts = self.counts(1)
        assert counts is not None  # one value is always counted
        return counts.index[0]

    @property
    def baseline_range(self) -> tuple[float, float] | None:
        if not self.numeric[0] or self.datetime:
            return None
        key = ("flo", "fhi") if self._kinds[0].floating else ("lo", "hi")
        lo, hi = self._get(0, key[0]), self._get(0, key[1])
        return None if lo is None else (float(lo), float(hi))

    @property
    def outside(self) -> tuple[int, float, float]:
        count = int(self._get(1, "o") or 0)
        if not count:
            return 0, math.nan, math.nan
        return count, float(self._get(1, "ol")), float(self._get(1, "oh"))

    def counts(self, side: int) -> pd.Series | None:
        return self._facts.counts[side].get(self.name)

    def absent(self, side: int, min_count: int) -> ValueSet:
        mine, other = self.counts(side), self.counts(1 - side)
        if mine is not None and other is not None:
            return absent_values(mine, other, min_count)
        return self._facts.absent_in_engine(self.name, side, min_count)

    def kinds(self, side: int) -> pd.Series | None:
        # A typed Arrow column holds one type: "mixed types" cannot occur.
        return None


class _EngineFacts:
    """`tracing.quality.Facts` of an engine: its aggregates, fetched once per side."""

    def __init__(self, engine: EngineAnalysis, columns: Sequence[str]) -> None:
        self.engine = engine
        self.sql = _Sql(engine)
        self.schema: Schema = engine.schema
        self.rows = engine.rows
        self.names = list(columns)
        self.id_column = engine.schema.roles.prediction_id or None
        base = _profile(self.sql, Side.BASELINE, self.names, {}, self.id_column)
        self.columns = [_EngineColumn(c, i, self) for i, c in enumerate(self.names)]
        self.profile: list[dict[str, Any]] = [base]
        ranges = {}
        for col in self.columns:
            limits = col.baseline_range if all(col.numeric) else None
            if limits is not None:
                ranges[col.name] = limits
        self.profile.append(
            _profile(self.sql, Side.PRODUCTION, self.names, ranges, self.id_column)
        )
        self.uncounted: list[tuple[str, int]] = []  # (column, side) too many values to count
        self.counts: list[dict[str, pd.Series]] = []
        for side_index, side in enumerate(_SIDES):
            wanted = []
            for col in self.columns:
                if col.numeric[side_index]:
                    continue
                if int(col._get(side_index, "d")) <= MAX_COUNTED:
                    wanted.append(col.name)
                else:
                    self.uncounted.append((col.name, side_index))
            self.counts.append(_value_counts(self.sql, side, wanted))

    def absent_in_engine(self, name: str, side: int, min_count: int) -> ValueSet:
        """Values of ``side`` the other side lacks, found in the engine (too many to count)."""
        mine, other = _SIDES[side], _SIDES[1 - side]
        x = self.sql.col(name)
        kinds = self.sql.kinds
        unseen = (
            f" AND v NOT IN (SELECT {x} FROM {self.sql.view(other)} WHERE {x} IS NOT NULL)"
            if _comparable(kinds[mine][name], kinds[other][name])
            else ""  # values of two kinds never match: every value is absent
        )
        rows = self.sql.rows(
            f"SELECT v, n, COUNT(*) OVER () AS k, SUM(n) OVER () AS r FROM (SELECT {x} AS v, "
            f"COUNT(*) AS n FROM {self.sql.view(mine)} WHERE {x} IS NOT NULL GROUP BY {x} "
            f"HAVING COUNT(*) >= {int(min_count)}) AS c WHERE TRUE{unseen} "
            f"ORDER BY n DESC, v LIMIT {_MAX_VALUES}"
        )
        if not rows:
            return ValueSet()
        return ValueSet(
            tuple(r["v"] for r in rows),
            tuple(int(r["n"]) for r in rows),
            int(rows[0]["k"]),
            int(rows[0]["r"]),
        )

    @cached_property
    def ids(self) -> IdFacts | None:
        if not self.id_column:
            return None
        return _id_facts(self.sql, self.id_column, self.profile)

    @cached_property
    def labels(self) -> LabelConflicts:
        return engine_label_conflicts(self.engine)

    @cached_property
    def coverage(self) -> ActualsCoverage | None:
        from tracing.selection import actuals_coverage

        return actuals_coverage(self.engine.sample)  # drift tests on rows: the sample


def _id_facts(sql: _Sql, column: str, profile: Sequence[Mapping[str, Any]]) -> IdFacts:
    """Repeated ids per side and production ids also in the baseline, from the engine."""
    x = sql.col(column)
    repeated = []
    for side in _SIDES:
        rows = sql.rows(
            f"SELECT v, n, COUNT(*) OVER () AS k, SUM(n) OVER () AS r FROM (SELECT {x} AS v, "
            f"COUNT(*) AS n FROM {sql.view(side)} WHERE {sql.present(side, column)} "
            f"GROUP BY {x} HAVING COUNT(*) > 1) AS d ORDER BY n DESC, v LIMIT {_MAX_VALUES}"
        )
        repeated.append(
            RepeatedIds(
                int(rows[0]["r"]),
                int(rows[0]["k"]),
                tuple(_python(r["v"]) for r in rows),
                tuple(int(r["n"]) for r in rows),
            )
            if rows
            else RepeatedIds()
        )
    pair = (repeated[0], repeated[1])
    kinds = [sql.kinds[s][column] for s in _SIDES]
    if not _comparable(*kinds) or _apart(profile):
        return IdFacts(column, pair)
    base = sql.view(Side.BASELINE)
    rows = sql.rows(
        f"SELECT v, SUM(n) OVER () AS r FROM (SELECT {x} AS v, COUNT(*) AS n FROM "
        f"{sql.view(Side.PRODUCTION)} WHERE {x} IN (SELECT {x} FROM {base} WHERE "
        f"{sql.present(Side.BASELINE, column)}) GROUP BY {x}) AS s ORDER BY v LIMIT {_MAX_VALUES}"
    )
    if not rows:
        return IdFacts(column, pair)
    return IdFacts(column, pair, int(rows[0]["r"]), tuple(_python(r["v"]) for r in rows))


def _apart(profile: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the two sides' numeric id ranges do not overlap (so no id is in both)."""
    if any("id_lo" not in p for p in profile):
        return False  # ids that are not numbers: not known
    (blo, bhi), (plo, phi) = ((p["id_lo"], p["id_hi"]) for p in profile)
    if blo is None or plo is None:
        return True  # a side without ids shares none
    return bool(bhi < plo or phi < blo)


# ---------------------------------------------------------------------------------------------
# The checks on every row


@per_analysis
def engine_quality_checks(
    analysis: EngineAnalysis,
    *,
    columns: Sequence[str] | None = None,
    checks: Sequence[str] | None = None,
) -> EngineQuality:
    """Run `tracing.quality.quality_checks` on every row of a SQL engine.

    Parameters are those of `tracing.quality.quality_checks` (columns default to the
    sample's `tracing.quality.checked_columns`).

    Returns
    -------
    EngineQuality
        The findings, and notes on what ran on the engine's sample (module docstring).

    Raises
    ------
    DataError
        Unknown check id or column, or a query the engine could not run.
    """
    sql_views = [set(analysis.table.columns(s)) for s in _SIDES]
    chosen, cols = validate(
        analysis.sample, columns=columns, checks=checks, available=sql_views[0] & sql_views[1]
    )
    per_column = {"missing_rate", "new_category", "vanished_category", "out_of_range"}
    per_column |= {"type_mismatch", "constant"}
    facts = _EngineFacts(analysis, cols if per_column & set(chosen) else [])
    rows = _records(run_checks(facts, chosen))
    notes = []
    sampled = [(c, s) for c, s in facts.uncounted if "type_mismatch" in chosen]
    if sampled:
        from tracing.quality import quality_checks

        on_sample = quality_checks(
            analysis.sample, columns=sorted({c for c, _ in sampled}), checks=["type_mismatch"]
        )
        datasets = {(c, ("baseline", "production")[s]) for c, s in sampled}
        rows += [r for r in _records(on_sample) if (r["feature"], r["dataset"]) in datasets]
        names = ", ".join(quoted(c) for c in sorted({c for c, _ in sampled}))
        notes.append(
            f"quality: text in numbers of {names} (more than {MAX_COUNTED:,} distinct values) "
            "was checked on the engine's sample"
        )
    if "biased_actuals" in chosen:
        notes.append(
            "quality: the biased-actuals check ran on the engine's sample; every other check "
            "on all rows"
        )
    if {"label_conflict", "broken_dependency"} & set(chosen):
        notes.append(
            "quality: dependencies (zip -> city) were discovered on the engine's sample and "
            "each was verified on all rows"
        )
    return EngineQuality(findings_table(rows), tuple(notes))


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in table.to_dict(orient="records")]


# ---------------------------------------------------------------------------------------------
# Label conflicts on every row


@per_analysis
def engine_label_conflicts(
    analysis: EngineAnalysis, *, columns: Sequence[str] | None = None, min_keys: int = 5
) -> LabelConflicts:
    """Run `tracing.labels.label_conflicts` on every row of a SQL engine.

    Identical-feature groups are counted in the engine (module docstring); dependencies are
    discovered on the engine's sample and confirmed, and their breaks counted, on every row.

    Returns
    -------
    LabelConflicts
        As `tracing.labels.label_conflicts`; ties in group or key sizes are ordered by value.
    """
    roles = analysis.schema.roles
    sql = _Sql(analysis)
    cols = list(roles.slice_columns()) if columns is None else list(columns)
    unknown = [c for c in cols if any(c not in sql.kinds[s] for s in _SIDES)]
    if unknown:
        raise DataError(
            f"column {quoted(unknown[0])} is not in both datasets; choose from: "
            f"{', '.join(roles.slice_columns())}."
        )
    has_actuals = analysis.valid.count(Side.PRODUCTION) > 0
    applies = conflicts_apply(analysis.schema, has_actuals=has_actuals)
    empty = ConflictCounts(pd.DataFrame(columns=list(GROUP_COLUMNS)))
    found = [
        _conflict_counts(sql, side, list(roles.features), str(roles.actual_label))
        if applies and roles.features
        else empty
        for side in _SIDES
    ]
    return summarize_conflicts(
        found,
        analysis.rows,
        applies=applies,
        has_actuals=has_actuals,
        dependencies=_dependencies(analysis, sql, cols, min_keys),
    )


def _conflict_counts(sql: _Sql, side: Side, features: list[str], actual: str) -> ConflictCounts:
    """Identical feature rows with different actuals on one side (module docstring)."""
    complete = " AND ".join(sql.present(side, c) for c in [actual, *features])
    view, key = sql.view(side), sql.hash(features)
    (first,) = sql.rows(
        f"SELECT SUM(n) AS checked, SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) AS singles FROM "
        f"(SELECT COUNT(*) AS n FROM {view} WHERE {complete} GROUP BY {key}) AS h"
    )
    checked, singles = int(first["checked"] or 0), int(first["singles"] or 0)
    empty = pd.DataFrame(columns=list(GROUP_COLUMNS))
    if checked == singles:  # no hash repeats: every checked row is a feature row of its own
        return ConflictCounts(empty, checked=checked, distinct=checked)
    fs = [f"f{i}" for i in range(len(features))]
    cols = ", ".join(fs)
    named = ", ".join(f"{sql.col(c)} AS f{i}" for i, c in enumerate(features))
    joined = " AND ".join(f"r.{f} = g.{f}" for f in fs)
    rows = sql.rows(
        f"WITH rep AS (SELECT {key} AS h FROM {view} WHERE {complete} GROUP BY {key} "
        f"HAVING COUNT(*) > 1), "
        f"g AS (SELECT {named}, {sql.col(actual)} AS a, COUNT(*) AS n FROM {view} "
        f"WHERE {complete} AND {key} IN (SELECT h FROM rep) GROUP BY {cols}, {sql.col(actual)}), "
        f"k AS (SELECT {cols}, COUNT(*) AS nl, SUM(n) AS size FROM g GROUP BY {cols}), "
        f"r AS (SELECT {cols}, nl, size, COUNT(*) OVER () AS kd, "
        f"SUM(CASE WHEN nl > 1 THEN 1 ELSE 0 END) OVER () AS kg, "
        f"SUM(CASE WHEN nl > 1 THEN size ELSE 0 END) OVER () AS kr, "
        f"ROW_NUMBER() OVER (ORDER BY CASE WHEN nl > 1 THEN 0 ELSE 1 END, size DESC, {cols}) "
        f"AS rank FROM k) "
        f"SELECT r.rank, r.nl, r.kd, r.kg, r.kr, {', '.join(f'r.{f}' for f in fs)}, g.a, g.n "
        f"FROM r LEFT JOIN g ON r.nl > 1 AND {joined} WHERE r.rank <= {_TOP_GROUPS} "
        f"ORDER BY r.rank, g.a"
    )
    totals = rows[0]
    groups = []
    for rank in sorted({int(r["rank"]) for r in rows if int(r["nl"]) > 1}):
        members = [r for r in rows if int(r["rank"]) == rank]
        labels = pd.Series(
            [int(r["n"]) for r in members], index=pd.Index([r["a"] for r in members], dtype=object)
        )
        example = {c: _python(members[0][f]) for c, f in zip(features, fs, strict=True)}
        groups.append(conflict_group(labels, example))
    table = pd.DataFrame(groups, columns=[c for c in GROUP_COLUMNS if c != "group"])
    table.insert(0, "group", range(len(table)))
    return ConflictCounts(
        table,
        int(totals["kg"]),
        int(totals["kr"]),
        checked,
        singles + int(totals["kd"]),
    )


def _dependencies(
    analysis: EngineAnalysis, sql: _Sql, cols: Sequence[str], min_keys: int
) -> pd.DataFrame:
    """Broken dependencies: discovered on the sample, confirmed and counted on every row."""
    sample = analysis.sample.baseline_frame
    shared = [c for c in cols if c in sample.columns]
    pairs = candidate_pairs(sample, candidate_columns(sample, shared))
    kinds = sql.kinds
    pairs = [
        (k, d)
        for k, d in pairs
        if all(_comparable(kinds[Side.BASELINE][c], kinds[Side.PRODUCTION][c]) for c in (k, d))
    ]
    involved = list(dict.fromkeys(c for pair in pairs for c in pair))
    facts, broken_whole = _key_facts(sql, involved)
    pairs = [(k, d) for k, d in pairs if k not in broken_whole and d not in broken_whole]
    deps = confirmed_dependencies(pairs, facts, lambda k, d: _holds(sql, k, d), min_keys=min_keys)
    rows: list[dict[str, Any]] = []
    for key, dep in deps[["key", "dependent"]].itertuples(index=False):
        rows += _broken(sql, str(key), str(dep))
    return pd.DataFrame(rows, columns=list(DEPENDENCY_COLUMNS))


def _key_facts(sql: _Sql, columns: Sequence[str]) -> tuple[dict[str, KeyFacts], set[str]]:
    """`tracing.labels.KeyFacts` of baseline columns, and the float columns not whole.

    One query: rows per value of each column (``GROUPING SETS``), summed per column.
    """
    if not columns:
        return {}, set()
    side = Side.BASELINE
    inner = ", ".join(f"{sql.clean(side, c)} AS c{i}" for i, c in enumerate(columns))
    flags = ", ".join(f"GROUPING(c{i}) AS g{i}" for i in range(len(columns)))
    values = ", ".join(f"c{i}" for i in range(len(columns)))
    sets = ", ".join(f"(c{i})" for i in range(len(columns)))
    keep = " OR ".join(f"(g{i} = 0 AND c{i} IS NOT NULL)" for i in range(len(columns)))
    floats = [i for i, c in enumerate(columns) if sql.kinds[side][c].floating]
    whole = "".join(
        f", SUM(CASE WHEN c{i} > CAST('-inf' AS DOUBLE) AND c{i} < CAST('inf' AS DOUBLE) "
        f"AND c{i} <> ROUND(c{i}) THEN 1 ELSE 0 END) AS w{i}"
        for i in floats
    )
    group = ", ".join(f"g{i}" for i in range(len(columns)))
    rows = sql.rows(
        f"SELECT {group}, COUNT(*) AS k, SUM(n) AS r, SUM(CASE WHEN n >= 2 THEN n ELSE 0 END) "
        f"AS rep{whole} FROM (SELECT {flags}, {values}, COUNT(*) AS n FROM (SELECT {inner} "
        f"FROM {sql.view(side)}) AS t GROUP BY GROUPING SETS ({sets})) AS v WHERE {keep} "
        f"GROUP BY {group}"
    )
    facts = {c: KeyFacts(0, 0, 0) for c in columns}
    not_whole = set()
    for row in rows:
        i = next(j for j in range(len(columns)) if row[f"g{j}"] == 0)
        facts[columns[i]] = KeyFacts(int(row["k"]), int(row["r"]), int(row["rep"]))
        if i in floats and int(row[f"w{i}"] or 0) > 0:
            not_whole.add(columns[i])
    return facts, not_whole


def _holds(sql: _Sql, key: str, dep: str) -> bool:
    """Whether every baseline key value has one dependent value (both present)."""
    side = Side.BASELINE
    k, d = sql.col(key), sql.col(dep)
    rows = sql.rows(
        f"SELECT {k} AS k FROM {sql.view(side)} WHERE {sql.present(side, key)} AND "
        f"{sql.present(side, dep)} GROUP BY {k} HAVING COUNT(DISTINCT {d}) > 1 LIMIT 1"
    )
    return not rows


def _broken(sql: _Sql, key: str, dep: str) -> list[dict[str, Any]]:
    """Production key values that carry another dependent value than the baseline's, or several.

    The `_MAX_KEYS` with the most conflicting rows, as `tracing.labels.broken_dependencies`
    lists them (`tracing.labels.broken_row` builds each row).
    """
    b, p = Side.BASELINE, Side.PRODUCTION
    k, d = sql.col(key), sql.col(dep)
    both_b = f"{sql.present(b, key)} AND {sql.present(b, dep)}"
    both_p = f"{sql.present(p, key)} AND {sql.present(p, dep)}"
    rows = sql.rows(
        f"WITH m AS (SELECT {k} AS k, MIN({d}) AS b FROM {sql.view(b)} WHERE {both_b} "
        f"GROUP BY {k}), "
        f"p AS (SELECT {k} AS k, {d} AS v, COUNT(*) AS n FROM {sql.view(p)} WHERE {both_p} "
        f"GROUP BY {k}, {d}), "
        f"j AS (SELECT p.k, p.v, p.n, m.b, COUNT(*) OVER (PARTITION BY p.k) AS nv FROM p "
        f"LEFT JOIN m ON p.k = m.k), "
        f"bad AS (SELECT k, v, n, b, COALESCE(b, FIRST_VALUE(v) OVER (PARTITION BY k ORDER BY "
        f"n DESC, v)) AS ref FROM j WHERE nv >= 2 OR (b IS NOT NULL AND v <> b)), "
        f"ranked AS (SELECT k, SUM(CASE WHEN v <> ref THEN n ELSE 0 END) AS c FROM bad "
        f"GROUP BY k ORDER BY c DESC, k LIMIT {_MAX_KEYS}) "
        f"SELECT bad.k, bad.v, bad.n, bad.b, ranked.c FROM bad JOIN ranked ON bad.k = ranked.k "
        f"ORDER BY ranked.c DESC, bad.k, bad.v"
    )
    out: list[dict[str, Any]] = []
    keys: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        keys.setdefault(r["k"], []).append(r)
    for value, members in keys.items():
        out.append(
            broken_row(
                key,
                dep,
                _python(value),
                _python(members[0]["b"]),
                [_python(m["v"]) for m in members],
                [int(m["n"]) for m in members],
            )
        )
    out.sort(key=lambda r: -r["conflict_rows"])
    return out
