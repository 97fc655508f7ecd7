"""A least-recently-used store bounded by bytes, and an honest estimate of an object's bytes.

Streamlit's caches bound the number of entries (``max_entries``) and their age (``ttl``), not
their memory: eight cached 1M-row tables and eight small ones count the same. `ByteLRU` holds
entries up to a byte budget (``TRACING_CACHE_MB`` in the app) and evicts the least recently used
ones beyond it.

Cached results share memory: a `tracing.slices.Drilldown` keeps references to the analysis
frames, an analysis to the loaded tables. Counting those frames in every entry would fill the
budget with one table counted ten times; counting nothing would let the budget be exceeded. So
an entry names its **parents** (the entries whose objects it references) and is charged only for
what it adds (`nbytes` with the parents' objects excluded); evicting a parent evicts its
children too, because they would keep the parent's memory alive while nothing counts it.

Examples
--------
>>> import numpy as np
>>> store = ByteLRU(1_000)
>>> store.put("a", np.zeros(50), 400), store.put("b", np.zeros(50), 400)
(True, True)
>>> store.put("c", np.zeros(50), 400)  # over 1,000 bytes: "a", the least recent, goes
True
>>> sorted(store.keys()), store.total
(['b', 'c'], 800)
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from tracing import settings

__all__ = ["ByteLRU", "nbytes", "process_store", "reachable"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None))
_LEAVES = (*_ATOMS, pd.DataFrame, pd.Series, pd.Index, np.ndarray)


def _children(obj: object) -> Iterable[object]:
    """Return the objects ``obj`` holds, for the walk (frames and arrays are leaves)."""
    if isinstance(obj, dict):
        return (*obj.keys(), *obj.values())
    if isinstance(obj, list | tuple | set | frozenset):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name, None) for f in dataclasses.fields(obj)]
    held = getattr(obj, "__dict__", None)
    if isinstance(held, dict):
        return held.values()
    return ()


def _is_skipped(obj: object) -> bool:
    # Code and classes are shared by the whole process, not by one cache entry.
    return isinstance(obj, type) or (callable(obj) and not dataclasses.is_dataclass(obj))


def _own_bytes(obj: object) -> int:
    """Bytes of one object itself (a whole frame or array; a container without its items)."""
    if isinstance(obj, pd.DataFrame):
        return int(obj.memory_usage(deep=True, index=True).sum())
    if isinstance(obj, pd.Series | pd.Index):
        return int(obj.memory_usage(deep=True))
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return int(obj.nbytes + sum(sys.getsizeof(v) for v in obj.ravel()))
        return int(obj.nbytes)
    return sys.getsizeof(obj)


def _root(obj: object) -> object:
    """Return a numpy view's owner: a view adds no memory of its own beyond its owner's."""
    while isinstance(obj, np.ndarray) and isinstance(obj.base, np.ndarray):
        obj = obj.base
    return obj


def _walk(obj: object, skip: set[int]) -> Iterator[object]:
    """Yield each object reachable from ``obj`` once, not entering ids in ``skip``."""
    stack = [obj]
    while stack:
        item = _root(stack.pop())
        if id(item) in skip or _is_skipped(item):
            continue
        skip.add(id(item))
        yield item
        if not isinstance(item, _LEAVES):
            stack.extend(_children(item))


def reachable(objs: Iterable[object]) -> set[int]:
    """Return the ids of every object reachable from ``objs`` (the set `nbytes` excludes).

    Parameters
    ----------
    objs : iterable
        Objects whose memory is counted elsewhere, e.g. the parent entries' values.
    """
    seen: set[int] = set()
    for obj in objs:
        for _ in _walk(obj, seen):
            pass
    return seen


def nbytes(obj: object, *, exclude: set[int] | None = None) -> int:
    """Estimate the bytes ``obj`` holds, each object once, leaving out ``exclude``.

    DataFrames, Series and Index count ``memory_usage(deep=True)`` (strings included), numpy
    arrays their ``nbytes`` (a view counts its owner once), dataclasses, dicts, lists, tuples,
    sets and plain objects their own size plus what they hold; code and classes count nothing.

    Parameters
    ----------
    obj : object
        The value to size.
    exclude : set of int, optional
        Ids of objects counted elsewhere (`reachable` of the parents); not entered either.

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> big = np.zeros(1_000)
    >>> nbytes(big) >= 8_000, nbytes((big, big[:10])) - nbytes(big) < 100  # the view is free
    (True, True)
    >>> nbytes(("x", big), exclude=reachable([big])) < 200
    True
    """
    skip = set(exclude or ())
    return sum(_own_bytes(item) for item in _walk(obj, skip))


@dataclasses.dataclass
class _Entry(Generic[K, V]):
    value: V
    size: int
    parents: tuple[K, ...]


class ByteLRU(Generic[K, V]):
    """A thread-safe map that holds at most ``cap`` bytes, evicting least recently used entries.

    Each entry's size is given by the caller (see `nbytes`). An entry larger than the cap on
    its own (with the parents it needs) is not stored. The entry just stored always survives its
    own ``put``, and so do its parents; reading an entry (`get`) makes it and its parents the
    most recent.

    Parameters
    ----------
    cap : int
        Byte budget, at least 0.
    """

    def __init__(self, cap: int) -> None:
        if cap < 0:
            raise ValueError(f"the byte cap must be at least 0; got {cap}.")
        self.cap = int(cap)
        self._items: OrderedDict[K, _Entry[K, V]] = OrderedDict()
        self._total = 0
        self._lock = threading.RLock()
        self._computing: dict[K, threading.Lock] = {}

    @property
    def total(self) -> int:
        """Bytes held now (the sum of the entries' sizes)."""
        return self._total

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    def keys(self) -> list[K]:
        """Return the keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def peek(self, key: K) -> V | None:
        """Return an entry's value without making it more recent (None: not held)."""
        with self._lock:
            entry = self._items.get(key)
            return None if entry is None else entry.value

    def get(self, key: K) -> V | None:
        """Return an entry's value and make it (and its parents) the most recent."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._touch(key)
            return entry.value

    def put(self, key: K, value: V, size: int, *, parents: Iterable[K] = ()) -> bool:
        """Store ``value`` (``size`` bytes) under ``key``; return whether it was kept.

        Parents that are not held are ignored (the caller then counts their bytes in
        ``size``). Entries are evicted, least recently used first, until the total fits.
        """
        with self._lock:
            self.pop(key)
            held = tuple(p for p in dict.fromkeys(parents) if p in self._items and p != key)
            protected = self._lineage(held) | {key}
            needed = int(size) + sum(self._items[p].size for p in self._lineage(held))
            if needed > self.cap:
                return False
            self._items[key] = _Entry(value, int(size), held)
            self._total += int(size)
            self._touch(key)
            for old in list(self._items):
                if self._total <= self.cap:
                    break
                if old not in protected and old in self._items:
                    self.pop(old)
            return True

    def pop(self, key: K) -> V | None:
        """Remove an entry and every entry that names it as a parent; return its value."""
        with self._lock:
            entry = self._items.pop(key, None)
            if entry is None:
                return None
            self._total -= entry.size
            for child in [k for k, e in self._items.items() if key in e.parents]:
                self.pop(child)
            return entry.value

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._items.clear()
            self._total = 0

    def get_or_compute(
        self,
        key: K,
        compute: Callable[[], V],
        *,
        parents: Callable[[], Iterable[K]] = tuple,
        size: Callable[[V, set[int]], int] | None = None,
    ) -> V:
        """Return the value under ``key``, computing and storing it on a miss.

        Parameters
        ----------
        key : hashable
        compute : callable () -> value
            Called outside the store's lock: computations of different keys run in parallel,
        a second caller of the same key waits for the first.
        parents : callable () -> iterable of keys, optional
            Called after ``compute``: the entries the value references.
        size : callable (value, excluded ids) -> int, optional
            Defaults to `nbytes` without the parents' objects.
        """
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            busy = self._computing.setdefault(key, threading.Lock())
        # One computation per key: a second caller (a click while a prefetch of the same
        # result runs) waits for the first instead of doing the work again.
        with busy:
            found = self.get(key)
            if found is not None:
                return found
            value = compute()
            with self._lock:
                held = [p for p in parents() if p in self._items]
                exclude = reachable(self._items[p].value for p in self._lineage(tuple(held)))
            measured = (size or _default_size)(value, exclude)
            self.put(key, value, measured, parents=held)
        with self._lock:
            if self._computing.get(key) is busy:
                del self._computing[key]
        return value

    def _lineage(self, keys: tuple[K, ...]) -> set[K]:
        """Return the given keys and, recursively, their parents (all held)."""
        out: set[K] = set()
        todo = list(keys)
        while todo:
            k = todo.pop()
            if k in out or k not in self._items:
                continue
            out.add(k)
            todo.extend(self._items[k].parents)
        return out

    def _touch(self, key: K) -> None:
        # Parents first, then the key: the key is the most recent, its parents just behind it.
        for parent in self._lineage(self._items[key].parents):
            self._items.move_to_end(parent)
        self._items.move_to_end(key)


def _default_size(value: object, exclude: set[int]) -> int:
    return nbytes(value, exclude=exclude)


_PROCESS: list[ByteLRU[Hashable, Any]] = []
_PROCESS_LOCK = threading.Lock()


def process_store() -> ByteLRU[Hashable, Any]:
    """Return the one store of this process, holding at most ``TRACING_CACHE_MB``.

    The app's caches (``ui/cache.py``) and the engine's memos (`tracing.memo`) share it, so
    the budget bounds them together. Changing the setting replaces the store (an empty one).
    """
    cap = int(settings.get("TRACING_CACHE_MB") * 2**20)
    with _PROCESS_LOCK:
        if not _PROCESS or _PROCESS[0].cap != cap:
            _PROCESS[:] = [ByteLRU(cap)]
        return _PROCESS[0]
