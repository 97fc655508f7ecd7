"""The Pipeline page's engine call, cached: a chain file traced once per content.

`trace` vets a visitor's reference (`tracing.chain.vet_chain_ref`: a ``.toml`` file inside the
data folders, whose files stay inside them too) and caches `tracing.chain.trace_chain` by the
chain file and the size and modification time of every file it names, so an edited file is
traced again. `model_view` is the app view that opens one model's trace.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from tracing.chain import Chain, ChainModel, ChainTrace, chain_dot, load_chain, trace_chain
from tracing.io import visitor_limits
from tracing.sources import DEMO_DIR
from ui import fmt
from ui.state import View

__all__ = ["DEFAULT_CHAIN", "dot", "model_view", "trace"]


def _short(path: Path) -> str:
    """Return a path relative to the server's folder when it is inside it (shorter links)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


DEFAULT_CHAIN = _short(DEMO_DIR / "chain.toml")


def _files(chain: Chain) -> list[Path]:
    out = [chain.path]
    for m in chain.models:
        out += [m.baseline, m.production, *([m.model_file] if m.model_file else [])]
    return out


@st.cache_data(show_spinner=False, max_entries=8)
def _trace(path: str, stamp: tuple[tuple[int, int], ...]) -> ChainTrace:
    del stamp  # only part of the cache key
    return trace_chain(load_chain(path, allowed_only=True), limits=visitor_limits())


def trace(ref: str) -> ChainTrace:
    """Trace the chain file ``ref`` names (cached); `DataError` when it is refused or bad."""
    chain = load_chain(ref, allowed_only=True)
    stamp = tuple((s.st_size, s.st_mtime_ns) for s in (p.stat() for p in _files(chain)))
    return _trace(str(chain.path), stamp)


def model_view(model: ChainModel) -> View:
    """Return the view of one model of the chain: its files, roles and options."""
    view = View(baseline=_short(model.baseline), production=_short(model.production))
    for param, value in model.role_params().items():
        if param != "tags":  # the app's view has no tags parameter; they are detected
            view = view.with_role(param, value)
    return View(
        baseline=view.baseline,
        production=view.production,
        roles=view.roles,
        model_type=model.model_type,
        positive_class=None if model.positive_class is None else str(model.positive_class),
        metric=model.metric,
    )


def dot(trace: ChainTrace) -> str:
    """Return the chain's Graphviz drawing in the app's status colours."""
    return chain_dot(trace, {str(k): v for k, v in fmt.STATUS_COLOURS.items()})
