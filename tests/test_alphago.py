"""AlphaGo's networks: the Methods text layer by layer, and the move-index convention."""

import keras
import numpy as np
import pytest

import kcnn
from kcnn.layers import PositionBias


def conv_layers(model):
    return [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]


def test_policy_network_follows_the_methods_text():
    model = kcnn.build("alphago_policy")
    convs = conv_layers(model)
    assert len(convs) == 13  # layers 1-12 hidden + the final 1x1 layer
    assert convs[0].kernel_size == (5, 5) and convs[0].filters == 192
    assert all(c.kernel_size == (3, 3) and c.filters == 192 for c in convs[1:12])
    assert convs[12].kernel_size == (1, 1) and convs[12].filters == 1
    assert not convs[12].use_bias  # replaced by one bias per position
    for c in convs:
        assert c.strides == (1, 1)
        assert c.padding == "same" or c.kernel_size == (1, 1)  # 23x23 / 21x21 zero padding
        assert tuple(c.output.shape[1:3]) == (19, 19)
    assert [c.activation.__name__ for c in convs[:12]] == ["relu"] * 12
    bias = model.get_layer("position_bias")
    assert bias.count_params() == 361
    assert model.output_shape == (None, 361)
    assert model.input.name == "board"
    probs = np.asarray(model(np.random.default_rng(0).integers(0, 2, (2, 19, 19, 48))
                             .astype("float32")))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_output_index_is_row_times_size_plus_col_with_row_zero_at_top():
    model = kcnn.build("alphago_policy", filters=4, num_layers=2, board_size=19, logits=True)
    bias = np.zeros((19, 19, 1), "float32")
    bias[3, 15, 0] = 100.0  # SGF "pd": row 3 from the top, column 15
    model.get_layer("position_bias").set_weights([bias])
    for c in conv_layers(model):
        c.set_weights([np.zeros_like(w) for w in c.get_weights()])
    out = np.asarray(model(np.zeros((1, 19, 19, 48), "float32")))
    assert int(out.argmax()) == 3 * 19 + 15


def test_value_network_reading():
    model = kcnn.build("alphago_value")
    convs = conv_layers(model)
    assert len(convs) == 13
    assert convs[0].kernel_size == (5, 5) and convs[0].input.shape[-1] == 49
    assert all(c.kernel_size == (3, 3) for c in convs[1:12])
    assert convs[12].kernel_size == (1, 1) and convs[12].filters == 1 and convs[12].use_bias
    assert model.get_layer("fc1").units == 256
    assert model.output_shape == (None, 1)
    y = np.asarray(model(np.random.default_rng(1).normal(size=(3, 19, 19, 49)) * 10))
    assert np.all(np.abs(y) <= 1.0)


def test_position_bias_adds_a_bias_per_position():
    layer = PositionBias()
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 1)).astype("float32")
    layer.build(x.shape)
    b = np.arange(12, dtype="float32").reshape(3, 4, 1)
    layer.bias.assign(b)
    np.testing.assert_allclose(np.asarray(layer(x)), x + b[None])
    with pytest.raises(ValueError, match="non-batch dimension"):
        PositionBias().build((None, None, 4, 1))


def test_position_bias_built_for_19x19_names_the_board_size_at_13x13():
    layer = PositionBias()
    layer(np.zeros((1, 19, 19, 1), "float32"))
    with pytest.raises(ValueError, match=r"shape \(19, 19, 1\) and cannot be applied to "
                                         r"inputs of shape \(13, 13, 1\).*board_size=13"):
        layer(np.zeros((1, 13, 13, 1), "float32"))


def test_builders_refuse_channels_first_by_name():
    import keras

    import kcnn

    keras.config.set_image_data_format("channels_first")
    try:
        for build in (lambda: kcnn.build("lenet5"),
                      lambda: kcnn.models.alphago.alphago_policy(filters=4, num_layers=2)):
            with pytest.raises(ValueError, match=r"set_image_data_format\('channels_last'\)"
                                                 r".*Received: keras.config.image_data_format"
                                                 r"\(\)='channels_first'"):
                build()
    finally:
        keras.config.set_image_data_format("channels_last")


@pytest.mark.parametrize("kwargs,error,match", [
    ({"num_classes": 10}, TypeError, "does not apply"),
    ({"pooling": "avg"}, TypeError, "does not apply"),
    ({"input_shape": (19, 19, 48)}, TypeError, "does not apply"),
    ({"colour": 1}, TypeError, "unexpected keyword"),
    ({"filters": 0}, ValueError, "filters"),
    ({"first_kernel_size": 4}, ValueError, "odd"),
    ({"board_size": 1}, ValueError, "board_size"),
    ({"logits": "yes"}, TypeError, "logits"),
])
def test_policy_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        kcnn.build("alphago_policy", **kwargs)
    assert "Received:" in str(info.value)


def test_feature_subsets_and_board_sizes():
    for planes in (4, 12, 20, 48):
        m = kcnn.build("alphago_policy", input_planes=planes, filters=8, num_layers=3)
        assert m.input_shape == (None, 19, 19, planes)
    m = kcnn.build("alphago_policy", board_size=9, filters=8, num_layers=3)
    assert m.output_shape == (None, 81)
