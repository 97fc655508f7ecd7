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
