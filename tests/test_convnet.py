"""The generic ConvNet pattern and the lecture notes' CNN-in-Keras example."""

import keras
import numpy as np
import pytest

import kcnn
from kcnn.models.convnet import convnet


def shapes(model):
    return {l.name: tuple(l.output.shape[1:]) for l in model.layers}


def test_keras_example_shapes_and_parameters_of_the_notes():
    model = kcnn.build("convnet_keras_mnist")
    s = shapes(model)
    assert s["block1_conv1"] == (26, 26, 25)  # 25 3x3 filters on 28x28x1
    assert s["block1_pool"] == (13, 13, 25)
    assert s["block2_conv1"] == (11, 11, 50)
    assert s["block2_pool"] == (5, 5, 50)
    assert s["flatten"] == (1250,)
    per_filter = [l.kernel.shape[0] * l.kernel.shape[1] * l.kernel.shape[2]
                  for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert per_filter == [9, 225]  # "How many parameters for each filter?" 9, then 225
    assert model.get_layer("fc1").units == 100


@pytest.mark.parametrize("m,n,k", [(1, 1, 0), (2, 3, 1), (3, 2, 2)])
def test_pattern_counts_and_parameters(m, n, k):
    model = convnet(input_shape=(32, 32, 3), num_stages=m, convs_per_stage=n, filters=8,
                    filter_growth=2, kernel_size=5, dense_layers=k, dense_units=16,
                    num_classes=7)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    pools = [l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert len(convs) == m * n and len(pools) == m and len(dense) == k + 1
    # arithmetic: each conv (F*F*C_in + 1) * C_out, 'same' padding, widths 8, 16, 32
    expected, c_in, size = 0, 3, 32
    for stage in range(m):
        width = 8 * 2 ** stage
        for _ in range(n):
            expected += (5 * 5 * c_in + 1) * width
            c_in = width
        size //= 2
    flat = size * size * c_in
    for _ in range(k):
        expected += (flat + 1) * 16
        flat = 16
    expected += (flat + 1) * 7
    assert model.count_params() == expected


def test_per_stage_lists_and_valid_padding():
    model = convnet(input_shape=(40, 40, 1), num_stages=2, convs_per_stage=(1, 2),
                    filters=(4, 6), kernel_size=(5, 3), padding="valid", dense_layers=0)
    s = shapes(model)
    assert s["block1_conv1"] == (36, 36, 4)
    assert s["block1_pool"] == (18, 18, 4)
    assert s["block2_conv2"] == (14, 14, 6)
    assert s["block2_pool"] == (7, 7, 6)


def test_stage_pooling_none_and_batch_norm():
    model = convnet(input_shape=(8, 8, 3), num_stages=2, convs_per_stage=1, filters=4,
                    stage_pooling=None, batch_norm=True, dense_layers=0)
    assert not any(isinstance(l, keras.layers.MaxPooling2D) for l in model.layers)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert all(not c.use_bias for c in convs)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in model.layers) == 2


def test_features_without_top():
    model = convnet(input_shape=(32, 32, 3), include_top=False, pooling="avg", filters=8)
    assert model.output_shape == (None, 32)


@pytest.mark.parametrize("kwargs,match", [
    ({"num_stages": 0}, "num_stages"),
    ({"convs_per_stage": (1, 2)}, "convs_per_stage"),
    ({"kernel_size": "3"}, "kernel_size"),
    ({"padding": "full"}, "padding"),
    ({"input_shape": (4, 4, 3)}, "minimum size is 8x8"),
    ({"stage_pooling": ("max",)}, "stage_pooling"),
    ({"dense_units": (10, 20), "dense_layers": 1}, "dense_units"),
    ({"activation": "relux"}, "activation"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        kcnn.build("convnet", **kwargs)
    assert "Received:" in str(info.value)


def test_stage_pooling_accepts_the_toolbox_poolings_by_name():
    from kcnn.layers import L2Pooling2D, MaxAveragePooling2D

    model = convnet(input_shape=(16, 16, 3), num_stages=2, convs_per_stage=1, filters=4,
                    stage_pooling=["l2", "max_avg"], dense_layers=0)
    assert isinstance(model.get_layer("block1_pool"), L2Pooling2D)
    assert isinstance(model.get_layer("block2_pool"), MaxAveragePooling2D)
    assert model.get_layer("block2_pool").output.shape[1:3] == (4, 4)
    with pytest.raises(ValueError, match="stage_pooling"):
        convnet(stage_pooling="l3")
