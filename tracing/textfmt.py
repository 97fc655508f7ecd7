"""Values for people and for JSON: one place for the engine's formatting rules.

This module owns how the engine writes values into user-facing text (sentences in findings and
explanations, Markdown tables of the report) and how it makes a result JSON-ready:

- `plain`: a numpy/pandas scalar as the Python value it holds (``np.float64(150.39)`` ->
  ``150.39``), so no ``np.`` ever reaches a sentence;
- `value_text` and `quoted`: a data value inside a sentence (``150.39``, ``CA``; `quoted`
  adds quotes to text, ``'CA'``, where a value must stand out from the words around it);
- `number` and `percent`: a measured number in a table or sentence (``n/a`` when missing);
- `condition_text`: a slice condition for people (``state = CA``, ``amount in [10, 25)``);
- `escape_markdown`: text from the data made inert in Markdown/HTML (no link, image, HTML tag
  or emphasis can come out of it); `table_cell` does the same for a Markdown table cell;
- `csv_safe`: a table made safe to open in a spreadsheet (formula cells neutralised);
- `finite` and `jsonable`: NaN/inf to None and numpy/pandas values to plain Python (JSON).

Rules: missing values (None, NaN, pandas NA/NaT) read ``n/a`` as numbers and ``(missing)`` as
data values; booleans read ``yes``/``no`` in tables; whole numbers print without a decimal
point; floats use ``digits`` significant digits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "condition_text",
    "csv_safe",
    "escape_markdown",
    "finite",
    "jsonable",
    "number",
    "percent",
    "plain",
    "quoted",
    "table_cell",
    "value_text",
]

MISSING_TEXT = "(missing)"
NA_TEXT = "n/a"


def plain(value: Any) -> Any:
    """Return a numpy/pandas scalar as plain Python; anything else unchanged.

    Examples
    --------
    >>> plain(np.float64(150.39)), plain(np.int64(47)), plain(np.True_), plain("CA")
    (150.39, 47, True, 'CA')
    """
    if isinstance(value, np.generic):
        return value.item()
    return value


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def number(value: Any, *, digits: int = 4) -> str:
    """Format a measured number: ``digits`` significant digits, ``n/a`` when missing.

    Whole numbers (ints) print in full, booleans as ``yes``/``no``, other objects as text.

    Examples
    --------
    >>> number(0.123456), number(np.float64(2.0)), number(1234567), number(None)
    ('0.1235', '2', '1234567', 'n/a')
    >>> number(float("nan")), number(3.14159, digits=2), number(True)
    ('n/a', '3.1', 'yes')
    """
    value = plain(value)
    if _missing(value):
        return NA_TEXT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def percent(value: Any, *, digits: int = 1) -> str:
    """Format a share as a percentage; tiny non-zero shares get one more decimal.

    Examples
    --------
    >>> percent(0.1234), percent(0.0004), percent(0), percent(None), percent(0.5, digits=0)
    ('12.3%', '0.04%', '0.0%', 'n/a', '50%')
    """
    value = plain(value)
    if _missing(value) or isinstance(value, bool):
        return NA_TEXT
    value = float(value)
    if 0 < abs(value) < 10.0 ** -(digits + 2):
        digits += 1  # 0.04% rather than 0.0%: a rare finding must not read as none
    return f"{value:.{digits}%}"


def value_text(value: Any) -> str:
    """Write a data value (a category, a number, a label) into a sentence.

    Examples
    --------
    >>> value_text(np.float64(150.39)), value_text(np.int64(47)), value_text("CA")
    ('150.39', '47', 'CA')
    >>> value_text(None), value_text(1e-7), value_text(pd.Timestamp("2024-01-02"))
    ('(missing)', '1e-07', '2024-01-02 00:00:00')
    """
    value = plain(value)
    if _missing(value):
        return MISSING_TEXT
    if isinstance(value, float):
        return number(value, digits=10) if math.isfinite(value) else str(value)
    return str(value)


def quoted(value: Any) -> str:
    """Like `value_text`, with text quoted: ``'n/a'`` stands out from the words around it.

    Examples
    --------
    >>> quoted("abc"), quoted(np.int64(3)), quoted(None)
    ("'abc'", '3', '(missing)')
    """
    value = plain(value)
    return repr(value) if isinstance(value, str) else value_text(value)


def condition_text(feature: Any, label: Any) -> str:
    """Write a slice condition for people: ``feature = value`` or the bin's own words.

    Examples
    --------
    >>> condition_text("state", "CA"), condition_text("amount", ">= 120")
    ('state = CA', 'amount >= 120')
    >>> condition_text("amount", "[10, 25)")
    'amount in [10, 25)'
    """
    label = str(label)
    if label.startswith(("<", ">=")):
        return f"{feature} {label}"
    if label.startswith("[") and label.endswith(")"):
        return f"{feature} in {label}"
    return f"{feature} = {label}"


# What makes Markdown/HTML markup out of text: a link or image needs "](" or "][" (or "]:" for a
# reference definition), a Streamlit directive ``:red[...]`` a "[" right after a word; emphasis
# and code need * _ ` ~; an HTML tag or autolink needs "<"; tables "|", math "$"; quotes,
# headings and lists a marker at a line's start. Those are backslash-escaped (CommonMark allows
# it before any punctuation), and the backslash itself; brackets of an interval such as
# ``[9.89, 12.91)`` and an underscore inside a word (``vehicle_type``) stay as they are.
_MARKDOWN_SPECIAL = re.compile(
    r"[\\`*<|~$]|&(?=#?[0-9A-Za-z]+;)|(?<=[0-9A-Za-z_-])\[|\](?=[(\[:])"
    r"|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"
    r"|^(\s*)([>#+\-=])",
    re.M,
)
# GFM turns bare URLs, www. names and e-mail addresses into links: break those patterns too.
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")


def escape_markdown(text: Any) -> str:
    r"""Return ``text`` with every Markdown/HTML special character backslash-escaped.

    What a file contains (column names, category values, file names) is shown as the literal
    text: ``![x](http://host/p.png)`` cannot fetch an image, ``[click](...)`` cannot make a
    link, ``<script>`` or ``<img onerror=...>`` cannot become HTML, and a bare
    ``http://host`` or ``www.host`` is not turned into a link. Use it for every data value that
    goes into ``st.markdown`` or a Markdown report.

    Parameters
    ----------
    text : object
        Any value; converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> shown = escape_markdown("![px](http://h/p.png)")
    >>> shown.replace("\u200b", "")  # the zero-width space breaks the autolink
    '![px\\](http://h/p.png)'
    >>> "://" in shown
    False
    >>> print(escape_markdown("<b>_a_b_</b> # x > y"))
    \<b>\_a_b\_\<\/b> # x > y
    """
    escaped = _MARKDOWN_SPECIAL.sub(_escape_one, str(text)).replace(_BREAK, "&#8203;")
    escaped = escaped.replace("</", "<\\/")
    return _AUTOLINK.sub(lambda m: _break_autolink(m.group(0)), escaped)


def _escape_one(found: re.Match[str]) -> str:
    if found.group(2):  # a block marker at the start of a line
        return f"{found.group(1)}\\{found.group(2)}"
    return "\\" + found.group(0)


_BREAK = "\u200b"  # zero-width space: invisible, and no URL or e-mail pattern spans it


def _break_autolink(found: str) -> str:
    # GitHub-flavoured Markdown finds http://, www. and a@b in the *decoded* text (Streamlit's
    # remark-gfm does, seen in Chromium), so neither backslashes nor character references stop
    # it. A zero-width space inside the trigger does, and the reader sees the same characters.
    if found == "://":
        return ":" + _BREAK + "//"
    if found == "@":
        return _BREAK + "@"
    return found[:3] + _BREAK + "."


def table_cell(text: Any) -> str:
    r"""Make text safe inside a Markdown table cell: one line, markup escaped.

    Line breaks become spaces, and `escape_markdown` escapes pipes and every other markup
    character, so a value cannot break the table or render as a link, image or HTML.

    Examples
    --------
    >>> print(table_cell("a | b"))
    a \| b
    """
    return escape_markdown(" ".join(str(text).splitlines()))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _formula_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if _PLAIN_NUMBER.match(value):
            return value  # "-3" or "+1.5": a spreadsheet reads a number, not a formula
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` safe to offer as a CSV download (no formula injection).

    As OWASP recommends for CSV injection, a text cell or column name that starts with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so a spreadsheet shows
    it as text instead of running it (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``). Numbers
    are never changed: numeric, boolean and datetime columns are left as they are, and a text
    cell that is a plain number (``-3``, ``+1.5``, ``-2e5``) is kept too, since a spreadsheet
    reads it as that number and cannot run it.

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    DataFrame
        A copy; the input is not modified.

    Examples
    --------
    >>> out = csv_safe(pd.DataFrame({"=x": ["=1+1", "-3", "ok"], "n": [-1, 2, 3]}))
    >>> list(out.columns), out["'=x"].tolist(), out["n"].tolist()
    (["'=x", 'n'], ["'=1+1", '-3', 'ok'], [-1, 2, 3])
    """
    out = frame.copy()
    out.columns = pd.Index([_formula_safe(c) for c in out.columns])
    for i in range(out.shape[1]):
        column = out.iloc[:, i]
        if isinstance(column.dtype, pd.CategoricalDtype):
            cats = column.cat.categories
            if cats.dtype == object or pd.api.types.is_string_dtype(cats.dtype):
                safe = [_formula_safe(c) for c in cats]
                if len(set(safe)) == len(safe):
                    out.isetitem(i, column.cat.rename_categories(safe).array)
                else:
                    out.isetitem(
                        i, column.astype(object).map(_formula_safe, na_action="ignore").array
                    )
        elif column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            out.isetitem(i, column.map(_formula_safe, na_action="ignore").array)
    return out


def finite(value: Any) -> float | None:
    """Return a number as a float, or None when it is missing, NaN or infinite.

    Examples
    --------
    >>> finite(np.float64(0.5)), finite(float("inf")), finite(None)
    (0.5, None, None)
    """
    value = plain(value)
    if _missing(value):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars to plain Python and NaN/inf to None, recursively.

    Mappings become dicts with string keys, lists and tuples become lists, timestamps ISO
    8601 text.

    Examples
    --------
    >>> jsonable({"a": np.float64("nan"), 1: (np.int64(2), pd.Timestamp("2024-01-02"))})
    {'a': None, '1': [2, '2024-01-02T00:00:00']}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    value = plain(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
