"""Reuse of engine results within one analysis: report sections share work.

The root-cause summary needs the slices, drift, quality findings and label conflicts that their
own report sections have just computed. `per_analysis` remembers the last few results of an
engine function per analysis *object* (weakly: a finished analysis is not kept alive) and per
keyword options, so the second call is free. Calls with unhashable options (masks) are not
cached. Results are shared, not copied: callers must not modify them.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["per_analysis"]

P = ParamSpec("P")
R = TypeVar("R")
_SIZE = 4


def per_analysis(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate ``fn(analysis, **options)`` to reuse its last results for the same inputs."""
    signature = inspect.signature(fn)
    lock = threading.Lock()
    entries: list[tuple[weakref.ref[Any], tuple[Any, ...], Any]] = []

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if len(args) != 1:
            return fn(*args, **kwargs)
        analysis = args[0]
        # Bind defaults so f(a) and f(a, bins=10) share one entry.
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = tuple(list(bound.arguments.items())[1:])
        try:
            hash(key)
        except TypeError:  # masks and other arrays: compute afresh
            return fn(*args, **kwargs)
        with lock:
            for ref, k, value in entries:
                if ref() is analysis and k == key:
                    return value  # type: ignore[no-any-return]
        value = fn(*args, **kwargs)
        with lock:
            entries[:] = [e for e in entries if e[0]() is not None][-(_SIZE - 1) :]
            entries.append((weakref.ref(analysis), key, value))
        return value

    return wrapper
