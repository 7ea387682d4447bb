"""recipes/finetune_folder.py: a frozen pretrained body under a new head, then fine-tuning
with BatchNorm kept in inference mode (offline: a kcnn-saved body stands for the checkpoint)."""

import json
import os

import keras
import numpy as np
import pytest

import kcnn
from kcnn import training

RECIPE_FILE = os.path.join(os.path.dirname(__file__), "..", "recipes", "finetune_folder.py")
BODY = dict(input_shape=(32, 32, 3), include_top=False, pooling="avg",
            stackwise_num_filters=[4, 4, 8, 8], stackwise_num_blocks=[1, 1, 1, 1])


@pytest.fixture(scope="module")
def module():
    return training.load_recipe_module(RECIPE_FILE)


def _weights_by_path(model):
    return {v.path: np.array(v.numpy()) for v in model.weights}


def _batch_norm(layer_weights):
    return {p: w for p, w in layer_weights.items()
            if "bn/" in p or p.split("/")[-1] in ("moving_mean", "moving_variance", "gamma",
                                                  "beta")}


@pytest.fixture(scope="module")
def finished(module, tmp_path_factory):
    """Both runs on generated data, from a body saved by kcnn with randomized BN stats."""
    root = tmp_path_factory.mktemp("finetune")
    body = kcnn.build("resnet50", **BODY)
    rng = np.random.default_rng(0)
    for v in body.weights:  # BN statistics far from their initial values
        if v.path.endswith(("moving_mean", "moving_variance")):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
    path = str(root / "body.weights.h5")
    body.save_weights(path)
    output = root / "run"
    code = module.main(["--smoke", "--weights", path, "--output", str(output),
                        "--verbose", "0", "--steps-per-epoch", "2", "--lr", "1e-2"])
    assert code == 0
    return {"body": _weights_by_path(body), "output": output, "path": path}


def _body_weights(model_path, module):
    model = keras.saving.load_model(model_path, compile=False)
    return model, _weights_by_path(module.body_of(model))


def test_head_run_trains_only_the_head(finished, module):
    model, body = _body_weights(finished["output"] / "head" / "model.keras", module)
    assert body.keys() == finished["body"].keys()
    for p, w in body.items():
        np.testing.assert_array_equal(w, finished["body"][p], err_msg=p)
    config = json.loads((finished["output"] / "head" / "config.json").read_text())["config"]
    assert config["phase"] == "head" and config["epochs"] == 1
    history = json.loads((finished["output"] / "head" / "history.json").read_text())
    assert history[0]["learning_rate"] == pytest.approx(1e-3)
    head = model.get_layer("predictions")
    assert tuple(head.kernel.shape) == (32, 3)  # 8 filters x 4 (bottleneck)


def test_finetune_run_trains_the_body_but_keeps_batch_norm(finished, module):
    _, head_body = _body_weights(finished["output"] / "head" / "model.keras", module)
    model, body = _body_weights(finished["output"] / "model.keras", module)
    bn = _batch_norm(body)
    assert len(bn) >= 4 * 8  # every BN variable of the ResNet is compared
    for p in bn:
        np.testing.assert_array_equal(body[p], finished["body"][p], err_msg=p)
    kernels = [p for p in body if p.endswith("kernel")]
    changed = [p for p in kernels if not np.array_equal(body[p], head_body[p])]
    assert len(changed) == len(kernels)  # every convolution moved from the head run's
    config = json.loads((finished["output"] / "config.json").read_text())["config"]
    assert config["phase"] == "finetune"
    assert config["head_model"] == str(finished["output"] / "head" / "model.keras")
    history = json.loads((finished["output"] / "history.json").read_text())
    assert history[0]["learning_rate"] == pytest.approx(1e-2)
    # moving statistics unchanged after training steps: BatchNorm ran in inference mode.
    # freeze_batch_norm reaches the BN layers inside the residual blocks too:
    module.freeze_batch_norm(module.body_of(model))
    x = np.random.default_rng(1).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
    features = keras.Model(model.input, model.get_layer("head_dropout").input)
    np.testing.assert_allclose(np.asarray(features(x, training=True)),
                               np.asarray(features(x, training=False)), rtol=1e-5, atol=1e-6)


def test_a_second_invocation_reports_the_finished_runs(finished, module, capsys):
    code = module.main(["--smoke", "--weights", finished["path"], "--output",
                        str(finished["output"]), "--verbose", "0", "--steps-per-epoch", "2",
                        "--lr", "1e-2"])
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test accuracy: ")


def test_refusals(module, tmp_path, capsys):
    assert module.main(["--model", "resnet50", "--output", str(tmp_path / "a")]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert module.main(["--smoke", "--phase", "head", "--output", str(tmp_path / "b")]) == 2
    assert module.main(["--smoke", "--head-model", str(tmp_path / "none.keras"),
                        "--output", str(tmp_path / "c"), "--verbose", "0"]) == 2
    assert "No head model" in capsys.readouterr().err
    # a run folder another process writes is refused as Recipe.main refuses it
    from kcnn._io import FolderLock

    busy = tmp_path / "d"
    with FolderLock(str(busy / "head")):
        assert module.main(["--smoke", "--output", str(busy), "--verbose", "0"]) == 2
    assert "is in use by another process" in capsys.readouterr().err


def test_image_folder_data_with_the_checkpoints_preprocessing(module, tmp_path):
    from kcnn.data.folders import write_image_folders

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 40, 40, 3))
    y = np.arange(8) % 2
    root = write_image_folders(str(tmp_path), x[:6], y[:6], x[6:], y[6:])
    cfg = module.RECIPE.configure(data_dir=root, model="resnet50", weights="torchvision_v2",
                                  image_size=32, resize=40, batch_size=3)
    data = module.data(cfg)
    assert (data.num_classes, data.train_size, data.test_size) == (2, 6, 2)
    images, labels = next(iter(data.test))
    assert images.shape == (2, 32, 32, 3)
    # torchvision's mean/std normalisation: values far inside [-3, 3], not [0, 255]
    assert float(np.max(np.abs(images))) < 3.0
    assert module.RECIPE.configure(weights="none", smoke=True).weights is None
