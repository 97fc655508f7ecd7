"""Admission control: never more than the limit at once, first come first served, queue places."""

from __future__ import annotations

import threading
import time

import pytest

from tracing.admission import Admission, admission


def until(condition, timeout: float = 10.0) -> None:
    """Wait for ``condition()`` (a failed test, never a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_never_more_than_the_limit_and_in_arrival_order() -> None:
    gate = Admission(2)
    lock = threading.Lock()
    running, peak, order = [0], [0], []
    arrived = []

    def work(i: int) -> None:
        with lock:
            arrived.append(i)
        with gate.slot():
            with lock:
                order.append(i)
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = []
    for i in range(8):
        t = threading.Thread(target=work, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.005)  # arrive in order
    for t in threads:
        t.join(10)
    assert peak[0] == 2 and running[0] == 0
    assert order == arrived  # first come, first served
    assert gate.running == 0 and gate.waiting == 0


def test_a_queued_step_is_told_its_place() -> None:
    gate = Admission(1)
    releases = [threading.Event(), threading.Event()]
    places: list[int] = []

    def holder(i: int) -> None:
        with gate.slot():
            releases[i].wait(10)

    def last() -> None:
        with gate.slot(places.append, poll_s=0.01):
            pass

    threads = [threading.Thread(target=holder, args=(i,)) for i in range(2)]
    threads[0].start()
    until(lambda: gate.running == 1)
    threads[1].start()
    until(lambda: gate.waiting == 1)
    threads.append(threading.Thread(target=last))
    threads[2].start()
    until(lambda: gate.waiting == 2)
    time.sleep(0.05)
    assert places == [2]  # behind the second
    releases[0].set()  # the second runs, the last moves up
    until(lambda: places == [2, 1])
    assert gate.running == 1 and gate.waiting == 1
    releases[1].set()
    for t in threads:
        t.join(10)
    assert places == [2, 1] and gate.running == 0 and gate.waiting == 0


def test_a_waiter_that_gives_up_leaves_the_queue() -> None:
    gate = Admission(1)

    class Stop(Exception):
        pass

    def stop(place: int) -> None:
        raise Stop

    raised: list[BaseException] = []

    def other() -> None:
        try:
            with gate.slot(stop):
                pass
        except Stop as exc:
            raised.append(exc)

    with gate.slot():
        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert len(raised) == 1 and gate.waiting == 0
    with gate.slot():  # the gate still works
        assert gate.running == 1


def test_the_process_gate_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACING_MAX_CONCURRENT", "3")
    assert admission().limit == 3
    monkeypatch.setenv("TRACING_MAX_CONCURRENT", "1")
    assert admission().limit == 1
    with pytest.raises(ValueError):
        Admission(0)


def test_a_nested_step_uses_its_outer_slot() -> None:
    gate = Admission(1)
    with gate.slot(), gate.slot():  # would wait for itself forever without re-entry
        assert gate.running == 1
    assert gate.running == 0
