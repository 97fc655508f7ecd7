"""Biased actuals: planted selections are flagged, a random subsample of actuals is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracing.analysis import prepare_analysis
from tracing.quality import quality_checks
from tracing.selection import ActualsCoverage, actuals_coverage
from tracing.vocab import Severity


def _loans(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.8, 0.5, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    score = 1 / (1 + np.exp(-(np.log(income) - 10.8) * 3 + rng.normal(0, 0.5, n)))
    approve = score > 0.5
    repaid = rng.random(n) < np.where(approve, 0.9, 0.6)
    return pd.DataFrame(
        {
            "prediction_id": [f"{seed}-{i}" for i in range(n)],
            "income": income,
            "region": region,
            "prediction_score": score,
            "prediction_label": np.where(approve, "approve", "decline"),
            "actual_label": np.where(repaid, "approve", "decline"),
        }
    )


def _analysis(production: pd.DataFrame):
    return prepare_analysis(_loans(4000, 1), production, positive_class="approve")


def test_actuals_only_for_approved_applications_are_flagged() -> None:
    prod = _loans(4000, 2)
    # The lender only learns the outcome of the applications it approved.
    prod["actual_label"] = prod["actual_label"].where(prod["prediction_label"] == "approve")
    cov = actuals_coverage(_analysis(prod))
    assert isinstance(cov, ActualsCoverage)
    assert cov.uncovered == ("decline",) and cov.severity is Severity.ALERT
    assert cov.with_actuals == int((prod["prediction_label"] == "approve").sum())
    # Approval was decided by income, so the rows with actuals differ in income and score.
    assert {"income", "prediction_score"} <= set(cov.drifted["feature"])
    assert "region" not in set(cov.drifted["feature"])
    assert cov.sentence().startswith(f"Actuals cover {100 * cov.share:.1f}% of production rows")
    assert "only rows predicted 'approve'" in cov.sentence()


def test_actuals_selected_along_a_feature_are_flagged() -> None:
    prod = _loans(4000, 3)
    keep = (prod["region"] != "west") | (np.random.default_rng(0).random(len(prod)) < 0.05)
    prod["actual_label"] = prod["actual_label"].where(keep)
    cov = actuals_coverage(_analysis(prod))
    assert cov is not None and cov.biased and not cov.uncovered
    assert list(cov.drifted["feature"])[0] == "region"
    assert "differ from the rest in 'region'" in cov.sentence()


@pytest.mark.parametrize("seed", range(5))
def test_a_random_subsample_of_actuals_is_not_flagged(seed: int) -> None:
    prod = _loans(4000, 10 + seed)
    keep = np.random.default_rng(seed).random(len(prod)) < 0.4
    prod["actual_label"] = prod["actual_label"].where(keep)
    cov = actuals_coverage(_analysis(prod))
    assert cov is not None and not cov.biased, (cov.drifted, cov.by_class)
    assert cov.severity is Severity.NONE
    assert "spread like the rest" in cov.sentence()
    shares = cov.by_class.set_index("predicted")["share"]
    assert shares.to_dict() == pytest.approx(
        {c: keep[prod["prediction_label"] == c].mean() for c in shares.index}
    )


def test_no_test_with_all_or_no_actuals() -> None:
    assert actuals_coverage(_analysis(_loans(4000, 4))) is None
    prod = _loans(4000, 5)
    prod.loc[prod.index[30:], "actual_label"] = None
    assert actuals_coverage(_analysis(prod)) is not None  # 30 rows: just enough
    prod.loc[prod.index[29], "actual_label"] = None
    assert actuals_coverage(_analysis(prod)) is None


def test_the_quality_check_reports_it_with_its_sentence() -> None:
    prod = _loans(4000, 6)
    prod["actual_label"] = prod["actual_label"].where(prod["prediction_label"] == "approve")
    analysis = _analysis(prod)
    found = quality_checks(analysis)
    row = found[found["check"] == "biased_actuals"]
    assert len(row) == 1 and row["severity"].iloc[0] == Severity.ALERT
    assert row["detail"].iloc[0] == actuals_coverage(analysis).sentence()
    assert row["feature"].iloc[0] == "actual_label"
    random = _loans(4000, 7)
    random["actual_label"] = random["actual_label"].where(np.arange(len(random)) % 2 == 0)
    found = quality_checks(_analysis(random))
    assert "biased_actuals" not in set(found["check"])
