"""A toy recipe: a small dense network on generated images, trained in seconds.

For trying out the training machinery (run folders, resuming, strategies) and for tests::

    from kcnn.training.toy import toy_recipe
    metrics = toy_recipe().run(output="/tmp/toy", epochs=2)
"""

from __future__ import annotations

import dataclasses

import keras

from kcnn.data import pipelines, synthetic
from kcnn.training.recipe import Data, Recipe


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


def _compile(cfg, data):
    return {"optimizer": keras.optimizers.SGD(cfg.lr, momentum=cfg.momentum),
            "loss": "sparse_categorical_crossentropy",
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}


def toy_recipe(name="toy", **fields):
    """The toy ``Recipe``; ``fields`` replace any of its fields (``callbacks``,
    ``evaluate``, ``data``, ``defaults``...)."""
    recipe = Recipe(
        name=name, description="A small dense network on generated images.",
        defaults={"epochs": 3, "batch_size": 16, "lr": 0.1, "momentum": 0.9, "units": 16,
                  "examples": 64, "num_classes": 4, "input_shape": [8, 8, 1],
                  "shuffle": False, "validate": False},
        data=_data, model=_model, compile=_compile,
        smoke={"epochs": 1, "steps_per_epoch": 2})
    return dataclasses.replace(recipe, **fields)
