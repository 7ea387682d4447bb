import keras
import numpy as np
import pytest
import tensorflow as tf

import kcnn.optimizers
from kcnn.optimizers import AlexNetSGD

RNG = np.random.default_rng(4)
A = RNG.normal(size=(6, 4))
B = RNG.normal(size=(6,))
W0 = RNG.normal(size=(4,))


def _gradient(w):
    """Gradient of L(w) = 0.5 ||A w - b||^2."""
    return A.T @ (A @ w - B)


def _alexnet_numpy(steps, lr, momentum=0.9, decay=0.0005, gradient=_gradient):
    """Seed 001: v <- 0.9 v - 0.0005 eps w - eps dL/dw; w <- w + v (eps per step)."""
    w, v, path = W0.copy(), np.zeros_like(W0), []
    for t in range(steps):
        eps = lr(t) if callable(lr) else lr
        v = momentum * v - decay * eps * w - eps * gradient(w)
        w = w + v
        path.append(w)
    return np.array(path)


def _run(optimizer, steps, loss_fn=None, gradient=None):
    """Minimizes ``loss_fn(w)`` (default 0.5||Aw - b||^2) with a Keras optimizer."""
    w = keras.Variable(W0.astype("float32"), name="kernel")
    a, b = tf.constant(A, tf.float32), tf.constant(B, tf.float32)
    loss_fn = loss_fn or (lambda w: 0.5 * tf.reduce_sum((tf.linalg.matvec(a, w) - b) ** 2))

    @tf.function
    def step():
        if gradient is None:
            with tf.GradientTape() as tape:
                loss = loss_fn(w.value)
            grad = tape.gradient(loss, w.value)
        else:
            grad = tf.zeros_like(w.value)
        optimizer.apply_gradients([(grad, w)])
        return w.value

    return np.array([step().numpy() for _ in range(steps)], dtype="float64")


def test_update_rule_is_seed_001_over_several_steps():
    path = _run(AlexNetSGD(learning_rate=0.05), 8)
    np.testing.assert_allclose(path, _alexnet_numpy(8, 0.05), rtol=1e-5, atol=1e-6)
    # a bigger decay, so that the decay term is visible at float32 precision
    path = _run(AlexNetSGD(learning_rate=0.05, momentum=0.5, weight_decay=0.2), 8)
    np.testing.assert_allclose(path, _alexnet_numpy(8, 0.05, 0.5, 0.2), rtol=1e-5, atol=1e-6)
    assert not np.allclose(path, _alexnet_numpy(8, 0.05, 0.5, 0.0), rtol=1e-3)


def test_learning_rate_schedules_drive_the_rule():
    boundaries, values = [2, 5], [0.05, 0.01, 0.002]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    path = _run(AlexNetSGD(learning_rate=schedule, weight_decay=0.1), 9)

    def lr(t):  # the schedule sees the iteration count before the step
        return values[np.searchsorted(boundaries, t, side="left")]

    np.testing.assert_allclose(path, _alexnet_numpy(9, lr, decay=0.1), rtol=1e-5, atol=1e-6)


def test_equals_sgd_momentum_with_l2_penalty_of_half_the_decay():
    lr, steps = 0.05, 60
    coupled = _run(AlexNetSGD(learning_rate=lr, weight_decay=0.0005), steps)
    a, b = tf.constant(A, tf.float32), tf.constant(B, tf.float32)
    penalized = _run(keras.optimizers.SGD(learning_rate=lr, momentum=0.9), steps,
                     loss_fn=lambda w: 0.5 * tf.reduce_sum((tf.linalg.matvec(a, w) - b) ** 2)
                     + 0.00025 * tf.reduce_sum(w ** 2))
    np.testing.assert_allclose(coupled, penalized, rtol=1e-5, atol=1e-6)


def test_differs_from_keras_decoupled_weight_decay():
    # With zero gradients only the decay acts. AlexNet's decay goes through the velocity
    # and compounds with momentum (about 1 / (1 - 0.9) = 10 times stronger); Keras's
    # weight_decay multiplies w by (1 - lr * decay) outside it.
    lr, steps = 1.0, 400
    coupled = _run(AlexNetSGD(learning_rate=lr), steps, gradient="zero")
    decoupled = _run(keras.optimizers.SGD(learning_rate=lr, momentum=0.9, weight_decay=0.0005),
                     steps, gradient="zero")
    np.testing.assert_allclose(coupled, _alexnet_numpy(steps, lr, gradient=np.zeros_like),
                               rtol=1e-4)
    np.testing.assert_allclose(decoupled[-1], W0 * (1 - lr * 0.0005) ** steps, rtol=1e-4)
    shrink_coupled = coupled[-1] / W0      # 0.13: about 0.9947 per step after a transient
    shrink_decoupled = decoupled[-1] / W0  # (1 - 0.0005)^400 = 0.82
    assert np.allclose(shrink_coupled, shrink_coupled[0]) and shrink_coupled[0] < 0.2
    assert shrink_decoupled[0] > 0.8
    assert 9 < np.log(shrink_coupled[0]) / np.log(shrink_decoupled[0]) < 11


def test_excluded_variables_get_plain_momentum():
    optimizer = AlexNetSGD(learning_rate=0.05, weight_decay=0.3)
    optimizer.exclude_from_weight_decay(var_names=["kernel"])
    np.testing.assert_allclose(_run(optimizer, 5), _alexnet_numpy(5, 0.05, decay=0.0),
                               rtol=1e-5, atol=1e-6)


def test_lookup_config_and_validation():
    assert isinstance(kcnn.optimizers.get("alexnet_sgd"), AlexNetSGD)
    assert isinstance(kcnn.optimizers.get("AlexNetSGD"), AlexNetSGD)
    assert isinstance(kcnn.optimizers.get("sgd"), keras.optimizers.SGD)
    with pytest.raises(ValueError, match="Did you mean 'alexnet_sgd'.*Received: optimizer="):
        kcnn.optimizers.get("alexnet_sdg")
    default = AlexNetSGD()
    assert (float(default.learning_rate), default.momentum,
            default.coupled_weight_decay) == pytest.approx((0.01, 0.9, 0.0005))
    assert default.weight_decay is None  # Keras's decoupled decay stays off

    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.5)
    optimizer = AlexNetSGD(learning_rate=schedule, momentum=0.8, weight_decay=0.001,
                           clipnorm=1.0)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is AlexNetSGD and again.get_config() == optimizer.get_config()
    assert again.get_config()["learning_rate"]["class_name"] == "ExponentialDecay"
    with pytest.raises(ValueError, match="Received: momentum=1.5"):
        AlexNetSGD(momentum=1.5)
    with pytest.raises(ValueError, match="Received: weight_decay=-0.1"):
        AlexNetSGD(weight_decay=-0.1)


# === make_optimizer: the one factory ===

def _penalized(lr_value, decay):
    """Loss 0.5||Aw - b||^2 + decay / 2 ||w||^2 (the coupled decay as an L2 term)."""
    a, b = tf.constant(A, tf.float32), tf.constant(B, tf.float32)
    return lambda w: (0.5 * tf.reduce_sum((tf.linalg.matvec(a, w) - b) ** 2)
                      + decay / 2 * tf.reduce_sum(w ** 2))


@pytest.mark.parametrize("name, plain", [("sgd", keras.optimizers.SGD),
                                         ("adam", keras.optimizers.Adam),
                                         ("rmsprop", keras.optimizers.RMSprop)])
def test_coupled_decay_is_an_l2_term_in_the_gradient(name, plain):
    lr, decay, steps = 0.05, 0.3, 12
    momentum = {"adam": 0.0}.get(name, 0.9)
    made = kcnn.optimizers.make_optimizer(name, learning_rate=lr, momentum=momentum,
                                          weight_decay=decay)
    reference = plain(learning_rate=lr, **({} if name == "adam" else {"momentum": momentum}))
    np.testing.assert_allclose(_run(made, steps),
                               _run(reference, steps, loss_fn=_penalized(lr, decay)),
                               rtol=2e-5, atol=1e-6)
    undecayed = kcnn.optimizers.make_optimizer(name, learning_rate=lr, momentum=momentum)
    assert type(undecayed) is plain  # no decay: Keras's own optimizer


def test_adamw_decay_is_decoupled_and_spares_biases():
    # Zero gradients leave Adam's step at 0, so only the decoupled decay acts:
    # w <- w (1 - lr wd) on the kernel; the bias is not decayed (decay_bias=False).
    kernel = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    bias = keras.Variable(np.ones((2,), "float32"), name="bias")
    optimizer = kcnn.optimizers.make_optimizer("adamw", learning_rate=0.1, weight_decay=0.2)
    for _ in range(3):
        optimizer.apply_gradients([(tf.zeros_like(kernel.value), kernel),
                                   (tf.zeros_like(bias.value), bias)])
    np.testing.assert_allclose(kernel.numpy(), np.full((2, 2), (1 - 0.1 * 0.2) ** 3), rtol=1e-6)
    np.testing.assert_array_equal(bias.numpy(), np.ones(2))
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is kcnn.optimizers.AdamW and again.decay_bias is False


def test_make_optimizer_names_and_refuses_bad_values():
    make = kcnn.optimizers.make_optimizer
    assert set(kcnn.optimizers.OPTIMIZERS) == {"sgd", "alexnet_sgd", "adam", "adamw",
                                               "rmsprop"}
    assert type(make("alexnet_sgd", learning_rate=0.01)) is AlexNetSGD
    assert type(make("SGD", learning_rate=0.01, weight_decay=5e-4)) is AlexNetSGD
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert make("sgd", learning_rate=schedule).get_config()["learning_rate"]["class_name"] \
        == "ExponentialDecay"
    with pytest.raises(ValueError, match="Did you mean .*'adamw'.*Received: name='adamv'"):
        make("adamv", learning_rate=0.01)
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        make("sgd", learning_rate=-1)
    with pytest.raises(ValueError, match="Received: learning_rate=0"):
        make("sgd", learning_rate=0)
    with pytest.raises(TypeError, match="learning_rate"):
        make("sgd", learning_rate="fast")
    with pytest.raises(ValueError, match="Received: momentum=1.0"):
        make("sgd", learning_rate=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="`momentum` does not apply to 'adam'"):
        make("adam", learning_rate=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="Received: weight_decay=-0.1"):
        make("adamw", learning_rate=0.1, weight_decay=-0.1)
    with pytest.raises(TypeError, match="decay_bias"):
        make("sgd", learning_rate=0.1, decay_bias="no")
