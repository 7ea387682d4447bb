"""LeNet-5 on MNIST (LeCun et al., Proc. IEEE 1998).

    python recipes/lenet5_mnist.py                 # --model lenet5 for the 1998 form

The paper's data: the 60,000 training and 10,000 test digits, 28x28 images padded to the
32x32 input (section III.A: "the input field ... 32x32 pixels"), normalised to background
-0.1 and ink 1.175; 20 passes over the training set. The paper trained with stochastic
diagonal Levenberg-Marquardt (its global rate 0.0005 down to 0.00001); this recipe trains
the modern form (``lenet5_modern``) with Adam and cosine decay by default. MNIST comes from
``keras.datasets`` (downloaded once into ~/.keras).
"""

import sys

import numpy as np

from kcnn import training
from kcnn.training import digits
from kcnn.data import sources, synthetic


def data(cfg):
    if cfg.smoke:
        x, y = synthetic.images(48, (28, 28, 1), 10, seed=cfg.seed, scale=255.0)
        (x_train, y_train), (x_test, y_test) = (x[:32], y[:32]), (x[32:], y[32:])
        description = "generated 28x28 digits (smoke)"
    else:
        (x_train, y_train), (x_test, y_test) = sources.load("mnist")
        description = f"MNIST {len(x_train)} train / {len(x_test)} test"
    pad = (cfg.image_size - 28) // 2
    widths = ((0, 0), (pad, cfg.image_size - 28 - pad), (pad, cfg.image_size - 28 - pad), (0, 0))
    x_train = np.pad(x_train / 255.0, widths).astype("float32")
    x_test = np.pad(x_test / 255.0, widths).astype("float32")
    return digits.digit_data(cfg, x_train, y_train, x_test, y_test, description=description,
                             test_batch_size=1000)


RECIPE = training.Recipe(
    name="lenet5_mnist",
    description=__doc__.split("\n\n")[0],
    defaults={"model": "lenet5_modern", "epochs": 20, "batch_size": 64, "lr": 1e-3,
              "dropout": 0.0, "max_shift": 0.0, "max_rotation": 0.0, "image_size": 32},
    help={"model": "lenet5_modern or lenet5 (the 1998 form)",
          "lr": "Adam's initial learning rate (cosine decay to 1% of it)",
          "dropout": "dropout before the classifier (lenet5_modern)",
          "max_shift": "largest random shift, fraction of the side (the paper used none)",
          "max_rotation": "largest random rotation in degrees",
          "image_size": "side of the padded input (32 in the paper)"},
    choices={"model": ("lenet5_modern", "lenet5")},
    data=data, model=digits.lenet_model, compile=digits.adam_cosine_compile,
    smoke={"epochs": 1, "steps_per_epoch": 2, "batch_size": 8},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
