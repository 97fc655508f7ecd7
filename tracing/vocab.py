"""The engine's vocabularies: every word that the JSON, the report and the UI share, as enums.

Each vocabulary is a `StrEnum`: a member *is* its string (``Status.WORSE == "worse"``), so JSON
output, URLs, DataFrame filters (``table["status"] == "worse"``) and comparisons with the plain
strings of older code read exactly as before. Their ``repr`` is the string's own (``'worse'``),
so messages and doctests that show a value do not change either.

============== ================================================ ==========================
vocabulary     members (serialized value)                       where it is used
============== ================================================ ==========================
Direction      HIGHER_IS_BETTER ("higher"), LOWER_IS_BETTER      each metric (`tracing.metrics`)
               ("lower"), TWO_SIDED ("two_sided"), NEUTRAL
               ("neutral")
Status         WORSE, BETTER, SAME, CHANGED, UNDEFINED           the one verdict
                                                                 (`tracing.verdict.status`)
Severity       NONE < INFO < WARN < ALERT (ordered)              drift and data quality
DriftDirection LARGER_IS_MORE_DRIFT ("higher"),                  each drift test
               SMALLER_IS_MORE_DRIFT ("lower")                   (`tracing.drift`)
Basis          ACTUAL, ESTIMATED, NONE                           what a timeline period was
                                                                 judged on
Freq           HOUR, DAY, WEEK                                   timeline period length
ExplainSource  AUTO, MODEL, LOGGED, SURROGATE                    `tracing.explain`
SuspectKind    NEW_CATEGORY, LABEL_CONFLICT, QUALITY, DRIFT,     `tracing.rootcause`
               SLICE (in display order)
EngineName     AUTO, MEMORY, DUCKDB, SPARK                       ``--engine``,
                                                                 ``TRACING_ENGINE``
                                                                 (`tracing.engines`)
SourceFormat   PARQUET, CSV, CATALOG, ARROW                      a side's data
                                                                 (`tracing.storage`)
============== ================================================ ==========================

The direction names say which way is *better* (`Direction`) or which way is *more drift*
(`DriftDirection`), so the two cannot be confused. The older member names
(``Direction.HIGHER``/``LOWER``, ``DriftDirection.HIGHER``/``LOWER``) remain as aliases of the
same members for one release; new code uses the explicit names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "Basis",
    "Direction",
    "DriftDirection",
    "EngineName",
    "ExplainSource",
    "Freq",
    "NotifyFormat",
    "Severity",
    "SourceFormat",
    "Status",
    "SuspectKind",
]


class _Word(StrEnum):
    """A vocabulary word: a string that also names its vocabulary.

    The ``repr`` is the plain string's, so output that shows values reads as before.
    """

    def __repr__(self) -> str:
        return repr(self.value)


class Direction(_Word):
    """Which way is better for a metric.

    Examples
    --------
    >>> Direction.HIGHER_IS_BETTER == "higher"
    True
    """

    HIGHER_IS_BETTER = "higher"  # accuracy, recall, r2
    LOWER_IS_BETTER = "lower"  # error rates, losses
    TWO_SIDED = "two_sided"  # closer to zero is better: mean error (bias)
    NEUTRAL = "neutral"  # neither way is better, any change matters: predicted positive rate
    # Deprecated aliases (one release): the same members under their older names.
    HIGHER = "higher"
    LOWER = "lower"


class DriftDirection(_Word):
    """Which way of a drift test's thresholded value means more drift."""

    LARGER_IS_MORE_DRIFT = "higher"  # distances and divergences
    SMALLER_IS_MORE_DRIFT = "lower"  # p-values
    # Deprecated aliases (one release): the same members under their older names.
    HIGHER = "higher"
    LOWER = "lower"


class Status(_Word):
    """The verdict on a value against a reference, in the metric's own direction.

    ``CHANGED`` is the verdict of a neutral metric (neither way is better) that moved: a change
    to look at, not a judgement. ``UNDEFINED``: a side is missing (NaN).
    """

    WORSE = "worse"
    BETTER = "better"
    SAME = "same"
    CHANGED = "changed"
    UNDEFINED = "undefined"


class Severity(_Word):
    """How serious a finding is, one ordered scale for drift and data quality.

    ``NONE < INFO < WARN < ALERT``. Drift grades columns ``none``/``warn``/``alert``; data
    quality grades findings ``info``/``warn``/``alert``. Members compare by that order, also
    with the plain strings (``Severity.WARN < "alert"``).

    Examples
    --------
    >>> max(Severity.WARN, Severity.INFO, Severity.ALERT)
    'alert'
    >>> Severity.INFO < "warn"
    True
    """

    NONE = "none"
    INFO = "info"
    WARN = "warn"
    ALERT = "alert"

    @property
    def rank(self) -> int:
        """Position on the scale: 0 for ``none`` up to 3 for ``alert``."""
        return _SEVERITY_ORDER[self.value]

    @staticmethod
    def _rank_of(other: Any) -> int:
        return Severity(other).rank

    def __lt__(self, other: str) -> bool:
        return self.rank < Severity._rank_of(other)

    def __le__(self, other: str) -> bool:
        return self.rank <= Severity._rank_of(other)

    def __gt__(self, other: str) -> bool:
        return self.rank > Severity._rank_of(other)

    def __ge__(self, other: str) -> bool:
        return self.rank >= Severity._rank_of(other)


_SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


class Basis(_Word):
    """What a timeline period was judged on."""

    ACTUAL = "actual"  # the realized metric, from rows with actuals
    ESTIMATED = "estimated"  # the metric estimated from the scores
    NONE = "none"  # too few rows either way: listed, never judged


class Freq(_Word):
    """Length of a timeline period (days and weeks follow the wall clock; weeks start Monday)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


class ExplainSource(_Word):
    """Where feature importance comes from (`tracing.explain`)."""

    AUTO = "auto"  # pick the best available
    MODEL = "model"  # SHAP of a skops model file
    LOGGED = "logged"  # per-row SHAP columns logged with the predictions
    SURROGATE = "surrogate"  # SHAP of a surrogate model fitted on the logged outputs


class SuspectKind(_Word):
    """Kind of a root-cause suspect (`tracing.rootcause`), in display order for equal scores."""

    NEW_CATEGORY = "new category"
    LABEL_CONFLICT = "label conflict"
    QUALITY = "quality"
    DRIFT = "drift"
    SLICE = "slice"


class NotifyFormat(_Word):
    """Body shape of an alert message (`tracing.alerts.body`)."""

    SLACK = "slack"  # ``text`` for Slack incoming webhooks plus the structured fields
    JSON = "json"  # the structured fields only
    PAGERDUTY = "pagerduty"  # a PagerDuty Events API v2 trigger


class EngineName(_Word):
    """Which engine computes an analysis (`tracing.engines.choose_engine`)."""

    AUTO = "auto"  # memory when both sides fit comfortably, else duckdb
    MEMORY = "memory"  # pandas/numpy in this process (`tracing.engine.MemoryTable`)
    DUCKDB = "duckdb"  # DuckDB embedded: out-of-core, spills to TRACING_DUCKDB_TEMP_DIR
    SPARK = "spark"  # a local Spark session, or Spark Connect when SPARK_REMOTE is set


class SourceFormat(_Word):
    """What one side's data is, as far as the engine choice goes (`tracing.storage`)."""

    PARQUET = "parquet"  # files, local or on object storage
    CSV = "csv"  # read into memory only (`tracing.io.read_table`)
    CATALOG = "catalog"  # a catalog table (``table:db.name``): Spark only
    ARROW = "arrow"  # rows already in memory
