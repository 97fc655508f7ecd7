"""Tests for tracing.bytecache: the byte budget holds under any sequence of operations.

Oracles: a brute-force replay of the operations (which keys must survive), numpy's and
pandas' own byte counts, and the Drilldown of a real analysis (its frames are the analysis's).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracing.analysis import prepare_analysis
from tracing.bytecache import ByteLRU, nbytes, reachable
from tracing.io import read_table
from tracing.slices import drilldown, find_slices

DEMO = Path(__file__).resolve().parents[1] / "demo_data"

_ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "get", "child"]),
        st.integers(0, 7),  # key
        st.integers(0, 600),  # size
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(cap=st.integers(0, 1500), ops=_ops)
def test_total_never_exceeds_the_cap_and_the_newest_entry_survives(cap, ops):
    store: ByteLRU[int, int] = ByteLRU(cap)
    for op, key, size in ops:
        if op == "get":
            store.get(key)
        else:
            parent = (key + 1) % 8 if op == "child" else None
            kept = store.put(key, size, size, parents=[parent] if parent is not None else [])
            if parent is None:
                assert kept == (size <= cap)  # a lone entry within the cap always stays
            if kept:
                assert key in store and store.peek(key) == size
        assert store.total <= cap
        assert store.total == sum(store.peek(k) or 0 for k in store)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 5)), max_size=40))
def test_eviction_is_least_recently_used_first(ops):
    # Brute force: with unit sizes and a cap of 3, the 3 most recently touched keys survive.
    store: ByteLRU[int, int] = ByteLRU(3)
    recency: list[int] = []
    for is_put, key in ops:
        if is_put:
            store.put(key, key, 1)
        elif store.get(key) is None:
            continue
        recency = [k for k in recency if k != key] + [key]
        recency = recency[-3:]
    assert sorted(store.keys()) == sorted(recency)


def test_evicting_a_parent_evicts_its_children():
    store: ByteLRU[str, str] = ByteLRU(100)
    store.put("analysis", "a", 60)
    store.put("drilldown", "d", 10, parents=["analysis"])
    store.put("other", "o", 20)
    store.get("other")  # "analysis" and its child are now the least recent
    store.put("new", "n", 50)
    assert set(store.keys()) == {"other", "new"}
    assert store.total == 70


def test_the_parent_of_the_newest_entry_stays_although_it_is_the_least_recent():
    store: ByteLRU[str, str] = ByteLRU(100)
    store.put("analysis", "a", 50)
    store.put("other", "o", 30)
    store.put("drilldown", "d", 40, parents=["analysis"])  # 120 > 100: "other" must go
    assert set(store.keys()) == {"analysis", "drilldown"} and store.total == 90
    assert not store.put("table", "t", 60, parents=["analysis"])  # 50 + 60 cannot fit


def test_an_entry_larger_than_the_cap_is_not_kept():
    store: ByteLRU[str, int] = ByteLRU(10)
    store.put("small", 1, 5)
    assert not store.put("big", 2, 11)
    assert store.keys() == ["small"] and store.total == 5


def test_sizes_match_numpy_and_pandas_and_count_shared_memory_once():
    arr = np.arange(10_000, dtype=np.int64)
    frame = pd.DataFrame({"x": np.arange(1000.0), "s": [f"value {i}" for i in range(1000)]})
    assert nbytes(arr) == arr.nbytes
    assert nbytes(frame) == frame.memory_usage(deep=True).sum()
    # Views and repeated references add nothing; a copy counts again.
    pair = (arr, arr[::2], arr)
    assert 0 <= nbytes(pair) - arr.nbytes < 200
    assert nbytes((arr, arr.copy())) >= 2 * arr.nbytes
    # What is counted elsewhere is excluded, but what the entry adds is still counted.
    mask = np.zeros(50_000, dtype=bool)
    assert mask.nbytes <= nbytes({"frame": frame, "mask": mask}, exclude=reachable([frame]))
    assert nbytes({"frame": frame, "mask": mask}, exclude=reachable([frame])) < mask.nbytes + 2000


def test_a_drilldown_is_charged_for_its_masks_not_for_the_analysis_frames():
    analysis = prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )
    result = find_slices(analysis, max_depth=2, top=3)
    drill = drilldown(analysis, result.table.iloc[0]["slice_id"], result=result)
    frames = analysis.production_frame.memory_usage(deep=True).sum()
    alone = nbytes(drill)
    charged = nbytes(drill, exclude=reachable([analysis, result]))
    masks = drill.production_mask.nbytes + drill.baseline_mask.nbytes
    assert alone > frames  # without exclusion it would count the frames it references
    assert masks <= charged < frames  # what it adds: the masks and its tables, not zero


def test_one_computation_per_key_when_callers_race():
    store: ByteLRU[str, int] = ByteLRU(1000)
    calls: list[int] = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        threading.Event().wait(0.2)
        return 7

    worker = threading.Thread(target=lambda: store.get_or_compute("k", slow, size=lambda v, e: 8))
    worker.start()
    started.wait()
    assert store.get_or_compute("k", slow, size=lambda v, e: 8) == 7
    worker.join()
    assert len(calls) == 1


def test_negative_cap_is_refused():
    with pytest.raises(ValueError, match="at least 0"):
        ByteLRU(-1)


class _Analysis:
    """Stands in for an Analysis: a weakly referenceable holder of a large frame."""

    def __init__(self, rows: int) -> None:
        self.frame = pd.DataFrame({"x": np.arange(float(rows))})


def test_engine_memos_share_the_budget_and_go_with_their_analysis(monkeypatch):
    import gc

    from tracing.bytecache import process_store
    from tracing.memo import per_analysis

    monkeypatch.setenv("TRACING_CACHE_MB", "1")
    calls: list[int] = []

    @per_analysis
    def column_plus(analysis: _Analysis, *, k: int = 1) -> pd.Series:
        calls.append(k)
        return analysis.frame["x"] + k  # a new 8-byte-per-row column

    analysis = _Analysis(10_000)
    first = column_plus(analysis)
    assert column_plus(analysis, k=1) is first and calls == [1]  # defaults bound: one entry
    store = process_store()
    assert store.cap == 2**20
    memo_keys = [k for k in store if k[0] == "memo"]
    assert len(memo_keys) == 1
    # Charged for the new column, not for the analysis's frame it was computed from.
    assert first.nbytes <= store.total < first.nbytes + 2_000
    # Larger than the budget: computed, not kept, and the total stays within the cap.
    huge = _Analysis(200_000)
    column_plus(huge)
    column_plus(huge)
    assert calls == [1, 1, 1] and store.total <= store.cap
    del analysis, first
    gc.collect()
    assert not [k for k in store if k[0] == "memo"]  # gone with its analysis
