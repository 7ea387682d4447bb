"""The ImageNet-style recipes (AlexNet, VGG, GoogLeNet, ResNet on image folders).

``image_folder_recipe`` turns a paper's facts (network, schedule preset, crop size, colour
augmentation, test protocol, auxiliary classifiers) into a ``Recipe`` whose settings are all
command-line options. Data come from ``--data-dir DIR`` with ``DIR/train/<class>/`` and
``DIR/val/<class>/`` (ImageNet's validation images sorted into class folders, or any
dataset laid out that way); ``--smoke`` uses generated images instead. Top-1 and top-5
accuracy are reported on ``val`` with the centre crop or AlexNet's ten crops.
"""

from __future__ import annotations

import kcnn
from kcnn.training import classification as cls
from kcnn.training.recipe import Data, Recipe


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
        if not cfg.data_dir:
            raise ValueError("This recipe reads an image-folder dataset: give --data-dir DIR "
                             "with DIR/train/<class>/ and DIR/val/<class>/ (or run --smoke). "
                             "Received: data_dir=None")
        train_raw, class_names, n_train = folders.read_folder(
            f"{folders.find_split(cfg.data_dir, ('train',))}", resize=cfg.resize, shuffle=True,
            seed=cfg.seed)
        test_dir = folders.find_split(cfg.data_dir, ("val", "validation", "test"))
        if test_dir is None:
            raise ValueError(f"No val/ (or validation/, test/) folder in {cfg.data_dir}. "
                             f"Received: data_dir={cfg.data_dir!r}")
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
    return Data(train=cls.repeat_labels(train, aux_outputs),
                validation=cls.repeat_labels(validation, aux_outputs) if cfg.validate else None,
                test=test, num_classes=len(class_names),
                input_shape=(cfg.image_size, cfg.image_size, 3), train_size=n_train,
                test_size=n_test, description=description,
                eval_protocol="ten crops" if cfg.eval_protocol == "ten_crop" else "centre crop")


def image_folder_recipe(name, *, model, preset, description, image_size=224, resize=256,
                        eval_protocol="center", pca_color=False, aux_outputs=1,
                        model_kwargs=None, smoke_model_kwargs=None, smoke_image_size=32,
                        smoke_resize=40, extra_defaults=None, monitor="val_accuracy"):
    """A ``Recipe`` for a network trained on an ImageNet-style image folder.

    Args:
        name: recipe name.
        model: default registry name (``--model`` picks another of the family).
        preset: ``kcnn.schedules.preset`` name (rate, momentum, weight decay, schedule,
            epochs, batch size).
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
        extra_defaults: more settings.
        monitor: metric the plateau presets watch.
    """
    from kcnn import schedules

    p = schedules.preset(preset)
    spec = kcnn.get_spec(model)
    defaults = {
        "model": model,
        "model_kwargs": dict(model_kwargs or {}),
        "data_dir": None,
        "epochs": p.epochs or 90,
        "batch_size": p.batch_size,
        "lr": None,
        "warmup_epochs": None,
        "weight_decay": p.weight_decay,
        "patience": 5,
        "image_size": image_size,
        "resize": resize,
        "preprocessing": spec.preprocessing or "imagenet_mean",
        "pca_color": pca_color,
        "pca_images": 10_000,
        "eval_protocol": eval_protocol,
        "eval_batch_size": 64,
        "validate": True,
        "validation_steps": None,
        **(extra_defaults or {}),
    }
    help = {
        "model": "registry name of the network",
        "model_kwargs": "JSON builder arguments, e.g. '{\"dropout\": 0.5}'",
        "data_dir": "folder with train/<class>/ and val/<class>/ images",
        "lr": f"initial rate (default: the {preset} preset's {p.paper_learning_rate} at batch "
              f"{p.paper_batch_size}, scaled linearly with --batch-size)",
        "warmup_epochs": "linear warmup (default: 5 epochs when the batch exceeds the paper's)",
        "weight_decay": "coupled L2 weight decay (in the momentum update, as the paper)",
        "patience": "epochs without improvement before dividing the rate by 10 (plateau "
                    "presets)",
        "image_size": "crop side fed to the network",
        "resize": "side images are resized to before cropping",
        "preprocessing": "kcnn.preprocessing mode applied to the crops",
        "pca_color": "AlexNet's PCA colour augmentation",
        "pca_images": "training images used to estimate the RGB covariance",
        "eval_protocol": "test with the centre crop or the ten crops",
        "eval_batch_size": "images per test batch",
        "validate": "evaluate the val folder after each epoch (needed by plateau presets)",
        "validation_steps": "limit the per-epoch validation to this many batches",
    }

    def data(cfg):
        return _data(cfg, aux_outputs=aux_outputs)

    def build(cfg, data):
        kwargs = {"input_shape": data.input_shape, "num_classes": data.num_classes,
                  **cfg.model_kwargs}
        if aux_outputs > 1:
            kwargs.setdefault("aux_logits", True)
        return kcnn.build(cfg.model, **kwargs)

    def compile(cfg, data):
        pr = cls.schedule_preset(preset, cfg, data, monitor=monitor, patience=cfg.patience)
        optimizer = cls.paper_optimizer(pr.learning_rate, momentum=pr.momentum,
                                        weight_decay=cfg.weight_decay)
        return cls.classifier_compile(optimizer, num_classes=data.num_classes,
                                      outputs=aux_outputs)

    def callbacks(cfg, data, run):
        pr = cls.schedule_preset(preset, cfg, data, run, monitor=monitor,
                                 patience=cfg.patience)
        return pr.callbacks

    smoke = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 4, "eval_batch_size": 4,
             "image_size": smoke_image_size, "resize": smoke_resize, "pca_images": 16,
             "model_kwargs": dict(smoke_model_kwargs or {})}
    return Recipe(name=name, description=description, defaults=defaults, data=data,
                  model=build, compile=compile, callbacks=callbacks, smoke=smoke, help=help,
                  choices={"eval_protocol": ("center", "ten_crop")})
