"""The report: sections built once and shared, the same distinct slices in every format."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from tests.conftest import DEMO
from tracing import prepare_analysis, read_table
from tracing.cli import main
from tracing.errors import DataError
from tracing.options import ReportOptions, SliceSearch
from tracing.render.html import to_html
from tracing.render.markdown import to_markdown
from tracing.report import SCHEMA_VERSION, SECTIONS, ReportRun, build_report
from tracing.slices import find_slices
from tracing.textfmt import condition_text


@pytest.fixture(scope="module")
def eta():
    return prepare_analysis(
        read_table(DEMO / "eta_training.parquet"), read_table(DEMO / "eta_production.parquet")
    )


@pytest.fixture(scope="module")
def fraud():
    return prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "td"
        if self._in:
            self.cells.append("")

    def handle_endtag(self, tag):
        self._in = False if tag == "td" else self._in

    def handle_data(self, data):
        if self._in:
            self.cells[-1] += data


def _text(conditions) -> str:
    return " · ".join(condition_text(f, v) for f, v in conditions)


def test_cli_json_markdown_and_html_list_the_engines_distinct_slices(eta, capsys) -> None:
    search = SliceSearch(max_depth=2, top=30)
    expected = find_slices(eta, **search.search_kwargs()).distinct()
    assert 1 < len(expected) < 30  # folding does something here
    args = [
        "report",
        "--baseline", str(DEMO / "eta_training.parquet"),
        "--production", str(DEMO / "eta_production.parquet"),
        "--sections", "slices", "--max-depth", "2", "--top", "30",
    ]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["slice_id"] for s in report["slices"]] == list(expected["slice_id"])
    assert main([*args, "--format", "markdown"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(expected)
    for line, conds in zip(rows, expected["conditions"], strict=True):
        assert " & ".join(f"{f} = {v}" for f, v in conds) in line
    parser = _Cells()
    parser.feed(to_html(report))
    shown = [c for c in parser.cells if c in {_text(c2) for c2 in expected["conditions"]}]
    assert shown == [_text(c) for c in expected["conditions"]]


def test_every_ranked_slice_is_listed_when_distinct_is_off(fraud) -> None:
    options = ReportOptions(slices=SliceSearch(max_depth=2, top=30, distinct=False))
    report = build_report(fraud, sections=["slices"], options=options)
    assert len(report["slices"]) == 30


def test_sections_share_one_slice_search(fraud) -> None:
    run = ReportRun(fraud, ReportOptions())
    assert run.slices is run.slices  # computed once per report
    report = build_report(fraud, sections=["slices", "root_cause"])
    listed = {s["slice_id"] for s in report["slices"]}
    explained = {r["slice_id"] for r in report["root_cause"] if r["slice_id"]}
    assert explained and explained <= listed  # root cause explains listed slices only


def test_every_named_section_is_built(fraud) -> None:
    report = build_report(fraud, sections=[s for s in SECTIONS if s != "importance"])
    for name in SECTIONS:
        if name != "importance":
            assert name in report, name
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["metric"]["id"] == report["metric"]["name"] == fraud.metric.id
    assert all(r["id"] == r["metric"] for r in report["overall"])
    assert "## Over time" in to_markdown(report)


def test_unknown_section_and_bad_options_fail_before_any_work(fraud) -> None:
    with pytest.raises(DataError, match="unknown report section nope; choose from: overall"):
        build_report(fraud, sections=["nope"])
    with pytest.raises(DataError, match=r"top \(slices to list; --top"):
        build_report(fraud, sections=["overall"], options={"top": 0})
    with pytest.raises(DataError, match="unknown report option 'topp'"):
        build_report(fraud, sections=["overall"], options={"topp": 3})
