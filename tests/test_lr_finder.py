"""The learning-rate range test on a tiny classifier."""

import keras
import numpy as np
import pytest

from kcnn import schedules


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Overrides conftest's reset: a tiny model, so no full garbage collection."""
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


def data():
    rng = np.random.RandomState(0)
    x = rng.randn(512, 8).astype("float32")
    y = (x @ rng.randn(8) > 0).astype("int32")     # linearly separable labels
    return x, y


def tiny_classifier():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_range_test_curve_suggestion_plot_and_restore(tmp_path):
    model = tiny_classifier()
    before = [w.copy() for w in model.get_weights()]
    png = tmp_path / "lr" / "finder.png"
    result = schedules.find_lr(model, data(), start_lr=1e-4, end_lr=100.0, num_steps=60,
                               batch_size=32, plot_path=png)
    n = len(result.learning_rates)
    assert 10 < n <= 60 and len(result.losses) == len(result.smoothed_losses) == n
    # Exponential sweep: rate i is 1e-4 * 1e6 ** (i / 59).
    expected = 1e-4 * 1e6 ** (np.arange(n) / 59)
    np.testing.assert_allclose(result.learning_rates, expected, rtol=1e-9)
    # The loss starts near log(2) (two balanced classes), falls, and the suggestion lies
    # on the falling part, well inside the swept range.
    assert abs(result.losses[0] - np.log(2)) < 0.3
    assert result.smoothed_losses.min() < 0.7 * result.smoothed_losses[0]
    assert 1e-3 <= result.suggestion <= result.min_loss_learning_rate
    i = int(np.searchsorted(result.learning_rates, result.suggestion))
    assert result.smoothed_losses[i] > result.smoothed_losses.min()
    # The plot is a PNG file.
    assert result.plot_path == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Weights, optimizer step count and rate are back where they were.
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(model.optimizer.iterations) == 0
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_range_test_on_a_dataset_stops_when_the_loss_diverges():
    import tensorflow as tf

    x, y = data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    result = schedules.find_lr(tiny_classifier(), ds, start_lr=1e-3, end_lr=1e4,
                               num_steps=80, smoothing=0.5)
    # The rate reaches values where SGD with momentum 0.9 blows up: the test ends early.
    assert len(result.learning_rates) < 80
    last = result.smoothed_losses[-1]
    assert not np.isfinite(last) or last > 4 * np.nanmin(result.smoothed_losses)


def test_range_test_refuses_a_schedule_optimizer():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(schedules.StepDecay(0.1, 10)), "mse")
    with pytest.raises(TypeError, match="float"):
        schedules.find_lr(model, data(), num_steps=5)
    with pytest.raises(ValueError, match="`end_lr`"):
        schedules.find_lr(tiny_classifier(), data(), start_lr=1.0, end_lr=0.1)
