"""Data cannot make markup (links, images, HTML) or spreadsheet formulas."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracing import prepare_analysis
from tracing.render.markdown import to_markdown
from tracing.report import build_report
from tracing.textfmt import csv_safe, escape_markdown, table_cell

ATTACKS = [
    "![px](http://evil.example/pixel.png)",
    "[click me](https://evil.example)",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<https://evil.example>",
    "http://evil.example/p.png",
    "www.evil.example",
    "me@evil.example",
    ":red[big] and $x^2$",
    "[ref]: http://evil.example",
    "**bold** _em_ `code` ~~gone~~",
    "# heading",
    "> quote",
]


def _shown(markdown: str) -> str:
    """What a Markdown reader shows: escapes and character references decoded, breaks unseen."""
    return re.sub(
        r"\\(.)|&#(\d+);",
        lambda m: m.group(1) or chr(int(m.group(2))),
        markdown.replace("\u200b", ""),  # the zero-width spaces the escaping inserts
        flags=re.S,
    )


def _unescaped(text: str, chars: str) -> list[str]:
    """Characters from ``chars`` in ``text`` that no backslash escapes."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in chars:
            found.append(text[i])
        i += 1
    return found


def _inert(markdown: str) -> None:
    # No link/image ("](" / "][" / "]:"), tag or autolink ("<"), code/emphasis (`*~), math ($).
    assert not re.search(r"(?<!\\)\]\s*[(\[:]", markdown), markdown
    assert _unescaped(markdown, "<`*~$") == [], markdown
    assert "://" not in markdown and not re.search(r"(?i)www\.", markdown), markdown
    # GFM links e-mail addresses in the decoded text, so only a zero-width break before "@"
    # (invisible) keeps one inert; a backslash would not (seen in Chromium).
    assert not re.search(r"(?<!\u200b)@", markdown), markdown


@pytest.mark.parametrize("attack", ATTACKS)
def test_escape_markdown_makes_attacks_inert(attack: str) -> None:
    escaped = escape_markdown(attack)
    _inert(escaped)
    # Unescaping gives the original text back: what the reader sees is the value itself.
    assert _shown(escaped) == attack


@given(st.text())
def test_escape_markdown_round_trips_and_is_inert(text: str) -> None:
    escaped = escape_markdown(text)
    assert _shown(escaped) == text
    assert _unescaped(escaped, "<`*~$|") == []


def test_ordinary_names_read_as_they_are() -> None:
    assert escape_markdown("vehicle_type = economy & weather = snow") == (
        "vehicle_type = economy & weather = snow"
    )
    assert escape_markdown("amount in [9.89, 12.91)") == "amount in [9.89, 12.91)"
    assert table_cell("a\nb | c") == "a b \\| c"


def test_streamlit_markdown_shows_the_escaped_text() -> None:
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        import streamlit as st

        from tracing.textfmt import escape_markdown

        st.markdown(escape_markdown("![px](http://evil.example/p.png) <b>x</b>"))

    at = AppTest.from_function(page).run(timeout=30)
    assert not at.exception
    shown = at.markdown[0].value
    _inert(shown)


def test_markdown_report_does_not_render_injected_names_and_values() -> None:
    rng = np.random.default_rng(0)
    n = 400
    bad_col = "<img src=x onerror=alert(1)>"
    values = np.array(["![px](http://evil.example/p.png)", "<script>x</script>", "[a](b)"])
    frame = pd.DataFrame(
        {
            bad_col: rng.choice(values, n),
            "[link](http://evil.example)": rng.normal(size=n),
            "score": rng.uniform(size=n),
        }
    )
    frame["label"] = (frame["score"] > 0.5).astype(int)
    prod = frame.copy()
    prod.loc[prod[bad_col] == values[0], "label"] = 1 - prod["label"]
    report = build_report(
        prepare_analysis(frame, prod, names=("<b>base</b>.csv", "![p](http://e/x).csv"))
    )
    markdown = to_markdown(report)
    for line in markdown.splitlines():
        if line.startswith("#"):
            continue  # the report's own headings
        # The report's own bold labels and code-formatted metric ids are not data.
        _inert(re.sub(r"`[a-z0-9_]+`", "", line.replace("**", "")))


# --- CSV formulas -------------------------------------------------------------------------------


def test_csv_safe_neutralises_formulas_in_cells_and_headers() -> None:
    frame = pd.DataFrame(
        {
            "=cmd|' /C calc'!A0": ['=HYPERLINK("http://e")', "+1+1", "@SUM(A1)", "ok"],
            "tab": ["\tx", "\rx", "-2+3", "-3"],
            "n": [-1, 2, -3, 4],
            "f": [-1.5, 0.0, 2.5, np.nan],
            "cat": pd.Categorical(["=a", "b", "=a", "-1"]),
        }
    )
    out = csv_safe(frame)
    assert list(out.columns) == ["'=cmd|' /C calc'!A0", "tab", "n", "f", "cat"]
    assert out.iloc[:, 0].tolist() == ['\'=HYPERLINK("http://e")', "'+1+1", "'@SUM(A1)", "ok"]
    assert out["tab"].tolist() == ["'\tx", "'\rx", "'-2+3", "-3"]  # "-3" stays a number
    assert out["n"].tolist() == [-1, 2, -3, 4] and out["n"].dtype == frame["n"].dtype
    assert out["f"].equals(frame["f"])
    assert out["cat"].astype(str).tolist() == ["'=a", "b", "'=a", "-1"]
    assert frame.columns[0].startswith("=")  # the input is not modified
    text = out.to_csv(index=False)
    assert not re.search(r"(^|,)\"?[=+@\t\r]", text, re.M)
