"""A tiny functional network with every kcnn layer type, for backend and export tests.

Runs on any Keras backend; 16x16x3 input, a few thousand parameters, 10 outputs. Weights are
randomized (batch-norm statistics and PositionBias included) so that no layer is a no-op.
"""

import numpy as np

INPUT_SHAPE = (16, 16, 3)

# every layer class of kcnn.layers; the test checks the network uses each of them
LAYER_TYPES = ("CropAndFlip", "PCAColorAugmentation", "PartialConv2D", "LocalResponseNormalization",
               "Subsampling2D", "InceptionModule", "BasicBlock", "BottleneckBlock",
               "ZeroPaddedIdentity", "APL", "RReLU", "Maxout", "L2Pooling2D",
               "MaxAveragePooling2D", "PositionBias", "EuclideanRBF")


def build(seed=0):
    import keras

    from kcnn import layers as L

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = L.CropAndFlip(size=14, name="crop")(inputs)
    x = L.PCAColorAugmentation([0.2, 0.02, 0.005],
                               [[-0.58, -0.81, 0.04], [-0.58, 0.37, -0.72],
                                [-0.57, 0.45, 0.69]], name="pca_colour")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv1")(x)          # 14x14x6
    x = L.PartialConv2D(kernel_size=3, activation="tanh", name="c3")(x)     # 12x12x16
    x = L.LocalResponseNormalization(size=5, alpha=1e-2, name="lrn")(x)
    x = L.Subsampling2D(2, name="s4")(x)                                    # 6x6x16
    x = L.InceptionModule(4, 4, 4, 2, 4, 4, name="inception")(x)            # 6x6x16
    x = L.BasicBlock(16, name="basic")(x)
    x = L.BottleneckBlock(4, name="bottleneck")(x)                          # 6x6x16
    shortcut = L.ZeroPaddedIdentity(24, strides=2, name="pad_identity")(x)  # 3x3x24
    x = keras.layers.Conv2D(24, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.Add(name="add")([x, shortcut])
    x = L.APL(num_hinges=2, name="apl")(x)
    x = L.RReLU(name="rrelu")(x)
    x = L.Maxout(num_pieces=2, name="maxout")(x)                            # 3x3x12
    x = L.PositionBias(name="position_bias")(x)
    a = L.L2Pooling2D(pool_size=2, strides=1, padding="same", name="l2pool")(x)
    b = L.MaxAveragePooling2D(pool_size=2, strides=1, padding="same", name="maxavg")(x)
    x = keras.layers.Concatenate(name="concat")([a, b])                     # 3x3x24
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, activation="tanh", name="f6")(x)
    outputs = L.EuclideanRBF(10, name="rbf")(x)
    model = keras.Model(inputs, outputs, name="every_layer")
    randomize(model, seed)
    return model


def randomize(model, seed=0):
    """Non-trivial values for every weight: zero-initialized biases and position biases,
    unit batch-norm statistics and APL hinges would hide mistakes."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if not getattr(w, "trainable", True) and "prototype" in w.path:
            continue
        shape = tuple(w.shape)
        name = w.path.split("/")[-1]
        if "moving_variance" in name or "gamma" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            value = rng.normal(0.0, 0.2, shape)
        else:
            value = np.asarray(w.numpy(), dtype=np.float64) + rng.normal(0.0, 0.05, shape)
        w.assign(value.astype(w.dtype))


def sample(n=4, seed=1):
    """Images in [0, 1]."""
    return np.random.default_rng(seed).uniform(0, 1, (n, *INPUT_SHAPE)).astype("float32")
