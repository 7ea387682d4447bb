"""Pieces the image-classification recipes share: the paper optimizer, compile arguments
(top-1/top-5, auxiliary losses), the papers' schedule presets bound to a run, and
``image_folder_recipe``, which builds the ImageNet-style recipes (AlexNet, VGG, GoogLeNet,
ResNet) from a few paper facts.
"""

from __future__ import annotations

import math

import keras

AUX_LOSS_WEIGHT = 0.3  # GoogLeNet: "their loss is added to the total loss ... weighted by 0.3"


def paper_optimizer(learning_rate, *, momentum=0.9, weight_decay=0.0):
    """SGD with momentum and the papers' coupled weight decay.

    AlexNet's rule ``v <- m v - wd lr w - lr g; w <- w + v`` (``kcnn.optimizers.AlexNetSGD``)
    is SGD with momentum on the loss plus ``wd / 2 ||w||^2``: the weight decay of AlexNet,
    VGG, GoogLeNet and ResNet alike (not Keras's decoupled ``SGD(weight_decay=...)``).
    Without decay it is ``keras.optimizers.SGD``.
    """
    if weight_decay:
        from kcnn.optimizers import AlexNetSGD

        return AlexNetSGD(learning_rate=learning_rate, momentum=momentum,
                          weight_decay=weight_decay)
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)


def classifier_metrics(num_classes, *, top5=True):
    """``accuracy`` and, with more than five classes, ``top5_accuracy``."""
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if top5 and num_classes > 5:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"))
    return metrics


def classifier_compile(optimizer, *, num_classes, outputs=1, aux_weight=AUX_LOSS_WEIGHT,
                       from_logits=False, top5=True):
    """``model.compile`` arguments for a classifier with ``outputs`` outputs: the first is
    the main classifier, the others auxiliary classifiers weighted ``aux_weight`` (labels
    repeated with ``repeat_labels``); metrics are computed on the main output."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    metrics = classifier_metrics(num_classes, top5=top5)
    if outputs == 1:
        return {"optimizer": optimizer, "loss": loss, "metrics": metrics}
    return {"optimizer": optimizer, "loss": [loss] * outputs,
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


def schedule_preset(name, cfg, data, run=None, *, monitor="val_accuracy", patience=None):
    """``kcnn.schedules.preset`` for this run: iterations counted with the run's epoch
    length, the rate linearly scaled to ``cfg.batch_size`` (Goyal et al.), the callbacks'
    state kept in the run folder, and ``cfg.lr`` (when set) replacing the paper's rate."""
    from kcnn import schedules

    kwargs = dict(steps_per_epoch=steps_per_epoch(cfg, data), batch_size=cfg.batch_size,
                  monitor=monitor, state_path=run.schedule_state_path if run else None)
    if patience is not None:
        kwargs["patience"] = patience
    if cfg.get("warmup_epochs") is not None:
        kwargs["warmup_epochs"] = cfg.warmup_epochs
    return schedules.preset(name, learning_rate=cfg.get("lr"), **kwargs)
