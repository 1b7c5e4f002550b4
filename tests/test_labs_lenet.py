"""Tests of course_utils.labs.lenet: notebook 03's figures draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils.labs import lenet  # noqa: E402


def test_learning_curves_draw_training_and_validation():
    history = {"loss": [0.5, 0.2], "val_loss": [0.3, 0.25], "accuracy": [0.8, 0.9]}
    fig = lenet.plot_learning_curves(history)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_yscale() == "log"
    assert [line.get_label() for line in loss_ax.get_lines()] == ["training", "validation"]
    assert [line.get_label() for line in acc_ax.get_lines()] == ["training"]  # no val_accuracy
    np.testing.assert_allclose(loss_ax.get_lines()[1].get_ydata(), [0.3, 0.25])
    with pytest.raises(ValueError, match="loss"):
        lenet.plot_learning_curves({"accuracy": [0.5]})


def test_confusion_is_annotated_and_colours_only_the_errors():
    confusion = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 2]])
    fig = lenet.plot_confusion(confusion)
    ax = fig.axes[0]
    assert ax.get_title() == "Confusion matrix (2 errors of 6)"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "1", "1", "2"]
    shown = ax.get_images()[0].get_array()
    blank = np.ma.getmaskarray(shown) | np.isnan(np.ma.getdata(shown))
    assert blank[0, 0] and blank[0, 1] and not blank[1, 2] and shown[1, 2] == 1  # errors only
    with pytest.raises(ValueError, match="square"):
        lenet.plot_confusion(np.zeros((2, 3)))


def test_images_grid_digits_kernels_and_gaps():
    digits = np.zeros((5, 28, 28, 1), dtype=np.float32)
    fig = lenet.plot_images(digits, [f"d{i}" for i in range(5)], columns=4)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["d0", "d1", "d2", "d3", "d4"] and len(fig.axes) == 8
    kernel = np.array([[1.0, -2.0], [0.0, 0.5]])
    grid = [np.ones((28, 28)), kernel, None, np.zeros((2, 2))]
    fig = lenet.plot_images(
        grid, ["digit", "k0", "", "k1"], columns=2, signed=[False, True, False, True]
    )
    drawn = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(drawn) == 3  # None leaves a gap
    assert drawn[0].get_cmap().name == "gray_r"
    assert drawn[1].get_cmap().name == "RdBu_r" and drawn[1].get_clim() == (
        -2.0,
        2.0,
    )  # centred on 0
    assert drawn[2].get_clim() == (-1.0, 1.0)  # an all-zero kernel still draws
    with pytest.raises(ValueError, match="titles"):
        lenet.plot_images(digits, ["a"])
    with pytest.raises(ValueError, match="flags"):
        lenet.plot_images(grid, ["a", "b", "c", "d"], signed=[True])
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        lenet.plot_images([np.zeros((2, 2, 2))], ["a"])
