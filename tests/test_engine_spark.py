"""The Spark backend runs the analysis' SQL like an in-memory computation would.

One local session serves the module (starting a JVM takes ~10-25 s). The oracles are pandas and
numpy computing the same aggregates in memory. The SQL constructs the shared query builder
(`tracing.sqltable`) relies on are each tested here in the spelling that works on Spark, since
several DuckDB spellings do not carry over (see the comments at each test).

The tests that need a session skip only when Spark cannot start here (no PySpark, or no Java);
CI installs Java, so they run there.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from tracing import engine_spark
from tracing.engine_spark import SparkBackend, SparkQueryError, spark_available, spark_missing
from tracing.errors import DataError
from tracing.sqlbackend import SqlBackend, TableSource

N = 600
TOL = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(16)
    return pd.DataFrame(
        {
            "a": rng.choice(["u", "v", "w"], N),
            "b": rng.integers(0, 3, N),
            "x": rng.random(N),
            "y": rng.lognormal(0, 1, N),
            "flag": (rng.random(N) < 0.3).astype(np.int64),
            "region": rng.choice(["north", "south"], N),
        }
    )


@pytest.fixture(scope="module")
def backend(frame):
    if not spark_available():
        pytest.skip(str(spark_missing()))
    spark = SparkBackend(shuffle_partitions=2)
    source = TableSource("frame", arrow=pa.Table.from_pandas(frame, preserve_index=False))
    # The first register starts the JVM (unless another module's test did). Tiny queries spend
    # their time compiling, not running: the quick JIT alone halves this module's runtime.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        spark.register("t", source)
    yield spark
    spark.close()


def _pandas(table: pa.Table, keys: list[str]) -> pd.DataFrame:
    return table.to_pandas().sort_values(keys, na_position="first").reset_index(drop=True)


def test_is_a_sql_backend():
    backend = SparkBackend()
    assert isinstance(backend, SqlBackend)
    assert (backend.dialect, backend.name) == ("spark", "spark")
    backend.close()


def test_without_java_the_message_says_what_to_install(monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setattr(engine_spark.shutil, "which", lambda name: None)
    assert not spark_available()
    assert "apt-get install default-jre-headless" in str(spark_missing())
    assert "pip install pyspark==4.3.0" in str(spark_missing())
    # A backend that would have to start the session refuses with the same message.
    monkeypatch.setattr(engine_spark, "_root", None)
    backend = SparkBackend()
    with pytest.raises(DataError, match="default-jre-headless"):
        backend.query("SELECT 1")
    backend.close()


def test_spark_connect_needs_its_client_libraries_not_java(monkeypatch):
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:15002")
    monkeypatch.setattr(engine_spark.shutil, "which", lambda name: None)
    monkeypatch.setattr(engine_spark, "_importable", lambda name: False)
    assert "pyspark[connect]==4.3.0" in str(spark_missing())
    monkeypatch.setattr(engine_spark, "_importable", lambda name: True)
    assert spark_available()


def test_paths_reach_spark_as_uris_its_cluster_reads(tmp_path, monkeypatch):
    import pyarrow.fs as pafs

    monkeypatch.chdir(tmp_path)
    local = SparkBackend(remote="")
    s3 = pafs.S3FileSystem(anonymous=True, region="us-east-1")
    listed = TableSource("s3://bucket/logs/", paths=("bucket/logs/a.parquet",), filesystem=s3)
    assert local._path("bucket/logs/a.parquet", listed) == "s3a://bucket/logs/a.parquet"
    given = TableSource("s3a://bucket/logs/", paths=("s3a://bucket/logs/a.parquet",))
    assert local._path("s3a://bucket/logs/a.parquet", given) == "s3a://bucket/logs/a.parquet"
    relative = TableSource("logs/a.parquet", paths=("logs/a.parquet",))
    assert local._path("logs/a.parquet", relative) == str(tmp_path / "logs" / "a.parquet")
    # On a cluster a path is the cluster's: passed as given.
    cluster = SparkBackend(remote="sc://127.0.0.1:15002")
    assert cluster._path("logs/a.parquet", relative) == "logs/a.parquet"


def test_parquet_files_register_as_one_view(backend, frame, tmp_path):
    paths = []
    for i, part in enumerate(np.array_split(np.arange(N), 3)):
        path = tmp_path / f"part-{i}.parquet"
        pq.write_table(pa.Table.from_pandas(frame.iloc[part], preserve_index=False), path)
        paths.append(str(path))
    backend.register("files", TableSource(str(tmp_path), paths=tuple(paths)))
    sql = "SELECT a, COUNT(*) AS n, SUM(x) AS sx FROM files GROUP BY a"
    got = _pandas(backend.query(sql), ["a"])
    want = frame.groupby("a").agg(n=("x", "size"), sx=("x", "sum")).reset_index()
    assert got["a"].tolist() == want["a"].tolist()
    assert got["n"].tolist() == want["n"].tolist()
    np.testing.assert_allclose(got["sx"], want["sx"], **TOL)


def test_a_hive_partitioned_folder_shows_its_partition_column(backend, frame, tmp_path):
    pads.write_dataset(
        pa.Table.from_pandas(frame, preserve_index=False),
        tmp_path,
        format="parquet",
        partitioning=["region"],
        partitioning_flavor="hive",
    )
    paths = tuple(sorted(str(p) for p in tmp_path.rglob("*.parquet")))
    assert len(paths) == 2
    backend.register("hive", TableSource(str(tmp_path), paths=paths, hive_root=str(tmp_path)))
    assert "region" in backend.schema("hive").names
    sql = "SELECT region, COUNT(*) AS n, SUM(y) AS sy FROM hive GROUP BY region"
    got = _pandas(backend.query(sql), ["region"])
    want = frame.groupby("region").agg(n=("y", "size"), sy=("y", "sum")).reset_index()
    assert got["region"].tolist() == ["north", "south"] == want["region"].tolist()
    assert got["n"].tolist() == want["n"].tolist()
    np.testing.assert_allclose(got["sy"], want["sy"], **TOL)


def _grouping_sets_oracle(frame: pd.DataFrame) -> pd.DataFrame:
    """Per grouping set of ``((a), (a, b), ())``: the aggregates, with GROUPING_ID's bits.

    GROUPING_ID(a, b) sets bit 1 for ``a`` and bit 0 for ``b`` when the set leaves it out.
    """
    df = frame.assign(
        hi=(frame["x"] > 0.5).astype(int),
        uv=np.where(frame["a"].isin(["u", "v"]), frame["y"], 0.0),
        fy=frame["flag"].astype(float) * frame["y"],
    )
    rows = []
    for keys in (["a"], ["a", "b"], []):
        gid = 2 * ("a" not in keys) + ("b" not in keys)
        groups = df.groupby(keys) if keys else [((), df)]
        for key, g in groups:
            values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            rows.append(
                {
                    "a": values.get("a"),
                    "b": values.get("b"),
                    "gid": gid,
                    "n": len(g),
                    "sx": g["x"].sum(),
                    "sfy": g["fy"].sum(),
                    "hi": g["hi"].sum(),
                    "suv": g["uv"].sum(),
                }
            )
    out = pd.DataFrame(rows)
    out["b"] = out["b"].astype("Int64")
    return out.sort_values(["gid", "a", "b"], na_position="first").reset_index(drop=True)


GROUPING_SETS_SQL = """
SELECT a, b, GROUPING_ID(a, b) AS gid, COUNT(*) AS n, SUM(x) AS sx,
       SUM(CAST(flag AS DOUBLE) * y) AS sfy,
       SUM(CASE WHEN x > 0.5 THEN 1 ELSE 0 END) AS hi,
       SUM(CASE WHEN a IN ('u', 'v') THEN y ELSE CAST(0 AS DOUBLE) END) AS suv
FROM t
GROUP BY GROUPING SETS ((a), (a, b), ())
"""


def _assert_grouping_sets(result: pa.Table, frame: pd.DataFrame) -> None:
    got = result.to_pandas()
    got["b"] = got["b"].astype("Int64")
    got = got.sort_values(["gid", "a", "b"], na_position="first").reset_index(drop=True)
    want = _grouping_sets_oracle(frame)
    assert len(got) == len(want) == 3 + 9 + 1
    for column in ("a", "b", "gid", "n", "hi"):
        assert got[column].tolist() == want[column].tolist(), column
    for column in ("sx", "sfy", "suv"):
        np.testing.assert_allclose(got[column], want[column], **TOL, err_msg=column)


def test_grouping_sets_with_grouping_id_count_sum_case_in_and_cast(backend, frame):
    result = backend.query(GROUPING_SETS_SQL)
    assert result.schema.field("gid").type == pa.int64()
    _assert_grouping_sets(result, frame)


def test_sqlglot_transpiles_a_duckdb_query_that_runs_on_spark(backend, frame):
    sqlglot = pytest.importorskip("sqlglot")
    # DuckDB's spelling: ``::DOUBLE`` casts; GROUPING_ID, not GROUPING(a, b), which Spark
    # rejects (its GROUPING takes one column) and SQLGlot passes through unchanged.
    duckdb_sql = """
    SELECT a, b, GROUPING_ID(a, b) AS gid, COUNT(*) AS n, SUM(x) AS sx,
           SUM(flag::DOUBLE * y) AS sfy,
           SUM(CASE WHEN x > 0.5 THEN 1 ELSE 0 END) AS hi,
           SUM(CASE WHEN a IN ('u', 'v') THEN y ELSE 0::DOUBLE END) AS suv
    FROM t
    GROUP BY GROUPING SETS ((a), (a, b), ())
    """
    spark_sql = sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]
    assert "::" not in spark_sql
    _assert_grouping_sets(backend.query(spark_sql), frame)


def test_max_of_a_case_is_minus_infinity_where_no_row_qualifies(backend, frame):
    # The builder's "largest value among the rows that qualify" is MAX(CASE ... ELSE -inf END);
    # Spark reads both '-Infinity' and '-inf' (SQLGlot's rendering of DuckDB's '-inf'::DOUBLE).
    sql = """
    SELECT a,
           MAX(CASE WHEN flag = 1 THEN x ELSE CAST('-Infinity' AS DOUBLE) END) AS m,
           MAX(CASE WHEN a = 'none' THEN x ELSE CAST('-inf' AS DOUBLE) END) AS never
    FROM t GROUP BY a
    """
    got = _pandas(backend.query(sql), ["a"])
    want = frame[frame["flag"] == 1].groupby("a")["x"].max()
    np.testing.assert_array_equal(got["m"], want.loc[got["a"]].to_numpy())
    assert (got["never"] == -np.inf).all()


def test_greatest_ln_and_integer_division(backend, frame):
    # GREATEST skips NULLs in Spark as in DuckDB; LN of a positive value is numpy's log; DIV
    # truncates toward zero like DuckDB's // (SQLGlot renders // as DIV).
    sql = """
    SELECT SUM(GREATEST(x, y)) AS g, SUM(GREATEST(x, CAST(NULL AS DOUBLE))) AS g_null,
           SUM(LN(y)) AS ln_y, SUM(b DIV 2) AS halves, -7 DIV 2 AS neg, 7 / 2 AS ratio
    FROM t
    """
    got = backend.query(sql).to_pylist()[0]
    np.testing.assert_allclose(got["g"], np.maximum(frame["x"], frame["y"]).sum(), **TOL)
    np.testing.assert_allclose(got["g_null"], frame["x"].sum(), **TOL)
    np.testing.assert_allclose(got["ln_y"], np.log(frame["y"]).sum(), **TOL)
    assert got["halves"] == int((frame["b"] // 2).sum())
    assert (got["neg"], got["ratio"]) == (-3, 3.5)


def test_log_base_ten_is_spelled_log10(backend, frame):
    # DuckDB's one-argument LOG is base 10, Spark's is natural: SQLGlot renders DuckDB's
    # log(y) as Spark's LOG(y), a different number. The builder writes LN or LOG10 (which
    # SQLGlot renders as LOG(10, y)).
    sqlglot = pytest.importorskip("sqlglot")
    duckdb_sql = "SELECT SUM(log10(y)) AS l10, SUM(ln(y)) AS e FROM t"
    got = backend.query(sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0])
    np.testing.assert_allclose(got.column("l10")[0].as_py(), np.log10(frame["y"]).sum(), **TOL)
    np.testing.assert_allclose(got.column("e")[0].as_py(), np.log(frame["y"]).sum(), **TOL)
    one_argument = backend.query("SELECT LOG(CAST(100 AS DOUBLE)) AS l").column("l")[0].as_py()
    assert one_argument == pytest.approx(np.log(100.0))


def test_ln_of_zero_is_null_not_minus_infinity(backend):
    # DuckDB gives -inf for LN(0) and NaN for LN(-1); Spark gives NULL for both, so the builder
    # must not take the log of a value that can be <= 0.
    got = backend.query("SELECT LN(CAST(0 AS DOUBLE)) AS z, LN(CAST(-1 AS DOUBLE)) AS m")
    assert got.to_pylist() == [{"z": None, "m": None}]


def test_division_by_zero_raises_unless_guarded_with_nullif(backend):
    # ANSI mode: x / 0 raises (DuckDB returns inf); NULLIF(d, 0) makes it NULL on both engines.
    with pytest.raises(SparkQueryError, match="DIVIDE_BY_ZERO") as caught:
        backend.query("SELECT SUM(x) / SUM(x * 0) AS r FROM t")
    assert caught.value.condition == "DIVIDE_BY_ZERO"
    got = backend.query("SELECT SUM(x) / NULLIF(SUM(x * 0), 0) AS r FROM t")
    assert got.to_pylist() == [{"r": None}]


def test_exact_percentile_is_numpys_linear_quantile(backend, frame):
    # Spark's PERCENTILE(col, ARRAY(...)) is exact with linear interpolation (numpy's default);
    # PERCENTILE_APPROX is not. SQLGlot renders DuckDB's quantile_cont(x, [..]) as
    # PERCENTILE_CONT(x, ARRAY(..)), which Spark rejects: the builder writes PERCENTILE.
    qs = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]
    sql = f"SELECT a, PERCENTILE(y, ARRAY({', '.join(map(str, qs))})) AS q FROM t GROUP BY a"
    got = _pandas(backend.query(sql), ["a"])
    for a, q in zip(got["a"], got["q"], strict=True):
        want = np.quantile(frame.loc[frame["a"] == a, "y"], qs)
        np.testing.assert_allclose(np.asarray(q, dtype=float), want, **TOL)


def test_a_seeded_tablesample_draws_the_same_rows_twice(backend):
    # Spark's seed clause is REPEATABLE (n); SQLGlot writes SEED (n), which Spark cannot parse.
    sql = "SELECT x FROM t TABLESAMPLE (20 PERCENT) REPEATABLE (7) ORDER BY x"
    first, second = backend.query(sql), backend.query(sql)
    assert first.equals(second)
    assert 0.1 * N < first.num_rows < 0.3 * N


def test_a_missing_column_is_a_data_error_naming_view_and_source(backend):
    with pytest.raises(DataError, match=r"`nope`.*t \(frame\) has a, b, x, y, flag, region"):
        backend.query("SELECT a, SUM(nope) FROM t GROUP BY a")


def test_a_malformed_cast_is_a_data_error(backend):
    # ANSI mode, as DuckDB: a string that is not a number does not silently become NULL.
    with pytest.raises(DataError, match=r"'[uvw]'.*DOUBLE.*view t from frame"):
        backend.query("SELECT SUM(CAST(a AS DOUBLE)) FROM t")


def test_missing_sources_are_data_errors_naming_them(backend, tmp_path):
    with pytest.raises(DataError, match=r"table:nodb\.nope: .*`nodb`\.`nope`"):
        backend.register("gone", TableSource("table:nodb.nope", table="nodb.nope"))
    missing = str(tmp_path / "absent.parquet")
    with pytest.raises(DataError, match=r"absent\.parquet: Spark cannot find .*absent\.parquet"):
        backend.register("gone", TableSource(missing, paths=(missing,)))


def test_a_catalog_table_registers_as_a_view(backend, frame, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), files / "p.parquet")
    session = backend.session
    session.sql(f"CREATE DATABASE IF NOT EXISTS tracing_test LOCATION '{tmp_path / 'db'}'")
    session.sql(f"CREATE TABLE tracing_test.rows USING parquet LOCATION '{files}'")
    try:
        backend.register("cat", TableSource("table:tracing_test.rows", table="tracing_test.rows"))
        got = backend.query("SELECT COUNT(*) AS n, SUM(x) AS sx FROM cat").to_pylist()[0]
    finally:
        session.sql("DROP DATABASE tracing_test CASCADE")
    assert got["n"] == N
    np.testing.assert_allclose(got["sx"], frame["x"].sum(), **TOL)


def test_schema_gives_the_arrow_types_query_returns(backend, tmp_path):
    n = 4
    table = pa.table(
        {
            "i32": pa.array(range(n), pa.int32()),
            "i64": pa.array(range(n), pa.int64()),
            "f32": pa.array([0.5] * n, pa.float32()),
            "f64": pa.array([0.25] * n, pa.float64()),
            "s": pa.array(list("abcd")),
            "cat": pa.array(list("abab")).dictionary_encode(),
            "ok": pa.array([True, False] * 2),
            "day": pa.array([dt.date(2026, 12, 1)] * n),
            "naive": pa.array([dt.datetime(2026, 12, 1, h) for h in range(n)], pa.timestamp("us")),
            "utc": pa.array(
                [dt.datetime(2026, 12, 1, h, tzinfo=dt.UTC) for h in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    path = tmp_path / "types.parquet"
    pq.write_table(table, path)
    backend.register("typed", TableSource(str(path), paths=(str(path),)))
    schema = backend.schema("typed")
    want = {
        "i32": pa.int32(),
        "i64": pa.int64(),
        "f32": pa.float32(),
        "f64": pa.float64(),
        "s": pa.string(),
        "cat": pa.string(),  # Spark has no dictionary type: categories arrive as strings
        "ok": pa.bool_(),
        "day": pa.date32(),
        "naive": pa.timestamp("us"),  # Parquet's local timestamp is Spark's TIMESTAMP_NTZ
        "utc": pa.timestamp("us", tz="UTC"),
    }
    assert dict(zip(schema.names, schema.types, strict=True)) == want
    rows = backend.query("SELECT * FROM typed")
    assert rows.schema.equals(schema)
    assert rows.column("naive").to_pylist() == table.column("naive").to_pylist()
    assert rows.column("utc").to_pylist() == table.column("utc").to_pylist()


def test_backends_share_the_session_but_not_their_views_and_close_is_idempotent(backend):
    other = SparkBackend()
    other.register("t", TableSource("three rows", arrow=pa.table({"x": [1.0, 2.0, 3.0]})))
    assert other.query("SELECT COUNT(*) AS n FROM t").to_pylist() == [{"n": 3}]
    assert other.session.sparkContext is backend.session.sparkContext
    other.close()
    other.close()
    with pytest.raises(RuntimeError, match="closed"):
        other.query("SELECT 1")
    # The module's backend still runs on the shared session, its own `t` untouched.
    assert backend.query("SELECT COUNT(*) AS n FROM t").to_pylist() == [{"n": N}]


def test_register_refuses_a_view_name_that_is_not_an_identifier(backend):
    for bad in ("a b", "t; DROP", "1t", ""):
        with pytest.raises(ValueError, match="plain identifier"):
            backend.register(bad, TableSource("x", arrow=pa.table({"x": [1]})))


def test_grouping_id_bits_follow_the_argument_order(backend):
    # Leftmost argument = most significant bit, 1 when the set leaves the column out: the
    # builder decodes which columns a row groups by from this number.
    sql = "SELECT a, b, GROUPING_ID(a, b) AS g FROM t GROUP BY GROUPING SETS ((a), (b), ())"
    rows = backend.query(sql).to_pylist()
    kinds = {(r["a"] is None, r["b"] is None): r["g"] for r in rows}
    assert kinds == {(False, True): 1, (True, False): 2, (True, True): 3}


def test_session_settings_come_from_tracing_spark_conf(backend):
    from tracing.engines import open_backend
    from tracing.vocab import EngineName

    env = {"TRACING_SPARK_CONF": "spark.sql.shuffle.partitions=3,spark.sql.adaptive.enabled=false"}
    opened = open_backend(EngineName.SPARK, environ=env)
    try:
        conf = opened.session.conf
        assert conf.get("spark.sql.shuffle.partitions") == "3"
        assert conf.get("spark.sql.adaptive.enabled") == "false"
        # what the answers depend on stays
        assert conf.get("spark.sql.ansi.enabled") == "true"
        assert conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        opened.close()
    # another backend's session keeps its own settings
    assert backend.session.conf.get("spark.sql.shuffle.partitions") != "3"


def test_settings_the_answers_depend_on_cannot_be_changed():
    for key in ("spark.sql.ansi.enabled", "spark.sql.session.timeZone"):
        with pytest.raises(ValueError, match="set by the engine"):
            SparkBackend(conf=[(key, "false")])
