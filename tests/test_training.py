"""kcnn.training: configuration, run folders, resuming, NaN stop, evaluation, CLI."""

import dataclasses
import json
import os
import re

import keras
import numpy as np
import pytest

from kcnn import training
from kcnn.training import config as config_lib
from kcnn.training.toy import toy_recipe


# === Configuration and command line ===

def test_command_line_overrides_are_typed_and_user_settings_beat_smoke():
    recipe = toy_recipe()
    cfg, options = recipe.parse(["--batch-size", "8", "lr=0.5", "--no-shuffle", "--smoke",
                                 "input_shape=[4, 4, 1]", "--epochs", "5", "--output", "o"])
    assert cfg.batch_size == 8 and cfg.lr == 0.5 and cfg.shuffle is False
    assert cfg.input_shape == (4, 4, 1)
    assert cfg.smoke is True
    assert cfg.epochs == 5            # given explicitly: wins over the smoke setting (1)
    assert cfg.steps_per_epoch == 2   # from the smoke settings
    assert options == {"output": "o", "overwrite": False, "verbose": 1}
    assert recipe.parse([])[0].epochs == 3


def test_unknown_or_malformed_overrides_are_rejected_with_suggestions():
    settings = toy_recipe().settings
    with pytest.raises(ValueError, match="Did you mean batch_size"):
        config_lib.parse_overrides(["batch_sise=3"], settings)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        config_lib.parse_overrides(["epochs"], settings)
    with pytest.raises(ValueError, match="Cannot parse epochs"):
        config_lib.parse_overrides(["epochs=many"], settings)
    with pytest.raises(SystemExit):
        toy_recipe().parse(["--precision", "float64"])


def test_auto_precision_on_a_bfloat16_cpu_suggests_mixed_bfloat16(tmp_path, monkeypatch,
                                                                   capsys):
    from kcnn.training import environment

    monkeypatch.setattr(environment, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    hint = environment.precision_hint("auto", "float32")
    assert "avx512_bf16" in hint and "--precision mixed_bfloat16" in hint
    assert environment.precision_hint("float32", "float32") is None  # the user chose
    assert environment.precision_hint("auto", "mixed_float16") is None  # a GPU
    toy_recipe().run(output=str(tmp_path / "run"), epochs=1, verbose=1, run_eagerly=True)
    assert "bfloat16 instructions (avx512_bf16)" in capsys.readouterr().out
    monkeypatch.setattr(environment, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert environment.precision_hint("auto", "float32") is None
    toy_recipe().run(output=str(tmp_path / "run2"), epochs=1, verbose=1, run_eagerly=True)
    assert "bfloat16" not in capsys.readouterr().out


def test_precision_auto_is_float32_on_cpu_and_bad_values_are_named():
    assert training.resolve_precision("auto") == "float32"
    assert training.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision"):
        training.resolve_precision("half")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        os.environ.pop("TF_CONFIG", None)
        training.make_strategy("multi_worker")


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_with_xla_trains_and_saves_a_float32_classifier(tmp_path, precision):
    out = tmp_path / "run"
    metrics = toy_recipe().run(output=str(out), precision=precision, jit_compile=True,
                               epochs=1, steps_per_epoch=3, verbose=0)
    assert metrics["precision"] == precision
    assert np.isfinite(json.loads((out / "history.json").read_text())[0]["loss"])
    model = keras.saving.load_model(out / "model.keras")
    assert model.get_layer("fc1").dtype_policy.name == precision
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    record = json.loads((out / "config.json").read_text())
    assert record["resolved"]["precision"] == precision


# === Run folders ===

def test_run_writes_config_model_metrics_history_logs_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    code = toy_recipe().main(["--output", str(out), "--epochs", "2", "--validate",
                              "--verbose", "0", "--run-eagerly"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"test accuracy: [01]\.\d{4}", lines[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    assert isinstance(metrics["test_accuracy"], float) and 0 <= metrics["test_accuracy"] <= 1
    assert lines[-1] == f"test accuracy: {metrics['test_accuracy']:.4f}"
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["epochs"] == 2 and record["recipe"] == "toy"
    assert record["versions"]["keras"] == keras.__version__
    assert {"python", "tensorflow", "kcnn"} <= set(record["versions"])
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(history[0])
    assert history[0]["learning_rate"] == pytest.approx(0.1)
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(f.startswith("events") for f in os.listdir(out / "logs" / "train"))
    assert sorted(os.listdir(out / "checkpoints")) == ["epoch_001.weights.h5",
                                                        "epoch_002.weights.h5"]
    assert not (out / "backup").exists()
    model = keras.saving.load_model(out / "model.keras")
    x = np.zeros((1, 8, 8, 1), "float32")
    assert np.asarray(model(x)).sum() == pytest.approx(1.0, abs=1e-5)


def test_different_configuration_in_existing_folder_is_refused_unless_overwrite(tmp_path,
                                                                               capsys):
    out = str(tmp_path / "run")
    recipe = toy_recipe()
    recipe.run(output=out, epochs=1, verbose=0, run_eagerly=True)
    with pytest.raises(training.ConfigMismatchError) as info:
        recipe.run(output=out, epochs=1, lr=0.05, verbose=0, run_eagerly=True)
    message = str(info.value)
    assert "lr: 0.1 -> 0.05" in message and "--overwrite" in message and out in message
    assert recipe.main(["--output", out, "--epochs", "1", "--lr", "0.05",
                        "--run-eagerly"]) == 2
    assert "different configuration" in capsys.readouterr().err
    metrics = recipe.run(output=out, epochs=1, lr=0.05, overwrite=True, verbose=0,
                         run_eagerly=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["lr"] == 0.05
    assert metrics["resumed"] is False


def test_folder_with_run_files_but_no_config_is_refused(tmp_path):
    (tmp_path / "model.keras").write_text("not ours")
    with pytest.raises(training.ConfigMismatchError, match="no config.json"):
        training.RunDirectory(tmp_path, recipe="toy", config={})


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _lr_schedule(cfg, data, run):
    from kcnn import schedules

    steps = -(-data.train_size // cfg.batch_size)
    return [schedules.ScheduleCallback(schedules.StepDecay(cfg.lr, steps, factor=0.5),
                                       state_path=run.schedule_state_path)]


def test_interrupted_run_resumes_from_last_finished_epoch_like_an_uninterrupted_one(
        tmp_path):
    settings = {"epochs": 4, "verbose": 0, "run_eagerly": True}
    reference = toy_recipe(callbacks=_lr_schedule).run(output=str(tmp_path / "ref"),
                                                       **settings)
    ref_weights = keras.saving.load_model(tmp_path / "ref" / "model.keras").get_weights()

    out = str(tmp_path / "run")

    def interrupted(cfg, data, run):
        return _lr_schedule(cfg, data, run) + [_Interrupt(2)]

    keras.backend.clear_session()
    with pytest.raises(KeyboardInterrupt):
        toy_recipe(callbacks=interrupted).run(output=out, **settings)
    assert [r["epoch"] for r in json.loads(open(f"{out}/history.json").read())] == [1, 2]
    assert not os.path.exists(f"{out}/model.keras")
    keras.backend.clear_session()
    resumed = toy_recipe(callbacks=_lr_schedule).run(output=out, **settings)
    assert resumed["resumed"] is True
    history = json.loads(open(f"{out}/history.json").read())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    # The rate continues the step decay (halved every epoch): 0.1, 0.05, 0.025, 0.0125.
    assert [r["learning_rate"] for r in history] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    weights = keras.saving.load_model(f"{out}/model.keras").get_weights()
    for a, b in zip(weights, ref_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed["test_accuracy"] == pytest.approx(reference["test_accuracy"])

    # A finished run is reported again, not retrained.
    again = toy_recipe(callbacks=_lr_schedule).run(output=out, **settings)
    assert again["test_accuracy"] == resumed["test_accuracy"]
    assert len(json.loads(open(f"{out}/history.json").read())) == 4


def test_nan_loss_stops_with_message_naming_last_good_checkpoint(tmp_path, capsys):
    import tensorflow as tf

    def poisoned(cfg):
        from kcnn.training.toy import _data

        data = _data(cfg)
        x = np.full((4, 8, 8, 8, 1), 0.5, "float32")
        y = np.zeros((4, 8), "int32")
        weights = np.ones((4, 8), "float32")
        weights[3, 5] = np.nan  # epoch 2, batch 2 (two batches per epoch)
        data.train = tf.data.Dataset.from_tensor_slices((x, y, weights))
        return data

    out = tmp_path / "run"
    recipe = toy_recipe(data=poisoned)
    code = recipe.main(["--output", str(out), "--epochs", "3", "--steps-per-epoch", "2",
                        "--verbose", "0", "--run-eagerly"])
    assert code == 1
    err = capsys.readouterr().err
    good = str(out / "checkpoints" / "epoch_001.weights.h5")
    assert "became nan at epoch 2, batch 2" in err
    assert f"last good checkpoint is {good} (after epoch 1)" in err
    assert os.listdir(out / "checkpoints") == ["epoch_001.weights.h5"]
    assert not (out / "model.keras").exists() and not (out / "metrics.json").exists()
    # The backup still holds epoch 1, so a rerun resumes there, not from the diverged state.
    state = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert state["epoch"] == 1


# === Evaluation ===

def _fixed_scores_model(num_classes):
    """A model whose 1x1 "images" of ``num_classes`` channels are its logits."""
    inputs = keras.Input((1, 1, num_classes))
    outputs = keras.layers.Activation("softmax")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def test_top1_top5_accuracy_match_numpy():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 8)).astype("float32")
    labels = rng.integers(0, 8, size=50).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((logits[:, None, None], labels)).batch(16)
    result = training.evaluate(_fixed_scores_model(8), ds)
    ranks = (logits > logits[np.arange(50), labels][:, None]).sum(axis=1)
    assert result["examples"] == 50
    assert result["accuracy"] == pytest.approx(np.mean(ranks == 0))
    assert result["top5_accuracy"] == pytest.approx(np.mean(ranks < 5))


def test_multi_crop_evaluation_averages_softmax_over_crops():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3.0, size=(20, 10, 6)).astype("float32")  # 20 images, 10 crops
    labels = rng.integers(0, 6, size=20).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((logits[:, :, None, None], labels)).batch(7)
    result = training.evaluate(_fixed_scores_model(6), ds, top_k=(1,))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = np.mean(p.mean(axis=1).argmax(-1) == labels)
    assert result["accuracy"] == pytest.approx(expected)
    # averaging logits instead would differ on this data (the test can tell them apart)
    assert np.mean(logits.mean(axis=1).argmax(-1) == labels) != expected


def test_main_output_of_models_with_auxiliary_classifiers():
    a, b = object(), object()
    assert training.main_output([a, b]) is a
    assert training.main_output({"aux1_predictions": b, "predictions": a}) is a
    assert training.main_output(a) is a


# === kcnn train ===

def test_cli_finds_recipes_by_name_by_model_and_by_path(tmp_path, monkeypatch, capsys):
    from kcnn.training import cli

    root = os.path.join(os.path.dirname(__file__), "..", "recipes")
    path = training.find_recipe("lenet5_digits")
    assert os.path.samefile(path, os.path.join(root, "lenet5_digits.py"))
    assert training.find_recipe(path) == path
    with pytest.raises(ValueError, match="Did you mean lenet5_digits"):
        training.find_recipe("lenet5_digit")
    resolved, argv = cli._resolve("lenet5_modern", ["--smoke"])
    assert os.path.samefile(resolved, path) and argv == ["--model", "lenet5_modern", "--smoke"]
    # KCNN_RECIPES folders come first
    (tmp_path / "mine.py").write_text("def main(argv):\n    print('ran', argv)\n    return 3\n")
    monkeypatch.setenv("KCNN_RECIPES", str(tmp_path))
    assert training.cli_main(["mine", "--x"]) == 3
    assert "ran ['--x']" in capsys.readouterr().out
    assert training.cli_main(["nonexistent_recipe"]) == 2
    assert "No recipe named" in capsys.readouterr().err


# === Typed configurations and refused commands ===

def test_configuration_is_typed_frozen_and_validated():
    import types

    recipe = toy_recipe()
    cfg = recipe.configure(lr=1, input_shape=[4, 4, 1])
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)  # an int given for a float
    assert cfg.input_shape == (4, 4, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.5
    assert json.loads(json.dumps(cfg.to_dict()))["input_shape"] == [4, 4, 1]
    assert cfg.replace(epochs=7).epochs == 7
    with pytest.raises(ValueError, match="Received: epochs=0"):
        cfg.replace(epochs=0)
    with pytest.raises(TypeError, match="`units` must be an integer. Received: units=2.5"):
        recipe.configure(units=2.5)
    with pytest.raises(TypeError, match="`shuffle` must be true or false"):
        recipe.configure(shuffle="yes")
    with pytest.raises(ValueError, match="Unknown settings.*'unit' .did you mean 'units'"):
        recipe.configure(unit=3)
    with pytest.raises(SystemExit):  # argparse: not an integer
        recipe.parse(["--units", "2.5"])
    # Recipes may still declare settings as a dictionary, typed by their defaults.
    legacy = dataclasses.replace(recipe, config=None,
                                 defaults={"epochs": 2, "units": 8, "sizes": [1, 2],
                                           "extra": {"a": 1}, "note": None})
    cfg = legacy.parse(["--units", "4", "extra={\"b\": 2}", "note=hello"])[0]
    assert (cfg.epochs, cfg.units, cfg.sizes, cfg.note) == (2, 4, (1, 2), "hello")
    assert isinstance(cfg.extra, types.MappingProxyType) and dict(cfg.extra) == {"b": 2}
    with pytest.raises(TypeError):
        cfg.extra["c"] = 3
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        legacy.configure(batch_size=0)
    with pytest.raises(ValueError, match="Did you mean 'resnet_cifar'.*preset='resnet_cfar'"):
        dataclasses.replace(recipe, optimizer=None, preset="resnet_cfar")
    with pytest.raises(ValueError, match="exactly one of `preset`"):
        dataclasses.replace(recipe, preset="resnet_cifar")  # and an optimizer hook


def test_refused_or_failed_start_leaves_no_run_and_the_corrected_command_runs(tmp_path,
                                                                             capsys):
    out = tmp_path / "run"
    recipe = toy_recipe()
    assert recipe.main(["--output", str(out), "--batch-size", "0"]) == 2
    assert "`batch_size` must be >= 1. Received: batch_size=0" in capsys.readouterr().err
    assert not out.exists()

    def broken_model(cfg, data):
        raise ValueError("`units` is too wide for this test. Received: units=16")

    assert dataclasses.replace(recipe, model=broken_model).main(
        ["--output", str(out), "--epochs", "1", "--run-eagerly"]) == 2
    assert "too wide" in capsys.readouterr().err
    assert not (out / "config.json").exists()
    assert recipe.main(["--output", str(out), "--epochs", "1", "--run-eagerly",
                        "--verbose", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["epochs"] == 1
    # --overwrite deletes the old run only when training starts: a command that fails
    # while building its model keeps the finished run.
    kept = {name: (out / name).read_bytes() for name in ("config.json", "metrics.json")}
    assert dataclasses.replace(recipe, model=broken_model).main(
        ["--output", str(out), "--epochs", "2", "--run-eagerly", "--overwrite"]) == 2
    assert "too wide" in capsys.readouterr().err
    assert {name: (out / name).read_bytes() for name in kept} == kept
    assert sorted(os.listdir(out / "checkpoints")) == ["epoch_001.weights.h5"]
    # With the same settings, --overwrite trains again instead of reporting the old result.
    assert recipe.main(["--output", str(out), "--epochs", "1", "--run-eagerly", "--verbose",
                        "0", "--overwrite"]) == 0
    assert "had finished" not in capsys.readouterr().out
    assert (out / "metrics.json").read_bytes() != kept["metrics.json"]


def test_an_error_raised_while_training_keeps_its_traceback_and_frees_the_folder(tmp_path):
    from kcnn._io import FolderLock

    class Bug(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            raise TypeError("a bug in a callback")

    out = tmp_path / "run"
    recipe = dataclasses.replace(toy_recipe(), callbacks=lambda cfg, data, run: [Bug()])
    with pytest.raises(TypeError, match="a bug in a callback"):  # not a one-line refusal
        recipe.main(["--output", str(out), "--epochs", "1", "--run-eagerly", "--verbose", "0"])
    assert (out / "config.json").exists()  # training had started
    with FolderLock(out):
        pass


def test_every_worker_reads_the_chiefs_learning_rate_state_and_only_the_chief_writes_it(
        tmp_path):
    from kcnn.training import classification

    cfg = toy_recipe().configure()
    data = training.Data(train=None, test=None, num_classes=4, train_size=48)
    shared = str(tmp_path / "run" / "schedule_state.json")
    for chief in (True, False):
        run = training.RunDirectory(tmp_path / "run", recipe="toy", config=cfg.to_dict(),
                                    chief=chief)
        try:
            (callback,) = classification.schedule_preset("alexnet", cfg, data, run).callbacks
            assert (callback.state_path, callback.write_state) == (shared, chief)
        finally:
            run.cleanup()


def test_a_run_builds_its_preset_once_and_trains_with_its_optimizer_and_callbacks(
        tmp_path, monkeypatch):
    from kcnn.optimizers import AlexNetSGD
    from kcnn.training import classification

    built = []
    original = classification.schedule_preset

    def counting(name, cfg, data, run=None):
        built.append(original(name, cfg, data, run))
        return built[-1]

    monkeypatch.setattr(classification, "schedule_preset", counting)
    recipe = dataclasses.replace(toy_recipe(), optimizer=None, preset="resnet_cifar")
    metrics = recipe.run(output=str(tmp_path / "run"), epochs=1, lr=0.05, verbose=0,
                         run_eagerly=True)
    assert metrics["completed"] and len(built) == 1
    (preset,) = built
    assert preset.name == "resnet_cifar" and preset.learning_rate == 0.05  # --lr replaces 0.1
    # The preset's callback drove the rate and wrote its state into the run folder.
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["learning_rate"] == pytest.approx(0.05)
    assert preset.callbacks[0].state_path == str(tmp_path / "run" / "schedule_state.json")
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert type(model.optimizer) is AlexNetSGD
    assert (model.optimizer.momentum, model.optimizer.coupled_weight_decay) == (0.9, 1e-4)
