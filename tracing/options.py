"""The options of each step, validated once, and the single source of every default.

One frozen, hashable dataclass per step. Each checks its values when it is built, with a
message that names the option, what it counts and its valid range, so a bad value fails where
it enters (a command-line flag, a URL parameter, a report option) and never deeper. The same
objects are the cache keys of the app and the values its URL state falls back to, and argparse
takes its defaults from them, so a default is written exactly once: here.

- `SliceSearch`: the slice search and which of its slices are listed (`tracing.slices`).
- `DriftOptions`: shared bins and drift thresholds (`tracing.drift`).
- `ExplainOptions`: where SHAP importance comes from and on how many rows (`tracing.explain`).
- `RootCauseOptions`: how many slices are explained and suspects kept (`tracing.rootcause`).
- `ReportOptions`: all of the above plus the seed and the lead metric (`tracing.report`).

Examples
--------
>>> SliceSearch(max_depth=2).max_depth
2
>>> SliceSearch(top=0)
Traceback (most recent call last):
...
tracing.errors.DataError: top (slices to list; --top on the command line) must be a whole \
number of 1 or more, got 0.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from tracing.errors import DataError
from tracing.textfmt import plain, value_text
from tracing.vocab import ExplainSource

__all__ = [
    "DEFAULT_K",
    "DEFAULT_MIN_ROWS",
    "DEFAULT_WINDOW",
    "EXPLAIN_SOURCES",
    "MAX_DEPTH",
    "DriftOptions",
    "ExplainOptions",
    "ReportOptions",
    "RootCauseOptions",
    "SliceSearch",
]

MAX_DEPTH = 4
# The timeline's band (`tracing.timeline`): half-width in standard deviations, rolling window
# in periods, and the fewest rows that judge a period.
DEFAULT_K = 3.0
DEFAULT_WINDOW = 30
DEFAULT_MIN_ROWS = 30
EXPLAIN_SOURCES = tuple(str(s) for s in ExplainSource)


def _whole(value: Any) -> int | None:
    """Return an integer value (3 or 3.0) as an int, else None."""
    value = plain(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, float) and value.is_integer() else None


def _flag_name(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def whole_number(name: str, value: Any, low: int, high: int | None, what: str) -> int:
    """Return ``value`` as an int in ``[low, high]``, or raise a `DataError` naming the option.

    Parameters
    ----------
    name : str
        The option (its command-line flag is derived from it).
    value : object
        As given: an int, an integral float, a NumPy scalar.
    low, high : int
        The valid range (``high`` None: no upper limit).
    what : str
        What the option counts, for the message.
    """
    whole = _whole(value)
    if whole is not None and low <= whole and (high is None or whole <= high):
        return whole
    valid = f"from {low} to {high}" if high else f"of {low} or more"
    raise DataError(
        f"{name} ({what}; {_flag_name(name)} on the command line) must be a whole number "
        f"{valid}, got {value_text(value)}."
    )


def _share(name: str, value: Any, *, closed_low: bool, what: str) -> float:
    number = plain(value)
    ok = (
        isinstance(number, int | float)
        and not isinstance(number, bool)
        and math.isfinite(number)
        and (number >= 0 if closed_low else number > 0)
        and number <= 1
    )
    if not ok:
        low = "[0" if closed_low else "(0"
        raise DataError(f"{name} ({what}) must be in {low}, 1], got {value_text(value)}.")
    return float(number)


def _names(value: Any) -> tuple[str, ...] | None:
    """Normalise a column list (None, a comma-separated string or a sequence) to a tuple."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


@dataclass(frozen=True)
class SliceSearch:
    """How slices are searched and which are listed.

    Attributes
    ----------
    max_depth : int, default 3
        Most conditions per slice, 1 to `MAX_DEPTH`.
    min_size : int or None, default None
        Fewest production rows a ranked slice has; None means ``max(30, 0.1% of rows)``.
        Also the pooling threshold of rare categories.
    top : int, default 20
        How many slices the search ranks.
    features : tuple of str or None, default None
        Columns to slice by; None means the schema's features and tags.
    bins : int, default 10
        Quantile bins per numeric feature.
    explained_ratio : float, default 0.9
        A parent is explained by a listed child keeping at least this share of its impact.
    condition_alpha : float, default 0.05
        A listed slice keeps a condition only if the slice differs from the rows that
        condition removes beyond chance: the test's p-value is below this.
    condition_share : float, default 0.1
        ...and only if dropping the condition moves the slice's metric by at least this share
        of the slice's gap to the overall metric (see "Every condition earns its place" in
        `tracing.slices`).
    distinct : bool, default True
        List only distinct findings (`tracing.slices.SliceResult.distinct`); False lists every
        ranked slice. The search itself does not depend on it.
    """

    max_depth: int = 3
    min_size: int | None = None
    top: int = 20
    features: tuple[str, ...] | None = None
    bins: int = 10
    explained_ratio: float = 0.9
    condition_alpha: float = 0.05
    condition_share: float = 0.1
    distinct: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "max_depth", whole_number("max_depth", self.max_depth, 1, MAX_DEPTH,
                                             "conditions per slice"))  # fmt: skip
        set_(self, "top", whole_number("top", self.top, 1, None, "slices to list"))
        if self.min_size is not None:
            set_(self, "min_size", whole_number("min_size", self.min_size, 1, None,
                                                "rows of the smallest slice ranked"))  # fmt: skip
        set_(self, "bins", whole_number("bins", self.bins, 2, None, "bins per numeric feature"))
        if not isinstance(self.explained_ratio, int | float) or not (
            0 < self.explained_ratio <= 1
        ):
            raise DataError(
                f"explained_ratio must be in (0, 1], got {value_text(self.explained_ratio)}."
            )
        set_(self, "explained_ratio", float(self.explained_ratio))
        for name in ("condition_alpha", "condition_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                raise DataError(f"{name} must be between 0 and 1, got {value_text(value)}.")
            set_(self, name, float(value))
        set_(self, "features", _names(self.features))
        set_(self, "distinct", bool(self.distinct))

    def search_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of `tracing.slices.find_slices` (all but ``distinct``)."""
        return {
            "max_depth": self.max_depth,
            "min_size": self.min_size,
            "top": self.top,
            "features": self.features,
            "bins": self.bins,
            "explained_ratio": self.explained_ratio,
            "condition_alpha": self.condition_alpha,
            "condition_share": self.condition_share,
        }

    def searched(self) -> SliceSearch:
        """Return the options that decide the search (``distinct`` reset), for cache keys."""
        return replace(self, distinct=True)


@dataclass(frozen=True)
class DriftOptions:
    """Shared bins and drift verdict settings (`tracing.drift.feature_drift`).

    Attributes
    ----------
    bins : int, default 10
        Quantile bins per numeric column (the same bins as the slice search).
    min_share : float, default 0.01
        Smallest share a category keeps before it is pooled.
    alpha : float, default 0.05
        Significance level of the drift tests.
    """

    bins: int = 10
    min_share: float = 0.01
    alpha: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "bins", whole_number("bins", self.bins, 2, None, "bins per numeric feature")
        )
        object.__setattr__(
            self,
            "min_share",
            _share("min_share", self.min_share, closed_low=True, what="share before pooling"),
        )
        object.__setattr__(
            self, "alpha", _share("alpha", self.alpha, closed_low=False, what="significance")
        )


@dataclass(frozen=True)
class ExplainOptions:
    """Where SHAP importance comes from and on how many rows (`tracing.explain.explain`).

    Attributes
    ----------
    source : {"auto", "logged", "surrogate", "model"}, default "auto"
        Logged ``<feature>_shap`` columns, a surrogate tree, or a skops model file.
    model_path : str or None, default None
        The skops file of ``source="model"`` (pickles are never loaded).
    sample_size : int, default 20,000
        Rows that train the surrogate and the error model.
    shap_sample_size : int, default 2,000
        Rows explained with SHAP.
    """

    source: str = ExplainSource.AUTO
    model_path: str | None = None
    sample_size: int = 20_000
    shap_sample_size: int = 2_000

    def __post_init__(self) -> None:
        if self.source not in EXPLAIN_SOURCES:
            raise DataError(
                f"explain_source must be one of {', '.join(EXPLAIN_SOURCES)}, got "
                f"{value_text(self.source)}."
            )
        path: Any = self.model_path  # a pathlib.Path is welcome too
        if isinstance(path, os.PathLike):
            object.__setattr__(self, "model_path", os.fspath(path))
        for name, what in (
            ("sample_size", "rows that train the surrogate"),
            ("shap_sample_size", "rows explained with SHAP"),
        ):
            flag = "explain_sample_size" if name == "sample_size" else name
            object.__setattr__(self, name, whole_number(flag, getattr(self, name), 1, None, what))


@dataclass(frozen=True)
class RootCauseOptions:
    """How much the root-cause summary looks at (`tracing.rootcause.root_cause`).

    Attributes
    ----------
    top_slices : int, default 5
        Slices whose causes are explained.
    top_suspects : int, default 10
        Suspects kept in the report.
    alpha : float, default 0.05
        False-discovery rate of every family of tests.
    """

    top_slices: int = 5
    top_suspects: int = 10
    alpha: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "top_slices",
            whole_number("top_slices", self.top_slices, 0, None, "slices explained"),
        )
        object.__setattr__(
            self,
            "top_suspects",
            whole_number("top_suspects", self.top_suspects, 1, None, "suspects kept"),
        )
        object.__setattr__(
            self, "alpha", _share("alpha", self.alpha, closed_low=False, what="significance")
        )


# Flat option names (command line, report mappings) -> (step field of ReportOptions, its field).
_FLAT: dict[str, tuple[str, str]] = {
    "max_depth": ("slices", "max_depth"),
    "min_size": ("slices", "min_size"),
    "top": ("slices", "top"),
    "features": ("slices", "features"),
    "slice_by": ("slices", "features"),
    "bins": ("slices", "bins"),
    "explained_ratio": ("slices", "explained_ratio"),
    "distinct": ("slices", "distinct"),
    "min_share": ("drift", "min_share"),
    "explain_source": ("explain", "source"),
    "model_path": ("explain", "model_path"),
    "explain_sample_size": ("explain", "sample_size"),
    "shap_sample_size": ("explain", "shap_sample_size"),
    "top_slices": ("root_cause", "top_slices"),
    "top_suspects": ("root_cause", "top_suspects"),
}


@dataclass(frozen=True)
class ReportOptions:
    """Everything a report needs besides the data (`tracing.report.build_report`).

    Attributes
    ----------
    random_state : int, default 0
        Seed of bootstraps and samples.
    metric : str or None, default None
        Lead metric id; None means the analysis' own.
    estimate : bool, default True
        Estimate each metric from the scores beside the realized value (binary models with
        scores). Off when comparing two model versions: one model's calibration says nothing
        about the other's scores.
    slices, drift, explain, root_cause
        The options of each step. Slice bins are the drift bins (one shared binning).
    """

    random_state: int = 0
    metric: str | None = None
    estimate: bool = True
    slices: SliceSearch = field(default_factory=SliceSearch)
    drift: DriftOptions = field(default_factory=DriftOptions)
    explain: ExplainOptions = field(default_factory=ExplainOptions)
    root_cause: RootCauseOptions = field(default_factory=RootCauseOptions)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "random_state",
            whole_number("seed", self.random_state, 0, None, "random seed"),
        )
        if self.drift.bins != self.slices.bins:  # one binning serves slices and drift
            if self.drift.bins != DriftOptions.bins:  # both chosen, differently: say so
                raise DataError(
                    f"bins: slices use {self.slices.bins} and drift {self.drift.bins}, but one "
                    "binning serves both; give the same number (or set it once, as bins)."
                )
            object.__setattr__(self, "drift", replace(self.drift, bins=self.slices.bins))

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> ReportOptions:
        """Build from flat names (``max_depth``, ``top``, ``explain_source``, ``alpha``...).

        Missing or None values take the defaults above; an unknown name is a `DataError`
        that lists the known ones. ``alpha`` sets both the drift and root-cause levels.
        """
        given = {k: v for k, v in (options or {}).items() if v is not None}
        steps: dict[str, dict[str, Any]] = {s: {} for s in ("slices", "drift", "explain",
                                                            "root_cause")}  # fmt: skip
        top: dict[str, Any] = {}
        for name, value in given.items():
            if name in _FLAT:
                step, attr = _FLAT[name]
                steps[step][attr] = value
            elif name == "alpha":
                steps["drift"]["alpha"] = steps["root_cause"]["alpha"] = value
            elif name in ("random_state", "metric", "estimate"):
                top[name] = value
            else:
                known = sorted([*_FLAT, "alpha", "random_state", "metric", "estimate"])
                raise DataError(f"unknown report option {name!r}; known: {', '.join(known)}.")
        if "bins" in steps["slices"]:
            steps["drift"]["bins"] = steps["slices"]["bins"]
        return cls(
            **top,
            slices=SliceSearch(**steps["slices"]),
            drift=DriftOptions(**steps["drift"]),
            explain=ExplainOptions(**steps["explain"]),
            root_cause=RootCauseOptions(**steps["root_cause"]),
        )


def defaults(cls: type[Any]) -> dict[str, Any]:
    """Return the default of every field of an options class (for argparse and URL state)."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        out[f.name] = f.default_factory() if callable(f.default_factory) else f.default
    return out
