"""What the LeNet-5 digit recipes share (``lenet5_digits``, ``lenet5_mnist``).

Grey-level digits in [0, 1] go through the paper's normalisation (background -0.1, ink
1.175), optional random shifts and rotations in training, and LeNet-5 trained with Adam and
cosine decay. Each recipe only loads its own arrays and sets its defaults on
:class:`DigitsConfig`.
"""

from __future__ import annotations

import dataclasses

from kcnn.training.classification import steps_per_epoch
from kcnn.training.config import Config, setting
from kcnn.training.recipe import Data

__all__ = ["DigitsConfig", "adam_cosine", "digit_data", "lenet_model"]

LENET_MODELS = ("lenet5_modern", "lenet5")


@dataclasses.dataclass(frozen=True)
class DigitsConfig(Config):
    """Settings of the LeNet-5 digit recipes."""

    model: str = setting("lenet5_modern", "lenet5_modern or lenet5 (the 1998 form)",
                         choices=LENET_MODELS)
    lr: float = setting(1e-3, "Adam's initial learning rate (cosine decay to 1% of it)",
                        minimum=0.0, exclusive_minimum=True)
    dropout: float = setting(0.0, "dropout before the classifier (lenet5_modern)",
                             minimum=0.0, maximum=0.99)
    max_shift: float = setting(0.0, "largest random shift, fraction of the side",
                               minimum=0.0, maximum=1.0)
    max_rotation: float = setting(0.0, "largest random rotation in degrees", minimum=0.0,
                                  maximum=180.0)
    image_size: int = setting(32, "side of the network's input (32 in the paper)",
                              minimum=8)


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


def adam_cosine(cfg, data):
    """Adam from ``cfg.lr`` with cosine decay to 1% of it over the whole run
    (``kcnn.optimizers.make_optimizer("adam", ...)``)."""
    import keras

    from kcnn.optimizers import make_optimizer

    lr = keras.optimizers.schedules.CosineDecay(
        cfg.lr, decay_steps=cfg.epochs * steps_per_epoch(cfg, data), alpha=0.01)
    return make_optimizer("adam", learning_rate=lr)
