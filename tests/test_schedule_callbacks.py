"""Schedule callbacks in fit: rates per batch and per epoch, logging to History and CSV,
warmup with plateau reduction, and the rate after a real interruption and restart."""

import csv
import json

import keras
import numpy as np
import pytest

from kcnn import schedules
from tests.helpers import run_fresh

X = np.random.RandomState(0).randn(8, 3).astype("float32")
Y = X.sum(axis=1, keepdims=True)
BATCH = 2        # 8 samples: 4 steps per epoch


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Overrides conftest's reset: these tests build tiny models, so the session is cleared
    without the full garbage collection (about 0.5 s a test)."""
    yield
    keras.mixed_precision.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


def make_model(learning_rate=0.5):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate), "mse")
    return model


class RateRecorder(keras.callbacks.Callback):
    """The optimizer's rate during every batch, read after the step."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


class InterruptAt(keras.callbacks.Callback):
    """Raises at the start of ``epoch`` (optionally at ``batch`` of it)."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if epoch == self.epoch and self.batch is None:
            raise RuntimeError("interrupted")

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError("interrupted")


class Scores(keras.callbacks.Callback):
    """Puts a scripted ``val_score`` into the epoch logs (for plateau tests)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = self.scores[epoch]


def fit(model, callbacks, epochs):
    return model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                     callbacks=callbacks)


# Warmup from 0.02 to 0.1 over 4 steps, then 0.1 divided by 10 at steps 6 and 10.
PER_STEP = schedules.Warmup(schedules.MultiStepDecay(0.1, [6, 10]), 4, start_learning_rate=0.02)
PER_STEP_RATES = [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.001, 0.001]


def tensorboard_scalars(logdir, tag):
    import tensorflow as tf

    values = {}
    for path in sorted((logdir / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag == tag:
                    values[event.step] = float(tf.make_ndarray(v.tensor))
    return [values[k] for k in sorted(values)]


def test_per_batch_schedule_sets_history_csv_and_tensorboard(tmp_path):
    recorder = RateRecorder()
    log, board = tmp_path / "log.csv", tmp_path / "tb"
    history = fit(make_model(), [schedules.ScheduleCallback(PER_STEP),
                                 keras.callbacks.CSVLogger(str(log)),
                                 keras.callbacks.TensorBoard(str(board)), recorder], epochs=3)
    assert recorder.rates == pytest.approx(PER_STEP_RATES, rel=1e-6)
    # Each epoch logs the rate of its last batch (steps 3, 7, 11).
    per_epoch = [0.08, 0.01, 0.001]
    assert history.history["learning_rate"] == pytest.approx(per_epoch, rel=1e-6)
    rows = list(csv.DictReader(log.open()))
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx(per_epoch, rel=1e-6)
    assert tensorboard_scalars(board, "epoch_learning_rate") == pytest.approx(per_epoch,
                                                                             rel=1e-6)


def test_per_epoch_schedule():
    # GoogLeNet's rule with 2-epoch steps: 0.01, 0.01, 0.0096, 0.0096, 0.009216.
    recorder = RateRecorder()
    cb = schedules.ScheduleCallback(schedules.StepDecay(0.01, 2, factor=0.96), unit="epoch")
    history = fit(make_model(), [cb, recorder], epochs=5)
    per_epoch = [0.01, 0.01, 0.0096, 0.0096, 0.009216]
    assert history.history["learning_rate"] == pytest.approx(per_epoch, rel=1e-6)
    assert recorder.rates == pytest.approx(np.repeat(per_epoch, 4), rel=1e-6)


def test_epoch_schedule_updated_per_batch_uses_fractional_epochs():
    # A 1-epoch linear warmup to 0.1 counted in epochs, updated every batch (4 per epoch).
    recorder = RateRecorder()
    cb = schedules.ScheduleCallback(schedules.Warmup(0.1, 1), unit="epoch", update="batch")
    fit(make_model(), [cb, recorder], epochs=2)
    assert recorder.rates == pytest.approx([0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1],
                                           abs=1e-7)


def test_schedule_resumes_after_interruption_with_backup_and_restore(tmp_path):
    backup = str(tmp_path / "backup")
    first = RateRecorder()
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(make_model(), [keras.callbacks.BackupAndRestore(backup),
                           schedules.ScheduleCallback(PER_STEP), first, InterruptAt(2)],
            epochs=3)
    assert first.rates == pytest.approx(PER_STEP_RATES[:8], rel=1e-6)
    # A restart builds everything anew, as a new process would.
    second = RateRecorder()
    history = fit(make_model(), [keras.callbacks.BackupAndRestore(backup),
                                 schedules.ScheduleCallback(PER_STEP), second], epochs=3)
    assert history.epoch == [2]
    assert second.rates == pytest.approx(PER_STEP_RATES[8:], rel=1e-6)
    assert history.history["learning_rate"] == pytest.approx([0.001], rel=1e-6)


def test_mid_epoch_interruption_restarts_the_epoch_schedule(tmp_path):
    # BackupAndRestore restores the last finished epoch; the rate restarts with it.
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError):
        fit(make_model(), [keras.callbacks.BackupAndRestore(backup),
                           schedules.ScheduleCallback(PER_STEP), InterruptAt(1, batch=2)],
            epochs=3)
    recorder = RateRecorder()
    fit(make_model(), [keras.callbacks.BackupAndRestore(backup),
                       schedules.ScheduleCallback(PER_STEP), recorder], epochs=3)
    assert recorder.rates == pytest.approx(PER_STEP_RATES[4:], rel=1e-6)


# Warmup over 8 steps (2 epochs) to 0.1, then divide by 10 after 2 epochs without
# improvement of val_score (min), cooldown 1, at most 2 reductions. By hand:
#  epoch  score  counted?          best  wait  cooldown  reductions  rate of last batch
#  0      0.5    no (warmup)       -     0     0         0           0.0375 (step 3)
#  1      0.5    no (warmup)       -     0     0         0           0.0875 (step 7)
#  2      3.0    yes               3.0   0     0         0           0.1
#  3      2.0    yes               2.0   0     0         0           0.1
#  4      2.5    yes               2.0   1     0         0           0.1
#  5      2.5    yes -> reduce     2.0   0     1         1           0.1
#  6      2.5    cooldown          2.0   0     0         1           0.01
#  7      2.5    yes               2.0   1     0         1           0.01
#  8      1.0    yes               1.0   0     0         1           0.01
#  9      1.5    yes               1.0   1     0         1           0.01
#  10     1.5    yes -> reduce     1.0   0     1         2           0.01
#  11     1.5    cooldown          1.0   0     0         2           0.001
#  12     1.5    yes               1.0   1     0         2           0.001
#  13     1.5    yes, max reached  1.0   2     0         2           0.001
#  14     1.5    yes, max reached  1.0   3     0         2           0.001
SCORES = [0.5, 0.5, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]
PLATEAU_LOGGED = [0.0375, 0.0875] + [0.1] * 4 + [0.01] * 5 + [0.001] * 4
PLATEAU_STEPS = ([0.0125 * s for s in range(8)] + [0.1] * 16 + [0.01] * 20 + [0.001] * 16)


def plateau(state_path=None):
    return schedules.ReduceOnPlateau(schedules.Warmup(0.1, 8), monitor="val_score", mode="min",
                                     factor=0.1, patience=2, cooldown=1, max_reductions=2,
                                     state_path=state_path)


def test_warmup_and_plateau_in_fit():
    recorder = RateRecorder()
    cb = plateau()
    history = fit(make_model(), [Scores(SCORES), cb, recorder], epochs=15)
    assert history.history["learning_rate"] == pytest.approx(PLATEAU_LOGGED, rel=1e-6)
    assert recorder.rates == pytest.approx(PLATEAU_STEPS, rel=1e-6, abs=1e-9)
    assert cb.state_at(14) == {"steps": 60, "last_epoch_steps": 4, "best": 1.0, "wait": 3,
                               "cooldown": 0, "reductions": 2}


def test_plateau_counters_survive_interruption_and_restart(tmp_path):
    backup, state = str(tmp_path / "backup"), tmp_path / "schedule_state.json"
    # Interrupted at the start of epoch 7: one reduction done, best 2.0.
    with pytest.raises(RuntimeError):
        fit(make_model(), [keras.callbacks.BackupAndRestore(backup), Scores(SCORES),
                           plateau(state), InterruptAt(7)], epochs=15)
    saved = json.loads(state.read_text())["epochs"]
    assert saved["6"]["reductions"] == 1 and saved["6"]["best"] == 2.0
    recorder = RateRecorder()
    history = fit(make_model(), [keras.callbacks.BackupAndRestore(backup), Scores(SCORES),
                                 plateau(state), recorder], epochs=15)
    assert history.epoch == list(range(7, 15))
    assert history.history["learning_rate"] == pytest.approx(PLATEAU_LOGGED[7:], rel=1e-6)
    assert recorder.rates == pytest.approx(PLATEAU_STEPS[28:], rel=1e-6)


def test_plateau_without_saved_state_warns_on_resume(tmp_path):
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError):
        fit(make_model(), [keras.callbacks.BackupAndRestore(backup), Scores(SCORES),
                           plateau(), InterruptAt(7)], epochs=15)
    with pytest.warns(UserWarning, match="no state was saved"):
        history = fit(make_model(), [keras.callbacks.BackupAndRestore(backup),
                                     Scores(SCORES), plateau()], epochs=8)
    # The reduction made before the interruption is lost: epoch 7 runs at 0.1 again.
    assert history.history["learning_rate"] == pytest.approx([0.1], rel=1e-6)


def test_custom_loop_api_without_keras_hooks():
    # A training loop that runs its own steps asks for the rate and reports epoch metrics.
    cb = plateau()
    cb_steps = schedules.ReduceOnPlateau(schedules.Warmup(0.1, 8), monitor="val_score",
                                         mode="min", patience=2, cooldown=1,
                                         max_reductions=2, steps_per_epoch=4)
    rates, logged = [], []
    for epoch, score in enumerate(SCORES):
        rates += [cb_steps.learning_rate_at(epoch, batch) for batch in range(4)]
        logs = {"val_score": score}
        cb_steps.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    assert rates == pytest.approx(PLATEAU_STEPS, rel=1e-6, abs=1e-9)
    assert logged == pytest.approx(PLATEAU_LOGGED, rel=1e-6)
    assert cb.warmup_steps == 8


def test_logger_records_a_schedule_held_by_the_optimizer(tmp_path):
    # Halving every 3 iterations, 4 iterations per epoch: the last steps 3, 7 and 11 have
    # floor(step / 3) = 1, 2 and 3 halvings.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedules.StepDecay(0.1, 3, factor=0.5)), "mse")
    history = fit(model, [schedules.LearningRateLogger()], epochs=3)
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    # A callback cannot set such an optimizer's rate, and says what to do instead.
    with pytest.raises(TypeError, match="LearningRateLogger"):
        fit(model, [schedules.ScheduleCallback(0.1)], epochs=1)


def test_schedule_callback_under_mixed_float16():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    model = make_model()
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    recorder = RateRecorder()
    history = fit(model, [schedules.ScheduleCallback(PER_STEP), recorder], epochs=3)
    assert recorder.rates == pytest.approx(PER_STEP_RATES, rel=1e-6)
    assert history.history["learning_rate"] == pytest.approx([0.08, 0.01, 0.001], rel=1e-6)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_unknown_epoch_length_is_counted_and_saved(tmp_path):
    # A dataset of unknown cardinality: fit cannot say how many steps an epoch has.
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(BATCH)
    ds = ds.filter(lambda x, y: tf.constant(True))
    state = tmp_path / "state.json"
    recorder = RateRecorder()
    model = make_model()
    model.fit(ds, epochs=3, verbose=0, shuffle=False, callbacks=[
        schedules.ScheduleCallback(PER_STEP, state_path=state), recorder])
    assert recorder.rates == pytest.approx(PER_STEP_RATES, rel=1e-6)
    assert json.loads(state.read_text())["epochs"]["2"]["steps"] == 12


@pytest.mark.parametrize("kwargs, message", [
    (dict(unit="iteration"), "unit"),
    (dict(update="step"), "update"),
    (dict(steps_per_epoch=0), "steps_per_epoch"),
])
def test_bad_callback_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"`{message}`.*Received"):
        schedules.ScheduleCallback(0.1, **kwargs)


def test_custom_loop_must_give_the_epoch_length():
    cb = schedules.ScheduleCallback(PER_STEP)
    with pytest.raises(ValueError, match="`steps_per_epoch`"):
        cb.on_epoch_end(0, {})


def test_custom_loop_under_mirrored_strategy_on_two_devices():
    out = run_fresh("""
        import json
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from kcnn import schedules

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            optimizer = keras.optimizers.SGD(0.5)
            optimizer.build(model.trainable_variables)
        cb = schedules.ReduceOnPlateau(schedules.Warmup(0.1, 2), monitor="val_loss",
                                       patience=1, steps_per_epoch=2)

        @tf.function
        def step(x, y):
            def replica(x, y):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean((model(x) - y) ** 2) / strategy.num_replicas_in_sync
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
                return tf.identity(optimizer.learning_rate)   # the rate this replica used
            return strategy.experimental_local_results(strategy.run(replica, (x, y)))

        x = tf.random.stateless_normal((4, 3), (0, 1)); y = tf.reduce_sum(x, 1, keepdims=True)
        seen, logged = [], []
        for epoch, val_loss in enumerate([1.0, 1.0, 1.0]):
            for batch in range(2):
                optimizer.learning_rate = cb.learning_rate_at(epoch, batch)
                seen.append([float(v) for v in step(x, y)])
            logs = {"val_loss": val_loss}
            cb.on_epoch_end(epoch, logs)
            logged.append(logs["learning_rate"])
        print(json.dumps({"replicas": strategy.num_replicas_in_sync, "seen": seen,
                          "logged": logged}))
    """)
    assert out["replicas"] == 2
    # Warmup 0 -> 0.1 over 2 steps; epoch 1 is the first counted (best 1.0), epoch 2 has
    # no improvement (patience 1): reduced from epoch 3 on, so no reduction is seen here.
    expected = [0.0, 0.05, 0.1, 0.1, 0.1, 0.1]
    assert [r[0] for r in out["seen"]] == pytest.approx(expected, abs=1e-7)
    assert all(r[0] == r[1] for r in out["seen"])
    assert out["logged"] == pytest.approx([0.05, 0.1, 0.1], rel=1e-6)
