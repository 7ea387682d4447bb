import keras
import numpy as np
import pytest

import kcnn.losses
from kcnn.losses import SmoothL1, smooth_l1

RNG = np.random.default_rng(3)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _smooth_l1_seed_001(y, y_hat):
    """Seed 001: 0.5 (y - y_hat)^2 if |y - y_hat| < 1 else |y - y_hat| - 0.5."""
    d = np.abs(y - y_hat)
    return np.where(d < 1, 0.5 * d ** 2, d - 0.5).mean(axis=-1)


def test_smooth_l1_matches_seed_001_and_equals_huber_with_delta_1():
    y_true = RNG.normal(size=(16, 5)).astype("float32")
    y_pred = (y_true + RNG.normal(scale=1.5, size=(16, 5))).astype("float32")
    y_pred[0] = y_true[0] + np.array([-1, 1, 0, 0.999, -1.001], "float32")  # the joins
    np.testing.assert_allclose(_np(smooth_l1(y_true, y_pred)), _smooth_l1_seed_001(y_true, y_pred),
                               atol=1e-6)
    np.testing.assert_allclose(_np(smooth_l1(y_true, y_pred)),
                               _np(keras.losses.huber(y_true, y_pred, delta=1.0)), atol=1e-6)
    assert float(SmoothL1()(y_true, y_pred)) == pytest.approx(
        float(keras.losses.Huber(delta=1.0)(y_true, y_pred)), abs=1e-6)
    weights = RNG.uniform(size=(16,)).astype("float32")
    assert float(SmoothL1(reduction="sum")(y_true, y_pred, sample_weight=weights)) == \
        pytest.approx(float(keras.losses.Huber(delta=1.0, reduction="sum")(
            y_true, y_pred, sample_weight=weights)), rel=1e-6)


def test_beta_is_the_width_of_the_quadratic_zone():
    y_true = np.zeros((4, 3), "float32")
    y_pred = RNG.normal(scale=2, size=(4, 3)).astype("float32")
    d = np.abs(y_pred)
    expected = np.where(d < 0.5, 0.5 * d ** 2 / 0.5, d - 0.25).mean(axis=-1)
    np.testing.assert_allclose(_np(smooth_l1(y_true, y_pred, beta=0.5)), expected, atol=1e-6)
    np.testing.assert_allclose(_np(SmoothL1(beta=0.5, reduction=None)(y_true, y_pred)),
                               _np(keras.losses.huber(y_true, y_pred, delta=0.5)) / 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="Received: beta=0"):
        SmoothL1(beta=0)


def test_lookup_by_name_falls_back_to_keras():
    assert kcnn.losses.get("smooth_l1") is smooth_l1
    assert isinstance(kcnn.losses.get("SmoothL1"), SmoothL1)
    assert kcnn.losses.get("mse") is keras.losses.get("mse")
    assert isinstance(kcnn.losses.get("Huber"), keras.losses.Huber)
    assert kcnn.losses.get(smooth_l1) is smooth_l1
    with pytest.raises(ValueError, match="Did you mean 'smooth_l1'.*Received: loss='smoth_l1'"):
        kcnn.losses.get("smoth_l1")
    # keras.losses.get itself does not see kcnn's registered names
    with pytest.raises(ValueError):
        keras.losses.get("smooth_l1")


def test_config_round_trip_keeps_beta():
    loss = SmoothL1(beta=0.25, reduction="sum", name="box")
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is SmoothL1 and again.beta == 0.25 and again.name == "box"
    assert again.reduction == "sum"
