"""ResNet-20/32/44/56/110 on CIFAR-10 (He et al., CVPR 2016, section 4.2).

    python recipes/resnet_cifar10.py --model resnet56     # or: kcnn train resnet56

The paper's settings: the 45k/5k train/validation split of the 50k training images, 4-pixel
zero padding with random 32x32 crops and horizontal flips, per-pixel mean subtracted; batch
128, SGD with momentum 0.9 and weight decay 1e-4 (coupled, kernels only), learning rate 0.1
divided by 10 at 32k and 48k iterations, training stopped at 64k iterations (182 epochs),
option A (zero-padded identity) shortcuts. ResNet-110 first trains at 0.01 for 400
iterations (the paper: "until the training error is below 80%"). Tested on the single 32x32
view of the 10k test images. CIFAR-10 comes from ``keras.datasets`` (downloaded once into
~/.keras).
"""

import dataclasses
import sys

import kcnn
from kcnn import training
from kcnn.data import cifar, pipelines, synthetic
from kcnn.schedules import PRESETS

MODELS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")
setting = training.setting
PAPER = PRESETS["resnet_cifar"]  # resnet110_cifar differs only by its warmup


@dataclasses.dataclass(frozen=True)
class CifarConfig(training.Config):
    model: str = setting("resnet20", "resnet20, resnet32, resnet44, resnet56 or resnet110",
                         choices=MODELS)
    model_kwargs: dict = setting({}, "JSON builder arguments, e.g. '{\"shortcut\": \"B\"}'")
    epochs: int = setting(182, "182 epochs of 352 batches are the paper's 64k "
                                         "iterations", minimum=1)
    batch_size: int = PAPER.batch_size
    lr: float | None = setting(None, "initial rate (default: 0.1 at batch 128, scaled "
                                     "linearly with --batch-size)", minimum=0.0,
                               exclusive_minimum=True)
    warmup_epochs: float | None = setting(None, "linear warmup (default: 5 epochs when the "
                                                "batch exceeds 128)", minimum=0.0)
    weight_decay: float = setting(PAPER.weight_decay, "coupled L2 weight decay of the "
                                                    "kernels (in the momentum update)",
                                  minimum=0.0)
    preset: str = setting("auto", "schedule preset: auto (resnet110_cifar for ResNet-110, "
                                  "else resnet_cifar), resnet_cifar or resnet110_cifar",
                          choices=("auto", "resnet_cifar", "resnet110_cifar"))
    augment: bool = setting(True, "4-pixel padding, random crops and flips")
    padding: int = setting(4, "zero padding before the random crop", minimum=0)
    validation_size: int = setting(5000, "training images held out for validation (5k)",
                                   minimum=0, maximum=49_000)
    split_seed: int = setting(0, "seed of the stratified 45k/5k split", minimum=0)


def preset_name(cfg):
    """The schedule preset of a run: ``cfg.preset``, or for ``auto`` resnet110_cifar (with
    the paper's warmup) for ResNet-110 and resnet_cifar otherwise."""
    if cfg.preset != "auto":
        return cfg.preset
    return "resnet110_cifar" if cfg.model == "resnet110" else "resnet_cifar"


def data(cfg):
    from kcnn.preprocessing import preprocess_input

    if cfg.smoke:
        x, y = synthetic.images(40, (32, 32, 3), 10, seed=cfg.seed, scale=255.0)
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = \
            (x[:24], y[:24]), (x[24:32], y[24:32]), (x[32:], y[32:])
        description = "generated 32x32 images (smoke)"
    else:
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = cifar.load_cifar10(
            validation_size=cfg.validation_size, seed=cfg.split_seed)
        description = (f"CIFAR-10 {len(x_train)} train / {len(x_val)} validation / "
                       f"{len(x_test)} test")

    def preprocess(images):
        return preprocess_input(images, "cifar_mean")

    augment = pipelines.pad_crop_flip(padding=cfg.padding) if cfg.augment else None
    train = pipelines.from_arrays(x_train, y_train, batch_size=cfg.batch_size, shuffle=True,
                                  augment=augment, preprocess=preprocess, seed=cfg.seed)
    validation = (pipelines.from_arrays(x_val, y_val, batch_size=500, preprocess=preprocess)
                  if len(x_val) else None)
    test = pipelines.from_arrays(x_test, y_test, batch_size=500, preprocess=preprocess)
    return training.Data(train=train, validation=validation, test=test, num_classes=10,
                         input_shape=(32, 32, 3), train_size=len(x_train),
                         test_size=len(x_test), description=description,
                         eval_protocol="single 32x32 view")


def model(cfg, data):
    return kcnn.build(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes,
                      **cfg.model_kwargs)


RECIPE = training.Recipe(
    name="resnet_cifar10",
    description=__doc__.split("\n\n")[0],
    config=CifarConfig,
    data=data, model=model, preset=preset_name,
    smoke={"epochs": 1, "steps_per_epoch": 2, "batch_size": 8,
           "model_kwargs": {"stackwise_num_blocks": [1, 1, 1]}},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
