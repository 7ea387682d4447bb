"""A trained network made ready for inference: BatchNorm folded, training-only layers removed.

At inference a batch normalization after a convolution is a fixed affine map per channel,
``y = gamma * (x - mean) / sqrt(var + eps) + beta``, so it can be folded into the
convolution (Ioffe and Szegedy, "Batch Normalization", ICML 2015, section 3.1: "Since the
means and variances are fixed during inference, the normalization is simply a linear
transform applied to each activation"; Jacob et al. 2018, arXiv:1712.05877, fold it the same
way for integer inference): with
``s = gamma / sqrt(var + eps)`` per output channel,

    kernel' = kernel * s        bias' = (bias - mean) * s + beta

and the network computes the same function with one layer less per convolution and no
float32 round trip (Keras runs BatchNormalization in float32 under mixed precision).

``optimize_for_inference(model)`` returns a new functional model that

- folds every BatchNormalization that directly follows a convolution or dense layer with a
  linear activation (Conv1D/2D/3D, DepthwiseConv2D, Dense; the convolution's output feeding
  nothing else) into that layer, which gains a bias;
- unrolls kcnn's residual blocks (``BasicBlock``, ``BottleneckBlock``) into plain Keras
  layers, folding the pairs their ``conv_bn_pairs()`` lists; the unrolled layers are named
  ``<block>_<sublayer>`` (``conv2_block1_1_conv``), as keras.applications names them;
- drops layers that are the identity at inference (Dropout and its variants, GaussianNoise,
  ActivityRegularization, Keras's random augmentation layers, kcnn's
  ``PCAColorAugmentation``);
- keeps only the main output: auxiliary classifiers (GoogLeNet's ``aux1``/``aux2``) exist
  to help training and are discarded at inference (Szegedy et al. 2015, section 5).

Every other layer is copied with its weights and dtype policy; the result is independent of
the original model and gives the same outputs as ``model(x, training=False)`` up to
floating-point rounding. Initializers of kcnn's own (``kcnn.initializers.HeGaussian``, He et
al.'s untruncated ``N(0, 2/fan_in)``) are replaced in the copies by the Keras built-in they
specialise (``VarianceScaling(2.0, "fan_in", "untruncated_normal")``): they no longer matter
once a network is trained, and a network of plain Keras layers (an optimized ResNet: its
blocks are unrolled) then saves and loads with ``keras.saving.load_model`` alone, without
``import kcnn``. Networks keeping kcnn layers (GoogLeNet's Inception modules, AlexNet's
local response normalization) still need ``import kcnn`` or ``kcnn.load_model``.

    >>> import kcnn
    >>> model = kcnn.build("resnet50")           # ... trained ...
    >>> fast = kcnn.inference.optimize_for_inference(model)
    >>> fast.predict(images)
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

__all__ = ["optimize_for_inference", "fold_batch_norm", "builtin_initializer", "InferenceReport",
           "IDENTITY_LAYERS"]

# Layers that return their input unchanged when called with training=False.
IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                   "GaussianDropout", "GaussianNoise", "AlphaDropout", "ActivityRegularization",
                   "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
                   "RandomContrast", "RandomBrightness", "PCAColorAugmentation")

# Layers whose kernel's last axis is the output channel axis.
_FOLDABLE = ("Conv1D", "Conv2D", "Conv3D", "Dense", "DepthwiseConv2D")


@dataclasses.dataclass
class InferenceReport:
    """What ``optimize_for_inference`` changed (``model.inference_report`` of its result).

    Attributes:
        folded: ``(layer, batch_norm)`` names of every folded pair (sublayers of blocks as
            ``conv2_block1_1_conv``).
        dropped: names of the identity layers left out.
        unrolled: names of the blocks replaced by plain layers.
        outputs: names of the outputs kept.
    """

    folded: list = dataclasses.field(default_factory=list)
    dropped: list = dataclasses.field(default_factory=list)
    unrolled: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)

    def __str__(self):
        return (f"folded {len(self.folded)} BatchNormalization layers, unrolled "
                f"{len(self.unrolled)} blocks, dropped {len(self.dropped)} identity layers, "
                f"outputs {self.outputs}")


# === Folding ===

def fold_batch_norm(layer, batch_norm, *, name=None):
    """A copy of ``layer`` (a convolution or dense layer with a linear activation) that
    computes ``batch_norm(layer(x), training=False)``.

    The new layer has the same configuration and dtype policy, with ``use_bias=True``. It is
    returned unbuilt, with its weights beside it: assign them with ``set_weights`` once the
    layer is built (``optimize_for_inference`` does after calling it). Folding is done in
    float64.

    Args:
        layer: a built ``Conv1D``, ``Conv2D``, ``Conv3D``, ``DepthwiseConv2D`` or ``Dense``
            layer without activation, channels last.
        batch_norm: the built ``BatchNormalization`` applied to its output, on the last
            axis.
        name: name of the new layer (``layer.name`` by default).

    Returns:
        ``(new_layer, (kernel, bias))``: the unbuilt layer and its folded weights.
    """
    reason = _unfoldable(layer, batch_norm)
    if reason:
        raise ValueError(f"Cannot fold {batch_norm.name!r} into {layer.name!r}: {reason}. "
                         f"Received: layer={type(layer).__name__}, "
                         f"batch_norm={type(batch_norm).__name__}")
    variance = _numpy(batch_norm.moving_variance)
    mean = _numpy(batch_norm.moving_mean)
    gamma = _numpy(batch_norm.gamma) if batch_norm.scale else np.ones_like(variance)
    beta = _numpy(batch_norm.beta) if batch_norm.center else np.zeros_like(variance)
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    kernel = _numpy(layer.kernel)
    bias = _numpy(layer.bias) if layer.use_bias else np.zeros_like(mean)
    if type(layer).__name__ == "DepthwiseConv2D":
        # kernel (kh, kw, in_channels, multiplier); output channel c * multiplier + m.
        kernel = kernel * scale.reshape(kernel.shape[-2:])
    else:
        kernel = kernel * scale
    bias = (bias - mean) * scale + beta
    config = dict(layer.get_config(), use_bias=True, name=name or layer.name)
    config.pop("bias_constraint", None)
    config.pop("bias_regularizer", None)
    return type(layer).from_config(builtin_initializers(config)), (kernel, bias)


def builtin_initializer(value):
    """The serialized Keras built-in initializer that a kcnn initializer specialises.

    ``value`` is an initializer as a layer's config holds it (a serialized dict, a name or an
    object). An initializer class registered outside Keras whose nearest Keras base class is
    a built-in initializer (``kcnn.initializers.HeGaussian`` -> ``VarianceScaling``) is
    replaced by that base class with the same configuration, which draws from the same
    distribution; anything else is returned unchanged.
    """
    if value is None or (isinstance(value, dict) and "kcnn>" not in
                         str(value.get("registered_name", ""))):
        return value
    if isinstance(value, str) and not value.startswith("kcnn>"):
        return value
    try:
        initializer = keras.initializers.get(value)
    except (ValueError, TypeError):
        return value
    for base in type(initializer).__mro__[1:]:
        if (base.__module__.startswith("keras.")
                and issubclass(base, keras.initializers.Initializer)
                and base is not keras.initializers.Initializer):
            return keras.initializers.serialize(base.from_config(base.get_config(initializer)))
    return value


def builtin_initializers(config):
    """``config`` (a layer's) with every ``*_initializer`` made a Keras built-in
    (``builtin_initializer``)."""
    return {key: builtin_initializer(value) if key.endswith("_initializer") else value
            for key, value in config.items()}


def _unfoldable(layer, batch_norm):
    """Why ``batch_norm`` cannot be folded into ``layer`` ("" if it can)."""
    if type(layer).__name__ not in _FOLDABLE:
        return f"{type(layer).__name__} is not one of {', '.join(_FOLDABLE)}"
    if not isinstance(batch_norm, keras.layers.BatchNormalization):
        return "the second layer is not a BatchNormalization"
    if getattr(layer, "activation", None) not in (None, keras.activations.linear):
        return "the layer has an activation between it and the BatchNormalization"
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "the layer is channels_first"
    if getattr(layer, "groups", 1) != 1:
        return "grouped convolutions are not supported"
    if not (layer.built and batch_norm.built):
        return "the layers are not built"
    axis = batch_norm.axis
    rank = len(batch_norm.input.shape) if _has_single_node(batch_norm) else None
    if axis != -1 and (rank is None or axis != rank - 1):
        return f"the BatchNormalization normalizes axis {axis}, not the channels axis"
    if getattr(batch_norm, "renorm", False):
        return "batch renormalization is not supported"
    return ""


def _has_single_node(layer):
    return len(layer._inbound_nodes) == 1


def _numpy(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype="float64")


# === Graph ===

def _select_outputs(model, outputs):
    """The output tensors to keep: the first (main) output by default."""
    if outputs is None:
        return [model.outputs[0]]
    names = [outputs] if isinstance(outputs, str) else list(outputs)
    by_name = {}
    for tensor in model.outputs:
        by_name[tensor._keras_history.operation.name] = tensor
    missing = [n for n in names if n not in by_name]
    if missing or not names:
        raise ValueError(f"`outputs` must name outputs of the model: {sorted(by_name)}. "
                         f"Received: outputs={outputs!r}")
    return [by_name[n] for n in names]


def _consumers(model):
    """``id(tensor) -> number of uses`` inside ``model`` (its own outputs count as uses)."""
    layers = {id(layer) for layer in model.layers}
    counts = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            if id(node.operation) not in layers:
                continue
            for tensor in node.input_tensors:
                counts[id(tensor)] = counts.get(id(tensor), 0) + 1
    for tensor in model.outputs:
        counts[id(tensor)] = counts.get(id(tensor), 0) + 1
    return counts


def _foldable_pairs(model):
    """``{id(batch_norm): layer}`` for the top-level pairs that can be folded."""
    uses = _consumers(model)
    pairs = {}
    for bn in model.layers:
        if not isinstance(bn, keras.layers.BatchNormalization) or not _has_single_node(bn):
            continue
        tensor = bn._inbound_nodes[0].input_tensors[0]
        producer = tensor._keras_history.operation
        if (_has_single_node(producer) and uses.get(id(tensor), 0) == 1
                and len(producer._inbound_nodes[0].output_tensors) == 1
                and not _unfoldable(producer, bn)):
            pairs[id(bn)] = producer
    return pairs


def _is_residual_block(layer):
    from kcnn.layers.residual import BasicBlock, BottleneckBlock

    return isinstance(layer, (BasicBlock, BottleneckBlock))


class _Optimizer:
    """Replays a functional graph with folded, unrolled and dropped layers."""

    def __init__(self, model, report):
        self.report = report
        self.pairs = _foldable_pairs(model)
        bns = {id(layer): layer for layer in model.layers}
        self.bn_of = {id(layer): bns[bn_id] for bn_id, layer in self.pairs.items()}
        self.pending = []  # (new layer, weights) to assign once built

    # clone_function: original layer -> the layer the replay calls
    def clone(self, layer):
        if id(layer) in self.pairs or _is_residual_block(layer):
            return layer  # handled (skipped or unrolled) in call()
        if type(layer).__name__ in IDENTITY_LAYERS:
            return layer
        if id(layer) in self.bn_of:
            bn = self.bn_of[id(layer)]
            new, weights = fold_batch_norm(layer, bn)
            self.report.folded.append((layer.name, bn.name))
            self.pending.append((new, list(weights)))
            return new
        return self._copy(layer, layer.name)

    def _copy(self, layer, name):
        try:
            new = type(layer).from_config(builtin_initializers(dict(layer.get_config(),
                                                                    name=name)))
        except Exception:  # not rebuildable from its config (e.g. a Lambda): share it
            return layer
        if layer.weights:
            self.pending.append((new, layer.get_weights()))
        return new

    # call_function: (layer returned by clone, *args) -> outputs
    def call(self, layer, *args, **kwargs):
        if id(layer) in self.pairs:  # a folded BatchNormalization
            return args[0]
        if type(layer).__name__ in IDENTITY_LAYERS:
            self.report.dropped.append(layer.name)
            return args[0]
        if _is_residual_block(layer):
            return self._unroll_residual(layer, args[0])
        kwargs.pop("training", None)
        return layer(*args, **kwargs)

    def _unroll_residual(self, block, x):
        """``relu(F(x) + shortcut(x))`` with plain layers, BN folded into the convs."""
        self.report.unrolled.append(block.name)
        pairs = {id(conv): bn for conv, bn in block.conv_bn_pairs()}
        shortcut_ids = {id(layer) for layer in (block.shortcut_conv, block.shortcut_bn,
                                                block.shortcut_pad) if layer is not None}
        order = [layer for layer, _, _ in block.sublayer_shapes(tuple(x.shape))]
        order = [layer for layer in order if layer is not block.add and layer is not block.out]

        def chain(tensor, layers):
            skip = set()
            for layer in layers:
                if id(layer) in skip:
                    continue
                name = f"{block.name}_{layer.name}"
                if id(layer) in pairs:
                    bn = pairs[id(layer)]
                    new, weights = fold_batch_norm(layer, bn, name=name)
                    self.report.folded.append((name, f"{block.name}_{bn.name}"))
                    self.pending.append((new, list(weights)))
                    skip.add(id(bn))
                else:
                    new = self._copy(layer, name)
                tensor = new(tensor)
            return tensor

        shortcut = chain(x, [layer for layer in order if id(layer) in shortcut_ids])
        residual = chain(x, [layer for layer in order if id(layer) not in shortcut_ids])
        add = self._copy(block.add, f"{block.name}_{block.add.name}")
        out = self._copy(block.out, f"{block.name}_{block.out.name}")
        return out(add([shortcut, residual]))

    def assign(self):
        for layer, weights in self.pending:
            layer.set_weights(weights)


def optimize_for_inference(model, *, outputs=None, name=None):
    """A copy of ``model`` for inference: BatchNorm folded into the preceding convolutions
    (inside kcnn's residual blocks too), identity-at-inference layers dropped, auxiliary
    outputs removed (module docstring).

    Args:
        model: a built functional ``keras.Model`` (every kcnn network is one), trained or
            not; it is not modified.
        outputs: names of the output layers to keep; by default the first output only (the
            main classifier ``predictions``; GoogLeNet's ``aux1_predictions`` and
            ``aux2_predictions`` are dropped).
        name: name of the new model (``model.name`` by default).

    Returns:
        A new ``keras.Model`` with the same inputs computing ``model(x, training=False)``
        for the kept outputs. Its ``inference_report`` attribute (``InferenceReport``)
        lists what was folded, unrolled and dropped.

    Raises:
        TypeError: ``model`` is not a functional (or built Sequential) Keras model.
    """
    if isinstance(model, keras.Sequential):
        if not model.built or not getattr(model, "inputs", None):
            raise TypeError("A Sequential model must be built with an input shape before "
                            f"optimize_for_inference. Received: model={model.name!r} (unbuilt)")
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise TypeError("`model` must be a functional keras.Model (kcnn.build returns one). "
                        f"Received: model={type(model).__name__}")
    kept = _select_outputs(model, outputs)
    report = InferenceReport(outputs=[t._keras_history.operation.name for t in kept])
    sub = keras.Model(model.inputs, kept if len(kept) > 1 else kept[0], name=model.name)
    optimizer = _Optimizer(sub, report)
    new = keras.models.clone_model(sub, clone_function=optimizer.clone,
                                   call_function=optimizer.call)
    optimizer.assign()
    result = keras.Model(new.inputs, new.outputs if len(kept) > 1 else new.outputs[0],
                         name=name or model.name)
    result.inference_report = report
    return result
