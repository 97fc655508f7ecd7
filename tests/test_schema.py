"""Column-role detection, explicit overrides, model-type inference and the positive class."""

from __future__ import annotations

import pandas as pd
import pytest

from tracing.errors import DataError
from tracing.schema import ModelType, detect_roles, infer_model_type, resolve_schema


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
