"""Options: validated once with messages that name the option, and every default defined once."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracing import cli
from tracing.errors import DataError
from tracing.options import (
    DriftOptions,
    ExplainOptions,
    ReportOptions,
    RootCauseOptions,
    SliceSearch,
    defaults,
)

ROOT = Path(__file__).resolve().parents[1]


def _signature_defaults(fn) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_options_are_frozen_and_hashable() -> None:
    for cls in (SliceSearch, DriftOptions, ExplainOptions, RootCauseOptions, ReportOptions):
        a, b = cls(), cls()
        assert a == b and hash(a) == hash(b)
        with pytest.raises(AttributeError):
            a.__setattr__(next(iter(defaults(cls))), None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_depth": 0}, r"^max_depth \(conditions per slice; --max-depth on the command line\) "
                           r"must be a whole number from 1 to 4, got 0\.$"),
        ({"top": 2.5}, r"top .* of 1 or more, got 2\.5"),
        ({"min_size": -1}, r"min_size .*--min-size"),
        ({"bins": 1}, r"bins .* of 2 or more"),
        ({"explained_ratio": 0}, r"explained_ratio must be in \(0, 1\]"),
    ],
)  # fmt: skip
def test_bad_slice_options_name_the_option_and_range(kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        SliceSearch(**kwargs)


def test_other_steps_validate_too() -> None:
    with pytest.raises(
        DataError, match="explain_source must be one of auto, model, logged, surrogate"
    ):
        ExplainOptions(source="pickle")
    with pytest.raises(DataError, match="shap_sample_size"):
        ExplainOptions(shap_sample_size=0)
    with pytest.raises(DataError, match=r"alpha \(significance\) must be in \(0, 1\]"):
        DriftOptions(alpha=float("nan"))
    with pytest.raises(DataError, match="top_suspects"):
        RootCauseOptions(top_suspects=0)
    with pytest.raises(DataError, match="unknown report option 'depth'"):
        ReportOptions.from_mapping({"depth": 2})


@given(
    depth=st.integers(1, 4),
    top=st.integers(1, 500),
    size=st.one_of(st.none(), st.integers(1, 10**6)),
    features=st.one_of(st.none(), st.lists(st.sampled_from("abcde"), min_size=1, unique=True)),
)
def test_valid_values_survive_every_entry_point(depth, top, size, features) -> None:
    # NumPy scalars (from a DataFrame or a widget) and plain ints give the same options.
    plain = SliceSearch(max_depth=depth, top=top, min_size=size, features=features)
    numpy = SliceSearch(
        max_depth=np.int64(depth), top=float(top), min_size=size,
        features=",".join(features) if features else None,
    )  # fmt: skip
    assert plain == numpy
    flat = ReportOptions.from_mapping(
        {"max_depth": depth, "top": top, "min_size": size, "features": features}
    )
    assert flat.slices == plain


def test_slice_bins_are_the_drift_bins() -> None:
    assert ReportOptions.from_mapping({"bins": 7}).drift.bins == 7
    assert ReportOptions(slices=SliceSearch(bins=5)).drift.bins == 5
    with pytest.raises(DataError, match="one binning serves both"):
        ReportOptions(slices=SliceSearch(bins=5), drift=DriftOptions(bins=7))


def test_engine_functions_take_their_defaults_from_the_options() -> None:
    from tracing.drift import feature_drift
    from tracing.explain import explain
    from tracing.rootcause import root_cause
    from tracing.slices import drilldown, find_slices

    search = defaults(SliceSearch)
    found = _signature_defaults(find_slices)
    for name in ("max_depth", "min_size", "top", "features", "bins", "explained_ratio"):
        assert found[name] == search[name], name
    assert _signature_defaults(drilldown)["bins"] == search["bins"]
    drift = _signature_defaults(feature_drift)
    for name, value in defaults(DriftOptions).items():
        assert drift[name] == value, name
    rc = _signature_defaults(root_cause)
    assert rc["top_slices"] == RootCauseOptions.top_slices
    assert rc["alpha"] == RootCauseOptions.alpha
    ex = _signature_defaults(explain)
    assert ex["source"] == ExplainOptions.source
    assert ex["sample_size"] == ExplainOptions.sample_size
    assert ex["shap_sample_size"] == ExplainOptions.shap_sample_size


def _defaults_of(parser: argparse.ArgumentParser, command: str) -> dict:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.default for a in sub.choices[command]._actions}


def test_command_line_defaults_are_the_options() -> None:
    found = _defaults_of(cli._parser(), "report")
    assert found["max_depth"] == SliceSearch.max_depth
    assert found["min_size"] == SliceSearch.min_size
    assert found["top"] == SliceSearch.top
    assert found["explain_source"] == ExplainOptions.source
    assert found["explain_sample_size"] == ExplainOptions.sample_size
    assert found["shap_sample_size"] == ExplainOptions.shap_sample_size
    assert found["seed"] == ReportOptions.random_state


def test_url_state_defaults_are_the_options() -> None:
    from ui.state import PAGE_DEFAULTS

    assert PAGE_DEFAULTS["depth"] == SliceSearch.max_depth
    assert PAGE_DEFAULTS["min_size"] == SliceSearch.min_size
    assert PAGE_DEFAULTS["fold"] == SliceSearch.distinct


def test_no_default_is_written_twice_as_a_literal() -> None:
    # Step options' defaults may be written only in tracing/options.py (``top`` is checked by
    # introspection above: other things are called top too, such as chart rows).
    pattern = re.compile(
        r"\b(max_depth|explained_ratio|sample_size|shap_sample_size|top_slices|top_suspects|"
        r"min_share|bins)\s*(?::\s*[\w| .\[\]]+)?=\s*[0-9]"
    )
    offenders = []
    for path in [*ROOT.glob("tracing/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py")]:
        if path.name == "options.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and ">>>" not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
