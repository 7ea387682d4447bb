"""Transfer learning: an ImageNet-trained network fine-tuned on any image folder.

    python recipes/finetune_folder.py --data-dir DIR --model resnet50 --weights imagenet

``DIR/train/<class>/`` and ``DIR/val/<class>/`` hold the images. Two runs, as users of
keras.applications and timm fine-tune:

1. head (``<output>/head``): the pretrained body, frozen, with a new classifier (global
   average pooling, dropout, one dense layer) trained for ``--head-epochs`` at ``--head-lr``;
2. fine-tuning (``<output>``): the whole network from the head run's model at the lower
   ``--lr`` for ``--epochs``.

The body's BatchNormalization layers stay frozen in both runs (``trainable=False``, which
in Keras also means inference mode), so their ImageNet statistics and scales are kept: small
batches of a new dataset would otherwise overwrite them. Images are read and normalised as the checkpoint was trained
(``kcnn.preprocessing.for_model(model, weights=...)``: Caffe BGR for keras.applications and
BVLC, mean/std for torchvision), with random crops and flips for training; the saved
``model.keras`` expects inputs preprocessed the same way. Each run resumes
like any recipe; ``--head-model PATH`` starts from an existing head run. ``--smoke`` runs
offline on generated images with a narrow, randomly initialised body and no download.
"""

import dataclasses
import os
import sys

from kcnn import training
from kcnn.training import setting

HEAD = "head"


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(training.Config):
    model: str = setting("resnet50", "registry name of the pretrained network")
    weights: str | None = setting("imagenet", "imagenet, a source name (kcnn weights list) or "
                                              "a checkpoint file; none: random body")
    source: str | None = setting(None, "for a checkpoint file: the source it came from "
                                       "(its variant and preprocessing)")
    data_dir: str | None = setting(None, "folder with train/<class>/ and val/<class>/")
    image_size: int | None = setting(None, "input side (default: the checkpoint's crop)",
                                     minimum=32)
    resize: int = setting(256, "side images are resized to before cropping", minimum=32)
    head_epochs: int = setting(5, "epochs of the head on the frozen body", minimum=1)
    head_lr: float = setting(1e-3, "Adam rate of the head run", minimum=0,
                             exclusive_minimum=True)
    epochs: int = setting(10, "epochs of fine-tuning the whole network", minimum=1)
    lr: float = setting(1e-5, "Adam rate of fine-tuning (lower: small steps from the "
                              "pretrained weights)", minimum=0, exclusive_minimum=True)
    dropout: float = setting(0.2, "dropout before the new classifier", minimum=0,
                             maximum=0.99)
    head_model: str | None = setting(None, "model.keras of a finished head run (default: "
                                           "<output>/head/model.keras)")
    phase: str = setting("finetune", "head or finetune (set by the recipe for its two runs)",
                         choices=(HEAD, "finetune"))

    def check(self):
        if self.weights is not None and self.weights.lower() == "none":
            object.__setattr__(self, "weights", None)
        if self.data_dir is None and not self.smoke:
            raise ValueError("finetune_folder reads an image folder: give --data-dir DIR with "
                             "DIR/train/<class>/ and DIR/val/<class>/ (or run --smoke). "
                             "Received: data_dir=None")


SMOKE = {"epochs": 1, "head_epochs": 1, "steps_per_epoch": 2, "batch_size": 4,
         "weights": None, "image_size": 32, "resize": 40}
SMOKE_BODY = {"resnet": {"stackwise_num_filters": [4, 4, 8, 8],
                         "stackwise_num_blocks": [1, 1, 1, 1]},
              "vgg": {"filters": [4, 4, 8, 8, 8]},
              "alexnet": {"filters": [8, 8, 8, 8, 8]},
              "googlenet": {"width_multiplier": 0.125}}


def _source(cfg):
    """The checkpoint's ``WeightSource`` (None for random weights or an unknown file)."""
    from kcnn.imagenet.pretrained import source_of

    return source_of(cfg.model, cfg.weights, cfg.source)


def _input_size(cfg):
    if cfg.image_size:
        return cfg.image_size
    source = _source(cfg)
    return source.crop_size if source else 224


def _preprocess(cfg):
    from kcnn import preprocessing

    source = _source(cfg)
    return preprocessing.for_model(cfg.model, weights=source)


def data(cfg):
    from kcnn.data import folders, pipelines, synthetic

    size = _input_size(cfg)
    preprocess = _preprocess(cfg)
    if cfg.smoke and not cfg.data_dir:
        n_classes = 3
        x, y = synthetic.images(24, (size, size, 3), n_classes, seed=cfg.seed, scale=255.0)
        return training.Data(
            train=pipelines.from_arrays(x[:16], y[:16], batch_size=cfg.batch_size,
                                        shuffle=True, preprocess=preprocess, seed=cfg.seed),
            test=pipelines.from_arrays(x[16:], y[16:], batch_size=cfg.batch_size,
                                       preprocess=preprocess),
            num_classes=n_classes, input_shape=(size, size, 3), train_size=16, test_size=8,
            description="generated images (smoke)", eval_protocol="center crop")
    found = folders.image_folders(cfg.data_dir, batch_size=cfg.batch_size, image_size=size,
                                  resize=max(cfg.resize, size), seed=cfg.seed,
                                  preprocess=preprocess)
    n = len(found["class_names"])
    return training.Data(
        train=found["train"], test=found["test"], validation=found["validation"],
        num_classes=n, input_shape=(size, size, 3), train_size=found["train_size"],
        test_size=found["test_size"], eval_protocol="center crop",
        description=f"{cfg.data_dir}: {found['train_size']} train / {found['test_size']} "
                    f"val, {n} classes")


def freeze_batch_norm(body):
    """Freezes every BatchNormalization layer of ``body``, the ones inside kcnn's blocks
    included: a frozen BN layer runs in inference mode in Keras. (Layers built inside a
    block do not record ``trainable`` in a saved model, so this is applied after loading.)"""
    import keras

    for layer in body._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _head_model(cfg, data):
    import keras

    import kcnn
    from kcnn.imagenet.pretrained import build_pretrained

    kwargs = dict(input_shape=data.input_shape, include_top=False, pooling="avg")
    if cfg.smoke:
        kwargs.update(SMOKE_BODY.get(kcnn.get_spec(cfg.model).family, {}))
    if cfg.weights is None:
        body = kcnn.build(cfg.model, **kwargs)
    else:
        body, _ = build_pretrained(cfg.model, cfg.weights, source=cfg.source, **kwargs)
    body.trainable = False
    inputs = keras.Input(data.input_shape, name="image")
    x = body(inputs, training=False)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(data.num_classes, activation="softmax", dtype="float32",
                                 name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{cfg.model}_finetune")


def body_of(model):
    """The pretrained body inside a fine-tuning model (its one nested model)."""
    import keras

    (body,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return body


def _model(cfg, data):
    if cfg.phase == HEAD:
        return _head_model(cfg, data)
    import keras

    path = cfg.head_model
    if not path or not os.path.isfile(path):
        raise ValueError(f"No head model at {path}: run the head phase first (it runs "
                         f"unless --head-model is given). Received: head_model={path!r}")
    model = keras.saving.load_model(path, compile=False)
    body = body_of(model)
    body.trainable = True
    freeze_batch_norm(body)
    return model


def _optimizer(cfg, data):
    from kcnn.optimizers import make_optimizer

    return make_optimizer("adam", learning_rate=cfg.head_lr if cfg.phase == HEAD else cfg.lr)


RECIPE = training.Recipe(
    name="finetune_folder", description=__doc__.split("\n\n")[0], config=FinetuneConfig,
    data=data, model=_model, optimizer=_optimizer, smoke=SMOKE)


def run_phases(cfg, *, output=None, **options):
    """Runs the head phase into ``<output>/head`` (unless ``--head-model`` is given), then
    fine-tunes into ``<output>``; returns the fine-tuning run's metrics."""
    if cfg.phase == HEAD:
        raise ValueError("--phase is set by the recipe; leave it out. Received: phase='head'")
    output = output or training.default_output(RECIPE.name, smoke=cfg.smoke)
    if cfg.head_model is None:
        head_dir = os.path.join(output, HEAD)
        training.run(RECIPE, cfg.replace(phase=HEAD, epochs=cfg.head_epochs),
                     output=head_dir, **options)
        cfg = cfg.replace(head_model=os.path.join(os.path.abspath(head_dir), "model.keras"))
    return training.run(RECIPE, cfg, output=output, **options)


def main(argv=None):
    """Both phases (``run_phases``) as a command line; returns the exit code, as
    ``Recipe.main`` does."""
    return RECIPE.main(argv, runner=run_phases)

if __name__ == "__main__":
    sys.exit(main())
