"""Values for people and for JSON: one place for the engine's formatting rules.

This module owns how the engine writes values into user-facing text (sentences in findings and
explanations, Markdown tables of the report) and how it makes a result JSON-ready:

- `plain`: a numpy/pandas scalar as the Python value it holds (``np.float64(150.39)`` ->
  ``150.39``), so no ``np.`` ever reaches a sentence;
- `value_text` and `quoted`: a data value inside a sentence (``150.39``, ``CA``; `quoted`
  adds quotes to text, ``'CA'``, where a value must stand out from the words around it);
- `number` and `percent`: a measured number in a table or sentence (``n/a`` when missing);
- `condition_text`: a slice condition for people (``state = CA``, ``amount in [10, 25)``);
- `table_cell`: text made safe for a Markdown table cell;
- `finite` and `jsonable`: NaN/inf to None and numpy/pandas values to plain Python (JSON).

Rules: missing values (None, NaN, pandas NA/NaT) read ``n/a`` as numbers and ``(missing)`` as
data values; booleans read ``yes``/``no`` in tables; whole numbers print without a decimal
point; floats use ``digits`` significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "condition_text",
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


def table_cell(text: Any) -> str:
    r"""Make text safe inside a Markdown table cell (pipes escaped, one line).

    Examples
    --------
    >>> print(table_cell("a | b"))
    a \| b
    """
    return " ".join(str(text).split("\n")).replace("|", "\\|")


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
