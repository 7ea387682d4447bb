"""Training and inference throughput of kcnn's networks against keras.applications.

For one network, precision and ``jit_compile`` setting, both models are built under the
same dtype policy in the same process, compiled alike (SGD with momentum 0.9, sparse
categorical cross-entropy), fed the same fixed batch already on the device, and timed in
interleaved rounds (``kcnn.bench.timing``):

- ``train``: ``steps`` calls of ``train_on_batch`` per round (forward, backward, update);
- ``infer``: ``steps`` calls of ``predict_on_batch``; kcnn's model also runs after
  ``kcnn.inference.optimize_for_inference`` (BatchNorm folded) as a third contestant.

Model FLOPs utilisation (MFU) of a training row is

    MFU = images/s x 6 x multiply-adds per image / dense matmul FLOP/s

with the multiply-adds of ``kcnn.summary`` (convolutions and dense layers), 2 FLOPs per
multiply-add and training = 3 x forward (forward, gradient with respect to the inputs,
gradient with respect to the weights); the matmul rate (``kcnn.bench.device.MatmulRate``,
in the precision's compute dtype) is timed as one more contestant in the same rounds.
"""

from __future__ import annotations

import gc

from kcnn.bench import timing
from kcnn.bench.device import MatmulRate, compute_dtype

__all__ = ["PEERS", "measure", "model_multiply_adds"]

# kcnn registry name -> keras.applications constructor name.
PEERS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
         "vgg16": "VGG16", "vgg19": "VGG19"}


def model_multiply_adds(model):
    """Multiply-adds per example of a model's convolutions and dense layers."""
    from kcnn import analysis

    return analysis.summary(model, expand=False).totals["flops"]


def _keras_peer(name, image_size):
    import keras

    return getattr(keras.applications, PEERS[name])(
        weights=None, input_shape=(image_size, image_size, 3), classes=1000)


def _kcnn_model(name, image_size):
    import kcnn

    return kcnn.build(name, input_shape=(image_size, image_size, 3), num_classes=1000)


def _compile(model, jit_compile):
    import keras

    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
    return model


def _batch(batch_size, image_size, seed=0):
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(seed)
    x = rng.uniform((batch_size, image_size, image_size, 3), -1.0, 1.0)
    y = rng.uniform((batch_size,), 0, 1000, dtype=tf.int32)
    return tf.identity(x), tf.identity(y)


def _train_unit(model, x, y, steps):
    def run():
        for _ in range(steps):
            model.train_on_batch(x, y)  # returns the loss as numpy: waits for the device
        return steps * int(x.shape[0])
    return run


def _infer_unit(model, x, steps):
    def run():
        for _ in range(steps):
            model.predict_on_batch(x)
        return steps * int(x.shape[0])
    return run


def measure(name, *, precision="float32", jit_compile=False, modes=("train", "infer"),
            batch_size=16, image_size=224, steps=2, repeats=5, warmup=1, builders=None,
            matmul=True, matmul_size=None, fold=True, log=print):
    """Measures one network in one precision and ``jit_compile`` setting.

    Args:
        name: kcnn registry name with a keras.applications peer (``PEERS``).
        precision: Keras dtype policy name.
        jit_compile: compile the train and predict functions with XLA.
        modes: "train" and/or "infer".
        batch_size, image_size: the fixed batch.
        steps: calls per timed unit.
        repeats, warmup: rounds (``kcnn.bench.timing.interleaved``).
        builders: ``{"kcnn": fn, "keras": fn}`` building the two models (for tests and other
            pairs); by default ``kcnn.build(name)`` and its keras.applications peer.
        matmul: time the matmul rate in the training rounds and report MFU.
        matmul_size: side of the matrices (``MatmulRate``'s default by device).
        fold: add the folded kcnn model to the inference rounds.
        log: progress printer (None for silence).

    Returns:
        A list of row dicts, one per mode: rates per contestant (images/s, summarized),
        paired ratios, and for training the MFU of both models.
    """
    import keras

    from kcnn.inference import optimize_for_inference

    builders = builders or {"kcnn": lambda: _kcnn_model(name, image_size),
                            "keras": lambda: _keras_peer(name, image_size)}
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    rows = []
    try:
        models = {key: build() for key, build in builders.items()}
        macs = {key: model_multiply_adds(m) for key, m in models.items()}
        x, y = _batch(batch_size, models["kcnn"].input_shape[1], seed=0)
        for mode in modes:
            contestants = {}
            if mode == "train":
                for key, m in models.items():
                    _compile(m, jit_compile)
                    contestants[key] = _train_unit(m, x, y, steps)
                if matmul:
                    rate = MatmulRate(compute_dtype(precision), n=matmul_size).calibrate()
                    contestants["matmul"] = rate
            else:
                for key, m in models.items():
                    _compile(m, jit_compile)
                    contestants[key] = _infer_unit(m, x, steps)
                if fold:
                    folded = _compile(optimize_for_inference(models["kcnn"]), jit_compile)
                    contestants["kcnn_folded"] = _infer_unit(folded, x, steps)
            if log:
                log(f"  {name} {precision} jit={jit_compile} {mode}: "
                    f"{', '.join(contestants)} x {repeats} rounds")
            rates = timing.interleaved(contestants, repeats=repeats, warmup=warmup)
            row = {"model": name, "precision": precision, "jit_compile": bool(jit_compile),
                   "mode": mode, "batch_size": batch_size, "image_size": int(x.shape[1]),
                   "steps": steps, "repeats": repeats,
                   "multiply_adds": macs,
                   "images_per_second": {k: timing.summarize(v) for k, v in rates.items()
                                         if k != "matmul"},
                   "ratios": {}}
            if "keras" in rates:
                row["ratios"]["kcnn/keras"] = timing.paired_ratio(rates["kcnn"], rates["keras"])
            if "kcnn_folded" in rates:
                if "keras" in rates:
                    row["ratios"]["kcnn_folded/keras"] = timing.paired_ratio(
                        rates["kcnn_folded"], rates["keras"])
                row["ratios"]["kcnn_folded/kcnn"] = timing.paired_ratio(
                    rates["kcnn_folded"], rates["kcnn"])
            if "matmul" in rates:
                row["matmul_flops_per_second"] = timing.summarize(rates["matmul"])
                row["matmul_dtype"] = compute_dtype(precision)
                row["mfu"] = {}
                for key in models:
                    flops_per_image = 6 * macs[key]
                    row["mfu"][key] = timing.summarize(
                        [r * flops_per_image / m for r, m in zip(rates[key], rates["matmul"])])
                if "keras" in models:
                    row["ratios"]["mfu kcnn/keras"] = timing.paired_ratio(
                        [r * macs["kcnn"] for r in rates["kcnn"]],
                        [r * macs["keras"] for r in rates["keras"]])
            rows.append(row)
            if log:
                log("    " + ", ".join(f"{k} {v['median']:.2f} img/s"
                                       for k, v in row["images_per_second"].items())
                    + "".join(f"; {k} {v['median']:.3f}" for k, v in row["ratios"].items()))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
        models = contestants = None
        keras.backend.clear_session()
        gc.collect()
    return rows
