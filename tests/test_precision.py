"""The precision and XLA matrix on narrow configurations of LeNet-5, convnet and AlphaGo:
a training step under every dtype policy with and without jit_compile, float32 outputs, and
a .keras round trip in a fresh process."""

import keras
import numpy as np
import pytest

import kcnn
from tests.helpers import run_fresh

NARROW = {
    "lenet5": {},
    "lenet5_modern": {},
    "convnet": {"input_shape": (16, 16, 3), "filters": 4, "num_stages": 2, "dense_units": 8,
                "stage_pooling": "max", "batch_norm": True},
    "alphago_policy": {"board_size": 9, "filters": 8, "num_layers": 3},
    "alphago_value": {"board_size": 9, "filters": 8, "num_layers": 3, "dense_units": 8},
}


def batch(model, n=4):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, *model.input_shape[1:])).astype("float32")
    if model.output_shape[-1] == 1:
        y = rng.uniform(-1, 1, (n, 1)).astype("float32")
        return x, y, "mse"
    y = rng.integers(0, model.output_shape[-1], n)
    return x, y, "sparse_categorical_crossentropy"


# XLA on the networks with kcnn layers (RBF, subsampling, partial conv; PositionBias) and
# on batch norm; the other two are stock Keras layers and run the graph path only.
CASES = [(name, jit) for name in sorted(NARROW) for jit in (False, True)
         if not (jit and name in ("lenet5_modern", "alphago_value"))]


@pytest.mark.parametrize("name,jit", CASES,
                         ids=[f"{n}-{'xla' if j else 'graph'}" for n, j in CASES])
def test_training_step_under_policy(name, policy, jit):
    model = kcnn.build(name, **NARROW[name])
    compute = keras.mixed_precision.dtype_policy().compute_dtype
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert convs[0].compute_dtype == compute
    x, y, loss = batch(model)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss, jit_compile=jit)
    before = [np.array(w) for w in model.trainable_weights]
    # under mixed_float16 the dynamic loss scale may skip the first steps (overflow)
    for _ in range(12):
        assert np.isfinite(float(model.train_on_batch(x, y)))
        after = [np.array(w) for w in model.trainable_weights]
        if any(not np.allclose(a, b) for a, b in zip(before, after)):
            break
    else:
        pytest.fail("no training step changed the weights")
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))


def test_narrow_networks_reload_in_fresh_process_under_every_policy(tmp_path):
    cases = []
    for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
        keras.mixed_precision.set_dtype_policy(policy)
        for name, kwargs in NARROW.items():
            model = kcnn.build(name, **kwargs)
            x, _, _ = batch(model, 2)
            path = tmp_path / f"{name}_{policy}.keras"
            model.save(path)
            np.save(tmp_path / f"{name}_{policy}.npy", x)
            cases.append((f"{name}_{policy}", str(path), str(tmp_path / f"{name}_{policy}.npy"),
                          np.asarray(model(x, training=False), "float64")))
    keras.mixed_precision.set_dtype_policy("float32")
    got = run_fresh(f"""
        import json, numpy as np, keras, kcnn
        out = {{}}
        for key, path, xpath in {[c[:3] for c in cases]!r}:
            m = keras.saving.load_model(path)
            out[key] = [m.layers[1].dtype_policy.name,
                        np.asarray(m(np.load(xpath), training=False), "float64").tolist()]
        print(json.dumps(out))
    """)
    for key, _, _, expected in cases:
        policy_name, values = got[key]
        assert key.endswith(policy_name)
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-3, atol=1e-3)
