"""Model chains: which model of a pipeline made the final model worse.

A **chain file** (TOML) lists ``[[model]]`` tables. Each names a model (``name``), its
``baseline`` and ``production`` files (paths relative to the chain file), the command line's
column roles and options (``id``, ``timestamp``, ``prediction``, ``score``, ``actual``,
``features`` and ``tags`` as TOML arrays, ``model_type``, ``positive_class``, ``metric``,
``threshold``), ``inputs = { <feature> = "<upstream model>" }`` (that feature of this model is
the upstream model's prediction) and optionally ``model_file = "eta.skops"`` (this model saved
with skops). `load_chain` validates the file once into a frozen `Chain`; every problem is a
`DataError` naming the chain file, the model and the key.

`trace_chain` reports, per model, its own overall comparison (`tracing.compare`), and per link
(upstream ``U`` -> downstream ``D`` through feature ``f``):

Upstream erred beyond its baseline error
    A row of ``D`` is joined to ``U``'s row with the same prediction id (on the same side,
    baseline or production). ``U`` *erred* on it when ``U`` has an actual and a prediction there
    and, for classification, the prediction is wrong; for regression, its absolute error is
    above the 90th percentile of ``U``'s absolute errors on its baseline (`ERROR_QUANTILE`), so
    about a tenth of the baseline rows count as erred. Rows without a matching upstream row or
    without its actual count as not erred.
share_of_change
    The part of ``D``'s change ``M_p - M_b`` (production minus baseline metric) that happens on
    the rows where ``U`` erred. For ratio metrics (accuracy, recall, MAE...) it is the
    mix + performance decomposition of `tracing.slices` over the two-group partition (erred /
    not erred), exact: with ``w`` the group's share of the metric's denominator and ``m`` its
    metric, the erred group's part is ``(w_p - w_b) * (m_b - M_b) + w_p * (m_p - m_b)`` and the
    two groups' parts add up to ``M_p - M_b``. For other metrics (RMSE, F1, AUC...) it is
    ``1 - (N_p - N_b) / (M_p - M_b)`` with ``N`` the metric on the rows where ``U`` did not err:
    the part of the change that disappears without the erred rows (not an exact split). NaN
    when ``D`` did not change.
counterfactual
    With ``model_file``: ``D``'s production metric when the model is run on production with
    ``U``'s actual in place of its prediction in feature ``f`` (rows without an upstream actual
    keep the prediction); ``counterfactual_delta`` is that metric minus ``D``'s baseline metric.

Culprit rule
    Start at the final model (`Chain.final`: no model takes it as input). When it did not get
    worse there is no culprit. Otherwise each upstream model that got worse itself is credited
    with the part of the change its link explains: ``(delta - counterfactual_delta) / delta``
    when there is a counterfactual, else ``share_of_change``. The upstream credited most, when
    credited at least `CULPRIT_SHARE` (half the change), is blamed and the rule repeats from it
    (its own upstream may be to blame); otherwise the model itself is the culprit: its inputs
    are as good as in the baseline.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tracing.analysis import Analysis, prepare_analysis
from tracing.compare import compare
from tracing.errors import DataError
from tracing.io import ReadLimits, read_table
from tracing.metrics import Metric, Prepared, prepare, row_stats
from tracing.schema import ROLE_NAMES, ModelType
from tracing.sources import data_roots
from tracing.textfmt import escape_markdown
from tracing.vocab import Status

__all__ = [
    "CULPRIT_SHARE",
    "ERROR_QUANTILE",
    "Chain",
    "ChainModel",
    "ChainTrace",
    "LinkTrace",
    "ModelTrace",
    "chain_json",
    "chain_markdown",
    "counterfactual_metric",
    "chain_dot",
    "load_chain",
    "share_of_change",
    "trace_chain",
    "upstream_erred",
    "vet_chain_ref",
]

ERROR_QUANTILE = 0.9  # regression: "erred" = absolute error above this baseline quantile
CULPRIT_SHARE = 0.5  # an upstream is blamed when it explains at least half the change

# Chain-file key -> `tracing.schema.ColumnRoles` field (the command line's names).
_ROLE_KEYS = ROLE_NAMES
_OPTION_KEYS = ("model_type", "positive_class", "metric", "threshold")
_PATH_KEYS = ("baseline", "production")
_KEYS = frozenset({"name", *_PATH_KEYS, *_ROLE_KEYS, *_OPTION_KEYS, "inputs", "model_file"})
_LISTS = frozenset({"features", "tags", "score"})


@dataclass(frozen=True)
class ChainModel:
    """One validated ``[[model]]`` table of a chain file.

    Attributes
    ----------
    name : str
        The model's name (unique in the chain).
    baseline, production : Path
        Its files, resolved against the chain file's folder.
    roles : tuple of (str, object)
        Explicit column roles as (`tracing.schema.ColumnRoles` field, value) pairs.
    model_type, positive_class, metric : str or None
        The command line's options (None: detected / the default).
    threshold : float
        Binary: score cut-off when there is no label column.
    inputs : tuple of (str, str)
        (feature, upstream model name): the feature is the upstream model's prediction.
    model_file : Path or None
        The model saved with skops, for counterfactuals.
    """

    name: str
    baseline: Path
    production: Path
    roles: tuple[tuple[str, Any], ...] = ()
    model_type: str | None = None
    positive_class: Any = None
    metric: str | None = None
    threshold: float = 0.5
    inputs: tuple[tuple[str, str], ...] = ()
    model_file: Path | None = None

    def role_params(self) -> dict[str, str]:
        """Return the explicit roles as the app's URL parameters (``id``, ``features``...)."""
        back = {field: key for key, field in _ROLE_KEYS.items()}
        return {
            back[field]: ",".join(value) if isinstance(value, tuple) else str(value)
            for field, value in self.roles
        }


@dataclass(frozen=True)
class Chain:
    """A validated chain file: its models upstream first.

    Attributes
    ----------
    path : Path
        The chain file.
    models : tuple of ChainModel
        Every model, each after the models it takes input from.
    """

    path: Path

    models: tuple[ChainModel, ...]

    @property
    def final(self) -> ChainModel:
        """The model no other model takes as input (the last listed, when several are)."""
        used = {up for m in self.models for _, up in m.inputs}
        return [m for m in self.models if m.name not in used][-1]

    def model(self, name: str) -> ChainModel:
        """Return the model called ``name``."""
        return next(m for m in self.models if m.name == name)


@dataclass(frozen=True)
class ModelTrace:
    """One model's own comparison, production vs baseline, in its lead metric."""

    name: str
    metric: str
    metric_name: str
    direction: str
    percent: bool
    baseline: float
    production: float
    delta: float
    status: Status

    @property
    def marker(self) -> str:
        """The change as text, not colour alone: ``▲ worse``, ``▼ better``, ``= same``."""
        arrow = "▲" if self.delta > 0 else "▼" if self.delta < 0 else "="
        return f"{arrow} {self.status.value}"


@dataclass(frozen=True)
class LinkTrace:
    """One link: how much of the downstream model's change the upstream model explains.

    ``share_of_change``, ``counterfactual`` and ``counterfactual_delta`` are defined in the
    module docstring; ``erred_baseline``/``erred_production`` are the shares of the downstream
    rows (with actuals) where the upstream erred.
    """

    upstream: str
    downstream: str
    feature: str
    share_of_change: float
    erred_baseline: float
    erred_production: float
    counterfactual: float | None = None
    counterfactual_delta: float | None = None


@dataclass(frozen=True)
class ChainTrace:
    """The result of `trace_chain`."""

    chain: Chain
    models: tuple[ModelTrace, ...]
    links: tuple[LinkTrace, ...]
    culprit: str | None
    explanation: str
    notes: tuple[str, ...] = ()

    def model(self, name: str) -> ModelTrace:
        """Return the trace of the model called ``name``."""
        return next(m for m in self.models if m.name == name)


# ---------------------------------------------------------------------------------------------
# The chain file


def _bad(path: Path, model: str | None, key: str | None, problem: str) -> DataError:
    where = f"{path.name}"
    if model is not None:
        where += f", model {model!r}"
    if key is not None:
        where += f", key {key!r}"
    return DataError(f"{where}: {problem}")


def load_chain(path: str | os.PathLike[str], *, allowed_only: bool = False) -> Chain:
    """Read and validate a chain file.

    Parameters
    ----------
    path : str or path
        The TOML chain file (module docstring).
    allowed_only : bool, default False
        Refuse files outside the app's data folders (`tracing.sources.data_roots`): for chain
        files a visitor names.

    Returns
    -------
    Chain

    Raises
    ------
    DataError
        Naming the chain file, the model and the key, for a file that is not TOML, an unknown
        or mistyped key, a missing file, a duplicate name, an unknown upstream or a cycle.
    """
    file = Path(path)
    if allowed_only:
        file = vet_chain_ref(str(path))
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(file, None, None, f"cannot read the chain file ({exc.strerror}).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _bad(file, None, None, f"not a TOML file ({exc}).") from None
    extra = sorted(set(data) - {"model"})
    if extra:
        raise _bad(file, None, extra[0], "unknown top-level key; list models as [[model]].")
    tables = data.get("model")
    if not isinstance(tables, list) or not tables:
        raise _bad(file, None, "model", "no [[model]] table; list each model as [[model]].")
    models = [_model(file, i, t, allowed_only) for i, t in enumerate(tables)]
    names = [m.name for m in models]
    for m in models:
        if names.count(m.name) > 1:
            raise _bad(file, m.name, "name", "two models have this name; names must be unique.")
        for feature, up in m.inputs:
            if up not in names:
                raise _bad(
                    file,
                    m.name,
                    f"inputs.{feature}",
                    f"unknown upstream model {up!r}; models: {', '.join(names)}.",
                )
            if up == m.name:
                raise _bad(file, m.name, f"inputs.{feature}", "a model cannot feed itself.")
    return Chain(path=file, models=_upstream_first(file, models))


def _model(file: Path, i: int, table: Any, allowed_only: bool) -> ChainModel:
    if not isinstance(table, dict):
        raise _bad(file, f"#{i + 1}", None, "each [[model]] must be a table.")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad(file, f"#{i + 1}", "name", "every model needs a name (a string).")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise _bad(file, name, unknown[0], f"unknown key; valid keys: {', '.join(sorted(_KEYS))}.")
    paths = {k: _path(file, name, k, table.get(k), allowed_only) for k in _PATH_KEYS}
    roles = tuple(
        (_ROLE_KEYS[k], _role(file, name, k, table[k])) for k in _ROLE_KEYS if k in table
    )
    options: dict[str, Any] = {}
    for key in ("model_type", "metric"):
        if key in table:
            options[key] = _string(file, name, key, table[key])
    if "model_type" in options and options["model_type"] not in {t.value for t in ModelType}:
        valid = ", ".join(t.value for t in ModelType)
        raise _bad(file, name, "model_type", f"must be one of {valid}.")
    if "positive_class" in table:
        value = table["positive_class"]
        if not isinstance(value, str | int | bool):
            raise _bad(file, name, "positive_class", "must be a string, number or boolean.")
        options["positive_class"] = value
    if "threshold" in table:
        value = table["threshold"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise _bad(file, name, "threshold", "must be a number between 0 and 1.")
        options["threshold"] = float(value)
    model_file = None
    if "model_file" in table:
        model_file = _path(file, name, "model_file", table["model_file"], allowed_only)
    return ChainModel(
        name=name.strip(),
        baseline=paths["baseline"],
        production=paths["production"],
        roles=roles,
        **options,
        inputs=_inputs(file, name, table.get("inputs", {})),
        model_file=model_file,
    )


def _string(file: Path, model: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(file, model, key, "must be a non-empty string.")
    return value.strip()


def _role(file: Path, model: str, key: str, value: Any) -> Any:
    if key in _LISTS:
        items = value.split(",") if isinstance(value, str) and key == "score" else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise _bad(file, model, key, 'must be an array of column names, e.g. ["a", "b"].')
        return tuple(v.strip() for v in items if v.strip())
    return _string(file, model, key, value)


def _path(file: Path, model: str, key: str, value: Any, allowed_only: bool) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _bad(file, model, key, "must be a path (a string) relative to the chain file.")
    resolved = (file.parent / value.strip()).resolve()
    if allowed_only and not _inside_roots(resolved):
        raise _bad(file, model, key, f"{value} is not inside an allowed data folder.")
    if not resolved.is_file():
        raise _bad(file, model, key, f"file {value} not found (paths are relative to the chain).")
    return resolved


def _inputs(file: Path, model: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _bad(file, model, "inputs", 'must be a table, e.g. { speed = "traffic" }.')
    for feature, up in value.items():
        if not isinstance(up, str) or not up.strip():
            raise _bad(file, model, f"inputs.{feature}", "must name an upstream model.")
    return tuple((str(f), str(u).strip()) for f, u in value.items())


def _upstream_first(file: Path, models: list[ChainModel]) -> tuple[ChainModel, ...]:
    """Order models so each comes after its upstreams; refuse cycles (depth-first search)."""
    by_name = {m.name: m for m in models}
    done: dict[str, ChainModel] = {}
    visiting: list[str] = []

    def visit(m: ChainModel) -> None:
        if m.name in done:
            return
        if m.name in visiting:
            loop = " -> ".join([*visiting[visiting.index(m.name) :], m.name])
            raise _bad(file, m.name, "inputs", f"the models form a cycle ({loop}).")
        visiting.append(m.name)
        for _, up in m.inputs:
            visit(by_name[up])
        visiting.pop()
        done[m.name] = m

    for m in models:
        visit(m)
    return tuple(done.values())


def _inside_roots(path: Path) -> bool:
    for root in data_roots():
        if path.is_relative_to(root):
            return not any(part.startswith(".") for part in path.relative_to(root).parts)
    return False


def vet_chain_ref(ref: str) -> Path:
    """Return the chain file a visitor's reference names, when it is an allowed ``.toml`` file.

    Parameters
    ----------
    ref : str
        A path, absolute or relative to the server's working directory, inside the app's data
        folders (`tracing.sources.data_roots`).

    Returns
    -------
    Path
        The resolved file.

    Raises
    ------
    DataError
        For another suffix, a hidden file, or a file outside the data folders or missing (one
        message for both, so nothing is learnt about the server's disk).
    """
    text = ref.strip()
    if not text.lower().endswith(".toml"):
        raise DataError(f"{text or '(empty)'}: a chain file is a .toml file; give its path.")
    resolved = (Path.cwd() / Path(text).expanduser()).resolve()
    if not _inside_roots(resolved) or not resolved.is_file():
        raise DataError(
            f"{text}: chain file not found, or not inside an allowed data folder; ask the "
            "operator to add its folder to TRACING_DATA_ROOTS."
        )
    return resolved


# ---------------------------------------------------------------------------------------------
# Tracing


def _analysis(m: ChainModel, limits: ReadLimits | None) -> Analysis:
    frames = [read_table(p, limits=limits) for p in (m.baseline, m.production)]
    return prepare_analysis(
        frames[0],
        frames[1],
        names=(m.baseline.name, m.production.name),
        roles=dict(m.roles),
        model_type=m.model_type,
        positive_class=m.positive_class,
        metric=m.metric,
        threshold=m.threshold,
    )


def _model_trace(name: str, a: Analysis) -> ModelTrace:
    row = compare(a.baseline, a.production, metrics=[a.metric]).row(a.metric.id)
    return ModelTrace(
        name=name,
        metric=a.metric.id,
        metric_name=a.metric.name,
        direction=a.metric.direction.value,
        percent=a.metric.percent,
        baseline=float(row["baseline"]),
        production=float(row["production"]),
        delta=float(row["delta"]),
        status=Status(row["status"]),
    )


def upstream_erred(upstream: Analysis, side: str) -> pd.Series:
    """Whether the upstream model erred beyond its baseline error, per prediction id.

    Parameters
    ----------
    upstream : Analysis
        The upstream model's analysis.
    side : {"baseline", "production"}
        Which of its datasets.

    Returns
    -------
    Series of bool
        Indexed by prediction id (first row of a repeated id); False where the row has no
        actual or no prediction. The rule is the module docstring's.
    """
    prep: Prepared = getattr(upstream, side)
    frame: pd.DataFrame = getattr(upstream, f"{side}_frame")
    if upstream.schema.model_type is ModelType.REGRESSION:
        err = np.abs(prep.y_true.astype(float) - prep.y_pred.astype(float))
        base = upstream.baseline
        base_err = np.abs(base.y_true.astype(float) - base.y_pred.astype(float))[base.valid]
        erred = prep.valid & (err > float(np.quantile(base_err, ERROR_QUANTILE)))
    else:
        erred = prep.valid & (prep.y_true != prep.y_pred)
    ids = frame[_id_column(upstream)]
    return pd.Series(erred, index=ids.to_numpy()).groupby(level=0, sort=False).first()


def _id_column(a: Analysis) -> str:
    col = a.schema.roles.prediction_id
    if col is None:
        raise DataError(
            f"{a.names[1]}: no prediction id column, so rows cannot be joined along the chain; "
            "name it with the model's id key."
        )
    return col


def _erred_rows(downstream: Analysis, erred: pd.Series, side: str) -> NDArray[np.bool_]:
    frame: pd.DataFrame = getattr(downstream, f"{side}_frame")
    ids = frame[_id_column(downstream)]
    return ids.map(erred).fillna(False).to_numpy(dtype=bool)


def _masked(p: Prepared, mask: NDArray[np.bool_]) -> Prepared:
    return dataclasses.replace(p, valid=p.valid & mask)


def share_of_change(
    metric: Metric,
    baseline: Prepared,
    production: Prepared,
    erred_baseline: NDArray[np.bool_],
    erred_production: NDArray[np.bool_],
) -> float:
    """Return the part of a metric's change that happens on the erred rows (module docstring).

    Parameters
    ----------
    metric : Metric
        The downstream model's metric.
    baseline, production : Prepared
        The downstream model's outputs.
    erred_baseline, erred_production : ndarray of bool
        Per row of each side: the upstream model erred there.

    Returns
    -------
    float
        A fraction of ``M_p - M_b`` (may leave [0, 1] when the other rows moved the other
        way); NaN when the metric did not change or is undefined.
    """
    total = metric.compute(production) - metric.compute(baseline)
    if not np.isfinite(total) or total == 0:
        return math.nan
    if not metric.decomposable:
        rest = metric.compute(_masked(production, ~erred_production)) - metric.compute(
            _masked(baseline, ~erred_baseline)
        )
        return float(1 - rest / total)
    assert metric.numerator is not None and metric.denominator is not None
    parts = []
    for prep, erred in ((baseline, erred_baseline), (production, erred_production)):
        stats = row_stats(prep)
        num, den = stats[metric.numerator].to_numpy(), stats[metric.denominator].to_numpy()
        total_den = den.sum()
        e_num, e_den = num[erred].sum(), den[erred].sum()
        parts.append(
            (e_den / total_den, e_num / e_den if e_den else math.nan, num.sum() / total_den)
        )
    (wb, mb, big_mb), (wp, mp, _) = parts
    mb = big_mb if math.isnan(mb) else mb  # erred group absent from the baseline
    performance = wp * (mp - mb) if wp > 0 else 0.0
    return float(((wp - wb) * (mb - big_mb) + performance) / total)


def counterfactual_metric(
    downstream: Analysis,
    model: Any,
    feature: str,
    replacement: pd.Series,
    *,
    model_file: str = "the model file",
) -> float:
    """Return the downstream production metric with ``feature`` replaced and the model rerun.

    Parameters
    ----------
    downstream : Analysis
        The downstream model's analysis; its metric is used.
    model : estimator
        The downstream model (`tracing.explain.load_model`). Its ``feature_names_in_`` (else
        the analysis's feature columns, in order) are its inputs.
    feature : str
        The input replaced.
    replacement : Series
        New values by prediction id (the upstream's actuals); rows without one keep theirs.
    model_file : str
        Its name, for messages.

    Returns
    -------
    float
    """
    frame = downstream.production_frame.copy()
    ids = frame[_id_column(downstream)]
    frame[feature] = ids.map(replacement).fillna(frame[feature]).to_numpy()
    names = getattr(model, "feature_names_in_", None)
    columns = (
        [str(c) for c in names] if names is not None else list(downstream.schema.roles.features)
    )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{model_file} needs columns that are not in {downstream.names[1]}: "
            f"{', '.join(missing)}; give the model trained on these files."
        )
    x = frame[columns] if names is not None else frame[columns].to_numpy()
    schema = downstream.schema
    roles = schema.roles
    try:
        if roles.prediction_label is not None:
            frame[roles.prediction_label] = model.predict(x)
        else:
            proba = np.asarray(model.predict_proba(x), dtype=float)
            classes = [str(c) for c in model.classes_]
            pos = str(schema.positive_class)
            frame[roles.prediction_score[0]] = proba[
                :, classes.index(pos) if pos in classes else -1
            ]
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise DataError(
            f"{model_file} cannot predict on {downstream.names[1]} ({exc}); give the model "
            "trained on these columns."
        ) from None
    return float(downstream.metric.compute(prepare(frame, schema, name=downstream.names[1])))


def _upstream_actuals(upstream: Analysis) -> pd.Series:
    frame = upstream.production_frame
    actual = upstream.schema.roles.actual_label
    assert actual is not None  # prepare_analysis requires one
    values = frame[actual]
    values.index = frame[_id_column(upstream)].to_numpy()
    return values[values.notna()].groupby(level=0, sort=False).first()


def _link(
    m: ChainModel,
    feature: str,
    up_name: str,
    chain: Chain,
    analyses: Mapping[str, Analysis],
    traces: Mapping[str, ModelTrace],
) -> LinkTrace:
    down, up = analyses[m.name], analyses[up_name]
    for frame, name in (
        (down.baseline_frame, down.names[0]),
        (down.production_frame, down.names[1]),
    ):
        if feature not in frame.columns:
            raise _bad(
                chain.path, m.name, f"inputs.{feature}", f"{name} has no column {feature!r}."
            )
    flags = [_erred_rows(down, upstream_erred(up, s), s) for s in ("baseline", "production")]
    share = share_of_change(down.metric, down.baseline, down.production, *flags)
    rates = [
        float(f[p.valid].mean())
        for f, p in zip(flags, (down.baseline, down.production), strict=True)
    ]
    cf = cf_delta = None
    if m.model_file is not None:
        from tracing.explain import load_model  # LightGBM and skops load only for a model file

        model = load_model(m.model_file)
        cf = counterfactual_metric(
            down, model, feature, _upstream_actuals(up), model_file=m.model_file.name
        )
        cf_delta = cf - traces[m.name].baseline
    return LinkTrace(
        upstream=up_name,
        downstream=m.name,
        feature=feature,
        share_of_change=share,
        erred_baseline=rates[0],
        erred_production=rates[1],
        counterfactual=cf,
        counterfactual_delta=cf_delta,
    )


def trace_chain(chain: Chain, *, limits: ReadLimits | None = None) -> ChainTrace:
    """Compare every model of a chain with its baseline and find the culprit.

    Parameters
    ----------
    chain : Chain
        From `load_chain`.
    limits : ReadLimits, optional
        Caps for reading the files (`tracing.io`).

    Returns
    -------
    ChainTrace
        Per model its comparison, per link its share of the change and counterfactual, the
        culprit and one sentence (module docstring: "Culprit rule").

    Raises
    ------
    DataError
        For unreadable files or roles that do not fit them (the message names the file), or a
        link feature missing from the downstream model's files.
    """
    analyses: dict[str, Analysis] = {}
    traces: dict[str, ModelTrace] = {}
    for m in chain.models:
        try:
            analyses[m.name] = _analysis(m, limits)
        except DataError as exc:
            raise DataError(f"{chain.path.name}, model {m.name!r}: {exc}") from None
        traces[m.name] = _model_trace(m.name, analyses[m.name])
    links = tuple(
        _link(m, feature, up, chain, analyses, traces)
        for m in chain.models
        for feature, up in m.inputs
    )
    culprit, credit, via = _culprit(chain.final.name, traces, links)
    explanation = _explain(chain.final.name, culprit, credit, via, traces)
    return ChainTrace(
        chain=chain,
        models=tuple(traces[m.name] for m in chain.models),
        links=links,
        culprit=culprit,
        explanation=explanation,
    )


def _credit(link: LinkTrace, down: ModelTrace) -> float:
    if link.counterfactual_delta is not None and down.delta:
        return float((down.delta - link.counterfactual_delta) / down.delta)
    return link.share_of_change


def _culprit(
    final: str, traces: Mapping[str, ModelTrace], links: Sequence[LinkTrace]
) -> tuple[str | None, float, LinkTrace | None]:
    """Apply the culprit rule; return the culprit, the credit of the last blame, its link."""
    if traces[final].status is not Status.WORSE:
        return None, math.nan, None
    name, credit, via = final, math.nan, None
    while True:
        into = [
            (_credit(k, traces[name]), k)
            for k in links
            if k.downstream == name and traces[k.upstream].status is Status.WORSE
        ]
        into = [(c, k) for c, k in into if np.isfinite(c)]
        best = max(into, key=lambda ck: ck[0], default=None)
        if best is None or best[0] < CULPRIT_SHARE:
            return name, credit if via else (best[0] if best else math.nan), via
        credit, via = best
        name = via.upstream


def _number(value: float, percent: bool) -> str:
    return f"{value:.1%}" if percent else f"{value:.4g}"


def _change(t: ModelTrace) -> str:
    before, after = _number(t.baseline, t.percent), _number(t.production, t.percent)
    return f"{t.metric_name} went from {before} to {after}"


def _explain(
    final: str,
    culprit: str | None,
    credit: float,
    via: LinkTrace | None,
    traces: Mapping[str, ModelTrace],
) -> str:
    f = traces[final]
    if culprit is None:
        return f"{final}'s {_change(f)} ({f.status}): there is no degradation to trace."
    if via is None:
        tail = (
            f"its inputs explain {credit:.0%} of it"
            if np.isfinite(credit)
            else "its inputs are as good as in the baseline"
        )
        return f"{final}'s {_change(f)} and {tail}, so {final} itself is the culprit."
    c = traces[culprit]
    d = traces[via.downstream]
    if via.counterfactual is not None:
        how = (
            f"with {culprit}'s actual values in place of its predictions {via.downstream}'s "
            f"{d.metric_name} would be {_number(via.counterfactual, d.percent)} "
            f"({credit:.0%} of its change undone)"
        )
    else:
        how = (
            f"{credit:.0%} of {via.downstream}'s change is on rows where {culprit} erred beyond "
            "its baseline error"
        )
    own = f"{culprit}'s own {_change(c)}"
    return f"{final}'s {_change(f)}; {how}, and {own}: {culprit} is the culprit."


# ---------------------------------------------------------------------------------------------
# Output


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def chain_json(trace: ChainTrace) -> dict[str, Any]:
    """Return the JSON document of a chain trace (``tracing/schemas/chain.schema.json``)."""
    return {
        "chain": {
            "file": trace.chain.path.name,
            "final": trace.chain.final.name,
            "models": [
                {
                    "name": m.name,
                    "metric": m.metric,
                    "direction": m.direction,
                    "baseline": _num(m.baseline),
                    "production": _num(m.production),
                    "delta": _num(m.delta),
                    "status": m.status.value,
                }
                for m in trace.models
            ],
            "links": [
                {
                    "upstream": k.upstream,
                    "downstream": k.downstream,
                    "feature": k.feature,
                    "share_of_change": _num(k.share_of_change),
                    "erred_baseline": _num(k.erred_baseline),
                    "erred_production": _num(k.erred_production),
                    "counterfactual": _num(k.counterfactual),
                    "counterfactual_delta": _num(k.counterfactual_delta),
                }
                for k in trace.links
            ],
            "culprit": trace.culprit,
            "explanation": trace.explanation,
            "rules": {"error_quantile": ERROR_QUANTILE, "culprit_share": CULPRIT_SHARE},
        }
    }


def chain_markdown(trace: ChainTrace) -> str:
    """Return the chain trace as Markdown (file contents escaped)."""
    e = escape_markdown
    lines = [f"# Model chain {e(trace.chain.path.name)}", "", e(trace.explanation), ""]
    lines += [
        "| model | metric | baseline | production | delta | status |",
        "|---|---|---|---|---|---|",
    ]
    for m in trace.models:
        vals = [_number(v, m.percent) for v in (m.baseline, m.production)]
        lines.append(
            f"| {e(m.name)} | {e(m.metric_name)} | {vals[0]} | {vals[1]} | {m.delta:+.4g} | "
            f"{m.status.value} |"
        )
    if trace.links:
        lines += [
            "",
            "| upstream | downstream | feature | share of change | counterfactual delta |",
        ]
        lines.append("|---|---|---|---|---|")
        for k in trace.links:
            share = "n/a" if not np.isfinite(k.share_of_change) else f"{k.share_of_change:.0%}"
            cf = "n/a" if k.counterfactual_delta is None else f"{k.counterfactual_delta:+.4g}"
            lines.append(
                f"| {e(k.upstream)} | {e(k.downstream)} | {e(k.feature)} | {share} | {cf} |"
            )
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    """Quote a name for a Graphviz label: a file's text can never close the string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def chain_dot(trace: ChainTrace, colours: Mapping[str, str]) -> str:
    """Return the chain as a Graphviz DOT graph, upstream on the left.

    Parameters
    ----------
    trace : ChainTrace
        The traced chain.
    colours : mapping
        Fill colour per `tracing.vocab.Status` value (the app's palette); missing: grey.

    Returns
    -------
    str
        Each model is a box labelled with its name, metric, baseline -> production and its
        `ModelTrace.marker`; the culprit has a thick border; each link is labelled with its
        feature and share of change.
    """
    lines = ["digraph chain {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled"];']
    for i, m in enumerate(trace.models):
        values = f"{_number(m.baseline, m.percent)} → {_number(m.production, m.percent)}"
        parts = (m.name, f"{m.metric_name}: {values}", m.marker)
        label = "\\n".join(_dot_text(p) for p in parts)  # DOT's own line break
        width = 4 if m.name == trace.culprit else 1
        colour = colours.get(m.status.value, "#9e9e9e")
        lines.append(
            f'  m{i} [label="{label}", fillcolor="{colour}", fontcolor="white", penwidth={width}];'
        )
    index = {m.name: i for i, m in enumerate(trace.models)}
    for k in trace.links:
        share = "n/a" if not np.isfinite(k.share_of_change) else f"{k.share_of_change:.0%}"
        label = _dot_text(f"{k.feature} ({share} of the change)")
        lines.append(f'  m{index[k.upstream]} -> m{index[k.downstream]} [label="{label}"];')
    return "\n".join([*lines, "}"]) + "\n"
