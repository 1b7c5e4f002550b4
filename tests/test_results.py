import json

import numpy as np
import pytest

from course_utils import results


def test_card_round_trip(tmp_path):
    path = results.save_results(
        "03_lenet_mnist.ipynb",
        {
            "test_accuracy": (np.float64(0.991), "fraction"),
            "train_seconds": {"value": 21.5, "unit": "s"},
        },
        directory=tmp_path,
    )
    assert path.name == "03_lenet_mnist.json"
    card = json.loads(path.read_text())
    assert card["notebook"] == "03_lenet_mnist"
    assert card["metrics"]["test_accuracy"] == {"value": 0.991, "unit": "fraction"}
    assert card["machine"]["logical_cpus"] >= 1 and card["machine"]["tensorflow"]
    assert card["created_utc"].endswith("Z")
    assert (
        results.load_results("03_lenet_mnist", directory=tmp_path)["metrics"]["train_seconds"][
            "unit"
        ]
        == "s"
    )


@pytest.mark.parametrize(
    "metrics, match",
    [
        ({"Test Accuracy": (1.0, "x")}, "snake_case"),
        ({"acc": 0.9}, r"\(value, unit\)"),
        ({"acc": {"value": 0.9}}, "unit"),
        ({"acc": (float("nan"), "fraction")}, "finite"),
    ],
)
def test_bad_metrics_are_rejected(tmp_path, metrics, match):
    with pytest.raises(ValueError, match=match):
        results.save_results("x", metrics, directory=tmp_path)


def test_missing_card_says_which_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebooks/05_x.ipynb"):
        results.load_results("05_x", directory=tmp_path)
