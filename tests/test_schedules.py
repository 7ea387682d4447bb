"""Schedule values against hand-computed sequences, presets against the papers, reloading."""

import json
import math

import keras
import pytest

from kcnn import schedules
from tests.helpers import run_fresh


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Overrides conftest's reset: these tests build no sizeable models, so the session is
    cleared without the full garbage collection (about 0.5 s a test)."""
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


def values(schedule, steps):
    return [float(schedule(s)) for s in steps]


# === Step decays ===

def test_googlenet_four_percent_every_eight_epochs():
    s = schedules.StepDecay(0.01, 8, factor=0.96)
    expected = [0.01] * 8 + [0.0096] * 8 + [0.009216] * 8 + [0.00884736]
    assert values(s, range(25)) == pytest.approx(expected, rel=1e-6)


def test_alphago_halving_is_exact_at_large_step_counts():
    s = schedules.StepDecay(0.003, 80_000_000, factor=0.5)
    steps = [0, 79_999_999, 80_000_000, 159_999_999, 160_000_000, 339_999_999]
    expected = [0.003, 0.003, 0.0015, 0.0015, 0.00075, 0.0001875]
    assert values(s, steps) == pytest.approx(expected, rel=1e-6)


def test_step_decay_accepts_fractional_epochs():
    s = schedules.StepDecay(1.0, 2, factor=0.5)
    assert values(s, [0.0, 1.99, 2.0, 3.5, 4.25]) == pytest.approx([1, 1, 0.5, 0.5, 0.25])


def test_resnet_cifar_multistep():
    s = schedules.MultiStepDecay(0.1, [32000, 48000])
    steps = [0, 31_999, 32_000, 47_999, 48_000, 63_999]
    expected = [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert values(s, steps) == pytest.approx(expected, rel=1e-6)


# === One-cycle ===

def test_one_cycle_two_phases_cosine():
    # Hand arithmetic: initial 1/25 = 0.04, minimum 0.04 / 1e4 = 4e-6; the rise ends at
    # step 0.3 * 10 - 1 = 2, the fall at step 9 (7 steps later).
    s = schedules.OneCycle(1.0, 10, pct_start=0.3)
    rise = [0.04, 0.04 + 0.96 * 0.5, 1.0]
    fall = [4e-6 + (1.0 - 4e-6) * (1 + math.cos(math.pi * k / 7)) / 2 for k in range(1, 8)]
    assert values(s, range(10)) == pytest.approx(rise + fall, rel=1e-5, abs=1e-7)
    assert float(s(50)) == pytest.approx(4e-6, rel=1e-5)    # stays at the minimum


def test_one_cycle_linear_three_phases():
    # total 20, pct 0.25: rise to step 4, back to the initial rate at step 8, then to the
    # minimum at step 19; initial 2/4 = 0.5, minimum 0.5 / 100 = 0.005.
    s = schedules.OneCycle(2.0, 20, pct_start=0.25, div_factor=4.0, final_div_factor=100.0,
                           anneal="linear", three_phase=True)
    expected = {0: 0.5, 2: 1.25, 4: 2.0, 6: 1.25, 8: 0.5, 19: 0.005}
    expected[13] = 0.5 + (0.005 - 0.5) * 5 / 11
    assert values(s, list(expected)) == pytest.approx(list(expected.values()), rel=1e-5)


# === Warmup ===

def test_linear_warmup_of_a_constant():
    s = schedules.Warmup(0.1, 5)
    assert values(s, range(7)) == pytest.approx([0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.1],
                                                abs=1e-7)


def test_constant_warmup_resnet110():
    # 0.01 for 4 steps, then the schedule (0.1, divided by 10 from step 10).
    s = schedules.Warmup(schedules.MultiStepDecay(0.1, [10]), 4, start_learning_rate=0.01,
                         kind="constant")
    expected = [0.01] * 4 + [0.1] * 6 + [0.01]
    assert values(s, range(11)) == pytest.approx(expected, rel=1e-6)


def test_exponential_and_cosine_warmups():
    s = schedules.Warmup(0.1, 4, start_learning_rate=0.001, kind="exponential")
    expected = [0.001, 0.001 * 100 ** 0.25, 0.01, 0.001 * 100 ** 0.75, 0.1]
    assert values(s, range(5)) == pytest.approx(expected, rel=1e-5)
    s = schedules.Warmup(1.0, 4, kind="cosine")
    expected = [0.0, (1 - math.sqrt(0.5)) / 2, 0.5, (1 + math.sqrt(0.5)) / 2, 1.0]
    assert values(s, range(5)) == pytest.approx(expected, abs=1e-6)


def test_warmup_targets_the_schedule_with_and_without_offset():
    inner = schedules.StepDecay(1.0, 2, factor=0.5)
    # Without offset the schedule keeps counting from 0: target inner(2) = 0.5.
    assert values(schedules.Warmup(inner, 2), range(5)) == pytest.approx(
        [0.0, 0.25, 0.5, 0.5, 0.25])
    # With offset it starts after the warmup: target inner(0) = 1.
    assert values(schedules.Warmup(inner, 2, offset=True), range(6)) == pytest.approx(
        [0.0, 0.5, 1.0, 1.0, 0.5, 0.5])


def test_warmup_around_a_keras_schedule():
    cosine = keras.optimizers.schedules.CosineDecay(1.0, 10)
    s = schedules.Warmup(cosine, 2)
    target = (1 + math.cos(math.pi * 2 / 10)) / 2
    expected = [0.0, target / 2, target, (1 + math.cos(math.pi * 3 / 10)) / 2]
    assert values(s, range(4)) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_reexported_keras_schedules():
    poly = schedules.PolynomialDecay(1.0, 4, end_learning_rate=0.0, power=2.0)
    assert values(poly, range(6)) == pytest.approx([1, 0.5625, 0.25, 0.0625, 0, 0])
    sgdr = schedules.CosineDecayRestarts(1.0, 4, t_mul=2.0)
    # periods [0, 4), [4, 12), [12, 28): restarts at 4 and 12, halfway at 2, 8 and 20.
    assert values(sgdr, [0, 2, 4, 8, 12, 20]) == pytest.approx([1, 0.5, 1, 0.5, 1, 0.5],
                                                                abs=1e-6)


def test_schedules_run_inside_a_compiled_function():
    import tensorflow as tf

    s = schedules.Warmup(schedules.StepDecay(0.1, 10, factor=0.5), 4)
    fn = tf.function(lambda step: s(step), jit_compile=True)
    got = [float(fn(tf.constant(i, tf.int64))) for i in (1, 4, 10, 20)]
    assert got == pytest.approx([0.025, 0.1, 0.05, 0.025], rel=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.StepDecay(0.1, 0), "step_size"),
    (lambda: schedules.StepDecay(0.1, 5, factor=1.5), "factor"),
    (lambda: schedules.MultiStepDecay(0.1, [20, 10]), "milestones"),
    (lambda: schedules.OneCycle(1.0, 10, anneal="square"), "anneal"),
    (lambda: schedules.Warmup(0.1, 5, kind="exponential"), "start_learning_rate"),
    (lambda: schedules.Warmup(0.1, 5, kind="quadratic"), "kind"),
    (lambda: schedules.Warmup("fast", 5), "schedule"),
])
def test_bad_arguments_name_the_argument(make, message):
    with pytest.raises((ValueError, TypeError), match=f"`{message}`.*Received"):
        make()


# === Serialization ===

ALL = {
    "step": schedules.StepDecay(0.01, 8, factor=0.96),
    "multistep": schedules.MultiStepDecay(0.1, [3, 7]),
    "onecycle": schedules.OneCycle(1.0, 12, pct_start=0.25, anneal="linear"),
    "warmup": schedules.Warmup(schedules.MultiStepDecay(0.1, [6]), 3, start_learning_rate=0.01,
                               kind="exponential", offset=True),
}
STEPS = list(range(0, 14))


def test_config_round_trip_in_process():
    for schedule in ALL.values():
        config = keras.optimizers.schedules.serialize(schedule)
        clone = keras.optimizers.schedules.deserialize(json.loads(json.dumps(config)))
        assert type(clone) is type(schedule)
        assert clone.get_config() == schedule.get_config()
        assert values(clone, STEPS) == values(schedule, STEPS)


def test_model_with_schedule_reloads_from_keras_file_in_fresh_process(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(ALL["warmup"], momentum=0.9), "mse")
    model.save(tmp_path / "m.keras")
    configs = {k: keras.optimizers.schedules.serialize(v) for k, v in ALL.items()}
    (tmp_path / "schedules.json").write_text(json.dumps(configs))
    out = run_fresh(f"""
        import json, keras, kcnn, kcnn.schedules
        model = keras.saving.load_model({str(tmp_path / 'm.keras')!r})
        lr = model.optimizer._learning_rate
        result = {{"model": [type(lr).__name__] + [float(lr(s)) for s in {STEPS}]}}
        configs = json.load(open({str(tmp_path / 'schedules.json')!r}))
        for name, config in configs.items():
            s = keras.optimizers.schedules.deserialize(config)
            result[name] = [type(s).__name__] + [float(s(i)) for i in {STEPS}]
        print(json.dumps(result))
    """)
    assert out["model"] == ["Warmup"] + values(ALL["warmup"], STEPS)
    for name, schedule in ALL.items():
        assert out[name] == [type(schedule).__name__] + values(schedule, STEPS)


# === Linear scaling and presets ===

def test_linear_scaling_rule():
    # Goyal et al.: ResNet-50 at 0.1 for 256 images; 8192 images -> 3.2.
    assert schedules.scale_learning_rate(0.1, 8192) == pytest.approx(3.2)
    assert schedules.scale_learning_rate(0.1, 64) == pytest.approx(0.025)
    assert schedules.scale_learning_rate(0.01, 512, base_batch_size=128) == pytest.approx(0.04)


# The papers' numbers of every preset are pinned in test_presets.py.

def test_googlenet_preset_by_epoch_and_by_iteration():
    by_epoch = schedules.preset("googlenet")
    assert by_epoch.unit == "epoch"
    assert values(by_epoch.schedule, [7, 8, 16]) == pytest.approx([0.01, 0.0096, 0.009216])
    by_step = schedules.preset("googlenet", steps_per_epoch=10)
    assert by_step.unit == "step" and by_step.total_steps == 2500
    assert values(by_step.schedule, [79, 80, 160]) == pytest.approx([0.01, 0.0096, 0.009216])


def test_resnet_cifar_presets():
    p = schedules.preset("resnet_cifar")
    assert p.total_steps == 64_000 and p.epochs == 182     # 64000 / ceil(45000 / 128)
    assert values(p.schedule, [31_999, 32_000, 48_000]) == pytest.approx([0.1, 0.01, 0.001])
    p110 = schedules.preset("resnet110_cifar")
    assert values(p110.schedule, [0, 399, 400, 32_000]) == pytest.approx(
        [0.01, 0.01, 0.1, 0.01])


def test_preset_batch_scaling_with_goyal_warmup():
    # ResNet-CIFAR at batch 256: rate 0.2, milestones at 16k and 24k, 32k iterations, and a
    # 5-epoch linear warmup from 0.1 with ceil(45000 / 256) = 176 iterations per epoch.
    p = schedules.preset("resnet_cifar", batch_size=256)
    assert p.learning_rate == pytest.approx(0.2) and p.total_steps == 32_000
    assert p.warmup == 880
    assert values(p.schedule, [0, 440, 880, 15_999, 16_000, 24_000]) == pytest.approx(
        [0.1, 0.15, 0.2, 0.2, 0.02, 0.002])
    # A smaller batch scales down without warmup.
    small = schedules.preset("alphago", batch_size=8)
    assert small.learning_rate == pytest.approx(0.0015) and small.warmup == 0
    assert values(small.schedule, [159_999_999, 160_000_000]) == pytest.approx(
        [0.0015, 0.00075])
    assert small.total_steps == 680_000_000
    # Plateau presets warm up inside the plateau callback.
    vgg = schedules.preset("vgg", batch_size=1024, steps_per_epoch=100)
    cb = vgg.callbacks[0]
    assert vgg.learning_rate == pytest.approx(0.04)
    assert cb.warmup_steps == 500
    assert [cb.learning_rate_at(0, b) for b in (0, 50)] == pytest.approx([0.01, 0.013])


def test_unknown_preset_suggests_names():
    with pytest.raises(ValueError, match="Did you mean 'alexnet'.*Received: name='alexnett'"):
        schedules.preset("alexnett")
    assert set(schedules.list_presets()) >= {"alexnet", "vgg", "googlenet", "resnet_imagenet",
                                             "resnet_cifar", "alphago"}


def test_preset_learning_rate_override_keeps_the_schedule_shape():
    # 0.3 at batch 256 replaces 0.2; the warmup starts from 0.3 * 128 / 256 = 0.15.
    p = schedules.preset("resnet_cifar", batch_size=256, learning_rate=0.3)
    assert p.learning_rate == pytest.approx(0.3)
    assert values(p.schedule, [0, 880, 16_000]) == pytest.approx([0.15, 0.3, 0.03])
    p110 = schedules.preset("resnet110_cifar", learning_rate=0.2)
    assert values(p110.schedule, [0, 400]) == pytest.approx([0.02, 0.2])


def test_fractional_warmup_length():
    # Half an epoch of warmup, stepped in (fractional) epochs.
    s = schedules.Warmup(0.1, 0.5)
    assert values(s, [0.0, 0.25, 0.5, 1]) == pytest.approx([0.0, 0.05, 0.1, 0.1])
