"""What the LeNet-5 digit recipes share (``lenet5_digits``, ``lenet5_mnist``).

Grey-level digits in [0, 1] go through the paper's normalisation (background -0.1, ink
1.175), optional random shifts and rotations in training, and LeNet-5 trained with Adam and
cosine decay. Each recipe only loads its own arrays.
"""

from __future__ import annotations

import keras

from kcnn.training.classification import steps_per_epoch
from kcnn.training.recipe import Data


def digit_data(cfg, x_train, y_train, x_test, y_test, *, description, test_batch_size=256):
    """``Data`` for one-channel digit images in [0, 1] of side ``cfg.image_size``.

    Training batches are shuffled and, when ``cfg.max_shift`` or ``cfg.max_rotation`` is
    set, shifted and rotated with stateless random draws seeded by ``cfg.seed``.
    """
    from kcnn.data import pipelines
    from kcnn.preprocessing import preprocess_input

    def preprocess(images):
        return preprocess_input(images, "lenet")

    augment = None
    if cfg.max_shift or cfg.max_rotation:
        augment = pipelines.shift_rotate(max_shift=cfg.max_shift,
                                         max_rotation=cfg.max_rotation)
    train = pipelines.from_arrays(x_train, y_train, batch_size=cfg.batch_size, shuffle=True,
                                  augment=augment, preprocess=preprocess, seed=cfg.seed)
    test = pipelines.from_arrays(x_test, y_test, batch_size=test_batch_size,
                                 preprocess=preprocess)
    return Data(train=train, test=test, num_classes=10,
                input_shape=(cfg.image_size, cfg.image_size, 1), train_size=len(x_train),
                test_size=len(x_test), description=description)


def lenet_model(cfg, data):
    """``cfg.model`` ("lenet5_modern" or "lenet5") for the data's shape and classes."""
    import kcnn

    kwargs = {"input_shape": data.input_shape, "num_classes": data.num_classes}
    if cfg.model == "lenet5_modern":
        kwargs["dropout"] = cfg.dropout
    return kcnn.build(cfg.model, **kwargs)


def adam_cosine_compile(cfg, data):
    """Adam from ``cfg.lr`` with cosine decay to 1% of it over the whole run."""
    lr = keras.optimizers.schedules.CosineDecay(
        cfg.lr, decay_steps=cfg.epochs * steps_per_epoch(cfg, data), alpha=0.01)
    return {"optimizer": keras.optimizers.Adam(lr),
            "loss": keras.losses.SparseCategoricalCrossentropy(),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
