"""LeNet-5 on MNIST (LeCun et al., Proc. IEEE 1998).

    python recipes/lenet5_mnist.py                 # --model lenet5 for the 1998 form

The paper's data: the 60,000 training and 10,000 test digits, 28x28 images padded to the
32x32 input (section III.A: "the input field ... 32x32 pixels"), normalised to background
-0.1 and ink 1.175; 20 passes over the training set. The paper trained with stochastic
diagonal Levenberg-Marquardt (its global rate 0.0005 down to 0.00001); this recipe trains
the modern form (``lenet5_modern``) with Adam and cosine decay by default. MNIST comes from
``keras.datasets`` (downloaded once into ~/.keras).
"""

import dataclasses
import sys

import numpy as np

from kcnn import training
from kcnn.data import sources, synthetic
from kcnn.training import digits


@dataclasses.dataclass(frozen=True)
class LeNetMnistConfig(digits.DigitsConfig):
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    max_shift: float = training.setting(0.0, "largest random shift, fraction of the side "
                                             "(the paper used none)", minimum=0.0, maximum=1.0)
    image_size: int = training.setting(32, "side of the padded input (32 in the paper)",
                                       minimum=28)


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
    config=LeNetMnistConfig,
    data=data, model=digits.lenet_model, optimizer=digits.adam_cosine,
    smoke={"epochs": 1, "steps_per_epoch": 2, "batch_size": 8},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
