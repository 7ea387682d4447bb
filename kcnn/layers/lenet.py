"""The three layers of the 1998 LeNet-5 that later networks dropped.

LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 86(11), 1998, section II.B.

- ``Subsampling2D`` (layers S2 and S4): each unit sums a 2x2 neighbourhood, multiplies the
  sum by a trainable coefficient and adds a trainable bias, one pair per feature map.
- ``PartialConv2D`` (layer C3): a convolution in which each output map sees only the input
  maps of a connection table (Table I of the paper), "to break the symmetry in the network"
  and keep the number of connections in bounds.
- ``EuclideanRBF`` (the output layer): ``y_i = sum_j (x_j - w_ij)^2`` with fixed prototypes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kcnn._checks import check_choice, check_int, check_int_tuple

__all__ = ["Subsampling2D", "PartialConv2D", "EuclideanRBF", "LENET5_C3_TABLE"]

# LeNet-5's squashing function, ``lecun_tanh``, is in kcnn.activations.

# Table I of the paper: for each of the 16 C3 maps, the S2 maps (0-5) it is connected to.
LENET5_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


@keras.saving.register_keras_serializable(package="kcnn")
class Subsampling2D(keras.layers.Layer):
    """LeNet-5's trainable subsampling: ``coefficient * sum(2x2 window) + bias`` per map.

    Args:
        pool_size: side of the non-overlapping window (2 in the paper).
        **kwargs: base layer arguments (``name``, ``dtype``).

    Trainable parameters: 2 per channel (6 maps in S2 give 12, 16 in S4 give 32).
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = check_int("pool_size", pool_size, minimum=1)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(name="coefficient", shape=(channels,),
                                           initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        p = self.pool_size
        window_sum = ops.average_pool(inputs, p, strides=p, padding="valid") * float(p * p)
        return window_sum * ops.cast(self.coefficient, inputs.dtype) + ops.cast(
            self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        p = self.pool_size
        return (n, None if h is None else h // p, None if w is None else w // p, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="kcnn")
class PartialConv2D(keras.layers.Layer):
    """A valid convolution whose output maps each see a subset of the input maps.

    Only the connected kernel slices are weights: C3 of LeNet-5 has
    ``60 * 25 + 16 = 1,516`` trainable parameters instead of the 2,416 of a full
    convolution. The full kernel is assembled by a constant 0/1 matrix product, so the layer
    runs as one ordinary convolution.

    Args:
        connections: for each output map, the input map indices it is connected to
            (default: ``LENET5_C3_TABLE``).
        kernel_size: square kernel side (5 in the paper).
        activation: activation name or callable, or None.
        **kwargs: base layer arguments.
    """

    def __init__(self, connections=LENET5_C3_TABLE, kernel_size=5, activation=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(connections, (list, tuple)) or not connections:
            raise ValueError("`connections` must be a non-empty list of input-map index "
                             f"lists. Received: connections={connections!r}")
        table = []
        for i, inputs in enumerate(connections):
            inputs = check_int_tuple(f"connections[{i}]", inputs, minimum=0)
            if not inputs or len(set(inputs)) != len(inputs):
                raise ValueError(f"`connections[{i}]` must list distinct input maps. "
                                 f"Received: connections[{i}]={inputs!r}")
            table.append(inputs)
        self.connections = tuple(table)
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        from kcnn import activations

        self.activation = activations.get(activation)
        self._activation_config = activation if isinstance(activation, str) or (
            activation is None) else keras.activations.serialize(activation)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        needed = max(max(c) for c in self.connections) + 1
        if in_channels is None or in_channels < needed:
            raise ValueError(f"PartialConv2D {self.name!r}: the connection table uses input "
                             f"map {needed - 1}, but the input has {in_channels} channels.")
        pairs = [(i, o) for o, inputs in enumerate(self.connections) for i in inputs]
        scatter = np.zeros((len(pairs), in_channels * len(self.connections)), "float32")
        for row, (i, o) in enumerate(pairs):
            scatter[row, i * len(self.connections) + o] = 1.0
        self._scatter = scatter
        self._in_channels = in_channels
        k = self.kernel_size
        fan_in = k * k * (len(pairs) / len(self.connections))
        limit = float(np.sqrt(3.0 / fan_in))
        self.kernel = self.add_weight(
            name="kernel", shape=(k * k, len(pairs)),
            initializer=keras.initializers.RandomUniform(-limit, limit))
        self.bias = self.add_weight(name="bias", shape=(len(self.connections),),
                                    initializer="zeros")

    def full_kernel(self):
        """The ``(k, k, in_channels, filters)`` kernel with zeros where maps are not
        connected."""
        k = self.kernel_size
        flat = ops.matmul(self.kernel, ops.convert_to_tensor(self._scatter,
                                                             dtype=self.kernel.dtype))
        return ops.reshape(flat, (k, k, self._in_channels, len(self.connections)))

    def call(self, inputs):
        kernel = ops.cast(self.full_kernel(), inputs.dtype)
        out = ops.conv(inputs, kernel, strides=1, padding="valid")
        out = out + ops.cast(self.bias, inputs.dtype)
        return self.activation(out) if self.activation is not None else out

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        k = self.kernel_size
        return (n, None if h is None else h - k + 1, None if w is None else w - k + 1,
                len(self.connections))

    def get_config(self):
        return {**super().get_config(), "connections": [list(c) for c in self.connections],
                "kernel_size": self.kernel_size, "activation": self._activation_config}


# Stylised 7x12 bitmaps of the digits, +1 for ink, -1 for background (section II.B: the
# output RBF parameter vectors "were chosen by hand ... to represent a stylized image of the
# corresponding character class drawn on a 7x12 bitmap").
_DIGIT_BITMAPS = {
    0: ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#",
        "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),
    1: ("...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...",
        "...#...", "...#...", "...#...", "...#...", "...#...", ".#####."),
    2: (".#####.", "#.....#", "......#", "......#", ".....#.", "....#..",
        "...#...", "..#....", ".#.....", "#......", "#......", "#######"),
    3: (".#####.", "#.....#", "......#", "......#", "......#", "..####.",
        "......#", "......#", "......#", "......#", "#.....#", ".#####."),
    4: ("....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.", "#....#.",
        "#######", ".....#.", ".....#.", ".....#.", ".....#.", ".....#."),
    5: ("#######", "#......", "#......", "#......", "######.", "......#",
        "......#", "......#", "......#", "......#", "#.....#", ".#####."),
    6: ("..####.", ".#.....", "#......", "#......", "#......", "######.",
        "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", ".#####."),
    7: ("#######", "......#", "......#", ".....#.", ".....#.", "....#..",
        "....#..", "...#...", "...#...", "..#....", "..#....", "..#...."),
    8: (".#####.", "#.....#", "#.....#", "#.....#", "#.....#", ".#####.",
        "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", ".#####."),
    9: (".#####.", "#.....#", "#.....#", "#.....#", "#.....#", ".######",
        "......#", "......#", "......#", "......#", ".....#.", ".####.."),
}


def digit_prototypes(num_classes=10, seed=0):
    """Fixed RBF prototypes: the 7x12 digit bitmaps for 10 classes, otherwise a seeded
    random +-1 code of the same length (the paper used random codes only in its
    discussion; any fixed, well-separated code works).

    Returns:
        float32 array ``(84, num_classes)``.
    """
    if num_classes == 10:
        codes = [[1.0 if ch == "#" else -1.0 for row in _DIGIT_BITMAPS[d] for ch in row]
                 for d in range(10)]
        return np.asarray(codes, "float32").T
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(84, num_classes)).astype("float32")


@keras.saving.register_keras_serializable(package="kcnn")
class EuclideanRBF(keras.layers.Layer):
    """Euclidean radial basis output units, ``y_i = sum_j (x_j - w_ij)^2``.

    The prototypes are fixed (not trainable), so LeNet-5 keeps the paper's 60,000 trainable
    parameters. The output is a distance (a penalty: smaller means more likely); with
    ``negate=True`` the layer returns ``-y`` so that the output can be used as logits.

    Args:
        units: number of classes.
        prototypes: "digits" (7x12 bitmaps, 10 classes) or "random" (seeded +-1 code).
        negate: return the negated distances.
        **kwargs: base layer arguments.
    """

    def __init__(self, units=10, prototypes="digits", negate=True, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int("units", units, minimum=1)
        self.prototypes = check_choice("prototypes", prototypes, ("digits", "random"))
        if prototypes == "digits" and units != 10:
            raise ValueError("`prototypes='digits'` needs `units=10`; use "
                             f"prototypes='random' for other class counts. Received: units={units}")
        self.negate = bool(negate)

    def build(self, input_shape):
        if input_shape[-1] != 84 and self.prototypes == "digits":
            raise ValueError("EuclideanRBF with digit bitmaps needs 84 inputs (7x12). "
                             f"Received: input_shape={tuple(input_shape)}")
        init = digit_prototypes(self.units) if input_shape[-1] == 84 else \
            np.random.default_rng(0).choice([-1.0, 1.0], size=(input_shape[-1], self.units))
        self.kernel = self.add_weight(name="prototypes", shape=(input_shape[-1], self.units),
                                      initializer=keras.initializers.Constant(init),
                                      trainable=False)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        w = ops.cast(self.kernel, "float32")
        dist = (ops.sum(ops.square(x), axis=-1, keepdims=True) - 2.0 * ops.matmul(x, w)
                + ops.sum(ops.square(w), axis=0, keepdims=True))
        return -dist if self.negate else dist

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "prototypes": self.prototypes,
                "negate": self.negate}
