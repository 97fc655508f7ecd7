"""Admission control: a bounded number of heavy analyses at a time, the rest queued in order.

On a small host a few visitors parsing uploads, searching slices and computing SHAP at once can
run the server out of memory. `Admission` lets ``TRACING_MAX_CONCURRENT`` of them run and makes
the others wait first come, first served, telling each waiting one its place in the queue (the
app shows it as a "queued" message). A step that runs inside another in the same thread uses
its slot (no deadlock at a limit of 1). Waiting has no deadline of its own: the page's session
ends it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tracing import settings

__all__ = ["Admission", "admission"]


class Admission:
    """A first-come, first-served gate for at most ``limit`` concurrent heavy steps.

    Examples
    --------
    >>> gate = Admission(1)
    >>> with gate.slot():
    ...     gate.running
    1
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._cond = threading.Condition()
        self._running = 0
        self._queue: list[int] = []
        self._tickets = itertools.count()
        self._held = threading.local()  # slots this thread holds: nested steps pass through

    @property
    def running(self) -> int:
        """Steps running now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Steps queued now."""
        return len(self._queue)

    @contextmanager
    def slot(
        self, on_wait: Callable[[int], None] | None = None, *, poll_s: float = 0.5
    ) -> Iterator[None]:
        """Run the block when a slot is free; while queued, call ``on_wait(place)`` (1 = next).

        ``on_wait`` is called each time the place changes, outside the gate's lock, so it may
        update a page; the queue is re-checked at least every ``poll_s`` seconds.
        """
        if getattr(self._held, "depth", 0):
            self._held.depth += 1  # a heavy step inside another one: it already has a slot
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        ticket = next(self._tickets)
        with self._cond:
            self._queue.append(ticket)
        shown = -1
        try:
            while True:
                with self._cond:
                    place = self._queue.index(ticket)
                    if place == 0 and self._running < self.limit:
                        self._queue.pop(0)
                        self._running += 1
                        self._cond.notify_all()
                        break
                    if place + 1 == shown:
                        self._cond.wait(poll_s)
                        continue
                if on_wait is not None:
                    on_wait(place + 1)
                shown = place + 1
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
            raise
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


_GATE: Admission | None = None
_GATE_LOCK = threading.Lock()


def admission() -> Admission:
    """Return the process-wide gate sized by ``TRACING_MAX_CONCURRENT``."""
    global _GATE
    with _GATE_LOCK:
        limit = int(settings.get("TRACING_MAX_CONCURRENT"))
        if _GATE is None or _GATE.limit != limit:
            _GATE = Admission(limit)
        return _GATE
