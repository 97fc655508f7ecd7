"""`tracing.app_engine`: which engine the app runs a view on, and the open engine sessions."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import make_binary

from tracing import app_engine as ae
from tracing.engines import EngineChoice
from tracing.errors import DataError
from tracing.sources import ENV_DATA_ROOTS, ENV_STORE_DIR, source_stamp, store_upload
from tracing.vocab import EngineName


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A folder of two Parquet files per side, single files, and a CSV file."""
    monkeypatch.setenv(ENV_DATA_ROOTS, str(tmp_path))
    monkeypatch.setenv(ENV_STORE_DIR, str(tmp_path / "store"))
    refs = {}
    for side, seed in (("baseline", 0), ("production", 1)):
        folder = tmp_path / side
        folder.mkdir()
        for i in range(2):
            make_binary(200, seed + 10 * i).to_parquet(folder / f"part-{i}.parquet")
        make_binary(200, seed).to_parquet(tmp_path / f"{side}.parquet")
        make_binary(200, seed).to_csv(tmp_path / f"{side}.csv", index=False)
        refs[side] = str(folder)
        refs[f"{side}_file"] = str(tmp_path / f"{side}.parquet")
        refs[f"{side}_csv"] = str(tmp_path / f"{side}.csv")
    return refs


def test_folders_run_on_the_engine_asked_for(data) -> None:
    plan = ae.plan_engine("duckdb", data["baseline"], data["production"])
    assert plan.engine == EngineName.DUCKDB and plan.choice.reason == "duckdb: as asked"
    assert plan.sources is not None and [len(s.paths) for s in plan.sources] == [2, 2]
    assert not plan.in_memory and plan.title == "DuckDB"


def test_small_files_stay_in_memory_under_auto_and_folders_do_not(data) -> None:
    files = ae.plan_engine("auto", data["baseline_file"], data["production_file"])
    assert files.in_memory and files.sources is None
    assert files.choice.reason.startswith("auto: about") and "-> memory" in files.choice.reason
    # Small too, but the memory engine reads files, not folders: DuckDB, and the reason says so.
    folders = ae.plan_engine("auto", data["baseline"], data["production"])
    assert folders.engine == EngineName.DUCKDB and folders.sources is not None
    assert "is a folder or pattern, which the memory engine does not read -> duckdb" in (
        folders.choice.reason
    )


def test_uploads_csv_and_row_cuts_stay_in_memory_whatever_is_asked(data) -> None:
    upload = store_upload(Path(data["baseline_file"]).read_bytes(), "b.parquet")
    plan = ae.plan_engine("duckdb", upload, data["production_file"])
    assert plan.in_memory and plan.choice.reason == (
        "duckdb asked, but uploads are read in memory -> memory"
    )
    csv = ae.plan_engine("duckdb", data["baseline_csv"], data["production_csv"])
    assert csv.in_memory and "is CSV, which only the memory engine reads" in csv.choice.reason
    why = ae.memory_only_reason(one_file=False, windows=False, versions=False, actuals=True)
    cut = ae.plan_engine("duckdb", data["baseline_file"], data["production_file"], memory_only=why)
    assert cut.in_memory and cut.choice.reason == ("duckdb asked, but delayed actuals -> memory")
    one = ae.plan_engine("auto", "", data["production_file"])
    assert one.in_memory and one.choice.reason == "auto: date ranges -> memory"


def test_what_no_engine_can_run_is_refused_with_what_to_do(data) -> None:
    with pytest.raises(DataError, match="date ranges run in memory; name single files"):
        ae.plan_engine("duckdb", data["baseline"], data["production"], memory_only="date ranges")
    with pytest.raises(DataError, match="TRACING_ENGINE=memory.*TRACING_ENGINE=auto"):
        ae.plan_engine("memory", data["baseline"], data["production"])
    with pytest.raises(DataError, match="convert the CSV file to Parquet"):
        ae.plan_engine("auto", data["baseline_csv"], data["production"])
    # a missing file: the message the memory path has always given
    with pytest.raises(DataError, match="file not found.*upload the file instead"):
        ae.plan_engine("auto", data["baseline_file"] + ".missing.parquet", data["production"])
    with pytest.raises(DataError, match="no Parquet files"):
        empty = Path(data["baseline"]).parent / "empty"
        empty.mkdir()
        ae.validate_ref(str(empty))


def test_a_stamp_changes_with_any_file_of_a_folder(data) -> None:
    assert ae.data_stamp(data["baseline_file"]) == source_stamp(data["baseline_file"])
    assert ae.data_stamp("") == ""
    before = ae.data_stamp(data["baseline"])
    assert before == ae.data_stamp(data["baseline"])
    part = Path(data["baseline"]) / "part-1.parquet"
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = ae.data_stamp(data["baseline"])
    assert touched != before
    make_binary(10, 5).to_parquet(Path(data["baseline"]) / "part-2.parquet")
    assert ae.data_stamp(data["baseline"]) not in (before, touched)
    assert ae.data_stamp(data["baseline"]).startswith("3:")


# -- the store of open sessions -------------------------------------------------------------


class FakeBackend:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _session(name: str = "s") -> ae.EngineSession:
    plan = ae.EnginePlan(EngineChoice(EngineName.DUCKDB, "duckdb: as asked"))
    return ae.EngineSession(plan, SimpleNamespace(name=name, backend=FakeBackend()))  # type: ignore[arg-type]


def test_a_session_opens_once_for_concurrent_callers() -> None:
    store = ae.EngineStore(max_open=2)
    opened = []

    def slow_open() -> ae.EngineSession:
        time.sleep(0.2)
        opened.append(1)
        return _session()

    got: list[ae.EngineSession] = []
    threads = [
        threading.Thread(target=lambda: got.append(store.get_or_open("k", slow_open)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1 and len({id(s) for s in got}) == 1


def test_the_least_recently_used_session_is_closed_beyond_the_limit() -> None:
    store = ae.EngineStore(max_open=2)
    a, b, c = _session("a"), _session("b"), _session("c")
    store.get_or_open("a", lambda: a)
    store.get_or_open("b", lambda: b)
    assert store.get("a") is a  # "a" used last: "b" goes first
    store.get_or_open("c", lambda: c)
    assert store.keys() == ["a", "c"]
    assert b.analysis.backend.closed == 1 and a.analysis.backend.closed == 0
    with pytest.raises(DataError, match="reload the page"), b.using():
        pass
    b.close()
    assert b.analysis.backend.closed == 1  # idempotent


def test_an_alias_shares_its_session_and_keeps_it_open() -> None:
    store = ae.EngineStore(max_open=1)
    a = _session("a")
    store.get_or_open("view", lambda: a)
    store.alias("pinned", "view")
    assert store.get("pinned") is a and store.keys() == ["view", "pinned"]
    # two keys, one session: still within a limit of one
    assert a.analysis.backend.closed == 0
    b = _session("b")
    store.get_or_open("other", lambda: b)
    assert store.keys() == ["other"] and a.analysis.backend.closed == 1
    store.alias("x", "missing")  # nothing open under that key: nothing to share
    assert store.get("x") is None


def test_a_close_waits_for_the_call_using_the_session() -> None:
    s = _session()
    events = []

    def use() -> None:
        with s.using():
            events.append("start")
            time.sleep(0.2)
            events.append("end")

    t = threading.Thread(target=use)
    t.start()
    time.sleep(0.05)
    s.close()
    events.append("closed")
    t.join()
    assert events == ["start", "end", "closed"]


def test_an_engine_session_counts_every_row_and_says_when_sections_are_sampled(
    data, monkeypatch
) -> None:
    plan = ae.plan_engine("duckdb", data["baseline"], data["production"])
    whole = ae.open_engine(plan, names=("baseline", "production"))
    try:
        assert ae.row_counts(whole.analysis) == (400, 400, 400)
        assert whole.analysis.notes[0].startswith("engine: duckdb; every metric")
        assert ae.sampled_text(whole.analysis) is None  # the sample holds every row
    finally:
        whole.close()
    monkeypatch.setattr(ae, "SAMPLE_SIZE", 100)
    cut = ae.open_engine(plan, names=("baseline", "production"))
    try:
        assert cut.analysis.sample_rows == (100, 100) and cut.analysis.rows == (400, 400)
        assert ae.sampled_text(cut.analysis) == (
            "computed on a uniform sample of 100 baseline and 100 production rows drawn by the "
            "duckdb engine (not on every row)"
        )
        assert ae.progress_text("Searching slices", 400, plan) == (
            "Searching slices on 400 rows with DuckDB…"
        )
    finally:
        cut.close()
    with pytest.raises(DataError), cut.using():
        pass


def test_cards_and_pickers_offer_only_what_an_engine_computes() -> None:
    from tracing import prepare_analysis
    from tracing.metrics import get_metric

    schema = prepare_analysis(make_binary(50, 0), make_binary(50, 1)).schema
    metrics = [get_metric(m, schema) for m in ("recall", "roc_auc", "log_loss")]
    sql = ae.EnginePlan(EngineChoice(EngineName.DUCKDB, "duckdb: as asked"))
    memory = ae.EnginePlan(EngineChoice(EngineName.MEMORY, "memory: as asked"))
    assert [m.id for m in ae.engine_metrics(metrics, sql)] == ["recall", "log_loss"]
    assert ae.engine_metrics(metrics, memory) == metrics


class SlowToWake:
    """A reentrant lock whose "visitor" thread polls for it, as a woken thread is late.

    A released lock goes to whichever thread asks first: the prefetcher, running its next
    job at once, would always win it without the session's queue.
    """

    def __init__(self) -> None:
        self._inner = threading.RLock()

    def __enter__(self) -> None:
        if threading.current_thread().name != "visitor":
            self._inner.acquire()
            return
        while not self._inner.acquire(blocking=False):
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._inner.release()


def test_a_visitors_call_goes_before_queued_prefetches() -> None:
    plan = ae.EnginePlan(EngineChoice(EngineName.DUCKDB, "duckdb: as asked"))
    analysis = SimpleNamespace(backend=FakeBackend())
    s = ae.EngineSession(plan, analysis, _lock=SlowToWake())  # type: ignore[arg-type]
    order: list[str] = []

    def prefetches() -> None:  # one thread, jobs back to back, as the prefetch executor runs
        for i in (1, 2, 3):
            with s.using(background=True):
                order.append(f"prefetch-{i}")
                time.sleep(0.2)
                # its own inner call, while the visitor waits: it must not wait for them
                with s.using(background=True):
                    order.append(f"prefetch-{i}-inner")

    def click() -> None:
        with s.using():
            order.append("click")

    worker = threading.Thread(target=prefetches, daemon=True)
    worker.start()
    time.sleep(0.1)
    visitor = threading.Thread(target=click, name="visitor", daemon=True)
    visitor.start()
    for t in (worker, visitor):
        t.join(5)
    assert order[:3] == ["prefetch-1", "prefetch-1-inner", "click"], order
    assert len(order) == 7
