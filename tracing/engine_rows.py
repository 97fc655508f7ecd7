"""Which rows a SQL engine compares: windows, model versions and delayed actuals, as views.

`tracing.rows.compared_rows` cuts loaded tables. For data held by an engine, `engine_rows`
gives each side a `tracing.sqltable.DefinedView`: a query over the registered sources (views
``rows_production``, ``rows_baseline``, ``rows_actuals``), so every later query of the analysis
reads only that side's rows and nothing is copied. The same source may be both sides, with
different filters. The decisions are those of the in-memory path, by the same code:

- **Windows** (`tracing.windows.parse_window`, `one_file_windows`, `window_bounds`,
  `tracing.rows.production_window`): the bounds are aligned to the timestamp column's zone as
  the files record it, in Python, then compared with each row's instant (zoned columns) or
  wall time (naive columns, dates) as exact integers; numeric epochs count seconds or
  milliseconds by the in-memory rule (the largest magnitude of the table cut). Empty or
  overlapping windows are refused with the in-memory messages (`check_window_counts`), and
  the notes count rows without a timestamp and outside both parts (`split_notes`). Timestamps
  held as text are refused: which text is a time is pandas' parser's decision.
- **Model versions** are matched as text (`tracing.windows.check_versions`); the version column
  is dropped from both sides.
- **Delayed actuals** (`tracing.actuals`' rule, columns by `join_columns`): production ``LEFT
  JOIN`` the latest usable actual per id (``ROW_NUMBER() OVER (PARTITION BY id ORDER BY time
  DESC, file order DESC)``: a missing time is the oldest, equal times go to the later row of the
  file). File order is exact for in-memory tables, DuckDB's local files
  (``file_row_number``) and a single file in Spark; elsewhere ids whose latest actuals tie with
  different values are refused. The `tracing.actuals.JoinReport` is counted by the engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlglot import exp

from tracing.actuals import JoinReport, join_columns
from tracing.engine_timeline import _epoch, _kind, _micros, _wall
from tracing.errors import DataError
from tracing.rowexpr import col, to_sql
from tracing.rows import RowsSpec, production_window
from tracing.schema import detect_roles
from tracing.sqlbackend import SqlBackend, TableSource
from tracing.sqltable import DefinedView, show_source
from tracing.windows import (
    VERSION_COLUMN,
    Window,
    check_versions,
    check_window_counts,
    one_file_windows,
    split_notes,
    window_bounds,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["EngineRows", "engine_rows"]

Side = TableSource | DefinedView
_PRODUCTION, _BASELINE, _ACTUALS = "rows_production", "rows_baseline", "rows_actuals"
_ORDER = "__tracing_order"
_EPOCH_MS = 1e11  # tracing.windows' rule: a larger epoch number counts milliseconds


@dataclass(frozen=True)
class EngineRows:
    """The rows compared, as views: what `tracing.rows.ComparedRows` is in memory.

    Attributes
    ----------
    baseline : TableSource or DefinedView or None
        What production is compared with (None: no baseline file, window or version).
    production : TableSource or DefinedView
        Production rows.
    names : (str, str)
        Display names (source labels with the window or version).
    notes : tuple of str
        What the join and the cut did.
    join : JoinReport or None
        The delayed-actuals join, counted by the engine.
    timeline_production, timeline_baseline
        The timeline's rows (`tracing.rows.ComparedRows`).
    """

    baseline: Side | None
    production: Side
    names: tuple[str, str]
    notes: tuple[str, ...]
    join: JoinReport | None
    timeline_production: Side
    timeline_baseline: Side | None


@dataclass(frozen=True)
class _Rel:
    """A relation being cut: its SQL (a view or a subquery), columns and what it reads."""

    label: str
    sql: str
    columns: tuple[str, ...]
    reads: tuple[tuple[str, TableSource], ...]
    base: TableSource
    types: Mapping[str, pa.DataType]  # the columns' types as the files record them
    dialect: str

    def view(self, where: str | None = None, *, drop: tuple[str, ...] = ()) -> DefinedView:
        """Return the rows where ``where`` holds, without the columns ``drop``, as a view."""
        return DefinedView(self.label, self.select(where, drop=drop), self.reads, self.base)

    def select(self, where: str | None = None, *, drop: tuple[str, ...] = ()) -> str:
        """Return ``SELECT`` of the kept columns of the rows where ``where`` holds."""
        kept = [_ident(c, self.dialect) for c in self.columns if c not in drop]
        projection = "*" if not drop else ", ".join(kept)
        return f"SELECT {projection} FROM {self.sql} AS t" + (f" WHERE {where}" if where else "")

    def replace(self, sql: str, **changes: Any) -> _Rel:
        """Return the same table read through another query."""
        return dataclasses.replace(self, sql=sql, **changes)


def _ident(name: str, dialect: str) -> str:
    return str(exp.to_identifier(name, quoted=True).sql(dialect=dialect))


class _Sql:
    """The dialect's spellings of the few things written here as text."""

    def __init__(self, backend: SqlBackend) -> None:
        self.backend = backend
        self.dialect = backend.dialect
        self.text = "STRING" if self.dialect == "spark" else "VARCHAR"

    def q(self, name: str) -> str:
        return _ident(name, self.dialect)

    def e(self, e: exp.Expression) -> str:
        return to_sql(e, self.dialect)

    def one(self, sql: str) -> dict[str, Any]:
        table = self.backend.query(sql)
        return {n: table.column(n)[0].as_py() for n in table.column_names}


def _relation(sql: _Sql, view: str, source: TableSource) -> _Rel:
    """Register ``source`` as ``view`` and describe it."""
    show_source(sql.backend, view, source)
    shown = sql.backend.schema(view)
    types = {f.name: f.type for f in shown}
    if source.table is None:  # the zone the files record (DuckDB shows its session's)
        written = source.dataset().schema
        types.update({f.name: f.type for f in written if f.name in types})
    reads = ((view, source),)
    return _Rel(source.label, view, tuple(shown.names), reads, source, types, sql.dialect)


def engine_rows(
    backend: SqlBackend,
    production: TableSource,
    baseline: TableSource | None = None,
    *,
    spec: RowsSpec | None = None,
    names: tuple[str, str] | None = None,
    actuals: TableSource | None = None,
    actuals_name: str | None = None,
    roles: Mapping[str, Any] | None = None,
) -> EngineRows:
    """Join delayed actuals to production, then cut model versions and windows, in the engine.

    Parameters are those of `tracing.rows.compared_rows`, with sources instead of frames
    (``names`` and ``actuals_name`` default to the sources' labels).

    Returns
    -------
    EngineRows

    Raises
    ------
    DataError
        As `tracing.rows.compared_rows`; also for a timestamp held as text.
    """
    spec = spec or RowsSpec()
    roles = dict(roles or {})
    names = names or (baseline.label if baseline else "baseline", production.label)
    sql = _Sql(backend)
    prod = _relation(sql, _PRODUCTION, production)
    notes: tuple[str, ...] = ()
    join = None
    if actuals is not None:
        actuals_name = actuals_name or actuals.label
        prod, join = _join(sql, prod, actuals, roles, (names[1], actuals_name))
        notes = join.notes(actuals_name)
    stamp = roles.get("timestamp")
    if spec.by_version:
        if baseline is not None:
            raise DataError(
                "--baseline-version and --production-version compare two model versions of "
                "the production file: drop the baseline file (--baseline), or the versions."
            )
        return _by_version(sql, prod, spec, names[1], stamp, notes, join)
    if baseline is None and spec.one_file:
        return _one_file(sql, prod, spec, names[1], stamp, notes, join)
    prod_side: Side = prod.view() if prod.sql != _PRODUCTION else production
    base_side: Side | None = baseline
    out_names = names
    if spec._production is not None:
        where = _window_filter(sql, prod, spec._production, stamp, names[1], "--production-window")
        prod_side = prod.view(where)
        out_names = (names[0], f"{names[1]} [{spec.production_window}]")
    if baseline is not None and spec._baseline is not None:
        base = _relation(sql, _BASELINE, baseline)
        where = _window_filter(sql, base, spec._baseline, stamp, names[0], "--baseline-window")
        base_side = base.view(where)
        out_names = (f"{names[0]} [{spec.baseline_window}]", out_names[1])
    timeline_prod: Side = prod.view() if prod.sql != _PRODUCTION else production
    return EngineRows(base_side, prod_side, out_names, notes, join, timeline_prod, base_side)


# ---------------------------------------------------------------------------------------------
# Windows


def _time_column(sql: _Sql, rel: _Rel, stamp: str | None, name: str) -> str:
    """Return the timestamp column as `tracing.windows.timestamp_column` finds it."""
    if stamp:
        if stamp not in rel.columns:
            raise DataError(
                f"{name}: timestamp column {stamp!r} is not in the file; available columns: "
                f"{', '.join(rel.columns)}."
            )
        return stamp
    found = detect_roles(list(rel.columns)).timestamp
    if not found:
        raise DataError(
            f"{name}: no timestamp column found; name it with --timestamp (or pick it on the "
            "Data page)."
        )
    return found


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _time_value(sql: _Sql, rel: _Rel, column: str, name: str) -> tuple[exp.Expression, int, Any]:
    """Return each row's time as an integer (NULL: missing), its units per second, its zone.

    Zoned timestamps give their instant, naive ones and dates their wall time, numeric epochs
    their instant (UTC, the in-memory reading of a number).
    """
    dtype = rel.types[column]
    kind = _kind(dtype)
    x = col(column)
    if kind in ("integer", "float"):
        value = exp.Cast(this=x.copy(), to=exp.DataType.build("double"))
        finite = f"{sql.e(value)} IS NOT NULL AND NOT ISNAN({sql.e(value)})"
        top = sql.one(f"SELECT MAX(ABS({sql.e(value)})) AS m FROM {rel.sql} AS t WHERE {finite}")
        scale = 10**3 if (top["m"] or 0.0) >= _EPOCH_MS else 10**6
        return _epoch(x.copy(), integer=kind == "integer", scale=scale), 10**6, "UTC"
    if kind is None:
        raise DataError(
            f"{name}: the timestamp column {column!r} holds {dtype}; the {sql.backend.name} "
            "engine cuts windows and orders actuals on timestamp, date or epoch-number columns "
            "(pandas' parser decides which text is a time): store it as a Parquet timestamp, "
            "or use --engine memory."
        )
    if kind == "timestamp" and dtype.tz is not None:  # the instant
        if sql.dialect == "duckdb" and dtype.unit == "ns":
            return exp.Anonymous(this="EPOCH_NS", expressions=[x.copy()]), 10**9, dtype.tz
        return _micros(sql.dialect, x.copy()), 10**6, dtype.tz
    wall, per_second, _ = _wall(sql.dialect, x.copy(), dtype)
    return wall, per_second, None


def _inside(value: str, window: Window, tz: Any, per_second: int) -> str:
    """Return the SQL condition "the row's time is in ``window``" (never NULL)."""
    start, end = window_bounds(window, tz)
    unit = 10**9 // per_second

    def units(bound: pd.Timestamp) -> int:
        # A row at r units is at or after a bound of b ns exactly when r >= ceil(b / unit).
        return _ceil_div(int(bound.value), unit)

    parts = [f"{value} IS NOT NULL"]
    if start is not None:
        parts.append(f"{value} >= {units(start)}")
    if end is not None:
        parts.append(f"{value} < {units(end)}")
    return "COALESCE(" + " AND ".join(parts) + ", FALSE)"


def _window_filter(
    sql: _Sql, rel: _Rel, window: Window, stamp: str | None, name: str, option: str
) -> str:
    """Return the condition of one window over one table; refuse it when it holds no rows."""
    column = _time_column(sql, rel, stamp, name)
    value, per_second, tz = _time_value(sql, rel, column, name)
    where = _inside(sql.e(value), window, tz, per_second)
    found = sql.one(f"SELECT COUNT(*) AS n FROM {rel.sql} AS t WHERE {where}")
    if not found["n"]:
        raise DataError(f"{name}: {option} {window.text!r} holds no rows; check the dates.")
    return where


def _one_file(
    sql: _Sql,
    rel: _Rel,
    spec: RowsSpec,
    name: str,
    stamp: str | None,
    notes: tuple[str, ...],
    join: JoinReport | None,
) -> EngineRows:
    """Both windows of one table (`tracing.windows.split_by_windows`)."""
    prod_w, base_w, base_label = one_file_windows(production_window(spec), spec._baseline)
    column = _time_column(sql, rel, stamp, name)
    value, per_second, tz = _time_value(sql, rel, column, name)
    v = sql.e(value)
    in_prod, in_base = _inside(v, prod_w, tz, per_second), _inside(v, base_w, tz, per_second)
    c = sql.q(column)
    found = sql.one(
        f"SELECT COUNT(*) AS n, SUM(CASE WHEN {in_base} THEN 1 ELSE 0 END) AS b, "
        f"SUM(CASE WHEN {in_prod} THEN 1 ELSE 0 END) AS p, "
        f"SUM(CASE WHEN {in_base} AND {in_prod} THEN 1 ELSE 0 END) AS both, "
        f"SUM(CASE WHEN {v} IS NULL THEN 1 ELSE 0 END) AS no_time, "
        f"CAST(MIN({c}) AS {sql.text}) AS lo, CAST(MAX({c}) AS {sql.text}) AS hi "
        f"FROM {rel.sql} AS t"
    )
    span = f"{found['lo']} .. {found['hi']}" if found["lo"] is not None else "no timestamps"
    counts = (int(found["b"] or 0), int(found["p"] or 0), int(found["both"] or 0))
    check_window_counts(counts, span=span, col=column, name=name, texts=(base_w.text, prod_w.text))
    outside = int(found["n"]) - counts[0] - counts[1]
    cut = split_notes(outside, int(found["no_time"] or 0), col=column, name=name)
    names = (f"{name} [{base_label}]", f"{name} [{prod_w.text}]")
    timeline: Side = rel.view()
    return EngineRows(
        rel.view(in_base), rel.view(in_prod), names, (*notes, *cut), join, timeline, None
    )


# ---------------------------------------------------------------------------------------------
# Model versions


def _by_version(
    sql: _Sql,
    rel: _Rel,
    spec: RowsSpec,
    name: str,
    stamp: str | None,
    notes: tuple[str, ...],
    join: JoinReport | None,
) -> EngineRows:
    """Two model versions of one table (`tracing.windows.split_by_version`)."""
    column = VERSION_COLUMN
    if column not in rel.columns:
        raise DataError(
            f"{name}: no model version column {column!r}; available columns: "
            f"{', '.join(rel.columns)}."
        )
    text = f"CAST({sql.q(column)} AS {sql.text})"
    versions = (spec.version_baseline, spec.version_production)
    conds = [f"COALESCE({text} = {sql.e(exp.Literal.string(str(v)))}, FALSE)" for v in versions]
    found = sql.one(
        f"SELECT SUM(CASE WHEN {conds[0]} THEN 1 ELSE 0 END) AS b, "
        f"SUM(CASE WHEN {conds[1]} THEN 1 ELSE 0 END) AS p FROM {rel.sql} AS t"
    )
    rows = (int(found["b"] or 0), int(found["p"] or 0))
    listed_rows = sql.backend.query(
        f"SELECT DISTINCT {text} AS v FROM {rel.sql} AS t WHERE {sql.q(column)} IS NOT NULL"
    )
    listed = ", ".join(sorted(str(v) for v in listed_rows.column("v").to_pylist()))
    check_versions(versions, rows, column=column, name=name, listed=listed)
    uncut = [rel.view(c, drop=(column,)) for c in conds]
    names = (f"{name} [{column}={versions[0]}]", f"{name} [{column}={versions[1]}]")
    if spec._production is None:
        # tracing.rows says nothing of the cut by version either (only the join's notes)
        return EngineRows(uncut[0], uncut[1], names, notes, join, uncut[1], uncut[0])
    # The same days for both versions (tracing.rows._cut).
    sides = []
    for side_name, cond in zip(names, conds, strict=True):
        part = rel.replace(f"({rel.select(cond)})")
        where = _window_filter(
            sql, part, spec._production, stamp, side_name, "--production-window"
        )
        sides.append(part.view(where, drop=(column,)))
    text_window = spec.production_window
    names = (f"{names[0]} [{text_window}]", f"{names[1]} [{text_window}]")
    return EngineRows(sides[0], sides[1], names, notes, join, uncut[1], uncut[0])


# ---------------------------------------------------------------------------------------------
# Delayed actuals


def _numeric(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_decimal(dtype)
        or pa.types.is_boolean(dtype)
    )


def _missing(sql: _Sql, name: str, dtype: pa.DataType, alias: str = "t") -> str:
    """Return SQL: the value is missing as pandas sees it (NULL, or NaN in a float column)."""
    import pyarrow as pa

    c = f"{alias}.{sql.q(name)}"
    if pa.types.is_floating(dtype):
        return f"({c} IS NULL OR ISNAN({c}))"
    return f"({c} IS NULL)"


def _key(sql: _Sql, c: str, dtype: pa.DataType, *, text: bool, whole: bool) -> str:
    """Return SQL: an id as `tracing.actuals` compares it (as is, or text when kinds differ)."""
    import pyarrow as pa

    floating = pa.types.is_floating(dtype)
    value = f"CASE WHEN ISNAN({c}) THEN NULL ELSE {c} END" if floating else c
    if not text:
        return value
    if floating and whole:  # 12.0 (an integer id read as float because of gaps) is "12"
        return f"CAST(CAST({value} AS BIGINT) AS {sql.text})"
    if _numeric(dtype):
        return f"CAST({value} AS {sql.text})"
    return f"TRIM(CAST({c} AS {sql.text}))"


def _whole(sql: _Sql, relation: str, c: str, dtype: pa.DataType, where: str) -> bool:
    import pyarrow as pa

    if not pa.types.is_floating(dtype):
        return False
    found = sql.one(
        f"SELECT COUNT(*) AS n FROM {relation} AS t WHERE {where} AND {c} IS NOT NULL AND "
        f"NOT ISNAN({c}) AND NOT ({c} = FLOOR({c}))"
    )
    return not found["n"]


def _actuals_relation(sql: _Sql, source: TableSource) -> tuple[_Rel, bool]:
    """Register the actuals with their file order, when the engine can tell it exactly."""
    import pyarrow as pa

    if source.arrow is not None:
        order = pa.array(range(source.arrow.num_rows), type=pa.int64())
        ordered = TableSource(source.label, arrow=source.arrow.append_column(_ORDER, order))
        rel = _relation(sql, _ACTUALS, ordered)
        return rel, True
    rel = _relation(sql, _ACTUALS, source)
    local = source.paths and source.filesystem is None and source.hive_root is None
    if sql.dialect == "duckdb" and local:
        files = "[" + ", ".join(sql.e(exp.Literal.string(p)) for p in source.paths) + "]"
        ordered_sql = (
            f"(SELECT *, CAST(list_position({files}, __tracing_file) AS BIGINT) * 4294967296 "
            f"+ file_row_number AS {sql.q(_ORDER)} FROM read_parquet({files}, "
            "filename = '__tracing_file', file_row_number = true, union_by_name = true))"
        )
        return rel.replace(ordered_sql), True
    if sql.dialect == "spark" and len(source.paths) == 1:
        ordered_sql = (
            f"(SELECT *, monotonically_increasing_id() AS {sql.q(_ORDER)} FROM {rel.sql})"
        )
        return rel.replace(ordered_sql), True
    return rel, False


def _join(
    sql: _Sql,
    prod: _Rel,
    actuals: TableSource,
    roles: Mapping[str, Any],
    names: tuple[str, str],
) -> tuple[_Rel, JoinReport]:
    """Production ``LEFT JOIN`` the latest actual per id (`tracing.actuals.join_actuals`)."""
    acts, ordered = _actuals_relation(sql, actuals)
    id_col, actual, stamp = join_columns(prod.columns, acts.columns, roles=roles, names=names)
    for column in (id_col, actual, stamp):
        if column and column not in acts.columns:
            raise DataError(
                f"{names[1]}: column {column!r} is missing; available columns: "
                f"{', '.join(acts.columns)}."
            )
    p_type, a_type = prod.types[id_col], acts.types[id_col]
    text = _numeric(p_type) != _numeric(a_type)
    no_id = _missing(sql, id_col, a_type)
    empty = _missing(sql, actual, acts.types[actual])
    usable = f"NOT {no_id} AND NOT {empty}"
    whole_a = _whole(sql, acts.sql, f"t.{sql.q(id_col)}", a_type, usable)
    whole_p = _whole(sql, prod.sql, f"t.{sql.q(id_col)}", p_type, "TRUE")
    a_key = _key(sql, f"t.{sql.q(id_col)}", a_type, text=text, whole=whole_a)
    p_key = _key(sql, f"p.{sql.q(id_col)}", p_type, text=text, whole=whole_p)
    if stamp:
        value, _, _ = _time_value(sql, acts, stamp, names[1])
        time = sql.e(value)
        if acts.types[stamp] is not None and _kind(acts.types[stamp]) == "float":
            # Order by the number itself: flooring to the microsecond could tie distinct times.
            raw = f"CAST(t.{sql.q(stamp)} AS DOUBLE)"
            time = f"CASE WHEN ISNAN({raw}) THEN NULL ELSE {raw} END"
    else:
        time = "CAST(NULL AS BIGINT)"
    order = f", t.{sql.q(_ORDER)} DESC" if ordered else ""
    keep_stamp = f", t.{sql.q(stamp)} AS __stamp" if stamp else ""
    latest = (
        f"(SELECT __id, __actual{', __stamp' if stamp else ''} FROM (SELECT {a_key} AS __id, "
        f"t.{sql.q(actual)} AS __actual{keep_stamp}, ROW_NUMBER() OVER (PARTITION BY {a_key} "
        f"ORDER BY CASE WHEN {time} IS NULL THEN 1 ELSE 0 END, {time} DESC{order}) AS __rank "
        f"FROM {acts.sql} AS t WHERE {usable}) AS r WHERE __rank = 1)"
    )
    if not ordered:
        _refuse_ties(sql, acts.sql, a_key, time, actual, usable, names[1])
    columns = list(prod.columns)
    select = [
        f"l.__actual AS {sql.q(c)}" if c == actual else f"p.{sql.q(c)}" for c in prod.columns
    ]
    if actual not in columns:
        columns.append(actual)
        select.append(f"l.__actual AS {sql.q(actual)}")
    if stamp and stamp not in columns:
        columns.append(stamp)
        select.append(f"l.__stamp AS {sql.q(stamp)}")
    if actual in prod.columns:  # the predictions' own actual, for replaced_existing
        select.append(f"p.{sql.q(actual)} AS __old")
    joined = (
        f"(SELECT {', '.join(select)}, CASE WHEN l.__id IS NULL THEN 0 ELSE 1 END AS __matched, "
        f"{p_key} AS __key FROM {prod.sql} AS p LEFT JOIN {latest} AS l ON {p_key} = l.__id)"
    )
    columns_of = (id_col, actual, stamp)
    report = _report(sql, prod, acts, joined, latest, a_key, columns_of, no_id, empty)
    view = f"(SELECT {', '.join(sql.q(c) for c in columns)} FROM {joined} AS j)"
    types = {**acts.types, **prod.types, actual: acts.types[actual]}
    reads = (*prod.reads, *[r for r in acts.reads if r not in prod.reads])
    return prod.replace(view, columns=tuple(columns), reads=reads, types=types), report


def _refuse_ties(
    sql: _Sql, relation: str, key: str, time: str, actual: str, usable: str, name: str
) -> None:
    """Refuse ids whose latest actuals tie with different values (file order decides those)."""
    found = sql.one(
        "SELECT COUNT(*) AS n FROM (SELECT __id FROM (SELECT "
        f"{key} AS __id, CAST(t.{sql.q(actual)} AS {sql.text}) AS __a, {time} AS __t, "
        f"MAX({time}) OVER (PARTITION BY {key}) AS __m FROM {relation} AS t WHERE {usable}) "
        "AS u WHERE __t = __m OR __m IS NULL GROUP BY __id HAVING COUNT(DISTINCT __a) > 1) AS x"
    )
    if found["n"]:
        raise DataError(
            f"{name}: {found['n']:,} ids have several latest actuals (same time, different "
            f"values), which file order decides, and the {sql.backend.name} engine cannot read "
            "this source in file order; give the actuals a timestamp, or use --engine memory."
        )


def _report(
    sql: _Sql,
    prod: _Rel,
    acts: _Rel,
    joined: str,
    latest: str,
    a_key: str,
    columns: tuple[str, str, str | None],
    no_id: str,
    empty: str,
) -> JoinReport:
    """Count what the join did, as `tracing.actuals.JoinReport` (a few small queries)."""
    id_col, actual, stamp = columns
    a = sql.one(
        f"SELECT COUNT(*) AS n, SUM(CASE WHEN {no_id} THEN 1 ELSE 0 END) AS no_id, "
        f"SUM(CASE WHEN NOT {no_id} AND {empty} THEN 1 ELSE 0 END) AS empty FROM {acts.sql} AS t"
    )
    usable = int(a["n"]) - int(a["no_id"] or 0) - int(a["empty"] or 0)
    ids = sql.one(f"SELECT COUNT(*) AS ids FROM {latest} AS l")
    dup_acts = sql.one(
        f"SELECT COUNT(*) AS dup FROM (SELECT {a_key} AS __key FROM {acts.sql} AS t "
        f"WHERE NOT {no_id} AND NOT {empty} GROUP BY {a_key} HAVING COUNT(*) > 1) AS x"
    )
    replaced = "0"
    if actual in prod.columns:
        old, new = f"j.{sql.q('__old')}", f"j.{sql.q(actual)}"
        same = f"COALESCE(CAST({old} AS {sql.text}) = CAST({new} AS {sql.text}), FALSE)"
        if _numeric(prod.types[actual]) == _numeric(acts.types[actual]):
            same = f"({same} OR COALESCE({old} = {new}, FALSE))"
        known = f"NOT {_missing(sql, '__old', prod.types[actual], 'j')}"
        replaced = f"SUM(CASE WHEN {known} AND NOT {same} THEN 1 ELSE 0 END)"
    p = sql.one(
        f"SELECT COUNT(*) AS n, SUM(__matched) AS matched, "
        f"SUM(CASE WHEN __key IS NULL THEN 1 ELSE 0 END) AS no_id, {replaced} AS replaced "
        f"FROM {joined} AS j"
    )
    dup_p = sql.one(
        f"SELECT COUNT(*) AS dup FROM (SELECT __key FROM {joined} AS j WHERE __key IS NOT NULL "
        "GROUP BY __key HAVING COUNT(*) > 1) AS x"
    )
    unmatched = sql.one(
        f"SELECT COUNT(*) AS n FROM {latest} AS l LEFT JOIN (SELECT DISTINCT __key FROM {joined} "
        "AS j WHERE __key IS NOT NULL) AS k ON l.__id = k.__key WHERE k.__key IS NULL"
    )
    predictions, matched = int(p["n"]), int(p["matched"] or 0)
    return JoinReport(
        id_column=id_col,
        actual_column=actual,
        timestamp_column=stamp,
        predictions=predictions,
        with_actuals=matched,
        without_actuals=predictions - matched,
        duplicate_prediction_ids=int(dup_p["dup"]),
        predictions_without_id=int(p["no_id"] or 0),
        actual_rows=int(a["n"]),
        actuals_without_id=int(a["no_id"] or 0),
        empty_actuals=int(a["empty"] or 0),
        duplicate_actual_ids=int(dup_acts["dup"]),
        superseded_actuals=usable - int(ids["ids"]),
        unmatched_actuals=int(unmatched["n"]),
        replaced_existing=int(p["replaced"] or 0),
    )
