"""The ImageNet-style recipes (AlexNet, VGG, GoogLeNet, ResNet on image folders).

``image_folder_recipe`` turns a paper's facts (network, schedule preset, crop size, colour
augmentation, test protocol, auxiliary classifiers) into a ``Recipe`` whose settings are all
command-line options. Data come from ``--data-dir DIR`` with ``DIR/train/<class>/`` and
``DIR/val/<class>/`` (ImageNet's validation images sorted into class folders, or any
dataset laid out that way); ``--smoke`` uses generated images instead. Top-1 and top-5
accuracy are reported on ``val`` with the centre crop or AlexNet's ten crops.
"""

from __future__ import annotations

import dataclasses
import os

import kcnn
from kcnn.training import classification
from kcnn.training.config import Config, config_class, setting
from kcnn.training.recipe import Data, Recipe

__all__ = ["ImageFolderConfig", "check_image_folder", "image_folder_recipe"]

TEST_SPLITS = ("val", "validation", "test")
LAYOUT = ("a folder with train/<class>/ and val/<class>/ subfolders of images (val/ may be "
          "named validation/ or test/)")


def check_image_folder(data_dir):
    """Raises ``ValueError`` naming ``data_dir`` unless it holds ``train/`` and ``val/``
    (or ``validation/``, ``test/``) subfolders."""
    from kcnn.data import folders

    received = f"Received: data_dir={data_dir!r}"
    if not os.path.isdir(data_dir):
        what = "is a file, not" if os.path.exists(data_dir) else "does not exist; expected"
        raise ValueError(f"The --data-dir folder {os.path.abspath(data_dir)} {what} {LAYOUT}. "
                         f"{received}")
    missing = [name + "/" for name, splits in (("train", ("train",)), ("val", TEST_SPLITS))
               if folders.find_split(data_dir, splits) is None]
    if missing:
        found = sorted(n + "/" for n in os.listdir(data_dir)
                       if os.path.isdir(os.path.join(data_dir, n)))
        raise ValueError(f"The --data-dir folder {os.path.abspath(data_dir)} has no "
                         f"{' or '.join(missing)} subfolder (it holds "
                         f"{', '.join(found) or 'no subfolders'}); expected {LAYOUT}. "
                         f"{received}")


@dataclasses.dataclass(frozen=True)
class ImageFolderConfig(Config):
    """Settings of the ImageNet-style recipes; ``image_folder_recipe`` sets each paper's
    defaults (network, batch size, epochs, weight decay, crop sizes)."""

    model: str = setting("alexnet", "registry name of the network")
    model_kwargs: dict = setting({}, "JSON builder arguments, e.g. '{\"dropout\": 0.5}'")
    data_dir: str | None = setting(None, "folder with train/<class>/ and val/<class>/ images")
    lr: float | None = setting(None, "initial rate (default: the preset's, scaled linearly "
                                     "with --batch-size)", minimum=0.0, exclusive_minimum=True)
    warmup_epochs: float | None = setting(
        None, "linear warmup (default: 5 epochs when the batch exceeds the paper's)",
        minimum=0.0)
    weight_decay: float = setting(0.0, "coupled L2 weight decay of the kernels (in the "
                                       "momentum update, as the paper)", minimum=0.0)
    patience: int = setting(5, "epochs without improvement before dividing the rate by 10 "
                               "(plateau presets)", minimum=1)
    image_size: int = setting(224, "crop side fed to the network", minimum=1)
    resize: int = setting(256, "side images are resized to before cropping", minimum=1)
    preprocessing: str | None = setting("imagenet_mean", "kcnn.preprocessing mode applied "
                                                         "to the crops")
    pca_color: bool = setting(False, "AlexNet's PCA colour augmentation")
    pca_images: int = setting(10_000, "training images used to estimate the RGB covariance",
                              minimum=1)
    eval_protocol: str = setting("center", "test with the centre crop or the ten crops",
                                 choices=("center", "ten_crop"))
    eval_batch_size: int = setting(64, "images per test batch", minimum=1)
    validate: bool = setting(True, "evaluate the val folder after each epoch (needed by "
                                   "plateau presets)")
    validation_steps: int | None = setting(
        None, "limit the per-epoch validation to this many batches", minimum=1)

    def check(self):
        if self.model.lower() not in kcnn.list_models():
            import difflib

            close = difflib.get_close_matches(self.model.lower(), kcnn.list_models(), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"`model` must be a registered network (`kcnn list` shows "
                             f"them).{hint} Received: model={self.model!r}")
        if self.resize < self.image_size:
            raise ValueError(f"`resize` must be at least `image_size` ({self.image_size}): "
                             "crops are cut from the resized images. "
                             f"Received: resize={self.resize!r}")
        if self.data_dir is not None:
            check_image_folder(self.data_dir)
        elif not self.smoke:
            raise ValueError("This recipe reads an image-folder dataset: give --data-dir DIR "
                             "with DIR/train/<class>/ and DIR/val/<class>/ (or run --smoke). "
                             "Received: data_dir=None")


def _colour_layer(cfg, train_images):
    from kcnn.layers.augmentation import PCAColorAugmentation, compute_rgb_pca

    pca = compute_rgb_pca(train_images)
    return PCAColorAugmentation(pca.eigenvalues, pca.eigenvectors, stddev=0.1, seed=cfg.seed)


def _data(cfg, *, aux_outputs):
    import tensorflow as tf

    from kcnn.data import folders, synthetic
    from kcnn.preprocessing import preprocess_input

    def preprocess(images):
        return preprocess_input(images, cfg.preprocessing) if cfg.preprocessing else images

    if cfg.smoke and not cfg.data_dir:
        n_classes = 6
        shape = (cfg.resize, cfg.resize, 3)
        x, y = synthetic.images(24, shape, n_classes, seed=cfg.seed, scale=255.0)
        train_raw = tf.data.Dataset.from_tensor_slices((x[:16], y[:16]))
        test_raw = tf.data.Dataset.from_tensor_slices((x[16:], y[16:]))
        class_names, n_train, n_test = [str(i) for i in range(n_classes)], 16, 8
        description = "generated images (smoke)"
    else:
        check_image_folder(cfg.data_dir)
        train_raw, class_names, n_train = folders.read_folder(
            f"{folders.find_split(cfg.data_dir, ('train',))}", resize=cfg.resize, shuffle=True,
            seed=cfg.seed)
        test_dir = folders.find_split(cfg.data_dir, TEST_SPLITS)
        test_raw, _, n_test = folders.read_folder(test_dir, resize=cfg.resize,
                                                  class_names=class_names)
        description = f"{cfg.data_dir}: {n_train} train / {n_test} val, {len(class_names)} classes"
    color = None
    if cfg.pca_color:
        sample = train_raw.take(cfg.pca_images).map(lambda image, label: image)
        color = _colour_layer(cfg, sample.batch(64))
    train = folders.train_pipeline(train_raw, batch_size=cfg.batch_size,
                                   image_size=cfg.image_size, seed=cfg.seed, color=color,
                                   preprocess=preprocess)
    eval_batch = cfg.eval_batch_size
    validation = folders.eval_pipeline(test_raw, batch_size=eval_batch, image_size=cfg.image_size,
                                       preprocess=preprocess)
    if cfg.validation_steps:
        validation = validation.take(cfg.validation_steps)
    test = folders.eval_pipeline(test_raw, batch_size=eval_batch, image_size=cfg.image_size,
                                 protocol=cfg.eval_protocol, preprocess=preprocess)
    return Data(train=classification.repeat_labels(train, aux_outputs),
                validation=classification.repeat_labels(validation, aux_outputs) if cfg.validate else None,
                test=test, num_classes=len(class_names),
                input_shape=(cfg.image_size, cfg.image_size, 3), train_size=n_train,
                test_size=n_test, description=description,
                eval_protocol="ten crops" if cfg.eval_protocol == "ten_crop" else "centre crop")


def image_folder_recipe(name, *, model, preset, description, image_size=224, resize=256,
                        eval_protocol="center", pca_color=False, aux_outputs=1,
                        model_kwargs=None, smoke_model_kwargs=None, smoke_image_size=32,
                        smoke_resize=40, extra_defaults=None):
    """A ``Recipe`` for a network trained on an ImageNet-style image folder.

    Args:
        name: recipe name.
        model: default registry name (``--model`` picks another of the family).
        preset: ``kcnn.schedules.preset`` name: the optimizer, rate, momentum, weight
            decay, schedule, epochs and batch size (the run builds it once).
        description: help text.
        image_size: crop side fed to the network.
        resize: side images are resized to before cropping.
        eval_protocol: default test protocol, "center" or "ten_crop".
        pca_color: AlexNet's PCA colour augmentation by default.
        aux_outputs: number of model outputs (3 for GoogLeNet with its auxiliary
            classifiers, weighted 0.3).
        model_kwargs: default builder arguments.
        smoke_model_kwargs, smoke_image_size, smoke_resize: the narrow network and small
            images ``--smoke`` uses.
        extra_defaults: more settings, typed by their default values.
    """
    from kcnn import schedules

    p = schedules.preset(preset)
    spec = kcnn.get_spec(model)
    defaults = {
        "model": model,
        "model_kwargs": dict(model_kwargs or {}),
        "epochs": p.epochs or 90,
        "batch_size": p.batch_size,
        "lr": None,
        "warmup_epochs": None,
        "weight_decay": p.weight_decay,
        "patience": p.patience or 5,
        "image_size": image_size,
        "resize": resize,
        "preprocessing": spec.preprocessing or "imagenet_mean",
        "pca_color": pca_color,
        "eval_protocol": eval_protocol,
        **(extra_defaults or {}),
    }
    help = {
        "lr": f"initial rate (default: the {preset} preset's {p.paper_learning_rate} at batch "
              f"{p.paper_batch_size}, scaled linearly with --batch-size)",
        "weight_decay": f"coupled L2 weight decay of the kernels, inside the momentum as "
                        f"the paper (the {preset} preset's; biases and BatchNorm "
                        f"{'decayed too' if p.decay_bias else 'not decayed'})",
    }
    if p.schedule_kind != "plateau":
        help["patience"] = (f"unused: the {preset} preset's schedule is fixed "
                            f"({p.schedule_kind})")
    config = config_class(name, defaults, help=help, base=ImageFolderConfig)

    def data(cfg):
        return _data(cfg, aux_outputs=aux_outputs)

    def build(cfg, data):
        kwargs = {"input_shape": data.input_shape, "num_classes": data.num_classes,
                  **cfg.model_kwargs}
        if aux_outputs > 1:
            kwargs.setdefault("aux_logits", True)
        return kcnn.build(cfg.model, **kwargs)

    def compile_args(cfg, data):
        return classification.classifier_compile(num_classes=data.num_classes,
                                                 outputs=aux_outputs)

    smoke = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 4, "eval_batch_size": 4,
             "image_size": smoke_image_size, "resize": smoke_resize, "pca_images": 16,
             "model_kwargs": dict(smoke_model_kwargs or {})}
    return Recipe(name=name, description=description, config=config, data=data, model=build,
                  preset=preset, compile_args=compile_args, smoke=smoke)
