"""Values and names from a data file never render as Markdown links, images or HTML."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# A Markdown link or image needs "](" with the bracket not escaped.
LIVE_LINK = re.compile(r"(?<!\\)\]\(")
PIXEL = "![px](http://127.0.0.1:9/p.png)"
LINK = "[click me](http://127.0.0.1:9/)"


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 4000
    city = rng.choice(["north", "south", PIXEL], n)
    frames = []
    for bad in (False, True):
        actual = rng.integers(0, 2, n)
        wrong = (city == PIXEL) & bad
        pred = np.where(wrong, 1 - actual, actual)
        flip = rng.random(n) < 0.05
        pred = np.where(flip, 1 - pred, pred)
        frames.append(
            pd.DataFrame({LINK: city, "amount": rng.random(n), "prediction": pred,
                          "actual": actual})
        )  # fmt: skip
    return frames[0], frames[1]


def _texts(at) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "subheader"):
        out += [str(e.value) for e in at.get(kind)]
    out += [str(b.label) for b in at.get("button")]
    return out


def test_injected_names_and_values_stay_text(app, data_dir, no_errors) -> None:
    base, prod = _frames()
    base.to_parquet(data_dir / "inj_base.parquet")
    prod.to_parquet(data_dir / "inj_prod.parquet")
    at = app(
        "slices",
        baseline=str(data_dir / "inj_base.parquet"),
        production=str(data_dir / "inj_prod.parquet"),
        prediction="prediction",
        actual="actual",
    )
    no_errors(at)
    shown = at.dataframe[0].value
    assert PIXEL in shown.iloc[0]["slice"]  # the table shows the value as it is
    texts = _texts(at)
    assert any("click me" in t for t in texts)  # the name does appear in Markdown...
    for text in texts:  # ...but never as a link or an image
        assert not LIVE_LINK.search(text), text
    at.switch_page("pages/share.py").run()
    no_errors(at)
    for text in _texts(at):
        assert not LIVE_LINK.search(text), text
