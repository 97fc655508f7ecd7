"""Reuse of engine results within one analysis: report sections share work.

The root-cause summary needs the slices, drift, quality findings and label conflicts that their
own report sections have just computed. `per_analysis` remembers results of an engine function
per analysis *object* (weakly: a finished analysis is not kept alive, and its results are
dropped with it) and per keyword options, so the second call is free. Calls with unhashable
options (masks) are not cached. Results are shared, not copied: callers must not modify them.

Results live in `tracing.bytecache.process_store`, so they count against ``TRACING_CACHE_MB``
with the app's caches; each is charged for what it adds to the analysis (`nbytes` without the
analysis's own objects), and the least recently used go first.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from tracing.bytecache import nbytes, process_store, reachable

__all__ = ["per_analysis"]

P = ParamSpec("P")
R = TypeVar("R")


def per_analysis(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate ``fn(analysis, **options)`` to reuse its results for the same inputs."""
    signature = inspect.signature(fn)
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if len(args) != 1:
            return fn(*args, **kwargs)
        analysis = args[0]
        # Bind defaults so f(a) and f(a, bins=10) share one entry.
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        options = tuple(list(bound.arguments.items())[1:])
        # id() alone could be reused by a later analysis: the weak reference is checked too.
        key = ("memo", name, id(analysis), options)
        try:
            hash(key)
        except TypeError:  # masks and other arrays: compute afresh
            return fn(*args, **kwargs)
        store = process_store()
        found = store.get(key)
        if isinstance(found, tuple) and found[0]() is analysis:
            return found[1]  # type: ignore[no-any-return]
        value = fn(*args, **kwargs)
        ref = weakref.ref(analysis)
        size = nbytes(value, exclude=reachable([analysis]))
        if store.put(key, (ref, value), size):
            weakref.finalize(analysis, _forget, store, key, ref)
        return value

    return wrapper


def _forget(store: Any, key: Any, ref: weakref.ref[Any]) -> None:
    """Drop an entry once its analysis is gone (unless a newer analysis took the key)."""
    found = store.peek(key)
    if isinstance(found, tuple) and found[0] is ref:
        store.pop(key)
