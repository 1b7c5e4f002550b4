"""Tests of course_utils.training: data split, progress display, training, the model cache."""

import io
import math

import numpy as np
import pytest

from course_utils import data, timing, training  # before Keras: sets TensorFlow's environment knobs

# isort: split
import keras

# Tiny runs: a few hundred digits, one epoch. They test the plumbing, not the accuracy
# (notebook 03 checks >= 99 % with the full recipe).
TINY = dict(epochs=1, batch_size=128, progress=None)


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


@pytest.fixture(scope="module")
def tiny_split():
    return training.lenet_data(validation_size=256, train_size=512)


@pytest.fixture(scope="module")
def tiny_run(tiny_split):
    return training.train_lenet(epochs=2, batch_size=128, data_split=tiny_split, progress=None)


# --------------------------------------------------------------------------- data


def test_lenet_data_holds_validation_out_of_the_training_set(tiny_split, mnist):
    (x_tr, y_tr), (_, y_te) = mnist
    s = tiny_split
    assert s.x_train.shape == (512, 32, 32, 1) and s.x_train.dtype == np.float32
    assert s.x_val.shape == (256, 32, 32, 1) and s.x_test.shape == (10000, 32, 32, 1)
    # validation = the last 256 training digits; training = the first 512; test untouched
    np.testing.assert_array_equal(s.y_val, y_tr[-256:])
    np.testing.assert_array_equal(s.y_train, y_tr[:512])
    np.testing.assert_array_equal(s.y_test, y_te)
    # 2-pixel zero border around the 28x28 digit, values in [0, 1]
    assert s.x_train[:, :2].max() == 0 and s.x_train[:, -2:].max() == 0
    assert s.x_train[:, :, :2].max() == 0 and s.x_train[:, :, -2:].max() == 0
    np.testing.assert_allclose(s.x_val[-1, 2:30, 2:30, 0], x_tr[-1] / 255.0, rtol=1e-6)
    assert 0.0 <= s.x_test.min() and s.x_test.max() <= 1.0
    assert "train 512" in repr(s)


def test_lenet_data_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="train_size=55001 and validation_size=5,000 ask for more"):
        training.lenet_data(validation_size=5000, train_size=55_001)
    with pytest.raises(ValueError, match="validation_size"):
        training.lenet_data(validation_size=60_000)
    with pytest.raises(TypeError, match="train_size"):
        training.lenet_data(train_size=1.5)


# --------------------------------------------------------------------------- progress


def _fit_toy(callback, epochs=3, batches=10):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(batches * 8, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model.fit(
        x, y, batch_size=8, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[callback]
    )


def test_progress_lines_prints_one_line_per_epoch_not_per_batch():
    out = io.StringIO()
    cb = training.EpochProgress("lines", file=out)
    _fit_toy(cb, epochs=3, batches=10)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    # loss first, training metrics before validation ones, plus the learning rate
    assert lines[0].index(" loss ") < lines[0].index(" accuracy ") < lines[0].index(" val_loss ")
    assert " lr 1.00e-03" in lines[0]
    assert len(cb.epoch_seconds) == 3 and all(s > 0 for s in cb.epoch_seconds)
    assert cb.learning_rates == pytest.approx([1e-3] * 3)


def test_progress_silent_prints_nothing_but_records(capsys):
    cb = training.EpochProgress("silent")
    _fit_toy(cb, epochs=2, batches=4)
    assert capsys.readouterr().out == ""
    assert len(cb.epoch_seconds) == 2


def test_progress_rejects_unknown_style():
    with pytest.raises(ValueError, match="style"):
        training.EpochProgress("bar")


# --------------------------------------------------------------------------- training


def test_train_lenet_returns_model_history_and_seconds(tiny_run):
    model, history, seconds = tiny_run.model, tiny_run.history, tiny_run.train_seconds
    assert model.count_params() == 81_194  # seed 002's summary
    assert model.input_shape == (None, 32, 32, 1) and model.output_shape == (None, 10)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "learning_rate"):
        assert len(history[key]) == 2, key
    assert seconds > 0 and tiny_run.cpu_seconds > 0
    assert sum(history["epoch_seconds"]) <= seconds * 1.05
    # it learned something from 512 digits: below chance-level loss ln(10), above 10 %
    assert history["loss"][-1] < history["loss"][0] < math.log(10) + 0.1
    assert history["val_accuracy"][-1] > 0.3
    # cosine decay: half-way down after epoch 1 of 2, zero at the end
    assert history["learning_rate"] == pytest.approx([training.LEARNING_RATE / 2, 0.0], abs=1e-7)
    assert tiny_run.settings["train_size"] == 512 and tiny_run.settings["epochs"] == 2


def test_train_lenet_builds_and_trains_on_the_device_named(tiny_run):
    # the device policy: weights where the work ran, XLA off, both recorded
    assert tiny_run.settings["device"] == "/CPU:0" and tiny_run.settings["jit_compile"] is False
    assert timing.weights_device(tiny_run.model) == "/CPU:0"
    assert tiny_run.model.jit_compile is False


@pytest.mark.skipif(timing.gpu_available(), reason="checks the CPU-only machine's message")
def test_train_lenet_on_a_missing_gpu_says_what_to_do(tiny_split):
    with pytest.raises(timing.GPUUnavailableError, match="device='cpu'"):
        training.train_lenet(epochs=1, data_split=tiny_split, device="gpu")


def test_train_lenet_prints_one_line_per_epoch(tiny_split, capsys):
    training.train_lenet(epochs=1, data_split=tiny_split, progress="lines")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("epoch 1/1")


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(batch_size=1.5), TypeError, "batch_size"),
        (dict(learning_rate=-1.0), ValueError, "learning_rate"),
        (dict(progress="verbose"), ValueError, "progress"),
        (dict(data_split=(np.zeros(3), np.zeros(3))), TypeError, "data_split"),
    ],
)
def test_train_lenet_rejects_bad_arguments(kwargs, error, word, tiny_split):
    kwargs.setdefault("data_split", tiny_split)
    with pytest.raises(error, match=word):
        training.train_lenet(**kwargs)


def test_compile_lenet_cosine_schedule_and_explicit_xla():
    tiny = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model = training.compile_lenet(tiny, 0.004, total_steps=100)
    schedule = model.optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.004)
    assert float(schedule(50)) == pytest.approx(0.002, rel=1e-5)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)
    assert model.jit_compile is False  # never Keras' 'auto' (XLA whenever a GPU is visible)
    assert training.compile_lenet(tiny, 0.004, 100, jit_compile=True).jit_compile is True
    with pytest.raises(ValueError, match="learning_rate"):
        training.compile_lenet(tiny, 0.0, 100)


# --------------------------------------------------------------------------- the cache


def test_default_model_path_is_in_artifacts():
    path = training.default_model_path()
    assert path.name == "lenet_keras.keras" and path.parent.name == "models"
    assert path.parent.parent.name == "artifacts"


def test_load_or_train_trains_when_missing_then_loads(tmp_path, capsys, tiny_split):
    path = tmp_path / "models" / "lenet.keras"
    first = training.load_or_train_lenet(path, min_accuracy=0, data_split=tiny_split, **TINY)
    out = capsys.readouterr().out
    assert "Training LeNet because there is no cached model yet" in out and "saved" in out
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["lenet.keras"]  # no temp file left

    second = training.load_or_train_lenet(path, min_accuracy=0, data_split=tiny_split, **TINY)
    assert capsys.readouterr().out.startswith("Loaded the trained LeNet")
    x = np.random.default_rng(1).random((4, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(second.predict(x, verbose=0), first.predict(x, verbose=0), atol=1e-6)


@pytest.fixture
def fake_training(monkeypatch, tiny_run):
    """Replace train_lenet by one that hands back the tiny run at once, recording its kwargs.

    The tests below check *when* load_or_train_lenet retrains; the test above runs the
    real training once.
    """
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return tiny_run

    monkeypatch.setattr(training, "train_lenet", fake)
    return calls


def test_load_or_train_retrains_a_corrupt_file(tmp_path, capsys, fake_training):
    path = tmp_path / "lenet.keras"
    path.write_bytes(b"this is not a zip file")
    model = training.load_or_train_lenet(path, min_accuracy=0, epochs=3)
    out = capsys.readouterr().out
    assert "could not be loaded" in out and "Trained in" in out
    assert fake_training == [{"epochs": 3}]  # train_kwargs passed through
    assert model.count_params() == 81_194
    assert keras.saving.load_model(path).count_params() == 81_194  # replaced by a good one


def test_load_or_train_rejects_another_model(tmp_path, capsys, fake_training):
    from course_utils.models import lenet5

    path = training.save_lenet(lenet5(), tmp_path / "lenet.keras")  # same shapes, 61,706 params
    training.load_or_train_lenet(path, min_accuracy=0)
    assert "61,706 parameters, not LeNet-like's 81,194" in capsys.readouterr().out
    assert len(fake_training) == 1


def test_load_or_train_rejects_a_badly_trained_model(tmp_path, capsys, fake_training, tiny_run):
    path = training.save_lenet(tiny_run.model, tmp_path / "lenet.keras")
    with pytest.warns(UserWarning, match="min_accuracy"):  # the retrain is no better here
        training.load_or_train_lenet(path, min_accuracy=0.99, check_size=200)
    assert "accuracy on the first 200 test digits" in capsys.readouterr().out
    assert len(fake_training) == 1
    # the same model passes a threshold it meets: loaded, not retrained
    training.load_or_train_lenet(path, min_accuracy=0.2, check_size=200)
    assert capsys.readouterr().out.startswith("Loaded")
    assert len(fake_training) == 1


def test_load_or_train_retrain_flag_and_bad_arguments(tmp_path, capsys, fake_training, tiny_run):
    path = training.save_lenet(tiny_run.model, tmp_path / "lenet.keras")
    with pytest.raises(ValueError, match="min_accuracy"):
        training.load_or_train_lenet(path, min_accuracy=99)
    training.load_or_train_lenet(path, min_accuracy=0, retrain=True)
    assert "because retrain=True" in capsys.readouterr().out and len(fake_training) == 1


def test_save_lenet_needs_keras_suffix(tmp_path, tiny_run):
    with pytest.raises(ValueError, match=".keras"):
        training.save_lenet(tiny_run.model, tmp_path / "lenet.h5")
