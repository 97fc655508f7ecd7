"""The standalone HTML report: complete, self-contained, escaped, and faithful to the report."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from conftest import make_binary

from tracing import prepare_analysis, read_table
from tracing.metrics import METRICS
from tracing.render.html import to_html
from tracing.render.markdown import to_markdown
from tracing.report import build_report
from tracing.slices import find_slices


class _Collector(HTMLParser):
    """Parses the page; records tags, attributes and table cells (the oracle for structure)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def parse(page: str) -> _Collector:
    c = _Collector()
    c.feed(page)
    return c


@pytest.fixture(scope="module")
def report() -> dict:
    base, prod = make_binary(seed=1), make_binary(seed=2, shift=0.2)
    analysis = prepare_analysis(base, prod, names=("train.csv", "week.csv"))
    return build_report(analysis, sections=["overall"])


def test_page_is_complete_and_self_contained(report: dict) -> None:
    page = to_html(report)
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    # No external resource of any kind (the only URL allowed is the optional link back).
    assert not re.search(r"https?://", page)


def test_overall_table_matches_the_report(report: dict) -> None:
    cells = parse(to_html(report)).cells
    for row in report["overall"]:
        assert row["name"] in cells
    accuracy = next(r for r in report["overall"] if r["metric"] == "accuracy")
    assert f"{accuracy['baseline']:.1%}" in cells  # percent metrics read as percentages
    assert f"{accuracy['delta'] * 100:+.1f} pts" in cells
    assert "train.csv" in to_html(report) and "week.csv" in to_html(report)


def test_worse_and_better_are_coloured_by_status(report: dict) -> None:
    page = to_html(report)
    worse = [r for r in report["overall"] if r["status"] == "worse"]
    assert worse, "the shifted production data must be worse on some metric"
    assert page.count('class="worse"') == len(worse)
    assert page.count('class="num worse"') == len(worse)


def test_everything_from_the_data_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    report = {
        "model_type": "binary",
        "datasets": {"baseline": evil, "production": "p.csv"},
        "rows": {"baseline": 1, "production": 2},
        "notes": [evil],
        "slices": [{"slice": evil, "impact": 0.5, evil: 1}],
    }
    page = to_html(report, title=evil, link='https://x/?a=1&b="2"')
    parsed = parse(page)
    assert "script" not in parsed.tags
    assert "<script>" not in page and page.count("&lt;script&gt;") >= 4
    assert ("href", 'https://x/?a=1&b="2"') in parsed.attrs  # round-trips through escaping


def test_unknown_sections_render_as_tables_and_missing_values_as_na() -> None:
    report = {
        "new_checks": [
            {"feature": "amount", "psi": 0.31234, "drifted": True, "missing": None},
            {"feature": "state", "psi": float("nan"), "drifted": False, "extra": [1, 2]},
        ],
        "future_section": {"answer": 42, "nested": {"a": 1}},
        "empty": [],
    }
    page = to_html(report)
    cells = parse(page).cells
    assert cells[:5] == ["feature", "psi", "drifted", "missing", "extra"]
    assert "0.3123" in cells and "yes" in cells and "no" in cells
    assert cells.count("n/a") == 4  # None, NaN, and the two keys a record lacks
    assert "New checks" in page and "Future section" in page
    assert "42" in cells and "Nothing to report." in page


def test_long_sections_are_truncated_with_a_note() -> None:
    report = {"later": [{"i": i} for i in range(250)]}
    page = to_html(report)
    assert "The first 200 of 250 rows." in page
    assert len(parse(page).cells) == 1 + 200


def test_known_sections_read_like_the_app(report: dict) -> None:
    sections = {
        "quality": [{"check": "missing_rate", "feature": "age", "dataset": "production",
                     "severity": "warn", "detail": "age is missing in 4.0% of rows."}],
        "drift": [{"feature": "merchant", "role": "feature", "severity": "alert", "psi": 1.33,
                   "js": 0.28, "wasserstein": None, "missing_baseline": 0.0,
                   "missing_production": 0.04}],
        "root_cause": [{"rank": 1, "feature": "merchant", "value": "scam.com",
                        "kind": "new category", "score": 1.0, "explanation": "new <merchant>",
                        "slice_id": "merchant=scam.com"}],
        "slices": [
            {"slice": {"state": "CA", "amount": ">= 120"}, "slice_id": "x", "size": 3000,
             "share": 0.15, "metric": 0.0, "delta": -0.124, "impact": 0.105,
             "baseline_metric": None, "performance_effect": -0.69, "mix_effect": 0.0,
             "p_value": 1e-184, "explained_by": None},
            {"slice": {"state": "CA"}, "slice_id": "state=CA", "size": 5000, "share": 0.25,
             "metric": 0.02, "delta": -0.1, "impact": 0.09, "explained_by": "x"},
        ],
    }  # fmt: skip
    page = to_html({**report, **sections})
    cells = parse(page).cells
    # The white paper's order, whatever the dict order.
    order = [page.index(f'id="{k}"') for k in ("overall", "slices", "root_cause", "drift")]
    assert order == sorted(order)
    assert "state = CA · amount >= 120" in cells  # conditions for people, not a dict
    assert "state = CA" not in cells  # explained by the narrower slice above: left out
    assert "1 broader or narrower versions of a listed slice" in page
    assert METRICS[report["metric"]["name"]].percent  # so amounts read as points
    assert "-12.4 pts" in cells and "10.5 pts" in cells
    assert "merchant = scam.com" in cells and "new &lt;merchant&gt;" in page
    assert '<span class="worse">alert</span>' in page and '<span class="warn">warn</span>' in page
    assert "4.0%" in cells and "missing rate" in cells


def _row_cells(page: str, name: str) -> list[tuple[str, str]]:
    """(class, text) of each cell of the table row whose first cell is ``name``."""
    row = re.search(rf"<tr><td>{re.escape(name)}</td>(.*?)</tr>", page)
    assert row, name
    return re.findall(r'<td class="([^"]*)">([^<]*)</td>', row.group(1))


def test_neutral_metrics_read_changed_never_worse_or_better(report: dict) -> None:
    page = to_html(report)
    rates = [r for r in report["overall"] if r["direction"] == "neutral"]
    assert {r["metric"] for r in rates} == {"positive_rate", "actual_positive_rate"}
    for r in rates:
        assert r["status"] == "changed"  # the shift moved both rates
        cells = _row_cells(page, r["name"])
        classes = " ".join(c for c, _ in cells)
        assert "changed" in classes and "worse" not in classes and "better" not in classes
        assert cells[-1][1].startswith("changed,")
    for r in report["overall"]:
        if r["status"] in ("worse", "better"):
            assert r["status"] in " ".join(c for c, _ in _row_cells(page, r["name"]))
    assert ".changed{color:#1565c0" in page


def test_estimated_column_appears_only_with_estimates(report: dict) -> None:
    without = [{**r, "estimated": None} for r in report["overall"]]
    assert "<th>Estimated</th>" not in to_html({**report, "overall": without})
    rows = [{**r, "estimated": 0.5 if r["metric"] == "accuracy" else None}
            for r in report["overall"]]  # fmt: skip
    page = to_html({**report, "overall": rows})
    assert "<th>Estimated</th>" in page
    accuracy = _row_cells(page, "Accuracy")
    assert ("num est", "50.0%") in accuracy
    assert ("num est", "n/a") in _row_cells(page, "Recall")


def test_timeline_lists_the_alerting_periods() -> None:
    period = {"start": "2026-11-02T00:00:00+00:00", "end": "2026-11-03T00:00:00+00:00",
              "rows": 2500, "rows_with_actuals": 0, "metric": None, "estimated": 0.8,
              "expected_low": 0.86, "expected_high": 0.9, "alert": True, "sparse": False,
              "basis": "estimated"}  # fmt: skip
    quiet = {**period, "start": "2026-11-01T00:00:00+00:00", "alert": False, "metric": 0.88,
             "basis": "actual"}  # fmt: skip
    section = {"metric": "accuracy", "metric_name": "Accuracy", "direction": "higher",
               "freq": "day", "periods": [quiet, period],
               "notes": ["band: <b>baseline</b>"]}  # fmt: skip
    page = to_html({"timeline": section})
    cells = parse(page).cells
    assert "When did it change?" in page
    assert "2 periods" in page and "1 alerting" in page
    assert "2026-11-02T00:00:00+00:00" in cells and "2026-11-01T00:00:00+00:00" not in cells
    assert "80.0%" in cells and "estimated" in cells and "86.0% to 90.0%" in cells
    assert "&lt;b&gt;baseline&lt;/b&gt;" in page  # notes are escaped
    neutral = to_html({"timeline": {**section, "direction": "neutral"}})
    assert "1 changed" in neutral and 'class="num worse"' not in neutral


def test_a_broad_slice_left_out_does_not_hide_the_narrower_one_that_explains_it() -> None:
    # The engine ranks a broad slice first and marks it explained by a narrower one below it:
    # the narrower one must stay listed (it is the finding).
    slices = [
        {"slice": {"contract": "monthly"}, "slice_id": "c", "size": 1800, "share": 0.7,
         "metric": 0.78, "delta": -0.04, "impact": 0.031, "explained_by": "c&s"},
        {"slice": {"contract": "monthly", "calls": "1"}, "slice_id": "c&s", "size": 646,
         "share": 0.26, "metric": 0.71, "delta": -0.11, "impact": 0.028, "explained_by": None},
        {"slice": {"contract": "monthly", "calls": "1", "tenure": "2"}, "slice_id": "c&s&t",
         "size": 100, "share": 0.04, "metric": 0.6, "delta": -0.2, "impact": 0.01,
         "explained_by": None},
    ]  # fmt: skip
    cells = parse(to_html({"slices": slices})).cells
    assert "contract = monthly · calls = 1" in cells  # kept
    assert "contract = monthly" not in cells  # explained by it
    assert "contract = monthly · calls = 1 · tenure = 2" not in cells  # narrows a listed one


def test_slices_lead_with_the_top_slices_part_of_the_drop() -> None:
    from tests.conftest import DEMO

    a = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    built = build_report(a, sections=["overall", "slices"])
    res = find_slices(a)
    top = res.distinct().iloc[0]
    part = abs(top["mix_effect"] + top["performance_effect"]) * 100
    total = abs(res.overall_metric - res.baseline_overall_metric) * 100
    sentence = f"accounts for {part:.1f} of the {total:.1f}-pt drop in Recall"
    assert sentence == "accounts for 69.1 of the 69.4-pt drop in Recall"
    page, md = to_html(built), to_markdown(built)
    assert sentence in page and sentence in md
    cells = parse(page).cells
    assert "Part of the change" in cells and f"-{part:.1f} pts" in cells
    assert "pts of production Recall lost to this slice vs the average" in page
    assert "far beyond chance" in cells  # the p-value read in words beside it


def test_drift_statistics_read_in_three_digits_and_words() -> None:
    drift = [{"feature": "merchant", "role": "feature", "severity": "alert", "psi": 1.330309,
              "js": 0.282356, "wasserstein": None, "missing_baseline": 0.0,
              "missing_production": 0.04}]  # fmt: skip
    page = to_html({"model_type": "binary", "drift": drift})
    cells = parse(page).cells
    assert "1.33" in cells and "0.282" in cells and "1.330309" not in page
    assert "—" in cells and "None" not in cells  # not applicable to a category
    assert "large shift" in cells
