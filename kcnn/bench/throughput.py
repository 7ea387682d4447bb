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

Rates, ratios and MFU are recorded on both clocks of ``kcnn.bench.timing`` (wall time and
process CPU time); ``basis`` names the one the report compares on (CPU time on a CPU, wall
time on a GPU). Each row also counts the operations of the traced TensorFlow graphs of both
models (``graph_ops``: the forward pass, or the forward and backward pass for training),
a noise-free account of the work each does.
"""

from __future__ import annotations

import gc

from kcnn.bench import timing
from kcnn.bench.device import MatmulRate, compute_dtype, device_kind

__all__ = ["PEERS", "measure", "measure_choices", "model_multiply_adds", "graph_op_counts"]

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


def graph_op_counts(model, mode, x, y):
    """``collections.Counter`` of the operation types in the TensorFlow graph of the forward
    pass (``mode="infer"``) or of the loss gradient (``mode="train"``) for a batch like
    ``x``, ``y``."""
    import collections

    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def forward(images):
        return model(images, training=False)

    @tf.function
    def gradient(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        return tape.gradient(loss, model.trainable_variables)

    x_spec, y_spec = tf.TensorSpec.from_tensor(x), tf.TensorSpec.from_tensor(y)
    fn = (gradient.get_concrete_function(x_spec, y_spec) if mode == "train"
          else forward.get_concrete_function(x_spec))
    return collections.Counter(op.type for op in fn.graph.get_operations())


def _compare_graphs(counts):
    """Totals per model and the operation types whose counts differ."""
    types = sorted(set().union(*counts.values()))
    return {"total": {k: sum(c.values()) for k, c in counts.items()},
            "differences": {t: {k: c[t] for k, c in counts.items()} for t in types
                            if len({c[t] for c in counts.values()}) > 1}}


def _ratios(rates, macs):
    """Round-by-round ratios between the contestants timed on one clock."""
    out = {}
    if "keras" in rates:
        out["kcnn/keras"] = timing.paired_ratio(rates["kcnn"], rates["keras"])
    if "kcnn_folded" in rates:
        if "keras" in rates:
            out["kcnn_folded/keras"] = timing.paired_ratio(rates["kcnn_folded"], rates["keras"])
        out["kcnn_folded/kcnn"] = timing.paired_ratio(rates["kcnn_folded"], rates["kcnn"])
    if "matmul" in rates and "keras" in rates:
        # MFU ratio: the matmul rate of the round cancels.
        out["mfu kcnn/keras"] = timing.paired_ratio(
            [r * macs["kcnn"] for r in rates["kcnn"]], [r * macs["keras"] for r in rates["keras"]])
    return out


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
    basis = timing.basis(device_kind())
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
            graphs = {key: graph_op_counts(m, mode, x, y) for key, m in models.items()}
            if mode == "infer" and fold:
                graphs["kcnn_folded"] = graph_op_counts(folded, mode, x, y)
            rates = timing.interleaved(contestants, repeats=repeats, warmup=warmup)
            row = {"model": name, "precision": precision, "jit_compile": bool(jit_compile),
                   "mode": mode, "batch_size": batch_size, "image_size": int(x.shape[1]),
                   "steps": steps, "repeats": repeats, "basis": basis,
                   "multiply_adds": macs,
                   "images_per_second": {k: timing.summarize(v)
                                         for k, v in rates["wall"].items() if k != "matmul"},
                   "images_per_cpu_second": {k: timing.summarize(v)
                                             for k, v in rates["cpu"].items()
                                             if k != "matmul"},
                   "ratios": {clock: _ratios(r, macs) for clock, r in rates.items()},
                   "graph_ops": _compare_graphs(graphs)}
            if "matmul" in contestants:
                row["matmul_dtype"] = compute_dtype(precision)
                row["matmul_size"] = contestants["matmul"].n
                row["matmul_flops_per_second"] = timing.summarize(rates["wall"]["matmul"])
                row["matmul_flops_per_cpu_second"] = timing.summarize(rates["cpu"]["matmul"])
                row["mfu"] = {clock: {key: timing.summarize(
                    [rate * 6 * macs[key] / mm for rate, mm in zip(r[key], r["matmul"])])
                    for key in models} for clock, r in rates.items()}
            rows.append(row)
            if log:
                ips = row["images_per_second"]
                log("    " + ", ".join(f"{k} {v['median']:.2f} img/s" for k, v in ips.items())
                    + f"; {basis} time: " + ", ".join(
                        f"{k} {v['median']:.3f} [{v['min']:.3f}-{v['max']:.3f}]"
                        for k, v in row["ratios"][basis].items()))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
        models = contestants = None
        keras.backend.clear_session()
        gc.collect()
    return rows


def measure_choices(name, *, precisions=("float32", "mixed_float16", "mixed_bfloat16"),
                    jit=(False, True), modes=("train", "infer"), batch_size=16,
                    image_size=224, steps=1, repeats=5, warmup=1, builder=None, log=print):
    """kcnn's own network in every precision and ``jit_compile`` setting, side by side in the
    same rounds: the measurements behind ``--precision auto`` and the ``jit_compile``
    default.

    Args:
        name: kcnn registry name.
        precisions, jit: the settings to compare (one model instance per pair).
        modes, batch_size, image_size, steps, repeats, warmup: as ``measure``.
        builder: ``fn() -> model`` (default ``kcnn.build(name)`` at ``image_size``), called
            under each dtype policy.
        log: progress printer (None for silence).

    Returns:
        One row per mode: rates per setting (``"float32"``, ``"mixed_bfloat16+xla"``, ...)
        and their ratios to float32 without XLA, on both clocks.
    """
    import keras

    builder = builder or (lambda: _kcnn_model(name, image_size))
    basis = timing.basis(device_kind())
    previous = keras.mixed_precision.dtype_policy()
    rows = []
    models = {}
    try:
        for precision in precisions:
            keras.mixed_precision.set_dtype_policy(precision)
            for j in jit:
                models[precision + ("+xla" if j else "")] = (builder(), j)
        keras.mixed_precision.set_dtype_policy(previous)
        reference = next(iter(models))
        x, y = _batch(batch_size, next(iter(models.values()))[0].input_shape[1], seed=0)
        for mode in modes:
            contestants = {}
            for key, (m, j) in models.items():
                _compile(m, j)
                contestants[key] = (_train_unit(m, x, y, steps) if mode == "train"
                                    else _infer_unit(m, x, steps))
            if log:
                log(f"  {name} {mode}: {', '.join(contestants)} x {repeats} rounds")
            rates = timing.interleaved(contestants, repeats=repeats, warmup=warmup)
            row = {"model": name, "mode": mode, "batch_size": batch_size,
                   "image_size": int(x.shape[1]), "steps": steps, "repeats": repeats,
                   "basis": basis, "reference": reference,
                   "images_per_second": {k: timing.summarize(v)
                                         for k, v in rates["wall"].items()},
                   "images_per_cpu_second": {k: timing.summarize(v)
                                             for k, v in rates["cpu"].items()},
                   "ratios": {clock: {k: timing.paired_ratio(r[k], r[reference])
                                      for k in r if k != reference}
                              for clock, r in rates.items()}}
            rows.append(row)
            if log:
                log("    " + f"{basis} time, against {reference}: " + ", ".join(
                    f"{k} {v['median']:.3f} [{v['min']:.3f}-{v['max']:.3f}]"
                    for k, v in row["ratios"][basis].items()))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
        models = contestants = None
        keras.backend.clear_session()
        gc.collect()
    return rows
