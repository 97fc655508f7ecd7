"""The analysis as one JSON-ready report: which sections exist and how each is built.

`build_report` runs the requested sections over an `Analysis` and returns a plain dict (the
CLI's JSON; key reference in the README, shape in ``tracing/schemas/report.schema.json``). Each
section is a `SectionSpec` in `SECTIONS`: its name, the question it answers, and the typed
callable that builds its JSON from a `ReportRun`. A run computes each engine result once (the
slice search, drift, quality, label conflicts, the explanation) and hands the same object to
every section that needs it, so the root-cause section ranks the very slices the slices section
lists. Renderers live beside each other in `tracing.render` (Markdown, HTML); nothing here
formats text for people.

Each section's modules are imported inside the step that needs them (SHAP and LightGBM, but
also the comparison, drift, quality and label checks), so a quick ``--sections overall`` or
``--sections slices`` loads only its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tracing.analysis import Analysis
from tracing.errors import DataError
from tracing.options import ReportOptions
from tracing.slices import SliceResult, find_slices
from tracing.textfmt import finite, jsonable

if TYPE_CHECKING:
    import pandas as pd

    from tracing.drift import DriftResult
    from tracing.engine_analysis import EngineAnalysis
    from tracing.engine_quality import EngineQuality
    from tracing.explain import Explanation
    from tracing.labels import LabelConflicts

__all__ = [
    "SCHEMA_VERSION",
    "SAMPLED_ON_ENGINE",
    "SECTIONS",
    "ReportRun",
    "Section",
    "SectionSpec",
    "build_report",
    "build_section",
    "jsonable",
]

SCHEMA_VERSION = "1.2"
"""Version of the report's JSON shape: the minor part grows when keys are added."""


class Section(StrEnum):
    """The report's sections, in the order the report shows them."""

    OVERALL = "overall"
    SLICES = "slices"
    ROOT_CAUSE = "root_cause"
    DRIFT = "drift"
    QUALITY = "quality"
    IMPORTANCE = "importance"
    TIMELINE = "timeline"


class ReportRun:
    """One report's shared engine results, each computed at most once, on first use.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    options : ReportOptions
        Validated options of every step.
    """

    def __init__(
        self,
        analysis: Analysis | EngineAnalysis,
        options: ReportOptions,
    ) -> None:
        # In a SQL engine, ``analysis`` is the engine's sample (what row-level steps run on)
        # and ``engine`` the analysis of every row.
        self.engine: EngineAnalysis | None = None
        if not isinstance(analysis, Analysis):
            self.engine, analysis = analysis, analysis.sample
        self.analysis: Analysis = analysis
        self.options = options

    @property
    def searched(self) -> Analysis | EngineAnalysis:
        """What slices are searched on: every row (the engine's), or the analysis in memory."""
        return self.engine if self.engine is not None else self.analysis

    def sampled(self) -> str | None:
        """Say that a row-level step runs on the engine's sample (None in memory)."""
        if self.engine is None:
            return None
        b, p = self.engine.sample_rows
        return (
            f"computed on a uniform sample of {b:,} baseline and {p:,} production rows drawn "
            f"by the {self.engine.backend.name} engine (not on every row)"
        )

    @functools.cached_property
    def metric_id(self) -> str:
        """The lead metric's id: the option's, else the analysis' own."""
        return self.options.metric or self.analysis.metric.id

    @functools.cached_property
    def slices(self) -> SliceResult | None:
        """The slice search (None when production has no actuals: nothing to rank)."""
        if not self.analysis.has_actuals:
            return None
        return find_slices(
            self.searched, metric=self.metric_id, **self.options.slices.search_kwargs()
        )

    @functools.cached_property
    def drift(self) -> DriftResult:
        """Drift of every column on the shared bins (in a SQL engine: on every row)."""
        d = self.options.drift
        if self.engine is not None:
            from tracing.engine_drift import engine_drift

            return engine_drift(self.engine, bins=d.bins, min_share=d.min_share, alpha=d.alpha)
        from tracing.drift import feature_drift

        return feature_drift(self.analysis, bins=d.bins, min_share=d.min_share, alpha=d.alpha)

    @functools.cached_property
    def engine_quality(self) -> EngineQuality | None:
        """A SQL engine's quality findings of every row, with its notes (None in memory)."""
        if self.engine is None:
            return None
        from tracing.engine_quality import engine_quality_checks

        return engine_quality_checks(self.engine)

    @functools.cached_property
    def quality(self) -> pd.DataFrame:
        """Every data-quality finding (label checks included), on every row in an engine."""
        if self.engine_quality is not None:
            return self.engine_quality.findings
        from tracing.quality import quality_checks

        return quality_checks(self.analysis)

    @functools.cached_property
    def conflicts(self) -> LabelConflicts:
        """Label conflicts and broken dependencies, on every row in an engine."""
        if self.engine is not None:
            from tracing.engine_quality import engine_label_conflicts

            return engine_label_conflicts(self.engine)
        from tracing.labels import label_conflicts

        return label_conflicts(self.analysis)

    @functools.cached_property
    def explanation(self) -> Explanation:
        """SHAP importance as the explain options say."""
        from tracing.explain import explain_cached

        return explain_cached(
            self.analysis, self.options.explain, random_state=self.options.random_state
        )


SectionBuilder = Callable[[ReportRun], dict[str, Any]]
"""Builds a section: returns the top-level report keys it adds (its own name at least)."""


@dataclass(frozen=True)
class SectionSpec:
    """One report section.

    Attributes
    ----------
    section : Section
        Its name (the JSON key).
    title : str
        The question it answers, as the renderers title it.
    build : callable
        ``build(run) -> {key: JSON-ready value}``.
    needs_actuals : bool
        Whether it ranks what costs performance (so needs production actuals).
    slow : bool
        Whether it trains models (SHAP): the app asks before building it.
    share_default : bool
        Whether the app's Share page offers it pre-selected.
    """

    section: Section
    title: str
    build: SectionBuilder
    needs_actuals: bool = False
    slow: bool = False
    share_default: bool = True


def _overall(run: ReportRun) -> dict[str, Any]:
    a = run.analysis
    if run.engine is not None:
        from tracing.engine_analysis import engine_compare

        # estimated beside realized on every row: calibrated on the sample, applied in SQL
        comp = engine_compare(run.engine, estimate=run.options.estimate)
    else:
        from tracing.compare import compare

        comp = compare(
            a.baseline,
            a.production,
            random_state=run.options.random_state,
            # estimated beside realized, when possible and wanted
            production_frame=a.production_frame if run.options.estimate else None,
        )
    table = comp.table.assign(id=comp.table["metric"])
    # ``name`` is the display name; ``metric`` stays the id for one release (see README).
    keep = [
        "id", "metric", "name", "baseline", "production", "estimated", "delta",
        "higher_is_better", "direction", "status", "ci_low", "ci_high", "significant",
        "baseline_reason", "production_reason",
    ]  # fmt: skip
    return {"overall": [{str(k): v for k, v in r.items()} for r in table[keep].to_dict("records")]}


_SLICE_KEYS = (
    "size", "share", "metric", "delta", "impact", "baseline_size", "baseline_metric",
    "baseline_delta", "mix_effect", "performance_effect", "p_value",
)  # fmt: skip


def slices_json(result: SliceResult, *, distinct: bool = True) -> list[dict[str, Any]]:
    """Return the listed slices as JSON-ready dicts, most costly first.

    Parameters
    ----------
    result : SliceResult
        A slice search.
    distinct : bool, default True
        Only the distinct findings (`SliceResult.distinct`, as the app lists them).

    Returns
    -------
    list of dict
        ``slice`` ({feature: value label}), ``slice_id``, ``size``, ``share``, ``metric``,
        ``delta``, ``impact``, ``baseline_size``, ``baseline_metric``, ``baseline_delta``,
        ``mix_effect``, ``performance_effect``, ``p_value``, ``explained_by``.
    """
    out = []
    for row in result.listed(distinct=distinct).itertuples(index=False):
        item: dict[str, Any] = {"slice": dict(row.conditions), "slice_id": row.slice_id}  # type: ignore[arg-type]
        for key in _SLICE_KEYS:
            value = getattr(row, key)
            item[key] = int(value) if key.endswith("size") else finite(value)
        item["explained_by"] = row.explained_by
        out.append(item)
    return out


def _slices(run: ReportRun) -> dict[str, Any]:
    if run.slices is None:
        raise DataError(
            f"{run.analysis.names[1]}: no production row has an actual, so no slice can be "
            "ranked by what it costs; join the actuals first."
        )
    return {"slices": slices_json(run.slices, distinct=run.options.slices.distinct)}


_DRIFT_KEYS = (
    "feature", "role", "kind", "psi", "js", "kl", "ks", "ks_p_value", "chi2", "chi2_p_value",
    "wasserstein", "missing_baseline", "missing_production", "severity", "drifted", "reason",
)  # fmt: skip


def _drift(run: ReportRun) -> dict[str, Any]:
    records = run.drift.table[list(_DRIFT_KEYS)].to_dict(orient="records")
    return {"drift": [{str(k): v for k, v in r.items()} for r in records]}


def _quality(run: ReportRun) -> dict[str, Any]:
    records = run.quality.to_dict(orient="records")
    return {"quality": [{str(k): v for k, v in r.items()} for r in records]}


def _root_cause(run: ReportRun) -> dict[str, Any]:
    from tracing.rootcause import root_cause

    opts = run.options.root_cause
    table = root_cause(
        run.analysis,
        slices=run.slices,
        drift=run.drift,
        quality=run.quality,
        conflicts=run.conflicts,
        top_slices=opts.top_slices,
        alpha=opts.alpha,
    ).head(opts.top_suspects)
    return {"root_cause": [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]}


def _importance(run: ReportRun) -> dict[str, Any]:
    exp = run.explanation
    keep = ["feature", "mean_abs_shap", "baseline_mean_abs_shap", "error_mean_abs_shap"]
    rows = exp.importance[keep].to_dict(orient="records")
    return {
        "importance": [{**{str(k): v for k, v in r.items()}, "source": exp.source} for r in rows],
        "explain": {
            "source": exp.source,
            "fidelity": exp.fidelity,
            "sample_rows": exp.sample_rows,
            "fidelity_metric": exp.fidelity_metric,
            "fidelity_warning": exp.fidelity_warning,
            "train_rows": exp.train_rows,
            "error_target": exp.error_target,
            "notes": list(exp.notes),
        },
    }


def _timeline(run: ReportRun) -> dict[str, Any]:
    from tracing.timeline import Timeline, timeline_for, timeline_json

    try:
        if run.engine is not None:  # every row, in the engine (its notes say when not)
            from tracing.engine_timeline import engine_timeline

            found: Timeline = engine_timeline(run.engine, metric=run.metric_id)
        else:
            found = timeline_for(run.analysis, metric=run.metric_id)
        return {"timeline": timeline_json(found)}
    except DataError as exc:  # no timestamp: say so in the section, as the app does
        return {"timeline": {"skipped": str(exc)}}


SECTIONS: dict[Section, SectionSpec] = {
    spec.section: spec
    for spec in (
        SectionSpec(Section.OVERALL, "Did the model get worse, and by how much?", _overall),
        SectionSpec(
            Section.SLICES, "Which slices pull performance down?", _slices, needs_actuals=True
        ),
        SectionSpec(
            Section.ROOT_CAUSE, "Why did they get worse?", _root_cause, needs_actuals=True
        ),
        SectionSpec(Section.DRIFT, "Which columns changed?", _drift),
        SectionSpec(Section.QUALITY, "What broke in the data?", _quality),
        SectionSpec(
            Section.IMPORTANCE,
            "Which features drive the predictions and the errors?",
            _importance,
            slow=True,
        ),
        SectionSpec(Section.TIMELINE, "When did it change?", _timeline, share_default=False),
    )
}


def _sections(names: Sequence[str] | None) -> list[Section]:
    if not names:
        return list(SECTIONS)
    unknown = [s for s in names if s not in set(Section)]
    if unknown:
        raise DataError(
            f"unknown report section {', '.join(unknown)}; choose from: {', '.join(SECTIONS)}."
        )
    return [Section(s) for s in names]


def _header(run: ReportRun) -> dict[str, Any]:
    a = run.analysis
    schema, roles = a.schema, a.schema.roles
    metric = a.metric
    if run.options.metric and run.options.metric != metric.id:
        from tracing.metrics import get_metric

        metric = get_metric(run.options.metric, schema)
    return {
        "schema_version": SCHEMA_VERSION,
        "model_type": schema.model_type.value,
        "metric": {
            "id": metric.id,
            "name": metric.id,  # alias of ``id`` for one release (see README)
            "display_name": metric.name,
            "higher_is_better": metric.higher_is_better,
            "direction": metric.direction.value,
        },
        "rows": _rows(run),
        "rows_with_actuals": _rows_with_actuals(run),
        "datasets": {"baseline": a.names[0], "production": a.names[1]},
        "positive_class": schema.positive_class,
        "classes": list(schema.classes),
        "columns": {
            "prediction_id": roles.prediction_id,
            "timestamp": roles.timestamp,
            "prediction_label": roles.prediction_label,
            "prediction_score": list(roles.prediction_score),
            "actual_label": roles.actual_label,
            "actual_score": roles.actual_score,
            "features": list(roles.features),
            "tags": list(roles.tags),
        },
        "options": {
            "random_state": run.options.random_state,
            "estimate": run.options.estimate,
            "slices": {
                "max_depth": run.options.slices.max_depth,
                "min_size": run.options.slices.min_size,
                "top": run.options.slices.top,
                "features": None
                if run.options.slices.features is None
                else list(run.options.slices.features),
                "bins": run.options.slices.bins,
                "distinct": run.options.slices.distinct,
            },
        },
        "notes": _sample_notes(run),
    }


def _sample_notes(run: ReportRun) -> list[str]:
    """Return the analysis' notes (on an engine's partial sample: not its row counts)."""
    notes = list(run.analysis.notes)
    if run.engine is None or run.engine.sample_rows == run.engine.rows:
        return notes
    return [n for n in notes if "rows left out of metrics" not in n]


def _rows(run: ReportRun) -> dict[str, int]:
    if run.engine is not None:
        return dict(zip(("baseline", "production"), run.engine.rows, strict=True))
    a = run.analysis
    return {"baseline": a.baseline.n_rows, "production": a.production.n_rows}


def _rows_with_actuals(run: ReportRun) -> dict[str, int]:
    if run.engine is not None:
        from tracing.engine import Side

        valid = run.engine.valid
        return {"baseline": valid.count(Side.BASELINE), "production": valid.count(Side.PRODUCTION)}
    a = run.analysis
    return {"baseline": int(a.baseline.valid.sum()), "production": int(a.production.valid.sum())}


def _engine_notes(run: ReportRun, wanted: Sequence[Section]) -> list[str]:
    """Return what an engine run says about itself: the engine, and what ran on its sample."""
    if run.engine is None:
        return []
    on_sample = [s.value for s in wanted if s in SAMPLED_ON_ENGINE]
    notes = list(run.engine.notes)
    if on_sample:
        notes.append(f"sections {', '.join(on_sample)}: {run.sampled()}")
    return notes


SAMPLED_ON_ENGINE = frozenset({Section.ROOT_CAUSE, Section.IMPORTANCE})
"""Sections a SQL engine runs on its sample of rows (the others on every row).

Drift, quality and the timeline run on every row; what of them still runs on the sample (drift:
a time column; quality: the biased-actuals check; the timeline: a rank metric or a timestamp
held as text) is said in the report's notes (`tracing.engine_drift`, `tracing.engine_quality`,
`tracing.engine_timeline`).
"""


def _options(options: ReportOptions | Mapping[str, Any] | None) -> ReportOptions:
    return options if isinstance(options, ReportOptions) else ReportOptions.from_mapping(options)


def build_section(
    section: str,
    analysis: Analysis,
    options: ReportOptions | Mapping[str, Any] | None = None,
) -> Any:
    """Build one section's JSON-ready value (``build_report(...)[section]``, uncleaned).

    Raises
    ------
    DataError
        Unknown section, bad options, or data the section cannot run on.
    """
    (name,) = _sections([section])
    return SECTIONS[name].build(ReportRun(analysis, _options(options)))[name]


def build_report(
    analysis: Analysis | EngineAnalysis,
    *,
    sections: Sequence[str] | None = None,
    options: ReportOptions | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the report dict for an analysis.

    Parameters
    ----------
    analysis : Analysis or EngineAnalysis
        The validated baseline/production pair, in memory or held by a SQL engine
        (`tracing.engine_analysis`: overall metrics, slices and the timeline on every row, the
        sections in `SAMPLED_ON_ENGINE` on the engine's sample, said in ``notes`` and
        ``engine``).
    sections : sequence of str, optional
        Section names (default: every section; one that cannot run on this data, e.g.
        importance without usable features, is then left out with a note).
    options : ReportOptions or mapping, optional
        Validated options, or flat option names (`ReportOptions.from_mapping`).

    Returns
    -------
    dict
        JSON-ready: plain str/int/float/bool/None, lists and dicts; NaN becomes None. Starts
        with ``schema_version``.

    Raises
    ------
    DataError
        Unknown section or bad options (always), or a section asked for by name that cannot
        run on this data.
    """
    wanted = _sections(sections)
    run = ReportRun(analysis, _options(options))  # bad options fail here, before any work
    report = _header(run)
    report["notes"].extend(_engine_notes(run, wanted))
    if run.engine is not None:
        report["engine"] = {
            "name": run.engine.backend.name,
            "sample_rows": dict(
                zip(("baseline", "production"), run.engine.sample_rows, strict=True)
            ),
            "sampled_sections": [s.value for s in wanted if s in SAMPLED_ON_ENGINE],
        }
    for name in wanted:
        try:
            report.update(SECTIONS[name].build(run))
        except DataError as exc:
            if sections:  # asked for by name: the user must hear why it failed
                raise
            # The default "everything" report keeps the sections that can run on this data.
            report["notes"].append(f"section {name} left out: {exc}")
    if Section.QUALITY in report and run.engine_quality is not None:  # known once it ran
        report["notes"].extend(run.engine_quality.notes)
    if Section.DRIFT in report:  # e.g. columns a SQL engine compared on its sample
        report["notes"].extend(run.drift.notes)
    out: dict[str, Any] = jsonable(report)
    return out
