"""Column-role detection, explicit overrides, model-type inference and the positive class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracing.errors import DataError
from tracing.schema import (
    ModelType,
    check_roles,
    check_threshold,
    detect_roles,
    infer_model_type,
    resolve_schema,
    role_problems,
    suggest_roles,
)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            [
                "prediction_id",
                "timestamp",
                "prediction_label",
                "prediction_score",
                "actual_label",
                "state",
            ],
            {
                "prediction_id": "prediction_id",
                "timestamp": "timestamp",
                "prediction_label": "prediction_label",
                "prediction_score": ("prediction_score",),
                "actual_label": "actual_label",
                "features": ("state",),
            },
        ),
        (
            ["id", "time", "pred", "proba", "target", "x"],
            {
                "prediction_id": "id",
                "timestamp": "time",
                "prediction_label": "pred",
                "prediction_score": ("proba",),
                "actual_label": "target",
                "features": ("x",),
            },
        ),
        (
            ["y_pred", "y_pred_proba", "y_true", "date", "f"],
            {
                "prediction_label": "y_pred",
                "prediction_score": ("y_pred_proba",),
                "actual_label": "y_true",
                "timestamp": "date",
                "features": ("f",),
            },
        ),
        (
            ["Predicted Class", "Label", "Probability", "age"],
            {
                "prediction_label": "Predicted Class",
                "actual_label": "Label",
                "prediction_score": ("Probability",),
                "features": ("age",),
            },
        ),
        (
            ["predicted_eta_min", "actual_eta_min", "city"],
            {
                "prediction_label": "predicted_eta_min",
                "actual_label": "actual_eta_min",
                "features": ("city",),
            },
        ),
    ],
)
def test_roles_are_detected_from_common_names(columns, expected):
    roles = detect_roles(columns)
    for role, value in expected.items():
        assert getattr(roles, role) == value, role


def test_explicit_roles_always_win_and_features_default_to_the_rest():
    cols = ["id", "pred", "label", "score", "state", "amount", "campaign"]
    roles = detect_roles(cols, overrides={"actual_label": "state", "tags": ("campaign",)})
    assert roles.actual_label == "state"
    assert roles.prediction_label == "pred"
    # "label" is no longer the actual, so it is a feature like any other column left over.
    assert roles.features == ("label", "amount")
    assert roles.tags == ("campaign",)
    assert roles.slice_columns() == ("label", "amount", "campaign")
    explicit = detect_roles(cols, overrides={"features": ["amount"], "prediction_score": None})
    assert explicit.features == ("amount",) and explicit.prediction_score == ()


def test_shap_columns_pair_with_their_feature():
    roles = detect_roles(["pred", "label", "age", "age_shap", "city", "city_shap"])
    assert roles.shap == (("age", "age_shap"), ("city", "city_shap"))
    assert roles.features == ("age", "city")


def test_unknown_override_column_is_named():
    with pytest.raises(
        DataError, match=r"column 'nope' \(given as actual_label\) is not in the data"
    ):
        detect_roles(["a", "b"], overrides={"actual_label": "nope"})
    with pytest.raises(DataError, match="unknown column role 'label_col'"):
        detect_roles(["a"], overrides={"label_col": "a"})


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ([0, 1, 1, 0], ModelType.BINARY),
        ([True, False, True, True], ModelType.BINARY),
        (["fraud", "ok", "ok", "ok"], ModelType.BINARY),
        (["a", "b", "c", "a"], ModelType.MULTICLASS),
        ([0, 1, 2, 3, 1], ModelType.MULTICLASS),
        ([1.5, 2.25, 3.0, 4.0], ModelType.REGRESSION),
        ([10.0, 20.0, 30.0, 40.0], ModelType.REGRESSION),
        (list(range(100)), ModelType.REGRESSION),
    ],
)
def test_model_type_inference(actual, expected):
    assert infer_model_type(pd.Series(actual), None) is expected


@pytest.mark.parametrize(
    ("labels", "given", "expected"),
    [
        ([0, 1, 0, 0], None, 1),
        ([True, False, False], None, True),
        (["1", "0", "0"], None, "1"),
        (["fraud", "ok", "ok", "ok"], None, "fraud"),  # minority class
        (["no", "yes", "no"], None, "yes"),
        ([0, 1, 1, 1], "0", 0),  # text from the CLI/URL selects the integer label
        (["fraud", "ok"], "OK", "ok"),
    ],
)
def test_positive_class_default_and_override(labels, given, expected):
    df = pd.DataFrame({"pred": labels, "actual": labels})
    schema = resolve_schema([df], detect_roles(df.columns), positive_class=given)
    assert schema.model_type is ModelType.BINARY
    assert schema.positive_class == expected and type(schema.positive_class) is type(expected)


def test_bad_model_type_or_positive_class_lists_the_choices():
    df = pd.DataFrame({"pred": [0, 1], "actual": [1, 0]})
    roles = detect_roles(df.columns)
    with pytest.raises(DataError, match="choose one of: binary, multiclass, regression"):
        resolve_schema([df], roles, model_type="ranking")
    with pytest.raises(DataError, match="positive class 'maybe' is not among the labels"):
        resolve_schema([df], roles, positive_class="maybe")
    multi = pd.DataFrame({"pred": ["a", "b", "c"], "actual": ["a", "b", "c"]})
    with pytest.raises(DataError, match="--model-type multiclass"):
        resolve_schema([multi], detect_roles(multi.columns), model_type="binary")


def test_no_prediction_column_is_explained():
    df = pd.DataFrame({"actual": [0, 1], "x": [1, 2]})
    with pytest.raises(DataError, match="no prediction column found"):
        resolve_schema([df], detect_roles(df.columns))


def test_multiclass_score_columns_one_per_class_give_the_predicted_label():
    from sklearn.metrics import accuracy_score

    from tracing.metrics import get_metric, prepare

    df = pd.DataFrame(
        {
            "actual": ["cat", "dog", "bird", "dog", "cat"],
            "proba_cat": [0.7, 0.1, 0.2, 0.3, 0.2],
            "proba_dog": [0.2, 0.8, 0.1, 0.6, 0.5],
            "proba_bird": [0.1, 0.1, 0.7, 0.1, 0.3],
            "size": [1, 2, 3, 4, 5],
        }
    )
    roles = detect_roles(df.columns)
    assert roles.prediction_score == ("proba_cat", "proba_dog", "proba_bird")
    assert roles.features == ("size",)
    schema = resolve_schema([df], roles)
    assert schema.model_type is ModelType.MULTICLASS
    prep = prepare(df, schema)
    predicted = ["cat", "dog", "bird", "dog", "dog"]
    assert get_metric("accuracy", schema).compute(prep) == accuracy_score(df.actual, predicted)


def test_float_labels_one_and_zero_take_one_as_positive():
    df = pd.DataFrame({"pred": [1.0, 1.0, 0.0], "actual": [1.0, 1.0, 1.0]})
    schema = resolve_schema([df], detect_roles(df.columns))
    assert schema.model_type is ModelType.BINARY and schema.positive_class == 1.0


# -- roles from names and values together (issue 12) -------------------------------------------

FLIGHT_COLUMNS = [
    "flight_id",
    "sched_departure",
    "carrier",
    "origin",
    "dest",
    "tailnum",
    "hour",
    "temp",
    "visib",
    "delay_proba",
    "delayed_pred",
    "delayed",
]


def _flights(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    delayed = (rng.random(n) < 0.25).astype(int)
    proba = np.clip(0.3 + 0.4 * delayed + rng.normal(0, 0.2, n), 0, 1)
    return pd.DataFrame(
        {
            "flight_id": np.arange(n) + 10_000 * seed,
            "sched_departure": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 4000, n), unit="h"),
            "carrier": rng.choice(["AA", "DL", "UA"], n),
            "origin": rng.choice(["JFK", "LGA"], n),
            "dest": rng.choice(["ATL", "ORD", "LAX"], n),
            "tailnum": rng.choice([f"N{i}" for i in range(40)], n),
            "hour": rng.integers(5, 23, n),
            "temp": rng.normal(60, 15, n),
            "visib": rng.choice([10.0, 5.0], n),
            "delay_proba": proba,
            "delayed_pred": (proba >= 0.5).astype(int),
            "delayed": delayed,
        }
    )[FLIGHT_COLUMNS]


def test_realistic_flight_names_and_values_give_every_role_with_reasons():
    frames = [_flights(seed=0), _flights(seed=1)]
    found = suggest_roles(FLIGHT_COLUMNS, data=frames)
    r = found.roles
    assert (r.prediction_id, r.timestamp) == ("flight_id", "sched_departure")
    assert (r.prediction_label, r.prediction_score, r.actual_label) == (
        "delayed_pred",
        ("delay_proba",),
        "delayed",
    )
    assert r.features == ("carrier", "origin", "dest", "tailnum", "hour", "temp", "visib")
    # None of these names is an exact Arize name: every role is a guess with its reason.
    assert {g.role for g in found.guesses} == {
        "prediction_id",
        "timestamp",
        "prediction_label",
        "prediction_score",
        "actual_label",
    }
    assert "'delayed' is what 'delayed_pred' predicts" in found.guess("actual_label").reason
    assert "dates and times" in found.guess("timestamp").reason
    # Names alone: no timestamp or id (those need the values), the rest the same.
    by_name = detect_roles(FLIGHT_COLUMNS)
    assert (by_name.prediction_label, by_name.actual_label) == ("delayed_pred", "delayed")
    assert by_name.timestamp is None and by_name.prediction_id is None


def test_the_cli_report_detects_every_flight_role_with_no_flags(tmp_path, capsys):
    import json

    from tracing.cli import main

    b, p, out = tmp_path / "jan_jun.csv", tmp_path / "jul_dec.parquet", tmp_path / "r.json"
    _flights(seed=0).to_csv(b, index=False)  # timestamps as ISO text
    _flights(seed=1).to_parquet(p, index=False)  # timestamps typed
    args = ["report", "--baseline", str(b), "--production", str(p), "--sections", "overall"]
    assert main([*args, "--output", str(out)]) == 0, capsys.readouterr().err
    columns = json.loads(out.read_text())["columns"]
    assert columns["prediction_id"] == "flight_id"
    assert columns["timestamp"] == "sched_departure"
    assert columns["prediction_label"] == "delayed_pred"
    assert columns["prediction_score"] == ["delay_proba"]
    assert columns["actual_label"] == "delayed"
    # One file cut by date needs the timestamp, found from the values alone.
    assert main(["timeline", "--production", str(p), "--output", str(out)]) == 0
    assert json.loads(out.read_text())["freq"] == "day"


_SEPARATED = {
    "snake": lambda words: "_".join(words),
    "kebab": lambda words: "-".join(words),
    "space": lambda words: " ".join(w.capitalize() for w in words),
    "camel": lambda words: words[0] + "".join(w.capitalize() for w in words[1:]),
    "upper": lambda words: "_".join(words).upper(),
}
# Target words that are not themselves a role's name or rule ("label", "y", "predicted"...).
_WORD = st.from_regex(r"[a-z]{3,9}", fullmatch=True).filter(
    lambda w: (
        not any(
            w.startswith(x) or w.endswith(x)
            for x in ("pred", "prob", "score", "label", "actual", "true", "target", "time", "date")
        )
        and w not in {"outcome", "truth", "forecast", "yhat", "value", "class", "observed"}
    )
)


@settings(max_examples=150, deadline=None)
@given(
    target=st.lists(_WORD, min_size=1, max_size=3),
    style=st.sampled_from(sorted(_SEPARATED)),
    pred_suffix=st.sampled_from(["pred", "prediction", "predicted", "label"]),
    score_suffix=st.sampled_from(["proba", "prob", "probability", "score"]),
    with_score=st.booleans(),
    order=st.randoms(use_true_random=False),
)
def test_target_pred_proba_names_in_any_spelling(
    target, style, pred_suffix, score_suffix, with_score, order
):
    name = _SEPARATED[style]
    actual, pred, score = name(target), name([*target, pred_suffix]), name([*target, score_suffix])
    columns = ["carrier", "origin", "hour", actual, pred] + ([score] if with_score else [])
    order.shuffle(columns)
    roles = detect_roles(columns)
    assert roles.prediction_label == pred
    assert roles.actual_label == actual
    assert roles.prediction_score == ((score,) if with_score else ())
    assert set(roles.features) == {"carrier", "origin", "hour"}


def test_two_candidate_actuals_are_a_guess_not_a_silent_pick():
    found = suggest_roles(["pred", "label", "target", "x"])
    guess = found.guess("actual_label")
    assert found.roles.actual_label == "label"  # filled in, but flagged
    assert guess is not None and guess.column == "label" and guess.alternatives == ("target",)
    assert "'target' could also be it" in guess.reason
    # The exact Arize names alone are certain: nothing to confirm.
    sure = suggest_roles(["prediction_label", "actual_label", "prediction_score", "x"])
    assert sure.guesses == ()
    # Two datetime columns, two unique ids: both guesses name the other one.
    n = 30
    df = pd.DataFrame(
        {
            "booking_uuid": [f"B{i}" for i in range(n)],
            "user_id": range(n),
            "created": pd.date_range("2024-01-01", periods=n, freq="D"),
            "departs": pd.date_range("2024-02-01", periods=n, freq="D"),
            "pred": [0, 1] * 15,
            "actual": [1, 0] * 15,
        }
    )
    found = suggest_roles(df.columns, data=df)
    assert found.roles.timestamp == "created"
    assert found.guess("timestamp").alternatives == ("departs",)
    assert found.roles.prediction_id == "booking_uuid"
    assert found.guess("prediction_id").alternatives == ("user_id",)


def test_values_that_cannot_play_a_role_are_left_out_and_said_why():
    n = 40
    df = pd.DataFrame(
        {
            "credit_score": np.linspace(300, 850, n),  # named like a score, not a probability
            "churn_pred": ["yes", "no"] * (n // 2),
            "label": [0, 1] * (n // 2),  # no label in common with the prediction
            "churn": ["no", "yes"] * (n // 2),
            "seq": np.arange(n),  # unique, but nothing says it is an id
            "order_ref": [f"R{i}" for i in range(n)],  # nor here: a business reference
        }
    )
    found = suggest_roles(df.columns, data=df)
    r = found.roles
    assert r.prediction_score == ()
    assert "credit_score" in r.features and "label" in r.features
    assert r.actual_label == "churn" and r.prediction_label == "churn_pred"
    reasons = {g.role: g for g in found.guesses if g.column is None}
    assert "from 300 to 850" in reasons["prediction_score"].reason
    assert "shares no label with the prediction" in reasons["actual_label"].reason
    assert r.prediction_id is None
    assert reasons["prediction_id"].alternatives == ("seq", "order_ref")
    # By name alone the same columns are taken at their word.
    assert detect_roles(df.columns).prediction_score == ("credit_score",)


def test_explicit_roles_are_never_guessed_or_checked():
    df = _flights(50)
    given = {"actual_label": "visib", "prediction_score": ("temp",), "timestamp": None}
    found = suggest_roles(df.columns, overrides=given, data=df)
    assert found.roles.actual_label == "visib" and found.roles.prediction_score == ("temp",)
    assert found.roles.timestamp is None
    assert not {"actual_label", "prediction_score", "timestamp"} & {g.role for g in found.guesses}


def test_every_missing_role_is_reported_at_once_with_its_role():
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    roles = detect_roles(df.columns)
    problems = role_problems(roles, [df, df], names=("b.csv", "p.csv"))
    assert [p.role for p in problems] == ["actual_label", "prediction_label"]
    with pytest.raises(DataError) as info:
        check_roles(roles, [df, df], names=("b.csv", "p.csv"))
    exc = info.value
    assert isinstance(exc, ValueError) and str(exc) == exc.message
    assert [p.role for p in exc.each()] == ["actual_label", "prediction_label"]
    # The CLI's words name its flags; the app's words name none.
    assert "--actual" in str(exc) and "--prediction" in str(exc)
    assert "--" not in exc.app_message and "b.csv/p.csv" in exc.app_message
    empty = pd.DataFrame({"pred": [0, 1], "actual": [None, None]})
    (problem,) = role_problems(detect_roles(empty.columns), [df.assign(pred=1, actual=1), empty])
    assert problem.role == "actual_label" and "has no values" in str(problem)


def test_data_error_keeps_its_fields_through_pickling():
    import pickle

    exc = DataError("threshold 2 is not valid", option="threshold", app_message="bad")
    copy = pickle.loads(pickle.dumps(DataError.combine([exc, DataError("x", role="timestamp")])))
    assert [(p.option, p.role) for p in copy.each()] == [("threshold", None), (None, "timestamp")]
    assert copy.each()[0].app_message == "bad"
    with pytest.raises(DataError) as info:
        check_threshold(float("nan"))
    assert info.value.option == "threshold"


@pytest.mark.parametrize(
    ("actual", "prediction"),
    [
        (["1", "0", "1", "1"], [True, False, False, True]),
        ([1, 0, 1, 1], ["True", "False", "False", "True"]),
        ([1.0, 0.0, 1.0, 1.0], ["1", "0", "0", "1"]),
        ([True, False, True, True], [1, 0, 0, 1]),
    ],
)
def test_one_true_and_one_in_text_are_one_class(actual, prediction):
    from sklearn.metrics import recall_score

    from tracing.metrics import get_metric, prepare

    df = pd.DataFrame({"actual": actual, "pred": prediction})
    schema = resolve_schema([df], detect_roles(df.columns))
    assert schema.model_type is ModelType.BINARY and len(schema.classes) == 2
    recall = get_metric("recall", schema).compute(prepare(df, schema))
    assert recall == recall_score([1, 0, 1, 1], [1, 0, 0, 1])


def test_labels_that_mean_different_things_are_refused_listing_both_sets():
    df = pd.DataFrame({"actual": ["yes", "no", "no"], "pred": [1, 0, 1]})
    with pytest.raises(DataError, match=r"'no', 'yes'.*'0', '1'") as info:
        resolve_schema([df], detect_roles(df.columns))
    assert "the actual" in str(info.value) and "the prediction" in str(info.value)
    base = pd.DataFrame({"actual": [1, 0], "pred": [1, 0]})
    prod = pd.DataFrame({"actual": ["cat", "dog"], "pred": ["cat", "dog"]})
    with pytest.raises(DataError, match=r"production \(.cat., .dog.\).*baseline \(.0., .1.\)"):
        resolve_schema([base, prod], detect_roles(base.columns))


# ---------------------------------------------------------------------------------------------
# Role detection checks a column part by part (no concatenation): the same answers


def _concat_unique_key(parts: list[pd.Series]) -> bool:
    """The check as it was, on the concatenation of both sides (the oracle)."""
    from tracing.schema import _MIN_ID_ROWS

    values = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if len(values) < _MIN_ID_ROWS:
        return False
    integer = pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    text = pd.api.types.is_string_dtype(values.dtype) and all(
        isinstance(v, str) for v in values.iloc[:1000]
    )
    if not (integer or text) or not values.iloc[:10_000].is_unique:
        return False
    return bool(values.notna().all() and values.is_unique)


_INT_DTYPES = st.sampled_from(["int8", "int64", "uint8", "uint64", "Int64", "float64", "str"])


@given(
    st.lists(st.integers(-130, 300), min_size=0, max_size=60),
    st.lists(st.integers(-130, 300), min_size=0, max_size=60),
    _INT_DTYPES,
    _INT_DTYPES,
    st.sampled_from([0, 2**62, 2**64 - 400]),
)
@settings(max_examples=300, deadline=None)
def test_unique_key_by_parts_equals_the_concatenation(a, b, dtype_a, dtype_b, shift):
    from tracing.schema import _is_unique_key, _parts

    def series(values: list[int], dtype: str) -> pd.Series:
        if dtype in ("int8", "uint8"):
            info = np.iinfo(dtype)
            values = [min(max(v, info.min), info.max) for v in values]
        elif dtype == "uint64":
            values = [abs(v) + shift for v in values]
        elif dtype == "str":
            return pd.Series([f"k{v}" for v in values], dtype="str")
        return pd.Series(values, dtype=dtype)

    frames = (pd.DataFrame({"c": series(a, dtype_a)}), pd.DataFrame({"c": series(b, dtype_b)}))
    parts = _parts(frames, "c")
    assert parts is not None
    whole = [f["c"] for f in frames]
    assert _is_unique_key(parts) == _concat_unique_key(whole)


def test_distinct_integers_wide_and_extreme_ranges():
    from tracing.schema import _distinct_integers

    big = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max])
    assert _distinct_integers([big, np.array([0])])
    assert not _distinct_integers([big, np.array([np.iinfo(np.int64).max])])
    ids = np.arange(1_000, 3_000)
    assert _distinct_integers([ids[::2], ids[1::2]])
    assert not _distinct_integers([ids[::2], ids[1::2][:-1], np.array([1_000])])
    top = np.array([2**64 - 1, 2**64 - 3], dtype=np.uint64)
    assert _distinct_integers([top, np.array([2**64 - 2], dtype=np.uint64)])
    assert not _distinct_integers([top, np.array([2**64 - 3], dtype=np.uint64)])


def test_timestamps_found_by_parts_as_on_the_concatenation():
    from tracing.schema import _is_datetime, _parts

    short = pd.DataFrame({"t": ["2024-01-01"] * 3})
    long = pd.DataFrame({"t": ["2024-01-02"] * 2000 + ["x"]})
    text_after = pd.DataFrame({"t": ["not a date"] * 5})
    assert _is_datetime(_parts((short, long), "t"))
    assert _is_datetime(_parts((long, text_after), "t"))  # the first 1,000 values decide
    assert _is_datetime(_parts((short, text_after.iloc[:0]), "t"))
    assert not _is_datetime(_parts((pd.DataFrame({"t": ["x"] * 3}), short), "t"))
    empty = pd.DataFrame({"t": pd.to_datetime(pd.Series([None, None]))})
    assert not _is_datetime(_parts((empty, empty), "t"))
    assert _is_datetime(_parts((empty, pd.DataFrame({"t": pd.to_datetime(["2024-01-01"])})), "t"))
