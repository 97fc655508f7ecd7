"""Throwaway spike: the engine seam (`tracing.engine.CodedTable`) implemented over DuckDB.

Not a runtime dependency (``pip install duckdb`` to run it; nothing in ``tracing/`` imports
it). `DuckTable` registers each side as a pandas frame in an in-process DuckDB connection, turns
`tracing.binning.ColumnBins` into SQL ``CASE`` expressions (one view of key codes per side), and
answers `group_sums` / `grouping_sets` with ``GROUP BY`` / ``GROUP BY GROUPING SETS`` queries
whose small results are scattered into the same dense `tracing.engine.GroupSums` as the memory
engine's. ``tests/test_engine_duckdb.py`` runs the slice search's level-1 and level-2 group
sums, a drilldown (filtered) grouping and a timeline period sum through both engines and checks
them equal to 1e-9.

What the spike taught (the interface as first drawn, and what had to change)
-------------------------------------------------------------------------
1. **A search level is many groupings over the same rows.** One query per grouping is one scan
   per feature (20 scans for level 1, 190 for level 2); the protocol gained `grouping_sets`
   (``GROUP BY GROUPING SETS``, one scan per level). The memory engine loops.
2. **Mixed-radix cell codes travel well.** ``((k1 * card2) + k2) * card3 ...`` is one integer
   expression in SQL, so a grouping's result is ``(cell, count, sums)`` rows and the dense
   arrays the slice code indexes are rebuilt in Python; `GroupSums` needed nothing else.
3. **Per-row statistics are computed in Python and uploaded** (`tracing.metrics.row_stats`
   columns registered with the rows). A real out-of-core engine needs each statistic as an
   *expression* over the raw columns (the scale issue's "one definition per metric"); the
   seam's ``stats`` names are the place where that expression layer plugs in, unchanged.
4. **Derived keys** (the timeline's period index, the "has an actual" flag) are uploaded codes
   here; in SQL they are expressions too (``floor((epoch(ts) - origin) / period)``). The
   protocol only needs "a key with a cardinality", so derived keys fit as they are.
5. **Filters**: a conjunction of ``key = code`` covers "inside this parent slice" (drilldown,
   slice records, the explained-by check through `count`). The branch-and-bound's inner loop
   also needs "rows of *candidate* cells" (``(k1, k2) IN (...)``, a semi-join with the
   surviving parents) and bounds from a *derived* statistic (the positive part of the per-row
   excess, which depends on the overall metric): neither is in the seam yet, so the in-memory
   search still reads `MemoryTable.key_codes` / `MemoryTable.stat` directly. Pushing the
   search down needs ``Filter`` to grow an ``IN``-set condition and ``stats`` to accept an
   expression (``greatest(M * v - u, 0)``); both are additive changes to the same methods.
6. **Sums agree to rounding, not bit for bit**: DuckDB adds in parallel, in another order
   (observed differences ~1e-16 relative). Counts are exact. Ranking ties that depend on the
   last bit can therefore differ between engines: the parity tests compare to 1e-9 and slice
   ids only where impacts are apart by more than that.
7. **Fitting bins in SQL is exact only when it is fitted once**: ``quantile_cont`` is the same
   linear interpolation as numpy's but rounds differently in the last bit, and pandas' order of
   equally frequent categories (index alignment in ``Series.add``) is not SQL's ``ORDER BY``.
   So bins are fitted by one engine and shared (`with_keys` takes the `ColumnBins`), as the
   scale issue already requires; `DuckTable.fit_bins` matches to 1e-12 on edges and exactly on
   categories when counts do not tie.
8. **Rank metrics** (ROC AUC, PR AUC per slice) are outside the seam: they need per-group
   counts per distinct score, which is ``group_sums`` over ``(keys..., score)`` with ``pos``
   and ``neg`` statistics, a high-cardinality key. The seam allows it (compacted cells); the
   slice code does not use it yet.
9. **Sampling is engine-specific**: ``USING SAMPLE reservoir(n ROWS) REPEATABLE (seed)`` draws
   other rows than numpy for the same seed; the contract promises reproducibility per engine,
   not across engines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from tracing.binning import MISSING, OTHER, ColumnBins, _range_labels, is_numeric_column
from tracing.engine import DENSE_LIMIT, Filter, GroupSums, Side

ROW = "__row"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key(name: str) -> str:
    return _ident("k:" + name)


def _stat(name: str) -> str:
    return _ident("s:" + name)


def _literal(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return f"'{value!r}'::DOUBLE"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def code_expression(column: str, bins: ColumnBins) -> str:
    """SQL for `ColumnBins.codes`: the bin code of every row of ``column``."""
    col = _ident(column)
    missing = bins.missing_code
    if bins.kind == "numeric":
        parts = [f"({col} >= '{edge!r}'::DOUBLE)::INTEGER" for edge in bins.edges] or ["0"]
        return (
            f"CASE WHEN {col} IS NULL OR isnan({col}) THEN {missing} ELSE {' + '.join(parts)} END"
        )
    whens = " ".join(f"WHEN {col} = {_literal(v)} THEN {i}" for i, v in enumerate(bins.categories))
    other = bins.other_code if bins.other_code is not None else -1
    return f"CASE WHEN {col} IS NULL THEN {missing} {whens} ELSE {other} END"


class DuckTable:
    """`tracing.engine.CodedTable` over DuckDB (see the module docstring)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        raw: Mapping[Side, str],
        cards: Mapping[str, int],
        keys: Mapping[str, str],
        stats: Mapping[Side, Sequence[str]],
        bins: Mapping[str, ColumnBins] | None = None,
    ) -> None:
        self.con = con
        self._raw = dict(raw)  # side -> registered relation name
        self._cards = dict(cards)
        self._keys = dict(keys)  # key -> SQL expression over the raw relation
        self._stats = {side: list(names) for side, names in stats.items()}  # may differ per side
        self.bins = dict(bins or {})
        self._views: dict[Side, str] = {}
        for side, rel in self._raw.items():
            view = f"coded_{side.value}_{id(self)}"
            cols = [ROW, *(_stat(s) for s in self._stats[side])]
            cols += [f"{expr} AS {_key(k)}" for k, expr in self._keys.items()]
            # A table, not a view: the CASE expressions run once, not on every scan.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT {', '.join(cols)} FROM {rel}"
            )
            self._views[side] = view

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[Side, pd.DataFrame],
        *,
        stats: Mapping[Side, Mapping[str, np.ndarray]],
        rows: Mapping[Side, np.ndarray] | None = None,
        columns: Sequence[str] = (),
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> DuckTable:
        """Upload the kept rows of ``columns`` with their statistics and row ids."""
        con = duckdb.connect() if con is None else con
        con.execute("SET threads TO 2")
        raw = {}
        names: dict[Side, list[str]] = {}
        for side, frame in frames.items():
            kept = np.arange(len(frame)) if rows is None else np.asarray(rows[side])
            part = frame.iloc[kept][list(columns)].reset_index(drop=True)
            part[ROW] = kept.astype(np.int64)
            names[side] = list(stats[side])
            for name, values in stats[side].items():
                part["s:" + name] = np.asarray(values, dtype=np.float64)
            rel = f"raw_{side.value}_{id(part)}"
            con.register(rel, part)
            raw[side] = rel
        return cls(con, raw, {}, {}, names)

    @classmethod
    def from_arrays(
        cls,
        sides: Mapping[Side, tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]],
        *,
        cards: Mapping[str, int],
        rows: Mapping[Side, np.ndarray] | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> DuckTable:
        """Upload derived key codes and statistics (as `tracing.engine.MemoryTable`)."""
        con = duckdb.connect() if con is None else con
        raw: dict[Side, str] = {}
        names: dict[Side, list[str]] = {}
        for side, (keys, stats) in sides.items():
            n = len(next(iter(keys.values())))
            part = pd.DataFrame({"c:" + k: np.asarray(v, dtype=np.int64) for k, v in keys.items()})
            part[ROW] = np.arange(n) if rows is None else np.asarray(rows[side], dtype=np.int64)
            names[side] = list(stats)
            for name, values in stats.items():
                part["s:" + name] = np.asarray(values, dtype=np.float64)
            rel = f"raw_{side.value}_{id(part)}"
            con.register(rel, part)
            raw[side] = rel
        any_keys = next(iter(sides.values()))[0]
        return cls(con, raw, cards, {k: _ident("c:" + k) for k in any_keys}, names)

    def fit_bins(
        self, columns: Sequence[str], *, bins: int = 10, min_count: int = 1
    ) -> dict[str, ColumnBins]:
        """`tracing.binning.fit_bins` in SQL (module docstring, point 7: fit once, share)."""
        base, prod = self._raw[Side.BASELINE], self._raw[Side.PRODUCTION]
        out = {}
        for c in columns:
            col = _ident(c)
            sample = self.con.execute(f"SELECT {col} FROM {base} LIMIT 0").df()[c]
            sample_p = self.con.execute(f"SELECT {col} FROM {prod} LIMIT 0").df()[c]
            if is_numeric_column(sample) and is_numeric_column(sample_p):
                finite = f"{col} IS NOT NULL AND isfinite({col})"
                distinct = self.con.execute(
                    f"SELECT count(DISTINCT {col}) FROM {base} WHERE {finite}"
                ).fetchone()
                if distinct is not None and distinct[0] > bins:
                    qs = ", ".join(
                        f"quantile_cont({col}, '{float(p)!r}'::DOUBLE)"
                        for p in np.linspace(0, 1, bins + 1)[1:-1]
                    )
                    row = self.con.execute(f"SELECT {qs} FROM {base} WHERE {finite}").fetchone()
                    assert row is not None
                    edges = np.unique(np.asarray(row, dtype=float))
                    labels = (*_range_labels(edges, sample), MISSING)
                    out[c] = ColumnBins(c, "numeric", tuple(map(float, edges)), (), labels)
                    continue
            counts = self.con.execute(
                f"SELECT v, max(k) AS top, sum(k) AS total FROM ("
                f" SELECT {col} AS v, count(*) AS k FROM {base} WHERE {col} IS NOT NULL GROUP BY v"
                f" UNION ALL"
                f" SELECT {col} AS v, count(*) AS k FROM {prod} WHERE {col} IS NOT NULL GROUP BY v"
                f") GROUP BY v ORDER BY top DESC, v"
            ).df()
            keep = counts[counts["top"] >= min_count]
            ordered = keep["v"].tolist()
            pooled = len(keep) < len(counts)
            labels = (*(str(v) for v in ordered), *([OTHER] if pooled else []), MISSING)
            out[c] = ColumnBins(c, "categorical", (), tuple(ordered), labels, pooled=pooled)
        return out

    def with_keys(self, bins: Mapping[str, ColumnBins]) -> DuckTable:
        """Return the same rows with these raw columns coded by SQL ``CASE`` expressions."""
        keys = {**self._keys, **{k: code_expression(k, b) for k, b in bins.items()}}
        cards = {**self._cards, **{k: len(b.labels) for k, b in bins.items()}}
        out = DuckTable(self.con, self._raw, cards, keys, self._stats, {**self.bins, **bins})
        for side, view in out._views.items():
            for k, b in bins.items():
                if b.other_code is None:
                    bad = self.con.execute(
                        f"SELECT count(*) FROM {view} WHERE {_key(k)} = -1"
                    ).fetchone()
                    if bad is not None and bad[0]:
                        raise ValueError(f"column {k!r}: {side} values not seen when fitting")
        return out

    # -- the protocol ----------------------------------------------------------------------

    def cardinality(self, key: str) -> int:
        return self._cards[key]

    def _where(self, where: Filter | None) -> str:
        if not where:
            return ""
        return " WHERE " + " AND ".join(f"{_key(c.key)} = {int(c.code)}" for c in where.conditions)

    def _code(self, keys: Sequence[str]) -> str:
        if not keys:
            return "0"
        expr = f"{_key(keys[0])}::BIGINT"
        for k in keys[1:]:
            expr = f"({expr} * {self._cards[k]} + {_key(k)})"
        return expr

    def count(self, side: Side, where: Filter | None = None) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {self._views[side]}{self._where(where)}")
        got = row.fetchone()
        return int(got[0]) if got else 0

    def _scatter(
        self, keys: Sequence[str], stats: Sequence[str], cells: np.ndarray, frame: pd.DataFrame
    ) -> GroupSums:
        cards = tuple(self._cards[k] for k in keys)
        space = math.prod(cards)
        order = np.argsort(cells, kind="stable")
        cells = cells[order]
        if space > DENSE_LIMIT:
            count = frame["n"].to_numpy(dtype=np.int64)[order]
            sums = {s: frame[f"sum{i}"].to_numpy(dtype=float)[order] for i, s in enumerate(stats)}
            return GroupSums(tuple(keys), cards, cells.astype(np.int64), count, sums)
        count = np.zeros(space, dtype=np.int64)
        count[cells] = frame["n"].to_numpy(dtype=np.int64)[order]
        sums = {}
        for i, s in enumerate(stats):
            dense = np.zeros(space)
            dense[cells] = frame[f"sum{i}"].to_numpy(dtype=float)[order]
            sums[s] = dense
        return GroupSums(tuple(keys), cards, None, count, sums)

    def _aggregates(self, stats: Sequence[str]) -> str:
        return ", ".join(
            ["count(*) AS n", *(f"sum({_stat(s)}) AS sum{i}" for i, s in enumerate(stats))]
        )

    def group_sums(
        self, keys: Sequence[str], stats: Sequence[str], *, side: Side, where: Filter | None = None
    ) -> GroupSums:
        sql = (
            f"SELECT {self._code(keys)} AS cell, {self._aggregates(stats)} "
            f"FROM {self._views[side]}{self._where(where)} GROUP BY cell"
        )
        frame = self.con.execute(sql).df()
        return self._scatter(keys, stats, frame["cell"].to_numpy(dtype=np.int64), frame)

    def grouping_sets(
        self,
        key_sets: Sequence[Sequence[str]],
        stats: Sequence[str],
        *,
        side: Side,
        where: Filter | None = None,
    ) -> list[GroupSums]:
        """One ``GROUP BY GROUPING SETS`` query for every key set."""
        if any(not keys for keys in key_sets):  # the empty set: plain group_sums
            return [self.group_sums(k, stats, side=side, where=where) for k in key_sets]
        used = list(dict.fromkeys(k for keys in key_sets for k in keys))
        sets = ", ".join("(" + ", ".join(_key(k) for k in keys) + ")" for keys in key_sets)
        grouping = f"GROUPING({', '.join(_key(k) for k in used)})"
        sql = (
            f"SELECT {grouping} AS gid, {', '.join(_key(k) for k in used)}, "
            f"{self._aggregates(stats)} FROM {self._views[side]}{self._where(where)} "
            f"GROUP BY GROUPING SETS ({sets})"
        )
        frame = self.con.execute(sql).df()
        out = []
        for keys in key_sets:
            # GROUPING() sets the bit of every column *not* grouped (first column = top bit)
            gid = sum(1 << (len(used) - 1 - i) for i, k in enumerate(used) if k not in keys)
            part = frame[frame["gid"] == gid]
            cells = np.zeros(len(part), dtype=np.int64)
            for k in keys:
                cells = cells * self._cards[k] + part["k:" + k].to_numpy(dtype=np.int64)
            out.append(self._scatter(keys, stats, cells, part))
        return out

    def sample(
        self, side: Side, n: int, *, random_state: int = 0, where: Filter | None = None
    ) -> np.ndarray:
        sql = (
            f"SELECT {ROW} FROM (SELECT {ROW} FROM {self._views[side]}{self._where(where)}) "
            f"USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(random_state)})"
        )
        rows = self.con.execute(sql).df()[ROW].to_numpy(dtype=np.intp)
        return np.sort(rows)


if __name__ == "__main__":  # a tiny timing of level 1 on generated data
    import time

    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame({f"f{j}": rng.integers(0, 10, n).astype(str) for j in range(20)})
    from tracing.engine import MemoryTable, fit_frame_bins

    bins = fit_frame_bins(frame, frame, list(frame.columns))
    stats = {"n": np.ones(n), "correct": (rng.random(n) < 0.9) * 1.0}
    sides = {Side.BASELINE: frame, Side.PRODUCTION: frame}
    t0 = time.perf_counter()
    mem = MemoryTable.from_frames(sides, stats=dict.fromkeys(sides, stats)).with_keys(bins)
    t1 = time.perf_counter()
    duck = DuckTable.from_frames(
        sides, stats=dict.fromkeys(sides, stats), columns=list(frame.columns)
    ).with_keys(bins)
    t2 = time.perf_counter()
    print(f"coding 2 x 1M rows x 20 columns: memory {t1 - t0:.2f} s, duckdb {t2 - t1:.2f} s")
    sets = [(f,) for f in frame.columns]
    for name, table in (("memory", mem), ("duckdb", duck)):
        t0 = time.perf_counter()
        table.grouping_sets(sets, ["correct"], side=Side.PRODUCTION)
        print(f"{name}: level 1 (20 groupings, 1M rows) {time.perf_counter() - t0:.2f} s")
