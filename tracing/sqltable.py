"""The engine seam over SQL: `tracing.engine.CodedTable` answered by GROUP BY queries.

`SqlTable` holds no rows. Each side is a view registered on a `tracing.sqlbackend.SqlBackend`
(DuckDB, Spark); every question of the seam becomes one query whose result is small:

- **Statistics** are the `tracing.rowexpr` definitions with the prepared inputs substituted by
  expressions over the raw columns (`tracing.engine_analysis.input_expressions`), so SQL and
  numpy evaluate one definition. Derived statistics (`with_derived`) inline their definition.
- **Keys** are `tracing.binning.ColumnBins` turned into expressions that give every row the
  code `ColumnBins.codes` gives it in memory (missing values, ``NaN``, ``(other)``,
  ``(present)`` included): a ``CASE`` over the bin edges or the categories, or, for a
  categorical of many categories, a join with a small ``VALUES`` table of (value, code).
- **The coded table.** Evaluating those keys and the prepared inputs on the raw files in every
  query costs a scan, a decode and a ``CASE`` of thousands of branches per row per query; the
  slice search asks a query per level and the drilldown one per click. So the first query that
  groups by a key writes, per side, one engine-held temporary table (`SqlBackend.materialize`)
  of small-integer key codes and the prepared inputs of every row: a few bytes per row, which
  DuckDB spills to its temp directory beyond its memory limit and Spark caches. Every later
  keyed query reads that table; statistics are evaluated from its input columns, and row
  filters (the valid rows) are applied at query time, so one coded table serves ``table`` and
  ``valid`` alike. A table asked for keys the coded table lacks writes a new one with all the
  keys of both and drops the old one. Unkeyed questions (overall sums, bins, value counts)
  read the raw view until a coded table exists. Derived keys (`SqlTable.with_key_expressions`,
  e.g. a timeline's period over the timestamp) and per-row columns
  (`SqlTable.with_row_columns`, e.g. an estimate's calibrated probability) are not coded: a
  query that needs one reads the raw view.
- **A grouping** is ``SELECT count, sums, maxima ... GROUP BY GROUPING SETS ((c0), (c1), ...)``
  over an inner query that computes each set's mixed-radix cell code ``c_i`` (``((k1 * card2)
  + k2) * card3 ...``); ``GROUPING(c_i)`` tells the sets apart. A per-set filter (``each``)
  turns that set's code to NULL outside its rows (the NULL cell is dropped) and the outer
  ``WHERE`` keeps only rows some set needs, so the search's pruning reaches the scan.
- **Bins** are fitted by `tracing.binning`'s own code on what the engine counts: baseline
  quantiles (``quantile_cont`` in DuckDB, ``percentile`` in Spark: numpy's linear method,
  exact), distinct counts, and per-side value counts fed to `tracing.binning.fit_column_bins`
  (the pooling and labelling rules are not copied). Categories with equal counts are ordered by
  value here, by first appearance in memory; the parity tests use fixtures without such ties.

Every query is rendered through SQLGlot in the backend's dialect; the few spellings that differ
between engines (quantiles, sampling) are in `_Dialect`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlglot import exp

from tracing import rowexpr
from tracing.binning import ColumnBins, ColumnValues, fit_column_bins
from tracing.engine import DENSE_LIMIT, Filter, GroupSums, Side
from tracing.errors import DataError
from tracing.options import SliceSearch
from tracing.sqlbackend import SqlBackend, TableSource

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DefinedView", "SqlTable", "calendar_columns", "show_source"]

Expr = exp.Expression
_VIEWS = {Side.BASELINE: "baseline", Side.PRODUCTION: "production"}
# Which source each backend's views show now (register once per source). A weak reference,
# not an id: a new source may get the id of one collected since.
_REGISTERED: weakref.WeakKeyDictionary[Any, dict[str, weakref.ref[TableSource | DefinedView]]] = (
    weakref.WeakKeyDictionary()
)
# Categoricals with more categories than this are coded by a join, not a CASE per category:
# DuckDB tests a CASE's branches one by one, so 60 categories cost 4x the CPU of the join at
# 10M rows (0.56 s against 0.14 s; 1.56 s against 0.37 s for a 5,000-value column's top 60).
_JOIN_CATEGORIES = 8
_NAMES = itertools.count()
_LOCK = threading.Lock()  # one coded table per side, even when two threads ask at once


@dataclass(frozen=True, eq=False)
class DefinedView:
    """A side's rows as a query over registered sources (`tracing.engine_rows`).

    Attributes
    ----------
    label : str
        What the user named, for messages.
    sql : str
        A ``SELECT`` in the backend's dialect over the views of ``reads``.
    reads : tuple of (str, TableSource)
        The views the query reads and their sources, registered first (a view name that
        shows another source is registered again).
    base : TableSource
        The source whose files give the columns' types as written (time zones).
    """

    label: str
    sql: str
    reads: tuple[tuple[str, TableSource], ...]
    base: TableSource


@dataclass(frozen=True)
class _Coded:
    """One side's coded table: its name and the columns holding each key and input."""

    name: str
    keys: dict[str, str]  # key expression (SQL) -> column
    inputs: dict[str, str]  # input name -> column
    defs: dict[str, tuple[ColumnBins, bool]]  # key expression -> (its bins, floating column)


# Per backend: the small results of recent queries, by their SQL (a search context, the whole
# data's sums, a drilldown asked twice: answered without a scan). Cleared when a view changes.
_RESULTS: weakref.WeakKeyDictionary[Any, collections.OrderedDict[str, pa.Table]] = (
    weakref.WeakKeyDictionary()
)
_KEPT_RESULTS = 256
_KEPT_ROWS = 10_000

MAX_SCORE_GROUPS = 20_000_000
"""Distinct scores a side may have for the rank metrics (24 bytes each in memory)."""

# Per backend: (view, the inputs' SQL) -> the coded table of that view with those inputs.
_CODED: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], _Coded]] = weakref.WeakKeyDictionary()


def _drop_coded(backend: SqlBackend, view: str) -> None:
    """Forget (and drop) the coded tables of a view whose source changes."""
    with _LOCK:
        _RESULTS.pop(backend, None)
        tables = _CODED.get(backend, {})
        for signature in [s for s in tables if s[0] == view]:
            backend.drop(tables.pop(signature).name)


def show_source(backend: SqlBackend, view: str, source: TableSource | DefinedView) -> bool:
    """Make ``view`` show ``source`` (registered once per source); whether anything changed.

    A `DefinedView` is defined again when a view it reads shows another source since (its
    rows would have changed under it); the coded tables of a view that changes are dropped.
    """
    registered = _REGISTERED.setdefault(backend, {})
    changed = False
    if isinstance(source, DefinedView):
        for name, read in source.reads:
            changed = show_source(backend, name, read) or changed
    shown = registered.get(view)
    if not changed and shown is not None and shown() is source:
        return False
    _drop_coded(backend, view)
    if isinstance(source, DefinedView):
        backend.define_view(view, source.sql)
    else:
        backend.register(view, source)
    registered[view] = weakref.ref(source)
    return True


@dataclass(frozen=True)
class _Scan:
    """What one query reads: a relation, and its keys, statistics and row filter over it."""

    relation: str
    keys: Mapping[str, Expr]
    stats: Mapping[str, Expr]
    row_filter: Expr | None


@dataclass(frozen=True)
class _Dialect:
    """The spellings that differ between the engines (everything else is SQLGlot's)."""

    name: str

    def quantiles(self, column: str, qs: Sequence[float]) -> str:
        points = ", ".join(rowexpr.to_sql(rowexpr.literal(q), self.name) for q in qs)
        if self.name == "spark":
            return f"PERCENTILE({column}, ARRAY({points}))"
        return f"QUANTILE_CONT({column}, [{points}])"

    def sample(self, view: str, n: int, rows: int, seed: int) -> str:
        if self.name == "spark":
            percent = min(100.0, 100.0 * 1.2 * n / max(rows, 1))
            return f"SELECT * FROM {view} TABLESAMPLE ({percent:.6f} PERCENT) REPEATABLE ({seed})"
        return f"SELECT * FROM {view} USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({seed})"


def _ident(name: str, dialect: str) -> str:
    return str(exp.to_identifier(name, quoted=True).sql(dialect=dialect))


def _int(value: int) -> Expr:
    return exp.Literal.number(int(value))


def _is_nan(e: Expr) -> Expr:
    return cast(Expr, exp.func("ISNAN", exp.Cast(this=e.copy(), to=exp.DataType.build("double"))))


def _all(*parts: Expr) -> Expr:
    """Return the conjunction of the parts."""
    return cast(Expr, exp.and_(*parts, copy=True)) if len(parts) > 1 else parts[0]


def _any(*parts: Expr) -> Expr:
    """Return the disjunction of the parts."""
    return cast(Expr, exp.or_(*parts, copy=True)) if len(parts) > 1 else parts[0]


def _missing(e: Expr, floating: bool) -> Expr:
    null: Expr = exp.Is(this=e.copy(), expression=exp.Null())
    return _any(null, _is_nan(e)) if floating else null


def _value_literal(value: Any) -> Expr:
    if isinstance(value, bool | np.bool_):
        return exp.true() if value else exp.false()
    if isinstance(value, int | np.integer):
        return _int(int(value))
    if isinstance(value, float | np.floating):
        return rowexpr.literal(float(value))
    return exp.Literal.string(str(value))


def _key_expression(bins: ColumnBins, floating: bool) -> Expr:
    """Return the code of every row, as `ColumnBins.codes` gives it (an integer expression).

    A categorical of more than `_JOIN_CATEGORIES` categories is coded by `_code_join`'s
    lookup table instead (this expression is then only its identity, in the coded table).
    """
    x = rowexpr.col(bins.feature)
    missing = _int(bins.missing_code)
    if bins.kind == "numeric":
        value = exp.Cast(this=x.copy(), to=exp.DataType.build("double"))
        code: Expr = _int(0)
        for edge in bins.edges:
            above = exp.GTE(this=value.copy(), expression=rowexpr.literal(edge))
            step = exp.Cast(this=above, to=exp.DataType.build("int"))
            code = exp.Add(this=code, expression=step)
        gap = _missing(x, True)
        return exp.Case(ifs=[exp.If(this=gap, true=missing)], default=code)
    ifs = [exp.If(this=_missing(x, floating), true=missing)]
    for i, value in enumerate(bins.categories):
        ifs.append(
            exp.If(this=exp.EQ(this=x.copy(), expression=_value_literal(value)), true=_int(i))
        )
    other = bins.other_code
    return exp.Case(ifs=ifs, default=_int(other if other is not None else bins.missing_code))


_UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "z", "zulu", "universal"})
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def fixed_offset_us(zone: str) -> int | None:
    """Return a time zone's fixed UTC offset in microseconds (None: a zone with rules).

    UTC by any of its names, and ``+hh:mm`` / ``-hhmm`` offsets, as pyarrow writes them.

    Examples
    --------
    >>> fixed_offset_us("UTC"), fixed_offset_us("+05:30"), fixed_offset_us("Europe/Paris")
    (0, 19800000000, None)
    """
    if zone.strip().lower() in _UTC_NAMES:
        return 0
    found = _OFFSET.match(zone.strip())
    if found is None:
        return None
    sign = -1 if found.group(1) == "-" else 1
    return sign * (int(found.group(2)) * 3600 + int(found.group(3)) * 60) * 1_000_000


def _local_time(x: Expr, zone: str, dialect: str) -> Expr:
    """Return the wall-clock time of ``x`` in ``zone``.

    On DuckDB a fixed offset (UTC above all) is integer arithmetic on the epoch microseconds,
    read back as a plain timestamp: ``AT TIME ZONE`` goes through ICU's calendar for every row,
    3-5x the CPU of the hour or weekday at 10M rows (bench/README.md, Scale).
    """
    offset = fixed_offset_us(zone)
    if dialect != "duckdb" or offset is None:
        return exp.AtTimeZone(this=x, zone=exp.Literal.string(zone))
    micros: Expr = exp.Anonymous(this="EPOCH_US", expressions=[x])
    if offset:
        micros = exp.Add(this=micros, expression=_int(offset))
    return exp.UnixToTime(this=micros, scale=exp.Literal.number(6))


def calendar_columns(
    column: str, arrow_type: pa.DataType, *, dialect: str = "duckdb"
) -> dict[str, tuple[Expr, pa.DataType]]:
    """Return `tracing.binning.calendar_features` of a time column as SQL (none: not a time).

    ``<column>.hour`` (0-23) and ``.day`` (of the month) as doubles, ``.weekday`` as its
    English name, in the column's own time zone (as written when it carries none), as the
    in-memory engine derives them. The weekday counts days from 1970-01-01 (a Thursday) rather
    than using an engine's own day-of-week function, whose numbering differs by dialect.
    """
    import pyarrow as pa
    import sqlglot

    from tracing.binning import _WEEKDAYS

    x = rowexpr.col(column)
    if pa.types.is_timestamp(arrow_type):
        zone = arrow_type.tz
        local: Expr = x if zone is None else _local_time(x, zone, dialect)
    elif pa.types.is_date(arrow_type):
        local = exp.Cast(this=x, to=exp.DataType.build("timestamp"))
    else:
        return {}
    as_double = exp.DataType.build("double")
    day = sqlglot.parse_one("DATE_DIFF('day', DATE '1970-01-01', CAST(t AS DATE))", read="duckdb")
    day = day.transform(lambda n: local.copy() if n == exp.column("t") else n)
    seven = _int(7)
    week = exp.Mod(
        this=exp.Paren(
            this=exp.Add(
                this=exp.Mod(this=exp.Paren(this=day), expression=seven), expression=seven.copy()
            )
        ),
        expression=seven.copy(),
    )
    thursday = _WEEKDAYS.index("Thursday")
    names = [
        exp.If(
            this=exp.EQ(this=week.copy(), expression=_int(k)),
            true=exp.Literal.string(_WEEKDAYS[(thursday + k) % 7]),
        )
        for k in range(7)
    ]
    weekday = exp.Case(ifs=names)
    return {
        f"{column}.hour": (
            exp.Cast(this=exp.func("HOUR", local.copy()), to=as_double),
            pa.float64(),
        ),
        f"{column}.weekday": (weekday, pa.string()),
        f"{column}.day": (
            exp.Cast(this=exp.func("DAY", local.copy()), to=as_double),
            pa.float64(),
        ),
    }


def _joined(bins: ColumnBins) -> bool:
    return bins.kind != "numeric" and len(bins.categories) > _JOIN_CATEGORIES


def _code_join(bins: ColumnBins, floating: bool, alias: str) -> tuple[Expr, Expr]:
    """Return (the code, the lookup relation) of a categorical coded by a join.

    The relation is ``VALUES (category, code), ...`` named ``alias``; joined ``LEFT`` on the
    column it gives each row its category's code, or NULL (missing, or not a category).
    """
    x = rowexpr.col(bins.feature)
    rows = [exp.tuple_(_value_literal(v), _int(i)) for i, v in enumerate(bins.categories)]
    lookup = exp.Values(
        expressions=rows,
        alias=exp.TableAlias(
            this=exp.to_identifier(alias, quoted=True),
            columns=[
                exp.to_identifier(f"{alias}_v", quoted=True),
                exp.to_identifier(f"{alias}_c", quoted=True),
            ],
        ),
    )
    found = exp.column(f"{alias}_c", table=alias, quoted=True)
    other = bins.other_code if bins.other_code is not None else bins.missing_code
    code = exp.Case(
        ifs=[
            exp.If(this=_missing(x, floating), true=_int(bins.missing_code)),
            exp.If(
                this=exp.Not(this=exp.Is(this=found.copy(), expression=exp.Null())),
                true=found.copy(),
            ),
        ],
        default=_int(other),
    )
    on = exp.EQ(this=x.copy(), expression=exp.column(f"{alias}_v", table=alias, quoted=True))
    return code, exp.Join(this=lookup, side="LEFT", on=on)


def _code_type(cardinality: int) -> exp.DataType:
    """Return the smallest signed integer type that holds codes 0..cardinality-1."""
    for name, top in (("tinyint", 127), ("smallint", 32_767)):
        if cardinality - 1 <= top:
            return exp.DataType.build(name)
    return exp.DataType.build("int")


def _keys_of(
    key_sets: Sequence[Sequence[str]], where: Filter | None, each: Sequence[Filter | None]
) -> set[str]:
    """Return every key a grouping query reads (its sets, its filter, its per-set filters)."""
    found = {k for keys in key_sets for k in keys}
    for rule in (where, *each):
        if rule:
            found |= {c.key for c in rule.conditions}
            found |= {k for cell_set in rule.cell_sets for k in cell_set.keys}
    return found


_MASK_KEYS = 60  # keys of one branch's grouping mask: a BIGINT holds 63 bits


def _chunks(sets: Mapping[int, frozenset[str]]) -> list[dict[int, frozenset[str]]]:
    """Split a branch's sets into runs of at most `_MASK_KEYS` distinct keys each."""
    out: list[dict[int, frozenset[str]]] = [{}]
    keys: set[str] = set()
    for q, own in sets.items():
        if out[-1] and len(keys | own) > _MASK_KEYS:
            out.append({})
            keys = set()
        out[-1][q] = own
        keys |= own
    return out


def _set_index(
    sets: Mapping[int, frozenset[str]], own: Sequence[str], names: Mapping[str, str]
) -> str:
    """Return the ``q`` column of a branch: which of its sets a row of the result is.

    A set is told by its grouping mask: bit j set when the branch's j-th key is not grouped.
    (Per-key ``GROUPING(k)`` rather than a many-argument ``GROUPING``/``GROUPING_ID``, whose
    argument rules differ between DuckDB and Spark.)
    """
    if len(sets) == 1:
        return f"{next(iter(sets))} AS q"
    mask = " + ".join(f"GROUPING({names[k]}) * {1 << j}" for j, k in enumerate(own))
    cases = " ".join(
        f"WHEN {sum(1 << j for j, k in enumerate(own) if k not in keys)} THEN {q}"
        for q, keys in sets.items()
    )
    return f"CASE ({mask}) {cases} END AS q"


_BLOCK_CELLS = 1 << 16
"""The most cells (the product of its keys' cardinalities) a block of `_cover` may have."""
_BLOCK_KEYS = 5
"""The most keys of a block: one GROUP BY of 4-5 keys cost DuckDB ~1.6 pair groupings at 10M
rows, and holds 6-10 pairs (a block's result comes back whole, hence `_BLOCK_CELLS`)."""


def _cover(
    sets: Sequence[frozenset[str]], cards: Mapping[str, int]
) -> dict[frozenset[str], frozenset[str]]:
    """Map each set of keys to the block it is summed from: a superset of it, or itself.

    Greedy: a block starts at the first set not yet held and takes, one by one, the key that
    brings the most further sets into it (fewest cells on a tie) while it stays within
    `_BLOCK_KEYS` keys and `_BLOCK_CELLS` cells. A set is held by the first block it fits in.
    """
    left = list(dict.fromkeys(sets))
    out: dict[frozenset[str], frozenset[str]] = {}
    while left:
        held = left[0]
        while len(held) < _BLOCK_KEYS:
            cells = math.prod(cards[k] for k in held)
            best: tuple[int, int, str] | None = None
            for key in sorted({k for s in left for k in s} - held):
                if cells * cards[key] > _BLOCK_CELLS:
                    continue
                grown = held | {key}
                gain = sum(1 for s in left if s <= grown and not s <= held)
                if gain and (best is None or (gain, -cards[key]) > best[:2]):
                    best = (gain, -cards[key], key)
            if best is None:
                break
            held = held | {best[2]}
        for s in [s for s in left if s <= held]:
            out[s] = held
            left.remove(s)
    return out


def _sum_into(at: NDArray[np.intp], values: NDArray[Any], size: int) -> NDArray[np.float64]:
    """Return the sum of ``values`` per index in ``at`` (0 where none; exact for counts)."""
    return np.asarray(np.bincount(at, weights=values, minlength=size), dtype=np.float64)


def _max_into(at: NDArray[np.intp], values: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Return the largest of ``values`` per index in ``at`` (-inf where none)."""
    out = np.full(size, -np.inf)
    np.maximum.at(out, at, values)
    return out


def _numpy(table: pa.Table) -> dict[str, NDArray[Any]]:
    """Return result columns as numpy: integers with NULL as -1, the rest as float64."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_integer(column.type):
            out[name] = np.asarray(pc.fill_null(column, -1).to_numpy(), dtype=np.int64)
        else:
            out[name] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return out


@dataclass(frozen=True, eq=False)
class _Spec:
    """Everything a query needs: views, inputs, statistics per side, keys, row filters.

    ``stats`` and ``row_filter`` are over the input names (``inputs`` gives each input over the
    raw columns), so they read the raw view and the coded table alike.
    """

    backend: SqlBackend
    labels: dict[Side, str]
    inputs: dict[Side, dict[str, Expr]]
    stats: dict[Side, dict[str, Expr]]
    keys: dict[str, Expr] = field(default_factory=dict)
    cards: dict[str, int] = field(default_factory=dict)
    bins: dict[str, ColumnBins] = field(default_factory=dict)
    row_filter: dict[Side, Expr | None] = field(default_factory=dict)
    # Per side: columns derived from the raw ones (calendar parts), name -> (SQL, Arrow type).
    derived: dict[Side, dict[str, tuple[Expr, pa.DataType]]] = field(default_factory=dict)
    raw_keys: frozenset[str] = frozenset()  # keys over the raw columns, never coded
    # Per side: columns computed once per row over the inputs, beside the raw ones.
    row_columns: dict[Side, dict[str, Expr]] = field(default_factory=dict)
    # Per side: where its rows are (for the hive partition columns).
    sources: dict[Side, TableSource | DefinedView] = field(default_factory=dict)


class SqlTable:
    """`tracing.engine.CodedTable` over a SQL backend (see the module docstring).

    Build it with `from_sources`; `with_keys` and `with_derived` return new tables over the
    same views (nothing is copied; the coded table is written when first grouped by).
    """

    def __init__(self, spec: _Spec) -> None:
        self._spec = spec
        self._dialect = _Dialect(spec.backend.dialect)
        self.bins = spec.bins

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_sources(
        cls,
        backend: SqlBackend,
        sources: Mapping[Side, TableSource | DefinedView],
        *,
        inputs: Mapping[Side, Mapping[str, Expr]] | None = None,
        stats: Mapping[str, Expr] | None = None,
        row_filter: Mapping[Side, Expr] | None = None,
    ) -> SqlTable:
        """Register each side's source as a view and define its statistics.

        Parameters
        ----------
        backend : SqlBackend
            The engine.
        sources : mapping of Side -> TableSource or DefinedView
            Where each side's rows are: a source, or a query over sources (a window, a model
            version, joined actuals).
        inputs : mapping of Side -> {name: expression}, optional
            The `tracing.rowexpr.Input` columns of each side, over its raw columns.
        stats : mapping of str -> expression, optional
            Statistic definitions over the inputs (`tracing.rowexpr.row_stat_expressions`).
        row_filter : mapping of Side -> expression, optional
            Keep only the rows where it holds (over the inputs), e.g. the valid rows.
        """
        for side, source in sources.items():
            show_source(backend, _VIEWS[side], source)
        given = {side: dict((inputs or {}).get(side, {})) for side in sources}
        per_side = {side: dict(stats or {}) for side in sources}
        filters = {side: (row_filter or {}).get(side) for side in sources}
        labels = {side: source.label for side, source in sources.items()}
        return cls(
            _Spec(backend, labels, given, per_side, row_filter=filters, sources=dict(sources))
        )

    def _with(self, **changes: Any) -> SqlTable:
        return SqlTable(dataclasses.replace(self._spec, **changes))

    def with_keys(self, bins: Mapping[str, ColumnBins], *, lazy: bool = False) -> SqlTable:
        """Return the table with these raw columns coded as keys (see the module docstring)."""
        del lazy  # every key is an expression: nothing is coded ahead
        keys, cards = dict(self._spec.keys), dict(self._spec.cards)
        for name, fitted in bins.items():
            keys[name] = _key_expression(fitted, self._floating(name))
            cards[name] = len(fitted.labels)
        return self._with(keys=keys, cards=cards, bins={**self._spec.bins, **bins})

    def with_key_expressions(self, keys: Mapping[str, tuple[Expr, int]]) -> SqlTable:
        """Return the table with derived keys: integer expressions over the raw columns.

        Each key is ``(expression, cardinality)``: the expression gives every row a code
        ``0..cardinality-1``, or NULL for a row in no cell (left out of every grouping). Such
        keys are not written to the coded table: a query grouping by one reads the raw view
        (a timeline's period key over the timestamp: one query per side).
        """
        held, cards = dict(self._spec.keys), dict(self._spec.cards)
        for name, (expression, cardinality) in keys.items():
            held[name], cards[name] = expression, int(cardinality)
        return self._with(keys=held, cards=cards, raw_keys=self._spec.raw_keys | set(keys))

    def with_row_columns(self, side: Side, columns: Mapping[str, Expr]) -> SqlTable:
        """Return the table with per-row columns over a side's inputs, computed once a row.

        The raw view is read through ``(SELECT *, <definition> AS <name> ...)``, so statistics
        that name a column several times (an estimate's calibrated probability, a ``CASE`` of
        hundreds of thresholds) evaluate it once per row. Queries of such a table read the raw
        view, never the coded table (which does not hold the columns).
        """
        current = dict(self._spec.row_columns.get(side, {}))
        current.update(columns)
        return self._with(row_columns={**self._spec.row_columns, side: current})

    def with_derived(self, side: Side, definitions: Mapping[str, Expr]) -> SqlTable:
        """Return the table with statistics defined over this side's statistics (inlined).

        Derived statistics are evaluated per row in each query (over the inputs), never stored.
        """
        current = self._spec.stats[side]
        added = {name: rowexpr.substitute(d, current) for name, d in definitions.items()}
        return self._with(stats={**self._spec.stats, side: {**current, **added}})

    def with_columns(
        self, side: Side, definitions: Mapping[str, tuple[Expr, pa.DataType]]
    ) -> SqlTable:
        """Return the table with columns derived from a side's raw columns (e.g. calendar parts).

        Each is ``name -> (expression over the raw columns, its Arrow type)``. Every query but
        the row samples (`sample_frame`, `rows_where`: the data as the user wrote it) reads
        them as columns of the side.
        """
        current = dict(self._spec.derived.get(side, {}))
        current.update(definitions)
        return self._with(derived={**self._spec.derived, side: current})

    def _relation(self, side: Side) -> str:
        """Return what a query of a side reads: its view, with the derived columns if any."""
        view = _VIEWS[side]
        derived = self._spec.derived.get(side)
        if not derived:
            return view
        extra = ", ".join(f"{self._sql(e)} AS {self._col(n)}" for n, (e, _) in derived.items())
        return f"(SELECT *, {extra} FROM {view}) AS {view}"

    # -- facts about the views -----------------------------------------------------------------

    def label(self, side: Side) -> str:
        """Return what the user named for this side (for messages)."""
        return self._spec.labels[side]

    def partition_columns(self, side: Side) -> tuple[str, ...]:
        """Return a side's hive partition columns: the keys its folder names add (none without).

        Of a `DefinedView`, the partition columns of the sources it reads that it shows.
        """
        source = self._spec.sources.get(side)
        if source is None:
            return ()
        reads = [source] if isinstance(source, TableSource) else [r for _, r in source.reads]
        names = dict.fromkeys(c for read in reads for c in read.partition_columns())
        if not names:
            return ()
        shown = set(self._schema(side).names)
        return tuple(c for c in names if c in shown)

    def columns(self, side: Side) -> list[str]:
        """Return the columns of a side: its raw columns, then the derived ones."""
        return [*self._schema(side).names, *self._spec.derived.get(side, {})]

    def _schema(self, side: Side) -> pa.Schema:
        return self._spec.backend.schema(_VIEWS[side])

    def schema(self, side: Side) -> pa.Schema:
        """Return the Arrow schema of a side's raw columns (one ``LIMIT 0`` query)."""
        return self._schema(side)

    def view(self, side: Side) -> str:
        """Return the name of the view a side's raw rows are registered as."""
        return _VIEWS[side]

    def query(self, sql: str, *, keep: bool = False) -> pa.Table:
        """Run one aggregate query over the views (`view`, `relation`) and return its result.

        For aggregates the seam's methods do not cover (`tracing.engine_quality`,
        `tracing.engine_drift`). With ``keep``, a small result is kept per backend and the
        same query answered from it (until a view's source changes): only for results the
        caller reads, never converts in place.
        """
        return self._run(sql, keep=keep)

    def _type(self, column: str) -> pa.DataType:
        for side in self._spec.labels:
            if column in self._spec.derived.get(side, {}):
                return self._spec.derived[side][column][1]
        for side in self._spec.labels:
            schema = self._schema(side)
            if column in schema.names:
                return schema.field(column).type
        raise DataError(f"column {column!r} is in neither dataset; check the column roles.")

    def min_max(self, side: Side, column: str) -> tuple[Any, Any]:
        """Return the smallest and largest non-missing value of a column (None: no value)."""
        x = self._col(column)
        rows = f"{self._relation(side)}{self._where(side)}"
        found = self._run(f"SELECT MIN({x}) AS lo, MAX({x}) AS hi FROM {rows}", keep=True)
        return found["lo"][0].as_py(), found["hi"][0].as_py()

    def differing(self, side: Side, column: str, others: Sequence[str]) -> dict[str, int]:
        """Return, per other column, on how many rows it differs from ``column`` (one scan).

        Missing equals missing; numbers are compared as doubles.
        """
        if not others:
            return {}
        x = self._col(column)

        def differs(other: str) -> str:
            y = self._col(other)
            if self._numeric(column) and self._numeric(other):
                x_, y_ = f"CAST({x} AS DOUBLE)", f"CAST({y} AS DOUBLE)"
            else:
                x_, y_ = f"CAST({x} AS STRING)", f"CAST({y} AS STRING)"
            return f"SUM(CASE WHEN {x_} IS DISTINCT FROM {y_} THEN 1 ELSE 0 END) AS d{len(seen)}"

        seen: list[str] = []
        parts = []
        for other in others:
            parts.append(differs(other))
            seen.append(other)
        found = self._run(
            f"SELECT {', '.join(parts)} FROM {self._relation(side)}{self._where(side)}", keep=True
        )
        return {o: int(found[f"d{i}"][0].as_py() or 0) for i, o in enumerate(seen)}

    def _floating(self, column: str) -> bool:
        import pyarrow as pa

        return bool(pa.types.is_floating(self._type(column)))

    def _numeric(self, column: str) -> bool:
        import pyarrow as pa

        t = self._type(column)
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            raise DataError(
                f"column {column!r} holds times, which the {self._spec.backend.name} engine does "
                "not slice yet; leave it out of the slice columns or use --engine memory."
            )
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t))

    @property
    def backend(self) -> SqlBackend:
        """Return the engine the views are registered on."""
        return self._spec.backend

    @property
    def dialect(self) -> str:
        """Return the SQLGlot dialect of the backend's queries (``"duckdb"``, ``"spark"``)."""
        return str(self._spec.backend.dialect)

    def column_type(self, side: Side, column: str) -> pa.DataType | None:
        """Return a raw column's Arrow type on one side, as the engine reads it (None: none)."""
        schema = self._schema(side)
        return schema.field(column).type if column in schema.names else None

    def relation(self, side: Side) -> str:
        """Return a side's rows to select from: view and derived columns, row filter applied."""
        where = self._where(side)
        rows = self._relation(side)
        return f"(SELECT * FROM {rows}{where}) AS r" if where else rows

    def stat_names(self, side: Side = Side.PRODUCTION) -> list[str]:
        """Return the names of the statistics defined on a side."""
        return list(self._spec.stats[side])

    def cardinality(self, key: str) -> int:
        """Return the number of codes of a key column."""
        return self._spec.cards[key]

    # -- SQL helpers ---------------------------------------------------------------------------

    def _sql(self, e: Expr) -> str:
        return rowexpr.to_sql(e, self._spec.backend.dialect)

    def _col(self, name: str) -> str:
        return _ident(name, self._spec.backend.dialect)

    def _run(self, sql: str, *, keep: bool = False) -> pa.Table:
        """Run a query; with ``keep``, return the result of the same query on the same views.

        Only aggregates are kept (``keep``): rows returned to pandas may be converted in
        place, so a kept table must never be handed out to be converted.
        """
        backend = self._spec.backend
        if not keep:
            return backend.query(sql)
        with _LOCK:
            kept = _RESULTS.setdefault(backend, collections.OrderedDict())
            if sql in kept:
                kept.move_to_end(sql)
                return kept[sql]
        result = backend.query(sql)
        if result.num_rows <= _KEPT_ROWS:
            with _LOCK:
                kept[sql] = result
                while len(kept) > _KEPT_RESULTS:
                    kept.popitem(last=False)
        return result

    def _cell(self, scan: _Scan, keys: Sequence[str]) -> Expr:
        code: Expr = _int(0)
        for i, key in enumerate(keys):
            k = exp.Cast(this=scan.keys[key].copy(), to=exp.DataType.build("bigint"))
            code = (
                k
                if i == 0
                else exp.Add(
                    this=exp.Mul(
                        this=exp.Paren(this=code), expression=_int(self._spec.cards[key])
                    ),
                    expression=k,
                )
            )
        return code

    def _condition(self, scan: _Scan, where: Filter | None) -> Expr | None:
        if not where:
            return None
        parts: list[Expr] = [
            exp.EQ(this=exp.Paren(this=scan.keys[c.key].copy()), expression=_int(c.code))
            for c in where.conditions
        ]
        for cell_set in where.cell_sets:
            if not cell_set.cells:
                parts.append(exp.false())
                continue
            cells = [_int(c) for c in cell_set.cells]
            parts.append(
                exp.In(this=exp.Paren(this=self._cell(scan, cell_set.keys)), expressions=cells)
            )
        return _all(*parts)

    def _filter_sql(self, rule: Expr | None, *extra: Expr | None) -> str:
        parts = [p for p in (rule, *extra) if p is not None]
        if not parts:
            return ""
        return " WHERE " + " AND ".join(f"({self._sql(p)})" for p in parts)

    def _where(self, side: Side, *extra: Expr | None) -> str:
        """Return the ``WHERE`` clause of a query on the raw view of a side."""
        return self._filter_sql(self._raw(side).row_filter, *extra)

    # -- what a query reads: the raw view, or the coded table ----------------------------------

    def _raw(self, side: Side) -> _Scan:
        given = self._spec.inputs[side]
        stats = {n: rowexpr.substitute(d, given) for n, d in self._spec.stats[side].items()}
        rule = self._spec.row_filter.get(side)
        relation = self._relation(side)
        extra = self._spec.row_columns.get(side)
        if extra:
            defined = ", ".join(
                f"{self._sql(rowexpr.substitute(d, given))} AS {self._col(n)}"
                for n, d in extra.items()
            )
            relation = f"(SELECT *, {defined} FROM {relation}) AS r"
        return _Scan(
            relation,
            self._spec.keys,
            stats,
            None if rule is None else rowexpr.substitute(rule, given),
        )

    def _scan(self, side: Side, keys: set[str]) -> _Scan:
        """Return what a query grouping by ``keys`` reads (see `_coded`)."""
        if keys & self._spec.raw_keys or self._spec.row_columns.get(side):
            return self._raw(side)
        coded = self._coded(side, keys)
        if coded is None:
            return self._raw(side)
        columns = {name: rowexpr.col(c) for name, c in coded.inputs.items()}
        stats = {n: rowexpr.substitute(d, columns) for n, d in self._spec.stats[side].items()}
        rule = self._spec.row_filter.get(side)
        held = {k: coded.keys.get(self._key_sql(k)) for k in self._spec.keys}
        return _Scan(
            coded.name,
            {k: rowexpr.col(c) for k, c in held.items() if c is not None},
            stats,
            None if rule is None else rowexpr.substitute(rule, columns),
        )

    def _key_sql(self, key: str) -> str:
        return self._sql(self._spec.keys[key])

    def _coded(self, side: Side, keys: set[str]) -> _Coded | None:
        """Return the side's coded table, written first when ``keys`` are asked and it lacks one.

        A query without keys reads an existing coded table (it holds every input) or the view.
        """
        backend = self._spec.backend
        given = self._spec.inputs[side]
        inputs = sorted((n, self._sql(e)) for n, e in given.items())
        # the view first (a new source drops its coded tables), then what the rows are
        signature = (_VIEWS[side], repr((inputs, self._relation(side))))
        with _LOCK:
            tables = _CODED.setdefault(backend, {})
            current = tables.get(signature)
            if current is not None and {self._key_sql(k) for k in keys} <= current.keys.keys():
                return current
            if not keys:
                return current
            defs = dict(current.defs) if current is not None else {}
            coded_keys = [k for k in self._spec.keys if k not in self._spec.raw_keys]
            for key in coded_keys:  # every key of this table: later queries reuse it
                defs.setdefault(self._key_sql(key), (self._spec.bins[key], self._floating(key)))
            coded = self._write_coded(side, defs)
            tables[signature] = coded
            if current is not None:
                backend.drop(current.name)
            return coded

    def _write_coded(self, side: Side, defs: Mapping[str, tuple[ColumnBins, bool]]) -> _Coded:
        """Write a side's coded table: one small-integer column per key, one per input."""
        name = f"coded_{_VIEWS[side]}_{next(_NAMES)}"
        columns: list[str] = []
        joins: list[str] = []
        keys: dict[str, str] = {}
        for text, (fitted, floating) in defs.items():
            keys[text] = column = f"k{len(keys)}"
            if _joined(fitted):
                code, join = _code_join(fitted, floating, f"m{len(joins)}")
                joins.append(" " + self._sql(join))
            else:
                code = _key_expression(fitted, floating)
            typed = exp.Cast(this=code, to=_code_type(len(fitted.labels)))
            columns.append(f"{self._sql(typed)} AS {self._col(column)}")
        given = self._spec.inputs[side]
        inputs = {n: f"i{j}" for j, n in enumerate(sorted(given))}
        columns += [f"{self._sql(given[n])} AS {self._col(c)}" for n, c in inputs.items()]
        if not columns:  # a table of no inputs and no keys: one constant, so it has rows
            columns.append("1 AS one")
        select = f"SELECT {', '.join(columns)} FROM {self._relation(side)}{''.join(joins)}"
        self._spec.backend.materialize(name, select)
        return _Coded(name, keys, inputs, dict(defs))

    # -- the protocol --------------------------------------------------------------------------

    def count(self, side: Side, where: Filter | None = None) -> int:
        """Rows of one side (meeting ``where``)."""
        return int(self.group_sums((), (), side=side, where=where).count[0])

    def group_sums(
        self,
        keys: Sequence[str],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        maxes: Sequence[str] = (),
    ) -> GroupSums:
        """Row counts, sums and maxima per cell of ``keys`` (one query)."""
        return self.grouping_sets([keys], stats, side=side, where=where, maxes=maxes)[0]

    def grouping_sets(
        self,
        key_sets: Sequence[Sequence[str]],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
        each: Sequence[Filter | None] | None = None,
        maxes: Sequence[str] = (),
        raw: bool = False,
    ) -> list[GroupSums]:
        """`group_sums` of several key sets in one query.

        The sets are grouped by their filter: each distinct filter is one ``GROUP BY GROUPING
        SETS`` branch over its own rows (``UNION ALL`` of the branches), so a row is
        aggregated only into the sets that count it. (One grouping-sets scan with a ``CASE``
        per set would aggregate every row into every set, NULL cell or not: at 10M rows and
        64 pruned pair sets that was 50 s a query against 2-5 s this way.)

        With ``raw``, the query reads the raw view and writes no coded table: for a one-off
        question (drift's bin counts), where coding every row would cost more than it saves.
        """
        extra = list(each) if each is not None else [None] * len(key_sets)
        if len(extra) != len(key_sets):
            raise ValueError("grouping_sets: one filter per key set in each=")
        if not key_sets:
            return []
        asked = _keys_of(key_sets, where, extra)
        scan = self._raw(side) if raw else self._scan(side, asked)
        # Each branch (one filter) groups by blocks: a block is a set of keys that holds
        # several asked sets, and each of those is summed from the block's cells here (`_cover`).
        # A set asked twice, or in another order, is one set.
        names = {k: f"k{j}" for j, k in enumerate(dict.fromkeys(k for ks in key_sets for k in ks))}
        cards = self._spec.cards
        wanted: dict[Filter | None, list[frozenset[str]]] = {}
        for keys, rule in zip(key_sets, extra, strict=True):
            wanted.setdefault(rule or None, []).append(frozenset(keys))
        block: dict[tuple[Filter | None, frozenset[str]], int] = {}  # (rule, keys) -> q
        where_is: dict[tuple[Filter | None, frozenset[str]], int] = {}  # asked set -> its q
        branches: dict[Filter | None, dict[int, frozenset[str]]] = {}
        for rule, sets in wanted.items():
            for asked_keys, held in _cover(sets, cards).items():
                q = block.setdefault((rule, held), len(block))
                branches.setdefault(rule, {})[q] = held
                where_is[(rule, asked_keys)] = q
        sql = " UNION ALL ".join(
            self._branch(scan, chunk, names, stats, maxes, where, rule)
            for rule, sets in branches.items()
            for chunk in _chunks(sets)
        )
        columns = _numpy(self._run(sql, keep=True))
        return [
            self._scatter(
                where_is[(rule or None, frozenset(keys))], keys, names, columns, stats, maxes
            )
            for keys, rule in zip(key_sets, extra, strict=True)
        ]

    def _branch(
        self,
        scan: _Scan,
        sets: Mapping[int, frozenset[str]],
        names: Mapping[str, str],
        stats: Sequence[str],
        maxes: Sequence[str],
        where: Filter | None,
        rule: Filter | None,
    ) -> str:
        """Return one ``GROUPING SETS`` query over the rows of ``where`` and ``rule``.

        Its rows are ``(q, k0.., n, s0.., m0..)``: the set's index, the codes of the query's
        keys (NULL where the set lacks one), the row count, sums and maxima. The sets group
        by the key columns themselves, not by one combined code per set: a combined code is
        a multiply-add per row and set, and grouping by it was ~1.4x slower on DuckDB.
        """
        own = [k for k in names if any(k in keys for keys in sets.values())]
        inner = [f"{self._sql(scan.keys[k])} AS {names[k]}" for k in own]
        inner += [f"{self._sql(scan.stats[s])} AS s{j}" for j, s in enumerate(stats)]
        inner += [f"{self._sql(scan.stats[m])} AS m{j}" for j, m in enumerate(maxes)]
        where_sql = self._filter_sql(
            scan.row_filter, self._condition(scan, where), self._condition(scan, rule)
        )
        outer = [_set_index(sets, own, names)]
        outer += [
            f"CAST({names[k]} AS BIGINT) AS {names[k]}"
            if k in own
            else f"CAST(NULL AS BIGINT) AS {names[k]}"
            for k in names
        ]
        outer.append("COUNT(*) AS n")
        outer += [f"SUM(s{j}) AS s{j}" for j in range(len(stats))]
        outer += [f"MAX(m{j}) AS m{j}" for j in range(len(maxes))]
        rows = f"(SELECT {', '.join(inner) or '1 AS one'} FROM {scan.relation}{where_sql}) AS t"
        if not own:  # only the whole-rows set: one plain aggregate (one row, rows or none)
            return f"SELECT {', '.join(outer)} FROM {rows}"
        groups = ", ".join(
            f"({', '.join(names[k] for k in own if k in keys)})" for keys in sets.values()
        )
        return f"SELECT {', '.join(outer)} FROM {rows} GROUP BY GROUPING SETS ({groups})"

    def _scatter(
        self,
        q: int,
        keys: Sequence[str],
        names: Mapping[str, str],
        columns: Mapping[str, NDArray[Any]],
        stats: Sequence[str],
        maxes: Sequence[str],
    ) -> GroupSums:
        cards = tuple(self._spec.cards[k] for k in keys)
        space = math.prod(cards)
        # n = 0 only on the plain aggregate of a filter no row passes: no cell (SUM is NULL)
        rows = (columns["q"] == q) & (columns["n"] > 0)
        codes = np.zeros(int(rows.sum()), dtype=np.int64)
        for key, card in zip(keys, cards, strict=True):
            code = columns[names[key]][rows]
            codes = codes * card + code
            rows[rows] = code >= 0  # -1: a NULL cell (a raw key's gap)
            codes = codes[code >= 0]
        count = np.asarray(columns["n"], dtype=np.int64)[rows]
        sums = {
            s: np.asarray(columns[f"s{j}"], dtype=np.float64)[rows] for j, s in enumerate(stats)
        }
        tops = {
            m: np.asarray(columns[f"m{j}"], dtype=np.float64)[rows] for j, m in enumerate(maxes)
        }
        if space <= DENSE_LIMIT:
            # a block's cells sum into the set's (each cell once when the set is the block)
            return GroupSums(
                tuple(keys),
                cards,
                None,
                _sum_into(codes, count, space).astype(np.int64),
                {k: _sum_into(codes, v, space) for k, v in sums.items()},
                {k: _max_into(codes, v, space) for k, v in tops.items()},
            )
        cells, at = np.unique(codes, return_inverse=True)
        return GroupSums(
            tuple(keys),
            cards,
            cells,
            _sum_into(at, count, len(cells)).astype(np.int64),
            {k: _sum_into(at, v, len(cells)) for k, v in sums.items()},
            {k: _max_into(at, v, len(cells)) for k, v in tops.items()},
        )

    def sample(
        self, side: Side, n: int, *, random_state: int = 0, where: Filter | None = None
    ) -> NDArray[np.intp]:
        """Row positions are not stable in a SQL engine: use `sample_frame` (rows themselves)."""
        raise DataError(
            f"the {self._spec.backend.name} engine samples rows themselves (sample_frame), not "
            "row positions; a row's position in a dataset of many files is not defined."
        )

    # -- bins --------------------------------------------------------------------------------

    def fit_bins(
        self, columns: Sequence[str], *, bins: int = SliceSearch.bins, min_count: int = 1
    ) -> dict[str, ColumnBins]:
        """Fit `tracing.binning.fit_bins` per column from the engine's quantiles and counts."""
        return {c: self._fit(c, bins=bins, min_count=min_count) for c in columns}

    def _fit(self, column: str, *, bins: int, min_count: int) -> ColumnBins:
        empty = {
            side: pd.Series([], dtype=np.float64 if self._numeric(column) else object, name=column)
            for side in (Side.BASELINE, Side.PRODUCTION)
        }
        if self._numeric(column):
            fitted = self._fit_numeric(column, bins, empty[Side.BASELINE])
            if fitted is not None:
                return fitted
        # No finite values in the (empty) series: fit_column_bins goes by the engine's counts.
        values = [
            ColumnValues(empty[side], count=functools.partial(self.value_counts, side, column))
            for side in (Side.BASELINE, Side.PRODUCTION)
        ]
        return fit_column_bins(values[0], values[1], bins=bins, min_count=min_count)

    def _fit_numeric(self, column: str, bins: int, empty: pd.Series) -> ColumnBins | None:
        """Quantile bins of a numeric column (None: too few distinct values, categorical)."""
        x = self._col(column)
        finite = (
            f"CAST({x} AS DOUBLE) > CAST('-inf' AS DOUBLE) AND "
            f"CAST({x} AS DOUBLE) < CAST('inf' AS DOUBLE)"
        )
        view = self._relation(Side.BASELINE)
        where = self._where(Side.BASELINE)
        cond = f"{where} AND {finite}" if where else f" WHERE {finite}"
        distinct = self._run(
            f"SELECT COUNT(*) AS k FROM (SELECT DISTINCT CAST({x} AS DOUBLE) AS v FROM {view}"
            f"{cond} LIMIT {int(bins) + 1}) AS d",
            keep=True,
        )["k"][0].as_py()
        if distinct <= bins:
            return None
        qs = np.linspace(0, 1, bins + 1)[1:-1]
        found = self._run(
            f"SELECT {self._dialect.quantiles(f'CAST({x} AS DOUBLE)', qs.tolist())} AS q, "
            f"MIN(CAST({x} AS DOUBLE)) AS lo FROM {view}{cond}",
            keep=True,
        )
        quantiles = np.asarray(found["q"][0].as_py(), dtype=np.float64)
        lowest = float(found["lo"][0].as_py())
        # The rest is fit_column_bins' own rule, on the engine's quantiles.
        from tracing.binning import MISSING, PRESENT, _range_labels

        edges = np.unique(quantiles) + 0.0  # -0.0 (a lerp between -x and x) is the cut 0
        if len(edges) == 1 and edges[0] <= lowest:
            return ColumnBins(column, "numeric", (), (), (PRESENT, MISSING))
        labels = _range_labels(edges, empty)
        return ColumnBins(column, "numeric", tuple(map(float, edges)), (), (*labels, MISSING))

    # -- small row-level facts -----------------------------------------------------------------

    def range_counts(
        self, side: Side, bins: Mapping[str, ColumnBins]
    ) -> dict[str, NDArray[np.int64]]:
        """Rows per bin of numeric range bins (codes as `ColumnBins.codes`), one query.

        A row's range code is the number of edges at or below its value, so the rows of bin
        ``k`` are those at or above edge ``k`` (none: every present row) minus those at or above
        edge ``k + 1``: one ``SUM`` per edge and a row count, with no ``GROUP BY`` (a grouping
        set per column hashes every row into every set).
        """
        one, zero = _int(1), _int(0)

        def count_if(condition: Expr) -> str:
            case = exp.Case(ifs=[exp.If(this=condition, true=one.copy())], default=zero.copy())
            return self._sql(exp.Sum(this=case))

        parts = ["COUNT(*) AS total"]
        for i, (column, fitted) in enumerate(bins.items()):
            if fitted.kind != "numeric":
                raise ValueError(f"range_counts: {column} has value bins, not ranges")
            x = rowexpr.col(column)
            present = exp.Not(this=exp.Paren(this=_missing(x, self._floating(column))))
            value = exp.Cast(this=x.copy(), to=exp.DataType.build("double"))
            parts.append(f"{count_if(present)} AS p{i}")
            for k, edge in enumerate(fitted.edges):
                at_or_above = exp.GTE(this=value.copy(), expression=rowexpr.literal(edge))
                parts.append(f"{count_if(_all(present.copy(), at_or_above))} AS g{i}_{k}")
        sql = f"SELECT {', '.join(parts)} FROM {self._relation(side)}{self._where(side)}"
        row = self._run(sql, keep=True).to_pylist()[0]
        out = {}
        for i, (column, fitted) in enumerate(bins.items()):
            rows = int(row[f"p{i}"] or 0)
            above = [rows] + [int(row[f"g{i}_{k}"] or 0) for k in range(len(fitted.edges))]
            counts = np.zeros(len(fitted.labels), dtype=np.int64)
            counts[: len(above)] = np.asarray(above) - np.append(above[1:], 0)
            counts[fitted.missing_code] += int(row["total"]) - rows
            out[column] = counts
        return out

    def value_counts(self, side: Side, column: str) -> pd.Series:
        """Rows per distinct non-missing value, most frequent first (ties: by value)."""
        x = self._col(column)
        gap = f"{x} IS NOT NULL"
        if self._floating(column):
            gap += f" AND NOT ISNAN({x})"
        where = self._where(side)
        cond = f"{where} AND {gap}" if where else f" WHERE {gap}"
        table = self._run(
            f"SELECT {x} AS v, COUNT(*) AS n FROM {self._relation(side)}{cond} GROUP BY {x}",
            keep=True,
        ).to_pandas()
        table = table.sort_values(["n", "v"], ascending=[False, True], kind="mergesort")
        index = pd.Index(table["v"].tolist(), dtype=object, name=column)
        return pd.Series(table["n"].to_numpy(dtype=np.int64), index=index, name="count")

    def distinct_values(self, side: Side, column: str, *, limit: int) -> list[Any]:
        """Up to ``limit`` distinct values of a column (missing included as None)."""
        x = self._col(column)
        table = self._run(
            f"SELECT DISTINCT {x} AS v FROM {self._relation(side)}{self._where(side)} "
            f"LIMIT {int(limit)}"
        )
        return list(table["v"].to_pylist())

    def rows_where(
        self, side: Side, column: str, values: Sequence[Any], *, limit: int
    ) -> pd.DataFrame:
        """Up to ``limit`` rows whose ``column`` is one of ``values``."""
        inside = exp.In(this=rowexpr.col(column), expressions=[_value_literal(v) for v in values])
        where = self._where(side, inside)
        return self._frame(f"SELECT * FROM {_VIEWS[side]}{where} LIMIT {int(limit)}")

    def sample_frame(self, side: Side, n: int, *, random_state: int = 0) -> pd.DataFrame:
        """Return a uniform sample of at most ``n`` rows (all when fewer), as pandas reads them.

        Reproducible per engine for the same ``random_state``; other engines draw other rows.
        """
        rows = self.count(side)
        view = _VIEWS[side]
        if rows <= n:
            return self._frame(f"SELECT * FROM {view}{self._where(side)}")
        sql = self._dialect.sample(view, n, rows, int(random_state) % (2**31))
        if self._spec.row_filter.get(side) is not None:
            sql = f"SELECT * FROM ({sql}) AS s{self._where(side)}"
        return self._frame(f"{sql} LIMIT {int(n)}")

    def _frame(self, sql: str) -> pd.DataFrame:
        from tracing.io import arrow_to_pandas

        return arrow_to_pandas(self._run(sql))

    def score_groups(
        self, side: Side, *, limit: int = MAX_SCORE_GROUPS
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Positive and negative counts per distinct score, highest score first.

        What `tracing.metrics.score_groups` returns for the scored rows of the table (its row
        filter applied): the rank metrics (ROC AUC, PR AUC) and their delta-method variances
        depend on the rows only through these counts. One ``GROUP BY`` of the score; the
        counts are exact integers. None when there are more than ``limit`` distinct scores
        (the counts would not fit comfortably in memory).
        """
        given = self._spec.inputs[side]
        score = rowexpr.substitute(rowexpr.col(rowexpr.Input.SCORE), given)
        actual = rowexpr.substitute(rowexpr.col(rowexpr.Input.ACTUAL), given)
        scored = rowexpr.substitute(rowexpr.col(rowexpr.Input.SCORED), given)
        positive = exp.Cast(this=actual, to=exp.DataType.build("bigint"))
        sql = (
            f"SELECT s, SUM(p) AS pos, COUNT(*) AS n FROM (SELECT {self._sql(score)} AS s, "
            f"{self._sql(positive)} AS p FROM {self._relation(side)}{self._where(side, scored)}) "
            "AS t "
            f"GROUP BY s ORDER BY s DESC LIMIT {int(limit) + 1}"
        )
        table = self._run(sql)
        if table.num_rows > limit:
            return None
        pos = np.asarray(table.column("pos").to_numpy(), dtype=np.float64)
        n = np.asarray(table.column("n").to_numpy(), dtype=np.float64)
        return pos, n - pos
