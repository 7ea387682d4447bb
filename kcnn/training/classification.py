"""Pieces the image-classification recipes share: compile arguments (top-1/top-5,
auxiliary losses) and the papers' schedule presets bound to a run (whose
``Preset.make_optimizer`` builds the paper's optimizer).
``kcnn.training.imagenet.image_folder_recipe`` builds the ImageNet-style recipes (AlexNet,
VGG, GoogLeNet, ResNet) from a few paper facts.
"""

from __future__ import annotations

import math

import keras

__all__ = ["AUX_LOSS_WEIGHT", "PRESET_SETTINGS", "classifier_compile", "classifier_metrics",
           "repeat_labels", "schedule_preset", "steps_per_epoch"]

AUX_LOSS_WEIGHT = 0.3  # GoogLeNet: "their loss is added to the total loss ... weighted by 0.3"


def classifier_metrics(num_classes, *, top5=True):
    """``accuracy`` and, with more than five classes, ``top5_accuracy``."""
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if top5 and num_classes > 5:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"))
    return metrics


def classifier_compile(optimizer=None, *, num_classes, outputs=1,
                       aux_weight=AUX_LOSS_WEIGHT, from_logits=False, top5=True):
    """``model.compile`` arguments for a classifier with ``outputs`` outputs: the first is
    the main classifier, the others auxiliary classifiers weighted ``aux_weight`` (labels
    repeated with ``repeat_labels``); metrics are computed on the main output. The
    ``optimizer`` is included when given."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    metrics = classifier_metrics(num_classes, top5=top5)
    args = {} if optimizer is None else {"optimizer": optimizer}
    if outputs == 1:
        return {**args, "loss": loss, "metrics": metrics}
    return {**args, "loss": [loss] * outputs,
            "loss_weights": [1.0] + [aux_weight] * (outputs - 1),
            "metrics": [metrics] + [None] * (outputs - 1)}


def repeat_labels(ds, outputs):
    """Maps ``(x, y)`` to ``(x, (y,) * outputs)`` for a model with auxiliary outputs."""
    if outputs == 1 or ds is None:
        return ds
    import tensorflow as tf

    return ds.map(lambda x, y: (x, tuple([y] * outputs)), num_parallel_calls=tf.data.AUTOTUNE)


def steps_per_epoch(cfg, data):
    """Batches per epoch of a run."""
    return cfg.steps_per_epoch or max(1, math.ceil(data.train_size / cfg.batch_size))


# Settings a recipe's configuration may declare -> the ``kcnn.schedules.preset`` argument
# they set (a setting left at None keeps the preset's value).
PRESET_SETTINGS = {"lr": "learning_rate", "warmup_epochs": "warmup_epochs",
                   "weight_decay": "weight_decay", "patience": "patience"}


def schedule_preset(name, cfg, data, run=None):
    """``kcnn.schedules.preset`` for this run, built once per run: iterations counted with
    the run's epoch length, the rate linearly scaled to ``cfg.batch_size`` (Goyal et al.),
    the callbacks' state kept in the run folder, and the settings of
    :data:`PRESET_SETTINGS` the configuration declares (``lr``, ``warmup_epochs``,
    ``weight_decay``, ``patience``) replacing the paper's values when set."""
    from kcnn import schedules

    declared = {s.name for s in cfg.settings()}
    overrides = {argument: getattr(cfg, key) for key, argument in PRESET_SETTINGS.items()
                 if key in declared and getattr(cfg, key) is not None}
    # Every worker of a multi-worker run reads the chief's state (the same rate everywhere
    # after a resume); only the chief writes it.
    return schedules.preset(name, steps_per_epoch=steps_per_epoch(cfg, data),
                            batch_size=cfg.batch_size,
                            state_path=run.shared_schedule_state_path if run else None,
                            write_state=run.chief if run else True, **overrides)
