"""LeNet-5 on the handwritten digits bundled with scikit-learn, trained offline.

    python recipes/lenet5_digits.py            # or: kcnn train lenet5_digits

Trains the modern form of LeNet-5 (``lenet5_modern``: ReLU, max pooling, full C3, softmax
output; ``--model lenet5`` trains the 1998 form) on the 1,797 8x8 digits upscaled to the
paper's 32x32 input, with the fixed stratified 80/20 split of seed 0 (1,437 training and
360 test images; the test fifth is never seen in training). Inputs are normalised as in the
paper (background -0.1, ink 1.175, LeCun et al. 1998 section II.A). Training images get
small random shifts (up to 10% of the side) and rotations (up to 10 degrees), drawn per
batch in a parallel ``tf.data`` map with stateless random ops and resampled with
``keras.ops.image.affine_transform``, so a run with the same seed gives the same result.

The paper trained with stochastic diagonal Levenberg-Marquardt for 20 passes; this recipe
uses Adam (rate 0.005, batch 32) with cosine decay over 30 epochs, which reaches 99.4%
held-out accuracy with the default seed (2 of the 360 test digits wrong; 99.2-100% over
seeds 0-2) in well under a minute on a 2-core CPU. The run folder ``runs/lenet5_digits``
holds the model and the training curves.
"""

import dataclasses
import sys

import kcnn
from kcnn import training
from kcnn.data import synthetic
from kcnn.training import digits


@dataclasses.dataclass(frozen=True)
class LeNetDigitsConfig(digits.DigitsConfig):
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-3
    max_shift: float = 0.1
    max_rotation: float = 10.0
    image_size: int = training.setting(32, "side of the upscaled images", minimum=8)
    test_fraction: float = training.setting(0.2, "held-out share of each class",
                                            minimum=0.0, exclusive_minimum=True, maximum=0.9)
    split_seed: int = training.setting(0, "seed of the stratified split", minimum=0)


def data(cfg):
    size = cfg.image_size
    if cfg.smoke:
        x, y = synthetic.images(64, (size, size, 1), 10, seed=cfg.seed)
        (x_train, y_train), (x_test, y_test) = (x[:48], y[:48]), (x[48:], y[48:])
        description = "generated digits (smoke)"
    else:
        (x_train, y_train), (x_test, y_test) = kcnn.data.load_digits(
            image_size=size, test_fraction=cfg.test_fraction, seed=cfg.split_seed)
        description = (f"sklearn digits at {size}x{size}, {len(x_train)} train / "
                       f"{len(x_test)} test (stratified, seed {cfg.split_seed})")
    return digits.digit_data(cfg, x_train, y_train, x_test, y_test, description=description)


def pictures(cfg, data, run):
    """When training ends: C1's filters, the feature maps and Grad-CAM on test digits, as
    filters.png, activations.png and gradcam.png in the run folder (``kcnn.visualize``)."""
    from kcnn.visualize.run import RunPictures

    return [RunPictures(run, data)]


RECIPE = training.Recipe(
    name="lenet5_digits",
    description=__doc__.split("\n\n")[0],
    config=LeNetDigitsConfig,
    data=data, model=digits.lenet_model, optimizer=digits.adam_cosine, callbacks=pictures,
    smoke={"epochs": 1, "steps_per_epoch": 2, "batch_size": 8},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
