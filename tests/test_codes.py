"""Column codes and bins computed once per frame and shared by every section (issue 15, item 1)."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO
from tracing import codes as codes_module
from tracing import prepare_analysis, read_table
from tracing.binning import ColumnBins, calendar_features, fit_bins
from tracing.bytecache import process_store
from tracing.codes import code_dtype, column_bins, column_codes
from tracing.drift import feature_drift
from tracing.labels import label_conflicts
from tracing.quality import quality_checks
from tracing.rootcause import root_cause
from tracing.slices import find_slices


@given(
    values=st.lists(
        st.one_of(st.none(), st.sampled_from("abcdefg"), st.integers(0, 3)), max_size=40
    ),
    other=st.lists(st.sampled_from("abcxyz"), max_size=20),
)
@settings(max_examples=60, deadline=None)
def test_codes_equal_the_bins_codes_in_a_compact_type(values, other):
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    fitted = fit_bins(frame["c"], pd.Series(other, dtype=object), min_count=2)
    got = column_codes(frame, "c", fitted)
    assert got.dtype == code_dtype(len(fitted.labels))
    np.testing.assert_array_equal(got, fitted.codes(frame["c"]))
    assert not got.flags.writeable  # shared by every caller: nobody may change it


def test_code_dtype_fits_every_code():
    for n in (1, 255, 256, 257, 65_536, 65_537):
        assert np.iinfo(code_dtype(n)).max >= n - 1


def test_calendar_features_are_coded_from_the_timestamp_without_extending_the_frame():
    ts = pd.Series(pd.date_range("2026-01-01", periods=200, freq="37min"))
    frame = pd.DataFrame({"t": ts, "x": np.arange(200.0)})
    hour = calendar_features(ts, "t")["t.hour"]
    fitted = fit_bins(hour, hour)
    np.testing.assert_array_equal(column_codes(frame, "t.hour", fitted), fitted.codes(hour))
    assert list(frame.columns) == ["t", "x"]
    with pytest.raises(KeyError):
        column_codes(frame, "nope", fitted)


def test_each_column_is_coded_once_and_bins_fitted_once(monkeypatch):
    frame = pd.DataFrame({"x": np.arange(1000.0) % 17})
    calls = []
    original = ColumnBins.codes

    def counting(self, series):
        calls.append(self.feature)
        return original(self, series)

    monkeypatch.setattr(ColumnBins, "codes", counting)
    fitted = column_bins(frame, frame, "x")
    assert column_bins(frame, frame, "x") is fitted
    first = column_codes(frame, "x", fitted)
    assert column_codes(frame, "x", fitted) is first
    assert calls == ["x"]
    # other bins are other codes
    column_codes(frame, "x", column_bins(frame, frame, "x", bins=3))
    assert calls == ["x", "x"]


def test_codes_of_a_dropped_frame_leave_the_store():
    frame = pd.DataFrame({"x": np.arange(5000.0)})
    fitted = fit_bins(frame["x"])
    column_codes(frame, "x", fitted)
    key = ("codes", id(frame), "x", fitted)
    assert process_store().peek(key) is not None
    del frame
    gc.collect()
    assert process_store().peek(key) is None


def test_a_new_frame_at_a_reused_address_is_coded_afresh():
    fitted = fit_bins(pd.Series([0.0, 1.0, 2.0, 3.0]), bins=2)
    for shift in range(5):  # ids may be reused once a frame is gone: its values must not be
        frame = pd.DataFrame({"x": np.array([0.0, 1.0, 2.0, 3.0]) + shift})
        np.testing.assert_array_equal(column_codes(frame, "x", fitted), fitted.codes(frame["x"]))


@pytest.fixture(scope="module")
def fraud():
    return prepare_analysis(
        read_table(DEMO / "fraud_training.parquet"), read_table(DEMO / "fraud_production.parquet")
    )


def test_root_cause_codes_no_column_twice(fraud, monkeypatch):
    """A full report codes each (column, bins, side) once: root cause reuses the slices' codes."""
    calls: list[tuple[str, int]] = []
    original = ColumnBins.codes

    def counting(self, series):
        fingerprint = int(pd.util.hash_pandas_object(series, index=False).sum())
        calls.append((self.feature, hash(self), len(series), fingerprint))
        return original(self, series)

    monkeypatch.setattr(ColumnBins, "codes", counting)
    fresh = prepare_analysis(fraud.baseline_frame.copy(), fraud.production_frame.copy())
    slices = find_slices(fresh)
    drift = feature_drift(fresh)
    root_cause(
        fresh,
        slices=slices,
        drift=drift,
        quality=quality_checks(fresh),
        conflicts=label_conflicts(fresh),
    )
    full_rows = {len(fresh.baseline_frame), len(fresh.production_frame)}
    whole = [c for c in calls if c[2] in full_rows]  # slice-local drift codes row subsets
    assert len(whole) == len(set(whole)), sorted(whole)


@pytest.mark.parametrize("metric", ["recall", "accuracy"])
def test_compact_codes_give_the_slices_of_wide_codes(fraud, monkeypatch, metric):
    """uint8/uint16 codes must never overflow in the search's mixed-radix arithmetic."""
    features = ["merchant_id", "state", "merchant_category", "amount"]
    compact = find_slices(fraud, metric=metric, features=features, max_depth=3, bins=40)
    monkeypatch.setattr(codes_module, "code_dtype", lambda n: np.int64)
    wide = find_slices(
        prepare_analysis(fraud.baseline_frame.copy(), fraud.production_frame.copy()),
        metric=metric,
        features=features,
        max_depth=3,
        bins=40,
    )
    cols = ["slice_id", "size", "metric", "impact"]
    pd.testing.assert_frame_equal(compact.table[cols], wide.table[cols])


def test_calendar_parts_and_value_counts_are_derived_once_per_frame(fraud, monkeypatch):
    """Slicing, coding, default features and drift share one derivation and one count each."""
    derived: list[str] = []
    original = codes_module.calendar_features

    def counting_parts(series, name):
        derived.append(name)
        return original(series, name)

    counted: list[tuple[int, str]] = []
    real_counts = pd.Series.value_counts

    def counting_counts(self, *args, **kwargs):
        counted.append((len(self), str(self.name)))
        return real_counts(self, *args, **kwargs)

    monkeypatch.setattr(codes_module, "calendar_features", counting_parts)
    fresh = prepare_analysis(fraud.baseline_frame.copy(), fraud.production_frame.copy())
    monkeypatch.setattr(pd.Series, "value_counts", counting_counts)
    result = find_slices(fresh)
    feature_drift(fresh)
    quality_checks(fresh)
    assert any(f.startswith("timestamp.") for f in result.features)
    assert derived == ["timestamp", "timestamp"]  # one per side, for every caller
    whole = [c for c in counted if c[0] == len(fresh.production_frame)]
    sliced = set(result.features) & set(fresh.baseline_frame.columns)
    for column in sliced:  # at most once per side (equal lengths here: two entries)
        assert whole.count((len(fresh.production_frame), column)) <= 2, column


def test_a_frame_changed_in_place_after_an_analysis_is_analysed_afresh(fraud):
    """The caches key on the analysis' own frames: a caller's later edit is never stale."""
    prod = fraud.production_frame.copy()
    first = feature_drift(prepare_analysis(fraud.baseline_frame, prod))
    before = first.table.set_index("feature").loc["device", "psi"]
    prod.loc[prod.index[: len(prod) // 2], "device"] = "smart fridge"  # in place
    again = feature_drift(prepare_analysis(fraud.baseline_frame, prod))
    after = again.table.set_index("feature").loc["device", "psi"]
    assert after > before + 1  # half the rows moved to a brand-new value
    result = find_slices(prepare_analysis(fraud.baseline_frame, prod), features=["device"])
    assert "smart fridge" in result.bins["device"].labels
