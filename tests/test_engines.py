"""The engine choice: every branch of the rule, with the memory available given explicitly."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from tracing import engines
from tracing.engines import MEMORY_FRACTION, EngineName, choose_engine
from tracing.errors import DataError
from tracing.storage import SourceFormat, SourceSize

GB = 2**30


def parquet(memory: int, label: str = "prod/") -> SourceSize:
    return SourceSize(label, SourceFormat.PARQUET, 4, 1_000, memory // 8, memory)


def csv(label: str = "prod.csv") -> SourceSize:
    return SourceSize(label, SourceFormat.CSV, 1, None, 1_000, 1_000)


def catalog(label: str = "table:db.preds") -> SourceSize:
    return SourceSize(label, SourceFormat.CATALOG, 0, None, None, None)


def arrow(memory: int = 1_000) -> SourceSize:
    return SourceSize("upload", SourceFormat.ARROW, 0, 10, None, memory)


@pytest.fixture
def spark(monkeypatch: pytest.MonkeyPatch):
    """Pretend PySpark and Java are there or not, whatever this machine has."""
    real_find_spec = importlib.util.find_spec

    def present(*, pyspark: bool = True, java: bool = True) -> None:
        def find_spec(name, *args):
            if name == "pyspark":
                return object() if pyspark else None
            return real_find_spec(name, *args)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        monkeypatch.setattr(
            shutil, "which", lambda name, *a, **k: "/usr/bin/java" if java else None
        )

    return present


@pytest.mark.parametrize(
    ("need", "available", "engine"),
    [
        (2 * GB, 18 * GB, EngineName.MEMORY),
        (int(MEMORY_FRACTION * 18 * GB), 18 * GB, EngineName.MEMORY),  # the boundary: fits
        (int(MEMORY_FRACTION * 18 * GB) + 1, 18 * GB, EngineName.DUCKDB),
        (31 * GB, 18 * GB, EngineName.DUCKDB),
        (1, 0, EngineName.DUCKDB),
    ],
)
def test_auto_compares_the_in_memory_size_with_a_share_of_the_memory(need, available, engine):
    choice = choose_engine(EngineName.AUTO, [parquet(need)], available_memory=available)
    assert choice.engine == engine
    assert choice.reason.startswith("auto: about ") and choice.reason.endswith(f"-> {engine}")


def test_auto_adds_both_sides():
    half = int(MEMORY_FRACTION * 10 * GB) // 2 + 1
    sides = [parquet(half, "baseline/"), parquet(half, "production/")]
    assert choose_engine("auto", sides[:1], available_memory=10 * GB).engine == "memory"
    choice = choose_engine("auto", sides, available_memory=10 * GB)
    assert choice.engine == "duckdb"
    assert choice.reason == (
        "auto: about 2.5 GB in memory, more than a quarter of the 10.0 GB available -> duckdb"
    )


def test_auto_reason_reads_as_a_sentence():
    choice = choose_engine("auto", [parquet(int(2.1 * GB))], available_memory=18 * GB)
    assert choice.reason == (
        "auto: about 2.1 GB in memory fits in a quarter of the 18.0 GB available -> memory"
    )


def test_auto_without_a_memory_figure_assumes_one(monkeypatch):
    monkeypatch.setattr(engines, "measured_memory", lambda: None)
    small = choose_engine("auto", [parquet(engines.ASSUMED_MEMORY // 8)])
    big = choose_engine("auto", [parquet(engines.ASSUMED_MEMORY // 2)])
    assert (small.engine, big.engine) == ("memory", "duckdb")
    assert "assumed" in small.reason and "4.0 GB" in big.reason


def test_auto_measures_the_memory_by_default(monkeypatch):
    monkeypatch.setattr(engines, "measured_memory", lambda: 100 * GB)
    assert choose_engine("auto", [parquet(20 * GB)]).engine == "memory"
    monkeypatch.setattr(engines, "measured_memory", lambda: 60 * GB)
    assert choose_engine("auto", [parquet(20 * GB)]).engine == "duckdb"


def test_rows_in_memory_stay_there():
    choice = choose_engine("auto", [arrow(50 * GB)], available_memory=GB)
    assert choice.engine == "memory" and "in memory already" in choice.reason


@pytest.mark.parametrize("requested", ["memory", "duckdb"])
def test_an_engine_asked_for_is_used_whatever_the_size(requested):
    for need in (1, 100 * GB):
        choice = choose_engine(requested, [parquet(need)], available_memory=GB)
        assert choice == engines.EngineChoice(EngineName(requested), f"{requested}: as asked")


@pytest.mark.parametrize("requested", ["auto", "memory", "duckdb", "spark"])
def test_csv_is_always_read_in_memory(requested, spark):
    spark(pyspark=False, java=False)  # spark asked for with CSV: not even checked
    choice = choose_engine(requested, [parquet(100 * GB), csv()], available_memory=GB)
    assert choice.engine == "memory"
    assert "prod.csv is CSV" in choice.reason and choice.reason.endswith("-> memory")
    if requested in ("duckdb", "spark"):
        assert f"convert it to Parquet for {requested}" in choice.reason


def test_catalog_tables_choose_spark(spark):
    spark()
    choice = choose_engine("auto", [catalog(), parquet(GB)], available_memory=GB)
    assert choice.engine == "spark" and "table:db.preds is a catalog table" in choice.reason
    assert choose_engine("spark", [catalog()]).engine == "spark"


@pytest.mark.parametrize("requested", ["memory", "duckdb"])
def test_catalog_tables_refuse_other_engines(requested):
    with pytest.raises(DataError, match="only Spark reads; use --engine spark"):
        choose_engine(requested, [catalog()], available_memory=GB)


def test_a_catalog_table_beside_a_csv_file_is_refused():
    with pytest.raises(DataError, match="convert the CSV file to Parquet"):
        choose_engine("auto", [catalog(), csv()], available_memory=GB)


def test_spark_asked_for(spark):
    spark()
    choice = choose_engine("spark", [parquet(GB)], available_memory=100 * GB)
    assert choice.engine == "spark"


@pytest.mark.parametrize(
    ("pyspark", "java", "names"),
    [
        (False, True, ["pip install pyspark"]),
        (True, False, ["Java 17", "default-jre-headless", "SPARK_REMOTE"]),
        (False, False, ["pip install pyspark", "Java 17"]),
    ],
)
def test_spark_without_its_parts_says_what_to_install(spark, pyspark, java, names):
    spark(pyspark=pyspark, java=java)
    for sources in ([parquet(GB)], [catalog()]):
        requested = "spark" if sources[0].format == "parquet" else "auto"
        with pytest.raises(DataError, match="the spark engine needs") as err:
            choose_engine(requested, sources, available_memory=GB, environ={})
        assert all(name in str(err.value) for name in names)


def test_spark_connect_needs_no_java(spark, tmp_path: Path):
    spark(java=False)
    remote = {"SPARK_REMOTE": "sc://spark.example:15002"}
    assert choose_engine("spark", [parquet(GB)], environ=remote).engine == "spark"
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    (java_home / "bin" / "java").write_text("")
    found = {"JAVA_HOME": str(java_home)}
    assert choose_engine("spark", [parquet(GB)], environ=found).engine == "spark"
    with pytest.raises(DataError, match="Java"):
        choose_engine("spark", [parquet(GB)], environ={"JAVA_HOME": str(tmp_path)})


def test_spark_missing_on_this_machine_matches_the_checks():
    # The unpatched check agrees with the facts it is made of.
    missing = engines.spark_missing(environ={})
    has_pyspark = importlib.util.find_spec("pyspark") is not None
    has_java = shutil.which("java") is not None
    assert (missing is None) == (has_pyspark and has_java)


def test_unknown_engine_names_are_refused():
    with pytest.raises(ValueError, match="fast"):
        choose_engine("fast", [parquet(GB)])


def test_table_sources_are_sized_only_when_auto_needs_it(tmp_path: Path, spark):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracing.sqlbackend import TableSource

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"x": list(range(1000))}), path)
    source = TableSource(label="p.parquet", paths=(str(path),))
    assert choose_engine("auto", [source], available_memory=GB).engine == "memory"
    assert choose_engine("auto", [source], available_memory=1000).engine == "duckdb"
    gone = TableSource(label="gone.parquet", paths=(str(tmp_path / "gone.parquet"),))
    assert choose_engine("duckdb", [gone]).engine == "duckdb"  # no footer read
    with pytest.raises(DataError, match="gone.parquet"):
        choose_engine("auto", [gone], available_memory=GB)
    rows = TableSource(label="upload", arrow=pa.table({"x": [1]}))
    assert choose_engine("auto", [rows], available_memory=1).engine == "memory"
    with pytest.raises(DataError, match="catalog table"):
        choose_engine("memory", [TableSource(label="table:db.t", table="db.t")])
    spark()
    table = TableSource(label="table:db.t", table="db.t")
    assert choose_engine("auto", [table, source]).engine == "spark"


def test_auto_with_a_size_it_does_not_know_goes_out_of_core():
    unknown = SourceSize("logs/", SourceFormat.PARQUET, 3, None, None, None)
    choice = choose_engine("auto", [parquet(1), unknown], available_memory=100 * GB)
    assert choice == engines.EngineChoice(
        EngineName.DUCKDB, "auto: the size of logs/ is unknown -> duckdb"
    )
