"""Test-set evaluation: top-1/top-5 accuracy, single view or multi-crop averaging.

A test dataset yields ``(x, y)`` batches. For single-view evaluation ``x`` is
``(batch, H, W, C)``; for multi-crop evaluation (AlexNet's ten crops: four corners and the
centre, and their mirror images) ``x`` is ``(batch, crops, H, W, C)`` and the softmax outputs
of the crops are averaged, as Krizhevsky et al. (2012, section 4.1) did.
"""

from __future__ import annotations

__all__ = ["main_output", "evaluate"]


def main_output(outputs):
    """The main classifier output of a model that may return auxiliary outputs
    (GoogLeNet returns ``[main, aux1, aux2]`` while training)."""
    if isinstance(outputs, dict):
        return outputs.get("predictions", next(iter(outputs.values())))
    if isinstance(outputs, (list, tuple)):
        return outputs[0]
    return outputs


def evaluate(model, dataset, *, top_k=(1, 5), from_logits=None, steps=None,
             run_eagerly=False):
    """Top-k accuracies of ``model`` on ``dataset``.

    Args:
        model: a Keras model; its first output is the class scores.
        dataset: ``tf.data.Dataset`` of ``(x, y)`` with integer labels; ``x`` of rank 5
            means several crops per image, whose probabilities are averaged.
        top_k: which top-k accuracies to report (k larger than the class count is skipped).
        from_logits: whether the outputs are logits (softmax is applied before averaging
            crops); by default inferred from the last layer's activation.
        steps: evaluate at most this many batches.
        run_eagerly: skip ``tf.function`` (quicker for one or two batches).

    Returns:
        ``{"accuracy": top-1, "top5_accuracy": ..., "examples": n}`` with accuracies as
        floats in [0, 1].
    """
    import tensorflow as tf

    if from_logits is None:
        from_logits = not _ends_in_softmax(model)

    def scores(x):
        crops = None
        if x.shape.rank == 5:
            crops = tf.shape(x)[1]
            x = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
        p = tf.cast(main_output(model(x, training=False)), tf.float32)
        if from_logits:
            p = tf.nn.softmax(p)
        if crops is not None:
            p = tf.reduce_mean(tf.reshape(p, [-1, crops, tf.shape(p)[-1]]), axis=1)
        return p

    if not run_eagerly:
        scores = tf.function(scores, reduce_retracing=True)
    correct = {k: 0 for k in top_k}
    total = 0
    num_classes = None
    for i, batch in enumerate(dataset):
        if steps is not None and i >= steps:
            break
        x, y = batch[0], batch[1]
        p = scores(x)
        num_classes = p.shape[-1]
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        for k in top_k:
            if k <= num_classes:
                correct[k] += int(tf.reduce_sum(tf.cast(tf.math.in_top_k(y, p, k), tf.int32)))
        total += int(tf.shape(y)[0])
    out = {"examples": total}
    for k in top_k:
        if num_classes is None or k <= num_classes:
            out["accuracy" if k == 1 else f"top{k}_accuracy"] = correct[k] / max(total, 1)
    return out


def _ends_in_softmax(model):
    out = model.outputs[0] if getattr(model, "outputs", None) else None
    layer = getattr(out, "_keras_history", [None])[0] if out is not None else None
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "softmax"
