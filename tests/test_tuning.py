"""kcnn.tuning: search spaces, overrides, oracles and in-process sweeps on the digits."""

import json
import math
import os
import re
import sys

import keras
import keras_tuner
import numpy as np
import pytest

import kcnn
import kcnn.optimizers
from kcnn import tuning
from kcnn.tuning import Range, early_stopping, get_space, hparams, memory, tuners
from kcnn.tuning import keras_tuner_fixes as fixes
from kcnn.tuning.spaces import model_structure

# Every hyperparameter of the convnet space fixed but the ones a test varies.
FIXED_CONVNET = {"convs_per_stage": 1, "filter_growth": 1, "stage_pooling": "max",
                 "activation": "relu", "batch_norm": False, "dense_layers": 0,
                 "optimizer": "adam", "learning_rate": 3e-3, "weight_decay": 0.0,
                 "schedule": "constant", "batch_size": 64}


def _space_hp(space, name):
    return next(h for h in space.search_space().space if h.name == name)


# === Overrides and the declared space ===

def test_overrides_fix_list_and_narrow_without_a_hypermodel_class():
    # the command line's --set forms
    assert hparams.parse_override("5") == 5
    assert hparams.parse_override("relu") == "relu"
    assert hparams.parse_override("true") is True
    assert hparams.parse_override("16,32") == [16, 32]
    assert hparams.parse_override("1:3") == Range(1, 3)
    assert hparams.parse_override("1e-4:1e-2:log") == Range(1e-4, 1e-2, None, "log")
    assert hparams.parse_override("0:0.5:0.1") == Range(0, 0.5, 0.1)
    assert hparams.parse_overrides(["num-stages=2", "filters=8,16"]) == {
        "num_stages": 2, "filters": [8, 16]}
    with pytest.raises(ValueError, match="lo:hi"):
        hparams.parse_override("1:x")
    with pytest.raises(ValueError, match="name=value"):
        hparams.parse_overrides(["filters"])

    space = get_space("convnet", input_shape=(16, 16, 1), num_classes=10, overrides={
        "num_stages": Range(1, 2), "filters": [8, 16], "kernel_size_1": 5,
        "learning_rate": Range(1e-3, 1e-2, sampling="log"), "dropout": Range(0.0, 0.2, 0.1)})
    hp = {h.name: h for h in space.search_space().space}
    assert (hp["num_stages"].min_value, hp["num_stages"].max_value) == (1, 2)
    assert list(hp["filters"].values) == [8, 16]
    assert isinstance(hp["kernel_size_1"], keras_tuner.engine.hyperparameters.Fixed)
    assert hp["kernel_size_1"].value == 5
    assert "kernel_size_3" not in hp  # the narrowed depth has no third stage
    assert (hp["learning_rate"].min_value, hp["learning_rate"].max_value) == (1e-3, 1e-2)
    assert hp["learning_rate"].sampling == "log"
    assert hp["dropout"].step == pytest.approx(0.1)
    defaults = space.defaults()
    assert defaults["num_stages"] == 2  # the paper's 3 moved to the nearest bound
    assert defaults["kernel_size_2"] == 3  # untouched: the paper's value

    with pytest.raises(ValueError, match="kernel_size_1"):
        get_space("convnet", input_shape=(16, 16, 1), num_classes=10,
                  overrides={"kernal_size_1": 3})
    with pytest.raises(ValueError, match="Unknown search space"):
        get_space("resnett", input_shape=(32, 32, 3), num_classes=10)
    with pytest.raises(ValueError, match="Did you mean .*'resnet50'"):
        get_space("resnet", input_shape=(32, 32, 3), num_classes=10, variant="resnet5O")
    with pytest.raises(ValueError, match="the vgg space has none"):
        get_space("vgg", input_shape=(32, 32, 3), num_classes=10, variant="resnet50")


def test_conditional_scopes_keep_inactive_hyperparameters_out_of_samples():
    space = get_space("convnet", input_shape=(32, 32, 3), num_classes=10)
    oracle = fixes.RandomOracle(objective="val_accuracy", max_trials=50,
                                 hyperparameters=space.search_space(), seed=3)
    stages_seen = set()
    for _ in range(40):
        values = oracle._random_values()
        m, k = values["num_stages"], values["dense_layers"]
        stages_seen.add(m)
        assert {n for n in values if n.startswith("kernel_size_")} == \
            {f"kernel_size_{i}" for i in range(1, m + 1)}
        assert {n for n in values if n.startswith("dense_units_")} == \
            {f"dense_units_{j}" for j in range(1, k + 1)}
        assert ("dropout" in values) == (k >= 1)
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
    assert stages_seen == {1, 2, 3, 4, 5}  # log2(32) stages of 2x2 pooling at most


# === The spaces build kcnn's networks ===

def _compiled(space, tmp_path, hp=None, *, train_size=640, epochs=2):
    """The space's default model compiled as a trial compiles it."""
    tuner = tuners.make_tuner(space, directory=str(tmp_path), project_name="compile")
    hp = hp or keras_tuner.HyperParameters()
    return tuner.compile_model(space.build(hp), hp, train_size=train_size, epochs=epochs)


def test_default_points_are_the_papers_networks(tmp_path):
    # Reference counts: kcnn's registry (convnet), reference.md (AlphaGo k=192: 3,882,793;
    # CIFAR ResNet-20: 269,722).
    convnet = get_space("convnet", input_shape=(32, 32, 3), num_classes=10)
    hp = keras_tuner.HyperParameters()
    assert model_structure(convnet.build(hp))["params"] == kcnn.get_spec("convnet").params
    alphago = get_space("alphago_policy", input_shape=(19, 19, 48), num_classes=361)
    model = alphago.build(keras_tuner.HyperParameters())
    assert model_structure(model)["params"] == 3_882_793
    # A space builds; the tuner compiles: plain SGD at 0.003, batch 16 for AlphaGo.
    assert getattr(model, "optimizer", None) is None
    d = alphago.defaults()
    assert (d["optimizer"], d["learning_rate"], d["batch_size"]) == ("sgd", 0.003, 16)
    model = _compiled(alphago, tmp_path)
    assert type(model.optimizer) is keras.optimizers.SGD and model.optimizer.momentum == 0
    resnet = get_space("resnet", input_shape=(32, 32, 3), num_classes=10)
    assert resnet.variant == "resnet20"
    model = _compiled(resnet, tmp_path)
    assert model_structure(model)["params"] == 269_722
    # ResNet: SGD with momentum 0.9 and weight decay 1e-4 inside the update (coupled).
    assert isinstance(model.optimizer, kcnn.optimizers.AlexNetSGD)
    assert model.optimizer.momentum == 0.9
    assert model.optimizer.coupled_weight_decay == 1e-4


@pytest.mark.parametrize("space_name,shape,kwargs,preset", [
    ("resnet", (32, 32, 3), {}, "resnet_cifar"),
    ("resnet", (64, 64, 3), {}, "resnet_imagenet"),
    ("resnet", (32, 32, 3), {"variant": "resnet50"}, "resnet_imagenet"),
    ("vgg", (32, 32, 3), {}, "vgg"),
    ("googlenet", (32, 32, 3), {}, "googlenet"),
    ("alphago_policy", (19, 19, 48), {}, "alphago"),
])
def test_paper_spaces_take_their_training_defaults_from_the_preset(space_name, shape, kwargs,
                                                                    preset):
    from kcnn.schedules import preset as make_preset

    space = get_space(space_name, input_shape=shape, num_classes=10, **kwargs)
    p = make_preset(preset)
    d = space.defaults()
    assert space.training_defaults.preset == preset
    assert (d["optimizer"], d["learning_rate"], d["weight_decay"], d["batch_size"],
            d["schedule"]) == (p.optimizer, p.paper_learning_rate, p.weight_decay,
                               p.paper_batch_size, p.schedule_kind)
    if d["optimizer"] in ("sgd", "alexnet_sgd", "rmsprop"):
        assert d["momentum"] == p.momentum
    assert space.training(keras_tuner.HyperParameters())["decay_bias"] == p.decay_bias
    if p.schedule_kind == "plateau":
        assert space.plateau == (p.monitor, p.patience)


def test_trial_optimizer_comes_from_make_optimizer_and_plateau_from_the_preset(tmp_path):
    # VGG's preset: coupled decay 5e-4 on kernels only, divided by 10 when val_accuracy
    # stops improving for 5 epochs.
    from kcnn.schedules import ReduceOnPlateau, preset

    p = preset("vgg")
    space = get_space("vgg", input_shape=(32, 32, 3), num_classes=10,
                      overrides={"depth": 11, "width": 8, "fc_units": 256})
    hp = keras_tuner.HyperParameters()
    model = _compiled(space, tmp_path, hp)
    expected = kcnn.optimizers.make_optimizer(p.optimizer, learning_rate=p.learning_rate,
                                              momentum=p.momentum,
                                              weight_decay=p.weight_decay,
                                              decay_bias=p.decay_bias)
    assert type(model.optimizer) is type(expected)
    config = model.optimizer.get_config()
    for key, value in expected.get_config().items():
        if key != "name":
            assert config[key] == value, key
    data = tuning.load_data("digits", image_size=8, limit=64)
    t = space.training(hp)
    (plateau,) = tuning.optim.make_callbacks(t, steps_per_epoch=2, plateau=space.plateau)
    assert isinstance(plateau, ReduceOnPlateau)
    assert (plateau.monitor, plateau.patience) == (p.monitor, p.patience)
    assert data.train_size == 64
    # The generic convnet keeps its own documented defaults: Adam 1e-3, batch 64.
    convnet = get_space("convnet", input_shape=(8, 8, 1), num_classes=10)
    d = convnet.defaults()
    assert (d["optimizer"], d["learning_rate"], d["batch_size"], d["weight_decay"]) == \
        ("adam", 1e-3, 64, 0.0)
    assert convnet.training_defaults.preset is None


@pytest.mark.parametrize("overrides,match", [
    ({"learning_rate": -1}, "learning_rate` must be positive"),
    ({"learning_rate": Range(0, 1e-2)}, "learning_rate` must be positive"),
    ({"batch_size": [0, 32]}, "batch_size` must be positive"),
    ({"weight_decay": -1e-4}, "weight_decay` must be >= 0"),
    ({"optimizer": "sgd", "momentum": 1.5}, r"momentum` must be in \[0, 0.999\]"),
    ({"dense_layers": 1, "dropout": 1.5}, r"dropout` must be in \[0, 0.999\]"),
    ({"filters": 0}, "filters` must be positive"),
    ({"optimizer": ["sgd", "adamm"]}, "optimizer` must be one of.*Did you mean 'adam"),
    ({"schedule": "cosin"}, "schedule` must be one of.*Did you mean 'cosine'"),
])
def test_impossible_override_values_are_refused_when_the_space_is_made(overrides, match):
    with pytest.raises(ValueError, match=match) as info:
        get_space("convnet", input_shape=(8, 8, 1), num_classes=10, overrides=overrides)
    assert "Received:" in str(info.value)


def test_convnet_space_builds_the_sampled_layers():
    space = get_space("convnet", input_shape=(16, 16, 1), num_classes=10)
    for values in ({"num_stages": 1, "kernel_size_1": 5, "convs_per_stage": 2, "filters": 8},
                   {"num_stages": 3, "kernel_size_1": 1, "kernel_size_2": 7,
                    "kernel_size_3": 3, "convs_per_stage": 1, "filters": 16}):
        hp = space.search_space()
        hp.values.update(values)
        hp.ensure_active_values()
        s = model_structure(space.build(hp))
        growth = hp.values["filter_growth"]
        expected = [[f"block{b}_conv{c}", [values[f"kernel_size_{b}"]] * 2,
                     values["filters"] * growth ** (b - 1)]
                    for b in range(1, values["num_stages"] + 1)
                    for c in range(1, values["convs_per_stage"] + 1)]
        assert s["conv"] == expected


def test_vgg_space_depth_is_the_papers_configuration():
    # Table 1 of Simonyan & Zisserman: configurations A (11) and E (19).
    for depth, convs in ((11, (1, 1, 2, 2, 2)), (19, (2, 2, 4, 4, 4))):
        space = get_space("vgg", input_shape=(32, 32, 3), num_classes=10,
                          overrides={"depth": depth, "width": 8, "fc_units": 256})
        s = model_structure(space.build(keras_tuner.HyperParameters()))
        per_block = [sum(1 for name, _, _ in s["conv"] if name.startswith(f"block{b}_"))
                     for b in range(1, 6)]
        assert tuple(per_block) == convs
        assert [f for name, _, f in s["conv"] if name.endswith("conv1")] == [8, 16, 32, 64,
                                                                               64]


def test_resnet_space_blocks_and_width_reach_the_builder():
    space = get_space("resnet", input_shape=(32, 32, 3), num_classes=10,
                      overrides={"blocks_conv2": 1, "blocks_conv3": 2, "blocks_conv4": 1,
                                 "width": 16})
    model = space.build(keras_tuner.HyperParameters())
    blocks = sorted({layer.name for layer in model.layers if "_block" in layer.name})
    assert blocks == ["conv2_block1", "conv3_block1", "conv3_block2", "conv4_block1"]


def test_alphago_space_feature_subset_slices_the_planes():
    # Extended Data Table 3 trains on the first 4, 12 and 20 of the 48 planes.
    space = get_space("alphago_policy", input_shape=(9, 9, 48), num_classes=81,
                      overrides={"filters": 8, "num_layers": 2})
    assert list(_space_hp(space, "input_planes").values) == [4, 12, 20, 48]
    hp = space.search_space()
    hp.values["input_planes"] = 12
    model = space.build(hp)
    assert model.input_shape == (None, 9, 9, 12)
    x = np.random.default_rng(0).integers(0, 2, (2, 9, 9, 48)).astype("float32")
    sliced, _ = space.transform(hp.values)(x, np.zeros(2))
    np.testing.assert_array_equal(sliced, x[..., :12])
    assert space.transform({"input_planes": 48}) is None


# === Tuner settings checked before any training ===

def test_grid_search_refuses_continuous_ranges(tmp_path):
    space = get_space("convnet", input_shape=(8, 8, 1), num_classes=10,
                      overrides=dict(FIXED_CONVNET, learning_rate=Range(1e-4, 1e-2,
                                                                        sampling="log")))
    with pytest.raises(ValueError, match=r"learning_rate \(continuous.*--set"):
        tuners.make_tuner(space, tuner="grid", directory=str(tmp_path))
    space = get_space("convnet", input_shape=(8, 8, 1), num_classes=10,
                      overrides=dict(FIXED_CONVNET, num_stages=Range(1, 2),
                                     learning_rate=[1e-3, 1e-2]))
    hps = space.search_space()
    hparams.check_grid_space(hps)
    # kernel_size_1 (4) * [1 stage + 4 kernel_size_2 with 2 stages] * filters (5) * lr (2)
    assert hparams.grid_size(hps) == 4 * (1 + 4) * 5 * 2


def test_hyperband_max_trials_is_mapped_to_iterations_or_refused():
    # max_epochs=3, factor=3: bracket 1 trains 3 models for 1 epoch and continues the best
    # to 3 epochs (4 trainings); bracket 0 trains 2 models for 3 epochs: 6 per iteration.
    assert tuners.hyperband_trials_per_iteration(3, 3) == 6
    with pytest.raises(ValueError, match="trains 6 models"):
        tuning.search("convnet", "digits", tuner="hyperband", max_trials=5, epochs=3)
    with pytest.raises(ValueError, match="not both"):
        tuning.search("convnet", "digits", tuner="hyperband", max_trials=12, epochs=3,
                      hyperband_iterations=2)


def test_bayesian_needs_scipy_and_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.gaussian_process", None)
    with pytest.raises(ImportError, match="scikit-learn"):
        tuners.check_bayesian_dependencies()
    space = get_space("convnet", input_shape=(8, 8, 1), num_classes=10)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        tuners.make_tuner(space, tuner="bayesian")


def test_median_stopping_rule():
    others = [{0: 0.2, 1: 0.5, 2: 0.6}, {0: 0.4, 1: 0.45, 2: 0.9}, {0: 0.1, 1: 0.7}]
    # best values up to epoch 1: 0.5, 0.45, 0.7 -> median 0.5
    assert early_stopping.median_stop(0.49, others, 1, direction="max")
    assert not early_stopping.median_stop(0.51, others, 1, direction="max")
    # at epoch 2 only two finished trials reached it: too few to judge
    assert not early_stopping.median_stop(0.0, others, 2, direction="max")
    assert early_stopping.median_stop(0.0, others, 2, direction="max", min_trials=2)
    losses = [{0: 2.0}, {0: 1.0}, {0: 3.0}]
    assert early_stopping.median_stop(2.5, losses, 0, direction="min")
    assert not early_stopping.median_stop(1.5, losses, 0, direction="min")


# === Oracles: resuming, retries, Bayesian proposals (no training) ===

def _discrete_space():
    hp = keras_tuner.HyperParameters()
    hp.Choice("a", [1, 2])
    hp.Choice("b", [10, 20, 30])
    return hp


def _run_oracle(oracle_cls, directory, n=None, **kwargs):
    oracle = oracle_cls(objective=keras_tuner.Objective("score", "max"),
                        hyperparameters=_discrete_space(), seed=1, **kwargs)
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    if os.path.exists(os.path.join(str(directory), "p", "oracle.json")):
        oracle.reload()
    seen = []
    while n is None or len(seen) < n:
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        value = trial.hyperparameters.values
        oracle.update_trial(trial.trial_id, {"score": value["a"] * 100 + value["b"]})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        seen.append((value["a"], value["b"]))
    return oracle, seen


def test_grid_oracle_resumes_where_it_stopped(tmp_path):
    _, first = _run_oracle(fixes.GridOracle, tmp_path, n=2)
    _, rest = _run_oracle(fixes.GridOracle, tmp_path)
    assert sorted(first + rest) == [(a, b) for a in (1, 2) for b in (10, 20, 30)]
    # keras-tuner's own grid oracle stops at once after reloading
    _, first = _run_oracle(keras_tuner.oracles.GridSearchOracle, tmp_path / "kt", n=2)
    assert len(first) == 2


def _oracle_in(directory, oracle_cls=fixes.RandomOracle):
    """A fresh oracle over the discrete space (three trials) in ``directory``/p."""
    o = oracle_cls(objective=keras_tuner.Objective("score", "max"),
                   hyperparameters=_discrete_space(), max_trials=3, seed=1)
    o.verbose = 0
    o._set_project_dir(str(directory), "p")
    return o


def test_interrupted_trial_reruns_with_empty_metrics(tmp_path):
    oracle = _oracle_in(tmp_path)
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"score": 1.0}, step=0)
    oracle.save()  # the process dies here, in the middle of the trial
    again = _oracle_in(tmp_path)
    again.reload()
    rerun = again.create_trial("tuner0")
    assert rerun.trial_id == trial.trial_id
    assert rerun.hyperparameters.values == trial.hyperparameters.values
    assert not rerun.metrics.exists("score")


@pytest.mark.parametrize("oracle_cls", [fixes.RandomOracle, fixes.GridOracle])
def test_trial_written_before_the_oracle_state_is_run_after_a_kill(tmp_path, oracle_cls):
    _run_oracle(oracle_cls, tmp_path, n=1, max_trials=3)
    state_file = tmp_path / "p" / "oracle.json"
    before = state_file.read_bytes()
    oracle = _oracle_in(tmp_path, oracle_cls)
    oracle.reload()
    started = oracle.create_trial("tuner0")  # its trial.json, then the oracle's state
    state_file.write_bytes(before)  # the process died between the two writes
    again = _oracle_in(tmp_path, oracle_cls)
    again.reload()
    rerun = again.create_trial("tuner0")
    assert rerun.trial_id == started.trial_id
    assert rerun.hyperparameters.values == started.hyperparameters.values
    _run_oracle(oracle_cls, tmp_path, max_trials=3)
    ids = sorted(p.parent.name for p in (tmp_path / "p").glob("trial_*/trial.json"))
    assert ids == ["trial_0", "trial_1", "trial_2"]


def test_bayesian_oracle_proposes_new_points_only(tmp_path):
    oracle, seen = _run_oracle(fixes.BayesianOracle, tmp_path, max_trials=5,
                               num_initial_points=2)
    assert len(seen) == 5 and len(set(seen)) == 5


# === In-process sweeps on the digits ===

def test_oversized_models_are_skipped_without_stopping_the_sweep(tmp_path, monkeypatch,
                                                                 capsys):
    # The hparams plugin missing must not fail the trials (keras-tuner imports it per trial).
    monkeypatch.setitem(sys.modules, "tensorboard.plugins.hparams", None)
    # One 3x3 conv with F filters on 8x8 digits: 10F + (16F + 1) * 10 parameters; under a
    # limit of 1000 only F = 4 (690) fits. Two trials asked for: the sweep samples until the
    # space has no model left under the limit, and says so.
    fixed = dict(FIXED_CONVNET, num_stages=1, kernel_size_1=3, filters=[64, 32, 16, 4])
    with pytest.warns(UserWarning, match="hparams"):
        result = tuning.search(
            "convnet", "digits", tuner="random", max_trials=2, epochs=1, image_size=8,
            limit=128, output=str(tmp_path / "sweep"), overrides=fixed, max_params=1000,
            retrain="none", early_stopping=None, seed=3,
            callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "tb"))])
    rows = {r["hyperparameters"]["filters"]: r for r in result.rows}
    for f in (64, 32, 16):
        assert rows[f]["status"] == "oversized" and rows[f]["trial_id"] is None
        assert rows[f]["params"] == 10 * f + (16 * f + 1) * 10
    assert rows[4]["status"] == "COMPLETED" and rows[4]["score"] is not None
    assert result.stop_reason == "exhausted"
    assert os.listdir(tmp_path / "tb")  # TensorBoard still logged the trial
    tuning.cli._print_summary(result)
    out = capsys.readouterr().out
    assert "1 of 1 trials finished" in out and "the space is exhausted" in out
    assert "3 sampled models exceeded --max-params" in out


def test_grid_runs_oversized_points_as_trials_that_neither_fail_the_sweep_nor_use_the_budget(
        tmp_path, capsys):
    # The grid visits 64, 32, 16 (all over the limit: three in a row, the failure limit) and
    # then 4, which is the one trial of the budget.
    fixed = dict(FIXED_CONVNET, num_stages=1, kernel_size_1=3, filters=[64, 32, 16, 4])
    result = tuning.search(
        "convnet", "digits", tuner="grid", max_trials=1, epochs=1, image_size=8, limit=128,
        output=str(tmp_path / "sweep"), overrides=fixed, max_params=1000, retrain="none",
        early_stopping=None, seed=3)
    rows = {r["hyperparameters"]["filters"]: r for r in result.rows}
    assert sorted(rows) == [4, 16, 32, 64]
    for f in (64, 32, 16):
        assert rows[f]["status"] == "oversized" and rows[f]["trial_id"] is not None
        assert rows[f]["params"] == 10 * f + (16 * f + 1) * 10 and rows[f]["score"] is None
    assert rows[4]["status"] == "COMPLETED" and rows[4]["score"] is not None
    tuning.cli._print_summary(result)
    out = capsys.readouterr().out
    assert "1 of 4 trials finished" in out and "3 sampled models exceeded --max-params" in out


def _train_graphs():
    """Traced Keras train steps still alive in this process."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(1 for g in gc.get_objects()
               if isinstance(g, FuncGraph) and g.name == "one_step_on_data")


def test_hyperband_continuation_keeps_the_optimizer_state(tmp_path, monkeypatch):
    # max_epochs=2, factor=2: the first bracket trains two models for one epoch, then
    # continues the better one for a second epoch. The sweep is cut after that trial.
    populate = fixes.HyperbandSweepOracle.populate_space
    monkeypatch.setattr(fixes.HyperbandSweepOracle, "populate_space",
                        lambda self, trial_id: {"status": "STOPPED"} if len(self.trials) >= 3
                        else populate(self, trial_id))
    fixed = dict(FIXED_CONVNET, num_stages=1, kernel_size_1=[1, 3], filters=4,
                 optimizer="sgd", momentum=0.9, schedule="step", learning_rate=0.05)
    data = tuning.load_data("digits", image_size=8, limit=320)
    space = get_space("convnet", input_shape=data.input_shape, num_classes=10,
                      overrides=fixed)
    tuner = tuners.make_tuner(space, tuner="hyperband", epochs=2, factor=2,
                              directory=str(tmp_path), project_name="hb")
    graphs_before = _train_graphs()
    tuner.search(data, verbose=0)
    trials = [tuner.oracle.trials[i] for i in tuner.oracle.start_order]
    assert [t.hyperparameters.values["tuner/epochs"] for t in trials] == [1, 1, 2]
    first = {t.trial_id: t for t in trials[:2]}
    last = trials[2]
    assert last.hyperparameters.values["tuner/trial_id"] in first
    record = json.load(open(tmp_path / "hb" / f"trial_{last.trial_id}" / tuners.TRIAL_RECORD))
    assert record["optimizer_state_restored"]
    for t in trials:  # best-epoch checkpoints and states written whole, no temporaries left
        assert os.path.isfile(tuner._get_checkpoint_fname(t.trial_id))
        assert not [f for f in os.listdir(tuner.get_trial_dir(t.trial_id)) if ".tmp-" in f]
    steps = math.ceil(320 / 64)
    iterations = {o.step: o.mean() for o in last.metrics.get_history("kcnn_iterations")}
    # epoch 1 continues the iteration count of epoch 0: the step schedule goes on, and the
    # momentum slots come back with it.
    assert iterations == {1: 2 * steps}
    assert first[last.hyperparameters.values["tuner/trial_id"]].metrics.get_history(
        "kcnn_iterations")[0].mean() == steps

    # Building the next model releases every graph traced by the finished trials (their
    # gradient registrations kept them alive: the memory of a long sweep grew each trial).
    tuner._try_build(trials[0].hyperparameters)
    assert not memory.custom_gradient_names() - tuner._gradients_before
    assert _train_graphs() <= graphs_before


class _StubOracle:
    """The part of an oracle the trial callback talks to."""

    def __init__(self, finished):
        self.objective = keras_tuner.Objective("val_accuracy", "max")
        self.reports = []
        self._finished = []
        for i, curve in enumerate(finished):
            t = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id=str(i),
                                               status="COMPLETED")
            for step, value in enumerate(curve):
                t.metrics.update("val_accuracy", value, step=step)
            self._finished.append(t)

    def update_trial(self, trial_id, metrics, step=0):
        self.reports.append((trial_id, step, metrics))

    def get_best_trials(self, num_trials=1):
        return self._finished[:num_trials]


def _trial_callback(oracle, **kwargs):
    import time
    from types import SimpleNamespace

    trial = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id="new")
    cb = early_stopping.TrialReporter(SimpleNamespace(oracle=oracle), trial,
                               start=time.monotonic(), params=1234, **kwargs)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    cb.set_model(model)
    return cb, model


def test_trial_callback_reports_epochs_and_stops_bad_or_slow_trials():
    finished = [[0.5, 0.7], [0.6, 0.8], [0.4, 0.9]]
    # a trial below the median (0.5) of the finished trials after epoch 0 stops there
    oracle = _StubOracle(finished)
    cb, model = _trial_callback(oracle, median=(3, 1))
    cb.on_epoch_end(0, {"val_accuracy": 0.3, "loss": 1.0})
    assert model.stop_training and cb.stopped == "median rule"
    (trial_id, step, metrics), = oracle.reports
    assert (trial_id, step, metrics["val_accuracy"]) == ("new", 0, 0.3)
    assert metrics["kcnn_params"] == 1234 and metrics["kcnn_rss_mb"] > 0
    # one above the median goes on; so does one inside its grace epochs
    cb, model = _trial_callback(_StubOracle(finished), median=(3, 1))
    cb.on_epoch_end(0, {"val_accuracy": 0.55})
    assert not model.stop_training
    cb, model = _trial_callback(_StubOracle(finished), median=(3, 2))
    cb.on_epoch_end(0, {"val_accuracy": 0.1})
    assert not model.stop_training
    # the wall-clock budget stops training after the batch that exceeds it
    cb, model = _trial_callback(_StubOracle([]), seconds=0.0)
    cb.on_train_batch_end(0)
    assert model.stop_training and cb.stopped == "time budget"


def test_command_line_lists_and_shows_spaces(capsys):
    assert tuning.cli_main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("convnet", "resnet", "vgg", "googlenet", "alphago_policy"):
        assert name in out
    assert tuning.cli_main(["convnet", "--data", "digits", "--show-space",
                            "--set", "num_stages=1:2", "--set", "filters=8,16"]) == 0
    out = capsys.readouterr().out
    assert "num_stages: int [1, 2]" in out and "filters: choice [8, 16]" in out
    assert "kernel_size_2: choice [1, 3, 5, 7], default 3  if num_stages in [2]" in out
    assert tuning.cli_main(["convnet", "--set", "kernal_size_1=3", "--show-space"]) == 2
    assert "kernel_size_1" in capsys.readouterr().err


def test_summary_says_the_best_model_is_the_best_configuration_trained_again(capsys):
    from kcnn.tuning import cli
    from kcnn.tuning.sweep import SweepResult

    rows = [{"rank": 1, "objective": "val_accuracy", "score": 0.9, "params": 1000,
             "seconds": 2.0, "hyperparameters": {"filters": 32}},
            {"rank": 2, "objective": "val_accuracy", "score": None, "params": None,
             "seconds": None, "hyperparameters": {"filters": 64}}]
    cli._print_summary(SweepResult("out", rows, rows[0], "out/best_model.keras",
                                   {"val_accuracy": 0.85}, ("a.csv", "a.json"), None))
    out = capsys.readouterr().out
    assert "1 of 2 trials finished" in out and "#1   val_accuracy=0.9000" in out
    assert ("best model: out/best_model.keras  (#1's configuration trained again from "
            "scratch: val_accuracy=0.8500)") in out


# === Impossible values, the size limit, repeatability and one writer per folder ===

@pytest.mark.parametrize("argv,flag", [
    (["--max-trials", "0"], "--max-trials"),
    (["--max-trials", "-3"], "--max-trials"),
    (["--epochs", "0"], "--epochs"),
    (["--trial-seconds", "-1"], "--trial-seconds"),
    (["--max-params", "0"], "--max-params"),
    (["--validation-fraction", "1.5"], "--validation-fraction"),
    (["--factor", "1"], "--factor"),
])
def test_command_line_refuses_impossible_values_at_once(tmp_path, capsys, argv, flag):
    output = tmp_path / "sweep"
    with pytest.raises(SystemExit) as info:
        tuning.cli_main(["convnet", "--output", str(output), *argv])
    assert info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert not output.exists()


def test_impossible_rates_and_python_arguments_are_refused_before_writing(tmp_path, capsys):
    output = tmp_path / "sweep"
    assert tuning.cli_main(["convnet", "--image-size", "8", "--output", str(output),
                            "--set", "learning_rate=-1"]) == 2
    assert "learning_rate` must be positive" in capsys.readouterr().err
    for kwargs, name in (({"max_trials": 0}, "max_trials"), ({"epochs": 0}, "epochs"),
                         ({"max_params": -5}, "max_params"),
                         ({"trial_seconds": 0}, "trial_seconds"),
                         ({"objective": "val_acc"}, "Did you mean 'val_accuracy'")):
        with pytest.raises(ValueError, match=f"{name}") as info:
            tuning.search("convnet", "digits", output=str(output), **kwargs)
        assert "Received:" in str(info.value)
    assert not output.exists()


def test_size_filter_samples_until_the_budget_or_the_space_runs_out(tmp_path):
    # Points with a == 2 are "oversized": they never become trials nor use up the budget.
    oracle = _oracle_in(tmp_path)
    oracle.model_size = lambda values: 5000 if values["a"] == 2 else None

    def run():
        seen = []
        while (trial := oracle.create_trial("tuner0")).status != "STOPPED":
            seen.append(trial.hyperparameters.values["a"])
            oracle.update_trial(trial.trial_id, {"score": 1.0})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
        return seen

    oracle.max_trials = 2
    assert run() == [1, 1] and oracle.stop_reason == "max_trials"
    oracle.max_trials = 10  # more than the three small points: the space runs out
    assert run() == [1] and oracle.stop_reason == "exhausted"
    assert {p["params"] for p in oracle.oversized} == {5000}
    reloaded = _oracle_in(tmp_path)
    reloaded.reload()
    assert {p["values"]["a"] for p in reloaded.oversized} == {2}  # kept in the state


def test_same_seed_same_sweep(tmp_path):
    # Dropout, weight initialization and shuffling all follow the sweep's seed.
    fixed = dict(FIXED_CONVNET, num_stages=1, kernel_size_1=3, filters=8, dropout=0.3,
                 dense_layers=1, dense_units_1=64)
    scores = []
    for run in ("a", "b"):
        result = tuning.search("convnet", "digits", tuner="random", max_trials=1, epochs=1,
                               image_size=8, limit=192, overrides=fixed, retrain="none",
                               output=str(tmp_path / run), seed=5)
        scores.append([(r["trial_id"], r["score"]) for r in result.rows])
    assert scores[0] == scores[1] and scores[0][0][1] is not None
    record = json.loads((tmp_path / "a" / "trials" / "trial_0" / tuners.TRIAL_RECORD)
                        .read_text())
    assert record["seed"] == tuners.trial_seed(5, "0")
    assert len({tuners.trial_seed(s, t) for s in (5, 6) for t in ("0", "1")}) == 4


def test_a_second_writer_of_a_sweep_folder_is_refused(tmp_path, capsys):
    from kcnn._io import FolderBusyError, FolderLock

    output = tmp_path / "sweep"
    with FolderLock(output, what="sweep"):
        with pytest.raises(FolderBusyError, match=str(output)):
            tuning.search("convnet", "digits", output=str(output), image_size=8)
        assert tuning.cli_main(["convnet", "--image-size", "8", "--output",
                                str(output)]) == 1
        assert "in use by another process" in capsys.readouterr().err
    assert not (output / "sweep.json").exists()


def test_keras_tuner_is_patched_when_a_tuner_is_made_and_only_for_its_version(tmp_path,
                                                                             monkeypatch):
    import importlib.util

    from keras_tuner.src.engine import conditions

    def sentinel(self):
        return None

    monkeypatch.setattr(conditions.Parent, "to_proto", sentinel)
    monkeypatch.setattr(fixes, "_applied", [])
    # Importing the fixes changes nothing in keras-tuner ...
    spec = importlib.util.spec_from_file_location("kcnn_fixes_copy", fixes.__file__)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert conditions.Parent.to_proto is sentinel
    # ... making a tuner applies them.
    space = get_space("convnet", input_shape=(8, 8, 1), num_classes=10)
    tuners.make_tuner(space, directory=str(tmp_path))
    assert conditions.Parent.to_proto is fixes._silent_parent_to_proto
    # Another keras-tuner version: the patch is skipped with a message naming both.
    monkeypatch.setattr(conditions.Parent, "to_proto", sentinel)
    monkeypatch.setattr(fixes, "_applied", [])
    monkeypatch.setattr(fixes, "_warned", [])
    monkeypatch.setattr(keras_tuner, "__version__", "1.5.0")
    with pytest.warns(RuntimeWarning, match=r"written for keras-tuner 1\.4\.7.*1\.5\.0"):
        assert fixes.apply_patches() == ()
    assert conditions.Parent.to_proto is sentinel


def test_a_sweep_drops_tensorflows_retracing_warning_and_nothing_else(tmp_path, monkeypatch,
                                                                       caplog):
    import logging

    logger = logging.getLogger("tensorflow")
    retracing = ("6 out of the last 11 calls to <function f at 0x1> triggered tf.function "
                 "retracing. Tracing is expensive ...")

    def search(self, *args, **kwargs):   # what TensorFlow logs while the trials run
        logger.warning(retracing)
        logger.warning("a real problem")

    monkeypatch.setattr(fixes.TunerFixes, "search", search)
    space = get_space("convnet", input_shape=(8, 8, 1), num_classes=10)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        tuners.make_tuner(space, directory=str(tmp_path)).search()
        assert [r.getMessage() for r in caplog.records] == ["a real problem"]
        logger.warning(retracing)   # after the sweep, TensorFlow's logger is as it was
    assert caplog.records[-1].getMessage() == retracing


def test_missing_optional_dependencies_name_the_extra(monkeypatch):
    import importlib

    for module, blocked, extra in (("kcnn.tuning", "keras_tuner", "kcnn[tuning]"),
                                   ("kcnn.go", "sgfmill", "kcnn[go]"),
                                   ("kcnn.go", "numba", "kcnn[go]")):
        for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, blocked, None)
        with pytest.raises(ImportError, match=re.escape(extra)) as info:
            importlib.import_module(module)
        assert blocked.replace("_", "-") in str(info.value)
        monkeypatch.undo()


def test_keras_dataset_names_load_scaled_with_a_validation_split(monkeypatch):
    # keras.datasets.mnist stands in with 40 + 10 random uint8 images (no download).
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (40, 28, 28), dtype="uint8"), np.arange(40) % 4)
    test = (rng.integers(0, 256, (10, 28, 28), dtype="uint8"), np.arange(10) % 4)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (train, test))
    data = tuning.load_data("mnist", image_size=14, validation_fraction=0.25)
    assert data.input_shape == (14, 14, 1) and data.num_classes == 4
    assert (data.train_size, len(data.x_val), len(data.x_test)) == (30, 10, 10)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    np.testing.assert_allclose(data.x_test[0, ..., 0],
                               keras.ops.convert_to_numpy(keras.ops.image.resize(
                                   test[0][:1, ..., None] / 255.0, (14, 14)))[0, ..., 0],
                               atol=1e-5)
