"""A training-step check shared by the AlexNet, VGG and GoogLeNet tests."""

import keras
import numpy as np
import pytest


def train_changes_weights(model, x, y, *, jit=False, steps=12, **compile_kwargs):
    """Compiles ``model`` with SGD and trains on ``(x, y)`` until a step changes the weights
    (under mixed_float16 the dynamic loss scale may skip the first steps); every loss must
    be finite."""
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=jit,
                  **{"loss": "sparse_categorical_crossentropy", **compile_kwargs})
    before = [np.array(w) for w in model.trainable_weights]
    for _ in range(steps):
        logs = model.train_on_batch(x, y)
        losses = np.atleast_1d(np.asarray(logs, dtype="float64"))
        assert np.all(np.isfinite(losses)), losses
        if any(not np.allclose(a, np.asarray(b))
               for a, b in zip(before, model.trainable_weights)):
            return
    pytest.fail("no training step changed the weights")
