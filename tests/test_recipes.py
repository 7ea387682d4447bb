"""Every recipe in recipes/ runs in --smoke mode and ends with `test accuracy: 0.xxxx`;
the main job (LeNet-5 on the embedded digits) reaches 98% held-out accuracy (slow)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from kcnn import training

RECIPES_DIR = os.path.join(os.path.dirname(__file__), "..", "recipes")
RECIPES = sorted(f[:-3] for f in os.listdir(RECIPES_DIR)
                 if f.endswith(".py") and not f.startswith("_"))
LAST_LINE = re.compile(r"test accuracy: (0\.\d{4}|1\.0000)")


def _run(name, argv, capsys):
    module = training.load_recipe_module(os.path.join(RECIPES_DIR, f"{name}.py"))
    code = module.main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return code, out


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A 3-class image-folder dataset of 40x40 PNGs (train/ and val/)."""
    from kcnn.data.folders import write_image_folders

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(18, 40, 40, 3))
    y = np.arange(18) % 3
    return write_image_folders(str(tmp_path_factory.mktemp("folders")), x[:12], y[:12],
                               x[12:], y[12:])


def test_the_recipe_list_covers_every_network():
    expected = {"lenet5_digits", "lenet5_mnist", "alexnet_imagenet", "vgg_imagenet",
                "googlenet_imagenet", "resnet_imagenet", "resnet_cifar10"}
    assert expected <= set(RECIPES)
    import kcnn

    for model in kcnn.list_models():
        recipe = kcnn.get_spec(model).recipe
        assert recipe is None or recipe in RECIPES, (model, recipe)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_runs_in_smoke_mode(name, tmp_path, capsys, image_folder):
    argv = ["--smoke", "--output", str(tmp_path / "run"), "--verbose", "0"]
    if name == "alexnet_imagenet":  # real files: folder reading, PCA colour, ten crops
        argv += ["--data-dir", image_folder]
    code, out = _run(name, argv, capsys)
    assert code == 0
    assert LAST_LINE.fullmatch(out[-1]), out[-3:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert out[-1] == f"test accuracy: {metrics['test_accuracy']:.4f}"
    assert (tmp_path / "run" / "model.keras").exists()
    if name == "alexnet_imagenet":
        assert metrics["eval_protocol"] == "ten crops" and metrics["test_examples"] == 6
        assert "test_top5_accuracy" not in metrics  # 3 classes: top-5 is meaningless
    if name == "googlenet_imagenet":
        import keras

        model = keras.saving.load_model(tmp_path / "run" / "model.keras")
        assert len(model.outputs) == 3  # trained with both auxiliary classifiers


def test_paper_optimizer_and_schedule_under_mixed_float16(tmp_path, capsys):
    """ResNet-CIFAR's coupled-decay SGD and step schedule behind a loss-scale optimizer."""
    code, out = _run("resnet_cifar10", ["--smoke", "--output", str(tmp_path / "run"),
                                        "--precision", "mixed_float16", "--verbose", "0"],
                     capsys)
    assert code == 0 and LAST_LINE.fullmatch(out[-1])
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["learning_rate"] == pytest.approx(0.1 * 8 / 128)  # linear scaling
    assert np.isfinite(history[0]["loss"])


def test_recipe_learning_rate_follows_batch_size_or_explicit_lr():
    module = training.load_recipe_module(os.path.join(RECIPES_DIR, "resnet_cifar10.py"))
    recipe = module.RECIPE
    for settings, expected in (({"batch_size": 128}, 0.1), ({"batch_size": 256}, 0.2),
                               ({"batch_size": 256, "lr": 0.05}, 0.05)):
        cfg = recipe.configure(smoke=True, **settings)
        data = recipe.data(cfg)
        optimizer = recipe.setup(cfg, data).compile_args["optimizer"]
        assert float(optimizer.learning_rate) == pytest.approx(expected)
        assert optimizer.momentum == 0.9 and optimizer.coupled_weight_decay == 1e-4


def test_googlenet_recipe_weights_auxiliary_losses_by_0_3():
    module = training.load_recipe_module(os.path.join(RECIPES_DIR, "googlenet_imagenet.py"))
    cfg = module.RECIPE.configure(smoke=True)
    data = module.RECIPE.data(cfg)
    args = module.RECIPE.setup(cfg, data).compile_args
    assert args["loss_weights"] == [1.0, 0.3, 0.3]
    x, y = next(iter(data.train))
    assert isinstance(y, tuple) and len(y) == 3


def test_recipe_file_runs_as_a_script(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, os.path.join(RECIPES_DIR, "lenet5_digits.py"), "--smoke",
         "--deterministic", "--output", str(tmp_path / "run")], capture_output=True,
        text=True, env=env,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert LAST_LINE.fullmatch(lines[-1])
    assert any("top-1 accuracy" in line for line in lines)  # the summary screen


@pytest.mark.slow
def test_main_job_lenet5_on_digits_reaches_98_percent(tmp_path, capsys):
    """The README's first command: LeNet-5 (modern form) on the embedded digits."""
    code, out = _run("lenet5_digits", ["--output", str(tmp_path / "run"), "--verbose", "0"],
                     capsys)
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_examples"] == 360  # the stratified 20% of 1,797
    assert metrics["test_accuracy"] >= 0.98
    assert (tmp_path / "run" / "curves.png").exists()
    assert (tmp_path / "run" / "model.keras").exists()


def test_every_recipe_help_works_through_kcnn_train(capsys):
    """`kcnn train RECIPE --help` (argparse formats help texts with %: "1% of it" crashed)."""
    from kcnn.training import cli

    for name in RECIPES:
        with pytest.raises(SystemExit) as info:
            cli.cli_main([name, "--help"])
        assert info.value.code == 0, name
        out = capsys.readouterr().out
        assert f"usage: kcnn train {name}" in out and "--batch-size" in out, name
    with pytest.raises(SystemExit) as info:  # the percent sign itself survives
        cli.cli_main(["lenet5_digits", "--help"])
    assert "cosine decay to 1% of it" in " ".join(capsys.readouterr().out.split())


def test_refused_commands_name_the_setting_and_leave_no_run_folder(tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images" / "train" / "cat").mkdir(parents=True)  # no val/
    cases = [
        ("lenet5_digits", ["--batch-size", "0"], "`batch_size` must be >= 1. "
                                                 "Received: batch_size=0"),
        ("lenet5_digits", ["--epochs", "0"], "Received: epochs=0"),
        ("lenet5_digits", ["lr=-1"], "`lr` must be > 0.0. Received: lr=-1.0"),
        ("lenet5_digits", ["--steps-per-epoch", "0"], "Received: steps_per_epoch=0"),
        ("resnet_cifar10", ["--lr", "-1"], "Received: lr=-1.0"),
        ("resnet_cifar10", ["--warmup-epochs", "-2"], "Received: warmup_epochs=-2.0"),
        ("alexnet_imagenet", ["--data-dir", "imagenett"],
         f"{tmp_path / 'imagenett'} does not exist; expected a folder with train/<class>/ "
         "and val/<class>/"),
        ("alexnet_imagenet", ["--data-dir", "images"], "has no val/ subfolder (it holds "
                                                       "train/)"),
        ("vgg_imagenet", [], "give --data-dir DIR"),
        ("resnet_imagenet", ["--smoke", "--model", "resnet5O"], "Received: model='resnet5O'"),
        ("alphago_policy_kgs", ["--data-dir", "shards"], "kcnn go convert"),
    ]
    for name, argv, expected in cases:
        module = training.load_recipe_module(os.path.join(RECIPES_DIR, f"{name}.py"))
        assert module.main(argv) == 2, (name, argv)
        err = capsys.readouterr().err
        assert expected in err, (name, argv, err)
        assert not (tmp_path / "runs").exists(), (name, argv)
