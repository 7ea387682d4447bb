"""A toy recipe: a small dense network on generated images, trained in seconds.

For trying out the training machinery (run folders, resuming, strategies) and for tests::

    from kcnn.training.toy import toy_recipe
    metrics = toy_recipe().run(output="/tmp/toy", epochs=2)
"""

from __future__ import annotations

import dataclasses

import keras

from kcnn.data import pipelines, synthetic
from kcnn.training.config import Config, setting
from kcnn.training.recipe import Data, Recipe

__all__ = ["ToyConfig", "toy_recipe"]


@dataclasses.dataclass(frozen=True)
class ToyConfig(Config):
    """Settings of the toy recipe."""

    epochs: int = 3
    batch_size: int = 16
    lr: float = setting(0.1, "SGD's learning rate", minimum=0.0, exclusive_minimum=True)
    momentum: float = setting(0.9, "SGD's momentum", minimum=0.0, maximum=0.999)
    units: int = setting(16, "hidden units", minimum=1)
    examples: int = setting(64, "generated images (a quarter held out)", minimum=8)
    num_classes: int = setting(4, "classes", minimum=2)
    input_shape: tuple = setting((8, 8, 1), "shape of one image")
    shuffle: bool = setting(False, "shuffle the training images")
    validate: bool = setting(False, "evaluate the held-out images after each epoch")


def _data(cfg):
    x, y = synthetic.images(cfg.examples, tuple(cfg.input_shape), cfg.num_classes, seed=0)
    n_test = cfg.examples // 4
    train = pipelines.from_arrays(x[n_test:], y[n_test:], batch_size=cfg.batch_size,
                                  shuffle=cfg.shuffle, seed=cfg.seed)
    test = pipelines.from_arrays(x[:n_test], y[:n_test], batch_size=cfg.batch_size)
    return Data(train=train, test=test, validation=test if cfg.validate else None,
                num_classes=cfg.num_classes, input_shape=tuple(cfg.input_shape),
                train_size=cfg.examples - n_test, test_size=n_test,
                description=f"{cfg.examples} generated images")


def _model(cfg, data):
    inputs = keras.Input(data.input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(cfg.units, activation="relu", name="fc1")(x)
    outputs = keras.layers.Dense(data.num_classes, activation="softmax", dtype="float32",
                                 name="predictions")(x)
    return keras.Model(inputs, outputs, name="toy")


def _optimizer(cfg, data):
    from kcnn.optimizers import make_optimizer

    return make_optimizer("sgd", learning_rate=cfg.lr, momentum=cfg.momentum)


def toy_recipe(name="toy", **fields):
    """The toy ``Recipe``; ``fields`` replace any of its fields (``callbacks``,
    ``evaluate``, ``data``, ``config``...)."""
    recipe = Recipe(
        name=name, description="A small dense network on generated images.",
        config=ToyConfig, data=_data, model=_model, optimizer=_optimizer,
        smoke={"epochs": 1, "steps_per_epoch": 2})
    return dataclasses.replace(recipe, **fields)
