"""Admission control in the app: a heavy step waits for a free slot, says so, then runs."""

from __future__ import annotations

import threading
import time

import pytest

from tracing import admission as gate_module


def test_a_heavy_step_queues_behind_a_running_one(
    app, no_errors, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACING_MAX_CONCURRENT", "1")
    gate = gate_module.admission()
    places: list[int] = []
    original = gate.slot

    def watched(on_wait=None, **kwargs):
        def record(place: int) -> None:
            if not places:  # free the slot a second after the step started waiting for it
                threading.Timer(1.0, release.set).start()
            places.append(place)
            if on_wait is not None:
                on_wait(place)

        return original(record, **kwargs)

    monkeypatch.setattr(gate, "slot", watched)
    held, release = threading.Event(), threading.Event()

    def busy() -> None:
        with original():
            held.set()
            release.wait(30)

    other = threading.Thread(target=busy)
    other.start()
    held.wait(10)
    # On a loaded machine the page may take seconds to reach the step: the slot is freed only
    # once the step waits for it (`record`), or after 30 s, when the assertions below fail.
    start = time.monotonic()
    at = app("slices", min_size="31")  # a search no earlier test cached
    other.join(10)
    no_errors(at)
    assert places and places[0] == 1  # it waited, next in line
    assert time.monotonic() - start >= 0.9  # it did not run beside the busy one
    assert at.dataframe, "the slices showed once the slot was free"
    assert not any("Queued" in i.value for i in at.info)  # the message went away
