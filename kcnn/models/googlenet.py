"""GoogLeNet (Szegedy et al., "Going deeper with convolutions", CVPR 2015, arXiv:1409.4842).

Table 1 of the paper (the table of seeds 000/001), on a 224x224x3 input:

    ===================  ========  ===========  ====  =====  ====  =====  ====  ====
    layer                patch/s   output       #1x1  #3x3r  #3x3  #5x5r  #5x5  pool
    ===================  ========  ===========  ====  =====  ====  =====  ====  ====
    conv1_7x7_s2         7x7/2     112x112x64
    pool1_3x3_s2         3x3/2     56x56x64
    conv2_3x3            3x3/1     56x56x192          64     192
    pool2_3x3_s2         3x3/2     28x28x192
    inception3a                    28x28x256    64    96     128   16     32    32
    inception3b                    28x28x480    128   128    192   32     96    64
    pool3_3x3_s2         3x3/2     14x14x480
    inception4a                    14x14x512    192   96     208   16     48    64
    inception4b                    14x14x512    160   112    224   24     64    64
    inception4c                    14x14x512    128   128    256   24     64    64
    inception4d                    14x14x528    112   144    288   32     64    64
    inception4e                    14x14x832    256   160    320   32     128   128
    pool4_3x3_s2         3x3/2     7x7x832
    inception5a                    7x7x832      256   160    320   32     128   128
    inception5b                    7x7x1024     384   192    384   48     128   128
    avg_pool             7x7/1     1x1x1024
    dropout (40%), linear (predictions), softmax
    ===================  ========  ===========  ====  =====  ====  =====  ====  ====

Figure 3 adds local response normalization after pool1 and after conv2_3x3 (names
``pool1_norm1``, ``conv2_norm2``); the paper gives no LRN parameters, so we use those of the
BVLC reference model (``bvlc_googlenet``): size 5, alpha 1e-4 divided by the size (Caffe
convention), beta 0.75, k 1. Every convolution has a bias and a ReLU; there is no batch
normalization. The 7x7/1 average pool is global average pooling at 224x224 (we pool
globally, so other input sizes work). The conv1 padding is 3 on each side, as in the
reference model. Layer names follow the BVLC model with ``/`` replaced by ``_`` (Keras
forbids ``/`` in names), so Caffe's ``bvlc_googlenet`` loads as it is
(``weights="bvlc"``; its auxiliary classifiers too with ``aux_logits=True``). Caffe's unpadded
round-up 3x3/2 poolings equal Keras's "same" pooling here: on even sizes both start their
windows at pixel 0 and pad one row at the bottom. 6,998,552 trainable parameters with 1000
classes.

Auxiliary classifiers (section 5, ``aux_logits=True``), on the outputs of inception4a and
inception4d: 5x5/3 average pooling (4x4x512 and 4x4x528), a 1x1 convolution with 128
filters and ReLU, a fully connected layer of 1024 units with ReLU, 70% dropout and a linear
classifier with softmax (names ``aux1_*``, ``aux2_*``). Their losses are added with weight
0.3 during training; at inference they are discarded. 13,378,280 parameters with both heads.
"""

from __future__ import annotations

import keras

from kcnn import activations
from kcnn._checks import check_bool, check_float, check_input_shape, check_rate
from kcnn.heads import check_head_args, classifier_head
from kcnn.layers.inception import InceptionModule
from kcnn.layers.normalization import LocalResponseNormalization
from kcnn.registry import register_model

__all__ = ["PAPER", "MIN_SIZE", "MIN_SIZE_AUX", "INCEPTION_TABLE", "AUX_AFTER", "googlenet"]

PAPER = "arXiv:1409.4842"
MIN_SIZE = 32  # the deepest features are ceil(size / 32) pixels wide
MIN_SIZE_AUX = 65  # the auxiliary heads' 5x5 pooling needs 5x5 at inception4a (size / 16)

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) of each Inception module;
# None marks a 3x3/2 max pooling between stages.
INCEPTION_TABLE = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("pool3_3x3_s2", None),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("pool4_3x3_s2", None),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)
AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}


def _lrn(name):
    return LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=1.0, convention="caffe",
                                      name=name)


def _aux_head(x, *, prefix, num_classes, classifier_activation, dropout, width):
    """The auxiliary classifier of section 5 of the paper."""
    x = keras.layers.AveragePooling2D(5, strides=3, name=f"{prefix}_ave_pool")(x)
    x = keras.layers.Conv2D(width(128), 1, activation="relu", name=f"{prefix}_conv")(x)
    x = keras.layers.Flatten(name=f"{prefix}_flatten")(x)
    x = keras.layers.Dense(width(1024), activation="relu", name=f"{prefix}_fc")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    act = activations.get(classifier_activation, argument="classifier_activation")
    return keras.layers.Dense(num_classes, activation=act, dtype="float32",
                              name=f"{prefix}_predictions")(x)


@register_model(family="googlenet", paper=PAPER, input_shape=(224, 224, 3),
                params=6_998_552, recipe="googlenet_imagenet",
                preprocessing="imagenet_mean",
                feature_layers=("conv2_3x3", "inception3b", "inception4e", "inception5b"))
def googlenet(*, input_shape=None, num_classes=1000, include_top=True, pooling=None,
              classifier_activation="softmax", dropout=0.4, aux_logits=False,
              aux_dropout=0.7, lrn=True, width_multiplier=1.0, name=None):
    """GoogLeNet as in Table 1 of the paper: true 5x5 branches, LRN, no batch norm.

    Args:
        input_shape: (224, 224, 3) by default; at least 32x32 (65x65 with ``aux_logits``).
        num_classes: width of the classifier (``predictions``).
        include_top: add global average pooling, dropout and the classifier; without it the
            output is inception5b.
        pooling: None, "avg" or "max" applied to inception5b when ``include_top`` is False.
        classifier_activation: "softmax" by default; None gives logits (for the auxiliary
            classifiers too).
        dropout: dropout rate before the classifier (0.4 in the paper).
        aux_logits: add the two auxiliary classifiers; the model then has three outputs
            ``[predictions, aux1_predictions, aux2_predictions]`` (train with loss weights
            ``[1, 0.3, 0.3]``). Needs ``include_top``. For inference keep the main output:
            ``keras.Model(model.inputs, model.outputs[0])`` shares the trained weights.
        aux_dropout: dropout rate in the auxiliary classifiers (0.7 in the paper).
        lrn: apply the two local response normalizations of Figure 3.
        width_multiplier: scales every convolution and auxiliary width (rounded, at least
            1) for quick experiments; 1.0 is the paper's network.
        name: model name ("googlenet").

    Returns:
        A ``keras.Model`` with 6,998,552 trainable parameters (13,378,280 with
        ``aux_logits``) at the defaults.
    """
    check_head_args(include_top=include_top, num_classes=num_classes, pooling=pooling,
                    classifier_activation=classifier_activation, dropout=dropout)
    check_bool("aux_logits", aux_logits)
    check_rate("aux_dropout", aux_dropout)
    check_bool("lrn", lrn)
    width_multiplier = check_float("width_multiplier", width_multiplier, minimum=0.0,
                                   min_inclusive=False)
    if aux_logits and not include_top:
        raise ValueError("`aux_logits=True` needs `include_top=True` (the auxiliary heads are "
                         f"classifiers). Received: aux_logits={aux_logits!r}, "
                         f"include_top={include_top!r}")
    input_shape = check_input_shape(input_shape, min_size=MIN_SIZE_AUX if aux_logits
                                    else MIN_SIZE, default=(224, 224, 3),
                                    model="GoogLeNet" + (" with aux_logits" if aux_logits
                                                         else ""))

    def width(filters):
        return max(1, int(round(filters * width_multiplier)))

    # === Functional Model ===
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(width(64), 7, strides=2, activation="relu",
                            name="conv1_7x7_s2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    if lrn:
        x = _lrn("pool1_norm1")(x)
    x = keras.layers.Conv2D(width(64), 1, activation="relu", name="conv2_3x3_reduce")(x)
    x = keras.layers.Conv2D(width(192), 3, padding="same", activation="relu",
                            name="conv2_3x3")(x)
    if lrn:
        x = _lrn("conv2_norm2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)

    aux_outputs = []
    for layer_name, columns in INCEPTION_TABLE:
        if columns is None:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=layer_name)(x)
            continue
        f1, r3, f3, r5, f5, pp = (width(c) for c in columns)
        x = InceptionModule(filters_1x1=f1, filters_3x3_reduce=r3, filters_3x3=f3,
                            filters_5x5_reduce=r5, filters_5x5=f5, pool_proj=pp,
                            name=layer_name)(x)
        if aux_logits and layer_name in AUX_AFTER:
            aux_outputs.append(_aux_head(x, prefix=AUX_AFTER[layer_name],
                                         num_classes=num_classes,
                                         classifier_activation=classifier_activation,
                                         dropout=aux_dropout, width=width))
    outputs = classifier_head(x, include_top=include_top, num_classes=num_classes,
                              pooling=pooling, classifier_activation=classifier_activation,
                              dropout=dropout)
    if aux_outputs:
        outputs = [outputs, *aux_outputs]
    return keras.Model(inputs, outputs, name=name or "googlenet")
