"""The papers' training settings: every preset pinned against the papers' numbers (typed here
from the papers and BVLC Caffe's solvers, not read back from kcnn), and the optimizer a
preset makes applies the papers' coupled weight decay to the right variables."""

import keras
import numpy as np
import pytest

from kcnn import schedules
from kcnn.optimizers import AlexNetSGD


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Overrides conftest's reset: these tests build only tiny models, so the session is
    cleared without the full garbage collection."""
    yield
    keras.backend.clear_session(free_memory=False)

# name: optimizer, rate, batch, momentum, weight decay, decay_bias, schedule kind, epochs,
# total iterations. Sources: Krizhevsky et al. 2012 section 5; Simonyan & Zisserman 2015
# section 3.1 (370K iterations = 74 epochs); Szegedy et al. 2015 section 6 plus BVLC's
# bvlc_googlenet solver.prototxt (base_lr 0.01, batch 32, weight_decay 0.0002, max_iter 10M
# = 250 epochs); He et al. 2016 sections 3.4 (60e4 iterations at 256 = 120 epochs) and 4.2;
# Silver et al. 2016 Methods.
PAPERS = {
    "alexnet": ("alexnet_sgd", 0.01, 128, 0.9, 0.0005, False, "plateau", 90, None),
    "vgg": ("sgd", 0.01, 256, 0.9, 0.0005, False, "plateau", 74, None),
    "googlenet": ("sgd", 0.01, 32, 0.9, 0.0002, False, "exponential", 250, None),
    "resnet_imagenet": ("sgd", 0.1, 256, 0.9, 0.0001, False, "plateau", 120, 600_000),
    "resnet_cifar": ("sgd", 0.1, 128, 0.9, 0.0001, False, "step", 182, 64_000),
    "resnet110_cifar": ("sgd", 0.1, 128, 0.9, 0.0001, False, "step", 182, 64_000),
    "alphago": ("sgd", 0.003, 16, 0.0, 0.0, False, "halving", None, 340_000_000),
}


def values(schedule, steps):
    return [float(schedule(s)) for s in steps]


def test_every_preset_is_pinned():
    assert set(schedules.list_presets()) == set(PAPERS)


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_preset_carries_the_papers_settings(name):
    optimizer, lr, batch, momentum, decay, decay_bias, kind, epochs, total = PAPERS[name]
    p = schedules.preset(name)
    assert (p.optimizer, p.batch_size, p.momentum, p.weight_decay, p.decay_bias,
            p.schedule_kind, p.epochs, p.total_steps) == (
        optimizer, batch, momentum, decay, decay_bias, kind, epochs, total)
    assert p.learning_rate == pytest.approx(lr) and p.paper_learning_rate == pytest.approx(lr)
    assert p.paper_batch_size == batch
    if decay:
        assert "bias" in p.notes.lower()  # the notes say why biases are (not) decayed
    made = p.make_optimizer()
    assert float(made.learning_rate) == pytest.approx(lr)
    if decay:  # the papers' coupled decay: AlexNet's rule, inside the momentum
        assert type(made) is AlexNetSGD
        assert (made.momentum, made.coupled_weight_decay, made.decay_bias) == pytest.approx(
            (momentum, decay, decay_bias))
        assert made.weight_decay is None  # Keras's decoupled decay stays off
    else:
        assert type(made) is keras.optimizers.SGD and made.momentum == momentum


@pytest.mark.parametrize("name", ["alexnet", "vgg", "resnet_imagenet"])
def test_plateau_presets_divide_by_ten_at_most_three_times_on_validation_error(name):
    p = schedules.preset(name)
    (callback,) = p.callbacks
    assert isinstance(callback, schedules.ReduceOnPlateau) and p.schedule is None
    # The papers watched the validation error; kcnn waits 5 epochs (the papers give none).
    assert (callback.factor, callback.max_reductions, callback.monitor, callback.patience) == (
        0.1, 3, "val_accuracy", 5)
    assert (p.monitor, p.patience) == ("val_accuracy", 5)
    assert schedules.preset(name, patience=2).callbacks[0].patience == 2


def test_fixed_schedules_follow_the_papers():
    googlenet = schedules.preset("googlenet", steps_per_epoch=10)  # 4% every 8 epochs
    assert values(googlenet.schedule, [79, 80, 160]) == pytest.approx([0.01, 0.0096, 0.009216])
    cifar = schedules.preset("resnet_cifar")  # /10 at 32k and 48k
    assert values(cifar.schedule, [31_999, 32_000, 47_999, 48_000]) == pytest.approx(
        [0.1, 0.01, 0.01, 0.001])
    r110 = schedules.preset("resnet110_cifar")  # 0.01 for 400 iterations first
    assert values(r110.schedule, [0, 399, 400]) == pytest.approx([0.01, 0.01, 0.1])
    alphago = schedules.preset("alphago")  # halved every 80M steps
    assert values(alphago.schedule, [79_999_999, 80_000_000, 160_000_000]) == pytest.approx(
        [0.003, 0.0015, 0.00075])
    for p in (googlenet, cifar, r110, alphago):
        assert p.monitor is None and p.patience is None


# === The optimizer a preset makes ===

def _model():
    """A kernel, a bias and BatchNorm's gamma and beta, all set to known values."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="fc"),
                              keras.layers.BatchNormalization(name="bn")])
    rng = np.random.default_rng(0)
    for v in model.trainable_variables:
        v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype("float32"))
    return model


def _zero_gradient_steps(optimizer, model, steps):
    variables = model.trainable_variables
    for _ in range(steps):
        optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in variables])
    return {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v) for v in variables}


def _alexnet_rule(w, lr, momentum, decay, steps):
    """Seed 001 with a zero gradient: v <- m v - wd lr w; w <- w + v (float64)."""
    w, v = w.astype("float64"), np.zeros_like(w, "float64")
    for _ in range(steps):
        v = momentum * v - decay * lr * w
        w = w + v
    return w


@pytest.mark.parametrize("name", ["alexnet", "vgg", "googlenet", "resnet_imagenet",
                                  "resnet_cifar", "alphago"])
def test_zero_gradient_steps_shrink_kernels_by_the_papers_rule(name):
    # A large rate makes the decay visible at float32 precision; the rule is the preset's.
    steps, lr = 20, 1.0
    p = schedules.preset(name, learning_rate=lr)
    model = _model()
    before = {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v)
              for v in model.trainable_variables}
    after = _zero_gradient_steps(p.make_optimizer(), model, steps)
    expected = _alexnet_rule(before["kernel"], lr, p.momentum, p.weight_decay, steps)
    np.testing.assert_allclose(after["kernel"], expected, rtol=1e-5)
    if p.weight_decay:
        assert np.all(after["kernel"] < before["kernel"])
        # Keras's decoupled decay would give (1 - lr wd)^steps, far less with momentum.
        decoupled = before["kernel"] * (1 - lr * p.weight_decay) ** steps
        assert not np.allclose(after["kernel"], decoupled, rtol=1e-3)
    for name_ in ("bias", "gamma", "beta"):  # the papers' solvers leave these undecayed
        np.testing.assert_array_equal(after[name_], before[name_])


def test_decay_bias_decays_biases_and_batchnorm_too():
    from kcnn.optimizers import make_optimizer

    model = _model()
    before = {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v)
              for v in model.trainable_variables}
    optimizer = make_optimizer("sgd", learning_rate=1.0, momentum=0.9, weight_decay=0.01,
                               decay_bias=True)
    after = _zero_gradient_steps(optimizer, model, 5)
    for key in ("kernel", "bias", "gamma", "beta"):
        np.testing.assert_allclose(after[key], _alexnet_rule(before[key], 1.0, 0.9, 0.01, 5),
                                   rtol=1e-5)


def test_preset_optimizer_survives_a_keras_file(tmp_path):
    p = schedules.preset("resnet_cifar", learning_rate=0.5)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    model = _model()
    model.compile(optimizer=p.make_optimizer(), loss="mse", run_eagerly=True)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    again.compile(optimizer=again.optimizer, loss="mse", run_eagerly=True)
    assert type(again.optimizer) is AlexNetSGD
    assert again.optimizer.get_config() == model.optimizer.get_config()
    assert (again.optimizer.coupled_weight_decay, again.optimizer.decay_bias) == (1e-4, False)
    # The restored velocity continues the run: one more step agrees with the original.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    again.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.trainable_variables, again.trainable_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                   keras.ops.convert_to_numpy(b), rtol=1e-6)


def test_preset_overrides_and_bad_values_name_the_argument():
    p = schedules.preset("vgg", weight_decay=0.0)
    assert p.weight_decay == 0.0 and type(p.make_optimizer()) is keras.optimizers.SGD
    with pytest.raises(ValueError, match="Received: weight_decay=-1"):
        schedules.preset("vgg", weight_decay=-1)
    with pytest.raises(ValueError, match="Received: patience=0"):
        schedules.preset("alexnet", patience=0)
    with pytest.raises(ValueError, match="Did you mean 'googlenet'"):
        schedules.preset("googlenett")
