"""The settings module is the one home of environment variables, and the README shows it."""

import re
from pathlib import Path

import pytest

from tracing import settings
from tracing.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_generated_from_the_settings_module():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- settings:[^>]*-->\n(.*?)\n<!-- /settings -->", text, re.S)
    assert found, "README.md lost its settings markers"
    assert found.group(1) == settings.markdown_table()


def test_no_module_reads_a_tracing_variable_itself():
    # Every TRACING_* variable is read through tracing.settings, so its default and parser
    # live in one place.
    offenders = []
    for path in [*ROOT.glob("tracing/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py")]:
        if path.name == "settings.py":
            continue
        code = path.read_text(encoding="utf-8")
        if re.search(r"(os\.environ|getenv)\b[^\n]*TRACING_|environ\.get\(ENV_", code):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_variable_named_in_code_is_a_setting():
    named = set()
    for path in [*ROOT.glob("tracing/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py")]:
        named |= set(re.findall(r"\bTRACING_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert named <= set(settings.SETTINGS), named - set(settings.SETTINGS)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("TRACING_ALLOW_URLS", "1", True),
        ("TRACING_ALLOW_URLS", "0", False),
        ("TRACING_ALLOW_URLS", "", False),
        ("TRACING_MAX_URL_MB", "2.5", 2.5),
        ("TRACING_STORE_DIR", "", "dataset_store"),
    ],
)
def test_values_are_parsed(name, text, expected):
    assert settings.get(name, environ={name: text}) == expected


@pytest.mark.parametrize("text", ["inf", "-1", "0", "nan", "lots"])
def test_bad_megabytes_are_refused_with_the_variable_named(text):
    with pytest.raises(DataError, match="TRACING_MAX_URL_MB"):
        settings.get("TRACING_MAX_URL_MB", environ={"TRACING_MAX_URL_MB": text})


def test_bad_flag_is_refused():
    with pytest.raises(DataError, match="TRACING_ALLOW_URLS='maybe'"):
        settings.get("TRACING_ALLOW_URLS", environ={"TRACING_ALLOW_URLS": "maybe"})


# --- engines (issue 16) ------------------------------------------------------------------------


def test_engine_settings_defaults():
    import tempfile

    from tracing.vocab import EngineName

    assert settings.get("TRACING_ENGINE", environ={}) is EngineName.AUTO
    assert settings.get("TRACING_DUCKDB_MEMORY_LIMIT", environ={}) == "3GB"
    spill = settings.get("TRACING_DUCKDB_TEMP_DIR", environ={})
    assert spill == Path(tempfile.gettempdir()).resolve() / "tracing-duckdb-spill"
    assert settings.get("TRACING_DATA_URIS", environ={}) == ()
    assert settings.get("TRACING_SPARK_CONF", environ={}) == ()
    assert settings.problems(environ={}) == []


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("TRACING_ENGINE", " DuckDB ", "duckdb"),
        ("TRACING_ENGINE", "spark", "spark"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "4 gb", "4GB"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "1.5GiB", "1.5GiB"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "500mb", "500MB"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "70%", "70%"),
        ("TRACING_DATA_URIS", "s3://logs-bucket/logs", ("s3://logs-bucket/logs/",)),
        (
            "TRACING_DATA_URIS",
            " s3://logs-bucket/logs/ ,,GS://ml.logs/, s3://logs-bucket/logs",
            ("s3://logs-bucket/logs/", "gs://ml.logs/"),
        ),
        ("TRACING_DATA_URIS", "s3://logs-bucket", ("s3://logs-bucket/",)),
        ("TRACING_SPARK_CONF", " ", ()),
        (
            "TRACING_SPARK_CONF",
            "spark.sql.shuffle.partitions = 64,, spark.sql.shuffle.partitions=8,"
            "spark.sql.adaptive.enabled=false",
            (("spark.sql.shuffle.partitions", "8"), ("spark.sql.adaptive.enabled", "false")),
        ),
    ],
)
def test_engine_settings_are_parsed(name, text, expected):
    assert settings.get(name, environ={name: text}) == expected


@pytest.mark.parametrize("text", ["3GB", "4 gb", "1.5GiB", "500mb", "70%", "100%", "2TB"])
def test_every_accepted_memory_limit_is_accepted_by_duckdb(text):
    duckdb = pytest.importorskip("duckdb")
    value = settings.get(
        "TRACING_DUCKDB_MEMORY_LIMIT", environ={"TRACING_DUCKDB_MEMORY_LIMIT": text}
    )
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{value}'")  # raises on what DuckDB refuses


def test_spill_folder_is_absolute_and_kept_apart_from_the_store(tmp_path):
    store = tmp_path / "store"
    name = "TRACING_DUCKDB_TEMP_DIR"
    env = {"TRACING_STORE_DIR": str(store), name: str(tmp_path / "spill")}
    assert settings.get(name, environ=env) == (tmp_path / "spill").resolve()
    for inside in (store, store / "spill", tmp_path):  # in the store, the store, above it
        found = settings.problems(environ={"TRACING_STORE_DIR": str(store), name: str(inside)})
        assert len(found) == 1 and found[0].startswith(f"{name}=")
        assert "apart from the dataset store" in found[0] and "TRACING_STORE_DIR" in found[0]


@pytest.mark.parametrize(
    ("name", "text", "accepted"),
    [
        ("TRACING_ENGINE", "fast", "use one of auto, memory, duckdb, spark"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "3", "use an amount with a unit"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "lots", "use an amount with a unit"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "0GB", "above 0"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "150%", "at most 100%"),
        ("TRACING_DUCKDB_MEMORY_LIMIT", "-1GB", "use an amount with a unit"),
        ("TRACING_DATA_URIS", "http://example.org/logs/", "use s3://bucket/prefix/"),
        ("TRACING_DATA_URIS", "/data/logs", "use s3://bucket/prefix/"),
        ("TRACING_DATA_URIS", "s3://", "bucket name"),
        ("TRACING_DATA_URIS", "s3:///logs/", "bucket name"),
        ("TRACING_DATA_URIS", "s3://Logs/", "bucket name"),
        ("TRACING_DATA_URIS", "s3://logs-bucket/a/../b/", "no '.', '..'"),
        ("TRACING_DATA_URIS", "s3://logs-bucket/a//b/", "no '.', '..' or empty folder"),
        ("TRACING_DATA_URIS", "s3://key:secret@logs-bucket/", "leave out credentials"),
        ("TRACING_DATA_URIS", "s3://logs-bucket:9000/", "leave out credentials and ports"),
        ("TRACING_DATA_URIS", "s3://logs-bucket/?endpoint_override=x", "leave out the query"),
        ("TRACING_DATA_URIS", "s3://logs-bucket/day=*/", "a prefix is a folder, not a pattern"),
        ("TRACING_DATA_URIS", "s3://ok-bucket/, ftp://x/", "'ftp://x/': use s3://"),
        ("TRACING_SPARK_CONF", "shuffle.partitions=4", "use spark.<key>=<value>"),
        ("TRACING_SPARK_CONF", "spark.sql.adaptive.enabled", "use spark.<key>=<value>"),
        ("TRACING_SPARK_CONF", "spark.sql.adaptive.enabled=", "use spark.<key>=<value>"),
        ("TRACING_SPARK_CONF", "spark.sql.ansi.enabled=false", "set by the engine"),
        ("TRACING_SPARK_CONF", "spark.sql.session.timeZone=CET", "set by the engine"),
    ],
)
def test_bad_engine_settings_are_listed_with_what_is_accepted(name, text, accepted):
    found = settings.problems(environ={name: text})
    assert len(found) == 1
    assert found[0].startswith(f"{name}={text!r} is not valid") and accepted in found[0]


def test_uri_splitting_is_shared_with_storage():
    assert settings.split_object_uri("gs://ml-logs/a/b.parquet") == (
        "gs",
        "ml-logs",
        "a/b.parquet",
    )
    assert settings.split_object_uri("s3://ml-logs") == ("s3", "ml-logs", "")
