"""Text formatting: plain values in sentences, numbers and percentages, JSON-ready results."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracing import report, textfmt
from tracing.textfmt import (
    finite,
    jsonable,
    number,
    percent,
    plain,
    quoted,
    table_cell,
    value_text,
)

NUMPY_SCALARS = [
    np.float64(150.39),
    np.float32(0.25),
    np.int64(47),
    np.int8(-3),
    np.uint16(7),
    np.bool_(True),
    np.str_("CA"),
]
MISSING = [None, float("nan"), np.float64("nan"), pd.NA, pd.NaT]


@pytest.mark.parametrize("value", NUMPY_SCALARS, ids=repr)
def test_numpy_scalars_never_show_their_type(value):
    for text in (value_text(value), quoted(value), number(value), str(plain(value))):
        assert "np." not in text and "numpy" not in text
    assert type(plain(value)).__module__ == "builtins"
    assert plain(value) == value.item()


@given(st.floats(-1e300, 1e300))  # ten digits of the largest floats round up to inf
def test_value_text_round_trips_floats_to_ten_digits(x):
    assert float(value_text(np.float64(x))) == pytest.approx(x, rel=1e-9, abs=0.0)


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(1, 8))
def test_number_is_python_general_format(x, digits):
    assert number(x, digits=digits) == f"{x:.{digits}g}"
    assert number(np.float64(x), digits=digits) == f"{x:.{digits}g}"


@given(st.integers(-(10**12), 10**12))
def test_whole_numbers_print_in_full(k):
    assert number(k) == number(np.int64(k)) == str(k)


@pytest.mark.parametrize("value", MISSING, ids=repr)
def test_missing_values(value):
    assert number(value) == percent(value) == "n/a"
    assert value_text(value) == quoted(value) == "(missing)"
    assert finite(value) is None
    assert jsonable(value) is None


@given(st.floats(-1, 1, allow_nan=False))
def test_percent_matches_the_format_and_keeps_rare_shares_visible(x):
    text = percent(x)
    if x == 0 or abs(x) >= 0.001:
        assert text == f"{x:.1%}"
    else:
        assert text == f"{x:.2%}"
    assert float(text.rstrip("%")) == pytest.approx(100 * x, abs=0.051)


def test_quoted_marks_text_only():
    assert quoted("n/a") == "'n/a'" and quoted(np.str_("x")) == "'x'"
    assert quoted(np.float64(1.5)) == "1.5" and quoted(True) == "True"


@given(st.text())
def test_table_cell_keeps_the_row_on_one_line_with_pipes_escaped(text):
    cell = table_cell(text)
    assert "\n" not in cell
    assert "|" not in cell.replace("\\|", "")


def test_finite():
    assert finite(np.float32(0.5)) == 0.5 and isinstance(finite(np.int64(2)), float)
    assert finite(float("inf")) is None and finite(-np.inf) is None


def test_jsonable_gives_strict_json_from_numpy_and_pandas_values():
    value = {
        "a": np.float64("nan"),
        "b": [np.int64(3), np.bool_(False), (np.float32(0.5), pd.NA)],
        1: {"t": pd.Timestamp("2024-01-02", tz="UTC"), "n": pd.NaT, "inf": np.inf},
    }
    out = jsonable(value)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == {
        "a": None,
        "b": [3, False, [0.5, None]],
        "1": {"t": "2024-01-02T00:00:00+00:00", "n": None, "inf": None},
    }


def test_report_keeps_jsonable_importable():
    assert report.jsonable is textfmt.jsonable


def test_no_nan_survives_jsonable():
    out = jsonable([math.nan, np.float64(math.inf), 1.0])
    assert out == [None, None, 1.0]
