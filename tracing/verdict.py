"""The one verdict: whether a value is worse, better or the same as its reference.

Every verdict of the engine and the app comes from `status`: the comparison's ``status`` and
``estimated_status`` columns (`tracing.compare`), the estimated headline and the metric table
of the app, and the colours of its cards (the UI only maps a `Status` to a colour).

Tolerance rule
    A change counts as none (``same``) when ``|worse_by(value, reference)| <= SAME_TOLERANCE *
    max(1, |reference|)``: a relative tolerance of 1e-12 for references above 1 in magnitude,
    an absolute one below. That is round-off, not a change: sums of the same rows in another
    order differ by about that much.
"""

from __future__ import annotations

import math
from typing import Any

from tracing.metrics import worse_by
from tracing.vocab import Direction, Status

__all__ = ["SAME_TOLERANCE", "Status", "status"]

SAME_TOLERANCE = 1e-12


def status(value: Any, reference: Any, direction: Direction | str) -> Status:
    """Judge ``value`` against ``reference`` in a metric's direction.

    Parameters
    ----------
    value : float
        The value judged (production, an estimate, a slice).
    reference : float
        What it is compared with (the baseline).
    direction : Direction or str
        The metric's direction (or its serialized value, e.g. ``"higher"``).

    Returns
    -------
    Status
        ``undefined`` when either side is missing (None or NaN); ``same`` within the tolerance
        (module docstring); ``changed`` for a neutral metric that moved (neither way is
        better); otherwise ``worse`` or ``better``.

    Examples
    --------
    >>> status(0.90, 0.95, Direction.HIGHER_IS_BETTER)
    'worse'
    >>> status(0.04, 0.05, "lower"), status(0.35, 0.30, "neutral")
    ('better', 'changed')
    >>> status(float("nan"), 0.5, "higher"), status(1.0, 1.0 + 1e-13, "lower")
    ('undefined', 'same')
    """
    if _missing(value) or _missing(reference):
        return Status.UNDEFINED
    direction = Direction(direction)
    worse = float(worse_by(float(value), float(reference), direction))
    if math.isnan(worse):
        return Status.UNDEFINED
    if abs(worse) <= SAME_TOLERANCE * max(1.0, abs(float(reference))):
        return Status.SAME
    if direction is Direction.NEUTRAL:
        return Status.CHANGED  # neither way is better: a change to look at, not a verdict
    return Status.WORSE if worse > 0 else Status.BETTER


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True
