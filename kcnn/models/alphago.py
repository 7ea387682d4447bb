"""AlphaGo's supervised-learning policy network and its value network.

Silver et al., "Mastering the game of Go with deep neural networks and tree search",
Nature 529:484-489, 2016, Methods ("Neural network architecture").

Policy network: the 19x19x48 feature stack is zero padded to 23x23 and convolved with k 5x5
filters (ReLU); hidden layers 2 to 12 zero pad to 21x21 and convolve k 3x3 filters (ReLU); the
final layer convolves one 1x1 filter "with a different bias for each position" and applies a
softmax. k = 192 in the match version (3,882,793 parameters); 128, 256 and 384 in Extended
Data Table 3.

Value network, as read here from the Methods ("the value network is identical to the policy
network except for ..."): the input has 49 planes (the player-colour plane added); layers
1-11 as the policy network; layer 12 an additional 3x3 convolution with k filters; layer 13 a
1x1 convolution with one filter (with a shared bias, and a rectifier like every hidden layer:
the text names no other non-linearity); a fully connected layer of 256 rectifier units; one
tanh output. 3,980,162 parameters with k = 192.

Moves are indexed ``row * board_size + col`` with row 0 at the top (the order of SGF letters),
the same convention as ``kcnn.go``'s move labels. There is no pass output: the paper removed
passes from its training data.
"""

from __future__ import annotations

import keras

from kcnn._checks import check_bool, check_int
from kcnn.layers.position_bias import PositionBias
from kcnn.registry import register_model

__all__ = ["PAPER", "alphago_policy", "alphago_value"]

PAPER = "Silver et al., Nature 529:484-489, 2016 (doi:10.1038/nature16961)"
_IMAGE_CLASSIFIER_ARGS = ("num_classes", "pooling", "include_top", "classifier_activation",
                          "input_shape", "dropout")


def _refuse_image_args(model, kwargs):
    for key in kwargs:
        if key in _IMAGE_CLASSIFIER_ARGS:
            raise TypeError(
                f"`{key}` does not apply to {model}: its output is one probability per board "
                "point. Use board_size, input_planes, filters, num_layers, first_kernel_size "
                f"and logits. Received: {key}={kwargs[key]!r}")
        raise TypeError(f"{model}() got an unexpected keyword argument {key!r}. "
                        f"Received: {key}={kwargs[key]!r}")


def _conv_tower(x, *, filters, num_layers, first_kernel_size):
    """Layers 1..num_layers: a first_kernel_size conv then 3x3 convs, all ReLU, 'same'."""
    for i in range(1, num_layers + 1):
        kernel = first_kernel_size if i == 1 else 3
        x = keras.layers.Conv2D(filters, kernel, padding="same", activation="relu",
                                name=f"conv{i}")(x)
    return x


def _check_args(board_size, input_planes, filters, num_layers, first_kernel_size):
    check_int("board_size", board_size, minimum=2, maximum=25)
    check_int("input_planes", input_planes, minimum=1)
    check_int("filters", filters, minimum=1)
    check_int("num_layers", num_layers, minimum=1)
    check_int("first_kernel_size", first_kernel_size, minimum=1)
    if first_kernel_size % 2 == 0:
        raise ValueError("`first_kernel_size` must be odd so that zero padding keeps the board "
                         f"size. Received: first_kernel_size={first_kernel_size}")


@register_model(family="alphago", paper=PAPER, input_shape=(19, 19, 48), params=3_882_793,
                recipe="alphago_policy_kgs", preprocessing=None,
                feature_layers=("conv1", "conv6", "conv12"))
def alphago_policy(*, board_size=19, input_planes=48, filters=192, num_layers=12,
                   first_kernel_size=5, logits=False, name=None, **kwargs):
    """AlphaGo's SL policy network p_sigma.

    Args:
        board_size: side of the board (19).
        input_planes: feature planes (48; 4, 12 or 20 for the subsets of Extended Data
            Table 3).
        filters: k, filters of each hidden layer (192 in the match version).
        num_layers: hidden convolution layers before the output layer (12: one 5x5 and
            eleven 3x3).
        first_kernel_size: kernel of the first layer (5).
        logits: return the unnormalised scores instead of the softmax.
        name: model name.

    Returns:
        A model from ``board`` ``(board_size, board_size, input_planes)`` to ``predictions``
        ``(board_size * board_size,)``, index ``row * board_size + col``, float32.
    """
    if kwargs:
        _refuse_image_args("alphago_policy", kwargs)
    _check_args(board_size, input_planes, filters, num_layers, first_kernel_size)
    check_bool("logits", logits)
    inputs = keras.Input((board_size, board_size, input_planes), name="board")
    x = _conv_tower(inputs, filters=filters, num_layers=num_layers,
                    first_kernel_size=first_kernel_size)
    x = keras.layers.Conv2D(1, 1, use_bias=False, name=f"conv{num_layers + 1}")(x)
    x = PositionBias(dtype="float32", name="position_bias")(x)
    x = keras.layers.Flatten(dtype="float32", name="flatten")(x)
    x = keras.layers.Activation("linear" if logits else "softmax", dtype="float32",
                                name="predictions")(x)
    return keras.Model(inputs, x, name=name or "alphago_policy")


@register_model(family="alphago", paper=PAPER, input_shape=(19, 19, 49), params=3_980_162,
                recipe=None, preprocessing=None, feature_layers=("conv1", "conv6", "conv12"))
def alphago_value(*, board_size=19, input_planes=49, filters=192, num_layers=12,
                  first_kernel_size=5, dense_units=256, name=None, **kwargs):
    """AlphaGo's value network v_theta (see the module docstring for this reading).

    Args:
        board_size: side of the board (19).
        input_planes: feature planes (49: the policy network's 48 plus player colour).
        filters: k (192).
        num_layers: convolution layers before the 1x1 layer (12: layers 1-11 as the policy
            network plus the additional layer 12).
        first_kernel_size: kernel of the first layer (5).
        dense_units: width of the fully connected layer (256).
        name: model name.

    Returns:
        A model from ``board`` to ``predictions`` ``(1,)`` in [-1, 1], float32.
    """
    if kwargs:
        _refuse_image_args("alphago_value", kwargs)
    _check_args(board_size, input_planes, filters, num_layers, first_kernel_size)
    check_int("dense_units", dense_units, minimum=1)
    inputs = keras.Input((board_size, board_size, input_planes), name="board")
    x = _conv_tower(inputs, filters=filters, num_layers=num_layers,
                    first_kernel_size=first_kernel_size)
    x = keras.layers.Conv2D(1, 1, activation="relu", name=f"conv{num_layers + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(1, activation="tanh", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, x, name=name or "alphago_value")
