"""Which features drive the model's output and its errors: SHAP importance rankings.

Users upload prediction logs, not models, so importance comes from what they have. `explain`
picks one **source** (``source="auto"``, overridable) and always says which one it used:

- ``"model"``: a model file in the `skops <https://skops.readthedocs.io>`_ format, explained
  directly: `shap.TreeExplainer` for tree models (scikit-learn trees and forests, LightGBM),
  otherwise a sampled permutation `shap.Explainer` (slow: see `FALLBACK_SAMPLE_SIZE`). Only
  types known to be safe are loaded (`load_model`); pickles are never loaded. ``"auto"`` picks
  it whenever a model file is given.
- ``"logged"``: per-row ``<feature>_shap`` columns (``schema.roles.shap``) used as is, over
  every row. ``"auto"`` picks it when such columns exist.
- ``"surrogate"``: a gradient-boosted tree model trained to reproduce the model's own output
  from the features (binary: the score if there is one, else the label; multiclass: the label;
  regression: the predicted value), explained with exact TreeSHAP: LightGBM's own values (what
  `shap.TreeExplainer` delegates LightGBM models to), computed from per-leaf tables by
  `tracing.explain_shap`. Its **fidelity** on
  held-out rows is R² for scores and values, agreement for labels; a warning is set below
  `FIDELITY_R2_MIN` / `FIDELITY_AGREEMENT_MIN`, or when agreement is no better than always
  predicting the most common label.

Beside it, whenever production rows have actuals, an **error model** is trained on production
rows to predict each row's loss (binary with a score: log loss; classification otherwise:
``1 - correct``; regression: absolute error) and explained the same way: which features drive
the errors *now*.

Tree models are LightGBM boosters (100 trees, 31 leaves; the error model also samples half the
columns per tree, so correlated causes share the credit). scikit-learn's
``HistGradientBoosting*`` handles categoricals natively too, but shap 0.51's TreeExplainer reads
its categorical splits as numeric thresholds (the SHAP values do not add up to the prediction),
while LightGBM's categorical splits are explained exactly (TreeExplainer delegates to LightGBM's
own TreeSHAP). Numeric (and datetime, as epoch nanoseconds) features are used as is; strings,
booleans and categories are ordinal-encoded and declared categorical, with values rarer than
`MIN_CATEGORY_COUNT` rows on both sides pooled into ``"(other)"`` by `tracing.binning.fit_bins`
(values never seen in the training sample join that code too); missing values stay missing.
Columns that are empty, constant, or id-like (no value repeats often enough) are left out and
listed in `Explanation.notes`.

Work is bounded by seeded samples: the surrogate trains on up to `DEFAULT_SAMPLE_SIZE` rows
(half from each dataset), the error model on up to as many production rows with actuals, and
SHAP values are computed on up to `DEFAULT_SHAP_SAMPLE_SIZE` rows per group (production,
baseline, slice, rest, errors). The same inputs and ``random_state`` give the same result.

``quick=True`` is a first pass for a waiting reader (the app's Explain page opens on it): at
most `QUICK_SAMPLE_SIZE` training rows, `QUICK_SHAP_SAMPLE_SIZE` SHAP rows per group and
`QUICK_TREES` trees of `QUICK_LEAVES` leaves, about 20 times less work. Its SHAP values are
exact for its smaller models; the ranking is an approximation of the full pass's
(`Explanation.quick` says which one a result is).

Rankings are mean |SHAP| per feature, in the units of what is explained (score, label
probability, predicted value, or the loss for the error model). For multiclass outputs, each
row's SHAP values are those of the class the explained model predicts for that row.
"""

from __future__ import annotations

import logging
import os
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import skops.io as sio
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, r2_score

from tracing.analysis import Analysis
from tracing.binning import ColumnBins, fit_bins, is_numeric_column
from tracing.errors import DataError
from tracing.explain_shap import BoosterShap
from tracing.memo import per_analysis
from tracing.metrics import Prepared, row_stats
from tracing.options import ExplainOptions
from tracing.schema import ModelType
from tracing.textfmt import quoted
from tracing.vocab import ExplainSource

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "DEFAULT_SHAP_SAMPLE_SIZE",
    "FALLBACK_SAMPLE_SIZE",
    "FIDELITY_AGREEMENT_MIN",
    "FIDELITY_R2_MIN",
    "MIN_CATEGORY_COUNT",
    "QUICK_LEAVES",
    "QUICK_SAMPLE_SIZE",
    "QUICK_SHAP_SAMPLE_SIZE",
    "QUICK_TREES",
    "SOURCES",
    "Explanation",
    "explain",
    "explain_cached",
    "load_model",
]

log = logging.getLogger(__name__)

SOURCES = tuple(ExplainSource)
DEFAULT_SAMPLE_SIZE = ExplainOptions.sample_size
DEFAULT_SHAP_SAMPLE_SIZE = ExplainOptions.shap_sample_size
FALLBACK_SAMPLE_SIZE = 200  # rows per group for the (slow) permutation explainer
FIDELITY_R2_MIN = 0.7
FIDELITY_AGREEMENT_MIN = 0.9
MIN_CATEGORY_COUNT = 10
HOLDOUT_SHARE = 0.2
MIN_TRAIN_ROWS = 20

_TREES = 100
# The quick first pass (``explain(..., quick=True)``): a few seconds instead of tens on a
# shared 2-core server. TreeSHAP costs grow with trees x leaves x depth² per explained row, so
# half the trees with half the leaves, on a quarter of the SHAP rows, is about 20x less work.
QUICK_SAMPLE_SIZE = 5_000
QUICK_SHAP_SAMPLE_SIZE = 500
QUICK_TREES = 50
QUICK_LEAVES = 15
_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
    # One thread: as fast at these sample sizes, and OpenMP threads slow down badly when the
    # cores are busy (parallel test workers, other users of a shared machine).
    "num_threads": 1,
}
# Per-row losses are noisy and heavy-tailed, and one cause often shows in several correlated
# columns (a new merchant, its state, its category). Larger leaves and an L2 penalty keep noise
# columns from fitting outliers; sampling half the columns per tree lets every correlated
# column take its share instead of the first one the trees pick.
_ERROR_PARAMS: dict[str, Any] = {"min_data_in_leaf": 50, "lambda_l2": 1.0, "feature_fraction": 0.5}
# skops flags these as "untrusted" only because they are not in its default list; they are
# scikit-learn/LightGBM classes rebuilt from plain state. Functions are never trusted here.
_TRUSTED_MODULES = ("sklearn.", "lightgbm.")
_TRUSTED_TYPES = frozenset({"collections.OrderedDict"})
_PICKLE_MAGIC = b"\x80"

Array = NDArray[np.float64]
Rows = NDArray[np.intp]
Progress = Callable[[float, str], None]
_ValuesFn = Callable[[pd.DataFrame, Rows], Array]


@dataclass(frozen=True, eq=False)
class Explanation:
    """Feature importance for one analysis.

    Attributes
    ----------
    importance : DataFrame
        One row per feature, sorted by ``rank``. Columns: ``feature``; ``mean_abs_shap``
        (production), ``baseline_mean_abs_shap``, ``change`` (production - baseline),
        ``error_mean_abs_shap`` (error model on production; NaN without one), then
        ``slice_mean_abs_shap`` and ``rest_mean_abs_shap`` when a slice mask was given; ``rank``
        (1 = largest production mean |SHAP|). Features only the error model uses come last.
    source : ExplainSource
        Where the SHAP values come from: ``"model"``, ``"logged"`` or ``"surrogate"``.
    fidelity : float or None
        Surrogate: R² or agreement with the model's output on held-out rows. Model file: the
        same against the logged predictions. None for logged SHAP values.
    fidelity_metric : {"r2", "agreement"} or None
        What ``fidelity`` measures.
    fidelity_warning : str or None
        Why the explanation should not be trusted, when fidelity is low.
    sample_rows : int
        Production rows the production ranking averages over.
    train_rows : int
        Rows the surrogate was trained on (0 for the other sources).
    values : DataFrame
        Per-row SHAP values of sampled production rows, long format for a beeswarm chart:
        ``row`` (position in the production frame), ``feature``, ``shap``, ``value`` (the
        feature value as text, ``"(missing)"`` when missing), ``value_norm`` (numeric features:
        the value scaled to 0..1 between its 5th and 95th percentile in the sample; NaN for
        categorical features and missing values), ``in_slice`` (bool; False without a mask).
    error_values : DataFrame
        The same for the error model (empty without one).
    error_target : str or None
        What the error model predicts (``"log loss"``, ``"error (1 - correct)"``,
        ``"absolute error"``), or None when it was not trained.
    notes : tuple of str
        Columns left out and why, skipped steps.
    quick : bool
        True for the quick first pass (``explain(..., quick=True)``): smaller samples and
        smaller tree models, so the ranking is approximate (each SHAP value is still exact for
        the model it explains). False for the full pass.
    """

    importance: pd.DataFrame
    source: ExplainSource
    fidelity: float | None
    fidelity_metric: str | None
    fidelity_warning: str | None
    sample_rows: int
    train_rows: int
    values: pd.DataFrame
    error_values: pd.DataFrame
    error_target: str | None
    notes: tuple[str, ...]
    quick: bool = False


@dataclass(frozen=True)
class _Trees:
    """Size of the tree models: the full pass or the quick first pass."""

    rounds: int = _TREES
    leaves: int = 31


_FULL = _Trees()
_QUICK = _Trees(rounds=QUICK_TREES, leaves=QUICK_LEAVES)


@dataclass(frozen=True)
class _Source:
    """One way to get per-row SHAP values for rows of either frame."""

    name: str
    features: tuple[str, ...]
    values: _ValuesFn
    exhaustive: bool = False  # logged values: rank over every row, not a sample
    max_group: int | None = None  # a cap below shap_sample_size for slow explainers
    fidelity: float | None = None
    fidelity_metric: str | None = None
    fidelity_warning: str | None = None
    train_rows: int = 0


# ---------------------------------------------------------------------------------------------
# Entry point


def explain(
    analysis: Analysis,
    *,
    source: str = ExplainOptions.source,
    model_path: str | os.PathLike[str] | bytes | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    shap_sample_size: int = DEFAULT_SHAP_SAMPLE_SIZE,
    slice_mask: Sequence[bool] | NDArray[np.bool_] | pd.Series | None = None,
    random_state: int = 0,
    progress: Progress | None = None,
    quick: bool = False,
) -> Explanation:
    """Rank features by mean |SHAP| for production, baseline, a slice, and the errors.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    source : {"auto", "model", "logged", "surrogate"}, default "auto"
        Where SHAP values come from; "auto" = "model" if ``model_path`` is given, else "logged"
        if ``<feature>_shap`` columns exist, else "surrogate".
    model_path : str, path or bytes, optional
        A skops model file (or its bytes, e.g. an upload) for ``source="model"``.
    sample_size : int, default 20,000
        Rows to train the surrogate on (half from each dataset) and the error model on.
    shap_sample_size : int, default 2,000
        Rows per group (production, baseline, slice, rest, errors) to compute SHAP values on.
    slice_mask : array of bool, optional
        One value per production row: rank the slice against the rest of production.
    random_state : int, default 0
        Seed of every sample and tree model.
    progress : callable (fraction, message) -> None, optional
        Called as work proceeds (fraction from 0 to 1), e.g. for a progress bar.
    quick : bool, default False
        A quick first pass: at most `QUICK_SAMPLE_SIZE` training rows and
        `QUICK_SHAP_SAMPLE_SIZE` SHAP rows per group, and tree models of `QUICK_TREES` trees
        with `QUICK_LEAVES` leaves. About 20x less work; the ranking is approximate and
        ``Explanation.quick`` says so.

    Returns
    -------
    Explanation

    Raises
    ------
    DataError
        No usable feature, no SHAP columns for ``source="logged"``, a model file that is not
        skops or holds types not known to be safe, a mask of the wrong length.

    Examples
    --------
    >>> from tracing.io import read_table
    >>> from tracing.analysis import prepare_analysis
    >>> a = prepare_analysis(read_table("demo_data/fraud_training.parquet"),
    ...                      read_table("demo_data/fraud_production.parquet"))
    >>> e = explain(a, sample_size=4_000, shap_sample_size=500)
    >>> e.source, e.error_target
    ('surrogate', 'log loss')
    """
    report = progress or _quiet
    _check_sizes(sample_size, shap_sample_size)
    trees = _QUICK if quick else _FULL
    if quick:
        sample_size = min(sample_size, QUICK_SAMPLE_SIZE)
        shap_sample_size = min(shap_sample_size, QUICK_SHAP_SAMPLE_SIZE)
    mask = _mask(slice_mask, analysis)
    rng = _Rngs(random_state)
    chosen = _choose(source, analysis, model_path)
    report(0.0, "sampling rows")
    train = _train_rows(analysis, sample_size, rng)
    encoder, dropped = _fit_encoder(analysis, *train)
    report(0.1, f"preparing the {chosen} explanation")
    if chosen is ExplainSource.LOGGED:
        src = _logged_source(analysis)
    elif chosen is ExplainSource.MODEL:
        assert model_path is not None
        src = _model_source(analysis, load_model(model_path), shap_sample_size, rng)
    else:
        _require_features(encoder, dropped, analysis)
        src = _surrogate_source(analysis, encoder, *train, rng, trees)
    report(0.4, "computing SHAP values for production and baseline")
    size = min(shap_sample_size, src.max_group or shap_sample_size)
    groups = _group_values(analysis, src, mask, size, rng)
    report(0.6, "training the error model")
    err = _error_source(analysis, encoder, sample_size, rng, trees)
    if err is not None:
        report(0.8, "computing SHAP values for the error model")
        groups["error"] = _explain_rows(
            analysis.production_frame, err.src, err.rows, shap_sample_size, rng.get("error_shap")
        )
    notes = (f"left out of the explanation: {'; '.join(dropped)}",) if dropped else ()
    result = _assemble(analysis, src, err, groups, mask, notes)
    report(1.0, "done")
    return replace(result, quick=quick)


def _assemble(
    analysis: Analysis,
    src: _Source,
    err: _ErrorModel | None,
    groups: Mapping[str, _Group],
    mask: NDArray[np.bool_] | None,
    notes: tuple[str, ...],
) -> Explanation:
    prod = analysis.production_frame
    error_values = _long_empty()
    if err is not None:
        error_values = _long(prod, *groups["error"], err.src.features, mask)
    else:
        notes += (
            f"no error model: fewer than {MIN_TRAIN_ROWS} production rows have an actual "
            "and a usable feature.",
        )
    return Explanation(
        importance=_importance(src, groups, err.src if err else None, mask),
        source=ExplainSource(src.name),
        fidelity=src.fidelity,
        fidelity_metric=src.fidelity_metric,
        fidelity_warning=src.fidelity_warning,
        sample_rows=len(groups["production"][0]),
        train_rows=src.train_rows,
        values=_long(prod, *groups["production"], src.features, mask),
        error_values=error_values,
        error_target=err.target if err else None,
        notes=notes,
    )


def _quiet(fraction: float, message: str) -> None:
    log.debug("explain %.0f%%: %s", 100 * fraction, message)


def _check_sizes(sample_size: int, shap_sample_size: int) -> None:
    if sample_size < MIN_TRAIN_ROWS:
        raise DataError(f"sample_size must be at least {MIN_TRAIN_ROWS}; got {sample_size}.")
    if shap_sample_size < 1:
        raise DataError(f"shap_sample_size must be at least 1; got {shap_sample_size}.")


def _choose(source: str, analysis: Analysis, model_path: object) -> ExplainSource:
    if source not in SOURCES:
        raise DataError(
            f"unknown explanation source {source!r}; choose one of: {', '.join(SOURCES)}."
        )
    if source == "model" and model_path is None:
        raise DataError("source 'model' needs a model file; pass model_path (skops format).")
    if source == "logged" and not analysis.schema.roles.shap:
        raise DataError(
            "source 'logged' needs per-row SHAP columns named <feature>_shap (e.g. "
            "'amount_shap'); none were found. Use source 'surrogate' instead."
        )
    if source != ExplainSource.AUTO:
        return ExplainSource(source)
    if model_path is not None:
        return ExplainSource.MODEL
    return ExplainSource.LOGGED if analysis.schema.roles.shap else ExplainSource.SURROGATE


def _mask(mask: Any, analysis: Analysis) -> NDArray[np.bool_] | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    n = len(analysis.production_frame)
    if arr.shape != (n,) or arr.dtype != np.bool_:
        raise DataError(
            f"the slice mask must hold one True/False per production row ({n:,}); got "
            f"shape {arr.shape} of {arr.dtype}."
        )
    return arr


class _Rngs:
    """Independent seeded streams per purpose, so one sample size does not shift the others."""

    _NAMES = (
        "train_b",
        "train_p",
        "holdout",
        "production",
        "baseline",
        "slice",
        "rest",
        "error_train",
        "error_shap",
        "background",
    )

    def __init__(self, random_state: int) -> None:
        self.seed = int(random_state) % 2**31
        children = np.random.SeedSequence(random_state).spawn(len(self._NAMES))
        self._seqs = dict(zip(self._NAMES, children, strict=True))

    def get(self, name: str) -> np.random.Generator:
        return np.random.default_rng(self._seqs[name])


def _sample(candidates: Rows, size: int, rng: np.random.Generator) -> Rows:
    if len(candidates) <= size:
        return candidates
    return np.sort(rng.choice(candidates, size=size, replace=False))


def _train_rows(analysis: Analysis, size: int, rng: _Rngs) -> tuple[Rows, Rows]:
    n_b, n_p = len(analysis.baseline_frame), len(analysis.production_frame)
    take_b = min(n_b, max(size // 2, size - n_p))
    take_p = min(n_p, size - take_b)
    return (
        _sample(np.arange(n_b), take_b, rng.get("train_b")),
        _sample(np.arange(n_p), take_p, rng.get("train_p")),
    )


# ---------------------------------------------------------------------------------------------
# Features


@dataclass(frozen=True)
class _Encoder:
    """Features as a float matrix: numeric as is, categorical as codes, missing as NaN."""

    columns: tuple[str, ...]
    bins: tuple[ColumnBins | None, ...]  # None for numeric columns

    @property
    def categorical(self) -> list[int]:
        return [j for j, b in enumerate(self.bins) if b is not None]

    def transform(self, frame: pd.DataFrame, rows: Rows) -> Array:
        part = _take(frame, rows, self.columns)
        out = np.empty((len(rows), len(self.columns)))
        for j, (col, bins) in enumerate(zip(self.columns, self.bins, strict=True)):
            out[:, j] = _numbers(part[col]) if bins is None else _category_codes(part[col], bins)
        return out


def _take(frame: pd.DataFrame, rows: Rows, columns: Sequence[str]) -> pd.DataFrame:
    # Select the sampled rows before the columns: a 20-column copy of 1M rows costs more.
    positions = frame.columns.get_indexer(pd.Index(list(columns)))
    return frame.iloc[rows, positions]


def _numbers(series: pd.Series) -> Array:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        out = series.astype("int64").to_numpy(dtype=float)
        return np.where(series.isna().to_numpy(), np.nan, out)
    return np.asarray(series.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _category_codes(series: pd.Series, bins: ColumnBins) -> Array:
    codes = np.asarray(pd.Index(list(bins.categories)).get_indexer(series), dtype=float)
    missing = series.isna().to_numpy()
    codes[(codes < 0) & ~missing] = len(bins.categories)  # pooled or unseen: "(other)"
    codes[missing] = np.nan
    return codes


def _min_count(n_rows: int) -> int:
    # Small samples cannot have 10 rows per category; 1% of the rows (at least 2) then.
    return max(2, min(MIN_CATEGORY_COUNT, n_rows // 100))


def _fit_encoder(
    analysis: Analysis, train_b: Rows, train_p: Rows
) -> tuple[_Encoder, tuple[str, ...]]:
    """Encode the usable features; also return "column (reason)" for each one left out."""
    features = analysis.schema.roles.features
    base = _take(analysis.baseline_frame, train_b, features)
    prod = _take(analysis.production_frame, train_p, features)
    min_count = _min_count(len(base) + len(prod))
    kept: list[tuple[str, ColumnBins | None]] = []
    dropped: list[str] = []
    for col in features:
        bins, reason = _column_encoding(base[col], prod[col], min_count)
        if reason:
            dropped.append(f"{col} ({reason})")
        else:
            kept.append((col, bins))
    encoder = _Encoder(tuple(c for c, _ in kept), tuple(b for _, b in kept))
    return encoder, tuple(dropped)


def _column_encoding(
    base: pd.Series, prod: pd.Series, min_count: int
) -> tuple[ColumnBins | None, str | None]:
    both = pd.concat([base, prod], ignore_index=True)
    has_missing = bool(both.isna().any())
    distinct = both.nunique(dropna=True)
    if distinct == 0:
        return None, "empty: every value is missing"
    if distinct == 1 and not has_missing:
        return None, f"constant: every value is {quoted(both.dropna().iloc[0])}"
    if is_numeric_column(both):
        return None, None
    bins = fit_bins(base, prod, min_count=min_count)
    if not bins.categories:
        return None, f"id-like: no value occurs {min_count} times in the sample"
    return bins, None


def _require_features(encoder: _Encoder, dropped: tuple[str, ...], analysis: Analysis) -> None:
    if encoder.columns:
        return
    features = analysis.schema.roles.features
    if not features:
        raise DataError(
            "no feature columns to explain: every column has another role; name the model "
            "inputs with --features (or pick them on the Data page)."
        )
    raise DataError(
        f"no usable feature columns to explain: {'; '.join(dropped)}. "
        "Choose the model inputs with --features (or on the Data page)."
    )


# ---------------------------------------------------------------------------------------------
# Tree models


def _fit_tree(
    x: Array,
    y: Array,
    categorical: list[int],
    *,
    num_class: int,
    seed: int,
    trees: _Trees = _FULL,
    extra: Mapping[str, Any] | None = None,
) -> lgb.Booster:
    params = {**_PARAMS, "num_leaves": trees.leaves, **(extra or {}), "seed": seed}
    if num_class > 1:
        params.update(objective="multiclass", num_class=num_class)
    else:
        params["objective"] = "regression"
    names = [f"f{j}" for j in range(x.shape[1])]  # user column names may upset LightGBM
    data = lgb.Dataset(x, y, feature_name=names, categorical_feature=categorical)
    return lgb.train(params, data, num_boost_round=trees.rounds)


def _tree_values(booster: lgb.Booster, x: Array, shap: BoosterShap | None = None) -> Array:
    """Exact TreeSHAP values, equal to LightGBM's own (what `shap.TreeExplainer` returns for it).

    shap's TreeExplainer delegates LightGBM models to ``predict(pred_contrib=True)``; ours
    computes the same values from per-leaf tables (`tracing.explain_shap`), about three times
    faster on a few thousand rows, and checks them against LightGBM's leaves.
    """
    n, k = x.shape
    if n == 0:
        return np.zeros((0, k))
    phi = (shap or BoosterShap(booster))(x)
    if phi.shape[1] == k + 1:
        return phi[:, :-1]  # the last column is the expected value
    # Multiclass: one block of k values + expected value per class; keep the predicted class's.
    per_class = phi.reshape(n, phi.shape[1] // (k + 1), k + 1)
    picked = np.argmax(np.asarray(booster.predict(x)), axis=1)
    return per_class[np.arange(n), picked, :-1]


def _booster_values(booster: lgb.Booster, encoder: _Encoder) -> _ValuesFn:
    shap = BoosterShap(booster)  # its tables serve every group the booster explains

    def values(frame: pd.DataFrame, rows: Rows) -> Array:
        return _tree_values(booster, encoder.transform(frame, rows), shap)

    return values


# ---------------------------------------------------------------------------------------------
# Source: surrogate


def _model_output(prep: Prepared, frame: pd.DataFrame) -> tuple[Array, NDArray[np.bool_], str]:
    """Return the model's own output to imitate, the rows where it is known, and its kind."""
    schema = prep.schema
    if schema.model_type is ModelType.BINARY:
        if prep.score is not None:
            return prep.score, ~np.isnan(prep.score), "score"
        label = schema.roles.prediction_label
        assert label is not None
        return prep.y_pred.astype(float), frame[label].notna().to_numpy(), "label"
    if schema.model_type is ModelType.MULTICLASS:
        return prep.y_pred.astype(float), prep.y_pred >= 0, "class"
    return prep.y_pred.astype(float), ~np.isnan(prep.y_pred), "value"


def _surrogate_source(
    analysis: Analysis,
    encoder: _Encoder,
    train_b: Rows,
    train_p: Rows,
    rng: _Rngs,
    trees: _Trees = _FULL,
) -> _Source:
    xs, ys = [], []
    kind = "value"
    for prep, frame, rows in (
        (analysis.baseline, analysis.baseline_frame, train_b),
        (analysis.production, analysis.production_frame, train_p),
    ):
        y, known, kind = _model_output(prep, frame)
        rows = rows[known[rows]]
        xs.append(encoder.transform(frame, rows))
        ys.append(y[rows])
    x, y = np.vstack(xs), np.concatenate(ys)
    if len(y) < MIN_TRAIN_ROWS:
        raise DataError(
            f"only {len(y)} rows have a prediction; the surrogate needs at least "
            f"{MIN_TRAIN_ROWS}. Check the prediction column role."
        )
    order = rng.get("holdout").permutation(len(y))
    n_hold = max(1, int(len(y) * HOLDOUT_SHARE))
    hold, train = order[:n_hold], order[n_hold:]
    classes = np.unique(y[train]) if kind == "class" else np.zeros(0)
    multi = len(classes) > 1
    y_fit = np.searchsorted(classes, y[train]).astype(float) if multi else y[train]
    booster = _fit_tree(
        x[train],
        y_fit,
        encoder.categorical,
        num_class=len(classes) if multi else 1,
        seed=rng.seed,
        trees=trees,
    )
    fitted = np.asarray(booster.predict(x[hold]))
    if fitted.ndim == 2:
        fitted = classes[np.argmax(fitted, axis=1)]
    metric, fidelity = _fidelity(kind, y[hold], fitted, analysis.schema.threshold)
    warning = _fidelity_warning(metric, fidelity, y[train], kind)
    return _Source(
        name="surrogate",
        features=encoder.columns,
        values=_booster_values(booster, encoder),
        fidelity=fidelity,
        fidelity_metric=metric,
        fidelity_warning=warning,
        train_rows=len(train),
    )


def _fidelity(kind: str, truth: Array, fitted: Array, threshold: float) -> tuple[str, float]:
    if kind in ("score", "value"):
        if len(truth) < 2 or np.all(truth == truth[0]):
            return "r2", float("nan")
        return "r2", float(r2_score(truth, fitted))
    if kind == "label":
        fitted = (fitted >= threshold).astype(float)
    return "agreement", float(accuracy_score(truth, fitted))


def _fidelity_warning(metric: str, value: float, train_y: Array, kind: str) -> str | None:
    if len(train_y) and np.all(train_y == train_y[0]):
        return "the model's output is constant on the sampled rows; there is nothing to explain."
    if np.isnan(value):
        return None
    if metric == "r2" and value < FIDELITY_R2_MIN:
        return (
            f"the surrogate reproduces the model's {kind}s poorly (R² {value:.2f} < "
            f"{FIDELITY_R2_MIN}); its ranking may not reflect the model. Upload logged SHAP "
            "values or a model file if you can."
        )
    if metric == "agreement":
        _, counts = np.unique(train_y, return_counts=True)
        majority = counts.max() / counts.sum()
        if value < FIDELITY_AGREEMENT_MIN or (value <= majority < 1):
            return (
                f"the surrogate agrees with the model's labels on {value:.1%} of held-out "
                f"rows (warn below {FIDELITY_AGREEMENT_MIN:.0%} or at the most common "
                f"label's share, {majority:.1%}); its ranking may not reflect the model."
            )
    return None


# ---------------------------------------------------------------------------------------------
# Source: logged SHAP columns


def _logged_source(analysis: Analysis) -> _Source:
    pairs = analysis.schema.roles.shap
    for frame, name in (
        (analysis.baseline_frame, analysis.names[0]),
        (analysis.production_frame, analysis.names[1]),
    ):
        for _, col in pairs:
            if not is_numeric_column(frame[col]):
                raise DataError(
                    f"{name}: SHAP column {col!r} must be numeric (got {frame[col].dtype}); "
                    "fix the values or rename the column so it is not read as SHAP values."
                )
    columns = [c for _, c in pairs]

    def values(frame: pd.DataFrame, rows: Rows) -> Array:
        return np.asarray(
            _take(frame, rows, columns).to_numpy(dtype=float, na_value=np.nan), dtype=float
        )

    return _Source(
        name="logged", features=tuple(f for f, _ in pairs), values=values, exhaustive=True
    )


# ---------------------------------------------------------------------------------------------
# Source: a model file


def load_model(model: str | os.PathLike[str] | bytes) -> Any:
    """Load a skops model file, refusing any type that is not known to be safe.

    Types skops trusts by default load as is; scikit-learn and LightGBM classes (not
    functions) that skops does not list are trusted too. Anything else (custom code,
    arbitrary functions) is refused. Pickle files are never loaded: they can run code.

    Parameters
    ----------
    model : str, path or bytes
        Path to a ``.skops`` file, or its content (an upload).

    Returns
    -------
    object
        The estimator.

    Raises
    ------
    DataError
        If the file is not a skops file or holds untrusted types (listed in the message).
    """
    name = "the uploaded model" if isinstance(model, bytes) else os.fspath(model)
    head = model[:1] if isinstance(model, bytes) else _head(model)
    fix = "save it with skops.io.dump(model, 'model.skops')"
    if head == _PICKLE_MAGIC:
        raise DataError(
            f"{name} is a pickle; pickles are never loaded (they can run code); {fix}."
        )
    kwargs: dict[str, Any] = {"data": model} if isinstance(model, bytes) else {"file": model}
    try:
        untrusted = sio.get_untrusted_types(**kwargs)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DataError(f"{name} is not a skops model file ({exc}); {fix}.") from None
    refused = [t for t in untrusted if not _trusted(t)]
    if refused:
        raise DataError(
            f"{name} holds types that are not known to be safe to load: {', '.join(refused)}; "
            "rebuild the model from scikit-learn/LightGBM parts only (no custom functions) "
            "and save it again with skops."
        )
    if isinstance(model, bytes):
        return sio.loads(model, trusted=untrusted)
    return sio.load(model, trusted=untrusted)


def _head(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(1)


def _trusted(type_name: str) -> bool:
    if type_name in _TRUSTED_TYPES:
        return True
    last = type_name.rsplit(".", 1)[-1]
    return type_name.startswith(_TRUSTED_MODULES) and last[:1].isupper()


def _model_columns(model: Any, analysis: Analysis) -> tuple[str, ...]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        cols = tuple(str(c) for c in names)
        missing = [
            c
            for c in cols
            if c not in analysis.production_frame.columns
            or c not in analysis.baseline_frame.columns
        ]
        if missing:
            raise DataError(
                f"the model needs columns that are not in both files: {', '.join(missing)}; "
                "upload the model trained on these columns."
            )
        return cols
    features = analysis.schema.roles.features
    expected = getattr(model, "n_features_in_", len(features))
    if expected != len(features):
        raise DataError(
            f"the model expects {expected} input columns but {len(features)} feature columns "
            f"were found ({', '.join(features)}); name them in the model's order with --features."
        )
    return tuple(features)


class _ModelOutput:
    """What is explained for a loaded model: a probability, class probabilities, or a value."""

    def __init__(self, model: Any, analysis: Analysis) -> None:
        self.model = model
        schema = analysis.schema
        self.mtype = schema.model_type
        self.pos = -1
        self.classes: list[Any] = []
        if self.mtype is ModelType.REGRESSION:
            return
        if not hasattr(model, "predict_proba"):
            raise DataError(
                f"the model file holds a {type(model).__name__} without predict_proba; a "
                f"{self.mtype.value} model must output class probabilities to be explained."
            )
        self.classes = list(model.classes_)
        if self.mtype is ModelType.BINARY:
            text = [str(c) for c in self.classes]
            pos = str(schema.positive_class)
            self.pos = text.index(pos) if pos in text else len(self.classes) - 1

    def __call__(self, x: Any) -> Array:
        if self.mtype is ModelType.REGRESSION:
            return np.asarray(self.model.predict(x), dtype=float)
        proba = np.asarray(self.model.predict_proba(x), dtype=float)
        return proba[:, self.pos] if self.mtype is ModelType.BINARY else proba

    def pick(self, vals: Array, outputs: Array) -> Array:
        """Reduce per-class SHAP values (rows, features, classes) to one value per feature."""
        if vals.ndim == 2:
            # One output for a binary classifier: the log-odds of classes_[1].
            return -vals if self.mtype is ModelType.BINARY and self.pos == 0 else vals
        if self.mtype is ModelType.BINARY:
            return vals[:, :, self.pos]
        picked = np.argmax(outputs, axis=1)
        return vals[np.arange(len(vals)), :, picked]


def _model_source(analysis: Analysis, model: Any, shap_size: int, rng: _Rngs) -> _Source:
    columns = _model_columns(model, analysis)
    output = _ModelOutput(model, analysis)
    named = getattr(model, "feature_names_in_", None) is not None
    numeric = all(is_numeric_column(analysis.production_frame[c]) for c in columns)
    explainer = _tree_explainer(model) if numeric else None
    if explainer is not None:
        values = _tree_model_values(explainer, output, columns, named)
        cap = None
    else:
        background = _take(
            analysis.baseline_frame,
            _sample(np.arange(len(analysis.baseline_frame)), 50, rng.get("background")),
            columns,
        )
        values = _permutation_values(output, columns, named, background, rng.seed)
        cap = FALLBACK_SAMPLE_SIZE
    metric, fidelity, kind = _model_fidelity(analysis, output, columns, named, shap_size, rng)
    warning = None
    if not np.isnan(fidelity) and fidelity < (
        FIDELITY_R2_MIN if metric == "r2" else FIDELITY_AGREEMENT_MIN
    ):
        warning = (
            f"the model file reproduces the logged {kind}s poorly ({metric} "
            f"{fidelity:.2f}); it may not be the model that made these predictions."
        )
    return _Source(
        name="model",
        features=columns,
        values=values,
        max_group=cap,
        fidelity=fidelity,
        fidelity_metric=metric,
        fidelity_warning=warning,
    )


def _tree_explainer(model: Any) -> Any:
    import shap  # only a model file needs shap itself (about 1 s to import)

    try:
        return shap.TreeExplainer(model)
    except Exception:  # shap raises several exception types for models it cannot walk
        log.info("TreeExplainer does not support %s; using permutation SHAP", type(model).__name__)
        return None


def _model_input(part: pd.DataFrame, columns: Sequence[str], named: bool) -> Any:
    """Rows as the model takes them: floats when every column is numeric, else the raw values."""
    if not all(is_numeric_column(part[c]) for c in columns):
        return part.reset_index(drop=True) if named else part.to_numpy(dtype=object)
    matrix = np.zeros((0, len(columns)))
    if len(part):
        matrix = np.column_stack([_numbers(part[c]) for c in columns])
    return pd.DataFrame(matrix, columns=list(columns)) if named else matrix


def _tree_model_values(
    explainer: Any, output: _ModelOutput, columns: Sequence[str], named: bool
) -> _ValuesFn:
    def values(frame: pd.DataFrame, rows: Rows) -> Array:
        if not len(rows):
            return np.zeros((0, len(columns)))
        x = _model_input(_take(frame, rows, columns), columns, named)
        vals = np.asarray(explainer.shap_values(x), dtype=float)
        return output.pick(vals, output(x) if vals.ndim == 3 else np.zeros(0))

    return values


def _permutation_values(
    output: _ModelOutput,
    columns: Sequence[str],
    named: bool,
    background: pd.DataFrame,
    seed: int,
) -> _ValuesFn:
    """Permutation SHAP on raw columns: shap's maskers need numbers, so strings become codes."""

    def values(frame: pd.DataFrame, rows: Rows) -> Array:
        if not len(rows):
            return np.zeros((0, len(columns)))
        part = _take(frame, rows, columns)
        cats = {
            c: pd.unique(pd.concat([background[c], part[c]]).dropna())
            for c in columns
            if not is_numeric_column(part[c])
        }

        def encode(df: pd.DataFrame) -> Array:
            return np.column_stack(
                [
                    pd.Categorical(df[c], categories=cats[c]).codes.astype(float)
                    if c in cats
                    else _numbers(df[c])
                    for c in columns
                ]
            )

        def decode(matrix: Array) -> Any:
            out = pd.DataFrame(matrix, columns=list(columns))
            for c, cat in cats.items():
                codes = np.nan_to_num(out[c].to_numpy(), nan=-1).astype(int)
                out[c] = pd.Categorical.from_codes(codes, categories=cat).astype(object)
            return out if named else out.to_numpy()

        def f(matrix: Array) -> Array:
            return output(decode(matrix))

        x = encode(part)
        import shap

        masker = shap.maskers.Independent(encode(background), max_samples=len(background))
        n_evals = 3 * (2 * len(columns) + 1)  # three antithetic permutations per row
        result = shap.Explainer(f, masker, algorithm="permutation", seed=seed)(
            x, max_evals=n_evals, batch_size=50, silent=True
        )
        vals = np.asarray(result.values, dtype=float)
        return output.pick(vals, f(x) if vals.ndim == 3 else np.zeros(0))

    return values


def _model_fidelity(
    analysis: Analysis,
    output: _ModelOutput,
    columns: Sequence[str],
    named: bool,
    size: int,
    rng: _Rngs,
) -> tuple[str, float, str]:
    """How well the model file reproduces the logged predictions on sampled production rows."""
    prep, frame = analysis.production, analysis.production_frame
    logged, known, kind = _model_output(prep, frame)
    rows = _sample(np.flatnonzero(known), size, rng.get("production"))
    if not len(rows):
        return "r2", float("nan"), kind
    out = output(_model_input(_take(frame, rows, columns), columns, named))
    if kind == "class":
        labels = np.asarray(output.classes, dtype=object)[np.argmax(out, axis=1)]
        codes = pd.Categorical(labels, categories=list(analysis.schema.classes)).codes
        out = codes.astype(float)
    metric, fidelity = _fidelity(kind, logged[rows], out, analysis.schema.threshold)
    return metric, fidelity, kind


# ---------------------------------------------------------------------------------------------
# Error model


@dataclass(frozen=True)
class _ErrorModel:
    src: _Source
    target: str
    rows: Rows  # production rows the error is defined on (the SHAP rows are drawn from them)


def _error_target(prep: Prepared, rows: Rows) -> tuple[Array, str]:
    sub = replace(
        prep,
        valid=prep.valid[rows],
        y_true=prep.y_true[rows],
        y_pred=prep.y_pred[rows],
        score=None if prep.score is None else prep.score[rows],
        n_rows=len(rows),
    )
    stats = row_stats(sub)
    if prep.schema.model_type is ModelType.REGRESSION:
        return stats["abs_err"].to_numpy(), "absolute error"
    if "logloss" in stats:
        return stats["logloss"].to_numpy(), "log loss"
    return 1.0 - stats["correct"].to_numpy(), "error (1 - correct)"


def _error_rows(prep: Prepared) -> Rows:
    if prep.score is not None and prep.schema.model_type is ModelType.BINARY:
        return np.flatnonzero(prep.valid & ~np.isnan(prep.score))  # log loss needs a score
    return np.flatnonzero(prep.valid)


def _error_source(
    analysis: Analysis, encoder: _Encoder, size: int, rng: _Rngs, trees: _Trees = _FULL
) -> _ErrorModel | None:
    prep = analysis.production
    if not encoder.columns:
        return None
    candidates = _error_rows(prep)
    if len(candidates) < MIN_TRAIN_ROWS:
        return None
    rows = _sample(candidates, size, rng.get("error_train"))
    y, target = _error_target(prep, rows)
    x = encoder.transform(analysis.production_frame, rows)
    booster = _fit_tree(
        x, y, encoder.categorical, num_class=1, seed=rng.seed, trees=trees, extra=_ERROR_PARAMS
    )
    src = _Source(
        name="error",
        features=encoder.columns,
        values=_booster_values(booster, encoder),
        train_rows=len(rows),
    )
    return _ErrorModel(src=src, target=target, rows=candidates)


# ---------------------------------------------------------------------------------------------
# Rankings and long frames


_Group = tuple[Rows, Array]


def _explain_rows(
    frame: pd.DataFrame, src: _Source, candidates: Rows, size: int, rng: np.random.Generator
) -> _Group:
    rows = candidates if src.exhaustive else _sample(candidates, size, rng)
    return rows, src.values(frame, rows)


def _group_values(
    analysis: Analysis, src: _Source, mask: NDArray[np.bool_] | None, size: int, rng: _Rngs
) -> dict[str, _Group]:
    prod, base = analysis.production_frame, analysis.baseline_frame
    groups = {
        "production": _explain_rows(prod, src, np.arange(len(prod)), size, rng.get("production")),
        "baseline": _explain_rows(base, src, np.arange(len(base)), size, rng.get("baseline")),
    }
    if mask is not None:
        groups["slice"] = _explain_rows(prod, src, np.flatnonzero(mask), size, rng.get("slice"))
        groups["rest"] = _explain_rows(prod, src, np.flatnonzero(~mask), size, rng.get("rest"))
    return groups


def _mean_abs(vals: Array) -> Array:
    if not len(vals):
        return np.full(vals.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN logged column: NaN is honest
        return np.asarray(np.nanmean(np.abs(vals), axis=0), dtype=float)


def _importance(
    src: _Source, groups: Mapping[str, _Group], err: _Source | None, mask: NDArray[np.bool_] | None
) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "feature": list(src.features),
            "mean_abs_shap": _mean_abs(groups["production"][1]),
            "baseline_mean_abs_shap": _mean_abs(groups["baseline"][1]),
        }
    )
    table["change"] = table["mean_abs_shap"] - table["baseline_mean_abs_shap"]
    error = pd.DataFrame(
        {
            "feature": list(err.features) if err else [],
            "error_mean_abs_shap": _mean_abs(groups["error"][1]) if err else np.zeros(0),
        }
    )
    table = table.merge(error, on="feature", how="outer", sort=False)
    order = {f: i for i, f in enumerate((*src.features, *(err.features if err else ())))}
    table = table.sort_values("feature", key=lambda s: s.map(order)).reset_index(drop=True)
    if mask is not None:
        for name in ("slice", "rest"):
            means = dict(zip(src.features, _mean_abs(groups[name][1]), strict=True))
            table[f"{name}_mean_abs_shap"] = table["feature"].map(means).astype(float)
    table = table.sort_values(
        "mean_abs_shap", ascending=False, kind="mergesort", na_position="last"
    ).reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table


_LONG_COLUMNS = ["row", "feature", "shap", "value", "value_norm", "in_slice"]


def _long_empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": np.zeros(0, dtype=np.int64),
            "feature": pd.Series([], dtype=object),
            "shap": np.zeros(0),
            "value": pd.Series([], dtype=object),
            "value_norm": np.zeros(0),
            "in_slice": np.zeros(0, dtype=bool),
        }
    )


def _long(
    frame: pd.DataFrame,
    rows: Rows,
    vals: Array,
    features: Sequence[str],
    mask: NDArray[np.bool_] | None,
) -> pd.DataFrame:
    if not len(rows) or not len(features):
        return _long_empty()
    part = _take(frame, rows, list(dict.fromkeys(features)))
    texts, norms = [], []
    for feature in features:
        series = part[feature]
        texts.append(
            series.astype(object)
            .where(series.notna(), "(missing)")
            .astype(str)
            .to_numpy(dtype=object)
        )
        norms.append(_normalised(series))
    n, k = len(rows), len(features)
    in_slice = mask[rows] if mask is not None else np.zeros(n, dtype=bool)
    return pd.DataFrame(
        {
            "row": np.tile(rows.astype(np.int64), k),
            "feature": np.repeat(np.asarray(features, dtype=object), n),
            "shap": vals.T.reshape(-1),
            "value": np.concatenate(texts),
            "value_norm": np.concatenate(norms),
            "in_slice": np.tile(in_slice, k),
        }
    )[_LONG_COLUMNS]


def _normalised(series: pd.Series) -> Array:
    if not is_numeric_column(series):
        return np.full(len(series), np.nan)
    x = _numbers(series)
    finite = x[np.isfinite(x)]
    if not len(finite):
        return np.full(len(x), np.nan)
    # shap's beeswarm colours between the 5th and 95th percentile so outliers do not wash out.
    lo, hi = np.percentile(finite, [5, 95])
    if hi <= lo:
        return np.where(np.isnan(x), np.nan, 0.5)
    return np.asarray(np.clip((x - lo) / (hi - lo), 0.0, 1.0), dtype=float)


# ---------------------------------------------------------------------------------------------
# Report wiring


@per_analysis
def _explain_once(
    analysis: Analysis,
    *,
    source: str,
    model_path: Any,
    sample_size: int,
    shap_sample_size: int,
    random_state: int,
) -> Explanation:
    return explain(
        analysis,
        source=source,
        model_path=model_path,
        sample_size=sample_size,
        shap_sample_size=shap_sample_size,
        random_state=random_state,
    )


def explain_cached(
    analysis: Analysis, options: ExplainOptions | None = None, *, random_state: int = 0
) -> Explanation:
    """`explain` with the report's options, reusing the last result for the same inputs.

    Parameters
    ----------
    analysis : Analysis
        The baseline/production pair.
    options : ExplainOptions, optional
        Source, model file and sample sizes (defaults: `ExplainOptions`).
    random_state : int, default 0
        Seed of the samples.
    """
    opts = options or ExplainOptions()
    return _explain_once(
        analysis,
        source=opts.source,
        model_path=opts.model_path,
        sample_size=opts.sample_size,
        shap_sample_size=opts.shap_sample_size,
        random_state=int(random_state),
    )
